// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SIP transaction table (ctl/sip/transaction.c): found by branch and
 * by the branch natproxy pushed, among hundreds of thousands, the chains
 * growing with them; kept as long as RFC 3261 needs them and no longer
 * (an INVITE 300 s while it waits for its final response, 64 s after).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sip/transaction.h"
#include "tap.h"

#define MANY 200000

static struct np_term terms[2];
static struct np_txn *lists[2];

static void branch_of(char *out, size_t len, size_t i)
{
	snprintf(out, len, "z9hG4bK-test-%zu", i);
}

/* Every transaction of the first n found by its branch (and, those from
 * the core, by ours), each the one added. */
static bool all_found(struct np_txns *txns, struct np_txn **added, size_t n)
{
	char branch[64];
	size_t i;

	for (i = 0; i < n; i++) {
		branch_of(branch, sizeof(branch), i);
		if (i % 2 ? np_txn_find_upstream(txns, branch, &terms[i % 2]) !=
				    added[i] ||
			    np_txn_find(txns, added[i]->our_branch, true,
					NULL) != added[i] :
			    np_txn_find(txns, branch, false, &terms[0]) !=
				    added[i])
			return false;
	}
	return true;
}

/* The longest chain of the table by branch. */
static size_t longest_chain(const struct np_txns *txns)
{
	size_t i, n, most = 0;
	struct np_txn *t;

	for (i = 0; i < txns->n_buckets; i++) {
		for (n = 0, t = txns->by_branch[i]; t; t = t->by_branch)
			n++;
		if (n > most)
			most = n;
	}
	return most;
}

static size_t queued(const struct np_txns *txns)
{
	size_t q, n = 0;
	struct np_txn *t;

	for (q = 0; q < NP_TXN_QUEUES; q++)
		for (t = txns->head[q]; t; t = t->q_next)
			n++;
	return n;
}

static void test_many(struct tap *t)
{
	static struct np_txn *added[MANY];
	struct np_txns txns;
	char branch[64];
	size_t i, most;
	bool ok = true;

	if (np_txns_init(&txns)) {
		tap_check(t, false, "table made");
		return;
	}
	/* Odd ones from the core (a branch of ours each), even ones from a
	 * terminal. */
	for (i = 0; i < MANY && ok; i++) {
		branch_of(branch, sizeof(branch), i);
		added[i] = np_txn_add(&txns, &terms[i % 2], &lists[i % 2],
				      branch, i % 3 ? "BYE" : "INVITE", i % 2,
				      1000);
		ok = added[i] != NULL;
	}
	tap_check(t, ok && txns.count == MANY, "%d transactions added (%zu)",
		  MANY, txns.count);
	most = longest_chain(&txns);
	tap_check(t, txns.n_buckets >= MANY && most <= 12,
		  "the chains grew with them: %zu chains, the longest %zu",
		  txns.n_buckets, most);
	tap_check(t, all_found(&txns, added, MANY),
		  "each found by its branch, those from the core by ours too");
	branch_of(branch, sizeof(branch), 1);
	tap_check(t, !np_txn_find(&txns, branch, false, &terms[0]) &&
			     !np_txn_find(&txns, "z9hG4bK-test-none", false,
					  &terms[0]),
		  "a branch of the core's or one never seen: not found");
	np_txns_drop_term(&txns, &lists[1]);
	branch_of(branch, sizeof(branch), 1);
	tap_check(t, txns.count == MANY / 2 && queued(&txns) == MANY / 2 &&
			     !np_txn_find_upstream(&txns, branch, &terms[1]) &&
			     all_found(&txns, added, 1),
		  "one terminal's half dropped with it (%zu left)", txns.count);
	np_txns_drop_term(&txns, &lists[0]);
	tap_check(t, txns.count == 0 && queued(&txns) == 0,
		  "the other half too: none left");
	np_txns_fini(&txns);
}

static void test_lifetimes(struct tap *t)
{
	struct np_txn *unanswered, *answered, *bye, *refused;
	struct np_txns txns;
	uint32_t open = 2;

	lists[0] = NULL;
	if (np_txns_init(&txns)) {
		tap_check(t, false, "table made");
		return;
	}
	unanswered = np_txn_add(&txns, &terms[0], &lists[0], "z9hG4bK-u",
				"INVITE", false, 1000);
	answered = np_txn_add(&txns, &terms[0], &lists[0], "z9hG4bK-a",
			      "INVITE", false, 1000);
	bye = np_txn_add(&txns, &terms[0], &lists[0], "z9hG4bK-b", "BYE",
			 false, 1010);
	refused = np_txn_add(&txns, &terms[0], &lists[0], "z9hG4bK-r",
			     "INVITE", true, 1020);
	if (!unanswered || !answered || !bye || !refused) {
		tap_check(t, false, "transactions added");
		np_txns_fini(&txns);
		return;
	}
	answered->open_count = &open;
	np_txn_final(&txns, answered, 1030); /* its 200 */
	np_txn_final(&txns, refused, 1040); /* our own 486 */
	tap_check(t, open == 1 && !answered->open_count,
		  "a final response: no longer open (%u)", open);
	np_txns_expire(&txns, 1073);
	tap_check(t, txns.count == 4, "nothing expires early (%zu)", txns.count);
	np_txns_expire(&txns, 1074);
	tap_check(t, txns.count == 3 && !np_txn_find(&txns, "z9hG4bK-b", false,
						     &terms[0]),
		  "a BYE's: 64 s");
	np_txns_expire(&txns, 1094);
	tap_check(t, txns.count == 2 && !np_txn_find(&txns, "z9hG4bK-a", false,
						     &terms[0]),
		  "an INVITE answered: 64 s after its final response, not 300");
	np_txns_expire(&txns, 1104);
	tap_check(t, txns.count == 1 &&
			     !np_txn_find_upstream(&txns, "z9hG4bK-r",
						   &terms[0]),
		  "one from the core that natproxy refused: 64 s after");
	np_txns_expire(&txns, 1299);
	tap_check(t, txns.count == 1 &&
			     np_txn_find(&txns, "z9hG4bK-u", false,
					 &terms[0]) == unanswered,
		  "an INVITE still waiting for its final response: kept");
	np_txns_expire(&txns, 1300);
	tap_check(t, txns.count == 0 && queued(&txns) == 0 && !lists[0],
		  "until 300 s: then gone, off its terminal's list too");
	np_txns_fini(&txns);
}

int main(void)
{
	struct tap t = { 0 };

	test_many(&t);
	test_lifetimes(&t);
	return tap_done(&t);
}
