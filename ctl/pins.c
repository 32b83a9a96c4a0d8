// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pin directory handling: the bpffs check with its advice, paths, opening the
 * pinned maps by their contract names, and removing every pin.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>

#include "log.h"
#include "natproxy.h"
#include "pins.h"

const char *const np_map_names[NP_MAP_COUNT] = {
	[NP_FLOWS4] = NP_MAP_FLOWS4,	 [NP_FLOWS6] = NP_MAP_FLOWS6,
	[NP_COUNTERS] = NP_MAP_COUNTERS,
	[NP_POLICERS] = NP_MAP_POLICERS, [NP_VERDICTS] = NP_MAP_VERDICTS,
	[NP_EGRESS] = NP_MAP_EGRESS,	 [NP_EVENTS] = NP_MAP_EVENTS,
	[NP_SLOTS] = NP_MAP_SLOTS,	 [NP_CLOCK] = NP_MAP_CLOCK,
	[NP_LINKS] = NP_MAP_LINKS,	 [NP_XMIT_DROPS] = NP_MAP_XMIT_DROPS,
	[NP_XMIT_LOG] = NP_MAP_XMIT_LOG,
	[NP_SIG_PORTS] = NP_MAP_SIG_PORTS, [NP_BLOCKED] = NP_MAP_BLOCKED,
	[NP_KNOWN] = NP_MAP_KNOWN,	 [NP_BUCKETS] = NP_MAP_BUCKETS,
	[NP_FLOWARR4] = NP_MAP_FLOWARR4,
	[NP_COLD_SLOTS] = NP_MAP_COLD_SLOTS,
};

int np_pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int on_bpffs(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return -errno;
	return st.f_type == BPF_FS_MAGIC ? 1 : 0;
}

int np_pin_dir_check(const char *dir)
{
	char parent[PATH_MAX];
	int r;

	r = on_bpffs(dir);
	if (r == -ENOENT) {
		snprintf(parent, sizeof(parent), "%s", dir);
		r = on_bpffs(dirname(parent));
		if (r == 1 && mkdir(dir, 0700) && errno != EEXIST) {
			r = -errno;
			np_err("cannot create pin directory '%s': %s", dir,
			       strerror(-r));
			return r;
		}
	}
	if (r == 1)
		return 0;
	if (r < 0 && r != -ENOENT) {
		np_err("cannot check pin directory '%s': %s", dir,
		       strerror(-r));
		return r;
	}
	np_err("pin directory '%s' is not on a bpffs: pins there would vanish "
	       "with this process; mount one first (mount -t bpf bpf DIR, in "
	       "the initial mount namespace when using 'ip netns exec') and "
	       "pass --pin-dir DIR/natproxy",
	       dir);
	return -EMEDIUMTYPE;
}

int np_pin_dir_probe(const char *dir, char *why, size_t len)
{
	char parent[PATH_MAX];
	int r;

	r = on_bpffs(dir);
	if (r == -ENOENT) {
		snprintf(parent, sizeof(parent), "%s", dir);
		r = on_bpffs(dirname(parent));
		if (r == 1 && access(parent, W_OK)) {
			r = -errno;
			snprintf(why, len,
				 "pin directory '%s' cannot be created: %s",
				 dir, strerror(-r));
			return r;
		}
	}
	if (r == 1)
		return 0;
	if (r < 0 && r != -ENOENT) {
		snprintf(why, len, "cannot check pin directory '%s': %s", dir,
			 strerror(-r));
		return r;
	}
	snprintf(why, len,
		 "pin directory '%s' is not on a bpffs (mount -t bpf bpf DIR)",
		 dir);
	return -EMEDIUMTYPE;
}

unsigned int np_map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

int np_maps_open(const char *dir, struct np_maps *maps)
{
	int *fds = maps->fd, i, err = 0;
	char path[PATH_MAX];

	maps->flowarr4 = NULL;
	maps->flowarr4_n = 0;
	maps->cold_slots = NULL;
	maps->cold_slots_n = 0;
	for (i = 0; i < NP_MAP_COUNT; i++)
		fds[i] = -1;
	for (i = 0; i < NP_MAP_COUNT; i++) {
		err = np_pin_path(path, sizeof(path), dir, np_map_names[i]);
		if (err)
			goto fail;
		fds[i] = bpf_obj_get(path);
		if (fds[i] < 0) {
			err = -errno;
			goto fail;
		}
	}
	{
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(fds[NP_SLOTS], &info, &len))
			maps->max_flows = info.max_entries;
	}
	err = np_maps_map_flows(maps);
	if (err) {
		np_err("cannot map '%s' and '%s' into memory: %s",
		       NP_MAP_FLOWARR4, NP_MAP_COLD_SLOTS, strerror(-err));
		np_maps_close(maps);
		return err;
	}
	return 0;
fail:
	if (err == -ENOENT)
		np_err("no natproxy maps under '%s': attach first "
		       "(natproxyctl attach IFACE --pin-dir %s)",
		       dir, dir);
	else
		np_err("cannot open pinned map '%s': %s", path, strerror(-err));
	np_maps_close(maps);
	return err;
}

int np_maps_map_flows(struct np_maps *maps)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	size_t bytes;
	void *mem;

	if (bpf_obj_get_info_by_fd(maps->fd[NP_FLOWARR4], &info, &len))
		return -errno;
	if (info.value_size != sizeof(struct np_flow_entry) ||
	    !info.max_entries || (info.max_entries & (info.max_entries - 1)))
		return -EINVAL;
	bytes = (size_t)info.max_entries * info.value_size;
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		   maps->fd[NP_FLOWARR4], 0);
	if (mem == MAP_FAILED)
		return -errno;
	maps->flowarr4 = mem;
	maps->flowarr4_n = info.max_entries;
	len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(maps->fd[NP_COLD_SLOTS], &info, &len))
		return -errno;
	if (info.value_size != sizeof(__u64) || !info.max_entries)
		return -EINVAL;
	mem = mmap(NULL, (size_t)info.max_entries * sizeof(__u64),
		   PROT_READ | PROT_WRITE, MAP_SHARED, maps->fd[NP_COLD_SLOTS],
		   0);
	if (mem == MAP_FAILED)
		return -errno;
	maps->cold_slots = mem;
	maps->cold_slots_n = info.max_entries;
	return 0;
}

void np_maps_close(struct np_maps *maps)
{
	int *fds = maps->fd, i;

	if (maps->flowarr4)
		munmap(maps->flowarr4, (size_t)maps->flowarr4_n *
					       sizeof(struct np_flow_entry));
	maps->flowarr4 = NULL;
	maps->flowarr4_n = 0;
	if (maps->cold_slots)
		munmap(maps->cold_slots,
		       (size_t)maps->cold_slots_n * sizeof(__u64));
	maps->cold_slots = NULL;
	maps->cold_slots_n = 0;

	for (i = 0; i < NP_MAP_COUNT; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

const char *const np_tracer_names[NP_TRACER_COUNT] = {
	"np_tp_devmap_xmit", "np_tp_redirect_err", "np_tp_bulk_tx",
	"np_tp_exception", "np_tp_kfree_skb",
};

void np_pins_remove(const char *dir)
{
	char path[PATH_MAX];
	int i;

	if (!np_pin_path(path, sizeof(path), dir, NP_PROG_PIN))
		unlink(path);
	for (i = 0; i < NP_TRACER_COUNT; i++)
		if (!np_pin_path(path, sizeof(path), dir, np_tracer_names[i]))
			unlink(path);
	for (i = 0; i < NP_MAP_COUNT; i++)
		if (!np_pin_path(path, sizeof(path), dir, np_map_names[i]))
			unlink(path);
	rmdir(dir);
}

unsigned long long np_map_memlock(int fd)
{
	unsigned long long v = 0;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}
