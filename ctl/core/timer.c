// SPDX-License-Identifier: GPL-2.0-only
/*
 * A binary min-heap of timers by due time (timer.h). Each timer holds its
 * slot, updated as it moves, for O(log n) moves and cancels.
 */
#include <errno.h>
#include <stdlib.h>

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

/* What the heap points to may be gone already (freed without a cancel
 * on the way out): it is not touched. */
void np_timers_fini(struct np_timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
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

int np_timer_set(struct np_timers *h, struct np_timer *tm, time_t due)
{
	time_t was = tm->due;

	tm->due = due;
	if (!tm->slot) {
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

void np_timer_cancel(struct np_timers *h, struct np_timer *tm)
{
	size_t i = tm->slot - 1;
	struct np_timer *last;

	if (!tm->slot)
		return;
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

struct np_timer *np_timer_take(struct np_timers *h, time_t now)
{
	struct np_timer *tm;

	if (!h->n || h->heap[0]->due > now)
		return NULL;
	tm = h->heap[0];
	np_timer_cancel(h, tm);
	return tm;
}
