// SPDX-License-Identifier: GPL-2.0-only
/*
 * The flood benchmark's attacker (bench/flood.sh, `make bench`, never CI): a
 * paced, bounded stream of SIP-shaped UDP datagrams toward one address, in
 * a mix of three kinds, one after the other:
 *
 *   junk     200 pseudo-random bytes (a broken client, a fuzzer);
 *   options  OPTIONS to the proxy itself with a one-stream SDP body;
 *   invite   an INVITE with SDP to a new number every time (an extension
 *            scan): new Call-ID, branch and From tag each time.
 *
 * From one source (no -S): a plain UDP socket bound to -b, connected to the
 * target, sendmmsg(). From spoofed sources (-S PREFIX/LEN:COUNT, repeated):
 * a raw socket (IPPROTO_RAW, so IP_HDRINCL) writing the IPv4 and UDP headers
 * itself, source address i of COUNT hosts of each prefix (host numbers 1
 * and up), source port 5060, a valid UDP checksum; the sources take turns.
 *
 *   floodgen -d ADDR -p PORT -r RATE -t SECONDS [-n MAX] [-b ADDR]
 *            [-S PREFIX/LEN:COUNT]... [-c CPU]
 *
 * Paced in steps of 1 ms: what is due is sent in sendmmsg() batches of at
 * most 64. Stops after SECONDS or MAX datagrams, whichever comes first, so
 * it is bounded in count and time. Prints one JSON object: what was sent,
 * the send errors, the rate asked and the rate reached (sent / time), its
 * CPU time: on two cores the generator may not reach the rate asked, and
 * says so.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT_MAX 1400 /* IPv4 + UDP + SIP: one frame on a 1500 MTU */
#define TICK_NS 1000000L
#define MAX_PREFIXES 8
#define JUNK_LEN 200

struct prefix {
	uint32_t base; /* host order, host bits zero */
	uint32_t count;
};

static struct prefix prefixes[MAX_PREFIXES];
static size_t n_prefixes;
static uint32_t n_sources; /* 0: one source, a UDP socket */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Source number @i (0 <= i < n_sources), host order. */
static uint32_t source_addr(uint32_t i)
{
	size_t p;

	for (p = 0; p < n_prefixes; p++) {
		if (i < prefixes[p].count)
			return prefixes[p].base + 1 + i;
		i -= prefixes[p].count;
	}
	return 0;
}

static int parse_prefix(const char *arg)
{
	char buf[64], *slash, *colon;
	struct in_addr a;
	unsigned long len, count;
	uint32_t mask;

	if (n_prefixes == MAX_PREFIXES || strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	colon = strchr(buf, ':');
	if (!slash || !colon || colon < slash)
		return -EINVAL;
	*slash = *colon = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	len = strtoul(slash + 1, NULL, 10);
	count = strtoul(colon + 1, NULL, 10);
	if (len < 8 || len > 30 || !count)
		return -EINVAL;
	/* Hosts 1 .. count: neither the network's nor the broadcast address. */
	if (count > (1ul << (32 - len)) - 2)
		return -ERANGE;
	mask = len ? ~0u << (32 - len) : 0;
	prefixes[n_prefixes].base = ntohl(a.s_addr) & mask;
	prefixes[n_prefixes].count = (uint32_t)count;
	n_prefixes++;
	n_sources += (uint32_t)count;
	return 0;
}

static const char sdp_fmt[] = "v=0\r\n"
			      "o=- %u 1 IN IP4 %s\r\n"
			      "s=-\r\n"
			      "c=IN IP4 %s\r\n"
			      "t=0 0\r\n"
			      "m=audio %u RTP/AVP 0\r\n"
			      "a=rtpmap:0 PCMU/8000\r\n";

/*
 * The SIP text of datagram @seq from @src (dotted) to @dst: its kind is
 * seq % 3. Returns its length.
 */
static size_t build_sip(char *buf, size_t size, uint64_t seq, const char *src,
			const char *dst, unsigned dport)
{
	char sdp[256];
	unsigned n = (unsigned)seq, i;
	int len, blen;

	switch (seq % 3) {
	case 0:
		for (i = 0; i + 8 <= JUNK_LEN; i += 8) {
			uint64_t r = xorshift();
			memcpy(buf + i, &r, 8);
		}
		return JUNK_LEN;
	case 1:
		blen = snprintf(sdp, sizeof(sdp), sdp_fmt, n, src, src,
				6000 + 2 * (n % 1000));
		len = snprintf(buf, size,
			       "OPTIONS sip:%s:%u SIP/2.0\r\n"
			       "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-fo%u;rport\r\n"
			       "Max-Forwards: 70\r\n"
			       "From: <sip:scan@%s>;tag=fo%u\r\n"
			       "To: <sip:%s>\r\n"
			       "Call-ID: fo%u@%s\r\n"
			       "CSeq: 1 OPTIONS\r\n"
			       "Contact: <sip:scan@%s:5060>\r\n"
			       "User-Agent: floodgen\r\n"
			       "Content-Type: application/sdp\r\n"
			       "Content-Length: %d\r\n\r\n%s",
			       dst, dport, src, n, src, n, dst, n, src, src,
			       blen, sdp);
		break;
	default:
		blen = snprintf(sdp, sizeof(sdp), sdp_fmt, n, src, src,
				6000 + 2 * (n % 1000));
		len = snprintf(buf, size,
			       "INVITE sip:9%09u@example.test SIP/2.0\r\n"
			       "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-fi%u;rport\r\n"
			       "Max-Forwards: 70\r\n"
			       "From: <sip:x%u@example.test>;tag=fi%u\r\n"
			       "To: <sip:9%09u@example.test>\r\n"
			       "Call-ID: fi%u@%s\r\n"
			       "CSeq: 1 INVITE\r\n"
			       "Contact: <sip:x%u@%s:5060>\r\n"
			       "User-Agent: floodgen\r\n"
			       "Content-Type: application/sdp\r\n"
			       "Content-Length: %d\r\n\r\n%s",
			       n, src, n, n % 1000, n, n, n, src, n % 1000, src,
			       blen, sdp);
		break;
	}
	return len < 0 ? 0 : (size_t)len >= size ? size - 1 : (size_t)len;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* A whole IPv4/UDP datagram from @saddr:5060 (host order) for a raw socket. */
static size_t build_raw(uint8_t *pkt, uint64_t seq, uint32_t saddr,
			uint32_t daddr, uint16_t dport, const char *dst)
{
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + sizeof(*ip));
	char *payload = (char *)(udp + 1), src[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(saddr) };
	size_t plen, ulen;
	uint32_t sum;

	inet_ntop(AF_INET, &a, src, sizeof(src));
	plen = build_sip(payload, PKT_MAX - sizeof(*ip) - sizeof(*udp), seq,
			 src, dst, dport);
	ulen = sizeof(*udp) + plen;
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = htonl(saddr);
	ip->daddr = htonl(daddr);
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + ulen));
	/* id and check: the kernel fills them in (raw(7)). */
	udp->source = htons(5060);
	udp->dest = htons(dport);
	udp->len = htons((uint16_t)ulen);
	udp->check = 0;
	/* RFC 768: the pseudo-header, then the UDP header and payload. */
	sum = (saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) +
	      (daddr & 0xffff) + IPPROTO_UDP + (uint32_t)ulen;
	sum = csum_add(sum, udp, ulen);
	udp->check = htons(csum_fold(sum));
	if (!udp->check)
		udp->check = 0xffff;
	return sizeof(*ip) + ulen;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: floodgen -d ADDR -p PORT -r RATE -t SECONDS [-n MAX] "
		"[-b ADDR] [-S PREFIX/LEN:COUNT]... [-c CPU]\n");
}

int main(int argc, char **argv)
{
	static uint8_t pkts[BATCH][PKT_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in to = { .sin_family = AF_INET }, from = {
		.sin_family = AF_INET, .sin_port = htons(5060)
	};
	const char *dst = NULL, *bind_addr = NULL;
	uint64_t rate = 0, max = 0, sent = 0, errors = 0, seq = 0, t0, t, due,
		 deadline;
	double seconds = 0, took;
	unsigned port = 0;
	int opt, fd, cpu = -1, i, n, k, last_err = 0;
	char local[INET_ADDRSTRLEN] = "";
	struct rusage ru;

	while ((opt = getopt(argc, argv, "d:p:r:t:n:b:S:c:h")) != -1) {
		switch (opt) {
		case 'd':
			dst = optarg;
			break;
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rate = strtoull(optarg, NULL, 10);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'n':
			max = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			bind_addr = optarg;
			break;
		case 'S':
			if (parse_prefix(optarg)) {
				fprintf(stderr, "floodgen: bad -S '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!dst || !port || port > 65535 || !rate || seconds <= 0 ||
	    seconds > 600 || inet_pton(AF_INET, dst, &to.sin_addr) != 1) {
		usage();
		return 2;
	}
	if (!max)
		max = (uint64_t)(rate * seconds) + 1;
	to.sin_port = htons((uint16_t)port);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			perror("floodgen: sched_setaffinity");
	}

	if (n_sources) {
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
		if (fd < 0) {
			perror("floodgen: raw socket");
			return 1;
		}
	} else {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0) {
			perror("floodgen: socket");
			return 1;
		}
		if (bind_addr &&
		    (inet_pton(AF_INET, bind_addr, &from.sin_addr) != 1 ||
		     bind(fd, (struct sockaddr *)&from, sizeof(from)))) {
			fprintf(stderr, "floodgen: cannot bind '%s:5060': %s\n",
				bind_addr, strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&to, sizeof(to))) {
			perror("floodgen: connect");
			return 1;
		}
		socklen_t sl = sizeof(from);
		getsockname(fd, (struct sockaddr *)&from, &sl);
		inet_ntop(AF_INET, &from.sin_addr, local, sizeof(local));
	}

	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = pkts[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (n_sources) {
			msgs[i].msg_hdr.msg_name = &to;
			msgs[i].msg_hdr.msg_namelen = sizeof(to);
		}
	}

	t0 = now_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	for (;;) {
		t = now_ns();
		if (t >= deadline || seq >= max)
			break;
		due = (uint64_t)((double)(t - t0) * (double)rate / 1e9) + 1;
		if (due > max)
			due = max;
		if (seq >= due) {
			struct timespec ts = { 0, TICK_NS };
			nanosleep(&ts, NULL);
			continue;
		}
		n = (int)(due - seq < BATCH ? due - seq : BATCH);
		for (i = 0; i < n; i++) {
			uint64_t s = seq + (uint64_t)i;

			if (n_sources)
				iov[i].iov_len = build_raw(
					pkts[i], s,
					source_addr((uint32_t)(s % n_sources)),
					ntohl(to.sin_addr.s_addr),
					(uint16_t)port, dst);
			else
				iov[i].iov_len = build_sip((char *)pkts[i],
							   PKT_MAX, s, local,
							   dst, port);
		}
		k = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (k < 0) {
			/* ENOBUFS and the like: counted, the batch is gone. */
			last_err = errno;
			errors += (uint64_t)n;
			k = n;
		} else {
			sent += (uint64_t)k;
			if (k < n) {
				errors += (uint64_t)(n - k);
				k = n;
			}
		}
		seq += (uint64_t)k;
	}
	took = (double)(now_ns() - t0) / 1e9;
	/* Its own CPU time; the receive path of every datagram it sent is in
	 * it too (a veth delivers in the sender's softirq). */
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"asked_per_s\": %llu, \"sent\": %llu, \"errors\": %llu, "
	       "\"last_error\": \"%s\", \"seconds\": %.3f, \"reached_per_s\": "
	       "%.0f, \"sources\": %u, \"spoofed\": %s, \"cpu_s\": %.3f}\n",
	       (unsigned long long)rate, (unsigned long long)sent,
	       (unsigned long long)errors, last_err ? strerror(last_err) : "",
	       took, took > 0 ? (double)sent / took : 0.0,
	       n_sources ? n_sources : 1, n_sources ? "true" : "false",
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	close(fd);
	return 0;
}
