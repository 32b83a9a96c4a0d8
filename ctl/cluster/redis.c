// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Redis link's thread (redis.h). Everything that touches the network
 * happens here, with a timeout on every command; the loop only takes the
 * lock for as long as a list takes to move.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cluster/redis.h"
#include "log.h"

#define IO_TIMEOUT_MS 1000 /* any one command */
#define CONNECT_TIMEOUT_MS 500
#define RETRY_MS 300 /* between connection attempts */
#define BLOCK_MS 100 /* XREAD BLOCK: how long the thread waits for the peer */
#define BATCH 64 /* transactions sent in one round trip */
#define MEDIA_EVERY_MS 1000 /* the peer's media hash read again */

const char *const np_lease_names[NP_LEASE_MAX] = {
	[NP_LEASE_UNKNOWN] = "unknown",
	[NP_LEASE_FREE] = "free",
	[NP_LEASE_OURS] = "ours",
	[NP_LEASE_OTHER] = "other",
};

/* One queued transaction: its commands, each an argv. */
struct txn {
	struct txn *next;
	size_t n;
	int *argc;
	char ***argv;
	size_t **lens;
};

struct np_redis {
	struct np_cluster_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int efd;
	bool stop;
	/* Shared, under lock. */
	struct txn *head, **tail;
	size_t queued;
	enum np_lease_want want;
	bool follow, restart_follow;
	bool resync;
	enum np_lease_seen lease;
	char holder[NP_CLUSTER_NAME_MAX];
	double lease_until;
	struct np_redis_entry *entries, **entries_tail;
	bool have_fields;
	struct np_redis_field *fields;
	size_t n_fields;
	struct np_redis_stats stats;
	/* The thread's own. */
	redisContext *ctx;
	char last_id[64];
	double media_at, lease_at;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void notify(struct np_redis *r)
{
	uint64_t one = 1;

	if (write(r->efd, &one, sizeof(one)) < 0)
		return; /* the counter is full: the loop is awake anyway */
}

static void txn_free(struct txn *t)
{
	size_t i;
	int k;

	for (i = 0; t->argc && t->argv && t->lens && i < t->n; i++) {
		for (k = 0; t->argv[i] && k < t->argc[i]; k++)
			free(t->argv[i][k]);
		free(t->argv[i]);
		free(t->lens[i]);
	}
	free(t->argc);
	free(t->argv);
	free(t->lens);
	free(t);
}

static void queue_drop(struct np_redis *r)
{
	struct txn *t;

	while ((t = r->head)) {
		r->head = t->next;
		txn_free(t);
	}
	r->tail = &r->head;
	r->queued = 0;
}

bool np_redis_queue(struct np_redis *r, size_t n, const int *argc,
		    const char *const *const *argv, const size_t *const *lens)
{
	struct txn *t = calloc(1, sizeof(*t));
	size_t i;
	int k;

	if (!t)
		return false;
	t->n = n;
	t->argc = calloc(n, sizeof(*t->argc));
	t->argv = calloc(n, sizeof(*t->argv));
	t->lens = calloc(n, sizeof(*t->lens));
	if (!t->argc || !t->argv || !t->lens)
		goto nomem;
	for (i = 0; i < n; i++) {
		t->argc[i] = argc[i];
		t->argv[i] = calloc(argc[i], sizeof(char *));
		t->lens[i] = calloc(argc[i], sizeof(size_t));
		if (!t->argv[i] || !t->lens[i])
			goto nomem;
		for (k = 0; k < argc[i]; k++) {
			t->lens[i][k] = lens[i][k];
			t->argv[i][k] = malloc(lens[i][k] + 1);
			if (!t->argv[i][k])
				goto nomem;
			memcpy(t->argv[i][k], argv[i][k], lens[i][k]);
			t->argv[i][k][lens[i][k]] = '\0';
		}
	}
	pthread_mutex_lock(&r->lock);
	if (r->queued >= r->cfg.queue) {
		/* Redis has been away too long: what is queued is dropped
		 * and a snapshot, which holds it all, goes instead. */
		r->stats.dropped += r->queued + 1;
		r->stats.done += r->queued;
		queue_drop(r);
		r->resync = true;
		pthread_mutex_unlock(&r->lock);
		txn_free(t);
		notify(r);
		return false;
	}
	*r->tail = t;
	r->tail = &t->next;
	if (++r->queued > r->stats.queue_high)
		r->stats.queue_high = r->queued;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return true;
nomem:
	txn_free(t);
	return false;
}

void np_redis_want(struct np_redis *r, enum np_lease_want want)
{
	pthread_mutex_lock(&r->lock);
	if (r->want != want) {
		r->want = want;
		r->lease_at = 0; /* at once */
		pthread_cond_signal(&r->wake);
	}
	pthread_mutex_unlock(&r->lock);
}

void np_redis_follow(struct np_redis *r, bool on)
{
	pthread_mutex_lock(&r->lock);
	if (r->follow != on) {
		r->follow = on;
		r->restart_follow = on;
		pthread_cond_signal(&r->wake);
	}
	pthread_mutex_unlock(&r->lock);
}

void np_redis_poll(struct np_redis *r, struct np_redis_news *news)
{
	uint64_t n;

	if (read(r->efd, &n, sizeof(n)) < 0)
		n = 0; /* nothing new since the last poll */
	memset(news, 0, sizeof(*news));
	pthread_mutex_lock(&r->lock);
	news->lease = r->lease;
	news->lease_until = r->lease_until;
	memcpy(news->holder, r->holder, sizeof(news->holder));
	news->resync = r->resync;
	r->resync = false;
	news->entries = r->entries;
	r->entries = NULL;
	r->entries_tail = &r->entries;
	news->have_fields = r->have_fields;
	news->fields = r->fields;
	news->n_fields = r->n_fields;
	r->have_fields = false;
	r->fields = NULL;
	r->n_fields = 0;
	r->stats.queued = r->queued;
	news->stats = r->stats;
	pthread_mutex_unlock(&r->lock);
}

void np_redis_entries_free(struct np_redis_entry *e)
{
	struct np_redis_entry *next;

	for (; e; e = next) {
		next = e->next;
		free(e->data);
		free(e);
	}
}

void np_redis_fields_free(struct np_redis_field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].key);
		free(f[i].value);
	}
	free(f);
}

/* --- the thread --- */

static void set_lease(struct np_redis *r, enum np_lease_seen seen,
		      const char *holder)
{
	bool changed;

	pthread_mutex_lock(&r->lock);
	changed = r->lease != seen || strcmp(r->holder, holder);
	r->lease = seen;
	snprintf(r->holder, sizeof(r->holder), "%s", holder);
	pthread_mutex_unlock(&r->lock);
	if (changed)
		notify(r);
}

static void disconnect(struct np_redis *r, const char *why)
{
	if (!r->ctx)
		return;
	np_warn("cluster: redis connection lost: %s", why);
	redisFree(r->ctx);
	r->ctx = NULL;
	pthread_mutex_lock(&r->lock);
	r->stats.connected = false;
	pthread_mutex_unlock(&r->lock);
	set_lease(r, NP_LEASE_UNKNOWN, "");
}

static bool connect_redis(struct np_redis *r)
{
	struct timeval tv = { 0, CONNECT_TIMEOUT_MS * 1000 };
	struct timeval io = { IO_TIMEOUT_MS / 1000,
			      (IO_TIMEOUT_MS % 1000) * 1000 };
	char host[INET6_ADDRSTRLEN];

	inet_ntop(r->cfg.redis.family, &r->cfg.redis.addr, host, sizeof(host));
	r->ctx = redisConnectWithTimeout(host, r->cfg.redis.port, tv);
	if (!r->ctx || r->ctx->err) {
		if (r->ctx)
			redisFree(r->ctx);
		r->ctx = NULL;
		return false;
	}
	redisSetTimeout(r->ctx, io);
	np_info("cluster: connected to redis %s:%u", host, r->cfg.redis.port);
	pthread_mutex_lock(&r->lock);
	r->stats.connected = true;
	/* Back after a loss: Redis may have restarted empty (a stream
	 * without its snapshot): the next save is a whole snapshot. */
	if (r->stats.reconnects++)
		r->resync = true;
	pthread_mutex_unlock(&r->lock);
	if (r->resync)
		notify(r);
	r->lease_at = 0;
	r->media_at = 0;
	return true;
}

/* Sends up to BATCH queued transactions in one round trip; they leave the
 * queue only once Redis said EXEC. false: the connection failed. */
static bool send_queued(struct np_redis *r)
{
	struct txn *batch[BATCH], *t;
	redisReply *reply;
	size_t n = 0, i, c;
	bool ok = true;

	pthread_mutex_lock(&r->lock);
	for (t = r->head; t && n < BATCH; t = t->next)
		batch[n++] = t;
	pthread_mutex_unlock(&r->lock);
	if (!n)
		return true;
	for (i = 0; i < n; i++) {
		t = batch[i];
		redisAppendCommand(r->ctx, "MULTI");
		for (c = 0; c < t->n; c++)
			redisAppendCommandArgv(r->ctx, t->argc[c],
					       (const char **)t->argv[c],
					       t->lens[c]);
		redisAppendCommand(r->ctx, "EXEC");
	}
	for (i = 0; i < n && ok; i++) {
		for (c = 0; c < batch[i]->n + 2 && ok; c++) {
			if (redisGetReply(r->ctx, (void **)&reply) != REDIS_OK) {
				ok = false;
				break;
			}
			if (reply->type == REDIS_REPLY_ERROR) {
				np_warn("cluster: redis refused a command: %s",
					reply->str);
				pthread_mutex_lock(&r->lock);
				r->stats.failed++;
				pthread_mutex_unlock(&r->lock);
			}
			freeReplyObject(reply);
		}
	}
	if (!ok) {
		disconnect(r, r->ctx->errstr);
		return false;
	}
	/* Only the loop's queue() appends behind them: the head is ours. */
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < n && r->head == batch[i]; i++) {
		r->head = batch[i]->next;
		if (!r->head)
			r->tail = &r->head;
		r->queued--;
		r->stats.sent++;
		r->stats.done++;
		txn_free(batch[i]);
	}
	pthread_mutex_unlock(&r->lock);
	notify(r); /* records wait for their transactions (cluster.c) */
	return true;
}

/* Renew the lease if it is ours, take it if it is free: one step. */
static const char HOLD_SCRIPT[] =
	"local v = redis.call('get', KEYS[1]) "
	"if v == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) "
	"return 1 end "
	"if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
	"return 1 end return 0";
static const char RELEASE_SCRIPT[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then "
	"return redis.call('del', KEYS[1]) end return 0";

static bool lease_step(struct np_redis *r, enum np_lease_want want)
{
	char key[128], ttl[16];
	redisReply *reply;
	double sent = now_ms();

	snprintf(key, sizeof(key), NP_KEY_LEASE, r->cfg.share);
	snprintf(ttl, sizeof(ttl), "%u", r->cfg.lease_ms);
	switch (want) {
	case NP_LEASE_TAKE:
		reply = redisCommand(r->ctx, "SET %s %s NX PX %s", key,
				     r->cfg.node, ttl);
		break;
	case NP_LEASE_HOLD:
		reply = redisCommand(r->ctx, "EVAL %s 1 %s %s %s", HOLD_SCRIPT,
				     key, r->cfg.node, ttl);
		break;
	case NP_LEASE_RELEASE:
		reply = redisCommand(r->ctx, "EVAL %s 1 %s %s", RELEASE_SCRIPT,
				     key, r->cfg.node);
		break;
	default:
		reply = NULL;
		break;
	}
	if (want != NP_LEASE_WATCH) {
		if (!reply) {
			disconnect(r, r->ctx->errstr);
			return false;
		}
		/* Taken (OK) or renewed (1): ours for its time to live from
		 * before we asked (docs/ha.md, "Two of three"). */
		if (want == NP_LEASE_RELEASE ||
		    (reply->type == REDIS_REPLY_STATUS &&
		     !strcmp(reply->str, "OK")) ||
		    (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)) {
			pthread_mutex_lock(&r->lock);
			r->lease_until = want == NP_LEASE_RELEASE ?
						 0 :
						 sent + r->cfg.lease_ms;
			pthread_mutex_unlock(&r->lock);
			notify(r);
		}
		freeReplyObject(reply);
	}
	/* Whoever holds it now, as Redis says. */
	reply = redisCommand(r->ctx, "GET %s", key);
	if (!reply) {
		disconnect(r, r->ctx->errstr);
		return false;
	}
	if (reply->type == REDIS_REPLY_STRING)
		set_lease(r,
			  strcmp(reply->str, r->cfg.node) ? NP_LEASE_OTHER :
							    NP_LEASE_OURS,
			  reply->str);
	else
		set_lease(r, NP_LEASE_FREE, "");
	freeReplyObject(reply);
	return true;
}

static const char *field(const redisReply *kv, const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(kv->element[i]->str, name)) {
			if (len)
				*len = kv->element[i + 1]->len;
			return kv->element[i + 1]->str;
		}
	return NULL;
}

/* The entries of an XREAD reply, appended for the loop. */
static void take_entries(struct np_redis *r, const redisReply *reply)
{
	const redisReply *entries;
	struct np_redis_entry *e, *head = NULL, **tail = &head;
	size_t i, n = 0;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->elements < 2)
		return;
	entries = reply->element[0]->element[1];
	for (i = 0; i < entries->elements; i++) {
		const redisReply *one = entries->element[i];
		const char *kind, *data, *v;
		size_t len = 0;

		if (one->elements < 2)
			continue;
		snprintf(r->last_id, sizeof(r->last_id), "%s",
			 one->element[0]->str);
		kind = field(one->element[1], "kind", NULL);
		data = field(one->element[1], "data", &len);
		if (!kind || !data)
			continue;
		e = calloc(1, sizeof(*e));
		if (!e || !(e->data = malloc(len + 1))) {
			free(e);
			continue;
		}
		memcpy(e->data, data, len);
		e->data[len] = '\0';
		e->len = len;
		e->snapshot = !strcmp(kind, "snapshot");
		v = field(one->element[1], "gen", NULL);
		e->gen = v ? strtoull(v, NULL, 10) : 0;
		v = field(one->element[1], "mono", NULL);
		e->mono = v ? strtod(v, NULL) : 0;
		v = field(one->element[1], "wall", NULL);
		e->wall = v ? strtod(v, NULL) : 0;
		*tail = e;
		tail = &e->next;
		n++;
	}
	if (!head)
		return;
	pthread_mutex_lock(&r->lock);
	*r->entries_tail = head;
	r->entries_tail = tail;
	r->stats.entries += n;
	pthread_mutex_unlock(&r->lock);
	notify(r);
}

static bool follow_step(struct np_redis *r)
{
	char key[128], block[16];
	redisReply *reply;

	snprintf(key, sizeof(key), NP_KEY_JOURNAL, r->cfg.peer);
	snprintf(block, sizeof(block), "%d", BLOCK_MS);
	reply = redisCommand(r->ctx, "XREAD COUNT 1000 BLOCK %s STREAMS %s %s",
			     block, key, r->last_id);
	if (!reply) {
		disconnect(r, r->ctx->errstr);
		return false;
	}
	take_entries(r, reply);
	freeReplyObject(reply);
	return true;
}

static bool media_step(struct np_redis *r)
{
	struct np_redis_field *f;
	redisReply *reply;
	char key[128];
	size_t i, n;

	snprintf(key, sizeof(key), NP_KEY_MEDIA, r->cfg.peer);
	reply = redisCommand(r->ctx, "HGETALL %s", key);
	if (!reply) {
		disconnect(r, r->ctx->errstr);
		return false;
	}
	n = reply->type == REDIS_REPLY_ARRAY ? reply->elements / 2 : 0;
	f = calloc(n ? n : 1, sizeof(*f));
	for (i = 0; f && i < n; i++) {
		f[i].key = strdup(reply->element[2 * i]->str);
		f[i].value = strdup(reply->element[2 * i + 1]->str);
	}
	freeReplyObject(reply);
	if (!f)
		return true;
	pthread_mutex_lock(&r->lock);
	np_redis_fields_free(r->fields, r->n_fields);
	r->fields = f;
	r->n_fields = n;
	r->have_fields = true;
	pthread_mutex_unlock(&r->lock);
	notify(r);
	return true;
}

static void *run(void *arg)
{
	struct np_redis *r = arg;
	enum np_lease_want want;
	bool follow, restart, stop;
	struct timespec until;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		stop = r->stop;
		want = r->want;
		follow = r->follow;
		restart = r->restart_follow;
		r->restart_follow = false;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		if (!r->ctx && !connect_redis(r)) {
			set_lease(r, NP_LEASE_UNKNOWN, "");
			usleep(RETRY_MS * 1000);
			continue;
		}
		if (!send_queued(r))
			continue;
		if (now_ms() >= r->lease_at) {
			if (!lease_step(r, want))
				continue;
			r->lease_at = now_ms() + r->cfg.lease_ms / 3.0;
		}
		if (follow) {
			if (restart)
				snprintf(r->last_id, sizeof(r->last_id), "0");
			if (now_ms() >= r->media_at) {
				if (!media_step(r))
					continue;
				r->media_at = now_ms() + MEDIA_EVERY_MS;
			}
			follow_step(r);
			continue;
		}
		/* Nothing to read: wait for the loop, or the next lease step. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += BLOCK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&r->lock);
		if (!r->stop && !r->head)
			pthread_cond_timedwait(&r->wake, &r->lock, &until);
		pthread_mutex_unlock(&r->lock);
	}
	if (r->ctx)
		redisFree(r->ctx);
	r->ctx = NULL;
	return NULL;
}

int np_redis_start(struct np_redis **out, const struct np_cluster_config *cfg,
		   int *event_fd)
{
	struct np_redis *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	r->tail = &r->head;
	r->entries_tail = &r->entries;
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(r->last_id, sizeof(r->last_id), "0");
	if (r->efd < 0) {
		err = -errno;
		free(r);
		return err;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	err = -pthread_create(&r->thread, NULL, run, r);
	if (err) {
		close(r->efd);
		free(r);
		return err;
	}
	*event_fd = r->efd;
	*out = r;
	return 0;
}

void np_redis_stop(struct np_redis *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	queue_drop(r);
	np_redis_entries_free(r->entries);
	np_redis_fields_free(r->fields, r->n_fields);
	close(r->efd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}
