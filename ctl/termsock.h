/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The terminals' core signaling ports without a socket each (docs/deploy.md,
 * "Signaling sockets"): a socket-lookup program (bpf/siglookup.bpf.c)
 * hands every datagram to an open port to its realm's one UDP socket, which
 * reads the port each was sent to; answers leave by a raw socket per realm
 * with the UDP header built here. Opening or closing a port is a map write.
 */
#ifndef NATPROXY_TERMSOCK_H
#define NATPROXY_TERMSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct np_termsock;

/*
 * A signaling socket's options, for the shared sockets and for those of a
 * port each alike: a send buffer of NP_SIG_SOCKBUF, a receive buffer of
 * rcvbuf bytes (NP_SIG_SOCKBUF for a socket of its own), the realm's DSCP,
 * and (freebind) binding an address not here yet, as a cluster node's
 * virtual ones.
 */
#define NP_SIG_SOCKBUF (1 << 20) /* bytes (doubled by the kernel) */
/* The receive buffer of a realm's shared terminal socket: what sockets
 * per terminal held between two reads (at 24,000 registrations/s 1 MiB
 * overflowed in bursts). Not for the access sockets: what terminals send
 * is retransmitted when unanswered, and 16 MiB queued seconds of it at
 * 100,000 terminals registering, answered when the terminals had sent it
 * again and again (46,570 registered in 180 s instead of 98,792). */
#define NP_SIG_REALM_RCVBUF (16 << 20)
void np_sigsock_options(int fd, const struct np_realm *r, bool freebind,
			int rcvbuf);

/* Loads the program and attaches it to this process's network namespace
 * (the link is the process's: it goes when natproxyd exits). -errno when
 * the kernel cannot (then every port gets a socket of its own). */
int np_termsock_start(struct np_termsock **out, bool freebind);
void np_termsock_stop(struct np_termsock *ts);

/*
 * Serves port on realm r (index realm) from the first datagram on. The
 * realm's sockets open with its first port: *new_fd is then the receiving
 * one, for the caller's epoll set (else -1).
 */
int np_termsock_open(struct np_termsock *ts, size_t realm,
		     const struct np_realm *r, uint16_t port, int *new_fd);
/* Closes it: its next datagrams meet a closed port, those queued are
 * dropped when read. */
void np_termsock_close(struct np_termsock *ts, size_t realm, uint16_t port);
bool np_termsock_is_open(const struct np_termsock *ts, size_t realm,
			 uint16_t port);
/* Whether realm's ports can be served so (ts NULL: none can). */
bool np_termsock_serves(const struct np_termsock *ts, size_t realm);
/* realm's receiving socket, -1 before its first port. */
int np_termsock_recv_fd(const struct np_termsock *ts, size_t realm);

/*
 * The datagram realm's raw socket sends from port to `to`: the UDP header
 * and payload in a buffer owned by ts (valid until the next call), and the
 * raw socket's destination. -EBADF if port is not open.
 */
int np_termsock_frame(struct np_termsock *ts, size_t realm, uint16_t port,
		      const struct np_sockaddr *to, const void *buf, size_t len,
		      int *fd, const void **frame, size_t *frame_len,
		      struct sockaddr_storage *dst, socklen_t *dst_len);

/* The pairs' peers of cfg (softswitch, call agent, MGC), whose datagrams
 * no port's budget holds back; those of an earlier configuration go. */
int np_termsock_peers(struct np_termsock *ts, const struct np_config *cfg);

/* Datagrams the lookup dropped as over a port's budget, since the start. */
uint64_t np_termsock_over_budget(const struct np_termsock *ts);

/* The port a datagram read from a receiving socket was sent to (its
 * IP_ORIGDSTADDR control message); 0 if there is none. */
uint16_t np_termsock_dst_port(const struct msghdr *m);

#endif
