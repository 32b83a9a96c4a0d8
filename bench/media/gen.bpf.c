// SPDX-License-Identifier: GPL-2.0-only
/*
 * The media benchmark's generator, two ways of sending the same frames:
 *
 *   mb_gen   never attached, run by the driver with BPF_PROG_RUN and
 *            BPF_F_TEST_XDP_LIVE_FRAMES; returns XDP_TX, which test_run
 *            turns into a transmission out of the interface named by
 *            ctx_in's ingress_ifindex. Live frames are recycled without
 *            their content being restored, so nothing of an earlier frame
 *            may be left unwritten.
 *   mb_pump  where the kernel refuses live frames: attached to one end of
 *            a veth pair the driver sends tokens into (a frame carrying a
 *            struct mb_token). A token first splits into copies (both
 *            entries of mb_pump_split are the pair's other end); then
 *            each pass writes the copy's frame as the next stream's and
 *            sends it out of mb_pump_tx[0] (towards the relay) and, while
 *            the copy has frames left, back into the pair (mb_pump_tx[1])
 *            for the next pass: one token from user space becomes
 *            LEFT << SPLIT frames at XDP speed.
 *
 * Every frame is one whole 214-byte frame of the next stream (round robin
 * over mb_streams): Ethernet to the relay's MAC, the stream's IPv4/UDP
 * headers, an RTP header and the benchmark payload (stream, trial, send
 * time, sequence), with a valid UDP checksum.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "media.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_STREAMS);
	__type(key, __u32);
	__type(value, struct mb_stream);
} mb_streams SEC(".maps");

/* mb_pump's ways out: 0 the relay's interface, 1 back into the pump. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} mb_pump_tx SEC(".maps");

/* mb_pump's split: both entries the pair's other end, back into the pump. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} mb_pump_split SEC(".maps");

/* Written by the driver through the skeleton's mmapped .bss. */
__u8 dst_mac[ETH_ALEN];
__u8 src_mac[ETH_ALEN];
__u32 nstreams;
__u32 trial;
__u64 gseq; /* frames written so far, all trials */
__u64 pumped; /* of them, frames mb_pump sent towards the relay */

/* The two 16-bit words of a 32-bit value as it lies in memory. */
static __always_inline __u64 words(__u32 v)
{
	return (v & 0xffff) + (v >> 16);
}

/*
 * Writes the next stream's frame over DATA..END, EXTRA (the sum of any
 * other nonzero words of the UDP payload, mb_pump's token) in its UDP
 * checksum. 0, or -1 for a frame too short or no stream.
 */
static __always_inline int frame_write(void *data, void *end, __u64 extra)
{
	struct mb_payload *pl;
	struct mb_stream *s;
	__u32 idx, round, w0, w1, tr;
	__u64 seq = gseq, now, sum;
	struct ethhdr *eth = data;
	__u32 *rtp;
	__u32 n = nstreams;

	if (data + MB_FRAME_LEN > end || !n)
		return -1;
	idx = seq % n;
	round = seq / n;
	s = bpf_map_lookup_elem(&mb_streams, &idx);
	if (!s)
		return -1;

	__builtin_memcpy(eth->h_dest, dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, src_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	__builtin_memcpy(data + MB_ETH_LEN, s->hdr, sizeof(s->hdr));

	/* RTP: version 2, PCMU, sequence and timestamp from the round. */
	rtp = data + MB_ETH_LEN + 28;
	w0 = bpf_htonl(0x80000000u | (round & 0xffff));
	w1 = bpf_htonl(round * 160);
	rtp[0] = w0;
	rtp[1] = w1;
	rtp[2] = bpf_htonl(idx); /* SSRC: constant per stream */

	pl = (void *)(rtp + 3);
	now = bpf_ktime_get_ns();
	tr = trial;
	pl->magic = bpf_htonl(MB_MAGIC);
	pl->stream = idx;
	pl->trial = tr;
	pl->pad = 0;
	pl->tx_ns = now;
	pl->gseq = seq;

	/*
	 * UDP checksum: the stream's base covers the pseudo-header and every
	 * constant byte; add the words written per packet (RFC 1071 sum in
	 * memory order, stored in memory order).
	 */
	sum = s->csum_base + extra + words(w0) + words(w1) + words(tr) +
	      words((__u32)now) + words((__u32)(now >> 32)) +
	      words((__u32)seq) + words((__u32)(seq >> 32));
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	*(__u16 *)(data + MB_ETH_LEN + 26) = sum ? sum : 0xffff;

	gseq = seq + 1;
	return 0;
}

SEC("xdp")
int mb_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	return frame_write(data, end, 0) ? XDP_ABORTED : XDP_TX;
}

SEC("xdp")
int mb_pump(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct mb_token *tok = data + MB_TOKEN_OFF;
	__u32 left;

	/* Anything else on the pair (IPv6 autoconfiguration) is not ours. */
	if ((void *)(tok + 1) > end || tok->magic != bpf_htonl(MB_TOKEN_MAGIC))
		return XDP_PASS;
	if (tok->split) {
		if (tok->split > MB_TOKEN_SPLIT_MAX)
			return XDP_DROP;
		tok->split--;
		return bpf_redirect_map(&mb_pump_split, 0, BPF_F_BROADCAST);
	}
	left = tok->left;
	if (!left)
		return XDP_DROP;
	tok->left = --left;
	if (frame_write(data, end, words(left) + words(tok->magic)))
		return XDP_ABORTED;
	pumped++;
	/* The last frame only out; every other one also round again. */
	return bpf_redirect_map(&mb_pump_tx, 0, left ? BPF_F_BROADCAST : 0);
}



char LICENSE[] SEC("license") = "GPL";
