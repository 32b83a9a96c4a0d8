/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A standby's reads of the peer's media hash (docs/ha.md, "Replication"),
 * and the pass that puts what each read changed into our flows a bounded
 * step at a time. The hash is read every second; in a second in which
 * thousands of calls latch at once (media starting everywhere), putting
 * every call's latches in at once stalled the loop (bench/standby.sh:
 * 128-204 ms turns at ten thousand calls).
 *
 * A pass compares the newest read with what the flows hold (the last read
 * applied), field by field in key order, and hands the fields whose
 * streams or latches differ (np_live_same_latches) to the caller. A read
 * that comes while a pass is under way takes its place: what the flows
 * then hold is the fields already passed of the read being applied and,
 * for the keys not reached yet, the read before it; the new pass compares
 * the newest read with that. So no latch is lost (every field that differs
 * from what the flows hold is handed over) and none older than one handed
 * over is handed over after it (only the newest read's fields are).
 */
#ifndef NATPROXY_CLUSTER_LATCHPASS_H
#define NATPROXY_CLUSTER_LATCHPASS_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/redis.h"

struct np_latchpass {
	/* The newest read, sorted by key. */
	struct np_redis_field *fields;
	size_t n_fields;
	/* While a pass is under way (busy): the read the flows hold for the
	 * keys from fields[next] on, sorted; fields[0..next) are passed. */
	struct np_redis_field *held;
	size_t n_held, next, held_next;
	bool busy;
};

/* key's field and its text: what the pass puts into the flows. */
typedef void (*np_latchpass_apply_fn)(void *arg, const char *key,
				      const char *text);

/* An empty one (no read yet): zeroed memory is too. */
void np_latchpass_init(struct np_latchpass *lp);
void np_latchpass_free(struct np_latchpass *lp);

/*
 * A new read of the hash, fields (any order; taken over, freed here in
 * time). pass: a standby's, whose changes go into the flows (a pass
 * begins, or the one under way goes on with this read); otherwise the
 * read replaces the last one and nothing is handed over, unless a pass
 * was under way (it goes on, with this read).
 */
void np_latchpass_read(struct np_latchpass *lp, struct np_redis_field *fields,
		       size_t n, bool pass);

/* The newest read's text for key, or NULL. */
const char *np_latchpass_field(const struct np_latchpass *lp,
			       const char *key);

/*
 * One step of the pass: fields that differ handed to apply until
 * budget_ms passed (the clock is read after each field handed over, and
 * every few hundred compared; budget_ms < 0: to the end). true while
 * some are left (call again soon).
 */
bool np_latchpass_step(struct np_latchpass *lp, double budget_ms,
		       np_latchpass_apply_fn apply, void *arg);

bool np_latchpass_busy(const struct np_latchpass *lp);

#endif
