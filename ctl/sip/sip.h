/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SIP driver of the call core (claims 1-6, 11): a terminal seen through
 * its NAT gets a signaling address of its own on the core realm; messages
 * are relayed between the two sides with their Via, Contact, Route and
 * Record-Route rewritten (docs/sip.md), and their SDP handed to the core's
 * offer/answer. Parse, decide and rewrite happen here; sockets and maps are
 * reached only through the core's io, so tests drive it with recorded
 * messages and a fake io.
 */
#ifndef NATPROXY_SIP_H
#define NATPROXY_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core.h"
#include "log.h"
#include "sip/contact.h"
#include "sip/route.h"
#include "sip/transaction.h"

/* SIP methods counted by name (metrics); any other is NP_SIP_OTHER. */
#define NP_SIP_METHODS(X)                                                      \
	X(NP_SIP_INVITE, "INVITE")                                             \
	X(NP_SIP_ACK, "ACK")                                                   \
	X(NP_SIP_BYE, "BYE")                                                   \
	X(NP_SIP_CANCEL, "CANCEL")                                             \
	X(NP_SIP_REGISTER, "REGISTER")                                         \
	X(NP_SIP_OPTIONS, "OPTIONS")                                           \
	X(NP_SIP_UPDATE, "UPDATE")                                             \
	X(NP_SIP_PRACK, "PRACK")                                               \
	X(NP_SIP_INFO, "INFO")                                                 \
	X(NP_SIP_SUBSCRIBE, "SUBSCRIBE")                                       \
	X(NP_SIP_NOTIFY, "NOTIFY")                                             \
	X(NP_SIP_REFER, "REFER")                                               \
	X(NP_SIP_MESSAGE, "MESSAGE")                                           \
	X(NP_SIP_PUBLISH, "PUBLISH")                                           \
	X(NP_SIP_OTHER, "other")
enum np_sip_method { NP_SIP_METHODS(NP_ENUM_ENTRY) NP_SIP_METHOD_MAX };
extern const char *const np_sip_method_names[NP_SIP_METHOD_MAX];

/* Final responses natproxyd gives itself instead of forwarding. */
#define NP_REJECT_CODES(X)                                                     \
	X(NP_REJECT_400, "400")                                                \
	X(NP_REJECT_403, "403")                                                \
	X(NP_REJECT_480, "480")                                                \
	X(NP_REJECT_488, "488")                                                \
	X(NP_REJECT_503, "503")
enum np_reject { NP_REJECT_CODES(NP_ENUM_ENTRY) NP_REJECT_MAX };
extern const char *const np_reject_names[NP_REJECT_MAX];

/* What a realm's signaling did, for the metrics: counted where messages
 * are received and sent. */
struct np_sip_counters {
	uint64_t requests_in[NP_SIP_METHOD_MAX], requests_out[NP_SIP_METHOD_MAX];
	uint64_t responses_in[6], responses_out[6]; /* 1xx .. 6xx */
	uint64_t rejected[NP_REJECT_MAX];
};

#define NP_SIP_BINDINGS 8 /* Contacts one terminal registers at once */

/* What SIP keeps of a terminal (the core's term->signaling). */
struct np_sip_term {
	char contact[256]; /* its Contact URI, as it wrote it last */
	/* Its registered Contacts (lines, accounts, instances), each with
	 * its own lifetime (0: not registered): n_bindings of them, in one
	 * block with room for `room` (np_sip_bindings_room), sized as they
	 * come: most terminals register one, and a block for the most
	 * (NP_SIP_BINDINGS) would be most of a terminal's memory. */
	struct np_sip_binding *bindings;
	time_t *binding_until;
	size_t n_bindings, room;
	char aor[256]; /* the To of its REGISTER: who it is */
	uint32_t open_txns; /* transactions of its requests in flight */
	struct np_txn *txns; /* all of its transactions (transaction.c) */
};

/* What SIP keeps of a dialog (the core's call->dialog): what ending it
 * ourselves takes (RFC 3261 12) and its route set toward the core. */
struct np_sip_dialog {
	char far_target[256]; /* the far end's Contact URI */
	uint32_t term_cseq, core_cseq; /* highest CSeq from each side */
	/* Route set toward the core, first hop first, comma-separated, in
	 * the block as long as it is (most are one hop or none; room for
	 * the longest, NP_ROUTESET_LEN, was most of a call's memory). */
	char core_route[];
};

/* Room for a dialog and a route set of up to route_len characters: what a
 * struct np_sip_dialog on the stack is declared as. */
#define NP_SIP_DIALOG_BUF(name, route_len)                                     \
	union {                                                                \
		struct np_sip_dialog d;                                        \
		char raw[sizeof(struct np_sip_dialog) + (route_len) + 1];      \
	} name

/* Log lines about bad input, each kind rate-limited. */
struct np_sip_log_limits {
	struct np_log_limit malformed, denied, strangers, rate, refused;
};

struct np_sip {
	struct np_core *core;
	struct np_sip_log_limits log;
	struct np_txns txns;
	struct np_sip_counters *ctr; /* per realm */
	size_t n_ctr;
	struct np_driver driver;
};

int np_sip_init(struct np_sip *sip, struct np_core *core);
void np_sip_fini(struct np_sip *sip);
/* After a reload grew the configuration (core reconfigured first). */
int np_sip_reconfigure(struct np_sip *sip);
/* A datagram arrived at realm's address:local_port from src. */
void np_sip_input(struct np_sip *sip, size_t realm, uint16_t local_port,
		  const struct np_sockaddr *src, const char *buf, size_t len,
		  time_t now);
void np_sip_tick(struct np_sip *sip, time_t now);

/* SIP state of a terminal / dialog read back from the state file. */
struct np_sip_term *np_sip_term_new(void);
/* Room for n bindings (at most NP_SIP_BINDINGS), those held kept: 0 or
 * -ENOMEM (nothing changed). */
int np_sip_bindings_room(struct np_sip_term *st, size_t n);
/* Empties st (its bindings' block freed), to be filled again. */
void np_sip_term_reset(struct np_sip_term *st);
/* A terminal's SIP state copied, bindings and all, without its
 * transactions (not kept across a restart); NULL without the memory. */
struct np_sip_term *np_sip_term_dup(const struct np_sip_term *src);
/* st takes src's contact, address-of-record and bindings (its
 * transactions kept): 0, or -ENOMEM with st unchanged. */
int np_sip_term_assign(struct np_sip_term *st, const struct np_sip_term *src);
void np_sip_term_free(struct np_sip_term *st);
/* An empty dialog (route set ""), or NULL. */
struct np_sip_dialog *np_sip_dialog_new(void);
/* A copy of d in a block of its size, or NULL. */
struct np_sip_dialog *np_sip_dialog_copy(const struct np_sip_dialog *d);
/* The call's dialog with its route set replaced by route ("" when NULL or
 * too long): the block grown or shrunk to it. NULL without the memory (the
 * call's dialog then unchanged). */
struct np_sip_dialog *np_sip_dialog_set_route(struct np_call *call,
					      const char *route);

#endif
