/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The MGCP driver of the call core (RFC 3435; issue 12): a media gateway
 * behind a NAT is learnt from its first command on a pair's MGCP access
 * socket and becomes a terminal of the core, with a signaling address of
 * its own on the core realm where the call agent reaches it. Commands and
 * responses are relayed between the gateway and the call agent with the
 * endpoint names, NotifiedEntity and SpecificEndpointID rewritten, the
 * transaction ids mapped (gateways behind one proxy number alike), and the
 * session descriptions of CRCX/MDCX and their responses handed to the
 * core's offer/answer: a connection is a call of the core. AUEP keeps the
 * NAT binding open (the core's keepalive hook). docs/mgcp.md says what
 * goes out; sockets and maps are reached only through the core's io.
 */
#ifndef NATPROXY_MGCP_H
#define NATPROXY_MGCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/core.h"
#include "gwtxn/gwtxn.h"
#include "log.h"
#include "mgcp/mgcpmsg.h"

#define NP_MGCP_T_HIST 30 /* s a final response is kept (RFC 3435 3.5.4) */
#define NP_MGCP_TXN_LIFETIME 60 /* s an unanswered transaction is kept */
#define NP_MGCP_GW_LIFETIME 3600 /* s a silent gateway stays known */

/* What MGCP keeps of a gateway (the core's term->signaling). */
struct np_mgcp_gw {
	/* Its own domain as it writes it in endpoint names ("[192.168.1.10]"),
	 * restored in what the call agent sends; "" until it names one. */
	char domain[128];
	/* An endpoint it named (a specific one if any), audited as its
	 * keepalive. */
	char endpoint[NP_MGCP_NAME_MAX];
	uint32_t open_txns;
};

/* What MGCP keeps of a connection (the core's call->dialog). */
struct np_mgcp_conn {
	char endpoint[NP_MGCP_NAME_MAX]; /* as the gateway names it */
	char call_id[64]; /* C: */
	char conn_id[64]; /* I:, "" until the gateway gave it */
	/* The gateway's last LocalConnectionDescriptor: the answer again
	 * when an MDCX response carries none. */
	size_t lcd_len;
	char lcd[2048];
};

enum np_mgcp_dir {
	NP_MGCP_FROM_GW, /* a gateway's command, relayed to the call agent */
	NP_MGCP_FROM_CA, /* the call agent's command, relayed to a gateway */
	NP_MGCP_OWN_GW, /* ours to a gateway (AUEP keepalive, DLCX) */
	NP_MGCP_OWN_CA, /* ours to the call agent (DLCX of a lost gateway) */
};

/* What a command asked of the media, done when its response comes. */
enum np_mgcp_media {
	NP_MGCP_MEDIA_NONE,
	NP_MGCP_MEDIA_CREATE, /* CRCX: the call is made, named by the response */
	NP_MGCP_MEDIA_MODIFY, /* MDCX */
	NP_MGCP_MEDIA_DELETE, /* DLCX: the connections it names end */
};

/* A transaction across the proxy (RFC 3435 3.5): the shared table's
 * (ids both ways, where the response goes back, what went out), with what
 * the response finishes. */
struct np_mgcp_txn {
	struct np_gwtxn base; /* dir: enum np_mgcp_dir */
	char verb[8];
	enum np_mgcp_media media;
	bool offered; /* the command's SDP went in as an offer */
	char call_key[256]; /* the core call it concerns */
	/* DLCX: the connections it names ("" = any). */
	char endpoint[NP_MGCP_NAME_MAX], call_id[64], conn_id[64];
	int code; /* the last response's, 0 none */
};

#define NP_MGCP_VERBS(X)                                                       \
	X(NP_MGCP_EPCF, "EPCF")                                                \
	X(NP_MGCP_CRCX, "CRCX")                                                \
	X(NP_MGCP_MDCX, "MDCX")                                                \
	X(NP_MGCP_DLCX, "DLCX")                                                \
	X(NP_MGCP_RQNT, "RQNT")                                                \
	X(NP_MGCP_NTFY, "NTFY")                                                \
	X(NP_MGCP_AUEP, "AUEP")                                                \
	X(NP_MGCP_AUCX, "AUCX")                                                \
	X(NP_MGCP_RSIP, "RSIP")                                                \
	X(NP_MGCP_OTHER, "other")
enum np_mgcp_verb { NP_MGCP_VERBS(NP_ENUM_ENTRY) NP_MGCP_VERB_MAX };
extern const char *const np_mgcp_verb_names[NP_MGCP_VERB_MAX];

struct np_mgcp_counters {
	uint64_t commands_in[NP_MGCP_VERB_MAX], commands_out[NP_MGCP_VERB_MAX];
	uint64_t responses_in[7], responses_out[7]; /* 0xx (acks) .. 6xx */
	uint64_t retransmissions, malformed, answered;
};

struct np_mgcp_log_limits {
	struct np_log_limit malformed, strangers, refused, rate;
};

struct np_mgcp {
	struct np_core *core;
	struct np_gwtxn_table txns;
	time_t now; /* the clock at the last input or tick */
	struct np_mgcp_counters *ctr; /* per realm */
	size_t n_ctr;
	struct np_mgcp_log_limits log;
	struct np_driver driver;
};

int np_mgcp_init(struct np_mgcp *mg, struct np_core *core);
void np_mgcp_fini(struct np_mgcp *mg);
int np_mgcp_reconfigure(struct np_mgcp *mg);
/* Whether a datagram at realm:local_port is MGCP's: the MGCP access socket
 * of a pair, a gateway's core address, or a released core port that
 * received something that looks like MGCP. */
bool np_mgcp_owns(const struct np_mgcp *mg, size_t realm, uint16_t local_port,
		  const char *buf, size_t len);
/* A datagram arrived at realm's address:local_port from src. */
void np_mgcp_input(struct np_mgcp *mg, size_t realm, uint16_t local_port,
		   const struct np_sockaddr *src, const char *buf, size_t len,
		   time_t now);
/* Transactions past their time; call about once a second. */
void np_mgcp_tick(struct np_mgcp *mg, time_t now);

#endif
