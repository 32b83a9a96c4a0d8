/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One share of a cluster node (docs/ha.md): its role, its lease, its Redis
 * link and the stream it follows. A pair of nodes has one share of every
 * realm; a scale-out node (cluster.shares) one per share it takes part in,
 * each acting or standing by on its own, over the terminals whose access
 * realm is one of the share's (cluster.h joins them for the daemon).
 * - active: every snapshot and journal batch the state file gets also goes
 *   to its stream in Redis, in order; once a second each of its live calls'
 *   counters and latches go to its media hash; a call's end removes its
 *   field and appends its charging record in one transaction;
 * - standby: the stream of whoever holds the lease is applied to our proxy
 *   as it comes (follow.h), its latches put into our flows (live.h);
 *   nothing of the share acts: no tick (keepalives, timeouts), no answer;
 * - the role (role.h) from the share's virtual addresses and its lease; on
 *   taking over, the calls' counts on the old node join their records.
 * The share writes its health for `natproxyctl health`.
 */
#ifndef NATPROXY_CLUSTER_SHARE_H
#define NATPROXY_CLUSTER_SHARE_H

#include "cluster/cluster.h"

struct np_share;

/*
 * Starts share idx of cfg->cluster (a pair of nodes: idx 0, cfg->cluster
 * itself) as a standby. peer: the node's heartbeat (share idx in it), or
 * NULL. health, unfiled: its files. *event_fd: readable when its Redis
 * link has news (np_share_event).
 */
int np_share_start(struct np_share **out, const struct np_config *cfg,
		   size_t idx, struct np_proxy *px, struct np_peer *peer,
		   const char *health, const char *unfiled, int *event_fd);
void np_share_stop(struct np_share *sh);

/* The node's journal: a snapshot or a batch, to the share's stream while
 * it acts. */
void np_share_replicate(struct np_share *sh, bool snapshot, uint64_t gen,
			const char *text, size_t len);
bool np_share_acting(const struct np_share *sh);
/* Whether t is one of the share's terminals. */
bool np_share_has(const struct np_share *sh, const struct np_term *t);
const char *np_share_name(const struct np_share *sh);
/* Who holds its lease, as Redis last said ("": nobody, or unknown). */
const char *np_share_holder(const struct np_share *sh);
void np_share_event(struct np_share *sh, time_t now);
void np_share_tick(struct np_share *sh, time_t now);
void np_share_records(struct np_share *sh,
		      void (*record)(void *arg, const char *line, size_t len),
		      void *arg);
void np_share_charged(struct np_share *sh, const struct np_term *t,
		      const struct np_call *call, const char *line, size_t len);
void np_share_dropped_input(struct np_share *sh);
void np_share_dropped_output(struct np_share *sh, size_t n);
void np_share_stats(const struct np_share *sh, struct np_cluster_stats *out);

#endif
