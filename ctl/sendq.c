// SPDX-License-Identifier: GPL-2.0-only
/*
 * The send queue (sendq.h): datagrams copied into one growing arena,
 * their headers in an array; a flush hands each run of the same socket to
 * sendmmsg in pieces of at most SENDQ_BATCH. A datagram the kernel refuses
 * is reported and skipped, and the run goes on after it, so one bad
 * destination does not hold back the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sendq.h"

#define SENDQ_BATCH 64 /* datagrams per sendmmsg */
#define SENDQ_FULL 256 /* datagrams queued before the owner must flush */

struct sendq_item {
	int fd;
	socklen_t tolen;
	struct sockaddr_storage to;
	size_t off, len; /* in the arena */
};

struct np_sendq {
	struct sendq_item *items;
	size_t n, cap;
	char *arena;
	size_t used, size;
};

struct np_sendq *np_sendq_new(void)
{
	return calloc(1, sizeof(struct np_sendq));
}

void np_sendq_free(struct np_sendq *q)
{
	if (!q)
		return;
	free(q->items);
	free(q->arena);
	free(q);
}

int np_sendq_add(struct np_sendq *q, int fd, const struct sockaddr *to,
		 socklen_t tolen, const void *buf, size_t len)
{
	struct sendq_item *it;

	if (tolen > sizeof(it->to))
		return -EINVAL;
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 64;
		void *p = realloc(q->items, cap * sizeof(*q->items));

		if (!p)
			return -ENOMEM;
		q->items = p;
		q->cap = cap;
	}
	if (q->used + len > q->size) {
		size_t size = q->size ? q->size : 64 * 1024;
		void *p;

		while (size < q->used + len)
			size *= 2;
		p = realloc(q->arena, size);
		if (!p)
			return -ENOMEM;
		q->arena = p;
		q->size = size;
	}
	it = &q->items[q->n++];
	it->fd = fd;
	it->tolen = tolen;
	memcpy(&it->to, to, tolen);
	it->off = q->used;
	it->len = len;
	memcpy(q->arena + q->used, buf, len);
	q->used += len;
	return q->n >= SENDQ_FULL ? 1 : 0;
}

size_t np_sendq_len(const struct np_sendq *q)
{
	return q->n;
}

/* Items [from, to) all from one socket. */
static void send_run(struct np_sendq *q, size_t from, size_t to,
		     np_sendq_failed_fn failed, void *arg)
{
	struct mmsghdr msgs[SENDQ_BATCH];
	struct iovec iov[SENDQ_BATCH];
	size_t i, n;
	int sent;

	while (from < to) {
		n = to - from < SENDQ_BATCH ? to - from : SENDQ_BATCH;
		memset(msgs, 0, n * sizeof(*msgs));
		for (i = 0; i < n; i++) {
			struct sendq_item *it = &q->items[from + i];

			iov[i].iov_base = q->arena + it->off;
			iov[i].iov_len = it->len;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &it->to;
			msgs[i].msg_hdr.msg_namelen = it->tolen;
		}
		sent = sendmmsg(q->items[from].fd, msgs, (unsigned)n, 0);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent <= 0) {
			/* The first of them refused: said, and skipped. */
			if (failed)
				failed(arg, q->items[from].fd, q->items[from].len,
				       sent < 0 ? -errno : -EIO);
			from++;
			continue;
		}
		from += (size_t)sent;
	}
}

void np_sendq_flush(struct np_sendq *q, np_sendq_failed_fn failed, void *arg)
{
	size_t start = 0, i;

	for (i = 1; i <= q->n; i++)
		if (i == q->n || q->items[i].fd != q->items[start].fd) {
			send_run(q, start, i, failed, arg);
			start = i;
		}
	q->n = 0;
	q->used = 0;
}

size_t np_sendq_discard(struct np_sendq *q)
{
	size_t n = q->n;

	q->n = 0;
	q->used = 0;
	return n;
}
