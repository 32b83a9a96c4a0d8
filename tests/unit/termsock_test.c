// SPDX-License-Identifier: GPL-2.0-only
/*
 * The terminals' core ports on one socket per realm (ctl/termsock.c), in a
 * network namespace of the test's own, on the loopback: a datagram to an
 * open port reaches the realm's socket, which reads the port it was for; a
 * port never opened or closed since answers as a closed port; what the raw
 * socket sends arrives from the terminal's port; a flood on one port stops
 * at its budget, unless it comes from a pair's softswitch; IPv6 alike; the lookup goes with np_termsock_stop().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "addr.h"
#include "natproxy.h"
#include "siglookup.h"
#include "siglookup.skel.h"
#include "tap.h"
#include "termsock.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

static int loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err = 0;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		err = -1;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -1;
	if (fd >= 0)
		close(fd);
	return err;
}

/* A client's socket on the loopback of family, connected to port. */
static int client(int family, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct np_sockaddr to = { .family = family, .port = port };
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	socklen_t len;

	if (family == AF_INET)
		to.addr.v4.s_addr = htonl(INADDR_LOOPBACK);
	else
		to.addr.v6 = in6addr_loopback;
	len = np_sockaddr_to(&to, &ss);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len))
		return -1;
	return fd;
}

/* One datagram from the realm's socket: its text, and the port it was
 * sent to (0 if none came). */
static uint16_t recv_one(int fd, char *text, size_t size)
{
	char cbuf[CMSG_SPACE(sizeof(struct sockaddr_in6))];
	struct sockaddr_storage from;
	struct iovec iov = { text, size - 1 };
	struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from),
			    .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	sleep_ms(20);
	text[0] = '\0';
	n = recvmsg(fd, &m, MSG_DONTWAIT);
	if (n < 0)
		return 0;
	text[n] = '\0';
	return np_termsock_dst_port(&m);
}

/* Whether a datagram from c to a closed port is refused (ICMP port
 * unreachable, reported on c's next call). */
static bool refused(int c)
{
	char buf[8];

	if (send(c, "x", 1, 0) < 0)
		return errno == ECONNREFUSED;
	sleep_ms(20);
	return recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	       errno == ECONNREFUSED;
}

/* What realm's raw socket sends from port reaches c from that port. */
static bool answer_arrives(struct np_termsock *ts, size_t realm, int c,
			   uint16_t port, const char *text)
{
	struct sockaddr_storage self, dst, from;
	struct np_sockaddr to;
	socklen_t len = sizeof(self), dlen, flen = sizeof(from);
	const void *frame;
	size_t frame_len;
	char buf[64];
	ssize_t n;
	int fd;

	if (getsockname(c, (struct sockaddr *)&self, &len))
		return false;
	np_sockaddr_from(&self, &to);
	if (np_termsock_frame(ts, realm, port, &to, text, strlen(text), &fd,
			      &frame, &frame_len, &dst, &dlen) ||
	    sendto(fd, frame, frame_len, 0, (struct sockaddr *)&dst, dlen) < 0)
		return false;
	sleep_ms(20);
	n = recvfrom(c, buf, sizeof(buf) - 1, MSG_DONTWAIT,
		     (struct sockaddr *)&from, &flen);
	if (n < 0)
		return false;
	buf[n] = '\0';
	np_sockaddr_from(&from, &to);
	return !strcmp(buf, text) && to.port == port;
}

static void family_checks(struct tap *t, struct np_termsock *ts, size_t realm,
			  int family, const char *name)
{
	struct np_realm r = { .sip_dscp = -1 };
	char text[64];
	int fd, c, closed, rcvbuf = 0;
	socklen_t len = sizeof(rcvbuf);

	snprintf(r.name, sizeof(r.name), "%s", name);
	r.address.family = family;
	if (family == AF_INET)
		r.address.addr.v4.s_addr = htonl(INADDR_LOOPBACK);
	else
		r.address.addr.v6 = in6addr_loopback;
	tap_check(t, !np_termsock_open(ts, realm, &r, 40001, &fd) && fd >= 0 &&
			     np_termsock_recv_fd(ts, realm) == fd,
		  "%s: the realm's first port opens its socket", name);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len))
		rcvbuf = 0;
	tap_check(t, rcvbuf >= 16 << 20,
		  "%s: its receive buffer holds what a socket per terminal "
		  "held (%d bytes)", name, rcvbuf);
	c = client(family, 40001);
	closed = client(family, 40002);
	send(c, "hello", 5, 0);
	tap_check(t, recv_one(fd, text, sizeof(text)) == 40001 &&
			     !strcmp(text, "hello"),
		  "%s: a datagram to an open port reaches the realm's socket, "
		  "which reads the port (40001)", name);
	tap_check(t, refused(closed) && !recv_one(fd, text, sizeof(text)),
		  "%s: a port never opened is closed (port unreachable), "
		  "nothing reaches the realm's socket", name);
	tap_check(t, answer_arrives(ts, realm, c, 40001, "answer"),
		  "%s: the raw socket's datagram arrives from port 40001, its "
		  "checksum accepted", name);
	np_termsock_close(ts, realm, 40001);
	tap_check(t, refused(c) && !recv_one(fd, text, sizeof(text)) &&
			     !np_termsock_is_open(ts, realm, 40001),
		  "%s: a closed port is closed again", name);
	close(c);
	close(closed);
}

/* One run of the program: its verdict, and the cookie of the socket it
 * picked (0: none). */
static int lookup_run(int prog, int protocol, const char *local,
		      uint16_t port, const char *remote, uint64_t *cookie)
{
	struct bpf_sk_lookup ctx = { .family = AF_INET, .protocol = protocol,
				     .local_port = port,
				     .remote_port = htons(5060) };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx));

	inet_pton(AF_INET, local, &ctx.local_ip4);
	inet_pton(AF_INET, remote, &ctx.remote_ip4);
	if (bpf_prog_test_run_opts(prog, &opts))
		return -1;
	*cookie = ctx.cookie;
	return (int)opts.retval;
}

static void program_cases(struct tap *t)
{
	static const struct {
		const char *what;
		int protocol;
		const char *local;
		uint16_t port;
		int verdict;
		bool picked;
	} cases[] = {
		{ "UDP to an open port: the realm's socket", IPPROTO_UDP,
		  "127.0.0.1", 40010, SK_PASS, true },
		{ "UDP to a port not open: none (the kernel's lookup)",
		  IPPROTO_UDP, "127.0.0.1", 40011, SK_PASS, false },
		{ "UDP to the open port of another address: none",
		  IPPROTO_UDP, "127.0.0.2", 40010, SK_PASS, false },
		{ "TCP to the open port: none", IPPROTO_TCP, "127.0.0.1",
		  40010, SK_PASS, false },
	};
	struct np_term_port_key key = { .family = NP_AF_INET, .port = 40010 };
	struct np_term_port value = { .realm = 0 };
	struct np_term_peer_key peer = { .family = NP_AF_INET };
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct siglookup_bpf *skel = siglookup_bpf__open_and_load();
	uint64_t cookie, want = 0, sock_value;
	socklen_t len = sizeof(want);
	__u32 zero = 0;
	__u8 one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), prog, v, i, drops;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!tap_check(t, skel && fd >= 0 &&
				  !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
				  !getsockopt(fd, SOL_SOCKET, SO_COOKIE, &want,
					      &len),
		       "the program loads; a realm socket to hand out"))
		goto out;
	prog = bpf_program__fd(skel->progs.np_siglookup);
	sock_value = (uint64_t)fd;
	inet_pton(AF_INET, "127.0.0.1", key.addr);
	bpf_map_update_elem(bpf_map__fd(skel->maps.np_term_socks), &zero,
			    &sock_value, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.np_term_ports), &key,
			    &value, BPF_ANY);
	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		v = lookup_run(prog, cases[i].protocol, cases[i].local,
			       cases[i].port, "10.0.0.1", &cookie);
		tap_check(t, v == cases[i].verdict &&
				     cookie == (cases[i].picked ? want : 0),
			  "program: %s (verdict %d, cookie %s)", cases[i].what,
			  v, !cookie ? "none" : cookie == want ? "the realm's" : "other");
	}
	/* Past the budget within a window: dropped, unless from a peer.
	 * The runs take about a millisecond: should a window begin among
	 * them, one of the two still holds more than a budget. */
	for (i = 0, drops = 0; i < 2 * NP_SIG_PORT_BURST; i++)
		drops += lookup_run(prog, IPPROTO_UDP, "127.0.0.1", 40010,
				    "10.0.0.1", &cookie) == SK_DROP;
	tap_check(t, drops >= 1 && drops <= NP_SIG_PORT_BURST + 1,
		  "program: %d runs more to the open port: over the budget "
		  "dropped (%d)", 2 * NP_SIG_PORT_BURST, drops);
	inet_pton(AF_INET, "10.0.0.2", peer.addr);
	bpf_map_update_elem(bpf_map__fd(skel->maps.np_term_peers), &peer, &one,
			    BPF_ANY);
	v = lookup_run(prog, IPPROTO_UDP, "127.0.0.1", 40010, "10.0.0.2",
		       &cookie);
	tap_check(t, v == SK_PASS && cookie == want,
		  "program: from a pair's peer, past the budget: the realm's "
		  "socket still");
out:
	siglookup_bpf__destroy(skel);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	struct tap t = { 0 };
	struct np_realm r = { .name = "lo4", .sip_dscp = -1 };
	struct np_termsock *ts = NULL;
	char text[64];
	int fd, c, err, got = 0, sent, i;
	uint64_t over;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) || loopback_up()) {
		tap_skip(&t, "needs root (a network namespace of its own)",
			 "socket lookup on the loopback");
		return tap_done(&t);
	}
	program_cases(&t);
	err = np_termsock_start(&ts, false);
	if (!tap_check(&t, !err, "the lookup loads and attaches to the "
				 "namespace (%s)", strerror(-err)))
		return tap_done(&t);
	family_checks(&t, ts, 0, AF_INET, "IPv4");
	family_checks(&t, ts, 1, AF_INET6, "IPv6");

	/* A flood on one port: the lookup lets its budget through. */
	r.address.family = AF_INET;
	r.address.addr.v4.s_addr = htonl(INADDR_LOOPBACK);
	np_termsock_open(ts, 0, &r, 40003, &fd);
	fd = np_termsock_recv_fd(ts, 0);
	c = client(AF_INET, 40003);
	setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ 4 << 20 }, sizeof(int));
	for (i = 0, sent = 0; i < 400; i++)
		sent += send(c, "flood", 5, 0) == 5;
	while (recv_one(fd, text, sizeof(text)) == 40003)
		got++;
	over = np_termsock_over_budget(ts);
	tap_diag("%d sent, %d delivered, %llu over budget", sent, got,
		 (unsigned long long)over);
	/* The 400 may straddle two windows: at most two budgets. */
	tap_check(&t, sent > 2 * NP_SIG_PORT_BURST &&
			      got >= NP_SIG_PORT_BURST &&
			      got <= 2 * NP_SIG_PORT_BURST &&
			      over == (uint64_t)(sent - got),
		  "a flood of %d on one port: its budget delivered, the rest "
		  "dropped and counted", sent);

	/* The same from the pair's softswitch: not held back. */
	struct np_pair pair = { .softswitch = r.address };
	struct np_config cfg = { .pairs = &pair, .n_pairs = 1 };

	sleep_ms(300); /* a new window */
	tap_check(&t, !np_termsock_peers(ts, &cfg), "the softswitch made a peer");
	for (i = 0, sent = 0, got = 0; i < 400; i++)
		sent += send(c, "flood", 5, 0) == 5;
	while (recv_one(fd, text, sizeof(text)) == 40003)
		got++;
	tap_check(&t, got == sent && np_termsock_over_budget(ts) == over,
		  "a flood of %d from the softswitch: every datagram delivered "
		  "(%d), none over budget", sent, got);

	np_termsock_stop(ts);
	tap_check(&t, refused(c), "stopped: the lookup is gone, the port closed");
	close(c);
	return tap_done(&t);
}
