// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the MGCP driver (ctl/mgcp/): the message parser and writer
 * on RFC 3435 examples (round trips, piggy-backed datagrams, malformed
 * input), then the driver on message tables, each step a message in (from
 * a gateway behind its NAT, or from the call agent to a gateway's core
 * address) and the exact messages out with where they went, through a fake
 * struct np_core_io that keeps the flows and the charging records. The
 * scenarios: a gateway learnt from RSIP, a CRCX/MDCX/DLCX connection with
 * its SDP pointed at the relays and its record, retransmissions, response
 * acknowledgements and provisional responses, colliding transaction ids of
 * two gateways, AUEP keepalives and a gateway that stops answering, bad
 * input, and the configuration keys.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mgcp/mgcpmsg.h"
#include "proxy.h"
#include "reload.h"
#include "sip/sipmsg.h"
#include "log.h"
#include "tap.h"

/* Steps leave out what they do not need. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* --- configuration --------------------------------------------------------- */

#define CFG                                                                    \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    mgcp_port: 2727\n"                                                \
	"    media_ports: 30000-30099\n"                                       \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20009\n"                                         \
	"    sip_port_quarantine: 0\n"                                         \
	"    media_ports: 40000-40099\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    call_agent: 198.51.100.2:2727\n"                                  \
	"keepalive:\n"                                                         \
	"  method: options\n"                                                  \
	"  interval: 20\n"

/* Who sends and receives in the tables: two gateways behind two NATs (both
 * at 192.168.1.10 in their LANs), and the call agent. */
enum who { GW1, GW2, CA, AGENT = CA };
#define GW_PORT 2427
#define AGENT_PORT 2727
#define ACCESS_PORT 2727
#define GW_LABEL "gw"
#define AGENT_LABEL "ca"
#define GW_PAIR "an MGCP pair"
#include "gateway_harness.h"

/* --- the parser --------------------------------------------------------------- */

struct roundtrip {
	const char *what, *in;
	bool response;
	const char *verb_or_code;
	size_t n_params, body_len;
};

/* RFC 3435's examples (section 2.3 and appendix E), as the RFC writes them
 * (LF) and as gateways send them (CRLF). */
static const struct roundtrip roundtrips[] = {
	{ "RSIP (RFC 3435 E.1)",
	  "RSIP 1200 aaln/1@rgw-2567.whatever.net MGCP 1.0\n"
	  "RM: restart\n",
	  false, "RSIP", 1, 0 },
	{ "CRCX with L: and M: (E.3.1)",
	  "CRCX 1204 aaln/1@rgw-2567.whatever.net MGCP 1.0\n"
	  "C: A3C47F21456789F0\n"
	  "L: p:10, a:PCMU\n"
	  "M: recvonly\n",
	  false, "CRCX", 3, 0 },
	{ "CRCX response with LocalConnectionDescriptor",
	  "200 1204 OK\n"
	  "I: FDE234C8\n"
	  "\n"
	  "v=0\n"
	  "o=- 25678 753849 IN IP4 128.96.41.1\n"
	  "s=-\n"
	  "c=IN IP4 128.96.41.1\n"
	  "t=0 0\n"
	  "m=audio 3456 RTP/AVP 0\n",
	  true, "200", 1, 94 },
	{ "MDCX with RemoteConnectionDescriptor, CRLF",
	  "MDCX 1210 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\n"
	  "C: A3C47F21456789F0\r\n"
	  "I: FDE234C8\r\n"
	  "N: ca@ca1.whatever.net\r\n"
	  "M: sendrecv\r\n"
	  "X: 0123456789AE\r\n"
	  "R: L/hu\r\n"
	  "S: G/rt\r\n"
	  "\r\n"
	  "v=0\r\n"
	  "o=- 4723891 7428910 IN IP4 128.96.63.25\r\n"
	  "s=-\r\n"
	  "c=IN IP4 128.96.63.25\r\n"
	  "t=0 0\r\n"
	  "m=audio 1296 RTP/AVP 0\r\n",
	  false, "MDCX", 7, 105 },
	{ "DLCX response with connection parameters",
	  "250 1217 OK\n"
	  "P: PS=1245, OS=62345, PR=780, OR=45123, PL=10, JI=27, LA=48\n",
	  true, "250", 1, 0 },
	{ "NCS command line, parameter without space",
	  "NTFY 2002 aaln/1@rgw-2567.whatever.net MGCP 1.0 NCS 1.0\n"
	  "N:ca@ca1.whatever.net:5678\n"
	  "X: 0123456789AC\n"
	  "O: L/hd\n",
	  false, "NTFY", 3, 0 },
	{ "response acknowledgement", "000 1204\n", true, "0", 0, 0 },
	{ "provisional with empty K: in the final",
	  "200 1204 OK\nK:\nI: FDE234C8\n", true, "200", 2, 0 },
};

static void test_roundtrips(struct tap *t)
{
	static struct np_mgcp_msg m;
	char out[16384];

	for (size_t i = 0; i < sizeof(roundtrips) / sizeof(roundtrips[0]); i++) {
		const struct roundtrip *r = &roundtrips[i];
		const char *why = "";
		int n, err;
		bool head;

		err = np_mgcp_parse(r->in, strlen(r->in), &m, &why);
		head = m.response == r->response &&
		       (r->response ? m.code == atoi(r->verb_or_code) :
				      !strcmp(m.verb, r->verb_or_code));
		tap_check(t,
			  !err && head && m.n_params == r->n_params &&
				  m.body_len == r->body_len,
			  "parse %s: %s, %zu parameters, %zu bytes of SDP",
			  r->what, r->verb_or_code, m.n_params, m.body_len);
		n = np_mgcp_serialize(&m, out, sizeof(out));
		tap_check(t, n > 0 && !strcmp(out, r->in),
			  "write %s back byte for byte", r->what);
	}
}

static void test_split(struct tap *t)
{
	const char *d = "200 1203 OK\n"
			".\n"
			"DLCX 1244 card23/21@trgw-7.example.net MGCP 1.0\n"
			"C: A3C47F21456789F0\n"
			"I: FDE234C8\n"
			".\r\n"
			"NTFY 1245 aaln/1@x MGCP 1.0\n";
	size_t st[4], ln[4];
	int n = np_mgcp_split(d, strlen(d), st, ln, 4);

	tap_check(t, n == 3 && ln[0] == 12 && !strncmp(d + st[1], "DLCX", 4) &&
			     !strncmp(d + st[2], "NTFY", 4) &&
			     ln[2] == strlen("NTFY 1245 aaln/1@x MGCP 1.0\n"),
		  "three piggy-backed messages split at the period lines");
	n = np_mgcp_split(d, strlen(d), st, ln, 2);
	tap_check(t, n == -E2BIG, "more messages than room: -E2BIG");
	n = np_mgcp_split("200 1 OK\n", 9, st, ln, 4);
	tap_check(t, n == 1 && ln[0] == 9, "one message, no period");
}

struct bad {
	const char *what, *in;
	uint32_t txid; /* readable for a 510 */
};

static const struct bad bads[] = {
	{ "empty", "", 0 },
	{ "transaction id 0", "CRCX 0 a@b MGCP 1.0\n", 0 },
	{ "transaction id of 10 digits", "CRCX 1234567890 a@b MGCP 1.0\n", 0 },
	{ "no endpoint", "CRCX 17 MGCP 1.0\n", 17 },
	{ "endpoint without '@'", "CRCX 18 aaln/1 MGCP 1.0\n", 18 },
	{ "not MGCP", "CRCX 19 a@b SIP/2.0\n", 19 },
	{ "parameter line without ':'", "RQNT 20 a@b MGCP 1.0\nX 1\n", 20 },
	{ "bad verb", "CR-X 21 a@b MGCP 1.0\n", 21 },
	{ "a SIP request", "INVITE sip:a@b SIP/2.0\r\n", 0 },
	{ "NUL inside", "RSIP 22 a@b MGCP 1.0\n\0RM: restart\n", 0 },
};

static void test_bad(struct tap *t)
{
	static struct np_mgcp_msg m;

	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const char *why = NULL;
		size_t len = strlen(bads[i].in);
		int err;

		if (!strcmp(bads[i].what, "NUL inside"))
			len = 40;
		err = np_mgcp_parse(bads[i].in, len, &m, &why);
		tap_check(t, err == -EINVAL && why && m.txid == bads[i].txid,
			  "refused: %s (%s), transaction id %u", bads[i].what,
			  why ? why : "-", m.txid);
	}
	tap_check(t, np_mgcp_looks_like("200 5 OK\n", 9) &&
			     np_mgcp_looks_like("AUEP 7 a@b MGCP 1.0\n", 20) &&
			     !np_mgcp_looks_like("SIP/2.0 200 OK\r\n", 16) &&
			     !np_mgcp_looks_like("OPTIONS sip:a SIP/2.0\r\n", 23),
		  "looks like MGCP: responses and commands, not SIP");
}

/* --- the driver --------------------------------------------------------------- */

#define GW_SDP                                                                 \
	"v=0\r\n"                                                              \
	"o=- 25678 753849 IN IP4 192.168.1.10\r\n"                             \
	"s=-\r\n"                                                              \
	"c=IN IP4 192.168.1.10\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"m=audio 4000 RTP/AVP 0\r\n"
#define GW_SDP_OUT                                                             \
	"v=0\r\n"                                                              \
	"o=- 25678 753849 IN IP4 198.51.100.1\r\n"                             \
	"s=-\r\n"                                                              \
	"c=IN IP4 198.51.100.1\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"m=audio 40000 RTP/AVP 0\r\n"
#define CA_SDP                                                                 \
	"v=0\r\n"                                                              \
	"o=- 4723891 7428910 IN IP4 198.51.100.20\r\n"                         \
	"s=-\r\n"                                                              \
	"c=IN IP4 198.51.100.20\r\n"                                           \
	"t=0 0\r\n"                                                            \
	"m=audio 5000 RTP/AVP 0\r\n"
#define CA_SDP_OUT                                                             \
	"v=0\r\n"                                                              \
	"o=- 4723891 7428910 IN IP4 203.0.113.1\r\n"                           \
	"s=-\r\n"                                                              \
	"c=IN IP4 203.0.113.1\r\n"                                             \
	"t=0 0\r\n"                                                            \
	"m=audio 30000 RTP/AVP 0\r\n"

static const struct step call_steps[] = {
	{ "RSIP from a new gateway: core address 20000, our id 5001",
	  GW1, 0,
	  "RSIP 1000 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	  "RM: restart\r\n",
	  { "ca:20000|RSIP 5001 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	    "RM: restart\r\n" } },
	{ "its 200 back to the gateway with the gateway's id", CA, 20000,
	  "200 5001 OK\r\n", { "gw1|200 1000 OK\r\n" } },
	{ "CRCX without SDP: endpoint and N: pointed at the gateway's side",
	  CA, 20000,
	  "CRCX 300 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	  "C: A3C47F21456789F0\r\n"
	  "L: p:20, a:PCMU\r\n"
	  "M: recvonly\r\n"
	  "N: ca@[198.51.100.2]:2727\r\n"
	  "X: 0123456789AD\r\n"
	  "R: L/hu\r\n",
	  { "gw1|CRCX 5002 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	    "C: A3C47F21456789F0\r\n"
	    "L: p:20, a:PCMU\r\n"
	    "M: recvonly\r\n"
	    "N: ca@[203.0.113.1]:2727\r\n"
	    "X: 0123456789AD\r\n"
	    "R: L/hu\r\n" } },
	{ "its 200 with the LocalConnectionDescriptor at the core relay",
	  GW1, 0,
	  "200 5002 OK\r\n"
	  "I: FDE234C8\r\n"
	  "\r\n" GW_SDP,
	  { "ca:20000|200 300 OK\r\n"
	    "I: FDE234C8\r\n"
	    "\r\n" GW_SDP_OUT } },
	{ "MDCX with the far end's SDP, pointed at the access relay", CA,
	  20000,
	  "MDCX 301 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	  "C: A3C47F21456789F0\r\n"
	  "I: FDE234C8\r\n"
	  "M: sendrecv\r\n"
	  "\r\n" CA_SDP,
	  { "gw1|MDCX 5003 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	    "C: A3C47F21456789F0\r\n"
	    "I: FDE234C8\r\n"
	    "M: sendrecv\r\n"
	    "\r\n" CA_SDP_OUT } },
	{ "a provisional 100 goes on, the transaction stays", GW1, 0,
	  "100 5003 Pending\r\n", { "ca:20000|100 301 Pending\r\n" } },
	{ "the final 200 with an empty K: (acknowledgement asked)", GW1, 0,
	  "200 5003 OK\r\nK:\r\n", { "ca:20000|200 301 OK\r\nK:\r\n" } },
	{ "the MDCX again: the same 200 again, nothing to the gateway", CA,
	  20000,
	  "MDCX 301 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	  "C: A3C47F21456789F0\r\n"
	  "I: FDE234C8\r\n"
	  "M: sendrecv\r\n"
	  "\r\n" CA_SDP,
	  { "ca:20000|200 301 OK\r\nK:\r\n" } },
	{ "the call agent's 000 acknowledgement, with our id", CA, 20000,
	  "000 301\r\n", { "gw1|000 5003\r\n" } },
	{ "NTFY piggy-backed behind a response: both relayed", GW1, 0,
	  "200 5099 OK\r\n"
	  ".\r\n"
	  "NTFY 1001 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	  "N: ca@[203.0.113.1]:2727\r\n"
	  "X: 0123456789AD\r\n"
	  "O: L/hu\r\n",
	  { "ca:20000|NTFY 5004 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	    "N: ca@[198.51.100.2]:2727\r\n"
	    "X: 0123456789AD\r\n"
	    "O: L/hu\r\n" } },
	{ "RQNT acknowledging the CRCX response: K: in our ids", CA, 20000,
	  "RQNT 302 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	  "K: 300\r\n"
	  "X: 0123456789AE\r\n"
	  "R: L/hd\r\n",
	  { "gw1|RQNT 5005 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	    "K: 5002\r\n"
	    "X: 0123456789AE\r\n"
	    "R: L/hd\r\n" } },
	{ "DLCX from the call agent", CA, 20000,
	  "DLCX 303 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	  "C: A3C47F21456789F0\r\n"
	  "I: FDE234C8\r\n",
	  { "gw1|DLCX 5006 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	    "C: A3C47F21456789F0\r\n"
	    "I: FDE234C8\r\n" } },
	{ "its 250 with the connection parameters", GW1, 0,
	  "250 5006 OK\r\n"
	  "P: PS=1245, OS=62345, PR=780, OR=45123, PL=10, JI=27, LA=48\r\n",
	  { "ca:20000|250 303 OK\r\n"
	    "P: PS=1245, OS=62345, PR=780, OR=45123, PL=10, JI=27, LA=48\r\n" } },
};

static void test_call(struct tap *t)
{
	static struct env e;
	const char *r;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "call", call_steps, 4);
	tap_check(t, n_flows(&e.f) == 4,
		  "the gateway's SDP, the first offer: 4 flows in (%zu)",
		  n_flows(&e.f));
	run_steps(t, &e, "call", call_steps + 4, 7);
	tap_check(t, n_flows(&e.f) == 4 && e.f.n_records == 0,
		  "the call agent's answer: 4 flows, no record yet");
	run_steps(t, &e, "call", call_steps + 11, 2);
	r = e.f.record;
	tap_check(t, n_flows(&e.f) == 0 && e.f.n_records == 1,
		  "DLCX answered: flows gone, one charging record");
	tap_check(t,
		  strstr(r, "\"call_id\": \"mgcp:A3C47F21456789F0/FDE234C8@aaln/1\"") &&
			  strstr(r, "\"from\": \"aaln/1@[198.51.100.1]:20000\"") &&
			  strstr(r, "\"to\": \"198.51.100.2:2727\"") &&
			  strstr(r, "\"direction\": \"incoming\"") &&
			  strstr(r, "\"end_reason\": \"bye\"") &&
			  strstr(r, "\"terminal\": \"203.0.113.50:2427\"") &&
			  strstr(r, "\"packets\": 200"),
		  "the record names the connection, the endpoint as the call "
		  "agent knows it, the gateway's mapping and the volumes");
	if (!strstr(r, "mgcp:"))
		printf("# record: %s\n", r);
	env_fini(&e);
}

/* Two gateways behind two NATs, same LAN address, same transaction ids. */
static const struct step collide_steps[] = {
	{ "gateway 1's RSIP 1000", GW1, 0,
	  "RSIP 1000 aaln/1@[192.168.1.10] MGCP 1.0\r\nRM: restart\r\n",
	  { "ca:20000|RSIP 5001 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	    "RM: restart\r\n" } },
	{ "gateway 2's RSIP 1000: another id, another core address", GW2, 0,
	  "RSIP 1000 aaln/1@[192.168.1.10] MGCP 1.0\r\nRM: restart\r\n",
	  { "ca:20001|RSIP 5002 aaln/1@[198.51.100.1]:20001 MGCP 1.0\r\n"
	    "RM: restart\r\n" } },
	{ "the answer to 5002 reaches gateway 2 as 1000", CA, 20001,
	  "200 5002 OK\r\n", { "gw2|200 1000 OK\r\n" } },
	{ "the answer to 5001 reaches gateway 1 as 1000", CA, 20000,
	  "200 5001 OK\r\n", { "gw1|200 1000 OK\r\n" } },
	{ "an answer on gateway 2's address for gateway 1's id: dropped", CA,
	  20001, "200 5001 OK\r\n", { NULL } },
	{ "the call agent's id 77 to both: each keeps its own", CA, 20000,
	  "AUEP 77 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n",
	  { "gw1|AUEP 5003 aaln/1@[192.168.1.10] MGCP 1.0\r\n" } },
	{ "the same id 77 to gateway 2 is no retransmission", CA, 20001,
	  "AUEP 77 aaln/1@[198.51.100.1]:20001 MGCP 1.0\r\n",
	  { "gw2|AUEP 5004 aaln/1@[192.168.1.10] MGCP 1.0\r\n" } },
	{ "gateway 2 answers with Z:", GW2, 0,
	  "200 5004 OK\r\nZ: aaln/1@[192.168.1.10]\r\n",
	  { "ca:20001|200 77 OK\r\nZ: aaln/1@[198.51.100.1]:20001\r\n" } },
	{ "a command on a core address from a stranger: dropped", GW1, 0,
	  NULL, { NULL } },
};

static void test_collide(struct tap *t)
{
	static struct env e;
	struct np_sockaddr stranger = sa("198.51.100.99", 2727);
	const char *cmd = "AUEP 78 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n";

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "collide", collide_steps, 8);
	e.f.n_sent = 0;
	np_proxy_input(&e.px, CORE, 20000, &stranger, cmd, strlen(cmd), e.now);
	tap_check(t, e.f.n_sent == 0 && e.px.core.stats.strangers == 1,
		  "collide: a command from a stranger on a core address: "
		  "dropped, counted");
	cmd = "200 5003 OK\r\n";
	np_proxy_input(&e.px, CORE, 20000, &stranger, cmd, strlen(cmd), e.now);
	tap_check(t, e.f.n_sent == 0 && e.px.core.stats.strangers == 2,
		  "collide: a response from a stranger on a core address: "
		  "dropped, counted");
	env_fini(&e);
}

static const struct step lost_steps[] = {
	{ "RSIP", GW1, 0,
	  "RSIP 1000 aaln/1@[192.168.1.10] MGCP 1.0\r\nRM: restart\r\n",
	  { "ca:20000|RSIP 5001 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	    "RM: restart\r\n" } },
	{ "CRCX with the far end's SDP", CA, 20000,
	  "CRCX 400 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n"
	  "C: 1234\r\n"
	  "M: sendrecv\r\n"
	  "\r\n" CA_SDP,
	  { "gw1|CRCX 5002 aaln/1@[192.168.1.10] MGCP 1.0\r\n"
	    "C: 1234\r\n"
	    "M: sendrecv\r\n"
	    "\r\n" CA_SDP_OUT } },
	{ "200 with the gateway's SDP: the answer", GW1, 0,
	  "200 5002 OK\r\nI: 99\r\n\r\n" GW_SDP,
	  { "ca:20000|200 400 OK\r\nI: 99\r\n\r\n" GW_SDP_OUT } },
	/* The first keepalive comes at the gateway's phase of the interval,
	 * an interval after it appeared at the earliest: by T0 + 39; then
	 * one an interval. */
	{ "keepalive due: AUEP on the endpoint it named", GW1, 0, NULL,
	  { "gw1|AUEP 5003 aaln/1@[192.168.1.10] MGCP 1.0\r\n" },
	  T0 + 39 },
	{ "answered: nothing relayed", GW1, 0, "200 5003 OK\r\n", { NULL } },
	{ "next AUEP", GW1, 0, NULL,
	  { "gw1|AUEP 5004 aaln/1@[192.168.1.10] MGCP 1.0\r\n" },
	  T0 + 59 },
	{ "unanswered: another", GW1, 0, NULL,
	  { "gw1|AUEP 5005 aaln/1@[192.168.1.10] MGCP 1.0\r\n" },
	  T0 + 79 },
	{ "unanswered twice: another", GW1, 0, NULL,
	  { "gw1|AUEP 5006 aaln/1@[192.168.1.10] MGCP 1.0\r\n" },
	  T0 + 99 },
};

static void test_lost(struct tap *t)
{
	static struct env e;
	struct np_mgcp_msg m;
	const char *why;

	if (!env_init(t, &e, CFG))
		return;
	/* No media timeout in the way: media always "just seen". */
	e.cfg.realms[0].media_timeout = e.cfg.realms[1].media_timeout = 0;
	run_steps(t, &e, "lost", lost_steps, 8);
	e.f.n_sent = 0;
	e.now = T0 + 119;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.px.core.terms == NULL && e.f.n_records == 1 &&
			     strstr(e.f.record, "\"end_reason\": \"terminal-lost\"") &&
			     n_flows(&e.f) == 0,
		  "lost: three AUEPs unanswered: the gateway is released, its "
		  "connection ended and billed (terminal-lost)");
	tap_check(t, e.f.n_sent == 1 && e.f.sent[0].realm == CORE &&
			     e.f.sent[0].from_port == 20000 &&
			     !np_mgcp_parse(e.f.sent[0].buf,
					    strlen(e.f.sent[0].buf), &m, &why) &&
			     np_mgcp_is(&m, "DLCX") &&
			     !strcmp(m.endpoint, "aaln/1@[198.51.100.1]:20000") &&
			     np_mgcp_param(&m, "E") &&
			     !strncmp(np_mgcp_param(&m, "E")->value, "902", 3),
		  "lost: the call agent gets a DLCX for it, E: 902");
	e.f.n_sent = 0;
	feed(&e, CA, 20000, "AUEP 401 aaln/1@[198.51.100.1]:20000 MGCP 1.0\r\n");
	tap_check(t, e.f.n_sent == 0,
		  "lost: its core port closed (no quarantine here): nothing");
	env_fini(&e);
}

static const struct step bad_steps[] = {
	{ "a command with a readable id but no endpoint: 510", GW1, 0,
	  "RSIP 1000 MGCP 1.0\r\n", { "gw1|510 1000 Protocol Error\r\n" } },
	{ "garbage: dropped", GW1, 0, "hello\r\n", { NULL } },
	{ "a response from an unknown mapping: dropped", GW1, 0,
	  "200 1 OK\r\n", { NULL } },
	{ "a gateway learnt from NTFY", GW1, 0,
	  "NTFY 7 aaln/2@[192.168.1.10] MGCP 1.0\r\nO: L/hd\r\n",
	  { "ca:20000|NTFY 5001 aaln/2@[198.51.100.1]:20000 MGCP 1.0\r\n"
	    "O: L/hd\r\n" } },
	{ "its retransmission before the answer: sent on again", GW1, 0,
	  "NTFY 7 aaln/2@[192.168.1.10] MGCP 1.0\r\nO: L/hd\r\n",
	  { "ca:20000|NTFY 5001 aaln/2@[198.51.100.1]:20000 MGCP 1.0\r\n"
	    "O: L/hd\r\n" } },
	{ "a response to an id never sent: dropped", CA, 20000,
	  "200 4242 OK\r\n", { NULL } },
	{ "CRCX with an SDP natproxy cannot point at a relay: 505", CA, 20000,
	  "CRCX 9 aaln/2@[198.51.100.1]:20000 MGCP 1.0\r\nC: 1\r\n\r\n"
	  "v=0\r\no=- 1 1 IN IP4 x.example\r\ns=-\r\nc=IN IP4 x.example\r\n"
	  "t=0 0\r\nm=audio 5000 RTP/AVP 0\r\n",
	  { "ca:20000|505 9 Unsupported RemoteConnectionDescriptor\r\n" } },
};

static void test_bad_input(struct tap *t)
{
	static struct env e;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "bad", bad_steps, sizeof(bad_steps) / sizeof(bad_steps[0]));
	tap_check(t, e.px.core.stats.malformed == 2 && e.px.core.terms &&
			     !e.px.core.terms->calls && e.f.n_records == 1 &&
			     strstr(e.f.record, "\"end_reason\": \"refused\""),
		  "bad: two malformed counted, the refused CRCX billed as "
		  "refused and gone");
	env_fini(&e);
}

/* --- configuration -------------------------------------------------------------- */

static void test_config(struct tap *t)
{
	static const struct {
		const char *what, *from, *to, *want;
	} cases[] = {
		{ "call_agent without mgcp_port", "    mgcp_port: 2727\n", "",
		  "has no mgcp_port" },
		{ "a bad call_agent", "call_agent: 198.51.100.2:2727",
		  "call_agent: nowhere", "bad call_agent" },
		{ "mgcp_port on a media port", "mgcp_port: 2727",
		  "mgcp_port: 30002", "overlap" },
		{ "an IPv6 call agent on IPv4", "call_agent: 198.51.100.2:2727",
		  "call_agent: \"[2001:db8::2]:2727\"", "mixes address families" },
	};
	struct np_config cfg;
	char yaml[4096], err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = strstr(CFG, cases[i].from);
		int r;

		snprintf(yaml, sizeof(yaml), "%.*s%s%s", (int)(p - CFG), CFG,
			 cases[i].to, p + strlen(cases[i].from));
		memset(&cfg, 0, sizeof(cfg));
		err[0] = 0;
		r = np_config_parse("t.yaml", yaml, strlen(yaml), &cfg, err,
				    sizeof(err));
		tap_check(t, r == -EINVAL && strstr(err, cases[i].want) &&
				     !strncmp(err, "t.yaml:", 7),
			  "config refused: %s (%s)", cases[i].what, err);
		np_config_free(&cfg);
	}
	memset(&cfg, 0, sizeof(cfg));
	tap_check(t, !np_config_parse("t.yaml", CFG, strlen(CFG), &cfg, err,
				      sizeof(err)) &&
			     cfg.pairs[0].call_agent.port == 2727 &&
			     !cfg.pairs[0].softswitch.family &&
			     cfg.realms[0].mgcp_port == 2727,
		  "config: a pair with a call_agent and no softswitch carries "
		  "MGCP only");
	np_config_free(&cfg);
}

/* SIP and MGCP on one pair (configs/mgcp.yaml): each socket to its driver,
 * SIP as before. */
static void test_both(struct tap *t)
{
	static struct env e;
	struct np_sockaddr phone = sa("203.0.113.70", 5060);
	const char *reg =
		"REGISTER sip:example.test SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.168.5.10:5060;branch=z9hG4bK-r1;rport\r\n"
		"Max-Forwards: 70\r\n"
		"From: <sip:a@example.test>;tag=a1\r\n"
		"To: <sip:a@example.test>\r\n"
		"Call-ID: reg-a@192.168.5.10\r\n"
		"CSeq: 1 REGISTER\r\n"
		"Contact: <sip:a@192.168.5.10:5060>\r\n"
		"Expires: 300\r\n"
		"Content-Length: 0\r\n\r\n";
	const char *cfg_path = "configs/mgcp.yaml";
	struct np_config cfg;
	char err[256];
	int r;

	memset(&cfg, 0, sizeof(cfg));
	r = np_config_load(cfg_path, &cfg, err, sizeof(err));
	tap_check(t, !r && cfg.pairs[0].softswitch.port == 5060 &&
			     cfg.pairs[0].call_agent.port == 2727 &&
			     cfg.realms[0].mgcp_port == 2727 &&
			     cfg.realms[0].sip_port == 5060,
		  "configs/mgcp.yaml: one pair with a softswitch and a call "
		  "agent (%s)", r ? err : "ok");
	np_config_free(&cfg);

	if (!env_init(t, &e,
		      "realms:\n"
		      "  - name: access\n"
		      "    interface: acc0\n"
		      "    address: 203.0.113.1\n"
		      "    sip_port: 5060\n"
		      "    mgcp_port: 2727\n"
		      "    media_ports: 30000-30099\n"
		      "  - name: core\n"
		      "    interface: core0\n"
		      "    address: 198.51.100.1\n"
		      "    sip_ports: 20000-20009\n"
		      "    media_ports: 40000-40099\n"
		      "pairs:\n"
		      "  - first: access\n"
		      "    second: core\n"
		      "    softswitch: 198.51.100.3:5060\n"
		      "    call_agent: 198.51.100.2:2727\n"))
		return;
	np_proxy_input(&e.px, ACC, 5060, &phone, reg, strlen(reg), e.now);
	tap_check(t, e.f.n_sent == 1 && e.f.sent[0].realm == CORE &&
			     e.f.sent[0].from_port == 20000 &&
			     e.f.sent[0].to.port == 5060 &&
			     !strncmp(e.f.sent[0].buf, "REGISTER ", 9),
		  "both: a REGISTER on 5060 goes to the softswitch (SIP driver)");
	e.f.n_sent = 0;
	feed(&e, GW1, 0, "RSIP 1000 aaln/1@[192.168.1.10] MGCP 1.0\r\n");
	tap_check(t, e.f.n_sent == 1 && e.f.sent[0].from_port == 20001 &&
			     e.f.sent[0].to.port == 2727 &&
			     !strcmp(e.f.sent[0].buf,
				     "RSIP 5001 aaln/1@[198.51.100.1]:20001 MGCP 1.0\r\n"),
		  "both: an RSIP on 2727 goes to the call agent (MGCP driver)");
	e.f.n_sent = 0;
	feed(&e, CA, 20001, "AUEP 9 aaln/1@[198.51.100.1]:20001 MGCP 1.0\r\n");
	tap_check(t, e.f.n_sent == 1 && e.f.sent[0].to.port == 2427,
		  "both: the call agent's AUEP on the gateway's core port "
		  "reaches the gateway");
	env_fini(&e);
}

static char notes[1024];

static void on_note(void *arg, bool warn, const char *text)
{
	(void)arg, (void)warn;
	snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes), "%s\n",
		 text);
}

/* A reload that adds MGCP to a running SIP pair: both need a restart,
 * said in notes, the running values kept. */
static void test_reload(struct tap *t)
{
	static const char sip_only[] =
		"realms:\n"
		"  - name: access\n"
		"    interface: acc0\n"
		"    address: 203.0.113.1\n"
		"    sip_port: 5060\n"
		"    media_ports: 30000-30099\n"
		"  - name: core\n"
		"    interface: core0\n"
		"    address: 198.51.100.1\n"
		"    sip_ports: 20000-20009\n"
		"    media_ports: 40000-40099\n"
		"pairs:\n"
		"  - first: access\n"
		"    second: core\n"
		"    softswitch: 198.51.100.2:5060\n";
	struct np_config running, next, out;
	char yaml[2048], err[256];
	int r;

	memset(&running, 0, sizeof(running));
	memset(&next, 0, sizeof(next));
	memset(&out, 0, sizeof(out));
	snprintf(yaml, sizeof(yaml), "%s", sip_only);
	r = np_config_parse("a", yaml, strlen(yaml), &running, err, sizeof(err));
	/* The same with mgcp_port in the access realm and a call_agent. */
	snprintf(yaml, sizeof(yaml), "%s", sip_only);
	*strstr(yaml, "    media_ports: 30000") = 0;
	snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml),
		 "    mgcp_port: 2727\n%s",
		 strstr(sip_only, "    media_ports: 30000"));
	snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml),
		 "    call_agent: 198.51.100.3:2727\n");
	if (!r)
		r = np_config_parse("b", yaml, strlen(yaml), &next, err,
				    sizeof(err));
	notes[0] = 0;
	if (!r)
		r = np_reload_merge(&running, &next, &out, on_note, NULL, err,
				    sizeof(err));
	tap_check(t, !r && strstr(notes, "mgcp_port 0 -> 2727 needs a restart") &&
			     strstr(notes, "call_agent none -> 198.51.100.3:2727 "
					   "needs a restart: kept none") &&
			     !out.pairs[0].call_agent.family &&
			     !out.realms[0].mgcp_port,
		  "reload: MGCP added to a running pair needs a restart, said "
		  "so, nothing half done (%s)", r ? err : "merged");
	if (r || !strstr(notes, "call_agent"))
		diag_text("notes", notes);
	np_config_free(&running);
	np_config_free(&out);
}

int main(void)
{
	struct tap t = { 0 };

	np_log_set_level(NP_LOG_ERROR);
	np_sipmsg_init();
	test_roundtrips(&t);
	test_split(&t);
	test_bad(&t);
	test_call(&t);
	test_collide(&t);
	test_lost(&t);
	test_bad_input(&t);
	test_config(&t);
	test_both(&t);
	test_reload(&t);
	printf("1..%d\n", t.n);
	return t.failed ? 1 : 0;
}
