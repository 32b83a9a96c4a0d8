/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Datagrams of one turn of natproxyd's loop, sent together: one sendmmsg
 * per run of datagrams from the same socket instead of a sendto each.
 */
#ifndef NATPROXY_SENDQ_H
#define NATPROXY_SENDQ_H

#include <stddef.h>
#include <sys/socket.h>

struct np_sendq;

/* A datagram the kernel refused at the flush: from fd, len bytes, -errno. */
typedef void (*np_sendq_failed_fn)(void *arg, int fd, size_t len, int err);

struct np_sendq *np_sendq_new(void);
void np_sendq_free(struct np_sendq *q);
/*
 * Queues a copy of buf for fd to send to `to`. 0: queued; 1: queued, and
 * the queue is full: flush it now; -ENOMEM: not queued (send it yourself).
 */
int np_sendq_add(struct np_sendq *q, int fd, const struct sockaddr *to,
		 socklen_t tolen, const void *buf, size_t len);
size_t np_sendq_len(const struct np_sendq *q);
/* Sends what is queued, in the order queued; failed (may be NULL) is told
 * of each datagram not sent. The queue is empty after. */
void np_sendq_flush(struct np_sendq *q, np_sendq_failed_fn failed, void *arg);
/* Empties the queue without sending; how many datagrams were in it. */
size_t np_sendq_discard(struct np_sendq *q);

#endif
