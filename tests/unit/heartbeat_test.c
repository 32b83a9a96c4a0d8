// SPDX-License-Identifier: GPL-2.0-only
/*
 * The heartbeat between two nodes (ctl/cluster/beat.c, peer.c): its key
 * in the config, the datagram with its MAC (a wrong key, every bit
 * flipped, every length cut short: refused), and a running heartbeat
 * thread on loopback fed by a fake peer: a forged, altered, replayed,
 * cut-short or stale datagram is refused, counted by reason, and changes
 * neither what the peer is said to be nor its promise. Two real threads
 * with the same key hear each other; with different keys neither does.
 * Scale-out (test_members): a node in two shares with two fake members,
 * Redis away: it acts for a share only while every member of it has
 * echoed its beats of that share; a member's word for one share is not
 * its word for another; a standby may not take a share a member says it
 * acts for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cluster/beat.h"
#include "cluster/peer.h"
#include "config.h"
#include "tap.h"

#define KEY "0123456789abcdef0123456789abcdef" /* 32 bytes */
#define LEASE 300 /* ms: a beat every 30, the peer dead after 200 */

/* The shipped example (tests run from the top of the tree), with this. */
#define EXAMPLE "configs/natproxy.yaml"
static const char cluster[] = "cluster:\n"
			      "  redis: 10.0.0.1:6379\n"
			      "  node: a\n"
			      "  peer: b\n";

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A key file with text and mode; its path in path. */
static void key_file(char *path, size_t len, const char *text, mode_t mode)
{
	FILE *f;

	snprintf(path, len, "/tmp/np-hbkey-%d", (int)getpid());
	unlink(path);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
}

/* The example with a cluster section and more of it: 0 or the error's
 * text. */
static int parse(const char *more, struct np_config *cfg, char *err,
		 size_t len)
{
	char text[16384];
	size_t n = 0;
	FILE *f = fopen(EXAMPLE, "r");

	if (f) {
		n = fread(text, 1, sizeof(text) - 1024, f);
		fclose(f);
	}
	snprintf(text + n, sizeof(text) - n, "%s%s", cluster, more);
	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	return np_config_parse(EXAMPLE, text, strlen(text), cfg, err, len);
}

static void test_config(struct tap *t)
{
	const char *hb = "  heartbeat: 10.0.0.2:7400\n"
			 "  peer_heartbeat: 10.0.0.3:7400\n";
	char path[64], more[512], err[256];
	struct np_config cfg;
	int ret;

	ret = parse(hb, &cfg, err, sizeof(err));
	tap_check(t, !ret && !cfg.cluster.heartbeat_key_len,
		  "config: no heartbeat_key: no key (the default)");
	np_config_free(&cfg);

	key_file(path, sizeof(path), KEY "\n", 0600);
	snprintf(more, sizeof(more), "%s  heartbeat_key: %s\n", hb, path);
	ret = parse(more, &cfg, err, sizeof(err));
	tap_check(t,
		  !ret && cfg.cluster.heartbeat_key_len == 32 &&
			  !memcmp(cfg.cluster.heartbeat_key, KEY, 32),
		  "config: heartbeat_key: the file's bytes, its line end off");
	if (ret)
		tap_diag("%s", err);
	np_config_free(&cfg);

	chmod(path, 0644);
	ret = parse(more, &cfg, err, sizeof(err));
	tap_check(t, ret && strstr(err, "may be read or written by others "
					"(mode 644): chmod 600 it"),
		  "config: a key file others may read: refused (%s)", err);

	key_file(path, sizeof(path), "short\n", 0600);
	ret = parse(more, &cfg, err, sizeof(err));
	tap_check(t, ret && strstr(err, "5 bytes, want 32 to 256"),
		  "config: a key under 32 bytes: refused (%s)", err);

	unlink(path);
	ret = parse(more, &cfg, err, sizeof(err));
	tap_check(t, ret && strstr(err, "No such file"),
		  "config: a key file missing: refused (%s)", err);

	key_file(path, sizeof(path), KEY, 0600);
	snprintf(more, sizeof(more), "  heartbeat_key: %s\n", path);
	ret = parse(more, &cfg, err, sizeof(err));
	tap_check(t, ret && strstr(err, "heartbeat_key without a heartbeat"),
		  "config: a key without a heartbeat: refused (%s)", err);
	unlink(path);
}

static const unsigned char *key = (const unsigned char *)KEY;

static void test_datagram(struct tap *t)
{
	struct np_beat b = { .node = "b", .share = "natproxy",
			     .state = NP_PEER_STANDBY, .boot = 0x1234abcd5678ef01ULL,
			     .seq = 9, .echo = 7, .ack_boot = 0xfeULL,
			     .ack_seq = 7 },
		       m;
	char buf[NP_BEAT_MAX], bad[NP_BEAT_MAX];
	bool all = true;
	int n, i, bit;

	n = np_beat_format(buf, sizeof(buf), &b, key, 32);
	tap_check(t,
		  n > 0 && !np_beat_parse(buf, n, key, 32, &m) &&
			  !strcmp(m.node, "b") && !strcmp(m.share, "natproxy") &&
			  m.state == NP_PEER_STANDBY && m.boot == b.boot &&
			  m.seq == 9 && m.echo == 7 && m.ack_boot == 0xfe &&
			  m.ack_seq == 7,
		  "datagram: with its MAC, reads back (%.*s)", n, buf);
	tap_check(t, np_beat_parse(buf, n, (const unsigned char *)"1" KEY, 32,
				   &m) == -EBADMSG,
		  "datagram: another key: refused (MAC)");
	tap_check(t, np_beat_parse(buf, n, NULL, 0, &m) == -EBADMSG,
		  "datagram: with a MAC where the pair has no key: refused");
	for (i = 0; i < n; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, buf, n);
			bad[i] ^= 1 << bit;
			all &= np_beat_parse(bad, n, key, 32, &m) < 0;
		}
	tap_check(t, all, "datagram: each of its %d bits flipped: refused",
		  8 * n);
	all = true;
	for (i = 0; i < n; i++)
		all &= np_beat_parse(buf, i, key, 32, &m) == -EBADMSG;
	tap_check(t, all, "datagram: cut short at every length: refused");

	n = np_beat_format(buf, sizeof(buf), &b, NULL, 0);
	tap_check(t, n > 0 && buf[n - 1] == '-' && buf[n - 2] == ' ' &&
			     !np_beat_parse(buf, n, NULL, 0, &m) && m.seq == 9,
		  "datagram: no key: MAC '-', read by a node without a key");
	tap_check(t, np_beat_parse(buf, n, key, 32, &m) == -EBADMSG,
		  "datagram: no MAC, to a node with a key: refused");
	tap_check(t, np_beat_parse("nphb2 a s unheard 1 1 0 0 0 -", 29, NULL,
				   0, &m) == -EINVAL,
		  "datagram: 'unheard' is no state a node says");
	tap_check(t, np_beat_parse("nphb2 a s active 1 0 0 0 0 -", 28, NULL,
				   0, &m) == -EINVAL,
		  "datagram: sequence 0 refused");
	tap_check(t, np_beat_parse("nphb1 a s active 1 1 0 0 0 -", 28, NULL,
				   0, &m) == -EINVAL,
		  "datagram: another version refused");
}

/* The fake peer: a socket where the node hears its peer from, its run. */
struct fake {
	int fd;
	struct np_peer *p; /* the node under test */
	struct sockaddr_in node; /* where the node under test listens */
	struct np_beat b;
	const unsigned char *key;
	size_t key_len;
};

/* A UDP socket on 127.0.0.1, port chosen by the kernel; the port. */
static int udp_any(int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(*fd, (struct sockaddr *)&a, &len))
		return -1;
	return ntohs(a.sin_port);
}

static void loopback(struct np_sockaddr *a, int port)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->addr.v4.s_addr = htonl(INADDR_LOOPBACK);
	a->port = port;
}

/* The node's next beat to the fake for share (NULL: any; sent from now
 * on: those queued are passed over), within 1 s: 0, or -1. */
static int fake_hear_for(struct fake *f, const char *share,
			 struct np_beat *out)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	char buf[NP_BEAT_MAX];
	double end = np_now_ms() + 1000;
	ssize_t n;

	while (recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
	while (np_now_ms() < end) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(f->fd, buf, sizeof(buf), 0);
		if (n > 0 && !np_beat_parse(buf, n, f->key, f->key_len, out) &&
		    (!share || !strcmp(out->share, share)))
			return 0;
	}
	return -1;
}

static int fake_hear(struct fake *f, struct np_beat *out)
{
	return fake_hear_for(f, NULL, out);
}

/* What the node made of all it heard so far: taken or refused. */
static uint64_t judged(struct np_peer *p)
{
	struct np_peer_stats st;

	np_peer_stats(p, 0, np_now_ms(), &st);
	return st.heard + st.bad;
}

/* Sends buf from fd to the node and waits (1 s at most) until its
 * thread has judged it. */
static void send_judged(struct fake *f, int fd, const char *buf, int n)
{
	uint64_t before = judged(f->p);
	double end = np_now_ms() + 1000;

	sendto(fd, buf, n, 0, (struct sockaddr *)&f->node, sizeof(f->node));
	while (judged(f->p) == before && np_now_ms() < end)
		sleep_ms(2);
}

static void fake_send_raw(struct fake *f, const char *buf, int n)
{
	send_judged(f, f->fd, buf, n);
}

/* The fake's next beat saying state, acking the node's beat heard; its
 * bytes in buf (for playing back). */
static int fake_send(struct fake *f, enum np_peer_state state,
		     const struct np_beat *heard, uint64_t echo, char *buf,
		     const unsigned char *key, size_t key_len)
{
	int n;

	f->b.state = state;
	f->b.seq++;
	f->b.ack_boot = heard ? heard->boot : 0;
	f->b.ack_seq = heard ? heard->seq : 0;
	f->b.echo = echo;
	n = np_beat_format(buf, NP_BEAT_MAX, &f->b, key, key_len);
	fake_send_raw(f, buf, n);
	return n;
}

static void config_pair(struct np_cluster_config *c, const char *node,
			const char *peer, int port, int peer_port,
			const char *k)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->node, sizeof(c->node), "%s", node);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->share, sizeof(c->share), "natproxy");
	c->lease_ms = LEASE;
	loopback(&c->heartbeat, port);
	loopback(&c->peer_heartbeat, peer_port);
	if (k) {
		memcpy(c->heartbeat_key, k, strlen(k));
		c->heartbeat_key_len = strlen(k);
	}
}

static void test_running(struct tap *t)
{
	struct np_cluster_config c;
	struct np_peer_stats st;
	struct np_peer *p = NULL;
	struct np_beat heard, old = { 0 };
	struct fake f = { .key = key, .key_len = 32 };
	char buf[NP_BEAT_MAX], first[NP_BEAT_MAX], echoed[NP_BEAT_MAX];
	int port, fake_port, n_first, n_echoed, n, tmp;
	double promise;

	fake_port = udp_any(&f.fd);
	port = udp_any(&tmp); /* a free port for the node, then let go */
	close(tmp);
	if (fake_port < 0 || port < 0) {
		tap_skip(t, "no loopback UDP", "running heartbeat");
		return;
	}
	f.node.sin_family = AF_INET;
	f.node.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f.node.sin_port = htons(port);
	snprintf(f.b.node, sizeof(f.b.node), "b");
	snprintf(f.b.share, sizeof(f.b.share), "natproxy");
	f.b.boot = 0xb0b0b0b0b0b0b0b1ULL;
	config_pair(&c, "a", "b", port, fake_port, KEY);
	if (np_peer_start(&p, &c)) {
		tap_skip(t, "cannot bind", "running heartbeat");
		close(f.fd);
		return;
	}
	f.p = p;
	/* The node says it is active, its lease good for a minute. */
	np_peer_set(p, 0, NP_PEER_ACTIVE, np_now_ms() + 60000);

	/* Its first beat, before it heard anything from us: stale. */
	tap_check(t, !fake_hear(&f, &heard) && heard.state == NP_PEER_ACTIVE &&
			     !heard.ack_boot,
		  "running: the node's beat, MAC'd with the key, acks nothing");
	n_first = fake_send(&f, NP_PEER_STANDBY, NULL, 0, first, key, 32);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.refused[NP_PEER_REFUSED_STALE] == 1 && !st.heard &&
			     st.peer == NP_PEER_UNHEARD,
		  "running: a new run of the peer acking nothing: stale, "
		  "not heard");
	/* The node acks it; our next beat acks the node's: taken. */
	tap_check(t, !fake_hear(&f, &heard) && heard.ack_boot == f.b.boot &&
			     heard.ack_seq == f.b.seq,
		  "running: the node acks the stale beat (the handshake)");
	n_echoed = fake_send(&f, NP_PEER_STANDBY, &heard, heard.seq, echoed,
			     key, 32);
	np_peer_stats(p, 0, np_now_ms(), &st);
	promise = st.echo_until;
	tap_check(t, st.heard == 1 && st.peer == NP_PEER_STANDBY &&
			     promise > 0,
		  "running: a beat acking the node's last: heard, its echo "
		  "a promise");

	/* Forged "active" beats: another key, no key, a bit flipped, cut. */
	fake_send(&f, NP_PEER_ACTIVE, &heard, 0, buf,
		  (const unsigned char *)"X" KEY, 32);
	fake_send(&f, NP_PEER_ACTIVE, &heard, 0, buf, NULL, 0);
	n = np_beat_format(buf, sizeof(buf), &f.b, key, 32);
	buf[n - 70] ^= 4; /* in the text the MAC covers */
	fake_send_raw(&f, buf, n);
	n = np_beat_format(buf, sizeof(buf), &f.b, key, 32);
	fake_send_raw(&f, buf, n - 1);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.refused[NP_PEER_REFUSED_MAC] == 4 && st.heard == 1 &&
			     st.peer == NP_PEER_STANDBY &&
			     !np_peer_active(p, 0, np_now_ms()),
		  "running: 4 forged or damaged 'active' beats: refused (mac), "
		  "the peer still standby");

	/* Played back: the handshake's stale beat and the taken one. */
	fake_send_raw(&f, echoed, n_echoed);
	fake_send_raw(&f, first, n_first);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.refused[NP_PEER_REFUSED_REPLAY] == 2 && st.heard == 1 &&
			     st.echo_until == promise,
		  "running: beats played back: refused (replay), the promise "
		  "as it was");

	/* A run of the peer from before (another BOOT) acking the node's
	 * beat of 300 ms ago: stale, even with the right key. */
	old = f.b;
	f.b.boot = 0xb0b0b0b0b0b0b0b0ULL;
	f.b.seq = 1000;
	sleep_ms(300);
	fake_send(&f, NP_PEER_ACTIVE, &heard, 0, buf, key, 32);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.refused[NP_PEER_REFUSED_STALE] == 2 &&
			     st.heard == 1 && !np_peer_active(p, 0, np_now_ms()),
		  "running: another run's 'active' acking an old beat: "
		  "refused (stale), not active");
	f.b = old;

	/* From another address: not the peer. */
	{
		int other;

		udp_any(&other);
		n = np_beat_format(buf, sizeof(buf), &f.b, key, 32);
		send_judged(&f, other, buf, n);
		close(other);
	}
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.refused[NP_PEER_REFUSED_SENDER] == 1,
		  "running: from another address: refused (sender)");

	/* The same run goes on: the next beat is heard, "active" at last. */
	fake_hear(&f, &heard);
	fake_send(&f, NP_PEER_ACTIVE, &heard, 0, buf, key, 32);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.heard == 2 && st.peer == NP_PEER_ACTIVE &&
			     np_peer_active(p, 0, np_now_ms()) &&
			     st.bad == 9,
		  "running: the peer's next beat heard (active); %llu refused "
		  "in all", (unsigned long long)st.bad);
	np_peer_stop(p);
	close(f.fd);
}


/* Fake f for share: its beat saying state, acking the node's beat heard
 * and echoing echo (0: none). */
static void member_says(struct fake *f, const char *share,
			enum np_peer_state state, const struct np_beat *heard,
			uint64_t echo, char *buf, int *n)
{
	char tmp[NP_BEAT_MAX];

	snprintf(f->b.share, sizeof(f->b.share), "%s", share);
	*n = fake_send(f, state, heard, echo, buf ? buf : tmp, key, 32);
}

/* A fake member named node of boot, on its own port, for node p at
 * node_port. */
static int fake_member(struct fake *f, const char *node, uint64_t boot,
		       int node_port)
{
	int port = udp_any(&f->fd);

	f->key = key;
	f->key_len = 32;
	f->node.sin_family = AF_INET;
	f->node.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->node.sin_port = htons(node_port);
	snprintf(f->b.node, sizeof(f->b.node), "%s", node);
	f->b.boot = boot;
	return port;
}

/* Member f's handshake for share: a first beat (stale), then one acking
 * the node's answer, yielding and echoing it; what it heard in *heard. */
static void handshake(struct fake *f, const char *share,
		      struct np_beat *heard)
{
	member_says(f, share, NP_PEER_STANDBY, NULL, 0, NULL, &(int){ 0 });
	fake_hear_for(f, share, heard);
	member_says(f, share, NP_PEER_STANDBY, heard, heard->seq, NULL,
		    &(int){ 0 });
}

/*
 * Scale-out: node c in shares s1 (members a and b) and s2 (member b), a
 * and b fakes. Redis is away (c's lease at Redis long over): c acts for
 * s1 only while both a and b have echoed its beats of s1; a standby for
 * s2 never takes it while b says "active" for s2; a member's word for
 * one share is not its word for another; a member's beat for a share it
 * is not in, played back or forged changes nothing.
 */
/* ms: longer than LEASE, so that a loaded machine's scheduling does not
 * outlast a promise between two steps (800 ms of it). */
#define MEMBERS_LEASE 1200

static void test_members(struct tap *t)
{
	struct np_cluster_config c;
	struct np_peer_stats st;
	struct np_peer *p = NULL;
	struct fake a = { 0 }, b = { 0 };
	struct np_beat heard, s2beat;
	char buf[NP_BEAT_MAX], echoed[NP_BEAT_MAX];
	int port, pa, pb, tmp, n_echoed, n;
	double end;

	port = udp_any(&tmp);
	close(tmp);
	pa = fake_member(&a, "a", 0xa0a0a0a0a0a0a0a1ULL, port);
	pb = fake_member(&b, "b", 0xb0b0b0b0b0b0b0b1ULL, port);
	if (port < 0 || pa < 0 || pb < 0) {
		tap_skip(t, "no loopback UDP", "members");
		return;
	}
	memset(&c, 0, sizeof(c));
	snprintf(c.node, sizeof(c.node), "c");
	c.lease_ms = MEMBERS_LEASE;
	loopback(&c.heartbeat, port);
	snprintf(c.members[0].node, sizeof(c.members[0].node), "a");
	loopback(&c.members[0].heartbeat, pa);
	snprintf(c.members[1].node, sizeof(c.members[1].node), "b");
	loopback(&c.members[1].heartbeat, pb);
	c.n_members = 2;
	snprintf(c.shares[0].name, sizeof(c.shares[0].name), "s1");
	c.shares[0].members = 3;
	snprintf(c.shares[1].name, sizeof(c.shares[1].name), "s2");
	c.shares[1].members = 2;
	c.n_shares = 2;
	memcpy(c.heartbeat_key, KEY, 32);
	c.heartbeat_key_len = 32;
	if (np_peer_start(&p, &c)) {
		tap_skip(t, "cannot bind", "members");
		close(a.fd);
		close(b.fd);
		return;
	}
	a.p = b.p = p;
	/* Active for s1 with its lease at Redis over: Redis away. */
	np_peer_set(p, 0, NP_PEER_ACTIVE, np_now_ms() - 1);
	np_peer_set(p, 1, NP_PEER_STANDBY, 0);
	tap_check(t, !np_peer_acting(p, 0, np_now_ms()),
		  "members: redis away, nobody's promise: c does not act "
		  "for s1");
	tap_check(t, !fake_hear_for(&a, "s1", &heard) &&
			     heard.state == NP_PEER_ISOLATED &&
			     !fake_hear_for(&b, "s2", &s2beat) &&
			     s2beat.state == NP_PEER_STANDBY,
		  "members: c's beats: s1 to a isolated, s2 to b standby");
	tap_check(t, fake_hear_for(&a, "s2", &heard) < 0,
		  "members: a, not in s2, gets no beat of s2");

	/* a promises for s1 (its echo of a beat saying "active": c's lease
	 * held for that moment); b says nothing yet. */
	np_peer_set(p, 0, NP_PEER_ACTIVE, np_now_ms() + 60000);
	handshake(&a, "s1", &heard);
	np_peer_set(p, 0, NP_PEER_ACTIVE, np_now_ms() - 1);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.n_members == 2 && st.members[0].says == NP_PEER_STANDBY &&
			     st.members[0].promise_ms > 0 &&
			     st.members[1].says == NP_PEER_UNHEARD &&
			     !np_peer_acting(p, 0, np_now_ms()),
		  "members: a echoed, b silent: c still does not act for s1 "
		  "(every member must have promised)");

	/* b's handshake, echoing c's beat of s2 in its beat of s1: no
	 * promise for s1. */
	member_says(&b, "s2", NP_PEER_STANDBY, NULL, 0, NULL, &n);
	fake_hear_for(&b, "s2", &s2beat);
	member_says(&b, "s1", NP_PEER_STANDBY, &s2beat, s2beat.seq, NULL, &n);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, st.members[1].says == NP_PEER_STANDBY &&
			     st.members[1].promise_ms <= 0 &&
			     !np_peer_acting(p, 0, np_now_ms()),
		  "members: b's echo of c's beat of s2, in its beat of s1: "
		  "no promise for s1");
	/* Both a and b echo c's beats of s1 (now, c's beats say active
	 * again: fresh ones). */
	np_peer_set(p, 0, NP_PEER_ACTIVE, np_now_ms() + 60000);
	fake_hear_for(&a, "s1", &heard);
	member_says(&a, "s1", NP_PEER_STANDBY, &heard, heard.seq, NULL, &n);
	fake_hear_for(&b, "s1", &heard);
	member_says(&b, "s1", NP_PEER_STANDBY, &heard, heard.seq, echoed,
		    &n_echoed);
	np_peer_set(p, 0, NP_PEER_ACTIVE, np_now_ms() - 1);
	np_peer_stats(p, 0, np_now_ms(), &st);
	tap_check(t, np_peer_acting(p, 0, np_now_ms()) && st.echo_until > np_now_ms() &&
			     st.members[0].promise_ms > 0 &&
			     st.members[1].promise_ms > 0,
		  "members: a and b both echoed c's beats of s1: c acts for "
		  "s1 with redis away (for %.0f ms more)",
		  st.echo_until - np_now_ms());

	/* b says "active" for s2: c, standby for s2, may not take it; s1
	 * is not concerned. */
	member_says(&b, "s2", NP_PEER_ACTIVE, &s2beat, 0, NULL, &n);
	tap_check(t, np_peer_active(p, 1, np_now_ms()) &&
			     !np_peer_take(p, 1, np_now_ms()) &&
			     !np_peer_active(p, 0, np_now_ms()),
		  "members: b active for s2: c may not take s2; s1 has no "
		  "active member");
	/* a is not in s2: its "active" for s2 is refused, and so are b's
	 * echo played back and a forged "active" of a for s1. */
	np_peer_stats(p, NP_PEER_NODE, np_now_ms(), &st);
	{
		uint64_t sender = st.refused[NP_PEER_REFUSED_SENDER],
			 replay = st.refused[NP_PEER_REFUSED_REPLAY],
			 mac = st.refused[NP_PEER_REFUSED_MAC];

		member_says(&a, "s2", NP_PEER_ACTIVE, &heard, 0, NULL, &n);
		fake_send_raw(&b, echoed, n_echoed);
		snprintf(a.b.share, sizeof(a.b.share), "s1");
		a.b.state = NP_PEER_ACTIVE;
		a.b.seq++;
		n = np_beat_format(buf, sizeof(buf), &a.b,
				   (const unsigned char *)"X" KEY, 32);
		fake_send_raw(&a, buf, n);
		np_peer_stats(p, NP_PEER_NODE, np_now_ms(), &st);
		tap_check(t, st.refused[NP_PEER_REFUSED_SENDER] == sender + 1 &&
				     st.refused[NP_PEER_REFUSED_REPLAY] ==
					     replay + 1 &&
				     st.refused[NP_PEER_REFUSED_MAC] == mac + 1 &&
				     !np_peer_active(p, 0, np_now_ms()) &&
				     np_peer_acting(p, 0, np_now_ms()),
			  "members: a's beat for s2 (not its share), b's "
			  "played back, a forged 'active' for s1: refused "
			  "(sender, replay, mac), nothing changed");
		tap_check(t, st.n_members == 2 && st.members[0].refused >= 1 &&
				     st.members[1].refused >= 1 &&
				     st.members[0].heard >= 2 &&
				     st.members[0].heard_ms >= 0,
			  "members: the node's counters per member (heard, "
			  "refused, last heard)");
	}

	/* Nobody echoes any more: the promises end, c stops acting for s1
	 * and says so. */
	end = np_now_ms() + 2 * MEMBERS_LEASE;
	while (np_peer_acting(p, 0, np_now_ms()) && np_now_ms() < end)
		sleep_ms(5);
	tap_check(t, !np_peer_acting(p, 0, np_now_ms()) &&
			     !fake_hear_for(&a, "s1", &heard) &&
			     heard.state == NP_PEER_ISOLATED,
		  "members: the echoes stop: c stops acting for s1 once "
		  "the first promise ends; its beats say isolated");
	/* b silent for s2 for NP_PEER_DEAD: c may take s2 now; its beats to
	 * b for s2 then say taking, with no echo. */
	sleep_ms((int)NP_PEER_DEAD(MEMBERS_LEASE) + 20);
	n = !np_peer_active(p, 1, np_now_ms()) + 2 * np_peer_take(p, 1, np_now_ms());
	n += 4 * !fake_hear_for(&b, "s2", &heard);
	tap_check(t, n == 7 && heard.state == NP_PEER_TAKING && !heard.echo,
		  "members: b silent for s2: c may take it, and its beats "
		  "stop echoing (taking) (%d %s)", n,
		  np_peer_state_names[heard.state]);
	np_peer_stop(p);
	close(a.fd);
	close(b.fd);
}

/* Two heartbeat threads: a with key ka, b with kb; what each heard in
 * 500 ms (heard, refused stale, refused mac). */
static void pair_run(const char *ka, const char *kb, struct np_peer_stats *sa,
		     struct np_peer_stats *sb)
{
	struct np_cluster_config ca, cb;
	struct np_peer *a = NULL, *b = NULL;
	int pa, pb, fa, fb;

	memset(sa, 0, sizeof(*sa));
	memset(sb, 0, sizeof(*sb));
	pa = udp_any(&fa);
	pb = udp_any(&fb);
	close(fa);
	close(fb);
	config_pair(&ca, "a", "b", pa, pb, ka);
	config_pair(&cb, "b", "a", pb, pa, kb);
	if (np_peer_start(&a, &ca) || np_peer_start(&b, &cb)) {
		np_peer_stop(a);
		return;
	}
	np_peer_set(a, 0, NP_PEER_ACTIVE, np_now_ms() + 60000);
	sleep_ms(500);
	np_peer_stats(a, 0, np_now_ms(), sa);
	np_peer_stats(b, 0, np_now_ms(), sb);
	np_peer_stop(a);
	np_peer_stop(b);
}

static void test_pair(struct tap *t)
{
	struct np_peer_stats sa, sb;

	pair_run(KEY, KEY, &sa, &sb);
	tap_check(t, sa.heard >= 8 && sb.heard >= 8 &&
			     sa.peer == NP_PEER_STANDBY &&
			     sb.peer == NP_PEER_ACTIVE &&
			     sa.echo_until > 0 &&
			     sa.refused[NP_PEER_REFUSED_STALE] <= 4 &&
			     sb.refused[NP_PEER_REFUSED_STALE] <= 4 &&
			     sa.bad == sa.refused[NP_PEER_REFUSED_STALE] &&
			     sb.bad == sb.refused[NP_PEER_REFUSED_STALE],
		  "pair, one key: both hear each other in 500 ms (a %llu, b "
		  "%llu beats; stale at the handshake: %llu, %llu), b's echo "
		  "a promise",
		  (unsigned long long)sa.heard, (unsigned long long)sb.heard,
		  (unsigned long long)sa.refused[NP_PEER_REFUSED_STALE],
		  (unsigned long long)sb.refused[NP_PEER_REFUSED_STALE]);
	pair_run(KEY, "Z" KEY, &sa, &sb);
	tap_check(t, !sa.heard && !sb.heard && sa.peer == NP_PEER_UNHEARD &&
			     sb.peer == NP_PEER_UNHEARD && !sa.echo_until &&
			     sa.refused[NP_PEER_REFUSED_MAC] >= 8 &&
			     sb.refused[NP_PEER_REFUSED_MAC] >= 8,
		  "pair, two keys: neither hears the other (mac: %llu, %llu)",
		  (unsigned long long)sa.refused[NP_PEER_REFUSED_MAC],
		  (unsigned long long)sb.refused[NP_PEER_REFUSED_MAC]);
	pair_run(NULL, NULL, &sa, &sb);
	tap_check(t, sa.heard >= 8 && sb.heard >= 8 &&
			     sb.peer == NP_PEER_ACTIVE,
		  "pair, no key: they hear each other (unauthenticated)");
	pair_run(KEY, NULL, &sa, &sb);
	tap_check(t, !sa.heard && !sb.heard &&
			     sa.refused[NP_PEER_REFUSED_MAC] >= 8,
		  "pair, a key on one side only: neither hears the other");
}

int main(void)
{
	struct tap t = { 0 };

	test_config(&t);
	test_datagram(&t);
	test_running(&t);
	test_pair(&t);
	test_members(&t);
	return tap_done(&t);
}
