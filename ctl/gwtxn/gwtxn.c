// SPDX-License-Identifier: GPL-2.0-only
/*
 * The gateway drivers' transaction table (gwtxn.h): a list of every
 * transaction, for expiry and walks, and two chained hash tables, one on
 * (gateway, sender's id), one on our id, doubled when they hold twice as
 * many transactions as buckets.
 */
#include "gwtxn/gwtxn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS_MIN 64

static size_t mix(uint64_t v)
{
	/* A 64-bit finaliser (splitmix64's): every input bit moves the
	 * bucket. */
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ull;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebull;
	v ^= v >> 31;
	return (size_t)v;
}

static size_t in_slot(const struct np_gwtxn_table *tab, const void *t,
		      uint32_t id)
{
	return mix((uint64_t)(uintptr_t)t * 31 + id) & (tab->n_buckets - 1);
}

static size_t out_slot(const struct np_gwtxn_table *tab, uint32_t id)
{
	return mix(id) & (tab->n_buckets - 1);
}

static void link_hashes(struct np_gwtxn_table *tab, struct np_gwtxn *x)
{
	size_t i = in_slot(tab, x->t, x->in_id), o = out_slot(tab, x->out_id);

	x->in_next = tab->by_in[i];
	tab->by_in[i] = x;
	x->out_next = tab->by_out[o];
	tab->by_out[o] = x;
}

static int buckets_alloc(struct np_gwtxn_table *tab, size_t n)
{
	struct np_gwtxn **in = calloc(n, sizeof(*in));
	struct np_gwtxn **out = calloc(n, sizeof(*out));
	struct np_gwtxn *x;

	if (!in || !out) {
		free(in);
		free(out);
		return -ENOMEM;
	}
	free(tab->by_in);
	free(tab->by_out);
	tab->by_in = in;
	tab->by_out = out;
	tab->n_buckets = n;
	for (x = tab->all; x; x = x->all_next)
		link_hashes(tab, x);
	return 0;
}

int np_gwtxn_init(struct np_gwtxn_table *tab, uint32_t first_id,
		  uint32_t id_max)
{
	memset(tab, 0, sizeof(*tab));
	tab->next_id = first_id < id_max ? first_id : 0;
	tab->id_max = id_max;
	return buckets_alloc(tab, BUCKETS_MIN);
}

uint32_t np_gwtxn_first_id(double wall)
{
	return (uint32_t)((uint64_t)wall % 100000) * 1000;
}

void np_gwtxn_fini(struct np_gwtxn_table *tab)
{
	np_gwtxn_drop(tab, NULL);
	free(tab->by_in);
	free(tab->by_out);
	tab->by_in = tab->by_out = NULL;
	tab->n_buckets = 0;
}

static bool out_used(const struct np_gwtxn_table *tab, uint32_t id)
{
	const struct np_gwtxn *x;

	for (x = tab->by_out[out_slot(tab, id)]; x; x = x->out_next)
		if (x->out_id == id)
			return true;
	return false;
}

struct np_gwtxn *np_gwtxn_new(struct np_gwtxn_table *tab, size_t size, int dir,
			      bool to_gw, const void *t, uint32_t in_id,
			      uint32_t *open, time_t now)
{
	struct np_gwtxn *x;

	if (size < sizeof(*x) || tab->count >= tab->id_max)
		return NULL;
	/* Grown before it is needed; a failure only makes chains longer. */
	if (tab->count + 1 > 2 * tab->n_buckets)
		buckets_alloc(tab, 2 * tab->n_buckets);
	x = calloc(1, size);
	if (!x)
		return NULL;
	x->dir = dir;
	x->to_gw = to_gw;
	x->t = t;
	x->in_id = in_id;
	x->created = now;
	x->open = open;
	if (open)
		(*open)++;
	do {
		if (++tab->next_id > tab->id_max || !tab->next_id)
			tab->next_id = 1;
	} while (out_used(tab, tab->next_id));
	x->out_id = tab->next_id;
	x->all_next = tab->all;
	if (tab->all)
		tab->all->all_pprev = &x->all_next;
	x->all_pprev = &tab->all;
	tab->all = x;
	link_hashes(tab, x);
	tab->count++;
	return x;
}

struct np_gwtxn *np_gwtxn_by_in(const struct np_gwtxn_table *tab, int dir,
				const void *t, uint32_t in_id)
{
	struct np_gwtxn *x;

	for (x = tab->by_in[in_slot(tab, t, in_id)]; x; x = x->in_next)
		if (x->dir == dir && x->t == t && x->in_id == in_id)
			return x;
	return NULL;
}

struct np_gwtxn *np_gwtxn_by_out(const struct np_gwtxn_table *tab, bool to_gw,
				 const void *t, uint32_t out_id)
{
	struct np_gwtxn *x;

	for (x = tab->by_out[out_slot(tab, out_id)]; x; x = x->out_next)
		if (x->to_gw == to_gw && x->t == t && x->out_id == out_id)
			return x;
	return NULL;
}

struct np_gwtxn *np_gwtxn_next(const struct np_gwtxn_table *tab,
			       const struct np_gwtxn *x)
{
	return x ? x->all_next : tab->all;
}

void np_gwtxn_replied(struct np_gwtxn *x, char *resp, size_t len, time_t now)
{
	free(x->resp);
	x->resp = resp;
	x->resp_len = len;
	x->done = now;
}

static void unchain(struct np_gwtxn **head, struct np_gwtxn *x, bool in)
{
	struct np_gwtxn **p;

	for (p = head; *p; p = in ? &(*p)->in_next : &(*p)->out_next)
		if (*p == x) {
			*p = in ? x->in_next : x->out_next;
			return;
		}
}

void np_gwtxn_free(struct np_gwtxn_table *tab, struct np_gwtxn *x)
{
	if (x->open && *x->open)
		(*x->open)--;
	unchain(&tab->by_in[in_slot(tab, x->t, x->in_id)], x, true);
	unchain(&tab->by_out[out_slot(tab, x->out_id)], x, false);
	*x->all_pprev = x->all_next;
	if (x->all_next)
		x->all_next->all_pprev = x->all_pprev;
	tab->count--;
	free(x->cmd);
	free(x->resp);
	free(x);
}

void np_gwtxn_expire(struct np_gwtxn_table *tab, time_t now, time_t hist,
		     time_t lifetime)
{
	struct np_gwtxn *x, *next;

	for (x = tab->all; x; x = next) {
		next = x->all_next;
		if ((x->done && now - x->done >= hist) ||
		    (!x->done && now - x->created >= lifetime))
			np_gwtxn_free(tab, x);
	}
}

void np_gwtxn_drop(struct np_gwtxn_table *tab, const void *t)
{
	struct np_gwtxn *x, *next;

	for (x = tab->all; x; x = next) {
		next = x->all_next;
		if (!t || x->t == t)
			np_gwtxn_free(tab, x);
	}
}

uint64_t np_gwtxn_hash(const char *text, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--) {
		h ^= (unsigned char)*text++;
		h *= 0x100000001b3ull;
	}
	return h;
}
