/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxyd configuration: the realms (one per network side, each with its
 * address, interface and port ranges), the NAT address pairs that join an
 * access realm to a core realm and name the softswitch behind it, keepalive
 * and charging settings. The parser reads YAML with libyaml, validates
 * everything it can without touching the system, and on error reports one
 * line "FILE:LINE:COLUMN: what is wrong" and leaves the caller's config as
 * it was, so a reload with a broken file keeps the running one.
 */
#ifndef NATPROXY_CTL_CONFIG_H
#define NATPROXY_CTL_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sdp.h" /* enum np_sdp_ice */

#define NP_REALM_NAME_MAX 32
#define NP_IFNAME_MAX 16 /* IFNAMSIZ, with the NUL */
#define NP_PATH_MAX 256

#define NP_DEFAULT_MEDIA_TIMEOUT 60 /* seconds */
#define NP_DEFAULT_KEEPALIVE_INTERVAL 20 /* seconds */
#define NP_DEFAULT_HOLD_TIMEOUT 3600 /* seconds */
#define NP_DEFAULT_H248_PORT 2944 /* RFC 3525 D.1, text encoding */
#define NP_DEFAULT_SIP_PORT_QUARANTINE 300 /* seconds */
#define NP_MAX_HOLD_TIMEOUT 604800 /* a week */
#define NP_MAX_SIP_PORT_QUARANTINE 86400
/* Per-source limits of an access realm (issue 11), defaults a deployment
 * behind carrier-grade NAT can keep: one address may carry hundreds of
 * subscribers, one mapping is one device. */
#define NP_DEFAULT_ADDRESS_RATE 2000 /* SIP datagrams/s from one address */
#define NP_DEFAULT_MAPPING_RATE 500 /* SIP datagrams/s from one IP:port (a PBX) */
#define NP_DEFAULT_TERMINALS_PER_ADDRESS 500
#define NP_DEFAULT_CALLS_PER_TERMINAL 32 /* an IAD with many lines */
#define NP_DEFAULT_TRANSACTIONS_PER_TERMINAL 128 /* waiting for a final response */
#define NP_DEFAULT_RESERVE_PERCENT 10
/* Off: one /24 of carrier-grade NAT addresses can carry tens of
 * thousands of subscribers (docs/deploy.md, "Floods"). */
#define NP_DEFAULT_PREFIX_RATE 0
/* Seconds a source over its limits is dropped in XDP (bpf/guard.h). */
#define NP_DEFAULT_BLOCK_TIME 30
#define NP_MAX_BLOCK_TIME 86400
/* Datagrams/s XDP lets through to an access realm's signaling sockets
 * from sources natproxyd does not know; known ones always pass. */
#define NP_DEFAULT_UNKNOWN_RATE 5000
#define NP_MAX_UNKNOWN_RATE 1000000

union np_inaddr {
	struct in_addr v4;
	struct in6_addr v6;
};

struct np_sockaddr {
	int family; /* AF_INET or AF_INET6 */
	union np_inaddr addr;
	uint16_t port; /* host order; 0 when the address has no port */
};

/* Inclusive; {0, 0} when the key was not given. */
struct np_port_range {
	uint16_t lo, hi;
};

/*
 * How the media relay learns the terminal's NAT mapping (F10), per access
 * realm. Core-side flows latch onto the first packet from anywhere in
 * either latching mode (the far end's media address has no signaling of
 * its own to compare with), and not at all with NP_LATCH_OFF.
 */
enum np_latch_mode {
	/* "first-packet" (default; "restricted" is another name for it):
	 * the first packet from the IP address the terminal's signaling
	 * comes from (its NAT mapping's address), any port, fixes the
	 * return address; packets from other addresses are dropped. */
	NP_LATCH_FIRST_PACKET,
	/* "any" (unsafe: whoever sends first gets the stream until the
	 * terminal's own first packet): the first packet from anywhere
	 * latches; a packet from the signaling address takes over once
	 * from a latch onto another address. For terminals whose media
	 * leaves by another address than their signaling. */
	NP_LATCH_ANY,
	NP_LATCH_OFF, /* send to the SDP address as written */
};

/* The mode's name in the configuration. */
const char *np_latch_mode_name(enum np_latch_mode mode);

/* SIP requests reaching a terminal's core address from anyone but the
 * pair's softswitch (docs/sip.md, "The core side"). */
enum np_core_strangers {
	NP_CORE_STRANGERS_DROP, /* dropped and counted (default) */
	NP_CORE_STRANGERS_REJECT, /* answered 403 */
};

struct np_prefix {
	int family; /* AF_INET or AF_INET6 */
	union np_inaddr addr; /* host bits are zero */
	uint8_t len;
};

struct np_realm {
	char name[NP_REALM_NAME_MAX];
	char interface[NP_IFNAME_MAX];
	struct np_sockaddr address; /* port 0 */
	uint16_t sip_port; /* access socket; 0 if not given */
	/* MGCP access socket, where gateways send (RFC 3435: a call agent
	 * listens on 2727); 0 if not given. */
	uint16_t mgcp_port;
	/* H.248 text access socket, where media gateways send (RFC 3525
	 * D.1: 2944, the default when a pair names an mgc); 0 if none. */
	uint16_t h248_port;
	struct np_port_range sip_ports; /* per-terminal core addresses */
	struct np_port_range media_ports; /* RTP even, RTCP odd */
	enum np_latch_mode latch;
	uint32_t media_timeout; /* seconds */
	int dscp; /* media, 0..63, -1 unset */
	int sip_dscp; /* signaling, 0..63, -1 unset */
	int vlan; /* 802.1Q id 1..4094, 0 none */
	struct np_prefix *allow, *deny;
	size_t n_allow, n_deny;
	uint32_t max_calls; /* 0 = unlimited */
	/* Terminals registered at once from one source address, 0 =
	 * unlimited: a registration flood from one host stops here. */
	uint32_t max_registrations;
	uint32_t max_stream_kbps; /* 0 = unlimited */
	bool deny_drop; /* denied requests: drop silently, else 403 */
	/* ICE in SDP rewritten toward this realm: remove (default) or relay
	 * (np_sdp_relay.ice). */
	enum np_sdp_ice ice;
	/* Seconds a call may stay on hold, replacing media_timeout while it
	 * is held; 0 = no limit. Default NP_DEFAULT_HOLD_TIMEOUT. */
	uint32_t hold_timeout;
	/* For a realm second of a pair: requests on a terminal's core
	 * address from other than the softswitch. */
	enum np_core_strangers core_strangers;
	/* Seconds a released terminal core port (sip_ports) is not given
	 * to another terminal; 0 = reused at once. Default
	 * NP_DEFAULT_SIP_PORT_QUARANTINE. */
	uint32_t sip_port_quarantine;
	/* Per-source limits (0 = none): datagrams per second from one
	 * address and from one mapping, terminals one address may hold,
	 * live calls and open transactions of one terminal; and the share
	 * of signaling and relay ports only known terminals and calls may
	 * take (new ones get 503 before the pools run dry). */
	uint32_t max_address_rate, max_mapping_rate;
	uint32_t max_terminals_per_address;
	uint32_t max_calls_per_terminal, max_transactions_per_terminal;
	uint32_t reserve_percent;
	/* The signaling guard in XDP (bpf/guard.h): datagrams per second
	 * from one /24 or /64 (0 = no limit); seconds a source over a limit
	 * is blocked in XDP (0 = never); the rate and burst of datagrams
	 * from unknown sources let through to the access signaling sockets
	 * (rate 0 = no limit). */
	uint32_t max_prefix_rate;
	uint32_t block_time;
	uint32_t unknown_rate, unknown_burst;
};

/* A NAT address pair: terminals in realm `first` reach the softswitch
 * through realm `second`. */
struct np_pair {
	size_t first, second; /* indexes into np_config.realms */
	struct np_sockaddr softswitch; /* family 0: the pair carries no SIP */
	/* MGCP call agent (RFC 3435), family 0: the pair carries no MGCP. */
	struct np_sockaddr call_agent;
	/* H.248 media gateway controller (RFC 3525), family 0: none. */
	struct np_sockaddr mgc;
	/* Gone from the file at a reload: no new terminals, registrations
	 * or calls; live ones finish (never set by the parser). */
	bool draining;
};

enum np_keepalive_method {
	NP_KEEPALIVE_OPTIONS, /* SIP OPTIONS request */
	NP_KEEPALIVE_CRLF, /* RFC 5626 double CRLF ping */
};

/*
 * High availability (docs/ha.md): this node's name, the peer it takes
 * over from, and the Redis that carries the state between them: one
 * Redis (redis), or the Redis Sentinels that name the master of a
 * replicated Redis (sentinels, master). Off (np_cluster_on() false)
 * unless the file has a cluster section.
 */
#define NP_CLUSTER_NAME_MAX 64
#define NP_CLUSTER_SENTINELS_MAX 8
#define NP_CLUSTER_SHARES_MAX 16
#define NP_CLUSTER_MEMBERS_MAX 16

/* One share of a scale-out cluster (docs/ha.md, "Scale-out"): its lease's
 * name and its realms (bit i: realms[i]), the virtual addresses keepalived
 * moves together; the other nodes that take part in it (bit i:
 * cluster.members[i]), whose heartbeats count for it. */
struct np_cluster_share {
	char name[NP_CLUSTER_NAME_MAX];
	uint64_t realms;
	uint32_t members;
};

/* Another node of a scale-out cluster, for the heartbeat: its name and
 * where it hears heartbeats (its own core address). */
struct np_cluster_member {
	char node[NP_CLUSTER_NAME_MAX];
	struct np_sockaddr heartbeat;
};
#define NP_HEARTBEAT_KEY_MIN 32 /* bytes: HMAC-SHA256's own size */
#define NP_HEARTBEAT_KEY_MAX 256
struct np_cluster_config {
	struct np_sockaddr redis; /* family 0: through sentinels, or no Redis */
	/* Asked in order for master's address (docs/ha.md, "Sentinel"). */
	struct np_sockaddr sentinels[NP_CLUSTER_SENTINELS_MAX];
	size_t n_sentinels;
	char master[NP_CLUSTER_NAME_MAX]; /* the name the sentinels monitor */
	char node[NP_CLUSTER_NAME_MAX]; /* this node: its stream's name */
	char peer[NP_CLUSTER_NAME_MAX]; /* whose stream a standby follows */
	char share[NP_CLUSTER_NAME_MAX]; /* the lease's name */
	uint32_t lease_ms; /* the lease's time to live */
	uint32_t queue; /* records held while Redis is away */
	/* The heartbeat between the nodes (ctl/cluster/peer.c): where this
	 * node hears the others (its own core address) and, for a pair,
	 * where the peer hears it (scale-out: members). family 0: none, and
	 * an active node that loses Redis stops acting when its lease could
	 * have lapsed. */
	struct np_sockaddr heartbeat, peer_heartbeat;
	/* Scale-out: the shares this node takes part in (n_shares 0: one
	 * share of every realm, the pair's layout: share, peer). */
	struct np_cluster_share shares[NP_CLUSTER_SHARES_MAX];
	size_t n_shares;
	/* Scale-out with a heartbeat (heartbeat set): the other nodes of
	 * this node's shares. */
	struct np_cluster_member members[NP_CLUSTER_MEMBERS_MAX];
	size_t n_members;
	/* The heartbeat's MAC key (ctl/cluster/beat.h), read from the file
	 * heartbeat_key names; length 0: no key, heartbeats unauthenticated. */
	unsigned char heartbeat_key[NP_HEARTBEAT_KEY_MAX];
	size_t heartbeat_key_len;
};

/* Whether this node is part of a cluster (a cluster section). */
static inline bool np_cluster_on(const struct np_cluster_config *c)
{
	return c->redis.family || c->n_sentinels;
}

#define NP_DEFAULT_LEASE_MS 1500
#define NP_DEFAULT_CLUSTER_QUEUE 100000

struct np_config {
	struct np_realm *realms;
	size_t n_realms;
	struct np_pair *pairs;
	size_t n_pairs;
	enum np_keepalive_method keepalive_method;
	uint32_t keepalive_interval; /* seconds, 1..3600 */
	char charging_file[NP_PATH_MAX]; /* "" = no charging records */
	/* Where the Prometheus endpoint listens; family 0: no endpoint. */
	struct np_sockaddr metrics_listen;
	struct np_cluster_config cluster;
};

/*
 * Read and validate the YAML file at @path into @cfg. Returns 0, or a
 * negative errno with a one-line message in @err (-EINVAL for a bad file,
 * the open/read error otherwise). @cfg is only written on success; free
 * it with np_config_free().
 */
int np_config_load(const char *path, struct np_config *cfg, char *err,
		   size_t errlen);

/* Same, from @len bytes at @text; @name is used in messages only. */
int np_config_parse(const char *name, const char *text, size_t len,
		    struct np_config *cfg, char *err, size_t errlen);

/*
 * How many flows the relay's maps should hold for @cfg: one per media relay
 * port of every realm, twice over for the static flows an operator adds,
 * as a power of two between 1024 and @limit.
 */
uint32_t np_config_max_flows(const struct np_config *cfg, uint32_t limit);

/* Release what np_config_load/parse allocated; safe on a zeroed config. */
void np_config_free(struct np_config *cfg);

/* The realm called @name, or NULL. */
const struct np_realm *np_config_realm(const struct np_config *cfg,
				       const char *name);

/* Whether @a lies inside @p; an IPv4-mapped IPv6 address matches IPv4
 * prefixes, since dual-stack sockets report IPv4 peers that way. */
bool np_prefix_match(const struct np_prefix *p, const struct np_sockaddr *a);

/* Access control (claim 10) of a realm for a source: deny wins; a
 * non-empty allow list admits only its prefixes. */
bool np_realm_admits(const struct np_realm *r, const struct np_sockaddr *src);

#endif
