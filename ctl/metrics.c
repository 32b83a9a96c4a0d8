// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus metrics of natproxyd: collected from struct np_proxy into a
 * struct np_metrics, then written in the text exposition format 0.0.4
 * (# HELP, # TYPE, one sample a line). Names follow Prometheus practice:
 * the natproxy_ prefix, _total on counters, base units (bytes, seconds),
 * and labels for realm, pair, method, status class, reason and code.
 * Every label value is written for every series, zeros included, so that
 * rate() has a series from the first scrape.
 */
#include "metrics.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[NP_V_MAX] = {
	NP_VERDICTS(NP_NAME_ENTRY)
};
static const char *const drop_names[NP_DROP_MAX] = {
	NP_DROP_REASONS(NP_NAME_ENTRY)
};
static const char *const status_classes[6] = { "1xx", "2xx", "3xx",
					       "4xx", "5xx", "6xx" };

int np_metrics_collect(struct np_metrics *m, const struct np_proxy *px,
		       const struct np_counters *given)
{
	const struct np_core *core = &px->core;
	const struct np_config *cfg = core->cfg;
	const struct np_term *t;
	const struct np_call *call;
	struct np_counters *media;
	size_t i;

	memset(m, 0, sizeof(*m));
	m->realms = calloc(cfg->n_realms, sizeof(*m->realms));
	m->pairs = calloc(cfg->n_pairs, sizeof(*m->pairs));
	if (!m->realms || !m->pairs) {
		np_metrics_free(m);
		return -ENOMEM;
	}
	m->n_realms = cfg->n_realms;
	m->n_pairs = cfg->n_pairs;
	m->stats = core->stats;
	m->guard_known = core->known;
	media = calloc(cfg->n_realms, sizeof(*media));
	if (!media) {
		np_metrics_free(m);
		return -ENOMEM;
	}
	if (given)
		memcpy(media, given, cfg->n_realms * sizeof(*media));
	else
		np_core_media_totals_all(core, media);
	for (i = 0; i < cfg->n_realms; i++) {
		struct np_metrics_realm *r = &m->realms[i];
		const struct np_portpool *pool = &core->media_ports[i];

		snprintf(r->name, sizeof(r->name), "%s", cfg->realms[i].name);
		r->ports = pool->used ? (uint64_t)(pool->hi - pool->lo) + 1 : 0;
		r->ports_free = r->ports - pool->in_use;
		r->sip = px->sip.ctr[i];
		if (i < px->mgcp.n_ctr)
			r->mgcp = px->mgcp.ctr[i];
		if (i < px->h248.n_ctr)
			r->h248 = px->h248.ctr[i];
		r->latches = core->realm_media[i].latches;
		r->input_dropped = core->realm_input[i].dropped;
		r->media = media[i];
	}
	for (i = 0; i < cfg->n_pairs; i++) {
		struct np_metrics_pair *p = &m->pairs[i];

		snprintf(p->name, sizeof(p->name), "%s/%s",
			 cfg->realms[cfg->pairs[i].first].name,
			 cfg->realms[cfg->pairs[i].second].name);
		p->ctr = core->pair_ctr[i];
	}
	free(media);
	for (t = core->terms; t; t = t->next) {
		struct np_metrics_pair *p = &m->pairs[t->pair];

		p->terminals++;
		if (t->registered_until)
			p->registrations++;
		for (call = t->calls; call; call = call->next)
			p->calls_active++;
	}
	return 0;
}

void np_metrics_free(struct np_metrics *m)
{
	free(m->realms);
	free(m->pairs);
	m->realms = NULL;
	m->pairs = NULL;
	m->n_realms = m->n_pairs = 0;
}

static void head(FILE *f, const char *name, const char *type,
		 const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the exposition format wants. */
static void label(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=\"", key);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fprintf(f, "\\%c", *value);
		else if (*value == '\n')
			fputs("\\n", f);
		else
			fputc(*value, f);
	}
	fputc('"', f);
}

/* name{k1="v1"[,k2="v2"]} value */
static void sample(FILE *f, const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2, uint64_t value)
{
	fputs(name, f);
	if (k1) {
		fputc('{', f);
		label(f, k1, v1);
		if (k2) {
			fputc(',', f);
			label(f, k2, v2);
		}
		fputc('}', f);
	}
	fprintf(f, " %llu\n", (unsigned long long)value);
}

#define REALM_SERIES(f, m, metric, field)                                      \
	do {                                                                   \
		size_t _i;                                                     \
		for (_i = 0; _i < (m)->n_realms; _i++)                         \
			sample(f, metric, "realm", (m)->realms[_i].name, NULL,  \
			       NULL, (m)->realms[_i].field);                   \
	} while (0)

#define PAIR_SERIES(f, m, metric, field)                                       \
	do {                                                                   \
		size_t _i;                                                     \
		for (_i = 0; _i < (m)->n_pairs; _i++)                          \
			sample(f, metric, "pair", (m)->pairs[_i].name, NULL,    \
			       NULL, (m)->pairs[_i].field);                    \
	} while (0)

static void render_pairs(FILE *f, const struct np_metrics *m)
{
	size_t i, j;

	head(f, "natproxy_terminals", "gauge",
	     "Terminals known by their NAT mapping (registered or calling).");
	PAIR_SERIES(f, m, "natproxy_terminals", terminals);
	head(f, "natproxy_registrations", "gauge",
	     "Terminals with a live registration.");
	PAIR_SERIES(f, m, "natproxy_registrations", registrations);
	head(f, "natproxy_calls_active", "gauge",
	     "Calls (legs) in progress, ringing or answered.");
	PAIR_SERIES(f, m, "natproxy_calls_active", calls_active);
	head(f, "natproxy_calls_started_total", "counter",
	     "Calls (legs) started.");
	PAIR_SERIES(f, m, "natproxy_calls_started_total", ctr.calls_started);
	head(f, "natproxy_calls_ended_total", "counter",
	     "Calls (legs) ended, by the charging record's end reason.");
	for (i = 0; i < m->n_pairs; i++)
		for (j = 0; j < NP_END_MAX; j++)
			sample(f, "natproxy_calls_ended_total", "pair",
			       m->pairs[i].name, "reason",
			       np_end_reason_names[j],
			       m->pairs[i].ctr.calls_ended[j]);
}

static void render_sip(FILE *f, const struct np_metrics *m)
{
	static const struct {
		const char *name, *help;
		size_t off;
		bool request;
	} series[] = {
		{ "natproxy_sip_requests_received_total",
		  "SIP requests received on the realm, by method.",
		  offsetof(struct np_sip_counters, requests_in), true },
		{ "natproxy_sip_requests_sent_total",
		  "SIP requests sent from the realm (keepalives and our BYEs "
		  "included), by method.",
		  offsetof(struct np_sip_counters, requests_out), true },
		{ "natproxy_sip_responses_received_total",
		  "SIP responses received on the realm, by status class.",
		  offsetof(struct np_sip_counters, responses_in), false },
		{ "natproxy_sip_responses_sent_total",
		  "SIP responses sent from the realm (ours included), by "
		  "status class.",
		  offsetof(struct np_sip_counters, responses_out), false },
	};
	size_t s, i, j;

	for (s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
		head(f, series[s].name, "counter", series[s].help);
		for (i = 0; i < m->n_realms; i++) {
			const uint64_t *v =
				(const void *)((const char *)&m->realms[i].sip +
					       series[s].off);
			size_t n = series[s].request ? NP_SIP_METHOD_MAX : 6;

			for (j = 0; j < n; j++)
				sample(f, series[s].name, "realm",
				       m->realms[i].name,
				       series[s].request ? "method" :
							   "status_class",
				       series[s].request ?
					       np_sip_method_names[j] :
					       status_classes[j],
				       v[j]);
		}
	}
	head(f, "natproxy_sip_rejections_total", "counter",
	     "Requests natproxy answered itself instead of forwarding: 400 "
	     "(malformed), 403 (denied, limits), 503 (no ports, call limit).");
	for (i = 0; i < m->n_realms; i++)
		for (j = 0; j < NP_REJECT_MAX; j++)
			sample(f, "natproxy_sip_rejections_total", "realm",
			       m->realms[i].name, "code", np_reject_names[j],
			       m->realms[i].sip.rejected[j]);
	head(f, "natproxy_sip_discarded_total", "counter",
	     "SIP datagrams not forwarded: malformed (unparsable, or unusable "
	     "and answered 400), or unmatched (no terminal or transaction).");
	sample(f, "natproxy_sip_discarded_total", "reason", "malformed", NULL,
	       NULL, m->stats.malformed);
	sample(f, "natproxy_sip_discarded_total", "reason", "unmatched", NULL,
	       NULL, m->stats.unmatched);
	head(f, "natproxy_sip_denied_total", "counter",
	     "Messages refused by allow/deny or max_registrations (answered "
	     "403 or dropped).");
	sample(f, "natproxy_sip_denied_total", NULL, NULL, NULL, NULL,
	       m->stats.denied);
	head(f, "natproxy_sip_limited_total", "counter",
	     "SIP datagrams refused by a per-source limit: rate (dropped "
	     "before parsing), or a terminal, call or transaction cap (503); "
	     "and requests from strangers to a core address.");
	sample(f, "natproxy_sip_limited_total", "limit", "rate", NULL, NULL,
	       m->stats.rate_limited);
	sample(f, "natproxy_sip_limited_total", "limit", "cap", NULL, NULL,
	       m->stats.over_limits);
	sample(f, "natproxy_sip_limited_total", "limit", "stranger", NULL,
	       NULL, m->stats.strangers);
	head(f, "natproxy_offers_rolled_back_total", "counter",
	     "SDP offers that failed (refused re-INVITE, 491, CANCEL): the "
	     "call went back to the media agreed before.");
	sample(f, "natproxy_offers_rolled_back_total", NULL, NULL, NULL, NULL,
	       m->stats.offers_rolled_back);
	head(f, "natproxy_keepalives_sent_total", "counter",
	     "Keepalives (OPTIONS or CRLF) sent to registered terminals.");
	sample(f, "natproxy_keepalives_sent_total", NULL, NULL, NULL, NULL,
	       m->stats.keepalives_sent);
	head(f, "natproxy_keepalives_unanswered_total", "counter",
	     "Keepalive OPTIONS not answered by the time the next was due.");
	sample(f, "natproxy_keepalives_unanswered_total", NULL, NULL, NULL,
	       NULL, m->stats.keepalives_unanswered);
	head(f, "natproxy_keepalive_misses_excused_total", "counter",
	     "Unanswered keepalives not held against their terminal: "
	     "natproxyd's own signaling socket dropped datagrams meanwhile.");
	sample(f, "natproxy_keepalive_misses_excused_total", NULL, NULL, NULL,
	       NULL, m->stats.keepalive_misses_excused);
	head(f, "natproxy_keepalive_bindings_lost_total", "counter",
	     "Terminals dropped after missing keepalives in a row.");
	sample(f, "natproxy_keepalive_bindings_lost_total", NULL, NULL, NULL,
	       NULL, m->stats.bindings_lost);
}

/* One series per realm and name (names[0..n)) of a uint64_t array at
 * offset off of each realm's snapshot. */
static void render_per_realm(FILE *f, const struct np_metrics *m,
			     const char *name, const char *help, size_t off,
			     const char *label, const char *const *names,
			     size_t n)
{
	size_t i, j;

	head(f, name, "counter", help);
	for (i = 0; i < m->n_realms; i++) {
		const uint64_t *v =
			(const void *)((const char *)&m->realms[i] + off);

		for (j = 0; j < n; j++)
			sample(f, name, "realm", m->realms[i].name, label,
			       names[j], v[j]);
	}
}

/* MGCP and H.248: commands by verb, responses by class, retransmissions. */
static void render_gateways(FILE *f, const struct np_metrics *m)
{
	static const char *const classes[7] = { "0xx", "1xx", "2xx", "3xx",
						"4xx", "5xx", "6xx" };
	static const char *const any[1] = { "all" };
	const size_t mg = offsetof(struct np_metrics_realm, mgcp);
	const size_t hg = offsetof(struct np_metrics_realm, h248);

	render_per_realm(f, m, "natproxy_mgcp_commands_received_total",
			 "MGCP commands received on the realm, by verb.",
			 mg + offsetof(struct np_mgcp_counters, commands_in),
			 "verb", np_mgcp_verb_names, NP_MGCP_VERB_MAX);
	render_per_realm(f, m, "natproxy_mgcp_commands_sent_total",
			 "MGCP commands sent from the realm (keepalive AUEPs "
			 "and our DLCXs included), by verb.",
			 mg + offsetof(struct np_mgcp_counters, commands_out),
			 "verb", np_mgcp_verb_names, NP_MGCP_VERB_MAX);
	render_per_realm(f, m, "natproxy_mgcp_responses_received_total",
			 "MGCP responses received on the realm, by class "
			 "(0xx: response acknowledgements).",
			 mg + offsetof(struct np_mgcp_counters, responses_in),
			 "status_class", classes, 7);
	render_per_realm(f, m, "natproxy_mgcp_responses_sent_total",
			 "MGCP responses sent from the realm (ours included), "
			 "by class.",
			 mg + offsetof(struct np_mgcp_counters, responses_out),
			 "status_class", classes, 7);
	render_per_realm(f, m, "natproxy_mgcp_retransmissions_total",
			 "MGCP commands and responses received again (answered "
			 "from memory or sent on again).",
			 mg + offsetof(struct np_mgcp_counters,
				       retransmissions),
			 "kind", any, 1);
	render_per_realm(f, m, "natproxy_h248_commands_received_total",
			 "H.248 commands in transactions received on the "
			 "realm, by command.",
			 hg + offsetof(struct np_h248_counters, commands_in),
			 "command", np_h248_command_names,
			 NP_H248_COMMAND_MAX);
	render_per_realm(f, m, "natproxy_h248_commands_sent_total",
			 "H.248 commands in transactions sent from the realm "
			 "(keepalive AuditValues, our Subtracts and "
			 "ServiceChanges included), by command.",
			 hg + offsetof(struct np_h248_counters, commands_out),
			 "command", np_h248_command_names,
			 NP_H248_COMMAND_MAX);
	render_per_realm(f, m, "natproxy_h248_replies_received_total",
			 "H.248 Replies received on the realm.",
			 hg + offsetof(struct np_h248_counters, replies_in),
			 "kind", any, 1);
	render_per_realm(f, m, "natproxy_h248_replies_sent_total",
			 "H.248 Replies sent from the realm.",
			 hg + offsetof(struct np_h248_counters, replies_out),
			 "kind", any, 1);
	render_per_realm(f, m, "natproxy_h248_retransmissions_total",
			 "H.248 transactions and replies received again.",
			 hg + offsetof(struct np_h248_counters,
				       retransmissions),
			 "kind", any, 1);
}

static void render_media(FILE *f, const struct np_metrics *m)
{
	size_t i, j;

	head(f, "natproxy_relay_ports", "gauge",
	     "Media relay ports of the realm (RTP and RTCP).");
	REALM_SERIES(f, m, "natproxy_relay_ports", ports);
	head(f, "natproxy_relay_ports_free", "gauge",
	     "Media relay ports of the realm not held by a stream.");
	REALM_SERIES(f, m, "natproxy_relay_ports_free", ports_free);
	head(f, "natproxy_media_packets_total", "counter",
	     "Media packets relayed by XDP, by the realm they arrived on.");
	REALM_SERIES(f, m, "natproxy_media_packets_total", media.packets);
	head(f, "natproxy_media_bytes_total", "counter",
	     "Media bytes (IP header and payload) relayed by XDP, by the "
	     "realm they arrived on.");
	REALM_SERIES(f, m, "natproxy_media_bytes_total", media.bytes);
	head(f, "natproxy_media_drops_total", "counter",
	     "Media packets dropped by XDP, by the realm they arrived on and "
	     "the reason.");
	for (i = 0; i < m->n_realms; i++)
		for (j = 0; j < NP_DROP_MAX; j++)
			sample(f, "natproxy_media_drops_total", "realm",
			       m->realms[i].name, "reason", drop_names[j],
			       m->realms[i].media.drops[j]);
	head(f, "natproxy_link_media_by_xdp", "gauge",
	     "1 when media leaves the realm's interface by XDP, 0 when the "
	     "kernel forwards it (XDP cannot send out of it).");
	REALM_SERIES(f, m, "natproxy_link_media_by_xdp", xmit_by_xdp);
	head(f, "natproxy_link_checksums_verified", "gauge",
	     "1 when UDP checksums are verified (and partial ones completed) "
	     "on the realm's interface.");
	REALM_SERIES(f, m, "natproxy_link_checksums_verified",
		     verify_checksums);
	head(f, "natproxy_xdp_xmit_drops_total", "counter",
	     "Frames XDP sent out of the realm's interface that the kernel "
	     "dropped.");
	REALM_SERIES(f, m, "natproxy_xdp_xmit_drops_total", xmit_drops);
	head(f, "natproxy_latch_events_total", "counter",
	     "Relay ports that latched onto a terminal's source (XDP events).");
	REALM_SERIES(f, m, "natproxy_latch_events_total", latches);
	head(f, "natproxy_signaling_input_dropped_total", "counter",
	     "Datagrams the realm's signaling sockets dropped before natproxyd "
	     "read them (receive buffers full: an overload).");
	REALM_SERIES(f, m, "natproxy_signaling_input_dropped_total",
		     input_dropped);
	head(f, "natproxy_signaling_guard_blocks_total", "counter",
	     "Sources (mappings, addresses or prefixes) natproxyd blocked in "
	     "XDP for going over a per-source limit.");
	sample(f, "natproxy_signaling_guard_blocks_total", NULL, NULL, NULL,
	       NULL, m->stats.sources_blocked);
	head(f, "natproxy_signaling_guard_blocked_sources", "gauge",
	     "Blocks running in XDP (as of the last sweep, once a second).");
	sample(f, "natproxy_signaling_guard_blocked_sources", NULL, NULL, NULL,
	       NULL, m->guard_blocked);
	head(f, "natproxy_signaling_guard_known_sources", "gauge",
	     "Terminal mappings XDP lets through without the unknown "
	     "sources' rate.");
	sample(f, "natproxy_signaling_guard_known_sources", NULL, NULL, NULL,
	       NULL, m->guard_known);
	head(f, "natproxy_terminal_port_over_budget_total", "counter",
	     "Datagrams to terminals' core ports dropped at the socket lookup "
	     "over a port's budget (not from a pair's peer).");
	sample(f, "natproxy_terminal_port_over_budget_total", NULL, NULL, NULL,
	       NULL, m->port_over_budget);
	if (m->have_verdicts) {
		head(f, "natproxy_signaling_dropped_total", "counter",
		     "Signaling datagrams dropped for their source: in XDP "
		     "(blocked, or unknown over the rate) or by natproxyd "
		     "(over a per-source rate).");
		sample(f, "natproxy_signaling_dropped_total", "where", "xdp",
		       NULL, NULL,
		       m->verdicts[NP_V_DROP_BLOCKED] +
			       m->verdicts[NP_V_DROP_UNKNOWN_RATE]);
		sample(f, "natproxy_signaling_dropped_total", "where",
		       "natproxyd", NULL, NULL, m->stats.rate_limited);
		head(f, "natproxy_xdp_verdicts_total", "counter",
		     "Packets seen by the XDP relay on every interface it "
		     "runs on, by how they left it.");
		for (j = 0; j < NP_V_MAX; j++)
			sample(f, "natproxy_xdp_verdicts_total", "verdict",
			       verdict_names[j], NULL, NULL, m->verdicts[j]);
	}
}

/* One series per name, 1 for the one that is, 0 for the others. */
static void render_one_of(FILE *f, const char *name, const char *key,
			  const char *const *names, size_t n, const char *is)
{
	size_t i;

	for (i = 0; i < n; i++)
		sample(f, name, key, names[i], NULL, NULL,
		       !strcmp(names[i], is));
}

/* A metric of one sample without labels. */
static void single(FILE *f, const char *name, const char *type,
		   const char *help, uint64_t value)
{
	head(f, name, type, help);
	sample(f, name, NULL, NULL, NULL, NULL, value);
}

/* A scale-out node's role, lease and takeovers per share. */
static void render_shares(FILE *f, const struct np_metrics_cluster *c)
{
	size_t i, j;

	head(f, "natproxy_cluster_share_role", "gauge",
	     "This node's role for each share it takes part in (scale-out): "
	     "it acts for a share only while active for it.");
	for (i = 0; i < c->n_shares; i++)
		for (j = 0; j < c->n_roles; j++)
			sample(f, "natproxy_cluster_share_role", "share",
			       c->shares[i].name, "role", c->roles[j],
			       !strcmp(c->roles[j], c->shares[i].role));
	head(f, "natproxy_cluster_share_lease", "gauge",
	     "Each share's lease as this node last saw it in Redis.");
	for (i = 0; i < c->n_shares; i++)
		for (j = 0; j < c->n_leases; j++)
			sample(f, "natproxy_cluster_share_lease", "share",
			       c->shares[i].name, "state", c->leases[j],
			       !strcmp(c->leases[j], c->shares[i].lease));
	head(f, "natproxy_cluster_share_calls_taken_over_total", "counter",
	     "Calls of each share this node took over.");
	for (i = 0; i < c->n_shares; i++)
		sample(f, "natproxy_cluster_share_calls_taken_over_total",
		       "share", c->shares[i].name, NULL, NULL,
		       c->shares[i].taken_over);
	head(f, "natproxy_cluster_share_input_dropped_total", "counter",
	     "Datagrams read on each share's addresses while this node did "
	     "not act for it, dropped unanswered.");
	for (i = 0; i < c->n_shares; i++)
		sample(f, "natproxy_cluster_share_input_dropped_total", "share",
		       c->shares[i].name, NULL, NULL,
		       c->shares[i].input_dropped);
}

static void render_cluster(FILE *f, const struct np_metrics_cluster *c)
{
	size_t i;

	if (c->n_shares)
		render_shares(f, c);
	head(f, "natproxy_cluster_role", "gauge",
	     "This node's role: active (acts), standby (follows the active "
	     "node), fenced (lost the lease while active: acts on nothing), "
	     "isolated (was active, reaches neither Redis nor its peer: acts "
	     "on nothing).");
	render_one_of(f, "natproxy_cluster_role", "role", c->roles, c->n_roles,
		      c->role);
	head(f, "natproxy_cluster_lease", "gauge",
	     "The lease in Redis as last seen: ours, held by another node, "
	     "free, or unknown (Redis unreachable).");
	render_one_of(f, "natproxy_cluster_lease", "state", c->leases,
		      c->n_leases, c->lease);
	single(f, "natproxy_cluster_redis_up", "gauge",
	       "1 while the connection to Redis is up.", c->redis_up);
	single(f, "natproxy_cluster_redis_connects_total", "counter",
	       "Connections made to Redis.", c->connects);
	head(f, "natproxy_cluster_redis_master", "gauge",
	     "The Redis master this node writes to, from its configuration "
	     "or its sentinels: 1 while connected, 0 once the connection "
	     "is lost.");
	if (c->redis_master[0])
		sample(f, "natproxy_cluster_redis_master", "address",
		       c->redis_master, NULL, NULL, c->redis_up);
	single(f, "natproxy_cluster_redis_failovers_total", "counter",
	       "Times this node found the Redis master at another address "
	       "than before (Sentinel failovers it followed).",
	       c->failovers);
	single(f, "natproxy_cluster_redis_not_master_total", "counter",
	       "Redis servers given up because they took no writes: ROLE not "
	       "master, or a READONLY answer (a stale sentinel answer, a "
	       "demoted master).",
	       c->not_master);
	head(f, "natproxy_cluster_queue", "gauge",
	     "Transactions waiting for Redis (now, and the most there were).");
	sample(f, "natproxy_cluster_queue", "at", "now", NULL, NULL, c->queued);
	sample(f, "natproxy_cluster_queue", "at", "high", NULL, NULL,
	       c->queue_high);
	head(f, "natproxy_cluster_transactions_total", "counter",
	     "Transactions to Redis: sent, refused by Redis, or dropped with "
	     "a full queue (a snapshot then goes instead).");
	sample(f, "natproxy_cluster_transactions_total", "outcome", "sent",
	       NULL, NULL, c->sent);
	sample(f, "natproxy_cluster_transactions_total", "outcome", "refused",
	       NULL, NULL, c->refused);
	sample(f, "natproxy_cluster_transactions_total", "outcome", "dropped",
	       NULL, NULL, c->dropped);
	head(f, "natproxy_cluster_resyncs_total", "counter",
	     "Snapshots sent again after records were dropped.");
	sample(f, "natproxy_cluster_resyncs_total", NULL, NULL, NULL, NULL,
	       c->resyncs);
	head(f, "natproxy_cluster_transitions_total", "counter",
	     "Role changes of this node, by the role it took.");
	sample(f, "natproxy_cluster_transitions_total", "to", "active", NULL,
	       NULL, c->promotions);
	sample(f, "natproxy_cluster_transitions_total", "to", "fenced", NULL,
	       NULL, c->fencings);
	sample(f, "natproxy_cluster_transitions_total", "to", "standby", NULL,
	       NULL, c->demotions);
	sample(f, "natproxy_cluster_transitions_total", "to", "isolated", NULL,
	       NULL, c->isolations);
	head(f, "natproxy_cluster_records_unconfirmed_total", "counter",
	     "Charging records written before Redis confirmed their call's "
	     "end (Redis away: the end reaches it when it returns).");
	sample(f, "natproxy_cluster_records_unconfirmed_total", NULL, NULL,
	       NULL, NULL, c->records_unconfirmed);
	if (c->have_peer) {
		head(f, "natproxy_cluster_peer", "gauge",
		     "What the peer node last said in its heartbeat (unheard: "
		     "nothing for two thirds of the lease).");
		render_one_of(f, "natproxy_cluster_peer", "state", c->peers,
			      c->n_peers, c->peer);
		head(f, "natproxy_cluster_heartbeats_total", "counter",
		     "Heartbeats sent to the peer, heard from it, and refused "
		     "(bad: all reasons, below).");
		sample(f, "natproxy_cluster_heartbeats_total", "dir", "sent",
		       NULL, NULL, c->beats_sent);
		sample(f, "natproxy_cluster_heartbeats_total", "dir", "heard",
		       NULL, NULL, c->beats_heard);
		sample(f, "natproxy_cluster_heartbeats_total", "dir", "bad",
		       NULL, NULL, c->beats_bad);
		head(f, "natproxy_cluster_heartbeats_refused_total", "counter",
		     "Heartbeats refused, by reason: not from the peer's "
		     "address, name or share (sender), damaged (format), a "
		     "wrong MAC (mac), heard already (replay), of a new run "
		     "of the peer that acks nothing recent of ours (stale).");
		for (i = 0; i < c->n_refusals; i++)
			sample(f, "natproxy_cluster_heartbeats_refused_total",
			       "reason", c->refusals[i], NULL, NULL,
			       c->beats_refused[i]);
	}
	head(f, "natproxy_cluster_entries_applied_total", "counter",
	     "Entries of the active node's stream applied here (standby), and "
	     "records in them damaged or not copied.");
	sample(f, "natproxy_cluster_entries_applied_total", "outcome",
	       "applied", NULL, NULL, c->entries_applied);
	sample(f, "natproxy_cluster_entries_applied_total", "outcome", "bad",
	       NULL, NULL, c->records_bad);
	head(f, "natproxy_cluster_calls_total", "counter",
	     "Calls copied from the active node, taken over at a promotion, "
	     "and dropped then (the old node had ended them).");
	sample(f, "natproxy_cluster_calls_total", "event", "copied", NULL,
	       NULL, c->calls_copied);
	sample(f, "natproxy_cluster_calls_total", "event", "taken_over", NULL,
	       NULL, c->calls_taken_over);
	sample(f, "natproxy_cluster_calls_total", "event", "not_taken", NULL,
	       NULL, c->calls_not_taken);
	head(f, "natproxy_cluster_input_dropped_total", "counter",
	     "Datagrams read and not answered because this node does not act.");
	sample(f, "natproxy_cluster_input_dropped_total", NULL, NULL, NULL,
	       NULL, c->input_dropped);
	head(f, "natproxy_cluster_output_dropped_total", "counter",
	     "Datagrams decided while acting and held back because this node "
	     "no longer acted when they were to leave.");
	sample(f, "natproxy_cluster_output_dropped_total", NULL, NULL, NULL,
	       NULL, c->output_dropped);
}

char *np_metrics_render(const struct np_metrics *m, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	render_pairs(f, m);
	render_sip(f, m);
	render_gateways(f, m);
	render_media(f, m);
	head(f, "natproxy_state_save_duration_seconds", "summary",
	     "Time spent writing the state file.");
	fprintf(f, "natproxy_state_save_duration_seconds_sum %.6f\n",
		m->state_save_seconds);
	sample(f, "natproxy_state_save_duration_seconds_count", NULL, NULL,
	       NULL, NULL, m->state_saves);
	head(f, "natproxy_charging_records_written_total", "counter",
	     "Charging records appended whole to the charging file.");
	sample(f, "natproxy_charging_records_written_total", NULL, NULL, NULL,
	       NULL, m->charging_written);
	head(f, "natproxy_charging_records_pending", "gauge",
	     "Charging records held in memory, in order, because the charging "
	     "file cannot be written (full disk, I/O error); retried every "
	     "second.");
	sample(f, "natproxy_charging_records_pending", NULL, NULL, NULL, NULL,
	       m->charging_pending);
	head(f, "natproxy_charging_write_failures_total", "counter",
	     "Attempts to append a charging record that failed and were cut "
	     "off again (the record is held and retried).");
	sample(f, "natproxy_charging_write_failures_total", NULL, NULL, NULL,
	       NULL, m->charging_failures);
	if (m->have_cluster)
		render_cluster(f, &m->cluster);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
