// SPDX-License-Identifier: GPL-2.0-only
/*
 * Interface probing for the relay (see link.h): xdp-features over the
 * netdev generic netlink family, the driver over the ethtool ioctl, the
 * bus device in sysfs; and the pinned registry of attached interfaces.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>

#include "link.h"
#include "log.h"
#include "natproxy.h"

/* The netdev family (include/uapi/linux/netdev.h, Linux 6.3), newer than
 * the headers Debian 12 ships. */
#define NETDEV_FAMILY "netdev"
#define NETDEV_CMD_DEV_GET 1
#define NETDEV_A_DEV_IFINDEX 1
#define NETDEV_A_DEV_XDP_FEATURES 3
#define NETDEV_XDP_ACT_NDO_XMIT (1u << 2)

struct nl_request {
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	char attrs[64];
};

static void put_attr(struct nl_request *req, __u16 type, const void *data,
		     __u16 len)
{
	struct nlattr *a = (struct nlattr *)((char *)req + req->nh.nlmsg_len);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	req->nh.nlmsg_len += NLA_ALIGN(a->nla_len);
}

/*
 * Sends one request and finds attribute want in the reply's top level;
 * copies it to out (up to len bytes). 0, or -errno (-ENOENT: the reply has
 * no such attribute, or the kernel no such family).
 */
static int genl_ask(int fd, struct nl_request *req, __u16 want, void *out,
		    size_t len)
{
	char buf[4096];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nlattr *a;
	ssize_t n;
	int rest;

	if (send(fd, req, req->nh.nlmsg_len, 0) < 0)
		return -errno;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	if (!NLMSG_OK(nh, (size_t)n))
		return -EIO;
	if (nh->nlmsg_type == NLMSG_ERROR) {
		int err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;

		return err ? err : -ENOENT;
	}
	rest = nh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	a = (struct nlattr *)((char *)NLMSG_DATA(nh) + GENL_HDRLEN);
	for (; rest >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= rest;
	     rest -= NLA_ALIGN(a->nla_len),
	     a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
		if ((a->nla_type & NLA_TYPE_MASK) != want)
			continue;
		if ((size_t)(a->nla_len - NLA_HDRLEN) < len)
			return -EIO;
		memcpy(out, (char *)a + NLA_HDRLEN, len);
		return 0;
	}
	return -ENOENT;
}

static void request_init(struct nl_request *req, __u16 family, __u8 cmd)
{
	memset(req, 0, sizeof(*req));
	req->nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	req->nh.nlmsg_type = family;
	req->nh.nlmsg_flags = NLM_F_REQUEST;
	req->gh.cmd = cmd;
	req->gh.version = 1;
}

/* The interface's xdp-features bits; -ENOENT on a kernel without them. */
static int xdp_features(__u32 ifindex, __u64 *features)
{
	struct nl_request req;
	__u16 family;
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	request_init(&req, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	put_attr(&req, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY,
		 sizeof(NETDEV_FAMILY));
	err = genl_ask(fd, &req, CTRL_ATTR_FAMILY_ID, &family, sizeof(family));
	if (!err) {
		request_init(&req, family, NETDEV_CMD_DEV_GET);
		put_attr(&req, NETDEV_A_DEV_IFINDEX, &ifindex,
			 sizeof(ifindex));
		err = genl_ask(fd, &req, NETDEV_A_DEV_XDP_FEATURES, features,
			       sizeof(*features));
	}
	close(fd);
	return err;
}

static void driver_of(const char *ifname, char *out, size_t len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	out[0] = '\0';
	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		snprintf(out, len, "%s", info.driver);
	close(fd);
}

/* A device with no bus device behind it is made by the kernel. */
static bool software_device(const char *ifname)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/net/%s/device", ifname);
	return access(path, F_OK) != 0;
}

int np_link_probe(__u32 ifindex, enum np_xdp_mode mode,
		  struct np_link_probe *out)
{
	char ifname[IF_NAMESIZE];
	__u64 features = 0;
	bool veth;
	int err;

	memset(out, 0, sizeof(*out));
	if (!if_indextoname(ifindex, ifname))
		return -errno;
	driver_of(ifname, out->driver, sizeof(out->driver));
	veth = !strcmp(out->driver, "veth");
	if (software_device(ifname) || !strcmp(out->driver, "virtio_net"))
		out->flags |= NP_LINK_VERIFY_CSUM;
	if (mode == NP_XDP_GENERIC) {
		out->flags |= NP_LINK_GENERIC | NP_LINK_XMIT;
		return 0;
	}
	err = xdp_features(ifindex, &features);
	if (!err && (features & NETDEV_XDP_ACT_NDO_XMIT)) {
		out->flags |= NP_LINK_XMIT;
	} else if (!err && veth) {
		snprintf(out->why_no_xmit, sizeof(out->why_no_xmit),
			 "its veth peer runs no XDP program and has GRO off "
			 "(ethtool -K PEER gro on, in the peer's namespace)");
	} else if (!err) {
		snprintf(out->why_no_xmit, sizeof(out->why_no_xmit),
			 "driver '%s' does not implement ndo_xdp_xmit",
			 out->driver[0] ? out->driver : "?");
	} else if (veth) {
		/* A kernel before 6.3 cannot tell: assume the default. */
		snprintf(out->why_no_xmit, sizeof(out->why_no_xmit),
			 "a veth whose peer cannot be asked about (no "
			 "xdp-features in this kernel: %s)",
			 strerror(-err));
	} else {
		out->flags |= NP_LINK_XMIT; /* native XDP drivers, as a rule */
	}
	return 0;
}

static void log_change(const char *ifname, const struct np_link_probe *p,
		       __u32 old_flags, bool known)
{
	if (known && !((old_flags ^ p->flags) & NP_LINK_XMIT))
		return;
	if (p->flags & NP_LINK_XMIT)
		np_info("'%s': media leaves by XDP%s", ifname,
			p->flags & NP_LINK_VERIFY_CSUM ?
				", UDP checksums verified on arrival" :
				"");
	else
		np_warn("'%s': XDP cannot send out of it: %s; media leaving "
			"by '%s' is forwarded by the kernel",
			ifname, p->why_no_xmit, ifname);
}

int np_link_record(int links_fd, int egress_fd, const char *ifname,
		   __u32 ifindex, const struct np_link_probe *probe)
{
	struct np_link link = { .flags = probe->flags }, old = {};
	bool known = !bpf_map_lookup_elem(links_fd, &ifindex, &old);
	int err;

	if (bpf_map_update_elem(links_fd, &ifindex, &link, 0))
		return -errno;
	if (probe->flags & NP_LINK_XMIT)
		err = bpf_map_update_elem(egress_fd, &ifindex, &ifindex, 0);
	else
		err = bpf_map_delete_elem(egress_fd, &ifindex) &&
		      errno != ENOENT;
	if (err)
		return -errno;
	log_change(ifname, probe, old.flags, known);
	return 0;
}

int np_links_refresh(int links_fd, int egress_fd)
{
	struct np_link_probe probe;
	char ifname[IF_NAMESIZE];
	struct np_link link;
	__u32 key, next, *prev = NULL;
	int changed = 0, err;

	while (!bpf_map_get_next_key(links_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(links_fd, &key, &link) ||
		    !if_indextoname(key, ifname) ||
		    np_link_probe(key,
				  link.flags & NP_LINK_GENERIC ?
					  NP_XDP_GENERIC :
					  NP_XDP_NATIVE,
				  &probe))
			continue; /* gone from this namespace: detach's job */
		if (probe.flags == link.flags)
			continue;
		err = np_link_record(links_fd, egress_fd, ifname, key, &probe);
		if (err)
			return err;
		changed++;
	}
	return changed;
}
