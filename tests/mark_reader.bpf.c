// SPDX-License-Identifier: GPL-2.0-only
/*
 * For xdp_packet_test: the np_kernel_mark the relay left in the headroom
 * in front of a packet it handed to the kernel. bpf_prog_test_run hands
 * back the packet alone, so the test sends it again through a veth to
 * the relay attached there, and the kernel receives it as an skb: this
 * reads the bytes in front of its Ethernet header, and believes them as
 * the tracer of the kernel's drops does, with the packet's UDP header.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kernel_structs.h"
#include "natproxy.h"

/* The device the test's frames arrive on: its namespace and index
 * (other namespaces, other tests', have devices of that index too), and
 * the UDP header the test's frame arrives with, want_off bytes after its
 * Ethernet header (the interface's own IPv6 neighbour discovery arrives
 * there too). */
__u64 netns;
__u32 ifindex;
__u32 want_off;
__u8 want_udp[8];
__u32 received; /* the test's frames received there */
__u32 marked; /* those with a mark of their own */
struct np_kernel_mark mark; /* in front of the last of those */

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(read_mark, struct sk_buff *skb)
{
	struct np_kernel_mark m;
	unsigned char *mac;
	__u64 udp, marked_udp, want;

	(void)ctx;
	if (!skb->dev || skb->dev->ifindex != (int)ifindex ||
	    skb->dev->nd_net.net->net_cookie != netns)
		return 0;
	mac = skb->head + skb->mac_header;
	__builtin_memcpy(&want, want_udp, sizeof(want));
	if (bpf_probe_read_kernel(&udp, sizeof(udp), mac + want_off) ||
	    udp != want)
		return 0;
	received++;
	if (bpf_probe_read_kernel(&m, sizeof(m), mac - sizeof(m)) ||
	    m.magic != NP_KERNEL_MARK_MAGIC ||
	    bpf_probe_read_kernel(&udp, sizeof(udp), mac + m.udp_off))
		return 0;
	__builtin_memcpy(&marked_udp, m.udp, sizeof(marked_udp));
	if (udp != marked_udp)
		return 0;
	mark = m;
	marked++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
