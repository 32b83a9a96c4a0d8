/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What an interface can do for the relay, asked of the kernel: whether what
 * XDP sends out of it (XDP_TX, redirect) is delivered, and whether packets
 * with a partial UDP checksum can arrive on it. Both decide how media is
 * forwarded, so that nothing is counted as relayed and then lost.
 */
#ifndef NATPROXY_LINK_H
#define NATPROXY_LINK_H

#include <stdbool.h>
#include <linux/types.h>

#include "loader.h"

struct np_link_probe {
	__u32 flags; /* NP_LINK_* */
	char driver[32]; /* "" when unknown */
	/* Without NP_LINK_XMIT: why, and what would change it. */
	char why_no_xmit[160];
};

/*
 * Probes the interface. The kernel's xdp-features (netdev netlink family,
 * Linux 6.3 and later) say whether the driver implements ndo_xdp_xmit; a
 * veth advertises it only while its peer runs XDP or GRO, the condition
 * for anything sent into it to arrive. In generic mode the skb path
 * delivers anywhere. Checksums are verified on software devices (no bus
 * device behind them), where a sender in this kernel can hand on partial
 * ones, and on virtio_net, which receives them from its host.
 */
int np_link_probe(__u32 ifindex, enum np_xdp_mode mode,
		  struct np_link_probe *out);

/*
 * Records the interface in the pinned link registry with what a probe
 * found, and puts it in the egress map only if XDP can deliver through it;
 * logs a change of that against the previous record. 0 or -errno.
 */
int np_link_record(int links_fd, int egress_fd, const char *ifname,
		   __u32 ifindex, const struct np_link_probe *probe);

/*
 * Probes every recorded interface again (a veth peer may have gained or
 * lost XDP or GRO since) and records what changed. Returns how many
 * interfaces changed, or -errno.
 */
int np_links_refresh(int links_fd, int egress_fd);

#endif
