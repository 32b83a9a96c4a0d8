/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SIP transactions natproxy relays (RFC 3261 17): a request in flight, to
 * restore its Via or route its response, found by branch in hash chains.
 */
#ifndef NATPROXY_SIP_TRANSACTION_H
#define NATPROXY_SIP_TRANSACTION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/core.h"

#define NP_TXN_BUCKETS 4096 /* a power of two */
/* Longest top-Via branch kept, with its NUL; longer is refused (400). */
#define NP_BRANCH_MAX 128

struct np_txn {
	struct np_txn *next;
	/* Hash chains: every txn by branch, those from the core also by
	 * our_branch (newest first, as the list). */
	struct np_txn *by_branch, *by_ours;
	struct np_term *term;
	bool from_core; /* we pushed a Via of ours on top */
	char branch[NP_BRANCH_MAX]; /* the top Via's branch on arrival */
	char our_branch[64]; /* from_core: the branch of the Via we pushed */
	char via[512]; /* !from_core: the terminal's top Via, as sent */
	bool answered_here; /* we refused it: its ACK stops here */
	bool offer; /* the request carried an SDP offer */
	char method[16];
	time_t expires;
	/* Its terminal's count of transactions still waiting for a final
	 * response (the per-terminal limit counts those, not the ones kept
	 * only to match retransmissions). */
	uint32_t *open_count;
};

struct np_txns {
	struct np_txn *list;
	/* NP_TXN_BUCKETS chains each: transactions live 64 s (300 for an
	 * INVITE), tens of thousands at a few hundred requests a second,
	 * too many to search a list for every message. */
	struct np_txn **by_branch, **by_ours;
	uint64_t next_id;
};

int np_txns_init(struct np_txns *txns);
void np_txns_fini(struct np_txns *txns);
/* A terminal's transaction is its own: branches are unique per UA only.
 * from_core: branch is one of ours (term ignored). */
struct np_txn *np_txn_find(struct np_txns *txns, const char *branch,
			   bool from_core, const struct np_term *term);
/* The transaction from the core a terminal's request with this (upstream)
 * branch opened: a CANCEL or non-2xx ACK reuses its INVITE's branch. */
struct np_txn *np_txn_find_upstream(struct np_txns *txns, const char *branch,
				    const struct np_term *term);
struct np_txn *np_txn_add(struct np_txns *txns, struct np_term *term,
			  const char *branch, const char *method, bool from_core,
			  time_t now);
/* A final response passed: t no longer counts as open. */
void np_txn_final(struct np_txn *t);
/* Drops term's transactions (term NULL: none) and, with now, expired ones. */
void np_txns_drop(struct np_txns *txns, const struct np_term *term, time_t now);

#endif
