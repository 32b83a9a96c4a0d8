/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Route and Record-Route over libosip2 for the SIP driver (docs/sip.md,
 * "Headers"): removing the Route entries that name natproxy (RFC 3261
 * 16.4, with the strict-router fix), putting a dialog's route set in front,
 * reading and replacing Record-Route, and a route set as one line of text
 * to keep per dialog and in the state file. Pure: no I/O, no globals.
 * libosip2's parser_init() must have run once (np_sipmsg_init()).
 */
#ifndef NATPROXY_SIP_ROUTE_H
#define NATPROXY_SIP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <osipparser2/osip_parser.h>

/* Most entries in a route set, and longest route set text with its NUL. */
#define NP_ROUTESET_MAX 16
#define NP_ROUTESET_LEN 2048

/* Whether uri names natproxy: the caller's rule (docs/sip.md, "names us"). */
typedef bool (*np_names_us_fn)(void *arg, const osip_uri_t *uri);

/*
 * RFC 3261 16.4 on a request: first, when the Request-URI names us, carries
 * `lr` (a value natproxy put in a Record-Route, as a strict router copies
 * it) and Route entries follow, the Request-URI becomes the last Route
 * entry's URI and that entry goes; then the Route entries at the top that
 * name us are removed, up to the first that does not. Returns how many
 * entries were removed in all, or -ENOMEM.
 */
int np_route_pop_ours(osip_message_t *m, np_names_us_fn ours, void *arg);

/*
 * Puts n Route entries (name-addrs or URIs) in front of the existing ones,
 * uris[0] topmost. 0, or -EINVAL when one does not parse, -ENOSPC past
 * NP_ROUTESET_MAX, -ENOMEM; the message is unchanged on error.
 */
int np_route_prepend(osip_message_t *m, char *const *uris, size_t n);
/* The same from a route set's text (np_routeset_join's form). */
int np_route_prepend_set(osip_message_t *m, const char *routeset);

/*
 * The Record-Route entries, top first over every Record-Route header and
 * comma-separated value, each the full name-addr as malloc'ed text (free
 * with np_rr_free). 0, -ENOSPC when there are more than max (nothing is
 * returned then), -ENOMEM, -EINVAL.
 */
int np_rr_get(const osip_message_t *m, char **out, size_t max, size_t *n);
void np_rr_free(char **list, size_t n);

/* Replaces every Record-Route by these n entries, uris[0] topmost; n 0
 * removes them. Errors as np_route_prepend's, the message unchanged. */
int np_rr_set(osip_message_t *m, char *const *uris, size_t n);

/* Position of the first Record-Route entry naming us, top first; the
 * number of entries when none does. Those above it are the core's part. */
size_t np_rr_index_of_ours(const osip_message_t *m, np_names_us_fn ours,
			   void *arg);

/*
 * A route set as one line: name-addrs joined by ", ", at most
 * NP_ROUTESET_MAX of them in NP_ROUTESET_LEN bytes; "" is the empty set.
 * join: 0, -ENOSPC (too many, or too long for len or NP_ROUTESET_LEN),
 * -EINVAL (an entry NULL, empty, not exactly one name-addr, with CR or LF,
 * or with an unclosed quote or <).
 * split: malloc'ed entries (np_rr_free), the quotes and <> of each kept;
 * -EINVAL for unbalanced quotes or <>, an empty entry, CR or LF; -ENOSPC
 * past max entries or NP_ROUTESET_LEN bytes.
 */
int np_routeset_join(char *const *uris, size_t n, char *out, size_t len);
int np_routeset_split(const char *text, char **out, size_t max, size_t *n);

#endif
