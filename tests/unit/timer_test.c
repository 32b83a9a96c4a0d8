// SPDX-License-Identifier: GPL-2.0-only
/*
 * The timers (ctl/core/timer.c): a list per second for the near ones, a
 * heap for the later ones. Checked against a plain array of due times:
 * each tick takes exactly the timers due (none early, none left), through
 * moves between the lists and the heap, cancels, dues already past, a
 * jump of the clock far ahead and a drain of every timer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "tap.h"

#define N 2000

static struct np_timer timers[N];
static time_t model[N]; /* 0: not set */

static unsigned int rnd(void)
{
	static unsigned long long x = 88172645463325252ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (unsigned int)(x >> 11);
}

/* Takes every timer due at now; false if one was not due, not set, or
 * one due was left. */
static bool tick(struct np_timers *h, time_t now, size_t *taken)
{
	struct np_timer *tm;
	bool ok = true;
	size_t i;

	while ((tm = np_timer_take(h, now))) {
		i = (size_t)(tm - timers);
		if (!model[i] || model[i] > now || np_timer_set_p(tm))
			ok = false;
		model[i] = 0;
		(*taken)++;
	}
	for (i = 0; i < N; i++)
		if (model[i] && model[i] <= now)
			ok = false;
	return ok;
}

int main(void)
{
	struct tap t = { 0 };
	struct np_timers h;
	time_t now = 1000000;
	size_t i, taken = 0, in_wheel = 0, in_heap = 0;
	bool ok = true, set_ok = true;
	int round, k;

	memset(&h, 0, sizeof(h));
	tap_check(&t, !np_timers_reserve(&h, N), "reserve room for %d", N);
	ok = tick(&h, now, &taken);
	for (round = 0; round < 400; round++) {
		for (k = 0; k < 50; k++) {
			i = rnd() % N;
			switch (rnd() % 5) {
			case 0: /* cancel */
				np_timer_cancel(&h, &timers[i]);
				model[i] = 0;
				break;
			case 1: /* far: the heap */
				model[i] = now + 100 + rnd() % 500;
				set_ok &= !np_timer_set(&h, &timers[i],
							model[i]);
				break;
			case 2: /* already past: due at the next tick */
				model[i] = now - (time_t)(rnd() % 5);
				set_ok &= !np_timer_set(&h, &timers[i],
							model[i]);
				break;
			default: /* near: the lists */
				model[i] = now + 1 + rnd() % 70;
				set_ok &= !np_timer_set(&h, &timers[i],
							model[i]);
			}
			in_wheel += timers[i].slot == NP_TIMER_IN_WHEEL;
			in_heap += timers[i].slot &&
				   timers[i].slot != NP_TIMER_IN_WHEEL;
		}
		now += round % 97 == 96 ? 5000 : 1 + rnd() % 3;
		ok &= tick(&h, now, &taken);
	}
	tap_check(&t, set_ok, "every set succeeds");
	tap_check(&t, ok && taken > 1000,
		  "every tick takes exactly the timers due (%zu taken)", taken);
	tap_check(&t, in_wheel > 1000 && in_heap > 1000,
		  "near timers go to the lists, later ones to the heap (%zu, "
		  "%zu)", in_wheel, in_heap);
	for (i = 0; i < N; i++)
		np_timer_cancel(&h, &timers[i]);
	tap_check(&t, !h.n && !h.n_wheel && !np_timer_take(&h, now + 1000),
		  "all cancelled: nothing left, nothing taken");

	/* A terminal woken for the next tick while due later: moved to the
	 * next second's list, taken there, not again. */
	now += 2000; /* past the take above: time only goes forward */
	np_timer_take(&h, now);
	np_timer_set(&h, &timers[0], now + 500);
	np_timer_set(&h, &timers[0], now + 1);
	tap_check(&t, timers[0].slot == NP_TIMER_IN_WHEEL && h.n == 0 &&
			      !np_timer_take(&h, now) &&
			      np_timer_take(&h, now + 1) == &timers[0] &&
			      !np_timer_take(&h, now + 1000),
		  "a heap timer moved near: taken once, at its second");

	/* A drain (NP_TIMER_ALL, the quarantine's at the end) takes the lists'
	 * and the heap's, and leaves the timers as they were: base was once
	 * set past the largest time_t, a signed overflow (UBSan, make fuzz). */
	now += 2000; /* past the takes above */
	np_timer_take(&h, now); /* a tick: the lists' seconds start at now + 1 */
	np_timer_set(&h, &timers[1], now + 3);
	np_timer_set(&h, &timers[2], now + 400);
	taken = 0;
	while (np_timer_take(&h, NP_TIMER_ALL))
		taken++;
	ok = !h.n && !h.n_wheel;
	np_timer_set(&h, &timers[3], now + 5);
	tap_check(&t, taken == 2 && ok &&
			      timers[3].slot == NP_TIMER_IN_WHEEL &&
			      !np_timer_take(&h, now + 4) &&
			      np_timer_take(&h, now + 5) == &timers[3],
		  "a drain takes lists and heap (%zu), and later timers still "
		  "go to the lists", taken);
	np_timers_fini(&h);
	return tap_done(&t);
}
