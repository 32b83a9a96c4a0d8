// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of ctl/sipmsg.c's registration lifetime: the Contact's
 * expires parameter before the Expires header, delta-seconds capped at
 * 2^32-1 (RFC 3261 20.19), the default for what is absent or malformed.
 */
#include <stdio.h>
#include <string.h>

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
	return tap_done(&t);
}
