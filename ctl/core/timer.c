// SPDX-License-Identifier: GPL-2.0-only
/*
 * Timers (timer.h): a list per second for the next NP_TIMER_WHEEL seconds,
 * a binary min-heap by due time for the later ones. Each timer holds its
 * heap slot, updated as it moves, for O(log n) moves and cancels there;
 * in a list, its link.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"

int np_timers_reserve(struct np_timers *h, size_t n)
{
	struct np_timer **p;
	size_t cap;

	if (n <= h->cap)
		return 0;
	cap = h->cap * 2 > n ? h->cap * 2 : n + 64;
	p = realloc(h->heap, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	h->heap = p;
	h->cap = cap;
	return 0;
}

/* What the heap and the lists point to may be gone already (freed without
 * a cancel on the way out): it is not touched. */
void np_timers_fini(struct np_timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
	memset(h->wheel, 0, sizeof(h->wheel));
	h->n_wheel = 0;
}

static bool near(const struct np_timers *h, time_t due)
{
	return due < h->base + NP_TIMER_WHEEL;
}

static void wheel_add(struct np_timers *h, struct np_timer *tm)
{
	struct np_timer **list =
		&h->wheel[(tm->due < h->base ? h->base : tm->due) %
			  NP_TIMER_WHEEL];

	tm->next = *list;
	if (tm->next)
		tm->next->pprev = &tm->next;
	tm->pprev = list;
	*list = tm;
	tm->slot = NP_TIMER_IN_WHEEL;
	h->n_wheel++;
}

static void wheel_remove(struct np_timers *h, struct np_timer *tm)
{
	*tm->pprev = tm->next;
	if (tm->next)
		tm->next->pprev = tm->pprev;
	tm->next = NULL;
	tm->pprev = NULL;
	tm->slot = 0;
	h->n_wheel--;
}

static void place(struct np_timers *h, size_t i, struct np_timer *tm)
{
	h->heap[i] = tm;
	tm->slot = i + 1;
}

static void sift_up(struct np_timers *h, size_t i)
{
	struct np_timer *tm = h->heap[i];

	while (i > 0 && h->heap[(i - 1) / 2]->due > tm->due) {
		place(h, i, h->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(h, i, tm);
}

static void sift_down(struct np_timers *h, size_t i)
{
	struct np_timer *tm = h->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->heap[c + 1]->due < h->heap[c]->due)
			c++;
		if (h->heap[c]->due >= tm->due)
			break;
		place(h, i, h->heap[c]);
		i = c;
	}
	place(h, i, tm);
}

static void heap_cancel(struct np_timers *h, struct np_timer *tm);

int np_timer_set(struct np_timers *h, struct np_timer *tm, time_t due)
{
	time_t was = tm->due;

	if (tm->slot == NP_TIMER_IN_WHEEL)
		wheel_remove(h, tm);
	else if (tm->slot && near(h, due))
		heap_cancel(h, tm);
	tm->due = due;
	if (near(h, due)) {
		wheel_add(h, tm);
	} else if (!tm->slot) {
		if (np_timers_reserve(h, h->n + 1))
			return -ENOMEM;
		place(h, h->n++, tm);
		sift_up(h, h->n - 1);
	} else if (due < was) {
		sift_up(h, tm->slot - 1);
	} else if (due > was) {
		sift_down(h, tm->slot - 1);
	}
	return 0;
}

static void heap_cancel(struct np_timers *h, struct np_timer *tm)
{
	size_t i = tm->slot - 1;
	struct np_timer *last;

	tm->slot = 0;
	last = h->heap[--h->n];
	if (last == tm)
		return;
	place(h, i, last);
	/* The one moved in may belong above or below its new slot. */
	if (i > 0 && h->heap[(i - 1) / 2]->due > last->due)
		sift_up(h, i);
	else
		sift_down(h, i);
}

void np_timer_cancel(struct np_timers *h, struct np_timer *tm)
{
	if (tm->slot == NP_TIMER_IN_WHEEL)
		wheel_remove(h, tm);
	else if (tm->slot)
		heap_cancel(h, tm);
}

struct np_timer *np_timer_take(struct np_timers *h, time_t now)
{
	struct np_timer *tm;

	/* The lists' seconds up to now, the earliest first (one with a timer
	 * is never passed: base stays at most the due of any in a list). */
	while (h->n_wheel && h->base <= now) {
		tm = h->wheel[h->base % NP_TIMER_WHEEL];
		if (tm) {
			wheel_remove(h, tm);
			return tm;
		}
		h->base++;
	}
	/* None in the lists: straight there; a drain (NP_TIMER_ALL) leaves
	 * base, which has no second after it. */
	if (h->base <= now && now != NP_TIMER_ALL)
		h->base = now + 1;
	if (!h->n || h->heap[0]->due > now)
		return NULL;
	tm = h->heap[0];
	heap_cancel(h, tm);
	return tm;
}
