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
	/* port 0: the address as a whole; prefix_len shorter than the
	 * address: its prefix (host bits zero) */
	struct np_sockaddr key;
	uint8_t prefix_len;
	time_t second;
	uint32_t count;
};

struct np_admission {
	struct np_rate_slot *slots;
	uint64_t refused, full;
};

/* Datagrams per second (0 = no limit) from one mapping (address and
 * port), one address, and one /24 (IPv4) or /64 (IPv6). */
struct np_admit_limits {
	uint32_t per_mapping, per_address, per_prefix;
};

/*
 * What went over its limit, for the XDP block list (bpf/guard.h): set by
 * np_admit only on the first datagram over it in a second, so the block
 * is asked for once, not for every datagram a flood has queued; the
 * widest of the three when more than one is over.
 */
enum np_over { NP_OVER_NONE, NP_OVER_MAPPING, NP_OVER_ADDRESS, NP_OVER_PREFIX };

#define NP_PREFIX4_LEN 24
#define NP_PREFIX6_LEN 64

int np_admission_init(struct np_admission *a);
void np_admission_fini(struct np_admission *a);
/* Counts one datagram from src at now; false if the mapping, the address
 * or its prefix went over its limit this second. *over as above. */
bool np_admit(struct np_admission *a, const struct np_sockaddr *src,
	      const struct np_admit_limits *lim, time_t now,
	      enum np_over *over);
/* src narrowed to its address (port 0) or to its prefix of the length
 * above; *len gets the prefix length (32 or 128 for the address). */
void np_source_narrow(const struct np_sockaddr *src, enum np_over what,
		      struct np_sockaddr *out, uint8_t *len);

#endif
