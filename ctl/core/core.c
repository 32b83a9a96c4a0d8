// SPDX-License-Identifier: GPL-2.0-only
/*
 * The call core's life: set-up from the configuration, growth at a reload,
 * the once-a-second tick (calls that never answered or went silent,
 * registrations that ran out, keepalives, quarantined ports), and the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core/core.h"
#include "log.h"

#define KEEPALIVE_MISSES 3 /* unanswered keepalives before a binding goes */
#define IDLE_TERM_LIFETIME 64 /* s an unregistered, idle terminal is kept */
/* A terminal that never registered nor called holds a core port only as
 * long as a REGISTER's challenge and retry take: a flood of REGISTERs from
 * spoofed sources, never answered, gives its ports back soon. */
#define NEWCOMER_LIFETIME 16

const char *np_sockaddr_str(const struct np_sockaddr *a, char *buf,
			    size_t len)
{
	char host[INET6_ADDRSTRLEN + 2];

	snprintf(buf, len, "%s:%u", np_sipaddr_host(a, host, sizeof(host)),
		 a->port);
	return buf;
}

/* The core ends a call on its own: the driver tells both sides first. */
static void abort_call(struct np_core *core, struct np_term *t,
		       struct np_call *call, enum np_end_reason why, time_t now)
{
	if (t->driver && t->driver->call_abort)
		t->driver->call_abort(t->driver->ctx, t, call, why);
	np_call_end(core, t, call, why, now);
}

/* The silences t's answered calls may keep before they are ended (0: no
 * limit), the same for all of them: the media timeout, or for a call on
 * hold (no RTCP from many phones) the hold timeout. */
struct silence_limits {
	uint32_t media, hold;
};

static struct silence_limits silence_limits(const struct np_core *core,
					    const struct np_term *t)
{
	const struct np_pair *pair = np_core_pair(core, t);
	const struct np_realm *acc = &core->cfg->realms[pair->first];
	const struct np_realm *cor = &core->cfg->realms[pair->second];
	struct silence_limits l;

	l.media = acc->media_timeout < cor->media_timeout ? acc->media_timeout :
							    cor->media_timeout;
	l.hold = np_realm_hold_timeout(acc) < np_realm_hold_timeout(cor) ?
			 np_realm_hold_timeout(acc) :
			 np_realm_hold_timeout(cor);
	return l;
}

static time_t earlier(time_t a, time_t b)
{
	return b && (!a || b < a) ? b : a;
}

/* Ends call if it expired or went silent: true if it did. Otherwise
 * *due: when it is next worth a look (0: not until it changes). */
static bool check_call(struct np_core *core, struct np_term *t,
		       struct np_call *call, time_t now, time_t *due)
{
	struct silence_limits lim;
	uint32_t limit;
	bool held;

	*due = 0;
	if (call->expires && call->expires <= now) {
		np_call_end(core, t, call, call->expiry_reason, now);
		return true;
	}
	*due = call->expires;
	if (!call->answered)
		return false;
	lim = silence_limits(core, t);
	held = np_media_on_hold(call);
	limit = held ? lim.hold : lim.media;
	if (!limit)
		return false;
	if (!np_media_silent(core, t, call, limit, now)) {
		/* It says when it is next worth a look. */
		*due = earlier(*due, call->media_limit == limit ?
					     call->media_check_at :
					     now + 1);
		return false;
	}
	np_warn("call '%s': no media for %us%s: ending it", call->id, limit,
		held ? " on hold" : "");
	core->stats.media_timeouts++;
	abort_call(core, t, call,
		   held ? NP_END_HOLD_TIMEOUT : NP_END_MEDIA_TIMEOUT, now);
	return true;
}

/* A draining pair's access socket closes with its last terminal. */
static void close_drained(struct np_core *core)
{
	const struct np_pair *p;
	size_t i;

	for (i = 0; i < core->cfg->n_pairs; i++) {
		p = &core->cfg->pairs[i];
		if (p->draining && !np_core_pair_terms(core, i))
			core->io->signal_close(core->io_ctx, p->first,
					       core->cfg->realms[p->first].sip_port);
	}
}

bool np_core_admit(struct np_core *core, size_t realm,
		   const struct np_sockaddr *src, time_t now)
{
	const struct np_realm *r = &core->cfg->realms[realm];
	const struct np_admit_limits lim = { r->max_mapping_rate,
					     r->max_address_rate,
					     r->max_prefix_rate };
	enum np_over over;
	struct np_sockaddr key;
	uint8_t len;

	if (np_admit(&core->admission, src, &lim, now, &over))
		return true;
	core->stats.rate_limited++;
	if (over != NP_OVER_NONE && r->block_time &&
	    core->io->source_block) {
		np_source_narrow(src, over, &key, &len);
		core->io->source_block(core->io_ctx, &key, len, r->block_time);
		core->stats.sources_blocked++;
	}
	return false;
}

/* When the tick next has something to do for t, visited at now: the
 * earliest of what visit_term() checks by time (0: nothing until t
 * changes); its calls have timers of their own. */
static time_t term_next_visit(const struct np_term *t, time_t now)
{
	time_t due = 0;

	if (t->registered_until) {
		due = earlier(due, t->registered_until);
		due = earlier(due, t->ka_due);
	} else if (!t->calls) {
		due = earlier(due, t->idle_since + (t->ever_registered ?
							    IDLE_TERM_LIFETIME :
							    NEWCOMER_LIFETIME));
	}
	return due && due <= now ? now + 1 : due;
}

/* What the tick does for one terminal: false if it was freed. */
static bool visit_term(struct np_core *core, struct np_term *t, time_t now)
{
	char where[64];

	if (t->registered_until && t->registered_until <= now) {
		np_info("registration of %s expired",
			np_sockaddr_str(&t->nat, where, sizeof(where)));
		np_term_unregistered(core, t);
		t->idle_since = now;
		np_term_changed(core, t);
	}
	if (!t->registered_until) {
		time_t keep = t->ever_registered ? IDLE_TERM_LIFETIME :
						   NEWCOMER_LIFETIME;

		if (!t->calls && now - t->idle_since >= keep) {
			np_term_free(core, t, NP_END_IDLE, now);
			return false;
		}
		return true;
	}
	if (now < t->ka_due)
		return true;
	t->ka_due = np_term_ka_next(core, t, now);
	if (t->ka_sent) {
		core->stats.keepalives_unanswered++;
		/* Not the terminal's fault when natproxyd's own socket
		 * dropped datagrams since (its answer may be among them):
		 * under an overload of its own, natproxyd would otherwise drop
		 * the bindings of terminals that answer. Its registration's
		 * expiry still ends a binding no one refreshes. */
		if (core->realm_input[np_core_pair(core, t)->first].lost_at >
		    t->ka_sent) {
			core->stats.keepalive_misses_excused++;
		} else if (++t->ka_missed >= KEEPALIVE_MISSES) {
			np_warn("terminal at %s stopped answering keepalives: "
				"binding dropped",
				np_sockaddr_str(&t->nat, where, sizeof(where)));
			core->stats.bindings_lost++;
			np_term_free(core, t, NP_END_KEEPALIVE_LOST, now);
			return false;
		}
	}
	core->stats.keepalives_sent++;
	t->ka_sent = 0;
	if (t->driver && t->driver->keepalive &&
	    t->driver->keepalive(t->driver->ctx, t))
		t->ka_sent = now; /* an answer awaited (not to a CRLF) */
	return true;
}

/* Whether this node acts for t; when it does not, t's timer tm is set to
 * the next tick (a standby takes over at once when it must). */
static bool acting_for(struct np_core *core, struct np_term *t,
		       struct np_timers *h, struct np_timer *tm, time_t now)
{
	if (!core->acting || core->acting(core->acting_arg, t))
		return true;
	np_timer_set(h, tm, now + 1);
	return false;
}

/* The terminals due now, up to *max of them; false if more are due. */
static bool visit_due_terms(struct np_core *core, time_t now, size_t *max)
{
	struct np_timer *tm;
	struct np_term *t;
	time_t due;

	for (; *max; --*max) {
		tm = np_timer_take(&core->term_timers, now);
		if (!tm)
			return true;
		t = (struct np_term *)((char *)tm -
				       offsetof(struct np_term, visit));
		if (!acting_for(core, t, &core->term_timers, tm, now) ||
		    !visit_term(core, t, now))
			continue;
		due = term_next_visit(t, now);
		if (due)
			np_timer_set(&core->term_timers, &t->visit, due);
		else
			np_timer_cancel(&core->term_timers, &t->visit);
	}
	return false;
}

/* The calls due now, up to *max of them; false if more are due. */
static bool check_due_calls(struct np_core *core, time_t now, size_t *max)
{
	struct np_timer *tm;
	struct np_call *call;
	time_t due;

	for (; *max; --*max) {
		tm = np_timer_take(&core->call_timers, now);
		if (!tm)
			return true;
		call = (struct np_call *)((char *)tm -
					  offsetof(struct np_call, check));
		if (!acting_for(core, call->term, &core->call_timers, tm, now) ||
		    check_call(core, call->term, call, now, &due) || !due)
			continue;
		/* One whose media was never read, or under another limit,
		 * is read at the next tick, as np_media_silent() would. */
		np_timer_set(&core->call_timers, &call->check,
			     due <= now ? now + 1 : due);
	}
	return false;
}

/*
 * Only the terminals and calls due now are looked at (core->term_timers,
 * core->call_timers), each then set to when it is next due: the tick
 * costs O(what is due), not O(terminals) nor O(a PBX's calls). One that
 * changes in between is brought to the next tick (np_term_wake,
 * np_call_wake), so none is looked at later than a walk over all of them
 * would have acted on it.
 */
void np_core_tick(struct np_core *core, time_t now)
{
	np_core_tick_some(core, now, SIZE_MAX);
}

bool np_core_tick_some(struct np_core *core, time_t now, size_t max)
{
	core->tick_now = now;
	if (!visit_due_terms(core, now, &max) ||
	    !check_due_calls(core, now, &max))
		return false;
	np_core_orphans_tick(core, now);
	np_core_quarantine_expire(core, now);
	close_drained(core);
	return true;
}

void np_core_input_drops(struct np_core *core, size_t realm,
			 uint64_t sockets_dropped, time_t now)
{
	struct np_realm_input *in;

	if (realm >= core->cfg->n_realms)
		return;
	in = &core->realm_input[realm];
	if (sockets_dropped > in->sockets_dropped) {
		in->dropped += sockets_dropped - in->sockets_dropped;
		in->lost_at = now;
	}
	in->sockets_dropped = sockets_dropped;
}

static int pools_init(struct np_core *core, const struct np_config *cfg,
		      size_t from)
{
	size_t i;
	int err = 0;

	for (i = from; i < cfg->n_realms && !err; i++) {
		const struct np_realm *r = &cfg->realms[i];

		err = np_portpool_init(&core->media_ports[i], r->media_ports.lo,
				       r->media_ports.hi);
		if (!err && r->sip_ports.lo)
			err = np_portpool_init(&core->signal_ports[i],
					       r->sip_ports.lo, r->sip_ports.hi);
	}
	return err;
}

int np_core_init(struct np_core *core, const struct np_config *cfg,
		 const struct np_core_io *io, void *io_ctx)
{
	int err;

	memset(core, 0, sizeof(*core));
	core->cfg = cfg;
	core->io = io;
	core->io_ctx = io_ctx;
	core->signal_ports = calloc(cfg->n_realms, sizeof(*core->signal_ports));
	core->media_ports = calloc(cfg->n_realms, sizeof(*core->media_ports));
	core->live_calls = calloc(cfg->n_realms, sizeof(*core->live_calls));
	core->ifindex = calloc(cfg->n_realms, sizeof(*core->ifindex));
	core->link_flags = calloc(cfg->n_realms, sizeof(*core->link_flags));
	core->realm_media = calloc(cfg->n_realms, sizeof(*core->realm_media));
	core->realm_input = calloc(cfg->n_realms, sizeof(*core->realm_input));
	core->pair_ctr = calloc(cfg->n_pairs, sizeof(*core->pair_ctr));
	if (!core->signal_ports || !core->media_ports || !core->live_calls ||
	    !core->ifindex || !core->link_flags || !core->realm_media ||
	    !core->realm_input || !core->pair_ctr)
		err = -ENOMEM;
	else
		err = pools_init(core, cfg, 0);
	if (!err)
		err = np_admission_init(&core->admission);
	if (!err)
		err = np_terms_init(core);
	if (!err)
		err = np_calls_init(core);
	if (err)
		np_core_fini(core);
	return err;
}

/* Grows a per-realm (or per-pair) array to n entries, the new ones zeroed. */
int np_array_grow(void **arr, size_t size, size_t old_n, size_t n)
{
	void *p;

	if (n <= old_n)
		return 0;
	p = realloc(*arr, n * size);

	if (!p)
		return -ENOMEM;
	memset((char *)p + old_n * size, 0, (n - old_n) * size);
	*arr = p;
	return 0;
}

int np_core_reconfigure(struct np_core *core, const struct np_config *next)
{
	size_t old_n = core->cfg->n_realms, n = next->n_realms, i;
	struct np_term *t;
	struct np_call *call;
	int err;

	if (n < old_n || next->n_pairs < core->cfg->n_pairs)
		return -EINVAL;
	if (np_array_grow((void **)&core->signal_ports, sizeof(*core->signal_ports),
		 old_n, n) ||
	    np_array_grow((void **)&core->media_ports, sizeof(*core->media_ports),
		 old_n, n) ||
	    np_array_grow((void **)&core->live_calls, sizeof(*core->live_calls), old_n,
		 n) ||
	    np_array_grow((void **)&core->ifindex, sizeof(*core->ifindex), old_n, n) ||
	    np_array_grow((void **)&core->link_flags, sizeof(*core->link_flags), old_n,
		 n) ||
	    np_array_grow((void **)&core->realm_media, sizeof(*core->realm_media),
		 old_n, n) ||
	    np_array_grow((void **)&core->realm_input, sizeof(*core->realm_input),
		 old_n, n) ||
	    np_array_grow((void **)&core->pair_ctr, sizeof(*core->pair_ctr),
		 core->cfg->n_pairs, next->n_pairs))
		return -ENOMEM; /* larger arrays are harmless */
	err = pools_init(core, next, old_n);
	if (err) {
		for (i = old_n; i < n; i++) {
			np_portpool_fini(&core->signal_ports[i]);
			np_portpool_fini(&core->media_ports[i]);
		}
		return err;
	}
	core->cfg = next;
	/* No record changes (every pair keeps its index and addresses,
	 * ctl/proxy.h), the file is written whole again all the same: a
	 * slice a turn, every save meanwhile journaled. */
	np_core_rewrite_all(core);
	/* Timeouts and intervals may have changed: every terminal and call
	 * is seen again at the next tick (once per reload). */
	for (t = core->terms; t; t = t->next) {
		np_term_wake(core, t);
		for (call = t->calls; call; call = call->next)
			np_call_wake(core, call);
	}
	return 0;
}

static void free_all(struct np_core *core)
{
	size_t i;

	np_core_quarantine_expire(core, 0);
	np_admission_fini(&core->admission);
	np_terms_fini(core);
	np_calls_fini(core);
	for (i = 0; core->cfg && i < core->cfg->n_realms; i++) {
		if (core->signal_ports)
			np_portpool_fini(&core->signal_ports[i]);
		if (core->media_ports)
			np_portpool_fini(&core->media_ports[i]);
	}
	free(core->signal_ports);
	free(core->media_ports);
	free(core->live_calls);
	free(core->ifindex);
	free(core->link_flags);
	free(core->realm_media);
	free(core->realm_input);
	free(core->pair_ctr);
	core->signal_ports = core->media_ports = NULL;
	core->live_calls = core->ifindex = core->link_flags = NULL;
	core->realm_media = NULL;
	core->realm_input = NULL;
	core->pair_ctr = NULL;
	if (core->charge_buf.f)
		fclose(core->charge_buf.f);
	free(core->charge_buf.text);
	memset(&core->charge_buf, 0, sizeof(core->charge_buf));
}

void np_core_fini(struct np_core *core)
{
	while (core->terms)
		np_term_free(core, core->terms, NP_END_SHUTDOWN, 0);
	np_core_orphans_end(core, NP_END_SHUTDOWN, 0);
	free_all(core);
}

void np_core_forget(struct np_core *core)
{
	struct np_term *t;
	struct np_call *call;

	while ((t = core->terms)) {
		core->terms = t->next;
		while ((call = t->calls)) {
			t->calls = call->next;
			free(call->dialog);
			np_call_streams_free(call);
			free(call);
		}
		if (t->driver && t->driver->term_free)
			t->driver->term_free(t->driver->ctx, t);
		free(t);
	}
	np_core_orphans_forget(core);
	free_all(core);
}

int np_fields_split(char *text, char sep, char **field, size_t n)
{
	char seps[2] = { sep, '\0' }, *p = text;
	size_t i;

	/* strsep, not strtok: an empty field is a field. */
	for (i = 0; i + 1 < n && p; i++)
		field[i] = strsep(&p, seps);
	if (!p || !n)
		return -EINVAL;
	field[n - 1] = p;
	return 0;
}
