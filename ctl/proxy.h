/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SIP NAT-traversal proxy's logic (claims 1-6, 11): terminals seen
 * through their NAT mapping get a signaling address of their own on the core
 * realm; messages are rewritten between the two sides; SDP is pointed at
 * relay ports whose flows go into the XDP maps. Parse, decide and rewrite
 * happen here; sockets and maps are reached only through struct
 * np_proxy_io, so tests drive it with recorded messages and a fake io.
 */
#ifndef NATPROXY_PROXY_H
#define NATPROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "natproxy.h"
#include "portpool.h"
#include "sdp.h"

struct np_proxy_io {
	/* Opens / closes the UDP socket of a terminal's core address. */
	int (*sip_open)(void *ctx, size_t realm, uint16_t port);
	void (*sip_close)(void *ctx, size_t realm, uint16_t port);
	/* Sends from realm's address:from_port. */
	int (*send)(void *ctx, size_t realm, uint16_t from_port,
		    const struct np_sockaddr *to, const char *buf, size_t len);
	int (*flow_put)(void *ctx, const struct np_flow_key *key,
			const struct np_flow *flow);
	int (*flow_get)(void *ctx, const struct np_flow_key *key,
			struct np_flow *flow);
	int (*flow_del)(void *ctx, const struct np_flow_key *key,
			struct np_counters *last);
};

#define NP_PROXY_STATS(X)                                                      \
	X(received)                                                            \
	X(forwarded)                                                           \
	X(malformed)                                                           \
	X(unmatched)                                                           \
	X(answered_400)                                                        \
	X(answered_503)                                                        \
	X(keepalives_sent)                                                     \
	X(bindings_lost)                                                       \
	X(calls_started)                                                       \
	X(calls_ended)

struct np_proxy_stats {
#define NP_STAT_FIELD(name) uint64_t name;
	NP_PROXY_STATS(NP_STAT_FIELD)
};

/* One side's media address of a stream, as its SDP said. */
struct np_media_end {
	bool known;
	struct np_sdp_addr addr;
	uint16_t rtp, rtcp;
	bool mux;
};

/* A media stream of a leg: a relay pair on each realm. */
struct np_stream {
	bool active;
	uint16_t access_port, core_port; /* RTP (even); RTCP is +1 */
	bool mux;
	struct np_media_end term, far;
};

/* One call leg: a dialog (by Call-ID) as one terminal sees it. */
struct np_leg {
	struct np_leg *next;
	char call_id[256];
	size_t n_streams;
	struct np_stream streams[NP_SDP_MAX_MEDIA];
	bool answered;
	time_t started, expires;
};

/* A terminal, known by its NAT mapping (the IP-header source). */
struct np_term {
	struct np_term *next;
	size_t pair;
	struct np_sockaddr nat; /* where its packets come from */
	uint16_t core_port; /* its signaling address on the core realm */
	char contact[256]; /* its Contact URI, as it wrote it */
	time_t registered_until; /* 0: not registered */
	time_t last_heard, idle_since;
	/* Keepalive: next due, OPTIONS outstanding, answers missed. */
	time_t ka_due;
	bool ka_waiting;
	int ka_missed;
	struct np_leg *legs;
};

/* A request in flight, to restore its Via or route its response. */
struct np_txn {
	struct np_txn *next;
	struct np_term *term;
	bool from_core; /* we pushed a Via of ours on top */
	char branch[128]; /* the top Via's branch on arrival */
	char our_branch[64]; /* from_core: the branch of the Via we pushed */
	char via[512]; /* !from_core: the terminal's top Via, as sent */
	bool answered_here; /* we refused it: its ACK stops here */
	time_t expires;
};

struct np_proxy {
	const struct np_config *cfg;
	const struct np_proxy_io *io;
	void *io_ctx;
	struct np_portpool *sip_ports; /* per realm (core realms) */
	struct np_portpool *media_ports; /* per realm */
	struct np_term *terms;
	struct np_txn *txns;
	uint64_t next_id;
	struct np_proxy_stats stats;
};

int np_proxy_init(struct np_proxy *px, const struct np_config *cfg,
		  const struct np_proxy_io *io, void *io_ctx);
/* Ends every call (flows removed, ports freed) and frees everything. */
void np_proxy_fini(struct np_proxy *px);
/* A datagram arrived at realm's address:local_port from src. */
void np_proxy_input(struct np_proxy *px, size_t realm, uint16_t local_port,
		    const struct np_sockaddr *src, const char *buf, size_t len,
		    time_t now);
/* Keepalives, expiries; call about once a second. */
void np_proxy_tick(struct np_proxy *px, time_t now);

#endif
