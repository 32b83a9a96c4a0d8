// SPDX-License-Identifier: GPL-2.0-only
/* One share of a cluster node: its role, lease, stream (share.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/share.h"
#include "cluster/follow.h"
#include "cluster/latchpass.h"
#include "cluster/live.h"
#include "cluster/livepub.h"
#include "cluster/peer.h"
#include "cluster/unfiled.h"
#include "log.h"

#define MEDIA_TTL_MS "30000" /* a dead node's live calls are not taken over later */
#define HSET_FIELDS NP_LIVEPUB_BATCH /* fields per HSET command */
/* s: a call this young may not be in the peer's media hash yet (written
 * every second, read every second). */
#define LIVE_NEW 2
/* s a call's "billed" mark (np:billed:KEY) lives in Redis: a record resent
 * after a lost answer is not pushed twice. */
#define BILLED_TTL "86400"


struct np_share {
	/* The node's cluster section; a scale-out share's has its own share
	 * (the lease) and peer (the keys followed: the share's). */
	struct np_cluster_config cfg;
	/* The share's realms (bit i: realms[i]); 0: every realm (a pair of
	 * nodes, whose keys are the nodes'). */
	uint64_t realms;
	/* "node 'a'", or "node 'c' share 's1'": who the log lines are of. */
	char who[2 * NP_CLUSTER_NAME_MAX + 32];
	/* The node we follow or took over from: the pair's peer, or the
	 * share's last holder other than us. */
	char from[NP_CLUSTER_NAME_MAX];
	const struct np_config *config;
	struct np_proxy *px;
	struct np_redis *redis;
	/* The peer's entries, applied a bounded step per loop turn. */
	struct np_follower *follower;
	/* Our live calls to our media hash, a bounded step per turn. */
	struct np_livepub *livepub;
	int event_fd; /* the Redis thread's: written to come back soon */
	/* The node's heartbeat (cluster.c's; NULL: none configured), and
	 * this share's index in it. */
	struct np_peer *peer;
	size_t peer_idx;
	/* What each member said for the share, as last logged. */
	enum np_peer_state peer_seen[NP_CLUSTER_MEMBERS_MAX];
	/* CLOCK_MONOTONIC ms: the lease is ours at Redis until then. */
	double lease_until;
	/* Transactions queued so far (their numbers), and the records
	 * waiting for theirs, in order. */
	uint64_t txns;
	struct np_unfiled *pending, **pending_tail;
	void (*record)(void *arg, const char *line, size_t len);
	void *record_arg;
	char health[4096], unfiled[4096];
	enum np_role role;
	enum np_lease_seen lease;
	char holder[NP_CLUSTER_NAME_MAX];
	bool have_addrs, following;
	/* Our media hash may hold calls ended by another node since we last
	 * acted: replaced at the next write. */
	bool media_stale;
	/* Entries of the peer applied since we last acted: a promotion
	 * takes its calls over. */
	bool copied;
	/* The peer's media hash as last read, and the pass putting what
	 * changed in it into our flows; terminals copied since may be
	 * latch_due: a sweep is due. */
	struct np_latchpass latches;
	bool sweep;
	struct np_cluster_stats st;
	char key[4][128]; /* journal, snapshot, media (ours); media (peer's) */
};


static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_ms(void)
{
	return mono_now() * 1e3;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One command for a transaction, its arguments by length. */
struct cmd {
	int argc;
	const char *argv[HSET_FIELDS * 2 + 4];
	size_t lens[HSET_FIELDS * 2 + 4];
};

static void arg(struct cmd *c, const char *s, size_t len)
{
	c->argv[c->argc] = s;
	c->lens[c->argc++] = len;
}

static void args(struct cmd *c, const char *s)
{
	arg(c, s, strlen(s));
}

/* Queues cmds as one transaction. */
static void send_txn(struct np_share *cl, struct cmd *cmds, size_t n)
{
	int argc[8];
	const char *const *argv[8];
	const size_t *lens[8];
	size_t i;

	for (i = 0; i < n; i++) {
		argc[i] = cmds[i].argc;
		argv[i] = cmds[i].argv;
		lens[i] = cmds[i].lens;
	}
	if (np_redis_queue(cl->redis, n, argc, argv, lens)) {
		cl->st.published++;
		cl->txns++;
	}
}

void np_share_replicate(struct np_share *cl, bool snapshot, uint64_t gen,
			const char *text, size_t len)
{
	static struct cmd cmds[3];
	char g[32], mono[32], wall[32], *part = NULL;
	size_t n = 0;
	struct cmd *x;

	if (cl->role != NP_ROLE_ACTIVE)
		return; /* a standby's file is a copy: nothing to tell */
	if (cl->realms) {
		/* Scale-out: the share's part of the node's journal (its copies
		 * of other shares are theirs to write). Without memory, all of
		 * it: the followers pass the rest over. */
		part = malloc(len ? len : 1);
		if (part) {
			len = np_follow_filter(cl->config, cl->realms, text, len,
					       part);
			text = part;
		}
		/* A batch of other shares' changes (our copies of them): its
		 * commit line alone tells the share's followers nothing. */
		if (part && !snapshot && len &&
		    !memchr(text, '\n', len - 1)) {
			free(part);
			return;
		}
	}
	snprintf(g, sizeof(g), "%llu", (unsigned long long)gen);
	snprintf(mono, sizeof(mono), "%.3f", mono_now());
	snprintf(wall, sizeof(wall), "%.3f", wall_now());
	memset(cmds, 0, sizeof(cmds));
	if (snapshot) {
		/* The stream always starts with the snapshot it follows: a
		 * late starter reads it from its beginning. */
		x = &cmds[n++];
		args(x, "DEL");
		args(x, cl->key[0]);
	}
	x = &cmds[n++];
	args(x, "XADD");
	args(x, cl->key[0]);
	args(x, "*");
	args(x, "kind");
	args(x, snapshot ? "snapshot" : "batch");
	args(x, "gen");
	args(x, g);
	args(x, "mono");
	args(x, mono);
	args(x, "wall");
	args(x, wall);
	args(x, "data");
	arg(x, text, len);
	if (snapshot) {
		x = &cmds[n++];
		args(x, "SET");
		args(x, cl->key[1]);
		arg(x, text, len);
	}
	send_txn(cl, cmds, n); /* copied: part is ours to free */
	free(part);
}

static bool has_realm(const struct np_share *cl, size_t realm)
{
	return !cl->realms || (realm < 64 && (cl->realms & 1ull << realm));
}

bool np_share_has(const struct np_share *cl, const struct np_term *t)
{
	return np_follow_pair_in(cl->config, cl->realms, t->pair);
}

const char *np_share_name(const struct np_share *cl)
{
	return cl->cfg.share;
}

const char *np_share_holder(const struct np_share *cl)
{
	return cl->holder;
}

/* Whether every address of the share's realms is on this host: a socket
 * binds to it (without IP_FREEBIND) only then. */
static bool addrs_here(const struct np_share *cl)
{
	const struct np_config *cfg = cl->config;
	struct sockaddr_storage ss;
	socklen_t len;
	size_t i;
	int fd;
	bool ok = true;

	for (i = 0; ok && i < cfg->n_realms; i++) {
		const struct np_sockaddr *a = &cfg->realms[i].address;

		if (!has_realm(cl, i))
			continue;
		memset(&ss, 0, sizeof(ss));
		if (a->family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_addr = a->addr.v6;
			len = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			s4->sin_addr = a->addr.v4;
			len = sizeof(*s4);
		}
		fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ok = fd >= 0 && !bind(fd, (struct sockaddr *)&ss, len);
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

static const char *field_of(const struct np_share *cl, const char *key)
{
	return np_latchpass_field(&cl->latches, key);
}

/* The call a media field's key (np_live_key) names, and its terminal. */
static struct np_call *call_of_key(struct np_core *core, const char *key,
				   struct np_term **t)
{
	unsigned long pair, port;
	struct np_call *call;
	int used = 0;

	if (sscanf(key, "%lu:%lu:%n", &pair, &port, &used) != 2 || !used ||
	    pair >= core->cfg->n_pairs || port > 65535)
		return NULL;
	*t = np_term_by_core_port(core, core->cfg->pairs[pair].second,
				  (uint16_t)port);
	for (call = *t ? (*t)->calls : NULL; call; call = call->next)
		if (!strcmp(call->id, key + used))
			return call;
	return NULL;
}

/* A field of the peer's media hash that names other latches than our
 * flows hold (latchpass.h), into our copy of its call; a terminal copied
 * since the last sweep is the sweep's. */
static void latch_field(void *arg, const char *key, const char *text)
{
	struct np_share *cl = arg;
	struct np_term *t = NULL;
	struct np_call *call = call_of_key(&cl->px->core, key, &t);

	if (call && !t->latch_due)
		np_live_latch(&cl->px->core, t, call, text);
}

/* The calls of terminals copied since the last sweep, their latches from
 * the newest read, until the clock passes until_ms (< 0: all). true while
 * some are left: the next step walks the terminals from the first again,
 * those done no longer due. */
static bool sweep_due(struct np_share *cl, double until_ms)
{
	struct np_core *core = &cl->px->core;
	char key[NP_LIVE_KEY_MAX];
	struct np_call *call;
	const char *text;
	struct np_term *t;

	for (t = core->terms; t; t = t->next) {
		if (!t->latch_due || !np_share_has(cl, t))
			continue;
		for (call = t->calls; call; call = call->next) {
			np_live_key(t, call, key, sizeof(key));
			text = field_of(cl, key);
			if (text)
				np_live_latch(core, t, call, text);
		}
		t->latch_due = false;
		if (until_ms >= 0 && mono_ms() >= until_ms)
			return true;
	}
	return false;
}

/* The peer's latches into our copies of its calls: the fields whose
 * latches changed since the read our flows hold, then the calls copied
 * since the last time; not every call's four flows every second, and not
 * all at once: in a second in which ten thousand calls latch, that
 * stalled the loop (bench/standby.sh: 128-204 ms turns). A step of
 * NP_FOLLOW_STEP_MS per turn, the loop woken again at once while some
 * are left (as follow_step); drain: all of it (before a takeover). */
static void latch_step(struct np_share *cl, bool drain)
{
	double start = mono_ms(), until = drain ? -1 : start + NP_FOLLOW_STEP_MS;
	uint64_t one = 1;
	bool more;

	more = np_latchpass_step(&cl->latches, drain ? -1 : NP_FOLLOW_STEP_MS,
				 latch_field, cl);
	if (!more && cl->sweep)
		cl->sweep = more = sweep_due(cl, until);
	if (more && write(cl->event_fd, &one, sizeof(one)) < 0)
		np_warn("cluster: cannot wake the loop: %s", strerror(errno));
}

/* The calls we copied become ours: those the peer still had live (its
 * media hash has them) carry its counts into their records; those too
 * young to be there yet are taken without counts; the others it ended
 * and billed: dropped. */
static void take_over(struct np_share *cl, time_t now)
{
	struct np_core *core = &cl->px->core;
	char key[NP_LIVE_KEY_MAX];
	struct np_call *call, *next;
	const char *text;
	struct np_term *t;
	double wall = wall_now();

	for (t = core->terms; t; t = t->next) {
		if (!np_share_has(cl, t))
			continue;
		if (t->registered_until)
			t->ka_due = now; /* the NAT bindings: at once */
		for (call = t->calls; call; call = next) {
			next = call->next;
			np_live_key(t, call, key, sizeof(key));
			text = cl->copied ? field_of(cl, key) : "";
			/* Younger than the peer's last write of its live
			 * calls: not in it yet, but live (its end would have
			 * come before, in order). No counts of it there. */
			if (!text && now - call->started <= LIVE_NEW)
				text = "live1 0";
			if (!text) {
				np_info("cluster: call '%s' not taken over: "
					"%s has no live record of it",
					call->id, cl->from);
				np_call_forget(core, t, call);
				cl->st.not_taken++;
				continue;
			}
			if (!cl->copied)
				continue;
			np_live_volumes(text, call);
			call->takeover_at = wall;
			snprintf(call->takeover_from,
				 sizeof(call->takeover_from), "%s",
				 cl->from);
			/* Media timeouts count from here: our flows saw
			 * nothing before. */
			if (call->answered)
				call->answered_at = now;
			np_call_changed(core, t, call);
			cl->st.taken_over++;
		}
	}
}

static void follow_step(struct np_share *cl, time_t now, bool drain);
static void publish_live(struct np_share *cl, bool begin);

static void become(struct np_share *cl, enum np_role next, time_t now)
{
	enum np_role was = cl->role;
	uint64_t before = cl->st.taken_over;

	if (next == was)
		return;
	cl->role = next;
	cl->st.role = next;
	switch (next) {
	case NP_ROLE_ACTIVE:
		/* What the peer wrote while it acted, all in before its calls
		 * become ours. */
		follow_step(cl, now, true);
		latch_step(cl, true);
		cl->media_stale = true;
		take_over(cl, now);
		cl->copied = false;
		cl->st.promotions++;
		/* The whole state, to our own stream: a compaction written a
		 * slice a turn (not the one turn of 1-2 s at 100,000
		 * terminals, just when they all turn to us), the snapshot
		 * then the saves since it began going out once it is in
		 * place (ctl/state.c). The local files need none: every
		 * change, the takeover's too, is journaled. */
		np_core_rewrite_all(&cl->px->core);
		np_info("cluster: %s active: holds the addresses and "
			"the lease; %llu calls taken over from '%s'",
			cl->who,
			(unsigned long long)(cl->st.taken_over - before),
			cl->from[0] ? cl->from : "no one");
		break;
	case NP_ROLE_FENCED:
		cl->st.fencings++;
		np_warn("cluster: %s fenced: '%s'%s; no keepalives, no "
			"charging, no answers from here",
			cl->who,
			cl->lease == NP_LEASE_OTHER ? cl->holder : cl->from,
			cl->lease == NP_LEASE_OTHER ? " holds the lease" :
						      " acts (redis unreachable)");
		break;
	case NP_ROLE_ISOLATED:
		cl->st.isolations++;
		np_warn("cluster: %s isolated: neither redis nor '%s' "
			"confirms it may act (its lease may lapse at redis); "
			"no keepalives, no charging, no answers from here",
			cl->who, cl->realms ? "its members" : cl->from);
		break;
	default:
		cl->st.demotions++;
		np_warn("cluster: %s standby (was %s): %s",
			cl->who, np_role_names[was],
			cl->have_addrs ? "the lease is not ours" :
					 "the addresses are not here");
		break;
	}
	if (was == NP_ROLE_ISOLATED && next == NP_ROLE_ACTIVE)
		np_info("cluster: %s acts again: redis says the lease "
			"is its own", cl->who);
}

/* Whether the lease cannot be another node's yet: its time at Redis, or
 * the peer's promise (peer.h), less the margin. */
static bool permitted(const struct np_share *cl, double now)
{
	struct np_peer_stats ps = { 0 };
	double until = cl->lease_until;

	if (cl->peer) {
		np_peer_stats(cl->peer, cl->peer_idx, now, &ps);
		if (ps.echo_until > until)
			until = ps.echo_until;
	}
	return now < until - NP_PEER_MARGIN(cl->cfg.lease_ms);
}

/* What the heartbeats say of us after step s. */
static enum np_peer_state peer_state(enum np_role role,
				     const struct np_role_step *s)
{
	switch (role) {
	case NP_ROLE_ACTIVE:
		return NP_PEER_ACTIVE;
	case NP_ROLE_ISOLATED:
		return NP_PEER_ISOLATED;
	case NP_ROLE_FENCED:
		return NP_PEER_FENCED;
	default:
		return s->want == NP_LEASE_TAKE || s->want == NP_LEASE_HOLD ?
			       NP_PEER_TAKING :
			       NP_PEER_STANDBY;
	}
}

static void decide(struct np_share *cl, time_t now)
{
	double ms = mono_ms();
	struct np_role_view v = { cl->have_addrs, cl->lease, permitted(cl, ms),
				  cl->peer &&
					  np_peer_active(cl->peer, cl->peer_idx,
							 ms) };
	struct np_role_step s = np_role_next(cl->role, &v);
	bool follow;

	/* Taking the lease or starting to act: the peer must still be
	 * silent, checked again as our echoes stop (peer.h). */
	if ((s.want == NP_LEASE_TAKE ||
	     (s.want == NP_LEASE_HOLD && cl->role == NP_ROLE_STANDBY) ||
	     (s.next == NP_ROLE_ACTIVE && cl->role != NP_ROLE_ACTIVE)) &&
	    cl->peer && !np_peer_take(cl->peer, cl->peer_idx, ms)) {
		s.next = cl->role;
		if (s.want == NP_LEASE_TAKE || cl->role == NP_ROLE_STANDBY)
			s.want = NP_LEASE_WATCH;
	}
	if (cl->peer)
		np_peer_set(cl->peer, cl->peer_idx, peer_state(s.next, &s),
			    cl->lease_until);
	/* A pair follows its peer; a scale-out share whoever holds its
	 * lease (the share's stream is the holder's to write). */
	follow = s.follow && (cl->realms ? cl->holder[0] &&
						   strcmp(cl->holder, cl->cfg.node) :
					   !strcmp(cl->holder, cl->cfg.peer));

	np_redis_want(cl->redis, s.want);
	if (follow && cl->realms && strcmp(cl->holder, cl->from)) {
		/* Another node writes the share's stream now: read it again
		 * from its start (it starts with that node's snapshot). */
		snprintf(cl->from, sizeof(cl->from), "%s", cl->holder);
		if (cl->following)
			np_redis_follow(cl->redis, false);
		cl->following = false;
	}
	if (follow != cl->following) {
		cl->following = follow;
		np_redis_follow(cl->redis, follow);
		if (cl->realms)
			np_info("cluster: %s %s share '%s' as '%s' writes it",
				cl->who, follow ? "following" :
						  "no longer following",
				cl->cfg.share, cl->from);
		else
			np_info("cluster: %s '%s'",
				follow ? "following" : "no longer following",
				cl->from);
	}
	become(cl, s.next, now);
}

/* Queued entries of the peer applied for one step (all: drain); while
 * some are left, the loop is woken again at once (through the Redis
 * thread's eventfd) and its other work goes between the steps. */
static void follow_step(struct np_share *cl, time_t now, bool drain)
{
	struct np_follow_report rep = { 0 };
	uint64_t one = 1;

	if (!np_follower_busy(cl->follower))
		return;
	if (drain)
		np_follower_drain(cl->follower, now, &rep);
	else if (np_follower_step(cl->follower, now, NP_FOLLOW_STEP_MS, &rep) &&
		 write(cl->event_fd, &one, sizeof(one)) < 0)
		np_warn("cluster: cannot wake the loop: %s", strerror(errno));
	cl->copied = true;
	cl->st.apply_bad += rep.bad + rep.failed;
	cl->st.copied_calls += rep.calls;
	if (rep.bad || rep.failed)
		np_warn("cluster: entries of '%s': %u records damaged, %u not "
			"copied",
			cl->from, rep.bad, rep.failed);
	if (!np_follower_busy(cl->follower))
		cl->sweep = true;
}

static void apply_entries(struct np_share *cl, struct np_redis_entry *e,
			  time_t now)
{
	double mono = mono_now(), wall = wall_now();
	time_t shift;

	for (; e; e = e->next) {
		if (cl->role != NP_ROLE_STANDBY)
			break; /* read before we acted: not ours to apply */
		/* The writer's monotonic clock made ours, through the wall
		 * clocks (the time the entry waited is taken out). */
		shift = (time_t)(mono - (wall - e->wall) - e->mono + 0.5);
		np_follower_push(cl->follower, e->snapshot, e->data, e->len,
				 shift);
		e->data = NULL; /* the follower's now */
		cl->st.applied++;
	}
	follow_step(cl, now, false);
}

static void pending_free(struct np_unfiled *p)
{
	free(p->key);
	free(p->line);
	free(p);
}

static void pending_save(struct np_share *cl)
{
	int err = np_unfiled_save(cl->unfiled, cl->pending);

	if (err)
		np_warn("cluster: cannot write '%s': %s", cl->unfiled,
			strerror(-err));
}

/* Records whose transaction Redis answered go to the file; with Redis
 * unreachable, all of them at once: the transactions stay queued and
 * reach Redis when it returns (docs/ha.md, "Ended calls stay ended"). */
static void flush_pending(struct np_share *cl)
{
	struct np_unfiled *p;
	bool any = false;

	while ((p = cl->pending) &&
	       (p->txn <= cl->st.redis.done || !cl->st.redis.connected)) {
		cl->pending = p->next;
		if (!cl->pending)
			cl->pending_tail = &cl->pending;
		if (p->txn > cl->st.redis.done)
			cl->st.records_unconfirmed++;
		cl->record(cl->record_arg, p->line, p->len);
		pending_free(p);
		any = true;
	}
	if (any)
		pending_save(cl);
}

void np_share_event(struct np_share *cl, time_t now)
{
	struct np_redis_news news;
	bool lease_changed;

	np_redis_poll(cl->redis, &news);
	cl->st.redis = news.stats;
	lease_changed = news.lease != cl->lease || strcmp(news.holder, cl->holder);
	if (lease_changed)
		np_info("cluster: lease '%s' %s%s%s", cl->cfg.share,
			np_lease_names[news.lease], news.holder[0] ? ": " : "",
			news.holder);
	cl->lease = news.lease;
	cl->st.lease = news.lease;
	cl->lease_until = news.lease_until;
	memcpy(cl->holder, news.holder, sizeof(cl->holder));
	flush_pending(cl);
	if (news.have_fields) {
		np_latchpass_read(&cl->latches, news.fields, news.n_fields,
				  cl->role == NP_ROLE_STANDBY);
		cl->sweep = true;
	}
	apply_entries(cl, news.entries, now);
	np_redis_entries_free(news.entries);
	if (cl->role == NP_ROLE_STANDBY)
		latch_step(cl, false);
	if (news.resync && cl->role == NP_ROLE_ACTIVE) {
		cl->st.resyncs++;
		np_warn("cluster: redis was away (%llu transactions dropped): "
			"the whole state goes again",
			(unsigned long long)news.stats.dropped);
		/* A slice a turn, as at a promotion (become()). */
		np_core_rewrite_all(&cl->px->core);
	}
	/* Also on a renewal: the lease's end moved (the heartbeats say it). */
	decide(cl, now);
	publish_live(cl, false);
}

/* HSETs n fields of keys and texts to our media hash, with its TTL. */
static void publish_fields(struct np_share *cl, char (*keys)[NP_LIVE_KEY_MAX],
			   char **texts, size_t n)
{
	static struct cmd cmds[3];
	struct cmd *c = cmds;
	size_t i;

	memset(cmds, 0, sizeof(cmds));
	if (cl->media_stale) {
		/* Acting again: fields of calls that ended elsewhere since we
		 * last did go, in the step that writes ours. */
		args(c, "DEL");
		args(c++, cl->key[2]);
		cl->media_stale = false;
	}
	if (n) {
		args(c, "HSET");
		args(c, cl->key[2]);
		for (i = 0; i < n; i++) {
			args(c, keys[i]);
			args(c, texts[i]);
		}
		c++;
	}
	args(c, "PEXPIRE");
	args(c, cl->key[2]);
	args(c++, MEDIA_TTL_MS);
	send_txn(cl, cmds, c - cmds);
}

/* A step's fields (livepub.h) to our media hash, its TTL renewed. */
static void publish_out(void *arg, char (*keys)[NP_LIVE_KEY_MAX], char **texts,
			size_t n, bool last)
{
	struct np_share *cl = arg;

	/* Mid-pass with nothing changed: no transaction at all; the pass's
	 * end renews the TTL (and replaces a stale hash) even so. */
	if (n || last)
		publish_fields(cl, keys, texts, n);
	while (n)
		free(texts[--n]);
}

static bool share_keeps(const void *arg, const struct np_term *t)
{
	return np_share_has(arg, t);
}

/* Our share's live calls' counters and latches, to our media hash: a pass
 * begun once a second (begin), one step of it per turn of the loop, the
 * loop woken again at once while some are left (as follow_step). What
 * Redis may have lost since the last pass (a reconnection, a dropped
 * queue) or another node wrote over (we act again) is written again
 * whole. */
static void publish_live(struct np_share *cl, bool begin)
{
	struct np_core *core = &cl->px->core;
	uint64_t one = 1;

	if (cl->role != NP_ROLE_ACTIVE) {
		np_livepub_stop(cl->livepub);
		return;
	}
	if (begin)
		np_livepub_begin(cl->livepub, core,
				 cl->st.redis.reconnects + cl->st.redis.dropped +
					 cl->st.promotions,
				 share_keeps, cl);
	if (np_livepub_step(cl->livepub, core, NP_FOLLOW_STEP_MS, publish_out,
			    cl) &&
	    write(cl->event_fd, &one, sizeof(one)) < 0)
		np_warn("cluster: cannot wake the loop: %s", strerror(errno));
}

static const char *role_json(const struct np_share *cl)
{
	return np_role_names[cl->role];
}

static size_t records_waiting(const struct np_share *cl)
{
	const struct np_unfiled *p;
	size_t n = 0;

	for (p = cl->pending; p; p = p->next)
		n++;
	return n;
}

static const char *peer_name(const struct np_share *cl)
{
	struct np_peer_stats ps;

	if (!cl->peer)
		return "none";
	np_peer_stats(cl->peer, cl->peer_idx, mono_ms(), &ps);
	return np_peer_state_names[ps.peer];
}

static void write_health(struct np_share *cl)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", cl->health);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f,
		"{\"node\": \"%s\", \"share\": \"%s\", \"peer\": \"%s\", "
		"\"role\": \"%s\", "
		"\"pid\": %d, \"time\": %.3f, \"addresses\": %s, "
		"\"lease\": \"%s\", \"holder\": \"%s\", \"redis\": \"%s\", "
		"\"queued\": %zu, \"dropped\": %llu, \"promotions\": %llu, "
		"\"fencings\": %llu, \"copied_calls\": %llu, "
		"\"taken_over\": %llu, \"dropped_input\": %llu, "
		"\"dropped_output\": %llu, "
		"\"keepalives_sent\": %llu, \"calls_ended\": %llu, "
		"\"isolations\": %llu, \"peer_says\": \"%s\", "
		"\"records_unconfirmed\": %llu, \"records_waiting\": %zu",
		cl->cfg.node, cl->cfg.share, cl->from, role_json(cl),
		(int)getpid(),
		wall_now(), cl->have_addrs ? "true" : "false",
		np_lease_names[cl->lease], cl->holder,
		cl->st.redis.connected ? "up" : "down", cl->st.redis.queued,
		(unsigned long long)cl->st.redis.dropped,
		(unsigned long long)cl->st.promotions,
		(unsigned long long)cl->st.fencings,
		(unsigned long long)cl->st.copied_calls,
		(unsigned long long)cl->st.taken_over,
		(unsigned long long)cl->st.dropped_input,
		(unsigned long long)cl->st.dropped_output,
		(unsigned long long)cl->px->core.stats.keepalives_sent,
		(unsigned long long)cl->px->core.stats.calls_ended,
		(unsigned long long)cl->st.isolations,
		peer_name(cl),
		(unsigned long long)cl->st.records_unconfirmed,
		records_waiting(cl));
	if (cl->peer) {
		struct np_peer_stats ps;

		np_peer_stats(cl->peer, cl->peer_idx, mono_ms(), &ps);
		fputs(", \"heartbeat\": ", f);
		np_peer_stats_json(f, &ps, true);
	}
	fputs("}\n", f);
	if (fclose(f) || rename(tmp, cl->health))
		unlink(tmp);
}

/* Once a second: a change in what a member says is a log line. */
static void peer_watch(struct np_share *cl)
{
	struct np_peer_stats ps;
	const struct np_peer_member_stats *m;
	size_t i;

	if (!cl->peer)
		return;
	np_peer_stats(cl->peer, cl->peer_idx, mono_ms(), &ps);
	for (i = 0; i < ps.n_members; i++) {
		m = &ps.members[i];
		if (m->says == cl->peer_seen[i])
			continue;
		cl->peer_seen[i] = m->says;
		if (cl->realms)
			np_info("cluster: %s: member '%s' %s%s", cl->who,
				m->node,
				m->says == NP_PEER_UNHEARD ? "" : "says ",
				np_peer_state_names[m->says]);
		else
			np_info("cluster: peer '%s' %s%s", m->node,
				m->says == NP_PEER_UNHEARD ? "" : "says ",
				np_peer_state_names[m->says]);
	}
}

void np_share_tick(struct np_share *cl, time_t now)
{
	bool here = addrs_here(cl);

	if (here != cl->have_addrs && cl->realms)
		np_info("cluster: share '%s': its virtual addresses are %s",
			cl->cfg.share, here ? "here" : "not here");
	else if (here != cl->have_addrs)
		np_info("cluster: the virtual addresses are %s",
			here ? "here" : "not here");
	cl->have_addrs = here;
	peer_watch(cl);
	flush_pending(cl);
	decide(cl, now);
	publish_live(cl, true);
	write_health(cl);
}

/* A record waiting for its transaction; NULL on no memory. */
static struct np_unfiled *pending_new(const char *key, const char *line,
				      size_t len, uint64_t txn)
{
	struct np_unfiled *p = calloc(1, sizeof(*p));

	if (p && (!(p->line = malloc(len)) || !(p->key = strdup(key)))) {
		pending_free(p);
		return NULL;
	}
	if (p) {
		memcpy(p->line, line, len);
		p->len = len;
		p->txn = txn;
	}
	return p;
}

void np_share_charged(struct np_share *cl, const struct np_term *t,
			const struct np_call *call, const char *line,
			size_t len)
{
	/* The call's end and its record, in one step: the field goes (a
	 * takeover never brings the call back), the record is pushed unless
	 * the call was billed already (a transaction resent after a lost
	 * answer). */
	static const char END_SCRIPT[] =
		"redis.call('hdel', KEYS[1], ARGV[1]) "
		"if redis.call('set', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) "
		"then redis.call('rpush', KEYS[3], ARGV[2]) return 1 end "
		"return 0";
	static struct cmd cmds[1];
	char key[NP_LIVE_KEY_MAX], billed[NP_LIVE_KEY_MAX + 16];
	struct np_unfiled *p = NULL;
	uint64_t before = cl->txns;

	if (cl->role != NP_ROLE_ACTIVE) {
		cl->record(cl->record_arg, line, len); /* not Redis' business */
		return;
	}
	np_live_key(t, call, key, sizeof(key));
	snprintf(billed, sizeof(billed), "np:billed:%s", key);
	memset(cmds, 0, sizeof(cmds));
	args(&cmds[0], "EVAL");
	args(&cmds[0], END_SCRIPT);
	args(&cmds[0], "3");
	args(&cmds[0], cl->key[2]);
	args(&cmds[0], billed);
	args(&cmds[0], NP_KEY_CHARGING);
	args(&cmds[0], key);
	arg(&cmds[0], line, len && line[len - 1] == '\n' ? len - 1 : len);
	args(&cmds[0], cl->cfg.node);
	args(&cmds[0], BILLED_TTL);
	send_txn(cl, cmds, 1);
	/* Written once Redis answered: a node killed before leaves no record
	 * (kept in STATE.unfiled for its restart), and the call, still live
	 * in Redis, is the next node's to end and bill. Redis away (the
	 * transaction waits in the queue), the queue full (it never goes),
	 * or no memory: the file at once. */
	if (cl->st.redis.connected && cl->txns != before)
		p = pending_new(key, line, len, cl->txns);
	if (!p) {
		cl->st.records_unconfirmed++;
		cl->record(cl->record_arg, line, len);
		return;
	}
	*cl->pending_tail = p;
	cl->pending_tail = &p->next;
	pending_save(cl);
}

bool np_share_acting(const struct np_share *cl)
{
	double now;

	if (!cl)
		return true;
	if (cl->role != NP_ROLE_ACTIVE)
		return false;
	/* Exact between the ticks that change the role: the moment the
	 * lease could be another node's, nothing more is done here. */
	now = mono_ms();
	if (cl->peer)
		return np_peer_acting(cl->peer, cl->peer_idx, now);
	return now < cl->lease_until - NP_PEER_MARGIN(cl->cfg.lease_ms);
}

void np_share_records(struct np_share *cl,
			void (*record)(void *arg, const char *line, size_t len),
			void *arg)
{
	int n;

	cl->record = record;
	cl->record_arg = arg;
	n = np_unfiled_reconcile(cl->unfiled, &cl->cfg, record, arg);
	if (n > 0)
		np_info("cluster: %d records of calls ended before the restart "
			"filed",
			n);
}

void np_share_dropped_input(struct np_share *cl)
{
	cl->st.dropped_input++;
}

void np_share_dropped_output(struct np_share *cl, size_t n)
{
	cl->st.dropped_output += n;
}

void np_share_stats(const struct np_share *cl,
		      struct np_cluster_stats *out)
{
	*out = cl->st;
	out->have_peer = cl->peer;
	if (cl->peer)
		np_peer_stats(cl->peer, cl->peer_idx, mono_ms(), &out->peer);
}

int np_share_start(struct np_share **out, const struct np_config *cfg,
		   size_t idx, struct np_proxy *px, struct np_peer *peer,
		   const char *health, const char *unfiled, int *event_fd)
{
	struct np_share *cl = calloc(1, sizeof(*cl));
	const char *keys;
	int err;

	if (!cl)
		return -ENOMEM;
	cl->cfg = cfg->cluster;
	cl->config = cfg;
	cl->px = px;
	cl->role = NP_ROLE_STANDBY;
	snprintf(cl->health, sizeof(cl->health), "%s", health);
	snprintf(cl->unfiled, sizeof(cl->unfiled), "%s", unfiled);
	if (cfg->cluster.n_shares) {
		/* Scale-out: the lease, the stream and the media hash are the
		 * share's, written by whoever acts for it and read by the
		 * others (the Redis link follows cfg.peer's keys). */
		const struct np_cluster_share *s = &cfg->cluster.shares[idx];

		cl->realms = s->realms;
		snprintf(cl->cfg.share, sizeof(cl->cfg.share), "%s", s->name);
		snprintf(cl->cfg.peer, sizeof(cl->cfg.peer), "%s", s->name);
		snprintf(cl->who, sizeof(cl->who), "node '%s' share '%s'",
			 cl->cfg.node, s->name);
		keys = s->name;
	} else {
		snprintf(cl->who, sizeof(cl->who), "node '%s'", cl->cfg.node);
		snprintf(cl->from, sizeof(cl->from), "%s", cl->cfg.peer);
		keys = cl->cfg.node;
	}
	snprintf(cl->key[0], sizeof(cl->key[0]), NP_KEY_JOURNAL, keys);
	snprintf(cl->key[1], sizeof(cl->key[1]), NP_KEY_SNAPSHOT, keys);
	snprintf(cl->key[2], sizeof(cl->key[2]), NP_KEY_MEDIA, keys);
	cl->pending_tail = &cl->pending;
	err = np_follower_new(&cl->follower, px, cl->realms);
	cl->livepub = np_livepub_new();
	if (!err && !cl->livepub)
		err = -ENOMEM;
	if (!err)
		err = np_redis_start(&cl->redis, &cl->cfg, event_fd);
	if (err) {
		np_follower_free(cl->follower);
		np_livepub_free(cl->livepub);
		free(cl);
		return err;
	}
	cl->event_fd = *event_fd;
	cl->peer = peer;
	cl->peer_idx = idx;
	cl->have_addrs = addrs_here(cl);
	np_info("cluster: %s starts as standby (peer '%s', redis "
		"lease '%s' %ums); the virtual addresses are %s",
		cl->who, cl->realms ? "the lease's holder" : cl->cfg.peer,
		cl->cfg.share, cl->cfg.lease_ms,
		cl->have_addrs ? "here" : "not here");
	*out = cl;
	return 0;
}

void np_share_stop(struct np_share *cl)
{
	struct np_redis_news news;
	struct np_unfiled *p;
	int i;

	if (!cl)
		return;
	/* The records' transactions get a second to reach Redis (else the
	 * peer would take their calls over); then every record is written. */
	for (i = 0; cl->pending && i < 10; i++) {
		usleep(100000);
		np_redis_poll(cl->redis, &news);
		cl->st.redis = news.stats;
		np_redis_entries_free(news.entries);
		if (news.have_fields)
			np_redis_fields_free(news.fields, news.n_fields);
		flush_pending(cl);
	}
	while ((p = cl->pending)) {
		cl->pending = p->next;
		cl->record(cl->record_arg, p->line, p->len);
		pending_free(p);
	}
	np_unfiled_save(cl->unfiled, NULL);
	if (cl->role == NP_ROLE_ACTIVE) {
		np_redis_want(cl->redis, NP_LEASE_RELEASE);
		usleep(200000); /* one step of the link: bounded */
	}
	np_redis_stop(cl->redis);
	np_follower_free(cl->follower);
	np_livepub_free(cl->livepub);
	np_latchpass_free(&cl->latches);
	free(cl);
}
