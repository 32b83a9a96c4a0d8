/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Incremental Internet checksum update (RFC 1624, eqn. 3: HC' = ~(~HC + ~m +
 * m')). Changes are accumulated as a 64-bit one's-complement delta over the
 * raw words in memory order, which is byte-order neutral (RFC 1071 §2(B)),
 * and applied once per checksum field at the end.
 */
#ifndef NATPROXY_BPF_CSUM_H
#define NATPROXY_BPF_CSUM_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

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

/* One's complement equality: 0 and 0xffff are both zero. */
static __always_inline bool csum_same(__u16 a, __u16 b)
{
	return (a == 0xffff ? 0 : a) == (b == 0xffff ? 0 : b);
}

/*
 * Summing a whole datagram: bpf_csum_diff over fixed chunks (the verifier
 * wants every access bounded), then the tail by halves. A longer datagram
 * than the walk covers is not summed (false); on a 1500-byte MTU no media
 * datagram comes near it.
 */
#define CSUM_CHUNK 64
#define CSUM_MAX_CHUNKS 32

static __always_inline bool csum_add_chunk(void **pos, void *end, __u32 size,
					   __u64 *sum)
{
	if (*pos + size > end)
		return false;
	*sum += (__u32)bpf_csum_diff(NULL, 0, *pos, size, 0);
	*pos += size;
	return true;
}

/* The unfolded sum of len bytes from pos, which must lie before end. */
static __always_inline bool csum_bytes(void *pos, void *end, __u32 len,
				       __u64 *sum)
{
	__u8 odd[2] = {};
	__u16 word;
	int i;

	*sum = 0;
	if (len >= CSUM_CHUNK * (CSUM_MAX_CHUNKS + 1))
		return false;
	for (i = 0; i < CSUM_MAX_CHUNKS && len >= CSUM_CHUNK; i++) {
		if (!csum_add_chunk(&pos, end, CSUM_CHUNK, sum))
			return false;
		len -= CSUM_CHUNK;
	}
	if (((len & 32) && !csum_add_chunk(&pos, end, 32, sum)) ||
	    ((len & 16) && !csum_add_chunk(&pos, end, 16, sum)) ||
	    ((len & 8) && !csum_add_chunk(&pos, end, 8, sum)) ||
	    ((len & 4) && !csum_add_chunk(&pos, end, 4, sum)))
		return false;
	if (len & 2) {
		if (pos + 2 > end)
			return false;
		__builtin_memcpy(&word, pos, 2);
		*sum += word;
		pos += 2;
	}
	if (len & 1) {
		/* The last byte is the high half of a word padded with zero. */
		if (pos + 1 > end)
			return false;
		odd[0] = *(__u8 *)pos;
		__builtin_memcpy(&word, odd, 2);
		*sum += word;
	}
	return true;
}

#endif
