/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests for ctl/sdp.c: recorded-style SDP offers and answers are parsed
 * and checked field by field, rewritten toward a relay and compared with the
 * full expected text, and the rewrite is parsed back. Malformed bodies must
 * each fail with the right errno, and a seeded mutation loop checks that
 * nothing crashes or reads out of bounds (run under valgrind), and that every
 * body that parses can be rewritten into a body that parses again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/sdp.h"
#include "tap.h"

#define MAXM 3
/* Short direction names keep the expectation rows readable. */
#define SR NP_SDP_SENDRECV
#define SO NP_SDP_SENDONLY
#define RO NP_SDP_RECVONLY
#define IA NP_SDP_INACTIVE

/*
 * Rows read: type, port, rtcp_port, addr, rtcp_addr, rtcp_mux, hold, dir,
 * bandwidth_bps, ice (false when left out).
 */
struct media_exp {
	const char *type;
	uint16_t port, rtcp_port;
	const char *addr, *rtcp_addr;	/* NULL: AF_UNSPEC */
	bool mux, hold;
	enum np_sdp_dir dir;
	uint32_t bw;
	bool ice;
};

struct ok_case {
	const char *name;
	const char *in;
	size_t n_media;
	struct media_exp m[MAXM];
	const char *relay;
	uint16_t rtp[MAXM];
	enum np_sdp_ice ice;	/* NP_SDP_ICE_REMOVE when left out */
	const char *out;
};

#define SIPP_OFFER_LINES(EOL)                                                  \
	"v=0" EOL                                                              \
	"o=user1 53655765 2353687637 IN IP4 192.168.1.10" EOL                  \
	"s=-" EOL                                                              \
	"c=IN IP4 192.168.1.10" EOL                                            \
	"t=0 0" EOL                                                            \
	"m=audio 6000 RTP/AVP 0" EOL                                           \
	"a=rtpmap:0 PCMU/8000" EOL

#define SIPP_OUT_V4                                                            \
	"v=0\r\n"                                                              \
	"o=user1 53655765 2353687637 IN IP4 198.51.100.1\r\n"                  \
	"s=-\r\n"                                                              \
	"c=IN IP4 198.51.100.1\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"m=audio 40000 RTP/AVP 0\r\n"                                          \
	"a=rtpmap:0 PCMU/8000\r\n"

#define SIPP_AUDIO { "audio", 6000, 6001, "192.168.1.10", "192.168.1.10", 0, 0, SR, 0 }

static const struct ok_case ok_cases[] = {
	{
		.name = "sipp single audio offer",
		.in = SIPP_OFFER_LINES("\r\n"),
		.n_media = 1,
		.m = { SIPP_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.out = SIPP_OUT_V4,
	},
	{
		.name = "bare LF input gives CRLF output",
		.in = SIPP_OFFER_LINES("\n"),
		.n_media = 1,
		.m = { SIPP_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.out = SIPP_OUT_V4,
	},
	{
		.name = "audio and video, media-level c= and b=AS",
		.in = "v=0\r\n"
		      "o=alice 2890844526 2890844527 IN IP4 192.168.1.20\r\n"
		      "s=call\r\n"
		      "c=IN IP4 192.168.1.20\r\n"
		      "t=0 0\r\n"
		      "m=audio 49170 RTP/AVP 0 8 101\r\n"
		      "a=rtpmap:0 PCMU/8000\r\n"
		      "a=rtpmap:8 PCMA/8000\r\n"
		      "a=rtpmap:101 telephone-event/8000\r\n"
		      "a=fmtp:101 0-16\r\n"
		      "a=ptime:20\r\n"
		      "m=video 51372 RTP/AVP 96\r\n"
		      "c=IN IP4 192.168.1.21\r\n"
		      "b=AS:512\r\n"
		      "a=rtpmap:96 H264/90000\r\n"
		      "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n",
		.n_media = 2,
		.m = {
			{ "audio", 49170, 49171, "192.168.1.20", "192.168.1.20", 0, 0, SR, 0 },
			{ "video", 51372, 51373, "192.168.1.21", "192.168.1.21", 0, 0, SR, 512000 },
		},
		.relay = "203.0.113.1",
		.rtp = { 30000, 30002 },
		.out = "v=0\r\n"
		       "o=alice 2890844526 2890844527 IN IP4 203.0.113.1\r\n"
		       "s=call\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 30000 RTP/AVP 0 8 101\r\n"
		       "a=rtpmap:0 PCMU/8000\r\n"
		       "a=rtpmap:8 PCMA/8000\r\n"
		       "a=rtpmap:101 telephone-event/8000\r\n"
		       "a=fmtp:101 0-16\r\n"
		       "a=ptime:20\r\n"
		       "m=video 30002 RTP/AVP 96\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "b=AS:512\r\n"
		       "a=rtpmap:96 H264/90000\r\n"
		       "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n",
	},
	{
		.name = "rtcp-mux with a=rtcp on the RTP port",
		.in = "v=0\r\n"
		      "o=- 4611731400430051336 2 IN IP4 192.168.1.30\r\n"
		      "s=-\r\n"
		      "t=0 0\r\n"
		      "m=audio 50000 RTP/AVPF 111\r\n"
		      "c=IN IP4 192.168.1.30\r\n"
		      "a=rtcp:50000 IN IP4 192.168.1.30\r\n"
		      "a=rtcp-mux\r\n"
		      "a=rtpmap:111 opus/48000/2\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 50000, 50000, "192.168.1.30", "192.168.1.30", 1, 0, SR, 0 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40002 },
		.out = "v=0\r\n"
		       "o=- 4611731400430051336 2 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "t=0 0\r\n"
		       "m=audio 40002 RTP/AVPF 111\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "a=rtcp:40002 IN IP4 198.51.100.1\r\n"
		       "a=rtcp-mux\r\n"
		       "a=rtpmap:111 opus/48000/2\r\n",
	},
	{
		.name = "rtcp-mux without a=rtcp",
		.in = "v=0\r\n"
		      "o=- 7 7 IN IP4 192.168.1.31\r\n"
		      "s=-\r\n"
		      "c=IN IP4 192.168.1.31\r\n"
		      "t=0 0\r\n"
		      "m=audio 50010 RTP/AVP 8\r\n"
		      "a=rtcp-mux\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 50010, 50010, "192.168.1.31", "192.168.1.31", 1, 0, SR, 0 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40004 },
		.out = "v=0\r\n"
		       "o=- 7 7 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40004 RTP/AVP 8\r\n"
		       "a=rtcp-mux\r\n",
	},
	{
		.name = "rtcp-mux offer with a fallback a=rtcp port (RFC 5761 5.1.3)",
		.in = "v=0\r\n"
		      "o=- 8 8 IN IP4 192.168.1.32\r\n"
		      "s=-\r\n"
		      "c=IN IP4 192.168.1.32\r\n"
		      "t=0 0\r\n"
		      "m=audio 50020 RTP/AVP 8\r\n"
		      "a=rtcp:50031\r\n"
		      "a=rtcp-mux\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 50020, 50031, "192.168.1.32", "192.168.1.32", 1, 0, SR, 0 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40006 },
		.out = "v=0\r\n"
		       "o=- 8 8 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40006 RTP/AVP 8\r\n"
		       "a=rtcp:40007\r\n"
		       "a=rtcp-mux\r\n",
	},
	{
		.name = "a=rtcp without address",
		.in = "v=0\r\n"
		      "o=bob 100 101 IN IP4 192.168.2.40\r\n"
		      "s=Talk\r\n"
		      "c=IN IP4 192.168.2.40\r\n"
		      "t=0 0\r\n"
		      "m=audio 7078 RTP/AVP 96 0\r\n"
		      "a=rtcp:7081\r\n"
		      "a=rtpmap:96 opus/48000/2\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 7078, 7081, "192.168.2.40", "192.168.2.40", 0, 0, SR, 0 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40010 },
		.out = "v=0\r\n"
		       "o=bob 100 101 IN IP4 198.51.100.1\r\n"
		       "s=Talk\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40010 RTP/AVP 96 0\r\n"
		       "a=rtcp:40011\r\n"
		       "a=rtpmap:96 opus/48000/2\r\n",
	},
	{
		.name = "a=rtcp with its own address (RFC 3605)",
		.in = "v=0\r\n"
		      "o=bob 100 101 IN IP4 192.168.2.40\r\n"
		      "s=Talk\r\n"
		      "c=IN IP4 192.168.2.40\r\n"
		      "t=0 0\r\n"
		      "m=audio 53000 RTP/AVP 0\r\n"
		      "a=rtcp:53020 IN IP4 192.168.2.41\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 53000, 53020, "192.168.2.40", "192.168.2.41", 0, 0, SR, 0 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40012 },
		.out = "v=0\r\n"
		       "o=bob 100 101 IN IP4 198.51.100.1\r\n"
		       "s=Talk\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40012 RTP/AVP 0\r\n"
		       "a=rtcp:40013 IN IP4 198.51.100.1\r\n",
	},
	{
		.name = "rejected video stream (port 0) without c=",
		.in = "v=0\r\n"
		      "o=carol 5 6 IN IP4 192.168.3.50\r\n"
		      "s=-\r\n"
		      "t=0 0\r\n"
		      "m=audio 6000 RTP/AVP 0\r\n"
		      "c=IN IP4 192.168.3.50\r\n"
		      "m=video 0 RTP/AVP 96\r\n"
		      "a=rtpmap:96 H264/90000\r\n",
		.n_media = 2,
		.m = {
			{ "audio", 6000, 6001, "192.168.3.50", "192.168.3.50", 0, 0, SR, 0 },
			{ "video", 0, 0, NULL, NULL, 0, 0, SR, 0 },
		},
		.relay = "203.0.113.1",
		.rtp = { 30010, 0 },
		.out = "v=0\r\n"
		       "o=carol 5 6 IN IP4 203.0.113.1\r\n"
		       "s=-\r\n"
		       "t=0 0\r\n"
		       "m=audio 30010 RTP/AVP 0\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "m=video 0 RTP/AVP 96\r\n"
		       "a=rtpmap:96 H264/90000\r\n",
	},
	{
		.name = "hold with c=0.0.0.0 (RFC 2543)",
		.in = "v=0\r\n"
		      "o=user1 53655765 2353687638 IN IP4 192.168.1.10\r\n"
		      "s=-\r\n"
		      "c=IN IP4 0.0.0.0\r\n"
		      "t=0 0\r\n"
		      "m=audio 6000 RTP/AVP 0\r\n"
		      "a=rtpmap:0 PCMU/8000\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 6000, 6001, "0.0.0.0", "0.0.0.0", 0, 1, SR, 0 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.out = "v=0\r\n"
		       "o=user1 53655765 2353687638 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 0.0.0.0\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "a=rtpmap:0 PCMU/8000\r\n",
	},
	{
		.name = "hold with session a=sendonly, media a=sendrecv overrides",
		.in = "v=0\r\n"
		      "o=alice 2890844526 2890844528 IN IP4 192.168.1.20\r\n"
		      "s=call\r\n"
		      "c=IN IP4 192.168.1.20\r\n"
		      "t=0 0\r\n"
		      "a=sendonly\r\n"
		      "m=audio 49170 RTP/AVP 0\r\n"
		      "m=video 51372 RTP/AVP 96\r\n"
		      "a=sendrecv\r\n"
		      "m=audio 49180 RTP/AVP 0\r\n"
		      "a=inactive\r\n",
		.n_media = 3,
		.m = {
			{ "audio", 49170, 49171, "192.168.1.20", "192.168.1.20", 0, 1, SO, 0 },
			{ "video", 51372, 51373, "192.168.1.20", "192.168.1.20", 0, 0, SR, 0 },
			{ "audio", 49180, 49181, "192.168.1.20", "192.168.1.20", 0, 1, IA, 0 },
		},
		.relay = "203.0.113.1",
		.rtp = { 30000, 30002, 30004 },
		.out = "v=0\r\n"
		       "o=alice 2890844526 2890844528 IN IP4 203.0.113.1\r\n"
		       "s=call\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "t=0 0\r\n"
		       "a=sendonly\r\n"
		       "m=audio 30000 RTP/AVP 0\r\n"
		       "m=video 30002 RTP/AVP 96\r\n"
		       "a=sendrecv\r\n"
		       "m=audio 30004 RTP/AVP 0\r\n"
		       "a=inactive\r\n",
	},
	{
		.name = "IPv6 with a=rtcp address and a=recvonly",
		.in = "v=0\r\n"
		      "o=- 20518 0 IN IP6 2001:db8::10\r\n"
		      "s=-\r\n"
		      "c=IN IP6 2001:db8::10\r\n"
		      "t=0 0\r\n"
		      "m=audio 6000 RTP/AVP 0\r\n"
		      "a=rtcp:6001 IN IP6 2001:db8::11\r\n"
		      "a=recvonly\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 6000, 6001, "2001:db8::10", "2001:db8::11", 0, 0, RO, 0 },
		},
		.relay = "2001:db8:1::1",
		.rtp = { 40000 },
		.out = "v=0\r\n"
		       "o=- 20518 0 IN IP6 2001:db8:1::1\r\n"
		       "s=-\r\n"
		       "c=IN IP6 2001:db8:1::1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "a=rtcp:40001 IN IP6 2001:db8:1::1\r\n"
		       "a=recvonly\r\n",
	},
	{
		.name = "IPv6 hold with c=IN IP6 ::",
		.in = "v=0\r\n"
		      "o=- 20518 1 IN IP6 2001:db8::10\r\n"
		      "s=-\r\n"
		      "c=IN IP6 ::\r\n"
		      "t=0 0\r\n"
		      "m=audio 6000 RTP/AVP 0\r\n",
		.n_media = 1,
		.m = {
			{ "audio", 6000, 6001, "::", "::", 0, 1, SR, 0 },
		},
		.relay = "2001:db8:1::1",
		.rtp = { 40000 },
		.out = "v=0\r\n"
		       "o=- 20518 1 IN IP6 2001:db8:1::1\r\n"
		       "s=-\r\n"
		       "c=IN IP6 ::\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n",
	},
	{
		.name = "IPv4 original to IPv6 relay",
		.in = SIPP_OFFER_LINES("\r\n"),
		.n_media = 1,
		.m = { SIPP_AUDIO },
		.relay = "2001:db8:ffff::1",
		.rtp = { 40000 },
		.out = "v=0\r\n"
		       "o=user1 53655765 2353687637 IN IP6 2001:db8:ffff::1\r\n"
		       "s=-\r\n"
		       "c=IN IP6 2001:db8:ffff::1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "a=rtpmap:0 PCMU/8000\r\n",
	},
	{
		.name = "IPv6 original to IPv4 relay, a=rtcp address too",
		.in = "v=0\n"
		      "o=- 20518 0 IN IP6 2001:db8::10\n"
		      "s=-\n"
		      "t=0 0\n"
		      "m=audio 6000 RTP/AVP 0\n"
		      "c=IN IP6 2001:db8::10\n"
		      "a=rtcp:6003 IN IP6 2001:db8::10\n",
		.n_media = 1,
		.m = {
			{ "audio", 6000, 6003, "2001:db8::10", "2001:db8::10", 0, 0, SR, 0 },
		},
		.relay = "203.0.113.1",
		.rtp = { 30020 },
		.out = "v=0\r\n"
		       "o=- 20518 0 IN IP4 203.0.113.1\r\n"
		       "s=-\r\n"
		       "t=0 0\r\n"
		       "m=audio 30020 RTP/AVP 0\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "a=rtcp:30021 IN IP4 203.0.113.1\r\n",
	},
	{
		.name = "b=AS and b=TIAS, session and media level",
		.in = "v=0\r\n"
		      "o=dave 1 1 IN IP4 192.168.4.60\r\n"
		      "s=-\r\n"
		      "c=IN IP4 192.168.4.60\r\n"
		      "b=AS:128\r\n"
		      "t=0 0\r\n"
		      "m=audio 6000 RTP/AVP 0\r\n"
		      "m=audio 6002 RTP/AVP 0\r\n"
		      "b=AS:64\r\n"
		      "b=TIAS:48000\r\n"
		      "m=video 6004 RTP/AVP 96\r\n"
		      "b=TIAS:800000\r\n"
		      "a=rtpmap:96 H264/90000\r\n",
		.n_media = 3,
		.m = {
			{ "audio", 6000, 6001, "192.168.4.60", "192.168.4.60", 0, 0, SR, 128000 },
			{ "audio", 6002, 6003, "192.168.4.60", "192.168.4.60", 0, 0, SR, 48000 },
			{ "video", 6004, 6005, "192.168.4.60", "192.168.4.60", 0, 0, SR, 800000 },
		},
		.relay = "198.51.100.1",
		.rtp = { 40000, 40002, 40004 },
		.out = "v=0\r\n"
		       "o=dave 1 1 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "b=AS:128\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "m=audio 40002 RTP/AVP 0\r\n"
		       "b=AS:64\r\n"
		       "b=TIAS:48000\r\n"
		       "m=video 40004 RTP/AVP 96\r\n"
		       "b=TIAS:800000\r\n"
		       "a=rtpmap:96 H264/90000\r\n",
	},
};

/*
 * A trickle-capable phone behind a NAT: session-level ice-lite and
 * ice-options, a host candidate on its private address and a
 * server-reflexive one on its NAT mapping.
 */
#define ICE_MUX_OFFER                                                          \
	"v=0\r\n"                                                              \
	"o=- 11 1 IN IP4 192.168.1.40\r\n"                                     \
	"s=-\r\n"                                                              \
	"c=IN IP4 192.168.1.40\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"a=ice-lite\r\n"                                                       \
	"a=ice-options:trickle\r\n"                                            \
	"m=audio 50000 RTP/AVP 0\r\n"                                          \
	"a=ice-ufrag:F7gI\r\n"                                                 \
	"a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"                                 \
	"a=candidate:1 1 UDP 2130706431 192.168.1.40 50000 typ host\r\n"       \
	"a=candidate:2 1 UDP 1694498815 203.0.113.99 61000 typ srflx raddr "   \
	"192.168.1.40 rport 50000\r\n"                                         \
	"a=end-of-candidates\r\n"                                              \
	"a=rtcp-mux\r\n"                                                       \
	"a=rtpmap:0 PCMU/8000\r\n"

#define ICE_MUX_AUDIO { "audio", 50000, 50000, "192.168.1.40", "192.168.1.40", 1, 0, SR, 0, 1 }

/* A re-offer: candidates for RTP and RTCP, remote-candidates, a rejected video with ICE. */
#define ICE_TWO_OFFER                                                          \
	"v=0\r\n"                                                              \
	"o=- 12 2 IN IP4 192.168.1.41\r\n"                                     \
	"s=-\r\n"                                                              \
	"c=IN IP4 192.168.1.41\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"a=ice-ufrag:sess\r\n"                                                 \
	"a=ice-pwd:sessionpasswordsessionpw\r\n"                               \
	"m=audio 52000 RTP/AVP 8\r\n"                                          \
	"a=candidate:1 1 UDP 2130706431 192.168.1.41 52000 typ host\r\n"       \
	"a=candidate:1 2 UDP 2130706430 192.168.1.41 52001 typ host\r\n"       \
	"a=remote-candidates:1 198.51.100.7 40000 2 198.51.100.7 40001\r\n"    \
	"a=ice-mismatch\r\n"                                                   \
	"a=sendrecv\r\n"                                                       \
	"m=video 0 RTP/AVP 96\r\n"                                             \
	"a=ice-ufrag:vid0\r\n"                                                 \
	"a=ice-pwd:videopasswordvideopasswd\r\n"                               \
	"a=candidate:1 1 UDP 2130706431 192.168.1.41 52002 typ host\r\n"

#define ICE_TWO_MEDIA                                                          \
	{ "audio", 52000, 52001, "192.168.1.41", "192.168.1.41", 0, 0, SR, 0, 1 },  \
	{ "video", 0, 0, "192.168.1.41", "192.168.1.41", 0, 0, SR, 0, 1 }

static const struct ok_case ice_cases[] = {
	{
		.name = "ice remove: every ICE line goes, session and media",
		.in = ICE_MUX_OFFER,
		.n_media = 1,
		.m = { ICE_MUX_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.out = "v=0\r\n"
		       "o=- 11 1 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "a=rtcp-mux\r\n"
		       "a=rtpmap:0 PCMU/8000\r\n",
	},
	{
		.name = "ice relay with rtcp-mux: one host candidate at the relay",
		.in = ICE_MUX_OFFER,
		.n_media = 1,
		.m = { ICE_MUX_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.ice = NP_SDP_ICE_RELAY,
		.out = "v=0\r\n"
		       "o=- 11 1 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "a=ice-lite\r\n"
		       "a=ice-options:trickle\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "a=ice-ufrag:F7gI\r\n"
		       "a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
		       "a=rtcp-mux\r\n"
		       "a=rtpmap:0 PCMU/8000\r\n"
		       "a=candidate:np 1 UDP 2130706431 198.51.100.1 40000 typ host\r\n"
		       "a=end-of-candidates\r\n",
	},
	{
		.name = "ice remove: session credentials, remote-candidates, rejected video",
		.in = ICE_TWO_OFFER,
		.n_media = 2,
		.m = { ICE_TWO_MEDIA },
		.relay = "203.0.113.1",
		.rtp = { 30000, 0 },
		.out = "v=0\r\n"
		       "o=- 12 2 IN IP4 203.0.113.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 30000 RTP/AVP 8\r\n"
		       "a=sendrecv\r\n"
		       "m=video 0 RTP/AVP 96\r\n",
	},
	{
		.name = "ice relay without mux: RTP and RTCP candidates, rejected video loses ICE",
		.in = ICE_TWO_OFFER,
		.n_media = 2,
		.m = { ICE_TWO_MEDIA },
		.relay = "203.0.113.1",
		.rtp = { 30000, 0 },
		.ice = NP_SDP_ICE_RELAY,
		.out = "v=0\r\n"
		       "o=- 12 2 IN IP4 203.0.113.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 203.0.113.1\r\n"
		       "t=0 0\r\n"
		       "a=ice-ufrag:sess\r\n"
		       "a=ice-pwd:sessionpasswordsessionpw\r\n"
		       "m=audio 30000 RTP/AVP 8\r\n"
		       "a=sendrecv\r\n"
		       "a=candidate:np 1 UDP 2130706431 203.0.113.1 30000 typ host\r\n"
		       "a=candidate:np 2 UDP 2130706430 203.0.113.1 30001 typ host\r\n"
		       "a=end-of-candidates\r\n"
		       "m=video 0 RTP/AVP 96\r\n",
	},
	{
		.name = "ice relay: media without ICE gets no candidates",
		.in = SIPP_OFFER_LINES("\r\n"),
		.n_media = 1,
		.m = { SIPP_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.ice = NP_SDP_ICE_RELAY,
		.out = SIPP_OUT_V4,
	},
	{
		.name = "ice relay, IPv6, trickle offer without candidates yet",
		.in = "v=0\r\n"
		      "o=- 13 1 IN IP6 2001:db8::40\r\n"
		      "s=-\r\n"
		      "t=0 0\r\n"
		      "a=ice-options:trickle\r\n"
		      "m=audio 50004 RTP/AVP 0\r\n"
		      "c=IN IP6 2001:db8::40\r\n"
		      "a=ice-ufrag:Tr1c\r\n"
		      "a=ice-pwd:tricklepasswordtrickle\r\n"
		      "a=rtcp:50009\r\n"
		      "m=audio 50010 RTP/AVP 0\r\n"
		      "c=IN IP6 2001:db8::40\r\n"
		      "\r\n",
		.n_media = 2,
		.m = {
			{ "audio", 50004, 50009, "2001:db8::40", "2001:db8::40", 0, 0, SR, 0, 1 },
			{ "audio", 50010, 50011, "2001:db8::40", "2001:db8::40", 0, 0, SR, 0, 0 },
		},
		.relay = "2001:db8:1::1",
		.rtp = { 40000, 40002 },
		.ice = NP_SDP_ICE_RELAY,
		.out = "v=0\r\n"
		       "o=- 13 1 IN IP6 2001:db8:1::1\r\n"
		       "s=-\r\n"
		       "t=0 0\r\n"
		       "a=ice-options:trickle\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "c=IN IP6 2001:db8:1::1\r\n"
		       "a=ice-ufrag:Tr1c\r\n"
		       "a=ice-pwd:tricklepasswordtrickle\r\n"
		       "a=rtcp:40001\r\n"
		       "a=candidate:np 1 UDP 2130706431 2001:db8:1::1 40000 typ host\r\n"
		       "a=candidate:np 2 UDP 2130706430 2001:db8:1::1 40001 typ host\r\n"
		       "a=end-of-candidates\r\n"
		       "m=audio 40002 RTP/AVP 0\r\n"
		       "c=IN IP6 2001:db8:1::1\r\n"
		       "\r\n",
	},
};

/* Bodies at the edge of what can be rewritten: each must parse and rewrite exactly. */
static const struct ok_case edge_cases[] = {
	{
		.name = "last line without CRLF: parses, rewrite ends it with CRLF",
		.in = "v=0\r\n"
		      "o=user1 53655765 2353687637 IN IP4 192.168.1.10\r\n"
		      "s=-\r\n"
		      "c=IN IP4 192.168.1.10\r\n"
		      "t=0 0\r\n"
		      "m=audio 6000 RTP/AVP 0\r\n"
		      "a=rtpmap:0 PCMU/8000",
		.n_media = 1,
		.m = { SIPP_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.out = SIPP_OUT_V4,
	},
	{
		.name = "last line (m=) without LF, LF elsewhere",
		.in = "v=0\n"
		      "o=user1 53655765 2353687637 IN IP4 192.168.1.10\n"
		      "s=-\n"
		      "c=IN IP4 192.168.1.10\n"
		      "t=0 0\n"
		      "m=audio 6000 RTP/AVP 0",
		.n_media = 1,
		.m = { SIPP_AUDIO },
		.relay = "198.51.100.1",
		.rtp = { 40000 },
		.out = "v=0\r\n"
		       "o=user1 53655765 2353687637 IN IP4 198.51.100.1\r\n"
		       "s=-\r\n"
		       "c=IN IP4 198.51.100.1\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n",
	},
	{
		.name = "IPv6 media c=, a=rtcp with and without address, port 0 keeps its a=rtcp",
		.in = "v=0\r\n"
		      "o=- 30 1 IN IP6 2001:db8::50\r\n"
		      "s=-\r\n"
		      "t=0 0\r\n"
		      "m=audio 7000 RTP/AVP 0\r\n"
		      "c=IN IP6 2001:db8::50\r\n"
		      "a=rtcp:7003 IN IP6 2001:db8::51\r\n"
		      "m=audio 7010 RTP/AVP 0\r\n"
		      "c=IN IP6 2001:db8::50\r\n"
		      "a=rtcp:7013\r\n"
		      "m=video 0 RTP/AVP 96\r\n"
		      "c=IN IP6 2001:db8::50\r\n"
		      "a=rtcp:7021 IN IP6 2001:db8::51",
		.n_media = 3,
		.m = {
			{ "audio", 7000, 7003, "2001:db8::50", "2001:db8::51", 0, 0, SR, 0 },
			{ "audio", 7010, 7013, "2001:db8::50", "2001:db8::50", 0, 0, SR, 0 },
			{ "video", 0, 0, "2001:db8::50", "2001:db8::51", 0, 0, SR, 0 },
		},
		.relay = "2001:db8:1::1",
		.rtp = { 40000, 40002, 0 },
		.out = "v=0\r\n"
		       "o=- 30 1 IN IP6 2001:db8:1::1\r\n"
		       "s=-\r\n"
		       "t=0 0\r\n"
		       "m=audio 40000 RTP/AVP 0\r\n"
		       "c=IN IP6 2001:db8:1::1\r\n"
		       "a=rtcp:40001 IN IP6 2001:db8:1::1\r\n"
		       "m=audio 40002 RTP/AVP 0\r\n"
		       "c=IN IP6 2001:db8:1::1\r\n"
		       "a=rtcp:40003\r\n"
		       "m=video 0 RTP/AVP 96\r\n"
		       "c=IN IP6 2001:db8:1::1\r\n"
		       "a=rtcp:7021 IN IP6 2001:db8::51\r\n",
	},
};

struct bad_case {
	const char *name;
	const char *in;
	size_t len;	/* 0: strlen(in) */
	int err;
};

/* Bodies that cannot be rewritten, with the reason the daemon will log. */
struct why_case {
	struct bad_case c;
	const char *why;	/* a substring of *why */
};

#define L_V "v=0\r\n"
#define L_O "o=- 1 1 IN IP4 192.168.1.10\r\n"
#define L_S "s=-\r\n"
#define L_C "c=IN IP4 192.168.1.10\r\n"
#define L_T "t=0 0\r\n"
#define HDR L_V L_O L_S L_C L_T
#define HDR_NOC L_V L_O L_S L_T
#define M "m=audio 6000 RTP/AVP 0\r\n"
#define NUL_IN_LINE HDR "m=audio 6000\0 RTP/AVP 0\r\n"
#define NUL_AT_END HDR M "\0"

static const struct bad_case bad_cases[] = {
	{ "empty body", "", 0, -EINVAL },
	{ "no v=", L_O L_S L_C L_T M, 0, -EINVAL },
	{ "v=1", "v=1\r\n" L_O L_S L_C L_T M, 0, -EINVAL },
	{ "no o=", L_V L_S L_C L_T M, 0, -EINVAL },
	{ "o= with five fields", L_V "o=- 1 1 IN IP4\r\n" L_S L_C L_T M, 0, -EINVAL },
	{ "o= with seven fields", L_V "o=a b 1 1 IN IP4 192.168.9.9\r\n" L_S L_C L_T M, 0,
	  -EINVAL },
	{ "no t=", L_V L_O L_S L_C M, 0, -EINVAL },
	{ "unknown type letter", HDR "x=1\r\n" M, 0, -EINVAL },
	{ "line without =", HDR "hello\r\n" M, 0, -EINVAL },
	{ "empty line inside body", HDR "\r\n" M, 0, -EINVAL },
	{ "m= without port", HDR "m=audio\r\n", 0, -EINVAL },
	{ "m= port missing, proto in its place", HDR "m=audio RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= without fmt", HDR "m=audio 6000 RTP/AVP\r\n", 0, -EINVAL },
	{ "m= port 65536", HDR "m=audio 65536 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= port 99999", HDR "m=audio 99999 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= port huge", HDR "m=audio 400000000000 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= port non-numeric", HDR "m=audio 4x00 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= port negative", HDR "m=audio -5 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= port with sign", HDR "m=audio +6000 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= port count", HDR "m=audio 6000/2 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= double space", HDR "m=audio  6000 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= tab", HDR "m=audio\t6000 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "m= media type too long", HDR "m=audiovideotextapp 6000 RTP/AVP 0\r\n", 0, -EINVAL },
	{ "c= bad octet", L_V L_O L_S "c=IN IP4 192.168.1.300\r\n" L_T M, 0, -EINVAL },
	{ "c= short IPv4", L_V L_O L_S "c=IN IP4 192.168.1\r\n" L_T M, 0, -EINVAL },
	{ "c= IP4 with IPv6 address", L_V L_O L_S "c=IN IP4 2001:db8::1\r\n" L_T M, 0, -EINVAL },
	{ "c= IP6 with IPv4 address", L_V L_O L_S "c=IN IP6 192.168.1.10\r\n" L_T M, 0, -EINVAL },
	{ "c= unknown addrtype", L_V L_O L_S "c=IN IP5 192.168.1.10\r\n" L_T M, 0, -EINVAL },
	{ "c= missing address", L_V L_O L_S "c=IN IP4\r\n" L_T M, 0, -EINVAL },
	{ "c= trailing garbage", L_V L_O L_S "c=IN IP4 192.168.1.10 x\r\n" L_T M, 0, -EINVAL },
	{ "c= multicast", L_V L_O L_S "c=IN IP4 233.252.0.1/127\r\n" L_T M, 0, -EINVAL },
	{ "two c= in one media", HDR_NOC M L_C "c=IN IP4 192.168.1.11\r\n", 0, -EINVAL },
	{ "no c= for an accepted stream", HDR_NOC M, 0, -EINVAL },
	{ "no c= for the second stream", HDR_NOC M L_C "m=video 6002 RTP/AVP 96\r\n", 0, -EINVAL },
	{ "a=rtcp non-numeric", HDR M "a=rtcp:abc\r\n", 0, -EINVAL },
	{ "a=rtcp port 70000", HDR M "a=rtcp:70000\r\n", 0, -EINVAL },
	{ "a=rtcp port 0", HDR M "a=rtcp:0\r\n", 0, -EINVAL },
	{ "a=rtcp bad address", HDR M "a=rtcp:6001 IN IP4 192.168.1.999\r\n", 0, -EINVAL },
	{ "a=rtcp without value", HDR M "a=rtcp\r\n", 0, -EINVAL },
	{ "b=AS non-numeric", HDR M "b=AS:fast\r\n", 0, -EINVAL },
	{ "b=AS overflowing 32 bits", HDR M "b=AS:4294968\r\n", 0, -EINVAL },
	{ "truncated inside m=", HDR "m=au", 0, -EINVAL },
	{ "truncated after CR", HDR M "a=sendonly\r", 0, -EINVAL },
	{ "bare CR line ends",
	  "v=0\ro=- 1 1 IN IP4 192.168.1.10\rs=-\rc=IN IP4 192.168.1.10\rt=0 0\r"
	  "m=audio 6000 RTP/AVP 0\r", 0, -EINVAL },
	{ "embedded NUL in a line", NUL_IN_LINE, sizeof(NUL_IN_LINE) - 1, -EINVAL },
	{ "embedded NUL after the last line", NUL_AT_END, sizeof(NUL_AT_END) - 1, -EINVAL },
};

static const struct why_case why_cases[] = {
	{ { "c= FQDN (IP4)", L_V L_O L_S "c=IN IP4 pbx.example.com\r\n" L_T M, 0, -EINVAL },
	  "c= address is not an IPv4 literal (an FQDN cannot be relayed)" },
	{ { "c= FQDN (IP6)", L_V L_O L_S "c=IN IP6 pbx.example.com\r\n" L_T M, 0, -EINVAL },
	  "c= address is not an IPv6 literal" },
	{ { "media c= FQDN", HDR_NOC M "c=IN IP4 media1.example.net\r\n", 0, -EINVAL },
	  "not an IPv4 literal" },
	{ { "c= IP4 naming an IPv6 literal", L_V L_O L_S "c=IN IP4 2001:db8::1\r\n" L_T M, 0, -EINVAL },
	  "not an IPv4 literal" },
	{ { "c= IP6 naming an IPv4 literal", L_V L_O L_S "c=IN IP6 192.168.1.10\r\n" L_T M, 0, -EINVAL },
	  "not an IPv6 literal" },
	{ { "c= unknown address family", L_V L_O L_S "c=IN IPX 192.168.1.10\r\n" L_T M, 0, -EINVAL },
	  "address type is not IP4 or IP6" },
	{ { "c= network type not IN", L_V L_O L_S "c=ATM NSAP 47.0091.8100\r\n" L_T M, 0, -EINVAL },
	  "network type is not IN" },
	{ { "c= multicast reason", L_V L_O L_S "c=IN IP6 ff0e::101/3\r\n" L_T M, 0, -EINVAL },
	  "multicast" },
	{ { "a=rtcp naming an FQDN", HDR M "a=rtcp:6001 IN IP4 rtcp.example.com\r\n", 0, -EINVAL },
	  "bad a=rtcp" },
	{ { "last line without CRLF, cut inside a field", HDR "m=audio 6000 RTP/AVP", 0, -EINVAL },
	  "bad m= line" },
};

static struct np_sdp_addr mkaddr(const char *s)
{
	struct np_sdp_addr a;

	memset(&a, 0, sizeof(a));
	if (!s)
		return a;
	a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(a.family, s, &a.addr) != 1)
		abort();
	return a;
}

static bool addr_eq(const struct np_sdp_addr *a, const struct np_sdp_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->addr.v4.s_addr == b->addr.v4.s_addr;
	if (a->family == AF_INET6)
		return !memcmp(&a->addr.v6, &b->addr.v6, sizeof(b->addr.v6));
	return true;
}

static struct np_sdp_relay mkrelay(const char *addr, const uint16_t *rtp, size_t n)
{
	struct np_sdp_relay r;

	memset(&r, 0, sizeof(r));
	r.addr = mkaddr(addr);
	memcpy(r.rtp_port, rtp, n * sizeof(*rtp));
	return r;
}

static void check_media(struct tap *t, const char *name, size_t i,
			const struct np_sdp_media *m, const struct media_exp *e)
{
	struct np_sdp_addr a = mkaddr(e->addr), ra = mkaddr(e->rtcp_addr);

	tap_check(t, !strcmp(m->type, e->type), "%s: m%zu type %s", name, i, e->type);
	tap_check(t, m->port == e->port, "%s: m%zu port %u (got %u)", name, i, e->port, m->port);
	tap_check(t, m->rtcp_port == e->rtcp_port, "%s: m%zu rtcp port %u (got %u)", name, i,
		  e->rtcp_port, m->rtcp_port);
	tap_check(t, addr_eq(&m->addr, &a), "%s: m%zu addr %s", name, i,
		  e->addr ? e->addr : "unspec");
	tap_check(t, addr_eq(&m->rtcp_addr, &ra), "%s: m%zu rtcp addr %s", name, i,
		  e->rtcp_addr ? e->rtcp_addr : "unspec");
	tap_check(t, m->rtcp_mux == e->mux, "%s: m%zu rtcp_mux %d", name, i, e->mux);
	tap_check(t, m->hold == e->hold, "%s: m%zu hold %d", name, i, e->hold);
	tap_check(t, m->dir == e->dir, "%s: m%zu dir %d (got %d)", name, i, e->dir, m->dir);
	tap_check(t, m->bandwidth_bps == e->bw, "%s: m%zu bandwidth %u (got %u)", name, i, e->bw,
		  m->bandwidth_bps);
	tap_check(t, m->ice == e->ice, "%s: m%zu ice %d", name, i, e->ice);
}

static bool is_unspec(const struct np_sdp_addr *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (a->family == AF_INET)
		return a->addr.v4.s_addr == htonl(INADDR_ANY);
	return a->family == AF_INET6 && !memcmp(&a->addr.v6, &any6, sizeof(any6));
}

/*
 * The rewritten body must parse again and describe the relay side of every
 * stream: relay ports (0 stays 0), relay address unless the original had none
 * or a hold address, and the same mux, hold, direction and bandwidth.
 */
static bool reparse_ok(const char *out, size_t len, const struct np_sdp *orig,
		       const struct np_sdp_relay *relay, const char **why)
{
	struct np_sdp re;
	size_t i;

	if (np_sdp_parse(out, len, &re, why))
		return false;
	*why = "stream mismatch";
	if (re.n_media != orig->n_media)
		return false;
	for (i = 0; i < re.n_media; i++) {
		const struct np_sdp_media *o = &orig->media[i], *r = &re.media[i];
		uint16_t rtp = o->port ? relay->rtp_port[i] : 0;
		uint16_t rtcp = !o->port ? 0 : o->rtcp_port == o->port ? rtp : (uint16_t)(rtp + 1);
		const struct np_sdp_addr *want;

		/* Accepted streams keep ICE only in relay mode; rejected ones may keep session ICE. */
		if (o->port && r->ice != (relay->ice == NP_SDP_ICE_RELAY && o->ice))
			return false;
		if (r->port != rtp || r->rtcp_port != rtcp || r->rtcp_mux != o->rtcp_mux ||
		    r->hold != o->hold || r->dir != o->dir ||
		    r->bandwidth_bps != o->bandwidth_bps || strcmp(r->type, o->type))
			return false;
		want = !o->addr.family || is_unspec(&o->addr) ? &o->addr : &relay->addr;
		if (!addr_eq(&r->addr, want))
			return false;
		/* A rejected stream's a=rtcp is left alone: nothing is allocated for it. */
		want = is_unspec(&o->rtcp_addr) ? &o->rtcp_addr : &relay->addr;
		if (o->port && !addr_eq(&r->rtcp_addr, want))
			return false;
	}
	*why = "ok";
	return true;
}

static void run_ok_case(struct tap *t, const struct ok_case *c)
{
	struct np_sdp_relay relay = mkrelay(c->relay, c->rtp, MAXM);
	const char *why = NULL;
	struct np_sdp sdp;
	char out[4096];
	size_t i, out_len = 0, want = strlen(c->out);
	int rc;

	relay.ice = c->ice;

	rc = np_sdp_parse(c->in, strlen(c->in), &sdp, &why);
	if (!tap_check(t, rc == 0, "%s: parses (%s)", c->name, rc ? why : "ok"))
		return;
	tap_check(t, sdp.n_media == c->n_media, "%s: %zu media (got %zu)", c->name, c->n_media,
		  sdp.n_media);
	for (i = 0; i < c->n_media && i < sdp.n_media; i++)
		check_media(t, c->name, i, &sdp.media[i], &c->m[i]);

	rc = np_sdp_rewrite(c->in, strlen(c->in), &relay, out, sizeof(out), &out_len, &why);
	tap_check(t, rc == 0, "%s: rewrites (%s)", c->name, rc ? why : "ok");
	if (!tap_check(t, rc == 0 && out_len == want && !strcmp(out, c->out),
		       "%s: rewritten text matches", c->name)) {
		tap_diag("got %zu bytes:\n%s", out_len, out);
		return;
	}
	tap_check(t, reparse_ok(out, out_len, &sdp, &relay, &why),
		  "%s: rewritten body parses and points at the relay (%s)", c->name, why);

	/* Exactly len + 1 bytes fit; one fewer is -ENOSPC, never a short body. */
	{
		char *exact = malloc(want + 1);

		if (!exact)
			abort();
		rc = np_sdp_rewrite(c->in, strlen(c->in), &relay, exact, want + 1, &out_len, &why);
		tap_check(t, rc == 0 && out_len == want && !strcmp(exact, c->out),
			  "%s: rewrite fits in exactly len + 1 bytes", c->name);
		rc = np_sdp_rewrite(c->in, strlen(c->in), &relay, exact, want, &out_len, &why);
		tap_check(t, rc == -ENOSPC && exact[0] == '\0', "%s: one byte short is -ENOSPC",
			  c->name);
		free(exact);
	}
}

static void run_bad_case(struct tap *t, const struct bad_case *c, const char *want_why)
{
	static const uint16_t rtp[NP_SDP_MAX_MEDIA] = { 40000, 40002, 40004 };
	struct np_sdp_relay relay = mkrelay("198.51.100.1", rtp, NP_SDP_MAX_MEDIA);
	size_t len = c->len ? c->len : strlen(c->in), out_len = 0;
	const char *why = NULL;
	struct np_sdp sdp;
	char out[4096];
	int rc;

	rc = np_sdp_parse(c->in, len, &sdp, &why);
	tap_check(t, rc == c->err && why && sdp.n_media == 0 && (!want_why || strstr(why, want_why)),
		  "%s: parse fails with %d%s%s (got %d: %s)", c->name, c->err,
		  want_why ? ", " : "", want_why ? want_why : "", rc, why ? why : "no reason");
	why = NULL;
	rc = np_sdp_rewrite(c->in, len, &relay, out, sizeof(out), &out_len, &why);
	tap_check(t, rc == c->err && why && out[0] == '\0', "%s: rewrite fails with %d (got %d)",
		  c->name, c->err, rc);
}

/* Limits that need built bodies: too many m= lines, a huge line, a huge body. */
static void run_limits(struct tap *t)
{
	size_t big = NP_SDP_MAX_BODY + 100, len, i;
	char *buf = malloc(big + 1);
	const char *why = NULL;
	struct np_sdp sdp;
	int rc;

	if (!buf)
		abort();

	len = (size_t)snprintf(buf, big, "%s", HDR);
	for (i = 0; i < NP_SDP_MAX_MEDIA; i++)
		len += (size_t)snprintf(buf + len, big - len, "m=audio %zu RTP/AVP 0\r\n",
					6000 + 2 * i);
	rc = np_sdp_parse(buf, len, &sdp, &why);
	tap_check(t, rc == 0 && sdp.n_media == NP_SDP_MAX_MEDIA, "16 m= lines parse (%s)",
		  rc ? why : "ok");
	len += (size_t)snprintf(buf + len, big - len, "m=audio 7000 RTP/AVP 0\r\n");
	rc = np_sdp_parse(buf, len, &sdp, &why);
	tap_check(t, rc == -E2BIG, "17 m= lines is -E2BIG (got %d)", rc);

	len = (size_t)snprintf(buf, big, "%s%sa=x:", HDR, M);
	memset(buf + len, 'y', NP_SDP_MAX_LINE + 10);
	len += NP_SDP_MAX_LINE + 10;
	memcpy(buf + len, "\r\n", 2);
	len += 2;
	rc = np_sdp_parse(buf, len, &sdp, &why);
	tap_check(t, rc == -E2BIG, "line over %d bytes is -E2BIG (got %d)", NP_SDP_MAX_LINE, rc);

	/* A line of exactly the limit passes, with LF or CRLF; one byte more does not. */
	for (i = 0; i < 4; i++) {
		size_t text = NP_SDP_MAX_LINE + (i / 2);
		const char *eol = i % 2 ? "\r\n" : "\n";

		len = (size_t)snprintf(buf, big, "%s%s", HDR, M);
		memcpy(buf + len, "a=", 2);
		memset(buf + len + 2, 'y', text - 2);
		len += text;
		len += (size_t)snprintf(buf + len, big - len, "%s", eol);
		rc = np_sdp_parse(buf, len, &sdp, &why);
		tap_check(t, rc == (i / 2 ? -E2BIG : 0), "line of %zu bytes + %s: %d", text,
			  i % 2 ? "CRLF" : "LF", rc);
	}

	/* Lines under the limit, body over it. */
	len = (size_t)snprintf(buf, big, "%s%s", HDR, M);
	while (len + 100 < big)
		len += (size_t)snprintf(buf + len, big - len, "a=x-pad:%080d\r\n", 0);
	rc = np_sdp_parse(buf, len, &sdp, &why);
	tap_check(t, rc == -E2BIG, "body over %d bytes is -E2BIG (got %d)", NP_SDP_MAX_BODY, rc);

	/* Unterminated huge line must not be scanned past the limit or the buffer. */
	memset(buf, 'v', big);
	rc = np_sdp_parse(buf, NP_SDP_MAX_BODY, &sdp, &why);
	tap_check(t, rc == -E2BIG, "unterminated huge line is -E2BIG (got %d)", rc);

	rc = np_sdp_parse(NULL, 10, &sdp, &why);
	tap_check(t, rc == -EINVAL, "NULL body is -EINVAL");
	free(buf);
}

static void run_bad_relay(struct tap *t)
{
	static const char *in = SIPP_OFFER_LINES("\r\n");
	uint16_t rtp[1] = { 40000 };
	struct np_sdp_relay r;
	const char *why = NULL;
	char out[1024];
	size_t out_len;
	int rc;

	r = mkrelay("198.51.100.1", (uint16_t[]){ 0 }, 1);
	rc = np_sdp_rewrite(in, strlen(in), &r, out, sizeof(out), &out_len, &why);
	tap_check(t, rc == -EINVAL, "relay port 0 for an accepted stream is -EINVAL");
	r = mkrelay("198.51.100.1", (uint16_t[]){ 65535 }, 1);
	rc = np_sdp_rewrite(in, strlen(in), &r, out, sizeof(out), &out_len, &why);
	tap_check(t, rc == -EINVAL, "relay port 65535 (no room for RTCP) is -EINVAL");
	r = mkrelay("0.0.0.0", rtp, 1);
	rc = np_sdp_rewrite(in, strlen(in), &r, out, sizeof(out), &out_len, &why);
	tap_check(t, rc == -EINVAL, "unspecified relay address is -EINVAL");
	r = mkrelay(NULL, rtp, 1);
	rc = np_sdp_rewrite(in, strlen(in), &r, out, sizeof(out), &out_len, &why);
	tap_check(t, rc == -EINVAL, "relay without family is -EINVAL");
	r = mkrelay("198.51.100.1", rtp, 1);
	rc = np_sdp_rewrite(in, strlen(in), &r, out, 0, &out_len, &why);
	tap_check(t, rc == -ENOSPC, "zero-size output is -ENOSPC");
	rc = np_sdp_rewrite(in, strlen(in), &r, NULL, 10, &out_len, &why);
	tap_check(t, rc == -EINVAL, "NULL output is -EINVAL");
	rc = np_sdp_rewrite(in, strlen(in), &r, out, sizeof(out), &out_len, NULL);
	tap_check(t, rc == 0, "why may be NULL");
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * Line-level mutation: delete, duplicate or swap lines, or insert one from a
 * pool of lines that matter to the rewrite, so line order and section
 * membership get exercised, not only bytes.
 */
static size_t mutate_lines(char *buf, size_t len, size_t size, uint32_t *seed)
{
	static const char *const pool[] = {
		"c=IN IP4 192.168.9.9", "c=IN IP4 0.0.0.0", "c=IN IP6 2001:db8::9",
		"a=rtcp:5000", "a=rtcp:5001 IN IP6 2001:db8::5", "a=rtcp-mux",
		"m=video 0 RTP/AVP 96", "m=audio 5000 RTP/AVP 0", "b=AS:10",
		"b=TIAS:1000", "a=sendonly", "a=inactive", "", "o=- 1 1 IN IP4 192.168.9.9",
		"v=0", "t=0 0", "s=-", "i=x", "k=clear:x", "a=rtcp:0",
		"a=candidate:1 1 UDP 2130706431 10.0.0.1 5000 typ host", "a=ice-ufrag:abcd",
		"a=ice-pwd:x", "a=end-of-candidates", "a=remote-candidates:1 10.0.0.2 5000",
		"a=ice-lite", "a=candidate",
	};
	const char *line[64];
	size_t ln[64], n = 0, i, a, b, out = 0;
	char tmp[2048];
	const char *p = buf, *end = buf + len, *nl;

	while (p < end && n < 63) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line[n] = p;
		ln[n] = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		p += ln[n++];
	}
	if (!n || p < end)
		return len;
	a = rnd(seed) % n;
	b = rnd(seed) % n;
	switch (rnd(seed) % 4) {
	case 0:
		memmove(&line[a], &line[a + 1], (n - a - 1) * sizeof(line[0]));
		memmove(&ln[a], &ln[a + 1], (n - a - 1) * sizeof(ln[0]));
		n--;
		break;
	case 1:
		memmove(&line[a + 1], &line[a], (n - a) * sizeof(line[0]));
		memmove(&ln[a + 1], &ln[a], (n - a) * sizeof(ln[0]));
		n++;
		break;
	case 2: {
		const char *tl = line[a];
		size_t tn = ln[a];

		line[a] = line[b];
		ln[a] = ln[b];
		line[b] = tl;
		ln[b] = tn;
		break;
	}
	default: {
		const char *ins = pool[rnd(seed) % (sizeof(pool) / sizeof(pool[0]))];
		char *dst = tmp + sizeof(tmp) / 2;	/* scratch, copied before use */

		snprintf(dst, sizeof(tmp) / 2, "%s%s", ins, rnd(seed) % 4 ? "\r\n" : "\n");
		memmove(&line[a + 1], &line[a], (n - a) * sizeof(line[0]));
		memmove(&ln[a + 1], &ln[a], (n - a) * sizeof(ln[0]));
		line[a] = dst;
		ln[a] = strlen(dst);
		n++;
		break;
	}
	}
	for (i = 0; i < n && out + ln[i] <= sizeof(tmp) / 2; i++) {
		memcpy(tmp + out, line[i], ln[i]);
		out += ln[i];
	}
	if (out > size)
		return len;
	memcpy(buf, tmp, out);
	return out;
}

static const char alphabet[] = "0123456789 .:/=\r\n\tamcovbIPN-";

/* Byte-level mutation: 1 to 3 replacements, deletions, insertions or a truncation. */
static size_t mutate_bytes(char *buf, size_t len, size_t size, uint32_t *seed)
{
	size_t pos;
	int k, n = 1 + (int)(rnd(seed) % 3);

	for (k = 0; k < n; k++) {
		pos = len ? rnd(seed) % len : 0;
		switch (rnd(seed) % 5) {
		case 0:	/* a byte that matters to SDP */
			if (len)
				buf[pos] = alphabet[rnd(seed) % (sizeof(alphabet) - 1)];
			break;
		case 1:	/* any byte */
			if (len)
				buf[pos] = (char)rnd(seed);
			break;
		case 2:
			if (len) {
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
			}
			break;
		case 3:
			if (len + 1 < size) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = alphabet[rnd(seed) % (sizeof(alphabet) - 1)];
				len++;
			}
			break;
		default:
			len = pos;
			break;
		}
	}
	return len;
}

struct fuzz_stats {
	int accepted, bad_result, rewrite_fail, bad_rewrite;
};

/*
 * One mutated body, in an exact-size heap buffer so valgrind flags any read
 * past len. Whatever parses must rewrite, the rewrite must parse back to the
 * relay side, and rewriting that again must change nothing.
 */
static void fuzz_one(const char *src, size_t len, const struct np_sdp_relay *relay,
		     struct fuzz_stats *st)
{
	static char out[4096], out2[4096];
	size_t out_len = 0, len2 = 0;
	const char *why = NULL;
	struct np_sdp sdp;
	char *buf = malloc(len ? len : 1);
	int rc;

	if (!buf)
		abort();
	memcpy(buf, src, len);
	rc = np_sdp_parse(buf, len, &sdp, &why);
	if (rc > 0 || (rc < 0 && !why))
		st->bad_result++;
	if (rc) {
		np_sdp_rewrite(buf, len, relay, out, sizeof(out), &out_len, &why);
		goto out;
	}
	st->accepted++;
	rc = np_sdp_rewrite(buf, len, relay, out, sizeof(out), &out_len, &why);
	if (rc) {
		st->rewrite_fail++;
		tap_diag("parsed but no rewrite (%s): %.*s", why, (int)len, buf);
		goto out;
	}
	if (out_len != strlen(out) || !reparse_ok(out, out_len, &sdp, relay, &why) ||
	    np_sdp_rewrite(out, out_len, relay, out2, sizeof(out2), &len2, &why) ||
	    len2 != out_len || memcmp(out, out2, len2)) {
		st->bad_rewrite++;
		tap_diag("bad rewrite (%s): %.*s", why, (int)len, buf);
	}
out:
	free(buf);
}

/* Mutations start from every ok case, ICE ones too, with both ICE modes. */
static const struct ok_case *seed_case(size_t i)
{
	const size_t n_ok = sizeof(ok_cases) / sizeof(ok_cases[0]);
	const size_t n_ice = sizeof(ice_cases) / sizeof(ice_cases[0]);

	if (i < n_ok)
		return &ok_cases[i];
	return i < n_ok + n_ice ? &ice_cases[i - n_ok] : &edge_cases[i - n_ok - n_ice];
}

static void run_mutations(struct tap *t, int rounds)
{
	const size_t n_cases = sizeof(ok_cases) / sizeof(ok_cases[0]) +
			       sizeof(ice_cases) / sizeof(ice_cases[0]) +
			       sizeof(edge_cases) / sizeof(edge_cases[0]);
	struct fuzz_stats st = { 0 };
	uint16_t rtp[NP_SDP_MAX_MEDIA];
	struct np_sdp_relay relay;
	uint32_t seed = 0x5eed1234;
	char tmp[2048];
	size_t ci, i, len;
	int n;

	for (i = 0; i < NP_SDP_MAX_MEDIA; i++)
		rtp[i] = (uint16_t)(40000 + 2 * i);
	relay = mkrelay("198.51.100.1", rtp, NP_SDP_MAX_MEDIA);

	for (ci = 0; ci < n_cases; ci++) {
		for (n = 0; n < rounds; n++) {
			len = strlen(seed_case(ci)->in);
			memcpy(tmp, seed_case(ci)->in, len);
			relay.ice = n % 2 ? NP_SDP_ICE_RELAY : NP_SDP_ICE_REMOVE;
			len = mutate_bytes(tmp, len, sizeof(tmp), &seed);
			if (rnd(&seed) % 2)
				len = mutate_lines(tmp, len, sizeof(tmp), &seed);
			fuzz_one(tmp, len, &relay, &st);
		}
	}
	tap_diag("mutations: %d accepted of %zu", st.accepted, (size_t)rounds * n_cases);
	tap_check(t, st.bad_result == 0, "mutations: every result is 0 or -errno with a reason");
	tap_check(t, st.rewrite_fail == 0, "mutations: whatever parses also rewrites");
	tap_check(t, st.bad_rewrite == 0, "mutations: rewrites parse back, point at the relay");
}

/* ---- multipart bodies ---- */

struct mp_case {
	const char *name;
	const char *ctype;
	const char *body;
	int err;
	const char *sdp;	/* the part's body np_sdp_multipart_find() must point at */
};

/* RFC 3204 style: SDP and an ISUP part behind a preamble; the SDP ends in CRLF before the delimiter's. */
#define MP_ISUP_BODY                                                           \
	"This is a preamble.\r\n"                                              \
	"--unique-boundary-1\r\n"                                              \
	"Content-Type: application/sdp\r\n"                                    \
	"\r\n"                                                                 \
	SIPP_OFFER_LINES("\r\n")                                               \
	"\r\n"                                                                 \
	"--unique-boundary-1\r\n"                                              \
	"Content-Type: application/isup;version=itu-t92+;base=itu-t92+\r\n"    \
	"Content-Disposition: signal;handling=optional\r\n"                    \
	"Content-Transfer-Encoding: binary\r\n"                                \
	"\r\n"                                                                 \
	"\x01\x11\x49\x20\x7f\x03\x02\x05\x07\x04\x10\xff\r\n"                 \
	"--unique-boundary-1--\r\n"                                            \
	"epilogue\r\n"

static const struct mp_case mp_cases[] = {
	{ "SDP first, ISUP second, preamble and epilogue",
	  "multipart/mixed;boundary=unique-boundary-1", MP_ISUP_BODY, 0,
	  SIPP_OFFER_LINES("\r\n") },
	{ "quoted boundary with a space, SDP second, LF lines, SDP ends without its own line end",
	  "multipart/mixed; boundary=\"a b:c\"",
	  "--a b:c\n"
	  "Content-Type: text/plain\n"
	  "\n"
	  "hello\n"
	  "--a b:c\n"
	  "Content-Type: application/sdp\n"
	  "\n"
	  "v=0\n"
	  "m=audio 6000 RTP/AVP 0\n"
	  "--a b:c--\n",
	  0, "v=0\nm=audio 6000 RTP/AVP 0" },
	{ "case-insensitive type, parameter names, header names; padding after the boundary",
	  "  Multipart/Alternative ; charset=x ;BOUNDARY = zz",
	  "--zz  \r\n"
	  "content-type:Application/SDP ;charset=utf-8\r\n"
	  "content-transfer-encoding: 8bit\r\n"
	  "\r\n"
	  "v=0\r\n"
	  "--zz--",
	  0, "v=0" },
	{ "part without headers is text/plain; empty part", "multipart/mixed; boundary=b",
	  "--b\r\n\r\nv=0\r\n--b\r\n--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b--",
	  0, "v=0\r\n" },
	{ "not multipart", "application/sdp", "v=0\r\n", -ENOTSUP, NULL },
	{ "multipart/related is not handled", "multipart/related; boundary=b",
	  "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--", -ENOTSUP, NULL },
	{ "no boundary parameter", "multipart/mixed; charset=x", "--b\r\n", -EINVAL, NULL },
	{ "empty boundary", "multipart/mixed; boundary=\"\"", "--\r\n", -EINVAL, NULL },
	{ "boundary of 71 characters", "multipart/mixed; boundary="
	  "12345678901234567890123456789012345678901234567890123456789012345678901",
	  "", -EINVAL, NULL },
	{ "boundary with a bad character", "multipart/mixed; boundary=a@b", "--a@b\r\n", -EINVAL,
	  NULL },
	{ "unterminated quoted boundary", "multipart/mixed; boundary=\"abc", "--abc\r\n", -EINVAL,
	  NULL },
	{ "two boundary parameters", "multipart/mixed; boundary=a; boundary=b", "--a\r\n", -EINVAL,
	  NULL },
	{ "parameter without value", "multipart/mixed; boundary", "--a\r\n", -EINVAL, NULL },
	{ "no application/sdp part", "multipart/mixed; boundary=b",
	  "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n", -ENOENT, NULL },
	{ "two application/sdp parts", "multipart/alternative; boundary=b",
	  "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
	  "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--", -EINVAL, NULL },
	{ "base64 SDP part", "multipart/mixed; boundary=b",
	  "--b\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "dj0wDQo=\r\n--b--", -EINVAL, NULL },
	{ "SDP part without a body", "multipart/mixed; boundary=b",
	  "--b\r\nContent-Type: application/sdp\r\n--b--", -EINVAL, NULL },
	{ "no closing delimiter", "multipart/mixed; boundary=b",
	  "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", -EINVAL, NULL },
	{ "boundary nowhere in the body", "multipart/mixed; boundary=b", "v=0\r\n", -EINVAL, NULL },
	{ "boundary line with junk after it", "multipart/mixed; boundary=b",
	  "--bx\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--", -EINVAL, NULL },
};

static void run_mp_cases(struct tap *t)
{
	const char *why;
	size_t i, off, n;
	int rc;

	for (i = 0; i < sizeof(mp_cases) / sizeof(mp_cases[0]); i++) {
		const struct mp_case *c = &mp_cases[i];

		why = NULL;
		off = n = 0;
		rc = np_sdp_multipart_find(c->ctype, c->body, strlen(c->body), &off, &n, &why);
		if (c->err) {
			tap_check(t, rc == c->err && why, "multipart %s: fails with %d (got %d: %s)",
				  c->name, c->err, rc, why ? why : "no reason");
			continue;
		}
		if (!tap_check(t, rc == 0 && n == strlen(c->sdp) &&
				       !memcmp(c->body + off, c->sdp, n),
			       "multipart %s: finds the SDP part (%s)", c->name, rc ? why : "ok"))
			tap_diag("got %d, off %zu len %zu: %.*s", rc, off, n, (int)n, c->body + off);
	}
}

/* The daemon's path: find the part, rewrite it, put it back; the rest stays byte for byte. */
static void run_mp_replace(struct tap *t)
{
	static const char ct[] = "multipart/mixed;boundary=unique-boundary-1";
	static const char body[] = MP_ISUP_BODY;
	static const char want[] =
		"This is a preamble.\r\n"
		"--unique-boundary-1\r\n"
		"Content-Type: application/sdp\r\n"
		"\r\n"
		SIPP_OUT_V4
		"\r\n"
		"--unique-boundary-1\r\n"
		"Content-Type: application/isup;version=itu-t92+;base=itu-t92+\r\n"
		"Content-Disposition: signal;handling=optional\r\n"
		"Content-Transfer-Encoding: binary\r\n"
		"\r\n"
		"\x01\x11\x49\x20\x7f\x03\x02\x05\x07\x04\x10\xff\r\n"
		"--unique-boundary-1--\r\n"
		"epilogue\r\n";
	static const char evil[] = "v=0\r\n--unique-boundary-1--\r\n";
	struct np_sdp_relay relay = mkrelay("198.51.100.1", (uint16_t[]){ 40000 }, 1);
	char sdp[1024], out[2048];
	size_t off = 0, n = 0, sdp_len = 0, out_len = 0, blen = sizeof(body) - 1;
	const char *why = NULL;
	int rc;

	rc = np_sdp_multipart_find(ct, body, blen, &off, &n, &why);
	if (rc == 0)
		rc = np_sdp_rewrite(body + off, n, &relay, sdp, sizeof(sdp), &sdp_len, &why);
	if (rc == 0)
		rc = np_sdp_multipart_replace(ct, body, blen, sdp, sdp_len, out, sizeof(out),
					      &out_len, &why);
	if (!tap_check(t, rc == 0 && out_len == sizeof(want) - 1 && !memcmp(out, want, out_len) &&
			       out[out_len] == '\0',
		       "multipart: SDP part rewritten, ISUP part and the rest kept (%s)",
		       rc ? why : "ok"))
		tap_diag("got %d, %zu bytes:\n%s", rc, out_len, out);
	rc = np_sdp_multipart_replace(ct, body, blen, sdp, sdp_len, out, sizeof(want) - 1,
				      &out_len, &why);
	tap_check(t, rc == -ENOSPC && out[0] == '\0', "multipart: one byte short is -ENOSPC");
	rc = np_sdp_multipart_replace(ct, body, blen, evil, sizeof(evil) - 1, out, sizeof(out),
				      &out_len, &why);
	tap_check(t, rc == -EINVAL, "multipart: a new SDP holding the boundary is -EINVAL");
	rc = np_sdp_multipart_replace("text/plain", body, blen, sdp, sdp_len, out, sizeof(out),
				      &out_len, &why);
	tap_check(t, rc == -ENOTSUP, "multipart: replace in a non-multipart body is -ENOTSUP");
}

/*
 * b=AS and b=TIAS apart, and the policer rate they give. Real rates, in IP
 * bytes per second (the policer counts whole packets):
 * - G.711 (b=AS:64), 20 ms: 50 packets of 160 payload + 12 RTP + 8 UDP +
 *   20 IPv4 = 200 bytes, 10,000 B/s; over IPv6 (+20) 11,000 B/s; at 10 ms,
 *   IPv6: 100 packets of 80 + 60 = 140 bytes, 14,000 B/s.
 * - G.722 (b=AS:64): the same 64 kbit/s payload at 8,000 samples/s of
 *   RTP clock, so the same packets: 10,000 to 14,000 B/s.
 * np_sdp_police_rate(64, 0) = 64000 / 8 * 5 / 4 + 100 * 60 = 10,000 + 6,000
 * = 16,000 B/s, above all of them.
 */
static void run_police(struct tap *t)
{
	static const struct {
		const char *name;
		uint32_t as_kbps, tias_bps;
		uint64_t want, real;	/* real: the most the stream sends, 0 if not checked */
	} cases[] = {
		{ "G.711 b=AS:64", 64, 0, 16000, 14000 },
		{ "G.722 b=AS:64", 64, 0, 16000, 14000 },
		{ "G.711 b=TIAS:64000 (payload bit/s)", 0, 64000, 16000, 14000 },
		/* Opus 32 kbit/s, 20 ms, IPv6: 50 x (80 + 60) = 7,000 B/s. */
		{ "opus b=TIAS:32000 preferred over b=AS:64", 64, 32000, 11000, 7000 },
		{ "no b= line: no limit", 0, 0, 0, 0 },
		{ "TIAS 2^32 - 1 does not overflow", 0, UINT32_MAX,
		  (uint64_t)UINT32_MAX * 5 / 32 + 6000, 0 },
		{ "largest b=AS the parser takes", UINT32_MAX / 1000, 0,
		  (uint64_t)(UINT32_MAX / 1000) * 1000 * 5 / 32 + 6000, 0 },
	};
	static const char *in = "v=0\r\n"
				"o=- 1 1 IN IP4 192.168.4.60\r\n"
				"s=-\r\n"
				"c=IN IP4 192.168.4.60\r\n"
				"b=AS:128\r\n"
				"b=TIAS:100000\r\n"
				"t=0 0\r\n"
				"m=audio 6000 RTP/AVP 0\r\n"
				"m=audio 6002 RTP/AVP 0\r\n"
				"b=AS:64\r\n"
				"b=AS:80\r\n"
				"m=audio 6004 RTP/AVP 0\r\n"
				"b=TIAS:48000\r\n";
	const char *why = NULL;
	struct np_sdp sdp;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = np_sdp_police_rate(cases[i].as_kbps, cases[i].tias_bps);

		tap_check(t, got == cases[i].want && (!cases[i].real || got > cases[i].real),
			  "police rate, %s: %llu B/s (got %llu, real rate %llu)", cases[i].name,
			  (unsigned long long)cases[i].want, (unsigned long long)got,
			  (unsigned long long)cases[i].real);
	}

	rc = np_sdp_parse(in, strlen(in), &sdp, &why);
	if (!tap_check(t, rc == 0 && sdp.n_media == 3, "b= levels: parses (%s)", rc ? why : "ok"))
		return;
	tap_check(t, sdp.media[0].as_kbps == 128 && sdp.media[0].tias_bps == 100000 &&
			     sdp.media[0].bandwidth_bps == 100000,
		  "b= levels: no media b=, both from the session");
	tap_check(t, sdp.media[1].as_kbps == 64 && sdp.media[1].tias_bps == 0 &&
			     sdp.media[1].bandwidth_bps == 64000,
		  "b= levels: media b=AS, the smaller of two, no session TIAS mixed in");
	tap_check(t, sdp.media[2].as_kbps == 0 && sdp.media[2].tias_bps == 48000 &&
			     sdp.media[2].bandwidth_bps == 48000,
		  "b= levels: media b=TIAS only");
}

int main(int argc, char **argv)
{
	struct tap t = { 0 };
	int rounds = argc > 1 ? atoi(argv[1]) : 1000;
	size_t i;

	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
		run_ok_case(&t, &ok_cases[i]);
	for (i = 0; i < sizeof(ice_cases) / sizeof(ice_cases[0]); i++)
		run_ok_case(&t, &ice_cases[i]);
	for (i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++)
		run_ok_case(&t, &edge_cases[i]);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		run_bad_case(&t, &bad_cases[i], NULL);
	for (i = 0; i < sizeof(why_cases) / sizeof(why_cases[0]); i++)
		run_bad_case(&t, &why_cases[i].c, why_cases[i].why);
	run_limits(&t);
	run_bad_relay(&t);
	run_mp_cases(&t);
	run_mp_replace(&t);
	run_police(&t);
	run_mutations(&t, rounds);
	return tap_done(&t);
}
