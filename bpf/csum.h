/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Incremental Internet checksum update (RFC 1624, eqn. 3: HC' = ~(~HC + ~m +
 * m')). Changes are accumulated as a 64-bit one's-complement delta over the
 * raw words in memory order, which is byte-order neutral (RFC 1071 §2(B)),
 * and applied once per checksum field at the end.
 */
#ifndef NATPROXY_BPF_CSUM_H
#define NATPROXY_BPF_CSUM_H

#include <linux/types.h>

/* Account for one 32-bit word changing from old to new. */
static __always_inline __u64 csum_delta32(__u64 delta, __u32 old, __u32 new)
{
	return delta + (__u32)~old + new;
}

static __always_inline __u64 csum_delta16(__u64 delta, __u16 old, __u16 new)
{
	return delta + (__u16)~old + new;
}

static __always_inline __u16 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The checksum field after the accumulated change. */
static __always_inline __u16 csum_apply(__u16 check, __u64 delta)
{
	return (__u16)~csum_fold64((__u16)~check + delta);
}

#endif
