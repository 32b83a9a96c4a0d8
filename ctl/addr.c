// SPDX-License-Identifier: GPL-2.0-only
/*
 * Parsing and printing of relay endpoints. Pure functions on strings; the
 * only place that knows the "[v6]:port" bracket rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"

int np_addr_parse(const char *text, __u8 *family, union np_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, text, &addr->v4) == 1) {
		*family = NP_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr->raw) == 1) {
		*family = NP_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static int port_parse(const char *text, __be16 *port)
{
	char *end;
	unsigned long v;

	if (!*text || *text == '-' || *text == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*port = htons((__u16)v);
	return 0;
}

int np_endpoint_parse(const char *text, bool port_optional,
		      struct np_endpoint *ep)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL, *colon;
	size_t n;

	memset(ep, 0, sizeof(*ep));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close)
			return -EINVAL;
		n = close - text - 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return -EINVAL;
		text++;
	} else {
		colon = strrchr(text, ':');
		/* A second colon means a bare IPv6 address: no port. */
		if (colon && colon == strchr(text, ':')) {
			n = colon - text;
			port = colon + 1;
		} else {
			n = strlen(text);
		}
	}
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	if (np_addr_parse(host, &ep->family, &ep->addr))
		return -EINVAL;
	if (!port)
		return port_optional ? 0 : -EINVAL;
	return port_parse(port, &ep->port);
}

size_t np_ntop(int family, const void *addr, char *out)
{
	const unsigned char *b = addr;
	char *p = out;
	int i;

	out[0] = '\0';
	if (family == AF_INET6)
		return inet_ntop(AF_INET6, addr, out, INET6_ADDRSTRLEN) ?
			       strlen(out) : 0;
	if (family != AF_INET)
		return 0;
	for (i = 0; i < 4; i++) {
		if (b[i] >= 100)
			*p++ = (char)('0' + b[i] / 100);
		if (b[i] >= 10)
			*p++ = (char)('0' + b[i] / 10 % 10);
		*p++ = (char)('0' + b[i] % 10);
		*p++ = '.';
	}
	p[-1] = '\0';
	return (size_t)(p - 1 - out);
}

const char *np_addr_str(__u8 family, const union np_addr *addr, char *buf,
			size_t len)
{
	if (!inet_ntop(family == NP_AF_INET6 ? AF_INET6 : AF_INET, addr, buf,
		       len))
		snprintf(buf, len, "?");
	return buf;
}

const char *np_endpoint_str(const struct np_endpoint *ep, char *buf,
			    size_t len)
{
	char a[INET6_ADDRSTRLEN];

	np_addr_str(ep->family, &ep->addr, a, sizeof(a));
	snprintf(buf, len, ep->family == NP_AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 ntohs(ep->port));
	return buf;
}

static __u8 full_len(__u8 family)
{
	return family == NP_AF_INET6 ? 128 : 32;
}

/* The guard blocks /24s and /64s only (bpf/guard.h); the address's own
 * length names the address. Host bits are cleared, so that an address of
 * the prefix names it too. */
static int prefix_parse(const char *text, const char *slash,
			struct np_source_key *key)
{
	char host[INET6_ADDRSTRLEN], *end;
	size_t n = slash - text;
	unsigned long len;

	if (n >= sizeof(host) || !slash[1] || slash[1] == '-' ||
	    slash[1] == '+')
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	if (np_addr_parse(host, &key->family, &key->addr))
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (len == full_len(key->family)) {
		key->prefix_len = (__u8)len;
		return 0;
	}
	if (len != (key->family == NP_AF_INET6 ? NP_GUARD_PREFIX6 :
						  NP_GUARD_PREFIX4))
		return -EINVAL;
	key->prefix_len = (__u8)len;
	if (key->family == NP_AF_INET6)
		memset(&key->addr.raw[8], 0, 8);
	else
		key->addr.v4 &= htonl(0xffffffffu << (32 - NP_GUARD_PREFIX4));
	return 0;
}

int np_source_parse(const char *text, struct np_source_key *key)
{
	const char *slash = strchr(text, '/');
	struct np_endpoint ep;

	memset(key, 0, sizeof(*key));
	if (slash)
		return prefix_parse(text, slash, key);
	if (np_endpoint_parse(text, true, &ep))
		return -EINVAL;
	key->family = ep.family;
	key->prefix_len = full_len(ep.family);
	key->port = ep.port;
	key->addr = ep.addr;
	return 0;
}

const char *np_source_kind(const struct np_source_key *key)
{
	if (key->prefix_len != full_len(key->family))
		return "prefix";
	return key->port ? "mapping" : "address";
}

const char *np_source_str(const struct np_source_key *key, char *buf,
			  size_t len)
{
	struct np_endpoint ep = { .family = key->family, .addr = key->addr,
				  .port = key->port };
	char a[INET6_ADDRSTRLEN];

	if (key->port && key->prefix_len == full_len(key->family))
		return np_endpoint_str(&ep, buf, len);
	np_addr_str(key->family, &key->addr, a, sizeof(a));
	if (key->prefix_len == full_len(key->family))
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, key->prefix_len);
	return buf;
}

void np_flow_key_make(struct np_flow_key *key, int family, const void *addr,
		      __u16 port)
{
	memset(key, 0, sizeof(*key));
	key->family = family == AF_INET6 ? NP_AF_INET6 : NP_AF_INET;
	memcpy(&key->addr, addr, family == AF_INET6 ? 16 : 4);
	key->port = htons(port);
}

__u32 np_addr_ifindex(__u8 family, const union np_addr *addr)
{
	struct ifaddrs *all, *ifa;
	__u32 ifindex = 0;
	bool found = false;

	if (getifaddrs(&all))
		return 0;
	for (ifa = all; ifa && !found; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;

		if (!sa)
			continue;
		if (family == NP_AF_INET && sa->sa_family == AF_INET)
			found = ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
				addr->v4;
		else if (family == NP_AF_INET6 && sa->sa_family == AF_INET6)
			found = !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr,
					addr, 16);
		if (found)
			ifindex = if_nametoindex(ifa->ifa_name);
	}
	freeifaddrs(all);
	return ifindex;
}

bool np_addr_is_local(__u8 family, const union np_addr *addr)
{
	return np_addr_ifindex(family, addr) != 0;
}

const char *np_sipaddr_host(const struct np_sockaddr *a, char *out,
			    size_t len)
{
	char text[INET6_ADDRSTRLEN + 2];
	bool v6 = a->family == AF_INET6;
	size_t n = np_ntop(a->family, &a->addr, text + v6);

	if (v6) {
		text[0] = '[';
		text[n + 1] = ']';
		n += 2;
	}
	text[n] = '\0';
	if (len) {
		n = n < len ? n : len - 1;
		memcpy(out, text, n);
		out[n] = '\0';
	}
	return out;
}

bool np_sockaddr_eq(const struct np_sockaddr *a, const struct np_sockaddr *b)
{
	size_t n = a->family == AF_INET6 ? sizeof(a->addr.v6) :
					   sizeof(a->addr.v4);

	return a->family == b->family && a->port == b->port &&
	       !memcmp(&a->addr, &b->addr, n);
}

socklen_t np_sockaddr_to(const struct np_sockaddr *a,
			  struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a->addr.v6;
		s6->sin6_port = htons(a->port);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_addr = a->addr.v4;
	s4->sin_port = htons(a->port);
	return sizeof(*s4);
}

void np_sockaddr_from(const struct sockaddr_storage *ss,
		      struct np_sockaddr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		a->addr.v6 = s6->sin6_addr;
		a->port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		a->addr.v4 = s4->sin_addr;
		a->port = ntohs(s4->sin_port);
	}
}
