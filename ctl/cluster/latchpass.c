// SPDX-License-Identifier: GPL-2.0-only
/* The peer's media hash as read and as applied, a step at a time
 * (latchpass.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cluster/latchpass.h"
#include "cluster/live.h"

/* Fields compared between two looks at the clock when none differs. */
#define COMPARED_PER_LOOK 256

static int field_cmp(const void *a, const void *b)
{
	const struct np_redis_field *x = a, *y = b;

	return strcmp(x->key, y->key);
}

void np_latchpass_init(struct np_latchpass *lp)
{
	memset(lp, 0, sizeof(*lp));
}

void np_latchpass_free(struct np_latchpass *lp)
{
	np_redis_fields_free(lp->fields, lp->n_fields);
	np_redis_fields_free(lp->held, lp->n_held);
	np_latchpass_init(lp);
}

/*
 * What the flows hold mid-pass, as one sorted read: the fields passed
 * (fields[0..next)) and, after the last of them, the read held before;
 * the fields not reached and the held ones passed over are freed. Their
 * texts move, not copied. 0, or -1 without memory (nothing changed).
 */
static int hold_passed(struct np_latchpass *lp)
{
	const char *last = lp->next ? lp->fields[lp->next - 1].key : NULL;
	struct np_redis_field *held;
	size_t from = 0, n, i;

	while (last && from < lp->n_held &&
	       strcmp(lp->held[from].key, last) <= 0)
		from++;
	n = lp->next + lp->n_held - from;
	held = malloc((n ? n : 1) * sizeof(*held));
	if (!held)
		return -1;
	for (i = 0; i < lp->next; i++) {
		held[i] = lp->fields[i];
		lp->fields[i].key = lp->fields[i].value = NULL;
	}
	for (i = from; i < lp->n_held; i++) {
		held[lp->next + i - from] = lp->held[i];
		lp->held[i].key = lp->held[i].value = NULL;
	}
	np_redis_fields_free(lp->fields, lp->n_fields);
	np_redis_fields_free(lp->held, lp->n_held);
	lp->fields = NULL;
	lp->n_fields = 0;
	lp->held = held;
	lp->n_held = n;
	return 0;
}

/* Whether fields are in key order already (the Redis thread sorts them). */
static bool sorted(const struct np_redis_field *f, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (strcmp(f[i - 1].key, f[i].key) > 0)
			return false;
	return true;
}

void np_latchpass_read(struct np_latchpass *lp, struct np_redis_field *fields,
		       size_t n, bool pass)
{
	if (!sorted(fields, n))
		qsort(fields, n, sizeof(*fields), field_cmp);
	if (lp->busy) {
		/* Without memory for the merge, the flows are taken to hold
		 * nothing: every field of the newest read is handed over
		 * (more work, no latch lost). */
		if (hold_passed(lp)) {
			np_redis_fields_free(lp->fields, lp->n_fields);
			np_redis_fields_free(lp->held, lp->n_held);
			lp->held = NULL;
			lp->n_held = 0;
		}
	} else if (pass) {
		lp->held = lp->fields;
		lp->n_held = lp->n_fields;
		lp->busy = true;
	} else {
		np_redis_fields_free(lp->fields, lp->n_fields);
	}
	lp->fields = fields;
	lp->n_fields = n;
	lp->next = lp->held_next = 0;
}

const char *np_latchpass_field(const struct np_latchpass *lp, const char *key)
{
	struct np_redis_field k = { (char *)key, NULL }, *f;

	if (!lp->n_fields)
		return NULL;
	f = bsearch(&k, lp->fields, lp->n_fields, sizeof(k), field_cmp);
	return f ? f->value : NULL;
}

bool np_latchpass_step(struct np_latchpass *lp, double budget_ms,
		       np_latchpass_apply_fn apply, void *arg)
{
	double until = np_now_ms() + budget_ms;
	size_t compared = 0;
	bool handed;
	int c;

	while (lp->busy && lp->next < lp->n_fields) {
		const struct np_redis_field *f = &lp->fields[lp->next];
		const struct np_redis_field *h = NULL;

		while (lp->held_next < lp->n_held &&
		       (c = strcmp(lp->held[lp->held_next].key, f->key)) <= 0) {
			if (!c)
				h = &lp->held[lp->held_next];
			lp->held_next++;
		}
		lp->next++;
		compared++;
		handed = !h || !np_live_same_latches(h->value, f->value);
		if (handed)
			apply(arg, f->key, f->value);
		if (budget_ms >= 0 && lp->next < lp->n_fields &&
		    (handed || compared % COMPARED_PER_LOOK == 0) &&
		    np_now_ms() >= until)
			return true;
	}
	np_redis_fields_free(lp->held, lp->n_held);
	lp->held = NULL;
	lp->n_held = lp->next = lp->held_next = 0;
	lp->busy = false;
	return false;
}

bool np_latchpass_busy(const struct np_latchpass *lp)
{
	return lp->busy;
}
