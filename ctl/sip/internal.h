/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the SIP driver's files share: the context of one message being
 * relayed, and the functions each file offers the others.
 */
#ifndef NATPROXY_SIP_INTERNAL_H
#define NATPROXY_SIP_INTERNAL_H

#include "sip/sip.h"
#include "sip/sipmsg.h"

#define KEEPALIVE_BRANCH "z9hG4bK-npka"
#define BYE_BRANCH "z9hG4bK-npbye" /* our own BYEs */
#define CHALLENGE_WAIT 32 /* s a challenged call waits for its retry */

/* One message on its way, with the terminal it belongs to. */
struct sipctx {
	struct np_sip *sip;
	struct np_core *core;
	struct np_term *t;
	struct np_sip_term *st;
	const struct np_pair *pair;
	const struct np_realm *access, *corer;
	osip_message_t *msg;
	struct np_sockaddr src;
	time_t now;
};

void sipctx_init(struct sipctx *c, struct np_sip *sip, struct np_term *t);
struct np_sockaddr sip_core_addr(const struct sipctx *c);

/* forward.c: the four directions. */
void sip_terminal_request(struct sipctx *c);
void sip_terminal_response(struct sipctx *c);
void sip_core_request(struct sipctx *c);
void sip_core_response(struct sipctx *c);

/* requests.c: what natproxy sends of its own. */
void sip_count(struct np_sip *sip, size_t realm, const osip_message_t *msg,
	       bool out);
int sip_send(struct np_sip *sip, size_t realm, uint16_t from_port,
	     const struct np_sockaddr *to, osip_message_t *msg);
void sip_answer(struct np_sip *sip, size_t realm, uint16_t from_port,
		const struct np_sockaddr *to, osip_message_t *req, int code,
		const char *reason);
bool sip_keepalive(void *ctx, struct np_term *t);
/* A request natproxy makes in a dialog: what it needs. */
struct sip_request {
	const char *method, *target, *route, *from, *to, *call_id;
	const char *extra; /* more header lines, CRLF-ended, or NULL */
	uint32_t cseq;
	bool to_terminal;
};
void sip_send_in_dialog(struct np_sip *sip, struct np_term *t,
			const struct sip_request *rq);
void sip_call_abort(void *ctx, struct np_term *t, struct np_call *call,
		    enum np_end_reason why);

#endif
