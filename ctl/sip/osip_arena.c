// SPDX-License-Identifier: GPL-2.0-only
/*
 * libosip2's allocator (osip_set_allocators): a message's parse, edits and
 * print make and free a hundred or so small blocks, all gone when the
 * message is (nothing of libosip2's outlives it: sip.c frees it at the end
 * of its input), and glibc's malloc/free were about a tenth of natproxyd's
 * CPU under load. Blocks are carved in turn from large chunks; a chunk
 * counts its live blocks and starts again from its beginning when the
 * last goes, so a message's blocks cost a pointer bump each and their
 * frees a decrement. A block still held (or one too large) costs what it
 * did before: the chunk stays until its last block goes, a large block is
 * glibc's. Pointers libosip2 is handed from elsewhere (malloc'd) are told
 * apart by address: only a chunk's own are its.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>

#include "sip/osip_arena.h"

#define CHUNK_SIZE (256u << 10) /* bytes, a power of two: chunks aligned to it */
#define CHUNKS_MAX 64 /* past this, blocks are glibc's (16 MiB of chunks) */
#define BLOCK_MAX (CHUNK_SIZE / 8) /* larger blocks are glibc's */
#define ALIGN 16u

/* At the head of each chunk. */
struct chunk {
	size_t live; /* blocks handed out and not freed */
	size_t used; /* bytes from the chunk's start, this header included */
};

/* Before each block: its size, for realloc. */
struct block {
	size_t size;
	size_t pad; /* keeps the block ALIGN-aligned */
};

static struct chunk *chunks[CHUNKS_MAX];
static size_t n_chunks;
static struct chunk *current;
static struct osip_arena_stats stats;

#define HEAD_SIZE ((sizeof(struct chunk) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

static struct chunk *chunk_of(const void *p)
{
	struct chunk *c = (struct chunk *)((uintptr_t)p &
					   ~(uintptr_t)(CHUNK_SIZE - 1));
	size_t i;

	for (i = 0; i < n_chunks; i++)
		if (chunks[i] == c)
			return c;
	return NULL;
}

/* A chunk with room for need bytes: the current one, one emptied, or a
 * new one; NULL when none can be had. */
static struct chunk *chunk_with_room(size_t need)
{
	struct chunk *c;
	size_t i;

	if (current && current->used + need <= CHUNK_SIZE)
		return current;
	for (i = 0; i < n_chunks; i++) {
		if (!chunks[i]->live) {
			chunks[i]->used = HEAD_SIZE;
			return current = chunks[i];
		}
	}
	if (n_chunks == CHUNKS_MAX)
		return NULL;
	c = aligned_alloc(CHUNK_SIZE, CHUNK_SIZE);
	if (!c)
		return NULL;
	c->live = 0;
	c->used = HEAD_SIZE;
	chunks[n_chunks++] = c;
	stats.chunks = n_chunks;
	return current = c;
}

static void *arena_malloc(size_t size)
{
	size_t need = sizeof(struct block) +
		      ((size + ALIGN - 1) & ~(size_t)(ALIGN - 1));
	struct chunk *c;
	struct block *b;

	if (size > BLOCK_MAX || !(c = chunk_with_room(need))) {
		stats.elsewhere++;
		return malloc(size);
	}
	b = (struct block *)((char *)c + c->used);
	b->size = size;
	c->used += need;
	c->live++;
	stats.blocks++;
	return b + 1;
}

static void arena_free(void *p)
{
	struct chunk *c;

	if (!p)
		return;
	c = chunk_of(p);
	if (!c) {
		free(p);
		return;
	}
	/* The last block gone: the chunk starts again from its beginning. */
	if (!--c->live)
		c->used = HEAD_SIZE;
}

static void *arena_realloc(void *p, size_t size)
{
	struct block *b;
	void *n;

	if (!p)
		return arena_malloc(size);
	if (!chunk_of(p))
		return realloc(p, size);
	b = (struct block *)p - 1;
	if (size <= b->size)
		return p;
	n = arena_malloc(size);
	if (!n)
		return NULL;
	memcpy(n, p, b->size);
	arena_free(p);
	return n;
}

void osip_arena_install(void)
{
	static_assert(sizeof(struct block) % ALIGN == 0, "blocks aligned");
	osip_set_allocators(arena_malloc, arena_realloc, arena_free);
}

void osip_arena_stats(struct osip_arena_stats *out)
{
	size_t i;

	stats.live = 0;
	for (i = 0; i < n_chunks; i++)
		stats.live += chunks[i]->live;
	*out = stats;
}
