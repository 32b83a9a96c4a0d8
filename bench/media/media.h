/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The media benchmark's own contract between its BPF programs (gen.bpf.c,
 * sink.bpf.c) and its driver (mediabench.c): the layout of the 200-byte
 * IPv4/UDP/RTP packets the generator sends, the per-stream table it sends
 * them from, and the counters and latency histogram the sink keeps. The
 * benchmark payload sits right after the 12-byte RTP header, so every relay
 * under test (natproxy, rtpengine, the ceiling) carries it untouched.
 */
#ifndef NATPROXY_BENCH_MEDIA_H
#define NATPROXY_BENCH_MEDIA_H

#include <linux/types.h>

#define MB_IP_LEN 200 /* G.711, 20 ms: 160 payload + RTP 12 + UDP 8 + IP 20 */
#define MB_ETH_LEN 14
#define MB_FRAME_LEN (MB_ETH_LEN + MB_IP_LEN)
#define MB_UDP_LEN (MB_IP_LEN - 20)
#define MB_RTP_LEN 12
#define MB_MAGIC 0x4e504d42 /* "NPMB", in network order in the packet */

#define MB_MAX_STREAMS (1u << 19) /* 524288 >= 500 000 */

/* Right after the RTP header; all fields in host order but the magic. */
struct mb_payload {
	__be32 magic;
	__u32 stream; /* index in the generator's stream table */
	__u32 trial; /* the sink counts only the current trial */
	__u32 pad;
	__u64 tx_ns; /* bpf_ktime_get_ns() when the generator sent it */
	__u64 gseq; /* packet number within the trial */
} __attribute__((packed));

/*
 * gen.bpf.c's mb_pump: a token the driver sends into the pump, in the UDP
 * payload right after struct mb_payload (frames carry it on to the relay,
 * which leaves it alone as it does the payload). A token first splits in
 * two SPLIT times, then each of its 2^SPLIT copies makes LEFT frames: the
 * copies go round the pump together, a NAPI poll making one frame of each
 * (one token alone would make one frame per poll, at twice the CPU per
 * frame).
 */
#define MB_TOKEN_OFF (MB_ETH_LEN + 28 + MB_RTP_LEN + 32)
#define MB_TOKEN_MAGIC 0x4e50544b /* "NPTK", in network order */
/* 64 copies: a NAPI poll's worth (the pump's veth ring holds 256). */
#define MB_TOKEN_SPLIT_MAX 6
struct mb_token {
	__u32 left; /* frames still to make of each copy */
	__u32 split; /* splits still to make */
	__be32 magic;
};

/*
 * One stream as the generator sends it: the IPv4 and UDP headers ready to
 * copy (IP checksum final, UDP checksum zero) and the ones' complement sum
 * of everything the UDP checksum covers with the per-packet fields (RTP
 * sequence and timestamp, trial, tx_ns, gseq) zero.
 */
struct mb_stream {
	__u8 hdr[28]; /* struct iphdr + struct udphdr */
	__u32 csum_base; /* 32-bit partial sum of 16-bit words, memory order */
};

/* Counters of the sink, one per-CPU array slot each. */
enum mb_sink_counter {
	MB_RX, /* benchmark packets of the current trial */
	MB_RX_BYTES, /* their IP bytes */
	MB_STALE, /* benchmark packets of an earlier trial */
	MB_MISADDR, /* IP destination was not the sink's address */
	MB_LAT_SUM, /* sum of one-way latencies, ns */
	MB_LAT_MAX, /* max one-way latency, ns (per CPU) */
	MB_NCOUNTERS
};

/*
 * Latency histogram: 100 ns buckets up to 2 ms, then one bucket per
 * doubling above it (2-4 ms, 4-8 ms, ...).
 */
#define MB_HIST_STEP_NS 100
#define MB_HIST_LINEAR 20000
#define MB_HIST_LOG 24
#define MB_HIST_N (MB_HIST_LINEAR + MB_HIST_LOG)

#endif
