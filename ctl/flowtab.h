/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Flow entries and their counters in the pinned maps: the one place that
 * writes what the XDP relay reads, shared by natproxyctl and natproxyd.
 */
#ifndef NATPROXY_FLOWTAB_H
#define NATPROXY_FLOWTAB_H

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

#endif
