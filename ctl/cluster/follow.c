// SPDX-License-Identifier: GPL-2.0-only
/* The active node's journal entries applied to a standby (follow.h). */
#include <errno.h>
#include <string.h>

#include "cluster/follow.h"
#include "log.h"
#include "state.h"

struct follow {
	struct np_proxy *px;
	time_t shift, now;
	struct np_term *term; /* the record's terminal, once adopted */
	struct np_follow_report *rep;
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

static int on_term(void *arg, const struct np_term *saved,
		   const struct np_sockaddr *access,
		   const struct np_sockaddr *core_addr)
{
	struct follow *f = arg;
	struct np_core *core = &f->px->core;
	struct np_sip_term *st = saved->signaling;
	struct np_term copy = *saved, *old;
	size_t i;
	int err;

	(void)access, (void)core_addr;
	old = term_of(core, saved->pair, saved->core_port);
	if (old)
		np_term_forget(core, old);
	copy.registered_until = shifted(saved->registered_until, f->shift);
	for (i = 0; st && i < st->n_bindings; i++)
		st->binding_until[i] = shifted(st->binding_until[i], f->shift);
	err = np_proxy_adopt_term(f->px, &copy, f->now, &f->term);
	if (err) {
		np_warn("cluster: terminal with core port %u not copied: %s",
			saved->core_port, strerror(-err));
		f->term = NULL;
		f->rep->failed++;
		return 0;
	}
	f->rep->terms++;
	return 0;
}

static int on_leg(void *arg, const struct np_call *saved)
{
	struct follow *f = arg;
	struct np_call copy = *saved;
	int err;

	if (!f->term)
		return 0;
	copy.started = shifted(saved->started, f->shift);
	copy.expires = shifted(saved->expires, f->shift);
	copy.answered_at = shifted(saved->answered_at, f->shift);
	err = np_proxy_mirror_call(f->px, f->term, &copy);
	if (err) {
		np_warn("cluster: call '%s' not copied: %s", saved->id,
			strerror(-err));
		f->rep->failed++;
		return 0;
	}
	f->rep->calls++;
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

int np_follow_apply(struct np_proxy *px, bool snapshot, const char *text,
		    size_t len, time_t shift, time_t now,
		    struct np_follow_report *rep)
{
	static const struct np_state_visit visit = {
		.term = on_term, .leg = on_leg, .gone = on_gone
	};
	struct follow f = { px, shift, now, NULL, rep };
	struct np_state_report srep;
	int err;

	if (snapshot)
		np_follow_forget_all(px);
	err = np_state_apply(text, len, &visit, &f, &srep);
	rep->bad += srep.bad;
	return err;
}
