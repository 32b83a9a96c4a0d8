/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The active node's live calls, to its media hash (docs/ha.md): once a
 * second a pass over the terminals, in steps of a few ms of work each (the
 * loop's other work goes between them), writing only the calls whose text
 * (live.h: counters and latches) changed since it was last written. Before
 * this, one turn of the loop read every call's flows and wrote every call:
 * 300-370 ms a second at ten thousand calls.
 */
#ifndef NATPROXY_CLUSTER_LIVEPUB_H
#define NATPROXY_CLUSTER_LIVEPUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/live.h"
#include "core/core.h"

#define NP_LIVEPUB_BATCH 500 /* fields handed over at once (one HSET) */

/* Fields to write: n keys and texts (n may be 0 at a pass's end: the
 * hash's TTL is renewed then all the same). The texts are the callee's
 * to free. last: the pass's end. */
typedef void (*np_livepub_out)(void *arg, char (*keys)[NP_LIVE_KEY_MAX],
			       char **texts, size_t n, bool last);

struct np_livepub_stats {
	uint64_t passes, calls_read, calls_written, steps;
	double longest_step_ms;
};

struct np_livepub;

struct np_livepub *np_livepub_new(void);
void np_livepub_free(struct np_livepub *lp);
/* Whether a terminal's calls are this pass's (a scale-out share's own). */
typedef bool (*np_livepub_keep)(const void *arg, const struct np_term *t);

/*
 * Starts a pass over the terminals as they are now (those keep takes;
 * keep NULL: all), unless one is still running. epoch: when it differs
 * from the last pass's, what was written is forgotten and every call
 * written again (Redis may have lost it, or another node wrote over it).
 */
void np_livepub_begin(struct np_livepub *lp, struct np_core *core,
		      uint64_t epoch, np_livepub_keep keep,
		      const void *keep_arg);
/* Drops the pass running, if any (no longer active). */
void np_livepub_stop(struct np_livepub *lp);
/* One step of the pass: its calls for up to budget_ms, the changed ones
 * to out. true: some are left (call again soon). */
bool np_livepub_step(struct np_livepub *lp, struct np_core *core,
		     double budget_ms, np_livepub_out out, void *arg);
void np_livepub_stats(const struct np_livepub *lp,
		      struct np_livepub_stats *out);

#endif
