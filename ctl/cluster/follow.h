/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A standby's copy of the active node's state (docs/ha.md): the entries
 * of the active node's journal stream applied in order to our proxy, so
 * that its terminals, gateways, registrations and calls are ours too, and
 * the calls' flows are in our maps. A terminal's (or gateway's) record
 * replaces that terminal with its calls; a call record replaces (or adds)
 * that one call of it, a call tombstone removes it; a tombstone removes
 * the terminal; a snapshot is every record again, and what it does not
 * name is removed.
 * Nothing is billed here: the active node bills what it ends.
 *
 * The event loop must not stall on a snapshot of ten thousand calls (the
 * active node writes one at each compaction, and again after a Redis
 * outage): entries are queued and applied a record at a time, for a
 * bounded time per call of np_follower_step(), later entries waiting
 * their turn; and a record the same as the one a terminal was last
 * copied from (its hash, np_term.copied_from) is passed over, its calls
 * and flows left as they are.
 */
#ifndef NATPROXY_CLUSTER_FOLLOW_H
#define NATPROXY_CLUSTER_FOLLOW_H

#include <stdbool.h>
#include <time.h>

#include "proxy.h"

/* ms: how long one step applies records before it gives the loop back. */
#define NP_FOLLOW_STEP_MS 2

struct np_follow_report {
	/* Records copied, passed over (the same as held), their calls
	 * copied; tombstones, and terminals a snapshot no longer named;
	 * records damaged, records or calls that could not be copied. */
	unsigned int terms, unchanged, calls, gone, swept, bad, failed;
	/* Call tombstones applied (a journal's "call-gone"). */
	unsigned int calls_gone;
	/* Records of another share's terminals, passed over (scale-out). */
	unsigned int other;
};

struct np_follower;

/* realms: the share followed (bit i: realms[i]); 0: every realm (a pair
 * of nodes). Only its terminals are copied, and swept after a snapshot:
 * a scale-out node follows several shares, each with its follower. */
int np_follower_new(struct np_follower **out, struct np_proxy *px,
		    uint64_t realms);
void np_follower_free(struct np_follower *fl);

/*
 * Queues one entry (text: checked lines, taken over: freed by the
 * follower). shift: seconds to add to its times (CLOCK_MONOTONIC of the
 * writer, made ours).
 */
void np_follower_push(struct np_follower *fl, bool snapshot, char *text,
		      size_t len, time_t shift);

/*
 * Applies queued entries, at least one record, until budget_ms passed;
 * what was done added to rep. true while entries are left (call again
 * soon). -ENOMEM on a record is counted in rep->failed.
 */
bool np_follower_step(struct np_follower *fl, time_t now, double budget_ms,
		      struct np_follow_report *rep);

/* Everything queued applied at once (before a takeover). */
void np_follower_drain(struct np_follower *fl, time_t now,
		       struct np_follow_report *rep);

bool np_follower_busy(const struct np_follower *fl);

/* Whether pair's terminals belong to the share of realms (0: every
 * realm): its first (access) realm is one of them. Pure. */
bool np_follow_pair_in(const struct np_config *cfg, uint64_t realms,
		       size_t pair);
/* The pair a unit of the state text names (its first line: term, orphan,
 * gw, gone, orphan-gone); -ENOENT for lines that name none (commit,
 * end...), -EINVAL if damaged. Pure. */
int np_follow_unit_pair(const char *p, size_t n, size_t *pair);

/* The units of text (len bytes) of realms' share (0: all) and those that
 * name no pair (header, commit), copied to out (len bytes at least): a
 * share's part of the node's journal, for its stream. Its length. The
 * "end" and "commit" lines keep the journal's counts (a follower does not
 * check them). Pure. */
size_t np_follow_filter(const struct np_config *cfg, uint64_t realms,
			const char *text, size_t len, char *out);

/* Every terminal of ours dropped, calls and flows with them, no record. */
void np_follow_forget_all(struct np_proxy *px);

#endif
