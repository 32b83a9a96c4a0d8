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
 * Nothing here blocks the event loop: the loop tells the thread its role
 * and lease and asks, under one lock, what the thread heard.
 */
#ifndef NATPROXY_CLUSTER_PEER_H
#define NATPROXY_CLUSTER_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* ms, from the lease's time to live: how often a heartbeat goes, how long
 * a peer's silence must last before its promise ends, and what is taken
 * off every deadline (clock rates, scheduling). */
#define NP_PEER_EVERY(lease) ((lease) / 10.0)
#define NP_PEER_DEAD(lease) ((lease) * 2.0 / 3.0)
#define NP_PEER_MARGIN(lease) ((lease) / 10.0)

/* What a node says of itself in its heartbeats. */
enum np_peer_state {
	NP_PEER_UNHEARD, /* nothing heard for NP_PEER_DEAD */
	NP_PEER_STANDBY, /* acts on nothing, yields the lease */
	NP_PEER_ACTIVE, /* acts */
	NP_PEER_TAKING, /* standby about to take the lease: yields nothing */
	NP_PEER_FENCED,
	NP_PEER_ISOLATED, /* was active, lost Redis and its peer: acts on nothing */
	NP_PEER_MAX
};

extern const char *const np_peer_state_names[NP_PEER_MAX];

struct np_peer_stats {
	uint64_t sent, heard, bad;
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

/* Pure, for the tests: a heartbeat's text and its parse. */
int np_peer_format(char *buf, size_t len, const char *node, const char *share,
		   enum np_peer_state state, uint64_t seq, uint64_t echo);
struct np_peer_msg {
	char node[NP_CLUSTER_NAME_MAX], share[NP_CLUSTER_NAME_MAX];
	enum np_peer_state state;
	uint64_t seq, echo;
};
int np_peer_parse(const char *buf, size_t len, struct np_peer_msg *m);

#endif
