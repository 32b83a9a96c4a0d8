// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the gateway drivers' transaction table (ctl/gwtxn/): ids
 * of ours unique among the open transactions and wrapping at the
 * protocol's maximum past the ones still open, lookups by the sender's id
 * (direction and gateway apart) and by ours (side and gateway apart), the
 * gateway's count of open transactions, expiry of responses and of unanswered commands, a gateway's
 * transactions dropped with it, the hash tables grown past their first
 * size with every transaction still found, and the text hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwtxn/gwtxn.h"
#include "tap.h"

/* A driver's transaction: the table's first, then its own. */
struct drv_txn {
	struct np_gwtxn base;
	int payload;
};

/* The transactions open, as a driver counts them for its gateways. */
static uint32_t open_txns;

static struct drv_txn *add(struct np_gwtxn_table *tab, int dir, bool to_gw,
			   const void *t, uint32_t in, time_t now)
{
	return (struct drv_txn *)np_gwtxn_new(tab, sizeof(struct drv_txn), dir,
					      to_gw, t, in, &open_txns, now);
}

static void test_ids(struct tap *t)
{
	struct np_gwtxn_table tab;
	int gw1, gw2;
	struct drv_txn *a, *b, *c, *d;

	open_txns = 0;
	tap_check(t, !np_gwtxn_init(&tab, 5000, 5003),
		  "a table, ours from 5001 to 5003");
	a = add(&tab, 0, false, &gw1, 1, 100);
	b = add(&tab, 0, false, &gw2, 1, 100);
	tap_check(t, a && b && a->base.out_id == 5001 && b->base.out_id == 5002,
		  "two gateways' id 1: ours 5001 and 5002");
	tap_check(t, np_gwtxn_by_in(&tab, 0, &gw1, 1) == &a->base &&
			     np_gwtxn_by_in(&tab, 0, &gw2, 1) == &b->base,
		  "by the sender's id: each gateway its own");
	tap_check(t, !np_gwtxn_by_in(&tab, 1, &gw1, 1),
		  "the other direction's id 1 is another transaction");
	tap_check(t, np_gwtxn_by_out(&tab, false, &gw1, 5001) == &a->base &&
			     !np_gwtxn_by_out(&tab, true, &gw1, 5001) &&
			     !np_gwtxn_by_out(&tab, false, &gw2, 5001),
		  "by ours: only on its side and for its gateway");
	c = add(&tab, 1, true, &gw1, 7, 100);
	tap_check(t, c && c->base.out_id == 5003, "the third: 5003");
	np_gwtxn_free(&tab, &b->base);
	tap_check(t, open_txns == 2 && !np_gwtxn_by_in(&tab, 0, &gw2, 1),
		  "freed: gone, one open transaction less (%u)", open_txns);
	d = add(&tab, 1, true, &gw2, 8, 100);
	tap_check(t, d && d->base.out_id == 1,
		  "past the maximum: from 1 again (%u)", d ? d->base.out_id : 0);
	np_gwtxn_fini(&tab);
	tap_check(t, open_txns == 0, "fini frees the rest (%u open)",
		  open_txns);
}

static void test_wrap_skips_open(struct tap *t)
{
	struct np_gwtxn_table tab;
	int gw;
	struct drv_txn *a, *b, *c;

	np_gwtxn_init(&tab, 0, 3);
	a = add(&tab, 0, false, &gw, 10, 0);
	b = add(&tab, 0, false, &gw, 11, 0);
	np_gwtxn_free(&tab, &a->base);
	c = add(&tab, 0, false, &gw, 12, 0);
	tap_check(t, b->base.out_id == 2 && c && c->base.out_id == 3,
		  "ours go on upward after a free (2, then 3)");
	a = add(&tab, 0, false, &gw, 13, 0);
	tap_check(t, a && a->base.out_id == 1,
		  "wrapped: 1, free again; 2 and 3 still open are skipped");
	tap_check(t, !add(&tab, 0, false, &gw, 14, 0),
		  "every id open: no new transaction");
	np_gwtxn_fini(&tab);
}

static void test_expiry(struct tap *t)
{
	struct np_gwtxn_table tab;
	int gw1, gw2;
	struct drv_txn *done, *open, *other;
	char *resp = strdup("200 1 OK\r\n");

	open_txns = 0;
	np_gwtxn_init(&tab, 0, 1000);
	done = add(&tab, 0, false, &gw1, 1, 100);
	open = add(&tab, 0, false, &gw1, 2, 100);
	other = add(&tab, 0, false, &gw2, 3, 100);
	np_gwtxn_replied(&done->base, resp, strlen(resp), 110);
	tap_check(t, done->base.done == 110 && done->base.resp == resp,
		  "replied: the response kept, the time noted");
	np_gwtxn_expire(&tab, 139, 30, 60);
	tap_check(t, open_txns == 3, "29 s after the reply: all kept");
	np_gwtxn_expire(&tab, 140, 30, 60);
	tap_check(t, open_txns == 2 && !np_gwtxn_by_in(&tab, 0, &gw1, 1) &&
			     np_gwtxn_by_in(&tab, 0, &gw1, 2) == &open->base,
		  "30 s after the reply: the response goes, the open one stays");
	np_gwtxn_drop(&tab, &gw1);
	tap_check(t, open_txns == 1 && np_gwtxn_by_in(&tab, 0, &gw2, 3) == &other->base,
		  "gateway 1 dropped: its transaction goes, gateway 2's stays");
	np_gwtxn_expire(&tab, 160, 30, 60);
	tap_check(t, open_txns == 0 && !np_gwtxn_next(&tab, NULL),
		  "60 s unanswered: gone, the table empty");
	np_gwtxn_fini(&tab);
}

static void test_growth(struct tap *t)
{
	struct np_gwtxn_table tab;
	static int gws[100];
	size_t n = 0, found = 0, walked = 0;
	struct np_gwtxn *x;

	np_gwtxn_init(&tab, 0, 999999999u);
	for (int g = 0; g < 100; g++)
		for (uint32_t id = 1; id <= 50; id++)
			n += add(&tab, g & 1, g & 1, &gws[g], id, 0) != NULL;
	tap_check(t, n == 5000 && tab.n_buckets >= 2048,
		  "5000 transactions: the hash tables grew (%zu buckets)",
		  tab.n_buckets);
	for (int g = 0; g < 100; g++)
		for (uint32_t id = 1; id <= 50; id++) {
			x = np_gwtxn_by_in(&tab, g & 1, &gws[g], id);
			found += x && np_gwtxn_by_out(&tab, g & 1, &gws[g],
						      x->out_id) == x;
		}
	for (x = np_gwtxn_next(&tab, NULL); x; x = np_gwtxn_next(&tab, x))
		walked++;
	tap_check(t, found == 5000 && walked == 5000,
		  "every one found both ways after the growth (%zu), walked "
		  "(%zu)",
		  found, walked);
	np_gwtxn_fini(&tab);
}

static void test_hash(struct tap *t)
{
	const char *a = "T=1{C=-{SC=root{SV{MT=RS}}}}";

	tap_check(t, np_gwtxn_hash(a, strlen(a)) == np_gwtxn_hash(a, strlen(a)) &&
			     np_gwtxn_hash(a, strlen(a)) !=
				     np_gwtxn_hash(a, strlen(a) - 1) &&
			     np_gwtxn_hash("", 0) == 0xcbf29ce484222325ull,
		  "text hash: same text same hash, one octet less another "
		  "(FNV-1a)");
}

/* A restart's first id comes from the clock: a new run's ids differ from
 * the last run's, and fit both protocols' ranges. */
static void test_first_id(struct tap *t)
{
	tap_check(t, np_gwtxn_first_id(1733461234.5) == 61234000u,
		  "first id at wall 1733461234.5: 61234000 (%u)",
		  np_gwtxn_first_id(1733461234.5));
	tap_check(t, np_gwtxn_first_id(1733461299.0) != np_gwtxn_first_id(1733461234.5),
		  "a restart a minute later starts elsewhere");
	tap_check(t, np_gwtxn_first_id(99999.9) < 100000000u,
		  "the first id stays below 10^8 (MGCP's ids go to 999999999)");
}

int main(void)
{
	struct tap t = { 0 };

	test_first_id(&t);
	test_ids(&t);
	test_wrap_skips_open(&t);
	test_expiry(&t);
	test_growth(&t);
	test_hash(&t);
	printf("1..%d\n", t.n);
	return t.failed ? 1 : 0;
}
