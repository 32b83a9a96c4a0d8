// SPDX-License-Identifier: GPL-2.0-only
/* Per-source rate limits: fixed one-second windows in a bounded table. */
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

static uint32_t hash(const struct np_sockaddr *k)
{
	const unsigned char *p = (const unsigned char *)&k->addr;
	size_t n = k->family == AF_INET6 ? 16 : 4, i;
	uint32_t h = 2166136261u ^ k->port; /* FNV-1a */

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* The slot of key this second (a stale or empty one is taken), or NULL
 * when every probed slot holds another live source. */
static struct np_rate_slot *slot_of(struct np_admission *a,
				    const struct np_sockaddr *key, time_t now)
{
	uint32_t h = hash(key), i;
	struct np_rate_slot *s, *stale = NULL;

	for (i = 0; i < PROBES; i++) {
		s = &a->slots[(h + i) & (NP_ADMISSION_SLOTS - 1)];
		if (s->second && np_sockaddr_eq(&s->key, key)) {
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
	stale->second = now;
	stale->count = 0;
	return stale;
}

static bool within(struct np_admission *a, const struct np_sockaddr *key,
		   uint32_t limit, time_t now)
{
	struct np_rate_slot *s;

	if (!limit)
		return true;
	s = slot_of(a, key, now);
	if (!s) {
		a->full++;
		return true;
	}
	return ++s->count <= limit;
}

bool np_admit(struct np_admission *a, const struct np_sockaddr *src,
	      uint32_t per_address, uint32_t per_mapping, time_t now)
{
	struct np_sockaddr address = *src;
	bool ok;

	address.port = 0;
	/* Both counted, so a source over one limit does not escape the
	 * other's count. */
	ok = within(a, src, per_mapping, now);
	ok = within(a, &address, per_address, now) && ok;
	if (!ok)
		a->refused++;
	return ok;
}
