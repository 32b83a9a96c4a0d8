// SPDX-License-Identifier: GPL-2.0-only
/*
 * The heartbeat between the two nodes (peer.h); its datagram is beat.h's.
 * What is accepted from the peer: a datagram from its address, with a
 * right MAC, its name and our share, and either of the BOOT accepted last
 * with a SEQ above the last one, or of a new BOOT and acking one of our
 * heartbeats sent within NP_PEER_DEAD (then that BOOT is the peer's from
 * now on). Everything else is counted by reason, logged (rate-limited),
 * and changes nothing else: not what the peer says, not its promise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cluster/peer.h"
#include "log.h"

#define RING 64 /* heartbeats whose sending time is kept, for their echo */

const char *const np_peer_refusal_names[NP_PEER_REFUSED_MAX] = {
	[NP_PEER_REFUSED_SENDER] = "sender",
	[NP_PEER_REFUSED_FORMAT] = "format",
	[NP_PEER_REFUSED_MAC] = "mac",
	[NP_PEER_REFUSED_REPLAY] = "replay",
	[NP_PEER_REFUSED_STALE] = "stale",
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
	uint64_t boot, seq; /* ours: this run's number, the last beat's */
	/* The peer's run whose beats we take, and the last SEQ taken. */
	uint64_t peer_boot, peer_seq;
	/* The last beat heard with a right MAC, taken or not (new BOOT): what
	 * ours ack, for the peer to see that they are fresh. */
	uint64_t ack_boot, ack_seq;
	struct {
		uint64_t seq;
		double sent;
		double at; /* 0: it did not say "active" */
	} ring[RING];
	struct np_log_limit log_limit; /* the heartbeat thread's own */
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
	char buf[NP_BEAT_MAX];
	struct np_beat b = { 0 };
	double now = now_ms();
	int n;

	snprintf(b.node, sizeof(b.node), "%s", p->cfg.node);
	snprintf(b.share, sizeof(b.share), "%s", p->cfg.share);
	pthread_mutex_lock(&p->lock);
	b.state = p->mine;
	if (b.state == NP_PEER_ACTIVE && !acting_locked(p, now))
		b.state = NP_PEER_ISOLATED;
	b.boot = p->boot;
	b.seq = ++p->seq;
	b.ack_boot = p->ack_boot;
	b.ack_seq = p->ack_seq;
	/* The promise, only for a beat we took (of the run we ack). */
	if (yielding(b.state) && p->peer_boot && p->ack_boot == p->peer_boot)
		b.echo = p->peer_seq;
	p->ring[b.seq % RING].seq = b.seq;
	p->ring[b.seq % RING].sent = now;
	p->ring[b.seq % RING].at = b.state == NP_PEER_ACTIVE ? now : 0;
	pthread_mutex_unlock(&p->lock);
	n = np_beat_format(buf, sizeof(buf), &b, p->cfg.heartbeat_key,
			   p->cfg.heartbeat_key_len);
	if (n > 0 && sendto(p->fd, buf, n, 0, (struct sockaddr *)to, tolen) == n) {
		pthread_mutex_lock(&p->lock);
		p->st.sent++;
		pthread_mutex_unlock(&p->lock);
	}
}

/* Under lock: whether our beat seq of this run went within NP_PEER_DEAD. */
static bool sent_lately(const struct np_peer *p, uint64_t boot, uint64_t seq,
			double now)
{
	return boot == p->boot && seq && p->ring[seq % RING].seq == seq &&
	       now - p->ring[seq % RING].sent < NP_PEER_DEAD(p->cfg.lease_ms);
}

/* Under lock: whether b, from the peer with a right MAC, is taken; why
 * not in *why. */
static bool admit_locked(struct np_peer *p, const struct np_beat *b,
			 double now, enum np_peer_refusal *why)
{
	if (b->boot == p->peer_boot) {
		if (b->seq <= p->peer_seq) {
			*why = NP_PEER_REFUSED_REPLAY;
			return false;
		}
	} else {
		/* Ack it, so that the peer's next beat can be fresh; but not
		 * while the run we take beats from is heard: a beat played
		 * back from an earlier run must not turn our acks (and our
		 * promise, beat()) away from it. */
		if (!p->peer_boot ||
		    now - p->heard_at >= 2 * NP_PEER_EVERY(p->cfg.lease_ms)) {
			p->ack_boot = b->boot;
			p->ack_seq = b->seq;
		}
		if (!sent_lately(p, b->ack_boot, b->ack_seq, now)) {
			*why = NP_PEER_REFUSED_STALE;
			return false;
		}
		p->peer_boot = b->boot;
	}
	p->peer_seq = b->seq;
	p->ack_boot = b->boot;
	p->ack_seq = b->seq;
	return true;
}

/* Under lock: what a beat taken says. */
static void heard_locked(struct np_peer *p, const struct np_beat *b,
			 double now)
{
	p->st.heard++;
	p->peer = b->state;
	p->heard_at = now;
	if (b->state == NP_PEER_ACTIVE)
		p->heard_active_at = now;
	/* The peer took our heartbeat b->echo, sent at at, and yields until
	 * it has heard no "active" one for NP_PEER_DEAD: not before at +
	 * NP_PEER_DEAD. */
	if (yielding(b->state) && b->echo && b->ack_boot == p->boot &&
	    p->ring[b->echo % RING].seq == b->echo &&
	    p->ring[b->echo % RING].at) {
		double until = p->ring[b->echo % RING].at +
			       NP_PEER_DEAD(p->cfg.lease_ms);

		if (until > p->echo_until)
			p->echo_until = until;
	}
}

static void refused(struct np_peer *p, const struct np_sockaddr *src,
		    enum np_peer_refusal why, double now)
{
	char host[64];
	bool say;

	pthread_mutex_lock(&p->lock);
	p->st.bad++;
	p->st.refused[why]++;
	say = np_log_limit(&p->log_limit, (long)(now / 1e3));
	pthread_mutex_unlock(&p->lock);
	if (say) {
		/* Stale: also the first beat or two of each new run of the
		 * peer, before it heard ours: no warning for that. */
		np_log(why == NP_PEER_REFUSED_STALE ? NP_LOG_INFO : NP_LOG_WARN,
		       "cluster: heartbeat from %s:%u refused (%s)",
		       np_sipaddr_host(src, host, sizeof(host)), src->port,
		       np_peer_refusal_names[why]);
	}
}

static void hear(struct np_peer *p)
{
	struct np_sockaddr src;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	enum np_peer_refusal why;
	struct np_beat b;
	char buf[NP_BEAT_MAX];
	ssize_t n;
	double now;
	bool ok;
	int err;

	while ((n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &flen)) >= 0) {
		flen = sizeof(from);
		np_sockaddr_from(&from, &src);
		now = now_ms();
		err = np_sockaddr_eq(&src, &p->cfg.peer_heartbeat) ?
			      np_beat_parse(buf, n, p->cfg.heartbeat_key,
					    p->cfg.heartbeat_key_len, &b) :
			      -EPERM;
		if (!err && (strcmp(b.node, p->cfg.peer) ||
			     strcmp(b.share, p->cfg.share)))
			err = -EPERM;
		if (err) {
			refused(p, &src,
				err == -EBADMSG ? NP_PEER_REFUSED_MAC :
				err == -EINVAL	? NP_PEER_REFUSED_FORMAT :
						  NP_PEER_REFUSED_SENDER,
				now);
			continue;
		}
		pthread_mutex_lock(&p->lock);
		ok = admit_locked(p, &b, now, &why);
		if (ok)
			heard_locked(p, &b, now);
		pthread_mutex_unlock(&p->lock);
		if (!ok)
			refused(p, &src, why, now);
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
	/* This run's number: never 0 (none), never one an earlier run had
	 * but by chance. */
	while (!p->boot)
		if (getrandom(&p->boot, sizeof(p->boot), 0) != sizeof(p->boot)) {
			free(p);
			return -EIO;
		}
	len = np_sockaddr_to(&cfg->heartbeat, &ss);
	p->fd = socket(cfg->heartbeat.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		if (p->fd >= 0)
			close(p->fd);
		free(p);
		return err;
	}
	if (!cfg->heartbeat_key_len)
		np_warn("cluster: the heartbeat is not authenticated (no "
			"heartbeat_key): anyone who can send to port %u of this "
			"node's core address can say it is node '%s', and stop "
			"a takeover or keep an isolated node acting",
			cfg->heartbeat.port, cfg->peer);
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
