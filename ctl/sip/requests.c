// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the SIP driver sends of its own: responses to requests it does not
 * forward (RFC 3261 8.2.6), keepalive OPTIONS (claim 3), and the BYEs that
 * end a dialog on both sides when the core ends a call (media timeout,
 * terminal lost), each with the dialog's route set.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "sip/internal.h"

const char *const np_sip_method_names[NP_SIP_METHOD_MAX] = {
	NP_SIP_METHODS(NP_NAME_ENTRY)
};
const char *const np_reject_names[NP_REJECT_MAX] = {
	NP_REJECT_CODES(NP_NAME_ENTRY)
};

static enum np_sip_method method_index(const char *method)
{
	int i;

	for (i = 0; method && i < NP_SIP_OTHER; i++)
		if (!strcmp(method, np_sip_method_names[i]))
			return i;
	return NP_SIP_OTHER;
}

/* A message received on (out false) or sent from (out true) realm. */
void sip_count(struct np_sip *sip, size_t realm, const osip_message_t *msg,
	       bool out)
{
	struct np_sip_counters *rc = &sip->ctr[realm];
	int code = msg->status_code;

	if (MSG_IS_REQUEST(msg))
		(out ? rc->requests_out : rc->requests_in)
			[method_index(msg->sip_method)]++;
	else if (code >= 100 && code <= 699)
		(out ? rc->responses_out : rc->responses_in)[code / 100 - 1]++;
}

int sip_send(struct np_sip *sip, size_t realm, uint16_t from_port,
	     const struct np_sockaddr *to, osip_message_t *msg)
{
	struct np_core *core = sip->core;
	size_t len;
	char *buf;
	int err;

	err = np_sipmsg_serialize(msg, &buf, &len);
	if (err)
		return err;
	err = core->io->send(core->io_ctx, realm, from_port, to, buf, len);
	osip_free(buf);
	if (!err) {
		core->stats.forwarded++;
		sip_count(sip, realm, msg, true);
	}
	return err;
}

static void count_reject(struct np_sip *sip, size_t realm, int code)
{
	static const int codes[NP_REJECT_MAX] = { 400, 403, 480, 488, 503 };
	int i;

	if (code == 400)
		sip->core->stats.answered_400++;
	else if (code == 503)
		sip->core->stats.answered_503++;
	for (i = 0; i < NP_REJECT_MAX; i++)
		if (codes[i] == code)
			sip->ctr[realm].rejected[i]++;
}

void sip_answer(struct np_sip *sip, size_t realm, uint16_t from_port,
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
	sip_send(sip, realm, from_port, &dest, resp);
	osip_message_free(resp);
	count_reject(sip, realm, code);
}

bool sip_keepalive(void *ctx, struct np_term *t)
{
	struct np_sip *sip = ctx;
	struct np_core *core = sip->core;
	const struct np_pair *pair = np_core_pair(core, t);
	const struct np_realm *acc = &core->cfg->realms[pair->first];
	const struct np_sip_term *st = t->signaling;
	char host[INET6_ADDRSTRLEN + 2], buf[1024];
	unsigned long long id = ++core->next_id;
	int n;

	if (core->cfg->keepalive_method == NP_KEEPALIVE_CRLF || !st ||
	    !st->contact[0]) {
		core->io->send(core->io_ctx, pair->first, acc->sip_port,
			       &t->nat, "\r\n\r\n", 4);
		return false; /* a CRLF ping gets no answer over UDP */
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
		     st->contact, host, acc->sip_port, KEEPALIVE_BRANCH, id,
		     host, id, st->contact, id, host);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    !core->io->send(core->io_ctx, pair->first, acc->sip_port, &t->nat,
			    buf, (size_t)n))
		sip->ctr[pair->first].requests_out[NP_SIP_OPTIONS]++;
	return true;
}

/*
 * A request of our own in a dialog (ACK, BYE), toward the terminal (from
 * the access socket, to its NAT mapping) or toward the core (from its core
 * address, to the softswitch, with the dialog's route set in front).
 */
void sip_send_in_dialog(struct np_sip *sip, struct np_term *t,
			const struct sip_request *rq)
{
	struct np_core *core = sip->core;
	const struct np_pair *pair = np_core_pair(core, t);
	size_t realm = rq->to_terminal ? pair->first : pair->second;
	const struct np_realm *r = &core->cfg->realms[realm];
	uint16_t port = rq->to_terminal ? r->sip_port : t->core_port;
	char host[INET6_ADDRSTRLEN + 2], buf[4096], route[NP_ROUTESET_LEN + 16];
	unsigned long long id = ++core->next_id;
	int n;

	if (!rq->target[0] || !rq->from[0] || !rq->to[0])
		return;
	route[0] = 0;
	if (rq->route && rq->route[0])
		snprintf(route, sizeof(route), "Route: %s\r\n", rq->route);
	np_sipaddr_host(&r->address, host, sizeof(host));
	n = snprintf(buf, sizeof(buf),
		     "%s %s SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP %s:%u;branch=%s%llx;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "%s"
		     "From: %s\r\n"
		     "To: %s\r\n"
		     "Call-ID: %s\r\n"
		     "CSeq: %u %s\r\n"
		     "%s"
		     "Content-Length: 0\r\n\r\n",
		     rq->method, rq->target, host, port, BYE_BRANCH, id, route,
		     rq->from, rq->to, rq->call_id, rq->cseq, rq->method,
		     rq->extra ? rq->extra : "");
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	if (!core->io->send(core->io_ctx, realm, port,
			    rq->to_terminal ? &t->nat : &pair->softswitch, buf,
			    (size_t)n))
		sip->ctr[realm].requests_out[!strcmp(rq->method, "ACK") ?
						     NP_SIP_ACK :
						     NP_SIP_BYE]++;
}

/*
 * A BYE of our own for a dialog the core ends, toward the terminal or
 * toward the core, as the other side of the dialog would send it.
 */
static void send_bye(struct np_sip *sip, struct np_term *t,
		     struct np_call *call, bool to_terminal,
		     enum np_end_reason why)
{
	const struct np_sip_dialog *d = call->dialog;
	const struct np_sip_term *st = t->signaling;
	char reason[128];
	struct sip_request rq = {
		.method = "BYE",
		.to_terminal = to_terminal,
		.call_id = call->id,
		.extra = reason,
	};

	if (!d || !st)
		return;
	/* The terminal's side of the dialog: From/To as it sent them when it
	 * called, swapped when it was called. */
	if (call->outgoing == to_terminal) {
		rq.from = call->to;
		rq.to = call->from;
	} else {
		rq.from = call->from;
		rq.to = call->to;
	}
	rq.target = to_terminal ? st->contact : d->far_target;
	rq.route = to_terminal ? NULL : d->core_route;
	rq.cseq = (to_terminal ? d->core_cseq : d->term_cseq) + 1;
	snprintf(reason, sizeof(reason),
		 "Reason: SIP;cause=%d;text=\"%s\"\r\n",
		 why == NP_END_TERMINAL_LOST ? 480 : 408,
		 why == NP_END_MEDIA_TIMEOUT ? "media timeout" :
					       np_end_reason_names[why]);
	sip_send_in_dialog(sip, t, &rq);
}

/* The core ends a call on its own: an answered one ends with BYE both ways
 * (a lost terminal's side too: it may be back behind another mapping). */
void sip_call_abort(void *ctx, struct np_term *t, struct np_call *call,
		    enum np_end_reason why)
{
	struct np_sip *sip = ctx;

	if (!call->answered)
		return;
	send_bye(sip, t, call, true, why);
	send_bye(sip, t, call, false, why);
}
