// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ctl/sip/route.c: Route entries naming natproxy removed from
 * the top (with and without port, lr and lr=on, IPv6), the strict-router
 * fix of RFC 3261 16.4, a route set put in front, Record-Route read across
 * header lines and comma lists and replaced, and the route set's text form
 * (display names with commas and quotes, bounds, malformed input).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/route.h"
#include "sip/sipmsg.h"
#include "tap.h"

/* natproxy in these tests: the access address 198.51.100.2 (port 5060 or
 * none), and core addresses 203.0.113.1:30000 and [2001:db8::2]:5070. */
static bool names_us(void *arg, const osip_uri_t *uri)
{
	const char *port = uri->port && uri->port[0] ? uri->port : NULL;

	(*(int *)arg)++;
	if (!uri->host)
		return false;
	if (!strcmp(uri->host, "198.51.100.2"))
		return !port || !strcmp(port, "5060");
	if (!strcmp(uri->host, "203.0.113.1"))
		return port && !strcmp(port, "30000");
	if (!strcmp(uri->host, "2001:db8::2") ||
	    !strcmp(uri->host, "[2001:db8::2]"))
		return port && !strcmp(port, "5070");
	return false;
}

static osip_message_t *request(const char *ruri, const char *headers)
{
	char text[4096];
	osip_message_t *m = NULL;

	snprintf(text, sizeof(text),
		 "INVITE %s SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-r1\r\n"
		 "%s"
		 "From: <sip:1001@example.test>;tag=f1\r\n"
		 "To: <sip:1002@example.test>\r\n"
		 "Call-ID: route-test@example.test\r\n"
		 "CSeq: 1 INVITE\r\n"
		 "Content-Length: 0\r\n\r\n",
		 ruri, headers);
	if (np_sipmsg_parse(text, strlen(text), &m))
		return NULL;
	return m;
}

/* "R-URI | route, route" */
static void describe(const osip_message_t *m, char *out, size_t len)
{
	osip_route_t *r;
	char *t = NULL;
	size_t used;
	int i;

	osip_uri_to_str(m->req_uri, &t);
	used = (size_t)snprintf(out, len, "%s |", t ? t : "?");
	osip_free(t);
	for (i = 0; (r = osip_list_get(&m->routes, i)) && used < len; i++) {
		t = NULL;
		osip_route_to_str(r, &t);
		used += (size_t)snprintf(out + used, len - used, "%s %s",
					 i ? "," : "", t ? t : "?");
		osip_free(t);
	}
}

static const struct {
	const char *what;
	const char *ruri;
	const char *headers;
	int removed;
	const char *want;
} pop_cases[] = {
	{ "preloaded Route naming us without port",
	  "sip:1002@example.test",
	  "Route: <sip:198.51.100.2;lr>\r\nRoute: <sip:kam.example.test;lr>\r\n",
	  1, "sip:1002@example.test | <sip:kam.example.test;lr>" },
	{ "preloaded Route naming us with port 5060 and lr=on",
	  "sip:1002@example.test",
	  "Route: <sip:198.51.100.2:5060;lr=on>, <sip:kam.example.test;lr>\r\n",
	  1, "sip:1002@example.test | <sip:kam.example.test;lr>" },
	{ "our port elsewhere is not us", "sip:1002@example.test",
	  "Route: <sip:198.51.100.2:5061;lr>\r\n", 0,
	  "sip:1002@example.test | <sip:198.51.100.2:5061;lr>" },
	{ "two of ours on top, then the core's", "sip:1002@example.test",
	  "Route: <sip:198.51.100.2;lr>,<sip:203.0.113.1:30000;lr;ftag=f1>\r\n"
	  "Route: \"Core, edge\" <sip:kam.example.test;lr;did=a.1>\r\n",
	  2,
	  "sip:1002@example.test | \"Core, edge\" <sip:kam.example.test;lr;did=a.1>" },
	{ "ours below another's is kept", "sip:1002@example.test",
	  "Route: <sip:kam.example.test;lr>, <sip:198.51.100.2;lr>\r\n", 0,
	  "sip:1002@example.test | <sip:kam.example.test;lr>, <sip:198.51.100.2;lr>" },
	{ "IPv6 core address of ours", "sip:1002@example.test",
	  "Route: <sip:[2001:db8::2]:5070;lr>\r\n"
	  "Route: <sip:[2001:db8::9]:5060;lr>\r\n",
	  1, "sip:1002@example.test | <sip:[2001:db8::9]:5060;lr>" },
	{ "all ours: no Route left", "sip:1002@example.test",
	  "Route: <sip:198.51.100.2;lr>\r\n", 1, "sip:1002@example.test |" },
	{ "no Route", "sip:1002@example.test", "", 0,
	  "sip:1002@example.test |" },
	{ "strict router: our RR URI in the Request-URI",
	  "sip:198.51.100.2;lr",
	  "Route: <sip:kam.example.test;lr>, <sip:1002@192.0.2.20:5062;transport=udp>\r\n",
	  1,
	  "sip:1002@192.0.2.20:5062;transport=udp | <sip:kam.example.test;lr>" },
	{ "strict router, then our own entry on top",
	  "sip:203.0.113.1:30000;lr",
	  "Route: <sip:198.51.100.2;lr>, <sip:1002@192.0.2.20>\r\n", 2,
	  "sip:1002@192.0.2.20 |" },
	{ "Request-URI at our core address without lr: a Contact, kept",
	  "sip:1002@203.0.113.1:30000",
	  "Route: <sip:203.0.113.1:30000;lr>\r\n", 1,
	  "sip:1002@203.0.113.1:30000 |" },
	{ "Request-URI ours with lr but no Route: nothing to do",
	  "sip:198.51.100.2;lr", "", 0, "sip:198.51.100.2;lr |" },
};

static void test_pop(struct tap *t)
{
	char got[1024];
	size_t i;
	int calls, removed;

	for (i = 0; i < sizeof(pop_cases) / sizeof(pop_cases[0]); i++) {
		osip_message_t *m =
			request(pop_cases[i].ruri, pop_cases[i].headers);

		if (!tap_check(t, m != NULL, "%s: parses", pop_cases[i].what))
			continue;
		calls = 0;
		removed = np_route_pop_ours(m, names_us, &calls);
		describe(m, got, sizeof(got));
		tap_check(t, removed == pop_cases[i].removed,
			  "%s: %d removed (got %d)", pop_cases[i].what,
			  pop_cases[i].removed, removed);
		tap_check(t, !strcmp(got, pop_cases[i].want),
			  "%s: '%s' (got '%s')", pop_cases[i].what,
			  pop_cases[i].want, got);
		osip_message_free(m);
	}
}

static void test_prepend(struct tap *t)
{
	char *set[] = { "<sip:kam1.example.test;lr;ftag=f1>",
			"\"Edge\" <sip:[2001:db8::7]:5080;lr=on>" };
	char *bad[] = { "<sip:kam1.example.test;lr>", "<sip:" };
	osip_message_t *m =
		request("sip:1002@example.test",
			"Route: <sip:next.example.test;lr>\r\n");
	char got[1024];
	const char *want =
		"sip:1002@example.test | <sip:kam1.example.test;lr;ftag=f1>, "
		"\"Edge\" <sip:[2001:db8::7]:5080;lr=on>, "
		"<sip:next.example.test;lr>";

	if (!tap_check(t, m != NULL, "prepend: parses"))
		return;
	tap_check(t, np_route_prepend(m, bad, 2) == -EINVAL,
		  "prepend: an entry that does not parse is -EINVAL");
	describe(m, got, sizeof(got));
	tap_check(t, !strcmp(got, "sip:1002@example.test | <sip:next.example.test;lr>"),
		  "prepend: a failed prepend leaves the message (got '%s')",
		  got);
	tap_check(t, !np_route_prepend(m, set, 2), "prepend: two entries");
	describe(m, got, sizeof(got));
	tap_check(t, !strcmp(got, want), "prepend: uris[0] topmost (got '%s')",
		  got);
	osip_message_free(m);

	m = request("sip:1002@example.test", "");
	if (!tap_check(t, m != NULL, "prepend_set: parses"))
		return;
	tap_check(t,
		  !np_route_prepend_set(m, "<sip:a.test;lr>, \"B, b\" <sip:b.test;lr>"),
		  "prepend_set: from text");
	describe(m, got, sizeof(got));
	tap_check(t,
		  !strcmp(got, "sip:1002@example.test | <sip:a.test;lr>, \"B, b\" <sip:b.test;lr>"),
		  "prepend_set: in order (got '%s')", got);
	tap_check(t, !np_route_prepend_set(m, ""), "prepend_set: empty set");
	tap_check(t, np_route_prepend_set(m, "<sip:a.test;lr") == -EINVAL,
		  "prepend_set: malformed set is -EINVAL");
	osip_message_free(m);
}

static const char *const rr_headers =
	"Record-Route: <sip:198.51.100.77;lr;ftag=x>, "
	"\"Edge, proxy\" <sip:[2001:db8::3]:5070;lr=on;did=a.b>\r\n"
	"Record-Route: <sip:kam.example.test;transport=udp;lr>\r\n"
	"Record-Route: <sip:203.0.113.1:30000;lr>,<sip:p9.example.test;lr>\r\n";
static const char *const rr_want[] = {
	"<sip:198.51.100.77;lr;ftag=x>",
	"\"Edge, proxy\" <sip:[2001:db8::3]:5070;lr=on;did=a.b>",
	"<sip:kam.example.test;transport=udp;lr>",
	"<sip:203.0.113.1:30000;lr>",
	"<sip:p9.example.test;lr>",
};

static void test_rr(struct tap *t)
{
	osip_message_t *m = request("sip:1002@example.test", rr_headers);
	osip_message_t *m2 = request("sip:1002@example.test", "");
	char *list[8], *again[8], text[NP_ROUTESET_LEN], *ser = NULL;
	size_t n = 99, n2 = 0, i, len;
	int calls = 0, err;

	if (!tap_check(t, m && m2, "rr: parses"))
		goto out;
	err = np_rr_get(m, list, 8, &n);
	tap_check(t, !err && n == 5, "rr_get: 5 entries over 3 headers (got %d, %zu)",
		  err, n);
	for (i = 0; !err && i < n && i < 5; i++)
		tap_check(t, !strcmp(list[i], rr_want[i]),
			  "rr_get[%zu]: '%s' (got '%s')", i, rr_want[i],
			  list[i]);
	tap_check(t, np_rr_index_of_ours(m, names_us, &calls) == 3,
		  "rr_index_of_ours: the core's part is the 3 above ours");
	tap_check(t, np_rr_index_of_ours(m2, names_us, &calls) == 0,
		  "rr_index_of_ours: no Record-Route is 0");
	n2 = 1;
	err = np_rr_get(m, again, 4, &n2);
	tap_check(t, err == -ENOSPC && n2 == 0,
		  "rr_get: more than max is -ENOSPC, nothing returned");

	/* A route set through its text and back into another message. */
	err = np_routeset_join(list, n, text, sizeof(text));
	tap_check(t, !err, "routeset_join: 5 entries (%d)", err);
	err = np_routeset_split(text, again, 8, &n2);
	tap_check(t, !err && n2 == n, "routeset_split: 5 back (%d, %zu)", err,
		  n2);
	for (i = 0; !err && i < n2; i++)
		tap_check(t, !strcmp(again[i], list[i]),
			  "routeset round trip [%zu] '%s'", i, again[i]);
	tap_check(t, !np_rr_set(m2, again, n2), "rr_set: 5 entries");
	np_rr_free(again, n2);
	err = np_rr_get(m2, again, 8, &n2);
	tap_check(t, !err && n2 == 5 && !strcmp(again[0], rr_want[0]) &&
			     !strcmp(again[4], rr_want[4]),
		  "rr_set: read back the same");
	np_rr_free(again, n2);
	tap_check(t, np_rr_index_of_ours(m2, names_us, &calls) == 3,
		  "rr_index_of_ours: after rr_set");

	/* Replacing toward the terminal: one entry, the access address. */
	{
		char *acc[] = { "<sip:198.51.100.2;lr>" };
		char *bad[] = { "<sip:ok.test;lr>", "\"unclosed <sip:x>" };

		tap_check(t, np_rr_set(m, bad, 2) == -EINVAL,
			  "rr_set: an entry that does not parse is -EINVAL");
		err = np_rr_get(m, again, 8, &n2);
		tap_check(t, !err && n2 == 5,
			  "rr_set: a failed set leaves the message");
		np_rr_free(again, n2);
		tap_check(t, !np_rr_set(m, acc, 1), "rr_set: one entry");
		tap_check(t, !np_sipmsg_serialize(m, &ser, &len) && ser,
			  "rr_set: serialises");
		tap_check(t, ser && strstr(ser, "\r\nRecord-Route: <sip:198.51.100.2;lr>\r\n") &&
				     !strstr(ser, "kam.example.test") &&
				     !strstr(ser, "Edge"),
			  "rr_set: the one entry and none of the others");
		osip_free(ser);
		tap_check(t, np_rr_index_of_ours(m, names_us, &calls) == 0,
			  "rr_index_of_ours: ours on top is 0");
		tap_check(t, !np_rr_set(m, NULL, 0), "rr_set: none");
		err = np_rr_get(m, again, 8, &n2);
		tap_check(t, !err && n2 == 0, "rr_set: none left");
	}
	np_rr_free(list, n);
out:
	if (m)
		osip_message_free(m);
	if (m2)
		osip_message_free(m2);
}

static const struct {
	const char *text;
	int err;
	size_t n;
	const char *last; /* the last entry, when err is 0 */
} split_cases[] = {
	{ "", 0, 0, NULL },
	{ "<sip:a.test;lr>", 0, 1, "<sip:a.test;lr>" },
	{ "  <sip:a.test;lr> ,\t<sip:b.test;lr=on>  ", 0, 2,
	  "<sip:b.test;lr=on>" },
	{ "\"A, \\\"quoted\\\" <x>\" <sip:a.test;lr>, sip:b.test;lr", 0, 2,
	  "sip:b.test;lr" },
	{ "<sip:[2001:db8::1]:5060;lr>,<sip:c.test;lr;ftag=1,2>", 0, 2,
	  "<sip:c.test;lr;ftag=1,2>" },
	{ "<sip:a.test;lr>,", -EINVAL, 0, NULL },
	{ ",<sip:a.test;lr>", -EINVAL, 0, NULL },
	{ "<sip:a.test;lr>,,<sip:b.test>", -EINVAL, 0, NULL },
	{ "<sip:a.test;lr", -EINVAL, 0, NULL },
	{ "sip:a.test;lr>", -EINVAL, 0, NULL },
	{ "<sip:a<b>", -EINVAL, 0, NULL },
	{ "\"unclosed <sip:a.test>", -EINVAL, 0, NULL },
	{ "\"trailing backslash\\", -EINVAL, 0, NULL },
	{ "<sip:a.test;lr>\r\nX: y", -EINVAL, 0, NULL },
	{ "<sip:a.test;lr>\n", -EINVAL, 0, NULL },
};

static void test_routeset(struct tap *t)
{
	char *list[NP_ROUTESET_MAX + 1], *big, text[NP_ROUTESET_LEN];
	char small[24];
	size_t i, n, k;
	int err;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		n = 99;
		err = np_routeset_split(split_cases[i].text, list,
					NP_ROUTESET_MAX, &n);
		tap_check(t, err == split_cases[i].err &&
				     n == split_cases[i].n &&
				     (!split_cases[i].last ||
				      !strcmp(list[n - 1], split_cases[i].last)),
			  "routeset_split case %zu: %d, %zu entries (got %d, %zu)",
			  i, split_cases[i].err, split_cases[i].n, err, n);
		if (!err)
			np_rr_free(list, n);
	}

	/* Bounds: entries, total length, the caller's buffer. */
	big = malloc(2 * NP_ROUTESET_LEN);
	if (!tap_check(t, big != NULL, "malloc"))
		return;
	big[0] = '\0';
	for (k = 0; k <= NP_ROUTESET_MAX; k++)
		strcat(big, k ? ",<sip:h.test;lr>" : "<sip:h.test;lr>");
	err = np_routeset_split(big, list, NP_ROUTESET_MAX, &n);
	tap_check(t, err == -ENOSPC && n == 0,
		  "routeset_split: %d entries is -ENOSPC", NP_ROUTESET_MAX + 1);
	err = np_routeset_split(big, list, 3, &n);
	tap_check(t, err == -ENOSPC && n == 0,
		  "routeset_split: past the caller's max is -ENOSPC");
	memset(big, 'a', 2 * NP_ROUTESET_LEN - 1);
	big[0] = '<';
	memcpy(big + 1, "sip:", 4);
	big[2 * NP_ROUTESET_LEN - 2] = '>';
	big[2 * NP_ROUTESET_LEN - 1] = '\0';
	err = np_routeset_split(big, list, NP_ROUTESET_MAX, &n);
	tap_check(t, err == -ENOSPC && n == 0,
		  "routeset_split: overlong text is -ENOSPC");
	{
		char *one[] = { big };
		char *two[] = { "<sip:a.test;lr>", "<sip:b.test;lr>" };
		char *inner[] = { "<sip:a.test;lr>, <sip:b.test;lr>" };
		char *crlf[] = { "<sip:a.test;lr>\r\nVia: x" };
		char *empty[] = { "  " };
		char *null[] = { NULL };

		err = np_routeset_join(one, 1, text, sizeof(text));
		tap_check(t, err == -ENOSPC && !text[0],
			  "routeset_join: overlong entry is -ENOSPC");
		err = np_routeset_join(two, 2, small, sizeof(small));
		tap_check(t, err == -ENOSPC && !small[0],
			  "routeset_join: small buffer is -ENOSPC");
		err = np_routeset_join(two, 2, text, sizeof(text));
		tap_check(t, !err && !strcmp(text, "<sip:a.test;lr>, <sip:b.test;lr>"),
			  "routeset_join: ', ' between entries");
		tap_check(t, np_routeset_join(inner, 1, text, sizeof(text)) == -EINVAL,
			  "routeset_join: an entry holding two is -EINVAL");
		tap_check(t, np_routeset_join(crlf, 1, text, sizeof(text)) == -EINVAL,
			  "routeset_join: CR LF is -EINVAL");
		tap_check(t, np_routeset_join(empty, 1, text, sizeof(text)) == -EINVAL,
			  "routeset_join: blank entry is -EINVAL");
		tap_check(t, np_routeset_join(null, 1, text, sizeof(text)) == -EINVAL,
			  "routeset_join: NULL entry is -EINVAL");
		err = np_routeset_join(two, 0, text, sizeof(text));
		tap_check(t, !err && !text[0], "routeset_join: none is \"\"");
		err = np_routeset_join(two, NP_ROUTESET_MAX + 1, text,
				       sizeof(text));
		tap_check(t, err == -ENOSPC, "routeset_join: too many");
	}

	/* Garbage never crashes (valgrind watches) and never half-returns. */
	{
		static const char alphabet[] = "<>\",\\ \tsip:a;\r";
		unsigned int seed = 1;
		int bad = 0;

		for (k = 0; k < 5000; k++) {
			size_t l = (size_t)(rand_r(&seed) % 40), j;

			for (j = 0; j < l; j++)
				big[j] = alphabet[rand_r(&seed) %
						  (sizeof(alphabet) - 1)];
			big[l] = '\0';
			err = np_routeset_split(big, list, 4, &n);
			if (err && n)
				bad++;
			if (!err) {
				if (np_routeset_join(list, n, text,
						     sizeof(text)))
					bad++;
				np_rr_free(list, n);
			}
		}
		tap_check(t, !bad,
			  "routeset: 5000 random strings, split and join agree");
	}
	free(big);
}

int main(void)
{
	struct tap t = { 0 };

	np_sipmsg_init();
	test_pop(&t);
	test_prepend(&t);
	test_rr(&t);
	test_routeset(&t);
	return tap_done(&t);
}
