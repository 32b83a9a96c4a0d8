/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Bounds-checked packet parsing for the XDP relay: a cursor that only ever
 * advances past bytes the verifier has seen checked against data_end. Each
 * helper returns a header pointer or NULL when the packet is too short.
 */
#ifndef NATPROXY_BPF_PARSE_H
#define NATPROXY_BPF_PARSE_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct cursor {
	void *pos;
	void *end;
};

static __always_inline void *cursor_take(struct cursor *c, __u32 len)
{
	void *start = c->pos;

	if (start + len > c->end)
		return NULL;
	c->pos = start + len;
	return start;
}

static __always_inline bool eth_proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

#endif
