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
#include "core/portpool.h"
#include "core/sdp.h"

#define NP_TXN_BUCKETS 4096 /* a power of two */
/* Longest top-Via branch kept, with its NUL; longer is refused (400). */
#define NP_BRANCH_MAX 128

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
	int (*counters_get)(void *ctx, const struct np_flow_key *key,
			    struct np_counters *now);
	/* Appends one complete charging record (a JSON line). */
	void (*charge)(void *ctx, const char *line, size_t len);
	/* Wall-clock time, UNIX seconds, for records people read. */
	double (*wall)(void *ctx);
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
	X(calls_ended)                                                         \
	X(denied)                                                              \
	X(media_timeouts)                                                      \
	X(keepalives_unanswered)                                               \
	X(latches)

struct np_proxy_stats {
#define NP_STAT_FIELD(name) uint64_t name;
	NP_PROXY_STATS(NP_STAT_FIELD)
};

/* SIP methods counted by name (metrics); any other is NP_SIP_OTHER. */
#define NP_SIP_METHODS(X)                                                      \
	X(NP_SIP_INVITE, "INVITE")                                             \
	X(NP_SIP_ACK, "ACK")                                                   \
	X(NP_SIP_BYE, "BYE")                                                   \
	X(NP_SIP_CANCEL, "CANCEL")                                             \
	X(NP_SIP_REGISTER, "REGISTER")                                         \
	X(NP_SIP_OPTIONS, "OPTIONS")                                           \
	X(NP_SIP_UPDATE, "UPDATE")                                             \
	X(NP_SIP_PRACK, "PRACK")                                               \
	X(NP_SIP_INFO, "INFO")                                                 \
	X(NP_SIP_SUBSCRIBE, "SUBSCRIBE")                                       \
	X(NP_SIP_NOTIFY, "NOTIFY")                                             \
	X(NP_SIP_REFER, "REFER")                                               \
	X(NP_SIP_MESSAGE, "MESSAGE")                                           \
	X(NP_SIP_PUBLISH, "PUBLISH")                                           \
	X(NP_SIP_OTHER, "other")
enum np_sip_method { NP_SIP_METHODS(NP_ENUM_ENTRY) NP_SIP_METHOD_MAX };
extern const char *const np_sip_method_names[NP_SIP_METHOD_MAX];

/* Why a call ended: the charging record's end_reason, by the same names. */
#define NP_END_REASONS(X)                                                      \
	X(NP_END_BYE, "bye")                                                   \
	X(NP_END_CANCEL, "cancel")                                             \
	X(NP_END_REJECTED, "rejected")                                         \
	X(NP_END_REFUSED, "refused")                                           \
	X(NP_END_NEVER_ANSWERED, "never answered")                             \
	X(NP_END_MEDIA_TIMEOUT, "media-timeout")                               \
	X(NP_END_KEEPALIVE_LOST, "keepalive lost")                             \
	X(NP_END_IDLE, "idle")                                                 \
	X(NP_END_SHUTDOWN, "shutdown")                                         \
	X(NP_END_OTHER, "other")
enum np_end_reason { NP_END_REASONS(NP_ENUM_ENTRY) NP_END_MAX };
extern const char *const np_end_reason_names[NP_END_MAX];

/* Final responses natproxyd gives itself instead of forwarding. */
#define NP_REJECT_CODES(X)                                                     \
	X(NP_REJECT_400, "400")                                                \
	X(NP_REJECT_403, "403")                                                \
	X(NP_REJECT_503, "503")
enum np_reject { NP_REJECT_CODES(NP_ENUM_ENTRY) NP_REJECT_MAX };
extern const char *const np_reject_names[NP_REJECT_MAX];

/* What a realm's signaling and media did, for the metrics: counted where
 * messages are received and sent and where flows are removed. */
struct np_realm_counters {
	uint64_t requests_in[NP_SIP_METHOD_MAX], requests_out[NP_SIP_METHOD_MAX];
	uint64_t responses_in[6], responses_out[6]; /* 1xx .. 6xx */
	uint64_t rejected[NP_REJECT_MAX];
	uint64_t latches; /* XDP latch events on this realm's relay ports */
	/* Final counters of the flows removed so far, keyed on this realm's
	 * relay ports: live flows are read from the maps, ended ones here,
	 * so the media totals never go back. */
	uint64_t media_packets, media_bytes, media_drops[NP_DROP_MAX];
};

struct np_pair_counters {
	uint64_t calls_started;
	uint64_t calls_ended[NP_END_MAX];
};

/* One side's media address of a stream, as its SDP said. */
struct np_media_end {
	bool known;
	struct np_sdp_addr addr;
	uint16_t rtp, rtcp;
	bool mux;
	uint32_t bps; /* b=AS / b=TIAS, 0 = none */
};

/* A media stream of a leg: a relay pair on each realm. */
struct np_stream {
	bool active;
	uint16_t access_port, core_port; /* RTP (even); RTCP is +1 */
	bool mux;
	struct np_media_end term, far;
};

/* Per-direction volumes of a stream, RTP and RTCP together. */
struct np_volume {
	uint64_t packets, bytes, drops[NP_DROP_MAX];
	uint64_t last_seen_ns;
};

/*
 * One call leg: a dialog (by Call-ID) as one terminal sees it, with what it
 * takes to end it ourselves (RFC 3261 12: tags, targets, CSeqs) and to bill
 * it.
 */
struct np_leg {
	struct np_leg *next;
	char call_id[256];
	size_t n_streams;
	struct np_stream streams[NP_SDP_MAX_MEDIA];
	/* Volumes of streams already released (re-offers with port 0). */
	struct np_volume gone_up[NP_SDP_MAX_MEDIA], gone_down[NP_SDP_MAX_MEDIA];
	/* The relay ports each stream had last, for the record. */
	uint16_t access_ports[NP_SDP_MAX_MEDIA], core_ports[NP_SDP_MAX_MEDIA];
	bool outgoing; /* the terminal sent the INVITE */
	bool answered;
	char from[256], to[256]; /* From and To of the INVITE; To gets its tag */
	char far_target[256]; /* the far end's Contact URI */
	uint32_t term_cseq, core_cseq; /* highest CSeq from each side */
	time_t started, expires, answered_at;
	double wall_start, wall_answer;
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
	/* Hash chains: every txn by branch, those from the core also by
	 * our_branch (newest first, as the list). */
	struct np_txn *by_branch, *by_ours;
	struct np_term *term;
	bool from_core; /* we pushed a Via of ours on top */
	char branch[NP_BRANCH_MAX]; /* the top Via's branch on arrival */
	char our_branch[64]; /* from_core: the branch of the Via we pushed */
	char via[512]; /* !from_core: the terminal's top Via, as sent */
	bool answered_here; /* we refused it: its ACK stops here */
	time_t expires;
};

struct np_proxy {
	const struct np_config *cfg;
	/* Per realm: its interface's ifindex, where VLAN-tagged media must
	 * leave (0 when unknown: the FIB decides). */
	uint32_t *ifindex;
	/* Per realm: NP_LINK_* of its interface (0 when unknown). */
	uint32_t *link_flags;
	uint32_t *calls; /* per realm: live legs */
	const struct np_proxy_io *io;
	void *io_ctx;
	struct np_portpool *sip_ports; /* per realm (core realms) */
	struct np_portpool *media_ports; /* per realm */
	struct np_term *terms;
	struct np_txn *txns;
	/* NP_TXN_BUCKETS chains each: transactions live 64 s (300 for an
	 * INVITE), tens of thousands at a few hundred requests a second,
	 * too many to search a list for every message. */
	struct np_txn **txn_by_branch, **txn_by_ours;
	uint64_t next_id;
	bool dirty; /* state changed since the last np_state_save() */
	struct np_proxy_stats stats;
	struct np_realm_counters *realm_ctr; /* per realm */
	struct np_pair_counters *pair_ctr; /* per pair */
};

int np_proxy_init(struct np_proxy *px, const struct np_config *cfg,
		  const struct np_proxy_io *io, void *io_ctx);
/* Ends every call (flows removed, ports freed) and frees everything. */
void np_proxy_fini(struct np_proxy *px);
/* Frees everything but leaves calls and their flows alone, for a restart
 * that adopts them from the state file. */
void np_proxy_forget(struct np_proxy *px);
/* A datagram arrived at realm's address:local_port from src. */
void np_proxy_input(struct np_proxy *px, size_t realm, uint16_t local_port,
		    const struct np_sockaddr *src, const char *buf, size_t len,
		    time_t now);
/* Keepalives, expiries, media timeouts; call about once a second. */
void np_proxy_tick(struct np_proxy *px, time_t now);
/*
 * After a restart: takes back a terminal and its legs as the state file
 * had them (ports, sockets; the flows are still in the maps).
 */
int np_proxy_adopt_term(struct np_proxy *px, const struct np_term *saved,
			time_t now, struct np_term **out);
/* -ESTALE: the leg's flows are gone, the call ended (and was billed) after
 * the state file was written. */
int np_proxy_adopt_leg(struct np_proxy *px, struct np_term *term,
		       const struct np_leg *saved);
/*
 * A reload: next replaces the configuration. It keeps every realm and pair
 * of the running one at its index, with the same addresses and ports
 * (ctl/reload.c makes it so), and may append realms and pairs and mark
 * pairs draining. 0, or -ENOMEM with the running configuration kept.
 */
int np_proxy_reconfigure(struct np_proxy *px, const struct np_config *next);
/* Terminals of pair (a draining pair with none is drained). */
size_t np_proxy_pair_terms(const struct np_proxy *px, size_t pair);
/* Whether a media port of realm belongs to a live stream. */
bool np_proxy_media_port_used(const struct np_proxy *px, size_t realm,
			      uint16_t port);
/* The relay at key latched onto source (an XDP event): logged per call. */
void np_proxy_latched(struct np_proxy *px, const struct np_flow_key *key,
		      const struct np_sockaddr *source);

/*
 * Sums the media counters of realm's relay ports: the live flows of every
 * call, read through io->counters_get, plus the flows already removed.
 * packets, bytes and drops of @out are set; the rest is zero.
 */
void np_proxy_media_totals(const struct np_proxy *px, size_t realm,
			   struct np_counters *out);

#endif
