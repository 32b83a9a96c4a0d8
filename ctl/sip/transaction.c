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
/* s: 64*T1, a non-INVITE transaction's whole life (RFC 3261 17.1.2.2),
 * and an INVITE's after its final response: its ACK, or the 2xx resent
 * until the ACK comes (RFC 6026's Timer L). */
#define TXN_LIFETIME 64
/* s an INVITE waits for its final response: Timer C's 3 minutes and more */
#define INVITE_TXN_LIFETIME 300

static size_t branch_hash(const char *branch)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*branch) {
		h ^= (unsigned char)*branch++;
		h *= 16777619u;
	}
	return h;
}

static struct np_txn **by_branch_chain(struct np_txns *txns,
				       const char *branch)
{
	return &txns->by_branch[branch_hash(branch) & (txns->n_buckets - 1)];
}

static struct np_txn **by_ours_chain(struct np_txns *txns, const char *branch)
{
	return &txns->by_ours[branch_hash(branch) & (txns->n_buckets - 1)];
}

/* Twice the chains, every transaction rechained; on no memory the table
 * stays as it is, only slower. */
static void txns_grow(struct np_txns *txns)
{
	size_t n = txns->n_buckets * 2, q;
	struct np_txn **by_branch = calloc(n, sizeof(*by_branch));
	struct np_txn **by_ours = calloc(n, sizeof(*by_ours));
	struct np_txn *t, **chain;

	if (!by_branch || !by_ours) {
		free(by_branch);
		free(by_ours);
		return;
	}
	free(txns->by_branch);
	free(txns->by_ours);
	txns->by_branch = by_branch;
	txns->by_ours = by_ours;
	txns->n_buckets = n;
	for (q = 0; q < NP_TXN_QUEUES; q++)
		for (t = txns->head[q]; t; t = t->q_next) {
			chain = by_branch_chain(txns, t->branch);
			t->by_branch = *chain;
			*chain = t;
			if (!t->from_core)
				continue;
			chain = by_ours_chain(txns, t->our_branch);
			t->by_ours = *chain;
			*chain = t;
		}
}

int np_txns_init(struct np_txns *txns)
{
	memset(txns, 0, sizeof(*txns));
	txns->by_branch = calloc(NP_TXN_BUCKETS, sizeof(*txns->by_branch));
	txns->by_ours = calloc(NP_TXN_BUCKETS, sizeof(*txns->by_ours));
	txns->n_buckets = NP_TXN_BUCKETS;
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
		for (t = *by_ours_chain(txns, branch); t; t = t->by_ours)
			if (!strcmp(t->our_branch, branch))
				return t;
		return NULL;
	}
	for (t = *by_branch_chain(txns, branch); t; t = t->by_branch)
		if (!t->from_core && t->term == term &&
		    !strcmp(t->branch, branch))
			return t;
	return NULL;
}

struct np_txn *np_txn_find_upstream(struct np_txns *txns, const char *branch,
				    const struct np_term *term)
{
	struct np_txn *t;

	for (t = *by_branch_chain(txns, branch); t; t = t->by_branch)
		if (t->from_core && t->term == term &&
		    !strcmp(t->branch, branch))
			return t;
	return NULL;
}

/* t last in queue q, expiring lifetime seconds from now: every
 * transaction of a queue lives as long, and now never goes back
 * (CLOCK_MONOTONIC), so the queue stays in the order they expire. */
static void queue_append(struct np_txns *txns, struct np_txn *t, int q,
			 time_t now, time_t lifetime)
{
	t->queue = q;
	t->expires = now + lifetime;
	t->q_next = NULL;
	t->q_prev = txns->tail[q];
	if (t->q_prev)
		t->q_prev->q_next = t;
	else
		txns->head[q] = t;
	txns->tail[q] = t;
}

static void queue_unlink(struct np_txns *txns, struct np_txn *t)
{
	if (t->q_prev)
		t->q_prev->q_next = t->q_next;
	else
		txns->head[t->queue] = t->q_next;
	if (t->q_next)
		t->q_next->q_prev = t->q_prev;
	else
		txns->tail[t->queue] = t->q_prev;
}

struct np_txn *np_txn_add(struct np_txns *txns, struct np_term *term,
			  struct np_txn **term_list, const char *branch,
			  const char *method, bool from_core, time_t now)
{
	struct np_txn *t = calloc(1, sizeof(*t)), **chain;
	bool invite;

	if (!t)
		return NULL;
	if (txns->count >= txns->n_buckets)
		txns_grow(txns);
	txns->count++;
	t->term = term;
	t->from_core = from_core;
	snprintf(t->branch, sizeof(t->branch), "%s", branch);
	snprintf(t->method, sizeof(t->method), "%s", method ? method : "");
	invite = !strcmp(t->method, "INVITE");
	queue_append(txns, t, invite ? NP_TXN_Q_INVITE : NP_TXN_Q_OTHER, now,
		     invite ? INVITE_TXN_LIFETIME : TXN_LIFETIME);
	t->term_next = *term_list;
	if (t->term_next)
		t->term_next->term_pprev = &t->term_next;
	*term_list = t;
	t->term_pprev = term_list;
	chain = by_branch_chain(txns, t->branch);
	t->by_branch = *chain;
	*chain = t;
	if (from_core) {
		/* The branch of the Via we push toward the terminal. */
		snprintf(t->our_branch, sizeof(t->our_branch), "%s%llx",
			 OUR_BRANCH, (unsigned long long)++txns->next_id);
		chain = by_ours_chain(txns, t->our_branch);
		t->by_ours = *chain;
		*chain = t;
	}
	return t;
}

/* t no longer counts against its terminal's open transactions. */
static void no_longer_open(struct np_txn *t)
{
	if (t->open_count && *t->open_count)
		(*t->open_count)--;
	t->open_count = NULL;
}

/* Takes t out of its hash chains, its queue and its terminal's list, and
 * frees it. */
static void txn_drop(struct np_txns *txns, struct np_txn *t)
{
	struct np_txn **p;

	for (p = by_branch_chain(txns, t->branch); *p; p = &(*p)->by_branch)
		if (*p == t) {
			*p = t->by_branch;
			break;
		}
	for (p = by_ours_chain(txns, t->our_branch); t->from_core && *p;
	     p = &(*p)->by_ours)
		if (*p == t) {
			*p = t->by_ours;
			break;
		}
	queue_unlink(txns, t);
	*t->term_pprev = t->term_next;
	if (t->term_next)
		t->term_next->term_pprev = t->term_pprev;
	no_longer_open(t);
	txns->count--;
	free(t);
}

void np_txn_final(struct np_txns *txns, struct np_txn *t, time_t now)
{
	no_longer_open(t);
	/* Kept 300 s, every INVITE answered would be: 1.8 million of them
	 * at 6000 calls a second. */
	if (t->queue == NP_TXN_Q_INVITE) {
		queue_unlink(txns, t);
		queue_append(txns, t, NP_TXN_Q_OTHER, now, TXN_LIFETIME);
	}
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
