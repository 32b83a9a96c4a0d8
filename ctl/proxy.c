// SPDX-License-Identifier: GPL-2.0-only
/*
 * natproxyd's decisions. Toward the softswitch (claim 1 A-B): a terminal's
 * top Via and Contact are replaced by the core address allocated for it,
 * SDP by core relay ports, and the message leaves from that address. Toward
 * the terminal (claim 1 C-D, claim 5): what arrives on that address gets its
 * Via and Request-URI restored, SDP pointed at access relay ports, and goes
 * to the recorded NAT mapping from the access socket. Media flows follow
 * every offer and answer; the terminal side latches in XDP (claim 12).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json.h"
#include "log.h"
#include "proxy.h"
#include "sip/sipmsg.h"

#define OUR_BRANCH "z9hG4bK-np"
#define KEEPALIVE_BRANCH "z9hG4bK-npka"
#define BYE_BRANCH "z9hG4bK-npbye" /* our own BYEs (media timeout) */
#define KEEPALIVE_MISSES 3 /* unanswered OPTIONS before a binding is dropped */
#define TXN_LIFETIME 64 /* s: 64*T1 covers non-INVITE; INVITE is refreshed */
#define INVITE_TXN_LIFETIME 300
#define EARLY_LEG_LIFETIME 300 /* s an unanswered call may ring */
#define IDLE_TERM_LIFETIME 64 /* s an unregistered, idle terminal is kept */
#define MAX_SIP 65535
#define SDP_MAX 65536

struct ctx {
	struct np_proxy *px;
	struct np_term *term;
	const struct np_pair *pair;
	const struct np_realm *access, *core;
	osip_message_t *msg;
	time_t now;
};

const char *const np_sip_method_names[NP_SIP_METHOD_MAX] = {
	NP_SIP_METHODS(NP_NAME_ENTRY)
};
const char *const np_end_reason_names[NP_END_MAX] = {
	NP_END_REASONS(NP_NAME_ENTRY)
};
const char *const np_reject_names[NP_REJECT_MAX] = {
	NP_REJECT_CODES(NP_NAME_ENTRY)
};

static const struct np_realm *realm_of(const struct np_proxy *px, size_t i)
{
	return &px->cfg->realms[i];
}

static void ctx_for(struct ctx *c, struct np_proxy *px, struct np_term *term,
		    size_t pair)
{
	c->px = px;
	c->term = term;
	c->pair = &px->cfg->pairs[pair];
	c->access = realm_of(px, c->pair->first);
	c->core = realm_of(px, c->pair->second);
}

static struct np_sockaddr core_sip_addr(const struct ctx *c)
{
	struct np_sockaddr a = c->core->address;

	a.port = c->term->core_port;
	return a;
}

static const char *addr_str(const struct np_sockaddr *a, char *buf,
			    size_t len)
{
	char host[INET6_ADDRSTRLEN + 2];

	snprintf(buf, len, "%s:%u", np_sipaddr_host(a, host, sizeof(host)),
		 a->port);
	return buf;
}

/* --- counting (metrics) ------------------------------------------------- */

static enum np_sip_method method_index(const char *method)
{
	int i;

	for (i = 0; method && i < NP_SIP_OTHER; i++)
		if (!strcmp(method, np_sip_method_names[i]))
			return i;
	return NP_SIP_OTHER;
}

/* A message received on (out false) or sent from (out true) realm. */
static void count_msg(struct np_proxy *px, size_t realm,
		      const osip_message_t *msg, bool out)
{
	struct np_realm_counters *rc = &px->realm_ctr[realm];
	int code = msg->status_code;

	if (MSG_IS_REQUEST(msg))
		(out ? rc->requests_out : rc->requests_in)
			[method_index(msg->sip_method)]++;
	else if (code >= 100 && code <= 699)
		(out ? rc->responses_out : rc->responses_in)[code / 100 - 1]++;
}

static enum np_end_reason end_index(const char *reason)
{
	int i;

	for (i = 0; i < NP_END_OTHER; i++)
		if (!strcmp(reason, np_end_reason_names[i]))
			return i;
	return NP_END_OTHER;
}

/* --- sending -------------------------------------------------------------- */

static int send_msg(struct np_proxy *px, size_t realm, uint16_t from_port,
		    const struct np_sockaddr *to, osip_message_t *msg)
{
	size_t len;
	char *buf;
	int err;

	err = np_sipmsg_serialize(msg, &buf, &len);
	if (err)
		return err;
	err = px->io->send(px->io_ctx, realm, from_port, to, buf, len);
	osip_free(buf);
	if (!err) {
		px->stats.forwarded++;
		count_msg(px, realm, msg, true);
	}
	return err;
}

/* A response of our own to a request we will not forward (RFC 3261 8.2.6). */
static void answer(struct np_proxy *px, size_t realm, uint16_t from_port,
		   const struct np_sockaddr *to, osip_message_t *req, int code,
		   const char *reason)
{
	osip_message_t *resp = NULL;
	osip_generic_param_t *tag = NULL;
	struct np_sockaddr dest = *to;

	if (!strcmp(req->sip_method, "ACK") || osip_message_clone(req, &resp))
		return;
	osip_free(resp->sip_method);
	resp->sip_method = NULL;
	osip_uri_free(resp->req_uri);
	resp->req_uri = NULL;
	osip_message_set_status_code(resp, code);
	osip_message_set_reason_phrase(resp, osip_strdup(reason));
	osip_free(resp->sip_version);
	resp->sip_version = osip_strdup("SIP/2.0");
	if (resp->to && osip_to_get_tag(resp->to, &tag))
		osip_to_set_tag(resp->to, osip_strdup("np-reject"));
	np_sipmsg_set_body(resp, "", 0);
	if (resp->content_type) {
		osip_content_type_free(resp->content_type);
		resp->content_type = NULL;
	}
	send_msg(px, realm, from_port, &dest, resp);
	osip_message_free(resp);
	if (code == 400)
		px->stats.answered_400++;
	else if (code == 503)
		px->stats.answered_503++;
	if (code == 400)
		px->realm_ctr[realm].rejected[NP_REJECT_400]++;
	else if (code == 403)
		px->realm_ctr[realm].rejected[NP_REJECT_403]++;
	else if (code == 503)
		px->realm_ctr[realm].rejected[NP_REJECT_503]++;
}

/* --- media ---------------------------------------------------------------- */

static void key_of(struct np_flow_key *key, const struct np_realm *realm,
		   uint16_t port)
{
	np_flow_key_make(key, realm->address.family, &realm->address.addr,
			 port);
}

static bool sdp_addr_usable(const struct np_sdp_addr *a, int family)
{
	static const struct in6_addr any6;

	if (a->family != family)
		return false;
	return family == AF_INET ? a->addr.v4.s_addr != 0 :
				   memcmp(&a->addr.v6, &any6, 16) != 0;
}

static void np_addr_from_sdp(union np_addr *out, const struct np_sdp_addr *a)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET6)
		memcpy(out, &a->addr.v6, 16);
	else
		out->v4 = a->addr.v4.s_addr;
}

/* The terminal's SDP address is reachable only when no NAT hides it. */
static bool term_sdp_reachable(const struct ctx *c, const struct np_media_end *e)
{
	struct np_sockaddr sdp = { .family = e->addr.family };

	if (c->access->latch == NP_LATCH_OFF)
		return true;
	memcpy(&sdp.addr, &e->addr.addr, sizeof(sdp.addr));
	sdp.port = c->term->nat.port;
	return np_sockaddr_eq(&sdp, &c->term->nat);
}

/*
 * Bandwidth (claim 10): the realm's cap per stream, or what the SDP of
 * either side declares where smaller, in IP bytes per second.
 */
static void police_stream(const struct ctx *c, const struct np_stream *s,
			  struct np_flow *f)
{
	uint64_t bps = 0, cap;
	const uint32_t caps[] = { c->access->max_stream_kbps,
				  c->core->max_stream_kbps };
	size_t i;

	for (i = 0; i < 2; i++) {
		cap = (uint64_t)caps[i] * 1000;
		if (cap && (!bps || cap < bps))
			bps = cap;
	}
	if (s->term.bps && (!bps || s->term.bps < bps))
		bps = s->term.bps;
	if (s->far.bps && (!bps || s->far.bps < bps))
		bps = s->far.bps;
	f->rate_bytes = bps / 8;
	/* 100 ms of the rate, and at least one full-size packet. */
	f->burst_bytes = f->rate_bytes / 10 > 1514 ? f->rate_bytes / 10 : 1514;
	if (!bps)
		f->burst_bytes = 0;
}

/* VPN label (claim 10): media leaving by a realm carries its VLAN tag,
 * out of its interface itself; else any tag it arrived with is removed. */
static void leave_by(const struct ctx *c, size_t realm, struct np_flow *f)
{
	const struct np_realm *r = realm_of(c->px, realm);

	if (r->vlan) {
		f->vlan_action = NP_VLAN_SET;
		f->vlan_id = (uint16_t)r->vlan;
		f->egress_ifindex = c->px->ifindex ? c->px->ifindex[realm] : 0;
	} else {
		f->vlan_action = NP_VLAN_STRIP;
	}
}

/* What a flow needs for the interface its packets arrive on. */
static uint32_t arrival_flags(const struct ctx *c, size_t realm)
{
	return c->px->link_flags[realm] & NP_LINK_VERIFY_CSUM ?
		       NP_F_CSUM_VERIFY :
		       0;
}

/*
 * A destination on one of our own relay addresses (two terminals behind
 * this proxy calling each other through the softswitch): the fast path
 * relays the packet again at once, and looks for that only in flows
 * marked so.
 */
static void mark_hairpin(const struct ctx *c, int family, struct np_flow *f)
{
	struct np_flow_key ours;
	size_t i;

	for (i = 0; i < c->px->cfg->n_realms; i++) {
		const struct np_realm *r = realm_of(c->px, i);

		if (r->address.family != family)
			continue;
		np_flow_key_make(&ours, family, &r->address.addr, 0);
		if (!memcmp(&ours.addr, &f->new_daddr, sizeof(ours.addr))) {
			f->flags |= NP_F_HAIRPIN;
			return;
		}
	}
}

/*
 * Installs the two flows of one stream part (RTP, or RTCP at offset 1):
 * from the terminal (latching, strict per realm) toward the far end, and
 * from the far end toward the terminal. reopen re-arms the latch (a new
 * offer or answer from the terminal); otherwise a latched destination and
 * latch state already in the map are kept.
 */
static int stream_part_sync(struct ctx *c, const struct np_stream *s,
			    int part, bool reopen)
{
	int family = c->access->address.family;
	struct np_flow_key acc_key, core_key;
	struct np_flow acc = {}, core = {}, old;
	const struct np_media_end *far = &s->far, *term = &s->term;
	uint16_t far_port = part ? far->rtcp : far->rtp;
	uint16_t term_port = part ? term->rtcp : term->rtp;
	int err;

	key_of(&acc_key, c->access, s->access_port + part);
	key_of(&core_key, c->core, s->core_port + part);

	/* Terminal -> far end. */
	acc.new_saddr = core_key.addr;
	acc.new_sport = core_key.port;
	if (far->known && sdp_addr_usable(&far->addr, c->core->address.family)) {
		np_addr_from_sdp(&acc.new_daddr, &far->addr);
		acc.new_dport = htons(far_port);
	}
	acc.reverse = core_key;
	acc.flags = NP_F_HAS_REVERSE | (s->mux ? NP_F_RTCP_MUX : 0);
	switch (c->access->latch) {
	case NP_LATCH_RESTRICTED:
		/* Only the address the signaling came from may latch. */
		acc.flags |= NP_F_LATCH_RESTRICTED;
		if (family == AF_INET6)
			memcpy(&acc.expect_saddr, &c->term->nat.addr.v6, 16);
		else
			acc.expect_saddr.v4 = c->term->nat.addr.v4.s_addr;
		/* fall through */
	case NP_LATCH_FIRST_PACKET:
		acc.flags |= NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE;
		break;
	case NP_LATCH_OFF:
		break;
	}
	acc.flags |= arrival_flags(c, c->pair->first);
	if (c->core->dscp >= 0) {
		acc.flags |= NP_F_SET_DSCP;
		acc.dscp = (uint8_t)c->core->dscp;
	}
	if (!reopen && !c->px->io->flow_get(c->px->io_ctx, &acc_key, &old)) {
		acc.flags = (acc.flags & ~NP_F_LATCH_PENDING) |
			    (old.flags & NP_F_LATCH_PENDING);
		acc.expect_saddr = old.expect_saddr;
		acc.expect_sport = old.expect_sport;
	}

	/* Far end -> terminal. */
	core.new_saddr = acc_key.addr;
	core.new_sport = acc_key.port;
	if (term->known && sdp_addr_usable(&term->addr, family) &&
	    term_sdp_reachable(c, term)) {
		np_addr_from_sdp(&core.new_daddr, &term->addr);
		core.new_dport = htons(term_port);
	}
	core.flags = (s->mux ? NP_F_RTCP_MUX : 0) | arrival_flags(c, c->pair->second);
	if (c->access->dscp >= 0) {
		core.flags |= NP_F_SET_DSCP;
		core.dscp = (uint8_t)c->access->dscp;
	}
	if (!reopen && !c->px->io->flow_get(c->px->io_ctx, &core_key, &old) &&
	    old.new_dport) {
		core.new_daddr = old.new_daddr;
		core.new_dport = old.new_dport;
	}

	mark_hairpin(c, c->core->address.family, &acc);
	mark_hairpin(c, family, &core);
	police_stream(c, s, &acc);
	police_stream(c, s, &core);
	leave_by(c, c->pair->second, &acc);
	leave_by(c, c->pair->first, &core);

	/* The reverse first: a latch always finds it. */
	err = c->px->io->flow_put(c->px->io_ctx, &core_key, &core);
	if (!err)
		err = c->px->io->flow_put(c->px->io_ctx, &acc_key, &acc);
	return err;
}

static void volume_add(struct np_volume *v, const struct np_counters *c)
{
	int i;

	v->packets += c->packets;
	v->bytes += c->bytes;
	for (i = 0; i < NP_DROP_MAX; i++)
		v->drops[i] += c->drops[i];
	if (c->last_seen_ns > v->last_seen_ns)
		v->last_seen_ns = c->last_seen_ns;
}

/*
 * A stream's volumes in both directions: read from the maps (live) or
 * taken with the flows' removal (final: read once, after the flows can no
 * longer match, so the last packets before BYE are in).
 */
static void stream_volumes(struct ctx *c, const struct np_stream *s,
			   bool remove, struct np_volume *up,
			   struct np_volume *down)
{
	struct np_realm_counters *acc_ctr =
		&c->px->realm_ctr[c->pair->first];
	struct np_realm_counters *core_ctr =
		&c->px->realm_ctr[c->pair->second];
	struct np_counters last;
	struct np_flow_key key;
	int part, d;

	memset(up, 0, sizeof(*up));
	memset(down, 0, sizeof(*down));
	for (part = 0; part < 2; part++) {
		key_of(&key, c->access, s->access_port + part);
		if (!(remove ? c->px->io->flow_del(c->px->io_ctx, &key, &last) :
			       c->px->io->counters_get(c->px->io_ctx, &key,
						       &last)))
			volume_add(up, &last);
		key_of(&key, c->core, s->core_port + part);
		if (!(remove ? c->px->io->flow_del(c->px->io_ctx, &key, &last) :
			       c->px->io->counters_get(c->px->io_ctx, &key,
						       &last)))
			volume_add(down, &last);
	}
	if (!remove)
		return;
	/* Removed flows leave the maps: keep their counts for the totals. */
	acc_ctr->media_packets += up->packets;
	acc_ctr->media_bytes += up->bytes;
	core_ctr->media_packets += down->packets;
	core_ctr->media_bytes += down->bytes;
	for (d = 0; d < NP_DROP_MAX; d++) {
		acc_ctr->media_drops[d] += up->drops[d];
		core_ctr->media_drops[d] += down->drops[d];
	}
}

static void stream_flows_remove(struct ctx *c, struct np_stream *s,
				const char *call_id, struct np_volume *up,
				struct np_volume *down)
{
	stream_volumes(c, s, true, up, down);
	np_info("call '%s': stream %u/%u ended: %llu packets %llu bytes from "
		"the terminal, %llu packets %llu bytes to it",
		call_id, s->access_port, s->core_port,
		(unsigned long long)up->packets, (unsigned long long)up->bytes,
		(unsigned long long)down->packets,
		(unsigned long long)down->bytes);
}

/* Frees a stream's flows and ports; its volumes join the leg's record. */
static void stream_release(struct ctx *c, struct np_leg *leg, size_t i)
{
	struct np_stream *s = &leg->streams[i];
	struct np_volume up, down;
	int d;

	if (!s->active)
		return;
	stream_flows_remove(c, s, leg->call_id, &up, &down);
	leg->gone_up[i].packets += up.packets;
	leg->gone_up[i].bytes += up.bytes;
	leg->gone_down[i].packets += down.packets;
	leg->gone_down[i].bytes += down.bytes;
	for (d = 0; d < NP_DROP_MAX; d++) {
		leg->gone_up[i].drops[d] += up.drops[d];
		leg->gone_down[i].drops[d] += down.drops[d];
	}
	np_portpool_put_pair(&c->px->media_ports[c->pair->first],
			     s->access_port);
	np_portpool_put_pair(&c->px->media_ports[c->pair->second],
			     s->core_port);
	memset(s, 0, sizeof(*s));
}

static int stream_allocate(struct ctx *c, struct np_stream *s)
{
	struct np_portpool *acc = &c->px->media_ports[c->pair->first];
	struct np_portpool *core = &c->px->media_ports[c->pair->second];

	if (np_portpool_get_pair(acc, &s->access_port))
		return -EBUSY;
	if (np_portpool_get_pair(core, &s->core_port)) {
		np_portpool_put_pair(acc, s->access_port);
		return -EBUSY;
	}
	s->active = true;
	return 0;
}

/*
 * Records one side's SDP, allocates relays for new streams, points the SDP at
 * the relays of the side it goes to and installs the flows. -EBUSY when the
 * port pools are exhausted (nothing allocated is kept), -EINVAL for bad SDP.
 */
static int leg_media(struct ctx *c, struct np_leg *leg, bool from_terminal)
{
	bool fresh[NP_SDP_MAX_MEDIA] = {};
	const struct np_realm *to = from_terminal ? c->core : c->access;
	struct np_sdp_relay relay = {};
	struct np_sdp sdp;
	const char *body, *why = NULL;
	char *out = NULL;
	size_t len, out_len, i;
	int err;

	body = np_sipmsg_sdp(c->msg, &len);
	if (!body)
		return 0;
	err = np_sdp_parse(body, len, &sdp, &why);
	if (err) {
		np_warn("call '%s': bad SDP: %s", leg->call_id, why);
		return -EINVAL;
	}
	for (i = 0; i < sdp.n_media; i++) {
		struct np_stream *s = &leg->streams[i];
		const struct np_sdp_media *m = &sdp.media[i];
		struct np_media_end *end = from_terminal ? &s->term : &s->far;

		if (!m->port) {
			stream_release(c, leg, i);
			continue;
		}
		if (!s->active) {
			err = stream_allocate(c, s);
			if (err)
				goto undo;
			fresh[i] = true;
			leg->access_ports[i] = s->access_port;
			leg->core_ports[i] = s->core_port;
		}
		end->known = true;
		end->addr = m->addr;
		end->rtp = m->port;
		end->rtcp = m->rtcp_port;
		end->mux = m->rtcp_mux;
		end->bps = m->bandwidth_bps;
		/* Mux once the answer agrees, or while only the offer is known. */
		s->mux = s->term.known && s->far.known ?
				 s->term.mux && s->far.mux :
				 end->mux;
		relay.rtp_port[i] = from_terminal ? s->core_port :
						    s->access_port;
	}
	if (sdp.n_media > leg->n_streams)
		leg->n_streams = sdp.n_media;
	c->px->dirty = true;

	relay.addr.family = to->address.family;
	memcpy(&relay.addr.addr, &to->address.addr, sizeof(relay.addr.addr));
	out = malloc(SDP_MAX);
	if (!out) {
		err = -ENOMEM;
		goto undo;
	}
	err = np_sdp_rewrite(body, len, &relay, out, SDP_MAX, &out_len, &why);
	if (!err)
		err = np_sipmsg_set_body(c->msg, out, out_len);
	free(out);
	if (err)
		goto undo;
	for (i = 0; i < sdp.n_media; i++) {
		struct np_stream *s = &leg->streams[i];

		if (!s->active)
			continue;
		err = stream_part_sync(c, s, 0, from_terminal);
		if (!err && !s->mux)
			err = stream_part_sync(c, s, 1, from_terminal);
		if (err) {
			/* SDP pointing at relays without flows would connect a
			 * call without audio: refuse it instead. */
			np_err("call '%s': cannot install flows: %s",
			       leg->call_id, strerror(-err));
			err = -EBUSY;
			goto undo;
		}
	}
	return 0;
undo:
	for (i = 0; i < sdp.n_media; i++)
		if (fresh[i])
			stream_release(c, leg, i);
	return err;
}

/* --- dialogs -------------------------------------------------------------- */

static struct np_leg *leg_find(struct np_term *term, const char *call_id)
{
	struct np_leg *leg;

	for (leg = term->legs; leg; leg = leg->next)
		if (!strcmp(leg->call_id, call_id))
			return leg;
	return NULL;
}

/* A realm at its concurrent call limit refuses new calls (503). */
static bool realm_full(const struct ctx *c, size_t realm)
{
	const struct np_realm *r = realm_of(c->px, realm);

	return r->max_calls && c->px->calls[realm] >= r->max_calls;
}

/* The leg of call_id, created for a new call unless a realm is full. */
static struct np_leg *leg_get(struct ctx *c, const char *call_id)
{
	struct np_leg *leg = leg_find(c->term, call_id);

	if (leg)
		return leg;
	if (c->pair->draining) {
		np_warn("call '%s' refused: its pair is draining (removed "
			"from the configuration)",
			call_id);
		return NULL;
	}
	if (realm_full(c, c->pair->first) || realm_full(c, c->pair->second)) {
		np_warn("call '%s' refused: concurrent call limit reached",
			call_id);
		return NULL;
	}
	leg = calloc(1, sizeof(*leg));
	if (!leg)
		return NULL;
	snprintf(leg->call_id, sizeof(leg->call_id), "%s", call_id);
	leg->started = c->now;
	leg->wall_start = c->px->io->wall(c->px->io_ctx);
	leg->expires = c->now + EARLY_LEG_LIFETIME;
	leg->next = c->term->legs;
	c->term->legs = leg;
	c->px->calls[c->pair->first]++;
	c->px->calls[c->pair->second]++;
	c->px->stats.calls_started++;
	c->px->pair_ctr[c->pair - c->px->cfg->pairs].calls_started++;
	c->px->dirty = true;
	return leg;
}

/* --- charging (claim 9) ----------------------------------------------------- */

static void put_time(FILE *f, double t)
{
	time_t sec = (time_t)t;
	struct tm tm;
	char text[32];

	if (!t) {
		fputs("null", f);
		return;
	}
	gmtime_r(&sec, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "\"%s.%03dZ\"", text, (int)((t - (double)sec) * 1000));
}

static void put_volume(FILE *f, const struct np_volume *v)
{
	static const char *const names[] = { NP_DROP_REASONS(NP_NAME_ENTRY) };
	int i;

	fprintf(f, "{\"packets\": %llu, \"bytes\": %llu, \"drops\": {",
		(unsigned long long)v->packets, (unsigned long long)v->bytes);
	for (i = 0; i < NP_DROP_MAX; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", names[i],
			(unsigned long long)v->drops[i]);
	fputs("}}", f);
}

/*
 * One JSON line per call: who, where, when, why it ended, and per stream
 * and direction what XDP counted. Written by a single append, so a record
 * is in the file whole or not at all.
 */
static void charge(struct ctx *c, struct np_leg *leg, const char *reason,
		   const struct np_volume *up, const struct np_volume *down)
{
	double end = c->px->io->wall(c->px->io_ctx);
	char where[64], text[64];
	size_t i, len = 0;
	char *line = NULL;
	FILE *f;

	f = open_memstream(&line, &len);
	if (!f) {
		np_err("call '%s': no memory for its charging record",
		       leg->call_id);
		return;
	}
	fputs("{\"call_id\": ", f);
	json_str(f, leg->call_id);
	fputs(", \"from\": ", f);
	json_str(f, leg->from);
	fputs(", \"to\": ", f);
	json_str(f, leg->to);
	fprintf(f, ", \"direction\": \"%s\", \"pair\": ",
		leg->outgoing ? "outgoing" : "incoming");
	fprintf(f, "\"%s->%s\", \"terminal\": ", c->access->name,
		c->core->name);
	json_str(f, addr_str(&c->term->nat, where, sizeof(where)));
	fputs(", \"start\": ", f);
	put_time(f, leg->wall_start);
	fputs(", \"answer\": ", f);
	put_time(f, leg->wall_answer);
	fputs(", \"end\": ", f);
	put_time(f, end);
	fprintf(f, ", \"duration\": %.3f, \"end_reason\": ",
		leg->wall_answer ? end - leg->wall_answer : 0.0);
	json_str(f, reason);
	fputs(", \"streams\": [", f);
	for (i = 0; i < leg->n_streams; i++) {
		fprintf(f,
			"%s{\"index\": %zu, \"access_relay\": \"%s:%u\", "
			"\"core_relay\": \"%s:%u\", \"from_terminal\": ",
			i ? ", " : "", i,
			np_sipaddr_host(&c->access->address, where,
					sizeof(where)),
			leg->access_ports[i],
			np_sipaddr_host(&c->core->address, text, sizeof(text)),
			leg->core_ports[i]);
		put_volume(f, &up[i]);
		fputs(", \"to_terminal\": ", f);
		put_volume(f, &down[i]);
		fputs("}", f);
	}
	fputs("]}\n", f);
	if (fclose(f) || !line)
		np_err("call '%s': charging record not built", leg->call_id);
	else
		c->px->io->charge(c->px->io_ctx, line, len);
	free(line);
}

static void leg_end(struct ctx *c, struct np_leg *leg, const char *reason)
{
	struct np_leg **p;
	size_t i;

	for (p = &c->term->legs; *p && *p != leg; p = &(*p)->next)
		;
	if (!*p)
		return;
	*p = leg->next;
	for (i = 0; i < leg->n_streams; i++)
		stream_release(c, leg, i);
	charge(c, leg, reason, leg->gone_up, leg->gone_down);
	np_info("call '%s' ended (%s) after %lds", leg->call_id, reason,
		(long)(c->now - leg->started));
	c->px->calls[c->pair->first]--;
	c->px->calls[c->pair->second]--;
	c->px->stats.calls_ended++;
	c->px->pair_ctr[c->pair - c->px->cfg->pairs]
		.calls_ended[end_index(reason)]++;
	c->px->dirty = true;
	free(leg);
	if (!c->term->legs)
		c->term->idle_since = c->now;
}

/* Records what ending the dialog ourselves will need (RFC 3261 12.1). */
static void leg_learn_request(struct ctx *c, struct np_leg *leg,
			      bool from_terminal)
{
	osip_message_t *m = c->msg;
	uint32_t cseq = np_sipmsg_cseq(m);
	uint32_t *mine = from_terminal ? &leg->term_cseq : &leg->core_cseq;

	if (!MSG_IS_ACK(m) && !MSG_IS_CANCEL(m) && cseq > *mine)
		*mine = cseq;
	if (!MSG_IS_INVITE(m) || leg->from[0])
		return;
	leg->outgoing = from_terminal;
	np_sipmsg_from(m, leg->from, sizeof(leg->from));
	np_sipmsg_to(m, leg->to, sizeof(leg->to));
	if (!from_terminal)
		np_sipmsg_contact_uri(m, leg->far_target,
				      sizeof(leg->far_target));
}

static void leg_learn_answer(struct ctx *c, struct np_leg *leg,
			     bool from_terminal)
{
	if (leg->answered)
		return;
	leg->answered = true;
	leg->expires = 0;
	leg->answered_at = c->now;
	c->px->dirty = true;
	leg->wall_answer = c->px->io->wall(c->px->io_ctx);
	np_sipmsg_to(c->msg, leg->to, sizeof(leg->to));
	if (!from_terminal)
		np_sipmsg_contact_uri(c->msg, leg->far_target,
				      sizeof(leg->far_target));
}

/* --- transactions --------------------------------------------------------- */

static size_t branch_bucket(const char *branch)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*branch) {
		h ^= (unsigned char)*branch++;
		h *= 16777619u;
	}
	return h & (NP_TXN_BUCKETS - 1);
}

/* A terminal's transaction is its own: branches are unique per UA only. */
static struct np_txn *txn_find(struct np_proxy *px, const char *branch,
			       bool from_core, const struct np_term *term)
{
	struct np_txn *t;

	if (from_core) {
		for (t = px->txn_by_ours[branch_bucket(branch)]; t;
		     t = t->by_ours)
			if (!strcmp(t->our_branch, branch))
				return t;
		return NULL;
	}
	for (t = px->txn_by_branch[branch_bucket(branch)]; t; t = t->by_branch)
		if (!t->from_core && t->term == term &&
		    !strcmp(t->branch, branch))
			return t;
	return NULL;
}

/* A transaction from the core that a term's request with this (upstream)
 * branch opened: a CANCEL or non-2xx ACK reuses its INVITE's branch. */
static struct np_txn *txn_find_upstream(struct np_proxy *px,
					const char *branch,
					const struct np_term *term)
{
	struct np_txn *t;

	for (t = px->txn_by_branch[branch_bucket(branch)]; t; t = t->by_branch)
		if (t->from_core && t->term == term &&
		    !strcmp(t->branch, branch))
			return t;
	return NULL;
}

static struct np_txn *txn_add(struct ctx *c, const char *branch,
			      bool from_core)
{
	struct np_txn *t = calloc(1, sizeof(*t));
	size_t b;

	if (!t)
		return NULL;
	t->term = c->term;
	t->from_core = from_core;
	snprintf(t->branch, sizeof(t->branch), "%s", branch);
	t->expires = c->now + (MSG_IS_INVITE(c->msg) ? INVITE_TXN_LIFETIME :
						       TXN_LIFETIME);
	t->next = c->px->txns;
	c->px->txns = t;
	b = branch_bucket(t->branch);
	t->by_branch = c->px->txn_by_branch[b];
	c->px->txn_by_branch[b] = t;
	if (from_core) {
		/* The branch of the Via we push toward the terminal. */
		snprintf(t->our_branch, sizeof(t->our_branch), "%s%llx",
			 OUR_BRANCH, (unsigned long long)++c->px->next_id);
		b = branch_bucket(t->our_branch);
		t->by_ours = c->px->txn_by_ours[b];
		c->px->txn_by_ours[b] = t;
	}
	return t;
}

/* Takes t out of its hash chains (not out of the list). */
static void txn_unhash(struct np_proxy *px, struct np_txn *t)
{
	struct np_txn **p;

	for (p = &px->txn_by_branch[branch_bucket(t->branch)]; *p;
	     p = &(*p)->by_branch)
		if (*p == t) {
			*p = t->by_branch;
			break;
		}
	if (!t->from_core)
		return;
	for (p = &px->txn_by_ours[branch_bucket(t->our_branch)]; *p;
	     p = &(*p)->by_ours)
		if (*p == t) {
			*p = t->by_ours;
			break;
		}
}

static void txns_drop(struct np_proxy *px, const struct np_term *term,
		      time_t now)
{
	struct np_txn **p = &px->txns, *t;

	while ((t = *p)) {
		if (t->term == term || (now && t->expires <= now)) {
			*p = t->next;
			txn_unhash(px, t);
			free(t);
		} else {
			p = &t->next;
		}
	}
}

/* --- terminals ------------------------------------------------------------ */

static struct np_term *term_by_nat(struct np_proxy *px, size_t pair,
				   const struct np_sockaddr *nat)
{
	struct np_term *t;

	for (t = px->terms; t; t = t->next)
		if (t->pair == pair && np_sockaddr_eq(&t->nat, nat))
			return t;
	return NULL;
}

static struct np_term *term_by_core_port(struct np_proxy *px, size_t realm,
					 uint16_t port)
{
	struct np_term *t;

	for (t = px->terms; t; t = t->next)
		if (px->cfg->pairs[t->pair].second == realm &&
		    t->core_port == port)
			return t;
	return NULL;
}

static int term_new(struct np_proxy *px, size_t pair,
		    const struct np_sockaddr *nat, time_t now,
		    struct np_term **out)
{
	size_t core = px->cfg->pairs[pair].second;
	struct np_term *t;
	char buf[64];
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = np_portpool_get(&px->sip_ports[core], &t->core_port);
	if (err)
		goto fail;
	err = px->io->sip_open(px->io_ctx, core, t->core_port);
	if (err) {
		np_portpool_put(&px->sip_ports[core], t->core_port);
		goto fail;
	}
	t->pair = pair;
	t->nat = *nat;
	t->last_heard = t->idle_since = now;
	t->next = px->terms;
	px->terms = t;
	px->dirty = true;
	np_info("terminal at %s: core signaling address port %u",
		addr_str(nat, buf, sizeof(buf)), t->core_port);
	*out = t;
	return 0;
fail:
	free(t);
	return err;
}

static void term_free(struct np_proxy *px, struct np_term *term,
		      const char *reason, time_t now)
{
	struct np_term **p;
	struct ctx c;
	char buf[64];

	for (p = &px->terms; *p && *p != term; p = &(*p)->next)
		;
	if (!*p)
		return;
	*p = term->next;
	px->dirty = true;
	ctx_for(&c, px, term, term->pair);
	c.now = now;
	while (term->legs)
		leg_end(&c, term->legs, reason);
	txns_drop(px, term, 0);
	px->io->sip_close(px->io_ctx, c.pair->second, term->core_port);
	np_portpool_put(&px->sip_ports[c.pair->second], term->core_port);
	np_info("terminal at %s released (%s)",
		addr_str(&term->nat, buf, sizeof(buf)), reason);
	free(term);
}

/* --- from the terminal ---------------------------------------------------- */

/* Terminals registered from addr's IP (any port), this one aside. */
static uint32_t registered_from(const struct np_proxy *px,
				const struct np_sockaddr *src,
				const struct np_term *self)
{
	const struct np_term *t;
	uint32_t n = 0;

	for (t = px->terms; t; t = t->next) {
		struct np_sockaddr a = t->nat;

		a.port = src->port;
		if (t != self && t->registered_until &&
		    np_sockaddr_eq(&a, src))
			n++;
	}
	return n;
}

/* A new registration from src would pass the realm's per-address limit. */
static bool registration_allowed(const struct np_proxy *px,
				 const struct np_realm *r,
				 const struct np_sockaddr *src,
				 const struct np_term *self, osip_message_t *m)
{
	return !MSG_IS_REGISTER(m) || !r->max_registrations ||
	       (self && self->registered_until) ||
	       np_sipmsg_expires(m, 3600) <= 0 ||
	       registered_from(px, src, self) < r->max_registrations;
}

/* Refuses a terminal's request with our own final response; its ACK is
 * then ours too (RFC 3261 17.2.1) and must not reach the core. */
static void refuse(struct ctx *c, struct np_sockaddr *src, struct np_txn *txn,
		   int code, const char *reason)
{
	np_warn("request '%s' from terminal refused: %d %s",
		c->msg->sip_method, code, reason);
	if (txn)
		txn->answered_here = true;
	answer(c->px, c->pair->first, c->access->sip_port, src, c->msg, code,
	       reason);
}

static void terminal_request(struct ctx *c, struct np_sockaddr *src)
{
	struct np_sockaddr core_addr = core_sip_addr(c);
	char via[512], host[INET6_ADDRSTRLEN + 2], call_id[256];
	const char *branch = np_sipmsg_branch(c->msg);
	osip_message_t *m = c->msg;
	struct np_leg *leg = NULL;
	struct np_txn *txn = NULL;
	int err;

	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	txn = txn_find(c->px, branch, false, c->term);
	if (MSG_IS_ACK(m) && txn && txn->answered_here)
		return;
	if (!MSG_IS_ACK(m)) {
		if (!txn)
			txn = txn_add(c, branch, false);
		if (!txn || np_sipmsg_top_via(m, txn->via, sizeof(txn->via))) {
			refuse(c, src, txn, 400, "Bad Request");
			return;
		}
	}
	if (!registration_allowed(c->px, c->access, src, c->term, m)) {
		c->px->stats.denied++;
		refuse(c, src, txn, 403, "Too Many Registrations");
		return;
	}
	/* A draining pair lets registrations run out, unrenewed. */
	if (c->pair->draining && MSG_IS_REGISTER(m) &&
	    np_sipmsg_expires(m, 3600) > 0) {
		refuse(c, src, txn, 503, "Service Unavailable");
		return;
	}
	/* Media first: a refusal then answers the message as it came. */
	if (np_sipmsg_sdp(m, &(size_t){ 0 }) || MSG_IS_INVITE(m)) {
		leg = leg_get(c, call_id);
		if (leg)
			leg_learn_request(c, leg, true);
		err = leg ? leg_media(c, leg, true) : -EBUSY;
		if (err) {
			if (leg && !leg->n_streams)
				leg_end(c, leg, "refused");
			if (err == -EINVAL)
				refuse(c, src, txn, 400, "Bad Request");
			else
				refuse(c, src, txn, 503, "Service Unavailable");
			return;
		}
	}
	/* Our Via, with the terminal's branch: the response finds its way. */
	snprintf(via, sizeof(via), "SIP/2.0/UDP %s:%u;branch=%s;rport",
		 np_sipaddr_host(&core_addr, host, sizeof(host)),
		 core_addr.port, *branch ? branch : "z9hG4bK-np-none");
	if (np_sipmsg_replace_top_via(m, via)) {
		refuse(c, src, txn, 400, "Bad Request");
		return;
	}
	if (MSG_IS_REGISTER(m) || MSG_IS_INVITE(m) || MSG_IS_SUBSCRIBE(m)) {
		char contact[256];

		if (!np_sipmsg_contact_uri(m, contact, sizeof(contact)) &&
		    contact[0] && strcmp(contact, c->term->contact)) {
			memcpy(c->term->contact, contact, sizeof(contact));
			c->px->dirty = true;
		}
	}
	np_sipmsg_set_contact_hostport(m, &core_addr);
	leg = leg_find(c->term, call_id);
	if (leg)
		leg_learn_request(c, leg, true);
	if (leg && (MSG_IS_BYE(m) || MSG_IS_CANCEL(m)))
		leg_end(c, leg, MSG_IS_BYE(m) ? "bye" : "cancel");
	send_msg(c->px, c->pair->second, c->term->core_port,
		 &c->pair->softswitch, m);
}

static void terminal_response(struct ctx *c)
{
	const char *branch = np_sipmsg_branch(c->msg);
	struct np_sockaddr core_addr = core_sip_addr(c), dest;
	osip_message_t *m = c->msg;
	char call_id[256];
	struct np_leg *leg;
	struct np_txn *txn;

	if (!strncmp(branch, KEEPALIVE_BRANCH, strlen(KEEPALIVE_BRANCH))) {
		c->term->ka_waiting = false;
		c->term->ka_missed = 0;
		return;
	}
	if (!strncmp(branch, BYE_BRANCH, strlen(BYE_BRANCH)))
		return; /* the answer to a BYE of ours */
	txn = txn_find(c->px, branch, true, NULL);
	if (!txn || txn->term != c->term) {
		c->px->stats.unmatched++;
		return;
	}
	np_sipmsg_pop_via(m);
	if (np_sipmsg_via_dest(m, &dest))
		dest = c->pair->softswitch;
	np_sipmsg_set_contact_hostport(m, &core_addr);
	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	leg = leg_find(c->term, call_id);
	if (leg && MSG_IS_RESPONSE_FOR(m, "INVITE")) {
		if (leg_media(c, leg, true))
			np_warn("call '%s': answer from terminal not relayed",
				call_id);
		if (MSG_IS_STATUS_2XX(m)) {
			leg_learn_answer(c, leg, true);
		} else if (m->status_code >= 300) {
			leg_end(c, leg, "rejected");
		}
	}
	send_msg(c->px, c->pair->second, c->term->core_port, &dest, m);
}

/* --- from the core -------------------------------------------------------- */

static void core_request(struct ctx *c)
{
	const char *upstream = np_sipmsg_branch(c->msg);
	struct np_sockaddr core_addr = core_sip_addr(c), dest;
	char via[512], host[INET6_ADDRSTRLEN + 2], call_id[256];
	osip_message_t *m = c->msg;
	struct np_leg *leg;
	struct np_txn *t;
	int err;

	if (!c->term->contact[0]) {
		c->px->stats.unmatched++;
		return;
	}
	if (np_sipmsg_request_uri_is(m, &core_addr))
		np_sipmsg_set_request_uri(m, c->term->contact);
	/* CANCEL and a non-2xx ACK reuse their INVITE's branch (RFC 3261 9.1,
	 * 17.1.1.3): find the branch we gave it. */
	t = txn_find_upstream(c->px, upstream, c->term);
	/* The ACK of a final response we gave ourselves stops here. */
	if (t && t->answered_here && MSG_IS_ACK(m))
		return;
	if (!t) {
		t = txn_add(c, upstream, true);
		if (!t)
			return;
	}
	snprintf(via, sizeof(via), "SIP/2.0/UDP %s:%u;branch=%s;rport",
		 np_sipaddr_host(&c->access->address, host, sizeof(host)),
		 c->access->sip_port, t->our_branch);
	if (np_sipmsg_push_via(m, via))
		return;
	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	if (np_sipmsg_sdp(m, &(size_t){ 0 }) || MSG_IS_INVITE(m)) {
		leg = leg_get(c, call_id);
		if (leg)
			leg_learn_request(c, leg, false);
		err = leg ? leg_media(c, leg, false) : -EBUSY;
		if (err) {
			np_warn("call '%s': offer from core refused: %s",
				call_id, strerror(-err));
			if (leg && !leg->n_streams)
				leg_end(c, leg, "refused");
			np_sipmsg_pop_via(m);
			t->answered_here = true;
			if (np_sipmsg_via_dest(m, &dest))
				dest = c->pair->softswitch;
			answer(c->px, c->pair->second, c->term->core_port, &dest, m,
			       err == -EINVAL ? 400 : 503,
			       err == -EINVAL ? "Bad Request" :
						"Service Unavailable");
			return;
		}
	}
	leg = leg_find(c->term, call_id);
	if (leg)
		leg_learn_request(c, leg, false);
	if (leg && (MSG_IS_BYE(m) || MSG_IS_CANCEL(m)))
		leg_end(c, leg, MSG_IS_BYE(m) ? "bye" : "cancel");
	send_msg(c->px, c->pair->first, c->access->sip_port, &c->term->nat, m);
}

static void core_response(struct ctx *c)
{
	struct np_sockaddr core_addr = core_sip_addr(c);
	const char *branch = np_sipmsg_branch(c->msg);
	osip_message_t *m = c->msg;
	char call_id[256];
	struct np_leg *leg;
	struct np_txn *txn;
	long expires;

	if (!strncmp(branch, BYE_BRANCH, strlen(BYE_BRANCH)))
		return; /* the answer to a BYE of ours */
	txn = txn_find(c->px, branch, false, c->term);
	if (!txn ||
	    np_sipmsg_replace_top_via(m, txn->via)) {
		c->px->stats.unmatched++;
		return;
	}
	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	if (MSG_IS_RESPONSE_FOR(m, "REGISTER") && MSG_IS_STATUS_2XX(m)) {
		expires = np_sipmsg_expires(m, 0);
		c->term->registered_until = expires > 0 ? c->now + expires : 0;
		c->px->dirty = true;
		if (expires > 0 && !c->term->ka_due)
			c->term->ka_due =
				c->now + c->px->cfg->keepalive_interval;
		if (expires <= 0)
			c->term->idle_since = c->now;
		np_info("terminal registered through core port %u for %lds",
			c->term->core_port, expires);
		/* The terminal looks for its own binding (RFC 3261 10.2.4). */
		np_sipmsg_restore_contact(m, &core_addr, c->term->contact);
	}
	leg = leg_find(c->term, call_id);
	if (leg && MSG_IS_RESPONSE_FOR(m, "INVITE")) {
		if (leg_media(c, leg, false))
			np_warn("call '%s': answer from core not relayed",
				call_id);
		if (MSG_IS_STATUS_2XX(m)) {
			leg_learn_answer(c, leg, false);
		} else if (m->status_code >= 300) {
			leg_end(c, leg, "rejected");
		}
	}
	send_msg(c->px, c->pair->first, c->access->sip_port, &c->term->nat, m);
}

/* --- entry points --------------------------------------------------------- */

static bool is_blank(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != ' ')
			return false;
	return true;
}

/* Whether msg belongs to a live call leg of term (by Call-ID). */
static bool in_live_call(struct np_term *term, osip_message_t *msg)
{
	char call_id[256];

	np_sipmsg_call_id(msg, call_id, sizeof(call_id));
	return call_id[0] && leg_find(term, call_id);
}

/* Access control (claim 10): deny wins; a non-empty allow list admits
 * only its prefixes. */
static bool admitted(const struct np_realm *r, const struct np_sockaddr *src)
{
	size_t i;

	for (i = 0; i < r->n_deny; i++)
		if (np_prefix_match(&r->deny[i], src))
			return false;
	for (i = 0; i < r->n_allow; i++)
		if (np_prefix_match(&r->allow[i], src))
			return true;
	return r->n_allow == 0;
}

/* The pair whose access socket is realm:port, or -1. */
static int access_pair(const struct np_proxy *px, size_t realm, uint16_t port)
{
	size_t i;

	for (i = 0; i < px->cfg->n_pairs; i++)
		if (px->cfg->pairs[i].first == realm &&
		    px->cfg->realms[realm].sip_port == port)
			return (int)i;
	return -1;
}

void np_proxy_input(struct np_proxy *px, size_t realm, uint16_t local_port,
		    const struct np_sockaddr *src, const char *buf, size_t len,
		    time_t now)
{
	struct np_sockaddr from = *src;
	struct np_term *term = NULL;
	osip_message_t *msg;
	bool denied = false;
	char where[64];
	int pair;
	struct ctx c;

	px->stats.received++;
	pair = access_pair(px, realm, local_port);
	if (pair < 0) {
		term = term_by_core_port(px, realm, local_port);
		if (!term) {
			px->stats.unmatched++;
			return;
		}
	} else {
		term = term_by_nat(px, (size_t)pair, src);
	}
	if (pair >= 0 && !admitted(&px->cfg->realms[realm], src))
		denied = true;
	else if (term)
		term->last_heard = now;
	/* CRLF keepalives from terminals (RFC 5626 4.4.1) need no answer. */
	if (is_blank(buf, len))
		return;
	if (len > MAX_SIP || np_sipmsg_parse(buf, len, &msg)) {
		px->stats.malformed++;
		np_warn("malformed SIP (%zu bytes) from %s: dropped", len,
			addr_str(src, where, sizeof(where)));
		return;
	}
	/* A prefix denied since (a reload) stops new calls, not live ones:
	 * what belongs to a call of the terminal still passes. */
	if (denied && term && in_live_call(term, msg)) {
		denied = false;
		term->last_heard = now;
	} else if (denied) {
		term = NULL;
	}
	count_msg(px, realm, msg, false);
	if (denied) {
		px->stats.denied++;
		np_warn("%s from %s denied by realm '%s'",
			MSG_IS_REQUEST(msg) ? msg->sip_method : "response",
			addr_str(src, where, sizeof(where)),
			px->cfg->realms[realm].name);
		if (MSG_IS_REQUEST(msg) && !px->cfg->realms[realm].deny_drop)
			answer(px, realm, local_port, &from, msg, 403,
			       "Forbidden");
		goto out;
	}
	/* A transaction is known by its branch: one too long to keep could
	 * never be matched again. */
	if (strlen(np_sipmsg_branch(msg)) >= NP_BRANCH_MAX) {
		px->stats.malformed++;
		np_warn("SIP from %s with a Via branch over %d characters: %s",
			addr_str(src, where, sizeof(where)), NP_BRANCH_MAX - 1,
			MSG_IS_REQUEST(msg) ? "refused" : "dropped");
		if (MSG_IS_REQUEST(msg) && !MSG_IS_ACK(msg))
			answer(px, realm, local_port, &from, msg, 400,
			       "Via Branch Too Long");
		goto out;
	}
	if (!term) {
		int err;

		if (!MSG_IS_REQUEST(msg)) {
			px->stats.unmatched++;
			goto out;
		}
		if (px->cfg->pairs[pair].draining) {
			np_warn("%s from %s refused: pair draining",
				msg->sip_method,
				addr_str(src, where, sizeof(where)));
			answer(px, realm, local_port, &from, msg, 503,
			       "Service Unavailable");
			goto out;
		}
		/* Refused before it costs a core port and a socket. */
		if (!registration_allowed(px, &px->cfg->realms[realm], src,
					  NULL, msg)) {
			px->stats.denied++;
			np_warn("REGISTER from %s refused: too many "
				"registrations from that address",
				addr_str(src, where, sizeof(where)));
			answer(px, realm, local_port, &from, msg, 403,
			       "Too Many Registrations");
			goto out;
		}
		err = term_new(px, (size_t)pair, src, now, &term);
		if (err) {
			np_warn("no core signaling address for %s: %s",
				addr_str(src, where, sizeof(where)),
				strerror(-err));
			answer(px, realm, local_port, &from, msg, 503,
			       "Service Unavailable");
			goto out;
		}
	}
	ctx_for(&c, px, term, term->pair);
	c.msg = msg;
	c.now = now;
	if (pair >= 0) {
		if (MSG_IS_REQUEST(msg))
			terminal_request(&c, &from);
		else
			terminal_response(&c);
	} else {
		if (MSG_IS_REQUEST(msg))
			core_request(&c);
		else
			core_response(&c);
	}
out:
	osip_message_free(msg);
}

static void send_keepalive(struct np_proxy *px, struct np_term *t)
{
	const struct np_pair *pair = &px->cfg->pairs[t->pair];
	const struct np_realm *acc = realm_of(px, pair->first);
	char host[INET6_ADDRSTRLEN + 2], buf[1024];
	unsigned long long id = ++px->next_id;
	int n;

	px->stats.keepalives_sent++;
	if (px->cfg->keepalive_method == NP_KEEPALIVE_CRLF) {
		px->io->send(px->io_ctx, pair->first, acc->sip_port, &t->nat,
			     "\r\n\r\n", 4);
		return;
	}
	np_sipaddr_host(&acc->address, host, sizeof(host));
	n = snprintf(buf, sizeof(buf),
		     "OPTIONS %s SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP %s:%u;branch=%s%llx;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:natproxy@%s>;tag=np%llx\r\n"
		     "To: <%s>\r\n"
		     "Call-ID: npka%llx@%s\r\n"
		     "CSeq: 1 OPTIONS\r\n"
		     "Content-Length: 0\r\n\r\n",
		     t->contact, host, acc->sip_port, KEEPALIVE_BRANCH, id,
		     host, id, t->contact, id, host);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    !px->io->send(px->io_ctx, pair->first, acc->sip_port, &t->nat,
			  buf, (size_t)n))
		px->realm_ctr[pair->first].requests_out[NP_SIP_OPTIONS]++;
	t->ka_waiting = true;
}

/*
 * A BYE of our own for a dialog we end (media timeout), toward the terminal
 * or toward the core, as the other side of the dialog would send it.
 */
static void send_bye(struct ctx *c, struct np_leg *leg, bool to_terminal)
{
	const struct np_realm *r = to_terminal ? c->access : c->core;
	uint16_t port = to_terminal ? c->access->sip_port : c->term->core_port;
	const char *from, *to, *target;
	char host[INET6_ADDRSTRLEN + 2], buf[2048];
	unsigned long long id = ++c->px->next_id;
	uint32_t cseq;
	int n;

	/* The terminal's side of the dialog: From/To as it sent them when it
	 * called, swapped when it was called. */
	if (leg->outgoing == to_terminal) {
		from = leg->to;
		to = leg->from;
	} else {
		from = leg->from;
		to = leg->to;
	}
	target = to_terminal ? c->term->contact : leg->far_target;
	cseq = (to_terminal ? leg->core_cseq : leg->term_cseq) + 1;
	if (!target[0] || !from[0] || !to[0])
		return;
	np_sipaddr_host(&r->address, host, sizeof(host));
	n = snprintf(buf, sizeof(buf),
		     "BYE %s SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP %s:%u;branch=%s%llx;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: %s\r\n"
		     "To: %s\r\n"
		     "Call-ID: %s\r\n"
		     "CSeq: %u BYE\r\n"
		     "Reason: SIP;cause=408;text=\"media timeout\"\r\n"
		     "Content-Length: 0\r\n\r\n",
		     target, host, port, BYE_BRANCH, id, from, to,
		     leg->call_id, cseq);
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	if (to_terminal ? !c->px->io->send(c->px->io_ctx, c->pair->first, port,
					   &c->term->nat, buf, (size_t)n) :
			  !c->px->io->send(c->px->io_ctx, c->pair->second, port,
					   &c->pair->softswitch, buf,
					   (size_t)n))
		c->px->realm_ctr[to_terminal ? c->pair->first : c->pair->second]
			.requests_out[NP_SIP_BYE]++;
}

/* Seconds since a leg's media last moved (answer time if it never did). */
static time_t media_idle(struct ctx *c, struct np_leg *leg, time_t now)
{
	struct np_volume up, down;
	uint64_t last = 0;
	size_t i;

	for (i = 0; i < leg->n_streams; i++) {
		if (!leg->streams[i].active)
			continue;
		stream_volumes(c, &leg->streams[i], false, &up, &down);
		if (up.last_seen_ns > last)
			last = up.last_seen_ns;
		if (down.last_seen_ns > last)
			last = down.last_seen_ns;
	}
	/* XDP's clock is CLOCK_MONOTONIC, like now. */
	if (last && (time_t)(last / 1000000000ull) > leg->answered_at)
		return now - (time_t)(last / 1000000000ull);
	return now - leg->answered_at;
}

static void check_media(struct ctx *c, time_t now)
{
	uint32_t limit = c->access->media_timeout < c->core->media_timeout ?
				 c->access->media_timeout :
				 c->core->media_timeout;
	struct np_leg *leg, *next;

	for (leg = c->term->legs; leg; leg = next) {
		next = leg->next;
		if (!leg->answered || !limit || media_idle(c, leg, now) <= limit)
			continue;
		np_warn("call '%s': no media for %us: ending it", leg->call_id,
			limit);
		send_bye(c, leg, true);
		send_bye(c, leg, false);
		c->px->stats.media_timeouts++;
		leg_end(c, leg, "media-timeout");
	}
}

void np_proxy_latched(struct np_proxy *px, const struct np_flow_key *key,
		      const struct np_sockaddr *source)
{
	uint16_t port = ntohs(key->port);
	struct np_term *t;
	struct np_leg *leg;
	char where[64];
	size_t i;

	px->stats.latches++;
	for (i = 0; i < px->cfg->n_realms; i++) {
		const struct np_realm *r = realm_of(px, i);
		struct np_flow_key rk;

		key_of(&rk, r, port);
		if (np_portpool_owns(&px->media_ports[i], port) &&
		    !memcmp(&rk, key, sizeof(rk))) {
			px->realm_ctr[i].latches++;
			break;
		}
	}
	for (t = px->terms; t; t = t->next)
		for (leg = t->legs; leg; leg = leg->next)
			for (i = 0; i < leg->n_streams; i++) {
				const struct np_stream *s = &leg->streams[i];

				if (!s->active || (port != s->access_port &&
						   port != s->access_port + 1))
					continue;
				np_info("call '%s': stream %zu %s latched onto %s",
					leg->call_id, i,
					port == s->access_port ? "RTP" : "RTCP",
					addr_str(source, where, sizeof(where)));
				return;
			}
	np_info("relay port %u latched onto %s (no call)", port,
		addr_str(source, where, sizeof(where)));
}

size_t np_proxy_pair_terms(const struct np_proxy *px, size_t pair)
{
	const struct np_term *t;
	size_t n = 0;

	for (t = px->terms; t; t = t->next)
		n += t->pair == pair;
	return n;
}

/* A draining pair's access socket closes with its last terminal. */
static void close_drained(struct np_proxy *px)
{
	const struct np_pair *p;
	size_t i;

	for (i = 0; i < px->cfg->n_pairs; i++) {
		p = &px->cfg->pairs[i];
		if (p->draining && !np_proxy_pair_terms(px, i))
			px->io->sip_close(px->io_ctx, p->first,
					  px->cfg->realms[p->first].sip_port);
	}
}

void np_proxy_tick(struct np_proxy *px, time_t now)
{
	struct np_term *t, *next;
	struct np_leg *leg, *lnext;
	char where[64];
	struct ctx c;

	txns_drop(px, NULL, now);
	for (t = px->terms; t; t = next) {
		next = t->next;
		ctx_for(&c, px, t, t->pair);
		c.now = now;
		for (leg = t->legs; leg; leg = lnext) {
			lnext = leg->next;
			if (leg->expires && leg->expires <= now)
				leg_end(&c, leg, "never answered");
		}
		check_media(&c, now);
		if (t->registered_until && t->registered_until <= now) {
			np_info("registration of %s expired",
				addr_str(&t->nat, where, sizeof(where)));
			t->registered_until = 0;
			t->idle_since = now;
		}
		if (!t->registered_until) {
			if (!t->legs && now - t->idle_since >= IDLE_TERM_LIFETIME)
				term_free(px, t, "idle", now);
			continue;
		}
		if (now < t->ka_due)
			continue;
		t->ka_due = now + px->cfg->keepalive_interval;
		if (t->ka_waiting)
			px->stats.keepalives_unanswered++;
		if (t->ka_waiting && ++t->ka_missed >= KEEPALIVE_MISSES) {
			np_warn("terminal at %s stopped answering keepalives: "
				"binding dropped",
				addr_str(&t->nat, where, sizeof(where)));
			px->stats.bindings_lost++;
			term_free(px, t, "keepalive lost", now);
			continue;
		}
		send_keepalive(px, t);
	}
	close_drained(px);
}

int np_proxy_adopt_term(struct np_proxy *px, const struct np_term *saved,
			time_t now, struct np_term **out)
{
	struct np_portpool *pool;
	struct np_term *t;
	int err;

	if (saved->pair >= px->cfg->n_pairs)
		return -EINVAL;
	pool = &px->sip_ports[px->cfg->pairs[saved->pair].second];
	err = np_portpool_take(pool, saved->core_port, 1);
	if (err)
		return err;
	t = calloc(1, sizeof(*t));
	if (!t) {
		np_portpool_put(pool, saved->core_port);
		return -ENOMEM;
	}
	err = px->io->sip_open(px->io_ctx, px->cfg->pairs[saved->pair].second,
			       saved->core_port);
	if (err) {
		np_portpool_put(pool, saved->core_port);
		free(t);
		return err;
	}
	t->pair = saved->pair;
	t->nat = saved->nat;
	t->core_port = saved->core_port;
	memcpy(t->contact, saved->contact, sizeof(t->contact));
	t->registered_until = saved->registered_until;
	t->last_heard = t->idle_since = now;
	if (t->registered_until)
		t->ka_due = now + px->cfg->keepalive_interval;
	t->next = px->terms;
	px->terms = t;
	*out = t;
	return 0;
}

/*
 * Flows are removed only when a call ends, right before its charging
 * record is written. A saved leg with streams none of whose flows remain
 * ended after the state file was last written: it was billed then, and
 * adopting it would bill it a second time.
 */
static bool saved_leg_live(const struct np_proxy *px, const struct np_pair *pair,
			   const struct np_leg *leg)
{
	const struct np_realm *access = &px->cfg->realms[pair->first];
	struct np_flow_key key;
	bool streams = false;
	struct np_flow flow;
	size_t i;

	for (i = 0; i < leg->n_streams; i++) {
		if (!leg->streams[i].active)
			continue;
		streams = true;
		key_of(&key, access, leg->streams[i].access_port);
		if (!px->io->flow_get(px->io_ctx, &key, &flow))
			return true;
	}
	return !streams;
}

int np_proxy_adopt_leg(struct np_proxy *px, struct np_term *term,
		       const struct np_leg *saved)
{
	const struct np_pair *pair = &px->cfg->pairs[term->pair];
	struct np_leg *leg;
	size_t i, j;
	int err = 0;

	if (!saved_leg_live(px, pair, saved))
		return -ESTALE;
	leg = malloc(sizeof(*leg));
	if (!leg)
		return -ENOMEM;
	*leg = *saved;
	for (i = 0; i < leg->n_streams && !err; i++) {
		const struct np_stream *s = &leg->streams[i];

		if (!s->active)
			continue;
		err = np_portpool_take(&px->media_ports[pair->first],
				       s->access_port, 2);
		if (!err) {
			err = np_portpool_take(&px->media_ports[pair->second],
					       s->core_port, 2);
			if (err)
				np_portpool_put_pair(
					&px->media_ports[pair->first],
					s->access_port);
		}
	}
	if (err) {
		for (j = 0; j + 1 < i; j++) {
			if (!leg->streams[j].active)
				continue;
			np_portpool_put_pair(&px->media_ports[pair->first],
					     leg->streams[j].access_port);
			np_portpool_put_pair(&px->media_ports[pair->second],
					     leg->streams[j].core_port);
		}
		free(leg);
		return err;
	}
	leg->next = term->legs;
	term->legs = leg;
	px->calls[pair->first]++;
	px->calls[pair->second]++;
	return 0;
}

bool np_proxy_media_port_used(const struct np_proxy *px, size_t realm,
			      uint16_t port)
{
	const struct np_portpool *pool = &px->media_ports[realm];

	return np_portpool_owns(pool, port) && pool->used[port - pool->lo];
}

int np_proxy_init(struct np_proxy *px, const struct np_config *cfg,
		  const struct np_proxy_io *io, void *io_ctx)
{
	size_t i;
	int err = 0;

	memset(px, 0, sizeof(*px));
	px->cfg = cfg;
	px->io = io;
	px->io_ctx = io_ctx;
	px->sip_ports = calloc(cfg->n_realms, sizeof(*px->sip_ports));
	px->media_ports = calloc(cfg->n_realms, sizeof(*px->media_ports));
	px->calls = calloc(cfg->n_realms, sizeof(*px->calls));
	px->ifindex = calloc(cfg->n_realms, sizeof(*px->ifindex));
	px->link_flags = calloc(cfg->n_realms, sizeof(*px->link_flags));
	px->txn_by_branch = calloc(NP_TXN_BUCKETS, sizeof(*px->txn_by_branch));
	px->txn_by_ours = calloc(NP_TXN_BUCKETS, sizeof(*px->txn_by_ours));
	px->realm_ctr = calloc(cfg->n_realms, sizeof(*px->realm_ctr));
	px->pair_ctr = calloc(cfg->n_pairs, sizeof(*px->pair_ctr));
	if (!px->sip_ports || !px->media_ports || !px->calls || !px->ifindex ||
	    !px->link_flags || !px->txn_by_branch || !px->txn_by_ours ||
	    !px->realm_ctr || !px->pair_ctr) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < cfg->n_realms && !err; i++) {
		const struct np_realm *r = &cfg->realms[i];

		err = np_portpool_init(&px->media_ports[i], r->media_ports.lo,
				       r->media_ports.hi);
		if (!err && r->sip_ports.lo)
			err = np_portpool_init(&px->sip_ports[i],
					       r->sip_ports.lo,
					       r->sip_ports.hi);
	}
	if (!err)
		return 0;
fail:
	np_proxy_fini(px);
	return err;
}

/* Grows a per-realm (or per-pair) array to n entries, the new ones zeroed. */
static int grow(void **arr, size_t size, size_t old_n, size_t n)
{
	void *p = realloc(*arr, n * size);

	if (!p)
		return -ENOMEM;
	memset((char *)p + old_n * size, 0, (n - old_n) * size);
	*arr = p;
	return 0;
}

int np_proxy_reconfigure(struct np_proxy *px, const struct np_config *next)
{
	size_t old_n = px->cfg->n_realms, n = next->n_realms, i;
	int err = 0;

	if (n < old_n || next->n_pairs < px->cfg->n_pairs)
		return -EINVAL;
	if (grow((void **)&px->sip_ports, sizeof(*px->sip_ports), old_n, n) ||
	    grow((void **)&px->media_ports, sizeof(*px->media_ports), old_n,
		 n) ||
	    grow((void **)&px->calls, sizeof(*px->calls), old_n, n) ||
	    grow((void **)&px->ifindex, sizeof(*px->ifindex), old_n, n) ||
	    grow((void **)&px->link_flags, sizeof(*px->link_flags), old_n, n) ||
	    grow((void **)&px->realm_ctr, sizeof(*px->realm_ctr), old_n, n) ||
	    grow((void **)&px->pair_ctr, sizeof(*px->pair_ctr),
		 px->cfg->n_pairs, next->n_pairs))
		return -ENOMEM; /* larger arrays are harmless */
	for (i = old_n; i < n && !err; i++) {
		const struct np_realm *r = &next->realms[i];

		err = np_portpool_init(&px->media_ports[i], r->media_ports.lo,
				       r->media_ports.hi);
		if (!err && r->sip_ports.lo)
			err = np_portpool_init(&px->sip_ports[i],
					       r->sip_ports.lo,
					       r->sip_ports.hi);
	}
	if (err) {
		for (i = old_n; i < n; i++) {
			np_portpool_fini(&px->sip_ports[i]);
			np_portpool_fini(&px->media_ports[i]);
		}
		return err;
	}
	px->cfg = next;
	px->dirty = true;
	return 0;
}

static void free_all(struct np_proxy *px)
{
	struct np_txn *t;
	size_t i;

	while ((t = px->txns)) {
		px->txns = t->next;
		free(t);
	}
	free(px->txn_by_branch);
	free(px->txn_by_ours);
	px->txn_by_branch = px->txn_by_ours = NULL;
	for (i = 0; px->cfg && i < px->cfg->n_realms; i++) {
		if (px->sip_ports)
			np_portpool_fini(&px->sip_ports[i]);
		if (px->media_ports)
			np_portpool_fini(&px->media_ports[i]);
	}
	free(px->sip_ports);
	free(px->media_ports);
	free(px->calls);
	free(px->ifindex);
	free(px->link_flags);
	free(px->realm_ctr);
	free(px->pair_ctr);
	px->realm_ctr = NULL;
	px->pair_ctr = NULL;
	px->sip_ports = px->media_ports = NULL;
	px->calls = px->ifindex = px->link_flags = NULL;
}

void np_proxy_fini(struct np_proxy *px)
{
	while (px->terms)
		term_free(px, px->terms, "shutdown", 0);
	free_all(px);
}

void np_proxy_forget(struct np_proxy *px)
{
	struct np_term *t;
	struct np_leg *leg;

	while ((t = px->terms)) {
		px->terms = t->next;
		while ((leg = t->legs)) {
			t->legs = leg->next;
			free(leg);
		}
		free(t);
	}
	free_all(px);
}

void np_proxy_media_totals(const struct np_proxy *px, size_t realm,
			   struct np_counters *out)
{
	const struct np_realm_counters *rc = &px->realm_ctr[realm];
	const struct np_term *t;
	const struct np_leg *leg;
	struct np_counters now;
	struct np_flow_key key;
	size_t i;
	int part, d;

	memset(out, 0, sizeof(*out));
	out->packets = rc->media_packets;
	out->bytes = rc->media_bytes;
	for (d = 0; d < NP_DROP_MAX; d++)
		out->drops[d] = rc->media_drops[d];
	for (t = px->terms; t; t = t->next) {
		const struct np_pair *pair = &px->cfg->pairs[t->pair];
		bool access = pair->first == realm;

		if (!access && pair->second != realm)
			continue;
		for (leg = t->legs; leg; leg = leg->next) {
			for (i = 0; i < leg->n_streams; i++) {
				const struct np_stream *s = &leg->streams[i];

				if (!s->active)
					continue;
				for (part = 0; part < 2; part++) {
					key_of(&key, realm_of(px, realm),
					       (access ? s->access_port :
							 s->core_port) + part);
					if (px->io->counters_get(px->io_ctx,
								 &key, &now))
						continue;
					out->packets += now.packets;
					out->bytes += now.bytes;
					for (d = 0; d < NP_DROP_MAX; d++)
						out->drops[d] += now.drops[d];
				}
			}
		}
	}
}
