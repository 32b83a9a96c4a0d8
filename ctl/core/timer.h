/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Timers by due time (seconds): the tick takes only what is due, instead
 * of walking everything it might have to do something for. A timer is
 * embedded in what it times (a terminal, a quarantined port) and knows
 * where it is, so it is moved or cancelled without a search. Those due
 * within NP_TIMER_WHEEL seconds of the last take (a terminal woken for the
 * next tick, a keepalive) are in a list per second, set and taken in O(1);
 * later ones in a binary min-heap by due time, O(log n). The heap alone
 * cost a registration burst a quarter of the loop: each of thousands of
 * new terminals a second went up to its top, to be taken off at the next
 * tick, every level a terminal's cache line (bench/README.md, scale).
 */
#ifndef NATPROXY_CORE_TIMER_H
#define NATPROXY_CORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NP_TIMER_WHEEL 64
#define NP_TIMER_IN_WHEEL SIZE_MAX

struct np_timer {
	time_t due;
	/* Its index in the heap plus one; NP_TIMER_IN_WHEEL: in the list
	 * of its second; 0: not set. */
	size_t slot;
	struct np_timer *next, **pprev; /* in its second's list */
};

struct np_timers {
	struct np_timer **heap;
	size_t n, cap;
	/* The seconds base .. base + NP_TIMER_WHEEL - 1, each a list at
	 * wheel[second % NP_TIMER_WHEEL]; those set to a second before base
	 * are in base's (due at the next take). */
	struct np_timer *wheel[NP_TIMER_WHEEL];
	time_t base;
	size_t n_wheel;
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
 * is no room (np_timers_reserve first to make that impossible). A due
 * before the last take's now is taken at the next take. */
int np_timer_set(struct np_timers *h, struct np_timer *tm, time_t due);
void np_timer_cancel(struct np_timers *h, struct np_timer *tm);
/* A now every timer is due at, for taking them all (a drain at the end). */
#define NP_TIMER_ALL ((time_t)INT64_MAX)

/* A timer due at now (due <= now), taken off; NULL when none is (every
 * one due is taken before: in no particular order). */
struct np_timer *np_timer_take(struct np_timers *h, time_t now);

#endif
