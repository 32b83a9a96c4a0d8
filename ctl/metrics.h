/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxyd's Prometheus metrics: a snapshot of numbers taken from the
 * proxy (and the relay's verdict counters), and its rendering in the text
 * exposition format 0.0.4. The snapshot is taken and rendered in the
 * daemon's own loop, so nothing here reads the proxy from another thread;
 * rendering is a pure function of the snapshot, tested on its own.
 */
#ifndef NATPROXY_METRICS_H
#define NATPROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

#define NP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct np_metrics_realm {
	char name[NP_REALM_NAME_MAX];
	uint64_t ports, ports_free; /* media relay ports */
	struct np_counters media; /* packets, bytes, drops: live + ended */
	struct np_sip_counters sip; /* the realm's SIP messages */
	struct np_mgcp_counters mgcp; /* its MGCP messages */
	struct np_h248_counters h248; /* its H.248 messages */
	uint64_t latches; /* XDP latch events on its relay ports */
	/* Datagrams its signaling sockets dropped unread (buffers full). */
	uint64_t input_dropped;
	/* The realm's interface (link.h): media leaves it by XDP (else the
	 * kernel forwards it), checksums verified on arrival, and frames
	 * XDP sent out of it that the kernel dropped. */
	bool xmit_by_xdp, verify_checksums;
	uint64_t xmit_drops;
};

struct np_metrics_pair {
	char name[2 * NP_REALM_NAME_MAX]; /* "FIRST/SECOND" */
	uint64_t terminals, registrations, calls_active;
	struct np_pair_counters ctr;
};

/* A cluster node's figures (docs/ha.md); filled by natproxyd. */
struct np_metrics_cluster {
	const char *role, *lease; /* names, as the health file has them */
	const char *const *roles, *const *leases; /* every name of each */
	size_t n_roles, n_leases;
	bool redis_up;
	char redis_master[300]; /* HOST:PORT last connected to; "": none */
	uint64_t queued, queue_high, sent, dropped, refused, connects;
	uint64_t failovers, not_master;
	uint64_t promotions, fencings, demotions, isolations;
	/* The heartbeat with the peer (docs/ha.md, "Two of three"). */
	bool have_peer;
	const char *peer; /* what the peer says, or "unheard" */
	const char *const *peers;
	size_t n_peers;
	uint64_t beats_sent, beats_heard, beats_bad, records_unconfirmed;
	/* Heartbeats refused, by reason (names: refusals). */
	const char *const *refusals;
	size_t n_refusals;
	uint64_t beats_refused[8];
	uint64_t entries_applied, records_bad, calls_copied, calls_taken_over,
		calls_not_taken, resyncs, input_dropped, output_dropped;
	/* A scale-out node's shares (docs/ha.md, "Scale-out"), each its
	 * role and lease; n_shares 0: a pair's node (the figures above). */
	size_t n_shares;
	struct np_metrics_share {
		const char *name, *role, *lease;
		uint64_t taken_over, input_dropped;
	} shares[NP_CLUSTER_SHARES_MAX];
};

struct np_metrics {
	struct np_metrics_realm *realms;
	size_t n_realms;
	struct np_metrics_pair *pairs;
	size_t n_pairs;
	struct np_proxy_stats stats;
	bool have_verdicts;
	__u64 verdicts[NP_V_MAX];
	uint64_t state_saves;
	double state_save_seconds; /* summed over every save */
	/* The charging file's writer (charging_file.h). */
	uint64_t charging_written, charging_pending, charging_failures;
	/* The signaling guard (bpf/guard.h): blocks running in XDP (as of
	 * the last sweep) and mappings it knows. */
	uint64_t guard_blocked, guard_known;
	/* Datagrams the socket lookup dropped over a terminal port's budget
	 * (bpf/siglookup.bpf.c). */
	uint64_t port_over_budget;
	bool have_cluster;
	struct np_metrics_cluster cluster;
};

/* Takes the proxy's figures: the realms' media totals from media
 * (n_realms of them, read off the loop: metrics_read.h), or NULL: read now
 * through the proxy's io. 0 or -ENOMEM. */
int np_metrics_collect(struct np_metrics *m, const struct np_proxy *px,
		       const struct np_counters *media);
void np_metrics_free(struct np_metrics *m);

/*
 * Renders @m as Prometheus text: a malloc'd buffer (free() it) of *len
 * bytes, NUL-terminated, or NULL when out of memory.
 */
char *np_metrics_render(const struct np_metrics *m, size_t *len);

#endif
