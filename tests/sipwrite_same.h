/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The check sipwrite_test and proxy_fuzz share: for a parsed message,
 * np_sipwrite() writes exactly what osip_message_to_str() writes, or
 * leaves the message to it (-ENOTSUP).
 */
#ifndef NATPROXY_TESTS_SIPWRITE_SAME_H
#define NATPROXY_TESTS_SIPWRITE_SAME_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sipmsg.h"
#include "sip/sipwrite.h"

/* 1: both wrote the same bytes; 0: np_sipwrite left it to libosip2 (or
 * neither could write it); -1: they differ, or np_sipwrite wrote what
 * libosip2 refuses. */
static inline int sipwrite_same(osip_message_t *m)
{
	char *ours = NULL, *theirs = NULL;
	size_t n_ours = 0, n_theirs = 0;
	int err = np_sipwrite(m, &ours, &n_ours), same;

	if (err == -ENOTSUP)
		return 0;
	if (err)
		return -1;
	osip_message_force_update(m);
	if (osip_message_to_str(m, &theirs, &n_theirs)) {
		osip_free(ours);
		return -1;
	}
	same = n_ours == n_theirs && !memcmp(ours, theirs, n_ours) &&
	       !ours[n_ours];
	osip_free(ours);
	osip_free(theirs);
	return same ? 1 : -1;
}

/* One header's text both ways: 1 the same, -1 not. */
static inline int sipwrite_same_part(int ours_err, char *ours, int theirs_err,
				     char *theirs)
{
	int same = ours_err ? theirs_err != 0 :
			      !theirs_err && !strcmp(ours, theirs);

	osip_free(ours);
	osip_free(theirs);
	return same ? 1 : -1;
}

/* np_sipwrite_uri/via/name_addr against libosip2's, on every Via, From,
 * To, Route, Record-Route and Contact URI of m, and its Request-URI: 1 if
 * all are the same (or m has none), -1 if one is not. */
static inline int sipwrite_parts_same(const osip_message_t *m)
{
	char *a, *b;
	int i, ea, eb, bad = 0;
	osip_via_t *v;
	osip_from_t *f;
	const osip_list_t *lists[] = { &m->routes, &m->record_routes };
	osip_contact_t *c;
	size_t l;

#define SAME_PART(ours, theirs)                                       \
	do {                                                           \
		a = b = NULL;                                          \
		ea = (ours);                                           \
		eb = (theirs);                                         \
		bad |= sipwrite_same_part(ea, a, eb, b) < 0;           \
	} while (0)
	for (i = 0; (v = osip_list_get(&m->vias, i)); i++)
		SAME_PART(np_sipwrite_via(v, &a), osip_via_to_str(v, &b));
	/* Against the writers natproxyd called for them before: Route and
	 * Record-Route have their own in libosip2. */
	for (l = 0; l < 2; l++)
		for (i = 0; (f = osip_list_get(lists[l], i)); i++)
			SAME_PART(np_sipwrite_name_addr(f, &a),
				  l ? osip_record_route_to_str(f, &b) :
				      osip_route_to_str(f, &b));
	for (i = 0; (c = osip_list_get(&m->contacts, i)); i++)
		if (c->url)
			SAME_PART(np_sipwrite_uri(c->url, &a), osip_uri_to_str(c->url, &b));
	if (m->from)
		SAME_PART(np_sipwrite_name_addr(m->from, &a), osip_from_to_str(m->from, &b));
	if (m->to)
		SAME_PART(np_sipwrite_name_addr(m->to, &a), osip_from_to_str(m->to, &b));
	if (m->req_uri)
		SAME_PART(np_sipwrite_uri(m->req_uri, &a), osip_uri_to_str(m->req_uri, &b));
#undef SAME_PART
	return bad ? -1 : 1;
}

/* Both for a datagram: -1 if anything differs; 0 if libosip2 does not
 * parse it, or np_sipwrite left the whole message to libosip2. */
static inline int sipwrite_same_text(const char *buf, size_t len)
{
	osip_message_t *m = NULL;
	int r;

	if (np_sipmsg_parse(buf, len, &m))
		return 0;
	r = sipwrite_parts_same(m) < 0 ? -1 : sipwrite_same(m);
	osip_message_free(m);
	return r;
}

#endif
