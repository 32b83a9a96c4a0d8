/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A transmit-only AF_XDP socket in copy mode, set up with the raw socket
 * options (libbpf 1.1 no longer has xsk.h, and libxdp is not needed for
 * this much): the media benchmark's generator where the kernel refuses
 * BPF_PROG_RUN with live frames. One UMEM of XT_FRAMES chunks, a TX ring
 * and a completion ring of as many entries (the fill ring is required by
 * bind but never filled: nothing is received). The caller writes frames
 * into chunks it takes with xt_frame(), queues them with xt_queue() and
 * pushes them out with xt_flush(), which returns once the kernel has taken
 * every queued descriptor. In copy mode the kernel builds an skb per frame
 * and transmits it in the sendto() call, on the caller's CPU; on a veth
 * the peer's XDP program runs in the same call's softirq.
 */
#ifndef NATPROXY_BENCH_XSK_TX_H
#define NATPROXY_BENCH_XSK_TX_H

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include <linux/types.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define XT_FRAMES 2048 /* UMEM chunks = ring entries (a power of 2) */
#define XT_CHUNK 2048
#define XT_KICKS 100000 /* sendto() calls per flush, at most */

struct xsk_tx {
	int fd;
	__u8 *umem;
	void *tx_map, *cq_map;
	size_t tx_len, cq_len;
	__u32 *tx_prod, *tx_cons, *cq_prod, *cq_cons;
	struct xdp_desc *tx_desc;
	__u64 *cq_addr;
	__u32 prod; /* our TX producer (published by xt_flush) */
	__u32 nfree;
	__u64 free[XT_FRAMES]; /* chunk addresses not in the kernel's hands */
};

static void xt_close(struct xsk_tx *x)
{
	if (!x)
		return;
	if (x->tx_map && x->tx_map != MAP_FAILED)
		munmap(x->tx_map, x->tx_len);
	if (x->cq_map && x->cq_map != MAP_FAILED)
		munmap(x->cq_map, x->cq_len);
	if (x->fd >= 0)
		close(x->fd);
	if (x->umem && x->umem != MAP_FAILED)
		munmap(x->umem, (size_t)XT_FRAMES * XT_CHUNK);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

/*
 * Binds X to queue 0 of IFINDEX (in the calling thread's namespace), copy
 * mode. 0 or -errno (X closed).
 */
static int xt_open(struct xsk_tx *x, unsigned int ifindex)
{
	struct xdp_umem_reg reg = { .len = (__u64)XT_FRAMES * XT_CHUNK,
				    .chunk_size = XT_CHUNK };
	struct sockaddr_xdp sa = { .sxdp_family = AF_XDP,
				   .sxdp_ifindex = ifindex,
				   .sxdp_queue_id = 0,
				   .sxdp_flags = XDP_COPY };
	struct xdp_mmap_offsets off;
	socklen_t olen = sizeof(off);
	int n = XT_FRAMES, err;
	__u32 i;

	memset(x, 0, sizeof(*x));
	x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return -errno;
	x->umem = mmap(NULL, reg.len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->umem == MAP_FAILED)
		goto fail;
	reg.addr = (__u64)(unsigned long)x->umem;
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n,
		       sizeof(n)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n)) ||
	    getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen))
		goto fail;
	x->tx_len = off.tx.desc + (size_t)n * sizeof(struct xdp_desc);
	x->tx_map = mmap(NULL, x->tx_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, x->fd, XDP_PGOFF_TX_RING);
	if (x->tx_map == MAP_FAILED)
		goto fail;
	x->cq_len = off.cr.desc + (size_t)n * sizeof(__u64);
	x->cq_map = mmap(NULL, x->cq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, x->fd,
			 XDP_UMEM_PGOFF_COMPLETION_RING);
	if (x->cq_map == MAP_FAILED)
		goto fail;
	/* The socket an earlier run bound there may still be on its way
	 * out (EBUSY): a few tries, 0.1 s apart. */
	for (i = 0; bind(x->fd, (struct sockaddr *)&sa, sizeof(sa)); i++) {
		if (errno != EBUSY || i >= 30)
			goto fail;
		usleep(100000);
	}
	x->tx_prod = (__u32 *)((char *)x->tx_map + off.tx.producer);
	x->tx_cons = (__u32 *)((char *)x->tx_map + off.tx.consumer);
	x->tx_desc = (struct xdp_desc *)((char *)x->tx_map + off.tx.desc);
	x->cq_prod = (__u32 *)((char *)x->cq_map + off.cr.producer);
	x->cq_cons = (__u32 *)((char *)x->cq_map + off.cr.consumer);
	x->cq_addr = (__u64 *)((char *)x->cq_map + off.cr.desc);
	x->prod = *x->tx_prod;
	for (i = 0; i < XT_FRAMES; i++)
		x->free[i] = (__u64)i * XT_CHUNK;
	x->nfree = XT_FRAMES;
	return 0;
fail:
	err = -errno;
	xt_close(x);
	return err ? err : -EINVAL;
}

/* Chunks the kernel has sent back (completion ring) become free again. */
static void xt_reap(struct xsk_tx *x)
{
	__u32 p = __atomic_load_n(x->cq_prod, __ATOMIC_ACQUIRE);
	__u32 c = *x->cq_cons, k;

	for (k = 0; c != p && k < XT_FRAMES; k++, c++)
		if (x->nfree < XT_FRAMES)
			x->free[x->nfree++] = x->cq_addr[c & (XT_FRAMES - 1)];
	__atomic_store_n(x->cq_cons, c, __ATOMIC_RELEASE);
}

/* A free chunk to write a frame into (NULL: none, flush first). */
static __u8 *xt_frame(struct xsk_tx *x, __u64 *addr)
{
	if (!x->nfree)
		xt_reap(x);
	if (!x->nfree)
		return NULL;
	*addr = x->free[--x->nfree];
	return x->umem + *addr;
}

/* Queues the frame written at ADDR, LEN bytes (not yet published). */
static void xt_queue(struct xsk_tx *x, __u64 addr, __u32 len)
{
	struct xdp_desc *d = &x->tx_desc[x->prod & (XT_FRAMES - 1)];

	d->addr = addr;
	d->len = len;
	d->options = 0;
	x->prod++;
}

/*
 * Publishes what was queued and has the kernel transmit it: sendto() until
 * the kernel consumed every descriptor (copy mode takes a bounded batch per
 * call). 0, or -errno for an error other than the retryable ones (EAGAIN,
 * EBUSY: a frame the device dropped, counted as sent and lost; ENOBUFS).
 */
static int xt_flush(struct xsk_tx *x)
{
	int k;

	__atomic_store_n(x->tx_prod, x->prod, __ATOMIC_RELEASE);
	for (k = 0; k < XT_KICKS; k++) {
		if (__atomic_load_n(x->tx_cons, __ATOMIC_ACQUIRE) == x->prod)
			break;
		if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS &&
		    errno != EINTR)
			return -errno;
		xt_reap(x);
	}
	xt_reap(x);
	return k < XT_KICKS ? 0 : -ETIMEDOUT;
}

#endif
