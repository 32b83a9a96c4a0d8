/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The media totals of a metrics scrape, read off natproxyd's loop. A scrape
 * sums every live flow's counters (np_flow_totals: the flow maps and the
 * counter slots read whole); at ten thousand calls that held the loop for
 * one turn of 170 ms (bench/standby.sh), and every SIP answer waited. Here
 * a thread of its own does the reads, the loop only takes what it needs
 * from the proxy when the read begins (which relay ports are in use, and
 * what ended flows left, np_realm_media) and adds the two up when it ends.
 *
 * A flow that ends while the thread reads is counted live (read before it
 * went) or not at all (after): never twice, so a total is never above what
 * the flows counted. What a read misses so is in the next one (the flow's
 * final counts are in np_realm_media by then); a total is never published
 * below the last one (counters only grow), and once no flow ends during a
 * read, it is exact (tests/e2e/metrics.sh checks it against the charging
 * records).
 */
#ifndef NATPROXY_METRICS_READ_H
#define NATPROXY_METRICS_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "pins.h"

struct np_metrics_read;

/* A thread reading maps (kept open, and where it is, by the caller while
 * it runs); its eventfd, readable
 * when a read is done, in *fd. 0 or -errno. */
int np_metrics_read_start(struct np_metrics_read **out, const struct np_maps *maps,
			  size_t n_realms, int *fd);
/* Waits for a read under way; NULL is fine. */
void np_metrics_read_stop(struct np_metrics_read *r);

/*
 * A read of core's media totals that begins after now: its number. One
 * begins now if none is under way (the flows queued must be in the maps
 * first); else the next begins when this one is done (np_metrics_read_done).
 */
uint64_t np_metrics_read_begin(struct np_metrics_read *r,
			       const struct np_core *core);
/*
 * After the eventfd: the read done, its totals (n_realms of them, each
 * the larger of it and the last) to *totals and its number returned; a
 * read asked for meanwhile begins. 0: none done.
 */
uint64_t np_metrics_read_done(struct np_metrics_read *r,
			      const struct np_core *core,
			      const struct np_counters **totals);

/* Each count of a at least b's (a counter never goes back). Pure. */
void np_counters_floor(struct np_counters *a, const struct np_counters *b);

#endif
