/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A cluster node's role (docs/ha.md), decided from what it sees: whether
 * it holds the virtual addresses (keepalived moves them) and who holds
 * the lease in Redis. Pure: no I/O, so every transition is tested
 * (tests/unit/role_test.c).
 */
#ifndef NATPROXY_CLUSTER_ROLE_H
#define NATPROXY_CLUSTER_ROLE_H

#include <stdbool.h>

#include "cluster/redis.h"

enum np_role {
	NP_ROLE_STANDBY, /* follows the active node; acts on nothing */
	NP_ROLE_ACTIVE, /* serves: signaling, keepalives, charging */
	NP_ROLE_FENCED, /* lost the lease while active: stopped acting */
	/* was active; neither Redis nor the peer confirms it may still act
	 * (docs/ha.md, "Two of three"): stopped acting */
	NP_ROLE_ISOLATED,
	NP_ROLE_MAX
};

extern const char *const np_role_names[NP_ROLE_MAX];

struct np_role_view {
	bool have_addrs; /* every realm's address is on this host */
	enum np_lease_seen lease;
	/* Within the lease's time at Redis or the peer's promise (less the
	 * margin): the lease cannot be anyone else's yet. */
	bool permitted;
	/* The peer said "active" within NP_PEER_DEAD (peer.h). */
	bool peer_active;
};

struct np_role_step {
	enum np_role next;
	enum np_lease_want want; /* what to ask of the lease now */
	bool follow; /* follow the peer's stream */
};

/*
 * The next role from the current one and the view:
 * - a standby takes the lease when it has the addresses, the lease is
 *   free and the peer has not said "active" for NP_PEER_DEAD; it becomes
 *   active once Redis says the lease is its own (and the peer is still
 *   silent: else it gives the lease back); Redis unreachable, it never
 *   promotes;
 * - an active node acts while it is permitted (its lease at Redis, or,
 *   Redis unreachable, its peer's promise): two of three, itself and
 *   Redis or the peer. Neither: isolated. It gives the lease up when the
 *   addresses leave it, and is fenced the moment another node holds the
 *   lease, or, Redis unreachable, the peer says it acts;
 * - an isolated node stays isolated while Redis is unreachable (with or
 *   without the addresses: it must not look healthy to keepalived); once
 *   Redis answers it acts again if the lease is its own, is fenced if
 *   another node holds it or acts, or follows as a standby without the
 *   addresses;
 * - a fenced node stays fenced until the addresses leave it, then
 *   follows as a standby.
 * A standby follows the peer's stream only while the peer holds the
 * lease: an idle peer's stream may be stale.
 */
struct np_role_step np_role_next(enum np_role cur,
				 const struct np_role_view *v);

#endif
