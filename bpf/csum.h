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
 * Summing a whole datagram with direct loads, 32 bits at a time into 64-bit
 * accumulators (the carries stay in the high half until the fold): no
 * helper call, whose return costs a thunk under retbleed mitigations, and
 * one bounds check per 64-byte block (the verifier wants every access
 * bounded). Four accumulators, so that the adds do not wait on each other.
 * A longer datagram than the walk covers is not summed (false); on a
 * 1500-byte MTU no media datagram comes near it.
 */
#define CSUM_CHUNK 64
#define CSUM_MAX_CHUNKS 32

/* The sum of the 32-bit words at pos, n of them (a constant): two
 * accumulators a and b, words alternating. */
#define CSUM_WORDS(pos, n, a, b)                                               \
	do {                                                                   \
		const __u32 *w_ = (const __u32 *)(pos);                        \
		int k_;                                                        \
		_Pragma("unroll") for (k_ = 0; k_ < (n); k_ += 2) {            \
			(a) += w_[k_];                                         \
			if (k_ + 1 < (n))                                      \
				(b) += w_[k_ + 1];                             \
		}                                                              \
	} while (0)

/* Within csum_bytes: n bytes more into accumulators a and b when the
 * length has that bit. */
#define CSUM_STEP(n, words, a, b)                                              \
	do {                                                                   \
		if (len & (n)) {                                               \
			if (pos + (n) > end)                                   \
				return false;                                  \
			CSUM_WORDS(pos, words, a, b);                          \
			pos += (n);                                            \
		}                                                              \
	} while (0)

/* The unfolded sum of len bytes from pos, which must lie before end. */
static __always_inline bool csum_bytes(void *pos, void *end, __u32 len,
				       __u64 *sum)
{
	__u64 a = 0, b = 0, c = 0, d = 0;
	__u8 odd[2] = {};
	__u16 word;
	int i;

	*sum = 0;
	if (len >= CSUM_CHUNK * (CSUM_MAX_CHUNKS + 1))
		return false;
	for (i = 0; i < CSUM_MAX_CHUNKS && len >= CSUM_CHUNK; i++) {
		/* Opaque to the compiler: it would otherwise turn the
		 * bounds checks into a trip count computed from end, which
		 * the verifier cannot follow. */
		asm volatile("" : "+r"(pos));
		if (pos + CSUM_CHUNK > end)
			return false;
		CSUM_WORDS(pos, 8, a, b);
		CSUM_WORDS(pos + 32, 8, c, d);
		pos += CSUM_CHUNK;
		len -= CSUM_CHUNK;
	}
	/* The tail below 64 bytes, a step per bit of its length. */
	CSUM_STEP(32, 8, a, b);
	CSUM_STEP(16, 4, c, d);
	CSUM_STEP(8, 2, a, b);
	CSUM_STEP(4, 1, c, d);
	if (len & 2) {
		if (pos + 2 > end)
			return false;
		__builtin_memcpy(&word, pos, 2);
		b += word;
		pos += 2;
	}
	if (len & 1) {
		/* The last byte is the high half of a word padded with zero. */
		if (pos + 1 > end)
			return false;
		odd[0] = *(__u8 *)pos;
		__builtin_memcpy(&word, odd, 2);
		c += word;
	}
	*sum = a + b + c + d;
	return true;
}

#endif
