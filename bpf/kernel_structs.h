/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The fields the tracing programs read of the kernel's own structs, found
 * by CO-RE in its BTF wherever they lie in this kernel's layout.
 */
#ifndef NATPROXY_BPF_KERNEL_STRUCTS_H
#define NATPROXY_BPF_KERNEL_STRUCTS_H

#include <linux/types.h>

struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	unsigned char *head;
	unsigned int end;
	__u16 mac_header;
} __attribute__((preserve_access_index));

struct skb_shared_info {
	__u8 meta_len;
	struct {
		int counter;
	} dataref;
} __attribute__((preserve_access_index));

#endif
