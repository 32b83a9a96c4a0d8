/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit test of the natproxyd configuration parser (ctl/config.c): every
 * broken fixture under tests/unit/configs/ must fail with -EINVAL and one
 * message naming the right LINE:COLUMN, without touching the caller's
 * config; the valid fixtures and the shipped examples in configs/ must
 * parse to the expected values, field by field. Run from the repository
 * root, or pass the root as the first argument.
 */
#include "config.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/unit/configs/"

struct broken {
	const char *file;
	unsigned int line, col;
	const char *msg; /* a substring of the message */
};

/* Line 1 of every fixture is a comment saying what is wrong with it. */
static const struct broken broken[] = {
	{ "bad-syntax.yaml", 7, 16, "did not find expected ',' or ']'" },
	{ "bad-indent.yaml", 6, 15, "yaml syntax error" },
	{ "undefined-alias.yaml", 9, 16, "undefined alias" },
	{ "two-docs.yaml", 18, 1, "only one YAML document" },
	{ "empty.yaml", 1, 1, "config is empty" },
	{ "top-sequence.yaml", 2, 1, "must be a mapping, found a sequence" },
	{ "unknown-key.yaml", 7, 5,
	  "unknown key 'medai_ports' in realm 'access'" },
	{ "unknown-top-key.yaml", 17, 1, "unknown key 'keepalives' at top" },
	{ "dup-key.yaml", 6, 5, "duplicate key 'address' in realm 'access'" },
	{ "missing-interface.yaml", 8, 5,
	  "missing required key 'interface' in realm 'core'" },
	{ "missing-realms.yaml", 2, 1, "missing required key 'realms'" },
	{ "missing-softswitch.yaml", 14, 5,
	  "missing required key 'softswitch' in pair 1" },
	{ "charging-nofile.yaml", 17, 1, "missing required key 'file'" },
	{ "metrics-nolisten.yaml", 17, 1,
	  "missing required key 'listen' in metrics" },
	{ "metrics-noport.yaml", 18, 11,
	  "bad listen '127.0.0.1': missing port" },
	{ "metrics-multicast.yaml", 18, 11,
	  "bad listen '224.0.0.1:9100': not a unicast or wildcard address" },
	{ "metrics-port-big.yaml", 18, 11,
	  "bad listen '[::1]:99999': is out of range 1..65535" },
	{ "metrics-unknown-key.yaml", 19, 3,
	  "unknown key 'path' in metrics" },
	{ "type-realms.yaml", 3, 3,
	  "'realms' must be a sequence, found a mapping" },
	{ "type-name.yaml", 8, 11, "'name' must be a scalar, found a sequence" },
	{ "type-allow.yaml", 7, 12,
	  "'allow' must be a sequence, found a scalar" },
	{ "type-keepalive.yaml", 13, 12,
	  "'keepalive' must be a mapping, found a scalar" },
	{ "empty-value.yaml", 4, 5, "'interface' has no value" },
	{ "bad-address.yaml", 10, 14,
	  "bad address '198.51.100.256': not an IPv4 or IPv6" },
	{ "bad-address-multicast.yaml", 5, 14, "not a unicast address" },
	{ "port-zero.yaml", 6, 15, "bad sip_port '0': is out of range 1..65535" },
	{ "port-big.yaml", 6, 15, "bad sip_port '65536': is out of range" },
	{ "range-reversed.yaml", 12, 18, "start 40999 is above end 40000" },
	{ "range-single.yaml", 11, 16, "expected a range LO-HI" },
	{ "range-zero.yaml", 11, 16, "start port 0 is out of range" },
	{ "range-big.yaml", 11, 16, "end port 65536 is out of range" },
	{ "media-odd.yaml", 7, 18, "must start on an even port" },
	{ "media-small.yaml", 7, 18, "needs at least 2 ports" },
	{ "overlap-sip-media.yaml", 7, 18,
	  "media_ports 30000-30999 overlaps sip_port 30010 of the same realm" },
	{ "overlap-sipports-media.yaml", 12, 18,
	  "media_ports 20500-21499 overlaps sip_ports 20000-20999" },
	{ "overlap-realms.yaml", 17, 18,
	  "overlaps media_ports 40000-40999 of realm 'core' on the same" },
	{ "dup-realm.yaml", 13, 11, "duplicate realm name 'core' (first at line 8)" },
	{ "name-long.yaml", 8, 11, "longer than 31 characters" },
	{ "name-chars.yaml", 8, 11, "bad name 'core side'" },
	{ "ifname-long.yaml", 4, 16, "longer than 15 characters" },
	{ "pair-unknown.yaml", 15, 13, "second names unknown realm 'kore'" },
	{ "pair-same.yaml", 15, 13, "joins realm 'access' to itself" },
	{ "pair-first-reused.yaml", 17, 12,
	  "realm 'access' is already first of pair 1" },
	{ "first-no-sip-port.yaml", 13, 12,
	  "realm 'access' (line 3) has no sip_port" },
	{ "second-no-sip-ports.yaml", 14, 13,
	  "realm 'core' (line 8) has no sip_ports" },
	{ "softswitch-family.yaml", 16, 17,
	  "pair 1 (access -> core) mixes address families: softswitch "
	  "'[2001:db8::2]:5060' is IPv6 but realm 'core' has an IPv4 address" },
	{ "pair-mixed-family.yaml", 15, 13,
	  "pair 1 (access4 -> core6) mixes address families: realm 'access4' "
	  "is IPv4 but realm 'core6' is IPv6" },
	{ "softswitch-brackets.yaml", 16, 17, "needs brackets" },
	{ "softswitch-noport.yaml", 16, 17, "missing port" },
	{ "softswitch-badport.yaml", 16, 17, "trailing characters" },
	{ "empty-realms.yaml", 2, 9, "no realms defined" },
	{ "empty-pairs.yaml", 13, 1, "no pairs defined" },
	{ "bad-latch.yaml", 7, 12,
	  "bad latch 'always': expected first-packet, restricted, any or off" },
	{ "bad-deny-action.yaml", 7, 18, "expected 403 or drop" },
	{ "bad-unknown-rate.yaml", 7, 29,
	  "bad unknown_signaling_rate '2000000': is out of range 0..1000000" },
	{ "bad-unknown-burst.yaml", 7, 30,
	  "bad unknown_signaling_burst '0': is out of range 1..1000000" },
	{ "bad-block-time.yaml", 7, 17,
	  "bad block_time '90000': is out of range 0..86400" },
	{ "bad-keepalive-method.yaml", 18, 11,
	  "bad method 'ping': expected options or crlf" },
	{ "interval-zero.yaml", 19, 13, "bad interval '0': is out of range 1..3600" },
	{ "interval-big.yaml", 18, 13, "bad interval '3601'" },
	{ "trailing-junk.yaml", 13, 20,
	  "bad media_timeout '60s': has trailing characters" },
	{ "negative.yaml", 7, 16, "bad max_calls '-1': is not a decimal number" },
	{ "leading-zero.yaml", 7, 11, "bad dscp '046': has a leading zero" },
	{ "dscp-big.yaml", 7, 15, "bad sip_dscp '64': is out of range 0..63" },
	{ "vlan-big.yaml", 13, 11, "bad vlan '4095': is out of range 1..4094" },
	{ "prefix-len.yaml", 9, 9, "length 33 is out of range 0..32" },
	{ "prefix-host-bits.yaml", 8, 9, "host bits set beyond /32" },
	{ "prefix-addr.yaml", 7, 29, "bad prefix '192.168.1/24' in allow" },
	{ "bad-ice.yaml", 7, 10, "bad ice 'pass': expected remove or relay" },
	{ "hold-timeout-big.yaml", 7, 19,
	  "bad hold_timeout '604801': is out of range 0..604800" },
	{ "hold-timeout-unit.yaml", 7, 19,
	  "bad hold_timeout '1h': has trailing characters" },
	{ "bad-core-strangers.yaml", 13, 21,
	  "bad core_strangers '403': expected drop or reject" },
	{ "quarantine-unit.yaml", 13, 26,
	  "bad sip_port_quarantine '5m': has trailing characters" },
	{ "quarantine-big.yaml", 13, 26,
	  "bad sip_port_quarantine '86401': is out of range 0..86400" },
};

/* Broken input that a file cannot show well (bytes, escapes, buffers). */
struct broken_text {
	const char *desc;
	const char *text;
	size_t len;
	const char *pos; /* "LINE:COLUMN" */
	const char *msg;
};

#define TXT(s) s, sizeof(s) - 1

static const struct broken_text broken_text[] = {
	{ "invalid UTF-8", TXT("realms:\n  - name: \"ab\xff\"\n"), "2:14",
	  "invalid input" },
	{ "NUL escape in a name",
	  TXT("realms:\n"
	      "  - name: \"acc\\0ess\"\n"
	      "    interface: a0\n"
	      "    address: 203.0.113.1\n"
	      "    media_ports: 30000-30999\n"
	      "pairs: []\n"),
	  "2:11",
	  "contains a NUL character" },
	{ "tab indentation", TXT("realms:\n\t- name: x\n"), "2:1",
	  "yaml syntax error" },
	{ "non-scalar key", TXT("? [a, b]\n: c\n"), "1:3",
	  "keys must be plain names" },
	{ "realm not a mapping", TXT("realms:\n  - access\npairs: []\n"),
	  "2:5", "each realm must be a mapping, found a scalar" },
	{ "unnamed realm in messages",
	  TXT("realms:\n  - interface: acc0\n    colour: blue\npairs: []\n"),
	  "3:5",
	  "unknown key 'colour' in realm 1" },
	{ "brackets around IPv4",
	  TXT("realms:\n"
	      "  - {name: a, interface: a0, address: 203.0.113.1,\n"
	      "     sip_port: 5060, media_ports: 30000-30999}\n"
	      "  - {name: c, interface: c0, address: 198.51.100.1,\n"
	      "     sip_ports: 20000-20999, media_ports: 40000-40999}\n"
	      "pairs:\n"
	      "  - {first: a, second: c, softswitch: '[198.51.100.2]:5060'}\n"),
	  "7:39", "brackets are for IPv6 addresses only" },
	{ "IPv6 terminals paired with an IPv4 core, second pair",
	  TXT("realms:\n"
	      "  - {name: a4, interface: a0, address: 203.0.113.1,\n"
	      "     sip_port: 5060, media_ports: 30000-30999}\n"
	      "  - {name: c4, interface: c0, address: 198.51.100.1,\n"
	      "     sip_ports: 20000-20999, media_ports: 40000-40999}\n"
	      "  - {name: a6, interface: a1, address: '2001:db8:1::1',\n"
	      "     sip_port: 5060, media_ports: 30000-30999}\n"
	      "pairs:\n"
	      "  - {first: a4, second: c4, softswitch: '198.51.100.2:5060'}\n"
	      "  - {first: a6, second: c4, softswitch: '198.51.100.2:5060'}\n"),
	  "10:25",
	  "pair 2 (a6 -> c4) mixes address families: realm 'a6' is IPv6 but "
	  "realm 'c4' is IPv4" },
};

static char root[512] = ".";

static void path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", root, rel);
}

static bool addr_is(const struct np_sockaddr *a, const char *text)
{
	struct np_sockaddr want = { 0 };

	if (inet_pton(AF_INET, text, &want.addr.v4) == 1)
		want.family = AF_INET;
	else if (inet_pton(AF_INET6, text, &want.addr.v6) == 1)
		want.family = AF_INET6;
	else
		return false;
	if (a->family != want.family)
		return false;
	if (a->family == AF_INET)
		return a->addr.v4.s_addr == want.addr.v4.s_addr;
	return !memcmp(&a->addr.v6, &want.addr.v6, sizeof(want.addr.v6));
}

static bool prefix_is(const struct np_prefix *p, const char *text,
		      unsigned int len)
{
	struct np_sockaddr a = { .family = p->family, .addr = p->addr };

	return p->len == len && addr_is(&a, text);
}

static bool range_is(struct np_port_range r, unsigned int lo, unsigned int hi)
{
	return r.lo == lo && r.hi == hi;
}

/* The config a failed parse must leave exactly as it found it. */
static void poison(struct np_config *cfg)
{
	memset(cfg, 0xa5, sizeof(*cfg));
}

static bool poisoned(const struct np_config *cfg)
{
	struct np_config ref;

	poison(&ref);
	return !memcmp(cfg, &ref, sizeof(ref));
}

static void test_broken_files(struct tap *t)
{
	char file[1024], want[1200], err[512];
	struct np_config cfg;
	const struct broken *b;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		b = &broken[i];
		path(file, sizeof(file), FIXTURES);
		strncat(file, b->file, sizeof(file) - strlen(file) - 1);
		snprintf(want, sizeof(want), "%s:%u:%u: ", file, b->line,
			 b->col);
		poison(&cfg);
		err[0] = '\0';
		ret = np_config_load(file, &cfg, err, sizeof(err));
		tap_check(t, ret == -EINVAL, "%s: returns -EINVAL (got %d)",
			  b->file, ret);
		if (!tap_check(t, !strncmp(err, want, strlen(want)) &&
					  strstr(err, b->msg) &&
					  !strchr(err, '\n'),
			       "%s: %u:%u: %s", b->file, b->line, b->col,
			       b->msg))
			tap_diag("got: %s", err);
		tap_check(t, poisoned(&cfg), "%s: config left untouched",
			  b->file);
	}
}

static void test_broken_text(struct tap *t)
{
	const struct broken_text *b;
	struct np_config cfg;
	char want[64], err[256];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(broken_text) / sizeof(broken_text[0]); i++) {
		b = &broken_text[i];
		snprintf(want, sizeof(want), "mem.yaml:%s: ", b->pos);
		poison(&cfg);
		err[0] = '\0';
		ret = np_config_parse("mem.yaml", b->text, b->len, &cfg, err,
				      sizeof(err));
		if (!tap_check(t, ret == -EINVAL && !strncmp(err, want,
							     strlen(want)) &&
					  strstr(err, b->msg) &&
					  poisoned(&cfg),
			       "%s: %s %s", b->desc, b->pos, b->msg))
			tap_diag("got %d: %s", ret, err);
	}
}

static void test_minimal(struct tap *t)
{
	char file[1024], err[256] = "";
	const struct np_realm *a, *c;
	struct np_config cfg = { 0 };
	int ret;

	path(file, sizeof(file), FIXTURES "valid-minimal.yaml");
	ret = np_config_load(file, &cfg, err, sizeof(err));
	if (!tap_check(t, ret == 0, "valid-minimal: parses"))
		tap_diag("%s", err);
	if (ret)
		return;
	tap_check(t, cfg.n_realms == 2 && cfg.n_pairs == 1,
		  "valid-minimal: 2 realms, 1 pair");
	a = &cfg.realms[0];
	c = &cfg.realms[1];
	tap_check(t, !strcmp(a->name, "access") && !strcmp(a->interface, "acc0"),
		  "valid-minimal: access name and interface");
	tap_check(t, addr_is(&a->address, "203.0.113.1") && !a->address.port,
		  "valid-minimal: access address, port 0");
	tap_check(t, a->sip_port == 5060 && range_is(a->sip_ports, 0, 0),
		  "valid-minimal: access sip_port 5060, no sip_ports");
	tap_check(t, range_is(a->media_ports, 30000, 30999),
		  "valid-minimal: access media_ports");
	tap_check(t, a->latch == NP_LATCH_FIRST_PACKET &&
			     a->media_timeout == 60 && a->dscp == -1 &&
			     a->sip_dscp == -1 && a->vlan == 0,
		  "valid-minimal: default latch, timeout, dscp, vlan");
	tap_check(t, !a->allow && !a->n_allow && !a->deny && !a->n_deny &&
			     !a->max_calls && !a->max_stream_kbps &&
			     !a->deny_drop,
		  "valid-minimal: no prefixes, no limits, deny answers 403");
	tap_check(t, a->ice == NP_SDP_ICE_REMOVE && a->hold_timeout == 3600 &&
			     a->core_strangers == NP_CORE_STRANGERS_DROP &&
			     a->sip_port_quarantine == 300 &&
			     c->ice == NP_SDP_ICE_REMOVE && c->hold_timeout == 3600 &&
			     c->core_strangers == NP_CORE_STRANGERS_DROP &&
			     c->sip_port_quarantine == 300,
		  "valid-minimal: ice remove, hold_timeout 3600, core_strangers "
		  "drop, sip_port_quarantine 300");
	tap_check(t, !strcmp(c->name, "core") &&
			     !strcmp(c->interface, "core0") &&
			     addr_is(&c->address, "198.51.100.1"),
		  "valid-minimal: core name, interface, address");
	tap_check(t, !c->sip_port && range_is(c->sip_ports, 20000, 20999) &&
			     range_is(c->media_ports, 40000, 40999),
		  "valid-minimal: core ports");
	tap_check(t, cfg.pairs[0].first == 0 && cfg.pairs[0].second == 1,
		  "valid-minimal: pair joins access to core");
	tap_check(t, addr_is(&cfg.pairs[0].softswitch, "198.51.100.2") &&
			     cfg.pairs[0].softswitch.port == 5060,
		  "valid-minimal: softswitch 198.51.100.2:5060");
	tap_check(t, cfg.keepalive_method == NP_KEEPALIVE_OPTIONS &&
			     cfg.keepalive_interval == 20,
		  "valid-minimal: keepalive defaults to options every 20s");
	tap_check(t, cfg.charging_file[0] == '\0',
		  "valid-minimal: no charging file");
	tap_check(t, !cfg.metrics_listen.family,
		  "valid-minimal: no metrics endpoint");
	tap_check(t, np_config_realm(&cfg, "core") == c &&
			     np_config_realm(&cfg, "access") == a &&
			     !np_config_realm(&cfg, "kore"),
		  "np_config_realm finds realms by name");
	np_config_free(&cfg);
	tap_check(t, !cfg.realms && !cfg.n_realms && !cfg.pairs,
		  "np_config_free leaves an empty config");
	np_config_free(&cfg);
}

static void test_ipv6(struct tap *t)
{
	char file[1024], err[256] = "";
	const struct np_realm *a6, *c6, *a4, *c4;
	struct np_config cfg = { 0 };
	int ret;

	path(file, sizeof(file), FIXTURES "valid-ipv6.yaml");
	ret = np_config_load(file, &cfg, err, sizeof(err));
	if (!tap_check(t, ret == 0, "valid-ipv6: parses"))
		tap_diag("%s", err);
	if (ret)
		return;
	a6 = np_config_realm(&cfg, "access6");
	c6 = np_config_realm(&cfg, "core6");
	a4 = np_config_realm(&cfg, "access4");
	c4 = np_config_realm(&cfg, "core4");
	tap_check(t, cfg.n_realms == 4 && a6 && c6 && a4 && c4 && cfg.n_pairs == 2,
		  "valid-ipv6: 4 realms, 2 pairs");
	if (!a6 || !c6 || !a4 || !c4 || cfg.n_pairs != 2)
		goto out;
	tap_check(t, addr_is(&a6->address, "2001:db8:1::1"),
		  "valid-ipv6: plain IPv6 realm address");
	tap_check(t, addr_is(&c6->address, "2001:db8:2::1"),
		  "valid-ipv6: quoted IPv6 realm address");
	tap_check(t, range_is(c6->media_ports, 40000, 40001),
		  "valid-ipv6: media range of exactly one stream");
	tap_check(t, range_is(a4->media_ports, 30000, 30998),
		  "valid-ipv6: odd-sized media range");
	tap_check(t, cfg.pairs[0].softswitch.family == AF_INET6 &&
			     addr_is(&cfg.pairs[0].softswitch, "2001:db8::2") &&
			     cfg.pairs[0].softswitch.port == 5060,
		  "valid-ipv6: softswitch [2001:db8::2]:5060");
	tap_check(t, &cfg.realms[cfg.pairs[1].first] == a4 &&
			     &cfg.realms[cfg.pairs[1].second] == c4 &&
			     addr_is(&cfg.pairs[1].softswitch, "198.51.100.2") &&
			     cfg.pairs[1].softswitch.port == 5080,
		  "valid-ipv6: IPv4 pair beside the IPv6 one, same family "
		  "throughout");
	tap_check(t, cfg.keepalive_method == NP_KEEPALIVE_CRLF &&
			     cfg.keepalive_interval == 20,
		  "valid-ipv6: keepalive crlf, interval defaults to 20");
	tap_check(t, addr_is(&cfg.metrics_listen, "::") &&
			     cfg.metrics_listen.port == 9100,
		  "valid-ipv6: metrics listen on the wildcard [::]:9100");
out:
	np_config_free(&cfg);
}

static void test_options(struct tap *t)
{
	char file[1024], err[256] = "";
	const struct np_realm *a, *c, *c2;
	struct np_config cfg = { 0 };
	int ret;

	path(file, sizeof(file), FIXTURES "valid-options.yaml");
	ret = np_config_load(file, &cfg, err, sizeof(err));
	if (!tap_check(t, ret == 0, "valid-options: parses"))
		tap_diag("%s", err);
	if (ret)
		return;
	a = np_config_realm(&cfg, "access");
	c = np_config_realm(&cfg, "core");
	c2 = np_config_realm(&cfg, "core2");
	if (!tap_check(t, a && c && c2 && cfg.n_pairs == 2,
		       "valid-options: realms and pairs present"))
		goto out;
	tap_check(t,
		  a->latch == NP_LATCH_FIRST_PACKET && a->media_timeout == 120,
		  "valid-options: latch restricted (first-packet's other name), media_timeout 120");
	tap_check(t, a->dscp == 46 && a->sip_dscp == 24 && a->vlan == 100,
		  "valid-options: dscp 46, sip_dscp 24, vlan 100");
	tap_check(t, a->n_allow == 3 &&
			     prefix_is(&a->allow[0], "203.0.113.0", 24) &&
			     prefix_is(&a->allow[1], "2001:db8:100::", 48) &&
			     prefix_is(&a->allow[2], "192.168.1.7", 32),
		  "valid-options: allow list, bare address is /32");
	tap_check(t, a->n_deny == 2 &&
			     prefix_is(&a->deny[0], "203.0.113.128", 25) &&
			     prefix_is(&a->deny[1], "0.0.0.0", 0),
		  "valid-options: flow-style deny list with /0");
	tap_check(t, a->max_calls == 500 && a->max_stream_kbps == 256 &&
			     a->deny_drop,
		  "valid-options: max_calls, max_stream_kbps, deny_action drop");
	tap_check(t, c->latch == NP_LATCH_OFF && !c->deny && !c->n_deny &&
			     !c->deny_drop,
		  "valid-options: latch off, empty deny, deny_action 403");
	tap_check(t, a->ice == NP_SDP_ICE_RELAY && a->hold_timeout == 0 &&
			     a->sip_port_quarantine == 0 &&
			     a->core_strangers == NP_CORE_STRANGERS_DROP,
		  "valid-options: ice relay, hold_timeout 0, quarantine 0");
	tap_check(t, a->max_prefix_rate == 20000 && a->block_time == 120 &&
			     a->unknown_rate == 800 && a->unknown_burst == 1600,
		  "valid-options: prefix rate, block_time, unknown signaling "
		  "rate and burst");
	tap_check(t, c2->max_prefix_rate == 0 && c2->block_time == 30 &&
			     c2->unknown_rate == 5000 &&
			     c2->unknown_burst == 5000,
		  "valid-options: guard defaults: no prefix limit, 30s blocks, "
		  "5000/s with a burst of one second");
	tap_check(t, c->ice == NP_SDP_ICE_REMOVE && c->hold_timeout == 7200 &&
			     c->core_strangers == NP_CORE_STRANGERS_REJECT &&
			     c->sip_port_quarantine == 86400,
		  "valid-options: ice remove, hold_timeout 7200, core_strangers "
		  "reject, quarantine 86400");
	tap_check(t, c2->ice == NP_SDP_ICE_REMOVE && c2->hold_timeout == 3600 &&
			     c2->core_strangers == NP_CORE_STRANGERS_DROP &&
			     c2->sip_port_quarantine == 300,
		  "valid-options: defaults where the keys are absent");
	tap_check(t, c->sip_port == 5070 && range_is(c->sip_ports, 20000, 20999),
		  "valid-options: core is both first and second");
	tap_check(t, !strcmp(c2->interface, "core0.100") &&
			     addr_is(&c2->address, "198.51.100.1"),
		  "valid-options: two realms on one address, disjoint ports");
	tap_check(t, cfg.pairs[1].first == 1 && cfg.pairs[1].second == 2 &&
			     cfg.pairs[1].softswitch.port == 5061,
		  "valid-options: nested pair core -> core2");
	tap_check(t, cfg.keepalive_method == NP_KEEPALIVE_OPTIONS &&
			     cfg.keepalive_interval == 3600,
		  "valid-options: keepalive options every 3600s");
	tap_check(t, !strcmp(cfg.charging_file,
			     "/var/lib/natproxy/charging.log"),
		  "valid-options: charging file");
	tap_check(t, addr_is(&cfg.metrics_listen, "127.0.0.1") &&
			     cfg.metrics_listen.port == 9917,
		  "valid-options: metrics listen 127.0.0.1:9917");
out:
	np_config_free(&cfg);
}

static void test_examples(struct tap *t)
{
	const struct np_realm *a, *b, *c;
	char file[1024], err[256] = "";
	struct np_config cfg = { 0 };
	int ret;

	path(file, sizeof(file), "configs/natproxy.yaml");
	ret = np_config_load(file, &cfg, err, sizeof(err));
	if (!tap_check(t, ret == 0, "configs/natproxy.yaml parses"))
		tap_diag("%s", err);
	a = np_config_realm(&cfg, "access");
	c = np_config_realm(&cfg, "core");
	tap_check(t, !ret && a && c && cfg.n_pairs == 1 &&
			     a->sip_port == 5060 &&
			     addr_is(&a->address, "203.0.113.1") &&
			     range_is(a->media_ports, 30000, 30999) &&
			     addr_is(&c->address, "198.51.100.1") &&
			     range_is(c->sip_ports, 20000, 20999) &&
			     range_is(c->media_ports, 40000, 40999) &&
			     addr_is(&cfg.pairs[0].softswitch, "198.51.100.2") &&
			     cfg.pairs[0].softswitch.port == 5060 &&
			     cfg.keepalive_method == NP_KEEPALIVE_OPTIONS &&
			     cfg.keepalive_interval == 20,
		  "configs/natproxy.yaml: the issue's realms, pair, keepalive");
	np_config_free(&cfg);

	path(file, sizeof(file), "configs/two-nats.yaml");
	ret = np_config_load(file, &cfg, err, sizeof(err));
	if (!tap_check(t, ret == 0, "configs/two-nats.yaml parses"))
		tap_diag("%s", err);
	a = np_config_realm(&cfg, "access-a");
	b = np_config_realm(&cfg, "access-b");
	c = np_config_realm(&cfg, "core");
	if (!tap_check(t, !ret && a && b && c && cfg.n_realms == 3 &&
				  cfg.n_pairs == 2,
		       "configs/two-nats.yaml: 3 realms, 2 pairs"))
		goto out;
	tap_check(t, addr_is(&a->address, "203.0.113.1") &&
			     !strcmp(a->interface, "acc0") &&
			     addr_is(&b->address, "203.0.113.2") &&
			     !strcmp(b->interface, "acc1"),
		  "configs/two-nats.yaml: two access realms");
	tap_check(t, &cfg.realms[cfg.pairs[0].first] == a &&
			     &cfg.realms[cfg.pairs[1].first] == b &&
			     cfg.pairs[0].second == cfg.pairs[1].second &&
			     &cfg.realms[cfg.pairs[0].second] == c &&
			     addr_is(&c->address, "198.51.100.1"),
		  "configs/two-nats.yaml: both pairs share the core realm");
	/* 1000 + 1000 + 2000 relay ports, twice over: 8192 flows. */
	tap_check(t, np_config_max_flows(&cfg, 1u << 20) == 8192 &&
			     np_config_max_flows(&cfg, 4096) == 4096,
		  "configs/two-nats.yaml: maps for 8192 flows (%u), capped at "
		  "a smaller limit", np_config_max_flows(&cfg, 1u << 20));
	cfg.realms[0].media_ports.lo = 30000;
	cfg.realms[0].media_ports.hi = 30001;
	cfg.realms[1].media_ports = cfg.realms[0].media_ports;
	cfg.realms[2].media_ports = cfg.realms[0].media_ports;
	tap_check(t, np_config_max_flows(&cfg, 1u << 20) == 1024,
		  "six relay ports in all: maps for 1024 flows, the least");
	cfg.realms[0].media_ports.lo = 1024;
	cfg.realms[0].media_ports.hi = 65535;
	cfg.realms[1].media_ports = cfg.realms[0].media_ports;
	cfg.realms[2].media_ports = cfg.realms[0].media_ports;
	tap_check(t, np_config_max_flows(&cfg, 1u << 20) == 524288,
		  "three realms of 64512 relay ports, twice over: 524288 flows (%u)",
		  np_config_max_flows(&cfg, 1u << 20));
out:
	np_config_free(&cfg);
}

static void test_api_edges(struct tap *t)
{
	static const char ok[] = "realms:\r\n"
				 "  - name: a\r\n"
				 "    interface: a0\r\n"
				 "    address: 203.0.113.1\r\n"
				 "    sip_port: 5060\r\n"
				 "    media_ports: 30000 - 30999\r\n"
				 "  - name: c\r\n"
				 "    interface: c0\r\n"
				 "    address: 203.0.113.1\r\n"
				 "    sip_ports: 5062-5999\r\n"
				 "    media_ports: 40000-40999\r\n"
				 "pairs: [{first: a, second: c,\r\n"
				 "         softswitch: 198.51.100.2:5060}]\r\n"
				 "keepalive:\r\n";
	static const char bad[] = "realms: []\n";
	char err[256], tiny[8], file[1024], want[1200];
	struct np_config cfg = { 0 }, old;
	int ret;

	ret = np_config_parse("crlf.yaml", ok, sizeof(ok) - 1, &cfg, err,
			      sizeof(err));
	if (!tap_check(t, ret == 0, "CRLF lines, spaced range, flow pairs, "
				    "empty keepalive, shared address"))
		tap_diag("%s", err);
	tap_check(t, !ret && range_is(cfg.realms[0].media_ports, 30000, 30999) &&
			     cfg.keepalive_interval == 20,
		  "spaced range and empty keepalive read right");

	/* A failed reload leaves the running config alone. */
	old = cfg;
	ret = np_config_parse("bad.yaml", bad, sizeof(bad) - 1, &cfg, err,
			      sizeof(err));
	tap_check(t, ret == -EINVAL && !memcmp(&old, &cfg, sizeof(cfg)),
		  "failed parse keeps the previous config");
	np_config_free(&cfg);

	ret = np_config_parse("bad.yaml", bad, sizeof(bad) - 1, &cfg, tiny,
			      sizeof(tiny));
	tap_check(t, ret == -EINVAL && strlen(tiny) == sizeof(tiny) - 1 &&
			     !strncmp(tiny, "bad.yam", 7),
		  "a short error buffer is truncated, NUL-terminated");
	ret = np_config_parse("bad.yaml", bad, sizeof(bad) - 1, &cfg, NULL, 0);
	tap_check(t, ret == -EINVAL, "no error buffer is fine");

	path(file, sizeof(file), FIXTURES "does-not-exist.yaml");
	snprintf(want, sizeof(want),
		 "cannot open config '%s': No such file or directory", file);
	ret = np_config_load(file, &cfg, err, sizeof(err));
	tap_check(t, ret == -ENOENT && !strcmp(err, want),
		  "missing file: -ENOENT and 'cannot open config' message");
	path(file, sizeof(file), FIXTURES);
	ret = np_config_load(file, &cfg, err, sizeof(err));
	tap_check(t, ret == -EISDIR && strstr(err, "cannot read config"),
		  "directory: -EISDIR and 'cannot read config' message");
}

static void test_prefix_match(struct tap *t)
{
	static const struct {
		const char *prefix;
		unsigned int len;
		const char *addr;
		bool match;
	} cases[] = {
		{ "203.0.113.0", 24, "203.0.113.77", true },
		{ "203.0.113.0", 24, "203.0.114.1", false },
		{ "203.0.113.128", 25, "203.0.113.127", false },
		{ "203.0.113.128", 25, "203.0.113.200", true },
		{ "192.168.1.7", 32, "192.168.1.7", true },
		{ "192.168.1.7", 32, "192.168.1.6", false },
		{ "0.0.0.0", 0, "198.51.100.1", true },
		{ "0.0.0.0", 0, "2001:db8::1", false },
		{ "2001:db8::", 32, "2001:db8:ffff::1", true },
		{ "2001:db8::", 33, "2001:db8:8000::1", false },
		{ "2001:db8:100::", 48, "2001:db8:100:1::5", true },
		{ "2001:db8:100::", 48, "203.0.113.1", false },
		{ "203.0.113.0", 24, "::ffff:203.0.113.9", true },
		{ "203.0.113.0", 24, "::ffff:198.51.100.9", false },
	};
	struct np_sockaddr a = { 0 };
	struct np_prefix p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0, sizeof(p));
		memset(&a, 0, sizeof(a));
		p.family = strchr(cases[i].prefix, ':') ? AF_INET6 : AF_INET;
		inet_pton(p.family, cases[i].prefix, &p.addr);
		p.len = cases[i].len;
		a.family = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
		inet_pton(a.family, cases[i].addr, &a.addr);
		tap_check(t, np_prefix_match(&p, &a) == cases[i].match,
			  "%s/%u %s %s", cases[i].prefix, cases[i].len,
			  cases[i].match ? "holds" : "does not hold",
			  cases[i].addr);
	}
}

int main(int argc, char **argv)
{
	struct tap t = { 0 };

	if (argc > 1)
		snprintf(root, sizeof(root), "%s", argv[1]);
	test_broken_files(&t);
	test_broken_text(&t);
	test_minimal(&t);
	test_ipv6(&t);
	test_options(&t);
	test_examples(&t);
	test_api_edges(&t);
	test_prefix_match(&t);
	return tap_done(&t);
}
