// SPDX-License-Identifier: GPL-2.0-only
/*
 * A SIP message to text, byte for byte as libosip2's osip_message_to_str()
 * writes it, for the messages natproxyd relays most: Via, Record-Route,
 * Route, From, To, Call-ID, CSeq, Contact, Content-Type, Allow, headers
 * libosip2 keeps by name, one body. libosip2 formats each header with sprintf into
 * a block of its own: a quarter of a call's signaling work at thousands
 * of calls a second. Anything else (an authorization header, a URI that
 * would be escaped, a multipart body...) is -ENOTSUP, and the caller asks
 * libosip2. sipwrite_test holds the two to the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/sipwrite.h"

struct out {
	char *p;
	size_t len, cap;
	bool fail;	/* out of memory, or not ours to write */
};

static void put(struct out *o, const char *s, size_t n)
{
	char *grown;
	size_t cap;

	if (o->fail)
		return;
	if (o->len + n + 1 > o->cap) {
		cap = o->cap * 2 > o->len + n + 1 ? o->cap * 2 : o->len + n + 1;
		grown = osip_realloc(o->p, cap);
		if (!grown) {
			o->fail = true;
			return;
		}
		o->p = grown;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_uint(struct out *o, unsigned long v)
{
	char digits[24], *p = digits + sizeof(digits);

	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	put(o, p, (size_t)(digits + sizeof(digits) - p));
}

static bool unreserved(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-_.!~*'()", c);
}

/*
 * s, where libosip2 leaves a URI part as it is: unreserved characters
 * and the part's own (RFC 3261 section 25.1); a character it would
 * escape makes the message not ours. NULL is not ours either.
 */
static void put_uri_part(struct out *o, const char *s, const char *kept)
{
	const char *c;

	if (!s) {
		o->fail = true;
		return;
	}
	for (c = s; *c; c++)
		if (!unreserved(*c) && !strchr(kept, *c)) {
			o->fail = true;
			return;
		}
	put(o, s, (size_t)(c - s));
}

#define USER_KEPT "&=+$,;?/"
#define PASSWORD_KEPT "&=+$,"
#define PARAM_KEPT "[]/:&+$"
#define HEADER_KEPT "[]/?:+$"

/* A host, bracketed when it is an IPv6 address, then ":port" if any. */
static void put_hostport(struct out *o, const char *host, const char *port)
{
	if (!host || !*host || strchr(host, '[')) {
		o->fail = true;
		return;
	}
	if (strchr(host, ':')) {
		put(o, "[", 1);
		put_str(o, host);
		put(o, "]", 1);
	} else {
		put_str(o, host);
	}
	if (port) {
		put(o, ":", 1);
		put_str(o, port);
	}
}

static void put_uri(struct out *o, const osip_uri_t *u)
{
	const osip_uri_param_t *p;
	int i;

	if (!u || !u->scheme) {
		o->fail = true;
		return;
	}
	put_str(o, u->scheme);
	put(o, ":", 1);
	if (u->string) { /* a scheme libosip2 does not take apart (tel:) */
		put_str(o, u->string);
		return;
	}
	if (u->username) {
		put_uri_part(o, u->username, USER_KEPT);
		if (u->password) {
			put(o, ":", 1);
			put_uri_part(o, u->password, PASSWORD_KEPT);
		}
		put(o, "@", 1);
	} else if (u->password) {
		o->fail = true;
	}
	put_hostport(o, u->host, u->port);
	for (i = 0; (p = osip_list_get(&u->url_params, i)); i++) {
		put(o, ";", 1);
		put_uri_part(o, p->gname, PARAM_KEPT);
		if (p->gvalue) {
			put(o, "=", 1);
			put_uri_part(o, p->gvalue, PARAM_KEPT);
		}
	}
	for (i = 0; (p = osip_list_get(&u->url_headers, i)); i++) {
		put(o, i ? "&" : "?", 1);
		put_uri_part(o, p->gname, HEADER_KEPT);
		put(o, "=", 1);
		put_uri_part(o, p->gvalue, HEADER_KEPT);
	}
}

/* ";name=value" or ";name", as libosip2 keeps them (quotes and all). */
static void put_params(struct out *o, const osip_list_t *params, const char *sep)
{
	const osip_generic_param_t *p;
	int i;

	for (i = 0; (p = osip_list_get(params, i)); i++) {
		if (!p->gname) {
			o->fail = true;
			return;
		}
		put_str(o, sep);
		put_str(o, p->gname);
		if (p->gvalue) {
			put(o, "=", 1);
			put_str(o, p->gvalue);
		}
	}
}

/* From, To, Contact, Route, Record-Route: [display-name] <uri>;params. */
static void put_name_addr_value(struct out *o, const osip_from_t *f)
{
	if (f->displayname && !strcmp(f->displayname, "*")) {
		o->fail = true; /* Contact: *, for libosip2 */
		return;
	}
	if (f->displayname) {
		put_str(o, f->displayname);
		put(o, " ", 1);
	}
	put(o, "<", 1);
	put_uri(o, f->url);
	put(o, ">", 1);
	put_params(o, &f->gen_params, ";");
}

static void put_name_addr(struct out *o, const char *name, const osip_from_t *f)
{
	put_str(o, name);
	put_name_addr_value(o, f);
	put(o, "\r\n", 2);
}

static void put_name_addrs(struct out *o, const char *name, const osip_list_t *list)
{
	const osip_from_t *f;
	int i;

	for (i = 0; (f = osip_list_get(list, i)); i++)
		put_name_addr(o, name, f);
}

static void put_via_value(struct out *o, const osip_via_t *v)
{
	if (!v->version || !v->protocol || v->comment) {
		o->fail = true;
		return;
	}
	put_str(o, "SIP/");
	put_str(o, v->version);
	put(o, "/", 1);
	put_str(o, v->protocol);
	put(o, " ", 1);
	put_hostport(o, v->host, v->port);
	put_params(o, &v->via_params, ";");
}

static void put_vias(struct out *o, const osip_list_t *vias)
{
	const osip_via_t *v;
	int i;

	for (i = 0; (v = osip_list_get(vias, i)); i++) {
		put_str(o, "Via: ");
		put_via_value(o, v);
		put(o, "\r\n", 2);
	}
}

/* Allow, one method a line: libosip2 splits the list as it parses. */
static void put_allows(struct out *o, const osip_list_t *allows)
{
	const osip_allow_t *a;
	int i;

	for (i = 0; (a = osip_list_get(allows, i)); i++) {
		if (!a->value) {
			o->fail = true;
			return;
		}
		put_str(o, "Allow: ");
		put_str(o, a->value);
		put(o, "\r\n", 2);
	}
}

/* libosip2 keeps other headers' names in lower case and prints the first
 * letter capitalised ("Max-forwards"). */
static void put_others(struct out *o, const osip_list_t *headers)
{
	const osip_header_t *h;
	char first;
	int i;

	for (i = 0; (h = osip_list_get(headers, i)); i++) {
		if (!h->hname || !*h->hname) {
			o->fail = true;
			return;
		}
		first = h->hname[0];
		if (first >= 'a' && first <= 'z')
			first = (char)(first - 'a' + 'A');
		put(o, &first, 1);
		put_str(o, h->hname + 1);
		put(o, ": ", 2);
		if (h->hvalue)
			put_str(o, h->hvalue);
		put(o, "\r\n", 2);
	}
}

/* The headers this writer has no form for: libosip2 writes those. */
static bool only_ours(const osip_message_t *m)
{
	const osip_list_t *others[] = {
		&m->accepts, &m->accept_encodings, &m->accept_languages,
		&m->alert_infos, &m->authentication_infos,
		&m->authorizations, &m->call_infos, &m->content_encodings,
		&m->error_infos, &m->proxy_authenticates,
		&m->proxy_authentication_infos, &m->proxy_authorizations,
		&m->www_authenticates,
	};
	const osip_body_t *b = osip_list_get(&m->bodies, 0);
	size_t i;

	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (osip_list_size(others[i]) > 0)
			return false;
	if (m->mime_version || !m->from || !m->to || !m->call_id ||
	    !m->call_id->number || !m->cseq || !m->cseq->number ||
	    !m->cseq->method || !m->sip_version)
		return false;
	/* A multipart Content-Type has libosip2 write the parts' boundaries. */
	if (m->content_type && m->content_type->type &&
	    !strcasecmp(m->content_type->type, "multipart"))
		return false;
	if (osip_list_size(&m->bodies) > 1 ||
	    (b && (!b->body || b->content_type ||
		   (b->headers && osip_list_size(b->headers) > 0) ||
		   b->length >= 100000 || !m->content_type)))
		return false;
	return true;
}

static void put_start(struct out *o, const osip_message_t *m)
{
	if (m->sip_method) {
		put_str(o, m->sip_method);
		put(o, " ", 1);
		put_uri(o, m->req_uri);
		put(o, " ", 1);
		put_str(o, m->sip_version);
	} else {
		if (!m->reason_phrase || m->status_code < 100 || m->status_code > 999) {
			o->fail = true;
			return;
		}
		put_str(o, m->sip_version);
		put(o, " ", 1);
		put_uint(o, (unsigned long)m->status_code);
		put(o, " ", 1);
		put_str(o, m->reason_phrase);
	}
	put(o, "\r\n", 2);
}

static void put_content_type(struct out *o, const osip_content_type_t *ct)
{
	const osip_generic_param_t *p;
	int i;

	if (!ct->type || !ct->subtype) {
		o->fail = true;
		return;
	}
	for (i = 0; (p = osip_list_get(&ct->gen_params, i)); i++)
		if (!p->gvalue) {
			o->fail = true;
			return;
		}
	put_str(o, "Content-Type: ");
	put_str(o, ct->type);
	put(o, "/", 1);
	put_str(o, ct->subtype);
	put_params(o, &ct->gen_params, "; ");
	put(o, "\r\n", 2);
}

/* With a body libosip2 writes its length in five columns, right-aligned. */
static void put_content_length(struct out *o, const osip_body_t *b)
{
	char text[5];
	size_t n = b ? b->length : 0, i;

	put_str(o, "Content-Length: ");
	if (!b) {
		put(o, "0", 1);
	} else {
		for (i = sizeof(text); i--; n /= 10)
			text[i] = i == sizeof(text) - 1 || n ? (char)('0' + n % 10) : ' ';
		put(o, text, sizeof(text));
	}
	put(o, "\r\n\r\n", 4);
}

/* o's text handed out NUL-terminated, or freed when not ours: 0 or
 * -ENOTSUP. */
static int finish(struct out *o, char **text, size_t *len)
{
	if (o->fail) {
		osip_free(o->p);
		return -ENOTSUP;
	}
	o->p[o->len] = '\0';
	*text = o->p;
	if (len)
		*len = o->len;
	return 0;
}

static bool start(struct out *o, size_t cap)
{
	o->cap = cap;
	o->len = 0;
	o->fail = false;
	o->p = osip_malloc(cap);
	return o->p != NULL;
}

int np_sipwrite_uri(const osip_uri_t *u, char **text)
{
	struct out o;

	if (!u || !start(&o, 128))
		return -1;
	put_uri(&o, u);
	if (!finish(&o, text, NULL))
		return 0;
	return osip_uri_to_str(u, text);
}

int np_sipwrite_via(const osip_via_t *v, char **text)
{
	struct out o;

	if (!v || !start(&o, 128))
		return -1;
	put_via_value(&o, v);
	if (!finish(&o, text, NULL))
		return 0;
	return osip_via_to_str(v, text);
}

int np_sipwrite_name_addr(const osip_from_t *f, char **text)
{
	struct out o;

	if (!f || !start(&o, 128))
		return -1;
	put_name_addr_value(&o, f);
	if (!finish(&o, text, NULL))
		return 0;
	return osip_from_to_str(f, text);
}

int np_sipwrite(const osip_message_t *m, char **text, size_t *len)
{
	const osip_body_t *b = osip_list_get(&m->bodies, 0);
	struct out o;

	if (!only_ours(m))
		return -ENOTSUP;
	if (!start(&o, 1024))
		return -ENOMEM;
	put_start(&o, m);
	put_vias(&o, &m->vias);
	put_name_addrs(&o, "Record-Route: ", &m->record_routes);
	put_name_addrs(&o, "Route: ", &m->routes);
	put_name_addr(&o, "From: ", m->from);
	put_name_addr(&o, "To: ", m->to);
	put_str(&o, "Call-ID: ");
	put_str(&o, m->call_id->number);
	if (m->call_id->host) {
		put(&o, "@", 1);
		put_str(&o, m->call_id->host);
	}
	put_str(&o, "\r\nCSeq: ");
	put_str(&o, m->cseq->number);
	put(&o, " ", 1);
	put_str(&o, m->cseq->method);
	put(&o, "\r\n", 2);
	put_name_addrs(&o, "Contact: ", &m->contacts);
	if (m->content_type)
		put_content_type(&o, m->content_type);
	put_allows(&o, &m->allows);
	put_others(&o, &m->headers);
	put_content_length(&o, b);
	if (b)
		put(&o, b->body, b->length);
	return finish(&o, text, len);
}
