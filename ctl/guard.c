// SPDX-License-Identifier: GPL-2.0-only
/*
 * The signaling guard's maps, written: which sockets XDP guards and with
 * what bucket, which sources it drops for a while, which it knows. The
 * decisions (who is over a limit, who is known) are the core's; this is
 * the edge that turns them into map entries.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "guard.h"
#include "log.h"
#include "mapwalk.h"

#define NSEC_PER_SEC 1000000000ull
#define BATCH 1024

uint64_t np_guard_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void addr_of(const struct np_sockaddr *a, union np_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET6)
		memcpy(out->raw, &a->addr.v6, 16);
	else
		out->v4 = a->addr.v4.s_addr;
}

void np_guard_key(const struct np_sockaddr *src, uint8_t prefix_len,
		  struct np_source_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = src->family == AF_INET6 ? NP_AF_INET6 : NP_AF_INET;
	key->prefix_len = prefix_len;
	key->port = htons(src->port);
	addr_of(src, &key->addr);
}

static void sig_port_key(const struct np_realm *r, uint16_t port,
			 struct np_flow_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = r->address.family == AF_INET6 ? NP_AF_INET6 : NP_AF_INET;
	key->port = htons(port);
	addr_of(&r->address, &key->addr);
}

/* The guarded sockets of cfg into keys (at most max); their number. */
static size_t wanted_ports(const struct np_config *cfg,
			   struct np_flow_key *keys, __u32 *buckets,
			   size_t max)
{
	size_t i, k, n = 0;

	for (i = 0; i < cfg->n_pairs; i++) {
		const struct np_pair *p = &cfg->pairs[i];
		const struct np_realm *r = &cfg->realms[p->first];
		const uint16_t ports[] = {
			p->softswitch.family ? r->sip_port : 0,
			p->call_agent.family ? r->mgcp_port : 0,
			p->mgc.family ? r->h248_port : 0,
		};

		if (p->draining || p->first >= NP_MAX_BUCKETS)
			continue;
		for (k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
			if (!ports[k] || n == max)
				continue;
			sig_port_key(r, ports[k], &keys[n]);
			buckets[n++] = p->first;
		}
	}
	return n;
}

/* A realm's bucket; refilled only when its settings changed, so a reload
 * during a flood does not hand the flood a fresh burst. */
static int bucket_set(int fd, __u32 index, const struct np_realm *r)
{
	struct np_sig_bucket b = {};

	if (!bpf_map_lookup_elem(fd, &index, &b) && b.rate == r->unknown_rate &&
	    b.burst == r->unknown_burst)
		return 0;
	memset(&b, 0, sizeof(b));
	b.rate = r->unknown_rate;
	b.burst = r->unknown_burst;
	b.tokens = b.burst * NSEC_PER_SEC;
	b.last_ns = np_guard_now_ns();
	return bpf_map_update_elem(fd, &index, &b, BPF_F_LOCK) ? -errno : 0;
}

int np_guard_configure(const struct np_maps *maps,
		       const struct np_config *cfg)
{
	struct np_flow_key want[NP_MAX_SIG_PORTS], key, next, *prev = NULL;
	__u32 bucket[NP_MAX_SIG_PORTS];
	size_t n = wanted_ports(cfg, want, bucket, NP_MAX_SIG_PORTS), i;
	int fd = maps->fd[NP_SIG_PORTS], err = 0;

	/* Sockets no longer configured first: the map holds few. */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		for (i = 0; i < n && memcmp(&want[i], &next, sizeof(next)); i++)
			;
		if (i == n && !bpf_map_delete_elem(fd, &next))
			continue; /* deleted: ask again from where we were */
		key = next;
		prev = &key;
	}
	for (i = 0; i < n && !err; i++) {
		struct np_sig_port sp = { .bucket = bucket[i] };

		err = bucket_set(maps->fd[NP_BUCKETS], bucket[i],
				 &cfg->realms[bucket[i]]);
		if (!err && bpf_map_update_elem(fd, &want[i], &sp, BPF_ANY))
			err = -errno;
	}
	if (err)
		np_warn("cannot set up the signaling guard: %s",
			strerror(-err));
	return err;
}

int np_guard_block(const struct np_maps *maps, const struct np_sockaddr *src,
		   uint8_t prefix_len, uint32_t seconds, uint64_t now_ns)
{
	struct np_block b = { .until_ns = now_ns + seconds * NSEC_PER_SEC };
	struct np_source_key key;

	np_guard_key(src, prefix_len, &key);
	return bpf_map_update_elem(maps->fd[NP_BLOCKED], &key, &b, BPF_ANY) ?
		       -errno :
		       0;
}

int np_guard_known(const struct np_maps *maps, const struct np_sockaddr *nat,
		   bool known)
{
	struct np_source_key key;
	struct np_known v = {};

	np_guard_key(nat, nat->family == AF_INET6 ? 128 : 32, &key);
	if (known)
		return bpf_map_update_elem(maps->fd[NP_KNOWN], &key, &v,
					   BPF_ANY) ?
			       -errno :
			       0;
	return bpf_map_delete_elem(maps->fd[NP_KNOWN], &key) ? -errno : 0;
}

/* In batches: deleting one by one from the first key again would walk
 * the emptied buckets over and over (quadratic in a big map). */
void np_guard_forget_known(const struct np_maps *maps)
{
	static struct np_source_key keys[BATCH];
	static struct np_known vals[BATCH];
	struct np_mapwalk w;

	np_mapwalk_init(&w, maps->fd[NP_KNOWN], keys, vals, BATCH);
	w.and_delete = true;
	while (np_mapwalk_next(&w))
		;
}

int np_guard_blocks_foreach(const struct np_maps *maps, size_t limit,
			    np_block_visit visit, void *arg)
{
	static struct np_source_key keys[BATCH];
	static struct np_block vals[BATCH];
	struct np_mapwalk w;
	size_t seen = 0;
	int ret = 0;
	__u32 i;

	np_mapwalk_init(&w, maps->fd[NP_BLOCKED], keys, vals, BATCH);
	while (np_mapwalk_next(&w)) {
		for (i = 0; i < w.count && !ret; i++)
			ret = visit(&keys[i], &vals[i], arg);
		seen += w.count;
		if (ret || seen >= limit)
			break;
	}
	return w.err ? w.err : ret;
}

/* Deletes keys; one deleted meanwhile by someone else (natproxyctl
 * unblock) is skipped: the kernel's batch delete stops at it. */
static void delete_keys(int fd, const struct np_source_key *keys, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 done;
	int err;

	while (n) {
		done = n;
		err = bpf_map_delete_batch(fd, keys, &done, &opts);
		if (err && errno != ENOENT)
			return;
		done += err ? 1 : 0;
		if (done > n)
			return;
		keys += done;
		n -= done;
	}
}

struct expiry {
	const struct np_maps *maps;
	uint64_t now_ns;
	struct np_guard_census *census;
	struct np_source_key gone[BATCH];
	__u32 n_gone;
};

static int expire_one(const struct np_source_key *key,
		      const struct np_block *block, void *arg)
{
	struct expiry *x = arg;

	if (block->until_ns > x->now_ns) {
		x->census->blocked++;
		return 0;
	}
	x->gone[x->n_gone++] = *key;
	if (x->n_gone == BATCH) {
		delete_keys(x->maps->fd[NP_BLOCKED], x->gone, x->n_gone);
		x->n_gone = 0;
	}
	return 0;
}

void np_guard_expire(const struct np_maps *maps, uint64_t now_ns,
		     size_t limit, struct np_guard_census *census)
{
	static struct expiry x;

	x.maps = maps;
	x.now_ns = now_ns;
	x.census = census;
	x.n_gone = 0;
	census->blocked = 0;
	np_guard_blocks_foreach(maps, limit, expire_one, &x);
	delete_keys(maps->fd[NP_BLOCKED], x.gone, x.n_gone);
}

int np_guard_unblock(const struct np_maps *maps,
		     const struct np_source_key *key, uint64_t now_ns)
{
	int fd = maps->fd[NP_BLOCKED];
	struct np_block b;

	if (bpf_map_lookup_elem(fd, key, &b))
		return -errno;
	if (b.until_ns <= now_ns)
		return -ENOENT;
	return bpf_map_delete_elem(fd, key) ? -errno : 0;
}
