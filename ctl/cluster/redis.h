/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The Redis link of a cluster node (docs/ha.md): one thread that owns the
 * connection, so that a slow or absent Redis never holds up natproxyd's
 * event loop. The loop hands it transactions to run in order (a queue with
 * a cap: past it the queue is dropped and a new snapshot asked for) and
 * what it wants of the lease; the thread hands back the lease as Redis sees
 * it, and, while following a peer, the peer's journal entries and live
 * call counters. It wakes the loop through an eventfd.
 */
#ifndef NATPROXY_CLUSTER_REDIS_H
#define NATPROXY_CLUSTER_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/sentinel.h"
#include "config.h"

/* What the loop wants done with the lease. */
enum np_lease_want {
	NP_LEASE_WATCH, /* only look: who holds it */
	NP_LEASE_TAKE, /* take it if free (SET NX PX) */
	NP_LEASE_HOLD, /* ours: renew it (or take it again if it lapsed) */
	NP_LEASE_RELEASE, /* ours: give it up */
};

/* The lease as last seen. */
enum np_lease_seen {
	NP_LEASE_UNKNOWN, /* Redis not reachable */
	NP_LEASE_FREE,
	NP_LEASE_OURS,
	NP_LEASE_OTHER,
	NP_LEASE_MAX
};

extern const char *const np_lease_names[NP_LEASE_MAX];

/*
 * The lease as a GET of its key says (holder NULL: no key). blind: the
 * key may have been lost with a Redis that went away (a failover, a
 * restart) and would not have lapsed yet: no key then is not a free
 * lease, but an unknown one. Pure.
 */
enum np_lease_seen np_lease_read(const char *holder, const char *node,
				 bool blind);

/* One entry of the peer's journal stream. */
struct np_redis_entry {
	struct np_redis_entry *next;
	bool snapshot;
	uint64_t gen;
	double mono, wall; /* the writer's clocks when it was written */
	char *data;
	size_t len;
};

/* One live call's counters and latches on the peer (its media hash). */
struct np_redis_field {
	char *key, *value;
};

struct np_redis_stats {
	uint64_t sent, failed, dropped, reconnects, entries, queue_high;
	/* Masters changed under us (Sentinel failovers followed), and
	 * servers given up because they took no writes (not a master). */
	uint64_t failovers, not_master;
	/* Transactions that left the queue, in order: answered by Redis or
	 * dropped (the queue is FIFO: the k-th queued is done once done
	 * reaches k). */
	uint64_t done;
	size_t queued;
	bool connected;
	char master[NP_REDIS_ADDR_TEXT]; /* the last one connected to */
};

struct np_redis;

/* Starts the thread; *event_fd becomes readable when there is news. */
int np_redis_start(struct np_redis **out, const struct np_cluster_config *cfg,
		   int *event_fd);
void np_redis_stop(struct np_redis *r);

/*
 * Queues one transaction (MULTI ... EXEC) of n commands, each an argv of
 * argc[i] strings (lengths in lens[i]); copied. false if the queue was full:
 * it was dropped, and np_redis_poll() says a snapshot is due.
 */
bool np_redis_queue(struct np_redis *r, size_t n, const int *argc,
		    const char *const *const *argv,
		    const size_t *const *lens);

void np_redis_want(struct np_redis *r, enum np_lease_want want);
/* Follow the peer's stream (from its start) or stop following it. */
void np_redis_follow(struct np_redis *r, bool on);

struct np_redis_news {
	enum np_lease_seen lease;
	char holder[NP_CLUSTER_NAME_MAX];
	/* CLOCK_MONOTONIC ms before which the lease is ours at Redis for
	 * sure: when the last command that took or renewed it was sent,
	 * plus its time to live (Redis counts from a later moment). It
	 * holds when Redis is gone: nobody can take the lease before. */
	double lease_until;
	bool resync; /* the queue was dropped: send a snapshot */
	struct np_redis_entry *entries; /* in order; np_redis_entries_free */
	/* The peer's media hash, when read again (n_fields, fields sorted
	 * by key: free with np_redis_fields_free); have_fields false: not
	 * read. */
	bool have_fields;
	struct np_redis_field *fields;
	size_t n_fields;
	struct np_redis_stats stats;
};

/* Clears the eventfd and takes what the thread has. */
void np_redis_poll(struct np_redis *r, struct np_redis_news *news);
void np_redis_entries_free(struct np_redis_entry *e);
void np_redis_fields_free(struct np_redis_field *f, size_t n);

/* The keys (docs/ha.md, "Redis data layout"). */
#define NP_KEY_JOURNAL "np:%s:journal" /* node */
#define NP_KEY_SNAPSHOT "np:%s:snapshot" /* node */
#define NP_KEY_MEDIA "np:%s:media" /* node */
#define NP_KEY_LEASE "np:%s:lease" /* share */
#define NP_KEY_CHARGING "np:charging"

#endif
