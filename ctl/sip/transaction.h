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

/* Hash chains at first, a power of two; doubled whenever there are more
 * transactions than chains. */
#define NP_TXN_BUCKETS 65536
/* Longest top-Via branch kept, with its NUL; longer is refused (400). */
#define NP_BRANCH_MAX 128

struct np_txn {
	/* Its expiry queue (oldest first): every transaction of a queue
	 * lives as long, so the queue is in the order they expire. */
	struct np_txn *q_next, *q_prev;
	/* Hash chains: every txn by branch, those from the core also by
	 * our_branch (newest first). */
	struct np_txn *by_branch, *by_ours;
	/* Its terminal's transactions, dropped with it. */
	struct np_txn *term_next, **term_pprev;
	struct np_term *term;
	bool from_core; /* we pushed a Via of ours on top */
	char branch[NP_BRANCH_MAX]; /* the top Via's branch on arrival */
	char our_branch[64]; /* from_core: the branch of the Via we pushed */
	char via[512]; /* !from_core: the terminal's top Via, as sent */
	bool answered_here; /* we refused it: its ACK stops here */
	bool offer; /* the request carried an SDP offer */
	char method[16];
	time_t expires;
	int queue; /* NP_TXN_Q_* */
	/* Its terminal's count of transactions still waiting for a final
	 * response (the per-terminal limit counts those, not the ones kept
	 * only to match retransmissions). */
	uint32_t *open_count;
};

/* Expiry queues: INVITEs waiting for their final response (300 s) and
 * the others (64 s). */
enum { NP_TXN_Q_OTHER, NP_TXN_Q_INVITE, NP_TXN_QUEUES };

struct np_txns {
	/* Per queue, oldest first: the tick takes the expired ones off the
	 * front, never walking the live ones. */
	struct np_txn *head[NP_TXN_QUEUES], *tail[NP_TXN_QUEUES];
	/* n_buckets chains each: transactions live 64 s (up to 300 for an
	 * INVITE without its final response), hundreds of thousands at a
	 * few thousand requests a second, too many to search a list for
	 * every message; the chains stay short as the table grows with
	 * them. */
	struct np_txn **by_branch, **by_ours;
	size_t n_buckets, count;
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
/* A new transaction of term, also on term_list (its terminal's, which
 * np_txns_drop_term() takes). */
struct np_txn *np_txn_add(struct np_txns *txns, struct np_term *term,
			  struct np_txn **term_list, const char *branch,
			  const char *method, bool from_core, time_t now);
/* A final response passed (or was given): t no longer counts as open,
 * and lives on only to match retransmissions and the ACK (64 s from now,
 * an INVITE's too). */
void np_txn_final(struct np_txns *txns, struct np_txn *t, time_t now);
/* Drops the transactions of a terminal's list (its terminal goes). */
void np_txns_drop_term(struct np_txns *txns, struct np_txn **term_list);
/* Drops the transactions that expired by now. */
void np_txns_expire(struct np_txns *txns, time_t now);

#endif
