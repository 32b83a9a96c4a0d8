// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ctl/sipmsg.c's registration lifetime: the Contact's
 * expires parameter before the Expires header, delta-seconds capped at
 * 2^32-1 (RFC 3261 20.19), the default for what is absent or malformed;
 * the From and To tags; transaction keys by RFC 3261 branch and, for RFC
 * 2543 requests, by their matching fields.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/osip_arena.h"
#include "sip/sipmsg.h"
#include "tap.h"

static const struct {
	const char *contact_param; /* NULL: no expires parameter */
	const char *header; /* NULL: no Expires header */
	long want;
} cases[] = {
	{ NULL, NULL, 3600 },
	{ "60", NULL, 60 },
	{ NULL, "120", 120 },
	{ "30", "120", 30 },
	{ "0", "120", 0 },
	{ NULL, "0", 0 },
	{ NULL, "4294967295", 4294967295L },
	{ NULL, "4294967296", 4294967295L },
	{ NULL, "99999999999999999999999999", 4294967295L },
	{ "602222222222", NULL, 4294967295L },
	{ NULL, "-5", 3600 },
	{ NULL, "12abc", 3600 },
	{ "abc", NULL, 3600 },
	{ NULL, " 90 ", 90 },
};

static osip_message_t *msg_of(const char *start, const char *via,
			       const char *from_tag, const char *to_tag,
			       const char *callid, const char *cseq)
{
	char text[1024];
	osip_message_t *m = NULL;

	snprintf(text, sizeof(text),
		 "%s\r\n"
		 "Via: SIP/2.0/UDP %s\r\n"
		 "From: <sip:1001@example.test>%s%s\r\n"
		 "To: <sip:1002@example.test>%s%s\r\n"
		 "Call-ID: %s\r\n"
		 "CSeq: %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 start, via, from_tag ? ";tag=" : "", from_tag ? from_tag : "",
		 to_tag ? ";tag=" : "", to_tag ? to_tag : "", callid, cseq);
	if (np_sipmsg_parse(text, strlen(text), &m))
		return NULL;
	return m;
}

static const char *const INV = "INVITE sip:1002@192.0.2.20:5062 SIP/2.0";
static const char *const VIA2543 = "192.0.2.10:5062";

/* Requests and whether their key equals the first's. */
static const struct {
	const char *what;
	const char *start, *via, *from_tag, *to_tag, *callid, *cseq;
	bool same;
} txn_cases[] = {
	{ "RFC 2543 INVITE", NULL, NULL, "f1", NULL, "c1@h", "1 INVITE", true },
	{ "its retransmission", NULL, NULL, "f1", NULL, "c1@h", "1 INVITE",
	  true },
	{ "its ACK (To tag of the response)", "ACK sip:1002@192.0.2.20:5062 SIP/2.0",
	  NULL, "f1", "t9", "c1@h", "1 ACK", true },
	{ "its CANCEL", "CANCEL sip:1002@192.0.2.20:5062 SIP/2.0", NULL, "f1",
	  NULL, "c1@h", "1 CANCEL", true },
	{ "the authenticated retry (new CSeq)", NULL, NULL, "f1", NULL, "c1@h",
	  "2 INVITE", false },
	{ "another Call-ID", NULL, NULL, "f1", NULL, "c2@h", "1 INVITE", false },
	{ "another From tag", NULL, NULL, "f2", NULL, "c1@h", "1 INVITE",
	  false },
	{ "no From tag", NULL, NULL, NULL, NULL, "c1@h", "1 INVITE", false },
	{ "another Request-URI", "INVITE sip:1003@192.0.2.20:5062 SIP/2.0",
	  NULL, "f1", NULL, "c1@h", "1 INVITE", false },
	{ "another sent-by", NULL, "192.0.2.11:5062", "f1", NULL, "c1@h",
	  "1 INVITE", false },
	{ "an RFC 2543 branch", NULL, "192.0.2.10:5062;branch=7", "f1", NULL,
	  "c1@h", "1 INVITE", false },
	{ "another method, same CSeq number",
	  "OPTIONS sip:1002@192.0.2.20:5062 SIP/2.0", NULL, "f1", NULL, "c1@h",
	  "1 OPTIONS", false },
};

static void test_txn_key(struct tap *t)
{
	char first[512], key[512], small[8];
	osip_message_t *m;
	size_t i;
	int err;

	for (i = 0; i < sizeof(txn_cases) / sizeof(txn_cases[0]); i++) {
		m = msg_of(txn_cases[i].start ? txn_cases[i].start : INV,
			   txn_cases[i].via ? txn_cases[i].via : VIA2543,
			   txn_cases[i].from_tag, txn_cases[i].to_tag,
			   txn_cases[i].callid, txn_cases[i].cseq);
		if (!tap_check(t, m != NULL, "txn %s: parses",
			       txn_cases[i].what))
			continue;
		err = np_sipmsg_txn_key(m, i ? key : first, sizeof(key));
		tap_check(t, !err, "txn %s: key '%s'", txn_cases[i].what,
			  i ? key : first);
		if (i)
			tap_check(t, !strcmp(key, first) == txn_cases[i].same,
				  "txn %s: %s the INVITE's",
				  txn_cases[i].what,
				  txn_cases[i].same ? "same as" : "not");
		osip_message_free(m);
	}

	/* RFC 3261: the branch, whatever else differs; ACK (non-2xx) and
	 * CANCEL carry the INVITE's branch. */
	m = msg_of(INV, "192.0.2.10:5062;branch=z9hG4bK-abc;rport", "f1",
		   NULL, "c1@h", "1 INVITE");
	if (tap_check(t, m != NULL, "txn 3261: parses")) {
		err = np_sipmsg_txn_key(m, key, sizeof(key));
		tap_check(t, !err && !strcmp(key, "z9hG4bK-abc"),
			  "txn 3261: key is the branch (got '%s')", key);
		err = np_sipmsg_txn_key(m, small, sizeof(small));
		tap_check(t, err == -ENOSPC && !small[0],
			  "txn: small buffer is -ENOSPC");
		osip_message_free(m);
	}
	m = msg_of("CANCEL sip:1002@192.0.2.20:5062 SIP/2.0",
		   "192.0.2.10:5062;branch=z9hG4bK-abc", "f1", NULL, "c1@h",
		   "1 CANCEL");
	if (tap_check(t, m != NULL, "txn 3261 CANCEL: parses")) {
		err = np_sipmsg_txn_key(m, key, sizeof(key));
		tap_check(t, !err && !strcmp(key, "z9hG4bK-abc"),
			  "txn 3261 CANCEL: the INVITE's key");
		osip_message_free(m);
	}
	m = msg_of("SIP/2.0 200 OK", "192.0.2.10:5062;branch=z9hG4bK-abc",
		   "f1", "t1", "c1@h", "1 INVITE");
	if (tap_check(t, m != NULL, "txn response: parses")) {
		err = np_sipmsg_txn_key(m, key, sizeof(key));
		tap_check(t, !err && !strcmp(key, "z9hG4bK-abc"),
			  "txn response with a cookie branch: the branch");
		osip_message_free(m);
	}
	m = msg_of("SIP/2.0 200 OK", VIA2543, "f1", "t1", "c1@h", "1 INVITE");
	if (tap_check(t, m != NULL, "txn 2543 response: parses")) {
		tap_check(t, np_sipmsg_txn_key(m, key, sizeof(key)) == -EINVAL,
			  "txn 2543 response: no key (-EINVAL)");
		osip_message_free(m);
	}
}

static void test_tags(struct tap *t)
{
	osip_message_t *m = msg_of(INV, VIA2543, "a-1.x", "b~2", "c@h",
				   "1 INVITE");

	if (tap_check(t, m != NULL, "tags: parses")) {
		tap_check(t, !strcmp(np_sipmsg_from_tag(m), "a-1.x"),
			  "from tag");
		tap_check(t, !strcmp(np_sipmsg_to_tag(m), "b~2"), "to tag");
		osip_message_free(m);
	}
	m = msg_of(INV, VIA2543, NULL, NULL, "c@h", "1 INVITE");
	if (tap_check(t, m != NULL, "no tags: parses")) {
		char id[8], small[3];

		tap_check(t, !strcmp(np_sipmsg_call_id(m, id, sizeof(id)), "c@h"),
			  "call-id number@host");
		tap_check(t, !strcmp(np_sipmsg_call_id(m, small, sizeof(small)), "c@"),
			  "call-id cut to its buffer");
		osip_message_free(m);
		m = msg_of(INV, VIA2543, NULL, NULL, "nohost", "1 INVITE");
		tap_check(t, m && !strcmp(np_sipmsg_call_id(m, id, sizeof(id)), "nohost"),
			  "call-id without a host");
		if (!m)
			return;
		tap_check(t, !strcmp(np_sipmsg_from_tag(m), "") &&
				     !strcmp(np_sipmsg_to_tag(m), ""),
			  "no tags: \"\"");
		osip_message_free(m);
	}
}

/*
 * libosip2's blocks come from the arena (osip_arena.c): parsing, editing
 * and printing many messages leaves no block behind and reuses the one
 * chunk; a block handed from glibc (malloc) is freed to glibc; a block
 * grown keeps its bytes.
 */
static void test_arena(struct tap *t)
{
	static const char text[] =
		"INVITE sip:b@example.test SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-a1;rport\r\n"
		"From: <sip:a@example.test>;tag=1\r\n"
		"To: <sip:b@example.test>\r\n"
		"Call-ID: arena@example.test\r\n"
		"CSeq: 1 INVITE\r\n"
		"Contact: <sip:a@192.168.1.10:5060>\r\n"
		"Content-Type: application/sdp\r\n"
		"Content-Length: 4\r\n\r\nv=0\n";
	struct osip_arena_stats before, after;
	osip_message_t *m;
	char *out, *p;
	size_t len, i;
	bool ok = true;

	osip_arena_stats(&before);
	for (i = 0; i < 5000; i++) {
		m = NULL;
		if (np_sipmsg_parse(text, strlen(text), &m)) {
			ok = false;
			break;
		}
		np_sipmsg_push_via(m, "SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK-x");
		out = NULL;
		if (np_sipmsg_serialize(m, &out, &len) || !strstr(out, "z9hG4bK-x"))
			ok = false;
		osip_free(out);
		osip_message_free(m);
	}
	osip_arena_stats(&after);
	tap_check(t, ok, "5000 messages parsed, edited and printed");
	tap_check(t, after.live == 0, "no block left behind (%zu)", after.live);
	tap_check(t, after.blocks > before.blocks + 5000 * 20,
		  "their blocks came from the arena (%llu)",
		  after.blocks - before.blocks);
	tap_check(t, after.chunks <= 1 && after.elsewhere == before.elsewhere,
		  "in one chunk, reused (%zu chunks, %llu from glibc)",
		  after.chunks, after.elsewhere - before.elsewhere);
	p = malloc(32);
	strcpy(p, "from glibc");
	osip_free(p); /* glibc's own free: a double free would abort */
	p = osip_malloc(8);
	strcpy(p, "1234567");
	p = osip_realloc(p, 4000);
	tap_check(t, p && !strcmp(p, "1234567"), "a grown block keeps its bytes");
	osip_free(p);
	osip_arena_stats(&after);
	tap_check(t, after.live == 0, "and is gone when freed");
}

int main(void)
{
	struct tap t = { 0 };
	osip_message_t *msg;
	char text[1024];
	size_t i;
	long got;

	np_sipmsg_init();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char contact[128] = "", header[128] = "";

		if (cases[i].contact_param)
			snprintf(contact, sizeof(contact), ";expires=%s",
				 cases[i].contact_param);
		if (cases[i].header)
			snprintf(header, sizeof(header), "Expires: %s\r\n",
				 cases[i].header);
		snprintf(text, sizeof(text),
			 "SIP/2.0 200 OK\r\n"
			 "Via: SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK-1\r\n"
			 "From: <sip:a@example.test>;tag=1\r\n"
			 "To: <sip:a@example.test>;tag=2\r\n"
			 "Call-ID: reg@example.test\r\n"
			 "CSeq: 1 REGISTER\r\n"
			 "Contact: <sip:a@198.51.100.1:20000>%s\r\n"
			 "%sContent-Length: 0\r\n\r\n",
			 contact, header);
		msg = NULL;
		if (!tap_check(&t, !np_sipmsg_parse(text, strlen(text), &msg),
			       "case %zu parses", i))
			continue;
		got = np_sipmsg_expires(msg, 3600);
		tap_check(&t, got == cases[i].want,
			  "contact expires=%s, Expires: %s -> %ld (got %ld)",
			  cases[i].contact_param ? cases[i].contact_param : "-",
			  cases[i].header ? cases[i].header : "-",
			  cases[i].want, got);
		osip_message_free(msg);
	}
	test_txn_key(&t);
	test_tags(&t);
	test_arena(&t);
	return tap_done(&t);
}
