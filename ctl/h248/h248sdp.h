/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SDP as H.248 carries it in Local and Remote descriptors (H.248.1 7.1.8,
 * RFC 3525 7.1.8): the v=, o=, s= and t= lines RFC 4566 requires may be
 * left out, and real gateways do (erlang-megaco's examples send only c=
 * and m=). The core's SDP parser and rewriter want RFC 4566 SDP, so the
 * driver fills in what is missing before the core's offer/answer, and
 * takes those lines out of the rewritten SDP again: what reaches the other
 * side has the lines the sender wrote and no others. Pure.
 */
#ifndef NATPROXY_H248_SDP_H
#define NATPROXY_H248_SDP_H

#include <stdbool.h>
#include <stddef.h>

/* The lines np_h248_sdp_fill added. */
struct np_h248_sdp_fill {
	bool v, o, s, t;
};

/*
 * out = sdp with a v=0 first line, an o= line after it, an s= line after
 * that and a t= line before the session's attributes (or its first m=)
 * where sdp has none, each ended as sdp's first line is. 0, or -E2BIG.
 */
int np_h248_sdp_fill(const char *sdp, size_t len, char *out, size_t size,
		     size_t *olen, struct np_h248_sdp_fill *added);

/* Takes the lines fill added out of sdp (edited in place); its new
 * length. */
size_t np_h248_sdp_unfill(char *sdp, size_t len,
			  const struct np_h248_sdp_fill *added);

#endif
