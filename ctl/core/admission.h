/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-source rate limits (issue 11), in the style of Kamailio's pike: how
 * many datagrams one source address, and one source mapping (address and
 * port), sent in the current second. Checked before anything is parsed or
 * allocated, so a flood costs a hash lookup per datagram. The table is
 * fixed in size: when it is full of live sources, a new one is admitted
 * (counted in `full`) rather than a legitimate one refused.
 */
#ifndef NATPROXY_CORE_ADMISSION_H
#define NATPROXY_CORE_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

#define NP_ADMISSION_SLOTS 65536 /* a power of two */

struct np_rate_slot {
	struct np_sockaddr key; /* port 0: the address as a whole */
	time_t second;
	uint32_t count;
};

struct np_admission {
	struct np_rate_slot *slots;
	uint64_t refused, full;
};

int np_admission_init(struct np_admission *a);
void np_admission_fini(struct np_admission *a);
/* Counts one datagram from src at now; false if the address or the mapping
 * went over its limit this second (0 = no limit). */
bool np_admit(struct np_admission *a, const struct np_sockaddr *src,
	      uint32_t per_address, uint32_t per_mapping, time_t now);

#endif
