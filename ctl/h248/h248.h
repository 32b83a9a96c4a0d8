/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The H.248/Megaco driver of the call core (RFC 3525 text encoding; issue
 * 12): a media gateway (MG) behind a NAT is learnt from its first
 * ServiceChange on a pair's H.248 access socket and becomes a terminal of
 * the core, with a signaling address of its own on the core realm, which
 * is its mId toward the media gateway controller (MGC). Transactions,
 * replies, Pending and TransactionResponseAck are relayed between the two
 * with the mId, ServiceChangeAddress and transaction ids rewritten, and the
 * SDP in Local/Remote of Add/Move/Modify and their replies handed to the
 * core's offer/answer: a termination in a context is a call of the core,
 * which Subtract ends. AuditValue on ROOT keeps the NAT binding open (the
 * core's keepalive hook). docs/h248.md says what goes out.
 */
#ifndef NATPROXY_H248_H
#define NATPROXY_H248_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core.h"
#include "gwtxn/gwtxn.h"
#include "h248/h248msg.h"
#include "log.h"

#define NP_H248_REPLY_HIST 30 /* s a reply is kept (H.248.1 D.1.4) */
#define NP_H248_TXN_LIFETIME 60 /* s an unanswered transaction is kept */
#define NP_H248_MG_LIFETIME 3600 /* s a silent gateway stays known */
#define NP_H248_OPS_MAX 8 /* media streams of one transaction's commands */

/* What H.248 keeps of a gateway (the core's term->signaling). */
struct np_h248_gw {
	char mid[128]; /* its mId as it writes it */
	uint32_t open_txns;
};

/* What H.248 keeps of a termination in a context (call->dialog). */
struct np_h248_term {
	char ctx[64]; /* ContextID, "" until the gateway chose it */
	char term[128]; /* TerminationID, as the gateway names it */
	unsigned stream; /* StreamID: one call per stream of a termination */
	size_t lcd_len; /* the gateway's last Local SDP */
	char lcd[2048];
};

enum np_h248_dir {
	NP_H248_FROM_MG, /* a gateway's transaction, to the MGC */
	NP_H248_FROM_MGC, /* the MGC's transaction, to a gateway */
	NP_H248_OWN_MG, /* ours to a gateway (AuditValue, Subtract) */
	NP_H248_OWN_MGC, /* ours to the MGC (ServiceChange Forced) */
};

enum np_h248_op_kind { NP_H248_OP_ADD, NP_H248_OP_MODIFY, NP_H248_OP_SUB };

/* A media command of the MGC's, finished when its reply comes. */
struct np_h248_op {
	enum np_h248_op_kind kind;
	int cmd; /* its place among the transaction's commands */
	unsigned stream; /* its StreamID (1 for a Media without Stream) */
	char ctx[64], term[128];
	char call_key[256];
	bool offered; /* its Remote SDP went in as an offer */
};

/* A transaction across the proxy (the shared table's, with the media
 * commands its reply finishes). */
struct np_h248_txn {
	struct np_gwtxn base; /* dir: enum np_h248_dir */
	size_t n_ops;
	struct np_h248_op ops[NP_H248_OPS_MAX];
};

/* The commands of H.248.1 7.2, counted per realm as they pass. */
#define NP_H248_COMMANDS(X)                                                    \
	X(NP_H248_ADD, "Add")                                                  \
	X(NP_H248_MODIFY, "Modify")                                            \
	X(NP_H248_SUBTRACT, "Subtract")                                        \
	X(NP_H248_MOVE, "Move")                                                \
	X(NP_H248_AUDIT_VALUE, "AuditValue")                                   \
	X(NP_H248_AUDIT_CAPABILITIES, "AuditCapabilities")                     \
	X(NP_H248_NOTIFY, "Notify")                                            \
	X(NP_H248_SERVICE_CHANGE, "ServiceChange")
enum np_h248_command { NP_H248_COMMANDS(NP_ENUM_ENTRY) NP_H248_COMMAND_MAX };
extern const char *const np_h248_command_names[NP_H248_COMMAND_MAX];

struct np_h248_counters {
	/* Commands in transactions received on the realm / sent from it
	 * (natproxy's own keepalives, Subtracts, ServiceChanges included). */
	uint64_t commands_in[NP_H248_COMMAND_MAX];
	uint64_t commands_out[NP_H248_COMMAND_MAX];
	uint64_t transactions_in, transactions_out, replies_in, replies_out;
	uint64_t pendings, acks, retransmissions, malformed, answered;
};

struct np_h248_log_limits {
	struct np_log_limit malformed, strangers, refused, rate;
};

struct np_h248 {
	struct np_core *core;
	struct np_gwtxn_table txns;
	time_t now;
	struct np_h248_counters *ctr; /* per realm */
	size_t n_ctr;
	struct np_h248_log_limits log;
	struct np_driver driver;
};

int np_h248_init(struct np_h248 *h, struct np_core *core);
void np_h248_fini(struct np_h248 *h);
int np_h248_reconfigure(struct np_h248 *h);
/* Whether a datagram at realm:local_port is H.248's: a pair's H.248
 * access socket, a gateway's core address, or a released core port that
 * received something that looks like H.248 text. */
bool np_h248_owns(const struct np_h248 *h, size_t realm, uint16_t local_port,
		  const char *buf, size_t len);
void np_h248_input(struct np_h248 *h, size_t realm, uint16_t local_port,
		   const struct np_sockaddr *src, const char *buf, size_t len,
		   time_t now);
void np_h248_tick(struct np_h248 *h, time_t now);

#endif
