/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The contract between natproxyd and its socket-lookup program
 * (bpf/siglookup.bpf.c): the terminals' core signaling ports that are
 * open, each served by its realm's one socket. The maps belong to the
 * natproxyd that loaded the program (never pinned): they and the link that
 * attaches the program to the network namespace go when it exits.
 */
#ifndef NATPROXY_SIGLOOKUP_H
#define NATPROXY_SIGLOOKUP_H

#include <linux/types.h>

/* Realms with a shared signaling socket: the index in the socket map. */
#define NP_SIG_MAX_REALMS 16

/*
 * A port's budget: at most NP_SIG_PORT_BURST datagrams per window of
 * 2^NP_SIG_WINDOW_SHIFT ns (about 134 ms), so that a flood on one port
 * cannot fill the queue every other port of its realm shares; the rest is
 * dropped at the lookup (and counted). About 950 datagrams/s per port:
 * far above a terminal's signaling, far below what natproxyd reads. The
 * pairs' peers (softswitch, call agent, MGC: np_term_peers) are not held
 * to it: a PBX's port carries hundreds of calls' signaling from them, and
 * natproxyd drops what others send to a terminal's core port anyway
 * (core_strangers).
 */
#define NP_SIG_PORT_BURST 128
#define NP_SIG_WINDOW_SHIFT 27
#define NP_SIG_MAX_PEERS 1024

struct np_term_port_key {
	__u8 family; /* NP_AF_INET or NP_AF_INET6 (natproxy.h) */
	__u8 pad;
	__u16 port; /* host order, as the lookup sees it */
	__u8 addr[16]; /* IPv4: the first 4 bytes */
};

/* A pair's peer, by address (any port). */
struct np_term_peer_key {
	__u8 family; /* NP_AF_INET or NP_AF_INET6 */
	__u8 pad[3];
	__u8 addr[16];
};

struct np_term_port {
	__u32 realm; /* index in the socket map */
	__u32 window; /* of the last datagram */
	__u32 count; /* datagrams in that window */
};

enum np_term_stat { NP_SIG_ASSIGNED, NP_SIG_OVER_BUDGET, NP_SIG_STATS };

_Static_assert(sizeof(struct np_term_port_key) == 20, "no hidden padding");
_Static_assert(sizeof(struct np_term_peer_key) == 20, "no hidden padding");
_Static_assert(sizeof(struct np_term_port) == 12, "no hidden padding");

#endif
