/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit test of natproxyd's Prometheus metrics (ctl/metrics.c): a snapshot
 * made by hand renders to the exact sample lines expected, every line of
 * the page is a comment or a well-formed sample of a metric declared once
 * with # TYPE, label values are escaped; and a snapshot collected from a
 * proxy counts terminals, registrations, calls, free ports and media (live
 * flows through the io, plus the totals of removed flows, or the totals a
 * read off the loop gave); a read's totals never go below the last ones.
 */
#include "flowtab.h"
#include "metrics.h"
#include "metrics_read.h"
#include "tap.h"

#include <arpa/inet.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

static bool has_line(const char *page, const char *line)
{
	size_t n = strlen(line);
	const char *p = page;

	while ((p = strstr(p, line))) {
		if ((p == page || p[-1] == '\n') && p[n] == '\n')
			return true;
		p += n;
	}
	return false;
}

/* Every line: "# HELP name text", "# TYPE name type", or a sample of a
 * metric whose TYPE came first; no name typed twice; counters end in
 * _total; the page ends with a newline. */
static bool well_formed(struct tap *t, char *page)
{
	regex_t sample_re, type_re;
	char *line, *save = NULL, typed[256][96], last_type[96] = "";
	size_t n_typed = 0, i;
	bool ok = true;

	regcomp(&sample_re,
		"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
		"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*\\})? "
		"[-+]?[0-9]+(\\.[0-9]+)?$",
		REG_EXTENDED);
	regcomp(&type_re, "^# TYPE ([a-z_][a-z0-9_]*) (counter|gauge|summary)$",
		REG_EXTENDED);
	if (!*page || page[strlen(page) - 1] != '\n') {
		tap_diag("page does not end with a newline");
		ok = false;
	}
	for (line = strtok_r(page, "\n", &save); line && ok;
	     line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[3];
		char name[96];

		if (!strncmp(line, "# HELP ", 7))
			continue;
		if (!strncmp(line, "# TYPE ", 7)) {
			if (regexec(&type_re, line, 3, m, 0)) {
				tap_diag("bad TYPE line: %s", line);
				ok = false;
				break;
			}
			snprintf(name, sizeof(name), "%.*s",
				 (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			for (i = 0; i < n_typed; i++)
				if (!strcmp(typed[i], name)) {
					tap_diag("%s typed twice", name);
					ok = false;
				}
			if (!strncmp(line + m[2].rm_so, "counter", 7) &&
			    (strlen(name) < 6 ||
			     strcmp(name + strlen(name) - 6, "_total"))) {
				tap_diag("counter %s without _total", name);
				ok = false;
			}
			if (n_typed < 256)
				snprintf(typed[n_typed++], 96, "%s", name);
			snprintf(last_type, sizeof(last_type), "%s", name);
			continue;
		}
		if (regexec(&sample_re, line, 2, m, 0)) {
			tap_diag("bad sample line: %s", line);
			ok = false;
			break;
		}
		/* A sample belongs to the metric typed last (a summary's
		 * _sum and _count to it). */
		if (strncmp(line, last_type, strlen(last_type)) ||
		    strncmp(line, "natproxy_", 9)) {
			tap_diag("sample before its TYPE: %s", line);
			ok = false;
		}
	}
	regfree(&sample_re);
	regfree(&type_re);
	(void)t;
	return ok;
}

static void test_render(struct tap *t)
{
	struct np_metrics_realm realms[2] = {};
	struct np_metrics_pair pairs[1] = {};
	struct np_metrics m = { .realms = realms, .n_realms = 2,
				.pairs = pairs, .n_pairs = 1 };
	char *page, *copy;
	size_t len = 0;

	strcpy(realms[0].name, "access");
	strcpy(realms[1].name, "co\"re\\x");
	realms[0].ports = 1000;
	realms[0].ports_free = 996;
	realms[0].media.packets = 200;
	realms[0].media.bytes = 40000;
	realms[0].media.drops[NP_DROP_LATCH] = 20;
	realms[0].sip.requests_in[NP_SIP_INVITE] = 1;
	realms[0].sip.requests_in[NP_SIP_OTHER] = 3;
	realms[0].sip.responses_out[1] = 7; /* 2xx */
	realms[0].sip.rejected[NP_REJECT_503] = 2;
	realms[0].latches = 4;
	realms[1].sip.requests_out[NP_SIP_BYE] = 5;
	realms[0].mgcp.commands_in[NP_MGCP_RSIP] = 2;
	realms[1].mgcp.commands_out[NP_MGCP_CRCX] = 6;
	realms[0].mgcp.responses_out[2] = 8;
	realms[0].h248.commands_in[NP_H248_SERVICE_CHANGE] = 3;
	realms[0].h248.commands_out[NP_H248_AUDIT_VALUE] = 12;
	realms[0].h248.commands_out[NP_H248_ADD] = 4;
	realms[0].h248.retransmissions = 1;
	strcpy(pairs[0].name, "access/core");
	pairs[0].terminals = 2;
	pairs[0].registrations = 1;
	pairs[0].calls_active = 1;
	pairs[0].ctr.calls_started = 9;
	pairs[0].ctr.calls_ended[NP_END_BYE] = 6;
	pairs[0].ctr.calls_ended[NP_END_NEVER_ANSWERED] = 2;
	m.stats.malformed = 11;
	m.stats.keepalives_sent = 30;
	m.stats.keepalives_unanswered = 3;
	m.have_verdicts = true;
	m.verdicts[NP_V_TX] = 123;
	m.state_saves = 4;
	m.state_save_seconds = 0.0125;
	m.charging_written = 27;
	m.charging_pending = 3;
	m.charging_failures = 5;

	page = np_metrics_render(&m, &len);
	if (!tap_check(t, page && len == strlen(page), "renders a page"))
		return;
	static const char *const want[] = {
		"# TYPE natproxy_terminals gauge",
		"natproxy_terminals{pair=\"access/core\"} 2",
		"natproxy_registrations{pair=\"access/core\"} 1",
		"natproxy_calls_active{pair=\"access/core\"} 1",
		"natproxy_calls_started_total{pair=\"access/core\"} 9",
		"natproxy_calls_ended_total{pair=\"access/core\",reason=\"bye\"} 6",
		"natproxy_calls_ended_total{pair=\"access/core\",reason=\"never answered\"} 2",
		"natproxy_calls_ended_total{pair=\"access/core\",reason=\"media-timeout\"} 0",
		"natproxy_sip_requests_received_total{realm=\"access\",method=\"INVITE\"} 1",
		"# TYPE natproxy_mgcp_commands_received_total counter",
		"natproxy_mgcp_commands_received_total{realm=\"access\",verb=\"RSIP\"} 2",
		"natproxy_mgcp_commands_sent_total{realm=\"co\\\"re\\\\x\",verb=\"CRCX\"} 6",
		"natproxy_mgcp_responses_sent_total{realm=\"access\",status_class=\"2xx\"} 8",
		"natproxy_h248_commands_received_total{realm=\"access\",command=\"ServiceChange\"} 3",
		"natproxy_h248_commands_sent_total{realm=\"access\",command=\"AuditValue\"} 12",
		"natproxy_h248_commands_sent_total{realm=\"access\",command=\"Add\"} 4",
		"natproxy_h248_commands_sent_total{realm=\"access\",command=\"Move\"} 0",
		"natproxy_h248_retransmissions_total{realm=\"access\",kind=\"all\"} 1",
		"natproxy_sip_requests_received_total{realm=\"access\",method=\"other\"} 3",
		"natproxy_sip_responses_sent_total{realm=\"access\",status_class=\"2xx\"} 7",
		"natproxy_sip_responses_sent_total{realm=\"access\",status_class=\"6xx\"} 0",
		"natproxy_sip_requests_sent_total{realm=\"co\\\"re\\\\x\",method=\"BYE\"} 5",
		"natproxy_sip_rejections_total{realm=\"access\",code=\"503\"} 2",
		"natproxy_sip_rejections_total{realm=\"access\",code=\"403\"} 0",
		"natproxy_sip_discarded_total{reason=\"malformed\"} 11",
		"natproxy_keepalives_sent_total 30",
		"natproxy_keepalives_unanswered_total 3",
		"natproxy_relay_ports{realm=\"access\"} 1000",
		"natproxy_relay_ports_free{realm=\"access\"} 996",
		"natproxy_media_packets_total{realm=\"access\"} 200",
		"natproxy_media_bytes_total{realm=\"access\"} 40000",
		"natproxy_media_drops_total{realm=\"access\",reason=\"latch\"} 20",
		"natproxy_media_drops_total{realm=\"access\",reason=\"rate\"} 0",
		"natproxy_latch_events_total{realm=\"access\"} 4",
		"natproxy_xdp_verdicts_total{verdict=\"tx\"} 123",
		"natproxy_xdp_verdicts_total{verdict=\"pass-no-flow\"} 0",
		"# TYPE natproxy_state_save_duration_seconds summary",
		"natproxy_state_save_duration_seconds_sum 0.012500",
		"natproxy_state_save_duration_seconds_count 4",
		"natproxy_charging_records_written_total 27",
		"natproxy_charging_records_pending 3",
		"natproxy_charging_write_failures_total 5",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!tap_check(t, has_line(page, want[i]), "line: %s", want[i]))
			tap_diag("page:\n%s", page);
	copy = strdup(page);
	tap_check(t, copy && well_formed(t, copy),
		  "every line is HELP, TYPE or a sample of a typed metric");
	free(copy);
	free(page);

	m.have_verdicts = false;
	page = np_metrics_render(&m, &len);
	tap_check(t, page && !strstr(page, "natproxy_xdp_verdicts_total"),
		  "no verdict series when the verdicts could not be read");
	free(page);
}

/* --- collected from a proxy ------------------------------------------------ */

static int no_open(void *c, size_t r, uint16_t p)
{
	(void)c, (void)r, (void)p;
	return 0;
}

/* Every relay port has counted 10 packets of 100 bytes, 1 rate drop. */
static int fixed_counters(void *c, const struct np_flow_key *k,
			  struct np_counters *now)
{
	(void)c, (void)k;
	memset(now, 0, sizeof(*now));
	now->packets = 10;
	now->bytes = 1000;
	now->drops[NP_DROP_RATE] = 1;
	return 0;
}

static const struct np_core_io io = {
	.signal_open = no_open,
	.counters_get = fixed_counters,
};

static void test_collect(struct tap *t)
{
	struct np_realm realms[2] = {};
	struct np_pair pair = { .first = 0, .second = 1 };
	struct np_config cfg = { .realms = realms, .n_realms = 2,
				 .pairs = &pair, .n_pairs = 1 };
	struct np_term *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct np_call *leg = calloc(1, sizeof(*leg));
	struct np_metrics m;
	struct np_proxy px;

	strcpy(realms[0].name, "access");
	strcpy(realms[1].name, "core");
	realms[0].address.family = realms[1].address.family = AF_INET;
	inet_pton(AF_INET, "203.0.113.1", &realms[0].address.addr.v4);
	inet_pton(AF_INET, "198.51.100.1", &realms[1].address.addr.v4);
	realms[0].media_ports = (struct np_port_range){ 30000, 30999 };
	realms[1].media_ports = (struct np_port_range){ 40000, 40099 };
	realms[1].sip_ports = (struct np_port_range){ 20000, 20999 };
	if (!tap_check(t, a && b && leg && !np_proxy_init(&px, &cfg, &io, NULL),
		       "a proxy to collect from"))
		return;
	/* Two terminals, one registered with one call of one stream. */
	a->registered_until = 100;
	a->calls = leg;
	a->next = b;
	px.core.terms = a;
	leg->n_streams = 1;
	np_call_room(leg, 1);
	leg->streams[0] = (struct np_stream){ .active = true,
					      .access_port = 30000,
					      .core_port = 40000 };
	np_portpool_take(&px.core.media_ports[0], 30000, 2);
	np_portpool_take(&px.core.media_ports[1], 40000, 2);
	/* Flows already removed counted 5 packets on the access realm. */
	px.core.realm_media[0].packets = 5;
	px.core.realm_media[0].bytes = 500;
	px.core.realm_media[0].drops[NP_DROP_SOURCE] = 2;
	px.core.pair_ctr[0].calls_ended[NP_END_BYE] = 3;
	px.core.stats.bindings_lost = 1;

	if (!tap_check(t, !np_metrics_collect(&m, &px, NULL), "collects"))
		goto out;
	tap_check(t, m.n_pairs == 1 && !strcmp(m.pairs[0].name, "access/core"),
		  "the pair is named FIRST/SECOND");
	tap_check(t, m.pairs[0].terminals == 2 && m.pairs[0].registrations == 1 &&
			     m.pairs[0].calls_active == 1,
		  "2 terminals, 1 registration, 1 call");
	tap_check(t, m.pairs[0].ctr.calls_ended[NP_END_BYE] == 3 &&
			     m.stats.bindings_lost == 1,
		  "counters are copied");
	tap_check(t, m.realms[0].ports == 1000 && m.realms[0].ports_free == 998 &&
			     m.realms[1].ports == 100 &&
			     m.realms[1].ports_free == 98,
		  "relay ports and free ports per realm (%llu/%llu, %llu/%llu)",
		  (unsigned long long)m.realms[0].ports_free,
		  (unsigned long long)m.realms[0].ports,
		  (unsigned long long)m.realms[1].ports_free,
		  (unsigned long long)m.realms[1].ports);
	/* Access: RTP and RTCP flows live (10 each) + 5 removed. */
	tap_check(t, m.realms[0].media.packets == 25 &&
			     m.realms[0].media.bytes == 2500 &&
			     m.realms[0].media.drops[NP_DROP_RATE] == 2 &&
			     m.realms[0].media.drops[NP_DROP_SOURCE] == 2,
		  "access media: live flows plus removed ones (%llu packets)",
		  (unsigned long long)m.realms[0].media.packets);
	tap_check(t, m.realms[1].media.packets == 20 &&
			     m.realms[1].media.bytes == 2000,
		  "core media: its own relay ports only (%llu packets)",
		  (unsigned long long)m.realms[1].media.packets);
	np_metrics_free(&m);
	{
		struct np_counters read[2] = { { .packets = 7, .bytes = 70 },
					       { .packets = 9 } };

		read[1].drops[NP_DROP_XMIT] = 4;
		tap_check(t, !np_metrics_collect(&m, &px, read) &&
				     m.realms[0].media.packets == 7 &&
				     m.realms[0].media.bytes == 70 &&
				     m.realms[1].media.packets == 9 &&
				     m.realms[1].media.drops[NP_DROP_XMIT] == 4,
			  "media totals read off the loop are the page's");
		np_metrics_free(&m);
	}
out:
	np_proxy_forget(&px);
}

/* What a read off the loop adds up: ended + live, never below the last. */
static void test_read_totals(struct tap *t)
{
	struct np_counters ended = { .packets = 10, .bytes = 1000 },
			   live = { .packets = 3, .bytes = 300,
				    .last_seen_ns = 7 },
			   last = { .packets = 15, .bytes = 1200 };

	ended.drops[NP_DROP_RATE] = 1;
	live.drops[NP_DROP_RATE] = 2;
	last.drops[NP_DROP_SOURCE] = 4;
	np_counters_add(&ended, &live);
	tap_check(t, ended.packets == 13 && ended.bytes == 1300 &&
			     ended.drops[NP_DROP_RATE] == 3 &&
			     ended.last_seen_ns == 7,
		  "read totals: ended flows' plus live ones'");
	/* A flow ended while the thread read: missed by this read. */
	np_counters_floor(&ended, &last);
	tap_check(t, ended.packets == 15 && ended.bytes == 1300 &&
			     ended.drops[NP_DROP_RATE] == 3 &&
			     ended.drops[NP_DROP_SOURCE] == 4,
		  "read totals: each count at least the last published");
}

int main(void)
{
	struct tap t = { 0 };

	test_render(&t);
	test_collect(&t);
	test_read_totals(&t);
	printf("1..%d\n", t.n);
	return t.failed ? 1 : 0;
}
