/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MGCP (RFC 3435, and NCS 1.0 command lines) messages as the MGCP driver
 * relays them: a datagram split into its piggy-backed messages (RFC 3435
 * 3.5.5: messages separated by a line holding a period), each parsed into
 * its command or response line, its parameter lines (kept in order and as
 * written, so what the driver does not change goes out byte for byte) and
 * its session description (the text after the empty line). Pure: no
 * global state, no allocation but the caller's.
 */
#ifndef NATPROXY_MGCP_MSG_H
#define NATPROXY_MGCP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NP_MGCP_PARAMS_MAX 40
#define NP_MGCP_VALUE_MAX 512
#define NP_MGCP_NAME_MAX 256 /* endpoint names, RFC 3435 3.2.1.3 */
#define NP_MGCP_BODY_MAX 8192
#define NP_MGCP_PIGGY_MAX 8 /* messages in one datagram */
#define NP_MGCP_TXID_MAX 999999999u /* RFC 3435 3.2.1.2 */

struct np_mgcp_param {
	char name[16]; /* as written: "N", "Z", "RM", "X-Foo" */
	char sep[8]; /* what stood between ':' and the value (" ") */
	char value[NP_MGCP_VALUE_MAX];
};

struct np_mgcp_msg {
	bool response;
	/* A command: verb (CRCX...), endpoint name, protocol version as
	 * written after it ("MGCP 1.0", "MGCP 1.0 NCS 1.0"). */
	char verb[8];
	char endpoint[NP_MGCP_NAME_MAX];
	char version[32];
	/* A response: code (000 = response acknowledgement) and what
	 * follows the transaction id (package name, commentary). */
	int code;
	char comment[128];
	uint32_t txid;
	size_t n_params;
	struct np_mgcp_param params[NP_MGCP_PARAMS_MAX];
	bool crlf; /* lines end with CRLF (else LF) */
	size_t body_len; /* SDP, as written; 0: none */
	char body[NP_MGCP_BODY_MAX];
};

/*
 * Parses one message of len bytes (no piggy-backed separator in it).
 * 0, or -EINVAL with *why set; *txid is the transaction id whenever the
 * first line had a readable one (else 0), so a malformed command can
 * still be answered (510).
 */
int np_mgcp_parse(const char *buf, size_t len, struct np_mgcp_msg *m,
		  const char **why);
/*
 * Splits a datagram into its messages: starts[i], lens[i] for each, at
 * most max. Returns how many (0 for an empty datagram), or -E2BIG.
 */
int np_mgcp_split(const char *buf, size_t len, size_t *starts, size_t *lens,
		  size_t max);
/* Writes m into out (NUL-terminated); its length, or -E2BIG. */
int np_mgcp_serialize(const struct np_mgcp_msg *m, char *out, size_t size);

/* The parameter called name (case-insensitive), or NULL. */
struct np_mgcp_param *np_mgcp_param(struct np_mgcp_msg *m, const char *name);
/* Sets (adds when absent) a parameter; -E2BIG when full or too long. */
int np_mgcp_param_set(struct np_mgcp_msg *m, const char *name,
		      const char *value);
void np_mgcp_param_del(struct np_mgcp_msg *m, const char *name);
/* Whether the command's verb is verb (case-insensitive, RFC 3435 3.2.1). */
bool np_mgcp_is(const struct np_mgcp_msg *m, const char *verb);
/* Whether a datagram looks like MGCP: a command line ending in "MGCP
 * <version>" (after an endpoint) or a response line of three digits and a
 * transaction id. A cheap test, for datagrams no socket says the protocol
 * of. */
bool np_mgcp_looks_like(const char *buf, size_t len);

/*
 * Endpoint names (RFC 3435 3.2.1.3): local@domain. Splits name at its
 * last '@' into local and domain; -EINVAL without one.
 */
int np_mgcp_endpoint_split(const char *name, char *local, size_t lsize,
			   char *domain, size_t dsize);

#endif
