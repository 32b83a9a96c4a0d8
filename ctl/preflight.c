// SPDX-License-Identifier: GPL-2.0-only
/*
 * natproxyd's checks before a start or a reload, without side effects: the
 * interfaces, the addresses, the pin directory, the files it writes and
 * the owner of the state file. Each problem is one line for the operator.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "loader.h"
#include "pins.h"
#include "preflight.h"
#include "state.h"

#define WHY_MAX (PATH_MAX + 256)

struct report {
	np_problem_fn fn;
	void *arg;
	int n;
};

__attribute__((format(printf, 2, 3))) static void problem(struct report *r,
							  const char *fmt, ...)
{
	char text[WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r->fn(r->arg, text);
	r->n++;
}

int np_writable(const char *what, const char *path, char *why, size_t len)
{
	char dir[PATH_MAX], parent[PATH_MAX];
	struct stat st;
	int err;

	if (!stat(path, &st)) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(why, len, "%s '%s' is a directory", what, path);
			return -EISDIR;
		}
		if (access(path, W_OK)) {
			err = -errno;
			snprintf(why, len, "%s '%s' cannot be written: %s",
				 what, path, strerror(-err));
			return err;
		}
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (!stat(dir, &st)) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, len, "%s '%s': '%s' is not a directory",
				 what, path, dir);
			return -ENOTDIR;
		}
		if (access(dir, W_OK)) {
			err = -errno;
			snprintf(why, len,
				 "%s '%s' cannot be created in '%s': %s", what,
				 path, dir, strerror(-err));
			return err;
		}
		return 0;
	}
	err = errno;
	/* natproxyd makes the last directory, as a service's
	 * StateDirectory would be; no more. */
	snprintf(parent, sizeof(parent), "%s", dir);
	dirname(parent);
	if (err == ENOENT && !stat(parent, &st) && S_ISDIR(st.st_mode) &&
	    !access(parent, W_OK))
		return 0;
	snprintf(why, len, "%s '%s': directory '%s' does not exist", what,
		 path, dir);
	return -ENOENT;
}

int np_make_parent(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (mkdir(dir, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool address_is_local(const struct np_sockaddr *a,
			     const struct ifaddrs *ifs)
{
	const struct ifaddrs *it;

	for (it = ifs; it; it = it->ifa_next) {
		if (!it->ifa_addr || it->ifa_addr->sa_family != a->family)
			continue;
		if (a->family == AF_INET &&
		    ((const struct sockaddr_in *)it->ifa_addr)->sin_addr.s_addr ==
			    a->addr.v4.s_addr)
			return true;
		if (a->family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)it->ifa_addr)->sin6_addr,
			    &a->addr.v6, sizeof(a->addr.v6)))
			return true;
	}
	return false;
}

static void check_realms(const struct np_config *cfg, const char *pin_dir,
			 struct report *r)
{
	struct np_attachment att[1];
	struct ifaddrs *ifs = NULL;
	char addr[INET6_ADDRSTRLEN];
	__u32 ours = 0, prog_id;
	unsigned int ifindex;
	size_t i, j;
	int n;

	/* Our program, if pinned: an interface running it is fine. */
	if (np_status(pin_dir, &ours, att, 0, &n))
		ours = 0;
	if (getifaddrs(&ifs))
		ifs = NULL;
	for (i = 0; i < cfg->n_realms; i++) {
		const struct np_realm *rl = &cfg->realms[i];

		inet_ntop(rl->address.family, &rl->address.addr, addr,
			  sizeof(addr));
		/* A cluster node's addresses are virtual: keepalived puts
		 * them on the node that acts (docs/ha.md). */
		if (ifs && !np_cluster_on(&cfg->cluster) &&
		    !address_is_local(&rl->address, ifs))
			problem(r, "realm '%s': address %s is not an address "
				   "of this host",
				rl->name, addr);
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->realms[j].interface, rl->interface))
				break;
		if (j < i)
			continue; /* its interface was checked already */
		ifindex = if_nametoindex(rl->interface);
		if (!ifindex) {
			problem(r, "realm '%s': no interface '%s'", rl->name,
				rl->interface);
			continue;
		}
		if (!bpf_xdp_query_id((int)ifindex, 0, &prog_id) && prog_id &&
		    prog_id != ours)
			problem(r, "realm '%s': interface '%s' runs another "
				   "XDP program (id %u)",
				rl->name, rl->interface, prog_id);
	}
	if (ifs)
		freeifaddrs(ifs);
}

static void check_state(const char *state_path, const char *pin_dir,
			struct report *r)
{
	struct np_state_owner saved, ours = {};
	char why[WHY_MAX];
	int err;

	if (np_writable("state file", state_path, why, sizeof(why)))
		problem(r, "%s", why);
	err = np_state_owner_read(state_path, &saved);
	if (err == -ENOENT || err == -ENODATA)
		return;
	/* Damaged: not a reason to stay down. natproxyd keeps it aside, its
	 * flows too, and rebuilds what it can (ctl/core/recover.c). */
	if (err == -EINVAL)
		return;
	if (err) {
		problem(r, "cannot read state file '%s': %s", state_path,
			strerror(-err));
		return;
	}
	np_state_owner_dir(pin_dir, ours.pin_dir, sizeof(ours.pin_dir));
	if (np_state_owner_match(&saved, &ours) == NP_STATE_OTHER)
		problem(r, "state file '%s' belongs to the natproxyd with pins "
			   "in '%s', not '%s': pass --state",
			state_path, saved.pin_dir, ours.pin_dir);
}

int np_preflight(const struct np_config *cfg, const char *pin_dir,
		 const char *state_path, np_problem_fn fn, void *arg)
{
	struct report r = { fn, arg, 0 };
	char why[WHY_MAX];

	check_realms(cfg, pin_dir, &r);
	if (np_pin_dir_probe(pin_dir, why, sizeof(why)))
		problem(&r, "%s", why);
	if (cfg->charging_file[0] &&
	    np_writable("charging file", cfg->charging_file, why, sizeof(why)))
		problem(&r, "%s", why);
	if (state_path)
		check_state(state_path, pin_dir, &r);
	return r.n;
}
