/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Text forms of the contract's addresses: "203.0.113.1:30000",
 * "[2001:db8::1]:30000", or an address alone where no port is wanted.
 */
#ifndef NATPROXY_ADDR_H
#define NATPROXY_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "natproxy.h"

struct np_endpoint {
	__u8 family; /* NP_AF_INET or NP_AF_INET6 */
	union np_addr addr;
	__be16 port; /* network order */
};

/* Longest text form: "[" v6 "]:" port, NUL. */
#define NP_ENDPOINT_STRLEN 56

/* "ADDR:PORT" (port required) or, with port_optional, also "ADDR". */
int np_endpoint_parse(const char *text, bool port_optional,
		      struct np_endpoint *ep);
/* An address alone, as in a flow key without its port. */
int np_addr_parse(const char *text, __u8 *family, union np_addr *addr);
/* The flow key of a relay: family AF_INET/AF_INET6, addr an in_addr or
 * in6_addr, port in host order. */
void np_flow_key_make(struct np_flow_key *key, int family, const void *addr,
		      __u16 port);
/* Whether addr is assigned to an interface of this host (namespace). */
bool np_addr_is_local(__u8 family, const union np_addr *addr);
/* The interface addr is assigned to, 0 if none. */
__u32 np_addr_ifindex(__u8 family, const union np_addr *addr);
const char *np_endpoint_str(const struct np_endpoint *ep, char *buf,
			    size_t len);
const char *np_addr_str(__u8 family, const union np_addr *addr, char *buf,
			size_t len);

/*
 * A source of the signaling guard's block list (struct np_source_key):
 * "ADDR:PORT" or "[V6]:PORT" a mapping, "ADDR" an address, "ADDR/24" (IPv4)
 * or "ADDR/64" (IPv6) a prefix, its host bits cleared. 0 or -EINVAL.
 */
int np_source_parse(const char *text, struct np_source_key *key);
/* The same text form of key (prefixes with their host bits zero). */
const char *np_source_str(const struct np_source_key *key, char *buf,
			  size_t len);
/* "mapping", "address" or "prefix". */
const char *np_source_kind(const struct np_source_key *key);

/*
 * inet_ntop() for AF_INET and AF_INET6, out at least INET6_ADDRSTRLEN
 * bytes; IPv4 is written by hand (glibc formats it with sprintf, which was
 * a tenth of a call's signaling work). The length written; 0, and "",
 * for another family.
 */
size_t np_ntop(int family, const void *addr, char *out);

struct np_sockaddr;
/* Text form of an address's host for SIP and records: "203.0.113.1" or
 * "[2001:db8::1]". */
const char *np_sipaddr_host(const struct np_sockaddr *a, char *out,
			    size_t len);
bool np_sockaddr_eq(const struct np_sockaddr *a, const struct np_sockaddr *b);
/* For the socket calls and back; the length of what *ss holds. */
socklen_t np_sockaddr_to(const struct np_sockaddr *a,
			    struct sockaddr_storage *ss);
void np_sockaddr_from(const struct sockaddr_storage *ss,
		      struct np_sockaddr *a);

#endif
