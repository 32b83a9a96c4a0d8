/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SIP message helpers over libosip2 for the proxy's rewrites: the top Via's
 * branch and sent-by, pushing and popping a Via, the Contact and
 * Request-URI host:port, the SDP body, and serialising back. Pure: no I/O.
 * libosip2's parser_init() must have run once (np_sipmsg_init()).
 */
#ifndef NATPROXY_SIPMSG_H
#define NATPROXY_SIPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <osipparser2/osip_parser.h>

#include "addr.h"
#include "config.h"

void np_sipmsg_init(void);

/* 0, or -EINVAL when libosip2 refuses it or a mandatory header is missing. */
int np_sipmsg_parse(const char *buf, size_t len, osip_message_t **msg);
/* Serialises into a malloc'ed buffer; the caller frees it with osip_free. */
int np_sipmsg_serialize(osip_message_t *msg, char **out, size_t *len);

bool np_sipmsg_is_request(const osip_message_t *msg);
/* The top Via's branch, "" if none. */
const char *np_sipmsg_branch(const osip_message_t *msg);
/* The top Via as text, to put back later unchanged. */
int np_sipmsg_top_via(const osip_message_t *msg, char *out, size_t len);
int np_sipmsg_replace_top_via(osip_message_t *msg, const char *via);
int np_sipmsg_push_via(osip_message_t *msg, const char *via);
int np_sipmsg_pop_via(osip_message_t *msg);
/* Where a response to this request goes (RFC 3261 18.2.2, RFC 3581): the
 * top Via's received/rport if present, else its sent-by. */
int np_sipmsg_via_dest(const osip_message_t *msg, struct np_sockaddr *dest);

/* Sets the host and port of the first Contact's URI; "" keeps none. */
int np_sipmsg_contact_uri(const osip_message_t *msg, char *out, size_t len);
int np_sipmsg_set_contact_hostport(osip_message_t *msg,
				   const struct np_sockaddr *addr);
/* Puts uri back into every Contact whose host:port is ours. */
int np_sipmsg_restore_contact(osip_message_t *msg,
			      const struct np_sockaddr *ours, const char *uri);
/* Replaces the Request-URI with uri. */
int np_sipmsg_set_request_uri(osip_message_t *msg, const char *uri);
/* True when the Request-URI's host:port is addr. */
bool np_sipmsg_request_uri_is(const osip_message_t *msg,
			      const struct np_sockaddr *addr);

/* The SDP body, or NULL when the message carries none. */
const char *np_sipmsg_sdp(const osip_message_t *msg, size_t *len);
/* Replaces the SDP np_sipmsg_sdp() found (a multipart body keeps its
 * other parts). */
int np_sipmsg_set_sdp(osip_message_t *msg, const char *text, size_t len);
int np_sipmsg_set_body(osip_message_t *msg, const char *body, size_t len);

/* Registration lifetime in seconds: the Contact's expires parameter, else
 * the Expires header, capped at 2^32-1; dflt when absent or malformed. */
long np_sipmsg_expires(const osip_message_t *msg, long dflt);
const char *np_sipmsg_call_id(const osip_message_t *msg, char *out,
			      size_t len);

/* The From / To header values (with tags), the CSeq number. */
int np_sipmsg_from(const osip_message_t *msg, char *out, size_t len);
int np_sipmsg_to(const osip_message_t *msg, char *out, size_t len);
uint32_t np_sipmsg_cseq(const osip_message_t *msg);
/* The To URI's user@host: the address-of-record a REGISTER binds. */
int np_sipmsg_aor(const osip_message_t *msg, char *out, size_t len);
/* The From / To tag, "" if none. */
const char *np_sipmsg_from_tag(const osip_message_t *msg);
const char *np_sipmsg_to_tag(const osip_message_t *msg);

/*
 * A request's server transaction key (RFC 3261 17.2.3): its top Via branch
 * when that starts with the magic cookie z9hG4bK; else (RFC 2543 peers) one
 * built from the method, Request-URI, From tag, Call-ID, CSeq number, and
 * top Via sent-by and branch, so that requests without a branch never
 * share a key and a retry with a new CSeq (after a 401/407) gets a new one.
 * An ACK or CANCEL gets its INVITE's key. A response has a key only by a
 * cookie branch. 0, -ENOSPC when len is too small, -EINVAL.
 */
int np_sipmsg_txn_key(const osip_message_t *msg, char *out, size_t len);

/* delta-seconds (RFC 3261 25.1) capped at 2^32-1 (20.19); -1 when text is
 * not one (blanks around it allowed). */
long np_sipmsg_delta_seconds(const char *text);

int np_sipaddr_parse(const char *host, const char *port, uint16_t dflt,
		     struct np_sockaddr *a);

#endif
