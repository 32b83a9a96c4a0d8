/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The pin directory: where the relay program and its maps live on a bpffs,
 * so that natproxyctl, natproxyd and bpftool share them and media keeps
 * flowing while no process holds them open.
 */
#ifndef NATPROXY_PINS_H
#define NATPROXY_PINS_H

#include <stddef.h>

#include <linux/types.h>

#define NP_DEFAULT_PIN_DIR "/sys/fs/bpf/natproxy"

enum np_map_id {
	NP_FLOWS4,
	NP_FLOWS6,
	NP_COUNTERS,
	NP_POLICERS,
	NP_VERDICTS,
	NP_EGRESS,
	NP_EVENTS,
	NP_SLOTS,
	NP_CLOCK,
	NP_LINKS,
	NP_XMIT_DROPS,
	NP_XMIT_LOG,
	NP_SIG_PORTS,
	NP_BLOCKED,
	NP_KNOWN,
	NP_BUCKETS,
	NP_FLOWARR4,
	NP_COLD_SLOTS,
	NP_MAP_COUNT
};

/* Descriptors of the pinned maps, by enum np_map_id; -1 where not open. */
struct np_maps {
	int fd[NP_MAP_COUNT];
	/* Flows (and slots) the maps hold; 0 means NP_MAX_FLOWS. */
	unsigned int max_flows;
	/* NP_MAP_FLOWARR4 mapped into memory (struct np_flow_entry[]), its
	 * entries; NULL, 0 until np_maps_map_flows(). */
	void *flowarr4;
	unsigned int flowarr4_n;
	/* NP_MAP_COLD_SLOTS mapped into memory (__u64[], np_cold_word());
	 * NULL, 0 until np_maps_map_flows(). */
	__u64 *cold_slots;
	unsigned int cold_slots_n;
};

/* A struct np_maps with nothing open, for np_maps_close() to be safe on. */
#define NP_MAPS_NONE { .fd = { [0 ... NP_MAP_COUNT - 1] = -1 } }

/* The pinned names, by enum np_map_id. */
extern const char *const np_map_names[NP_MAP_COUNT];

/* The relay's tracepoint programs (see bpf/relay.bpf.c), each attached
 * by a bpf_link pinned under the program's name. */
#define NP_TRACER_COUNT 5
extern const char *const np_tracer_names[NP_TRACER_COUNT];

/*
 * Checks that dir is, or can be created, on a bpffs. Pins anywhere else
 * vanish with the mount namespace of the process that made them (as under
 * `ip netns exec`); this says so and how to fix it. 0 or -errno.
 */
int np_pin_dir_check(const char *dir);
/*
 * The same check without side effects (natproxyd --check): 0 when dir is
 * on a bpffs or could be created on one, else -errno and why in buf.
 */
int np_pin_dir_probe(const char *dir, char *why, size_t len);
/* The kernel's id of the map behind fd; 0 if unknown. */
unsigned int np_map_id(int fd);
int np_pin_path(char *buf, size_t len, const char *dir, const char *name);
/* Opens every pinned map; -ENOENT with a hint when nothing is attached. */
int np_maps_open(const char *dir, struct np_maps *maps);
/* Maps NP_MAP_FLOWARR4 and NP_MAP_COLD_SLOTS (open in fd[NP_FLOWARR4],
 * fd[NP_COLD_SLOTS]) into memory; 0 or -errno. np_maps_open() does it;
 * for maps opened otherwise (tests, benches). */
int np_maps_map_flows(struct np_maps *maps);
/* Closes every descriptor and unmaps the flow array and the cold slots. */
void np_maps_close(struct np_maps *maps);
/* A map's memory as the kernel charges it (fdinfo "memlock"); 0 if unknown. */
unsigned long long np_map_memlock(int fd);
/* Removes the program, link and map pins (detaching the tracepoints),
 * then the directory if empty. */
void np_pins_remove(const char *dir);

#endif
