// SPDX-License-Identifier: GPL-2.0-only
/*
 * A call's media: relay pairs per stream, the flows that go into the XDP
 * maps for them, and offer/answer (RFC 3264). Each SDP is pointed at the
 * relays of the side it goes to; flows follow an offer only once its
 * answer is accepted, and a failed offer rolls the streams back to what
 * was last agreed (RFC 6337 section 3.1), so a refused re-offer never
 * touches a running call's audio.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core/core.h"
#include "log.h"

/* Where a call's flows live: its terminal's pair and realms. */
struct at {
	struct np_core *core;
	struct np_term *t;
	const struct np_pair *pair;
	const struct np_realm *access, *corer;
};

static void at_init(struct at *a, struct np_core *core, struct np_term *t)
{
	a->core = core;
	a->t = t;
	a->pair = np_core_pair(core, t);
	a->access = &core->cfg->realms[a->pair->first];
	a->corer = &core->cfg->realms[a->pair->second];
}

void np_core_key(struct np_flow_key *key, const struct np_realm *realm,
		 uint16_t port)
{
	np_flow_key_make(key, realm->address.family, &realm->address.addr,
			 port);
}

bool np_core_key_realm(const struct np_core *core,
		       const struct np_flow_key *key, size_t *realm)
{
	uint16_t port = ntohs(key->port);
	struct np_flow_key rk;
	size_t i;

	for (i = 0; i < core->cfg->n_realms; i++) {
		const struct np_realm *r = &core->cfg->realms[i];

		if (port < r->media_ports.lo || port > r->media_ports.hi)
			continue;
		np_core_key(&rk, r, port);
		if (!memcmp(&rk, key, sizeof(rk))) {
			*realm = i;
			return true;
		}
	}
	return false;
}

static bool sdp_addr_usable(const struct np_sdp_addr *a, int family)
{
	static const struct in6_addr any6;

	if (a->family != family)
		return false;
	return family == AF_INET ? a->addr.v4.s_addr != 0 :
				   memcmp(&a->addr.v6, &any6, 16) != 0;
}

static void addr_from_sdp(union np_addr *out, const struct np_sdp_addr *a)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET6)
		memcpy(out, &a->addr.v6, 16);
	else
		out->v4 = a->addr.v4.s_addr;
}

/* The terminal's SDP address is reachable only when no NAT hides it. */
static bool term_sdp_reachable(const struct at *a, const struct np_media_end *e)
{
	struct np_sockaddr sdp = { .family = e->addr.family };

	if (a->access->latch == NP_LATCH_OFF)
		return true;
	memcpy(&sdp.addr, &e->addr.addr, sizeof(sdp.addr));
	sdp.port = a->t->nat.port;
	return np_sockaddr_eq(&sdp, &a->t->nat);
}

/* The address the terminal's signaling comes from (its NAT mapping's). */
static void term_addr(const struct at *a, int family, union np_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6)
		memcpy(out, &a->t->nat.addr.v6, 16);
	else
		out->v4 = a->t->nat.addr.v4.s_addr;
}

#define LATCH_STATE NP_F_LATCH_STATE

/* What the policer allows for a side's SDP bandwidth (np_sdp_police_rate:
 * headers and headroom added, so a G.711 call with b=AS:64 passes). */
static uint64_t sdp_rate_bytes(const struct np_media_end *e)
{
	return np_sdp_police_rate(e->as_kbps, e->tias_bps);
}

/*
 * Bandwidth (claim 10): the realm's cap per stream, or what the SDP of
 * either side declares where smaller, in IP bytes per second.
 */
static void police_stream(const struct at *a, const struct np_stream *s,
			  struct np_flow *f)
{
	uint64_t rate = 0, cap;
	const uint32_t caps[] = { a->access->max_stream_kbps,
				  a->corer->max_stream_kbps };
	const struct np_media_end *ends[] = { &s->term, &s->far };
	size_t i;

	for (i = 0; i < 2; i++) {
		cap = (uint64_t)caps[i] * 1000 / 8;
		if (cap && (!rate || cap < rate))
			rate = cap;
	}
	for (i = 0; i < 2; i++) {
		cap = ends[i]->known ? sdp_rate_bytes(ends[i]) : 0;
		if (cap && (!rate || cap < rate))
			rate = cap;
	}
	f->rate_bytes = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	/* 100 ms of the rate, and at least one full-size packet. */
	f->burst_bytes = f->rate_bytes / 10 > 1514 ? f->rate_bytes / 10 : 1514;
	if (!rate)
		f->burst_bytes = 0;
}

/* VPN label (claim 10): media leaving by a realm carries its VLAN tag,
 * out of its interface itself; else any tag it arrived with is removed. */
static void leave_by(const struct at *a, size_t realm, struct np_flow *f)
{
	const struct np_realm *r = &a->core->cfg->realms[realm];

	if (r->vlan) {
		f->vlan_action = NP_VLAN_SET;
		f->vlan_id = (uint16_t)r->vlan;
		f->egress_ifindex = a->core->ifindex ? a->core->ifindex[realm] : 0;
	} else {
		f->vlan_action = NP_VLAN_STRIP;
	}
}

/* What a flow needs for the interface its packets arrive on. */
static uint32_t arrival_flags(const struct at *a, size_t realm)
{
	return a->core->link_flags[realm] & NP_LINK_VERIFY_CSUM ?
		       NP_F_CSUM_VERIFY :
		       0;
}

/*
 * A destination on one of our own relay addresses (two terminals behind
 * this proxy calling each other through the softswitch): the fast path
 * relays the packet again at once, and looks for that only in flows
 * marked so.
 */
static void mark_hairpin(const struct at *a, int family, struct np_flow *f)
{
	struct np_flow_key ours;
	size_t i;

	for (i = 0; i < a->core->cfg->n_realms; i++) {
		const struct np_realm *r = &a->core->cfg->realms[i];

		if (r->address.family != family)
			continue;
		np_flow_key_make(&ours, family, &r->address.addr, 0);
		if (!memcmp(&ours.addr, &f->new_daddr, sizeof(ours.addr))) {
			f->flags |= NP_F_HAIRPIN;
			return;
		}
	}
}

static void put_dest(struct np_flow *f, const struct np_media_end *e, int part)
{
	const struct np_sdp_addr *addr =
		part && e->rtcp_addr.family ? &e->rtcp_addr : &e->addr;

	addr_from_sdp(&f->new_daddr, addr);
	f->new_dport = htons(part ? e->rtcp : e->rtp);
}

/*
 * An RTCP flow installed after its RTP latched (the answer refused
 * rtcp-mux): it may latch only from where the RTP did, as XDP would have
 * made it at the RTP's latch (NP_F_RTCP_FOLLOWS).
 */
static void rtp_follow(const struct at *a, const struct np_stream *s,
		       struct np_flow *rtcp)
{
	struct np_flow_key key;
	struct np_flow rtp;

	np_core_key(&key, a->access, s->access_port);
	if (a->core->io->flow_get(a->core->io_ctx, &key, &rtp) ||
	    (rtp.flags & NP_F_LATCH_PENDING) ||
	    !(rtp.flags & NP_F_STRICT_SOURCE))
		return;
	rtcp->flags |= NP_F_LATCH_RESTRICTED;
	rtcp->expect_saddr = rtp.expect_saddr;
	rtcp->expect_sport = 0;
}

/*
 * Installs the two flows of one stream part (RTP, or RTCP at offset 1):
 * from the terminal (latching, strict per realm) toward the far end, and
 * from the far end toward the terminal (latching on its first packet, then
 * strict). reopen_term / reopen_far re-arm a side's latch (it sent new
 * SDP); otherwise a latched destination and latch state already in the
 * map are kept.
 */
static int stream_part_sync(const struct at *a, const struct np_stream *s,
			    int part, bool reopen_term, bool reopen_far)
{
	int family = a->access->address.family;
	struct np_flow_key acc_key, core_key;
	struct np_flow acc = {}, core = {}, old;
	const struct np_media_end *far = &s->far, *term = &s->term;
	int (*put)(void *ctx, const struct np_flow_key *key,
		   const struct np_flow *flow);
	int err;

	np_core_key(&acc_key, a->access, s->access_port + part);
	np_core_key(&core_key, a->corer, s->core_port + part);

	/* Terminal -> far end. */
	acc.new_saddr = core_key.addr;
	acc.new_sport = core_key.port;
	if (far->known && far->rtp &&
	    sdp_addr_usable(&far->addr, a->corer->address.family))
		put_dest(&acc, far, part);
	acc.reverse = core_key;
	acc.flags = NP_F_HAS_REVERSE | (s->mux ? NP_F_RTCP_MUX : 0);
	if (a->access->latch != NP_LATCH_OFF) {
		acc.flags |= NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE;
		term_addr(a, family, &acc.home_saddr);
		/* RTCP latches with its RTP: only from its address. */
		if (part == 0 && !s->mux)
			acc.flags |= NP_F_RTCP_FOLLOWS;
	}
	switch (a->access->latch) {
	case NP_LATCH_FIRST_PACKET:
		/* Only the address the signaling came from may latch. */
		acc.flags |= NP_F_LATCH_RESTRICTED;
		acc.expect_saddr = acc.home_saddr;
		break;
	case NP_LATCH_ANY:
		/* Anyone may latch first; the signaling address takes the
		 * stream back once (RFC 7362's advice). */
		acc.flags |= NP_F_LATCH_TAKEOVER;
		break;
	case NP_LATCH_OFF:
		break;
	}
	acc.flags |= arrival_flags(a, a->pair->first);
	if (a->corer->dscp >= 0) {
		acc.flags |= NP_F_SET_DSCP;
		acc.dscp = (uint8_t)a->corer->dscp;
	}
	/* What XDP learned stays: the latch, a takeover spent, an RTCP flow
	 * its RTP's latch restricted. */
	if (s->flows_new) {
		/* Nothing learned yet, nothing to read. */
	} else if (!reopen_term &&
		   !a->core->io->flow_get(a->core->io_ctx, &acc_key, &old)) {
		acc.flags = (acc.flags & ~LATCH_STATE) |
			    (old.flags & LATCH_STATE);
		acc.expect_saddr = old.expect_saddr;
		acc.expect_sport = old.expect_sport;
	} else if (part == 1 && (acc.flags & NP_F_LATCH_PENDING)) {
		rtp_follow(a, s, &acc);
	}

	/* Far end -> terminal: the far end latches on its first packet too
	 * (no one else may inject media toward the terminal from the core
	 * side), without moving where the terminal's media goes. */
	core.new_saddr = acc_key.addr;
	core.new_sport = acc_key.port;
	if (term->known && term->rtp && sdp_addr_usable(&term->addr, family) &&
	    term_sdp_reachable(a, term))
		put_dest(&core, term, part);
	core.flags = (s->mux ? NP_F_RTCP_MUX : 0) |
		     arrival_flags(a, a->pair->second);
	if (a->corer->latch != NP_LATCH_OFF)
		core.flags |= NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE;
	if (a->access->dscp >= 0) {
		core.flags |= NP_F_SET_DSCP;
		core.dscp = (uint8_t)a->access->dscp;
	}
	if (!s->flows_new &&
	    !a->core->io->flow_get(a->core->io_ctx, &core_key, &old)) {
		if (!reopen_term && old.new_dport) {
			core.new_daddr = old.new_daddr;
			core.new_dport = old.new_dport;
		}
		if (!reopen_far) {
			core.flags = (core.flags & ~NP_F_LATCH_PENDING) |
				     (old.flags & NP_F_LATCH_PENDING);
			core.expect_saddr = old.expect_saddr;
			core.expect_sport = old.expect_sport;
		}
	}

	mark_hairpin(a, a->corer->address.family, &acc);
	mark_hairpin(a, family, &core);
	police_stream(a, s, &acc);
	police_stream(a, s, &core);
	leave_by(a, a->pair->second, &acc);
	leave_by(a, a->pair->first, &core);

	/* The reverse first: a latch always finds it. */
	put = s->flows_new && a->core->io->flow_put_new ?
		      a->core->io->flow_put_new :
		      a->core->io->flow_put;
	err = put(a->core->io_ctx, &core_key, &core);
	if (!err)
		err = put(a->core->io_ctx, &acc_key, &acc);
	return err;
}

static int stream_sync(const struct at *a, struct np_stream *s,
		       bool reopen_term, bool reopen_far)
{
	int err = stream_part_sync(a, s, 0, reopen_term, reopen_far);

	if (!err && !s->mux)
		err = stream_part_sync(a, s, 1, reopen_term, reopen_far);
	/* Written (or refused, the stream then released): from now on the
	 * maps may hold what XDP learned. */
	s->flows_new = false;
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
 * longer match, so the last packets before the end are in).
 */
void np_stream_volumes(struct np_core *core, size_t pair_i,
		       const struct np_stream *s, bool remove,
		       struct np_volume *up, struct np_volume *down)
{
	const struct np_pair *pair = &core->cfg->pairs[pair_i];
	const struct np_realm *access = &core->cfg->realms[pair->first];
	const struct np_realm *corer = &core->cfg->realms[pair->second];
	struct np_realm_media *acc_ctr = &core->realm_media[pair->first];
	struct np_realm_media *core_ctr = &core->realm_media[pair->second];
	struct np_counters last[4];
	struct np_flow_key keys[4];
	int part, d, i, err[4];

	memset(up, 0, sizeof(*up));
	memset(down, 0, sizeof(*down));
	/* Even: the access side's (up), odd: the core side's (down). */
	for (part = 0; part < 2; part++) {
		np_core_key(&keys[2 * part], access, s->access_port + part);
		np_core_key(&keys[2 * part + 1], corer, s->core_port + part);
	}
	if (remove && core->io->flows_del) {
		core->io->flows_del(core->io_ctx, keys, 4, last, err);
	} else {
		for (i = 0; i < 4; i++)
			err[i] = remove ? core->io->flow_del(core->io_ctx,
							     &keys[i], &last[i]) :
					  core->io->counters_get(core->io_ctx,
								 &keys[i],
								 &last[i]);
	}
	for (i = 0; i < 4; i++)
		if (!err[i])
			volume_add(i % 2 ? down : up, &last[i]);
	if (!remove)
		return;
	/* Removed flows leave the maps: keep their counts for the totals. */
	acc_ctr->packets += up->packets;
	acc_ctr->bytes += up->bytes;
	core_ctr->packets += down->packets;
	core_ctr->bytes += down->bytes;
	for (d = 0; d < NP_DROP_MAX; d++) {
		acc_ctr->drops[d] += up->drops[d];
		core_ctr->drops[d] += down->drops[d];
	}
}

/* say: log what the stream carried (not for a standby's copy, which
 * carried nothing and is dropped whenever the active node changes it). */
static void stream_release(struct np_core *core, struct np_term *t,
			   struct np_call *call, size_t i, bool say)
{
	const struct np_pair *pair = np_core_pair(core, t);
	struct np_stream *s = &call->streams[i];
	struct np_volume up, down;
	int d;

	if (!s->active)
		return;
	np_stream_volumes(core, t->pair, s, true, &up, &down);
	np_log(say ? NP_LOG_INFO : NP_LOG_DEBUG,"call '%s': stream %u/%u ended: %llu packets %llu bytes from "
		"the terminal, %llu packets %llu bytes to it",
		call->id, s->access_port, s->core_port,
		(unsigned long long)up.packets, (unsigned long long)up.bytes,
		(unsigned long long)down.packets,
		(unsigned long long)down.bytes);
	call->gone_up[i].packets += up.packets;
	call->gone_up[i].bytes += up.bytes;
	call->gone_down[i].packets += down.packets;
	call->gone_down[i].bytes += down.bytes;
	for (d = 0; d < NP_DROP_MAX; d++) {
		call->gone_up[i].drops[d] += up.drops[d];
		call->gone_down[i].drops[d] += down.drops[d];
	}
	np_portpool_put_pair(&core->media_ports[pair->first], s->access_port);
	np_portpool_put_pair(&core->media_ports[pair->second], s->core_port);
	memset(s, 0, sizeof(*s));
	/* The streams left may have been silent longer: read them again. */
	call->media_check_at = 0;
	np_call_changed(core, t, call);
}

void np_stream_release(struct np_core *core, struct np_term *t,
		       struct np_call *call, size_t i)
{
	stream_release(core, t, call, i, true);
}

void np_stream_forget(struct np_core *core, struct np_term *t,
		      struct np_call *call, size_t i)
{
	stream_release(core, t, call, i, false);
}

static int stream_allocate(const struct at *a, struct np_call *call,
			   struct np_stream *s)
{
	struct np_portpool *acc = &a->core->media_ports[a->pair->first];
	struct np_portpool *corep = &a->core->media_ports[a->pair->second];

	if (np_portpool_get_pair(acc, &s->access_port))
		return -EBUSY;
	if (np_portpool_get_pair(corep, &s->core_port)) {
		np_portpool_put_pair(acc, s->access_port);
		return -EBUSY;
	}
	np_media_hold_ports(a->core, a->t, call, s);
	s->active = true;
	s->flows_new = true;
	return 0;
}

void np_media_hold_ports(struct np_core *core, const struct np_term *t,
			 struct np_call *call, const struct np_stream *s)
{
	const struct np_pair *pair = np_core_pair(core, t);
	struct np_portpool *acc = &core->media_ports[pair->first];
	struct np_portpool *corep = &core->media_ports[pair->second];

	/* Without the memory a latch is logged without its call. */
	np_portpool_hold(acc, s->access_port, call);
	np_portpool_hold(acc, s->access_port + 1, call);
	np_portpool_hold(corep, s->core_port, call);
	np_portpool_hold(corep, s->core_port + 1, call);
}

static void end_from_sdp(struct np_media_end *end, const struct np_sdp_media *m)
{
	end->known = true;
	end->addr = m->addr;
	end->rtcp_addr = m->rtcp_addr;
	end->rtp = m->port;
	end->rtcp = m->rtcp_port;
	end->mux = m->rtcp_mux;
	end->hold = m->hold || m->dir != NP_SDP_SENDRECV;
	end->bps = m->bandwidth_bps;
	end->as_kbps = m->as_kbps;
	end->tias_bps = m->tias_bps;
}

/*
 * Parses an SDP from side `from` for realm family and records it in the
 * streams: new streams get relays (fresh[] says which), and each accepted
 * stream gets its relay port on the side the SDP goes to in relay.
 */
static int take_sdp(const struct at *a, struct np_call *call, enum np_side from,
		    const char *sdp, size_t len, struct np_sdp *parsed,
		    struct np_sdp_relay *relay, bool *fresh, const char **why)
{
	const struct np_realm *src = from == NP_SIDE_TERM ? a->access : a->corer;
	const struct np_realm *to = from == NP_SIDE_TERM ? a->corer : a->access;
	size_t i;
	int err;

	err = np_sdp_parse(sdp, len, parsed, why);
	if (err)
		return -EINVAL;
	/* Without the memory for its streams the SDP is refused as for want
	 * of ports (503), the call as it was. */
	if (np_call_room(call, parsed->n_media)) {
		*why = "out of memory";
		return -EBUSY;
	}
	for (i = 0; i < parsed->n_media; i++) {
		const struct np_sdp_media *m = &parsed->media[i];

		if (m->port && m->addr.family != src->address.family) {
			*why = "media address of another family than the realm";
			return -EINVAL;
		}
	}
	memset(relay, 0, sizeof(*relay));
	for (i = 0; i < parsed->n_media; i++) {
		struct np_stream *s = &call->streams[i];
		const struct np_sdp_media *m = &parsed->media[i];

		if (m->port && !s->active) {
			err = stream_allocate(a, call, s);
			if (err) {
				*why = "no relay ports left";
				return err;
			}
			fresh[i] = true;
			call->access_ports[i] = s->access_port;
			call->core_ports[i] = s->core_port;
		}
		end_from_sdp(from == NP_SIDE_TERM ? &s->term : &s->far, m);
		relay->rtp_port[i] = from == NP_SIDE_TERM ? s->core_port :
							    s->access_port;
	}
	if (parsed->n_media > call->n_streams)
		call->n_streams = parsed->n_media;
	relay->ice = to->ice;
	relay->addr.family = to->address.family;
	memcpy(&relay->addr.addr, &to->address.addr, sizeof(relay->addr.addr));
	return 0;
}

static void free_fresh(const struct at *a, struct np_call *call,
		       const bool *fresh)
{
	size_t i;

	for (i = 0; i < call->room; i++)
		if (fresh[i])
			np_stream_release(a->core, a->t, call, i);
}

/* Mux once both sides agree, or while only one side is known. */
static void settle_mux(struct np_stream *s)
{
	s->mux = s->term.known && s->far.known ? s->term.mux && s->far.mux :
						 s->term.known ? s->term.mux :
								 s->far.mux;
}

/* Flows of every live stream; a stream either side removed is released. */
static int sync_all(const struct at *a, struct np_call *call,
		    bool reopen_term, bool reopen_far)
{
	size_t i;
	int err;

	for (i = 0; i < call->n_streams; i++) {
		struct np_stream *s = &call->streams[i];

		if (!s->active)
			continue;
		if ((s->term.known && !s->term.rtp) ||
		    (s->far.known && !s->far.rtp)) {
			np_stream_release(a->core, a->t, call, i);
			continue;
		}
		settle_mux(s);
		err = stream_sync(a, s, reopen_term, reopen_far);
		if (err) {
			np_err("call '%s': cannot install flows: %s", call->id,
			       strerror(-err));
			return -EBUSY;
		}
	}
	return 0;
}

int np_media_install(struct np_core *core, struct np_term *t,
		     struct np_call *call)
{
	struct at a;

	at_init(&a, core, t);
	return sync_all(&a, call, false, false);
}

static int rewrite(const char *sdp, size_t len, const struct np_sdp *parsed,
		   const struct np_sdp_relay *relay, char *out, size_t out_size,
		   size_t *out_len, const char **why)
{
	return np_sdp_rewrite_parsed(sdp, len, parsed, relay, out, out_size, out_len,
				     why) ?
		       -EINVAL :
		       0;
}

int np_media_offer(struct np_core *core, struct np_term *t,
		   struct np_call *call, enum np_side from, const char *sdp,
		   size_t len, char *out, size_t out_size, size_t *out_len,
		   const char **why)
{
	bool fresh[NP_SDP_MAX_MEDIA] = {};
	struct np_sdp_relay relay;
	struct np_sdp parsed;
	bool first = !call->agreed_any;
	struct at a;
	int err;

	at_init(&a, core, t);
	/* The same side offering again (a retransmission, or a changed
	 * offer before any answer) keeps its relays and what was agreed
	 * before; an offer crossing the other side's (glare) replaces it. */
	if (call->pending && call->pending != from)
		np_media_rollback(core, t, call);
	if (!call->pending) {
		if (call->room) /* none before a first SDP */
			memcpy(call->agreed, call->streams,
			       call->room * sizeof(*call->agreed));
		call->agreed_n = call->n_streams;
	}
	err = take_sdp(&a, call, from, sdp, len, &parsed, &relay, fresh, why);
	if (!err)
		err = rewrite(sdp, len, &parsed, &relay, out, out_size, out_len, why);
	/* A call's first offer gets its flows at once: the terminal's
	 * media latches before the answer comes. */
	if (!err && first)
		err = sync_all(&a, call, from == NP_SIDE_TERM,
			       from == NP_SIDE_FAR);
	if (err) {
		free_fresh(&a, call, fresh);
		if (!call->pending && call->room) /* grown since: zeroed in both */
			memcpy(call->streams, call->agreed,
			       call->room * sizeof(*call->streams));
		return err;
	}
	call->pending = from;
	np_call_changed(core, t, call);
	return 0;
}

/* The fork by tag, made or grown for the call's streams; NULL when the
 * call has NP_FORKS_MAX others or without the memory (its SDP is then not
 * kept: an answer from it without SDP leaves the flows as they are). */
static struct np_fork *fork_slot(struct np_call *call, const char *tag)
{
	struct np_fork *f = NULL;
	size_t i;

	for (i = 0; i < call->n_forks; i++)
		if (!strcmp(call->forks[i]->tag, tag))
			break;
	if (i == NP_FORKS_MAX)
		return NULL;
	if (i < call->n_forks)
		f = call->forks[i];
	if (f && f->n_far >= call->n_streams)
		return f;
	f = realloc(f, sizeof(*f) + call->n_streams * sizeof(f->far[0]));
	if (!f)
		return NULL;
	if (i == call->n_forks) {
		snprintf(f->tag, sizeof(f->tag), "%s", tag);
		call->n_forks++;
	}
	f->n_far = call->n_streams;
	call->forks[i] = f;
	return f;
}

int np_media_answer(struct np_core *core, struct np_term *t,
		    struct np_call *call, enum np_side from, const char *fork,
		    const char *sdp, size_t len, char *out, size_t out_size,
		    size_t *out_len, const char **why)
{
	bool fresh[NP_SDP_MAX_MEDIA] = {};
	struct np_sdp_relay relay;
	struct np_sdp parsed;
	enum np_side offerer = call->pending;
	struct np_fork *f;
	struct at a;
	size_t i;
	int err;

	at_init(&a, core, t);
	err = take_sdp(&a, call, from, sdp, len, &parsed, &relay, fresh, why);
	if (!err)
		err = rewrite(sdp, len, &parsed, &relay, out, out_size, out_len, why);
	/* The side that sent SDP re-arms its latch; so does the offerer of a
	 * re-offer, whose flows waited for this answer (a first offer's
	 * went in with it, and a latch made since stays). */
	if (!err)
		err = sync_all(&a, call,
			       from == NP_SIDE_TERM ||
				       (call->agreed_any && offerer == NP_SIDE_TERM),
			       from == NP_SIDE_FAR ||
				       (call->agreed_any && offerer == NP_SIDE_FAR));
	if (err) {
		free_fresh(&a, call, fresh);
		return err;
	}
	if (from == NP_SIDE_FAR && fork && *fork) {
		f = fork_slot(call, fork);
		for (i = 0; f && i < f->n_far; i++)
			f->far[i] = call->streams[i].far;
		snprintf(call->fork_now, sizeof(call->fork_now), "%s", fork);
	}
	call->pending = NP_SIDE_NONE;
	call->agreed_any = true;
	np_call_changed(core, t, call);
	return 0;
}

void np_media_rollback(struct np_core *core, struct np_term *t,
		       struct np_call *call)
{
	size_t i;

	if (!call->pending)
		return;
	for (i = 0; i < call->room; i++) {
		struct np_stream *s = &call->streams[i];

		/* Streams the failed offer added go; the rest are as agreed
		 * (their flows never changed, the answer never came). */
		if (s->active && !call->agreed[i].active)
			np_stream_release(core, t, call, i);
		else if (call->agreed[i].active)
			*s = call->agreed[i];
	}
	call->pending = NP_SIDE_NONE;
	core->stats.offers_rolled_back++;
	np_call_changed(core, t, call);
	np_info("call '%s': offer failed, media as agreed before", call->id);
}

void np_media_use_fork(struct np_core *core, struct np_term *t,
		       struct np_call *call, const char *fork)
{
	struct np_fork *f = NULL;
	struct at a;
	size_t i;

	for (i = 0; fork && i < call->n_forks; i++)
		if (!strcmp(call->forks[i]->tag, fork))
			f = call->forks[i];
	if (!f || !strcmp(call->fork_now, fork))
		return;
	at_init(&a, core, t);
	for (i = 0; i < call->n_streams; i++)
		if (call->streams[i].active && i < f->n_far && f->far[i].known)
			call->streams[i].far = f->far[i];
	snprintf(call->fork_now, sizeof(call->fork_now), "%s", fork);
	np_info("call '%s': media follows the answering fork", call->id);
	if (sync_all(&a, call, false, true))
		np_warn("call '%s': flows of the answering fork not installed",
			call->id);
	np_call_changed(core, t, call);
}

bool np_media_on_hold(const struct np_call *call)
{
	bool any = false;
	size_t i;

	for (i = 0; i < call->n_streams; i++) {
		const struct np_stream *s = &call->streams[i];

		if (!s->active)
			continue;
		if (!s->term.hold && !s->far.hold)
			return false;
		any = true;
	}
	return any;
}

time_t np_media_idle(struct np_core *core, struct np_term *t,
		     struct np_call *call, time_t now)
{
	struct np_volume up, down;
	uint64_t last = 0;
	size_t i;

	for (i = 0; i < call->n_streams; i++) {
		if (!call->streams[i].active)
			continue;
		np_stream_volumes(core, t->pair, &call->streams[i], false, &up,
				  &down);
		if (up.last_seen_ns > last)
			last = up.last_seen_ns;
		if (down.last_seen_ns > last)
			last = down.last_seen_ns;
	}
	/* XDP's clock is CLOCK_MONOTONIC, like now. */
	if (last && (time_t)(last / 1000000000ull) > call->answered_at)
		return now - (time_t)(last / 1000000000ull);
	return now - call->answered_at;
}

bool np_media_silent(struct np_core *core, struct np_term *t,
		     struct np_call *call, uint32_t limit, time_t now)
{
	time_t idle;

	if (call->media_limit == limit && now < call->media_check_at)
		return false;
	/* Answered at most limit seconds ago: np_media_idle() counts from
	 * the answer at the most, so it cannot be over limit yet, and the
	 * earliest it can be is what reading the counters would say of
	 * media that never moved. No counter read for a call that ends
	 * sooner (most do). */
	if (call->answered_at && now - call->answered_at <= (time_t)limit) {
		call->media_limit = limit;
		call->media_check_at = call->answered_at + (time_t)limit + 1;
		return false;
	}
	idle = np_media_idle(core, t, call, now);
	if (idle > (time_t)limit)
		return true;
	/* Silent for idle seconds now: more than limit at the earliest
	 * limit - idle + 1 seconds later. */
	call->media_limit = limit;
	call->media_check_at = now + ((time_t)limit - idle) + 1;
	return false;
}

bool np_core_media_port_used(const struct np_core *core, size_t realm,
			     uint16_t port)
{
	const struct np_portpool *pool = &core->media_ports[realm];

	return np_portpool_owns(pool, port) && pool->used[port - pool->lo];
}

void np_core_latched(struct np_core *core, const struct np_flow_key *key,
		     const struct np_sockaddr *source, bool takeover)
{
	const char *how = takeover ? " (its signaling address took it over "
				     "from an earlier latch)" :
				     "";
	uint16_t port = ntohs(key->port);
	const struct np_call *call = NULL;
	char where[64];
	size_t i;

	core->stats.latches++;
	for (i = 0; i < core->cfg->n_realms; i++) {
		struct np_flow_key rk;

		np_core_key(&rk, &core->cfg->realms[i], port);
		if (np_portpool_owns(&core->media_ports[i], port) &&
		    !memcmp(&rk, key, sizeof(rk))) {
			core->realm_media[i].latches++;
			/* The call holding the port, without a walk over
			 * every call (a latch comes with every new stream). */
			call = np_portpool_holder(&core->media_ports[i], port);
			break;
		}
	}
	for (i = 0; call && i < call->n_streams; i++) {
		const struct np_stream *s = &call->streams[i];
		bool acc = port == s->access_port || port == s->access_port + 1;
		bool far = port == s->core_port || port == s->core_port + 1;

		if (!s->active || (!acc && !far))
			continue;
		np_log(takeover ? NP_LOG_WARN : NP_LOG_INFO,
		       "call '%s': stream %zu %s from the %s latched onto %s%s",
		       call->id, i, port % 2 == 0 ? "RTP" : "RTCP",
		       acc ? "terminal" : "far end",
		       np_sockaddr_str(source, where, sizeof(where)), how);
		return;
	}
	np_info("relay port %u latched onto %s (no call)%s", port,
		np_sockaddr_str(source, where, sizeof(where)), how);
}

void np_core_media_totals(const struct np_core *core, size_t realm,
			  struct np_counters *out)
{
	const struct np_realm_media *rm = &core->realm_media[realm];
	const struct np_term *t;
	const struct np_call *call;
	struct np_counters now;
	struct np_flow_key key;
	size_t i;
	int part, d;

	memset(out, 0, sizeof(*out));
	out->packets = rm->packets;
	out->bytes = rm->bytes;
	for (d = 0; d < NP_DROP_MAX; d++)
		out->drops[d] = rm->drops[d];
	for (t = core->terms; t; t = t->next) {
		const struct np_pair *pair = &core->cfg->pairs[t->pair];
		bool access = pair->first == realm;

		if (!access && pair->second != realm)
			continue;
		for (call = t->calls; call; call = call->next) {
			for (i = 0; i < call->n_streams; i++) {
				const struct np_stream *s = &call->streams[i];

				if (!s->active)
					continue;
				for (part = 0; part < 2; part++) {
					np_core_key(&key,
						    &core->cfg->realms[realm],
						    (access ? s->access_port :
							      s->core_port) +
							    part);
					if (core->io->counters_get(core->io_ctx,
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

/* The realm of a flow some call's stream holds, or -1. */
static int live_flow_realm(const struct np_flow_key *key, void *arg)
{
	const struct np_core *core = arg;
	uint16_t port = ntohs(key->port);
	struct np_flow_key ours;
	size_t i;

	for (i = 0; i < core->cfg->n_realms; i++) {
		if (!np_core_media_port_used(core, i, port))
			continue;
		np_core_key(&ours, &core->cfg->realms[i], port);
		if (!memcmp(&ours, key, sizeof(ours)))
			return (int)i;
	}
	return -1;
}

void np_core_media_totals_all(const struct np_core *core,
			      struct np_counters *out)
{
	size_t n = core->cfg->n_realms, i;
	int d;

	if (!core->io->flows_sum ||
	    core->io->flows_sum(core->io_ctx, live_flow_realm, (void *)core,
				out, n)) {
		for (i = 0; i < n; i++)
			np_core_media_totals(core, i, &out[i]);
		return;
	}
	/* Live flows as counted, plus what removed ones left. */
	for (i = 0; i < n; i++) {
		const struct np_realm_media *rm = &core->realm_media[i];
		struct np_counters live = out[i];

		memset(&out[i], 0, sizeof(out[i]));
		out[i].packets = rm->packets + live.packets;
		out[i].bytes = rm->bytes + live.bytes;
		for (d = 0; d < NP_DROP_MAX; d++)
			out[i].drops[d] = rm->drops[d] + live.drops[d];
	}
}
