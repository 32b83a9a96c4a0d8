/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxyd as one node of an active/standby pair (docs/ha.md), between
 * the event loop and the Redis link (redis.h):
 * - active: every snapshot and journal batch the state file gets also goes
 *   to its stream in Redis, in order; once a second each live call's
 *   counters and latches go to its media hash; a call's end removes its
 *   field and appends its charging record in one transaction;
 * - standby: the active node's stream is applied to our proxy as it comes
 *   (follow.h), its latches put into our flows (live.h); nothing of ours
 *   acts: no tick (keepalives, timeouts), no answer to any datagram;
 * - the role (role.h) from the virtual addresses and the lease; on taking
 *   over, the calls' counts on the old node join their records.
 * The node writes its health (role, lease, Redis) beside the state file,
 * for `natproxyctl health` (keepalived's track_script).
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

/* Whether this node acts (true without a cluster). */
bool np_cluster_acting(const struct np_cluster *cl);
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
void np_cluster_dropped_input(struct np_cluster *cl);
/* n datagrams decided while acting, held back: the node no longer acts. */
void np_cluster_dropped_output(struct np_cluster *cl, size_t n);
void np_cluster_stats(const struct np_cluster *cl,
		      struct np_cluster_stats *out);

/* The health file beside the state file: path ".health". */
int np_cluster_health_path(const char *state, char *buf, size_t len);

#endif
