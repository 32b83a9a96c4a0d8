// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the H.248 driver (ctl/h248/): the text scanner on RFC 3525
 * examples in the pretty and the compact form (items found, bad input
 * refused), then the driver on message tables, each step a message in
 * (from a gateway behind its NAT, or from the MGC to a gateway's core
 * address) and the exact messages out with where they went, through a fake
 * struct np_core_io that keeps the flows and the charging records. The
 * scenarios: a gateway learnt from its ServiceChange; an Add with Remote
 * SDP and its reply's Local SDP pointed at the relays, Pending, a
 * retransmitted Add, TransactionResponseAck, Subtract and its record;
 * colliding transaction ids of two gateways; AuditValue keepalives and a
 * gateway that stops answering; bad input; the configuration keys.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "h248/h248msg.h"
#include "h248/h248sdp.h"
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
	"    h248_port: 2944\n"                                                \
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
	"    mgc: 198.51.100.2:2944\n"                                  \
	"keepalive:\n"                                                         \
	"  method: options\n"                                                  \
	"  interval: 20\n"

/* Media may stop for 10 minutes: a gateway is lost before its calls. */
#define CFG_SLOW_MEDIA                                                         \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    h248_port: 2944\n"                                                \
	"    media_ports: 30000-30099\n"                                       \
	"    media_timeout: 600\n"                                             \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20009\n"                                         \
	"    sip_port_quarantine: 0\n"                                         \
	"    media_ports: 40000-40099\n"                                       \
	"    media_timeout: 600\n"                                             \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    mgc: 198.51.100.2:2944\n"                                         \
	"keepalive:\n"                                                         \
	"  method: options\n"                                                  \
	"  interval: 20\n"

/* Who sends and receives in the tables: two gateways behind two NATs (both
 * at 192.168.1.10 in their LANs), and the MGC. */
enum who { MG1, MG2, MGC, AGENT = MGC };
#define GW_PORT 2944
#define AGENT_PORT 2944
#define ACCESS_PORT 2944
#define GW_LABEL "mg"
#define AGENT_LABEL "mgc"
#define GW_PAIR "an H.248 pair"
#include "gateway_harness.h"

/* --- the scanner --------------------------------------------------------------- */

struct scan_case {
	const char *what, *in;
	int ok; /* 1 parses, 0 refused */
	const char *mid;
	size_t n_nodes;
};

static const struct scan_case scan_cases[] = {
	{ "ServiceChange, pretty (RFC 3525 A.1)",
	  "MEGACO/1 [124.124.124.222]:55555\n"
	  "Transaction = 9998 {\n"
	  "   Context = - {\n"
	  "      ServiceChange = ROOT {Services {\n"
	  "          Method=Restart,\n"
	  "          ServiceChangeAddress=55555, Profile=ResGW/1}\n"
	  "      }\n"
	  "   }\n"
	  "}\n",
	  1, "[124.124.124.222]:55555", 7 },
	{ "the same, compact",
	  "!/1 [124.124.124.222]:55555 T=9998{C=-{SC=ROOT{SV{MT=RS,AD=55555,PF=ResGW/1}}}}",
	  1, "[124.124.124.222]:55555", 7 },
	{ "a Reply with Local SDP taken whole (RFC 3525 A.2)",
	  "MEGACO/1 [124.124.124.222]:55555\n"
	  "Reply = 10003 {\n"
	  "   Context = 2000 {\n"
	  "     Add = A4444,\n"
	  "     Add=A4445{Media { Stream = 1 {\n"
	  "        Local {\n"
	  "v=0\n"
	  "o=- 2890844526 2890842807 IN IP4 124.124.124.222\n"
	  "s=-\n"
	  "t= 0 0\n"
	  "c=IN IP4 124.124.124.222\n"
	  "m=audio 2222 RTP/AVP 4\n"
	  "a=ptime:30\n"
	  "a=recvonly\n"
	  "} ; RTP profile for G.723.1 is 4\n"
	  "}}}\n"
	  "   }\n"
	  "}\n",
	  1, "[124.124.124.222]:55555", 7 },
	{ "a domain name mId, TransactionResponseAck and Pending",
	  "MEGACO/2 <mg1.example.net>:2944\nK{1-3, 7}\nPN=8{}\n", 1,
	  "<mg1.example.net>:2944", 4 },
	{ "quoted strings with braces inside",
	  "MEGACO/3 [10.0.0.1]:2944 P=4{ER=400{\"a } b {\"}}", 1,
	  "[10.0.0.1]:2944", 3 },
	{ "no header", "Transaction = 1 {}\n", 0, NULL, 0 },
	{ "version 4", "MEGACO/4 [10.0.0.1]:2944 T=1{}", 0, NULL, 0 },
	{ "no transaction", "MEGACO/1 [10.0.0.1]:2944\n", 0, NULL, 0 },
	{ "a brace missing", "MEGACO/1 [10.0.0.1]:2944 T=1{C=-{", 0, NULL, 0 },
	{ "a brace too many", "MEGACO/1 [10.0.0.1]:2944 T=1{}}", 0, NULL, 0 },
	{ "Local not closed", "MEGACO/1 [10.0.0.1]:2944 T=1{C=1{A=a{M{L{v=0",
	  0, NULL, 0 },
	{ "an unterminated string", "MEGACO/1 [10.0.0.1]:2944 T=1{ER=1{\"x}}",
	  0, NULL, 0 },
};

static void test_scan(struct tap *t)
{
	static struct np_h248_msg m;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		const struct scan_case *c = &scan_cases[i];
		int err = np_h248_parse(c->in, strlen(c->in), &m, &why);

		if (!c->ok) {
			tap_check(t, err == -EINVAL, "scan: %s: refused",
				  c->what);
			continue;
		}
		tap_check(t,
			  !err && m.mid_len == strlen(c->mid) &&
				  !memcmp(c->in + m.mid_off, c->mid,
					  m.mid_len) &&
				  m.n == c->n_nodes,
			  "scan: %s (%s, %zu items)", c->what,
			  err ? why : "read", err ? 0 : m.n);
	}
	/* Local's SDP is one raw item, and an edit replaces just it. */
	{
		const char *in = scan_cases[2].in;
		static struct np_h248_edits ed;
		char out[2048];
		size_t k;
		int n, local = -1;

		np_h248_parse(in, strlen(in), &m, &why);
		for (k = 0; k < m.n; k++)
			if (np_h248_named(&m, (int)k, "Local", "L"))
				local = (int)k;
		tap_check(t, local >= 0 && m.nodes[local].raw,
			  "scan: Local is taken as octets");
		memset(&ed, 0, sizeof(ed));
		np_h248_edit(&ed, m.mid_off, m.mid_len, "[1.2.3.4]:5", 11);
		n = np_h248_write(&m, &ed, m.hdr_end, m.len, out, sizeof(out));
		tap_check(t,
			  n == (int)strlen(in) - 12 &&
				  !strncmp(out, "MEGACO/1 [1.2.3.4]:5\nReply", 26) &&
				  !strcmp(out + 21, in + 33),
			  "scan: an edit of the mId keeps every other byte");
	}
}

/* --- the driver ------------------------------------------------------------------ */

#define MG_SDP                                                                 \
	"v=0\r\n"                                                              \
	"o=- 25678 753849 IN IP4 192.168.1.10\r\n"                             \
	"s=-\r\n"                                                              \
	"c=IN IP4 192.168.1.10\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"m=audio 4000 RTP/AVP 0\r\n"
#define MG_SDP_OUT                                                             \
	"v=0\r\n"                                                              \
	"o=- 25678 753849 IN IP4 198.51.100.1\r\n"                             \
	"s=-\r\n"                                                              \
	"c=IN IP4 198.51.100.1\r\n"                                            \
	"t=0 0\r\n"                                                            \
	"m=audio 40000 RTP/AVP 0\r\n"
#define MGC_SDP                                                                \
	"v=0\r\n"                                                              \
	"o=- 4723891 7428910 IN IP4 198.51.100.20\r\n"                         \
	"s=-\r\n"                                                              \
	"c=IN IP4 198.51.100.20\r\n"                                           \
	"t=0 0\r\n"                                                            \
	"m=audio 5000 RTP/AVP 0\r\n"
#define MGC_SDP_OUT                                                            \
	"v=0\r\n"                                                              \
	"o=- 4723891 7428910 IN IP4 203.0.113.1\r\n"                           \
	"s=-\r\n"                                                              \
	"c=IN IP4 203.0.113.1\r\n"                                             \
	"t=0 0\r\n"                                                            \
	"m=audio 30000 RTP/AVP 0\r\n"
#define CHOOSE_SDP                                                             \
	"v=0\r\n"                                                              \
	"c=IN IP4 $\r\n"                                                       \
	"m=audio $ RTP/AVP 0\r\n"

#define SC_IN(id)                                                              \
	"MEGACO/1 [192.168.1.10]:2944\r\n"                                     \
	"Transaction = " id " {\r\n"                                           \
	"\tContext = - {\r\n"                                                  \
	"\t\tServiceChange = ROOT {Services {Method = Restart, "               \
	"ServiceChangeAddress = [192.168.1.10]:2944, Profile = ResGW/1}}\r\n"  \
	"\t}\r\n"                                                              \
	"}\r\n"
#define SC_OUT(port, id)                                                       \
	"MEGACO/1 [198.51.100.1]:" port "\r\n"                                 \
	"Transaction = " id " {\r\n"                                           \
	"\tContext = - {\r\n"                                                  \
	"\t\tServiceChange = ROOT {Services {Method = Restart, "               \
	"ServiceChangeAddress = [198.51.100.1]:" port ", Profile = "           \
	"ResGW/1}}\r\n"                                                        \
	"\t}\r\n"                                                              \
	"}\r\n"

#define ADD_IN(id, remote)                                                     \
	"MEGACO/1 [198.51.100.2]:2944\r\n"                                     \
	"Transaction = " id " {\r\n"                                           \
	"\tContext = $ {\r\n"                                                  \
	"\t\tAdd = $ {Media {Stream = 1 {LocalControl {Mode = SendReceive},\r\n" \
	"\t\t\tLocal {\r\n" CHOOSE_SDP "\t\t\t},\r\n"                          \
	"\t\t\tRemote {\r\n" remote "\t\t\t}}}}\r\n"                           \
	"\t}\r\n"                                                              \
	"}\r\n"
#define ADD_OUT(id, remote)                                                    \
	"MEGACO/1 [203.0.113.1]:2944\r\n"                                      \
	"Transaction = " id " {\r\n"                                           \
	"\tContext = $ {\r\n"                                                  \
	"\t\tAdd = $ {Media {Stream = 1 {LocalControl {Mode = SendReceive},\r\n" \
	"\t\t\tLocal {\r\n" CHOOSE_SDP "\t\t\t},\r\n"                          \
	"\t\t\tRemote {\r\n" remote "\t\t\t}}}}\r\n"                           \
	"\t}\r\n"                                                              \
	"}\r\n"
#define ADD_REPLY(mid, id, local)                                              \
	"MEGACO/1 " mid "\r\n"                                                 \
	"Reply = " id " {\r\n"                                                 \
	"\tContext = 7 {\r\n"                                                  \
	"\t\tAdd = rtp/1 {Media {Stream = 1 {Local {\r\n" local "\t\t\t}}}}\r\n" \
	"\t}\r\n"                                                              \
	"}\r\n"

static const struct step call_steps[] = {
	{ "ServiceChange from a new gateway: core address 20000, our id 5001",
	  MG1, 0, SC_IN("9998"),
	  { "mgc:20000|" SC_OUT("20000", "5001") } },
	{ "the MGC's Reply back with the gateway's id, our mId", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nReply = 5001 {\r\n"
	  "\tContext = - {ServiceChange = ROOT {Services {"
	  "ServiceChangeAddress = 2944}}}\r\n}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nReply = 9998 {\r\n"
	    "\tContext = - {ServiceChange = ROOT {Services {"
	    "ServiceChangeAddress = [203.0.113.1]:2944}}}\r\n}\r\n" } },
	{ "Add with Remote SDP: pointed at the access relay, CHOOSE kept",
	  MGC, 20000, ADD_IN("400", MGC_SDP),
	  { "mg1|" ADD_OUT("5002", MGC_SDP_OUT) } },
	{ "Pending from the gateway goes on; the transaction stays", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nPending = 5002 {}\r\n",
	  { "mgc:20000|MEGACO/1 [198.51.100.1]:20000\r\nPending = 400 {}\r\n" } },
	{ "the Add again before the reply: sent again, same id", MGC, 20000,
	  ADD_IN("400", MGC_SDP),
	  { "mg1|" ADD_OUT("5002", MGC_SDP_OUT) } },
	{ "the Reply's Local SDP at the core relay, context and termination",
	  MG1, 0, ADD_REPLY("[192.168.1.10]:2944", "5002", MG_SDP),
	  { "mgc:20000|" ADD_REPLY("[198.51.100.1]:20000", "400",
				   MG_SDP_OUT) } },
	{ "the Add again after the reply: the same reply again", MGC, 20000,
	  ADD_IN("400", MGC_SDP),
	  { "mgc:20000|" ADD_REPLY("[198.51.100.1]:20000", "400",
				   MG_SDP_OUT) } },
	{ "the MGC's TransactionResponseAck, in our id", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransactionResponseAck {400}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransactionResponseAck {5002}\r\n" } },
	{ "a Notify from the gateway, compact form", MG1, 0,
	  "!/1 [192.168.1.10]:2944 T=77{C=7{N=rtp/1{OE=1{al/of}}}}",
	  { "mgc:20000|!/1 [198.51.100.1]:20000 T=5003{C=7{N=rtp/1{OE=1{al/of}}}}" } },
	{ "Subtract of the termination", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 401 {Context = 7 "
	  "{Subtract = rtp/1 {Audit{Statistics}}}}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = 5004 {Context = 7 "
	    "{Subtract = rtp/1 {Audit{Statistics}}}}\r\n" } },
	{ "its Reply with statistics: relayed", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 5004 {Context = 7 "
	  "{Subtract = rtp/1 {Statistics {rtp/ps=1200, rtp/pr=1190}}}}\r\n",
	  { "mgc:20000|MEGACO/1 [198.51.100.1]:20000\r\nReply = 401 {Context = 7 "
	    "{Subtract = rtp/1 {Statistics {rtp/ps=1200, rtp/pr=1190}}}}\r\n" } },
};

static void test_call(struct tap *t)
{
	static struct env e;
	const char *r;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "call", call_steps, 3);
	tap_check(t, n_flows(&e.f) == 4,
		  "the MGC's Remote SDP, the first offer: 4 flows in (%zu)",
		  n_flows(&e.f));
	run_steps(t, &e, "call", call_steps + 3, 7);
	tap_check(t, n_flows(&e.f) == 4 && e.f.n_records == 0,
		  "the gateway's answer: 4 flows, no record yet");
	run_steps(t, &e, "call", call_steps + 10, 1);
	r = e.f.record;
	tap_check(t, n_flows(&e.f) == 0 && e.f.n_records == 1,
		  "Subtract answered: flows gone, one charging record");
	tap_check(t,
		  strstr(r, "\"call_id\": \"h248:7/rtp/1\"") &&
			  strstr(r, "\"from\": \"rtp/1@[198.51.100.1]:20000\"") &&
			  strstr(r, "\"to\": \"198.51.100.2:2944\"") &&
			  strstr(r, "\"end_reason\": \"bye\"") &&
			  strstr(r, "\"terminal\": \"203.0.113.50:2944\"") &&
			  strstr(r, "\"packets\": 200"),
		  "the record names the context and termination, the "
		  "gateway as the MGC knows it, its mapping and the volumes");
	if (!strstr(r, "h248:7/rtp/1"))
		printf("# record: %s\n", r);
	env_fini(&e);
}

/* The compact form, an Add without Remote (the gateway's SDP is the
 * offer, a Modify's Remote the answer), piggy-backed items. */
static const struct step compact_steps[] = {
	{ "compact ServiceChange, AD as a port", MG1, 0,
	  "!/2 [192.168.1.10]:2944 T=5{C=-{SC=ROOT{SV{MT=RS,AD=2944}}}}",
	  { "mgc:20000|!/2 [198.51.100.1]:20000 T=5001{C=-{SC=ROOT{SV{MT=RS,"
	    "AD=[198.51.100.1]:20000}}}}" } },
	{ "the MGC's compact reply", MGC, 20000,
	  "!/2 [198.51.100.2]:2944 P=5001{C=-{SC=ROOT{SV{AD=2944}}}}",
	  { "mg1|!/2 [203.0.113.1]:2944 P=5{C=-{SC=ROOT{SV{AD=[203.0.113.1]:"
	    "2944}}}}" } },
	{ "compact Add without Remote", MGC, 20000,
	  "!/2 [198.51.100.2]:2944 T=7{C=${A=${M{ST=1{L{\r\n" CHOOSE_SDP
	  "}}}}}}",
	  { "mg1|!/2 [203.0.113.1]:2944 T=5002{C=${A=${M{ST=1{L{\r\n"
	    CHOOSE_SDP "}}}}}}" } },
	{ "the reply's L: the gateway's offer, at the core relay", MG1, 0,
	  "!/2 [192.168.1.10]:2944 P=5002{C=9{A=rtp/3{M{ST=1{L{\r\n" MG_SDP
	  "}}}}}}",
	  { "mgc:20000|!/2 [198.51.100.1]:20000 P=7{C=9{A=rtp/3{M{ST=1{L{"
	    "\r\n" MG_SDP_OUT "}}}}}}" } },
	{ "Modify with R: the answer, at the access relay", MGC, 20000,
	  "!/2 [198.51.100.2]:2944 T=8{C=9{MF=rtp/3{M{ST=1{R{\r\n" MGC_SDP
	  "}}}}}}",
	  { "mg1|!/2 [203.0.113.1]:2944 T=5003{C=9{MF=rtp/3{M{ST=1{R{\r\n"
	    MGC_SDP_OUT "}}}}}}" } },
	{ "a Reply, a Notify and an ack in one message: each on its own",
	  MG1, 0,
	  "!/2 [192.168.1.10]:2944\nP=5003{C=9{MF=rtp/3}}\n"
	  "T=6{C=9{N=rtp/3{OE=2{al/on}}}}\nK{5}\n",
	  { "mgc:20000|!/2 [198.51.100.1]:20000\nP=8{C=9{MF=rtp/3}}\n",
	    "mgc:20000|!/2 [198.51.100.1]:20000\nT=5004{C=9{N=rtp/3{OE=2{al/on}}}}\n",
	    "mgc:20000|!/2 [198.51.100.1]:20000\nK{5001}\n" } },
	{ "a wildcard Subtract in the context", MGC, 20000,
	  "!/2 [198.51.100.2]:2944 T=9{C=9{S=*}}",
	  { "mg1|!/2 [203.0.113.1]:2944 T=5005{C=9{S=*}}" } },
	{ "its reply", MG1, 0, "!/2 [192.168.1.10]:2944 P=5005{C=9{S=rtp/3}}",
	  { "mgc:20000|!/2 [198.51.100.1]:20000 P=9{C=9{S=rtp/3}}" } },
};

static void test_compact(struct tap *t)
{
	static struct env e;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "compact", compact_steps, 4);
	tap_check(t, n_flows(&e.f) == 4,
		  "compact: the gateway's offer puts 4 flows in (%zu)",
		  n_flows(&e.f));
	run_steps(t, &e, "compact", compact_steps + 4, 4);
	tap_check(t, n_flows(&e.f) == 0 && e.f.n_records == 1 &&
			     strstr(e.f.record, "\"call_id\": \"h248:9/rtp/3\"") &&
			     strstr(e.f.record, "\"end_reason\": \"bye\""),
		  "compact: Subtract * ends the context's call, one record");
	env_fini(&e);
}

/* --- captured from the real peers (tests/e2e/megaco.sh) ----------------------- */

/*
 * What erlang-megaco's pretty text encoder wrote (addresses as in these
 * tables): LF line ends, SDP lines with CRLF, no o=, s= or t= line
 * (H.248.1 7.1.8 lets them out), a blank line and the brace's indentation
 * after the SDP, no line end at the message's end.
 */
#define ERL_SDP(addr, port)                                                    \
	"v=0\r\nc=IN IP4 " addr "\r\nm=audio " port " RTP/AVP 0\r\n"
#define ERL_SC(mid, id)                                                        \
	"MEGACO/1 " mid "\nTransaction = " id " {\n\tContext = - {\n"          \
	"\t\tServiceChange = root {\n\t\t\tServices {\n"                       \
	"\t\t\t\tMethod = Restart,\n\t\t\t\tReason = \"901\"\n\t\t\t}\n"       \
	"\t\t}\n\t}\n}"
#define ERL_SC_REPLY(mid, id)                                                  \
	"MEGACO/1 " mid "\nReply = " id " {\n\tContext = - {\n"                \
	"\t\tServiceChange = root\n\t}\n}"
#define ERL_ADD(mid, id, remote)                                               \
	"MEGACO/1 " mid "\nTransaction = " id " {\n\tContext = $ {\n"          \
	"\t\tAdd = $ {\n\t\t\tMedia {\n\t\t\t\tLocal { \n"                     \
	ERL_SDP("$", "$") "\n\t\t\t\t},\n\t\t\t\tRemote { \n" remote           \
	"\n\t\t\t\t}\n\t\t\t}\n\t\t}\n\t}\n}"
#define ERL_ADD_REPLY(mid, id, local)                                          \
	"MEGACO/1 " mid "\nReply = " id " {\n\tContext = 201 {\n"              \
	"\t\tAdd = rtp/201 {\n\t\t\tMedia {\n\t\t\t\tLocal { \n" local         \
	"\n\t\t\t\t}\n\t\t\t}\n\t\t}\n\t}\n}"

static const struct step erlang_steps[] = {
	{ "erlang-megaco's ServiceChange (pretty, LF, lower-case root)", MG1,
	  0, ERL_SC("[192.168.1.10]:2944", "1"),
	  { "mgc:20000|" ERL_SC("[198.51.100.1]:20000", "5001") } },
	{ "its MGC's reply without a Services descriptor", MGC, 20000,
	  ERL_SC_REPLY("[198.51.100.2]:2944", "5001"),
	  { "mg1|" ERL_SC_REPLY("[203.0.113.1]:2944", "1") } },
	{ "Add with a Remote of c= and m= only: pointed at the access relay, "
	  "no line added",
	  MGC, 20000,
	  ERL_ADD("[198.51.100.2]:2944", "2", ERL_SDP("198.51.100.20", "5000")),
	  { "mg1|" ERL_ADD("[203.0.113.1]:2944", "5002",
			   ERL_SDP("203.0.113.1", "30000")) } },
	{ "the gateway's Local of c= and m= only, a blank line after it: at "
	  "the core relay",
	  MG1, 0,
	  ERL_ADD_REPLY("[192.168.1.10]:2944", "5002",
			ERL_SDP("192.168.1.10", "4002")),
	  { "mgc:20000|" ERL_ADD_REPLY("[198.51.100.1]:20000", "2",
				       ERL_SDP("198.51.100.1", "40000")) } },
	{ "a replied id again with other text: a new transaction", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\nTransaction = 2 {Context = - "
	  "{AuditValue = ROOT}}",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\nTransaction = 5003 {Context = - "
	    "{AuditValue = ROOT}}" } },
	{ "the replied ServiceChange 1 again (the gateway rebooted): to the "
	  "MGC, not the old reply",
	  MG1, 0, ERL_SC("[192.168.1.10]:2944", "1"),
	  { "mgc:20000|" ERL_SC("[198.51.100.1]:20000", "5004") } },
	{ "before its reply, the same text is a retransmission: sent again",
	  MG1, 0, ERL_SC("[192.168.1.10]:2944", "1"),
	  { "mgc:20000|" ERL_SC("[198.51.100.1]:20000", "5004") } },
	{ "the rebooted gateway's compact ServiceChange with a new id", MG1, 0,
	  "!/1 [192.168.1.10]:2944\nT=2{C=-{SC=root{SV{MT=RS,RE=\"901\"}}}}",
	  { "mgc:20000|!/1 [198.51.100.1]:20000\nT=5005{C=-{SC=root{SV{MT=RS,"
	    "RE=\"901\"}}}}" } },
};

static void test_erlang(struct tap *t)
{
	static struct env e;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "erlang-megaco", erlang_steps, 3);
	tap_check(t, n_flows(&e.f) == 4,
		  "erlang-megaco: SDP without o=, s=, t= is an offer: 4 flows "
		  "(%zu)",
		  n_flows(&e.f));
	run_steps(t, &e, "erlang-megaco", erlang_steps + 3,
		  sizeof(erlang_steps) / sizeof(erlang_steps[0]) - 3);
	{
		const struct np_h248_counters *a = &e.px.h248.ctr[ACC],
					      *k = &e.px.h248.ctr[CORE];

		tap_check(t,
			  a->commands_in[NP_H248_SERVICE_CHANGE] == 4 &&
				  k->commands_out[NP_H248_SERVICE_CHANGE] == 3 &&
				  k->commands_in[NP_H248_ADD] == 1 &&
				  a->commands_out[NP_H248_ADD] == 1 &&
				  k->commands_in[NP_H248_AUDIT_VALUE] == 1 &&
				  a->commands_out[NP_H248_AUDIT_VALUE] == 1 &&
				  a->retransmissions == 1,
			  "erlang-megaco: commands counted per realm and "
			  "command: 4 ServiceChanges in (one retransmitted), 3 "
			  "on; an Add and an AuditValue each way");
	}
	env_fini(&e);
}

/* The SDP lines H.248 may leave out, filled in and taken out again. */
struct fill_case {
	const char *what, *in, *full;
};

static const struct fill_case fill_cases[] = {
	{ "c= and m= only (erlang-megaco)",
	  "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n",
	  "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
	  "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n" },
	{ "no v= either, LF line ends, a session attribute",
	  "c=IN IP4 192.0.2.1\na=sendrecv\nm=audio 4000 RTP/AVP 0\n",
	  "v=0\no=- 0 0 IN IP4 0.0.0.0\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
	  "a=sendrecv\nm=audio 4000 RTP/AVP 0\n" },
	{ "o= but no s=: s= after o=",
	  "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
	  "t=0 0\r\nm=audio 4000 RTP/AVP 0",
	  "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
	  "t=0 0\r\nm=audio 4000 RTP/AVP 0" },
	{ "complete SDP: unchanged", MG_SDP, MG_SDP },
	{ "no m= line: t= at the end", "v=0\r\nc=IN IP4 192.0.2.1",
	  "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
	  "t=0 0\r\n" },
};

static void test_sdp_fill(struct tap *t)
{
	for (size_t i = 0; i < sizeof(fill_cases) / sizeof(fill_cases[0]);
	     i++) {
		const struct fill_case *c = &fill_cases[i];
		struct np_h248_sdp_fill added;
		char out[1024];
		size_t n = 0;
		int err = np_h248_sdp_fill(c->in, strlen(c->in), out,
					   sizeof(out), &n, &added);
		bool ok = !err && n == strlen(c->full) &&
			  !memcmp(out, c->full, n);

		tap_check(t, ok, "SDP fill: %s", c->what);
		if (!ok)
			printf("# got '%.*s'\n", (int)n, out);
		if (strcmp(c->what, "no m= line: t= at the end")) {
			n = np_h248_sdp_unfill(out, n, &added);
			tap_check(t, n == strlen(c->in) &&
					     !memcmp(out, c->in, n),
				  "SDP unfill: %s: as it came", c->what);
		}
	}
	{
		struct np_h248_sdp_fill added;
		char out[16];
		size_t n;

		tap_check(t, np_h248_sdp_fill(fill_cases[0].in,
					      strlen(fill_cases[0].in), out,
					      sizeof(out), &n, &added) == -E2BIG,
			  "SDP fill: no room: -E2BIG");
	}
}

/* Two streams in one termination (H.248.1 7.1.4): a call each. */
#define SDP_AT(addr, port)                                                     \
	"v=0\r\nc=IN IP4 " addr "\r\nm=audio " port " RTP/AVP 0\r\n"
#define TWO_STREAMS(first, second)                                             \
	"Media {Stream = 1 {Local {\r\n" CHOOSE_SDP "}, Remote {\r\n" first    \
	"}}, Stream = 2 {Local {\r\n" CHOOSE_SDP "}, Remote {\r\n" second      \
	"}}}"
#define TWO_LOCALS(first, second)                                              \
	"Media {Stream = 1 {Local {\r\n" first "}}, Stream = 2 {Local {\r\n"   \
	second "}}}"

static const struct step streams_steps[] = {
	{ "ServiceChange", MG1, 0, SC_IN("1"),
	  { "mgc:20000|" SC_OUT("20000", "5001") } },
	{ "Add with two streams: each Remote at an access relay of its own",
	  MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 10 {Context = $ {"
	  "Add = $ {" TWO_STREAMS(SDP_AT("198.51.100.20", "5000"),
				  SDP_AT("198.51.100.20", "5010")) "}}}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = 5002 {Context = $ {"
	    "Add = $ {" TWO_STREAMS(SDP_AT("203.0.113.1", "30000"),
				    SDP_AT("203.0.113.1", "30002")) "}}}\r\n" } },
	{ "the reply's two Locals: each at the core relay of its stream", MG1,
	  0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 5002 {Context = 7 {"
	  "Add = rtp/1 {" TWO_LOCALS(SDP_AT("192.168.1.10", "4000"),
				     SDP_AT("192.168.1.10", "4010")) "}}}\r\n",
	  { "mgc:20000|MEGACO/1 [198.51.100.1]:20000\r\nReply = 10 {Context = 7 {"
	    "Add = rtp/1 {" TWO_LOCALS(SDP_AT("198.51.100.1", "40000"),
				       SDP_AT("198.51.100.1", "40002")) "}}}\r\n" } },
	{ "Modify of stream 2 alone: its Remote at its own access relay", MGC,
	  20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 11 {Context = 7 {"
	  "Modify = rtp/1 {Media {Stream = 2 {Remote {\r\n"
	  SDP_AT("198.51.100.21", "6010") "}}}}}}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = 5003 {Context = 7 {"
	    "Modify = rtp/1 {Media {Stream = 2 {Remote {\r\n"
	    SDP_AT("203.0.113.1", "30002") "}}}}}}\r\n" } },
	{ "its reply", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 5003 {Context = 7 "
	  "{Modify = rtp/1}}\r\n",
	  { "mgc:20000|MEGACO/1 [198.51.100.1]:20000\r\nReply = 11 {Context = 7 "
	    "{Modify = rtp/1}}\r\n" } },
	{ "Subtract of the termination", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 12 {Context = 7 "
	  "{Subtract = rtp/1}}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = 5004 {Context = 7 "
	    "{Subtract = rtp/1}}\r\n" } },
	{ "its reply", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 5004 {Context = 7 "
	  "{Subtract = rtp/1}}\r\n",
	  { "mgc:20000|MEGACO/1 [198.51.100.1]:20000\r\nReply = 12 {Context = 7 "
	    "{Subtract = rtp/1}}\r\n" } },
};

static void test_streams(struct tap *t)
{
	static struct env e;
	struct np_term *term;
	struct np_call *call;
	char ids[256] = "";

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "streams", streams_steps, 3);
	tap_check(t, n_flows(&e.f) == 8,
		  "streams: two streams, 8 flows (%zu)", n_flows(&e.f));
	term = e.px.core.terms;
	for (call = term ? term->calls : NULL; call; call = call->next)
		if (strlen(ids) + strlen(call->id) + 2 < sizeof(ids)) {
			strcat(ids, call->id);
			strcat(ids, " ");
		}
	tap_check(t, strstr(ids, "h248:7/rtp/1 ") && strstr(ids, "h248:7/rtp/1#2 "),
		  "streams: a call per stream, h248:7/rtp/1 and h248:7/rtp/1#2 "
		  "(%s)", ids);
	run_steps(t, &e, "streams", streams_steps + 3, 4);
	tap_check(t, n_flows(&e.f) == 0 && e.f.n_records == 2,
		  "streams: Subtract ends both, two charging records (%zu)",
		  e.f.n_records);
	env_fini(&e);
}

/* Two gateways behind two NATs, same LAN address, same transaction ids. */
static const struct step collide_steps[] = {
	{ "gateway 1's ServiceChange 9998", MG1, 0, SC_IN("9998"),
	  { "mgc:20000|" SC_OUT("20000", "5001") } },
	{ "gateway 2's ServiceChange 9998: another id, another mId", MG2, 0,
	  SC_IN("9998"), { "mgc:20001|" SC_OUT("20001", "5002") } },
	{ "the reply to 5002 reaches gateway 2 as 9998", MGC, 20001,
	  "MEGACO/1 [198.51.100.2]:2944\r\nReply = 5002 {Context = - "
	  "{ServiceChange = ROOT}}\r\n",
	  { "mg2|MEGACO/1 [203.0.113.1]:2944\r\nReply = 9998 {Context = - "
	    "{ServiceChange = ROOT}}\r\n" } },
	{ "a reply on gateway 2's address for gateway 1's id: dropped", MGC,
	  20001,
	  "MEGACO/1 [198.51.100.2]:2944\r\nReply = 5001 {Context = - "
	  "{ServiceChange = ROOT}}\r\n",
	  { NULL } },
	{ "the MGC's id 77 to both: each its own", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 77 {Context = - "
	  "{AuditValue = ROOT {Audit{}}}}\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = 5003 {Context = - "
	    "{AuditValue = ROOT {Audit{}}}}\r\n" } },
	{ "the same id 77 to gateway 2 is no retransmission", MGC, 20001,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 77 {Context = - "
	  "{AuditValue = ROOT {Audit{}}}}\r\n",
	  { "mg2|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = 5004 {Context = - "
	    "{AuditValue = ROOT {Audit{}}}}\r\n" } },
	{ "gateway 2's reply to the MGC from its core address", MG2, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 5004 {Context = - "
	  "{AuditValue = ROOT}}\r\n",
	  { "mgc:20001|MEGACO/1 [198.51.100.1]:20001\r\nReply = 77 {Context = - "
	    "{AuditValue = ROOT}}\r\n" } },
};

static void test_collide(struct tap *t)
{
	static struct env e;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "collide", collide_steps,
		  sizeof(collide_steps) / sizeof(collide_steps[0]));
	env_fini(&e);
}

#define AUDIT(id)                                                              \
	"mg1|MEGACO/1 [203.0.113.1]:2944\r\nTransaction = " id " {\r\n"       \
	"\tContext = - {\r\n\t\tAuditValue = ROOT {Audit{}}\r\n\t}\r\n}\r\n"

/* Keepalives, and a gateway that stops answering them with a call up. */
static const struct step lost_steps[] = {
	{ "ServiceChange", MG1, 0, SC_IN("1"),
	  { "mgc:20000|" SC_OUT("20000", "5001") } },
	{ "an Add with its SDP", MGC, 20000, ADD_IN("500", MGC_SDP),
	  { "mg1|" ADD_OUT("5002", MGC_SDP_OUT) } },
	{ "the reply", MG1, 0, ADD_REPLY("[192.168.1.10]:2944", "5002", MG_SDP),
	  { "mgc:20000|" ADD_REPLY("[198.51.100.1]:20000", "500",
				   MG_SDP_OUT) } },
	/* The first keepalive comes at the gateway's phase of the interval,
	 * an interval after it appeared at the earliest: by T0 + 39. */
	{ "keepalive interval: AuditValue on ROOT", MG1, 0, NULL,
	  { AUDIT("5003") }, T0 + 39 },
	{ "the gateway replies", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 5003 {Context = - "
	  "{AuditValue = ROOT}}\r\n",
	  { NULL } },
	{ "the next AuditValue", MG1, 0, NULL, { AUDIT("5004") }, T0 + 60 },
	{ "unanswered: another", MG1, 0, NULL, { AUDIT("5005") }, T0 + 81 },
	{ "unanswered: another", MG1, 0, NULL, { AUDIT("5006") }, T0 + 102 },
};

static void test_lost(struct tap *t)
{
	static struct env e;
	size_t i;

	if (!env_init(t, &e, CFG_SLOW_MEDIA))
		return;
	run_steps(t, &e, "lost", lost_steps,
		  sizeof(lost_steps) / sizeof(lost_steps[0]));
	for (i = 0; i < 4 && e.f.n_records == 0; i++) {
		e.f.n_sent = 0;
		e.now += 21;
		np_proxy_tick(&e.px, e.now);
	}
	tap_check(t, e.f.n_records == 1 && n_flows(&e.f) == 0,
		  "the silent gateway is released, its call billed (%zu)",
		  e.f.n_records);
	tap_check(t, strstr(e.f.record, "\"call_id\": \"h248:7/rtp/1\"") != NULL,
		  "the record names the termination");
	tap_check(t, e.f.n_sent == 1 &&
			     strstr(e.f.sent[0].buf,
				    "ServiceChange = rtp/1 {Services {Method = "
				    "Forced, Reason = \"905 ") &&
			     e.f.sent[0].realm == CORE &&
			     e.f.sent[0].from_port == 20000,
		  "the MGC hears a ServiceChange Forced on the termination, "
		  "no Subtract to the silent gateway");
	if (e.f.n_sent != 1)
		for (i = 0; i < e.f.n_sent; i++)
			diag_text("sent", e.f.sent[i].buf);
	tap_check(t, !np_term_by_core_port(&e.px.core, CORE, 20000),
		  "the gateway's core address is released");
	env_fini(&e);
}

static const struct step bad_steps[] = {
	{ "a Notify from an unknown mapping: not a registration, dropped",
	  MG1, 0, "MEGACO/1 [192.168.1.10]:2944\r\nTransaction = 3 {}\r\n",
	  { NULL } },
	{ "garbage on the access socket: Error 400", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nTransaction = 3 {{{\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nError = 400 {\"Syntax "
	    "error in message\"}\r\n" } },
	{ "not H.248 at all: Error 400", MG1, 0, "GET / HTTP/1.0\r\n\r\n",
	  { "mg1|MEGACO/1 [203.0.113.1]:2944\r\nError = 400 {\"Syntax "
	    "error in message\"}\r\n" } },
	{ "ServiceChange", MG1, 0, SC_IN("1"),
	  { "mgc:20000|" SC_OUT("20000", "5001") } },
	{ "a reply nobody asked for: dropped", MG1, 0,
	  "MEGACO/1 [192.168.1.10]:2944\r\nReply = 42 {}\r\n", { NULL } },
	{ "an Add whose Remote SDP names a host: Error 449 to the MGC",
	  MGC, 20000,
	  ADD_IN("600", "v=0\r\nc=IN IP4 mgc.example.net\r\nm=audio 5000 RTP/AVP 0\r\n"),
	  { "mgc:20000|MEGACO/1 [198.51.100.1]:20000\r\nReply = 600 {\r\n"
	    "\tError = 449 {\"Unsupported SDP\"}\r\n}\r\n" } },
	{ "a transaction id that is no number: dropped", MGC, 20000,
	  "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = x1 {}\r\n",
	  { NULL } },
};

static void test_bad(struct tap *t)
{
	static struct env e;
	struct np_sockaddr stranger = sa("198.51.100.99", 2944);
	const char *msg = "MEGACO/1 [198.51.100.99]:2944\r\nTransaction = 1 "
			  "{Context = - {AuditValue = ROOT}}\r\n";
	uint64_t before;

	if (!env_init(t, &e, CFG))
		return;
	run_steps(t, &e, "bad", bad_steps,
		  sizeof(bad_steps) / sizeof(bad_steps[0]));
	tap_check(t, n_flows(&e.f) == 0 && e.f.n_records == 1,
		  "bad: the refused Add leaves no flow, its call billed");
	e.f.n_sent = 0;
	before = e.px.core.stats.strangers;
	np_proxy_input(&e.px, CORE, 20000, &stranger, msg, strlen(msg), e.now);
	tap_check(t, e.f.n_sent == 0 && e.px.core.stats.strangers == before + 1,
		  "bad: a transaction on a core address from a stranger: "
		  "dropped and counted");
	env_fini(&e);
}

static void test_config(struct tap *t)
{
	static const char *const bad[][2] = {
		{ "realms:\n"
		  "  - name: a\n    interface: a0\n    address: 203.0.113.1\n"
		  "    media_ports: 30000-30099\n"
		  "  - name: c\n    interface: c0\n    address: 198.51.100.1\n"
		  "    sip_ports: 20000-20009\n    media_ports: 40000-40099\n"
		  "pairs:\n  - first: a\n    second: c\n    mgc: nohost\n",
		  "test:14:10: bad mgc" },
		{ "realms:\n"
		  "  - name: a\n    interface: a0\n    address: 203.0.113.1\n"
		  "    media_ports: 2900-2999\n"
		  "  - name: c\n    interface: c0\n    address: 198.51.100.1\n"
		  "    sip_ports: 20000-20009\n    media_ports: 40000-40099\n"
		  "pairs:\n  - first: a\n    second: c\n    mgc: 198.51.100.2:2944\n",
		  "default 2944 is taken" },
	};
	struct np_config cfg;
	char err[256];
	size_t i;

	for (i = 0; i < 2; i++) {
		int r = np_config_parse("test", bad[i][0], strlen(bad[i][0]),
					&cfg, err, sizeof(err));

		tap_check(t, r && strstr(err, bad[i][1]),
			  "config: refused with '%s' (%s)", bad[i][1], err);
		if (!r)
			np_config_free(&cfg);
	}
	{
		const char *y =
			"realms:\n"
			"  - name: a\n    interface: a0\n    address: 203.0.113.1\n"
			"    media_ports: 30000-30099\n"
			"  - name: c\n    interface: c0\n    address: 198.51.100.1\n"
			"    sip_ports: 20000-20009\n    media_ports: 40000-40099\n"
			"pairs:\n  - first: a\n    second: c\n    mgc: 198.51.100.2:2944\n";
		int r = np_config_parse("test", y, strlen(y), &cfg, err,
					sizeof(err));

		tap_check(t, !r && cfg.realms[0].h248_port == 2944 &&
				     cfg.pairs[0].mgc.port == 2944 &&
				     !cfg.pairs[0].softswitch.family,
			  "config: an H.248-only pair, h248_port 2944 by default (%s)",
			  r ? err : "ok");
		if (!r)
			np_config_free(&cfg);
	}
}

int main(void)
{
	struct tap t = { 0 };

	np_log_set_level(NP_LOG_ERROR);
	np_sipmsg_init();
	test_scan(&t);
	test_call(&t);
	test_compact(&t);
	test_collide(&t);
	test_erlang(&t);
	test_streams(&t);
	test_sdp_fill(&t);
	test_lost(&t);
	test_bad(&t);
	test_config(&t);
	printf("1..%d\n", t.n);
	return t.failed ? 1 : 0;
}
