// SPDX-License-Identifier: GPL-2.0-only
/*
 * The heartbeat between the two nodes (peer.h). One datagram a beat:
 *
 *   nphb1 NODE SHARE STATE SEQ ECHO
 *
 * STATE one of np_peer_state_names, SEQ this heartbeat's number (from 1),
 * ECHO the last SEQ heard from the peer while yielding, else 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cluster/peer.h"
#include "log.h"

#define RING 64 /* heartbeats whose sending time is kept, for their echo */

const char *const np_peer_state_names[NP_PEER_MAX] = {
	[NP_PEER_UNHEARD] = "unheard", [NP_PEER_STANDBY] = "standby",
	[NP_PEER_ACTIVE] = "active",   [NP_PEER_TAKING] = "taking",
	[NP_PEER_FENCED] = "fenced",   [NP_PEER_ISOLATED] = "isolated",
};

struct np_peer {
	struct np_cluster_config cfg;
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	/* Under lock. */
	bool stop;
	enum np_peer_state mine; /* as the loop set it */
	double lease_until, echo_until;
	uint64_t seq, heard_seq;
	struct {
		uint64_t seq;
		double at; /* 0: it did not say "active" */
	} ring[RING];
	enum np_peer_state peer;
	double heard_at, heard_active_at;
	struct np_peer_stats st;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int np_peer_format(char *buf, size_t len, const char *node, const char *share,
		   enum np_peer_state state, uint64_t seq, uint64_t echo)
{
	int n = snprintf(buf, len, "nphb1 %s %s %s %llu %llu", node, share,
			 np_peer_state_names[state], (unsigned long long)seq,
			 (unsigned long long)echo);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int np_peer_parse(const char *buf, size_t len, struct np_peer_msg *m)
{
	char text[256], state[16];
	unsigned long long seq, echo;
	int i;

	if (len >= sizeof(text))
		return -EINVAL;
	memcpy(text, buf, len);
	text[len] = '\0';
	memset(m, 0, sizeof(*m));
	/* 63: NP_CLUSTER_NAME_MAX - 1 */
	if (sscanf(text, "nphb1 %63s %63s %15s %llu %llu", m->node, m->share,
		   state, &seq, &echo) != 5 || !seq)
		return -EINVAL;
	for (i = NP_PEER_STANDBY; i < NP_PEER_MAX; i++)
		if (!strcmp(state, np_peer_state_names[i]))
			break;
	if (i == NP_PEER_MAX)
		return -EINVAL;
	m->state = i;
	m->seq = seq;
	m->echo = echo;
	return 0;
}

/* Under lock: the acting test (peer.h). */
static bool acting_locked(const struct np_peer *p, double now)
{
	double until = p->lease_until > p->echo_until ? p->lease_until :
							 p->echo_until;

	return p->mine == NP_PEER_ACTIVE &&
	       now < until - NP_PEER_MARGIN(p->cfg.lease_ms);
}

static bool yielding(enum np_peer_state s)
{
	return s == NP_PEER_STANDBY || s == NP_PEER_FENCED;
}

static void beat(struct np_peer *p, const struct sockaddr_storage *to,
		 socklen_t tolen)
{
	char buf[256];
	enum np_peer_state say;
	uint64_t seq, echo;
	double now = now_ms();
	int n;

	pthread_mutex_lock(&p->lock);
	say = p->mine;
	if (say == NP_PEER_ACTIVE && !acting_locked(p, now))
		say = NP_PEER_ISOLATED;
	seq = ++p->seq;
	echo = yielding(say) ? p->heard_seq : 0;
	p->ring[seq % RING].seq = seq;
	p->ring[seq % RING].at = say == NP_PEER_ACTIVE ? now : 0;
	pthread_mutex_unlock(&p->lock);
	n = np_peer_format(buf, sizeof(buf), p->cfg.node, p->cfg.share, say,
			   seq, echo);
	if (n > 0 && sendto(p->fd, buf, n, 0, (struct sockaddr *)to, tolen) == n) {
		pthread_mutex_lock(&p->lock);
		p->st.sent++;
		pthread_mutex_unlock(&p->lock);
	}
}

static void hear(struct np_peer *p)
{
	struct np_sockaddr src;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	struct np_peer_msg m;
	char buf[256];
	ssize_t n;
	double now;
	bool ok;

	while ((n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &flen)) >= 0) {
		/* Only the peer's own address, its name and our share. */
		np_sockaddr_from(&from, &src);
		ok = np_sockaddr_eq(&src, &p->cfg.peer_heartbeat) &&
		     !np_peer_parse(buf, n, &m) &&
		     !strcmp(m.node, p->cfg.peer) &&
		     !strcmp(m.share, p->cfg.share);
		now = now_ms();
		pthread_mutex_lock(&p->lock);
		if (!ok) {
			p->st.bad++;
		} else {
			p->st.heard++;
			p->peer = m.state;
			p->heard_at = now;
			p->heard_seq = m.seq;
			if (m.state == NP_PEER_ACTIVE)
				p->heard_active_at = now;
			/* The peer heard our heartbeat m.echo, sent at at, and
			 * yields until it has heard no "active" one for
			 * NP_PEER_DEAD: not before at + NP_PEER_DEAD. */
			if (yielding(m.state) && m.echo &&
			    p->ring[m.echo % RING].seq == m.echo &&
			    p->ring[m.echo % RING].at) {
				double until = p->ring[m.echo % RING].at +
					       NP_PEER_DEAD(p->cfg.lease_ms);

				if (until > p->echo_until)
					p->echo_until = until;
			}
		}
		pthread_mutex_unlock(&p->lock);
		flen = sizeof(from);
	}
}

static void *run(void *arg)
{
	struct np_peer *p = arg;
	struct sockaddr_storage to;
	socklen_t tolen = np_sockaddr_to(&p->cfg.peer_heartbeat, &to);
	double every = NP_PEER_EVERY(p->cfg.lease_ms), next = 0, now;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	bool stop;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		now = now_ms();
		if (now >= next) {
			beat(p, &to, tolen);
			next = now + every;
		}
		if (poll(&pfd, 1, (int)(next - now) + 1) > 0)
			hear(p);
	}
	return NULL;
}

int np_peer_start(struct np_peer **out, const struct np_cluster_config *cfg)
{
	struct np_peer *p = calloc(1, sizeof(*p));
	struct sockaddr_storage ss;
	socklen_t len;
	int err;

	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->mine = NP_PEER_STANDBY;
	len = np_sockaddr_to(&cfg->heartbeat, &ss);
	p->fd = socket(cfg->heartbeat.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		if (p->fd >= 0)
			close(p->fd);
		free(p);
		return err;
	}
	pthread_mutex_init(&p->lock, NULL);
	err = -pthread_create(&p->thread, NULL, run, p);
	if (err) {
		close(p->fd);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return err;
	}
	*out = p;
	return 0;
}

void np_peer_stop(struct np_peer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void np_peer_set(struct np_peer *p, enum np_peer_state mine,
		 double lease_until)
{
	pthread_mutex_lock(&p->lock);
	p->mine = mine;
	p->lease_until = lease_until;
	pthread_mutex_unlock(&p->lock);
}

bool np_peer_acting(struct np_peer *p, double now)
{
	bool yes;

	pthread_mutex_lock(&p->lock);
	yes = acting_locked(p, now);
	pthread_mutex_unlock(&p->lock);
	return yes;
}

static bool active_locked(const struct np_peer *p, double now)
{
	return p->heard_active_at &&
	       now - p->heard_active_at < NP_PEER_DEAD(p->cfg.lease_ms);
}

bool np_peer_active(struct np_peer *p, double now)
{
	bool yes;

	pthread_mutex_lock(&p->lock);
	yes = active_locked(p, now);
	pthread_mutex_unlock(&p->lock);
	return yes;
}

bool np_peer_take(struct np_peer *p, double now)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = !active_locked(p, now);
	if (ok && p->mine != NP_PEER_ACTIVE)
		p->mine = NP_PEER_TAKING;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void np_peer_stats(struct np_peer *p, double now, struct np_peer_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->st;
	out->peer = p->heard_at &&
			    now - p->heard_at < NP_PEER_DEAD(p->cfg.lease_ms) ?
			    p->peer :
			    NP_PEER_UNHEARD;
	out->echo_until = p->echo_until;
	pthread_mutex_unlock(&p->lock);
}
