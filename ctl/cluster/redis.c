// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Redis link's thread (redis.h). Everything that touches the network
 * happens here, with a timeout on every command; the loop only takes the
 * lock for as long as a list takes to move.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cluster/redis.h"
#include "log.h"

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
	struct np_sentinels sentinels;
	struct np_redis_addr master; /* the one connected to (or last) */
	bool have_master;
	/* When the connection was lost; until when a missing lease key may
	 * only have been lost with the Redis we lost (np_lease_read). */
	double lost_at, blind_until;
	char complaint[768]; /* the last failure to connect, logged once */
};


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

enum np_lease_seen np_lease_read(const char *holder, const char *node,
				 bool blind)
{
	if (holder)
		return strcmp(holder, node) ? NP_LEASE_OTHER : NP_LEASE_OURS;
	return blind ? NP_LEASE_UNKNOWN : NP_LEASE_FREE;
}

/* --- the thread --- */

/* A failure to reach Redis, logged once while it lasts (the thread tries
 * every RETRY_MS). */
static void complain(struct np_redis *r, const char *fmt, ...)
{
	char msg[sizeof(r->complaint)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!strcmp(msg, r->complaint))
		return;
	snprintf(r->complaint, sizeof(r->complaint), "%s", msg);
	np_warn("cluster: %s", msg);
}

/* Errors that say the server takes no writes (any more): a replica (a
 * demoted master), a master without the replicas it must write to, one
 * still loading. The connection goes and the master is looked for again;
 * nothing leaves the queue. */
static bool not_master_error(const redisReply *reply)
{
	static const char *const codes[] = { "READONLY", "NOREPLICAS",
					      "MASTERDOWN", "LOADING" };
	size_t i;

	if (reply->type != REDIS_REPLY_ERROR)
		return false;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strncmp(reply->str, codes[i], strlen(codes[i])))
			return true;
	return false;
}

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

/*
 * A connection given up on delivers nothing later. Closed as it is, the
 * kernel keeps retransmitting what it still holds: after an outage a
 * journal batch queued in it reached redis seconds after redis answered
 * again, appended behind the next writer's snapshot, and its followers
 * copied a call that had ended meanwhile. So the close aborts (RST): what
 * was not delivered is dropped, and the resync after reconnecting writes
 * the whole state anyway.
 */
static void disconnect(struct np_redis *r, const char *why)
{
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };

	if (!r->ctx)
		return;
	np_warn("cluster: redis connection lost: %s", why);
	if (r->ctx->fd >= 0 &&
	    setsockopt(r->ctx->fd, SOL_SOCKET, SO_LINGER, &abort_close,
		       sizeof(abort_close)))
		np_warn("cluster: cannot drop what the lost connection holds: %s",
			strerror(errno));
	redisFree(r->ctx);
	r->ctx = NULL;
	r->lost_at = np_now_ms();
	pthread_mutex_lock(&r->lock);
	r->stats.connected = false;
	pthread_mutex_unlock(&r->lock);
	set_lease(r, NP_LEASE_UNKNOWN, "");
}

/* Where to connect: the configured Redis, or the master the sentinels
 * name, asked from index *next on (*next becomes the one after the
 * answering sentinel, whose address goes in from). */
static bool locate(struct np_redis *r, size_t *next, struct np_redis_addr *at,
		   char *from, size_t len)
{
	char why[sizeof(r->complaint) - 128];
	struct np_redis_addr s;
	size_t i;

	from[0] = '\0';
	if (!r->cfg.n_sentinels) {
		np_redis_addr_of(&r->cfg.redis, at);
		*next = 1;
		return true;
	}
	if (np_sentinels_find(&r->sentinels, *next, at, &i, why,
			      sizeof(why))) {
		/* Past the first: one named a master we could not use,
		 * already said. */
		if (!*next)
			complain(r, "no sentinel names redis master '%s': %s",
				 r->cfg.master, why);
		return false;
	}
	*next = i + 1;
	np_redis_addr_of(&r->cfg.sentinels[i], &s);
	np_redis_addr_text(&s, from, len);
	return true;
}

/* Whether the server takes writes: ROLE says master. A sentinel's answer
 * may be stale, and a demoted master answers as well as any. */
static bool is_master(struct np_redis *r, const char *text)
{
	redisReply *reply = redisCommand(r->ctx, "ROLE");
	const char *role = "?";
	bool ok;

	if (!reply)
		role = r->ctx->errstr;
	else if (reply->type == REDIS_REPLY_ARRAY && reply->elements &&
		 reply->element[0]->type == REDIS_REPLY_STRING)
		role = reply->element[0]->str;
	else if (reply->type == REDIS_REPLY_ERROR)
		role = reply->str;
	ok = !strcmp(role, "master");
	if (!ok) {
		complain(r, "redis %s is not a master (ROLE: %s): no writes "
			 "there%s",
			 text, role,
			 r->cfg.n_sentinels ? "; asking the sentinels again" :
					      "");
		pthread_mutex_lock(&r->lock);
		r->stats.not_master++;
		pthread_mutex_unlock(&r->lock);
	}
	if (reply)
		freeReplyObject(reply);
	return ok;
}

/* A connection to a server that says it is the master, or false. */
static bool try_master(struct np_redis *r, const struct np_redis_addr *at)
{
	char text[NP_REDIS_ADDR_TEXT], why[256];

	np_redis_addr_text(at, text, sizeof(text));
	r->ctx = np_redis_connect(at, why, sizeof(why));
	if (!r->ctx) {
		complain(r, "cannot connect to redis %s: %s", text, why);
		return false;
	}
	if (!is_master(r, text)) {
		redisFree(r->ctx);
		r->ctx = NULL;
		return false;
	}
	return true;
}

/* Connects to the master: the configured Redis, or the first master a
 * sentinel names, in their order, that answers as the master. During a
 * failover the sentinels that were not its leader name the old master for
 * up to a second more: the others are asked too. */
static bool connect_redis(struct np_redis *r)
{
	char text[NP_REDIS_ADDR_TEXT], from[NP_REDIS_ADDR_TEXT];
	char was[NP_REDIS_ADDR_TEXT];
	struct np_redis_addr at, failed = { "", 0 };
	size_t next = 0;
	bool moved;

	for (;;) {
		if (!locate(r, &next, &at, from, sizeof(from)))
			return false;
		if ((strcmp(at.host, failed.host) || at.port != failed.port) &&
		    try_master(r, &at))
			break;
		failed = at;
		if (next >= r->cfg.n_sentinels)
			return false;
	}
	np_redis_addr_text(&at, text, sizeof(text));
	r->complaint[0] = '\0';
	moved = r->have_master &&
		(strcmp(at.host, r->master.host) || at.port != r->master.port);
	np_redis_addr_text(&r->master, was, sizeof(was));
	if (moved)
		np_warn("cluster: redis master '%s' moved from %s to %s: "
			"%.2f s without redis",
			r->cfg.master, was, text,
			(np_now_ms() - r->lost_at) / 1e3);
	if (from[0])
		np_info("cluster: connected to redis %s (master '%s', as "
			"sentinel %s says)",
			text, r->cfg.master, from);
	else
		np_info("cluster: connected to redis %s", text);
	r->master = at;
	r->have_master = true;
	pthread_mutex_lock(&r->lock);
	r->stats.connected = true;
	r->stats.failovers += moved;
	snprintf(r->stats.master, sizeof(r->stats.master), "%s", text);
	/* Back after a loss: Redis may have restarted empty, or be another
	 * server that a failover promoted before our last writes reached
	 * it (a stream without its snapshot, or behind): the next save is a
	 * whole snapshot. The lease key may be gone the same way: for one
	 * lease time, no key is no proof the lease is free. */
	if (r->stats.reconnects++) {
		r->resync = true;
		r->blind_until = np_now_ms() + r->cfg.lease_ms;
	}
	/* A stream read again from its start (its snapshot): our place in
	 * the old one means nothing in a server that lost its end, nor in
	 * one whose clock gives entries other ids. */
	snprintf(r->last_id, sizeof(r->last_id), "0");
	pthread_mutex_unlock(&r->lock);
	if (r->resync)
		notify(r);
	r->lease_at = 0;
	r->media_at = 0;
	return true;
}

/* Sends up to BATCH queued transactions in one round trip; each leaves the
 * queue once Redis answered its EXEC (re-sent otherwise: to a new master
 * after a failover). false: the connection failed, or the server takes no
 * writes. */
static bool send_queued(struct np_redis *r)
{
	struct txn *batch[BATCH], *t;
	redisReply *reply;
	size_t n = 0, i, c, done = 0;
	const char *lost = NULL;
	char why[160];

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
	for (i = 0; i < n && !lost; i++) {
		for (c = 0; c < batch[i]->n + 2; c++) {
			if (redisGetReply(r->ctx, (void **)&reply) !=
			    REDIS_OK) {
				lost = r->ctx->errstr;
				break;
			}
			if (not_master_error(reply)) {
				snprintf(why, sizeof(why),
					 "redis takes no writes: %s",
					 reply->str);
				lost = why;
			} else if (reply->type == REDIS_REPLY_ERROR) {
				np_warn("cluster: redis refused a command: %s",
					reply->str);
				pthread_mutex_lock(&r->lock);
				r->stats.failed++;
				pthread_mutex_unlock(&r->lock);
			}
			freeReplyObject(reply);
		}
		if (!lost)
			done = i + 1;
	}
	/* Only the loop's queue() appends behind them: the head is ours. */
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < done && r->head == batch[i]; i++) {
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
	if (lost) {
		disconnect(r, lost);
		return false;
	}
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
	bool blind = np_now_ms() < r->blind_until;
	char key[128], ttl[16], why[160];
	redisReply *reply;
	double sent = np_now_ms();

	/* A lease lost with the old Redis would still run: not ours to take
	 * (an active node's HOLD takes its own back). */
	if (want == NP_LEASE_TAKE && blind)
		want = NP_LEASE_WATCH;
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
		if (not_master_error(reply)) {
			snprintf(why, sizeof(why), "redis takes no writes: %s",
				 reply->str);
			freeReplyObject(reply);
			disconnect(r, why);
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
		set_lease(r, np_lease_read(reply->str, r->cfg.node, blind),
			  reply->str);
	else
		set_lease(r, np_lease_read(NULL, r->cfg.node, blind), "");
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

static int field_cmp(const void *a, const void *b)
{
	const struct np_redis_field *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* The peer's media hash, sorted here: at ten thousand fields, sorting
 * them in the loop was a good part of a turn every second. */
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
		if (!f[i].key || !f[i].value) {
			np_redis_fields_free(f, i + 1);
			f = NULL; /* read again next time */
		}
	}
	freeReplyObject(reply);
	if (!f)
		return true;
	qsort(f, n, sizeof(*f), field_cmp);
	pthread_mutex_lock(&r->lock);
	np_redis_fields_free(r->fields, r->n_fields);
	r->fields = f;
	r->n_fields = n;
	r->have_fields = true;
	pthread_mutex_unlock(&r->lock);
	notify(r);
	return true;
}

/* A +switch-master from the watched sentinel: the connection goes, and
 * the next one asks the sentinels where the master is now. */
static bool master_moved(struct np_redis *r)
{
	struct np_redis_addr to;
	char text[NP_REDIS_ADDR_TEXT], why[NP_REDIS_ADDR_TEXT + 64];

	if (!np_sentinels_switched(&r->sentinels, &r->master, &to))
		return false;
	np_redis_addr_text(&to, text, sizeof(text));
	snprintf(why, sizeof(why), "the sentinels made %s the master", text);
	disconnect(r, why);
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
		/* Here, not where it is read: a round that fails before it
		 * must not lose it. */
		if (restart)
			snprintf(r->last_id, sizeof(r->last_id), "0");
		if (!r->ctx && !connect_redis(r)) {
			set_lease(r, NP_LEASE_UNKNOWN, "");
			usleep(RETRY_MS * 1000);
			continue;
		}
		if (r->cfg.n_sentinels && master_moved(r))
			continue;
		if (!send_queued(r))
			continue;
		if (np_now_ms() >= r->lease_at) {
			if (!lease_step(r, want))
				continue;
			r->lease_at = np_now_ms() + r->cfg.lease_ms / 3.0;
		}
		if (follow) {
			if (np_now_ms() >= r->media_at) {
				if (!media_step(r))
					continue;
				r->media_at =
					np_now_ms() + MEDIA_EVERY_MS;
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
	np_sentinels_close(&r->sentinels);
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
	np_sentinels_init(&r->sentinels, &r->cfg);
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
