// SPDX-License-Identifier: GPL-2.0-only
/*
 * The active node's live calls, in steps, changed ones only (livepub.h).
 *
 * A pass copies the terminals' core addresses (realm, port) when it
 * begins and finds each terminal again by them at its step: a terminal
 * gone since is passed over, one new is in the next pass (a call this
 * young may be missing from the hash anyway: cluster.c's LIVE_NEW). What
 * was written is kept as two 64-bit hashes per call, of its field's key
 * and of its text, in an open-addressed table; a call whose text hashes
 * as last time is not written. Each step hands its fields over before it
 * returns: none waits across turns of the loop, in which its call could
 * end (its end removes its field; a field written after would bring it
 * back).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cluster/livepub.h"
#include "gwtxn/gwtxn.h" /* np_gwtxn_hash: FNV-1a */

struct written {
	uint64_t key; /* 0: empty */
	uint64_t text;
	uint32_t pass; /* the last pass that saw the call */
};

struct term_at {
	size_t realm;
	uint16_t port;
};

struct np_livepub {
	struct term_at *terms;
	size_t n_terms, cap_terms, next;
	bool running, have_epoch;
	uint64_t epoch;
	uint32_t pass;
	struct written *tab;
	size_t n_tab, cap_tab; /* cap_tab: a power of two, or 0 */
	char (*keys)[NP_LIVE_KEY_MAX];
	char *texts[NP_LIVEPUB_BATCH];
	size_t n;
	struct np_livepub_stats st;
};

struct np_livepub *np_livepub_new(void)
{
	struct np_livepub *lp = calloc(1, sizeof(*lp));

	if (lp && !(lp->keys = calloc(NP_LIVEPUB_BATCH, sizeof(*lp->keys)))) {
		free(lp);
		return NULL;
	}
	return lp;
}

void np_livepub_free(struct np_livepub *lp)
{
	if (!lp)
		return;
	free(lp->terms);
	free(lp->tab);
	free(lp->keys);
	free(lp);
}

/* The slot of key in tab (its own, or the empty one it would take). */
static struct written *slot(struct written *tab, size_t cap, uint64_t key)
{
	size_t i = key & (cap - 1);

	while (tab[i].key && tab[i].key != key)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

/* The table with only the calls the pass saw (keep: that pass), in room
 * for at least want of them at half load; false on no memory. */
static bool rebuild(struct np_livepub *lp, size_t want, bool sweep)
{
	size_t cap = 1024, i;
	struct written *tab;

	while (cap < 2 * want)
		cap *= 2;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return false;
	lp->n_tab = 0;
	for (i = 0; i < lp->cap_tab; i++) {
		const struct written *w = &lp->tab[i];

		if (!w->key || (sweep && w->pass != lp->pass))
			continue;
		*slot(tab, cap, w->key) = *w;
		lp->n_tab++;
	}
	free(lp->tab);
	lp->tab = tab;
	lp->cap_tab = cap;
	return true;
}

static void forget(struct np_livepub *lp)
{
	free(lp->tab);
	lp->tab = NULL;
	lp->n_tab = lp->cap_tab = 0;
}

void np_livepub_begin(struct np_livepub *lp, struct np_core *core,
		      uint64_t epoch, np_livepub_keep keep,
		      const void *keep_arg)
{
	struct np_term *t;
	size_t n = 0;

	if (!lp->have_epoch || epoch != lp->epoch)
		forget(lp);
	lp->have_epoch = true;
	lp->epoch = epoch;
	if (lp->running)
		return;
	for (t = core->terms; t; t = t->next)
		n++;
	if (n > lp->cap_terms) {
		struct term_at *m = realloc(lp->terms, n * sizeof(*m));

		if (!m)
			return;
		lp->terms = m;
		lp->cap_terms = n;
	}
	lp->n_terms = 0;
	for (t = core->terms; t; t = t->next) {
		if (keep && !keep(keep_arg, t))
			continue;
		lp->terms[lp->n_terms].realm = core->cfg->pairs[t->pair].second;
		lp->terms[lp->n_terms++].port = t->core_port;
	}
	lp->next = 0;
	lp->pass++;
	lp->running = true;
}

void np_livepub_stop(struct np_livepub *lp)
{
	lp->running = false;
	lp->have_epoch = false; /* acting again: everything goes again */
}

/* Whether the call's text differs from what was last written of it (and
 * now it is, as far as the table goes). */
static bool changed(struct np_livepub *lp, const char *key, const char *text)
{
	uint64_t k = np_gwtxn_hash(key, strlen(key)) | 1;
	uint64_t h = np_gwtxn_hash(text, strlen(text));
	struct written *w;

	if (2 * (lp->n_tab + 1) > lp->cap_tab &&
	    !rebuild(lp, lp->n_tab + 1, false))
		return true; /* no memory: written, not remembered */
	w = slot(lp->tab, lp->cap_tab, k);
	if (w->key && w->text == h) {
		w->pass = lp->pass;
		return false;
	}
	if (!w->key)
		lp->n_tab++;
	w->key = k;
	w->text = h;
	w->pass = lp->pass;
	return true;
}

/* One terminal's calls read, the changed ones into the batch (handed
 * over when full). */
static void term_calls(struct np_livepub *lp, struct np_core *core,
		       struct np_term *t, np_livepub_out out, void *arg)
{
	struct np_call *call;
	char *text;

	for (call = t->calls; call; call = call->next) {
		np_live_key(t, call, lp->keys[lp->n], sizeof(lp->keys[lp->n]));
		text = np_live_text(core, t, call);
		if (!text)
			continue;
		lp->st.calls_read++;
		if (!changed(lp, lp->keys[lp->n], text)) {
			free(text);
			continue;
		}
		lp->texts[lp->n++] = text;
		lp->st.calls_written++;
		if (lp->n == NP_LIVEPUB_BATCH) {
			out(arg, lp->keys, lp->texts, lp->n, false);
			lp->n = 0;
		}
	}
}

bool np_livepub_step(struct np_livepub *lp, struct np_core *core,
		     double budget_ms, np_livepub_out out, void *arg)
{
	double start = np_now_ms(), took;
	struct term_at *at;
	struct np_term *t;
	bool last;

	if (!lp->running)
		return false;
	while (lp->next < lp->n_terms) {
		at = &lp->terms[lp->next++];
		t = np_term_by_core_port(core, at->realm, at->port);
		if (t)
			term_calls(lp, core, t, out, arg);
		if (np_now_ms() - start >= budget_ms)
			break;
	}
	last = lp->next >= lp->n_terms;
	/* Nothing waits for the next turn (above). */
	if (lp->n || last)
		out(arg, lp->keys, lp->texts, lp->n, last);
	lp->n = 0;
	if (last) {
		/* Calls not seen in the pass ended: forgotten. */
		if (!rebuild(lp, lp->n_tab, true))
			forget(lp);
		lp->running = false;
		lp->st.passes++;
	}
	lp->st.steps++;
	took = np_now_ms() - start;
	if (took > lp->st.longest_step_ms)
		lp->st.longest_step_ms = took;
	return !last;
}

void np_livepub_stats(const struct np_livepub *lp,
		      struct np_livepub_stats *out)
{
	*out = lp->st;
}
