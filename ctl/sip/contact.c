// SPDX-License-Identifier: GPL-2.0-only
/*
 * Contact bindings of a registration (RFC 3261 10, RFC 5626 for
 * +sip.instance): reading every Contact of a REGISTER or its 200, telling
 * one binding from another, the lifetime the 200 gives each, and which
 * binding a Request-URI from the core names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/contact.h"
#include "sip/sipmsg.h"
#include "sip/sipwrite.h"

static int copy_field(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		return -ENOSPC;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return 0;
}

static const char *uri_param(const osip_uri_t *uri, const char *name)
{
	osip_uri_param_t *p = NULL;

	osip_uri_param_get_byname((osip_list_t *)&uri->url_params,
				  (char *)name, &p);
	return p && p->gvalue ? p->gvalue : "";
}

static int binding_of(const osip_contact_t *c, struct np_sip_binding *b)
{
	osip_generic_param_t *p = NULL;
	char *text = NULL;
	int err;

	memset(b, 0, sizeof(*b));
	b->expires = -1;
	if (!c->url) {
		/* libosip2 keeps "*" as a display name without URI. */
		if (c->displayname && !strcmp(c->displayname, "*")) {
			b->star = true;
			return 0;
		}
		return -EINVAL;
	}
	if (np_sipwrite_uri(c->url, &text) || !text)
		return -EINVAL;
	err = copy_field(b->uri, sizeof(b->uri), text);
	osip_free(text);
	if (!err)
		err = copy_field(b->user, sizeof(b->user), c->url->username);
	if (!err)
		err = copy_field(b->line, sizeof(b->line),
				 uri_param(c->url, "line"));
	osip_contact_param_get_byname((osip_contact_t *)c, "+sip.instance",
				      &p);
	if (!err && p && p->gvalue)
		err = copy_field(b->instance, sizeof(b->instance), p->gvalue);
	p = NULL;
	osip_contact_param_get_byname((osip_contact_t *)c, "expires", &p);
	if (p && p->gvalue)
		b->expires = np_sipmsg_delta_seconds(p->gvalue);
	return err;
}

int np_contacts_get(const osip_message_t *m, struct np_sip_binding *out,
		    size_t max, size_t *n)
{
	osip_contact_t *c;
	int i, err;

	*n = 0;
	for (i = 0; (c = osip_list_get(&m->contacts, i)); i++) {
		if (*n >= max)
			return -ENOSPC;
		err = binding_of(c, &out[*n]);
		if (err)
			return err;
		(*n)++;
	}
	return 0;
}

/* libosip2 keeps an IPv6 host with or without its brackets. */
static bool host_eq(const char *a, const char *b)
{
	size_t la, lb;

	if (!a || !b)
		return a == b;
	la = strlen(a);
	lb = strlen(b);
	if (a[0] == '[' && la > 1 && a[la - 1] == ']') {
		a++;
		la -= 2;
	}
	if (b[0] == '[' && lb > 1 && b[lb - 1] == ']') {
		b++;
		lb -= 2;
	}
	return la == lb && !strncasecmp(a, b, la);
}

static const char *port_or_default(const osip_uri_t *u)
{
	if (u->port && u->port[0])
		return u->port;
	return u->scheme && !strcasecmp(u->scheme, "sips") ? "5061" : "5060";
}

/* An IP address by its value (2001:db8::1 is 2001:DB8:0::1), a name by
 * its text, case aside. */
static bool hostport_eq(const osip_uri_t *a, const osip_uri_t *b)
{
	struct np_sockaddr sa, sb;
	const char *pa = port_or_default(a), *pb = port_or_default(b);

	if (!np_sipaddr_parse(a->host, pa, 5060, &sa) &&
	    !np_sipaddr_parse(b->host, pb, 5060, &sb))
		return np_sockaddr_eq(&sa, &sb);
	return host_eq(a->host, b->host) && !strcmp(pa, pb);
}

static bool hostport_is(const osip_uri_t *u, const struct np_sockaddr *at)
{
	struct np_sockaddr s;

	return at && !np_sipaddr_parse(u->host, u->port, 5060, &s) &&
	       np_sockaddr_eq(&s, at);
}

static osip_uri_t *parse_uri(const char *text)
{
	osip_uri_t *u;

	if (osip_uri_init(&u))
		return NULL;
	if (osip_uri_parse(u, text)) {
		osip_uri_free(u);
		return NULL;
	}
	return u;
}

bool np_binding_same(const struct np_sip_binding *a,
		     const struct np_sip_binding *b)
{
	osip_uri_t *ua, *ub;
	bool same;

	if (a->star || b->star)
		return a->star && b->star;
	if (a->instance[0] && b->instance[0])
		return !strcasecmp(a->instance, b->instance);
	if (strcmp(a->user, b->user) || strcasecmp(a->line, b->line))
		return false;
	ua = parse_uri(a->uri);
	ub = parse_uri(b->uri);
	same = ua && ub && hostport_eq(ua, ub);
	if (ua)
		osip_uri_free(ua);
	if (ub)
		osip_uri_free(ub);
	return same;
}

/* A Contact of the 200 is b's by user, line and instance. */
static bool listed_as(const struct np_sip_binding *b,
		      const struct np_sip_binding *c)
{
	return !c->star && !strcmp(b->user, c->user) &&
	       !strcasecmp(b->line, c->line) &&
	       !strcasecmp(b->instance, c->instance);
}

static long lifetime(const osip_message_t *resp, const osip_contact_t *c)
{
	osip_generic_param_t *p = NULL;
	osip_header_t *h = NULL;
	long v;

	osip_contact_param_get_byname((osip_contact_t *)c, "expires", &p);
	if (p && p->gvalue && (v = np_sipmsg_delta_seconds(p->gvalue)) >= 0)
		return v;
	if (osip_message_header_get_byname(resp, "expires", 0, &h) >= 0 && h &&
	    h->hvalue && (v = np_sipmsg_delta_seconds(h->hvalue)) >= 0)
		return v;
	return 3600;
}

static long expires_of(const struct np_sip_binding *b,
		       const osip_message_t *resp,
		       const struct np_sockaddr *at, bool only_at)
{
	const osip_contact_t *c, *first = NULL, *here = NULL;
	struct np_sip_binding got;
	osip_uri_t *own;
	int i;

	if (b->star)
		return 0;
	own = parse_uri(b->uri);
	for (i = 0; !here && (c = osip_list_get(&resp->contacts, i)); i++) {
		if (binding_of(c, &got) || !listed_as(b, &got))
			continue;
		if ((own && hostport_eq(own, c->url)) || hostport_is(c->url, at))
			here = c;
		else if (!first)
			first = c;
	}
	if (own)
		osip_uri_free(own);
	if (!here && !only_at)
		here = first;
	return here ? lifetime(resp, here) : -1;
}

long np_binding_expires(const struct np_sip_binding *b,
			const osip_message_t *resp)
{
	return expires_of(b, resp, NULL, false);
}

long np_binding_expires_at(const struct np_sip_binding *b,
			   const osip_message_t *resp,
			   const struct np_sockaddr *at)
{
	return expires_of(b, resp, at, true);
}

const struct np_sip_binding *
np_binding_for_ruri(const struct np_sip_binding *list, size_t n,
		    const osip_uri_t *ruri)
{
	const struct np_sip_binding *by_line = NULL, *by_user = NULL;
	const struct np_sip_binding *only = NULL;
	const char *user = ruri && ruri->username ? ruri->username : "";
	const char *line = ruri ? uri_param(ruri, "line") : "";
	size_t i;

	for (i = 0; i < n; i++) {
		const struct np_sip_binding *b = &list[i];
		bool same_user = !strcmp(b->user, user);
		bool same_line = !strcasecmp(b->line, line);

		if (b->star)
			continue;
		if (!only)
			only = b;
		if (same_user && same_line)
			return b;
		if (!by_line && line[0] && same_line)
			by_line = b;
		if (!by_user && same_user)
			by_user = b;
	}
	if (by_line)
		return by_line;
	if (by_user)
		return by_user;
	return only;
}
