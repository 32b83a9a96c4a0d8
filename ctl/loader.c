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
#include <stdbool.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
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
		skel->maps.np_flows4_v6, skel->maps.np_flows6_v6,
		skel->maps.np_counters_v4, skel->maps.np_slots_v1,
		skel->maps.np_police_v1,
	};
	__u32 indexed = 1;
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(per_flow) / sizeof(per_flow[0]) && !err; i++)
		err = bpf_map__set_max_entries(per_flow[i], max_flows);
	/* The array is indexed by masking (np_flow4_index): a power of two,
	 * no more entries than slots, as an array flow's slot is its index. */
	while (indexed <= max_flows / 2)
		indexed *= 2;
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.np_coldslots_v1,
					       np_cold_word(max_flows - 1) + 1);
	return err ? err :
		     bpf_map__set_max_entries(skel->maps.np_flowarr4_v2,
					      indexed);
}

/*
 * Attaches the tracepoints that count frames lost after the relay sent
 * them; each link is pinned, so they stay attached with the relay and go
 * when np_pins_remove() unlinks them.
 */
static int attach_tracers(struct bpf_object *obj, const char *pin_dir)
{
	struct bpf_program *prog;
	struct bpf_link *link;
	char path[PATH_MAX];
	int i, err;

	for (i = 0; i < NP_TRACER_COUNT; i++) {
		prog = bpf_object__find_program_by_name(obj,
							np_tracer_names[i]);
		if (!prog)
			return -ENOENT;
		link = bpf_program__attach(prog);
		err = libbpf_get_error(link);
		if (err) {
			np_err("cannot attach '%s': %s", np_tracer_names[i],
			       strerror(-err));
			return err;
		}
		err = np_pin_path(path, sizeof(path), pin_dir,
				  np_tracer_names[i]);
		if (!err)
			err = bpf_link__pin(link, path);
		bpf_link__destroy(link);
		if (err) {
			np_err("cannot pin '%s': %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif

/* For the relay's tracer of the packets the kernel dropped here (0 turns
 * it off). */
__u64 np_this_netns_cookie(void)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
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
		/* .rodata: the program's constants, its own. */
		if (bpf_map__is_internal(map))
			continue;
		err = np_pin_path(path, sizeof(path), pin_dir,
				  bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto out;
	}
	skel->rodata->np_netns_cookie = np_this_netns_cookie();
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
	err = attach_tracers(skel->obj, pin_dir);
	if (err)
		goto out;
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

/* Writes "1" to the sysctl file PATH; 0 or -errno. */
static int sysctl_on(const char *path)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs("1\n", f) < 0)
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static bool sysctl_is_on(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = 0;

	if (!f)
		return false;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v != 0;
}

/*
 * Lets the kernel forward what the relay hands it (no neighbour yet) and
 * lets bpf_fib_lookup run: both need forwarding on the ingress device, and
 * the rewritten source is one of our own addresses. Only this interface's
 * switches: net.ipv6.conf.all.forwarding would turn off router
 * advertisements on every interface of the host. ip6_forward() checks "all"
 * unless the interface has force_forwarding (Linux 6.17); on an older
 * kernel IPv6 relaying through the kernel needs the operator to set "all".
 */
static void enable_forwarding(const char *ifname)
{
	static const char *const knobs[] = {
		"/proc/sys/net/ipv4/conf/%s/forwarding",
		"/proc/sys/net/ipv4/conf/%s/accept_local",
		"/proc/sys/net/ipv6/conf/%s/forwarding",
	};
	char path[PATH_MAX];
	size_t i;
	int err;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(path, sizeof(path), knobs[i], ifname);
		err = sysctl_on(path);
		if (err)
			np_warn("cannot set '%s': %s", path, strerror(-err));
	}
	snprintf(path, sizeof(path),
		 "/proc/sys/net/ipv6/conf/%s/force_forwarding", ifname);
	err = sysctl_on(path);
	if (err == -ENOENT &&
	    !sysctl_is_on("/proc/sys/net/ipv6/conf/all/forwarding"))
		np_warn("this kernel has no per-interface IPv6 forwarding "
			"(net.ipv6.conf.%s.force_forwarding, Linux 6.17): IPv6 "
			"media the relay hands to the kernel is not forwarded "
			"unless net.ipv6.conf.all.forwarding=1, which natproxy "
			"leaves to the operator (it stops router advertisements "
			"on every interface)", ifname);
	else if (err && err != -ENOENT)
		np_warn("cannot set '%s': %s", path, strerror(-err));
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
		bpf_map_delete_elem(maps.fd[NP_XMIT_DROPS], &ifindex);
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

/* A pinned map of the directory, -1 if there is none. */
static int pinned_map(const char *pin_dir, const char *name)
{
	char path[PATH_MAX];

	return np_pin_path(path, sizeof(path), pin_dir, name) ? -1 :
								bpf_obj_get(path);
}

/* What the relay was told of the link, why it cannot send out of it, and
 * what was lost when it did. */
static void attachment_link(struct np_attachment *a, int links_fd,
			    int drops_fd, __u8 attach_mode)
{
	struct np_link link = {};
	struct np_link_probe probe;

	a->link_flags = 0;
	a->why_no_xmit[0] = '\0';
	a->xmit_drops = 0;
	if (drops_fd >= 0)
		bpf_map_lookup_elem(drops_fd, &a->ifindex, &a->xmit_drops);
	if (links_fd < 0 || bpf_map_lookup_elem(links_fd, &a->ifindex, &link))
		return;
	a->recorded = true;
	a->link_flags = link.flags;
	if (link.flags & NP_LINK_XMIT)
		return;
	if (link.flags & NP_LINK_XMIT_FAILED)
		snprintf(a->why_no_xmit, sizeof(a->why_no_xmit),
			 "frames XDP sent out of it were dropped (attach it "
			 "again to retry)");
	else if (!np_link_probe(a->ifindex,
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
	int prog_fd, links_fd, drops_fd, err;

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
	links_fd = pinned_map(pin_dir, NP_MAP_LINKS);
	drops_fd = pinned_map(pin_dir, NP_MAP_XMIT_DROPS);
	ifs = if_nameindex();
	if (!ifs) {
		err = -errno;
		goto out;
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
		attachment_link(&out[*n], links_fd, drops_fd,
				query.attach_mode);
		(*n)++;
	}
	if_freenameindex(ifs);
	err = 0;
out:
	if (links_fd >= 0)
		close(links_fd);
	if (drops_fd >= 0)
		close(drops_fd);
	return err;
}
