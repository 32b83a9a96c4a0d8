/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The heartbeat among the nodes of a share (docs/ha.md, "Two of three"):
 * a thread that sends, every lease_ms/10 over the core side, this node's
 * state for each of its shares to each other member of that share, and
 * hears theirs. A pair of nodes is the case of one share and one member
 * (peer, peer_heartbeat); a scale-out node has cluster.members, and each
 * share the members that take part in it. It lets an active node go on
 * acting for a share while Redis is unreachable, but only while every
 * other member of the share confirms that it neither acts for it nor
 * will take its lease:
 *
 * - every heartbeat has a sequence number; a member that stands by (or is
 *   fenced) for the share echoes the last one it heard for it, and
 *   promises not to take that share's lease, nor act for it, until it has
 *   heard no "active" heartbeat for it for NP_PEER_DEAD(lease) ms
 *   (np_peer_take() checks that and stops the echoes in one step);
 * - the active node sent the echoed heartbeat at T: the member heard it
 *   later, so it keeps its promise until T + NP_PEER_DEAD at least. With
 *   Redis unreachable the node acts until the later of its lease's end at
 *   Redis and the earliest of its members' promises, less a margin
 *   (NP_PEER_MARGIN) for the clocks.
 *
 * Every datagram carries a MAC (heartbeat_key) and is taken once, and only
 * if it is fresh (beat.h): a datagram forged, altered, played back or
 * refused for any reason changes nothing here but a counter.
 *
 * Nothing here blocks the event loop: the loop tells the thread each
 * share's role and lease and asks, under one lock, what the thread heard.
 */
#ifndef NATPROXY_CLUSTER_PEER_H
#define NATPROXY_CLUSTER_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/beat.h"
#include "config.h"

/* ms, from the lease's time to live: how often a heartbeat goes, how long
 * a peer's silence must last before its promise ends, and what is taken
 * off every deadline (clock rates, scheduling). */
#define NP_PEER_EVERY(lease) ((lease) / 10.0)
#define NP_PEER_DEAD(lease) ((lease) * 2.0 / 3.0)
#define NP_PEER_MARGIN(lease) ((lease) / 10.0)

/* Why a datagram on the heartbeat's socket was refused (peer.c): not from
 * a member's address and name, or for a share it is not in with us;
 * damaged; a wrong MAC; a SEQ already heard (played back, or late); a new
 * BOOT that acks nothing we sent lately (played back from an earlier run,
 * or the first beats after a restart, before the two have heard each
 * other). */
enum np_peer_refusal {
	NP_PEER_REFUSED_SENDER,
	NP_PEER_REFUSED_FORMAT,
	NP_PEER_REFUSED_MAC,
	NP_PEER_REFUSED_REPLAY,
	NP_PEER_REFUSED_STALE,
	NP_PEER_REFUSED_MAX
};

extern const char *const np_peer_refusal_names[NP_PEER_REFUSED_MAX];

/* What one member said for a share, and its counters (the node's, all
 * shares). */
struct np_peer_member_stats {
	char node[NP_CLUSTER_NAME_MAX];
	enum np_peer_state says; /* for the share (UNHEARD when silent) */
	uint64_t sent, heard, refused; /* refused: from its address */
	double heard_ms; /* ms since a beat of it was taken (any share); -1: never */
	double promise_ms; /* ms its promise for the share lasts; <= 0: none */
};

struct np_peer_stats {
	/* The node's heartbeat, every share and member. */
	uint64_t sent, heard, bad; /* bad: refused, all reasons */
	uint64_t refused[NP_PEER_REFUSED_MAX];
	/* The share's: its members as last heard, summed up (ACTIVE if one
	 * says so, else the first that does not yield, else the first's). */
	enum np_peer_state peer;
	/* CLOCK_MONOTONIC ms: the earliest of the members' promises ends (0:
	 * one of them has promised nothing). */
	double echo_until;
	struct np_peer_member_stats members[NP_CLUSTER_MEMBERS_MAX];
	size_t n_members; /* the share's */
};

struct np_peer;

/* The socket bound to cfg->heartbeat and the thread; -errno. Shares: a
 * pair's one (index 0), or cfg->shares in their order. */
int np_peer_start(struct np_peer **out, const struct np_cluster_config *cfg);
void np_peer_stop(struct np_peer *p);

/*
 * The loop's view of share sh, for the heartbeats: what it is for it
 * (STANDBY or FENCED: yields, echoes; ACTIVE; TAKING, after
 * np_peer_take(); ISOLATED), and until when its lease is ours at Redis for
 * sure (CLOCK_MONOTONIC ms).
 */
void np_peer_set(struct np_peer *p, size_t sh, enum np_peer_state mine,
		 double lease_until);
/* Whether this node may act for sh now: active, and within its lease or
 * every member's promise, less the margin. Also what its heartbeats say. */
bool np_peer_acting(struct np_peer *p, size_t sh, double now);
/* Whether a member of sh said "active" for it within NP_PEER_DEAD. */
bool np_peer_active(struct np_peer *p, size_t sh, double now);
/* Before taking sh's lease or acting for it: false if a member said
 * "active" for it within NP_PEER_DEAD; otherwise stops yielding for it (no
 * more echoes), in the same step, and true. */
bool np_peer_take(struct np_peer *p, size_t sh, double now);
/* sh's members, or with NP_PEER_NODE every member (says: unheard). */
#define NP_PEER_NODE ((size_t)-1)
void np_peer_stats(struct np_peer *p, size_t sh, double now,
		   struct np_peer_stats *out);
/* st as one JSON object (the health files): counters, refusals by reason,
 * and per member its counters, when it was last heard and, for a share,
 * what it says and how long its promise lasts. */
void np_peer_stats_json(FILE *f, const struct np_peer_stats *st, bool share);

#endif
