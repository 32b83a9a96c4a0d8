// SPDX-License-Identifier: GPL-2.0-only
/*
 * natproxyctl, the operator's tool: attach and detach the XDP relay, show
 * its status, list flows with their counters, and add or delete static flow
 * entries, list the sources the signaling guard blocks and end a block
 * early. Subcommands come from one table; every one takes --pin-dir,
 * --json and --help. Exit codes: 0 success, 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "cli.h"
#include "flowtab.h"
#include "guard.h"
#include "json.h"
#include "link.h"
#include "loader.h"
#include "log.h"
#include "natproxy.h"
#include "pins.h"
#include "state.h"

#define EXIT_USAGE 2

struct ctl {
	const char *pin_dir;
	const char *state; /* natproxyd's state file */
	bool json;
};

struct command {
	const char *name;
	const char *usage;
	bool needs_root;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

static const char *const verdict_names[] = {
	NP_VERDICTS(NP_NAME_ENTRY)
};
static const char *const drop_names[] = { NP_DROP_REASONS(NP_NAME_ENTRY) };

static const struct command *command_find(const char *name);

static int usage_error(const struct command *cmd, const char *what)
{
	fprintf(stderr, "natproxyctl%s%s: %s\nusage: natproxyctl %s\n",
		*cmd->name ? " " : "", cmd->name, what, cmd->usage);
	return EXIT_USAGE;
}

/* Reports a failure in the chosen format; the log already has the text. */
static int fail(const struct ctl *ctl, int err)
{
	if (ctl->json) {
		const char *msg = np_log_last_error();

		printf("{\"error\": ");
		json_str(stdout, *msg ? msg : strerror(-err));
		printf("}\n");
	}
	return 1;
}

static int ok_json(const struct ctl *ctl, const char *what, const char *name)
{
	if (ctl->json) {
		printf("{\"ok\": true, ");
		json_str(stdout, what);
		printf(": ");
		json_str(stdout, name);
		printf("}\n");
	}
	return 0;
}

static const char *mode_arg;
static __u32 max_flows_arg; /* 0: NP_MAX_FLOWS */

static int cmd_attach(struct ctl *ctl, int argc, char **argv)
{
	enum np_xdp_mode mode = NP_XDP_NATIVE;
	int err;

	if (argc != 1)
		return usage_error(command_find("attach"), "one interface");
	if (mode_arg && !strcmp(mode_arg, "generic"))
		mode = NP_XDP_GENERIC;
	else if (mode_arg && strcmp(mode_arg, "native"))
		return usage_error(command_find("attach"),
				   "--mode is native or generic");
	err = np_attach(ctl->pin_dir, argv[0], mode, max_flows_arg);
	return err ? fail(ctl, err) : ok_json(ctl, "attached", argv[0]);
}

static int cmd_detach(struct ctl *ctl, int argc, char **argv)
{
	int err;

	if (argc != 1)
		return usage_error(command_find("detach"), "one interface");
	err = np_detach(ctl->pin_dir, argv[0]);
	return err ? fail(ctl, err) : ok_json(ctl, "detached", argv[0]);
}

/* Probes the attached interfaces again (natproxyd does so every second). */
static int cmd_refresh(struct ctl *ctl, int argc, char **argv)
{
	struct np_maps maps;
	int err;

	(void)argv;
	if (argc)
		return usage_error(command_find("refresh"), "no arguments");
	err = np_maps_open(ctl->pin_dir, &maps);
	if (err)
		return fail(ctl, err);
	err = np_links_refresh(maps.fd[NP_LINKS], maps.fd[NP_EGRESS],
			       maps.fd[NP_XMIT_DROPS]);
	np_maps_close(&maps);
	if (err < 0)
		return fail(ctl, err);
	if (ctl->json)
		printf("{\"changed\": %d}\n", err);
	return 0;
}

static int count_flow(const struct np_flow_key *key, const struct np_flow *flow,
		      const struct np_counters *c, void *arg)
{
	(void)key, (void)flow, (void)c;
	++*(long *)arg;
	return 0;
}

/* How media leaving by the interface goes: by XDP, or forwarded by the
 * kernel (see NP_LINK_XMIT). */
static const char *media_out(const struct np_attachment *a)
{
	if (!a->recorded)
		return "unknown";
	return a->link_flags & NP_LINK_XMIT ? "xdp" : "kernel";
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct np_attachment att[NP_MAX_IFACES];
	__u64 verdicts[NP_V_MAX] = {};
	struct np_maps maps;
	long flows = 0;
	__u32 prog_id;
	int n, i, err;

	(void)argv;
	if (argc)
		return usage_error(command_find("status"), "no arguments");
	err = np_status(ctl->pin_dir, &prog_id, att, NP_MAX_IFACES, &n);
	if (err)
		return fail(ctl, err);
	if (prog_id && !np_maps_open(ctl->pin_dir, &maps)) {
		np_verdicts_read(&maps, verdicts);
		np_flow_foreach(&maps, count_flow, &flows);
		np_maps_close(&maps);
	}
	if (ctl->json) {
		printf("{\"pin_dir\": ");
		json_str(stdout, ctl->pin_dir);
		printf(", \"loaded\": %s, \"program_id\": %u, \"flows\": %ld, "
		       "\"interfaces\": [",
		       prog_id ? "true" : "false", prog_id, flows);
		for (i = 0; i < n; i++) {
			printf("%s{\"name\": ", i ? ", " : "");
			json_str(stdout, att[i].ifname);
			printf(", \"ifindex\": %u, \"mode\": \"%s\", "
			       "\"media_out\": \"%s\", \"verify_checksums\": %s, "
			       "\"xmit_drops\": %llu, \"why_kernel\": ",
			       att[i].ifindex, att[i].mode, media_out(&att[i]),
			       att[i].link_flags & NP_LINK_VERIFY_CSUM ?
				       "true" :
				       "false",
			       (unsigned long long)att[i].xmit_drops);
			json_str(stdout, att[i].why_no_xmit);
			printf("}");
		}
		printf("], \"verdicts\": {");
		for (i = 0; i < NP_V_MAX; i++)
			printf("%s\"%s\": %llu", i ? ", " : "",
			       verdict_names[i], (unsigned long long)verdicts[i]);
		printf("}}\n");
		return 0;
	}
	if (!prog_id) {
		printf("not loaded (no program pinned in '%s')\n",
		       ctl->pin_dir);
		return 0;
	}
	printf("program id %u, pins in '%s', %ld flows\n", prog_id,
	       ctl->pin_dir, flows);
	printf("%-16s %-8s %-8s %-10s %-10s %s\n", "INTERFACE", "IFINDEX",
	       "MODE", "MEDIA-OUT", "CHECKSUMS", "XMIT-DROPS");
	for (i = 0; i < n; i++) {
		printf("%-16s %-8u %-8s %-10s %-10s %llu\n", att[i].ifname,
		       att[i].ifindex, att[i].mode, media_out(&att[i]),
		       att[i].link_flags & NP_LINK_VERIFY_CSUM ? "verified" :
								 "updated",
		       (unsigned long long)att[i].xmit_drops);
		if (att[i].why_no_xmit[0])
			printf("  %s: XDP cannot send out of it: %s\n",
			       att[i].ifname, att[i].why_no_xmit);
	}
	printf("%-26s %s\n", "VERDICT", "PACKETS");
	for (i = 0; i < NP_V_MAX; i++)
		printf("%-26s %llu\n", verdict_names[i],
		       (unsigned long long)verdicts[i]);
	return 0;
}

static void flags_str(__u32 flags, char *buf, size_t len)
{
	static const char *const names[] = { "latch-pending", "strict",
					     "restricted", "rtcp-mux",
					     "dscp", "reverse", "hairpin",
					     "csum-verify", "takeover",
					     "rtcp-follows" };
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & (1u << i))
			used += snprintf(buf + used, len - used, "%s%s",
					 used ? "," : "", names[i]);
	if (!used)
		snprintf(buf, len, "-");
}

static void key_endpoint(const struct np_flow_key *key, struct np_endpoint *ep)
{
	ep->family = key->family;
	ep->addr = key->addr;
	ep->port = key->port;
}

static void flow_endpoint(__u8 family, const union np_addr *a, __be16 port,
			  struct np_endpoint *ep)
{
	ep->family = family;
	ep->addr = *a;
	ep->port = port;
}

static double age_seconds(__u64 ns)
{
	struct timespec now;

	if (!ns)
		return -1;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return ((__u64)now.tv_sec * 1000000000ull + now.tv_nsec - ns) / 1e9;
}

static int print_flow(const struct np_flow_key *key, const struct np_flow *f,
		      const struct np_counters *c, void *arg)
{
	char local[NP_ENDPOINT_STRLEN], src[NP_ENDPOINT_STRLEN],
		dst[NP_ENDPOINT_STRLEN], expect[NP_ENDPOINT_STRLEN],
		home[NP_ENDPOINT_STRLEN], flags[128];
	const struct ctl *ctl = arg;
	struct np_endpoint ep;
	__u64 drops = 0;
	int i;

	key_endpoint(key, &ep);
	np_endpoint_str(&ep, local, sizeof(local));
	flow_endpoint(key->family, &f->new_saddr, f->new_sport, &ep);
	np_endpoint_str(&ep, src, sizeof(src));
	flow_endpoint(key->family, &f->new_daddr, f->new_dport, &ep);
	np_endpoint_str(&ep, dst, sizeof(dst));
	flow_endpoint(key->family, &f->expect_saddr, f->expect_sport, &ep);
	np_endpoint_str(&ep, expect, sizeof(expect));
	flow_endpoint(key->family, &f->home_saddr, 0, &ep);
	np_endpoint_str(&ep, home, sizeof(home));
	flags_str(f->flags, flags, sizeof(flags));
	for (i = 0; i < NP_DROP_MAX; i++)
		drops += c->drops[i];

	if (!ctl->json) {
		printf("%-22s %-22s %-22s %-28s %10llu %12llu %8llu\n", local,
		       src, dst, flags, (unsigned long long)c->packets,
		       (unsigned long long)c->bytes,
		       (unsigned long long)drops);
		return 0;
	}
	printf("{\"local\": \"%s\", \"src\": \"%s\", \"dst\": \"%s\", "
	       "\"expect\": \"%s\", \"home\": \"%s\", \"flags\": \"%s\", "
	       "\"egress_ifindex\": %u, "
	       "\"dscp\": %u, \"vlan_action\": %u, \"vlan_id\": %u, "
	       "\"rate_bytes\": %llu, \"burst_bytes\": %llu, ",
	       local, src, dst, expect, home, flags, f->egress_ifindex, f->dscp,
	       f->vlan_action, f->vlan_id, (unsigned long long)f->rate_bytes,
	       (unsigned long long)f->burst_bytes);
	printf("\"packets\": %llu, \"bytes\": %llu, \"rtcp_packets\": %llu, "
	       "\"to_kernel\": %llu, \"drops\": {",
	       (unsigned long long)c->packets, (unsigned long long)c->bytes,
	       (unsigned long long)c->rtcp_packets,
	       (unsigned long long)c->to_kernel);
	for (i = 0; i < NP_DROP_MAX; i++)
		printf("%s\"%s\": %llu", i ? ", " : "", drop_names[i],
		       (unsigned long long)c->drops[i]);
	printf("}, \"first_seen_ago\": %.3f, \"last_seen_ago\": %.3f}\n",
	       age_seconds(c->first_seen_ns), age_seconds(c->last_seen_ns));
	return 0;
}

/* --json prints one object per line (JSON lines), easy to grep and parse. */
static int cmd_flows(struct ctl *ctl, int argc, char **argv)
{
	struct np_maps maps;
	int err;

	(void)argv;
	if (argc)
		return usage_error(command_find("flows"), "no arguments");
	err = np_maps_open(ctl->pin_dir, &maps);
	if (err)
		return fail(ctl, err);
	if (!ctl->json)
		printf("%-22s %-22s %-22s %-28s %10s %12s %8s\n", "LOCAL",
		       "SRC", "DST", "FLAGS", "PACKETS", "BYTES", "DROPS");
	err = np_flow_foreach(&maps, print_flow, ctl);
	np_maps_close(&maps);
	return err ? fail(ctl, err) : 0;
}

/* What a flow needs for the interface its relay address is on: checksums
 * verified where partial ones can arrive (the link map, see link.h). */
static __u32 arrival_flags(const struct np_maps *maps,
			   const struct np_flow_key *key)
{
	__u32 ifindex = np_addr_ifindex(key->family, &key->addr);
	struct np_link link;

	if (!ifindex ||
	    bpf_map_lookup_elem(maps->fd[NP_LINKS], &ifindex, &link))
		return 0;
	return link.flags & NP_LINK_VERIFY_CSUM ? NP_F_CSUM_VERIFY : 0;
}

/* Options of "flow add", gathered by getopt in main. */
static struct flow_args {
	const char *src, *dst, *expect, *reverse, *egress, *vlan;
	long dscp;
	unsigned long long rate, burst;
	bool strict, latch, restricted, rtcp_mux;
} fa = { .dscp = -1 };

static int parse_local(const struct command *cmd, const char *text,
		       struct np_flow_key *key)
{
	struct np_endpoint ep;

	if (np_endpoint_parse(text, false, &ep))
		return usage_error(cmd, "LOCAL is ADDR:PORT");
	memset(key, 0, sizeof(*key));
	key->family = ep.family;
	key->addr = ep.addr;
	key->port = ep.port;
	return 0;
}

static int build_flow(const struct command *cmd, const struct np_flow_key *key,
		      struct np_flow *f)
{
	struct np_endpoint ep;

	memset(f, 0, sizeof(*f));
	if (!fa.src || np_endpoint_parse(fa.src, false, &ep) ||
	    ep.family != key->family)
		return usage_error(cmd, "--src ADDR:PORT of LOCAL's family");
	f->new_saddr = ep.addr;
	f->new_sport = ep.port;
	/* Without --dst the flow waits for its reverse to latch. */
	if (fa.dst) {
		if (np_endpoint_parse(fa.dst, false, &ep) ||
		    ep.family != key->family)
			return usage_error(cmd, "--dst ADDR:PORT of LOCAL's family");
		f->new_daddr = ep.addr;
		f->new_dport = ep.port;
		/* Another relay of ours: the fast path relays it again at
		 * once, and looks there only for flows marked so. */
		if (np_addr_is_local(ep.family, &ep.addr))
			f->flags |= NP_F_HAIRPIN;
	}
	if (fa.expect) {
		if (np_endpoint_parse(fa.expect, true, &ep) ||
		    ep.family != key->family)
			return usage_error(cmd, "--expect ADDR[:PORT]");
		f->expect_saddr = ep.addr;
		f->expect_sport = ep.port;
	}
	if (fa.reverse) {
		if (np_endpoint_parse(fa.reverse, false, &ep) ||
		    ep.family != key->family)
			return usage_error(cmd, "--reverse ADDR:PORT");
		f->reverse.family = ep.family;
		f->reverse.addr = ep.addr;
		f->reverse.port = ep.port;
		f->flags |= NP_F_HAS_REVERSE;
	}
	if (fa.egress) {
		f->egress_ifindex = if_nametoindex(fa.egress);
		if (!f->egress_ifindex)
			return usage_error(cmd, "--egress names no interface");
	}
	if (fa.dscp >= 0) {
		if (fa.dscp > 63)
			return usage_error(cmd, "--dscp is 0..63");
		f->dscp = (__u8)fa.dscp;
		f->flags |= NP_F_SET_DSCP;
	}
	if (fa.vlan && !strcmp(fa.vlan, "strip")) {
		f->vlan_action = NP_VLAN_STRIP;
	} else if (fa.vlan) {
		char *end;
		long id = strtol(fa.vlan, &end, 10);

		if (*end || id < 1 || id > 4094)
			return usage_error(cmd, "--vlan is 1..4094 or strip");
		f->vlan_action = NP_VLAN_SET;
		f->vlan_id = (__u16)id;
	}
	if (fa.restricted && !fa.expect)
		return usage_error(cmd, "--restricted needs --expect ADDR");
	f->flags |= (fa.latch || fa.restricted ? NP_F_LATCH_PENDING : 0) |
		    (fa.restricted ? NP_F_LATCH_RESTRICTED : 0) |
		    (fa.strict ? NP_F_STRICT_SOURCE : 0) |
		    (fa.rtcp_mux ? NP_F_RTCP_MUX : 0);
	if (fa.strict && !fa.expect && !f->flags)
		return usage_error(cmd, "--strict needs --expect or --latch");
	f->rate_bytes = fa.rate;
	/* Default depth: 100 ms at the rate, at least one full-size packet. */
	f->burst_bytes = fa.burst ? fa.burst : fa.rate / 10;
	if (fa.rate && f->burst_bytes < 1514)
		f->burst_bytes = 1514;
	return 0;
}

static int cmd_flow(struct ctl *ctl, int argc, char **argv)
{
	const struct command *cmd = command_find("flow");
	struct np_counters last;
	struct np_flow_key key;
	struct np_maps maps;
	struct np_flow flow;
	int err;

	if (argc != 2 || (strcmp(argv[0], "add") && strcmp(argv[0], "del")))
		return usage_error(cmd, "flow add|del LOCAL");
	err = parse_local(cmd, argv[1], &key);
	if (err)
		return err;
	if (!strcmp(argv[0], "add")) {
		err = build_flow(cmd, &key, &flow);
		if (err)
			return err;
	}
	err = np_maps_open(ctl->pin_dir, &maps);
	if (err)
		return fail(ctl, err);
	if (!strcmp(argv[0], "add")) {
		flow.flags |= arrival_flags(&maps, &key);
		err = np_flow_install(&maps, &key, &flow);
		if (err)
			np_err("cannot install flow '%s': %s", argv[1],
			       strerror(-err));
	} else {
		err = np_flow_remove(&maps, &key, &last);
		if (err)
			np_err("cannot delete flow '%s': %s", argv[1],
			       err == -ENOENT ? "no such flow" :
						strerror(-err));
	}
	np_maps_close(&maps);
	if (err)
		return fail(ctl, err);
	if (!strcmp(argv[0], "del") && ctl->json)
		printf("{\"deleted\": \"%s\", \"packets\": %llu, \"bytes\": "
		       "%llu}\n",
		       argv[1], (unsigned long long)last.packets,
		       (unsigned long long)last.bytes);
	else if (!strcmp(argv[0], "add"))
		ok_json(ctl, "added", argv[1]);
	return 0;
}

/* "calls": live calls from natproxyd's state file, volumes from the maps. */
struct calls_ctx {
	const struct ctl *ctl;
	struct np_maps maps;
	struct np_sockaddr access, core, nat;
	long n;
};

/* RTP and RTCP of one relay side, summed. */
static void relay_volume(const struct calls_ctx *cc,
			 const struct np_sockaddr *side, uint16_t port,
			 struct np_counters *sum)
{
	struct np_flow_key key;
	struct np_counters c;
	int part, i;

	for (part = 0; part < 2; part++) {
		np_flow_key_make(&key, side->family, &side->addr, port + part);
		if (np_counters_read(&cc->maps, &key, &c))
			continue;
		sum->packets += c.packets;
		sum->bytes += c.bytes;
		for (i = 0; i < NP_DROP_MAX; i++)
			sum->drops[i] += c.drops[i];
	}
}

static int calls_term(void *arg, const struct np_term *t,
		      const struct np_sockaddr *access,
		      const struct np_sockaddr *core)
{
	struct calls_ctx *cc = arg;

	cc->access = *access;
	cc->core = *core;
	cc->nat = t->nat;
	return 0;
}

/* A gateway's calls are listed as a terminal's. */
static int calls_gw(void *arg, const char *driver, const struct np_term *t,
		    const struct np_sockaddr *access,
		    const struct np_sockaddr *core, const char *data)
{
	(void)driver, (void)data;
	return calls_term(arg, t, access, core);
}

static int calls_leg(void *arg, const struct np_call *leg);

static int calls_gw_call(void *arg, const struct np_call *leg,
			 const char *data)
{
	(void)data;
	return calls_leg(arg, leg);
}

static int calls_leg(void *arg, const struct np_call *leg)
{
	struct calls_ctx *cc = arg;
	char nat[INET6_ADDRSTRLEN];
	struct timespec now;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	inet_ntop(cc->nat.family, &cc->nat.addr, nat, sizeof(nat));
	if (cc->ctl->json) {
		printf("{\"call_id\": ");
		json_str(stdout, leg->id);
		printf(", \"terminal\": \"%s:%u\", \"direction\": \"%s\", "
		       "\"answered\": %s, \"age\": %lld, \"from\": ",
		       nat, cc->nat.port, leg->outgoing ? "outgoing" : "incoming",
		       leg->answered ? "true" : "false",
		       (long long)(now.tv_sec - leg->started));
		json_str(stdout, leg->from);
		printf(", \"to\": ");
		json_str(stdout, leg->to);
		printf(", \"streams\": [");
	} else {
		char term[INET6_ADDRSTRLEN + 8];

		snprintf(term, sizeof(term), "%s:%u", nat, cc->nat.port);
		printf("%-40s %-22s %-8s %6llds\n", leg->id, term,
		       leg->outgoing ? "out" : "in",
		       (long long)(now.tv_sec - leg->started));
	}
	for (i = 0; i < leg->n_streams; i++) {
		const struct np_stream *s = &leg->streams[i];
		struct np_counters up = {}, down = {};

		if (s->active) {
			relay_volume(cc, &cc->access, s->access_port, &up);
			relay_volume(cc, &cc->core, s->core_port, &down);
		}
		up.packets += leg->gone_up[i].packets;
		up.bytes += leg->gone_up[i].bytes;
		down.packets += leg->gone_down[i].packets;
		down.bytes += leg->gone_down[i].bytes;
		if (cc->ctl->json)
			printf("%s{\"index\": %zu, \"access_port\": %u, "
			       "\"core_port\": %u, \"from_terminal\": "
			       "{\"packets\": %llu, \"bytes\": %llu}, "
			       "\"to_terminal\": {\"packets\": %llu, "
			       "\"bytes\": %llu}}",
			       i ? ", " : "", i, s->access_port, s->core_port,
			       (unsigned long long)up.packets,
			       (unsigned long long)up.bytes,
			       (unsigned long long)down.packets,
			       (unsigned long long)down.bytes);
		else
			printf("    stream %zu relays %u/%u: from terminal %llu "
			       "packets %llu bytes, to it %llu packets %llu "
			       "bytes\n",
			       i, s->access_port, s->core_port,
			       (unsigned long long)up.packets,
			       (unsigned long long)up.bytes,
			       (unsigned long long)down.packets,
			       (unsigned long long)down.bytes);
	}
	if (cc->ctl->json)
		printf("]}\n");
	cc->n++;
	return 0;
}

static int cmd_calls(struct ctl *ctl, int argc, char **argv)
{
	static const struct np_state_visit visit = { .term = calls_term,
						     .leg = calls_leg,
						     .gw = calls_gw,
						     .gw_call = calls_gw_call };
	struct calls_ctx cc = { .ctl = ctl };
	int err;

	(void)argv;
	if (argc)
		return usage_error(command_find("calls"), "no arguments");
	err = np_maps_open(ctl->pin_dir, &cc.maps);
	if (err)
		return fail(ctl, err);
	if (!ctl->json)
		printf("%-40s %-22s %-8s %7s\n", "CALL-ID", "TERMINAL", "DIR",
		       "AGE");
	err = np_state_read(ctl->state, &visit, &cc);
	np_maps_close(&cc.maps);
	if (err == -ENOENT)
		return 0; /* no state yet: no calls */
	if (err) {
		np_err("cannot read state file '%s': %s", ctl->state,
		       strerror(-err));
		return fail(ctl, err);
	}
	return 0;
}

/* "blocks": the sources the signaling guard drops, with the time left. */
struct blocks_ctx {
	const struct ctl *ctl;
	uint64_t now_ns;
};

static int print_block(const struct np_source_key *key,
		       const struct np_block *block, void *arg)
{
	const struct blocks_ctx *bc = arg;
	char source[NP_ENDPOINT_STRLEN];
	unsigned long long left;

	if (block->until_ns <= bc->now_ns)
		return 0; /* ended: XDP passes it, natproxyd deletes it */
	/* Whole seconds, rounded up: "0" would read as not blocked. */
	left = (block->until_ns - bc->now_ns + 999999999ull) / 1000000000ull;
	np_source_str(key, source, sizeof(source));
	if (bc->ctl->json)
		printf("{\"kind\": \"%s\", \"source\": \"%s\", "
		       "\"seconds_left\": %llu}\n",
		       np_source_kind(key), source, left);
	else
		printf("%-8s %-46s %7llus\n", np_source_kind(key), source, left);
	return 0;
}

/* --json prints one object per line, as "flows" does. */
static int cmd_blocks(struct ctl *ctl, int argc, char **argv)
{
	struct blocks_ctx bc = { .ctl = ctl };
	struct np_maps maps;
	int err;

	(void)argv;
	if (argc)
		return usage_error(command_find("blocks"), "no arguments");
	err = np_maps_open(ctl->pin_dir, &maps);
	if (err)
		return fail(ctl, err);
	if (!ctl->json)
		printf("%-8s %-46s %8s\n", "KIND", "SOURCE", "LEFT");
	bc.now_ns = np_guard_now_ns();
	err = np_guard_blocks_foreach(&maps, NP_MAX_BLOCKED, print_block, &bc);
	np_maps_close(&maps);
	if (err) {
		np_err("cannot read the block list: %s", strerror(-err));
		return fail(ctl, err);
	}
	return 0;
}

/* "unblock": ends one block now (a customer blocked by mistake). */
static int cmd_unblock(struct ctl *ctl, int argc, char **argv)
{
	char source[NP_ENDPOINT_STRLEN];
	struct np_source_key key;
	struct np_maps maps;
	int err;

	if (argc != 1)
		return usage_error(command_find("unblock"), "one SOURCE");
	if (np_source_parse(argv[0], &key))
		return usage_error(command_find("unblock"),
				   "SOURCE is ADDR, ADDR:PORT, or a prefix "
				   "ADDR/24 (IPv4) or ADDR/64 (IPv6)");
	np_source_str(&key, source, sizeof(source));
	err = np_maps_open(ctl->pin_dir, &maps);
	if (err)
		return fail(ctl, err);
	err = np_guard_unblock(&maps, &key, np_guard_now_ns());
	np_maps_close(&maps);
	if (err == -ENOENT)
		np_err("%s '%s' is not blocked (natproxyctl blocks lists "
		       "what is)",
		       np_source_kind(&key), source);
	else if (err)
		np_err("cannot unblock '%s': %s", source, strerror(-err));
	if (err)
		return fail(ctl, err);
	/* Said back, host bits cleared: what was ended, not what was typed. */
	if (ctl->json)
		printf("{\"unblocked\": \"%s\", \"kind\": \"%s\"}\n", source,
		       np_source_kind(&key));
	else
		printf("unblocked %s %s\n", np_source_kind(&key), source);
	return 0;
}

/* A number after "NAME": in a health file's JSON; 0 if absent. */
static double health_num(const char *text, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\": ", name);
	p = strstr(text, key);
	return p ? strtod(p + strlen(key), NULL) : 0;
}

#define HEALTH_STALE 3 /* s without an update: natproxyd is stuck or gone */

/* "health": a cluster node's health as natproxyd last wrote it beside its
 * state file (docs/ha.md), or one share's of a scale-out node (health
 * SHARE: STATE.SHARE.health, one VRRP instance's track_script per share);
 * keepalived's track_script. 0: natproxyd runs,
 * wrote it within HEALTH_STALE seconds, and is neither fenced nor
 * isolated (keepalived then moves the addresses away from it). */
static int cmd_health(struct ctl *ctl, int argc, char **argv)
{
	char path[PATH_MAX + 16], text[2048], why[PATH_MAX + 64] = "";
	struct timespec now;
	size_t n = 0;
	double age;
	FILE *f;
	int pid;

	if (argc > 1)
		return usage_error(command_find("health"),
				   "one argument at most: the share");
	if (argc)
		snprintf(path, sizeof(path), "%s.%.64s.health", ctl->state,
			 argv[0]);
	else
		snprintf(path, sizeof(path), "%s.health", ctl->state);
	f = fopen(path, "re");
	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	pid = (int)health_num(text, "pid");
	age = now.tv_sec + now.tv_nsec / 1e9 - health_num(text, "time");
	if (!f)
		snprintf(why, sizeof(why), "no health file '%s'", path);
	else if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		snprintf(why, sizeof(why), "natproxyd (pid %d) is not running",
			 pid);
	else if (age > HEALTH_STALE)
		snprintf(why, sizeof(why), "not updated for %.1fs", age);
	else if (strstr(text, "\"role\": \"fenced\""))
		snprintf(why, sizeof(why), "fenced: another node holds the "
					    "lease");
	else if (strstr(text, "\"role\": \"isolated\""))
		snprintf(why, sizeof(why), "isolated: neither redis nor the "
					    "peer node reachable");
	if (ctl->json) {
		printf("{\"healthy\": %s, \"why\": ", *why ? "false" : "true");
		json_str(stdout, why);
		printf(", \"node\": %s}\n", n ? text : "null");
	} else {
		printf("%s%s%s", *why ? "unhealthy: " : "healthy: ", why,
		       *why ? "\n" : "");
		if (!*why)
			fputs(text, stdout);
	}
	return *why ? 1 : 0;
}

static const struct command commands[] = {
	{ "attach",
	  "attach IFACE [--mode native|generic] [--max-flows N] [--pin-dir DIR] "
	  "[--json]",
	  true, cmd_attach },
	{ "detach", "detach IFACE [--pin-dir DIR] [--json]", true, cmd_detach },
	{ "status", "status [--pin-dir DIR] [--json]", true, cmd_status },
	{ "refresh", "refresh [--pin-dir DIR] [--json]", true, cmd_refresh },
	{ "flows", "flows [--pin-dir DIR] [--json]", true, cmd_flows },
	{ "blocks", "blocks [--pin-dir DIR] [--json]", true, cmd_blocks },
	{ "unblock", "unblock SOURCE [--pin-dir DIR] [--json]", true,
	  cmd_unblock },
	{ "calls", "calls [--state FILE] [--pin-dir DIR] [--json]", true,
	  cmd_calls },
	{ "health", "health [SHARE] [--state FILE] [--pin-dir DIR] [--json]",
	  false,
	  cmd_health },
	{ "flow",
	  "flow add LOCAL --src ADDR:PORT [--dst ADDR:PORT] [--expect "
	  "ADDR[:PORT]] [--latch] [--restricted] [--strict] [--reverse "
	  "ADDR:PORT] [--rtcp-mux] [--dscp N] [--vlan ID|strip] [--egress "
	  "IFACE] [--rate BYTES/S] [--burst BYTES] [--pin-dir DIR] [--json]\n"
	  "       natproxyctl flow del LOCAL [--pin-dir DIR] [--json]",
	  true, cmd_flow },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *command_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  natproxyctl %s\n", commands[i].usage);
	fprintf(f, "The pin directory defaults to %s.\n", NP_DEFAULT_PIN_DIR);
}

static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *s == '-' || !*s ? -EINVAL : 0;
}

enum { OPT_SRC = 256, OPT_DST, OPT_EXPECT, OPT_REVERSE, OPT_EGRESS, OPT_VLAN,
       OPT_DSCP, OPT_RATE, OPT_BURST, OPT_STRICT, OPT_LATCH, OPT_RESTRICTED,
       OPT_RTCP_MUX, OPT_MODE, OPT_PIN_DIR, OPT_JSON, OPT_STATE,
       OPT_MAX_FLOWS, OPT_VERSION };

static const struct option options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dst", required_argument, NULL, OPT_DST },
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "reverse", required_argument, NULL, OPT_REVERSE },
	{ "egress", required_argument, NULL, OPT_EGRESS },
	{ "vlan", required_argument, NULL, OPT_VLAN },
	{ "dscp", required_argument, NULL, OPT_DSCP },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "latch", no_argument, NULL, OPT_LATCH },
	{ "restricted", no_argument, NULL, OPT_RESTRICTED },
	{ "rtcp-mux", no_argument, NULL, OPT_RTCP_MUX },
	{ NULL, 0, NULL, 0 },
};

/* Applies one option; 0, or an exit code. */
static int apply_option(struct ctl *ctl, const struct command *cmd, int opt)
{
	unsigned long long v;

	switch (opt) {
	case OPT_PIN_DIR: ctl->pin_dir = optarg; break;
	case OPT_JSON: ctl->json = true; break;
	case OPT_STATE: ctl->state = optarg; break;
	case OPT_MODE: mode_arg = optarg; break;
	case OPT_MAX_FLOWS:
		if (parse_u64(optarg, &v) || !v || v > NP_MAX_FLOWS)
			return usage_error(cmd, "--max-flows is 1..1048576");
		max_flows_arg = (__u32)v;
		break;
	case OPT_SRC: fa.src = optarg; break;
	case OPT_DST: fa.dst = optarg; break;
	case OPT_EXPECT: fa.expect = optarg; break;
	case OPT_REVERSE: fa.reverse = optarg; break;
	case OPT_EGRESS: fa.egress = optarg; break;
	case OPT_VLAN: fa.vlan = optarg; break;
	case OPT_STRICT: fa.strict = true; break;
	case OPT_LATCH: fa.latch = true; break;
	case OPT_RESTRICTED: fa.restricted = true; break;
	case OPT_RTCP_MUX: fa.rtcp_mux = true; break;
	case OPT_DSCP:
		if (parse_u64(optarg, &v) || v > 63)
			return usage_error(cmd, "--dscp is 0..63");
		fa.dscp = (long)v;
		break;
	case OPT_RATE:
		if (parse_u64(optarg, &fa.rate))
			return usage_error(cmd, "--rate is bytes/s");
		break;
	case OPT_BURST:
		if (parse_u64(optarg, &fa.burst))
			return usage_error(cmd, "--burst is bytes");
		break;
	default:
		return usage_error(cmd, "unknown option");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { .pin_dir = NP_DEFAULT_PIN_DIR };
	char state[PATH_MAX];
	static const struct command top = { "", "COMMAND ...", false, NULL };
	const struct command *cmd;
	char text[128];
	int opt, err;

	np_log_set_ident("natproxyctl");
	/* Options may come before the command too ("+": stop at it; ":":
	 * getopt's own messages off, ours below). */
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == OPT_VERSION) {
			printf("natproxyctl %s\n", np_version);
			return 0;
		}
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "natproxyctl: %s\n",
				np_opt_error(text, sizeof(text), opt, argv));
			usage(stderr);
			return EXIT_USAGE;
		}
		err = apply_option(&ctl, &top, opt);
		if (err)
			return err;
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = command_find(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "natproxyctl: unknown command '%s'\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0; /* 0, not 1: GNU getopt re-reads its ordering mode */
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == 'h') {
			printf("usage: natproxyctl %s\n", cmd->usage);
			return 0;
		}
		if (opt == '?' || opt == ':')
			return usage_error(cmd, np_opt_error(text, sizeof(text),
							     opt, argv));
		if (opt == OPT_VERSION) {
			printf("natproxyctl %s\n", np_version);
			return 0;
		}
		err = apply_option(&ctl, cmd, opt);
		if (err)
			return err;
	}
	if (cmd->needs_root && geteuid() != 0) {
		np_err("natproxyctl %s needs root (CAP_BPF and CAP_NET_ADMIN)",
		       cmd->name);
		return fail(&ctl, -EPERM);
	}
	/* natproxyd's default state file follows its pin directory. */
	if (!ctl.state) {
		ctl.state = NP_DEFAULT_STATE;
		if (!np_state_default_path(ctl.pin_dir, state, sizeof(state)))
			ctl.state = state;
	}
	np_log_route_libbpf();
	return cmd->run(&ctl, argc - optind, argv + optind);
}
