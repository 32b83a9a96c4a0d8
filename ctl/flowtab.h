/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Flow entries and their counters in the pinned maps: the one place that
 * writes what the XDP relay reads, shared by natproxyctl and natproxyd.
 */
#ifndef NATPROXY_FLOWTAB_H
#define NATPROXY_FLOWTAB_H

#include <stdbool.h>

#include "natproxy.h"
#include "pins.h"

/*
 * Installs (or replaces) a flow. A new flow claims a free slot, its
 * counters starting at zero; a replaced one keeps its slot and counters.
 * -ENOSPC when every slot is taken.
 */
int np_flow_install(const struct np_maps *maps, const struct np_flow_key *key,
		    const struct np_flow *flow);
/*
 * Removes a flow and, after it can no longer match, reads its final
 * counters into last (may be NULL) and removes them too. -ENOENT if absent.
 */
int np_flow_remove(const struct np_maps *maps, const struct np_flow_key *key,
		   struct np_counters *last);
int np_flow_get(const struct np_maps *maps, const struct np_flow_key *key,
		struct np_flow *flow);
/* Sums the per-CPU copies: counts add up, first/last seen are min/max. */
/* Adds b to a (counts, drops; last_seen_ns the later, first_seen_ns
 * left). Pure. */
void np_counters_add(struct np_counters *a, const struct np_counters *b);
int np_counters_read(const struct np_maps *maps,
		     const struct np_flow_key *key, struct np_counters *sum);
/* Sums the per-CPU verdict counters into out[NP_V_MAX]. */
int np_verdicts_read(const struct np_maps *maps, __u64 *out);

/*
 * Releases slots claimed for flows that do not exist (or hold another
 * slot): what a process that died between claim and install leaves.
 * Only while no one else installs flows (natproxyd at start). The number
 * released, or -errno.
 */
int np_slots_reconcile(const struct np_maps *maps);

typedef int (*np_flow_visit_fn)(const struct np_flow_key *key,
				const struct np_flow *flow,
				const struct np_counters *counters, void *arg);
/* Calls visit for every flow; stops early on a non-zero return. */
int np_flow_foreach(const struct np_maps *maps, np_flow_visit_fn visit,
		    void *arg);

/* The class (0..n-1) a flow's counters go to in np_flow_totals, or -1:
 * not counted. */
typedef int (*np_flow_class_fn)(const struct np_flow_key *key, void *arg);
/*
 * Sums the counters of every flow into out[cls(key)] (n_out < 255), as
 * np_counters_read would for each, with batched reads: the flow maps
 * whole, then the counter slots in use (metrics scrapes). 0 or -errno.
 */
int np_flow_totals(const struct np_maps *maps, np_flow_class_fn cls,
		   void *arg, struct np_counters *out, size_t n_out);

/*
 * The write queue: a process's flow writes of one turn of its event loop,
 * put into the maps together (np_flowq_flush) with batched system calls
 * (bpf_map_update_batch, bpf_map_delete_batch) instead of four to six
 * calls per flow. Reads go through it: a flow written in the turn reads as
 * written, and a flow read once in the turn is not read again (its entry
 * is what the install keeps counters, slot and latch state from; a flow
 * not read in the turn is read by the flush). The
 * owner must flush before anything that depends on the flows leaves it
 * (natproxyd: before every datagram it sends, so the flows of an SDP are
 * in the maps before that SDP is) and at the end of every turn.
 * Removal is at once, not queued: it returns the final counters, and
 * cancels a write of the same key still queued (order is kept per key).
 * The slot of a flow removed from the array stays the queue's (a lease,
 * see flowtab.c) for the next flow of the same key: no claim and no
 * release per flow; np_flowq_free gives leases back.
 */
struct np_flowq;

struct np_flowq_stats {
	unsigned long long installs; /* flows written by flushes */
	unsigned long long failed; /* ... that could not be (no slot, ...) */
	unsigned long long flushes; /* flushes with something to write */
	unsigned long long syscalls; /* bpf() calls made through the queue */
	unsigned long long lease_takes; /* new flows that took a leased slot */
};

struct np_flowq *np_flowq_new(const struct np_maps *maps);
void np_flowq_free(struct np_flowq *q);
/* Queues an install (as np_flow_install). A flow known to be new claims
 * its slot now: -ENOSPC when every slot is taken, as np_flow_install
 * says; other errors come from the flush. */
int np_flowq_install(struct np_flowq *q, const struct np_flow_key *key,
		     const struct np_flow *flow);
/* The same for a key the caller knows has no flow (a relay port it just
 * took from its pool): the flush does not look first. Were there one
 * after all, it is replaced and its slot left to np_slots_reconcile. */
int np_flowq_install_new(struct np_flowq *q, const struct np_flow_key *key,
			 const struct np_flow *flow);
/* As np_flow_get, seeing the queue. */
int np_flowq_get(struct np_flowq *q, const struct np_flow_key *key,
		 struct np_flow *flow);
/* As np_flow_remove (at once), dropping any queued write of key. */
int np_flowq_remove(struct np_flowq *q, const struct np_flow_key *key,
		    struct np_counters *last);
/*
 * np_flowq_remove of n keys (a call's flows at its end): err[i] and last[i]
 * as it gives them, the counters of slots close together (a call's RTP
 * and RTCP) read in one batch.
 */
void np_flowq_remove_n(struct np_flowq *q, const struct np_flow_key *keys,
		       size_t n, struct np_counters *last, int *err);
/* As np_counters_read; a flow only queued has none (-ENOENT). */
int np_flowq_counters(struct np_flowq *q, const struct np_flow_key *key,
		      struct np_counters *sum);
/* True when a flush has something to do. */
bool np_flowq_pending(const struct np_flowq *q);
/*
 * Writes what is queued, in the order it was queued (per map), and
 * forgets the turn's reads. The number of flows that could not be
 * written (np_flowq_last_failure names the last), or 0.
 */
int np_flowq_flush(struct np_flowq *q);
/* The key of the last flow a flush could not write, and why (-errno). */
int np_flowq_last_failure(const struct np_flowq *q, struct np_flow_key *key);
void np_flowq_stats(const struct np_flowq *q, struct np_flowq_stats *st);

#endif
