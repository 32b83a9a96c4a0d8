/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The check sipwrite_test and proxy_fuzz share: for a parsed message,
 * np_sipwrite() writes exactly what osip_message_to_str() writes, or
 * leaves the message to it (-ENOTSUP).
 */
#ifndef NATPROXY_TESTS_SIPWRITE_SAME_H
#define NATPROXY_TESTS_SIPWRITE_SAME_H

#include <errno.h>
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

/* The same for a datagram; 0 if libosip2 does not parse it. */
static inline int sipwrite_same_text(const char *buf, size_t len)
{
	osip_message_t *m = NULL;
	int r;

	if (np_sipmsg_parse(buf, len, &m))
		return 0;
	r = sipwrite_same(m);
	osip_message_free(m);
	return r;
}

#endif
