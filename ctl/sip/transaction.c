// SPDX-License-Identifier: GPL-2.0-only
/*
 * The transaction table: requests in flight by branch (theirs) and, for
 * requests from the core, by the branch of the Via natproxy pushed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/transaction.h"

#define OUR_BRANCH "z9hG4bK-np"
#define TXN_LIFETIME 64 /* s: 64*T1 covers non-INVITE; INVITE is refreshed */
#define INVITE_TXN_LIFETIME 300

static size_t branch_bucket(const char *branch)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*branch) {
		h ^= (unsigned char)*branch++;
		h *= 16777619u;
	}
	return h & (NP_TXN_BUCKETS - 1);
}

int np_txns_init(struct np_txns *txns)
{
	memset(txns, 0, sizeof(*txns));
	txns->by_branch = calloc(NP_TXN_BUCKETS, sizeof(*txns->by_branch));
	txns->by_ours = calloc(NP_TXN_BUCKETS, sizeof(*txns->by_ours));
	if (txns->by_branch && txns->by_ours)
		return 0;
	np_txns_fini(txns);
	return -ENOMEM;
}

void np_txns_fini(struct np_txns *txns)
{
	struct np_txn *t;
	int q;

	for (q = 0; q < NP_TXN_QUEUES; q++) {
		while ((t = txns->head[q])) {
			txns->head[q] = t->q_next;
			free(t);
		}
		txns->tail[q] = NULL;
	}
	free(txns->by_branch);
	free(txns->by_ours);
	txns->by_branch = txns->by_ours = NULL;
}

struct np_txn *np_txn_find(struct np_txns *txns, const char *branch,
			   bool from_core, const struct np_term *term)
{
	struct np_txn *t;

	if (from_core) {
		for (t = txns->by_ours[branch_bucket(branch)]; t; t = t->by_ours)
			if (!strcmp(t->our_branch, branch))
				return t;
		return NULL;
	}
	for (t = txns->by_branch[branch_bucket(branch)]; t; t = t->by_branch)
		if (!t->from_core && t->term == term &&
		    !strcmp(t->branch, branch))
			return t;
	return NULL;
}

struct np_txn *np_txn_find_upstream(struct np_txns *txns, const char *branch,
				    const struct np_term *term)
{
	struct np_txn *t;

	for (t = txns->by_branch[branch_bucket(branch)]; t; t = t->by_branch)
		if (t->from_core && t->term == term &&
		    !strcmp(t->branch, branch))
			return t;
	return NULL;
}

struct np_txn *np_txn_add(struct np_txns *txns, struct np_term *term,
			  struct np_txn **term_list, const char *branch,
			  const char *method, bool from_core, time_t now)
{
	struct np_txn *t = calloc(1, sizeof(*t));
	size_t b;
	int q;

	if (!t)
		return NULL;
	t->term = term;
	t->from_core = from_core;
	snprintf(t->branch, sizeof(t->branch), "%s", branch);
	snprintf(t->method, sizeof(t->method), "%s", method ? method : "");
	q = !strcmp(t->method, "INVITE") ? NP_TXN_Q_INVITE : NP_TXN_Q_OTHER;
	t->queue = q;
	t->expires = now + (q == NP_TXN_Q_INVITE ? INVITE_TXN_LIFETIME :
						   TXN_LIFETIME);
	/* Last in its queue: now never goes back (CLOCK_MONOTONIC). */
	t->q_prev = txns->tail[q];
	if (t->q_prev)
		t->q_prev->q_next = t;
	else
		txns->head[q] = t;
	txns->tail[q] = t;
	t->term_next = *term_list;
	if (t->term_next)
		t->term_next->term_pprev = &t->term_next;
	*term_list = t;
	t->term_pprev = term_list;
	b = branch_bucket(t->branch);
	t->by_branch = txns->by_branch[b];
	txns->by_branch[b] = t;
	if (from_core) {
		/* The branch of the Via we push toward the terminal. */
		snprintf(t->our_branch, sizeof(t->our_branch), "%s%llx",
			 OUR_BRANCH, (unsigned long long)++txns->next_id);
		b = branch_bucket(t->our_branch);
		t->by_ours = txns->by_ours[b];
		txns->by_ours[b] = t;
	}
	return t;
}

/* Takes t out of its hash chains, its queue and its terminal's list, and
 * frees it. */
static void txn_drop(struct np_txns *txns, struct np_txn *t)
{
	struct np_txn **p;

	for (p = &txns->by_branch[branch_bucket(t->branch)]; *p;
	     p = &(*p)->by_branch)
		if (*p == t) {
			*p = t->by_branch;
			break;
		}
	for (p = &txns->by_ours[branch_bucket(t->our_branch)];
	     t->from_core && *p; p = &(*p)->by_ours)
		if (*p == t) {
			*p = t->by_ours;
			break;
		}
	if (t->q_prev)
		t->q_prev->q_next = t->q_next;
	else
		txns->head[t->queue] = t->q_next;
	if (t->q_next)
		t->q_next->q_prev = t->q_prev;
	else
		txns->tail[t->queue] = t->q_prev;
	*t->term_pprev = t->term_next;
	if (t->term_next)
		t->term_next->term_pprev = t->term_pprev;
	np_txn_final(t);
	free(t);
}

void np_txn_final(struct np_txn *t)
{
	if (t->open_count && *t->open_count)
		(*t->open_count)--;
	t->open_count = NULL;
}

void np_txns_drop_term(struct np_txns *txns, struct np_txn **term_list)
{
	while (*term_list)
		txn_drop(txns, *term_list);
}

void np_txns_expire(struct np_txns *txns, time_t now)
{
	int q;

	for (q = 0; q < NP_TXN_QUEUES; q++)
		while (txns->head[q] && txns->head[q]->expires <= now)
			txn_drop(txns, txns->head[q]);
}
