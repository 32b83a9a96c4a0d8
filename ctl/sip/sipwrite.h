/* SPDX-License-Identifier: GPL-2.0-only */
/* A SIP message to text as libosip2 writes it, faster (sipwrite.c). */
#ifndef NATPROXY_SIP_SIPWRITE_H
#define NATPROXY_SIP_SIPWRITE_H

#include <stddef.h>
#include <osipparser2/osip_parser.h>

/*
 * The text osip_message_to_str() would write for m, NUL-terminated, in a
 * block the caller frees with osip_free; its length without the NUL in
 * *len. 0, -ENOTSUP for a message this writer leaves to libosip2, or
 * -ENOMEM.
 */
int np_sipwrite(const osip_message_t *m, char **text, size_t *len);

/*
 * As osip_uri_to_str(), osip_via_to_str() and osip_from_to_str() (From,
 * To, Route, Record-Route: one type in libosip2): the same text
 * in a block freed with osip_free, 0; libosip2 writes what this file has
 * no form for. Negative if neither can.
 */
int np_sipwrite_uri(const osip_uri_t *u, char **text);
int np_sipwrite_via(const osip_via_t *v, char **text);
int np_sipwrite_name_addr(const osip_from_t *f, char **text);

#endif
