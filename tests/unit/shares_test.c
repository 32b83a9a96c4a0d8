// SPDX-License-Identifier: GPL-2.0-only
/*
 * Scale-out's pure parts (docs/ha.md, "Scale-out"): the cluster section's
 * shares (each its realms; errors with FILE:LINE:COLUMN), which share a
 * realm, a pair and a record of the state text belong to (what a node
 * following several shares keeps of each share's stream), and the role
 * decided per share: one node active for one share and a standby for
 * another at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/follow.h"
#include "cluster/role.h"
#include "config.h"
#include "tap.h"

/* Two shares' realms: s1 = acc1 + core1 (pair 0), s2 = acc2 + core2
 * (pair 1). */
static const char base[] = "realms:\n"
			   "  - name: acc1\n"
			   "    interface: acc0\n"
			   "    address: 203.0.113.1\n"
			   "    sip_port: 5060\n"
			   "    media_ports: 30000-30999\n"
			   "  - name: core1\n"
			   "    interface: core0\n"
			   "    address: 198.51.100.1\n"
			   "    sip_ports: 20000-20999\n"
			   "    media_ports: 40000-40999\n"
			   "  - name: acc2\n"
			   "    interface: acc0\n"
			   "    address: 203.0.113.2\n"
			   "    sip_port: 5060\n"
			   "    media_ports: 31000-31999\n"
			   "  - name: core2\n"
			   "    interface: core0\n"
			   "    address: 198.51.100.2\n"
			   "    sip_ports: 21000-21999\n"
			   "    media_ports: 41000-41999\n"
			   "pairs:\n"
			   "  - first: acc1\n"
			   "    second: core1\n"
			   "    softswitch: 198.51.100.9:5060\n"
			   "  - first: acc2\n"
			   "    second: core2\n"
			   "    softswitch: 198.51.100.9:5060\n"
			   "cluster:\n"
			   "  redis: 198.51.100.50:6379\n"
			   "  node: c\n";

/* base and the rest of a cluster section (line 32 on); 0 or the error. */
static int parse(const char *rest, struct np_config *cfg, char *err,
		 size_t len)
{
	char text[4096];

	snprintf(text, sizeof(text), "%s%s", base, rest);
	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	return np_config_parse("s.yaml", text, strlen(text), cfg, err, len);
}

static const char two_shares[] = "  shares:\n"
				 "    - name: s1\n"
				 "      realms: [acc1, core1]\n"
				 "    - name: s2\n"
				 "      realms: [acc2, core2]\n";

static void test_config(struct tap *t)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "  peer: b\n  shares:\n    - name: s1\n"
		  "      realms: [acc1, core1]\n",
		  "s.yaml:32:3: 'peer' goes with a pair, not with 'shares'" },
		{ "  share: x\n  shares:\n    - name: s1\n"
		  "      realms: [acc1, core1]\n",
		  "s.yaml:32:3: 'share' goes with a pair" },
		{ "  shares: []\n", "s.yaml:32:11: 'shares' is empty" },
		{ "  shares:\n    - name: s1\n      realms: [acc1, core1]\n"
		  "    - name: s2\n      realms: [core1, acc2, core2]\n",
		  "s.yaml:36:16: realm 'core1' is in two shares" },
		{ "  shares:\n    - name: s1\n      realms: [acc1, core2]\n",
		  "s.yaml:33:5: pair acc1-core1 crosses share 's1'" },
		{ "  shares:\n    - name: s1\n      realms: [acc1, nowhere]\n",
		  "s.yaml:34:22: realms names unknown realm 'nowhere'" },
		{ "  shares:\n    - name: s1\n      realms: []\n",
		  "s.yaml:34:15: share 's1' has no realms" },
		{ "  shares:\n    - realms: [acc1, core1]\n",
		  "s.yaml:33:7: a share needs 'name' and 'realms'" },
		{ "  shares:\n    - name: s1\n      realms: [acc1, core1]\n"
		  "    - name: s1\n      realms: [acc2, core2]\n",
		  "s.yaml:35:7: share 's1' listed twice" },
		{ "  shares:\n    - s1\n",
		  "s.yaml:33:7: a share must be a mapping" },
		{ "  heartbeat: 10.0.0.3:7400\n" "  shares:\n    - name: s1\n"
		  "      realms: [acc1, core1]\n",
		  "s.yaml:30:3: heartbeat and members go together" },
		{ "  members:\n    - {node: a, heartbeat: 10.0.0.1:7400}\n",
		  "s.yaml:32:3: 'members' goes with 'shares'" },
		{ "  heartbeat: 10.0.0.3:7400\n  members:\n"
		  "    - {node: c, heartbeat: 10.0.0.1:7400}\n" "  shares:\n"
		  "    - name: s1\n      realms: [acc1, core1]\n",
		  "s.yaml:34:7: member 'c': the node itself" },
		{ "  heartbeat: 10.0.0.3:7400\n  members:\n"
		  "    - {node: a, heartbeat: 10.0.0.1:7400}\n"
		  "    - {node: a, heartbeat: 10.0.0.2:7400}\n" "  shares:\n"
		  "    - name: s1\n      realms: [acc1, core1]\n",
		  "s.yaml:35:7: member 'a' listed twice" },
		{ "  heartbeat: 10.0.0.3:7400\n  members:\n"
		  "    - {node: a}\n" "  shares:\n"
		  "    - name: s1\n      realms: [acc1, core1]\n",
		  "s.yaml:34:7: a member needs 'node' and 'heartbeat'" },
		{ "  heartbeat: 10.0.0.3:7400\n  members:\n"
		  "    - {node: a, heartbeat: 10.0.0.1:7400}\n" "  shares:\n"
		  "    - name: s1\n      realms: [acc1, core1]\n"
		  "      members: [b]\n",
		  "s.yaml:38:17: share 's1': member 'b' is not in cluster's "
		  "members" },
		{ "  shares:\n    - name: s1\n      realms: [acc1, core1]\n"
		  "      members: [b]\n",
		  "s.yaml:35:7: share 's1': members without a heartbeat" },
		{ "  heartbeat: 10.0.0.3:7400\n  peer_heartbeat: 10.0.0.1:7400\n"
		  "  members:\n    - {node: a, heartbeat: 10.0.0.1:7400}\n"
		  "  shares:\n    - name: s1\n      realms: [acc1, core1]\n",
		  "s.yaml:33:3: 'peer_heartbeat' goes with a pair" },
	};
	struct np_config cfg;
	char err[256];
	size_t i;
	int ret;

	ret = parse(two_shares, &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && cfg.cluster.n_shares == 2 &&
			  !strcmp(cfg.cluster.shares[0].name, "s1") &&
			  cfg.cluster.shares[0].realms == 0x3 &&
			  !strcmp(cfg.cluster.shares[1].name, "s2") &&
			  cfg.cluster.shares[1].realms == 0xc &&
			  !cfg.cluster.peer[0],
		  "config: two shares, each its realms (s1: acc1 core1, s2: "
		  "acc2 core2), no peer");
	if (ret)
		tap_diag("%s", err);
	tap_check(t,
		  !ret && np_cluster_share_of_realm(&cfg.cluster, 0) == 0 &&
			  np_cluster_share_of_realm(&cfg.cluster, 1) == 0 &&
			  np_cluster_share_of_realm(&cfg.cluster, 2) == 1 &&
			  np_cluster_share_of_realm(&cfg.cluster, 3) == 1,
		  "a datagram's realm names its share: acc1/core1 s1, "
		  "acc2/core2 s2");
	np_config_free(&cfg);

	/* A node in one share only (N+1: a serves s1): s2's realms are in
	 * its file (pairs are named by index on every node) and belong to
	 * no share of it. */
	ret = parse("  shares:\n    - name: s1\n      realms: [acc1, core1]\n",
		    &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && cfg.cluster.n_shares == 1 &&
			  np_cluster_share_of_realm(&cfg.cluster, 1) == 0 &&
			  np_cluster_share_of_realm(&cfg.cluster, 2) == -1 &&
			  np_cluster_share_of_realm(&cfg.cluster, 3) == -1,
		  "config: a node of one share: the other share's realms are "
		  "no share of it (never served)");
	np_config_free(&cfg);

	/* The heartbeat among members: s1's every member by default, s2's
	 * those it names. */
	ret = parse("  heartbeat: 10.0.0.3:7400\n  members:\n"
		    "    - {node: a, heartbeat: 10.0.0.1:7400}\n"
		    "    - {node: b, heartbeat: 10.0.0.2:7400}\n"
		    "  shares:\n    - name: s1\n      realms: [acc1, core1]\n"
		    "    - name: s2\n      realms: [acc2, core2]\n"
		    "      members: [b]\n",
		    &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && cfg.cluster.n_members == 2 &&
			  !strcmp(cfg.cluster.members[1].node, "b") &&
			  cfg.cluster.members[1].heartbeat.port == 7400 &&
			  cfg.cluster.heartbeat.port == 7400 &&
			  cfg.cluster.shares[0].members == 3 &&
			  cfg.cluster.shares[1].members == 2,
		  "config: members and heartbeat: s1 every member (the "
		  "default), s2 only b");
	if (ret)
		tap_diag("%s", err);
	np_config_free(&cfg);

	ret = parse("  peer: b\n", &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && !cfg.cluster.n_shares &&
			  np_cluster_share_of_realm(&cfg.cluster, 3) == 0 &&
			  !strcmp(cfg.cluster.share, "natproxy"),
		  "config: a pair (peer, no shares): one share of every realm, "
		  "as before");
	np_config_free(&cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = parse(bad[i].text, &cfg, err, sizeof(err));
		if (!tap_check(t, ret == -EINVAL &&
					  !strncmp(err, bad[i].want,
						   strlen(bad[i].want)),
			       "config: %s", bad[i].want))
			tap_diag("got %d: %s", ret, err);
	}
}

/* The example of the spare node (run from the source tree's top). */
static void test_example(struct tap *t)
{
	char err[256];
	struct np_config cfg = { 0 };
	int ret = np_config_load("configs/scaleout.yaml", &cfg, err,
				 sizeof(err));

	if (ret)
		tap_diag("%s", err);
	tap_check(t,
		  !ret && !strcmp(cfg.cluster.node, "c") &&
			  cfg.cluster.n_shares == 2 &&
			  np_cluster_share_of_realm(&cfg.cluster, 1) == 0 &&
			  np_cluster_share_of_realm(&cfg.cluster, 2) == 1 &&
			  cfg.cluster.n_members == 2 &&
			  cfg.cluster.heartbeat.port == 7400 &&
			  cfg.cluster.shares[0].members == 1 &&
			  cfg.cluster.shares[1].members == 2,
		  "configs/scaleout.yaml: node c in shares s1 (acc1, core1) "
		  "and s2 (acc2, core2), its heartbeat to a (s1) and b (s2)");
	if (!ret)
		np_config_free(&cfg);
}

/* What a follower of one share keeps of a stream that holds the
 * writer's whole state. */
static void test_records(struct tap *t)
{
	static const struct {
		const char *line;
		int ret;
		size_t pair;
	} units[] = {
		{ "term 1 203.0.113.20 40001 192.168.1.10 5060 198.51.100.2 "
		  "21000 0 #00000000\n",
		  0, 1 },
		{ "gw mgcp 0 203.0.113.21 2427 203.0.113.1 0 198.51.100.1 "
		  "20002 0\n",
		  0, 0 },
		{ "gone 1 21000\n", 0, 1 },
		{ "orphan 0 203.0.113.1 30000\n", 0, 0 },
		{ "orphan-gone 1 31000\n", 0, 1 },
		{ "commit 12\n", -ENOENT, 0 },
		{ "natproxy-state 3\n", -ENOENT, 0 },
		{ "term x 1\n", -EINVAL, 0 },
		{ "gone 99999999999 1\n", -EINVAL, 0 },
		{ "gw mgcp\n", -EINVAL, 0 },
		{ "term 12", 0, 12 }, /* the text's end ends the number */
	};
	struct np_config cfg;
	char err[256];
	size_t i, pair;
	int ret;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		pair = 777;
		ret = np_follow_unit_pair(units[i].line, strlen(units[i].line),
					  &pair);
		tap_check(t,
			  ret == units[i].ret &&
				  (ret || pair == units[i].pair),
			  "record '%.*s': %s %zu",
			  (int)strcspn(units[i].line, "\n"), units[i].line,
			  units[i].ret ? "no pair" : "pair", units[i].pair);
	}
	ret = parse(two_shares, &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && np_follow_pair_in(&cfg, 0x3, 0) &&
			  !np_follow_pair_in(&cfg, 0x3, 1) &&
			  np_follow_pair_in(&cfg, 0xc, 1) &&
			  !np_follow_pair_in(&cfg, 0xc, 0) &&
			  np_follow_pair_in(&cfg, 0, 1) &&
			  !np_follow_pair_in(&cfg, 0x3, 7),
		  "a pair's terminals belong to the share of its access realm "
		  "(0: a pair of nodes, every pair; an unknown pair: none)");
	np_config_free(&cfg);
}

/* A share's part of the node's journal, as its stream gets it. */
static void test_filter(struct tap *t)
{
	static const char batch[] =
		"term 0 203.0.113.20 40001 #1\n"
		"leg a #2\n"
		"stream 0 1 #3\n"
		"term 1 203.0.113.21 40002 #4\n"
		"leg b #5\n"
		"gone 1 21000 #6\n"
		"gw mgcp 0 203.0.113.50 2427 #7\n"
		"gwcall c #8\n"
		"orphan-gone 1 31000 #9\n"
		"commit 5 #a\n";
	static const char s1[] = "term 0 203.0.113.20 40001 #1\n"
				 "leg a #2\n"
				 "stream 0 1 #3\n"
				 "gw mgcp 0 203.0.113.50 2427 #7\n"
				 "gwcall c #8\n"
				 "commit 5 #a\n";
	static const char s2[] = "term 1 203.0.113.21 40002 #4\n"
				 "leg b #5\n"
				 "gone 1 21000 #6\n"
				 "orphan-gone 1 31000 #9\n"
				 "commit 5 #a\n";
	struct np_config cfg;
	char err[256], out[sizeof(batch)];
	size_t n;
	int ret;

	ret = parse(two_shares, &cfg, err, sizeof(err));
	n = ret ? 0 : np_follow_filter(&cfg, 0x3, batch, strlen(batch), out);
	tap_check(t, n == strlen(s1) && !memcmp(out, s1, n),
		  "s1's stream: its terminals and gateways with their legs, "
		  "streams and calls, and the commit; none of s2's");
	n = ret ? 0 : np_follow_filter(&cfg, 0xc, batch, strlen(batch), out);
	tap_check(t, n == strlen(s2) && !memcmp(out, s2, n),
		  "s2's stream: its terminal with its leg, its tombstones, "
		  "and the commit");
	n = ret ? 0 : np_follow_filter(&cfg, 0, batch, strlen(batch), out);
	tap_check(t, n == strlen(batch) && !memcmp(out, batch, n),
		  "a pair's stream (no share): all of it");
	np_config_free(&cfg);
}

/* One node, two shares, each its own view: the role is per share. */
static void test_roles(struct tap *t)
{
	/* s1: keepalived gave us its addresses and its lease is free (a
	 * died); s2: b holds its lease and its addresses are b's. */
	struct np_role_view s1 = { true, NP_LEASE_FREE, false, false };
	struct np_role_view s2 = { false, NP_LEASE_OTHER, false, false };
	struct np_role_step a = np_role_next(NP_ROLE_STANDBY, &s1);
	struct np_role_step b = np_role_next(NP_ROLE_STANDBY, &s2);

	tap_check(t,
		  a.next == NP_ROLE_STANDBY && a.want == NP_LEASE_TAKE &&
			  b.next == NP_ROLE_STANDBY &&
			  b.want == NP_LEASE_WATCH && b.follow,
		  "per share: s1 (addresses here, lease free) takes its lease; "
		  "s2 (b holds it) stays a standby and follows b");
	s1.lease = NP_LEASE_OURS;
	s1.permitted = true;
	a = np_role_next(NP_ROLE_STANDBY, &s1);
	b = np_role_next(NP_ROLE_STANDBY, &s2);
	tap_check(t,
		  a.next == NP_ROLE_ACTIVE && a.want == NP_LEASE_HOLD &&
			  !a.follow && b.next == NP_ROLE_STANDBY && b.follow,
		  "per share: s1's lease ours: active for s1, still a standby "
		  "following s2");
	/* b dies: keepalived moves s2's addresses here too. */
	s2.have_addrs = true;
	s2.lease = NP_LEASE_FREE;
	b = np_role_next(NP_ROLE_STANDBY, &s2);
	a = np_role_next(NP_ROLE_ACTIVE, &s1);
	tap_check(t,
		  b.want == NP_LEASE_TAKE && !b.follow &&
			  a.next == NP_ROLE_ACTIVE && a.want == NP_LEASE_HOLD,
		  "per share: s2's lease lapses with its addresses here: taken, "
		  "while s1 acts on");
	/* a comes back and takes s1's lease under us (a stale lease read):
	 * s1 fenced, s2 untouched. */
	s1.lease = NP_LEASE_OTHER;
	s2.lease = NP_LEASE_OURS;
	s2.permitted = true;
	a = np_role_next(NP_ROLE_ACTIVE, &s1);
	b = np_role_next(NP_ROLE_STANDBY, &s2);
	tap_check(t, a.next == NP_ROLE_FENCED && b.next == NP_ROLE_ACTIVE,
		  "per share: s1 fenced (another node holds its lease), s2 "
		  "active: one share's fencing stops nothing of the other");
	/* s1's addresses leave us (keepalived gave them back to a): s1
	 * follows a again, s2 stays active. */
	s1.have_addrs = false;
	a = np_role_next(NP_ROLE_FENCED, &s1);
	a = np_role_next(a.next, &s1);
	tap_check(t, a.next == NP_ROLE_STANDBY && a.follow,
		  "per share: s1's addresses gone: standby, following the "
		  "holder of its lease");
}

int main(void)
{
	struct tap t = { 0 };

	test_config(&t);
	test_example(&t);
	test_records(&t);
	test_filter(&t);
	test_roles(&t);
	return tap_done(&t);
}
