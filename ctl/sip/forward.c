// SPDX-License-Identifier: GPL-2.0-only
/*
 * Relaying SIP between a terminal and the core. Toward the softswitch
 * (claim 1 A-B): the terminal's top Via and Contact are replaced by its core
 * address, SDP by core relay ports, and the message leaves from that
 * address. Toward the terminal (claim 1 C-D, claim 5): what arrives on that
 * address gets its Via and Request-URI restored, SDP pointed at access relay
 * ports, and goes to the recorded NAT mapping from the access socket. Each
 * SDP is an offer or an answer (RFC 3264) for the call core; a failed offer
 * rolls back, and only the end of a dialog ends a call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "sip/internal.h"

#define SDP_MAX 65536

static enum np_side side_of(bool from_terminal)
{
	return from_terminal ? NP_SIDE_TERM : NP_SIDE_FAR;
}

/* The dialog state of a call, made on first use. */
static struct np_sip_dialog *dialog_of(struct np_call *call)
{
	if (!call->dialog)
		call->dialog = np_sip_dialog_new();
	return call->dialog;
}

/* The dialog's route set toward the core: uris joined, the block sized to
 * them (call->dialog may move); the empty set when they do not fit. */
static void dialog_route(struct np_call *call, char *const *uris, size_t n)
{
	char text[NP_ROUTESET_LEN];

	if (np_routeset_join(uris, n, text, sizeof(text)))
		text[0] = '\0';
	if (!np_sip_dialog_set_route(call, text) && call->dialog)
		((struct np_sip_dialog *)call->dialog)->core_route[0] = '\0';
}

/*
 * The SDP of c->msg from one side, as an offer or the answer to the
 * pending one, handed to the core and rewritten in the message. A
 * response's SDP answers when its request made the offer; otherwise SDP
 * answers an offer the other side has pending and else offers. 0 without
 * SDP; the core's errors otherwise (nothing changed then).
 */
static int take_media(struct sipctx *c, struct np_call *call,
		      bool from_terminal, const struct np_txn *txn)
{
	/* The rewritten SDP, before it replaces the body. Not malloc'd per
	 * message: glibc's free() of 64 KiB consolidates the heap and gives
	 * the top back to the kernel, so each SDP cost 16 page faults. */
	static char out[SDP_MAX];
	enum np_side from = side_of(from_terminal);
	const char *body, *why = "no memory";
	char fork[NP_FORK_TAG_MAX] = "";
	osip_generic_param_t *tag = NULL;
	bool answer;
	size_t len, out_len;
	int err;

	body = np_sipmsg_sdp(c->msg, &len);
	if (!body)
		return 0;
	if (MSG_IS_RESPONSE(c->msg))
		answer = (txn && txn->offer) ||
			 (call->pending && call->pending != from);
	else
		answer = call->pending && call->pending != from;
	if (MSG_IS_RESPONSE(c->msg) && c->msg->to &&
	    !osip_to_get_tag(c->msg->to, &tag) && tag && tag->gvalue)
		snprintf(fork, sizeof(fork), "%s", tag->gvalue);
	err = answer ? np_media_answer(c->core, c->t, call, from, fork, body,
				       len, out, SDP_MAX, &out_len, &why) :
		       np_media_offer(c->core, c->t, call, from, body, len, out,
				      SDP_MAX, &out_len, &why);
	if (!err)
		err = np_sipmsg_set_sdp(c->msg, out, out_len);
	if (err)
		np_warn("call '%s': SDP %s from the %s not relayed: %s",
			call->id, answer ? "answer" : "offer",
			from_terminal ? "terminal" : "core", why);
	return err;
}

/* Records what ending the dialog ourselves will need (RFC 3261 12.1). */
static void learn_request(struct sipctx *c, struct np_call *call,
			  bool from_terminal)
{
	osip_message_t *m = c->msg;
	struct np_sip_dialog *d = dialog_of(call);
	uint32_t cseq = np_sipmsg_cseq(m);
	uint32_t *mine;

	if (!d)
		return;
	mine = from_terminal ? &d->term_cseq : &d->core_cseq;
	/* Saved: a restart's BYE must go on from it. */
	if (!MSG_IS_ACK(m) && !MSG_IS_CANCEL(m) && cseq > *mine) {
		*mine = cseq;
		np_call_changed(c->core, c->t, call);
	}
	if (!MSG_IS_INVITE(m) || call->from[0])
		return;
	np_sipmsg_from(m, call->from, sizeof(call->from));
	np_sipmsg_to(m, call->to, sizeof(call->to));
	if (!from_terminal)
		np_sipmsg_contact_uri(m, d->far_target, sizeof(d->far_target));
}

static void learn_answer(struct sipctx *c, struct np_call *call,
			 bool from_terminal)
{
	struct np_sip_dialog *d = dialog_of(call);

	if (call->answered)
		return;
	np_call_answered(c->core, c->t, call, c->now);
	np_sipmsg_to(c->msg, call->to, sizeof(call->to));
	if (!from_terminal && d)
		np_sipmsg_contact_uri(c->msg, d->far_target,
				      sizeof(d->far_target));
}

/*
 * A final response to an INVITE or UPDATE of the call: a 2xx confirms it
 * (an SDP-less 2xx to a forked call picks its fork's SDP); an error ends
 * an unanswered call, except a challenge (401/407), which the retry
 * continues; an error to a re-INVITE or UPDATE only rolls its offer back.
 */
static void final_response(struct sipctx *c, struct np_call *call,
			   bool from_terminal)
{
	osip_message_t *m = c->msg;
	int code = m->status_code;
	osip_generic_param_t *tag = NULL;

	if (code < 200)
		return;
	if (MSG_IS_STATUS_2XX(m)) {
		if (!np_sipmsg_sdp(m, &(size_t){ 0 }) && !from_terminal &&
		    m->to && !osip_to_get_tag(m->to, &tag) && tag &&
		    tag->gvalue)
			np_media_use_fork(c->core, c->t, call, tag->gvalue);
		if (MSG_IS_RESPONSE_FOR(m, "INVITE"))
			learn_answer(c, call, from_terminal);
		return;
	}
	/* A challenged first INVITE keeps its relays for the retry, which
	 * offers the same again (the stream's ports stay the call's). */
	if (MSG_IS_RESPONSE_FOR(m, "INVITE") && !call->answered &&
	    (code == 401 || code == 407)) {
		call->expires = c->now + CHALLENGE_WAIT;
		call->expiry_reason = NP_END_REJECTED;
		np_call_wake(c->core, call); /* sooner than it rang until */
		return;
	}
	np_media_rollback(c->core, c->t, call);
	if (!MSG_IS_RESPONSE_FOR(m, "INVITE") || call->answered)
		return;
	np_call_end(c->core, c->t, call, NP_END_REJECTED, c->now);
}

/* --- registrations per Contact ------------------------------------------- */

/* The index of st's binding that is b, n_bindings if none. */
static size_t binding_find(const struct np_sip_term *st,
			   const struct np_sip_binding *b)
{
	size_t j;

	for (j = 0; j < st->n_bindings; j++)
		if (np_binding_same(&st->bindings[j], b))
			break;
	return j;
}

/* Room for the bindings a REGISTER's Contacts add, taken before anything
 * of the REGISTER is: without the memory it is refused, not half learnt. */
static int bindings_room(struct sipctx *c)
{
	struct np_sip_binding got[NP_SIP_BINDINGS];
	size_t n = 0, i, want = c->st->n_bindings;

	if (np_contacts_get(c->msg, got, NP_SIP_BINDINGS, &n))
		return 0; /* learnt from none (bindings_learn) */
	for (i = 0; i < n; i++)
		want += !got[i].star &&
			binding_find(c->st, &got[i]) == c->st->n_bindings;
	return np_sip_bindings_room(c->st, want < NP_SIP_BINDINGS ?
						   want :
						   NP_SIP_BINDINGS);
}

/* The Contacts of a terminal's REGISTER become (or refresh) bindings. */
static void bindings_learn(struct sipctx *c)
{
	struct np_sip_binding got[NP_SIP_BINDINGS];
	struct np_sip_term *st = c->st;
	size_t n = 0, i, j;

	if (np_contacts_get(c->msg, got, NP_SIP_BINDINGS, &n))
		return;
	for (i = 0; i < n; i++) {
		if (got[i].star)
			continue;
		j = binding_find(st, &got[i]);
		if (j == st->n_bindings) {
			if (j == st->room)
				continue;
			st->n_bindings++;
			st->binding_until[j] = 0;
		}
		st->bindings[j] = got[i];
	}
}

/* The 200 to a REGISTER gives each binding its own lifetime; one it no
 * longer lists is gone. Returns when the last one runs out (0: none). */
static time_t bindings_settle(struct sipctx *c)
{
	struct np_sockaddr ours = sip_core_addr(c);
	struct np_sip_term *st = c->st;
	time_t last = 0;
	size_t i, k = 0;
	long e;

	for (i = 0; i < st->n_bindings; i++) {
		e = np_binding_expires_at(&st->bindings[i], c->msg, &ours);
		if (e <= 0)
			continue;
		st->bindings[k] = st->bindings[i];
		st->binding_until[k] = c->now + e;
		if (st->binding_until[k] > last)
			last = st->binding_until[k];
		k++;
	}
	st->n_bindings = k;
	return last;
}

/* The 200's Contacts at the terminal's core address get the terminal's
 * own URIs back, each its own (RFC 3261 10.2.4: it looks for them). */
static void bindings_restore(struct sipctx *c)
{
	struct np_sockaddr ours = sip_core_addr(c), at;
	const struct np_sip_binding *b;
	osip_contact_t *ct = NULL;
	osip_uri_t *orig;
	int i;

	if (!c->st->n_bindings) {
		np_sipmsg_restore_contact(c->msg, &ours, c->st->contact);
		return;
	}
	for (i = 0; (ct = osip_list_get(&c->msg->contacts, i)); i++) {
		if (!ct->url || np_sipaddr_parse(ct->url->host, ct->url->port,
						 5060, &at) ||
		    !np_sockaddr_eq(&at, &ours))
			continue;
		b = np_binding_for_ruri(c->st->bindings, c->st->n_bindings,
					ct->url);
		if (!b || osip_uri_init(&orig))
			continue;
		if (osip_uri_parse(orig, b->uri)) {
			osip_uri_free(orig);
			continue;
		}
		osip_uri_free(ct->url);
		ct->url = orig;
	}
}

/* The terminal's Contact a request from the core is for. */
static const char *binding_target(struct sipctx *c)
{
	const struct np_sip_binding *b =
		np_binding_for_ruri(c->st->bindings, c->st->n_bindings,
				    c->msg->req_uri);

	return b ? b->uri : c->st->contact;
}

/* --- routing (RFC 3261 16.4, 16.6, 16.12; RFC 5658) ----------------------- */

/* Whether uri names natproxy: the access address (port ACC_PORT, or none
 * when that is 5060) or a terminal's core address. */
static bool names_us(void *arg, const osip_uri_t *uri)
{
	struct sipctx *c = arg;
	struct np_sockaddr a;
	size_t i;

	if (!uri || !uri->host ||
	    np_sipaddr_parse(uri->host, uri->port, 5060, &a))
		return false;
	for (i = 0; i < c->core->cfg->n_realms; i++) {
		const struct np_realm *r = &c->core->cfg->realms[i];
		struct np_sockaddr ours = r->address;

		ours.port = a.port;
		if (!np_sockaddr_eq(&ours, &a))
			continue;
		if (r->sip_port && a.port == r->sip_port)
			return true;
		if (np_term_by_core_port(c->core, i, a.port) ||
		    np_core_port_quarantined(c->core, i, a.port))
			return true;
	}
	return false;
}

static bool any_route(void *arg, const osip_uri_t *uri)
{
	(void)arg;
	(void)uri;
	return true;
}

/* natproxy's Record-Route entry on one side: its access address toward
 * the terminal, the terminal's core address toward the core. */
static void our_rr(const struct sipctx *c, bool toward_terminal, char *out,
		   size_t len)
{
	struct np_sockaddr a = toward_terminal ? c->access->address :
						 sip_core_addr(c);
	char host[INET6_ADDRSTRLEN + 2];

	if (toward_terminal)
		a.port = c->access->sip_port;
	snprintf(out, len, "<sip:%s:%u;lr>",
		 np_sipaddr_host(&a, host, sizeof(host)), a.port);
}

/* The call (INVITE dialog) c->msg belongs to, if any. */
static struct np_call *call_of(struct sipctx *c)
{
	char call_id[256];

	np_sipmsg_call_id(c->msg, call_id, sizeof(call_id));
	return call_id[0] ? np_call_find(c->core, c->t, call_id) : NULL;
}

/* Whether uri is natproxy's core-side entry for this very terminal (two
 * terminals of this proxy in one call both have one in the list). */
static bool names_this_term(void *arg, const osip_uri_t *uri)
{
	struct sipctx *c = arg;
	struct np_sockaddr a, ours = sip_core_addr(c);

	return uri && uri->host &&
	       !np_sipaddr_parse(uri->host, uri->port, 5060, &a) &&
	       np_sockaddr_eq(&a, &ours);
}

/* Record-Route of a message toward one side: toward the terminal only
 * natproxy's access entry (the core's are hidden); toward the core, for a
 * dialog the terminal answers, natproxy's entry for this terminal on top
 * (it is the proxy nearest the callee) above the core's own entries. */
static void set_rr(struct sipctx *c, bool toward_terminal, const char *core_rr)
{
	char *list[NP_ROUTESET_MAX + 1], ours[128];
	size_t n = 0;

	if (!toward_terminal && core_rr && *core_rr &&
	    np_routeset_split(core_rr, list + 1, NP_ROUTESET_MAX, &n))
		n = 0;
	our_rr(c, toward_terminal, ours, sizeof(ours));
	list[0] = ours;
	if (np_rr_set(c->msg, list, n + 1))
		np_warn("Record-Route not rewritten");
	np_rr_free(list + 1, n);
}

/*
 * A request from the terminal toward the core: the Route entries naming
 * natproxy go (a pre-loaded outbound proxy, or the route set natproxy gave
 * it); in a dialog the core's route set goes back in front; a new INVITE
 * dialog gets natproxy's core-side Record-Route.
 */
static void route_to_core(struct sipctx *c)
{
	osip_message_t *m = c->msg;
	struct np_call *call = call_of(c);
	const struct np_sip_dialog *d = call ? call->dialog : NULL;
	char *list[NP_ROUTESET_MAX + 1], ours[128];
	size_t n = 0;

	np_route_pop_ours(m, names_us, c);
	if (np_sipmsg_to_tag(m)[0] && d && d->core_route[0] &&
	    np_route_prepend_set(m, d->core_route))
		np_warn("call '%s': route set not restored", call->id);
	if (!MSG_IS_INVITE(m) || np_sipmsg_to_tag(m)[0])
		return;
	if (np_rr_get(m, list, NP_ROUTESET_MAX, &n))
		return;
	memmove(list + 1, list, n * sizeof(*list));
	our_rr(c, false, ours, sizeof(ours));
	list[0] = ours;
	np_rr_set(m, list, n + 1);
	np_rr_free(list + 1, n);
}

/*
 * A request from the core toward the terminal: Route entries are for the
 * core's hops (natproxy's own included) and go; a new INVITE dialog keeps
 * the core's Record-Route as its route set toward the core (the callee's
 * order) and shows the terminal natproxy's access entry alone.
 */
static void route_to_terminal(struct sipctx *c)
{
	osip_message_t *m = c->msg;
	struct np_call *call;
	struct np_sip_dialog *d;
	char *list[NP_ROUTESET_MAX];
	size_t n = 0;

	np_route_pop_ours(m, any_route, NULL);
	if (!MSG_IS_INVITE(m) || np_sipmsg_to_tag(m)[0])
		return;
	call = call_of(c);
	d = call ? dialog_of(call) : NULL;
	if (d && !np_rr_get(m, list, NP_ROUTESET_MAX, &n)) {
		dialog_route(call, list, n);
		np_rr_free(list, n);
		np_call_changed(c->core, c->t, call);
	}
	set_rr(c, true, NULL);
}

/*
 * A response in an INVITE dialog: from the core (the terminal called),
 * the entries above natproxy's own, reversed, are the route set toward
 * the core; the terminal sees natproxy's access entry alone. From the
 * terminal (it was called), the core gets its own entries back with
 * natproxy's below.
 */
static void route_response(struct sipctx *c, bool from_terminal)
{
	osip_message_t *m = c->msg;
	struct np_call *call = call_of(c);
	struct np_sip_dialog *d = call ? dialog_of(call) : NULL;
	char *list[NP_ROUTESET_MAX], *rev[NP_ROUTESET_MAX];
	size_t n = 0, mine, i;

	if (!d || !MSG_IS_RESPONSE_FOR(m, "INVITE") || m->status_code < 101 ||
	    m->status_code >= 300)
		return;
	if (from_terminal) {
		set_rr(c, false, d->core_route);
		return;
	}
	/* The route set is fixed when the dialog is made (RFC 3261 12.1.2):
	 * a re-INVITE's response does not change it. */
	if (call->outgoing && !call->answered &&
	    !np_rr_get(m, list, NP_ROUTESET_MAX, &n)) {
		mine = np_rr_index_of_ours(m, names_this_term, c);
		for (i = 0; i < mine && i < n; i++)
			rev[i] = list[mine - 1 - i];
		dialog_route(call, rev, i);
		np_rr_free(list, n);
		np_call_changed(c->core, c->t, call);
	}
	set_rr(c, true, NULL);
}

/* Whether a request may carry an offer or answer natproxy relays. */
static bool media_method(const osip_message_t *m)
{
	return MSG_IS_INVITE(m) || MSG_IS_ACK(m) || MSG_IS_UPDATE(m) ||
	       MSG_IS_PRACK(m);
}

/* Refuses a terminal's request with our own final response; its ACK is
 * then ours too (RFC 3261 17.2.1) and must not reach the core. */
static void refuse(struct sipctx *c, struct np_txn *txn, int code,
		   const char *reason)
{
	np_warn("request '%s' from terminal refused: %d %s",
		c->msg->sip_method, code, reason);
	if (txn) {
		txn->answered_here = true;
		np_txn_final(&c->sip->txns, txn, c->now);
	}
	sip_answer(c->sip, c->pair->first, c->access->sip_port, &c->src,
		   c->msg, code, reason);
}

/* An SDP refused: 488 if natproxy cannot rewrite it, 503 if out of ports. */
static int refusal_code(int err, const char **reason)
{
	*reason = err == -EINVAL ? "Not Acceptable Here" : "Service Unavailable";
	return err == -EINVAL ? 488 : 503;
}

/*
 * The media of a request from either side: finds or makes the call (an
 * INVITE may make one), takes its SDP. 0, or a refusal code with reason.
 */
static int request_media(struct sipctx *c, bool from_terminal,
			 struct np_txn *txn, const char **reason)
{
	osip_message_t *m = c->msg;
	bool sdp = np_sipmsg_sdp(m, &(size_t){ 0 }) != NULL;
	char call_id[256];
	struct np_call *call;
	int err;

	if (!media_method(m) || (!sdp && !MSG_IS_INVITE(m)))
		return 0;
	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	call = np_call_find(c->core, c->t, call_id);
	if (!call && MSG_IS_INVITE(m))
		call = np_call_new(c->core, c->t, call_id, from_terminal,
				   c->now);
	if (!call) {
		if (!MSG_IS_INVITE(m))
			return 0; /* SDP outside any call of ours: as is */
		*reason = "Service Unavailable";
		return 503;
	}
	learn_request(c, call, from_terminal);
	if (MSG_IS_INVITE(m) && !call->answered &&
	    call->expiry_reason != NP_END_NEVER_ANSWERED) {
		/* The retry of a challenged INVITE rings anew. */
		call->expires = c->now + 300;
		call->expiry_reason = NP_END_NEVER_ANSWERED;
	}
	err = take_media(c, call, from_terminal, NULL);
	if (!err) {
		if (txn && sdp && call->pending == side_of(from_terminal))
			txn->offer = true;
		return 0;
	}
	if (!call->answered && !call->agreed_any)
		np_call_end(c->core, c->t, call, NP_END_REFUSED, c->now);
	return refusal_code(err, reason);
}

/* In-dialog bookkeeping of a forwarded request: BYE and the CANCEL of an
 * unanswered call end it. */
static void request_dialog(struct sipctx *c, bool from_terminal)
{
	osip_message_t *m = c->msg;
	char call_id[256];
	struct np_call *call;

	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	call = np_call_find(c->core, c->t, call_id);
	if (!call)
		return;
	if (!media_method(m) || !np_sipmsg_sdp(m, &(size_t){ 0 }))
		learn_request(c, call, from_terminal);
	if (MSG_IS_BYE(m))
		np_call_end(c->core, c->t, call, NP_END_BYE, c->now);
	else if (MSG_IS_CANCEL(m) && !call->answered)
		np_call_end(c->core, c->t, call, NP_END_CANCEL, c->now);
}

/* A header of msg as text (From, To) into out; "" when absent. */
static void header_text(const osip_message_t *m, bool to, char *out,
			size_t len)
{
	if ((to ? np_sipmsg_to(m, out, len) : np_sipmsg_from(m, out, len)))
		out[0] = '\0';
}

/*
 * A 2xx whose SDP natproxy cannot relay is never forwarded as it is
 * (docs/sip.md, failing closed): the side that sent it gets an ACK and,
 * for a new call, a BYE; the other side gets a 500 instead, whose ACK
 * stops here. A new call ends (refused); an established one keeps the
 * media it had agreed.
 */
static void refuse_answer(struct sipctx *c, struct np_call *call,
			  bool from_terminal, struct np_txn *txn)
{
	osip_message_t *m = c->msg;
	struct np_sip_dialog *d = dialog_of(call);
	char from[256], to[256], target[256], call_id[256];
	bool invite = MSG_IS_RESPONSE_FOR(m, "INVITE");
	struct sip_request rq = {
		.to_terminal = from_terminal,
		.from = from,
		.to = to,
		.target = target,
		.call_id = call_id,
	};

	header_text(m, false, from, sizeof(from));
	header_text(m, true, to, sizeof(to));
	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	if (np_sipmsg_contact_uri(m, target, sizeof(target)))
		target[0] = '\0';
	/* Toward the terminal its own Contact was rewritten: the original. */
	if (from_terminal)
		snprintf(target, sizeof(target), "%s", c->st->contact);
	rq.route = from_terminal || !d ? NULL : d->core_route;
	if (invite) {
		rq.method = "ACK";
		rq.cseq = np_sipmsg_cseq(m);
		sip_send_in_dialog(c->sip, c->t, &rq);
	}
	if (invite && !call->answered) {
		rq.method = "BYE";
		rq.cseq = np_sipmsg_cseq(m) + 1;
		rq.extra = "Reason: SIP;cause=488;text=\"SDP not relayable\"\r\n";
		sip_send_in_dialog(c->sip, c->t, &rq);
	}
	osip_message_set_status_code(m, 500);
	osip_free(m->reason_phrase);
	m->reason_phrase = osip_strdup("Server Internal Error");
	np_sipmsg_set_body(m, "", 0);
	if (m->content_type) {
		osip_content_type_free(m->content_type);
		m->content_type = NULL;
	}
	if (txn)
		txn->answered_here = true;
	np_media_rollback(c->core, c->t, call);
	if (invite && !call->answered)
		np_call_end(c->core, c->t, call, NP_END_REFUSED, c->now);
}

/* A response's media and dialog: SDP in any response to an offer-bearing
 * method is the offer's answer (or a late offer); finals settle it. */
static void response_media(struct sipctx *c, bool from_terminal,
			   struct np_txn *txn)
{
	osip_message_t *m = c->msg;
	char call_id[256];
	struct np_call *call;

	np_sipmsg_call_id(m, call_id, sizeof(call_id));
	call = np_call_find(c->core, c->t, call_id);
	if (!call || !(MSG_IS_RESPONSE_FOR(m, "INVITE") ||
		       MSG_IS_RESPONSE_FOR(m, "UPDATE") ||
		       MSG_IS_RESPONSE_FOR(m, "PRACK")))
		return;
	if (m->status_code < 300 && take_media(c, call, from_terminal, txn)) {
		if (m->status_code >= 200) {
			refuse_answer(c, call, from_terminal, txn);
			return;
		}
		/* Never forwarded as it was: a provisional response goes on
		 * without its body. */
		np_sipmsg_set_body(m, "", 0);
		if (m->content_type) {
			osip_content_type_free(m->content_type);
			m->content_type = NULL;
		}
	}
	final_response(c, call, from_terminal);
}

/* --- from the terminal ---------------------------------------------------- */

/*
 * The branch a terminal's request is known by: its own when made as RFC
 * 3261 says (magic cookie), else one of natproxy's derived from the RFC
 * 2543 matching fields, so two such transactions never share one (an
 * authenticated retry is not a retransmission) and the ACK or CANCEL of
 * an INVITE gets the INVITE's.
 */
static void term_branch(const osip_message_t *m, char *out, size_t len)
{
	const char *b = np_sipmsg_branch(m);
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	char key[1024];
	const char *p;

	if (!strncmp(b, "z9hG4bK", 7) ||
	    np_sipmsg_txn_key(m, key, sizeof(key))) {
		snprintf(out, len, "%s", b);
		return;
	}
	for (p = key; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	snprintf(out, len, "z9hG4bK-np2543-%016llx", (unsigned long long)h);
}

void sip_terminal_request(struct sipctx *c)
{
	struct np_sockaddr core_addr = sip_core_addr(c);
	char via[512], host[INET6_ADDRSTRLEN + 2], branch[NP_BRANCH_MAX + 32];
	const char *reason;
	osip_message_t *m = c->msg;
	struct np_txn *txn = NULL;
	int code;

	term_branch(m, branch, sizeof(branch));
	txn = np_txn_find(&c->sip->txns, branch, false, c->t);
	if (MSG_IS_ACK(m) && txn && txn->answered_here)
		return;
	if (!MSG_IS_ACK(m)) {
		if (!txn && c->access->max_transactions_per_terminal &&
		    c->st->open_txns >= c->access->max_transactions_per_terminal) {
			/* Each costs memory for up to 300 s: a terminal that
			 * opens more is flooding. */
			c->core->stats.over_limits++;
			sip_answer(c->sip, c->pair->first, c->access->sip_port,
				   &c->src, m, 503, "Service Unavailable");
			return;
		}
		if (!txn) {
			txn = np_txn_add(&c->sip->txns, c->t, &c->st->txns,
					 branch, m->sip_method, false, c->now);
			if (txn) {
				txn->open_count = &c->st->open_txns;
				c->st->open_txns++;
			}
		}
		if (!txn || np_sipmsg_top_via(m, txn->via, sizeof(txn->via))) {
			refuse(c, txn, 400, "Bad Request");
			return;
		}
	}
	if (MSG_IS_REGISTER(m) && np_sipmsg_expires(m, 3600) > 0 &&
	    !np_term_may_register(c->core, c->pair->first, &c->src, c->t)) {
		c->core->stats.denied++;
		refuse(c, txn, 403, "Too Many Registrations");
		return;
	}
	/* A draining pair lets registrations run out, unrenewed. */
	if (c->pair->draining && MSG_IS_REGISTER(m) &&
	    np_sipmsg_expires(m, 3600) > 0) {
		refuse(c, txn, 503, "Service Unavailable");
		return;
	}
	if (MSG_IS_REGISTER(m) && bindings_room(c)) {
		refuse(c, txn, 503, "Service Unavailable");
		return;
	}
	/* Media first: a refusal then answers the message as it came. */
	code = request_media(c, true, txn, &reason);
	if (code) {
		refuse(c, txn, code, reason);
		return;
	}
	/* Our Via, with the terminal's branch: the response finds its way. */
	snprintf(via, sizeof(via), "SIP/2.0/UDP %s:%u;branch=%s;rport",
		 np_sipaddr_host(&core_addr, host, sizeof(host)),
		 core_addr.port, branch);
	if (np_sipmsg_replace_top_via(m, via)) {
		refuse(c, txn, 400, "Bad Request");
		return;
	}
	if (MSG_IS_REGISTER(m)) {
		bindings_learn(c);
		np_sipmsg_aor(m, c->st->aor, sizeof(c->st->aor));
	}
	if (MSG_IS_REGISTER(m) || MSG_IS_INVITE(m) || MSG_IS_SUBSCRIBE(m)) {
		char contact[256];

		if (!np_sipmsg_contact_uri(m, contact, sizeof(contact)) &&
		    contact[0] && strcmp(contact, c->st->contact)) {
			memcpy(c->st->contact, contact, sizeof(contact));
			np_term_changed(c->core, c->t);
		}
	}
	np_sipmsg_set_contact_hostport(m, &core_addr);
	route_to_core(c);
	request_dialog(c, true);
	sip_send(c->sip, c->pair->second, c->t->core_port, &c->pair->softswitch,
		 m);
}

void sip_terminal_response(struct sipctx *c)
{
	const char *branch = np_sipmsg_branch(c->msg);
	struct np_sockaddr core_addr = sip_core_addr(c), dest;
	osip_message_t *m = c->msg;
	struct np_txn *txn;

	if (!strncmp(branch, KEEPALIVE_BRANCH, strlen(KEEPALIVE_BRANCH))) {
		np_term_alive(c->t);
		return;
	}
	if (!strncmp(branch, BYE_BRANCH, strlen(BYE_BRANCH)))
		return; /* the answer to a BYE of ours */
	txn = np_txn_find(&c->sip->txns, branch, true, NULL);
	if (!txn || txn->term != c->t) {
		c->core->stats.unmatched++;
		return;
	}
	np_sipmsg_pop_via(m);
	if (m->status_code >= 200)
		np_txn_final(&c->sip->txns, txn, c->now);
	if (np_sipmsg_via_dest(m, &dest))
		dest = c->pair->softswitch;
	/* A 3xx's Contacts are where to go instead: not the terminal. */
	if (m->status_code < 300 || m->status_code >= 400)
		np_sipmsg_set_contact_hostport(m, &core_addr);
	route_response(c, true);
	response_media(c, true, txn);
	sip_send(c->sip, c->pair->second, c->t->core_port, &dest, m);
}

/* --- from the core -------------------------------------------------------- */

void sip_core_request(struct sipctx *c)
{
	const char *upstream = np_sipmsg_branch(c->msg), *reason;
	struct np_sockaddr core_addr = sip_core_addr(c), dest;
	char via[512], host[INET6_ADDRSTRLEN + 2];
	osip_message_t *m = c->msg;
	struct np_txn *t;
	int code;

	if (!c->st->contact[0]) {
		c->core->stats.unmatched++;
		return;
	}
	if (np_sipmsg_request_uri_is(m, &core_addr))
		np_sipmsg_set_request_uri(m, binding_target(c));
	/* CANCEL and a non-2xx ACK reuse their INVITE's branch (RFC 3261 9.1,
	 * 17.1.1.3): find the branch we gave it. */
	t = np_txn_find_upstream(&c->sip->txns, upstream, c->t);
	/* The ACK of a final response we gave ourselves stops here. */
	if (t && t->answered_here && MSG_IS_ACK(m))
		return;
	if (!t) {
		t = np_txn_add(&c->sip->txns, c->t, &c->st->txns, upstream,
			       m->sip_method, true, c->now);
		if (!t)
			return;
	}
	snprintf(via, sizeof(via), "SIP/2.0/UDP %s:%u;branch=%s;rport",
		 np_sipaddr_host(&c->access->address, host, sizeof(host)),
		 c->access->sip_port, t->our_branch);
	if (np_sipmsg_push_via(m, via))
		return;
	code = request_media(c, false, t, &reason);
	if (code) {
		np_sipmsg_pop_via(m);
		t->answered_here = true;
		np_txn_final(&c->sip->txns, t, c->now);
		if (np_sipmsg_via_dest(m, &dest))
			dest = c->pair->softswitch;
		sip_answer(c->sip, c->pair->second, c->t->core_port, &dest, m,
			   code, reason);
		return;
	}
	route_to_terminal(c);
	request_dialog(c, false);
	sip_send(c->sip, c->pair->first, c->access->sip_port, &c->t->nat, m);
}

void sip_core_response(struct sipctx *c)
{
	const char *branch = np_sipmsg_branch(c->msg);
	osip_message_t *m = c->msg;
	struct np_txn *txn;
	long expires;
	time_t until;

	if (!strncmp(branch, BYE_BRANCH, strlen(BYE_BRANCH)))
		return; /* the answer to a BYE of ours */
	txn = np_txn_find(&c->sip->txns, branch, false, c->t);
	if (!txn || np_sipmsg_replace_top_via(m, txn->via)) {
		c->core->stats.unmatched++;
		return;
	}
	if (m->status_code >= 200)
		np_txn_final(&c->sip->txns, txn, c->now);
	if (MSG_IS_RESPONSE_FOR(m, "REGISTER") && MSG_IS_STATUS_2XX(m)) {
		until = c->st->n_bindings ? bindings_settle(c) : 0;
		if (!c->st->n_bindings) {
			expires = np_sipmsg_expires(m, 0);
			until = expires > 0 ? c->now + expires : 0;
		}
		np_term_registered(c->core, c->t, until, c->now);
		np_info("terminal registered through core port %u for %lds "
			"(%zu bindings)",
			c->t->core_port, until ? (long)(until - c->now) : 0L,
			c->st->n_bindings);
		bindings_restore(c);
	}
	route_response(c, false);
	response_media(c, false, txn);
	sip_send(c->sip, c->pair->first, c->access->sip_port, &c->t->nat, m);
}
