/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One heartbeat datagram between the two nodes of a pair (peer.h), as
 * text, with its MAC:
 *
 *   nphb2 NODE SHARE STATE BOOT SEQ ECHO ACKBOOT ACKSEQ MAC
 *
 * BOOT (16 hex digits) is the sender's random number for this run of the
 * daemon and SEQ its heartbeat's number in that run (from 1): together
 * they make every datagram once-only (peer.c refuses a SEQ not above the
 * last of the same BOOT). ACKBOOT/ACKSEQ are the last heartbeat the sender
 * heard from the receiver: a datagram of a BOOT the receiver has not yet
 * accepted is taken only if it acks one the receiver sent moments ago, so
 * a datagram recorded in an earlier run cannot be played back (no clock
 * shared between the nodes is needed). ECHO is the sender's promise (0:
 * none): the SEQ of the receiver's it last accepted while it yields.
 *
 * MAC: HMAC-SHA256 (OpenSSL's) of everything before it, keyed with the
 * pair's heartbeat_key, as 64 hex digits; "-" when the pair has no key.
 * A node with a key takes only datagrams with a right MAC, one without
 * a key only datagrams with "-": a pair whose keys differ hears nothing,
 * and says so in its metrics, rather than half-trusting.
 */
#ifndef NATPROXY_CLUSTER_BEAT_H
#define NATPROXY_CLUSTER_BEAT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define NP_BEAT_MAX 512 /* a datagram's bytes, at most */

/* What a node says of itself in its heartbeats. */
enum np_peer_state {
	NP_PEER_UNHEARD, /* nothing heard for NP_PEER_DEAD: never said */
	NP_PEER_STANDBY, /* acts on nothing, yields the lease */
	NP_PEER_ACTIVE, /* acts */
	NP_PEER_TAKING, /* standby about to take the lease: yields nothing */
	NP_PEER_FENCED,
	NP_PEER_ISOLATED, /* was active, lost Redis and its peer: acts on nothing */
	NP_PEER_MAX
};

extern const char *const np_peer_state_names[NP_PEER_MAX];

struct np_beat {
	char node[NP_CLUSTER_NAME_MAX], share[NP_CLUSTER_NAME_MAX];
	enum np_peer_state state;
	uint64_t boot, seq, echo, ack_boot, ack_seq;
};

/* The datagram for b into buf, MAC'd with key (len 0: "-"): its length,
 * or -ENOSPC. */
int np_beat_format(char *buf, size_t len, const struct np_beat *b,
		   const unsigned char *key, size_t key_len);

/* b from a datagram: 0; -EBADMSG when its MAC is wrong (or missing, or
 * there where the pair has no key); -EINVAL when its text is damaged. */
int np_beat_parse(const char *buf, size_t len, const unsigned char *key,
		  size_t key_len, struct np_beat *b);

#endif
