// SPDX-License-Identifier: GPL-2.0-only
/*
 * The media benchmark's driver (`make bench`, never CI; run by
 * bench/media.sh). Three commands:
 *
 *   natproxy-streams  finds the flows natproxyd installed for real SIP calls
 *                     in the pinned maps, adds bulk flows modelled on them
 *                     through the flow-install API (ctl/flowtab.c) up to the
 *                     wanted count, writes the stream list and the maps'
 *                     memory;
 *   rtpengine-streams makes offer/answer sessions with rtpengine over its ng
 *                     control protocol (bencode over UDP) and writes the
 *                     stream list;
 *   run               loads the generator (gen.bpf.c, BPF_PROG_RUN with live
 *                     frames; where the kernel refuses those, the same
 *                     frames written here and sent by an AF_XDP socket,
 *                     see gen_choose) and the sink (sink.bpf.c) and measures one
 *                     relay: packets of new streams that reach user space,
 *                     the highest offered rate forwarded with < 0.1% loss,
 *                     CPU seconds per million packets, one-way latency at a
 *                     moderate rate. Optionally attaches the ceiling
 *                     (ceiling.bpf.c) as the relay, or as a second relay
 *                     on an interface of its own whose trials take turns
 *                     with the first's (--ceiling-in). Writes one JSON
 *                     object per relay.
 *
 * Namespaces are entered with setns() by name (/run/netns/NAME): the
 * generator's ingress_ifindex, the sink's interface and /proc/net/snmp are
 * all resolved in the namespace the thread is in at the time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowtab.h"
#include "log.h"
#include "natproxy.h"
#include "pins.h"
#include "media.h"
#include "xsk_tx.h"
#include "../rtp_frame.h"
#include "mb_ceiling.skel.h"
#include "mb_gen.skel.h"
#include "mb_sink.skel.h"

#define LOSS_LIMIT 0.001 /* < 0.1% */
#define TICK_NS 1000000ull /* pacing step, at least */
#define MIN_CALL 256 /* frames per BPF_PROG_RUN call, at least (see run_trial) */

struct stream {
	__be32 saddr, daddr;
	__be16 sport, dport;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* --- namespaces and interfaces ------------------------------------------ */

static int netns_open(const char *name)
{
	char path[256];
	int fd;

	if (!name || !*name)
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		np_err("cannot open namespace '%s': %s", path, strerror(errno));
	return fd;
}

static int netns_enter(int fd)
{
	if (fd >= 0 && setns(fd, CLONE_NEWNET)) {
		np_err("setns: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* ifindex and MAC of NAME in the namespace the thread is in. */
static int if_info(const char *name, unsigned int *ifindex, __u8 *mac)
{
	struct ifreq ifr;
	int s, err = 0;

	*ifindex = if_nametoindex(name);
	if (!*ifindex) {
		np_err("no interface '%s' here", name);
		return -ENODEV;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	return err;
}

/* --- /proc -------------------------------------------------------------- */

/*
 * Busy time of CPU N, or of the whole machine with N < 0, seconds (all but
 * idle and iowait), as the tick samples it: a coarse gauge.
 */
static double cpu_busy_s(int n)
{
	unsigned long long v[8] = { 0 }, busy;
	char want[16], name[16] = "", line[512];
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (n < 0)
		snprintf(want, sizeof(want), "cpu");
	else
		snprintf(want, sizeof(want), "cpu%d", n);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%15s %llu %llu %llu %llu %llu %llu %llu %llu",
			   name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			   &v[6], &v[7]) == 9 &&
		    !strcmp(name, want))
			break;
	fclose(f);
	if (strcmp(name, want))
		return 0;
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return (double)busy / sysconf(_SC_CLK_TCK);
}

/*
 * CPU time of a process, all its threads, seconds; self if pid 0. From
 * schedstat (the scheduler's run time in ns), not utime/stime: those are
 * sampled at the tick, and a generator that sleeps to the next millisecond
 * wakes in step with the tick and would be charged for every one.
 */
static double proc_cpu_s(int pid)
{
	unsigned long long ns, sum = 0;
	char path[300];
	struct dirent *d;
	DIR *dir;
	FILE *f;

	if (pid < 0)
		return 0;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/task", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/task");
	dir = opendir(path);
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		if (pid)
			snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
				 pid, d->d_name);
		else
			snprintf(path, sizeof(path),
				 "/proc/self/task/%s/schedstat", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return sum / 1e9;
}

/*
 * CPU time spent on the benchmark's packets: this process (the generator;
 * softirq work done on its way out of the syscall, the XDP relays and the
 * sink included: the pump's NAPI polls run there until done, or go on in
 * ksoftirqd), the user-space relay if any, and the ksoftirqd threads
 * (softirq work deferred there). Tasks, not the CPU: this kernel samples
 * a CPU's busy time at the tick (no IRQ_TIME_ACCOUNTING), and a generator
 * that sleeps to the next millisecond is in step with the tick.
 */
#define MAX_RELAY_PIDS 8

/* The ksoftirqd threads' CPU time, seconds. */
static double softirqd_cpu_s(void)
{
	char path[300], comm[64];
	struct dirent *d;
	DIR *dir = opendir("/proc");
	double sum = 0;
	FILE *f;

	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "ksoftirqd/", 10))
			sum += proc_cpu_s(atoi(d->d_name));
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return sum;
}

/* The relay processes' CPU time, seconds. */
static double relays_cpu_s(const int *relay_pids)
{
	double sum = 0;
	int i;

	for (i = 0; i < MAX_RELAY_PIDS && relay_pids[i] > 0; i++)
		sum += proc_cpu_s(relay_pids[i]);
	return sum;
}

/* A field of the "Udp:" lines of /proc/net/snmp (this namespace). */
static long long udp_stat(const char *field)
{
	char names[1024], vals[1024], *n, *v, *sn, *sv;
	long long r = -1;
	FILE *f = fopen("/proc/net/snmp", "r");

	if (!f)
		return -1;
	while (fgets(names, sizeof(names), f)) {
		if (strncmp(names, "Udp: ", 5))
			continue;
		if (!fgets(vals, sizeof(vals), f))
			break;
		n = strtok_r(names + 5, " \n", &sn);
		v = strtok_r(vals + 5, " \n", &sv);
		while (n && v) {
			if (!strcmp(n, field)) {
				r = atoll(v);
				break;
			}
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return r;
}

/* --- stream lists ------------------------------------------------------- */

static int streams_write(const char *path, const struct stream *s, size_t n)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f) {
		np_err("cannot write '%s': %s", path, strerror(errno));
		return -errno;
	}
	for (i = 0; i < n; i++) {
		inet_ntop(AF_INET, &s[i].saddr, a, sizeof(a));
		inet_ntop(AF_INET, &s[i].daddr, b, sizeof(b));
		fprintf(f, "%s %u %s %u\n", a, ntohs(s[i].sport), b,
			ntohs(s[i].dport));
	}
	return fclose(f) ? -errno : 0;
}

static struct stream *streams_read(const char *path, size_t *n)
{
	char a[64], b[64];
	unsigned int sp, dp;
	struct stream *s = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");

	*n = 0;
	if (!f) {
		np_err("cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	while (fscanf(f, "%63s %u %63s %u", a, &sp, b, &dp) == 4) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			s = realloc(s, cap * sizeof(*s));
			if (!s)
				break;
		}
		if (inet_pton(AF_INET, a, &s[*n].saddr) != 1 ||
		    inet_pton(AF_INET, b, &s[*n].daddr) != 1)
			continue;
		s[*n].sport = htons(sp);
		s[*n].dport = htons(dp);
		(*n)++;
	}
	fclose(f);
	if (*n > MB_MAX_STREAMS)
		*n = MB_MAX_STREAMS;
	return s;
}

/* --- natproxy-streams --------------------------------------------------- */

struct np_find {
	__be32 access, far;
	struct stream *real;
	size_t nreal, cap;
	struct np_flow tmpl;
	bool have_tmpl;
};

static int find_visit(const struct np_flow_key *key, const struct np_flow *flow,
		      const struct np_counters *counters, void *arg)
{
	struct np_find *f = arg;

	(void)counters;
	if (key->family != NP_AF_INET || key->addr.v4 != f->access ||
	    flow->new_daddr.v4 != f->far || (ntohs(key->port) & 1) ||
	    !(flow->flags & NP_F_HAS_REVERSE))
		return 0; /* RTCP, bulk flows, the other direction */
	if (f->nreal == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->real = realloc(f->real, f->cap * sizeof(*f->real));
		if (!f->real)
			return -ENOMEM;
	}
	f->real[f->nreal].saddr = flow->expect_saddr.v4;
	f->real[f->nreal].daddr = key->addr.v4;
	f->real[f->nreal].dport = key->port;
	f->nreal++;
	if (!f->have_tmpl) {
		f->tmpl = *flow;
		f->have_tmpl = true;
	}
	return 0;
}

/*
 * Bulk flow j: relay address bulk_base + j / 50000, port 10000 + j % 50000
 * (no clash with natproxyd's port ranges on its own address).
 */
static void bulk_key(__be32 base, size_t j, struct np_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = NP_AF_INET;
	k->port = htons(10000 + j % 50000);
	k->addr.v4 = htonl(ntohl(base) + j / 50000);
}

static int cmd_natproxy_streams(int argc, char **argv)
{
	const char *pin_dir = NULL, *out = NULL;
	struct in_addr access = { 0 }, far = { 0 }, src = { 0 }, base = { 0 };
	size_t want = 10, i, nbulk, nstreams;
	struct np_find f = { 0 };
	struct np_maps maps;
	struct stream *s;
	__u64 t0;
	int c, err, m;

	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "access", required_argument, NULL, 'a' },
		{ "far", required_argument, NULL, 'f' },
		{ "src", required_argument, NULL, 's' },
		{ "bulk-base", required_argument, NULL, 'b' },
		{ "streams", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 } };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pin_dir = optarg; break;
		case 'a': inet_pton(AF_INET, optarg, &access); break;
		case 'f': inet_pton(AF_INET, optarg, &far); break;
		case 's': inet_pton(AF_INET, optarg, &src); break;
		case 'b': inet_pton(AF_INET, optarg, &base); break;
		case 'n': want = strtoul(optarg, NULL, 0); break;
		case 'o': out = optarg; break;
		default: return 2;
		}
	}
	if (!pin_dir || !out || !access.s_addr || !far.s_addr ||
	    !base.s_addr || want > MB_MAX_STREAMS) {
		np_err("natproxy-streams: --pin-dir --access --far --bulk-base "
		       "--out needed, --streams <= %u", MB_MAX_STREAMS);
		return 2;
	}
	err = np_maps_open(pin_dir, &maps);
	if (err)
		return 1;
	f.access = access.s_addr;
	f.far = far.s_addr;
	err = np_flow_foreach(&maps, find_visit, &f);
	if (err || !f.have_tmpl) {
		np_err("no flow of a real call on %s to the far end in '%s'",
		       inet_ntoa(access), pin_dir);
		return 1;
	}
	nstreams = want;
	s = calloc(nstreams, sizeof(*s));
	if (!s)
		return 1;
	/*
	 * Real calls' media comes from the terminal's NAT mapping (--src);
	 * with latch "restricted" the flow names it too (expect_saddr), with
	 * "first-packet" it is zero until the first packet latches.
	 */
	for (i = 0; i < nstreams && i < f.nreal; i++) {
		s[i] = f.real[i];
		if (src.s_addr)
			s[i].saddr = src.s_addr;
		s[i].sport = htons(20000 + i);
	}
	/* Bulk flows: the real flow's rewrite, no latch, no reverse. */
	f.tmpl.flags &= ~(NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE |
			  NP_F_LATCH_RESTRICTED | NP_F_HAS_REVERSE);
	memset(&f.tmpl.reverse, 0, sizeof(f.tmpl.reverse));
	nbulk = nstreams > f.nreal ? nstreams - f.nreal : 0;
	t0 = now_ns();
	for (i = 0; i < nbulk; i++) {
		struct np_flow_key k;
		size_t j = f.nreal + i;

		bulk_key(base.s_addr, i, &k);
		f.tmpl.new_sport = htons(10000 + i % 50000);
		err = np_flow_install(&maps, &k, &f.tmpl);
		if (err) {
			np_err("bulk flow %zu: %s", i, strerror(-err));
			return 1;
		}
		s[j].saddr = src.s_addr ? src.s_addr : f.real[0].saddr;
		s[j].sport = htons(20000 + j % 40000);
		s[j].daddr = k.addr.v4;
		s[j].dport = k.port;
	}
	err = streams_write(out, s, nstreams);
	if (err)
		return 1;
	/* Memory: every pinned map's memlock (what bpftool prints). */
	printf("{\"real_call_streams\": %zu, \"bulk_streams\": %zu, "
	       "\"install_s\": %.3f, \"maps\": [",
	       f.nreal < nstreams ? f.nreal : nstreams, nbulk,
	       (now_ns() - t0) / 1e9);
	unsigned long long total = 0;
	for (m = 0; m < NP_MAP_COUNT; m++) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		unsigned long long ml;

		if (maps.fd[m] < 0 ||
		    bpf_obj_get_info_by_fd(maps.fd[m], &info, &len))
			continue;
		ml = np_map_memlock(maps.fd[m]);
		total += ml;
		printf("%s{\"name\": \"%s\", \"max_entries\": %u, "
		       "\"memlock\": %llu}",
		       m ? ", " : "", np_map_names[m], info.max_entries, ml);
	}
	printf("], \"memlock_total\": %llu}\n", total);
	np_maps_close(&maps);
	return 0;
}

/* --- rtpengine-streams: the ng protocol --------------------------------- */

static size_t bstr(char *buf, size_t off, size_t cap, const char *s)
{
	int n = snprintf(buf + off, off < cap ? cap - off : 0, "%zu:%s",
			 strlen(s), s);

	return off + (n > 0 ? (size_t)n : 0);
}

/* The value of bencoded string key KEY in a flat reply, into out. */
static int bget(const char *msg, size_t len, const char *key, char *out,
		size_t cap)
{
	char pat[64];
	const char *p, *end = msg + len;
	char *e;
	size_t n;

	snprintf(pat, sizeof(pat), "%zu:%s", strlen(key), key);
	p = memmem(msg, len, pat, strlen(pat));
	if (!p)
		return -ENOENT;
	p += strlen(pat);
	n = strtoul(p, &e, 10);
	if (*e != ':' || e + 1 + n > end || n + 1 > cap)
		return -EINVAL;
	memcpy(out, e + 1, n);
	out[n] = '\0';
	return 0;
}

/* One ng request and its reply, bounded (1 s, 3 tries). */
static int ng_call(int s, const char *body, char *reply, size_t cap)
{
	static unsigned long cookie;
	char req[4096], ck[32];
	struct pollfd pfd = { .fd = s, .events = POLLIN };
	int tries, n, len;

	snprintf(ck, sizeof(ck), "mb%lu ", ++cookie);
	len = snprintf(req, sizeof(req), "%s%s", ck, body);
	for (tries = 0; tries < 3; tries++) {
		if (send(s, req, len, 0) < 0)
			return -errno;
		while (poll(&pfd, 1, 1000) == 1) {
			n = recv(s, reply, cap - 1, 0);
			if (n < 0)
				return -errno;
			reply[n] = '\0';
			if (!strncmp(reply, ck, strlen(ck)))
				return n;
		}
	}
	return -ETIMEDOUT;
}

static int sdp_media(const char *sdp, struct in_addr *addr, unsigned int *port)
{
	const char *c = strstr(sdp, "c=IN IP4 "), *m = strstr(sdp, "m=audio ");
	char a[64];

	if (!c || !m || sscanf(c + 9, "%63[0-9.]", a) != 1 ||
	    sscanf(m + 8, "%u", port) != 1 || inet_pton(AF_INET, a, addr) != 1)
		return -EINVAL;
	return 0;
}

static void sdp_write(char *buf, size_t cap, size_t id,
		      const struct in_addr *addr, unsigned int port)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, addr, a, sizeof(a));
	snprintf(buf, cap,
		 "v=0\r\no=- %zu 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
		 "t=0 0\r\nm=audio %u RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
		 id, a, a, port);
}

/*
 * An offer (from tag "a", from the access interface to the core) or an
 * answer (to tag "b") for one call; the reply's length or -errno.
 */
static int ng_session(int sock, const char *cmd, const char *callid,
		      const char *sdp, char *reply, size_t cap)
{
	bool offer = !strcmp(cmd, "offer");
	char body[2048];
	size_t off;

	off = snprintf(body, sizeof(body), "d");
	off = bstr(body, off, sizeof(body), "command");
	off = bstr(body, off, sizeof(body), cmd);
	off = bstr(body, off, sizeof(body), "call-id");
	off = bstr(body, off, sizeof(body), callid);
	off = bstr(body, off, sizeof(body), "from-tag");
	off = bstr(body, off, sizeof(body), "a");
	if (offer) {
		off = bstr(body, off, sizeof(body), "direction");
		off += snprintf(body + off, sizeof(body) - off, "l");
		off = bstr(body, off, sizeof(body), "acc");
		off = bstr(body, off, sizeof(body), "core");
		off += snprintf(body + off, sizeof(body) - off, "e");
	} else {
		off = bstr(body, off, sizeof(body), "to-tag");
		off = bstr(body, off, sizeof(body), "b");
	}
	off = bstr(body, off, sizeof(body), "sdp");
	off = bstr(body, off, sizeof(body), sdp);
	if (off + 2 > sizeof(body))
		return -E2BIG;
	snprintf(body + off, sizeof(body) - off, "e");
	return ng_call(sock, body, reply, cap);
}

static int cmd_rtpengine_streams(int argc, char **argv)
{
	const char *out = NULL, *ng = "127.0.0.1:2223", *prefix = "mb";
	char host[64] = "", sdp[1024], reply[8192], rsdp[4096];
	struct in_addr src = { 0 }, far = { 0 }, a;
	unsigned int port, far_port = 7000, ng_port;
	double limit_s = 60;
	size_t want = 10, n = 0, i;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct stream *s;
	__u64 t0;
	int c, sock, r;

	static const struct option opts[] = {
		{ "ng", required_argument, NULL, 'g' },
		{ "src", required_argument, NULL, 's' },
		{ "far", required_argument, NULL, 'f' },
		{ "streams", required_argument, NULL, 'n' },
		{ "time-limit", required_argument, NULL, 't' },
		{ "call-prefix", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 } };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'g': ng = optarg; break;
		case 's': inet_pton(AF_INET, optarg, &src); break;
		case 'f':
			if (sscanf(optarg, "%63[0-9.]:%u", host, &far_port) < 1 ||
			    inet_pton(AF_INET, host, &far) != 1)
				return 2;
			break;
		case 'n': want = strtoul(optarg, NULL, 0); break;
		case 't': limit_s = atof(optarg); break;
		case 'c': prefix = optarg; break;
		case 'o': out = optarg; break;
		default: return 2;
		}
	}
	if (!out || !src.s_addr || !far.s_addr ||
	    sscanf(ng, "%63[0-9.]:%u", host, &ng_port) != 2 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		np_err("rtpengine-streams: --src --far ADDR:PORT --out needed");
		return 2;
	}
	sa.sin_port = htons(ng_port);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		return 1;
	s = calloc(want ? want : 1, sizeof(*s));
	if (!s)
		return 1;
	t0 = now_ns();
	for (i = 0; i < want && (now_ns() - t0) / 1e9 < limit_s; i++) {
		char callid[64];
		unsigned int sport = 20000 + i % 40000;

		snprintf(callid, sizeof(callid), "%s-%zu@bench", prefix, i);
		/* offer: the terminal's SDP (its NAT address), acc -> core */
		sdp_write(sdp, sizeof(sdp), i, &src, sport);
		r = ng_session(sock, "offer", callid, sdp, reply, sizeof(reply));
		if (r < 0 || bget(reply, r, "sdp", rsdp, sizeof(rsdp))) {
			np_err("offer %zu failed: %s", i,
			       r < 0 ? strerror(-r) : reply);
			break;
		}
		/* answer: the far end's SDP */
		sdp_write(sdp, sizeof(sdp), i, &far, far_port);
		r = ng_session(sock, "answer", callid, sdp, reply, sizeof(reply));
		if (r < 0 || bget(reply, r, "sdp", rsdp, sizeof(rsdp)) ||
		    sdp_media(rsdp, &a, &port)) {
			np_err("answer %zu failed: %s", i,
			       r < 0 ? strerror(-r) : reply);
			break;
		}
		s[n].saddr = src.s_addr;
		s[n].sport = htons(sport);
		s[n].daddr = a.s_addr;
		s[n].dport = htons(port);
		n++;
	}
	close(sock);
	printf("{\"sessions\": %zu, \"wanted\": %zu, \"setup_s\": %.3f}\n", n,
	       want, (now_ns() - t0) / 1e9);
	if (!n || streams_write(out, s, n))
		return 1;
	return 0;
}

/* --- run ---------------------------------------------------------------- */

struct trial {
	double target_pps, offered_pps, send_s, cpu_s, cpu_machine_s, loss;
	/* Of cpu_s: the ksoftirqd threads' (softirq work deferred there:
	 * the veth's NAPI once the generator's CPU is overloaded) and the
	 * relay processes' (natproxyd, rtpengine). */
	double cpu_softirqd_s, cpu_relays_s;
	__u64 sent, rx, stale, misaddr, user_pkts;
	__u64 silent; /* streams sent on that the sink never saw */
	long first_silent;
	bool fell_behind;
	double p50_ns, p99_ns, mean_ns, max_ns;
	__u64 verdicts[NP_V_MAX];
	bool have_verdicts;
};

/*
 * The zero-loss search of one relay, one trial at a time (search_rate gives
 * the next trial's rate, search_took takes its result), so that two relays'
 * searches can take turns (see cmd_run for the method).
 */
enum search_phase { SEARCH_DOUBLE, SEARCH_BISECT, SEARCH_RETRY, SEARCH_DONE };
struct search {
	struct trial tr[40];
	int ntr, behind, step;
	struct trial *best;
	struct trial *sat; /* the fastest pass where the generator fell behind */
	double r, lo, hi, max_pps;
	int retries; /* tries at a rate where the generator's CPU saturated */
	int max_behind; /* saturated passes in a row that end the doubling */
	bool retried;
	enum search_phase phase;
};

/*
 * A relay measured in a run: its own generator (stream table, MACs; each
 * loaded program attached to an idle veth of its own, see cmd_run), the
 * interface its frames leave by into the relay, its search and results.
 * A run measures one lane, or two (natproxy and the ceiling) whose trials
 * take turns, so that both see the machine as it is at the same time.
 */
struct lane {
	const char *label, *out;
	const char *pin_dir; /* natproxy's pins: its verdict counters */
	struct mb_gen_bpf *gen; /* GEN_LIVE, GEN_PUMP */
	/* GEN_PUMP: the end of the pump's veth pair the tokens go in at (its
	 * peer runs mb_pump) and the socket they are sent by. */
	unsigned int pump_ifindex;
	struct xsk_tx pump_xsk;
	unsigned int gen_ifindex, idle_ifindex;
	size_t nstreams;
	/* GEN_AF_XDP: the stream table, MACs and frame count gen.bpf.c
	 * keeps, here, and the socket out of gen_ifindex. */
	struct mb_stream *table;
	__u8 dst_mac[ETH_ALEN], src_mac[ETH_ALEN];
	__u64 gseq;
	struct xsk_tx xsk;
	/* User-space relay processes whose CPU time counts (rtpengine, one
	 * or more instances; natproxyd), 0-terminated. */
	int relay_pids[MAX_RELAY_PIDS];
	struct search s;
	struct trial newt, lat, cpu_r, cpu_b;
	bool have_cpu;
};

/*
 * How the frames are made and sent: gen.bpf.c run by BPF_PROG_RUN with
 * live frames; where the kernel refuses those (EPERM on 6.18.44-fc), by
 * gen.bpf.c's pump, fed tokens by a copy-mode AF_XDP socket (GEN_PUMP);
 * or the same frames written in user space (frame_write) and each sent by
 * a copy-mode AF_XDP socket per interface (GEN_AF_XDP: a fifth of the
 * pump's rate, an skb built for every frame).
 */
enum gen_kind { GEN_AUTO, GEN_LIVE, GEN_AF_XDP, GEN_PUMP };
static const char *const gen_names[] = { "auto", "live_frames", "af_xdp",
					  "pump" };

struct bench {
	enum gen_kind gen;
	struct xsk_tx base_xsk; /* GEN_AF_XDP: the baseline's way out */
	int gen_ns, sink_ns, relay_ns;
	/*
	 * The baseline: the generator's frames out of the idle veth into a
	 * second sink on its peer, no relay: what generating and sinking cost
	 * alone, at the same rate and in the same calls as a relay's trial.
	 */
	unsigned int base_ifindex, base_sink_ifindex;
	bool baseline;
	struct lane *lane; /* the one the next trial sends for */
	struct mb_sink_bpf *sink;
	struct mb_ceiling_bpf *ceil;
	unsigned int sink_ifindex, ceil_ifindex;
	__u64 *per_stream; /* mmapped sink array */
	int ncpus;
	int cpu; /* the generator's: every XDP program of the path runs there */
	__u32 trial;
};

static __u64 sink_counter(struct bench *b, __u32 id)
{
	__u64 v[256], sum = 0;
	int i;

	if (bpf_map__lookup_elem(b->sink->maps.mb_counters, &id, sizeof(id),
				 v, sizeof(__u64) * b->ncpus, 0))
		return 0;
	for (i = 0; i < b->ncpus; i++)
		sum += id == MB_LAT_MAX ? (v[i] > sum ? v[i] - sum : 0) : v[i];
	return sum;
}

static void sink_reset(struct bench *b)
{
	__u64 zero[256] = { 0 };
	__u32 id;

	for (id = 0; id < MB_NCOUNTERS; id++)
		bpf_map__update_elem(b->sink->maps.mb_counters, &id, sizeof(id),
				     zero, sizeof(__u64) * b->ncpus, 0);
}

/* Sum of the histogram over CPUs into h[MB_HIST_N]; then zeroes it. */
static int hist_take(struct bench *b, __u64 *h)
{
	int fd = bpf_map__fd(b->sink->maps.mb_hist);
	__u32 n = MB_HIST_N, out_batch, *keys;
	__u64 *vals, zero_batch = 0;
	__u32 i;
	int c, err;

	(void)zero_batch;
	keys = calloc(MB_HIST_N, sizeof(*keys));
	vals = calloc((size_t)MB_HIST_N * b->ncpus, sizeof(*vals));
	if (!keys || !vals)
		return -ENOMEM;
	err = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &n, NULL);
	if (err && errno != ENOENT) {
		err = -errno;
		goto out;
	}
	memset(h, 0, sizeof(*h) * MB_HIST_N);
	for (i = 0; i < n; i++)
		for (c = 0; c < b->ncpus; c++)
			h[keys[i]] += vals[(size_t)i * b->ncpus + c];
	memset(vals, 0, sizeof(*vals) * MB_HIST_N * b->ncpus);
	for (i = 0; i < MB_HIST_N; i++)
		keys[i] = i;
	n = MB_HIST_N;
	err = bpf_map_update_batch(fd, keys, vals, &n, NULL) ? -errno : 0;
out:
	free(keys);
	free(vals);
	return err;
}

static double bucket_ns(__u32 i)
{
	if (i < MB_HIST_LINEAR)
		return (i + 0.5) * MB_HIST_STEP_NS;
	return (double)MB_HIST_LINEAR * MB_HIST_STEP_NS * 1.5 *
	       (double)(1ull << (i - MB_HIST_LINEAR));
}

static double hist_pct(const __u64 *h, double pct)
{
	__u64 total = 0, acc = 0, want;
	__u32 i;

	for (i = 0; i < MB_HIST_N; i++)
		total += h[i];
	if (!total)
		return -1;
	want = (__u64)ceil(total * pct);
	for (i = 0; i < MB_HIST_N; i++) {
		acc += h[i];
		if (acc >= want)
			return bucket_ns(i);
	}
	return -1;
}

static int verdicts_read(struct bench *b, __u64 *v)
{
	struct np_maps maps;
	int err;

	if (!b->lane->pin_dir)
		return -ENOENT;
	err = np_maps_open(b->lane->pin_dir, &maps);
	if (err)
		return err;
	err = np_verdicts_read(&maps, v);
	np_maps_close(&maps);
	return err;
}

static long long relay_udp_in(struct bench *b)
{
	long long v;

	if (b->relay_ns < 0)
		return -1;
	netns_enter(b->relay_ns);
	v = udp_stat("InDatagrams");
	netns_enter(b->gen_ns);
	return v;
}

/* The two 16-bit words of a 32-bit value as it lies in memory. */
static __u64 words(__u32 v)
{
	return (v & 0xffff) + (v >> 16);
}

/*
 * The next frame of lane L into DATA (MB_FRAME_LEN bytes, the bytes after
 * the benchmark payload zero), as gen.bpf.c writes it: Ethernet to the
 * relay's MAC, the stream's IPv4/UDP headers, RTP v2 PCMU with sequence
 * and timestamp from the round, the benchmark payload with the send time
 * (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns()) and the UDP checksum
 * from the stream's base plus the words written per packet.
 */
static void frame_write(struct lane *l, __u8 *data, __u32 trial)
{
	__u64 seq = l->gseq++, now, sum;
	__u32 n = l->nstreams, idx = seq % n, round = seq / n, w[3];
	const struct mb_stream *s = &l->table[idx];
	struct mb_payload pl;
	__u16 check;

	memcpy(data, l->dst_mac, ETH_ALEN);
	memcpy(data + ETH_ALEN, l->src_mac, ETH_ALEN);
	data[12] = ETH_P_IP >> 8;
	data[13] = ETH_P_IP & 0xff;
	memcpy(data + MB_ETH_LEN, s->hdr, sizeof(s->hdr));
	w[0] = htonl(0x80000000u | (round & 0xffff));
	w[1] = htonl(round * 160);
	w[2] = htonl(idx); /* SSRC: constant per stream */
	memcpy(data + MB_ETH_LEN + 28, w, sizeof(w));
	now = now_ns();
	pl.magic = htonl(MB_MAGIC);
	pl.stream = idx;
	pl.trial = trial;
	pl.pad = 0;
	pl.tx_ns = now;
	pl.gseq = seq;
	memcpy(data + MB_ETH_LEN + 28 + MB_RTP_LEN, &pl, sizeof(pl));
	sum = s->csum_base + words(w[0]) + words(w[1]) + words(trial) +
	      words((__u32)now) + words((__u32)(now >> 32)) +
	      words((__u32)seq) + words((__u32)(seq >> 32));
	/* The base is folded: the sum stays far below 2^32. */
	check = ~csum_fold((__u32)sum) & 0xffff;
	if (!check)
		check = 0xffff;
	memcpy(data + MB_ETH_LEN + 26, &check, 2);
}

/*
 * Sends K frames of the current lane (into the baseline sink with
 * b->baseline) by AF_XDP, BATCH frames per flush. 0 or -errno.
 */
static int xdp_send(struct bench *b, __u64 k, __u32 batch)
{
	struct xsk_tx *x = b->baseline ? &b->base_xsk : &b->lane->xsk;
	__u64 done = 0, addr;
	__u32 q, idle = 0;
	__u8 *f;
	int err;

	while (done < k) {
		for (q = 0; q < batch && done + q < k; q++) {
			f = xt_frame(x, &addr);
			if (!f)
				break;
			frame_write(b->lane, f, b->trial);
			xt_queue(x, addr, MB_FRAME_LEN);
		}
		err = xt_flush(x);
		if (err)
			return err;
		/* No chunk came back for long: the kernel holds them all. */
		idle = q ? 0 : idle + 1;
		if (idle > 100000)
			return -ENOBUFS;
		done += q;
	}
	return 0;
}

/*
 * Waits (3 s at most) for the generator's CPU to be quiet, under 20% busy
 * over 100 ms: the kernel may still be at work there on an earlier step
 * (freeing half a million flows), and would take CPU from the trial.
 */
static void cpu_settle(const struct bench *b)
{
	struct timespec ts = { 0, 100000000 };
	double c;
	int i;

	for (i = 0; i < 30; i++) {
		c = cpu_busy_s(b->cpu);
		nanosleep(&ts, NULL);
		if (cpu_busy_s(b->cpu) - c < 0.02)
			return;
	}
}

/*
 * GEN_PUMP: of K frames of the current lane, what one tree of tokens makes,
 * in one AF_XDP send. With BATCH > 1, one token whose 2^split copies (a
 * NAPI poll's worth at most) make K >> split frames each; the rest (fewer
 * than the copies) waits for the next call or, the LAST call of a trial,
 * goes as one token per bit set in it. With BATCH 1, a token of one frame
 * per frame. The frames sent, or -errno.
 */
static long pump_send(struct bench *b, __u64 k, __u32 batch, bool last)
{
	struct xsk_tx *x = &b->lane->pump_xsk;
	struct mb_token tok = { .magic = htonl(MB_TOKEN_MAGIC) };
	__u64 left = k, addr;
	__u32 idle = 0;
	__u8 *f;
	int err;

	while (left) {
		if (batch == 1) {
			tok.left = 1;
			tok.split = 0;
		} else {
			/* The largest tree first, then the rest's bits. */
			for (tok.split = 0; tok.split < MB_TOKEN_SPLIT_MAX &&
					    2ull << tok.split <= left;)
				tok.split++;
			tok.left = left >> tok.split;
			if (left != k && !last)
				break;
		}
		f = xt_frame(x, &addr);
		if (!f) {
			err = xt_flush(x);
			if (err)
				return err;
			if (++idle > 100000)
				return -ENOBUFS;
			continue;
		}
		memset(f, 0, MB_FRAME_LEN);
		memcpy(f + MB_TOKEN_OFF, &tok, sizeof(tok));
		xt_queue(x, addr, MB_FRAME_LEN);
		left -= (__u64)tok.left << tok.split;
		idle = 0;
	}
	err = xt_flush(x);
	return err ? err : (long)(k - left);
}

/* GEN_PUMP: the lane's pump sends towards IFINDEX (the relay, the baseline). */
static int pump_route(struct lane *l, unsigned int ifindex)
{
	__u32 key = 0;

	if (bpf_map__update_elem(l->gen->maps.mb_pump_tx, &key, sizeof(key),
				 &ifindex, sizeof(ifindex), 0))
		return -errno;
	return 0;
}

/*
 * One trial: COUNT packets offered at TARGET pps in 1 ms ticks (each tick
 * one BPF_PROG_RUN call, one AF_XDP send or one pump tree, for what is
 * due), then up to 1 s for the sink to see the last of them.
 */
static int run_trial(struct bench *b, double target, __u64 count, __u32 batch,
		     bool latency, struct trial *t)
{
	__u8 frame[MB_FRAME_LEN] = { 0 };
	struct xdp_md ctx_in = { .data_end = MB_FRAME_LEN,
				 .ingress_ifindex = b->baseline ?
							    b->base_ifindex :
							    b->lane->gen_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
		    .data_size_in = sizeof(frame), .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = batch);
	int prog = b->gen == GEN_LIVE ?
			   bpf_program__fd(b->lane->gen->progs.mb_gen) : -1;
	__u64 t0, now, due, sent = 0, limit, last_rx = 0, rx, *h = NULL, p0 = 0;
	__u64 v0[NP_V_MAX] = { 0 };
	long long u0, u1;
	double c0, m0, k0, r0;
	int err, stable = 0, i;
	struct timespec ts;

	/*
	 * Each call sets up and tears down a page pool whose pages are new,
	 * so a call of few frames costs several times more per frame than a
	 * long one: calls carry MIN_CALL frames at least (batch 1, for the
	 * latency trial, excepted), a burst every MIN_CALL / target seconds
	 * at low rates, every millisecond above. The AF_XDP generator sends
	 * alike: a send of one frame costs a system call and a flush, and a
	 * generator near its CPU's limit would chase frames one at a time.
	 */
	__u64 min_call = batch > 1 ? MIN_CALL : 1;
	__u64 tick = TICK_NS;

	if (min_call / target * 1e9 > tick)
		tick = (__u64)(min_call / target * 1e9);
	memset(t, 0, sizeof(*t));
	t->target_pps = target;
	b->trial++;
	if (b->gen == GEN_LIVE || b->gen == GEN_PUMP)
		b->lane->gen->bss->trial = b->trial;
	if (b->gen == GEN_PUMP) {
		err = pump_route(b->lane, b->baseline ? b->base_ifindex :
							b->lane->gen_ifindex);
		if (err)
			return err;
		p0 = b->lane->gen->bss->pumped;
	}
	b->sink->bss->trial = b->trial;
	sink_reset(b);
	memset(b->per_stream, 0, b->lane->nstreams * sizeof(__u64));
	if (latency) {
		h = calloc(MB_HIST_N, sizeof(*h));
		if (!h || hist_take(b, h))
			return -ENOMEM;
	}
	t->have_verdicts = !verdicts_read(b, v0);
	if (batch > 1)
		cpu_settle(b);
	u0 = relay_udp_in(b);
	m0 = cpu_busy_s(-1);
	c0 = proc_cpu_s(0);
	k0 = softirqd_cpu_s();
	r0 = relays_cpu_s(b->lane->relay_pids);
	/*
	 * Bounded: sending stops at 1.5x the intended time plus 0.5 s; a
	 * generator that fell behind has offered what it sent by then.
	 */
	limit = (__u64)(count / target * 1.5e9) + 500000000ull;
	t0 = now_ns();
	while (sent < count) {
		now = now_ns();
		if (now - t0 > limit) {
			t->fell_behind = true;
			break;
		}
		due = (__u64)((now - t0) / 1e9 * target) + 1;
		if (due > count)
			due = count;
		if (due > sent && (due - sent >= min_call || due == count)) {
			__u64 k = due - sent;

			/* At most 16Ki frames a call: the time bound holds. */
			k = k > 16384 ? 16384 : k;
			if (b->gen != GEN_LIVE) {
				long n = b->gen == GEN_PUMP ?
						 pump_send(b, k, batch, due == count) :
						 xdp_send(b, k, batch);

				if (n < 0) {
					np_err("generator %s send: %s",
					       gen_names[b->gen],
					       strerror((int)-n));
					free(h);
					return (int)n;
				}
				sent += b->gen == GEN_PUMP ? (__u64)n : k;
				continue;
			}
			opts.repeat = k;
			err = bpf_prog_test_run_opts(prog, &opts);
			if (err && errno != EINTR) {
				np_err("generator BPF_PROG_RUN: %s",
				       strerror(errno));
				free(h);
				return -errno;
			}
			sent += opts.repeat;
			continue;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = tick - (now - t0) % tick;
		nanosleep(&ts, NULL);
	}
	t->send_s = (now_ns() - t0) / 1e9;
	/* Drain: stop once the sink stood still for 100 ms (max 1 s). */
	for (i = 0; i < 50 && stable < 5; i++) {
		ts.tv_sec = 0;
		ts.tv_nsec = 20000000;
		nanosleep(&ts, NULL);
		rx = sink_counter(b, MB_RX);
		if (rx >= sent)
			break;
		stable = rx == last_rx ? stable + 1 : 0;
		last_rx = rx;
	}
	t->cpu_softirqd_s = softirqd_cpu_s() - k0;
	t->cpu_relays_s = relays_cpu_s(b->lane->relay_pids) - r0;
	t->cpu_s = proc_cpu_s(0) - c0 + t->cpu_softirqd_s + t->cpu_relays_s;
	t->cpu_machine_s = cpu_busy_s(-1) - m0;
	u1 = relay_udp_in(b);
	/*
	 * What the pump made of the tokens: fewer where tokens were dropped
	 * on the way in, its ring full, which is never loss. Short by more
	 * than 2%, its CPU saturated: the generator fell behind. A few
	 * tokens short is a moment's contention for the CPU (at 800,000
	 * packets/s, 0.9% once), which must not end a search.
	 */
	if (b->gen == GEN_PUMP) {
		__u64 made = b->lane->gen->bss->pumped - p0;

		if (made < sent * 0.98)
			t->fell_behind = true;
		sent = made;
	}
	t->sent = sent;
	t->rx = sink_counter(b, MB_RX);
	t->stale = sink_counter(b, MB_STALE);
	t->misaddr = sink_counter(b, MB_MISADDR);
	t->offered_pps = sent / t->send_s;
	t->loss = sent ? (double)(sent - (t->rx < sent ? t->rx : sent)) / sent
		       : 1;
	t->user_pkts = u0 >= 0 && u1 >= u0 ? (__u64)(u1 - u0) : 0;
	if (t->offered_pps < 0.8 * target)
		t->fell_behind = true;
	t->first_silent = -1;
	/* Only when every stream was sent on (gseq runs on across trials). */
	for (size_t k = 0; sent >= b->lane->nstreams && k < b->lane->nstreams; k++) {
		if (b->per_stream[k])
			continue;
		if (!t->silent++)
			t->first_silent = k;
	}
	if (t->have_verdicts && !verdicts_read(b, t->verdicts))
		for (i = 0; i < NP_V_MAX; i++)
			t->verdicts[i] -= v0[i];
	if (latency) {
		hist_take(b, h);
		t->p50_ns = hist_pct(h, 0.50);
		t->p99_ns = hist_pct(h, 0.99);
		t->mean_ns = t->rx ? (double)sink_counter(b, MB_LAT_SUM) / t->rx
				   : -1;
		t->max_ns = sink_counter(b, MB_LAT_MAX);
		free(h);
	}
	fprintf(stderr,
		"  trial %3u: target %9.0f pps, offered %9.0f, sent %9llu, "
		"rx %9llu, loss %.5f%%, cpu %.2f s (ksoftirqd %.2f, relay "
		"processes %.2f; machine %.2f)%s",
		b->trial, target, t->offered_pps, (unsigned long long)sent,
		(unsigned long long)t->rx, t->loss * 100, t->cpu_s,
		t->cpu_softirqd_s, t->cpu_relays_s, t->cpu_machine_s,
		t->fell_behind ? " (generator fell behind)" : "");
	if (t->silent)
		fprintf(stderr, ", %llu streams silent (first: %ld)",
			(unsigned long long)t->silent, t->first_silent);
	fprintf(stderr, "\n");
	return 0;
}

static void trial_json(FILE *f, const struct trial *t)
{
	fprintf(f,
		"{\"target_pps\": %.0f, \"offered_pps\": %.0f, \"sent\": %llu, "
		"\"received\": %llu, \"loss\": %.6f, \"send_s\": %.3f, "
		"\"cpu_s\": %.3f, \"cpu_ksoftirqd_s\": %.3f, "
		"\"cpu_relay_processes_s\": %.3f, "
		"\"cpu_machine_s\": %.3f, \"fell_behind\": %s, \"stale\": %llu, "
		"\"misaddressed\": %llu, \"udp_in_datagrams\": %llu, "
		"\"silent_streams\": %llu",
		t->target_pps, t->offered_pps, (unsigned long long)t->sent,
		(unsigned long long)t->rx, t->loss, t->send_s, t->cpu_s,
		t->cpu_softirqd_s, t->cpu_relays_s, t->cpu_machine_s, t->fell_behind ? "true" : "false",
		(unsigned long long)t->stale, (unsigned long long)t->misaddr,
		(unsigned long long)t->user_pkts,
		(unsigned long long)t->silent);
	if (t->have_verdicts)
		fprintf(f,
			", \"natproxy_xdp\": {\"relayed\": %llu, "
			"\"to_kernel\": %llu, \"no_flow\": %llu, "
			"\"dropped\": %llu}",
			(unsigned long long)(t->verdicts[NP_V_TX] +
					     t->verdicts[NP_V_REDIRECT]),
			(unsigned long long)(t->verdicts[NP_V_PASS_NO_NEIGH] +
					     t->verdicts[NP_V_PASS_NO_ROUTE] +
					     t->verdicts[NP_V_PASS_EGRESS] +
					     t->verdicts[NP_V_PASS_TTL]),
			(unsigned long long)t->verdicts[NP_V_PASS_NO_FLOW],
			(unsigned long long)(t->verdicts[NP_V_DROP_SOURCE] +
					     t->verdicts[NP_V_DROP_LATCH] +
					     t->verdicts[NP_V_DROP_RATE] +
					     t->verdicts[NP_V_DROP_NO_DEST]));
	fprintf(f, "}");
}

static void stream_hdr(const struct stream *st, __u32 idx, struct mb_stream *m)
{
	__u8 seg[12 + MB_UDP_LEN] = { 0 }; /* pseudo-header + UDP */
	__u8 *ip = m->hdr, *udp = m->hdr + 20;
	__u32 sum = 0, v;
	__u16 w, tot = htons(MB_IP_LEN), ulen = htons(MB_UDP_LEN);
	size_t i;

	memset(m, 0, sizeof(*m));
	ip[0] = 0x45;
	memcpy(ip + 2, &tot, 2);
	w = htons(idx & 0xffff);
	memcpy(ip + 4, &w, 2);
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &st->saddr, 4);
	memcpy(ip + 16, &st->daddr, 4);
	for (i = 0; i < 20; i += 2) {
		memcpy(&w, ip + i, 2);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	w = ~sum;
	memcpy(ip + 10, &w, 2);

	memcpy(udp, &st->sport, 2);
	memcpy(udp + 2, &st->dport, 2);
	memcpy(udp + 4, &ulen, 2);

	/* Constant bytes of the checksum: per-packet words left zero. */
	memcpy(seg, &st->saddr, 4);
	memcpy(seg + 4, &st->daddr, 4);
	seg[9] = IPPROTO_UDP;
	memcpy(seg + 10, &ulen, 2);
	memcpy(seg + 12, udp, 8);
	v = htonl(idx); /* RTP SSRC */
	memcpy(seg + 20 + 8, &v, 4);
	v = htonl(MB_MAGIC);
	memcpy(seg + 20 + 12, &v, 4);
	memcpy(seg + 20 + 16, &idx, 4); /* stream, host order */
	sum = 0;
	for (i = 0; i < sizeof(seg); i += 2) {
		memcpy(&w, seg + i, 2);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	m->csum_base = sum;
}

/* Detaches what this run attached to IFINDEX (0: nothing) in namespace NS. */
static void detach(int ns, unsigned int ifindex)
{
	if (!ifindex || netns_enter(ns))
		return;
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
}

/*
 * A realistic load instead of the search (--fixed-pps): every stream at the
 * rate a call sends (the streams' total given), for fixed_s seconds through
 * the relay and then into the baseline sink, as the CPU trials below. What
 * counts there is the loss at that load and the CPU it costs per stream,
 * not a highest rate. Writes OUT's JSON; 0 or 1.
 */
static int fixed_load(struct bench *b, double pps, double secs,
		      const char *label, const char *out,
		      const struct trial *newt)
{
	struct trial load, base;
	double relay_s;
	FILE *f;

	/* natproxyd probes its interfaces every second, and the sink was
	 * just attached: until it has seen it, media leaves by the kernel. */
	usleep(1500000);
	if (run_trial(b, pps, (__u64)(pps * secs), 64, false, &load))
		return 1;
	if (b->base_ifindex) {
		b->baseline = true;
		if (run_trial(b, pps, (__u64)(pps * secs), 64, false, &base)) {
			b->baseline = false;
			return 1;
		}
		b->baseline = false;
	} else {
		memset(&base, 0, sizeof(base));
	}
	relay_s = load.cpu_s - base.cpu_s;
	f = fopen(out, "w");
	if (!f) {
		np_err("cannot write '%s': %s", out, strerror(errno));
		return 1;
	}
	fprintf(f,
		"{\"label\": \"%s\", \"streams\": %zu, \"generator\": \"%s\", "
		"\"fixed_pps\": %.0f, "
		"\"per_stream_pps\": %.1f, \"loss\": %.6f, "
		"\"silent_streams\": %llu, "
		"\"cpu_relay_s_per_s\": %.5f, \"cpu_total_s_per_s\": %.5f, "
		"\"cpu_relay_us_per_stream_s\": %.3f, "
		"\"cpu_relay_s_per_mpkt\": %.4f, \"new_stream_trial\": ",
		label, b->lane->nstreams, gen_names[b->gen], pps,
		pps / b->lane->nstreams, load.loss,
		(unsigned long long)load.silent, relay_s / load.send_s, load.cpu_s / load.send_s,
		relay_s / load.send_s / b->lane->nstreams * 1e6,
		load.rx ? relay_s / (load.rx / 1e6) : -1);
	trial_json(f, newt);
	fprintf(f, ", \"trial\": ");
	trial_json(f, &load);
	fprintf(f, ", \"baseline_trial\": ");
	trial_json(f, &base);
	fprintf(f, "}\n");
	fclose(f);
	return 0;
}

/*
 * The zero-loss search. The machine is shared: a trial that fails is run
 * once more at the same rate, and the doubling goes on past a rate where
 * the generator fell behind (its CPU taken by others, or saturated) until
 * two rates in a row did (--saturated-passes). Bisection runs between the best rate offered in
 * a pass and the rate offered in the fail. Where the generator's CPU
 * saturated in a pass, what it offered depends on how much of that CPU
 * others left it (others only ever take some away): more tries at the rate
 * of the fastest such pass
 * (--saturated-tries, 4 by default). The result is the highest rate
 * offered in a trial that passed.
 */
static void search_start(struct search *s, double start_pps, double max_pps,
			 int retries, int max_behind)
{
	memset(s, 0, sizeof(*s));
	s->r = start_pps;
	s->max_pps = max_pps;
	s->retries = retries;
	s->max_behind = max_behind;
}

/* From doubling to bisection, between the best pass and the fail. */
static void search_bisect(struct search *s)
{
	s->phase = SEARCH_BISECT;
	if (s->best && s->hi > 0 && s->hi < s->best->offered_pps * 1.05)
		s->hi = 0; /* nothing left between pass and fail */
	if (s->best)
		s->lo = s->best->offered_pps;
}

/* The next trial's rate; 0 once the search is done. */
static double search_rate(struct search *s)
{
	for (;;) {
		switch (s->phase) {
		case SEARCH_DOUBLE:
			if (s->ntr < 24)
				return s->r;
			search_bisect(s);
			break;
		case SEARCH_BISECT:
			if (s->hi > 0 && s->step < 4 && s->ntr < 40)
				return s->lo ? sqrt(s->lo * s->hi) : s->hi / 2;
			s->phase = SEARCH_RETRY;
			s->step = 0;
			break;
		case SEARCH_RETRY:
			if (s->sat && s->step < s->retries && s->ntr < 40)
				return s->sat->target_pps;
			s->phase = SEARCH_DONE;
			break;
		case SEARCH_DONE:
			return 0;
		}
	}
}

/* A pass: the best so far, and the fastest saturated one. */
static void search_passed(struct search *s, struct trial *t)
{
	if (!s->best || t->offered_pps > s->best->offered_pps)
		s->best = t;
	if (t->fell_behind && (!s->sat || t->offered_pps > s->sat->offered_pps))
		s->sat = t;
}

/* The trial at search_rate's rate is in s->tr[s->ntr - 1]. */
static void search_took(struct search *s)
{
	struct trial *t = &s->tr[s->ntr - 1];
	bool pass = t->loss < LOSS_LIMIT;

	switch (s->phase) {
	case SEARCH_DOUBLE:
		if (!pass && !s->retried) {
			s->retried = true;
			return;
		}
		s->retried = false;
		if (pass) {
			search_passed(s, t);
			s->lo = s->r;
			s->behind = t->fell_behind ? s->behind + 1 : 0;
			if (s->behind < s->max_behind && s->r < s->max_pps) {
				s->r = s->r * 2 > s->max_pps ? s->max_pps
							     : s->r * 2;
				return;
			}
		} else {
			/* What failed is what was offered, not the target. */
			s->hi = t->fell_behind ? t->offered_pps : s->r;
		}
		search_bisect(s);
		return;
	case SEARCH_BISECT:
		if (pass) {
			search_passed(s, t);
			s->lo = t->target_pps;
		} else {
			s->hi = t->fell_behind ? t->offered_pps : t->target_pps;
		}
		s->step++;
		return;
	case SEARCH_RETRY:
		if (pass)
			search_passed(s, t);
		s->step++;
		return;
	case SEARCH_DONE:
		return;
	}
}

static int lane_xdp_setup(struct lane *l, const char *gen_dev,
			  const char *idle_dev, const __u8 *dst_mac,
			  const struct stream *st);

/* The name of one end (0: where tokens go in, 1: mb_pump's) of L's pump. */
static void pump_name(const struct lane *l, int end, char *name)
{
	snprintf(name, IFNAMSIZ, "mbp%u%c", l->gen_ifindex, end ? 'b' : 'a');
}

/*
 * Does mb_pump do what pump_send counts on? Plain test runs (no frame
 * leaves): a token with a split to make splits and writes nothing; one
 * with frames left becomes the FIRST stream's frame to DST_MAC (its IPv4
 * header, checksum included, ports and length as the stream table has
 * them), with a right UDP checksum over the token it still carries, one
 * frame less left, and is counted. The generator's counts are set back
 * after. 0 or -1.
 */
static int pump_check(struct lane *l, const __u8 *dst_mac,
		      const struct mb_stream *first)
{
	__u8 in[MB_FRAME_LEN] = { 0 }, out[MB_FRAME_LEN];
	const struct iphdr *ip = (const struct iphdr *)(out + MB_ETH_LEN);
	struct mb_token tok = { .left = 2, .split = 1,
				.magic = htonl(MB_TOKEN_MAGIC) }, got;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in,
		    .data_size_in = sizeof(in), .data_out = out,
		    .data_size_out = sizeof(out));
	int fd = bpf_program__fd(l->gen->progs.mb_pump), bad = 0;
	struct mb_payload pl;

	memcpy(in + MB_TOKEN_OFF, &tok, sizeof(tok));
	if (bpf_prog_test_run_opts(fd, &opts))
		goto err;
	memcpy(&got, out + MB_TOKEN_OFF, sizeof(got));
	bad |= opts.retval != XDP_REDIRECT || got.split != 0 || got.left != 2 ||
	       l->gen->bss->gseq != 0;
	memcpy(in + MB_TOKEN_OFF, &got, sizeof(got));
	opts.data_size_out = sizeof(out);
	if (bpf_prog_test_run_opts(fd, &opts))
		goto err;
	memcpy(&got, out + MB_TOKEN_OFF, sizeof(got));
	memcpy(&pl, out + MB_ETH_LEN + 28 + MB_RTP_LEN, sizeof(pl));
	bad |= opts.retval != XDP_REDIRECT || got.left != 1 ||
	       l->gen->bss->pumped != 1 || pl.magic != htonl(MB_MAGIC) ||
	       pl.stream != 0 || pl.gseq != 0 ||
	       memcmp(out, dst_mac, ETH_ALEN) ||
	       memcmp(out + MB_ETH_LEN, first->hdr, 26) ||
	       udp4_sum(ip, (const struct udphdr *)(ip + 1)) != 0xffff;
	l->gen->bss->gseq = 0;
	l->gen->bss->pumped = 0;
	if (bad)
		np_err("%s: the pump's frame or token is wrong", l->label);
	return bad ? -1 : 0;
err:
	np_err("%s: pump test run: %s", l->label, strerror(errno));
	return -1;
}

/*
 * GEN_PUMP: a veth pair of the lane's own in the generator's namespace,
 * mb_pump on one end sending back into the other end, and the AF_XDP
 * socket the tokens go in by. Its way out (the lane's interface, or the
 * baseline's) each trial sets (pump_route).
 */
static int pump_setup(struct lane *l)
{
	char a[IFNAMSIZ], bn[IFNAMSIZ], cmd[200];
	__u32 key = 1, zero = 0, peer;
	__u8 m6[6];
	int err;

	pump_name(l, 0, a);
	pump_name(l, 1, bn);
	snprintf(cmd, sizeof(cmd),
		 "ip link del %s 2>/dev/null; ip link add %s type veth peer "
		 "name %s && ip link set %s up && ip link set %s up",
		 a, a, bn, a, bn);
	if (system(cmd)) {
		np_err("%s: cannot make the pump's veth pair %s", l->label, a);
		return -1;
	}
	if (if_info(a, &l->pump_ifindex, m6) ||
	    if_info(bn, &peer, m6) ||
	    bpf_xdp_attach(peer,
			   bpf_program__fd(l->gen->progs.mb_pump),
			   XDP_FLAGS_DRV_MODE, NULL)) {
		np_err("%s: cannot attach the pump to '%s'", l->label, bn);
		return -1;
	}
	if (bpf_map__update_elem(l->gen->maps.mb_pump_tx, &key, sizeof(key),
				 &l->pump_ifindex, sizeof(l->pump_ifindex), 0) ||
	    bpf_map__update_elem(l->gen->maps.mb_pump_split, &zero,
				 sizeof(zero), &l->pump_ifindex,
				 sizeof(l->pump_ifindex), 0) ||
	    bpf_map__update_elem(l->gen->maps.mb_pump_split, &key,
				 sizeof(key), &l->pump_ifindex,
				 sizeof(l->pump_ifindex), 0)) {
		np_err("%s: the pump's ways out: %s", l->label, strerror(errno));
		return -1;
	}
	err = xt_open(&l->pump_xsk, l->pump_ifindex);
	if (err) {
		np_err("%s: AF_XDP socket on '%s': %s", l->label, a,
		       strerror(-err));
		return -1;
	}
	return 0;
}

/* The pair goes with its program and socket. */
static void pump_teardown(struct lane *l)
{
	char a[IFNAMSIZ], cmd[80];

	xt_close(&l->pump_xsk);
	if (!l->pump_ifindex)
		return;
	pump_name(l, 0, a);
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", a);
	if (system(cmd))
		np_err("%s: could not remove '%s'", l->label, a);
	l->pump_ifindex = 0;
}

/*
 * The lane's generator: loaded, attached to IDLE_DEV (a test run of a
 * program attached nowhere puts it into the XDP dispatcher and takes it out
 * again, a synchronize_rcu() each time: every BPF_PROG_RUN call would sleep
 * for two grace periods; attached natively to an interface that never
 * receives, it stays), its frames to DST_MAC from GEN_DEV, its stream
 * table filled. In the generator's namespace.
 */
static int lane_gen_setup(struct lane *l, enum gen_kind kind,
			  const char *gen_dev, const char *idle_dev,
			  const __u8 *dst_mac, const struct stream *st)
{
	__u8 gen_mac[6], m6[6];
	struct mb_stream first;

	if (kind == GEN_AF_XDP)
		return lane_xdp_setup(l, gen_dev, idle_dev, dst_mac, st);
	l->gen = mb_gen_bpf__open_and_load();
	if (!l->gen) {
		np_err("%s: cannot load the generator", l->label);
		return -1;
	}
	if (if_info(gen_dev, &l->gen_ifindex, gen_mac))
		return -1;
	if (idle_dev && kind == GEN_PUMP) {
		if (if_info(idle_dev, &l->idle_ifindex, m6))
			return -1;
	} else if (idle_dev) {
		if (if_info(idle_dev, &l->idle_ifindex, m6) ||
		    bpf_xdp_attach(l->idle_ifindex,
				   bpf_program__fd(l->gen->progs.mb_gen),
				   XDP_FLAGS_DRV_MODE, NULL)) {
			np_err("cannot attach the generator to '%s'", idle_dev);
			l->idle_ifindex = 0;
			return -1;
		}
	}
	memcpy(l->gen->bss->dst_mac, dst_mac, 6);
	memcpy(l->gen->bss->src_mac, gen_mac, 6);
	for (size_t k = 0; k < l->nstreams; k++) {
		struct mb_stream m;
		__u32 key = k;

		stream_hdr(&st[k], key, &m);
		if (bpf_map__update_elem(l->gen->maps.mb_streams, &key,
					 sizeof(key), &m, sizeof(m), 0)) {
			np_err("stream table: %s", strerror(errno));
			return -1;
		}
	}
	l->gen->bss->nstreams = l->nstreams;
	if (kind != GEN_PUMP)
		return 0;
	stream_hdr(&st[0], 0, &first);
	return pump_check(l, dst_mac, &first) || pump_setup(l) ? -1 : 0;
}

/* Is frame_write's UDP checksum right? Checked on one frame per lane. */
static int frame_check(struct lane *l)
{
	__u8 f[MB_FRAME_LEN] = { 0 };
	const struct iphdr *ip = (const struct iphdr *)(f + MB_ETH_LEN);

	frame_write(l, f, 12345);
	l->gseq = 0;
	if (udp4_sum(ip, (const struct udphdr *)(ip + 1)) != 0xffff) {
		np_err("%s: the generator's UDP checksum is wrong", l->label);
		return -1;
	}
	return 0;
}

/*
 * The generator of the kind BPF_PROG_RUN with live frames cannot be: the
 * stream table in user space, an AF_XDP socket out of GEN_DEV (the idle
 * veth is only the baseline's way out here: nothing needs attaching).
 */
static int lane_xdp_setup(struct lane *l, const char *gen_dev,
			  const char *idle_dev, const __u8 *dst_mac,
			  const struct stream *st)
{
	__u8 m6[6];
	int err;

	if (if_info(gen_dev, &l->gen_ifindex, l->src_mac) ||
	    (idle_dev && if_info(idle_dev, &l->idle_ifindex, m6)))
		return -1;
	memcpy(l->dst_mac, dst_mac, 6);
	l->table = calloc(l->nstreams, sizeof(*l->table));
	if (!l->table)
		return -1;
	for (size_t k = 0; k < l->nstreams; k++)
		stream_hdr(&st[k], k, &l->table[k]);
	if (frame_check(l))
		return -1;
	err = xt_open(&l->xsk, l->gen_ifindex);
	if (err) {
		np_err("%s: AF_XDP socket on '%s': %s", l->label, gen_dev,
		       strerror(-err));
		return -1;
	}
	return 0;
}

/*
 * Live frames or the pump (GEN_AUTO: live frames if the kernel takes them).
 * The probe runs the generator once with live frames and no stream (it
 * returns XDP_ABORTED: nothing is sent); this kernel (6.18.44-fc) refuses
 * every such run with EPERM, whatever the program.
 */
static enum gen_kind gen_choose(enum gen_kind want, unsigned int ifindex)
{
	__u8 frame[MB_FRAME_LEN] = { 0 };
	struct xdp_md ctx_in = { .data_end = MB_FRAME_LEN,
				 .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
		    .data_size_in = sizeof(frame), .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = 1);
	struct mb_gen_bpf *g;
	int err;

	if (want != GEN_AUTO)
		return want;
	g = mb_gen_bpf__open_and_load();
	if (!g)
		return GEN_AF_XDP;
	err = bpf_prog_test_run_opts(bpf_program__fd(g->progs.mb_gen), &opts);
	err = err ? errno : 0;
	mb_gen_bpf__destroy(g);
	if (err)
		fprintf(stderr, "BPF_PROG_RUN with live frames: %s; the "
			"generator is the pump\n", strerror(err));
	return err ? GEN_PUMP : GEN_LIVE;
}

/* The lane's JSON (its search, latency and CPU trials); 0 or -1. */
static int lane_write(const struct lane *l, enum gen_kind gen,
		      unsigned int new_rounds, const char *pair_label)
{
	const struct search *s = &l->s;
	const struct trial *best = s->best;
	FILE *f = fopen(l->out, "w");
	int i;

	if (!f) {
		np_err("cannot write '%s': %s", l->out, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"label\": \"%s\", \"streams\": %zu, \"generator\": \"%s\", ",
		l->label, l->nstreams, gen_names[gen]);
	if (pair_label)
		fprintf(f, "\"trials_alternate_with\": \"%s\", ", pair_label);
	if (best)
		fprintf(f,
			"\"zero_loss_pps\": %.0f, \"zero_loss_limited_by_"
			"generator\": %s, \"cpu_s_per_mpkt\": %.4f, "
			"\"cpu_machine_s_per_mpkt\": %.4f, ",
			best->offered_pps, best->fell_behind ? "true" : "false",
			best->rx ? best->cpu_s / (best->rx / 1e6) : -1,
			best->rx ? best->cpu_machine_s / (best->rx / 1e6) : -1);
	else
		fprintf(f, "\"zero_loss_pps\": 0, \"cpu_s_per_mpkt\": null, ");
	fprintf(f,
		"\"latency_pps\": %.0f, \"latency_p50_ns\": %.0f, "
		"\"latency_p99_ns\": %.0f, \"latency_mean_ns\": %.0f, "
		"\"latency_max_ns\": %.0f, \"latency_loss\": %.6f, ",
		l->lat.target_pps, l->lat.p50_ns, l->lat.p99_ns,
		l->lat.mean_ns, l->lat.max_ns, l->lat.loss);
	fprintf(f,
		"\"new_stream_packets\": %u, \"to_user_per_stream\": %.3f, "
		"\"new_stream_trial\": ",
		new_rounds, (double)l->newt.user_pkts / l->nstreams);
	trial_json(f, &l->newt);
	fprintf(f, ", \"trials\": [");
	for (i = 0; i < s->ntr; i++) {
		fprintf(f, "%s", i ? ", " : "");
		trial_json(f, &s->tr[i]);
	}
	fprintf(f, "], \"latency_trial\": ");
	trial_json(f, &l->lat);
	if (l->have_cpu) {
		const struct trial *r = &l->cpu_r, *b = &l->cpu_b;

		fprintf(f,
			", \"cpu_pps\": %.0f, \"cpu_total_s_per_mpkt\": %.4f, "
			"\"cpu_baseline_s_per_mpkt\": %.4f, "
			"\"cpu_relay_s_per_mpkt\": %.4f, \"cpu_trial\": ",
			r->target_pps, r->rx ? r->cpu_s / (r->rx / 1e6) : -1,
			b->rx ? b->cpu_s / (b->rx / 1e6) : -1,
			r->rx ? (r->cpu_s - b->cpu_s) / (r->rx / 1e6) : -1);
		trial_json(f, r);
		fprintf(f, ", \"cpu_baseline_trial\": ");
		trial_json(f, b);
	}
	fprintf(f, "}\n");
	fclose(f);
	return 0;
}

/* A trial of lane L, COUNT frames (the relay, or the baseline sink with
 * BASELINE). */
static int lane_trial(struct bench *b, struct lane *l, double rate,
		      __u64 count, __u32 batch, bool latency, bool baseline,
		      struct trial *t)
{
	int err;

	b->lane = l;
	b->baseline = baseline;
	err = run_trial(b, rate, count, batch, latency, t);
	b->baseline = false;
	return err;
}

static int cmd_run(int argc, char **argv)
{
	const char *gen_ns = NULL, *gen_dev = NULL, *sink_ns = NULL;
	const char *sink_dev = NULL, *relay_ns = NULL, *relay_dev = NULL;
	const char *streams = NULL, *ceil_out = NULL, *idle_dev = NULL;
	const char *idle_peer = NULL, *ceil_in = NULL, *pair_streams = NULL;
	const char *pair_gen_dev = NULL, *pair_idle_dev = NULL;
	struct in_addr sink_addr = { 0 }, ceil_saddr = { 0 };
	double max_pps = 8e6, trial_s = 1.0, lat_pps = 10000, start_pps = 50000;
	double new_pps = 20000, fixed_pps = 0, fixed_s = 5;
	unsigned int new_rounds = 20, cpu = 1;
	int retries = 4, max_behind = 2;
	__u8 relay_mac[6], sink_mac[6], m6[6], ceil_mac[6];
	struct bench b = { .gen_ns = -1, .sink_ns = -1, .relay_ns = -1,
			   .base_xsk.fd = -1 };
	struct lane lanes[2] = { { .label = "relay", .xsk.fd = -1,
				   .pump_xsk.fd = -1 },
				 { .label = "ceiling", .xsk.fd = -1,
				   .pump_xsk.fd = -1 } };
	struct lane *l;
	int npids = 0, nlanes = 1, c, err = 1, i;
	struct stream *st = NULL, *pst = NULL;
	unsigned int relay_ifindex;
	__u64 sink_t0 = 0;
	bool busy;
	cpu_set_t set;

	static const struct option opts[] = {
		{ "gen-netns", required_argument, NULL, 'G' },
		{ "gen-dev", required_argument, NULL, 'g' },
		{ "relay-netns", required_argument, NULL, 'R' },
		{ "relay-dev", required_argument, NULL, 'r' },
		{ "sink-netns", required_argument, NULL, 'S' },
		{ "sink-dev", required_argument, NULL, 's' },
		{ "sink-addr", required_argument, NULL, 'a' },
		{ "streams", required_argument, NULL, 'f' },
		{ "label", required_argument, NULL, 'l' },
		{ "out", required_argument, NULL, 'o' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "max-pps", required_argument, NULL, 'm' },
		{ "start-pps", required_argument, NULL, 'b' },
		{ "trial-s", required_argument, NULL, 't' },
		{ "latency-pps", required_argument, NULL, 'L' },
		{ "new-rounds", required_argument, NULL, 'n' },
		{ "new-pps", required_argument, NULL, 'N' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "relay-pid", required_argument, NULL, 'P' },
		{ "idle-dev", required_argument, NULL, 'I' },
		{ "idle-peer", required_argument, NULL, 'J' },
		{ "ceiling-out", required_argument, NULL, 'C' },
		{ "ceiling-saddr", required_argument, NULL, 'A' },
		{ "fixed-pps", required_argument, NULL, 'F' },
		{ "fixed-s", required_argument, NULL, 'T' },
		/* The ceiling as a second lane beside the relay. */
		{ "ceiling-in", required_argument, NULL, 'i' },
		{ "ceiling-gen-dev", required_argument, NULL, 'x' },
		{ "ceiling-idle-dev", required_argument, NULL, 'y' },
		{ "ceiling-streams", required_argument, NULL, 'z' },
		{ "ceiling-label", required_argument, NULL, 'u' },
		{ "ceiling-json", required_argument, NULL, 'j' },
		{ "saturated-tries", required_argument, NULL, 'k' },
		{ "saturated-passes", required_argument, NULL, 'K' },
		{ "generator", required_argument, NULL, 'e' },
		{ 0 } };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'G': gen_ns = optarg; break;
		case 'g': gen_dev = optarg; break;
		case 'R': relay_ns = optarg; break;
		case 'r': relay_dev = optarg; break;
		case 'S': sink_ns = optarg; break;
		case 's': sink_dev = optarg; break;
		case 'a': inet_pton(AF_INET, optarg, &sink_addr); break;
		case 'f': streams = optarg; break;
		case 'l': lanes[0].label = optarg; break;
		case 'o': lanes[0].out = optarg; break;
		case 'p': lanes[0].pin_dir = optarg; break;
		case 'm': max_pps = atof(optarg); break;
		case 'b': start_pps = atof(optarg); break;
		case 't': trial_s = atof(optarg); break;
		case 'L': lat_pps = atof(optarg); break;
		case 'n': new_rounds = strtoul(optarg, NULL, 0); break;
		case 'N': new_pps = atof(optarg); break;
		case 'c': cpu = strtoul(optarg, NULL, 0); break;
		case 'P':
			if (npids < MAX_RELAY_PIDS - 1)
				lanes[0].relay_pids[npids++] = atoi(optarg);
			break;
		case 'I': idle_dev = optarg; break;
		case 'J': idle_peer = optarg; break;
		case 'C': ceil_out = optarg; break;
		case 'A': inet_pton(AF_INET, optarg, &ceil_saddr); break;
		case 'F': fixed_pps = atof(optarg); break;
		case 'T': fixed_s = atof(optarg); break;
		case 'i': ceil_in = optarg; break;
		case 'x': pair_gen_dev = optarg; break;
		case 'y': pair_idle_dev = optarg; break;
		case 'z': pair_streams = optarg; break;
		case 'u': lanes[1].label = optarg; break;
		case 'j': lanes[1].out = optarg; break;
		case 'k': retries = atoi(optarg); break;
		case 'K': max_behind = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
		case 'e':
			for (b.gen = GEN_PUMP; b.gen > GEN_AUTO; b.gen--)
				if (!strcmp(optarg, gen_names[b.gen]))
					break;
			if (b.gen == GEN_AUTO && strcmp(optarg, "auto")) {
				np_err("--generator: auto, live_frames, pump "
				       "or af_xdp");
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (!gen_ns || !gen_dev || !sink_ns || !sink_dev || !relay_ns ||
	    !relay_dev || !streams || !lanes[0].out || !sink_addr.s_addr) {
		np_err("run: --gen-netns --gen-dev --relay-netns --relay-dev "
		       "--sink-netns --sink-dev --sink-addr --streams --out "
		       "needed");
		return 2;
	}
	if (pair_gen_dev) {
		if (!ceil_out || !ceil_in || !pair_idle_dev || !pair_streams ||
		    !lanes[1].out || fixed_pps > 0) {
			np_err("run: a ceiling lane needs --ceiling-out "
			       "--ceiling-in --ceiling-idle-dev "
			       "--ceiling-streams --ceiling-json, and no "
			       "--fixed-pps");
			return 2;
		}
		nlanes = 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	b.ncpus = libbpf_num_possible_cpus();
	b.cpu = cpu;
	if (b.ncpus > 256)
		return 1;
	st = streams_read(streams, &lanes[0].nstreams);
	if (!st || !lanes[0].nstreams) {
		np_err("no streams in '%s'", streams);
		return 1;
	}
	if (nlanes == 2) {
		pst = streams_read(pair_streams, &lanes[1].nstreams);
		if (!pst || !lanes[1].nstreams) {
			np_err("no streams in '%s'", pair_streams);
			goto out;
		}
	}
	b.gen_ns = netns_open(gen_ns);
	b.sink_ns = netns_open(sink_ns);
	b.relay_ns = netns_open(relay_ns);
	if (b.gen_ns < 0 || b.sink_ns < 0 || b.relay_ns < 0)
		goto out;

	/* The relay's MAC (and the ceiling, if asked), in its namespace. */
	if (netns_enter(b.relay_ns) ||
	    if_info(relay_dev, &relay_ifindex, relay_mac))
		goto out;

	b.sink = mb_sink_bpf__open_and_load();
	if (!b.sink) {
		np_err("cannot load the sink");
		goto out;
	}
	b.per_stream = mmap(NULL, (size_t)MB_MAX_STREAMS * sizeof(__u64),
			    PROT_READ | PROT_WRITE, MAP_SHARED,
			    bpf_map__fd(b.sink->maps.mb_per_stream), 0);
	if (b.per_stream == MAP_FAILED) {
		np_err("cannot mmap the per-stream counters: %s",
		       strerror(errno));
		b.per_stream = NULL;
		goto out;
	}
	b.sink->bss->sink_addr = sink_addr.s_addr;

	/* Sink first, so the ceiling has its MAC. */
	if (netns_enter(b.sink_ns) ||
	    if_info(sink_dev, &b.sink_ifindex, sink_mac))
		goto out;
	err = bpf_xdp_attach(b.sink_ifindex,
			     bpf_program__fd(b.sink->progs.mb_sink),
			     XDP_FLAGS_DRV_MODE, NULL);
	if (err) {
		np_err("cannot attach the sink to '%s': %s", sink_dev,
		       strerror(-err));
		b.sink_ifindex = 0;
		err = 1;
		goto out;
	}
	err = 1;
	sink_t0 = now_ns();

	/*
	 * The ceiling: on the relay's own interface (a run of the ceiling
	 * alone), or on --ceiling-in (a lane of its own beside the relay,
	 * whose frames enter there from --ceiling-gen-dev).
	 */
	if (ceil_out) {
		unsigned int oi, ci = relay_ifindex;

		netns_enter(b.relay_ns);
		b.ceil = mb_ceiling_bpf__open_and_load();
		if (!b.ceil || if_info(ceil_out, &oi, m6))
			goto out;
		memcpy(ceil_mac, relay_mac, 6);
		if (ceil_in && if_info(ceil_in, &ci, ceil_mac))
			goto out;
		b.ceil->bss->out_ifindex = oi;
		memcpy(b.ceil->bss->out_src_mac, m6, 6);
		memcpy(b.ceil->bss->out_dst_mac, sink_mac, 6);
		b.ceil->bss->new_saddr = ceil_saddr.s_addr;
		b.ceil->bss->new_daddr = sink_addr.s_addr;
		if (bpf_xdp_attach(ci,
				   bpf_program__fd(b.ceil->progs.mb_ceiling),
				   XDP_FLAGS_DRV_MODE, NULL)) {
			np_err("cannot attach the ceiling to '%s'",
			       ceil_in ? ceil_in : relay_dev);
			goto out;
		}
		b.ceil_ifindex = ci;
	}

	if (netns_enter(b.gen_ns))
		goto out;
	b.gen = gen_choose(b.gen, if_nametoindex(gen_dev));
	if (lane_gen_setup(&lanes[0], b.gen, gen_dev, idle_dev, relay_mac,
			   st) ||
	    (nlanes == 2 && lane_gen_setup(&lanes[1], b.gen, pair_gen_dev,
					   pair_idle_dev, ceil_mac, pst)))
		goto out;
	if (idle_dev && idle_peer) {
		/* Every lane's baseline goes out of the first lane's idle
		 * veth: the same path for all. */
		b.base_ifindex = lanes[0].idle_ifindex;
		if (b.gen == GEN_AF_XDP) {
			err = xt_open(&b.base_xsk, b.base_ifindex);
			if (err) {
				np_err("AF_XDP socket on '%s': %s", idle_dev,
				       strerror(-err));
				err = 1;
				goto out;
			}
			err = 1;
		}
		if (if_info(idle_peer, &b.base_sink_ifindex, m6) ||
		    bpf_xdp_attach(b.base_sink_ifindex,
				   bpf_program__fd(b.sink->progs.mb_sink),
				   XDP_FLAGS_DRV_MODE, NULL)) {
			np_err("cannot attach the baseline sink to '%s'",
			       idle_peer);
			b.base_sink_ifindex = 0;
			goto out;
		}
	}
	for (i = 0; i < nlanes; i++)
		fprintf(stderr, "%s: %zu streams, generator (%s) on CPU %u\n",
			lanes[i].label, lanes[i].nstreams, gen_names[b.gen],
			cpu);

	/*
	 * natproxyd probes its interfaces every second: until it has seen
	 * the sink just attached, media leaves by the kernel (verdict "to
	 * the kernel"), which the new-stream trial would count as the
	 * relay's. The AF_XDP generator is set up in no time (nothing
	 * loaded), so the wait is explicit.
	 */
	if (lanes[0].pin_dir && now_ns() - sink_t0 < 1500000000ull)
		usleep((1500000000ull - (now_ns() - sink_t0)) / 1000);

	/*
	 * New streams: the first packets of every stream (never sent on
	 * before), at a moderate rate; what reached user space in the
	 * relay's namespace is UDP InDatagrams there.
	 */
	for (i = 0; i < nlanes; i++) {
		l = &lanes[i];
		if (lane_trial(&b, l, new_pps, (__u64)l->nstreams * new_rounds,
			       1, false, false, &l->newt))
			goto out;
	}
	if (fixed_pps > 0) {
		b.lane = &lanes[0];
		err = fixed_load(&b, fixed_pps, fixed_s, lanes[0].label,
				 lanes[0].out, &lanes[0].newt);
		goto out;
	}

	/* The searches, their trials taking turns. */
	for (i = 0; i < nlanes; i++)
		search_start(&lanes[i].s, start_pps, max_pps, retries,
			     max_behind);
	do {
		busy = false;
		for (i = 0; i < nlanes; i++) {
			struct search *s = &lanes[i].s;
			double r = search_rate(s);

			if (!r)
				continue;
			busy = true;
			if (lane_trial(&b, &lanes[i], r, (__u64)(r * trial_s),
				       64, false, false, &s->tr[s->ntr++]))
				goto out;
			search_took(s);
		}
	} while (busy);

	/* Latency at a moderate rate, one frame per batch. */
	for (i = 0; i < nlanes; i++)
		if (lane_trial(&b, &lanes[i], lat_pps,
			       (__u64)(lat_pps * trial_s), 1, true, false,
			       &lanes[i].lat))
			goto out;

	/*
	 * CPU: the same rate (90% of the zero-loss rate, so that the
	 * generator keeps its pace and makes the same calls) through the
	 * relay, then into the baseline sink. The difference is what the
	 * relay path costs beyond generating and sinking; it cancels the
	 * generator's cost per BPF_PROG_RUN call, which is large for short
	 * calls (test_run sets up and tears down a page pool each time).
	 */
	for (i = 0; i < nlanes; i++) {
		double rc;

		l = &lanes[i];
		if (!l->s.best || !b.base_ifindex)
			continue;
		rc = l->s.best->offered_pps * 0.9;
		if (lane_trial(&b, l, rc, (__u64)(rc * trial_s), 64, false,
			       false, &l->cpu_r) ||
		    lane_trial(&b, l, rc, (__u64)(rc * trial_s), 64, false,
			       true, &l->cpu_b))
			goto out;
		l->have_cpu = true;
	}
	for (i = 0; i < nlanes; i++)
		if (lane_write(&lanes[i], b.gen, new_rounds,
			       nlanes == 2 ? lanes[1 - i].label : NULL))
			goto out;
	err = 0;
out:
	detach(b.gen_ns, b.base_sink_ifindex);
	for (i = 0; i < 2; i++) {
		if (lanes[i].gen)
			detach(b.gen_ns, lanes[i].idle_ifindex);
		if (lanes[i].pump_ifindex && !netns_enter(b.gen_ns))
			pump_teardown(&lanes[i]);
		mb_gen_bpf__destroy(lanes[i].gen);
		xt_close(&lanes[i].xsk);
		free(lanes[i].table);
	}
	xt_close(&b.base_xsk);
	detach(b.relay_ns, b.ceil_ifindex);
	detach(b.sink_ns, b.sink_ifindex);
	if (b.per_stream)
		munmap(b.per_stream, (size_t)MB_MAX_STREAMS * sizeof(__u64));
	mb_ceiling_bpf__destroy(b.ceil);
	mb_sink_bpf__destroy(b.sink);
	free(st);
	free(pst);
	return err ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mediabench natproxy-streams --pin-dir DIR --access ADDR "
		"--far ADDR --bulk-base ADDR [--src ADDR] --streams N --out FILE\n"
		"       mediabench rtpengine-streams [--ng ADDR:PORT] --src ADDR "
		"--far ADDR:PORT --streams N [--time-limit S] [--call-prefix P] "
		"--out FILE\n"
		"       mediabench run --gen-netns NS --gen-dev DEV --relay-netns "
		"NS --relay-dev DEV --sink-netns NS --sink-dev DEV --sink-addr "
		"ADDR --streams FILE --out JSON [--label L] [--pin-dir DIR] "
		"[--max-pps R] [--start-pps R] [--trial-s S] [--latency-pps R] "
		"[--new-rounds K] [--new-pps R] [--generator auto|live_frames|pump|af_xdp] [--saturated-tries K] [--saturated-passes K] [--fixed-pps R [--fixed-s S]] [--cpu N] [--relay-pid PID]... [--idle-dev DEV [--idle-peer DEV]] [--ceiling-out DEV --ceiling-saddr "
		"ADDR [--ceiling-in DEV --ceiling-gen-dev DEV --ceiling-idle-dev "
		"DEV --ceiling-streams FILE --ceiling-json JSON "
		"[--ceiling-label L]]]\n");
}

int main(int argc, char **argv)
{
	np_log_route_libbpf();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "natproxy-streams"))
		return cmd_natproxy_streams(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rtpengine-streams"))
		return cmd_rtpengine_streams(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
