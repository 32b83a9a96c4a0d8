// SPDX-License-Identifier: GPL-2.0-only
/*
 * Calls rebuilt from the maps. When the state file could not be read in
 * full, the flows of the calls it no longer names keep relaying in XDP:
 * they are never removed on a guess. Each stream's flows name its relay
 * port pair (the access flow's reverse key is its core relay, the core
 * flow's rewritten source its access relay), which is enough to make an
 * orphan call of it: its ports are taken from the pools (no new call gets
 * them), the media timeout ends it, and it is billed once, with its
 * volumes from XDP's counters and its parties unknown.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log.h"

/* The pair with these access and core realms (not draining). */
static bool pair_of(const struct np_core *core, size_t first, size_t second,
		    size_t *pair)
{
	size_t i;

	for (i = 0; i < core->cfg->n_pairs; i++) {
		const struct np_pair *p = &core->cfg->pairs[i];

		if (p->first == first && p->second == second) {
			*pair = i;
			return true;
		}
	}
	return false;
}

struct found {
	size_t pair;
	uint16_t access_port, core_port; /* RTP (even) */
	bool mux;
	bool failed; /* no call could be made of it */
};

/* The stream a flow belongs to, from the flow alone. */
static bool flow_stream(struct np_core *core, const struct np_flow_key *key,
			struct found *out)
{
	struct np_flow flow;
	struct np_flow_key other;
	size_t realm, peer;

	if (!np_core_key_realm(core, key, &realm) ||
	    core->io->flow_get(core->io_ctx, key, &flow))
		return false;
	out->mux = flow.flags & NP_F_RTCP_MUX;
	if (flow.flags & NP_F_HAS_REVERSE) {
		/* An access flow: its reverse is the core relay. */
		if (!np_core_key_realm(core, &flow.reverse, &peer) ||
		    !pair_of(core, realm, peer, &out->pair))
			return false;
		out->access_port = ntohs(key->port) & ~1u;
		out->core_port = ntohs(flow.reverse.port) & ~1u;
		return true;
	}
	/* A core flow: it leaves from the access relay. */
	other = *key;
	memcpy(&other.addr, &flow.new_saddr, sizeof(other.addr));
	other.port = flow.new_sport;
	if (!np_core_key_realm(core, &other, &peer) ||
	    !pair_of(core, peer, realm, &out->pair))
		return false;
	out->access_port = ntohs(flow.new_sport) & ~1u;
	out->core_port = ntohs(key->port) & ~1u;
	return true;
}

/* The terminal's media address: where the core flow sends, if known. */
static void term_media(struct np_core *core, const struct np_realm *corer,
		       uint16_t core_port, struct np_sockaddr *out)
{
	struct np_flow_key key;
	struct np_flow flow;

	memset(out, 0, sizeof(*out));
	np_core_key(&key, corer, core_port);
	if (core->io->flow_get(core->io_ctx, &key, &flow) || !flow.new_dport)
		return;
	out->family = corer->address.family == AF_INET6 ? AF_INET6 : AF_INET;
	if (out->family == AF_INET6)
		memcpy(&out->addr.v6, &flow.new_daddr, 16);
	else
		out->addr.v4.s_addr = flow.new_daddr.v4;
	out->port = ntohs(flow.new_dport);
}

/* The earliest packet XDP counted on a stream, monotonic seconds (0:
 * none). */
static time_t first_packet(struct np_core *core, const struct np_pair *pair,
			   uint16_t access_port, uint16_t core_port)
{
	const struct np_realm *r[2] = { &core->cfg->realms[pair->first],
					&core->cfg->realms[pair->second] };
	const uint16_t ports[2] = { access_port, core_port };
	struct np_counters c;
	struct np_flow_key key;
	uint64_t first = 0;
	int side, part;

	for (side = 0; side < 2; side++)
		for (part = 0; part < 2; part++) {
			np_core_key(&key, r[side], ports[side] + part);
			if (!core->io->counters_get(core->io_ctx, &key, &c) &&
			    c.first_seen_ns &&
			    (!first || c.first_seen_ns < first))
				first = c.first_seen_ns;
		}
	return (time_t)(first / 1000000000ull);
}

static struct np_term *orphan_term(size_t pair, const struct np_sockaddr *media,
				   time_t now)
{
	struct np_term *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->pair = pair;
	if (media)
		t->nat = *media;
	t->last_heard = t->idle_since = now;
	return t;
}

int np_core_adopt_orphan(struct np_core *core, size_t pair,
			 const struct np_sockaddr *media,
			 const struct np_call *saved, time_t now)
{
	struct np_call copy = *saved;
	struct np_term *t;
	int err;

	if (pair >= core->cfg->n_pairs)
		return -EINVAL;
	t = orphan_term(pair, media, now);
	if (!t)
		return -ENOMEM;
	copy.recovered = true;
	copy.dialog = NULL;
	err = np_core_adopt_call(core, t, &copy, NULL);
	if (err) {
		free(t);
		return err;
	}
	t->next = core->orphans;
	core->orphans = t;
	return 0;
}

/* An orphan call for one stream. */
static int recover_stream(struct np_core *core, const struct found *s,
			  time_t now)
{
	const struct np_pair *pair = &core->cfg->pairs[s->pair];
	const struct np_realm *access = &core->cfg->realms[pair->first];
	const struct np_realm *corer = &core->cfg->realms[pair->second];
	double wall = core->io->wall(core->io_ctx);
	struct np_sockaddr media;
	struct np_call call;
	time_t first;
	int err;

	memset(&call, 0, sizeof(call));
	if (np_call_room(&call, 1))
		return -ENOMEM;
	snprintf(call.id, sizeof(call.id), "recovered-%s-%u-%s-%u",
		 access->name, s->access_port, corer->name, s->core_port);
	call.n_streams = 1;
	call.streams[0].active = true;
	call.streams[0].access_port = s->access_port;
	call.streams[0].core_port = s->core_port;
	call.streams[0].mux = s->mux;
	call.access_ports[0] = s->access_port;
	call.core_ports[0] = s->core_port;
	call.answered = true;
	call.started = call.answered_at = now;
	/* The call began no later than its first packet. */
	first = first_packet(core, pair, s->access_port, s->core_port);
	call.wall_start = first && first < now ? wall - (double)(now - first) :
						 wall;
	call.wall_answer = call.wall_start;
	term_media(core, corer, s->core_port, &media);
	err = np_core_adopt_orphan(core, s->pair, &media, &call, now);
	np_call_streams_free(&call);
	/* Orphans are in snapshots only: the whole state, in the save's turn
	 * (the files do not have it: no old generation to wait on). */
	if (!err)
		np_core_changed_all(core);
	return err;
}

int np_core_recover(struct np_core *core, const struct np_flow_key *keys,
		    size_t n, time_t now, struct np_recovery *rep)
{
	struct found *seen;
	size_t n_seen = 0, i, j;
	int err;

	memset(rep, 0, sizeof(*rep));
	rep->flows = n;
	seen = calloc(n ? n : 1, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct found s;

		if (!flow_stream(core, &keys[i], &s)) {
			rep->kept++;
			continue;
		}
		for (j = 0; j < n_seen; j++)
			if (seen[j].pair == s.pair &&
			    seen[j].access_port == s.access_port)
				break;
		if (j < n_seen) {
			rep->kept += seen[j].failed;
			continue;
		}
		err = recover_stream(core, &s, now);
		s.failed = err != 0;
		seen[n_seen++] = s;
		if (err) {
			np_warn("flows of relay ports %u/%u kept without a "
				"call: %s",
				s.access_port, s.core_port,
				err == -ESTALE ? "no access flow" :
						 strerror(-err));
			rep->kept++;
			continue;
		}
		rep->calls++;
	}
	free(seen);
	return 0;
}

/* The shortest media timeout of the pair's realms; the hold timeout, or
 * an hour, where media timeouts are off: an orphan is never kept for
 * ever, nor cut while its media flows. */
static uint32_t orphan_limit(const struct np_core *core, size_t pair_i)
{
	const struct np_pair *pair = &core->cfg->pairs[pair_i];
	const struct np_realm *a = &core->cfg->realms[pair->first];
	const struct np_realm *c = &core->cfg->realms[pair->second];
	uint32_t m = a->media_timeout, h = np_realm_hold_timeout(a);

	if (c->media_timeout && (!m || c->media_timeout < m))
		m = c->media_timeout;
	if (np_realm_hold_timeout(c) && (!h || np_realm_hold_timeout(c) < h))
		h = np_realm_hold_timeout(c);
	return m ? m : h ? h : 3600;
}

static void orphan_free(struct np_core *core, struct np_term *t)
{
	struct np_term **p;

	for (p = &core->orphans; *p && *p != t; p = &(*p)->next)
		;
	if (*p)
		*p = t->next;
	free(t);
}

/* An orphan call ends: the journal's tombstone names it by its pair and
 * its (one) stream's access relay port, so that saving it costs one line,
 * not the whole state again (short of memory, the whole state it is). */
static void orphan_call_end(struct np_core *core, struct np_term *t,
			    struct np_call *call, enum np_end_reason why,
			    time_t now)
{
	struct np_term_key key = { t->pair, call->n_streams ?
						    call->streams[0].access_port :
						    0 };
	struct np_term_key *k;

	if (core->n_orphan_tombs == core->cap_orphan_tombs) {
		k = realloc(core->orphan_tombs,
			    (core->cap_orphan_tombs * 2 + 16) * sizeof(*k));
		if (k) {
			core->orphan_tombs = k;
			core->cap_orphan_tombs = core->cap_orphan_tombs * 2 + 16;
		}
	}
	if (core->n_orphan_tombs < core->cap_orphan_tombs)
		core->orphan_tombs[core->n_orphan_tombs++] = key;
	else
		np_core_changed_all(core);
	np_call_end(core, t, call, why, now);
}

void np_core_orphans_tick(struct np_core *core, time_t now)
{
	struct np_term *t, *next;
	struct np_call *call, *cnext;
	uint32_t limit;

	for (t = core->orphans; t; t = next) {
		next = t->next;
		if (core->acting && !core->acting(core->acting_arg, t))
			continue;
		limit = orphan_limit(core, t->pair);
		for (call = t->calls; call; call = cnext) {
			cnext = call->next;
			if (!np_media_silent(core, t, call, limit, now))
				continue;
			np_info("recovered call '%s': no media for %us: "
				"ending it",
				call->id, limit);
			core->stats.media_timeouts++;
			orphan_call_end(core, t, call, NP_END_RECOVERED, now);
		}
		if (!t->calls)
			orphan_free(core, t);
	}
}

void np_core_orphans_end(struct np_core *core, enum np_end_reason why,
			 time_t now)
{
	struct np_term *t;

	while ((t = core->orphans)) {
		while (t->calls)
			orphan_call_end(core, t, t->calls, why, now);
		orphan_free(core, t);
	}
}

void np_core_orphans_forget(struct np_core *core)
{
	struct np_term *t;
	struct np_call *call;

	while ((t = core->orphans)) {
		core->orphans = t->next;
		while ((call = t->calls)) {
			t->calls = call->next;
			np_call_streams_free(call);
			free(call);
		}
		free(t);
	}
}
