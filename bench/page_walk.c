// SPDX-License-Identifier: GPL-2.0-only
/*
 * What one read of a random flow entry costs on this machine, and how much
 * of it is the page walk: the relay's flow array (NP_MAP_FLOWARR4) is
 * vmalloc'ed in 4 KiB pages, so at 500,000 streams in random order every
 * packet's entry misses the caches and the TLB (in a VM, a TLB miss walks
 * the guest's page tables and the host's). Reads entries of ENTRY bytes at
 * random over a region of ENTRIES entries, in anonymous memory backed by
 * 4 KiB pages and then by 2 MiB pages (MADV_HUGEPAGE; the share that got
 * them is printed), two ways: each read's address depending on the one
 * before (latency: nothing overlaps) and independent reads (what the core
 * overlaps). A bench tool (`build/bench/page_walk [-e ENTRIES] [-s ENTRY | -f]
 * [-4] [-j] [-c CPU]`), never CI: ns per read, best of five rounds. -f reads
 * entries of the relay's own size (struct np_flow_entry), -4 the 4 KiB
 * pages only (the flow array's), -j prints each region as a JSON line
 * (bench/run.sh's memory part, which bench/report.py prints under the
 * media targets).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "natproxy.h"

#define HUGE_2M (2ul << 20)
#define READS 4000000ul
#define ROUNDS 5

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The share of the mapping at BASE (madvise gave it a VMA of its own)
 * that the kernel backs with huge pages, from /proc/self/smaps. */
static double huge_share(void *base, size_t len)
{
	char line[256];
	unsigned long a, b, kb = 0;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2)
			in = a == (unsigned long)base;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb * 1024.0 / len;
}

/*
 * One region: N entries of SIZE bytes, every entry's first word the index
 * of the next in a random cycle (for the dependent reads).
 */
static void measure(size_t n, size_t size, int huge, int json)
{
	size_t len = (n * size + HUGE_2M - 1) & ~(HUGE_2M - 1), i, j;
	uint8_t *raw, *base;
	uint64_t *perm, s = 0x9e3779b97f4a7c15ull, t0, sum = 0, cur;
	double best_dep = 1e9, best_ind = 1e9, share;
	int r;

	raw = mmap(NULL, len + HUGE_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	base = (uint8_t *)(((uintptr_t)raw + HUGE_2M - 1) & ~(HUGE_2M - 1));
	madvise(base, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(base, 1, len);
	perm = malloc(n * sizeof(*perm));
	if (!perm)
		exit(1);
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		j = rnd(&s) % (i + 1);
		cur = perm[i];
		perm[i] = perm[j];
		perm[j] = cur;
	}
	for (i = 0; i < n; i++)
		*(uint64_t *)(base + perm[i] * size) = perm[(i + 1) % n];
	free(perm);
	share = huge_share(base, len);
	for (r = 0; r < ROUNDS; r++) {
		cur = 0;
		t0 = now_ns();
		for (i = 0; i < READS; i++)
			cur = *(volatile uint64_t *)(base + cur * size);
		sum += cur;
		if ((now_ns() - t0) / (double)READS < best_dep)
			best_dep = (now_ns() - t0) / (double)READS;
		t0 = now_ns();
		for (i = 0; i < READS; i++)
			sum += *(volatile uint64_t *)(base + (rnd(&s) % n) * size);
		if ((now_ns() - t0) / (double)READS < best_ind)
			best_ind = (now_ns() - t0) / (double)READS;
	}
	if (json)
		printf("{\"entries\": %zu, \"entry_bytes\": %zu, \"page_kib\": %d, "
		       "\"huge_share\": %.2f, \"dependent_ns\": %.1f, "
		       "\"independent_ns\": %.1f}\n",
		       n, size, huge ? 2048 : 4, share, best_dep, best_ind);
	else
		printf("%9zu x %4zu B = %7.1f MiB  %s pages (%3.0f%% huge)  dependent %6.1f ns  independent %6.1f ns%s\n",
		       n, size, n * size / 1048576.0, huge ? "2 MiB" : "4 KiB",
		       share * 100, best_dep, best_ind, sum == 42 ? " " : "");
	munmap(raw, len + HUGE_2M);
}

int main(int argc, char **argv)
{
	size_t counts[] = { 10000, 100000, 500000, 1048576 }, size = 256;
	size_t only = 0;
	cpu_set_t set;
	int c, cpu = -1, small_only = 0, json = 0;
	unsigned k;

	while ((c = getopt(argc, argv, "e:s:fc:4j")) != -1) {
		switch (c) {
		case 'e': only = strtoul(optarg, NULL, 0); break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 'f': size = sizeof(struct np_flow_entry); break;
		case 'c': cpu = atoi(optarg); break;
		case '4': small_only = 1; break;
		case 'j': json = 1; break;
		default:
			fprintf(stderr, "usage: page_walk [-e ENTRIES] [-s ENTRY_BYTES | -f] [-4] [-j] [-c CPU]\n");
			return 2;
		}
	}
	if (size < 8 || size % 8) {
		fprintf(stderr, "page_walk: entry size a multiple of 8\n");
		return 2;
	}
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	for (k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		size_t n = only ? only : counts[k];

		measure(n, size, 0, json);
		if (!small_only)
			measure(n, size, 1, json);
		if (only)
			break;
	}
	return 0;
}
