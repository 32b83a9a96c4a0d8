/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Attaching the XDP relay to interfaces and detaching it: the program and
 * maps are loaded once, pinned, and shared by every interface attached with
 * the same pin directory.
 */
#ifndef NATPROXY_LOADER_H
#define NATPROXY_LOADER_H

#include <stdbool.h>
#include <linux/types.h>

enum np_xdp_mode { NP_XDP_NATIVE, NP_XDP_GENERIC };

/*
 * max_flows: how many flows the maps hold when this call creates them (the
 * first interface of a pin directory), 0 for NP_MAX_FLOWS; maps already
 * pinned keep their size.
 */
int np_attach(const char *pin_dir, const char *ifname, enum np_xdp_mode mode,
	      __u32 max_flows);
/* Detaches; the last interface to go takes every pin with it. */
int np_detach(const char *pin_dir, const char *ifname);

struct np_attachment {
	char ifname[16];
	__u32 ifindex;
	const char *mode; /* "native" or "generic" */
	bool recorded; /* in the link map (attached by natproxy, not by hand) */
	__u32 link_flags; /* NP_LINK_*, as recorded */
	char why_no_xmit[160]; /* without NP_LINK_XMIT */
	__u64 xmit_drops; /* frames XDP sent out of it that the kernel dropped */
};

/*
 * The pinned program's id (0 if none) and the interfaces of this network
 * namespace that run it; at most max entries, *n set to how many.
 */
int np_status(const char *pin_dir, __u32 *prog_id,
	      struct np_attachment *out, int max, int *n);

/* This network namespace's cookie (SO_NETNS_COOKIE), which the kernel's
 * structs know it by; 0 if the kernel has none. */
__u64 np_this_netns_cookie(void);

#endif
