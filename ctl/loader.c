// SPDX-License-Identifier: GPL-2.0-only
/*
 * The loader: opens the relay skeleton with every map pinned by name in the
 * pin directory (reusing pins that exist), pins the program, and attaches
 * it through netlink, so XDP stays on the interface after this process
 * exits whether or not a pin survives. The link map is the registry of
 * attached interfaces, with what each can do (link.c).
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "link.h"
#include "loader.h"
#include "log.h"
#include "natproxy.h"
#include "pins.h"
#include "relay.skel.h"

static __u32 mode_flags(enum np_xdp_mode mode)
{
	return mode == NP_XDP_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
}

static __u32 prog_id_of(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* The maps that hold one entry per flow, sized together. */
static int size_flow_maps(struct relay_bpf *skel, __u32 max_flows)
{
	struct bpf_map *const per_flow[] = {
		skel->maps.np_flows4_v2, skel->maps.np_flows6_v2,
		skel->maps.np_counters_v3, skel->maps.np_slots_v1,
		skel->maps.np_police_v1,
	};
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(per_flow) / sizeof(per_flow[0]) && !err; i++)
		err = bpf_map__set_max_entries(per_flow[i], max_flows);
	return err;
}

/* Loads the relay with its maps pinned; returns a program fd to close. */
static int load_and_pin(const char *pin_dir, __u32 max_flows)
{
	struct relay_bpf *skel;
	struct bpf_map *map;
	char path[PATH_MAX];
	int fd = -1, err;

	skel = relay_bpf__open();
	if (!skel) {
		err = -errno;
		np_err("cannot open the relay program: %s", strerror(-err));
		return err;
	}
	err = size_flow_maps(skel, max_flows ? max_flows : NP_MAX_FLOWS);
	if (err) {
		np_err("cannot size the flow maps for %u flows: %s", max_flows,
		       strerror(-err));
		goto out;
	}
	bpf_object__for_each_map(map, skel->obj) {
		err = np_pin_path(path, sizeof(path), pin_dir,
				  bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto out;
	}
	err = relay_bpf__load(skel);
	if (err) {
		np_err("cannot load the relay program: %s", strerror(-err));
		goto out;
	}
	err = np_pin_path(path, sizeof(path), pin_dir, NP_PROG_PIN);
	if (!err)
		err = bpf_program__pin(skel->progs.np_relay, path);
	if (err) {
		np_err("cannot pin the relay program at '%s': %s", path,
		       strerror(-err));
		goto out;
	}
	fd = dup(bpf_program__fd(skel->progs.np_relay));
	err = fd < 0 ? -errno : 0;
out:
	relay_bpf__destroy(skel);
	return err ? err : fd;
}

static int links_is_empty(int links_fd)
{
	__u32 key;

	return bpf_map_get_next_key(links_fd, NULL, &key) && errno == ENOENT;
}

/*
 * Lets the kernel forward what the relay hands it (no neighbour yet) and
 * lets bpf_fib_lookup run: both need forwarding on the ingress device, and
 * the rewritten source is one of our own addresses. IPv6 forwarding also
 * needs the namespace-wide switch (ip6_forward checks "all").
 */
static void enable_forwarding(const char *ifname)
{
	static const char *const knobs[] = {
		"/proc/sys/net/ipv4/conf/%s/forwarding",
		"/proc/sys/net/ipv4/conf/%s/accept_local",
		"/proc/sys/net/ipv6/conf/%s/forwarding",
		"/proc/sys/net/ipv6/conf/all/forwarding",
	};
	char path[PATH_MAX];
	FILE *f;
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(path, sizeof(path), knobs[i], ifname);
		f = fopen(path, "w");
		if (!f || fputs("1\n", f) < 0 || fclose(f)) {
			np_warn("cannot set '%s': %s", path, strerror(errno));
			if (f)
				fclose(f);
		}
	}
}

int np_attach(const char *pin_dir, const char *ifname, enum np_xdp_mode mode,
	      __u32 max_flows)
{
	struct np_maps maps = NP_MAPS_NONE;
	__u32 ifindex = if_nametoindex(ifname), attached = 0;
	struct np_link_probe probe;
	char path[PATH_MAX];
	bool fresh = false;
	int prog_fd = -1, err;

	if (!ifindex) {
		np_err("no interface '%s'", ifname);
		return -ENODEV;
	}
	err = bpf_xdp_query_id(ifindex, 0, &attached);
	if (err) {
		np_err("cannot query XDP on '%s': %s", ifname, strerror(-err));
		return err;
	}
	if (attached) {
		np_err("'%s' already has an XDP program (id %u); detach it first",
		       ifname, attached);
		return -EEXIST;
	}
	err = np_pin_dir_check(pin_dir);
	if (err)
		return err;
	err = np_pin_path(path, sizeof(path), pin_dir, NP_PROG_PIN);
	if (err)
		return err;
	prog_fd = bpf_obj_get(path);
	if (prog_fd < 0) {
		fresh = true;
		prog_fd = load_and_pin(pin_dir, max_flows);
		if (prog_fd < 0) {
			err = prog_fd;
			goto unpin;
		}
	}
	err = np_maps_open(pin_dir, &maps);
	if (err)
		goto unpin;
	err = bpf_xdp_attach(ifindex, prog_fd,
			     XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flags(mode),
			     NULL);
	if (err) {
		np_err("cannot attach XDP to '%s' in %s mode: %s", ifname,
		       mode == NP_XDP_GENERIC ? "generic" : "native",
		       strerror(-err));
		goto unpin;
	}
	/* Probed once attached: a veth's peer sees our program only now. */
	err = np_link_probe(ifindex, mode, &probe);
	if (!err)
		err = np_link_record(maps.fd[NP_LINKS], maps.fd[NP_EGRESS],
				     ifname, ifindex, &probe);
	if (err) {
		np_err("cannot record '%s' in the link map: %s", ifname,
		       strerror(-err));
		bpf_xdp_detach(ifindex, mode_flags(mode), NULL);
		bpf_map_delete_elem(maps.fd[NP_LINKS], &ifindex);
		bpf_map_delete_elem(maps.fd[NP_EGRESS], &ifindex);
		goto unpin;
	}
	enable_forwarding(ifname);
	np_info("attached to '%s' (program id %u, pins in '%s')", ifname,
		prog_id_of(prog_fd), pin_dir);
	goto out;
unpin:
	/* Nothing half-done: pins made for this attach go with it. */
	if (fresh && (maps.fd[NP_LINKS] < 0 ||
		      links_is_empty(maps.fd[NP_LINKS])))
		np_pins_remove(pin_dir);
out:
	np_maps_close(&maps);
	if (prog_fd >= 0)
		close(prog_fd);
	return err;
}

int np_detach(const char *pin_dir, const char *ifname)
{
	struct np_maps maps = NP_MAPS_NONE;
	__u32 ifindex = if_nametoindex(ifname), attached = 0, ours = 0;
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	char path[PATH_MAX];
	int prog_fd = -1, err;

	if (!ifindex) {
		np_err("no interface '%s'", ifname);
		return -ENODEV;
	}
	err = np_pin_path(path, sizeof(path), pin_dir, NP_PROG_PIN);
	if (err)
		return err;
	prog_fd = bpf_obj_get(path);
	if (prog_fd >= 0)
		ours = prog_id_of(prog_fd);
	err = bpf_xdp_query(ifindex, 0, &query);
	if (err) {
		np_err("cannot query XDP on '%s': %s", ifname, strerror(-err));
		goto out;
	}
	attached = query.prog_id;
	if (!attached) {
		np_err("no XDP program on '%s'", ifname);
		err = -ENOENT;
		goto out;
	}
	if (attached != ours) {
		np_err("'%s' runs XDP program id %u, not natproxy's from '%s'",
		       ifname, attached, pin_dir);
		err = -EPERM;
		goto out;
	}
	opts.old_prog_fd = prog_fd;
	err = bpf_xdp_detach(ifindex,
			     XDP_FLAGS_REPLACE |
				     (query.attach_mode == XDP_ATTACHED_SKB ?
					      XDP_FLAGS_SKB_MODE :
					      XDP_FLAGS_DRV_MODE),
			     &opts);
	if (err) {
		np_err("cannot detach XDP from '%s': %s", ifname,
		       strerror(-err));
		goto out;
	}
	if (!np_maps_open(pin_dir, &maps)) {
		bpf_map_delete_elem(maps.fd[NP_EGRESS], &ifindex);
		bpf_map_delete_elem(maps.fd[NP_LINKS], &ifindex);
		if (links_is_empty(maps.fd[NP_LINKS])) {
			np_pins_remove(pin_dir);
			np_info("detached from '%s', the last interface: pins "
				"removed",
				ifname);
			goto out;
		}
	}
	np_info("detached from '%s'", ifname);
out:
	np_maps_close(&maps);
	if (prog_fd >= 0)
		close(prog_fd);
	return err;
}

/* What the relay was told of the link, and why it cannot send out of it. */
static void attachment_link(struct np_attachment *a, int links_fd,
			    __u8 attach_mode)
{
	struct np_link link = {};
	struct np_link_probe probe;

	a->link_flags = 0;
	a->why_no_xmit[0] = '\0';
	if (links_fd < 0 || bpf_map_lookup_elem(links_fd, &a->ifindex, &link))
		return;
	a->recorded = true;
	a->link_flags = link.flags;
	if (link.flags & NP_LINK_XMIT)
		return;
	if (!np_link_probe(a->ifindex,
			   attach_mode == XDP_ATTACHED_SKB ? NP_XDP_GENERIC :
							     NP_XDP_NATIVE,
			   &probe))
		snprintf(a->why_no_xmit, sizeof(a->why_no_xmit), "%s",
			 probe.flags & NP_LINK_XMIT ?
				 "it can now: natproxyd records that within "
				 "a second" :
				 probe.why_no_xmit);
}

int np_status(const char *pin_dir, __u32 *prog_id, struct np_attachment *out,
	      int max, int *n)
{
	struct if_nameindex *ifs, *it;
	char path[PATH_MAX];
	int prog_fd, links_fd, err;

	*n = 0;
	*prog_id = 0;
	err = np_pin_path(path, sizeof(path), pin_dir, NP_PROG_PIN);
	if (err)
		return err;
	prog_fd = bpf_obj_get(path);
	if (prog_fd < 0)
		return 0;
	*prog_id = prog_id_of(prog_fd);
	close(prog_fd);
	err = np_pin_path(path, sizeof(path), pin_dir, NP_MAP_LINKS);
	links_fd = err ? -1 : bpf_obj_get(path);
	ifs = if_nameindex();
	if (!ifs) {
		err = -errno;
		if (links_fd >= 0)
			close(links_fd);
		return err;
	}
	for (it = ifs; it->if_index && *n < max; it++) {
		LIBBPF_OPTS(bpf_xdp_query_opts, query);

		if (bpf_xdp_query(it->if_index, 0, &query) ||
		    query.prog_id != *prog_id)
			continue;
		snprintf(out[*n].ifname, sizeof(out[*n].ifname), "%s",
			 it->if_name);
		out[*n].ifindex = it->if_index;
		out[*n].mode = query.attach_mode == XDP_ATTACHED_SKB ?
				       "generic" :
				       "native";
		attachment_link(&out[*n], links_fd, query.attach_mode);
		(*n)++;
	}
	if_freenameindex(ifs);
	if (links_fd >= 0)
		close(links_fd);
	return 0;
}
