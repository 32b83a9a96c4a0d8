// SPDX-License-Identifier: GPL-2.0-only
/*
 * The media benchmark's sink, attached (native XDP) to the veth where the
 * relayed media arrives: counts every benchmark packet of the current trial
 * (per CPU, and per stream), puts its one-way latency (now minus the
 * generator's send time; both bpf_ktime_get_ns, CLOCK_MONOTONIC) into a
 * histogram and drops it. Anything else (ARP, signaling) passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "media.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} mb_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MB_HIST_N);
	__type(key, __u32);
	__type(value, __u64);
} mb_hist SEC(".maps");

/* Packets per stream, all CPUs; mmapped by the driver. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MB_MAX_STREAMS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} mb_per_stream SEC(".maps");

__u32 trial; /* set by the driver before each trial */
__be32 sink_addr; /* where relayed media must be addressed */

static __always_inline void add(__u32 id, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&mb_counters, &id);

	if (c)
		*c += v;
}

static __always_inline __u32 bucket(__u64 ns)
{
	__u64 lim = (__u64)MB_HIST_LINEAR * MB_HIST_STEP_NS * 2;
	__u32 i;

	if (ns < (__u64)MB_HIST_LINEAR * MB_HIST_STEP_NS)
		return ns / MB_HIST_STEP_NS;
	for (i = 0; i < MB_HIST_LOG - 1; i++, lim <<= 1)
		if (ns < lim)
			break;
	return MB_HIST_LINEAR + i;
}

SEC("xdp")
int mb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct mb_payload *pl;
	__u64 now, lat, *c;
	__u32 b, id;

	pl = data + sizeof(*eth) + sizeof(*ip) + sizeof(struct udphdr) +
	     MB_RTP_LEN;
	if ((void *)(pl + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    pl->magic != bpf_htonl(MB_MAGIC))
		return XDP_PASS;
	if (pl->trial != trial) {
		add(MB_STALE, 1);
		return XDP_DROP;
	}
	if (ip->daddr != sink_addr)
		add(MB_MISADDR, 1);
	now = bpf_ktime_get_ns();
	lat = now > pl->tx_ns ? now - pl->tx_ns : 0;
	add(MB_RX, 1);
	add(MB_RX_BYTES, bpf_ntohs(ip->tot_len));
	add(MB_LAT_SUM, lat);
	id = MB_LAT_MAX;
	c = bpf_map_lookup_elem(&mb_counters, &id);
	if (c && *c < lat)
		*c = lat;
	b = bucket(lat);
	c = bpf_map_lookup_elem(&mb_hist, &b);
	if (c)
		*c += 1;
	id = pl->stream;
	c = bpf_map_lookup_elem(&mb_per_stream, &id);
	if (c)
		__sync_fetch_and_add(c, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
