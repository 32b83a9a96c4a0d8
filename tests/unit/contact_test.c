// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ctl/sip/contact.c: the Contacts of a REGISTER (an IAD's
 * aaln/1 and aaln/2 lines on one socket, `;line=`, a phone's
 * +sip.instance, `*`, IPv6, comma lists), telling bindings apart, the
 * lifetime a 200 gives each (the 200 listing other devices' bindings too, a
 * de-REGISTER of one), and which binding a Request-URI from the core names.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/contact.h"
#include "sip/sipmsg.h"
#include "tap.h"

static osip_message_t *msg(const char *start, const char *headers)
{
	char text[4096];
	osip_message_t *m = NULL;

	snprintf(text, sizeof(text),
		 "%s\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c1\r\n"
		 "From: <sip:iad@example.test>;tag=f1\r\n"
		 "To: <sip:iad@example.test>%s\r\n"
		 "Call-ID: reg-1@192.0.2.10\r\n"
		 "CSeq: 7 REGISTER\r\n"
		 "%s"
		 "Content-Length: 0\r\n\r\n",
		 start, strncmp(start, "SIP/", 4) ? "" : ";tag=t1", headers);
	if (np_sipmsg_parse(text, strlen(text), &m))
		return NULL;
	return m;
}

#define REG "REGISTER sip:example.test SIP/2.0"
#define OK "SIP/2.0 200 OK"

static osip_uri_t *uri(const char *text)
{
	osip_uri_t *u;

	if (osip_uri_init(&u))
		return NULL;
	if (osip_uri_parse(u, text)) {
		osip_uri_free(u);
		return NULL;
	}
	return u;
}

/* An IAD: two analog lines on one socket, by user part. */
static const char *const iad_register =
	"Contact: <sip:aaln/1@192.0.2.10:5060>;expires=3600, "
	"<sip:aaln/2@192.0.2.10:5060>;expires=1800\r\n";

static void test_iad(struct tap *t)
{
	struct np_sip_binding b[4];
	osip_message_t *reg = msg(REG, iad_register), *ok, *ok2;
	const struct np_sip_binding *pick;
	osip_uri_t *r;
	size_t n = 0;
	int err;

	if (!tap_check(t, reg != NULL, "iad: REGISTER parses"))
		return;
	err = np_contacts_get(reg, b, 4, &n);
	tap_check(t, !err && n == 2, "iad: two bindings (%d, %zu)", err, n);
	tap_check(t, !strcmp(b[0].user, "aaln/1") && !strcmp(b[1].user, "aaln/2"),
		  "iad: users aaln/1, aaln/2");
	tap_check(t, !strcmp(b[0].uri, "sip:aaln/1@192.0.2.10:5060"),
		  "iad: uri '%s'", b[0].uri);
	tap_check(t, b[0].expires == 3600 && b[1].expires == 1800,
		  "iad: expires params 3600, 1800");
	tap_check(t, !b[0].line[0] && !b[0].instance[0] && !b[0].star,
		  "iad: no line, instance, star");
	tap_check(t, !np_binding_same(&b[0], &b[1]),
		  "iad: the two lines are two bindings");
	tap_check(t, np_binding_same(&b[0], &b[0]), "iad: a binding is itself");

	/* The 200 from the core: our core address in each Contact, and a
	 * desk phone of the same AOR elsewhere. */
	ok = msg(OK, "Contact: <sip:aaln/1@203.0.113.1:30000>;expires=600\r\n"
		     "Contact: <sip:aaln/2@203.0.113.1:30000>;expires=300, "
		     "<sip:desk@198.51.100.40:5060>;expires=3600\r\n"
		     "Expires: 900\r\n");
	if (tap_check(t, ok != NULL, "iad: 200 parses")) {
		tap_check(t, np_binding_expires(&b[0], ok) == 600,
			  "iad: aaln/1 gets 600 from its Contact in the 200");
		tap_check(t, np_binding_expires(&b[1], ok) == 300,
			  "iad: aaln/2 gets 300");
		osip_message_free(ok);
	}
	/* De-REGISTER of aaln/2: the 200 lists aaln/1 only. */
	ok2 = msg(OK, "Contact: <sip:aaln/1@203.0.113.1:30000>\r\n"
		      "Expires: 450\r\n");
	if (tap_check(t, ok2 != NULL, "iad: de-REGISTER 200 parses")) {
		tap_check(t, np_binding_expires(&b[0], ok2) == 450,
			  "iad: aaln/1 keeps the Expires header's 450");
		tap_check(t, np_binding_expires(&b[1], ok2) == -1,
			  "iad: aaln/2, not listed, is gone (-1)");
		osip_message_free(ok2);
	}

	r = uri("sip:aaln/2@203.0.113.1:30000");
	pick = r ? np_binding_for_ruri(b, n, r) : NULL;
	tap_check(t, pick == &b[1], "iad: Request-URI aaln/2 names line 2");
	if (r)
		osip_uri_free(r);
	r = uri("sip:unknown@203.0.113.1:30000");
	pick = r ? np_binding_for_ruri(b, n, r) : NULL;
	tap_check(t, pick == &b[0], "iad: an unknown user falls to the first");
	if (r)
		osip_uri_free(r);
	osip_message_free(reg);
}

/* One user, lines told apart by ;line= (as IADs and some phones do). */
static void test_line(struct tap *t)
{
	struct np_sip_binding b[4];
	osip_message_t *reg = msg(REG,
				  "Contact: <sip:100@192.0.2.10:5060;line=a1b2>;expires=120\r\n"
				  "Contact: <sip:100@192.0.2.10:5060;line=c3d4;transport=udp>\r\n");
	osip_message_t *ok;
	const struct np_sip_binding *pick;
	osip_uri_t *r;
	size_t n = 0;

	if (!tap_check(t, reg != NULL, "line: parses"))
		return;
	tap_check(t, !np_contacts_get(reg, b, 4, &n) && n == 2,
		  "line: two bindings");
	tap_check(t, !strcmp(b[0].line, "a1b2") && !strcmp(b[1].line, "c3d4"),
		  "line: line params a1b2, c3d4");
	tap_check(t, b[1].expires == -1, "line: no expires param is -1");
	tap_check(t, !np_binding_same(&b[0], &b[1]),
		  "line: same user, other line: two bindings");

	r = uri("sip:100@203.0.113.1:30000;line=c3d4");
	pick = r ? np_binding_for_ruri(b, n, r) : NULL;
	tap_check(t, pick == &b[1], "line: Request-URI ;line=c3d4");
	if (r)
		osip_uri_free(r);
	r = uri("sip:other@203.0.113.1:30000;line=c3d4");
	pick = r ? np_binding_for_ruri(b, n, r) : NULL;
	tap_check(t, pick == &b[1], "line: the line alone when the user differs");
	if (r)
		osip_uri_free(r);
	r = uri("sip:100@203.0.113.1:30000");
	pick = r ? np_binding_for_ruri(b, n, r) : NULL;
	tap_check(t, pick == &b[0], "line: no line: the first of the user");
	if (r)
		osip_uri_free(r);

	ok = msg(OK, "Contact: <sip:100@203.0.113.1:30000;line=c3d4>;expires=60, "
		     "<sip:100@203.0.113.1:30000;line=a1b2>;expires=90\r\n");
	if (tap_check(t, ok != NULL, "line: 200 parses")) {
		tap_check(t, np_binding_expires(&b[0], ok) == 90 &&
				     np_binding_expires(&b[1], ok) == 60,
			  "line: each line its own lifetime");
		osip_message_free(ok);
	}
	osip_message_free(reg);
}

/* A phone with +sip.instance (RFC 5626), and other devices of the same
 * user in the 200. */
static void test_instance(struct tap *t)
{
	struct np_sip_binding b[4], again[4];
	osip_message_t *reg =
		msg(REG, "Contact: \"Desk, 2nd floor\" <sip:alice@[2001:db8::10]:5062;transport=udp>"
			 ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\""
			 ";reg-id=1;expires=300\r\n");
	osip_message_t *reg2, *ok;
	struct np_sockaddr core;
	size_t n = 0, n2 = 0;

	if (!tap_check(t, reg != NULL, "instance: parses"))
		return;
	tap_check(t, !np_contacts_get(reg, b, 4, &n) && n == 1,
		  "instance: one binding");
	tap_check(t, !strcmp(b[0].instance,
			     "\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\""),
		  "instance: kept as written ('%s')", b[0].instance);
	tap_check(t, !strcmp(b[0].user, "alice") && b[0].expires == 300,
		  "instance: user alice, expires 300");
	tap_check(t, !strcmp(b[0].uri, "sip:alice@[2001:db8::10]:5062;transport=udp"),
		  "instance: IPv6 uri '%s'", b[0].uri);

	/* The phone again from another address (its NAT rebound): the same
	 * binding by its instance, whatever the host. */
	reg2 = msg(REG, "Contact: <sip:alice@192.0.2.99:6000>"
			";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-aabbccddeeff>\"\r\n");
	if (tap_check(t, reg2 && !np_contacts_get(reg2, again, 4, &n2) &&
				 n2 == 1,
		      "instance: re-REGISTER parses")) {
		tap_check(t, np_binding_same(&b[0], &again[0]),
			  "instance: same instance (case aside) is the same binding");
		strcpy(again[0].instance, "\"<urn:uuid:1>\"");
		tap_check(t, !np_binding_same(&b[0], &again[0]),
			  "instance: another instance is another binding");
	}
	if (reg2)
		osip_message_free(reg2);

	/* Two of alice's devices behind natproxy have the same user and
	 * no instance: the core address tells them apart. */
	ok = msg(OK, "Contact: <sip:alice@203.0.113.1:30002>;expires=100, "
		     "<sip:alice@[2001:db8::2]:30000;transport=udp>"
		     ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";expires=250, "
		     "<sip:bob@203.0.113.1:30009>;expires=80\r\n");
	if (tap_check(t, ok != NULL, "instance: 200 parses")) {
		tap_check(t, np_binding_expires(&b[0], ok) == 250,
			  "instance: the 200's Contact with its instance: 250");
		b[0].instance[0] = '\0';
		b[0].expires = -1;
		tap_check(t, np_binding_expires(&b[0], ok) == 100,
			  "instance: without instance, the first of the user");
		np_sipaddr_parse("203.0.113.1", "30001", 5060, &core);
		tap_check(t, np_binding_expires_at(&b[0], ok, &core) == -1,
			  "instance: none at our core address 30001: gone");
		np_sipaddr_parse("203.0.113.1", "30002", 5060, &core);
		tap_check(t, np_binding_expires_at(&b[0], ok, &core) == 100,
			  "instance: the one at our core address 30002");
		osip_message_free(ok);
	}
	osip_message_free(reg);
}

static void test_shapes(struct tap *t)
{
	struct np_sip_binding b[4], x, y;
	osip_message_t *m;
	size_t n = 9;
	char big[600];

	m = msg(REG, "Contact: *\r\nExpires: 0\r\n");
	if (tap_check(t, m != NULL, "star: parses")) {
		tap_check(t, !np_contacts_get(m, b, 4, &n) && n == 1 &&
				     b[0].star && !b[0].uri[0],
			  "star: one star binding");
		tap_check(t, np_binding_expires(&b[0], m) == 0,
			  "star: lifetime 0");
		tap_check(t, np_binding_for_ruri(b, n, m->req_uri) == NULL,
			  "star: names no binding");
		osip_message_free(m);
	}
	m = msg(REG, "Content-Type: text/plain\r\n");
	if (tap_check(t, m != NULL, "none: parses")) {
		tap_check(t, !np_contacts_get(m, b, 4, &n) && n == 0,
			  "none: no binding");
		tap_check(t, np_binding_for_ruri(b, 0, m->req_uri) == NULL,
			  "none: names no binding");
		osip_message_free(m);
	}
	m = msg(REG, "Contact: <sip:a@h1>, <sip:b@h1>, <sip:c@h1>\r\n");
	if (tap_check(t, m != NULL, "max: parses")) {
		tap_check(t, np_contacts_get(m, b, 2, &n) == -ENOSPC && n == 2,
			  "max: more Contacts than max is -ENOSPC");
		osip_message_free(m);
	}
	memset(big, 'u', sizeof(big));
	memcpy(big, "Contact: <sip:", 14);
	strcpy(big + 400, "@h1>\r\n");
	m = msg(REG, big);
	if (tap_check(t, m != NULL, "overlong: parses")) {
		tap_check(t, np_contacts_get(m, b, 4, &n) == -ENOSPC && n == 0,
			  "overlong user: -ENOSPC, never a crash");
		osip_message_free(m);
	}
	m = msg(REG, "Contact: <sip:a@h1>;expires=12x, <sip:b@H1:5060>, "
		     "<sip:b@h1>, <sips:b@h1>, <sip:b@[2001:DB8::1]>, <sip:b@[2001:db8::2]>\r\n");
	if (tap_check(t, m != NULL, "ports: parses")) {
		struct np_sip_binding all[8];

		tap_check(t, !np_contacts_get(m, all, 8, &n) && n == 6,
			  "ports: six bindings");
		tap_check(t, all[0].expires == -1,
			  "malformed expires param counts as none");
		tap_check(t, np_binding_same(&all[1], &all[2]),
			  "host case and port 5060 omitted: same binding");
		tap_check(t, !np_binding_same(&all[2], &all[3]),
			  "sips (5061) is another binding");
		x = all[4];
		y = all[4];
		strcpy(y.uri, "sip:b@[2001:db8:0:0::1]:5060");
		tap_check(t, np_binding_same(&x, &y),
			  "IPv6 host, its spelling and port aside: same binding");
		tap_check(t, !np_binding_same(&all[4], &all[5]),
			  "another IPv6 host: another binding");
		osip_message_free(m);
	}
}

int main(void)
{
	struct tap t = { 0 };

	np_sipmsg_init();
	test_iad(&t);
	test_line(&t);
	test_instance(&t);
	test_shapes(&t);
	return tap_done(&t);
}
