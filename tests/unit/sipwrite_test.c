// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ctl/sip/sipwrite.c: on a table of messages as terminals,
 * softswitches and natproxyd's own rewrites make them, np_sipwrite()
 * writes the bytes libosip2's osip_message_to_str() writes, and it writes
 * them itself for the messages a call is made of (else the speed is gone
 * without a test failing); what it has no form for is left to libosip2.
 * So does each header np_sipwrite_uri/via/name_addr write. Then every
 * character in every URI part, one at a time: the same bytes, or left
 * to libosip2.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/sipmsg.h"
#include "sip/sipwrite.h"
#include "sipwrite_same.h"
#include "tap.h"

#define SDP                                                                   \
	"v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\n" \
	"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

static const struct {
	const char *what;
	bool ours; /* np_sipwrite writes it, not libosip2 */
	const char *text;
} cases[] = {
	{ "sipp's INVITE with SDP", true,
	  "INVITE sip:service@198.51.100.2:5060 SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-1-0;rport\r\n"
	  "Max-Forwards: 70\r\n"
	  "From: <sip:alice@example.test>;tag=1234SIPpTag091\r\n"
	  "To: <sip:service@example.test>\r\n"
	  "Call-ID: 1-1234@192.168.1.10\r\n"
	  "CSeq: 1 INVITE\r\n"
	  "Contact: <sip:alice@192.168.1.10:5060>\r\n"
	  "User-Agent: sipp-terminal\r\n"
	  "Content-Type: application/sdp\r\n"
	  "Content-Length: 115\r\n\r\n" SDP },
	{ "a 200 with Record-Route and SDP", true,
	  "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK-np-1;rport=20000;received=198.51.100.1\r\n"
	  "Record-Route: <sip:198.51.100.2;lr;did=a1.b2>\r\n"
	  "Record-Route: <sip:198.51.100.1:20000;lr>\r\n"
	  "From: <sip:alice@example.test>;tag=1234SIPpTag091\r\n"
	  "To: <sip:service@example.test>;tag=99\r\n"
	  "Call-ID: 1-1234@192.168.1.10\r\n"
	  "CSeq: 1 INVITE\r\n"
	  "Contact: <sip:service@198.51.100.3:5060;transport=UDP>\r\n"
	  "Content-Type: application/sdp\r\n"
	  "Content-Length: 115\r\n\r\n" SDP },
	{ "an ACK with a Route set, no body", true,
	  "ACK sip:service@198.51.100.3:5060;transport=UDP SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-2\r\n"
	  "Route: <sip:203.0.113.1;lr>, <sip:198.51.100.2;lr;did=a1.b2>\r\n"
	  "Max-Forwards: 70\r\n"
	  "From: <sip:alice@example.test>;tag=1\r\n"
	  "To: <sip:service@example.test>;tag=99\r\n"
	  "Call-ID: 1-1234@192.168.1.10\r\n"
	  "CSeq: 1 ACK\r\n"
	  "Content-Length: 0\r\n\r\n" },
	{ "compact forms, a display name, a Call-ID without host", true,
	  "BYE sip:bob@[2001:db8::3]:5062 SIP/2.0\r\n"
	  "v: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-3;received=2001:db8::9\r\n"
	  "v: SIP/2.0/TCP h3;branch=z9hG4bK-4, SIP/2.0/UDP h4:7\r\n"
	  "f: \"Alice A\" <sip:alice:secret@a.test;user=phone>;tag=a-1.x\r\n"
	  "t: Bob <sip:bob@b.test>;tag=b~2;x\r\n"
	  "i: nohost\r\n"
	  "CSeq: 7 BYE\r\n"
	  "m: <sip:alice@[2001:db8::1]:5060;ob>;expires=30;+sip.instance=\"<urn:uuid:1>\"\r\n"
	  "X-FOO-bar: v\r\nSubject:\r\n"
	  "l: 0\r\n\r\n" },
	{ "a REGISTER with Authorization (kept verbatim as another header)", true,
	  "REGISTER sip:example.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-r2;rport\r\n"
	  "From: <sip:alice@example.test>;tag=r1\r\n"
	  "To: <sip:alice@example.test>\r\n"
	  "Call-ID: reg-1@192.168.1.10\r\n"
	  "CSeq: 2 REGISTER\r\n"
	  "Contact: <sip:alice@192.168.1.10:5060>;expires=60\r\n"
	  "Authorization: Digest username=\"alice\", realm=\"example.test\", "
	  "nonce=\"abc\", uri=\"sip:example.test\", response=\"0123\", algorithm=MD5\r\n"
	  "Content-Length: 0\r\n\r\n" },
	{ "a tel: Request-URI, URI headers, a port without host params", true,
	  "INVITE tel:+15551234;phone-context=example.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h;branch=1;rport=5\r\n"
	  "From: <tel:+123>;tag=1\r\n"
	  "To: <sip:b@h?Subject=x&Priority=urgent>\r\n"
	  "Call-ID: x@y\r\nCSeq: 7 INVITE\r\n"
	  "Content-Type: application/sdp;charset=utf-8;x=\"q\"\r\n"
	  "Content-Length: 115\r\n\r\n" SDP },
	{ "a response with a long reason and a five-digit body", true,
	  "SIP/2.0 183 Session Progress With Words\r\n"
	  "Via: SIP/2.0/UDP h\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\n"
	  "Call-ID: x\r\nCSeq: 7 INVITE\r\nContent-Type: text/plain\r\n"
	  "Content-Length: 10\r\n\r\n0123456789" },
	{ "Contact: * (left to libosip2)", false,
	  "REGISTER sip:example.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-r3\r\n"
	  "From: <sip:alice@example.test>;tag=r1\r\nTo: <sip:alice@example.test>\r\n"
	  "Call-ID: reg-1@192.168.1.10\r\nCSeq: 3 REGISTER\r\nContact: *\r\n"
	  "Expires: 0\r\nContent-Length: 0\r\n\r\n" },
	{ "a phone's INVITE: Allow, Supported, User-Agent", true,
	  "INVITE sip:bob@example.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-ph;rport\r\n"
	  "Max-Forwards: 70\r\nTo: <sip:bob@example.test>\r\n"
	  "From: \"Alice\" <sip:alice@example.test>;tag=ph1\r\n"
	  "Call-ID: ph-1@192.168.1.10\r\nCSeq: 20 INVITE\r\n"
	  "Contact: <sip:alice-0x1@192.168.1.10:5060;transport=udp>;+sip.instance=\"<urn:uuid:2>\"\r\n"
	  "User-Agent: baresip v3 (x86_64/linux)\r\n"
	  "Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER\r\n"
	  "Supported: replaces,norefersub,100rel\r\n"
	  "Content-Type: application/sdp\r\n"
	  "Content-Length: 115\r\n\r\n" SDP },
	{ "Allow and Accept (left to libosip2)", false,
	  "OPTIONS sip:bob@b.test SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h;branch=z9hG4bK-o\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
	  "Call-ID: o@h\r\nCSeq: 1 OPTIONS\r\nAllow: INVITE, ACK, BYE\r\n"
	  "Accept: application/sdp\r\nContent-Length: 0\r\n\r\n" },
	{ "an escaped user part (left to libosip2)", false,
	  "MESSAGE sip:b%40c@h SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h;branch=z9hG4bK-e\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b%40c@h>\r\n"
	  "Call-ID: e@h\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n" },
	{ "a Via comment (left to libosip2)", false,
	  "SIP/2.0 200 OK\r\n"
	  "Via: SIP/2.0/UDP h;branch=z9hG4bK-c (a comment)\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
	  "Call-ID: c@h\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n" },
	{ "a multipart body (left to libosip2)", false,
	  "INVITE sip:b@h SIP/2.0\r\n"
	  "Via: SIP/2.0/UDP h;branch=z9hG4bK-m\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
	  "Call-ID: m@h\r\nCSeq: 1 INVITE\r\n"
	  "Content-Type: multipart/mixed;boundary=xyz\r\n"
	  "Content-Length: 166\r\n\r\n"
	  "--xyz\r\nContent-Type: application/sdp\r\n\r\n" SDP "\r\n--xyz--\r\n" },
};

/* natproxyd's own edits, then the same check: what it sends is written as
 * libosip2 would, Via and Contact replaced, the body swapped. */
static void check_edited(struct tap *t, osip_message_t *m, const char *what)
{
	struct np_sockaddr core = { .family = AF_INET, .port = 20000 };
	char body[] = "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\n";

	core.addr.v4.s_addr = htonl(0xc6336401);
	np_sipmsg_replace_top_via(m, "SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK-np-x;rport");
	np_sipmsg_set_contact_hostport(m, &core);
	if (osip_list_size(&m->bodies) == 1)
		np_sipmsg_set_body(m, body, strlen(body));
	tap_check(t, sipwrite_same(m) >= 0, "%s, edited as natproxyd does: the same bytes",
		  what);
}

/* Each printable character, in each URI part of a From and a Record-Route
 * header. */
static void check_characters(struct tap *t)
{
	static const char *const forms[] = {
		"<sip:a%cb@h>;tag=1", "<sip:a:p%cw@h>;tag=1",
		"<sip:a@h;p%c=v>;tag=1", "<sip:a@h;p=v%c>;tag=1",
		"<sip:a@h?n%c=v>;tag=1", "<sip:a@h?n=v%c>;tag=1",
	};
	char text[512], from[64];
	int bad = 0, ours = 0, tried = 0, r;
	size_t f;
	char c;

	for (f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
		for (c = '!'; c <= '~'; c++) {
			snprintf(from, sizeof(from), forms[f], c);
			snprintf(text, sizeof(text),
				 "BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\n"
				 "Record-Route: %s\r\n"
				 "From: %s\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c@h\r\n"
				 "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
				 from, from);
			r = sipwrite_same_text(text, strlen(text));
			tried++;
			if (r < 0) {
				bad++;
				printf("# differs: From: %s\n", from);
			}
			ours += r > 0;
		}
	tap_check(t, !bad, "every character in every URI part: the same bytes, or libosip2's (%d of %d differ)",
		  bad, tried);
	tap_check(t, ours > tried / 2, "most of them written here (%d of %d)", ours, tried);
}

int main(void)
{
	struct tap t = { 0 };
	osip_message_t *m;
	size_t i;
	int r;

	np_sipmsg_init();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = NULL;
		if (!tap_check(&t, !np_sipmsg_parse(cases[i].text, strlen(cases[i].text), &m),
			       "%s: parses", cases[i].what))
			continue;
		tap_check(&t, sipwrite_parts_same(m) > 0,
			  "%s: each URI, Via and name-addr as libosip2 writes it", cases[i].what);
		r = sipwrite_same(m);
		tap_check(&t, r >= 0, "%s: the same bytes as libosip2", cases[i].what);
		tap_check(&t, (r == 1) == cases[i].ours, "%s: %s", cases[i].what,
			  cases[i].ours ? "written here" : "left to libosip2");
		check_edited(&t, m, cases[i].what);
		osip_message_free(m);
	}
	check_characters(&t);
	return tap_done(&t);
}
