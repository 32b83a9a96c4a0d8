// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SIP rewrites natproxyd needs, as small functions over libosip2's
 * message structure. Each edit marks the message for re-serialisation.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "sip/osip_arena.h"
#include "sip/sipmsg.h"
#include "sip/sipwrite.h"

/* libosip2's own complaints about a message: detail for --verbose, as
 * natproxyd already logs one line per malformed message it drops. */
static void osip_to_log(const char *file, int line, osip_trace_level_t level,
			const char *fmt, va_list ap)
{
	char text[256];
	size_t len;

	(void)file;
	(void)line;
	(void)level;
	vsnprintf(text, sizeof(text), fmt, ap);
	len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	np_debug("libosip2: %s", text);
}

void np_sipmsg_init(void)
{
	static bool arena;

	if (!arena)
		osip_arena_install();
	arena = true;
	parser_init();
	osip_trace_initialize_func(OSIP_WARNING, osip_to_log);
}

/*
 * libosip2 re-serialises credentials and challenges in its own parameter
 * order and drops parameters it does not know. They must pass intact, so
 * their parsed forms are replaced by the raw lines as generic headers.
 */
static const char *const verbatim_headers[] = {
	"Authorization", "Proxy-Authorization", "WWW-Authenticate",
	"Proxy-Authenticate",
};

static void free_auth_lists(osip_message_t *m)
{
	osip_list_special_free(&m->authorizations,
			       (void (*)(void *))osip_authorization_free);
	osip_list_special_free(&m->proxy_authorizations,
			       (void (*)(void *))osip_authorization_free);
	osip_list_special_free(&m->www_authenticates,
			       (void (*)(void *))osip_www_authenticate_free);
	osip_list_special_free(&m->proxy_authenticates,
			       (void (*)(void *))osip_www_authenticate_free);
}

static int keep_verbatim(osip_message_t *m, const char *buf, size_t len)
{
	const char *line = buf, *end = buf + len, *eol, *colon;
	char name[32], *value;
	size_t i, n;
	int err = 0;

	free_auth_lists(m);
	while (line < end && !err) {
		eol = memchr(line, '\n', end - line);
		if (!eol)
			eol = end;
		if (eol == line || (eol == line + 1 && line[0] == '\r'))
			break; /* end of headers */
		colon = memchr(line, ':', eol - line);
		n = colon ? (size_t)(colon - line) : 0;
		while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		for (i = 0; colon && n < sizeof(name) &&
			    i < sizeof(verbatim_headers) /
					sizeof(verbatim_headers[0]);
		     i++) {
			if (strlen(verbatim_headers[i]) != n ||
			    osip_strncasecmp(line, verbatim_headers[i], n))
				continue;
			value = osip_malloc(eol - colon);
			if (!value)
				return -ENOMEM;
			osip_strncpy(value, colon + 1, eol - colon - 1);
			osip_clrspace(value);
			if (osip_message_set_header(m, verbatim_headers[i],
						    value))
				err = -EINVAL;
			osip_free(value);
		}
		line = eol + 1;
	}
	return err;
}

int np_sipmsg_parse(const char *buf, size_t len, osip_message_t **msg)
{
	osip_message_t *m;

	*msg = NULL;
	if (osip_message_init(&m))
		return -ENOMEM;
	if (osip_message_parse(m, buf, len) ||
	    osip_list_size(&m->vias) < 1 || !m->call_id || !m->cseq ||
	    !m->cseq->method || !m->from || !m->to ||
	    (MSG_IS_REQUEST(m) && (!m->req_uri || !m->sip_method)) ||
	    (MSG_IS_RESPONSE(m) && (m->status_code < 100 ||
				    m->status_code > 699))) {
		osip_message_free(m);
		return -EINVAL;
	}
	if (keep_verbatim(m, buf, len)) {
		osip_message_free(m);
		return -EINVAL;
	}
	*msg = m;
	return 0;
}

int np_sipmsg_serialize(osip_message_t *msg, char **out, size_t *len)
{
	int err = np_sipwrite(msg, out, len);

	if (err != -ENOTSUP)
		return err;
	osip_message_force_update(msg);
	return osip_message_to_str(msg, out, len) ? -EINVAL : 0;
}

bool np_sipmsg_is_request(const osip_message_t *msg)
{
	return MSG_IS_REQUEST(msg);
}

const char *np_sipmsg_branch(const osip_message_t *msg)
{
	osip_generic_param_t *branch = NULL;
	osip_via_t *via = NULL;

	if (osip_message_get_via(msg, 0, &via) || !via)
		return "";
	osip_via_param_get_byname(via, "branch", &branch);
	return branch && branch->gvalue ? branch->gvalue : "";
}

int np_sipmsg_top_via(const osip_message_t *msg, char *out, size_t len)
{
	osip_via_t *via = NULL;
	char *text = NULL;
	int err = 0;

	if (osip_message_get_via(msg, 0, &via) || !via ||
	    np_sipwrite_via(via, &text))
		return -EINVAL;
	if (strlen(text) >= len)
		err = -ENOSPC;
	else
		strcpy(out, text);
	osip_free(text);
	return err;
}

static int parse_via(const char *text, osip_via_t **via)
{
	if (osip_via_init(via))
		return -ENOMEM;
	if (osip_via_parse(*via, text)) {
		osip_via_free(*via);
		return -EINVAL;
	}
	return 0;
}

int np_sipmsg_push_via(osip_message_t *msg, const char *text)
{
	osip_via_t *via;
	int err = parse_via(text, &via);

	if (err)
		return err;
	osip_list_add(&msg->vias, via, 0);
	return 0;
}

int np_sipmsg_pop_via(osip_message_t *msg)
{
	osip_via_t *via = osip_list_get(&msg->vias, 0);

	if (!via)
		return -ENOENT;
	osip_list_remove(&msg->vias, 0);
	osip_via_free(via);
	return 0;
}

int np_sipmsg_replace_top_via(osip_message_t *msg, const char *text)
{
	osip_via_t *via;
	int err = parse_via(text, &via);

	if (err)
		return err;
	np_sipmsg_pop_via(msg);
	osip_list_add(&msg->vias, via, 0);
	return 0;
}

int np_sipaddr_parse(const char *host, const char *port, uint16_t dflt,
		     struct np_sockaddr *a)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n;
	long p = dflt;
	char *end;

	if (!host)
		return -EINVAL;
	n = strlen(host);
	if (n >= sizeof(buf))
		return -EINVAL;
	/* libosip2 keeps IPv6 hosts with or without brackets. */
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
	} else {
		memcpy(buf, host, n + 1);
	}
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, &a->addr.v4) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &a->addr.v6) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	if (port && *port) {
		p = strtol(port, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -EINVAL;
	}
	a->port = (uint16_t)p;
	return 0;
}

int np_sipmsg_via_dest(const osip_message_t *msg, struct np_sockaddr *dest)
{
	osip_generic_param_t *received = NULL, *rport = NULL;
	osip_via_t *via = NULL;
	const char *host, *port;

	if (osip_message_get_via(msg, 0, &via) || !via)
		return -EINVAL;
	osip_via_param_get_byname(via, "received", &received);
	osip_via_param_get_byname(via, "rport", &rport);
	host = received && received->gvalue ? received->gvalue : via->host;
	port = rport && rport->gvalue ? rport->gvalue : via->port;
	return np_sipaddr_parse(host, port, 5060, dest);
}

int np_sipmsg_contact_uri(const osip_message_t *msg, char *out, size_t len)
{
	osip_contact_t *contact = NULL;
	char *text = NULL;
	int err = 0;

	out[0] = '\0';
	if (osip_message_get_contact(msg, 0, &contact) || !contact ||
	    !contact->url)
		return 0;
	if (np_sipwrite_uri(contact->url, &text))
		return -EINVAL;
	if (strlen(text) >= len)
		err = -ENOSPC;
	else
		strcpy(out, text);
	osip_free(text);
	return err;
}

static void set_hostport(osip_uri_t *uri, const struct np_sockaddr *addr)
{
	char host[INET6_ADDRSTRLEN], port[8], *p = port + sizeof(port);
	unsigned int v = addr->port;

	/* Bare: libosip2 brackets an IPv6 host itself when it prints. */
	np_ntop(addr->family, &addr->addr, host);
	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	osip_free(uri->host);
	osip_free(uri->port);
	uri->host = osip_strdup(host);
	uri->port = osip_strdup(p);
}

int np_sipmsg_set_contact_hostport(osip_message_t *msg,
				   const struct np_sockaddr *addr)
{
	osip_contact_t *contact = NULL;
	int i;

	/* Every Contact: a REGISTER may carry several bindings. */
	for (i = 0; osip_message_get_contact(msg, i, &contact) >= 0 && contact;
	     i++) {
		if (contact->url)
			set_hostport(contact->url, addr);
		contact = NULL;
	}
	return 0;
}

int np_sipmsg_restore_contact(osip_message_t *msg,
			      const struct np_sockaddr *ours, const char *uri)
{
	osip_contact_t *contact = NULL;
	struct np_sockaddr at;
	osip_uri_t *orig;
	int i;

	if (!uri[0])
		return 0;
	for (i = 0; osip_message_get_contact(msg, i, &contact) >= 0 && contact;
	     i++) {
		if (contact->url &&
		    !np_sipaddr_parse(contact->url->host, contact->url->port,
				      5060, &at) &&
		    np_sockaddr_eq(&at, ours)) {
			if (osip_uri_init(&orig))
				return -ENOMEM;
			if (osip_uri_parse(orig, uri)) {
				osip_uri_free(orig);
				return -EINVAL;
			}
			osip_uri_free(contact->url);
			contact->url = orig;
		}
		contact = NULL;
	}
	return 0;
}

int np_sipmsg_set_request_uri(osip_message_t *msg, const char *text)
{
	osip_uri_t *uri;

	if (osip_uri_init(&uri))
		return -ENOMEM;
	if (osip_uri_parse(uri, text)) {
		osip_uri_free(uri);
		return -EINVAL;
	}
	osip_uri_free(msg->req_uri);
	msg->req_uri = uri;
	return 0;
}

bool np_sipmsg_request_uri_is(const osip_message_t *msg,
			      const struct np_sockaddr *addr)
{
	struct np_sockaddr uri;

	return msg->req_uri &&
	       !np_sipaddr_parse(msg->req_uri->host, msg->req_uri->port, 5060,
				 &uri) &&
	       np_sockaddr_eq(&uri, addr);
}

static bool is_sdp(const osip_content_type_t *ct)
{
	return ct && ct->type && ct->subtype &&
	       !osip_strcasecmp(ct->type, "application") &&
	       !osip_strcasecmp(ct->subtype, "sdp");
}

/* The body that holds the SDP: the body of an application/sdp message, or
 * the application/sdp part of a multipart one (libosip2 keeps each part as
 * a body with its own Content-Type). */
static osip_body_t *sdp_body(const osip_message_t *msg)
{
	osip_content_type_t *ct = msg->content_type;
	osip_body_t *body = NULL;
	int i;

	if (is_sdp(ct))
		return osip_message_get_body(msg, 0, &body) >= 0 ? body : NULL;
	if (!ct || !ct->type || osip_strcasecmp(ct->type, "multipart"))
		return NULL;
	for (i = 0; (body = osip_list_get(&msg->bodies, i)); i++)
		if (is_sdp(body->content_type))
			return body;
	return NULL;
}

const char *np_sipmsg_sdp(const osip_message_t *msg, size_t *len)
{
	osip_body_t *body = sdp_body(msg);

	if (!body || !body->body)
		return NULL;
	*len = body->length;
	return body->body;
}

int np_sipmsg_set_sdp(osip_message_t *msg, const char *text, size_t len)
{
	osip_body_t *body = sdp_body(msg);
	char *copy;

	if (!body || is_sdp(msg->content_type))
		return np_sipmsg_set_body(msg, text, len);
	/* A part of a multipart body: the others stay as they are, and
	 * libosip2 counts the Content-Length anew when it prints. */
	copy = osip_malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	osip_free(body->body);
	body->body = copy;
	body->length = len;
	osip_content_length_free(msg->content_length);
	msg->content_length = NULL;
	return 0;
}

int np_sipmsg_set_body(osip_message_t *msg, const char *text, size_t len)
{
	osip_body_t *body;
	char clen[16];

	while ((body = osip_list_get(&msg->bodies, 0))) {
		osip_list_remove(&msg->bodies, 0);
		osip_body_free(body);
	}
	if (len && osip_message_set_body(msg, text, len))
		return -EINVAL;
	osip_content_length_free(msg->content_length);
	msg->content_length = NULL;
	snprintf(clen, sizeof(clen), "%zu", len);
	return osip_message_set_content_length(msg, clen) ? -EINVAL : 0;
}

/*
 * delta-seconds (RFC 3261 25.1): digits only, and a value past 2^32-1 means
 * 2^32-1 (20.19); anything else is malformed (-1).
 */
long np_sipmsg_delta_seconds(const char *text)
{
	unsigned long long v = 0;
	const char *p = text;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		if (v <= UINT32_MAX)
			v = v * 10 + (unsigned long long)(*p - '0');
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return -1;
	return v > UINT32_MAX ? (long)UINT32_MAX : (long)v;
}

/* A malformed value counts as the default (RFC 3261 10.3 and 20.19). */
long np_sipmsg_expires(const osip_message_t *msg, long dflt)
{
	osip_generic_param_t *param = NULL;
	osip_contact_t *contact = NULL;
	osip_header_t *expires = NULL;
	const char *text = NULL;
	long v;

	if (!osip_message_get_contact(msg, 0, &contact) && contact) {
		osip_contact_param_get_byname(contact, "expires", &param);
		if (param && param->gvalue)
			text = param->gvalue;
	}
	if (!text &&
	    osip_message_header_get_byname(msg, "expires", 0, &expires) >= 0 &&
	    expires && expires->hvalue)
		text = expires->hvalue;
	if (!text)
		return dflt;
	v = np_sipmsg_delta_seconds(text);
	return v < 0 ? dflt : v;
}

const char *np_sipmsg_call_id(const osip_message_t *msg, char *out,
			      size_t len)
{
	const osip_call_id_t *id = msg->call_id;
	const char *part[3] = { id->number, id->host ? "@" : NULL, id->host };
	size_t n = 0, i, k;

	/* As snprintf("%s%s%s") would, without its cost: this runs for
	 * every message, several times. */
	if (!len)
		return out;
	for (i = 0; i < 3; i++) {
		if (!part[i])
			continue;
		k = strlen(part[i]);
		if (k > len - 1 - n)
			k = len - 1 - n;
		memcpy(out + n, part[i], k);
		n += k;
	}
	out[n] = '\0';
	return out;
}

static int copy_out(char *text, char *out, size_t len)
{
	int err = 0;

	if (!text)
		return -EINVAL;
	if (strlen(text) >= len)
		err = -ENOSPC;
	else
		strcpy(out, text);
	osip_free(text);
	return err;
}

/* From and To share one type in libosip2 (osip_to_t is osip_from_t). */
static int name_addr(const osip_from_t *h, char *out, size_t len)
{
	char *text = NULL;

	out[0] = '\0';
	if (!h || np_sipwrite_name_addr(h, &text))
		return -EINVAL;
	return copy_out(text, out, len);
}

int np_sipmsg_from(const osip_message_t *msg, char *out, size_t len)
{
	return name_addr(msg->from, out, len);
}

int np_sipmsg_to(const osip_message_t *msg, char *out, size_t len)
{
	return name_addr(msg->to, out, len);
}

int np_sipmsg_aor(const osip_message_t *msg, char *out, size_t len)
{
	const osip_uri_t *u = msg->to ? msg->to->url : NULL;

	out[0] = '\0';
	if (!u || !u->host)
		return -EINVAL;
	snprintf(out, len, "%s@%s", u->username ? u->username : "", u->host);
	return 0;
}

uint32_t np_sipmsg_cseq(const osip_message_t *msg)
{
	return msg->cseq && msg->cseq->number ?
		       (uint32_t)strtoul(msg->cseq->number, NULL, 10) :
		       0;
}

static const char *tag_of(const osip_from_t *h)
{
	osip_generic_param_t *tag = NULL;

	if (!h)
		return "";
	osip_from_get_tag((osip_from_t *)h, &tag);
	return tag && tag->gvalue ? tag->gvalue : "";
}

const char *np_sipmsg_from_tag(const osip_message_t *msg)
{
	return tag_of(msg->from);
}

const char *np_sipmsg_to_tag(const osip_message_t *msg)
{
	return tag_of(msg->to);
}

int np_sipmsg_txn_key(const osip_message_t *msg, char *out, size_t len)
{
	const char *branch = np_sipmsg_branch(msg), *method;
	osip_via_t *via = NULL;
	const osip_call_id_t *id = msg->call_id;
	char *ruri = NULL;
	int w;

	if (!len)
		return -ENOSPC;
	out[0] = '\0';
	if (!strncmp(branch, "z9hG4bK", 7)) {
		w = snprintf(out, len, "%s", branch);
	} else {
		/* RFC 3261 17.2.3's matching for RFC 2543 requests, the To
		 * tag left out so that an ACK finds its INVITE. */
		if (!MSG_IS_REQUEST(msg) || !msg->cseq || !msg->cseq->method ||
		    !msg->cseq->number || !msg->call_id ||
		    osip_message_get_via(msg, 0, &via) ||
		    !via || !via->host || !msg->req_uri ||
		    np_sipwrite_uri(msg->req_uri, &ruri))
			return -EINVAL;
		method = msg->cseq->method;
		if (!osip_strcasecmp(method, "ACK") ||
		    !osip_strcasecmp(method, "CANCEL"))
			method = "INVITE";
		w = snprintf(out, len, "2543 %s %s %s %s%s%s %s %s:%s %s",
			     method, ruri, np_sipmsg_from_tag(msg),
			     id->number ? id->number : "", id->host ? "@" : "",
			     id->host ? id->host : "", msg->cseq->number,
			     via->host, via->port ? via->port : "", branch);
		osip_free(ruri);
	}
	if (w < 0 || (size_t)w >= len) {
		out[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}
