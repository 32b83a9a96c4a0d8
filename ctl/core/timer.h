/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Timers kept in a binary min-heap by due time (seconds): the tick takes
 * only what is due, instead of walking everything it might have to do
 * something for. A timer is embedded in what it times (a terminal, a
 * quarantined port) and knows its place in the heap, so it is moved or
 * cancelled in O(log n) without a search.
 */
#ifndef NATPROXY_CORE_TIMER_H
#define NATPROXY_CORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct np_timer {
	time_t due;
	size_t slot; /* its index in the heap plus one; 0: not set */
};

struct np_timers {
	struct np_timer **heap;
	size_t n, cap;
};

/* Room for n timers in all, so that setting that many never fails (a
 * terminal is refused rather than left without its timer). 0 or -ENOMEM. */
int np_timers_reserve(struct np_timers *h, size_t n);
void np_timers_fini(struct np_timers *h);
static inline bool np_timer_set_p(const struct np_timer *tm)
{
	return tm->slot != 0;
}
/* Sets or moves tm to due; 0, or -ENOMEM when it was not set and there
 * is no room (np_timers_reserve first to make that impossible). */
int np_timer_set(struct np_timers *h, struct np_timer *tm, time_t due);
void np_timer_cancel(struct np_timers *h, struct np_timer *tm);
/* The earliest timer if it is due at now (due <= now), taken off the
 * heap; NULL when none is. */
struct np_timer *np_timer_take(struct np_timers *h, time_t now);

#endif
