// SPDX-License-Identifier: GPL-2.0-only
/*
 * The heartbeat among the nodes of a share (peer.h); its datagram is
 * beat.h's. What is accepted from a member: a datagram from its address,
 * with a right MAC, its name and a share it is in with us, and either of
 * the BOOT accepted last from it with a SEQ above the last one, or of a
 * new BOOT and acking one of our heartbeats to it sent within NP_PEER_DEAD
 * (then that BOOT is the member's from now on). A member's BOOT and SEQ
 * are its node's, over all its shares: one replay check per member.
 * Everything else is counted by reason, logged (rate-limited), and changes
 * nothing else: not what the member says, not its promise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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

#include "clock.h"
#include "addr.h"
#include "cluster/peer.h"
#include "log.h"

/* Heartbeats whose sending is kept, for their echo: more than every
 * share's beats to every member within NP_PEER_DEAD (7 rounds) at the
 * largest. */
#define RING 4096

const char *const np_peer_refusal_names[NP_PEER_REFUSED_MAX] = {
	[NP_PEER_REFUSED_SENDER] = "sender",
	[NP_PEER_REFUSED_FORMAT] = "format",
	[NP_PEER_REFUSED_MAC] = "mac",
	[NP_PEER_REFUSED_REPLAY] = "replay",
	[NP_PEER_REFUSED_STALE] = "stale",
};

/* Another node: the run of it whose beats we take, our acks, counters. */
struct member {
	char node[NP_CLUSTER_NAME_MAX];
	struct np_sockaddr addr;
	struct sockaddr_storage to;
	socklen_t tolen;
	uint64_t boot, seq; /* its run we take beats of; the last SEQ taken */
	/* The last beat heard from it with a right MAC, taken or not (new
	 * BOOT): what ours to it ack, for it to see that they are fresh. */
	uint64_t ack_boot, ack_seq;
	double heard_at; /* a beat taken, any share */
	uint64_t sent, heard, refused;
};

/* What one member says for one share. */
struct link {
	enum np_peer_state state;
	double heard_at, heard_active_at;
	double echo_until; /* its promise for the share ends */
	uint64_t seq; /* its last beat for the share we took: what we echo */
};

struct share {
	char name[NP_CLUSTER_NAME_MAX];
	uint32_t members; /* bit i: members[i] takes part */
	enum np_peer_state mine; /* as the loop set it */
	double lease_until;
	struct link links[NP_CLUSTER_MEMBERS_MAX];
};

struct np_peer {
	char node[NP_CLUSTER_NAME_MAX];
	uint32_t lease_ms;
	unsigned char key[NP_HEARTBEAT_KEY_MAX];
	size_t key_len;
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	/* Under lock. */
	bool stop;
	uint64_t boot, seq; /* ours: this run's number, the last beat's */
	struct member members[NP_CLUSTER_MEMBERS_MAX];
	size_t n_members;
	struct share shares[NP_CLUSTER_SHARES_MAX];
	size_t n_shares;
	struct {
		uint64_t seq;
		double sent;
		double at; /* 0: it did not say "active" */
		unsigned char share, member; /* for which, to whom */
	} ring[RING];
	struct np_log_limit log_limit; /* the heartbeat thread's own */
	uint64_t sent, heard, bad, refused[NP_PEER_REFUSED_MAX];
};

static bool in_share(const struct share *s, size_t m)
{
	return s->members & 1u << m;
}

/* Under lock: until when every member of s has promised (0: one has not,
 * or s has none: no promise). */
static double promised_locked(const struct np_peer *p, const struct share *s)
{
	double until = 0;
	size_t m;
	bool first = true;

	for (m = 0; m < p->n_members; m++) {
		if (!in_share(s, m))
			continue;
		if (first || s->links[m].echo_until < until)
			until = s->links[m].echo_until;
		first = false;
	}
	return until;
}

/* Under lock: the acting test (peer.h). */
static bool acting_locked(const struct np_peer *p, const struct share *s,
			  double now)
{
	double promise = promised_locked(p, s);
	double until = s->lease_until > promise ? s->lease_until : promise;

	return s->mine == NP_PEER_ACTIVE &&
	       now < until - NP_PEER_MARGIN(p->lease_ms);
}

static bool yielding(enum np_peer_state s)
{
	return s == NP_PEER_STANDBY || s == NP_PEER_FENCED;
}

/* Share sh's heartbeat to member mi. */
static void beat(struct np_peer *p, size_t sh, size_t mi)
{
	struct share *s = &p->shares[sh];
	struct member *m = &p->members[mi];
	char buf[NP_BEAT_MAX];
	struct np_beat b = { 0 };
	double now = np_now_ms();
	size_t r;
	int n;

	snprintf(b.node, sizeof(b.node), "%s", p->node);
	snprintf(b.share, sizeof(b.share), "%s", s->name);
	pthread_mutex_lock(&p->lock);
	b.state = s->mine;
	if (b.state == NP_PEER_ACTIVE && !acting_locked(p, s, now))
		b.state = NP_PEER_ISOLATED;
	b.boot = p->boot;
	b.seq = ++p->seq;
	b.ack_boot = m->ack_boot;
	b.ack_seq = m->ack_seq;
	/* The promise, only for a beat we took (of the run we ack). */
	if (yielding(b.state) && m->boot && m->ack_boot == m->boot)
		b.echo = s->links[mi].seq;
	r = b.seq % RING;
	p->ring[r].seq = b.seq;
	p->ring[r].sent = now;
	p->ring[r].at = b.state == NP_PEER_ACTIVE ? now : 0;
	p->ring[r].share = (unsigned char)sh;
	p->ring[r].member = (unsigned char)mi;
	pthread_mutex_unlock(&p->lock);
	n = np_beat_format(buf, sizeof(buf), &b, p->key, p->key_len);
	if (n > 0 && sendto(p->fd, buf, n, 0, (struct sockaddr *)&m->to,
			    m->tolen) == n) {
		pthread_mutex_lock(&p->lock);
		p->sent++;
		m->sent++;
		pthread_mutex_unlock(&p->lock);
	}
}

/* Under lock: whether our beat seq of this run to member mi went within
 * NP_PEER_DEAD. */
static bool sent_lately(const struct np_peer *p, size_t mi, uint64_t boot,
			uint64_t seq, double now)
{
	size_t r = seq % RING;

	return boot == p->boot && seq && p->ring[r].seq == seq &&
	       p->ring[r].member == mi &&
	       now - p->ring[r].sent < NP_PEER_DEAD(p->lease_ms);
}

/* Under lock: whether b, from member mi with a right MAC, is taken; why
 * not in *why. */
static bool admit_locked(struct np_peer *p, size_t mi, const struct np_beat *b,
			 double now, enum np_peer_refusal *why)
{
	struct member *m = &p->members[mi];
	size_t sh;

	if (b->boot == m->boot) {
		if (b->seq <= m->seq) {
			*why = NP_PEER_REFUSED_REPLAY;
			return false;
		}
	} else {
		/* Ack it, so that the member's next beat can be fresh; but
		 * not while the run we take beats from is heard: a beat
		 * played back from an earlier run must not turn our acks (and
		 * our promise, beat()) away from it. */
		if (!m->boot ||
		    now - m->heard_at >= 2 * NP_PEER_EVERY(p->lease_ms)) {
			m->ack_boot = b->boot;
			m->ack_seq = b->seq;
		}
		if (!sent_lately(p, mi, b->ack_boot, b->ack_seq, now)) {
			*why = NP_PEER_REFUSED_STALE;
			return false;
		}
		m->boot = b->boot;
		/* Its earlier run's numbers are no echo for this one. */
		for (sh = 0; sh < p->n_shares; sh++)
			p->shares[sh].links[mi].seq = 0;
	}
	m->seq = b->seq;
	m->ack_boot = b->boot;
	m->ack_seq = b->seq;
	return true;
}

/* Under lock: what a beat of member mi for share sh, taken, says. */
static void heard_locked(struct np_peer *p, size_t mi, size_t sh,
			 const struct np_beat *b, double now)
{
	struct link *l = &p->shares[sh].links[mi];
	size_t r = b->echo % RING;

	p->heard++;
	p->members[mi].heard++;
	p->members[mi].heard_at = now;
	l->state = b->state;
	l->heard_at = now;
	l->seq = b->seq;
	if (b->state == NP_PEER_ACTIVE)
		l->heard_active_at = now;
	/* The member took our heartbeat b->echo for this share, sent at at,
	 * and yields it until it has heard no "active" one for NP_PEER_DEAD:
	 * not before at + NP_PEER_DEAD. */
	if (yielding(b->state) && b->echo && b->ack_boot == p->boot &&
	    p->ring[r].seq == b->echo && p->ring[r].at &&
	    p->ring[r].share == sh && p->ring[r].member == mi) {
		double until = p->ring[r].at + NP_PEER_DEAD(p->lease_ms);

		if (until > l->echo_until)
			l->echo_until = until;
	}
}

static void refused(struct np_peer *p, const struct np_sockaddr *src, int mi,
		    enum np_peer_refusal why, double now)
{
	char host[64];
	bool say;

	pthread_mutex_lock(&p->lock);
	p->bad++;
	p->refused[why]++;
	if (mi >= 0)
		p->members[mi].refused++;
	say = np_log_limit(&p->log_limit, (long)(now / 1e3));
	pthread_mutex_unlock(&p->lock);
	if (say) {
		/* Stale: also the first beat or two of each new run of a
		 * member, before it heard ours: no warning for that. */
		np_log(why == NP_PEER_REFUSED_STALE ? NP_LOG_INFO : NP_LOG_WARN,
		       "cluster: heartbeat from %s:%u refused (%s)",
		       np_sipaddr_host(src, host, sizeof(host)), src->port,
		       np_peer_refusal_names[why]);
	}
}

/* The member at src (-1: none). */
static int member_at(const struct np_peer *p, const struct np_sockaddr *src)
{
	size_t m;

	for (m = 0; m < p->n_members; m++)
		if (np_sockaddr_eq(src, &p->members[m].addr))
			return (int)m;
	return -1;
}

/* The share b is for, if member mi is in it with us (-1: not). */
static int share_of(const struct np_peer *p, int mi, const struct np_beat *b)
{
	size_t sh;

	if (mi < 0 || strcmp(b->node, p->members[mi].node))
		return -1;
	for (sh = 0; sh < p->n_shares; sh++)
		if (!strcmp(b->share, p->shares[sh].name))
			return in_share(&p->shares[sh], mi) ? (int)sh : -1;
	return -1;
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
	int err, mi, sh = -1;

	while ((n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &flen)) >= 0) {
		flen = sizeof(from);
		np_sockaddr_from(&from, &src);
		now = np_now_ms();
		mi = member_at(p, &src);
		err = mi >= 0 ? np_beat_parse(buf, n, p->key, p->key_len, &b) :
				-EPERM;
		if (!err && (sh = share_of(p, mi, &b)) < 0)
			err = -EPERM;
		if (err) {
			refused(p, &src, mi,
				err == -EBADMSG ? NP_PEER_REFUSED_MAC :
				err == -EINVAL	? NP_PEER_REFUSED_FORMAT :
						  NP_PEER_REFUSED_SENDER,
				now);
			continue;
		}
		pthread_mutex_lock(&p->lock);
		ok = admit_locked(p, mi, &b, now, &why);
		if (ok)
			heard_locked(p, mi, sh, &b, now);
		pthread_mutex_unlock(&p->lock);
		if (!ok)
			refused(p, &src, mi, why, now);
	}
}

static void *run(void *arg)
{
	struct np_peer *p = arg;
	double every = NP_PEER_EVERY(p->lease_ms), next = 0, now;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	size_t sh, m;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		now = np_now_ms();
		if (now >= next) {
			for (sh = 0; sh < p->n_shares; sh++)
				for (m = 0; m < p->n_members; m++)
					if (in_share(&p->shares[sh], m))
						beat(p, sh, m);
			next = now + every;
		}
		if (poll(&pfd, 1, (int)(next - now) + 1) > 0)
			hear(p);
	}
	return NULL;
}

/* The members and shares of cfg: a pair's peer in its one share, or a
 * scale-out node's members and shares. */
static void layout(struct np_peer *p, const struct np_cluster_config *cfg)
{
	size_t i;

	if (!cfg->n_shares) {
		snprintf(p->members[0].node, sizeof(p->members[0].node), "%s",
			 cfg->peer);
		p->members[0].addr = cfg->peer_heartbeat;
		p->n_members = 1;
		snprintf(p->shares[0].name, sizeof(p->shares[0].name), "%s",
			 cfg->share);
		p->shares[0].members = 1;
		p->n_shares = 1;
	} else {
		for (i = 0; i < cfg->n_members; i++) {
			snprintf(p->members[i].node, sizeof(p->members[i].node),
				 "%s", cfg->members[i].node);
			p->members[i].addr = cfg->members[i].heartbeat;
		}
		p->n_members = cfg->n_members;
		for (i = 0; i < cfg->n_shares; i++) {
			snprintf(p->shares[i].name, sizeof(p->shares[i].name),
				 "%s", cfg->shares[i].name);
			p->shares[i].members = cfg->shares[i].members;
		}
		p->n_shares = cfg->n_shares;
	}
	for (i = 0; i < p->n_members; i++)
		p->members[i].tolen =
			np_sockaddr_to(&p->members[i].addr, &p->members[i].to);
	for (i = 0; i < p->n_shares; i++)
		p->shares[i].mine = NP_PEER_STANDBY;
}

int np_peer_start(struct np_peer **out, const struct np_cluster_config *cfg)
{
	struct np_peer *p = calloc(1, sizeof(*p));
	struct sockaddr_storage ss;
	socklen_t len;
	int err;

	if (!p)
		return -ENOMEM;
	snprintf(p->node, sizeof(p->node), "%s", cfg->node);
	p->lease_ms = cfg->lease_ms;
	memcpy(p->key, cfg->heartbeat_key, cfg->heartbeat_key_len);
	p->key_len = cfg->heartbeat_key_len;
	layout(p, cfg);
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
			"node's core address can say it is node '%s'%s, and "
			"stop a takeover or keep an isolated node acting",
			cfg->heartbeat.port, p->members[0].node,
			p->n_members > 1 ? " (or another member)" : "");
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

void np_peer_set(struct np_peer *p, size_t sh, enum np_peer_state mine,
		 double lease_until)
{
	pthread_mutex_lock(&p->lock);
	p->shares[sh].mine = mine;
	p->shares[sh].lease_until = lease_until;
	pthread_mutex_unlock(&p->lock);
}

bool np_peer_acting(struct np_peer *p, size_t sh, double now)
{
	bool yes;

	pthread_mutex_lock(&p->lock);
	yes = acting_locked(p, &p->shares[sh], now);
	pthread_mutex_unlock(&p->lock);
	return yes;
}

static bool active_locked(const struct np_peer *p, const struct share *s,
			  double now)
{
	size_t m;

	for (m = 0; m < p->n_members; m++)
		if (in_share(s, m) && s->links[m].heard_active_at &&
		    now - s->links[m].heard_active_at <
			    NP_PEER_DEAD(p->lease_ms))
			return true;
	return false;
}

bool np_peer_active(struct np_peer *p, size_t sh, double now)
{
	bool yes;

	pthread_mutex_lock(&p->lock);
	yes = active_locked(p, &p->shares[sh], now);
	pthread_mutex_unlock(&p->lock);
	return yes;
}

bool np_peer_take(struct np_peer *p, size_t sh, double now)
{
	struct share *s = &p->shares[sh];
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = !active_locked(p, s, now);
	if (ok && s->mine != NP_PEER_ACTIVE)
		s->mine = NP_PEER_TAKING;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

/* Under lock: what member mi says for s now (UNHEARD: silent for
 * NP_PEER_DEAD). */
static enum np_peer_state says_locked(const struct np_peer *p,
				      const struct share *s, size_t mi,
				      double now)
{
	const struct link *l = &s->links[mi];

	return l->heard_at && now - l->heard_at < NP_PEER_DEAD(p->lease_ms) ?
		       l->state :
		       NP_PEER_UNHEARD;
}

void np_peer_stats(struct np_peer *p, size_t sh, double now,
		   struct np_peer_stats *out)
{
	/* The node's: every member, in a share of none. */
	static const struct share node = { .members = ~0u };
	const struct share *s = sh == NP_PEER_NODE ? &node : &p->shares[sh];
	struct np_peer_member_stats *ms;
	enum np_peer_state st;
	size_t m;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	out->sent = p->sent;
	out->heard = p->heard;
	out->bad = p->bad;
	memcpy(out->refused, p->refused, sizeof(out->refused));
	out->echo_until = promised_locked(p, s);
	out->peer = NP_PEER_UNHEARD;
	for (m = 0; m < p->n_members; m++) {
		if (!in_share(s, m))
			continue;
		st = says_locked(p, s, m, now);
		/* The sum: "active" over all; else the first that does not
		 * yield; else the first's. */
		if (!out->n_members || st == NP_PEER_ACTIVE ||
		    (yielding(out->peer) && !yielding(st)))
			out->peer = st;
		ms = &out->members[out->n_members++];
		snprintf(ms->node, sizeof(ms->node), "%s", p->members[m].node);
		ms->says = st;
		ms->sent = p->members[m].sent;
		ms->heard = p->members[m].heard;
		ms->refused = p->members[m].refused;
		ms->heard_ms = p->members[m].heard_at ?
				       now - p->members[m].heard_at :
				       -1;
		ms->promise_ms = s->links[m].echo_until - now;
	}
	pthread_mutex_unlock(&p->lock);
}

void np_peer_stats_json(FILE *f, const struct np_peer_stats *st, bool share)
{
	const struct np_peer_member_stats *m;
	size_t i;

	fprintf(f, "{\"sent\": %" PRIu64 ", \"heard\": %" PRIu64
		   ", \"refused\": {\"total\": %" PRIu64,
		st->sent, st->heard, st->bad);
	for (i = 0; i < NP_PEER_REFUSED_MAX; i++)
		fprintf(f, ", \"%s\": %" PRIu64, np_peer_refusal_names[i],
			st->refused[i]);
	fputs("}, \"members\": [", f);
	for (i = 0; i < st->n_members; i++) {
		m = &st->members[i];
		fprintf(f,
			"%s{\"node\": \"%s\", \"sent\": %" PRIu64
			", \"heard\": %" PRIu64 ", \"refused\": %" PRIu64,
			i ? ", " : "", m->node, m->sent, m->heard, m->refused);
		if (m->heard_ms >= 0)
			fprintf(f, ", \"last_heard_s\": %.3f", m->heard_ms / 1e3);
		else
			fputs(", \"last_heard_s\": null", f);
		if (share)
			fprintf(f, ", \"says\": \"%s\", \"promise_s\": %.3f",
				np_peer_state_names[m->says],
				m->promise_ms > 0 ? m->promise_ms / 1e3 : 0.0);
		fputc('}', f);
	}
	fputs("]}", f);
}
