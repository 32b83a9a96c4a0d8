// SPDX-License-Identifier: GPL-2.0-only
/*
 * Floors for the relay's cost benchmark: the same Ethernet/IPv4/UDP parse
 * with nothing after it but XDP_TX, and with one hash lookup of the relay's
 * IPv4 key type (struct np_flow_key4) before it. The relay's own cost is
 * read against these.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "natproxy.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_FLOWS);
	__type(key, struct np_flow_key4);
	__type(value, struct np_flow_entry); /* as the relay's IPv4 flows */
} floor_flows SEC(".maps");

static __always_inline struct udphdr *parse_udp4(struct xdp_md *ctx,
						 struct iphdr **ip)
{
	struct cursor c = { .pos = (void *)(long)ctx->data,
			    .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth = cursor_take(&c, sizeof(*eth));

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	*ip = cursor_take(&c, sizeof(**ip));
	if (!*ip || (*ip)->ihl != 5 || (*ip)->protocol != IPPROTO_UDP)
		return NULL;
	return cursor_take(&c, sizeof(struct udphdr));
}

SEC("xdp")
int floor_tx(struct xdp_md *ctx)
{
	struct iphdr *ip;

	return parse_udp4(ctx, &ip) ? XDP_TX : XDP_PASS;
}

SEC("xdp")
int floor_lookup(struct xdp_md *ctx)
{
	struct np_flow_key4 key = {};
	struct udphdr *udp;
	struct iphdr *ip;

	udp = parse_udp4(ctx, &ip);
	if (!udp)
		return XDP_PASS;
	key.addr = ip->daddr;
	key.port = udp->dest;
	return bpf_map_lookup_elem(&floor_flows, &key) ? XDP_TX : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
