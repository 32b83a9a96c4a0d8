/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps of the XDP relay, as the contract in include/natproxy.h names and
 * types them. ctl/ pins them (by name) in the pin directory and writes flows;
 * the program reads flows and writes their counters, next hops and latch
 * state, the cold counters, policers and latch events.
 */
#ifndef NATPROXY_BPF_MAPS_H
#define NATPROXY_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "natproxy.h"

/*
 * IPv4 flows by np_flow4_index(): the relay finds a flow with no hash and
 * no bucket. Sized by ctl/ to a power of two; mmapable, so ctl/ writes and
 * reads entries in place, without a system call.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NP_MAX_FLOWS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct np_flow_entry);
} np_flowarr4_v2 SEC(".maps");

/* IPv4 flows whose index another flow holds: allocated as they come, as
 * few as the ports in use collide. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct np_flow_key4);
	__type(value, struct np_flow_entry);
} np_flows4_v6 SEC(".maps");

/* Allocated per flow: memory for IPv6 only where there are IPv6 flows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct np_flow_key);
	__type(value, struct np_flow_entry);
} np_flows6_v6 SEC(".maps");

/*
 * By slot: an array lookup the verifier inlines, no second hash lookup.
 * Only for what the flow entry does not count (see struct np_counters):
 * a packet relayed by its owner CPU never looks here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NP_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct np_counters);
} np_counters_v4 SEC(".maps");

/* Slots whose cold counters count something (np_cold_bit()): sized by
 * ctl/ to a word per 64 slots; mmapable, read by ctl/ in place. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NP_MAX_FLOWS / 64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} np_coldslots_v1 SEC(".maps");

/*
 * Slot ownership, for ctl/ only: slot -> the flow key holding it. Claimed
 * with BPF_NOEXIST, so two processes installing flows at once never share a
 * slot, and pinned, so ownership survives a daemon restart. Entries are
 * allocated on claim: only live flows take memory.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct np_flow_key);
} np_slots_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_FLOWS);
	__type(key, struct np_flow_key);
	__type(value, struct np_police);
} np_police_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NP_V_MAX);
	__type(key, __u32);
	__type(value, __u64);
} np_verdicts_v3 SEC(".maps");

/* Interfaces the relay may send out of, by XDP_TX or redirect: those of
 * np_links_v1 with NP_LINK_XMIT. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, NP_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
} np_egress_v1 SEC(".maps");

/* The interfaces the relay is attached to and what each can do; the
 * registry of attachments for ctl/. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct np_link);
} np_links_v1 SEC(".maps");

/*
 * Frames the kernel dropped after the relay sent them (a driver or veth
 * that could not take them), by the interface they were to leave by,
 * counted from the xdp tracepoints when the driver refused them (err): the
 * flows get theirs back from np_xmitlog_v1 for every drop.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u64);
} np_xmitdrop_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct np_clock);
} np_clock_v1 SEC(".maps");

/* What this CPU's relay sent and the kernel has not flushed yet, for the
 * tracers that take dropped frames back off their flows (np_xmit_log). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct np_xmit_log);
} np_xmitlog_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} np_events_v1 SEC(".maps");

/* The signaling guard's maps (bpf/guard.h), written by natproxyd. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_SIG_PORTS);
	__type(key, struct np_flow_key);
	__type(value, struct np_sig_port);
} np_sigports_v1 SEC(".maps");

/* LRU: a flood of blocks cannot fill it; the oldest block goes first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NP_MAX_BLOCKED);
	__type(key, struct np_source_key);
	__type(value, struct np_block);
} np_blocked_v1 SEC(".maps");

/* Allocated per entry: memory only for the terminals there are. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_MAX_KNOWN);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct np_source_key);
	__type(value, struct np_known);
} np_known_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NP_MAX_BUCKETS);
	__type(key, __u32);
	__type(value, struct np_sig_bucket);
} np_buckets_v1 SEC(".maps");

#endif
