// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SIP driver's entry: a datagram on an access socket (from a terminal,
 * known or new) or on a terminal's core address (from the softswitch) is
 * admitted or refused, parsed, and handed to the direction it goes in.
 * Also the driver's life and the hooks the core calls back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "sip/internal.h"

#define MAX_SIP 65535

void sipctx_init(struct sipctx *c, struct np_sip *sip, struct np_term *t)
{
	memset(c, 0, sizeof(*c));
	c->sip = sip;
	c->core = sip->core;
	c->t = t;
	c->st = t->signaling;
	c->pair = np_core_pair(sip->core, t);
	c->access = &sip->core->cfg->realms[c->pair->first];
	c->corer = &sip->core->cfg->realms[c->pair->second];
}

struct np_sockaddr sip_core_addr(const struct sipctx *c)
{
	struct np_sockaddr a = c->corer->address;

	a.port = c->t->core_port;
	return a;
}

struct np_sip_term *np_sip_term_new(void)
{
	return calloc(1, sizeof(struct np_sip_term));
}

int np_sip_bindings_room(struct np_sip_term *st, size_t n)
{
	struct np_sip_binding *b;
	time_t *until;

	if (n > NP_SIP_BINDINGS)
		return -ENOSPC;
	if (n <= st->room)
		return 0;
	/* One block: the bindings, then their lifetimes. */
	b = malloc(n * (sizeof(*b) + sizeof(*until)));
	if (!b)
		return -ENOMEM;
	until = (time_t *)(b + n);
	if (st->n_bindings) {
		memcpy(b, st->bindings, st->n_bindings * sizeof(*b));
		memcpy(until, st->binding_until,
		       st->n_bindings * sizeof(*until));
	}
	free(st->bindings);
	st->bindings = b;
	st->binding_until = until;
	st->room = n;
	return 0;
}

void np_sip_term_reset(struct np_sip_term *st)
{
	free(st->bindings);
	memset(st, 0, sizeof(*st));
}

int np_sip_term_assign(struct np_sip_term *st, const struct np_sip_term *src)
{
	if (np_sip_bindings_room(st, src->n_bindings))
		return -ENOMEM;
	memcpy(st->contact, src->contact, sizeof(st->contact));
	memcpy(st->aor, src->aor, sizeof(st->aor));
	st->n_bindings = src->n_bindings;
	if (st->n_bindings) {
		memcpy(st->bindings, src->bindings,
		       st->n_bindings * sizeof(*st->bindings));
		memcpy(st->binding_until, src->binding_until,
		       st->n_bindings * sizeof(*st->binding_until));
	}
	return 0;
}

struct np_sip_term *np_sip_term_dup(const struct np_sip_term *src)
{
	struct np_sip_term *st = np_sip_term_new();

	if (st && np_sip_term_assign(st, src)) {
		np_sip_term_free(st);
		return NULL;
	}
	return st;
}

void np_sip_term_free(struct np_sip_term *st)
{
	if (st)
		free(st->bindings);
	free(st);
}

struct np_sip_dialog *np_sip_dialog_new(void)
{
	return calloc(1, sizeof(struct np_sip_dialog) + 1);
}

struct np_sip_dialog *np_sip_dialog_copy(const struct np_sip_dialog *d)
{
	size_t len = sizeof(*d) + strlen(d->core_route) + 1;
	struct np_sip_dialog *c = malloc(len);

	if (c)
		memcpy(c, d, len);
	return c;
}

struct np_sip_dialog *np_sip_dialog_set_route(struct np_call *call,
					      const char *route)
{
	size_t len = route ? strlen(route) : 0;
	struct np_sip_dialog *d;

	if (len >= NP_ROUTESET_LEN)
		len = 0;
	d = realloc(call->dialog, sizeof(*d) + len + 1);
	if (!d)
		return NULL;
	if (!call->dialog)
		memset(d, 0, sizeof(*d));
	if (len)
		memcpy(d->core_route, route, len);
	d->core_route[len] = '\0';
	call->dialog = d;
	return d;
}

static void term_free(void *ctx, struct np_term *t)
{
	struct np_sip *sip = ctx;
	struct np_sip_term *st = t->signaling;

	if (st)
		np_txns_drop_term(&sip->txns, &st->txns);
	np_sip_term_free(st);
	t->signaling = NULL;
}

static int counters_grow(struct np_sip *sip, size_t n)
{
	int err = np_array_grow((void **)&sip->ctr, sizeof(*sip->ctr), sip->n_ctr,
				n);

	if (!err && n > sip->n_ctr)
		sip->n_ctr = n;
	return err;
}

int np_sip_init(struct np_sip *sip, struct np_core *core)
{
	int err;

	memset(sip, 0, sizeof(*sip));
	sip->core = core;
	sip->driver = (struct np_driver){
		.name = "sip",
		.keepalive = sip_keepalive,
		.call_abort = sip_call_abort,
		.term_free = term_free,
		.ctx = sip,
	};
	err = np_txns_init(&sip->txns);
	if (!err)
		err = counters_grow(sip, core->cfg->n_realms);
	if (err)
		np_sip_fini(sip);
	return err;
}

int np_sip_reconfigure(struct np_sip *sip)
{
	return counters_grow(sip, sip->core->cfg->n_realms);
}

void np_sip_fini(struct np_sip *sip)
{
	np_txns_fini(&sip->txns);
	free(sip->ctr);
	sip->ctr = NULL;
	sip->n_ctr = 0;
}

void np_sip_tick(struct np_sip *sip, time_t now)
{
	np_txns_expire(&sip->txns, now);
}

static bool is_blank(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != ' ')
			return false;
	return true;
}

/* Whether msg belongs to a live call of t (by Call-ID). */
static bool in_live_call(const struct np_core *core, struct np_term *t,
			 osip_message_t *msg)
{
	char call_id[256];

	np_sipmsg_call_id(msg, call_id, sizeof(call_id));
	return call_id[0] && np_call_find(core, t, call_id);
}

/* The pair whose access socket is realm:port, or -1. */
static int access_pair(const struct np_core *core, size_t realm, uint16_t port)
{
	size_t i;

	for (i = 0; i < core->cfg->n_pairs; i++)
		if (core->cfg->pairs[i].first == realm &&
		    core->cfg->realms[realm].sip_port == port)
			return (int)i;
	return -1;
}

/* Requests on a terminal's core address come from its softswitch only
 * (any port: softswitches send from several). */
static bool from_softswitch(const struct np_core *core, const struct np_term *t,
			    const struct np_sockaddr *src)
{
	struct np_sockaddr ss = np_core_pair(core, t)->softswitch;

	ss.port = src->port;
	return np_sockaddr_eq(&ss, src);
}

/* Whether msg is a REGISTER of a subscriber registered at another
 * mapping of pair (its NAT mapping changed): it may use the reserve. */
static bool known_aor(struct np_sip *sip, int pair, const osip_message_t *msg)
{
	const struct np_term *t;
	char aor[256];

	if (!MSG_IS_REGISTER(msg) || np_sipmsg_aor(msg, aor, sizeof(aor)))
		return false;
	for (t = sip->core->terms; t; t = t->next) {
		const struct np_sip_term *st = t->signaling;

		if ((int)t->pair == pair && t->registered_until && st &&
		    t->driver == &sip->driver &&
		    !strcmp(st->aor, aor))
			return true;
	}
	return false;
}

/* A new terminal at src for a request on pair's access socket, or NULL
 * with the request answered. */
static struct np_term *newcomer(struct np_sip *sip, size_t realm,
				uint16_t port, int pair,
				const struct np_sockaddr *src,
				osip_message_t *msg, time_t now)
{
	struct np_core *core = sip->core;
	struct np_term *t = NULL;
	char where[64];
	int err;

	if (!MSG_IS_REQUEST(msg)) {
		core->stats.unmatched++;
		return NULL;
	}
	/* Only what can lead to a registration or a call costs a core port
	 * and a socket (admission before allocation). */
	if (!MSG_IS_REGISTER(msg) &&
	    !(MSG_IS_INVITE(msg) && !np_sipmsg_to_tag(msg)[0])) {
		if (MSG_IS_OPTIONS(msg)) /* a ping to its outbound proxy */
			sip_answer(sip, realm, port, src, msg, 200, "OK");
		else if (!MSG_IS_ACK(msg))
			sip_answer(sip, realm, port, src, msg, 403,
				   "Not Registered");
		return NULL;
	}
	/* Whether it is a known subscriber (a walk over the terminals) only
	 * matters once the pool is down to its reserve. */
	if (!np_term_may_join(core, (size_t)pair, src, false,
			      MSG_IS_INVITE(msg)) &&
	    !(known_aor(sip, pair, msg) &&
	      np_term_may_join(core, (size_t)pair, src, true, false))) {
		core->stats.over_limits++;
		if (np_log_limit(&sip->log.refused, now))
			np_warn("%s from %s refused: terminal limit of its "
				"address, or core ports down to the reserve",
				msg->sip_method,
				np_sockaddr_str(src, where, sizeof(where)));
		sip_answer(sip, realm, port, src, msg, 503,
			   "Service Unavailable");
		return NULL;
	}
	if (core->cfg->pairs[pair].draining) {
		np_warn("%s from %s refused: pair draining", msg->sip_method,
			np_sockaddr_str(src, where, sizeof(where)));
		sip_answer(sip, realm, port, src, msg, 503,
			   "Service Unavailable");
		return NULL;
	}
	/* Refused before it costs a core port and a socket. */
	if (MSG_IS_REGISTER(msg) && np_sipmsg_expires(msg, 3600) > 0 &&
	    !np_term_may_register(core, realm, src, NULL)) {
		core->stats.denied++;
		np_warn("REGISTER from %s refused: too many registrations from "
			"that address",
			np_sockaddr_str(src, where, sizeof(where)));
		sip_answer(sip, realm, port, src, msg, 403,
			   "Too Many Registrations");
		return NULL;
	}
	err = np_term_new(core, (size_t)pair, src, &sip->driver, now, &t);
	if (!err) {
		t->signaling = np_sip_term_new();
		if (!t->signaling) {
			np_term_free(core, t, NP_END_OTHER, 0);
			err = -ENOMEM;
		}
	}
	if (err) {
		np_warn("no core signaling address for %s: %s",
			np_sockaddr_str(src, where, sizeof(where)),
			strerror(-err));
		sip_answer(sip, realm, port, src, msg, 503,
			   "Service Unavailable");
		return NULL;
	}
	return t;
}

void np_sip_input(struct np_sip *sip, size_t realm, uint16_t local_port,
		  const struct np_sockaddr *src, const char *buf, size_t len,
		  time_t now)
{
	struct np_core *core = sip->core;
	struct np_term *t = NULL;
	osip_message_t *msg;
	bool denied = false;
	char where[64];
	struct sipctx c;
	int pair;

	core->stats.received++;
	pair = access_pair(core, realm, local_port);
	/* Per-source rates first: a flood costs a lookup, not a parse. */
	if (pair >= 0 && !np_core_admit(core, realm, src, now)) {
		if (np_log_limit(&sip->log.rate, now))
			np_warn("SIP from %s over its rate limit: dropped",
				np_sockaddr_str(src, where, sizeof(where)));
		return;
	}
	if (pair < 0) {
		t = np_term_by_core_port(core, realm, local_port);
		if (!t && !np_core_port_quarantined(core, realm, local_port)) {
			core->stats.unmatched++;
			return;
		}
	} else {
		t = np_term_by_nat(core, (size_t)pair, src);
	}
	/* A mapping another driver (MGCP) knows is not a SIP terminal. */
	if (t && t->driver != &sip->driver) {
		core->stats.unmatched++;
		return;
	}
	if (pair >= 0 && !np_realm_admits(&core->cfg->realms[realm], src))
		denied = true;
	else if (t)
		t->last_heard = now;
	/* CRLF keepalives from terminals (RFC 5626 4.4.1) need no answer. */
	if (is_blank(buf, len))
		return;
	if (len > MAX_SIP || np_sipmsg_parse(buf, len, &msg)) {
		core->stats.malformed++;
		if (np_log_limit(&sip->log.malformed, now))
			np_warn("malformed SIP (%zu bytes) from %s: dropped",
				len, np_sockaddr_str(src, where, sizeof(where)));
		return;
	}
	/* A prefix denied since (a reload) stops new calls, not live ones:
	 * what belongs to a call of the terminal still passes. */
	if (denied && t && in_live_call(core, t, msg)) {
		denied = false;
		t->last_heard = now;
	} else if (denied) {
		t = NULL;
	}
	sip_count(sip, realm, msg, false);
	if (denied) {
		core->stats.denied++;
		if (np_log_limit(&sip->log.denied, now))
			np_warn("%s from %s denied by realm '%s'",
				MSG_IS_REQUEST(msg) ? msg->sip_method :
						      "response",
				np_sockaddr_str(src, where, sizeof(where)),
				core->cfg->realms[realm].name);
		if (MSG_IS_REQUEST(msg) && !core->cfg->realms[realm].deny_drop)
			sip_answer(sip, realm, local_port, src, msg, 403,
				   "Forbidden");
		goto out;
	}
	/* A transaction is known by its branch: one too long to keep could
	 * never be matched again. */
	if (strlen(np_sipmsg_branch(msg)) >= NP_BRANCH_MAX) {
		core->stats.malformed++;
		np_warn("SIP from %s with a Via branch over %d characters: %s",
			np_sockaddr_str(src, where, sizeof(where)),
			NP_BRANCH_MAX - 1,
			MSG_IS_REQUEST(msg) ? "refused" : "dropped");
		if (MSG_IS_REQUEST(msg) && !MSG_IS_ACK(msg))
			sip_answer(sip, realm, local_port, src, msg, 400,
				   "Via Branch Too Long");
		goto out;
	}
	if (pair < 0 && MSG_IS_REQUEST(msg) && t &&
	    !from_softswitch(core, t, src)) {
		bool reject = core->cfg->realms[realm].core_strangers ==
			      NP_CORE_STRANGERS_REJECT;

		core->stats.strangers++;
		if (np_log_limit(&sip->log.strangers, now))
			np_warn("%s to core port %u from %s, not the "
				"softswitch: %s",
				msg->sip_method, local_port,
				np_sockaddr_str(src, where, sizeof(where)),
				reject ? "refused" : "dropped");
		if (reject)
			sip_answer(sip, realm, local_port, src, msg, 403,
				   "Forbidden");
		goto out;
	}
	if (pair < 0 && !t) {
		/* A released terminal's address: gone, for now. */
		if (MSG_IS_REQUEST(msg))
			sip_answer(sip, realm, local_port, src, msg, 480,
				   "Temporarily Unavailable");
		goto out;
	}
	if (!t) {
		t = newcomer(sip, realm, local_port, pair, src, msg, now);
		if (!t)
			goto out;
	}
	sipctx_init(&c, sip, t);
	c.msg = msg;
	c.src = *src;
	c.now = now;
	if (pair >= 0) {
		if (MSG_IS_REQUEST(msg))
			sip_terminal_request(&c);
		else
			sip_terminal_response(&c);
	} else {
		if (MSG_IS_REQUEST(msg))
			sip_core_request(&c);
		else
			sip_core_response(&c);
	}
out:
	osip_message_free(msg);
}
