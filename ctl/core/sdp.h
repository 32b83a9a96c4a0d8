/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SDP (RFC 4566) handling for natproxyd: np_sdp_parse() reports the media
 * streams of an offer or answer (address, RTP/RTCP ports, rtcp-mux, hold,
 * direction, bandwidth) so the daemon can allocate relay pairs and install
 * map entries; np_sdp_rewrite() points the body at those relay pairs and
 * keeps every other byte. Both are pure: no global state, the caller owns
 * every buffer, and they are safe to call from several threads.
 */
#ifndef NATPROXY_CTL_SDP_H
#define NATPROXY_CTL_SDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NP_SDP_MAX_MEDIA 16
/* Larger bodies, or lines (without CRLF), get -E2BIG: a SIP datagram is at most 64 KiB. */
#define NP_SDP_MAX_BODY 65535
#define NP_SDP_MAX_LINE 4096

/* RFC 3264 section 5.1 / 6.1 direction attributes. */
enum np_sdp_dir { NP_SDP_SENDRECV, NP_SDP_SENDONLY, NP_SDP_RECVONLY, NP_SDP_INACTIVE };

struct np_sdp_addr {
	int family; /* AF_INET, AF_INET6; AF_UNSPEC only for a rejected stream without c= */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

struct np_sdp_media {
	char type[16];		/* audio, video, ... */
	uint16_t port;		/* 0 = rejected (RFC 3264 section 6) */
	/*
	 * From a=rtcp (RFC 3605) if present, else port when rtcp_mux, else
	 * port + 1; 0 for a rejected stream. With rtcp_mux and an a=rtcp
	 * naming another port, that port is where RTCP goes if the answer
	 * declines mux (RFC 5761 section 5.1.3).
	 */
	uint16_t rtcp_port;
	struct np_sdp_addr addr;	/* effective connection address (media c= or session c=) */
	struct np_sdp_addr rtcp_addr;	/* a=rtcp address if given, else addr */
	bool rtcp_mux;		/* a=rtcp-mux (RFC 5761) */
	bool hold;		/* addr 0.0.0.0 or :: (RFC 2543 hold), or sendonly/inactive */
	enum np_sdp_dir dir;	/* media-level attribute, else session-level, else sendrecv */
	uint32_t bandwidth_bps;	/* b=TIAS or b=AS * 1000, the smaller if both; 0 = none */
	/*
	 * The same two kept apart, for np_sdp_police_rate(): b=AS in kbit/s
	 * (RFC 4566 section 5.8) and b=TIAS in bit/s (RFC 3890), each the
	 * smallest of its level, 0 if absent. Both come from the media level
	 * if it has either, else from the session level.
	 */
	uint32_t as_kbps;
	uint32_t tias_bps;
	/*
	 * ICE (RFC 8839): a=candidate or a=ice-ufrag/a=ice-pwd in this media,
	 * or a=ice-ufrag/a=ice-pwd at session level.
	 */
	bool ice;
};

struct np_sdp {
	size_t n_media;
	struct np_sdp_media media[NP_SDP_MAX_MEDIA];
};

/*
 * Parse len bytes of body (need not be NUL-terminated; CRLF or LF line
 * ends). Returns 0, or -EINVAL (malformed) / -E2BIG (over a limit) /
 * -ENOMEM with *why (if why is not NULL) set to a short static reason.
 */
int np_sdp_parse(const char *body, size_t len, struct np_sdp *out, const char **why);

/*
 * Bytes per second the XDP policer should let through for a stream whose
 * SDP says b=AS:as_kbps and/or b=TIAS:tias_bps (TIAS preferred: it is the
 * payload rate, AS an application's own figure). The policer counts whole
 * IP packets (bpf/relay.bpf.c police()), so the rate is the bit rate / 8
 * with 25% headroom, plus the IPv6 + UDP + RTP headers (60 bytes) of 100
 * packets a second (10 ms packetization). 0 (no b= line) means no limit.
 */
#define NP_SDP_POLICE_PPS 100
#define NP_SDP_POLICE_HDR_BYTES 60
uint64_t np_sdp_police_rate(uint32_t as_kbps, uint32_t tias_bps);

/*
 * What the rewrite does with ICE (RFC 8839). Candidates name the peer's
 * private and reflexive addresses, and a peer that checks them would send
 * media around the relay.
 * REMOVE: every a=candidate, a=remote-candidates, a=ice-ufrag, a=ice-pwd,
 * a=ice-options, a=ice-lite, a=ice-mismatch and a=end-of-candidates line is
 * dropped, at session and media level.
 * RELAY: ice-ufrag, ice-pwd, ice-options and ice-lite are kept (the
 * connectivity checks still run end to end, through the relay); the
 * candidates, remote-candidates, ice-mismatch and end-of-candidates are
 * dropped, and each accepted media with ICE gets, at the end of its
 * section, one host candidate per component at the relay (component 1 the
 * RTP port, component 2 the RTCP port unless a=rtcp-mux) and
 * a=end-of-candidates. Rejected media (port 0) lose their ICE lines.
 */
enum np_sdp_ice { NP_SDP_ICE_REMOVE = 0, NP_SDP_ICE_RELAY = 1 };

struct np_sdp_relay {
	struct np_sdp_addr addr;
	/* Indexed like np_sdp.media; ignored for rejected streams. RTCP is rtp + 1 unless mux. */
	uint16_t rtp_port[NP_SDP_MAX_MEDIA];
	enum np_sdp_ice ice;	/* NP_SDP_ICE_REMOVE when zeroed */
};

/*
 * Rewrite body to point at relay: session and media c=, o= address, each
 * accepted m= port, a=rtcp port (and its address if it had one); ICE lines
 * as relay->ice says. Lines end
 * in CRLF; everything else is kept byte for byte. Writes a NUL-terminated
 * body into out (which must not overlap body) and its length, without the
 * NUL, into *out_len for Content-Length. Returns 0, the errors of
 * np_sdp_parse(), -EINVAL for a bad relay, or -ENOSPC if out is too small.
 */
int np_sdp_rewrite(const char *body, size_t len, const struct np_sdp_relay *relay,
		   char *out, size_t out_size, size_t *out_len, const char **why);
/* The same with sdp, what np_sdp_parse() made of this body: a call's
 * SDP is parsed once, not again to be rewritten. */
int np_sdp_rewrite_parsed(const char *body, size_t len, const struct np_sdp *sdp,
			  const struct np_sdp_relay *relay, char *out, size_t out_size,
			  size_t *out_len, const char **why);

/*
 * multipart bodies (RFC 2046 section 5.1, RFC 5621): SIP may carry SDP as one
 * part of a multipart/mixed or multipart/alternative body. content_type is
 * the Content-Type header value (NUL-terminated), whose boundary parameter
 * may be quoted or not. Only the top level is searched; the SDP part must
 * say Content-Type: application/sdp and carry no Content-Transfer-Encoding
 * other than 7bit, 8bit or binary.
 *
 * np_sdp_multipart_find() sets *off and *sdp_len to the SDP part's body
 * inside body. Returns 0; -ENOTSUP when content_type is not multipart/mixed
 * or multipart/alternative; -ENOENT when no part is application/sdp;
 * -EINVAL for a bad boundary, a body without its delimiters, a part
 * without headers, an encoded SDP part, or several SDP parts (rewriting one
 * would leak the others); -E2BIG over NP_SDP_MAX_BODY. *why says which.
 */
int np_sdp_multipart_find(const char *content_type, const char *body, size_t len,
			  size_t *off, size_t *sdp_len, const char **why);

/*
 * Rebuild body with its SDP part's body replaced by sdp (sdp_len bytes),
 * every other byte kept. Writes a NUL-terminated body into out and its
 * length into *out_len. Returns 0, the errors of np_sdp_multipart_find(),
 * -EINVAL if sdp holds a line that starts with the boundary delimiter, or
 * -ENOSPC if out is too small.
 */
int np_sdp_multipart_replace(const char *content_type, const char *body, size_t len,
			     const char *sdp, size_t sdp_len, char *out, size_t out_size,
			     size_t *out_len, const char **why);

#endif
