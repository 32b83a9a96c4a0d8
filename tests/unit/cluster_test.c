// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cluster layer's pure parts (docs/ha.md): the cluster section of the
 * configuration (defaults, FILE:LINE:COLUMN errors), every role transition
 * (ctl/cluster/role.c), a live call's text (ctl/cluster/live.c) read
 * back into a call's volumes, a standby's pass over the peer's media hash
 * in steps (ctl/cluster/latchpass.c), and what the Redis link makes of a
 * lease key and a sentinel's +switch-master (ctl/cluster/redis.c,
 * sentinel.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/latchpass.h"
#include "cluster/live.h"
#include "cluster/role.h"
#include "cluster/sentinel.h"
#include "config.h"
#include "tap.h"

static const char base[] = "realms:\n"
			   "  - name: access\n"
			   "    interface: acc0\n"
			   "    address: 203.0.113.1\n"
			   "    sip_port: 5060\n"
			   "    media_ports: 30000-30999\n"
			   "  - name: core\n"
			   "    interface: core0\n"
			   "    address: 198.51.100.1\n"
			   "    sip_ports: 20000-20999\n"
			   "    media_ports: 40000-40999\n"
			   "pairs:\n"
			   "  - first: access\n"
			   "    second: core\n"
			   "    softswitch: 198.51.100.2:5060\n";

/* base and a cluster section (line 16 on); 0 or the error's text. */
static int parse(const char *cluster, struct np_config *cfg, char *err,
		 size_t len)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", base, cluster);
	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	return np_config_parse("c.yaml", text, strlen(text), cfg, err, len);
}

static void test_config(struct tap *t)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "cluster:\n  node: a\n",
		  "c.yaml:17:3: missing required key 'redis' (or 'sentinels' "
		  "and 'master') in cluster" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  sentinels: "
		  "[10.0.0.1:26379]\n  master: np\n  node: a\n",
		  "c.yaml:18:3: 'redis' and 'sentinels' in cluster: give one "
		  "Redis, or the sentinels that name its master, not both" },
		{ "cluster:\n  sentinels: [10.0.0.1:26379]\n  node: a\n",
		  "c.yaml:17:3: missing required key 'master' in cluster: the "
		  "name the sentinels monitor" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  master: np\n  node: a\n",
		  "c.yaml:18:3: 'master' in cluster goes with 'sentinels', not "
		  "with 'redis'" },
		{ "cluster:\n  sentinels: []\n  master: np\n  node: a\n",
		  "c.yaml:17:14: 'sentinels' is empty" },
		{ "cluster:\n  sentinels: [10.0.0.1]\n  master: np\n  node: a\n",
		  "c.yaml:17:15: bad sentinel '10.0.0.1': missing port" },
		{ "cluster:\n  sentinels: [10.0.0.1:26379, 10.0.0.1:26379]\n"
		  "  master: np\n  node: a\n",
		  "c.yaml:17:31: sentinel '10.0.0.1:26379' listed twice" },
		{ "cluster:\n  sentinels: [10.0.0.1:26379]\n  master: 'a b'\n"
		  "  node: a\n",
		  "c.yaml:18:11: bad master 'a b': letters, digits" },
		{ "cluster:\n  sentinels: 10.0.0.1:26379\n  master: np\n"
		  "  node: a\n",
		  "c.yaml:17:14: 'sentinels' must be a sequence, found a scalar" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n",
		  "c.yaml:17:3: missing required key 'node' in cluster" },
		{ "cluster:\n  redis: 10.0.0.1\n  node: a\n",
		  "c.yaml:17:10: bad redis '10.0.0.1': missing port" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: 'a b'\n",
		  "c.yaml:18:9: bad node 'a b': letters, digits" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: a\n  peer: a\n",
		  "c.yaml:19:9: bad peer 'a': the node itself" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: a\n  lease_ms: 10\n",
		  "c.yaml:19:13: bad lease_ms '10'" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: a\n  leader: a\n",
		  "c.yaml:19:3: unknown key 'leader' in cluster" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: a\n  peer: b\n"
		  "  heartbeat: 10.0.0.2:7400\n",
		  "c.yaml:17:3: heartbeat and peer_heartbeat go together" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: a\n  peer: b\n"
		  "  heartbeat: 10.0.0.2\n  peer_heartbeat: 10.0.0.3:7400\n",
		  "c.yaml:20:14: bad heartbeat '10.0.0.2': missing port" },
		{ "cluster:\n  redis: 10.0.0.1:6379\n  node: a\n"
		  "  heartbeat: 10.0.0.2:7400\n  peer_heartbeat: 10.0.0.3:7400\n",
		  "c.yaml:17:3: a heartbeat needs the peer's name" },
	};
	struct np_config cfg;
	char err[256];
	size_t i;
	int ret;

	ret = parse("", &cfg, err, sizeof(err));
	tap_check(t, !ret && !cfg.cluster.redis.family,
		  "config: no cluster section: a single node (no Redis)");
	np_config_free(&cfg);
	ret = parse("cluster:\n  redis: 198.51.100.50:6379\n  node: a\n"
		    "  peer: b\n",
		    &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && cfg.cluster.redis.port == 6379 &&
			  !strcmp(cfg.cluster.node, "a") &&
			  !strcmp(cfg.cluster.peer, "b") &&
			  !strcmp(cfg.cluster.share, "natproxy") &&
			  cfg.cluster.lease_ms == NP_DEFAULT_LEASE_MS &&
			  cfg.cluster.queue == NP_DEFAULT_CLUSTER_QUEUE,
		  "config: cluster with defaults (share natproxy, lease %u ms, "
		  "queue %u)",
		  NP_DEFAULT_LEASE_MS, NP_DEFAULT_CLUSTER_QUEUE);
	np_config_free(&cfg);
	ret = parse("cluster:\n  sentinels:\n    - 198.51.100.60:26379\n"
		    "    - '[2001:db8::1]:26380'\n  master: np\n  node: a\n",
		    &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && np_cluster_on(&cfg.cluster) &&
			  !cfg.cluster.redis.family &&
			  cfg.cluster.n_sentinels == 2 &&
			  cfg.cluster.sentinels[0].port == 26379 &&
			  cfg.cluster.sentinels[1].family == AF_INET6 &&
			  cfg.cluster.sentinels[1].port == 26380 &&
			  !strcmp(cfg.cluster.master, "np"),
		  "config: sentinels (in order, IPv4 and IPv6) with the "
		  "master's name instead of one redis");
	if (ret)
		tap_diag("%s", err);
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

static void test_roles(struct tap *t)
{
	/* addrs, lease, permitted (lease time or the peer's promise left),
	 * peer said "active" lately */
	static const struct {
		enum np_role cur;
		bool addrs;
		enum np_lease_seen lease;
		bool permitted, peer_active;
		enum np_role next;
		enum np_lease_want want;
		bool follow;
		const char *why;
	} cases[] = {
		{ NP_ROLE_STANDBY, false, NP_LEASE_OTHER, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, true,
		  "standby follows the lease holder" },
		{ NP_ROLE_STANDBY, false, NP_LEASE_FREE, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, false,
		  "standby without the addresses never takes a free lease" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_FREE, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_TAKE, false,
		  "standby with the addresses takes a free lease" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_FREE, false, true,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, false,
		  "... not while the peer says it acts (it may lack redis)" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_OURS, true, false,
		  NP_ROLE_ACTIVE, NP_LEASE_HOLD, false,
		  "... and acts once Redis says it is its" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_OURS, true, true,
		  NP_ROLE_STANDBY, NP_LEASE_RELEASE, false,
		  "lease ours but the peer says it acts: given back, no act" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_OURS, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_HOLD, false,
		  "lease ours, its time not known: renewed before acting" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_OTHER, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, true,
		  "standby with the addresses but not the lease: no promotion" },
		{ NP_ROLE_STANDBY, true, NP_LEASE_UNKNOWN, true, false,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, false,
		  "Redis unreachable: a standby never promotes" },
		{ NP_ROLE_ACTIVE, true, NP_LEASE_OURS, true, false,
		  NP_ROLE_ACTIVE, NP_LEASE_HOLD, false,
		  "active renews its lease" },
		{ NP_ROLE_ACTIVE, true, NP_LEASE_UNKNOWN, true, false,
		  NP_ROLE_ACTIVE, NP_LEASE_HOLD, false,
		  "Redis unreachable, the peer confirms: the active node acts" },
		{ NP_ROLE_ACTIVE, true, NP_LEASE_UNKNOWN, false, false,
		  NP_ROLE_ISOLATED, NP_LEASE_HOLD, false,
		  "Redis and the peer unreachable: isolated, acts on nothing" },
		{ NP_ROLE_ACTIVE, true, NP_LEASE_UNKNOWN, true, true,
		  NP_ROLE_FENCED, NP_LEASE_WATCH, false,
		  "Redis unreachable and the peer says it acts: fenced" },
		{ NP_ROLE_ACTIVE, true, NP_LEASE_FREE, true, false,
		  NP_ROLE_ACTIVE, NP_LEASE_HOLD, false,
		  "a lapsed lease is taken again" },
		{ NP_ROLE_ACTIVE, true, NP_LEASE_OTHER, true, false,
		  NP_ROLE_FENCED, NP_LEASE_WATCH, false,
		  "another node holds the lease: fenced at once" },
		{ NP_ROLE_ACTIVE, false, NP_LEASE_OURS, true, false,
		  NP_ROLE_STANDBY, NP_LEASE_RELEASE, false,
		  "the addresses left: the lease is given up" },
		{ NP_ROLE_ISOLATED, true, NP_LEASE_UNKNOWN, false, false,
		  NP_ROLE_ISOLATED, NP_LEASE_HOLD, false,
		  "isolated stays isolated while nothing answers" },
		{ NP_ROLE_ISOLATED, true, NP_LEASE_OURS, true, false,
		  NP_ROLE_ACTIVE, NP_LEASE_HOLD, false,
		  "isolated acts again once Redis says the lease is its own" },
		{ NP_ROLE_ISOLATED, true, NP_LEASE_FREE, false, true,
		  NP_ROLE_FENCED, NP_LEASE_WATCH, false,
		  "isolated, Redis back, the peer says it acts: fenced" },
		{ NP_ROLE_ISOLATED, true, NP_LEASE_OTHER, false, false,
		  NP_ROLE_FENCED, NP_LEASE_WATCH, false,
		  "isolated, Redis back, another node holds the lease: fenced" },
		{ NP_ROLE_ISOLATED, false, NP_LEASE_UNKNOWN, false, true,
		  NP_ROLE_ISOLATED, NP_LEASE_HOLD, false,
		  "isolated without the addresses stays so until Redis answers" },
		{ NP_ROLE_ISOLATED, false, NP_LEASE_OTHER, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, true,
		  "isolated, Redis back, no addresses: follows the holder" },
		{ NP_ROLE_FENCED, true, NP_LEASE_FREE, false, false,
		  NP_ROLE_FENCED, NP_LEASE_WATCH, false,
		  "fenced stays fenced while it has the addresses" },
		{ NP_ROLE_FENCED, false, NP_LEASE_OTHER, false, false,
		  NP_ROLE_STANDBY, NP_LEASE_WATCH, false,
		  "fenced without the addresses: standby again" },
	};
	struct np_role_step s;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct np_role_view v = { cases[i].addrs, cases[i].lease,
					  cases[i].permitted,
					  cases[i].peer_active };

		s = np_role_next(cases[i].cur, &v);
		if (!tap_check(t, s.next == cases[i].next &&
					  s.want == cases[i].want &&
					  s.follow == cases[i].follow,
			       "role: %s", cases[i].why))
			tap_diag("got %s want %d follow %d",
				 np_role_names[s.next], s.want, s.follow);
	}
}

static void test_live(struct tap *t)
{
	static struct np_call call;
	const char *two = "live1 2 0 1 30000 40000 10 2000 20 4000 - - - - "
			  "1 1 30002 40002 5 500 6 600 - - - -";

	call.n_streams = 2;
	np_call_room(&call, 2);
	call.gone_up[0].packets = 1;
	tap_check(t,
		  !np_live_volumes(two, &call) &&
			  call.gone_up[0].packets == 11 &&
			  call.gone_up[0].bytes == 2000 &&
			  call.gone_down[0].packets == 20 &&
			  call.gone_up[1].packets == 5 &&
			  call.gone_down[1].bytes == 600,
		  "live: the old node's volumes join the call's");
	tap_check(t, np_live_volumes("live1 1 99 1 1 1 1 1 1 1 - - - -",
				     &call) == -EINVAL,
		  "live: a stream index out of range is refused");
	tap_check(t, np_live_volumes("live1 1 0 1 30000", &call) == -EINVAL,
		  "live: a text cut short is refused");
	tap_check(t, np_live_volumes("nonsense", &call) == -EINVAL,
		  "live: not a live text: refused");
	tap_check(t, np_live_same_latches(two, "live1 2 0 1 30000 40000 11 2200 "
					       "21 4200 - - - - 1 1 30002 40002 "
					       "5 500 7 700 - - - -"),
		  "live: only the volumes moved: the same latches");
	tap_check(t, !np_live_same_latches(two, "live1 2 0 1 30000 40000 10 2000 "
						"20 4000 - - - - 1 1 30002 40002 "
						"5 500 6 600 - - 1,00,4,00,5 -"),
		  "live: a flow latched: not the same");
	tap_check(t, !np_live_same_latches(two, "live1 2 0 1 30000 40000 10 2000 "
						"20 4000 - - - - 1 0 30002 40002 "
						"5 500 6 600 - - - -"),
		  "live: a stream ended: not the same");
	tap_check(t, !np_live_same_latches(two, "live1 1 0 1 30000 40000 10 2000 "
						"20 4000 - - - -"),
		  "live: a stream fewer: not the same");
	tap_check(t, !np_live_same_latches("live1 1 0 1 30000 40000 1 2 3 4 - - - -",
					   "live1 1 0 1 30000 40001 1 2 3 4 - - - -"),
		  "live: another relay port: not the same");
	tap_check(t, np_live_same_latches("live1 0", "live1 0") &&
			     !np_live_same_latches("live1 0", "live1 0 "),
		  "live: no streams: the same; a trailing word more: not");
	np_call_streams_free(&call);
}

/*
 * The latch pass, against a model of the flows: what apply was handed
 * last for each call (the call's number in its key). A text names the
 * read it came from in its first volume (which latches ignore) and one
 * latch (or none, "-") on its first flow.
 */
#define LP_CALLS 1000
#define LP_SLOTS (LP_CALLS + 1)

struct lp_flows {
	char *held[LP_SLOTS]; /* the text the flows got last, NULL: none */
	int newest; /* the read handed in last */
	unsigned int handed, older; /* handed over; of an older read than newest */
};

static int lp_read_of(const char *text)
{
	int gen = -1;

	sscanf(text, "live1 %*d %*d %*d %*d %*d %d", &gen);
	return gen;
}

static void lp_apply(void *arg, const char *key, const char *text)
{
	struct lp_flows *fl = arg;
	int i = atoi(key + 1);

	fl->handed++;
	if (lp_read_of(text) != fl->newest)
		fl->older++;
	if (i >= 0 && i < LP_SLOTS) {
		free(fl->held[i]);
		fl->held[i] = strdup(text);
	}
}

static void lp_flows_free(struct lp_flows *fl)
{
	for (size_t i = 0; i < LP_SLOTS; i++)
		free(fl->held[i]);
	memset(fl, 0, sizeof(*fl));
}

/* latch(i): call i's latch in read gen ("-": none); calls from..to-1,
 * listed backwards (a read comes in any order). */
static struct np_redis_field *lp_read(int gen, int from, int to,
				      const char *(*latch)(int i), size_t *n)
{
	struct np_redis_field *f = calloc(to - from, sizeof(*f));
	char key[16], text[160];
	int i;

	for (i = to - 1; i >= from; i--) {
		snprintf(key, sizeof(key), "k%04d", i);
		snprintf(text, sizeof(text),
			 "live1 1 0 1 %d %d %d 0 0 0 %s - - -", 30000 + 2 * i,
			 40000 + 2 * i, gen, latch(i));
		f[to - 1 - i].key = strdup(key);
		f[to - 1 - i].value = strdup(text);
	}
	*n = to - from;
	return f;
}

static const char *lp_none(int i)
{
	(void)i;
	return "-";
}

/* Call i latched onto 192.168.NET.i, port PORT + i, sending the same way. */
static const char *lp_latched(int i, int net, int port)
{
	static char buf[96];

	snprintf(buf, sizeof(buf),
		 "1,00000000000000000000ffffc0a8%02x%02x,%d,"
		 "00000000000000000000ffffc0a8%02x%02x,%d",
		 net, i % 256, port + i, net, i % 256, port + 1000 + i);
	return buf;
}

static const char *lp_x(int i)
{
	return lp_latched(i, 10, 4000);
}

static const char *lp_y(int i)
{
	return lp_latched(i, 11, 6000);
}

/* R2 of test_latchpass: calls 0-149 and 300-599 latched elsewhere (Y),
 * 150-299 as in R1 (X), 600 on as in R0 (none). */
static const char *lp_mixed(int i)
{
	return i < 150 || (i >= 300 && i < 600) ? lp_y(i) :
	       i < 300			       ? lp_x(i) :
						 lp_none(i);
}

/* One read, handed to lp and passed: at once (budget < 0) or in steps of
 * budget 0 (one field handed a step); the steps taken. */
static unsigned int lp_pass(struct np_latchpass *lp, struct lp_flows *fl,
			    int gen, struct np_redis_field *f, size_t n,
			    double budget)
{
	unsigned int steps = 1;

	fl->newest = gen;
	np_latchpass_read(lp, f, n, true);
	while (np_latchpass_step(lp, budget, lp_apply, fl) && steps < 10 * LP_SLOTS)
		steps++;
	return steps;
}

static void test_latchpass(struct tap *t)
{
	struct np_latchpass once, stepped;
	struct lp_flows a = { 0 }, b = { 0 };
	struct np_redis_field *f;
	unsigned int steps, same = 0, i, before;
	size_t n;
	bool ok;

	np_latchpass_init(&once);
	np_latchpass_init(&stepped);
	/* R0: every call, nothing latched; R1: every call latches at once
	 * (a second in which media starts everywhere). */
	f = lp_read(0, 0, LP_CALLS, lp_none, &n);
	lp_pass(&once, &a, 0, f, n, -1);
	f = lp_read(0, 0, LP_CALLS, lp_none, &n);
	lp_pass(&stepped, &b, 0, f, n, -1);
	tap_check(t, a.handed == LP_CALLS && b.handed == LP_CALLS,
		  "latchpass: a first read is every field");
	a.handed = b.handed = 0;
	f = lp_read(1, 0, LP_CALLS, lp_x, &n);
	steps = lp_pass(&once, &a, 1, f, n, -1);
	tap_check(t, steps == 1 && a.handed == LP_CALLS,
		  "latchpass: a burst of latches at once: one step, every call");
	f = lp_read(1, 0, LP_CALLS, lp_x, &n);
	steps = lp_pass(&stepped, &b, 1, f, n, 0);
	for (i = 0; i < LP_CALLS; i++)
		same += a.held[i] && b.held[i] && !strcmp(a.held[i], b.held[i]);
	tap_check(t, steps >= LP_CALLS && b.handed == LP_CALLS &&
			     same == LP_CALLS && !np_latchpass_busy(&stepped),
		  "latchpass: the burst in %u steps ends as the one pass "
		  "(%u of %u calls alike, each handed once)",
		  steps, same, LP_CALLS);
	tap_check(t, np_latchpass_field(&stepped, "k0007") &&
			     strstr(np_latchpass_field(&stepped, "k0007"),
				    "c0a80a07") &&
			     !np_latchpass_field(&stepped, "k9999"),
		  "latchpass: the newest read's field by key");
	/* Counts alone moved: nothing to put in. */
	b.handed = 0;
	f = lp_read(2, 0, LP_CALLS, lp_x, &n);
	lp_pass(&stepped, &b, 2, f, n, 0);
	tap_check(t, b.handed == 0, "latchpass: counts alone: nothing handed");
	lp_flows_free(&a);
	lp_flows_free(&b);
	np_latchpass_free(&once);
	np_latchpass_free(&stepped);

	/* A newer read while a pass is under way: R1 latches every call
	 * (X), 300 of them passed when R2 comes (calls 0-998 and a new
	 * 1000; 999 ended). */
	np_latchpass_init(&stepped);
	f = lp_read(0, 0, LP_CALLS, lp_none, &n);
	lp_pass(&stepped, &b, 0, f, n, -1);
	b.newest = 1;
	f = lp_read(1, 0, LP_CALLS, lp_x, &n);
	np_latchpass_read(&stepped, f, n, true);
	b.handed = 0;
	for (i = 0; i < 300; i++)
		np_latchpass_step(&stepped, 0, lp_apply, &b);
	tap_check(t, b.handed == 300 && np_latchpass_busy(&stepped),
		  "latchpass: 300 calls of the burst passed, the rest waits");
	b.newest = 2;
	b.handed = 0;
	f = lp_read(2, 0, LP_CALLS + 1, lp_mixed, &n);
	free(f[1].key); /* listed from k1000 down: k0999 ended */
	free(f[1].value);
	f[1] = f[--n];
	np_latchpass_read(&stepped, f, n, true);
	steps = 1;
	while (np_latchpass_step(&stepped, 0, lp_apply, &b) && steps < 10 * LP_SLOTS)
		steps++;
	ok = !np_latchpass_field(&stepped, "k0999");
	before = 0;
	for (i = 0; i < LP_CALLS - 1; i++) {
		char key[8];
		const char *want;

		snprintf(key, sizeof(key), "k%04d", i);
		want = np_latchpass_field(&stepped, key);
		if (!want || !b.held[i] ||
		    !np_live_same_latches(b.held[i], want))
			ok = false;
		if (i >= 600 && b.held[i] && lp_read_of(b.held[i]) == 1)
			before++; /* R1's X reached a call R2 says is not latched */
	}
	tap_check(t, ok && b.older == 0 && before == 0,
		  "latchpass: a newer read mid-pass wins: every call's flows "
		  "as it says, nothing of the older read handed after it");
	/* Handed: 0-149 (X passed, now Y), 300-599 (Y; X never reached
	 * them) and the new call 1000; not 150-299 (X, held already) nor
	 * 600-998 (none, as since R0). */
	tap_check(t, b.handed == 150 + 300 + 1 && b.held[1000] &&
			     !np_latchpass_busy(&stepped),
		  "latchpass: after the newer read only what differs from "
		  "what the flows hold is handed (%u)", b.handed);
	lp_flows_free(&b);
	np_latchpass_free(&stepped);
}

/* No lease key is a free lease, except just after Redis came back: a key
 * lost with the old master (a failover, a restart) would not have lapsed
 * yet, so a standby must not take it then. */
static void test_lease_read(struct tap *t)
{
	tap_check(t, np_lease_read("a", "a", false) == NP_LEASE_OURS &&
			     np_lease_read("a", "a", true) == NP_LEASE_OURS,
		  "lease: our name in the key: ours");
	tap_check(t, np_lease_read("b", "a", true) == NP_LEASE_OTHER,
		  "lease: another name: another node's");
	tap_check(t, np_lease_read(NULL, "a", false) == NP_LEASE_FREE,
		  "lease: no key: free");
	tap_check(t, np_lease_read(NULL, "a", true) == NP_LEASE_UNKNOWN,
		  "lease: no key right after a failover: unknown, not free");
}

static void test_switch_master(struct tap *t)
{
	struct np_redis_addr to = { "", 0 };
	char text[NP_REDIS_ADDR_TEXT];

	tap_check(t,
		  np_sentinel_switch_parse(
			  "np 198.51.100.50 6379 198.51.100.51 6380", "np",
			  &to) &&
			  !strcmp(to.host, "198.51.100.51") && to.port == 6380,
		  "sentinel: +switch-master of our master: its new address");
	tap_check(t,
		  !np_sentinel_switch_parse("other 10.0.0.1 6379 10.0.0.2 6379",
					    "np", &to) &&
			  !np_sentinel_switch_parse("npx 10.0.0.1 6379 10.0.0.2 "
						    "6379",
						    "np", &to),
		  "sentinel: another master's switch is not ours");
	tap_check(t,
		  !np_sentinel_switch_parse("np 10.0.0.1 6379 10.0.0.2", "np",
					    &to) &&
			  !np_sentinel_switch_parse("np 10.0.0.1 6379 10.0.0.2 "
						    "70000",
						    "np", &to) &&
			  !np_sentinel_switch_parse("np 10.0.0.1 6379 10.0.0.2 "
						    "6379 extra",
						    "np", &to) &&
			  !np_sentinel_switch_parse("", "np", &to),
		  "sentinel: a message cut short, a bad port, or more: refused");
	tap_check(t,
		  np_sentinel_switch_parse("np ::1 6379 2001:db8::2 6380", "np",
					   &to),
		  "sentinel: IPv6 addresses");
	np_redis_addr_text(&to, text, sizeof(text));
	tap_check(t, !strcmp(text, "[2001:db8::2]:6380"),
		  "sentinel: an IPv6 master printed in brackets");
}

int main(void)
{
	struct tap t = { 0 };

	test_config(&t);
	test_roles(&t);
	test_live(&t);
	test_latchpass(&t);
	test_lease_read(&t);
	test_switch_master(&t);
	return tap_done(&t);
}
