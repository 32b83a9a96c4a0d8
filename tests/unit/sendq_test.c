// SPDX-License-Identifier: GPL-2.0-only
/*
 * The send queue (ctl/sendq.c) over UDP sockets on the loopback: nothing
 * leaves before the flush, everything leaves in the order queued (per
 * socket), a datagram the kernel refuses is reported and the rest still go,
 * a discarded queue sends nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sendq.h"
#include "tap.h"

static int udp_bound(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) ||
	    getsockname(fd, (struct sockaddr *)a, &len))
		return -1;
	return fd;
}

/* What fd has received, as "from-port:text" lines joined by " ". */
static void received(int fd, char *out, size_t size)
{
	struct sockaddr_in from;
	socklen_t fl;
	char buf[256];
	ssize_t n;
	size_t used = 0;

	out[0] = '\0';
	for (;;) {
		fl = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf) - 1, 0,
			     (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		buf[n] = '\0';
		used += (size_t)snprintf(out + used, size - used, "%s%s",
					 used ? " " : "", buf);
		if (used >= size)
			break;
	}
}

struct failures {
	int n, err;
	size_t len;
};

static void failed(void *arg, int fd, size_t len, int err)
{
	struct failures *f = arg;

	(void)fd;
	f->n++;
	f->err = err;
	f->len = len;
}

int main(void)
{
	struct tap t = { 0 };
	struct sockaddr_in a, b, sink, bad;
	int fa = udp_bound(&a), fb = udp_bound(&b), fs = udp_bound(&sink);
	struct np_sendq *q = np_sendq_new();
	struct failures f = {};
	char got[4096];
	int i, r = 0;

	if (fa < 0 || fb < 0 || fs < 0 || !q) {
		tap_check(&t, 0, "setup: loopback sockets and a queue");
		return tap_done(&t);
	}
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "a1", 2);
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "a2", 2);
	np_sendq_add(q, fb, (struct sockaddr *)&sink, sizeof(sink), "b1", 2);
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "a3", 2);
	received(fs, got, sizeof(got));
	tap_check(&t, !got[0] && np_sendq_len(q) == 4,
		  "queued datagrams do not leave before the flush");
	np_sendq_flush(q, failed, &f);
	received(fs, got, sizeof(got));
	tap_check(&t, !strcmp(got, "a1 a2 b1 a3") && !np_sendq_len(q),
		  "the flush sends them all in the order queued (%s)", got);

	/* Held back (the node stopped acting): nothing leaves, ever. */
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "d1", 2);
	np_sendq_add(q, fb, (struct sockaddr *)&sink, sizeof(sink), "d2", 2);
	r = (int)np_sendq_discard(q);
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "n1", 2);
	np_sendq_flush(q, failed, &f);
	received(fs, got, sizeof(got));
	tap_check(&t, r == 2 && !strcmp(got, "n1"),
		  "a discarded queue says how many it held (%d) and sends none "
		  "of them, then or at the next flush (%s)", r, got);
	r = 0;

	/* A destination the kernel refuses (port 0) between two good ones. */
	bad = sink;
	bad.sin_port = 0;
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "x1", 2);
	np_sendq_add(q, fa, (struct sockaddr *)&bad, sizeof(bad), "bad", 3);
	np_sendq_add(q, fa, (struct sockaddr *)&sink, sizeof(sink), "x2", 2);
	np_sendq_flush(q, failed, &f);
	received(fs, got, sizeof(got));
	tap_check(&t, !strcmp(got, "x1 x2") && f.n == 1 && f.len == 3 && f.err < 0,
		  "a refused datagram is reported (%s) and the rest still go (%s)",
		  strerror(-f.err), got);

	/* Many: in pieces of sendmmsg, the owner told when to flush. */
	for (i = 0; i < 300 && r == 0; i++) {
		char m[16];

		snprintf(m, sizeof(m), "%d", i);
		r = np_sendq_add(q, fb, (struct sockaddr *)&sink, sizeof(sink), m,
				 strlen(m));
	}
	tap_check(&t, r == 1 && i == 256,
		  "the queue asks to be flushed at 256 datagrams (%d)", i);
	np_sendq_flush(q, failed, &f);
	received(fs, got, sizeof(got));
	tap_check(&t, !strncmp(got, "0 1 2 3", 7) && strstr(got, " 254 255") &&
			     !strstr(got, "256"),
		  "all 256 arrive, in order");
	np_sendq_free(q);
	close(fa);
	close(fb);
	close(fs);
	return tap_done(&t);
}
