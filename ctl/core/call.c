// SPDX-License-Identifier: GPL-2.0-only
/*
 * Calls of a terminal: created within the realms' limits, ended once with
 * their flows removed and one charging record, adopted after a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log.h"

const char *const np_end_reason_names[NP_END_MAX] = {
	NP_END_REASONS(NP_NAME_ENTRY)
};

/* --- the index: by terminal and id --- */

static uint32_t id_hash(const struct np_term *t, const char *id)
{
	uintptr_t p = (uintptr_t)t;
	uint32_t h = 2166136261u ^ (uint32_t)(p >> 4) ^ (uint32_t)(p >> 36);

	while (*id) { /* FNV-1a */
		h ^= (unsigned char)*id++;
		h *= 16777619u;
	}
	return h;
}

int np_calls_init(struct np_core *core)
{
	core->calls_by_id = calloc(NP_CALL_BUCKETS, sizeof(*core->calls_by_id));
	return core->calls_by_id ? 0 : -ENOMEM;
}

void np_calls_fini(struct np_core *core)
{
	free(core->calls_by_id);
	core->calls_by_id = NULL;
	np_timers_fini(&core->call_timers);
}

struct np_call *np_call_find(const struct np_core *core,
			     const struct np_term *t, const char *id)
{
	uint32_t h = id_hash(t, id);
	struct np_call *call;

	for (call = core->calls_by_id[h & (NP_CALL_BUCKETS - 1)]; call;
	     call = call->id_next)
		if (call->id_hash == h && call->id_term == t &&
		    !strcmp(call->id, id))
			return call;
	return NULL;
}

/* call joins the index under its id. */
static void id_link(struct np_core *core, const struct np_term *t,
		    struct np_call *call)
{
	struct np_call **head;

	call->id_term = t;
	call->id_hash = id_hash(t, call->id);
	head = &core->calls_by_id[call->id_hash & (NP_CALL_BUCKETS - 1)];
	call->id_next = *head;
	*head = call;
}

static void id_unlink(struct np_core *core, struct np_call *call)
{
	struct np_call **p;

	for (p = &core->calls_by_id[call->id_hash & (NP_CALL_BUCKETS - 1)]; *p;
	     p = &(*p)->id_next)
		if (*p == call) {
			*p = call->id_next;
			break;
		}
}

/* Room for one more call's timer, so that linking it cannot fail. */
static int call_timer_room(struct np_core *core)
{
	struct np_timers *h = &core->call_timers;

	return np_timers_reserve(h, h->n + h->n_wheel + 1);
}

void np_call_wake(struct np_core *core, struct np_call *call)
{
	time_t next = core->tick_now + 1;

	/* An orphan's (no driver) is np_core_orphans_tick()'s. Never later
	 * than it was: one due at this very tick stays in it. */
	if (call->term && call->term->driver &&
	    (!np_timer_set_p(&call->check) || next < call->check.due))
		np_timer_set(&core->call_timers, &call->check, next);
}

/* call joins t's calls (first) and the index; the tick looks at it next
 * (call_timer_room() first). */
static void call_link(struct np_core *core, struct np_term *t,
		      struct np_call *call)
{
	call->term = t;
	np_call_wake(core, call);
	call->next = t->calls;
	if (call->next)
		call->next->pprev = &call->next;
	t->calls = call;
	call->pprev = &t->calls;
	t->n_calls++;
	t->n_answered += call->answered;
	id_link(core, t, call);
}

static void call_unlink(struct np_core *core, struct np_term *t,
			struct np_call *call)
{
	*call->pprev = call->next;
	if (call->next)
		call->next->pprev = call->pprev;
	call->pprev = NULL;
	call->term = NULL;
	np_timer_cancel(&core->call_timers, &call->check);
	t->n_calls--;
	t->n_answered -= call->answered;
	id_unlink(core, call);
}

void np_call_rename(struct np_core *core, struct np_term *t,
		    struct np_call *call, const char *id)
{
	if (strcmp(call->id, id)) {
		/* The journal's record of the old id ends with it. */
		np_call_gone(core, t, call);
		id_unlink(core, call);
		snprintf(call->id, sizeof(call->id), "%s", id);
		id_link(core, t, call);
	}
	np_call_changed(core, t, call);
}

/* --- what a call keeps per stream: one block, sized as SDPs come --- */

/* Bytes of a block for n streams: the volumes first (8-byte fields), the
 * streams and their agreed copies, the relay ports last. */
static size_t block_size(size_t n)
{
	return n * (2 * sizeof(struct np_volume) + 2 * sizeof(struct np_stream) +
		    2 * sizeof(uint16_t));
}

/* Points call's arrays into block, laid out for n streams. */
static void block_place(struct np_call *call, char *block, size_t n)
{
	call->gone_up = (struct np_volume *)block;
	call->gone_down = call->gone_up + n;
	call->streams = (struct np_stream *)(call->gone_down + n);
	call->agreed = call->streams + n;
	call->access_ports = (uint16_t *)(call->agreed + n);
	call->core_ports = call->access_ports + n;
	call->room = n;
}

/* call holds no block (what it pointed at is someone else's or freed). */
static void block_none(struct np_call *call)
{
	call->gone_up = call->gone_down = NULL;
	call->streams = call->agreed = NULL;
	call->access_ports = call->core_ports = NULL;
	call->room = 0;
}

int np_call_room(struct np_call *call, size_t n)
{
	struct np_call old = *call;
	char *block;

	if (n > NP_SDP_MAX_MEDIA)
		return -EINVAL;
	if (n <= call->room)
		return 0;
	block = calloc(1, block_size(n));
	if (!block)
		return -ENOMEM;
	block_place(call, block, n);
	if (old.room) {
		memcpy(call->gone_up, old.gone_up, old.room * sizeof(*old.gone_up));
		memcpy(call->gone_down, old.gone_down,
		       old.room * sizeof(*old.gone_down));
		memcpy(call->streams, old.streams, old.room * sizeof(*old.streams));
		memcpy(call->agreed, old.agreed, old.room * sizeof(*old.agreed));
		memcpy(call->access_ports, old.access_ports,
		       old.room * sizeof(*old.access_ports));
		memcpy(call->core_ports, old.core_ports,
		       old.room * sizeof(*old.core_ports));
	}
	free(old.gone_up); /* the block */
	return 0;
}

void np_call_streams_free(struct np_call *call)
{
	size_t i;

	free(call->gone_up); /* the block */
	block_none(call);
	for (i = 0; i < call->n_forks; i++)
		free(call->forks[i]);
	memset(call->forks, 0, sizeof(call->forks));
	call->n_forks = 0;
}

int np_call_copy(struct np_call *dst, const struct np_call *src)
{
	*dst = *src;
	/* Nobody's call yet: no timer (call_link). */
	memset(&dst->check, 0, sizeof(dst->check));
	dst->term = NULL;
	/* None of src's blocks: its own streams, no forks. */
	block_none(dst);
	memset(dst->forks, 0, sizeof(dst->forks));
	dst->n_forks = 0;
	if (np_call_room(dst, src->room))
		return -ENOMEM;
	if (src->room)
		memcpy(dst->gone_up, src->gone_up, block_size(src->room));
	return 0;
}

/* A realm at its concurrent call limit refuses new calls. */
static bool realm_full(const struct np_core *core, size_t realm)
{
	const struct np_realm *r = &core->cfg->realms[realm];

	return r->max_calls && core->live_calls[realm] >= r->max_calls;
}

#define EARLY_CALL_LIFETIME 300 /* s an unanswered call may ring */

static bool too_many_calls(const struct np_core *core, const struct np_term *t)
{
	uint32_t max = core->cfg->realms[np_core_pair(core, t)->first]
			       .max_calls_per_terminal;
	return max && t->n_calls >= max;
}

struct np_call *np_call_new(struct np_core *core, struct np_term *t,
			    const char *id, bool outgoing, time_t now)
{
	const struct np_pair *pair = np_core_pair(core, t);
	struct np_call *call;

	if (pair->draining) {
		np_warn("call '%s' refused: its pair is draining (removed "
			"from the configuration)",
			id);
		return NULL;
	}
	if (realm_full(core, pair->first) || realm_full(core, pair->second)) {
		np_warn("call '%s' refused: concurrent call limit reached", id);
		return NULL;
	}
	if (too_many_calls(core, t)) {
		core->stats.over_limits++;
		np_warn("call '%s' refused: the terminal has %u calls up", id,
			core->cfg->realms[pair->first].max_calls_per_terminal);
		return NULL;
	}
	/* The last relay ports stay for the calls already up (a re-INVITE
	 * adding video), so a burst of new calls cannot take them all. */
	if (np_core_media_reserved(core, t->pair)) {
		core->stats.over_limits++;
		np_warn("call '%s' refused: relay ports down to the reserve",
			id);
		return NULL;
	}
	call = call_timer_room(core) ? NULL : calloc(1, sizeof(*call));
	if (!call)
		return NULL;
	snprintf(call->id, sizeof(call->id), "%s", id);
	call->outgoing = outgoing;
	call->started = now;
	call->wall_start = core->io->wall(core->io_ctx);
	call->expires = now + EARLY_CALL_LIFETIME;
	call->expiry_reason = NP_END_NEVER_ANSWERED;
	call_link(core, t, call);
	core->live_calls[pair->first]++;
	core->live_calls[pair->second]++;
	core->stats.calls_started++;
	core->pair_ctr[t->pair].calls_started++;
	np_call_changed(core, t, call);
	return call;
}

void np_call_answered(struct np_core *core, struct np_term *t,
		      struct np_call *call, time_t now)
{
	if (call->answered)
		return;
	call->answered = true;
	t->n_answered++;
	call->expires = 0;
	call->answered_at = now;
	call->wall_answer = core->io->wall(core->io_ctx);
	np_term_known_sync(core, t);
	np_call_changed(core, t, call);
}

/* call leaves t: unlinked, its flows removed (their last counts in its
 * volumes), its ports freed. false if it was not t's. */
static bool call_release(struct np_core *core, struct np_term *t,
			 struct np_call *call, bool say)
{
	const struct np_pair *pair = np_core_pair(core, t);
	size_t i;

	if (!call->pprev)
		return false; /* not (or no longer) a call of t */
	call_unlink(core, t, call);
	for (i = 0; i < call->n_streams; i++)
		if (say)
			np_stream_release(core, t, call, i);
		else
			np_stream_forget(core, t, call, i);
	core->live_calls[pair->first]--;
	core->live_calls[pair->second]--;
	/* Last: releasing its streams marked it changed. */
	np_call_gone(core, t, call);
	return true;
}

void np_call_end(struct np_core *core, struct np_term *t,
		 struct np_call *call, enum np_end_reason why, time_t now)
{
	if (!call_release(core, t, call, true))
		return;
	np_charge(core, t, call, np_end_reason_names[why]);
	np_info("call '%s' ended (%s) after %lds", call->id,
		np_end_reason_names[why], (long)(now - call->started));
	core->stats.calls_ended++;
	core->pair_ctr[t->pair].calls_ended[why]++;
	free(call->dialog);
	np_call_streams_free(call);
	free(call);
	np_term_known_sync(core, t);
	if (!t->calls)
		t->idle_since = now;
}

/*
 * Flows are removed only when a call ends, right before its charging
 * record is written. A saved call with streams none of whose flows remain
 * ended after the state file was last written: it was billed then, and
 * adopting it would bill it a second time.
 */
static bool saved_call_live(const struct np_core *core,
			    const struct np_pair *pair,
			    const struct np_call *call)
{
	const struct np_realm *access = &core->cfg->realms[pair->first];
	struct np_flow_key key;
	bool streams = false;
	struct np_flow flow;
	size_t i;

	for (i = 0; i < call->n_streams; i++) {
		if (!call->streams[i].active)
			continue;
		streams = true;
		np_core_key(&key, access, call->streams[i].access_port);
		if (!core->io->flow_get(core->io_ctx, &key, &flow))
			return true;
	}
	return !streams;
}

/* saved made one of t's calls, its relay ports taken from the pools. */
static int adopt(struct np_core *core, struct np_term *t,
		 const struct np_call *saved, void *dialog,
		 struct np_call **out)
{
	const struct np_pair *pair = np_core_pair(core, t);
	struct np_portpool *acc = &core->media_ports[pair->first];
	struct np_portpool *corep = &core->media_ports[pair->second];
	struct np_call *call;
	size_t i, j;
	int err = 0;

	call = call_timer_room(core) ? NULL : malloc(sizeof(*call));
	if (!call)
		return -ENOMEM;
	/* Its own copy of what the reader holds per stream. */
	if (np_call_copy(call, saved)) {
		free(call);
		return -ENOMEM;
	}
	call->dialog = dialog;
	for (i = 0; i < call->n_streams && !err; i++) {
		const struct np_stream *s = &call->streams[i];

		if (!s->active)
			continue;
		err = np_portpool_take(acc, s->access_port, 2);
		if (!err) {
			err = np_portpool_take(corep, s->core_port, 2);
			if (err)
				np_portpool_put_pair(acc, s->access_port);
		}
	}
	if (err) {
		for (j = 0; j + 1 < i; j++) {
			if (!call->streams[j].active)
				continue;
			np_portpool_put_pair(acc, call->streams[j].access_port);
			np_portpool_put_pair(corep, call->streams[j].core_port);
		}
		np_call_streams_free(call);
		free(call);
		return err;
	}
	call_link(core, t, call);
	for (i = 0; i < call->n_streams; i++)
		if (call->streams[i].active)
			np_media_hold_ports(core, t, call, &call->streams[i]);
	core->live_calls[pair->first]++;
	core->live_calls[pair->second]++;
	np_term_known_sync(core, t);
	np_term_wake(core, t);
	*out = call;
	return 0;
}

int np_core_adopt_call(struct np_core *core, struct np_term *t,
		       const struct np_call *saved, void *dialog)
{
	struct np_call *call;

	if (!saved_call_live(core, np_core_pair(core, t), saved))
		return -ESTALE;
	return adopt(core, t, saved, dialog, &call);
}

int np_core_mirror_call(struct np_core *core, struct np_term *t,
			const struct np_call *saved, void *dialog)
{
	struct np_call *call;
	int err = adopt(core, t, saved, dialog, &call);

	if (err)
		return err;
	err = np_media_install(core, t, call);
	if (err) {
		call->dialog = NULL; /* the caller's again */
		np_call_forget(core, t, call);
	}
	return err;
}

void np_call_forget(struct np_core *core, struct np_term *t,
		    struct np_call *call)
{
	if (!call_release(core, t, call, false))
		return;
	free(call->dialog);
	np_call_streams_free(call);
	free(call);
	np_term_known_sync(core, t);
}
