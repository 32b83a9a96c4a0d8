/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxyd as a cluster node (docs/ha.md), between the event loop and its
 * shares (share.h): a pair of nodes has one share of every realm; a
 * scale-out node (cluster.shares) one per share it takes part in, each
 * with its own role, lease, Redis link and followed stream. A datagram,
 * a terminal's tick and a call's charging ask the role of the share of
 * their realm or terminal.
 */
#ifndef NATPROXY_CLUSTER_CLUSTER_H
#define NATPROXY_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <time.h>

#include "cluster/peer.h"
#include "cluster/redis.h"
#include "cluster/role.h"
#include "proxy.h"
#include "state.h"

struct np_cluster_stats {
	enum np_role role;
	enum np_lease_seen lease;
	struct np_redis_stats redis;
	uint64_t promotions, fencings, demotions;
	uint64_t applied, apply_bad, copied_calls, taken_over, not_taken;
	uint64_t published, resyncs, dropped_input, dropped_output;
	uint64_t isolations;
	/* Records written before Redis confirmed their call's end (Redis
	 * away: their transactions reach it when it returns). */
	uint64_t records_unconfirmed;
	struct np_peer_stats peer;
	bool have_peer;
};

struct np_cluster;

/*
 * Starts the node as a standby (it acts only once it holds the addresses
 * and the lease) and hooks it to j (its replicate). health: the file it
 * writes its health to. *event_fd: for the loop's epoll (np_cluster_event).
 */
int np_cluster_start(struct np_cluster **out, const struct np_config *cfg,
		     struct np_proxy *px, struct np_journal *j,
		     const char *health, int *event_fd);
/* Gives the lease up if it holds it; stops the link. */
void np_cluster_stop(struct np_cluster *cl);

/* Whether this node acts for any share (true without a cluster). */
bool np_cluster_acting(const struct np_cluster *cl);
/* Whether it acts for the share of realm (a datagram that came there). */
bool np_cluster_acting_realm(const struct np_cluster *cl, size_t realm);
/* Whether it acts for t's share. */
bool np_cluster_acting_term(const struct np_cluster *cl,
			    const struct np_term *t);
/* Which of c's shares realm is in: 0 for a pair, -1 for none. Pure. */
int np_cluster_share_of_realm(const struct np_cluster_config *c,
			      size_t realm);
void np_cluster_event(struct np_cluster *cl, time_t now);
/* Once a second: addresses, role, counters to Redis, health. */
void np_cluster_tick(struct np_cluster *cl, time_t now);
/* Where the records of calls ended here go (the charging file): a record
 * is written once Redis has its call's end (np_cluster_charged). */
void np_cluster_records(struct np_cluster *cl,
			void (*record)(void *arg, const char *line, size_t len),
			void *arg);
/* A call ended here: its record, written through np_cluster_records'
 * hook once Redis confirmed the end, or at once when Redis is away. */
void np_cluster_charged(struct np_cluster *cl, const struct np_term *t,
			const struct np_call *call, const char *line,
			size_t len);
/* A datagram on realm not served: its share does not act. */
void np_cluster_dropped_input(struct np_cluster *cl, size_t realm);
/* n datagrams decided while acting, held back: the node no longer acts
 * (for any share). */
void np_cluster_dropped_output(struct np_cluster *cl, size_t n);
/* The first share's (a pair's only one). */
void np_cluster_stats(const struct np_cluster *cl,
		      struct np_cluster_stats *out);
size_t np_cluster_shares(const struct np_cluster *cl);
/* Share i's; its name returned. */
const char *np_cluster_share_stats(const struct np_cluster *cl, size_t i,
				   struct np_cluster_stats *out);

/* The health file beside the state file: path ".health" (a scale-out
 * share's: path ".SHARE.health"). */
int np_cluster_health_path(const char *state, char *buf, size_t len);

#endif
