// SPDX-License-Identifier: GPL-2.0-only
/* The active node's journal entries applied to a standby (follow.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster/follow.h"
#include "log.h"
#include "state.h"

/* One entry of the peer's stream, applied from pos on. */
struct entry {
	struct entry *next;
	bool snapshot, started;
	char *text;
	size_t len, pos;
	time_t shift;
};

struct np_follower {
	struct np_proxy *px;
	/* The share followed: its realms (bit i: realms[i]); 0: every
	 * realm. Records of other shares' terminals are passed over. */
	uint64_t realms;
	struct entry *head, *tail;
	/* The snapshot being applied (or the last one): the terminals it
	 * names carry it in copied_seen; once it is all applied, those that
	 * do not are gone. */
	uint32_t snapshot;
};

/* One record being applied: what the visitors need. */
struct follow {
	struct np_proxy *px;
	time_t shift, now;
	uint64_t hash; /* of the record's text */
	uint32_t seen;
	struct np_term *term; /* the record's terminal, once copied */
	struct np_follow_report *rep;
	bool replace; /* a call record: its leg replaces the call of its id */
};

static time_t shifted(time_t t, time_t shift)
{
	return t ? t + shift : 0;
}

static struct np_term *term_of(struct np_core *core, size_t pair,
			       uint16_t core_port)
{
	if (pair >= core->cfg->n_pairs)
		return NULL;
	return np_term_by_core_port(core, core->cfg->pairs[pair].second,
				    core_port);
}

/* Whether the terminal of saved is held as this very record made it:
 * then nothing of it is touched (its flows keep their latches). Else
 * the terminal we held under its key is dropped, to be copied again. */
static bool held(struct follow *f, const struct np_term *saved)
{
	struct np_core *core = &f->px->core;
	struct np_term *old = term_of(core, saved->pair, saved->core_port);

	f->term = NULL;
	if (old && old->copied_from == f->hash) {
		old->copied_seen = f->seen;
		f->rep->unchanged++;
		return true;
	}
	if (old)
		np_term_forget(core, old);
	return false;
}

/* The record's terminal copied (err: why not). */
static void copied(struct follow *f, struct np_term *t, uint16_t core_port,
		   int err)
{
	if (err) {
		np_warn("cluster: terminal with core port %u not copied: %s",
			core_port, strerror(-err));
		f->rep->failed++;
		return;
	}
	t->copied_from = f->hash;
	t->copied_seen = f->seen;
	t->latch_due = true;
	f->term = t;
	f->rep->terms++;
}

/* saved's times made ours (its bindings' in place: the reader's). */
static struct np_term shifted_term(const struct follow *f,
				   const struct np_term *saved)
{
	struct np_sip_term *st = saved->signaling;
	struct np_term copy = *saved;
	size_t i;

	copy.registered_until = shifted(saved->registered_until, f->shift);
	for (i = 0; st && i < st->n_bindings; i++)
		st->binding_until[i] = shifted(st->binding_until[i], f->shift);
	return copy;
}

static int on_term(void *arg, const struct np_term *saved,
		   const struct np_sockaddr *access,
		   const struct np_sockaddr *core_addr)
{
	struct follow *f = arg;
	struct np_term copy, *t = NULL;

	(void)access, (void)core_addr;
	if (held(f, saved))
		return 0;
	copy = shifted_term(f, saved);
	copied(f, t, saved->core_port,
	       np_proxy_adopt_term(f->px, &copy, f->now, &t));
	return 0;
}

/* A terminal's own fields: the one we hold takes them, its calls and
 * their flows untouched (copied again, whole, from the next snapshot);
 * one we do not hold is made, without calls. */
static int on_term_fields(void *arg, const struct np_term *saved,
			  const struct np_sockaddr *access,
			  const struct np_sockaddr *core_addr)
{
	struct follow *f = arg;
	struct np_term *t = term_of(&f->px->core, saved->pair,
				    saved->core_port);
	struct np_term copy;
	int err;

	if (!t)
		return on_term(arg, saved, access, core_addr);
	copy = shifted_term(f, saved);
	err = np_proxy_refresh_term(f->px, t, &copy, f->now);
	if (err) {
		/* Not ours to keep as it was: copied again when named. */
		np_term_forget(&f->px->core, t);
		copied(f, NULL, saved->core_port, err);
		return 0;
	}
	t->copied_from = 0;
	f->rep->terms++;
	return 0;
}

static int on_gw(void *arg, const char *driver, const struct np_term *saved,
		 const struct np_sockaddr *access,
		 const struct np_sockaddr *core_addr, const char *data)
{
	struct follow *f = arg;
	struct np_term copy = *saved, *t = NULL;

	(void)access, (void)core_addr;
	if (held(f, saved))
		return 0;
	copy.registered_until = shifted(saved->registered_until, f->shift);
	copied(f, t, saved->core_port,
	       np_proxy_adopt_gw(f->px, driver, &copy, data, f->now, &t));
	return 0;
}

/* A gateway's own fields, as a SIP terminal's (on_term_fields): the one
 * we hold takes them, its calls and their flows untouched; one we do not
 * hold is made, without calls. */
static int on_gw_fields(void *arg, const char *driver,
			const struct np_term *saved,
			const struct np_sockaddr *access,
			const struct np_sockaddr *core_addr, const char *data)
{
	struct follow *f = arg;
	struct np_term *t = term_of(&f->px->core, saved->pair,
				    saved->core_port);
	struct np_term copy = *saved;
	int err;

	if (!t)
		return on_gw(arg, driver, saved, access, core_addr, data);
	copy.registered_until = shifted(saved->registered_until, f->shift);
	err = np_proxy_refresh_gw(f->px, t, driver, &copy, data, f->now);
	if (err) {
		/* Not ours to keep as it was (another driver's, a terminal
		 * whose tombstone was lost): made again, without calls. */
		np_term_forget(&f->px->core, t);
		return on_gw(arg, driver, saved, access, core_addr, data);
	}
	t->copied_from = 0;
	f->rep->terms++;
	return 0;
}

/* A call as ours: its times made ours. */
static void call_times(const struct follow *f, const struct np_call *saved,
		       struct np_call *copy)
{
	*copy = *saved;
	copy->started = shifted(saved->started, f->shift);
	copy->expires = shifted(saved->expires, f->shift);
	copy->answered_at = shifted(saved->answered_at, f->shift);
}

static void call_copied(struct follow *f, const char *id, int err)
{
	if (err) {
		np_warn("cluster: call '%s' not copied: %s", id,
			strerror(-err));
		f->rep->failed++;
		return;
	}
	f->rep->calls++;
}

/* A call record's call (f->replace) takes the place of the one of its id
 * we hold. */
static void call_replaced(struct follow *f, const struct np_call *saved)
{
	struct np_call *old;

	if (f->replace && (old = np_call_find(&f->px->core, f->term, saved->id)))
		np_call_forget(&f->px->core, f->term, old);
}

static int on_leg(void *arg, const struct np_call *saved)
{
	struct follow *f = arg;
	struct np_call copy;

	if (!f->term)
		return 0;
	call_replaced(f, saved);
	call_times(f, saved, &copy);
	call_copied(f, saved->id, np_proxy_mirror_call(f->px, f->term, &copy));
	return 0;
}

static int on_gw_call(void *arg, const struct np_call *saved,
		      const char *data)
{
	struct follow *f = arg;
	struct np_call copy;

	if (!f->term)
		return 0;
	call_replaced(f, saved);
	call_times(f, saved, &copy);
	call_copied(f, saved->id,
		    np_proxy_mirror_gw_call(f->px, f->term, &copy, data));
	return 0;
}

/* A call record's terminal (or gateway): the leg (gwcall) that follows
 * replaces its call of the same id. It no longer is as its last whole record made it: the next
 * snapshot copies it again (a call tombstone lost would else stay). */
static int on_call(void *arg, size_t pair, uint16_t core_port)
{
	struct follow *f = arg;

	f->term = term_of(&f->px->core, pair, core_port);
	if (f->term) {
		f->term->copied_from = 0;
		f->replace = true;
	}
	return 0;
}

static int on_call_gone(void *arg, size_t pair, uint16_t core_port,
			const char *id)
{
	struct follow *f = arg;
	struct np_term *t = term_of(&f->px->core, pair, core_port);
	struct np_call *call = t ? np_call_find(&f->px->core, t, id) : NULL;

	if (t)
		t->copied_from = 0;
	if (call)
		np_call_forget(&f->px->core, t, call);
	f->rep->calls_gone++;
	return 0;
}

static int on_gone(void *arg, size_t pair, uint16_t core_port)
{
	struct follow *f = arg;
	struct np_term *t = term_of(&f->px->core, pair, core_port);

	if (t)
		np_term_forget(&f->px->core, t);
	f->rep->gone++;
	return 0;
}

void np_follow_forget_all(struct np_proxy *px)
{
	while (px->core.terms)
		np_term_forget(&px->core, px->core.terms);
}

/* 64-bit FNV-1a: a record's identity (0 stays "not a copy"). */
static uint64_t text_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

/* Whether the line at p continues a record (a call or stream of it). */
static bool continues(const char *p, size_t n)
{
	return (n > 4 && !strncmp(p, "leg ", 4)) ||
	       (n > 7 && !strncmp(p, "stream ", 7)) ||
	       (n > 7 && !strncmp(p, "gwcall ", 7));
}

/* The end of the unit of text that starts at pos: its first line and
 * every line that continues it (a record), or its one line (a tombstone,
 * commit...). */
static size_t unit_end(const char *text, size_t len, size_t pos)
{
	const char *nl;
	bool first = true;

	while (pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		if (!first &&
		    !continues(text + pos,
			       (nl ? (size_t)(nl - text) : len) - pos))
			break;
		first = false;
		pos = nl ? (size_t)(nl - text) + 1 : len;
	}
	return pos;
}

/* Whether the unit at p (n bytes) is another share's than realms'. */
static bool other_share(const struct np_config *cfg, uint64_t realms,
			const char *p, size_t n)
{
	size_t pair;

	return realms && !np_follow_unit_pair(p, n, &pair) &&
	       !np_follow_pair_in(cfg, realms, pair);
}

size_t np_follow_filter(const struct np_config *cfg, uint64_t realms,
			const char *text, size_t len, char *out)
{
	size_t pos = 0, end, n = 0;

	while (pos < len) {
		end = unit_end(text, len, pos);
		if (!other_share(cfg, realms, text + pos, end - pos)) {
			memcpy(out + n, text + pos, end - pos);
			n += end - pos;
		}
		pos = end;
	}
	return n;
}

/* The next record (or line) of e, applied. */
static void apply_unit(struct np_follower *fl, struct entry *e, time_t now,
		       struct np_follow_report *rep)
{
	static const struct np_state_visit visit = {
		.term = on_term, .leg = on_leg, .gone = on_gone,
		.gw = on_gw, .gw_call = on_gw_call, .call = on_call,
		.call_gone = on_call_gone, .term_fields = on_term_fields,
		.gw_fields = on_gw_fields
	};
	size_t end = unit_end(e->text, e->len, e->pos);
	struct follow f = { fl->px, e->shift, now, 0, fl->snapshot, NULL,
			    rep, false };
	struct np_state_report srep;
	struct np_term_key k;
	struct np_term *old;

	/* Another share's terminal (the writer's stream holds its whole
	 * state): not ours to copy or remove. */
	if (other_share(fl->px->core.cfg, fl->realms, e->text + e->pos,
			end - e->pos)) {
		rep->other++;
		e->pos = end;
		return;
	}

	f.hash = text_hash(e->text + e->pos, end - e->pos);
	/* Held as this very record made it: not even parsed. */
	if (!np_state_record_key(e->text + e->pos, end - e->pos, &k) &&
	    (old = term_of(&fl->px->core, k.pair, k.core_port)) &&
	    old->copied_from == f.hash) {
		old->copied_seen = fl->snapshot;
		rep->unchanged++;
		e->pos = end;
		return;
	}
	if (np_state_apply(e->text + e->pos, end - e->pos, &visit, &f, &srep))
		rep->failed++; /* no memory: the record is not copied */
	rep->bad += srep.bad;
	e->pos = end;
}

bool np_follow_pair_in(const struct np_config *cfg, uint64_t realms,
			size_t pair)
{
	return !realms ||
	       (pair < cfg->n_pairs && cfg->pairs[pair].first < 64 &&
		(realms & 1ull << cfg->pairs[pair].first));
}

int np_follow_unit_pair(const char *p, size_t n, size_t *pair)
{
	/* Gateways' own lines name their driver before the pair. */
	static const char *const kinds[] = { "gw ", "gw-fields ", "term ",
					     "orphan ", "gone ", "orphan-gone ",
					     "call ", "call-gone ", "term-fields ",
					     "gw-call " };
	unsigned long v;
	size_t i, k;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		k = strlen(kinds[i]);
		if (n > k && !strncmp(p, kinds[i], k))
			break;
	}
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return -ENOENT;
	p += k;
	n -= k;
	if (i <= 1) { /* gw DRIVER PAIR, gw-fields DRIVER PAIR */
		const char *sp = memchr(p, ' ', n);

		if (!sp)
			return -EINVAL;
		n -= (size_t)(sp + 1 - p);
		p = sp + 1;
	}
	for (v = 0, i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > 1000000)
			return -EINVAL;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (!i || (i < n && p[i] != ' ' && p[i] != '\n'))
		return -EINVAL;
	*pair = v;
	return 0;
}

/* The terminals the snapshot did not name, dropped until `until` (ms);
 * true once none is left. */
static bool sweep(struct np_follower *fl, double until,
		  struct np_follow_report *rep)
{
	struct np_term *t, *next;

	for (t = fl->px->core.terms; t; t = next) {
		next = t->next;
		if (t->copied_seen == fl->snapshot ||
		    !np_follow_pair_in(fl->px->core.cfg, fl->realms, t->pair))
			continue;
		np_term_forget(&fl->px->core, t);
		rep->swept++;
		if (np_now_ms() >= until)
			return false;
	}
	return true;
}

bool np_follower_step(struct np_follower *fl, time_t now, double budget_ms,
		      struct np_follow_report *rep)
{
	double until = np_now_ms() + budget_ms;
	struct entry *e;

	while ((e = fl->head)) {
		if (!e->started && e->snapshot)
			fl->snapshot++;
		e->started = true;
		if (e->pos < e->len) {
			apply_unit(fl, e, now, rep);
		} else if (!e->snapshot || sweep(fl, until, rep)) {
			fl->head = e->next;
			if (!fl->head)
				fl->tail = NULL;
			free(e->text);
			free(e);
		}
		if (np_now_ms() >= until)
			break;
	}
	return fl->head != NULL;
}

void np_follower_drain(struct np_follower *fl, time_t now,
		       struct np_follow_report *rep)
{
	while (np_follower_step(fl, now, 1e9, rep))
		;
}

bool np_follower_busy(const struct np_follower *fl)
{
	return fl->head != NULL;
}

void np_follower_push(struct np_follower *fl, bool snapshot, char *text,
		      size_t len, time_t shift)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e) {
		np_warn("cluster: no memory to queue an entry of the peer");
		free(text);
		return;
	}
	e->snapshot = snapshot;
	e->text = text;
	e->len = len;
	e->shift = shift;
	if (fl->tail)
		fl->tail->next = e;
	else
		fl->head = e;
	fl->tail = e;
}

int np_follower_new(struct np_follower **out, struct np_proxy *px,
		    uint64_t realms)
{
	struct np_follower *fl = calloc(1, sizeof(*fl));

	if (!fl)
		return -ENOMEM;
	fl->px = px;
	fl->realms = realms;
	*out = fl;
	return 0;
}

void np_follower_free(struct np_follower *fl)
{
	struct entry *e, *next;

	if (!fl)
		return;
	for (e = fl->head; e; e = next) {
		next = e->next;
		free(e->text);
		free(e);
	}
	free(fl);
}
