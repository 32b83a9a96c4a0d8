// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit test of the reload decisions (ctl/reload.c): a running configuration
 * and a new file, merged. Policy keys take the file's value; a realm's
 * interface, address and ports and a pair's softswitch keep the running
 * value, with a warning; running realms and pairs keep their index (the
 * proxy refers to them by index) whatever order the file has; new ones are
 * appended; a pair gone from the file drains and comes back when the file
 * has it again; conflicts refuse the reload and leave both inputs alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload.h"
#include "tap.h"

#define ACCESS                                                                 \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-30999\n"
#define CORE                                                                   \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20999\n"                                         \
	"    media_ports: 40000-40999\n"
#define ACCESS2                                                                \
	"  - name: access2\n"                                                  \
	"    interface: acc1\n"                                                \
	"    address: 203.0.113.2\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-30999\n"
#define PAIR                                                                   \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"
#define PAIR2                                                                  \
	"  - first: access2\n"                                                 \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"

struct notes {
	char text[4096];
	int warnings, infos;
};

static void on_note(void *arg, bool warn, const char *text)
{
	struct notes *n = arg;
	size_t len = strlen(n->text);

	snprintf(n->text + len, sizeof(n->text) - len, "%s%s\n",
		 warn ? "W " : "I ", text);
	if (warn)
		n->warnings++;
	else
		n->infos++;
}

static bool parse(struct tap *t, const char *name, const char *text,
		  struct np_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	if (np_config_parse(name, text, strlen(text), cfg, err, sizeof(err))) {
		tap_check(t, false, "%s parses: %s", name, err);
		return false;
	}
	return true;
}

/* Merges running with the file text; 0 and out filled, or the error. */
static int merge(struct tap *t, const struct np_config *running,
		 const char *text, struct np_config *out, struct notes *n,
		 char *err, size_t errlen)
{
	struct np_config next;
	int ret;

	memset(n, 0, sizeof(*n));
	memset(out, 0, sizeof(*out));
	if (!parse(t, "next.yaml", text, &next))
		return -999;
	ret = np_reload_merge(running, &next, out, on_note, n, err, errlen);
	if (ret)
		np_config_free(&next);
	else if (next.realms || next.pairs)
		tap_check(t, false, "a merged file is consumed");
	return ret;
}

static const char *running_text =
	"realms:\n" ACCESS CORE "pairs:\n" PAIR
	"keepalive:\n  interval: 20\ncharging:\n  file: /var/lib/natproxy/a.log\n";

static void test_same(struct tap *t, const struct np_config *run)
{
	struct np_config out;
	struct notes n;
	char err[256];
	int ret = merge(t, run, running_text, &out, &n, err, sizeof(err));

	tap_check(t, !ret && out.n_realms == 2 && out.n_pairs == 1 &&
			     !out.pairs[0].draining,
		  "the same file: merged as it runs (%d)", ret);
	tap_check(t, !n.warnings && !n.infos, "the same file: nothing noted (%s)",
		  n.text);
	np_config_free(&out);
}

static void test_policy(struct tap *t, const struct np_config *run)
{
	static const char *text =
		"realms:\n" ACCESS "    max_calls: 1\n"
		"    deny:\n      - 203.0.113.11/32\n"
		"    dscp: 10\n    vlan: 7\n    media_timeout: 30\n"
		"    max_stream_kbps: 100\n    max_registrations: 2\n"
		"    latch: any\n" CORE "pairs:\n" PAIR
		"keepalive:\n  interval: 5\n  method: crlf\n"
		"charging:\n  file: /var/lib/natproxy/b.log\n";
	struct np_config out;
	struct notes n;
	char err[256];
	const struct np_realm *a;
	int ret = merge(t, run, text, &out, &n, err, sizeof(err));

	if (!tap_check(t, !ret, "policy keys: merged (%d %s)", ret,
		       ret ? err : ""))
		return;
	a = &out.realms[0];
	tap_check(t, a->max_calls == 1 && a->n_deny == 1 && a->dscp == 10 &&
			     a->vlan == 7 && a->media_timeout == 30 &&
			     a->max_stream_kbps == 100 &&
			     a->max_registrations == 2 &&
			     a->latch == NP_LATCH_ANY,
		  "policy keys: the file's values (max_calls, deny, dscp, vlan, media_timeout, caps, latch)");
	tap_check(t, out.keepalive_interval == 5 &&
			     out.keepalive_method == NP_KEEPALIVE_CRLF &&
			     !strcmp(out.charging_file,
				     "/var/lib/natproxy/b.log"),
		  "policy keys: keepalive and the charging file from the file");
	tap_check(t, !n.warnings && strstr(n.text, "max_calls 0 -> 1") &&
			     strstr(n.text, "latch first-packet -> any") &&
			     strstr(n.text, "deny list changed") &&
			     strstr(n.text, "keepalive interval 20 -> 5") &&
			     strstr(n.text, "charging file"),
		  "policy keys: each change noted, no warning:\n%s", n.text);
	np_config_free(&out);
}

static void test_fixed(struct tap *t, const struct np_config *run)
{
	static const char *text =
		"realms:\n"
		"  - name: access\n    interface: eth9\n"
		"    address: 203.0.113.5\n    sip_port: 5070\n"
		"    media_ports: 32000-32999\n    max_calls: 3\n" CORE
		"pairs:\n  - first: access\n    second: core\n"
		"    softswitch: 198.51.100.3:5060\n";
	struct np_config out;
	struct notes n;
	char err[256], addr[INET_ADDRSTRLEN];
	const struct np_realm *a;
	int ret = merge(t, run, text, &out, &n, err, sizeof(err));

	if (!tap_check(t, !ret, "fixed keys: merged (%d)", ret))
		return;
	a = &out.realms[0];
	inet_ntop(AF_INET, &a->address.addr.v4, addr, sizeof(addr));
	tap_check(t, !strcmp(a->interface, "acc0") &&
			     !strcmp(addr, "203.0.113.1") &&
			     a->sip_port == 5060 &&
			     a->media_ports.lo == 30000 &&
			     a->media_ports.hi == 30999,
		  "fixed keys: interface, address, sip_port, media_ports keep their running values");
	inet_ntop(AF_INET, &out.pairs[0].softswitch.addr.v4, addr,
		  sizeof(addr));
	tap_check(t, !strcmp(addr, "198.51.100.2"),
		  "fixed keys: the pair's softswitch keeps its running value");
	tap_check(t, a->max_calls == 3,
		  "fixed keys: ... while a policy key beside them changes");
	tap_check(t, n.warnings == 5 &&
			     strstr(n.text, "W realm 'access': interface 'acc0' -> 'eth9' needs a restart: kept 'acc0'") &&
			     strstr(n.text, "softswitch 198.51.100.2:5060 -> 198.51.100.3:5060 needs a restart"),
		  "fixed keys: one warning each, saying what was kept:\n%s",
		  n.text);
	np_config_free(&out);
}

static void test_add_remove(struct tap *t, const struct np_config *run)
{
	/* The file lists the new realm first: indexes must not move. */
	static const char *added = "realms:\n" ACCESS2 CORE ACCESS
				   "pairs:\n" PAIR2 PAIR;
	static const char *removed = "realms:\n" ACCESS2 CORE
				     "pairs:\n" PAIR2;
	static const char *back = "realms:\n" ACCESS CORE ACCESS2
				  "pairs:\n" PAIR PAIR2;
	struct np_config out, out2, out3;
	struct notes n;
	char err[256];
	int ret = merge(t, run, added, &out, &n, err, sizeof(err));

	if (!tap_check(t, !ret, "add: merged (%d %s)", ret, ret ? err : ""))
		return;
	tap_check(t, out.n_realms == 3 &&
			     !strcmp(out.realms[0].name, "access") &&
			     !strcmp(out.realms[1].name, "core") &&
			     !strcmp(out.realms[2].name, "access2"),
		  "add: running realms keep their index, the new one is appended");
	tap_check(t, out.n_pairs == 2 && out.pairs[0].first == 0 &&
			     out.pairs[0].second == 1 &&
			     out.pairs[1].first == 2 &&
			     out.pairs[1].second == 1 && !out.pairs[1].draining,
		  "add: the running pair keeps index 0, the new one (access2->core) is 1");
	tap_check(t, strstr(n.text, "pair access2->core added") &&
			     strstr(n.text, "realm 'access2' added"),
		  "add: noted:\n%s", n.text);

	ret = merge(t, &out, removed, &out2, &n, err, sizeof(err));
	if (!tap_check(t, !ret, "remove: merged (%d %s)", ret, ret ? err : ""))
		goto out;
	tap_check(t, out2.n_realms == 3 && out2.n_pairs == 2 &&
			     out2.pairs[0].draining && !out2.pairs[1].draining &&
			     !strcmp(out2.realms[0].name, "access") &&
			     !strcmp(out2.realms[0].interface, "acc0"),
		  "remove: pair access->core drains, its realm is kept at its index");
	tap_check(t, strstr(n.text, "pair access->core removed: draining") &&
			     strstr(n.text, "realm 'access' is not in the file"),
		  "remove: noted:\n%s", n.text);

	/* A realm kept while draining must not collide with a new one. */
	{
		struct np_config out4;
		static const char *clash =
			"realms:\n" CORE
			"  - name: fresh\n    interface: acc0\n"
			"    address: 203.0.113.1\n    sip_port: 5060\n"
			"    media_ports: 30000-30999\n"
			"pairs:\n  - first: fresh\n    second: core\n"
			"    softswitch: 198.51.100.2:5060\n";

		ret = merge(t, &out2, clash, &out4, &n, err, sizeof(err));
		tap_check(t, ret == -EINVAL &&
				     strstr(err, "new realm 'fresh'") &&
				     strstr(err, "running realm 'access'"),
			  "remove: a new realm on the draining realm's ports is refused (%s)",
			  err);
	}

	ret = merge(t, &out2, back, &out3, &n, err, sizeof(err));
	if (tap_check(t, !ret, "back: merged (%d %s)", ret, ret ? err : "")) {
		tap_check(t, out3.n_pairs == 2 && !out3.pairs[0].draining &&
				     out3.n_realms == 3,
			  "back: the pair listed again stops draining");
		tap_check(t, strstr(n.text, "pair access->core is back") != NULL,
			  "back: noted:\n%s", n.text);
		np_config_free(&out3);
	}
	np_config_free(&out2);
out:
	np_config_free(&out);
}

static void test_conflicts(struct tap *t, const struct np_config *run)
{
	/* access now first of a pair to another core: the running pair
	 * access->core drains, and holds access's socket. */
	static const char *repair =
		"realms:\n" ACCESS CORE
		"  - name: core2\n    interface: core1\n"
		"    address: 198.51.100.5\n    sip_ports: 20000-20999\n"
		"    media_ports: 40000-40999\n"
		"pairs:\n  - first: access\n    second: core2\n"
		"    softswitch: 198.51.100.2:5060\n";
	/* Valid as a file: access moved its ports away, acc9 took them; but
	 * access keeps its running ports. */
	static const char *overlap =
		"realms:\n"
		"  - name: access\n    interface: acc0\n"
		"    address: 203.0.113.1\n    sip_port: 5060\n"
		"    media_ports: 32000-32999\n" CORE
		"  - name: acc9\n    interface: acc0\n"
		"    address: 203.0.113.1\n    sip_port: 5062\n"
		"    media_ports: 30500-31999\n"
		"pairs:\n" PAIR;
	struct np_config out;
	struct notes n;
	char err[256] = "";
	int ret;

	ret = merge(t, run, repair, &out, &n, err, sizeof(err));
	tap_check(t, ret == -EINVAL &&
			     strstr(err, "new pair access->core2: realm 'access' is still first of pair access->core (draining)"),
		  "conflict: re-pairing a running access realm is refused: %s",
		  err);
	ret = merge(t, run, overlap, &out, &n, err, sizeof(err));
	tap_check(t, ret == -EINVAL &&
			     strstr(err, "new realm 'acc9': ports 30500-31999 overlap ports 30000-30999 of running realm 'access'"),
		  "conflict: a new realm overlapping a running one is refused: %s",
		  err);
	tap_check(t, run->n_realms == 2 && run->n_pairs == 1 &&
			     !run->pairs[0].draining,
		  "conflict: the running configuration is untouched");
}

int main(void)
{
	struct tap t = { 0 };
	struct np_config run;

	if (!parse(&t, "running.yaml", running_text, &run))
		return tap_done(&t);
	test_same(&t, &run);
	test_policy(&t, &run);
	test_fixed(&t, &run);
	test_add_remove(&t, &run);
	test_conflicts(&t, &run);
	np_config_free(&run);
	return tap_done(&t);
}
