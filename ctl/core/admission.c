// SPDX-License-Identifier: GPL-2.0-only
/* Per-source rate limits: fixed one-second windows in a bounded table. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "core/admission.h"

#define PROBES 8

int np_admission_init(struct np_admission *a)
{
	memset(a, 0, sizeof(*a));
	a->slots = calloc(NP_ADMISSION_SLOTS, sizeof(*a->slots));
	return a->slots ? 0 : -ENOMEM;
}

void np_admission_fini(struct np_admission *a)
{
	free(a->slots);
	a->slots = NULL;
}

static uint32_t hash(const struct np_sockaddr *k, uint8_t prefix_len)
{
	const unsigned char *p = (const unsigned char *)&k->addr;
	size_t n = k->family == AF_INET6 ? 16 : 4, i;
	uint32_t h = 2166136261u ^ k->port ^ (uint32_t)prefix_len << 16; /* FNV-1a */

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* The slot of key this second (a stale or empty one is taken), or NULL
 * when every probed slot holds another live source. */
static struct np_rate_slot *slot_of(struct np_admission *a,
				    const struct np_sockaddr *key,
				    uint8_t prefix_len, time_t now)
{
	uint32_t h = hash(key, prefix_len), i;
	struct np_rate_slot *s, *stale = NULL;

	for (i = 0; i < PROBES; i++) {
		s = &a->slots[(h + i) & (NP_ADMISSION_SLOTS - 1)];
		if (s->second && s->prefix_len == prefix_len &&
		    np_sockaddr_eq(&s->key, key)) {
			if (s->second != now) {
				s->second = now;
				s->count = 0;
			}
			return s;
		}
		if (!stale && s->second < now - 1)
			stale = s;
	}
	if (!stale)
		return NULL;
	stale->key = *key;
	stale->prefix_len = prefix_len;
	stale->second = now;
	stale->count = 0;
	return stale;
}

void np_source_narrow(const struct np_sockaddr *src, enum np_over what,
		      struct np_sockaddr *out, uint8_t *len)
{
	bool v6 = src->family == AF_INET6;

	*out = *src;
	*len = v6 ? 128 : 32;
	if (what == NP_OVER_MAPPING)
		return;
	out->port = 0;
	if (what != NP_OVER_PREFIX)
		return;
	*len = v6 ? NP_PREFIX6_LEN : NP_PREFIX4_LEN;
	if (v6)
		memset(&out->addr.v6.s6_addr[8], 0, 8);
	else
		out->addr.v4.s_addr &= htonl(0xffffff00u);
}

/* Whether key stays within limit this second; *first_over when this
 * datagram is the first over it. */
static bool within(struct np_admission *a, const struct np_sockaddr *key,
		   uint8_t prefix_len, uint32_t limit, time_t now,
		   bool *first_over)
{
	struct np_rate_slot *s;

	*first_over = false;
	if (!limit)
		return true;
	s = slot_of(a, key, prefix_len, now);
	if (!s) {
		a->full++;
		return true;
	}
	if (++s->count <= limit)
		return true;
	*first_over = s->count == (uint64_t)limit + 1;
	return false;
}

bool np_admit(struct np_admission *a, const struct np_sockaddr *src,
	      const struct np_admit_limits *lim, time_t now,
	      enum np_over *over)
{
	static const enum np_over kinds[] = { NP_OVER_MAPPING,
					      NP_OVER_ADDRESS,
					      NP_OVER_PREFIX };
	const uint32_t limits[] = { lim->per_mapping, lim->per_address,
				    lim->per_prefix };
	struct np_sockaddr key;
	bool ok = true, first;
	uint8_t len;
	size_t i;

	*over = NP_OVER_NONE;
	/* All counted, so a source over one limit does not escape the
	 * others' counts. */
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		np_source_narrow(src, kinds[i], &key, &len);
		if (within(a, &key, len, limits[i], now, &first))
			continue;
		ok = false;
		if (first)
			*over = kinds[i];
	}
	if (!ok)
		a->refused++;
	return ok;
}
