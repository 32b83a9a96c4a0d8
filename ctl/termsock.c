// SPDX-License-Identifier: GPL-2.0-only
/*
 * The terminals' core signaling ports on one socket per realm (termsock.h).
 * Receiving: the socket-lookup program assigns datagrams for the ports in
 * its map to the realm's UDP socket, bound to the realm's address (any
 * port); IP_ORIGDSTADDR tells which port each was for. Sending: a raw UDP
 * socket per realm, bound to the same address, given the UDP header built
 * here: the kernel adds the IP header and fragments what is larger than
 * the path, as for a UDP socket. The raw socket never reads: a filter that
 * keeps nothing, since a raw UDP socket is offered every UDP datagram to
 * its address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "natproxy.h"
#include "siglookup.h"
#include "siglookup.skel.h"
#include "termsock.h"

#define UDP_HDR 8

struct term_realm {
	int recv_fd, raw_fd; /* -1 until the realm's first port */
	struct np_sockaddr addr;
	uint8_t open[65536 / 8]; /* bit per port */
};

struct np_termsock {
	struct siglookup_bpf *skel;
	struct bpf_link *link;
	int netns_fd;
	bool freebind;
	struct term_realm realms[NP_SIG_MAX_REALMS];
	unsigned char frame[UDP_HDR + 65536];
};

void np_sigsock_options(int fd, const struct np_realm *r, bool freebind,
			int rcvbuf)
{
	bool v6 = r->address.family == AF_INET6;
	int one = 1, bufsize = NP_SIG_SOCKBUF;

	if (freebind)
		setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			   v6 ? IPV6_FREEBIND : IP_FREEBIND, &one, sizeof(one));
	/* One thread reads every SIP socket: a burst (or a moment without
	 * the CPU) must wait in the socket, not be dropped by the kernel.
	 * The default (net.core.rmem_default, 208 KiB) holds about a hundred
	 * datagrams; past net.core.rmem_max only root may go (FORCE). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Answers to on-link sources that never answer ARP (spoofed ones)
	 * wait in the neighbour queue, charged to this socket, for seconds:
	 * with the default buffer a flood of them leaves no room to answer
	 * a real terminal (EAGAIN). */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof(bufsize)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	if (r->sip_dscp >= 0) {
		int tos = r->sip_dscp << 2;

		if (v6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos,
				   sizeof(tos));
		else
			setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	}
}

int np_termsock_start(struct np_termsock **out, bool freebind)
{
	struct np_termsock *ts = calloc(1, sizeof(*ts));
	int err;

	if (!ts)
		return -ENOMEM;
	ts->netns_fd = -1;
	ts->freebind = freebind;
	for (size_t i = 0; i < NP_SIG_MAX_REALMS; i++)
		ts->realms[i].recv_fd = ts->realms[i].raw_fd = -1;
	ts->skel = siglookup_bpf__open();
	if (!ts->skel) {
		err = -errno;
		goto fail;
	}
	/* Every port of every realm, allocated as they open. */
	bpf_map__set_max_entries(ts->skel->maps.np_term_ports,
				 65536 * NP_SIG_MAX_REALMS);
	err = siglookup_bpf__load(ts->skel);
	if (err)
		goto fail;
	ts->netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ts->netns_fd < 0) {
		err = -errno;
		goto fail;
	}
	ts->link = bpf_program__attach_netns(ts->skel->progs.np_siglookup,
					     ts->netns_fd);
	if (!ts->link) {
		err = -errno;
		goto fail;
	}
	*out = ts;
	return 0;
fail:
	np_termsock_stop(ts);
	return err ? err : -EINVAL;
}

void np_termsock_stop(struct np_termsock *ts)
{
	if (!ts)
		return;
	bpf_link__destroy(ts->link);
	siglookup_bpf__destroy(ts->skel);
	for (size_t i = 0; i < NP_SIG_MAX_REALMS; i++) {
		if (ts->realms[i].recv_fd >= 0)
			close(ts->realms[i].recv_fd);
		if (ts->realms[i].raw_fd >= 0)
			close(ts->realms[i].raw_fd);
	}
	if (ts->netns_fd >= 0)
		close(ts->netns_fd);
	free(ts);
}

static int bind_realm(int fd, const struct np_realm *r)
{
	struct sockaddr_storage ss;
	struct np_sockaddr a = r->address;
	socklen_t len;

	a.port = 0;
	len = np_sockaddr_to(&a, &ss);
	return bind(fd, (struct sockaddr *)&ss, len) ? -errno : 0;
}

/* The raw socket: sends, reads nothing. */
static int open_raw(const struct np_realm *r, bool freebind)
{
	static struct sock_filter keep_nothing[] = { { BPF_RET | BPF_K, 0, 0, 0 } };
	struct sock_fprog prog = { 1, keep_nothing };
	int fd, err, csum_at = 6;

	fd = socket(r->address.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	np_sigsock_options(fd, r, freebind, 1); /* the kernel's least */
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    /* IPv6: the kernel sums the UDP checksum at this offset. */
	    (r->address.family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &csum_at,
			sizeof(csum_at)))) {
		err = -errno;
		goto fail;
	}
	err = bind_realm(fd, r);
	if (err)
		goto fail;
	return fd;
fail:
	close(fd);
	return err;
}

/* The receiving socket, in the lookup's socket map at index realm. */
static int open_recv(struct np_termsock *ts, size_t realm,
		     const struct np_realm *r)
{
	bool v6 = r->address.family == AF_INET6;
	int fd, err, one = 1;
	__u32 key = realm;
	__u64 value;

	fd = socket(r->address.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	np_sigsock_options(fd, r, ts->freebind, NP_SIG_REALM_RCVBUF);
	if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
		       v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR, &one,
		       sizeof(one))) {
		err = -errno;
		goto fail;
	}
	err = bind_realm(fd, r);
	if (err)
		goto fail;
	value = (__u64)fd;
	if (bpf_map_update_elem(bpf_map__fd(ts->skel->maps.np_term_socks), &key,
				&value, BPF_ANY)) {
		err = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

static void port_key(const struct term_realm *tr, uint16_t port,
		     struct np_term_port_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = tr->addr.family == AF_INET6 ? NP_AF_INET6 : NP_AF_INET;
	key->port = port;
	memcpy(key->addr, &tr->addr.addr, tr->addr.family == AF_INET6 ? 16 : 4);
}

int np_termsock_open(struct np_termsock *ts, size_t realm,
		     const struct np_realm *r, uint16_t port, int *new_fd)
{
	struct term_realm *tr;
	struct np_term_port_key key;
	struct np_term_port value = { .realm = realm };
	int fd;

	*new_fd = -1;
	if (realm >= NP_SIG_MAX_REALMS)
		return -ERANGE;
	tr = &ts->realms[realm];
	if (tr->open[port / 8] & (1u << (port % 8)))
		return 0;
	if (tr->recv_fd < 0) {
		fd = open_raw(r, ts->freebind);
		if (fd < 0)
			return fd;
		tr->raw_fd = fd;
		fd = open_recv(ts, realm, r);
		if (fd < 0) {
			close(tr->raw_fd);
			tr->raw_fd = -1;
			return fd;
		}
		tr->recv_fd = fd;
		tr->addr = r->address;
		*new_fd = fd;
	}
	port_key(tr, port, &key);
	if (bpf_map_update_elem(bpf_map__fd(ts->skel->maps.np_term_ports), &key,
				&value, BPF_ANY))
		return -errno;
	tr->open[port / 8] |= 1u << (port % 8);
	return 0;
}

void np_termsock_close(struct np_termsock *ts, size_t realm, uint16_t port)
{
	struct np_term_port_key key;
	struct term_realm *tr;

	if (!np_termsock_is_open(ts, realm, port))
		return;
	tr = &ts->realms[realm];
	port_key(tr, port, &key);
	bpf_map_delete_elem(bpf_map__fd(ts->skel->maps.np_term_ports), &key);
	tr->open[port / 8] &= ~(1u << (port % 8));
}

bool np_termsock_is_open(const struct np_termsock *ts, size_t realm,
			 uint16_t port)
{
	return ts && realm < NP_SIG_MAX_REALMS &&
	       (ts->realms[realm].open[port / 8] & (1u << (port % 8)));
}

bool np_termsock_serves(const struct np_termsock *ts, size_t realm)
{
	return ts && realm < NP_SIG_MAX_REALMS;
}

int np_termsock_recv_fd(const struct np_termsock *ts, size_t realm)
{
	return ts && realm < NP_SIG_MAX_REALMS ? ts->realms[realm].recv_fd : -1;
}

/* RFC 768: the ones' complement sum of the pseudo-header and datagram. */
static uint16_t udp4_checksum(const struct in_addr *src,
			      const struct in_addr *dst,
			      const unsigned char *dgram, size_t len)
{
	uint64_t sum = 0;
	const unsigned char *s = (const void *)src, *d = (const void *)dst;
	size_t i;

	sum += (s[0] << 8 | s[1]) + (s[2] << 8 | s[3]);
	sum += (d[0] << 8 | d[1]) + (d[2] << 8 | d[3]);
	sum += IPPROTO_UDP + len;
	for (i = 0; i + 1 < len; i += 2)
		sum += dgram[i] << 8 | dgram[i + 1];
	if (len & 1)
		sum += dgram[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	return sum ? sum : 0xffff; /* 0 would say "no checksum" */
}

int np_termsock_frame(struct np_termsock *ts, size_t realm, uint16_t port,
		      const struct np_sockaddr *to, const void *buf, size_t len,
		      int *fd, const void **frame, size_t *frame_len,
		      struct sockaddr_storage *dst, socklen_t *dst_len)
{
	struct term_realm *tr;
	unsigned char *f = ts->frame;
	struct np_sockaddr raw_to = *to;
	size_t n = UDP_HDR + len;

	if (!np_termsock_is_open(ts, realm, port))
		return -EBADF;
	tr = &ts->realms[realm];
	if (to->family != tr->addr.family)
		return -EAFNOSUPPORT;
	if (n > sizeof(ts->frame) || n > 65535)
		return -EMSGSIZE;
	f[0] = port >> 8, f[1] = port & 0xff;
	f[2] = to->port >> 8, f[3] = to->port & 0xff;
	f[4] = n >> 8, f[5] = n & 0xff;
	f[6] = f[7] = 0; /* IPv6: the kernel's (IPV6_CHECKSUM) */
	memcpy(f + UDP_HDR, buf, len);
	if (to->family == AF_INET) {
		uint16_t c = udp4_checksum(&tr->addr.addr.v4, &to->addr.v4, f, n);

		f[6] = c >> 8, f[7] = c & 0xff;
	}
	/* A raw socket's port is its protocol: 0 for its own. */
	raw_to.port = 0;
	*dst_len = np_sockaddr_to(&raw_to, dst);
	*fd = tr->raw_fd;
	*frame = f;
	*frame_len = n;
	return 0;
}

static void peer_key(const struct np_sockaddr *a, struct np_term_peer_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = a->family == AF_INET6 ? NP_AF_INET6 : NP_AF_INET;
	memcpy(key->addr, &a->addr, a->family == AF_INET6 ? 16 : 4);
}

int np_termsock_peers(struct np_termsock *ts, const struct np_config *cfg)
{
	int fd = bpf_map__fd(ts->skel->maps.np_term_peers), err = 0;
	struct np_term_peer_key key, next;
	__u8 one = 1;
	size_t i, k;

	/* The old set goes first: a reload may have dropped a peer. */
	while (!bpf_map_get_next_key(fd, NULL, &next))
		if (bpf_map_delete_elem(fd, &next))
			break;
	for (i = 0; i < cfg->n_pairs; i++) {
		const struct np_sockaddr *peers[] = { &cfg->pairs[i].softswitch,
						      &cfg->pairs[i].call_agent,
						      &cfg->pairs[i].mgc };

		for (k = 0; k < sizeof(peers) / sizeof(peers[0]); k++) {
			if (!peers[k]->family)
				continue;
			peer_key(peers[k], &key);
			if (bpf_map_update_elem(fd, &key, &one, BPF_ANY))
				err = -errno;
		}
	}
	return err;
}

uint64_t np_termsock_over_budget(const struct np_termsock *ts)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = NP_SIG_OVER_BUDGET;
	uint64_t sum = 0;
	__u64 *v;

	if (!ts || ncpu <= 0)
		return 0;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(ts->skel->maps.np_term_stats),
				 &key, v))
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

uint16_t np_termsock_dst_port(const struct msghdr *m)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_ORIGDSTADDR) {
			struct sockaddr_in sin;

			memcpy(&sin, CMSG_DATA(c), sizeof(sin));
			return ntohs(sin.sin_port);
		}
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_ORIGDSTADDR) {
			struct sockaddr_in6 sin6;

			memcpy(&sin6, CMSG_DATA(c), sizeof(sin6));
			return ntohs(sin6.sin6_port);
		}
	}
	return 0;
}
