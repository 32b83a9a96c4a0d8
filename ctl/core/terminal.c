// SPDX-License-Identifier: GPL-2.0-only
/*
 * Terminals: known by their NAT mapping, each with a signaling port of its
 * own on the core realm (claim 1) and a socket there. A released port is
 * quarantined before another terminal gets it, so requests the softswitch
 * still sends to the old subscriber's address reach no one else.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core/core.h"
#include "log.h"

/* --- the index: by NAT mapping, by core port, counts per address --- */

static uint32_t addr_hash(const struct np_sockaddr *a, uint32_t h)
{
	const unsigned char *p = (const unsigned char *)&a->addr;
	size_t n = a->family == AF_INET6 ? 16 : 4, i;

	h ^= a->port;
	for (i = 0; i < n; i++) { /* FNV-1a */
		h ^= p[i];
		h *= 16777619u;
	}
	return h & (NP_TERM_BUCKETS - 1);
}

static uint32_t nat_bucket(size_t pair, const struct np_sockaddr *nat)
{
	return addr_hash(nat, 2166136261u ^ (uint32_t)pair);
}

static uint32_t port_bucket(size_t realm, uint16_t port)
{
	return ((uint32_t)realm * 65537u + port) & (NP_TERM_BUCKETS - 1);
}

/* --- what changed since the last save: core->dirty_terms, dirty_calls --- */

/*
 * Intrusive and doubly linked (a member leaves in O(1)); each member links
 * itself by its own typed fields dirty, dirty_next and dirty_pprev, which
 * the journal walks (state.c). One list code, made for each type: push (to
 * the head, unless on already), unlink (if on) and clear.
 */
#define DIRTY_LIST(name, type)                                         \
	static void name##_push(type **head, type *x)                  \
	{                                                              \
		if (x->dirty)                                          \
			return;                                        \
		x->dirty = true;                                       \
		x->dirty_next = *head;                                 \
		if (x->dirty_next)                                     \
			x->dirty_next->dirty_pprev = &x->dirty_next;   \
		x->dirty_pprev = head;                                 \
		*head = x;                                             \
	}                                                              \
	static void name##_unlink(type *x)                             \
	{                                                              \
		if (!x->dirty)                                         \
			return;                                        \
		*x->dirty_pprev = x->dirty_next;                       \
		if (x->dirty_next)                                     \
			x->dirty_next->dirty_pprev = x->dirty_pprev;   \
		x->dirty = false;                                      \
		x->dirty_next = NULL;                                  \
		x->dirty_pprev = NULL;                                 \
	}                                                              \
	static void name##_clear(type **head)                          \
	{                                                              \
		while (*head)                                          \
			name##_unlink(*head);                          \
	}

DIRTY_LIST(term_dirty, struct np_term)
DIRTY_LIST(call_dirty, struct np_call)

void np_term_changed(struct np_core *core, struct np_term *t)
{
	core->dirty = true;
	if (!t) {
		core->dirty_all = true;
		return;
	}
	/* Orphans have no driver and no key in the file: their creation
	 * saves everything, their end a tombstone (recover.c). */
	if (!t->driver)
		return;
	np_term_wake(core, t);
	term_dirty_push(&core->dirty_terms, t);
}

/* Whether t's calls are journaled each by itself, apart from t's own
 * fields: a SIP terminal's and a gateway's (its driver's data of a call
 * is the call's alone); an orphan's calls are in snapshots only. */
static bool calls_saved_alone(const struct np_term *t)
{
	return t->driver != NULL;
}

void np_call_changed(struct np_core *core, struct np_term *t,
		     struct np_call *call)
{
	if (!calls_saved_alone(t)) {
		np_term_changed(core, t);
		return;
	}
	core->dirty = true;
	np_term_wake(core, t);
	np_call_wake(core, call);
	call_dirty_push(&core->dirty_calls, call);
}

void np_call_gone(struct np_core *core, struct np_term *t,
		  struct np_call *call)
{
	struct np_call_tomb *k;

	call_dirty_unlink(call);
	if (!calls_saved_alone(t)) {
		np_term_changed(core, t); /* its record, whole, has it no more */
		return;
	}
	core->dirty = true;
	np_term_wake(core, t);
	if (core->n_call_tombs == core->cap_call_tombs) {
		k = realloc(core->call_tombs,
			    (core->cap_call_tombs * 2 + 16) * sizeof(*k));
		if (!k) {
			np_core_changed_all(core); /* the whole state again */
			return;
		}
		core->call_tombs = k;
		core->cap_call_tombs = core->cap_call_tombs * 2 + 16;
	}
	k = &core->call_tombs[core->n_call_tombs++];
	k->term = (struct np_term_key){ t->pair, t->core_port };
	snprintf(k->id, sizeof(k->id), "%s", call->id);
}

void np_term_wake(struct np_core *core, struct np_term *t)
{
	time_t next = core->tick_now + 1;

	if (!t->driver)
		return; /* an orphan's: np_core_orphans_tick sees to it */
	/* Never later than it was: one due at this very tick stays in it.
	 * Room for every terminal is kept, so this cannot fail. */
	if (!np_timer_set_p(&t->visit) || next < t->visit.due)
		np_timer_set(&core->term_timers, &t->visit, next);
}

void np_core_changed_all(struct np_core *core)
{
	core->dirty = core->dirty_all = true;
}

void np_core_rewrite_all(struct np_core *core)
{
	core->dirty = core->rewrite_all = true;
}

void np_core_dirty_clear(struct np_core *core)
{
	term_dirty_clear(&core->dirty_terms);
	call_dirty_clear(&core->dirty_calls);
	core->n_call_tombs = 0;
	core->n_tombs = 0;
	core->n_orphan_tombs = 0;
	core->dirty = core->dirty_all = core->rewrite_all = false;
}

/* t goes: its key is kept for the journal's tombstone (or, short of
 * memory, the whole state is saved again). */
static void term_gone(struct np_core *core, struct np_term *t)
{
	struct np_term_key *k;

	/* Its calls are gone (they woke it): the tick must not find it. */
	np_timer_cancel(&core->term_timers, &t->visit);
	term_dirty_unlink(t);
	core->dirty = true;
	if (!t->driver)
		return;
	if (core->n_tombs == core->cap_tombs) {
		k = realloc(core->tombs,
			    (core->cap_tombs * 2 + 16) * sizeof(*k));
		if (!k) {
			core->dirty_all = true;
			return;
		}
		core->tombs = k;
		core->cap_tombs = core->cap_tombs * 2 + 16;
	}
	core->tombs[core->n_tombs++] =
		(struct np_term_key){ t->pair, t->core_port };
}

int np_terms_init(struct np_core *core)
{
	core->by_nat = calloc(NP_TERM_BUCKETS, sizeof(*core->by_nat));
	core->by_port = calloc(NP_TERM_BUCKETS, sizeof(*core->by_port));
	core->by_addr = calloc(NP_TERM_BUCKETS, sizeof(*core->by_addr));
	return core->by_nat && core->by_port && core->by_addr ? 0 : -ENOMEM;
}

void np_terms_fini(struct np_core *core)
{
	struct np_addr_count *c;
	size_t i;

	for (i = 0; core->by_addr && i < NP_TERM_BUCKETS; i++)
		while ((c = core->by_addr[i])) {
			core->by_addr[i] = c->next;
			free(c);
		}
	np_timers_fini(&core->term_timers);
	core->n_terms = 0;
	free(core->by_nat);
	free(core->by_port);
	free(core->by_addr);
	core->by_nat = core->by_port = NULL;
	core->by_addr = NULL;
	free(core->tombs);
	core->tombs = NULL;
	core->n_tombs = core->cap_tombs = 0;
	free(core->orphan_tombs);
	core->orphan_tombs = NULL;
	core->n_orphan_tombs = core->cap_orphan_tombs = 0;
	core->dirty_terms = NULL;
	free(core->call_tombs);
	core->call_tombs = NULL;
	core->n_call_tombs = core->cap_call_tombs = 0;
	core->dirty_calls = NULL;
}

/* The count of src's address; made (zero) with make, else NULL if none. */
static struct np_addr_count *addr_count(const struct np_core *core,
					const struct np_sockaddr *src, bool make)
{
	struct np_sockaddr a = *src;
	struct np_addr_count **p, *c;

	a.port = 0;
	p = &core->by_addr[addr_hash(&a, 2166136261u)];
	for (c = *p; c; c = c->next)
		if (np_sockaddr_eq(&c->addr, &a))
			return c;
	if (!make || !(c = calloc(1, sizeof(*c))))
		return NULL;
	c->addr = a;
	c->next = *p;
	*p = c;
	return c;
}

static void addr_count_drop(struct np_core *core, struct np_addr_count *c)
{
	struct np_addr_count **p;

	if (c->terms || c->registered)
		return;
	p = &core->by_addr[addr_hash(&c->addr, 2166136261u)];
	for (; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			free(c);
			return;
		}
}

static void term_link(struct np_core *core, struct np_term *t)
{
	size_t corer = core->cfg->pairs[t->pair].second;
	struct np_term **head = &core->by_nat[nat_bucket(t->pair, &t->nat)];
	struct np_addr_count *c;

	t->next = core->terms;
	if (t->next)
		t->next->pprev = &t->next;
	core->terms = t;
	t->pprev = &core->terms;
	core->n_terms++;
	t->nat_next = *head;
	*head = t;
	head = &core->by_port[port_bucket(corer, t->core_port)];
	t->port_next = *head;
	*head = t;
	c = addr_count(core, &t->nat, true);
	if (c) {
		c->terms++;
		c->registered += t->registered_until != 0;
	}
}

static void term_unlink(struct np_core *core, struct np_term *t)
{
	size_t corer = core->cfg->pairs[t->pair].second;
	struct np_term **p;
	struct np_addr_count *c;

	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	core->n_terms--;
	for (p = &core->by_nat[nat_bucket(t->pair, &t->nat)]; *p;
	     p = &(*p)->nat_next)
		if (*p == t) {
			*p = t->nat_next;
			break;
		}
	for (p = &core->by_port[port_bucket(corer, t->core_port)]; *p;
	     p = &(*p)->port_next)
		if (*p == t) {
			*p = t->port_next;
			break;
		}
	c = addr_count(core, &t->nat, false);
	if (c) {
		c->terms--;
		c->registered -= t->registered_until != 0;
		addr_count_drop(core, c);
	}
}

/* Every change of registered_until goes through here: the per-address
 * count of registered terminals follows it. */
static void set_registered(struct np_core *core, struct np_term *t,
			   time_t until)
{
	struct np_addr_count *c = addr_count(core, &t->nat, false);

	if (c && !t->registered_until != !until)
		c->registered += until ? 1 : -1;
	t->registered_until = until;
}

void np_term_unregistered(struct np_core *core, struct np_term *t)
{
	set_registered(core, t, 0);
	np_term_known_sync(core, t);
}

/* Told to XDP only on a change, and never for a terminal the guard does
 * not see (an orphan's, rebuilt from the maps, has no signaling). */
static void term_known(struct np_core *core, struct np_term *t, bool known)
{
	if (t->known == known)
		return;
	t->known = known;
	core->known += known ? 1 : -1;
	if (core->io->source_known && t->driver && t->nat.family)
		core->io->source_known(core->io_ctx, &t->nat, known);
}

void np_term_known_sync(struct np_core *core, struct np_term *t)
{
	/* Counted, not looked for: a PBX has hundreds of calls. */
	term_known(core, t, t->registered_until != 0 || t->n_answered);
}

struct np_term *np_term_by_nat(struct np_core *core, size_t pair,
			       const struct np_sockaddr *nat)
{
	struct np_term *t;

	for (t = core->by_nat[nat_bucket(pair, nat)]; t; t = t->nat_next)
		if (t->pair == pair && np_sockaddr_eq(&t->nat, nat))
			return t;
	return NULL;
}

struct np_term *np_term_by_core_port(struct np_core *core, size_t realm,
				     uint16_t port)
{
	struct np_term *t;

	for (t = core->by_port[port_bucket(realm, port)]; t; t = t->port_next)
		if (core->cfg->pairs[t->pair].second == realm &&
		    t->core_port == port)
			return t;
	return NULL;
}

int np_term_new(struct np_core *core, size_t pair,
		const struct np_sockaddr *nat, const struct np_driver *driver,
		time_t now, struct np_term **out)
{
	size_t corer = core->cfg->pairs[pair].second;
	struct np_term *t;
	char buf[64];
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* Its timer's room first: a terminal the tick could lose is refused. */
	err = np_timers_reserve(&core->term_timers, core->n_terms + 1);
	if (!err)
		err = np_portpool_get(&core->signal_ports[corer], &t->core_port);
	if (err)
		goto fail;
	err = core->io->signal_open(core->io_ctx, corer, t->core_port);
	if (err) {
		np_portpool_put(&core->signal_ports[corer], t->core_port);
		goto fail;
	}
	t->pair = pair;
	t->nat = *nat;
	t->driver = driver;
	t->last_heard = t->idle_since = now;
	term_link(core, t);
	np_term_changed(core, t);
	np_info("terminal at %s: core signaling address port %u",
		np_sockaddr_str(nat, buf, sizeof(buf)), t->core_port);
	*out = t;
	return 0;
fail:
	free(t);
	return err;
}

static void port_release(struct np_core *core, size_t realm, uint16_t port,
			 time_t now)
{
	uint32_t hold = np_realm_quarantine(&core->cfg->realms[realm]);
	struct np_quarantine *q;

	q = hold && now ? calloc(1, sizeof(*q)) : NULL;
	/* The pool records the quarantine as the port's holder: found in
	 * O(1) (np_core_port_quarantined), released with the port. */
	if (q && (np_timers_reserve(&core->quarantine,
				    core->quarantine.n + 1) ||
		  np_portpool_hold(&core->signal_ports[realm], port, q))) {
		free(q);
		q = NULL;
	}
	if (!q) {
		core->io->signal_close(core->io_ctx, realm, port);
		np_portpool_put(&core->signal_ports[realm], port);
		return;
	}
	/* The socket stays open: the driver answers what still comes. */
	q->realm = realm;
	q->port = port;
	np_timer_set(&core->quarantine, &q->timer, now + hold); /* room kept */
}

/* Gives quarantined ports back whose time is up (all with now 0): only
 * those, taken from the heap in order of their end. */
void np_core_quarantine_expire(struct np_core *core, time_t now)
{
	struct np_timer *tm;
	struct np_quarantine *q;

	while ((tm = np_timer_take(&core->quarantine,
				   now ? now : NP_TIMER_ALL))) {
		q = (struct np_quarantine *)((char *)tm -
					     offsetof(struct np_quarantine,
						      timer));
		core->io->signal_close(core->io_ctx, q->realm, q->port);
		np_portpool_put(&core->signal_ports[q->realm], q->port);
		free(q);
	}
	if (!now)
		np_timers_fini(&core->quarantine);
}

bool np_core_port_quarantined(const struct np_core *core, size_t realm,
			      uint16_t port)
{
	return realm < core->cfg->n_realms && core->signal_ports[realm].used &&
	       np_portpool_holder(&core->signal_ports[realm], port) != NULL;
}

void np_term_free(struct np_core *core, struct np_term *t,
		  enum np_end_reason why, time_t now)
{
	size_t corer = core->cfg->pairs[t->pair].second;
	char buf[64];

	term_unlink(core, t);
	while (t->calls) {
		/* A call that outlives its terminal would be silent: both
		 * sides are told it ended. */
		if (why != NP_END_SHUTDOWN && why != NP_END_IDLE && t->driver &&
		    t->driver->call_abort)
			t->driver->call_abort(t->driver->ctx, t, t->calls,
					      NP_END_TERMINAL_LOST);
		np_call_end(core, t, t->calls,
			    why == NP_END_SHUTDOWN ? why : NP_END_TERMINAL_LOST,
			    now);
	}
	if (t->driver && t->driver->term_free)
		t->driver->term_free(t->driver->ctx, t);
	/* Only an address the softswitch had as a binding needs the
	 * quarantine: a newcomer that never registered (a flood of spoofed
	 * REGISTERs) gives its port back at once. */
	port_release(core, corer, t->core_port, t->ever_registered ? now : 0);
	term_known(core, t, false);
	np_info("terminal at %s released (%s)",
		np_sockaddr_str(&t->nat, buf, sizeof(buf)),
		np_end_reason_names[why]);
	term_gone(core, t); /* after its calls, which mark it dirty */
	free(t);
}

void np_term_forget(struct np_core *core, struct np_term *t)
{
	size_t corer = core->cfg->pairs[t->pair].second;

	term_unlink(core, t);
	while (t->calls)
		np_call_forget(core, t, t->calls);
	if (t->driver && t->driver->term_free)
		t->driver->term_free(t->driver->ctx, t);
	/* The active node still has it, or gave it up with its own
	 * quarantine: ours is no one's to guard. */
	port_release(core, corer, t->core_port, 0);
	term_known(core, t, false);
	term_gone(core, t);
	free(t);
}

void np_term_registered(struct np_core *core, struct np_term *t, time_t until,
			time_t now)
{
	set_registered(core, t, until);
	t->ever_registered |= until != 0;
	np_term_known_sync(core, t);
	np_term_changed(core, t);
	/* A registration came through its NAT binding: as good an answer as
	 * a keepalive's (else keepalives missed before it would drop the
	 * binding it just renewed). */
	if (until)
		np_term_alive(t);
	if (until && !t->ka_due)
		t->ka_due = np_term_ka_first(core, t, now);
	if (!until)
		t->idle_since = now;
}

void np_term_alive(struct np_term *t)
{
	t->ka_sent = 0;
	t->ka_missed = 0;
}

/* A terminal's phase: its core port (and pair), scattered: ports are handed
 * out in order, so any window of the interval gets as many. */
static uint32_t ka_phase(const struct np_term *t)
{
	return ((uint32_t)t->core_port * 2654435761u +
		(uint32_t)t->pair * 40503u) >> 8;
}

time_t np_term_ka_next(const struct np_core *core, const struct np_term *t,
		       time_t now)
{
	uint32_t interval = core->cfg->keepalive_interval;
	time_t due;

	if (!interval)
		return now + 1;
	due = now - now % interval + ka_phase(t) % interval;
	return due > now ? due : due + interval;
}

time_t np_term_ka_first(const struct np_core *core, const struct np_term *t,
			time_t now)
{
	uint32_t interval = core->cfg->keepalive_interval, half = interval / 2;

	if (!interval)
		return now + 1;
	/* In the second half of the interval after the registration, at the
	 * terminal's phase there: the NAT binding the registration just used
	 * sees traffic again within the interval (a Linux NAT forgets a UDP
	 * mapping 30 s after its last datagram unless the flow lasted 2 s;
	 * a first keepalive at the phase of the next interval came up to two
	 * intervals later, after the mapping was gone), never within a
	 * second of it. */
	return now + (interval - half) + ka_phase(t) % (half + 1);
}

/* Terminals registered from src's IP (any port), self aside. */
static uint32_t registered_from(const struct np_core *core,
				const struct np_sockaddr *src,
				const struct np_term *self)
{
	const struct np_addr_count *c = addr_count(core, src, false);
	uint32_t n = c ? c->registered : 0;
	struct np_sockaddr a;

	if (self && self->registered_until) {
		a = self->nat;
		a.port = src->port;
		n -= np_sockaddr_eq(&a, src) && n;
	}
	return n;
}

bool np_term_may_register(const struct np_core *core, size_t realm,
			  const struct np_sockaddr *src,
			  const struct np_term *self)
{
	uint32_t max = core->cfg->realms[realm].max_registrations;

	return !max || (self && self->registered_until) ||
	       registered_from(core, src, self) < max;
}

/* Whether a pool has fewer than percent% of its ports free. */
static bool in_reserve(const struct np_portpool *pool, uint32_t percent)
{
	uint32_t size = pool->used ? (uint32_t)(pool->hi - pool->lo) + 1 : 0;

	return percent && size &&
	       (uint64_t)(size - pool->in_use) * 100 < (uint64_t)size * percent;
}

bool np_term_may_join(const struct np_core *core, size_t pair,
		      const struct np_sockaddr *src, bool known, bool caller)
{
	const struct np_pair *p = &core->cfg->pairs[pair];
	const struct np_realm *acc = &core->cfg->realms[p->first];
	uint32_t reserve = acc->reserve_percent;

	if (caller && reserve < 50)
		reserve = 50;
	if (!known && in_reserve(&core->signal_ports[p->second], reserve))
		return false;
	const struct np_addr_count *c;

	if (!acc->max_terminals_per_address)
		return true;
	c = addr_count(core, src, false);
	return !c || c->terms < acc->max_terminals_per_address;
}

bool np_core_media_reserved(const struct np_core *core, size_t pair)
{
	const struct np_pair *p = &core->cfg->pairs[pair];
	uint32_t percent = core->cfg->realms[p->first].reserve_percent;

	return in_reserve(&core->media_ports[p->first], percent) ||
	       in_reserve(&core->media_ports[p->second], percent);
}

size_t np_core_pair_terms(const struct np_core *core, size_t pair)
{
	const struct np_term *t;
	size_t n = 0;

	for (t = core->terms; t; t = t->next)
		n += t->pair == pair;
	return n;
}

void np_core_refresh_term(struct np_core *core, struct np_term *t,
			  const struct np_term *saved, time_t now)
{
	if (np_sockaddr_eq(&t->nat, &saved->nat)) {
		set_registered(core, t, saved->registered_until);
	} else {
		/* Found by its mapping: indexed again under the new one. */
		term_known(core, t, false);
		term_unlink(core, t);
		t->nat = saved->nat;
		t->registered_until = saved->registered_until;
		term_link(core, t);
	}
	t->ever_registered |= saved->registered_until != 0;
	if (t->registered_until && !t->ka_due)
		t->ka_due = np_term_ka_first(core, t, now);
	np_term_known_sync(core, t);
	np_term_wake(core, t);
}

int np_core_adopt_term(struct np_core *core, const struct np_term *saved,
		       const struct np_driver *driver, time_t now,
		       struct np_term **out)
{
	struct np_portpool *pool;
	struct np_term *t;
	size_t corer;
	int err;

	if (saved->pair >= core->cfg->n_pairs)
		return -EINVAL;
	corer = core->cfg->pairs[saved->pair].second;
	pool = &core->signal_ports[corer];
	err = np_portpool_take(pool, saved->core_port, 1);
	if (err)
		return err;
	t = calloc(1, sizeof(*t));
	if (!t || np_timers_reserve(&core->term_timers, core->n_terms + 1)) {
		np_portpool_put(pool, saved->core_port);
		free(t);
		return -ENOMEM;
	}
	err = core->io->signal_open(core->io_ctx, corer, saved->core_port);
	if (err) {
		np_portpool_put(pool, saved->core_port);
		free(t);
		return err;
	}
	t->pair = saved->pair;
	t->nat = saved->nat;
	t->core_port = saved->core_port;
	t->registered_until = saved->registered_until;
	t->ever_registered = saved->registered_until != 0;
	t->last_heard = t->idle_since = now;
	t->driver = driver;
	t->signaling = saved->signaling;
	if (t->registered_until)
		t->ka_due = np_term_ka_first(core, t, now);
	term_link(core, t);
	np_term_known_sync(core, t);
	np_term_wake(core, t);
	*out = t;
	return 0;
}
