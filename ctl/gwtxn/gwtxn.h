/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The transactions a gateway-control driver relays (MGCP, H.248): a
 * command from one side goes on under an id of ours, unique among the open
 * ones (gateways behind one proxy number alike), and its response goes
 * back under the sender's id to where the command came from; the response
 * is kept a while so that a retransmitted command gets it again. Both
 * drivers keep their transactions in this table: looked up by the
 * sender's id (a retransmission?) and by ours (whose response is this?)
 * through two hash tables, expired by age, dropped with their gateway.
 * A driver's transaction embeds struct np_gwtxn first and adds what it
 * needs (np_gwtxn_new allocates the whole). No I/O.
 */
#ifndef NATPROXY_GWTXN_H
#define NATPROXY_GWTXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h" /* struct np_sockaddr */

struct np_gwtxn {
	struct np_gwtxn *all_next, **all_pprev; /* every transaction */
	struct np_gwtxn *in_next, *out_next; /* hash chains */
	int dir; /* the driver's: who sent the command, who will answer */
	bool to_gw; /* the command went on to the gateway (else from it) */
	const void *t; /* the gateway (the core's terminal) */
	uint32_t in_id, out_id; /* the sender's id, ours */
	uint64_t in_hash; /* of the command's text as it came (0: unset) */
	struct np_sockaddr src; /* the command's sender */
	size_t src_realm;
	uint16_t src_port; /* our port it reached */
	time_t created, done; /* done: when the final response went back */
	size_t cmd_len, resp_len;
	char *cmd, *resp; /* as sent on (owned: freed with it) */
	uint32_t *open; /* the gateway's count of open transactions */
};

struct np_gwtxn_table {
	struct np_gwtxn **by_in, **by_out;
	size_t n_buckets; /* a power of 2 */
	struct np_gwtxn *all;
	size_t count;
	uint32_t next_id, id_max;
};

/* Ours go from first_id + 1 up to id_max, then from 1 again. 0 or
 * -ENOMEM. */
int np_gwtxn_init(struct np_gwtxn_table *tab, uint32_t first_id,
		  uint32_t id_max);
/* The first id for a table made at wall (UNIX seconds): a restarted
 * proxy's ids should not look like retransmissions of the last run's to a
 * peer that remembers them. */
uint32_t np_gwtxn_first_id(double wall);
void np_gwtxn_fini(struct np_gwtxn_table *tab);
/*
 * A new transaction of size bytes (at least sizeof(struct np_gwtxn)),
 * zeroed but for the given fields and an id of ours unique among the open
 * ones; NULL without memory. open (may be NULL): the gateway's count of
 * open transactions, one up until this one is freed.
 */
struct np_gwtxn *np_gwtxn_new(struct np_gwtxn_table *tab, size_t size, int dir,
			      bool to_gw, const void *t, uint32_t in_id,
			      uint32_t *open, time_t now);
/* The transaction of direction dir the gateway t's side numbered in_id. */
struct np_gwtxn *np_gwtxn_by_in(const struct np_gwtxn_table *tab, int dir,
				const void *t, uint32_t in_id);
/* The transaction whose command went to the gateway t (to_gw) or to the
 * core peer on t's behalf as our id out_id. */
struct np_gwtxn *np_gwtxn_by_out(const struct np_gwtxn_table *tab, bool to_gw,
				 const void *t, uint32_t out_id);
/* The transaction after x (NULL: the first); it may be freed before the
 * next call if the caller kept the next one first. */
struct np_gwtxn *np_gwtxn_next(const struct np_gwtxn_table *tab,
			       const struct np_gwtxn *x);
/* Its final response (owned from now on) went back at now. */
void np_gwtxn_replied(struct np_gwtxn *x, char *resp, size_t len, time_t now);
void np_gwtxn_free(struct np_gwtxn_table *tab, struct np_gwtxn *x);
/* Drops the responses older than hist s and the unanswered commands
 * older than lifetime s. */
void np_gwtxn_expire(struct np_gwtxn_table *tab, time_t now, time_t hist,
		     time_t lifetime);
/* Drops t's transactions (every one when t is NULL). */
void np_gwtxn_drop(struct np_gwtxn_table *tab, const void *t);
/* FNV-1a of a command's text: a retransmission is the same text. */
uint64_t np_gwtxn_hash(const char *text, size_t len);

#endif
