/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A standby's copy of the active node's state (docs/ha.md): the entries
 * of the active node's journal stream applied in order to our proxy, so
 * that its terminals, registrations and calls are ours too, and the calls'
 * flows are in our maps. A snapshot replaces everything; a terminal's
 * record replaces that terminal with its calls; a tombstone removes it.
 * Nothing is billed here: the active node bills what it ends.
 */
#ifndef NATPROXY_CLUSTER_FOLLOW_H
#define NATPROXY_CLUSTER_FOLLOW_H

#include <time.h>

#include "proxy.h"

struct np_follow_report {
	unsigned int terms, calls, gone, bad, failed;
};

/*
 * Applies one entry (text: checked lines). shift: seconds to add to its
 * times (CLOCK_MONOTONIC of the writer, made ours). 0, or -ENOMEM.
 */
int np_follow_apply(struct np_proxy *px, bool snapshot, const char *text,
		    size_t len, time_t shift, time_t now,
		    struct np_follow_report *rep);

/* Every terminal of ours dropped, calls and flows with them, no record. */
void np_follow_forget_all(struct np_proxy *px);

#endif
