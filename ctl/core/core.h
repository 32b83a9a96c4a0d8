/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The call core: what natproxy keeps whatever protocol a terminal speaks.
 * Terminals known by their NAT mapping, each with a signaling port of its
 * own on the core realm; calls with their media streams, each stream a relay
 * pair on both realms whose flows sit in the XDP maps; offer/answer per call
 * (RFC 3264) with rollback; policy (limits, bandwidth, DSCP, VLAN);
 * charging records; keepalive scheduling and timeouts. It knows no
 * signaling protocol: a driver (ctl/sip/, later MGCP and H.248) turns
 * messages into these operations, and the core reaches back into the driver
 * only through the hooks the driver registered on a terminal.
 * Sockets and maps are reached only through struct np_core_io.
 */
#ifndef NATPROXY_CORE_H
#define NATPROXY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "core/admission.h"
#include "core/portpool.h"
#include "core/sdp.h"
#include "core/timer.h"
#include "natproxy.h"

/* A flow's latch state, which XDP changes. */
#define NP_F_LATCH_STATE                                                       \
	(NP_F_LATCH_PENDING | NP_F_LATCH_TAKEOVER | NP_F_LATCH_RESTRICTED)

#define NP_FORKS_MAX 4 /* early dialogs with SDP kept per call */
#define NP_FORK_TAG_MAX 128

struct np_term;
struct np_call;

struct np_core_io {
	/* Opens / closes the UDP socket of a terminal's core address. */
	int (*signal_open)(void *ctx, size_t realm, uint16_t port);
	void (*signal_close)(void *ctx, size_t realm, uint16_t port);
	/* Sends from realm's address:from_port. */
	int (*send)(void *ctx, size_t realm, uint16_t from_port,
		    const struct np_sockaddr *to, const char *buf, size_t len);
	int (*flow_put)(void *ctx, const struct np_flow_key *key,
			const struct np_flow *flow);
	/* As flow_put, for a key with no flow (a relay port just taken from
	 * the pool): nothing in the map to look at first. NULL: flow_put. */
	int (*flow_put_new)(void *ctx, const struct np_flow_key *key,
			    const struct np_flow *flow);
	int (*flow_get)(void *ctx, const struct np_flow_key *key,
			struct np_flow *flow);
	int (*flow_del)(void *ctx, const struct np_flow_key *key,
			struct np_counters *last);
	/* flow_del of n keys at once (a stream's flows at its end), their
	 * counters read together: err[i] as flow_del returns it. NULL:
	 * flow_del for each. */
	void (*flows_del)(void *ctx, const struct np_flow_key *keys, size_t n,
			  struct np_counters *last, int *err);
	int (*counters_get)(void *ctx, const struct np_flow_key *key,
			    struct np_counters *now);
	/* Every flow's counters summed into out[cls(key)], n classes, in a
	 * few batched reads (metrics); NULL: counters_get per flow. */
	int (*flows_sum)(void *ctx,
			 int (*cls)(const struct np_flow_key *key, void *arg),
			 void *arg, struct np_counters *out, size_t n);
	/* Appends one complete charging record (a JSON line). */
	void (*charge)(void *ctx, const char *line, size_t len);
	/* After charge: whose record it was (a cluster node marks the call
	 * ended in Redis, docs/ha.md). NULL: no one is told. */
	void (*charged)(void *ctx, const struct np_term *t,
			const struct np_call *call, const char *line,
			size_t len);
	/* Wall-clock time, UNIX seconds, for records people read. */
	double (*wall)(void *ctx);
	/* The signaling guard in XDP (bpf/guard.h); either may be NULL. A
	 * source over its limits is dropped there for `seconds`: src is a
	 * mapping, or with port 0 an address, or with prefix_len shorter
	 * than the address its prefix. */
	void (*source_block)(void *ctx, const struct np_sockaddr *src,
			     uint8_t prefix_len, uint32_t seconds);
	/* A terminal's NAT mapping skips (known) or no longer skips the
	 * unknown sources' bucket. */
	void (*source_known)(void *ctx, const struct np_sockaddr *nat,
			     bool known);
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
	X(keepalive_misses_excused)                                            \
	X(latches)                                                             \
	X(strangers)                                                           \
	X(offers_rolled_back)                                                  \
	X(rate_limited)                                                        \
	X(over_limits)                                                         \
	X(sources_blocked)

struct np_proxy_stats {
#define NP_STAT_FIELD(name) uint64_t name;
	NP_PROXY_STATS(NP_STAT_FIELD)
};

/* Why a call ended: the charging record's end_reason, by the same names. */
#define NP_END_REASONS(X)                                                      \
	X(NP_END_BYE, "bye")                                                   \
	X(NP_END_CANCEL, "cancel")                                             \
	X(NP_END_REJECTED, "rejected")                                         \
	X(NP_END_REFUSED, "refused")                                           \
	X(NP_END_NEVER_ANSWERED, "never answered")                             \
	X(NP_END_MEDIA_TIMEOUT, "media-timeout")                               \
	X(NP_END_HOLD_TIMEOUT, "hold-timeout")                                 \
	X(NP_END_KEEPALIVE_LOST, "keepalive lost")                             \
	X(NP_END_TERMINAL_LOST, "terminal-lost")                               \
	X(NP_END_IDLE, "idle")                                                 \
	X(NP_END_SHUTDOWN, "shutdown")                                         \
	X(NP_END_OTHER, "other")                                               \
	X(NP_END_RECOVERED, "recovered") /* rebuilt from the maps, media stopped */
enum np_end_reason { NP_END_REASONS(NP_ENUM_ENTRY) NP_END_MAX };
extern const char *const np_end_reason_names[NP_END_MAX];

/* What a realm's media did, for the metrics. */
struct np_realm_media {
	uint64_t latches; /* XDP latch events on this realm's relay ports */
	/* Final counters of the flows removed so far, keyed on this realm's
	 * relay ports: live flows are read from the maps, ended ones here,
	 * so the media totals never go back. */
	uint64_t packets, bytes, drops[NP_DROP_MAX];
};

/* What a realm's signaling sockets lost: datagrams the kernel dropped,
 * their receive buffers full, before natproxyd read them. */
struct np_realm_input {
	uint64_t dropped;
	uint64_t sockets_dropped; /* the sockets' own count, as last read */
	time_t lost_at; /* the last tick that found some lost (0: never) */
};

struct np_pair_counters {
	uint64_t calls_started;
	uint64_t calls_ended[NP_END_MAX];
};

/* One side's media address of a stream, as its SDP said. */
struct np_media_end {
	bool known;
	struct np_sdp_addr addr, rtcp_addr;
	uint16_t rtp, rtcp; /* rtp 0: the side removed the stream */
	bool mux;
	bool hold; /* sendonly, recvonly, inactive or a 0.0.0.0 address */
	uint32_t bps; /* b=AS / b=TIAS, 0 = none */
	uint32_t as_kbps, tias_bps;
};

/* A media stream of a call: a relay pair on each realm. */
struct np_stream {
	bool active;
	uint16_t access_port, core_port; /* RTP (even); RTCP is +1 */
	bool mux;
	/* Its ports were just taken: no flow of it is in the maps yet, so
	 * there is no latch state to read and keep (not saved: an adopted
	 * stream is read). */
	bool flows_new;
	struct np_media_end term, far;
};

/* Per-direction volumes of a stream, RTP and RTCP together. */
struct np_volume {
	uint64_t packets, bytes, drops[NP_DROP_MAX];
	uint64_t last_seen_ns;
};

/* Where an SDP came from: the terminal, or the far end (the core side). */
enum np_side { NP_SIDE_NONE, NP_SIDE_TERM, NP_SIDE_FAR };

/* The far end's media as one early dialog (fork) answered it: one per
 * stream the call had then. */
struct np_fork {
	char tag[NP_FORK_TAG_MAX];
	size_t n_far;
	struct np_media_end far[];
};

/*
 * One call of a terminal (SIP: a dialog by Call-ID; MGCP: a connection;
 * H.248: a context), with its media, what it takes to bill it, and the
 * driver's own state of it (dialog).
 */
struct np_call {
	struct np_call *next, **pprev; /* its terminal's calls */
	/* core->calls_by_id: found by (terminal, id) without walking the
	 * terminal's calls (a PBX behind one mapping has hundreds). */
	struct np_call *id_next;
	const struct np_term *id_term;
	uint32_t id_hash;
	char id[256];
	size_t n_streams;
	/* What is kept per stream (index: the SDP's m= line) is one block
	 * with room for `room` streams (np_call_room), grown as the SDPs
	 * name more: most calls have one or two, and room for the most
	 * (NP_SDP_MAX_MEDIA) would be most of a call's memory. */
	size_t room;
	struct np_stream *streams;
	/* Volumes of streams already released (re-offers with port 0). */
	struct np_volume *gone_up, *gone_down;
	/* The relay ports each stream had last, for the record. */
	uint16_t *access_ports, *core_ports;
	/* Offer/answer: an offer from `pending` waits for its answer; agreed
	 * is what the streams were before it, restored if it fails. */
	enum np_side pending;
	bool agreed_any; /* an answer was ever accepted */
	size_t agreed_n;
	struct np_stream *agreed; /* room of them, in the same block */
	struct np_fork *forks[NP_FORKS_MAX]; /* n_forks, each malloc'd */
	size_t n_forks;
	char fork_now[NP_FORK_TAG_MAX]; /* whose answer the flows follow */
	/* Why it ends when `expires` passes (never answered, or a challenge
	 * not retried). */
	enum np_end_reason expiry_reason;
	bool outgoing; /* the terminal placed the call */
	bool answered;
	char from[256], to[256]; /* the parties, as the record names them */
	time_t started, expires, answered_at;
	double wall_start, wall_answer;
	/* Rebuilt from the maps (recover.c): no dialog, parties unknown. */
	bool recovered;
	/* Its media cannot have been silent for media_limit seconds before
	 * media_check_at: the tick reads its counters only then (core.c). */
	time_t media_check_at;
	uint32_t media_limit;
	/* When the tick next has something to do for it (core->call_timers):
	 * its expiry or its media check. Set only while it is the call of a
	 * terminal with a driver (orphans' are np_core_orphans_tick()'s). */
	struct np_timer check;
	struct np_term *term; /* whose call it is, while it is one */
	/* Taken over from another node (docs/ha.md): when (UNIX seconds;
	 * 0: never) and from which; its volumes there are in gone_up and
	 * gone_down. */
	double takeover_at;
	char takeover_from[64];
	void *dialog; /* the driver's: one malloc'd block, freed with the call */
	/* It changed since the last save: on core->dirty_calls (the journal
	 * writes it alone, np_call_changed). */
	bool dirty;
	struct np_call *dirty_next, **dirty_pprev;
};

struct np_term;

/* How the core reaches back into the driver a terminal speaks. */
struct np_driver {
	const char *name; /* "sip" */
	/* Sends one keepalive to the terminal; true if an answer is due
	 * (np_term_alive() when it comes). */
	bool (*keepalive)(void *ctx, struct np_term *t);
	/* The core ends a call on its own (media timeout, terminal lost):
	 * tell both sides. Called before the call is freed. */
	void (*call_abort)(void *ctx, struct np_term *t, struct np_call *call,
			   enum np_end_reason why);
	void (*term_free)(void *ctx, struct np_term *t);
	/* The state file (ctl/state.c), for drivers whose terminals it keeps
	 * as gateway records (NULL: not kept; SIP's are its own records).
	 * state_put writes the driver's data of t (call NULL: t->signaling)
	 * or of one of its calls (call->dialog) as text to buf (any bytes but
	 * NUL; the file escapes them): 0, or -ENOSPC. state_get makes that
	 * data again from such text, one malloc'd block (*out): 0, -EINVAL
	 * (not text the driver wrote) or -ENOMEM. */
	int (*state_put)(void *ctx, const struct np_term *t,
			 const struct np_call *call, char *buf, size_t len);
	int (*state_get)(void *ctx, bool call, const char *text, void **out);
	void *ctx;
};

/* A terminal, known by its NAT mapping (the IP-header source). */
struct np_term {
	struct np_term *next, **pprev; /* core->terms */
	/* Hash chains: by NAT mapping, by core port. */
	struct np_term *nat_next, *port_next;
	size_t pair;
	struct np_sockaddr nat; /* where its packets come from */
	uint16_t core_port; /* its signaling address on the core realm */
	time_t registered_until; /* 0: not registered */
	bool ever_registered;
	/* Its mapping is in XDP's known sources: registered, or with an
	 * answered call (np_term_known_sync). */
	bool known;
	time_t last_heard, idle_since;
	/* Keepalive: next due (np_term_ka_next), when the one outstanding
	 * went out (0: none is), answers missed. */
	time_t ka_due, ka_sent;
	int ka_missed;
	/* When the tick next has something to do for it (core->term_timers:
	 * a keepalive, its registration's end, its idle lifetime, a call's
	 * expiry or media check); any change brings it to the next tick. */
	struct np_timer visit;
	struct np_call *calls;
	uint32_t n_calls;
	uint32_t n_answered; /* of its calls, those answered */
	const struct np_driver *driver;
	void *signaling; /* the driver's state of it (SIP: its bindings) */
	/* Its own fields changed since the last save: on core->dirty_terms
	 * (the state journal writes only these; its calls by themselves). */
	bool dirty;
	struct np_term *dirty_next, **dirty_pprev;
	/* A standby's copy (ctl/cluster/follow.c): the hash of the active
	 * node's record it was copied from (0: not a copy), and the last of
	 * that node's snapshots that named it (one that did not: gone). */
	uint64_t copied_from;
	uint32_t copied_seen;
	/* Copied since the peer's latches were last put into its flows
	 * (ctl/cluster/cluster.c clears it once they are). */
	bool latch_due;
};

/* What names a terminal in the state file: its pair and core port. */
struct np_term_key {
	size_t pair;
	uint16_t core_port;
};

/* A call that ended, as the journal's call tombstone names it: its
 * terminal's key and its id. */
struct np_call_tomb {
	struct np_term_key term;
	char id[256];
};

/* A released core port, not given out again before `until`. */
struct np_quarantine {
	struct np_timer timer; /* core->quarantine, due at its end */
	size_t realm;
	uint16_t port;
};

#define NP_TERM_BUCKETS 65536 /* a power of two */
#define NP_CALL_BUCKETS 65536 /* a power of two */

/* How many terminals, and registered ones, one source address holds (the
 * per-address limits count these instead of walking every terminal). */
struct np_addr_count {
	struct np_addr_count *next;
	struct np_sockaddr addr; /* port 0 */
	uint32_t terms, registered;
};

struct np_core {
	const struct np_config *cfg;
	/* Per realm: its interface's ifindex, where VLAN-tagged media must
	 * leave (0 when unknown: the FIB decides). */
	uint32_t *ifindex;
	/* Per realm: NP_LINK_* of its interface (0 when unknown). */
	uint32_t *link_flags;
	uint32_t *live_calls; /* per realm */
	const struct np_core_io *io;
	void *io_ctx;
	struct np_portpool *signal_ports; /* per realm (core realms) */
	struct np_portpool *media_ports; /* per realm */
	struct np_term *terms;
	/* NP_TERM_BUCKETS chains each: every message finds its terminal by
	 * NAT mapping or core port, among up to hundreds of thousands. */
	struct np_term **by_nat, **by_port;
	struct np_addr_count **by_addr;
	/* NP_CALL_BUCKETS chains of calls by terminal and id (call.c). */
	struct np_call **calls_by_id;
	/* Calls rebuilt from the maps after the state was lost (recover.c),
	 * each on a terminal of its own that no driver knows: no signaling,
	 * no core port; its nat is the terminal's media address (family 0:
	 * unknown). Not in terms: signaling never finds them. */
	struct np_term *orphans;
	/* Terminals by when the tick next has to visit them (np_term.visit),
	 * room kept for every terminal; quarantined ports by their end. */
	struct np_timers term_timers, quarantine;
	/* Calls by when the tick next has to look at them (np_call.check):
	 * a PBX's thousands each when due, not all at each of its visits. */
	struct np_timers call_timers;
	size_t n_terms; /* in terms */
	time_t tick_now; /* the last tick's time: changes are seen at the next */
	/* Whether this node acts for t (a scale-out node acts for some
	 * shares only, docs/ha.md); NULL: for every terminal. A terminal it
	 * does not act for is not visited: no keepalive, no timeout. */
	bool (*acting)(void *arg, const struct np_term *t);
	void *acting_arg;
	struct np_admission admission; /* per-source rates */
	uint64_t known; /* terminals whose mapping XDP knows (np_term.known) */
	uint64_t next_id;
	/* State changed since the last save: the batch's trigger. What
	 * changed: dirty_terms (changed or new), tombs (removed: their keys),
	 * or dirty_all (something no one terminal holds: orphans made from
	 * the maps, a tombstone short of memory; the whole state is saved
	 * again, in the save's turn), or rewrite_all (the files hold every
	 * change, but the whole state is wanted again: a reload, a
	 * promotion, a resync; written a slice a turn, ctl/state.c). */
	bool dirty, dirty_all, rewrite_all;
	struct np_term *dirty_terms;
	struct np_term_key *tombs;
	size_t n_tombs, cap_tombs;
	/* Calls changed, or ended: the journal writes each alone, apart from
	 * its terminal's own fields (O(1) per event, not O(the calls of its
	 * terminal): a PBX has hundreds). */
	struct np_call *dirty_calls;
	struct np_call_tomb *call_tombs;
	size_t n_call_tombs, cap_call_tombs;
	/* Orphan calls ended: pair and access relay port (as core_port),
	 * the journal's orphan tombstones. */
	struct np_term_key *orphan_tombs;
	size_t n_orphan_tombs, cap_orphan_tombs;
	struct np_proxy_stats stats;
	struct np_realm_media *realm_media; /* per realm */
	struct np_realm_input *realm_input; /* per realm */
	struct np_pair_counters *pair_ctr; /* per pair */
	/* Where charging records are built, kept open from one record to the
	 * next (charging.c): a stream opened per call, a malloc and a FILE
	 * set up each time, was half of what a record cost. */
	struct np_charge_buf {
		FILE *f;
		char *text;
		size_t len;
	} charge_buf;
};

int np_core_init(struct np_core *core, const struct np_config *cfg,
		 const struct np_core_io *io, void *io_ctx);
/* Ends every call (flows removed, ports freed) and frees everything. */
void np_core_fini(struct np_core *core);
/* Frees everything but leaves calls and their flows alone, for a restart
 * that adopts them from the state file. */
void np_core_forget(struct np_core *core);
/* See np_proxy_reconfigure(). */
int np_core_reconfigure(struct np_core *core, const struct np_config *next);
/* Timeouts, expiries, keepalives: call about once a second. */
void np_core_tick(struct np_core *core, time_t now);
/* The same in slices of at most max terminals visited, for input to be
 * served in between: false while more are due at now (call it again with
 * the same now). With 100,000 terminals a second's 5,000 keepalives took
 * 90 ms, and their answers overflowed the access socket meanwhile. */
bool np_core_tick_some(struct np_core *core, time_t now, size_t max);
/* The drop count of the realm's signaling sockets, read by the I/O edge
 * before each tick (their sum; it goes back when a socket is replaced).
 * Keepalives unanswered since it last grew are not held against their
 * terminals: their answers may be among the lost. */
void np_core_input_drops(struct np_core *core, size_t realm,
			 uint64_t sockets_dropped, time_t now);
/* Per-source rates of a datagram from src on an access realm: false when
 * it is over a limit (counted; the source blocked in XDP for the realm's
 * block_time when it first goes over). */
bool np_core_admit(struct np_core *core, size_t realm,
		   const struct np_sockaddr *src, time_t now);

/* --- terminals (terminal.c) --- */
/* t itself changed: its own fields saved with the batch, not its calls
 * (a NULL t: the whole state is; an orphan's: nothing, its creation saves
 * the whole state and its end a tombstone). */
void np_term_changed(struct np_core *core, struct np_term *t);
/* call of t changed: saved with the batch, by itself (a gateway's with its
 * driver's data of it, which is the call's alone). */
void np_call_changed(struct np_core *core, struct np_term *t,
		     struct np_call *call);
/* call of t ends (it is no longer one of t's calls): the batch saves its
 * tombstone. */
void np_call_gone(struct np_core *core, struct np_term *t,
		  struct np_call *call);
/* The tick visits t at its next run (its state changed outside a tick's
 * sight: a call added or adopted, an expiry moved). */
void np_term_wake(struct np_core *core, struct np_term *t);
/* The tick looks at call at its next run: its expiry or media changed. */
void np_call_wake(struct np_core *core, struct np_call *call);
/* Something no one terminal holds changed: the whole state is saved, in
 * the save's turn (the journal cannot say it). */
void np_core_changed_all(struct np_core *core);
/* Every change is saved as it comes, yet the whole state is wanted again
 * (the configuration changed; the cluster's stream needs a snapshot): the
 * next save begins a compaction, written a slice a turn. */
void np_core_rewrite_all(struct np_core *core);
/* The batch was saved: nothing dirty any more. */
void np_core_dirty_clear(struct np_core *core);
struct np_term *np_term_by_nat(struct np_core *core, size_t pair,
			       const struct np_sockaddr *nat);
struct np_term *np_term_by_core_port(struct np_core *core, size_t realm,
				     uint16_t port);
/* A new terminal of pair at nat, with a core port and its socket. */
int np_term_new(struct np_core *core, size_t pair,
		const struct np_sockaddr *nat, const struct np_driver *driver,
		time_t now, struct np_term **out);
/* Ends its calls (why), closes its socket, quarantines its port. */
void np_term_free(struct np_core *core, struct np_term *t,
		  enum np_end_reason why, time_t now);
/* The terminal index's life (terminal.c). */
int np_terms_init(struct np_core *core);
void np_terms_fini(struct np_core *core);
/* Its registration: until (0: none); keepalives start with one. */
void np_term_registered(struct np_core *core, struct np_term *t,
			time_t until, time_t now);
/* Its registration ran out. */
void np_term_unregistered(struct np_core *core, struct np_term *t);
/* A keepalive was answered. */
void np_term_alive(struct np_term *t);
/* Tells XDP whether t is known (registered, or with an answered call):
 * call after either changes. */
void np_term_known_sync(struct np_core *core, struct np_term *t);
/* When t's next keepalive is due after now: at its own phase of the
 * interval, so that keepalives are spread evenly over it however the
 * registrations came (all at once after a restart or an outage). */
time_t np_term_ka_next(const struct np_core *core, const struct np_term *t,
		       time_t now);
/* Its first after registering (or being adopted) at now: in the second
 * half of the interval after now, at its phase there (the NAT binding the
 * registration used sees traffic within the interval; a terminal is not
 * pinged the second it registered). */
time_t np_term_ka_first(const struct np_core *core, const struct np_term *t,
			time_t now);
/* Whether a new registration from src stays within the realm's
 * per-address limit (self: the terminal asking, may be NULL). */
bool np_term_may_register(const struct np_core *core, size_t realm,
			  const struct np_sockaddr *src,
			  const struct np_term *self);
/* Whether a new terminal may take a core port of pair now: within the
 * source address's terminal limit, and out of the reserve unless known
 * (a registered subscriber back at a new mapping). One that only calls
 * (no registration) may take no more than half the pool: a flood of
 * INVITEs from spoofed sources leaves the rest to subscribers. */
bool np_term_may_join(const struct np_core *core, size_t pair,
		      const struct np_sockaddr *src, bool known, bool caller);
/* Whether pair's relay pools are down to their reserve (kept for the
 * calls already up). */
bool np_core_media_reserved(const struct np_core *core, size_t pair);
/* Whether realm:port is a quarantined (recently released) core port. */
bool np_core_port_quarantined(const struct np_core *core, size_t realm,
			      uint16_t port);
size_t np_core_pair_terms(const struct np_core *core, size_t pair);
/* A standby's copy of t takes saved's NAT mapping and registration (the
 * driver's state is the caller's): its calls stay. */
void np_core_refresh_term(struct np_core *core, struct np_term *t,
			  const struct np_term *saved, time_t now);
int np_core_adopt_term(struct np_core *core, const struct np_term *saved,
		       const struct np_driver *driver, time_t now,
		       struct np_term **out);
/* A terminal the active node changed or removed, dropped from a standby's
 * copy: its calls forgotten (np_call_forget), its port back at once. */
void np_term_forget(struct np_core *core, struct np_term *t);

/* --- calls (call.c) --- */
int np_calls_init(struct np_core *core);
void np_calls_fini(struct np_core *core);
struct np_call *np_call_find(const struct np_core *core,
			     const struct np_term *t, const char *id);
/* A new call of t, unless a realm is at its limit or the pair drains
 * (NULL, logged). */
struct np_call *np_call_new(struct np_core *core, struct np_term *t,
			    const char *id, bool outgoing, time_t now);
/* call's id becomes id (a gateway named the connection it had asked
 * for): found by it from now on; the journal ends the old id's record
 * and saves the call under the new one. */
void np_call_rename(struct np_core *core, struct np_term *t,
		    struct np_call *call, const char *id);
void np_call_answered(struct np_core *core, struct np_term *t,
		      struct np_call *call, time_t now);
/* Removes its flows, frees its ports, writes its charging record. */
void np_call_end(struct np_core *core, struct np_term *t,
		 struct np_call *call, enum np_end_reason why, time_t now);
int np_core_adopt_call(struct np_core *core, struct np_term *t,
		       const struct np_call *saved, void *dialog);
/* Room in call's per-stream arrays for n streams (at most
 * NP_SDP_MAX_MEDIA), the new ones zeroed: 0, or -ENOMEM with nothing
 * changed. */
int np_call_room(struct np_call *call, size_t n);
/* dst (holding nothing) becomes a copy of src with streams of its own and
 * no forks: a call the state reader handed on outlives the reader's next.
 * 0 or -ENOMEM (dst then has no streams). */
int np_call_copy(struct np_call *dst, const struct np_call *src);
/* Frees what call holds per stream and per fork (not its dialog). */
void np_call_streams_free(struct np_call *call);
/* A standby's copy of the active node's call (docs/ha.md): adopted as
 * np_core_adopt_call, and its flows installed in our maps (they are not
 * there: the call never ran here). */
int np_core_mirror_call(struct np_core *core, struct np_term *t,
			const struct np_call *saved, void *dialog);
/* A call the active node ended or changed, dropped from a standby's
 * copy: flows removed, ports freed, no record (its node bills it). */
void np_call_forget(struct np_core *core, struct np_term *t,
		    struct np_call *call);

/* --- calls rebuilt from the maps (recover.c) --- */
struct np_recovery {
	size_t flows; /* flows handed in (no adopted call had them) */
	size_t calls; /* orphan calls made of them, one per stream */
	size_t kept; /* flows left alone: no stream found for them */
};
/*
 * After a restart whose state could not be read in full: the flows (keys)
 * no adopted call claims are grouped into streams by their relay port
 * pairs (an access flow names its core relay in its reverse key, a core
 * flow its access relay in its rewritten source) and each stream becomes
 * an orphan call of its pair, answered, with its start taken from the
 * first packet XDP counted. The media timeout ends and bills it (end
 * reason "recovered"). No flow is removed here.
 */
int np_core_recover(struct np_core *core, const struct np_flow_key *keys,
		    size_t n, time_t now, struct np_recovery *rep);
/* An orphan call from the state file, on a terminal of its own at media
 * (the terminal's media address, family 0: unknown): the file has it, no
 * save is due. -ESTALE as np_core_adopt_call. */
int np_core_adopt_orphan(struct np_core *core, size_t pair,
			 const struct np_sockaddr *media,
			 const struct np_call *saved, time_t now);
/* Ends orphan calls whose media stopped; all of them (why) with all. */
void np_core_orphans_tick(struct np_core *core, time_t now);
void np_core_orphans_end(struct np_core *core, enum np_end_reason why,
			 time_t now);
/* Frees them, flows left alone (np_core_forget). */
void np_core_orphans_forget(struct np_core *core);

/* --- media: offer/answer (media.c) --- */
/*
 * An SDP offer from side: new streams get relays, the SDP is pointed at the
 * relays of the other side and written to out. Flows change only when the
 * answer comes (np_media_answer), except for a call's first offer, whose
 * flows go in at once. 0; -EINVAL: SDP not understood or not for this
 * realm's family (*why says what); -EBUSY: no ports or flows.
 */
int np_media_offer(struct np_core *core, struct np_term *t,
		   struct np_call *call, enum np_side from, const char *sdp,
		   size_t len, char *out, size_t out_size, size_t *out_len,
		   const char **why);
/* The answer to the pending offer, from side (its fork: an early dialog,
 * or NULL); the flows follow it. Errors as np_media_offer. */
int np_media_answer(struct np_core *core, struct np_term *t,
		    struct np_call *call, enum np_side from, const char *fork,
		    const char *sdp, size_t len, char *out, size_t out_size,
		    size_t *out_len, const char **why);
/* The flows of every live stream of call, as its streams say (a standby
 * installing a call it copied). */
int np_media_install(struct np_core *core, struct np_term *t,
		     struct np_call *call);
/* The pending offer failed: the streams go back to the last agreed. */
void np_media_rollback(struct np_core *core, struct np_term *t,
		       struct np_call *call);
/* The far end's fork answered without SDP: the flows follow the SDP
 * that fork sent earlier, if it sent one. */
void np_media_use_fork(struct np_core *core, struct np_term *t,
		       struct np_call *call, const char *fork);
/* Whether every live stream of the call is on hold. */
bool np_media_on_hold(const struct np_call *call);
/* Seconds since the call's media last moved (answer time if never). */
time_t np_media_idle(struct np_core *core, struct np_term *t,
		     struct np_call *call, time_t now);
/*
 * Whether the call's media has been silent for more than limit seconds.
 * Its counters are read (several map reads per stream) only once the
 * last reading allows it: a call whose media moved at t cannot time out
 * before t + limit, so each call is read about once per limit, not every
 * tick.
 */
bool np_media_silent(struct np_core *core, struct np_term *t,
		     struct np_call *call, uint32_t limit, time_t now);
/* Records call as the holder of s's relay ports (np_core_latched finds
 * it by a port). */
void np_media_hold_ports(struct np_core *core, const struct np_term *t,
			 struct np_call *call, const struct np_stream *s);
/* Releases stream i (flows, ports); its volumes join the record. */
void np_stream_release(struct np_core *core, struct np_term *t,
		       struct np_call *call, size_t i);
/* The same, said only at debug level (a standby's copy). */
void np_stream_forget(struct np_core *core, struct np_term *t,
		      struct np_call *call, size_t i);
/* A stream's volumes: read from the maps, or taken with the flows. */
void np_stream_volumes(struct np_core *core, size_t pair,
		       const struct np_stream *s, bool remove,
		       struct np_volume *up, struct np_volume *down);
bool np_core_media_port_used(const struct np_core *core, size_t realm,
			     uint16_t port);
/* XDP latched a flow onto source; takeover: the terminal's signaling
 * address took it back from a latch onto another (NP_F_LATCH_TAKEOVER). */
void np_core_latched(struct np_core *core, const struct np_flow_key *key,
		     const struct np_sockaddr *source, bool takeover);
void np_core_media_totals(const struct np_core *core, size_t realm,
			  struct np_counters *out);
/* The same for every realm at once, out[n_realms]: with io->flows_sum in
 * a few batched reads whatever the number of flows. */
void np_core_media_totals_all(const struct np_core *core,
			      struct np_counters *out);
void np_core_key(struct np_flow_key *key, const struct np_realm *realm,
		 uint16_t port);
/* Which realm a flow key is on: its address and a port of that realm's
 * media range (realms on other addresses may share port numbers). */
bool np_core_key_realm(const struct np_core *core,
		       const struct np_flow_key *key, size_t *realm);

/* --- charging (charging.c) --- */
void np_charge(struct np_core *core, const struct np_term *t,
	       const struct np_call *call, const char *reason);

void np_core_quarantine_expire(struct np_core *core, time_t now);

/* --- shared small helpers --- */
/* Grows a per-realm (or per-pair) array from old_n to n entries, the new
 * ones zeroed; 0 or -ENOMEM (the array as it was). */
int np_array_grow(void **arr, size_t size, size_t old_n, size_t n);
/* Splits text in place at its first n - 1 seps into n fields, empty ones
 * kept, the last the rest (a driver's state_get): 0, or -EINVAL for
 * fewer. */
int np_fields_split(char *text, char sep, char **field, size_t n);
/* Seconds a released core port is kept from reuse. */
static inline uint32_t np_realm_quarantine(const struct np_realm *r)
{
	return r->sip_port_quarantine;
}

/* Seconds a call on hold may go without media (0: no limit). */
static inline uint32_t np_realm_hold_timeout(const struct np_realm *r)
{
	return r->hold_timeout;
}

const char *np_sockaddr_str(const struct np_sockaddr *a, char *buf,
			    size_t len);
static inline const struct np_pair *np_core_pair(const struct np_core *core,
						 const struct np_term *t)
{
	return &core->cfg->pairs[t->pair];
}

#endif
