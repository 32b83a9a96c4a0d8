/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The heartbeat between the two nodes of a pair (docs/ha.md, "Two of
 * three"): a thread that sends this node's state to the peer every
 * lease_ms/10 over the core side and hears the peer's. It lets the active
 * node go on acting while Redis is unreachable, but only while the peer
 * confirms that it neither acts nor will take the lease:
 *
 * - every heartbeat has a sequence number; a standby (or fenced) node
 *   echoes the last one it heard, and promises not to take the lease, nor
 *   act, until it has heard no "active" heartbeat for NP_PEER_DEAD(lease)
 *   ms (np_peer_take() checks that and stops the echoes in one step);
 * - the active node sent the echoed heartbeat at T: the peer heard it
 *   later, so it keeps its promise until T + NP_PEER_DEAD at least. With
 *   Redis unreachable the node acts until the later of that and its
 *   lease's end at Redis, less a margin (NP_PEER_MARGIN) for the clocks.
 *
 * Every datagram carries a MAC (heartbeat_key) and is taken once, and only
 * if it is fresh (beat.h): a datagram forged, altered, played back or
 * refused for any reason changes nothing here but a counter.
 *
 * Nothing here blocks the event loop: the loop tells the thread its role
 * and lease and asks, under one lock, what the thread heard.
 */
#ifndef NATPROXY_CLUSTER_PEER_H
#define NATPROXY_CLUSTER_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/beat.h"
#include "config.h"

/* ms, from the lease's time to live: how often a heartbeat goes, how long
 * a peer's silence must last before its promise ends, and what is taken
 * off every deadline (clock rates, scheduling). */
#define NP_PEER_EVERY(lease) ((lease) / 10.0)
#define NP_PEER_DEAD(lease) ((lease) * 2.0 / 3.0)
#define NP_PEER_MARGIN(lease) ((lease) / 10.0)

/* Why a datagram on the heartbeat's socket was refused (peer.c): not from
 * the peer's address, name or share; damaged; a wrong MAC; a SEQ already
 * heard (played back, or late); a new BOOT that acks nothing we sent
 * lately (played back from an earlier run, or the first beats after a
 * restart, before the two have heard each other). */
enum np_peer_refusal {
	NP_PEER_REFUSED_SENDER,
	NP_PEER_REFUSED_FORMAT,
	NP_PEER_REFUSED_MAC,
	NP_PEER_REFUSED_REPLAY,
	NP_PEER_REFUSED_STALE,
	NP_PEER_REFUSED_MAX
};

extern const char *const np_peer_refusal_names[NP_PEER_REFUSED_MAX];

struct np_peer_stats {
	uint64_t sent, heard, bad; /* bad: refused, all reasons */
	uint64_t refused[NP_PEER_REFUSED_MAX];
	enum np_peer_state peer; /* as last heard (UNHEARD when silent) */
	double echo_until; /* CLOCK_MONOTONIC ms: the peer's promise ends */
};

struct np_peer;

/* The socket bound to cfg->heartbeat and the thread; -errno. */
int np_peer_start(struct np_peer **out, const struct np_cluster_config *cfg);
void np_peer_stop(struct np_peer *p);

/*
 * The loop's view, for the heartbeats: what it is (STANDBY or FENCED:
 * yields, echoes; ACTIVE; TAKING, after np_peer_take(); ISOLATED), and
 * until when the lease is ours at Redis for sure (CLOCK_MONOTONIC ms).
 */
void np_peer_set(struct np_peer *p, enum np_peer_state mine,
		 double lease_until);
/* Whether this node may act now: active, and within its lease or the
 * peer's promise, less the margin. Also what its heartbeats say. */
bool np_peer_acting(struct np_peer *p, double now);
/* Whether the peer said "active" within NP_PEER_DEAD. */
bool np_peer_active(struct np_peer *p, double now);
/* Before taking the lease or acting: false if the peer said "active"
 * within NP_PEER_DEAD; otherwise stops yielding (no more echoes), in the
 * same step, and true. */
bool np_peer_take(struct np_peer *p, double now);
void np_peer_stats(struct np_peer *p, double now, struct np_peer_stats *out);

#endif
