// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ctl/addr.c: the text forms of relay endpoints accepted by
 * natproxyctl, and their printing back, on a table of good and bad input;
 * the same for the sources natproxyctl unblock takes.
 */
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "tap.h"

static const struct {
	const char *text;
	bool port_optional;
	int err;
	__u8 family;
	unsigned port;
	const char *printed;
} cases[] = {
	{ "203.0.113.1:30000", false, 0, NP_AF_INET, 30000, "203.0.113.1:30000" },
	{ "[2001:db8::1]:5060", false, 0, NP_AF_INET6, 5060, "[2001:db8::1]:5060" },
	{ "198.51.100.10", true, 0, NP_AF_INET, 0, "198.51.100.10:0" },
	{ "2001:db8::10", true, 0, NP_AF_INET6, 0, "[2001:db8::10]:0" },
	{ "[2001:db8::10]", true, 0, NP_AF_INET6, 0, "[2001:db8::10]:0" },
	{ "198.51.100.10", false, -22, 0, 0, NULL },
	{ "198.51.100.10:0", false, -22, 0, 0, NULL },
	{ "198.51.100.10:65536", false, -22, 0, 0, NULL },
	{ "198.51.100.10:-1", false, -22, 0, 0, NULL },
	{ "198.51.100.10:12ab", false, -22, 0, 0, NULL },
	{ "198.51.100.10:", false, -22, 0, 0, NULL },
	{ "198.51.100:5060", false, -22, 0, 0, NULL },
	{ "[2001:db8::1:5060", false, -22, 0, 0, NULL },
	{ "[2001:db8::1]x5060", false, -22, 0, 0, NULL },
	{ "[203.0.113.1]:5060", false, 0, NP_AF_INET, 5060, "203.0.113.1:5060" },
	{ "", true, -22, 0, 0, NULL },
	{ "host.example:5060", false, -22, 0, 0, NULL },
	{ "[1111:2222:3333:4444:5555:6666:7777:8888:9999]:1", false, -22, 0, 0,
	  NULL },
};

/* Sources of the guard's block list: kind, key fields, text read back. */
static const struct {
	const char *text;
	int err;
	__u8 family, prefix_len;
	unsigned port;
	const char *kind, *printed;
} sources[] = {
	{ "203.0.113.7:5060", 0, NP_AF_INET, 32, 5060, "mapping",
	  "203.0.113.7:5060" },
	{ "203.0.113.7", 0, NP_AF_INET, 32, 0, "address", "203.0.113.7" },
	{ "203.0.113.0/24", 0, NP_AF_INET, 24, 0, "prefix", "203.0.113.0/24" },
	{ "203.0.113.57/24", 0, NP_AF_INET, 24, 0, "prefix",
	  "203.0.113.0/24" },
	{ "203.0.113.7/32", 0, NP_AF_INET, 32, 0, "address", "203.0.113.7" },
	{ "[2001:db8::1]:5060", 0, NP_AF_INET6, 128, 5060, "mapping",
	  "[2001:db8::1]:5060" },
	{ "2001:db8::1", 0, NP_AF_INET6, 128, 0, "address", "2001:db8::1" },
	{ "2001:db8:0:7:1:2:3:4/64", 0, NP_AF_INET6, 64, 0, "prefix",
	  "2001:db8:0:7::/64" },
	{ "203.0.113.0/16", -22, 0, 0, 0, NULL, NULL },
	{ "203.0.113.0/64", -22, 0, 0, 0, NULL, NULL },
	{ "2001:db8::/24", -22, 0, 0, 0, NULL, NULL },
	{ "203.0.113.0/", -22, 0, 0, 0, NULL, NULL },
	{ "203.0.113.0/+24", -22, 0, 0, 0, NULL, NULL },
	{ "203.0.113.0/24:5060", -22, 0, 0, 0, NULL, NULL },
	{ "203.0.113.7:0", -22, 0, 0, 0, NULL, NULL },
	{ "customer.example", -22, 0, 0, 0, NULL, NULL },
	{ "", -22, 0, 0, 0, NULL, NULL },
};

static void test_sources(struct tap *t)
{
	char buf[NP_ENDPOINT_STRLEN];
	struct np_source_key key;
	size_t i;
	int err;

	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		err = np_source_parse(sources[i].text, &key);
		if (!tap_check(t, err == sources[i].err, "source '%s' -> %d",
			       sources[i].text, sources[i].err) ||
		    err)
			continue;
		tap_check(t,
			  key.family == sources[i].family &&
				  key.prefix_len == sources[i].prefix_len &&
				  ntohs(key.port) == sources[i].port &&
				  !strcmp(np_source_kind(&key),
					  sources[i].kind) &&
				  !strcmp(np_source_str(&key, buf, sizeof(buf)),
					  sources[i].printed),
			  "source '%s' is the %s '%s'", sources[i].text,
			  sources[i].kind, sources[i].printed);
	}
}

/* np_ntop writes what inet_ntop writes, IPv4 by hand; np_sipaddr_host
 * brackets IPv6 and cuts to its buffer as snprintf would. */
static void test_ntop(struct tap *t)
{
	static const char *const v4[] = { "0.0.0.0", "255.255.255.255",
					  "10.0.0.1", "192.168.100.9",
					  "203.0.113.99", "1.20.100.249" };
	char want[INET6_ADDRSTRLEN], got[INET6_ADDRSTRLEN], host[8];
	struct np_sockaddr a = { .family = AF_INET6 };
	unsigned char b[16];
	size_t i, n;

	for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		inet_pton(AF_INET, v4[i], b);
		memset(got, 'x', sizeof(got));
		n = np_ntop(AF_INET, b, got);
		tap_check(t, !strcmp(got, v4[i]) && n == strlen(v4[i]),
			  "np_ntop %s", v4[i]);
	}
	for (i = 0; i < 256; i++) { /* every octet value, in each place */
		b[0] = b[3] = (unsigned char)i;
		b[1] = b[2] = (unsigned char)(255 - i);
		inet_ntop(AF_INET, b, want, sizeof(want));
		np_ntop(AF_INET, b, got);
		if (strcmp(got, want))
			break;
	}
	tap_check(t, i == 256, "np_ntop as inet_ntop for every octet");
	inet_pton(AF_INET6, "2001:db8::1", b);
	n = np_ntop(AF_INET6, b, got);
	tap_check(t, !strcmp(got, "2001:db8::1") && n == 11, "np_ntop IPv6");
	tap_check(t, np_ntop(AF_UNIX, b, got) == 0, "np_ntop: another family, 0");
	memcpy(&a.addr, b, 16);
	tap_check(t, !strcmp(np_sipaddr_host(&a, got, sizeof(got)), "[2001:db8::1]"),
		  "np_sipaddr_host brackets IPv6");
	tap_check(t, !strcmp(np_sipaddr_host(&a, host, sizeof(host)), "[2001:d"),
		  "np_sipaddr_host cuts to its buffer");
	a.family = AF_INET;
	inet_pton(AF_INET, "203.0.113.1", &a.addr);
	tap_check(t, !strcmp(np_sipaddr_host(&a, got, sizeof(got)), "203.0.113.1"),
		  "np_sipaddr_host IPv4");
}

int main(void)
{
	char buf[NP_ENDPOINT_STRLEN];
	struct tap t = { 0 };
	struct np_endpoint ep;
	size_t i;
	int err;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = np_endpoint_parse(cases[i].text, cases[i].port_optional,
					&ep);
		if (!tap_check(&t, err == cases[i].err, "parse '%s' -> %d",
			       cases[i].text, cases[i].err) ||
		    err)
			continue;
		tap_check(&t,
			  ep.family == cases[i].family &&
				  ntohs(ep.port) == cases[i].port &&
				  !strcmp(np_endpoint_str(&ep, buf, sizeof(buf)),
					  cases[i].printed),
			  "'%s' reads back as '%s'", cases[i].text,
			  cases[i].printed);
	}
	/* An IPv4 address keeps the key's unused bytes zero: keys compare. */
	np_endpoint_parse("203.0.113.1:1", false, &ep);
	tap_check(&t, !ep.addr.v6[1] && !ep.addr.v6[2] && !ep.addr.v6[3],
		  "IPv4 leaves the rest of the address zero");
	test_sources(&t);
	test_ntop(&t);
	return tap_done(&t);
}
