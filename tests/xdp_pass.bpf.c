// SPDX-License-Identifier: GPL-2.0-only
/*
 * A do-nothing XDP program for the outer ends of the tests' veth pairs. A
 * veth only wakes its peer for frames sent back with XDP_TX when the peer
 * runs an XDP program itself: with this one attached, the relay's XDP_TX
 * and redirects reach the test namespaces as they would on a real NIC.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
