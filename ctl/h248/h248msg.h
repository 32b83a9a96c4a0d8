/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * H.248/Megaco text messages (RFC 3525 Annex B, ITU-T H.248.1 Annex B) as
 * the H.248 driver relays them: only as much of the grammar as a relaying
 * proxy needs. A message is read into its header (MEGACO/v or !/v, and the
 * mId's place) and a flat tree of its items (Transaction, Reply, Pending,
 * TransactionResponseAck, Context, the commands, descriptors and their
 * parameters), each with where its name, value and body lie in the text;
 * Local and Remote bodies are kept as raw octets (their SDP). Nothing is
 * copied: rewriting is a list of byte ranges replaced (np_h248_edit), so
 * every byte the driver does not change goes out as it came, in the pretty
 * and the compact form alike. Pure: no global state, no allocation.
 */
#ifndef NATPROXY_H248_MSG_H
#define NATPROXY_H248_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NP_H248_NODES_MAX 512
#define NP_H248_DEPTH_MAX 32
#define NP_H248_EDITS_MAX 32

/* One item: `name [= value] [{ body }]`. */
struct np_h248_node {
	int parent; /* index, -1 at the top */
	int depth;
	size_t name_off, name_len;
	size_t val_off, val_len; /* val_len 0: no value */
	bool body; /* has braces */
	bool raw; /* Local / Remote: body kept as octets */
	size_t body_off, body_len; /* inside the braces */
	size_t end; /* past the closing brace (or the value) */
};

struct np_h248_msg {
	const char *buf;
	size_t len;
	int version; /* 1..3 */
	size_t mid_off, mid_len;
	size_t hdr_end; /* the first item starts here */
	size_t n;
	struct np_h248_node nodes[NP_H248_NODES_MAX];
};

/* Parses buf; 0, or -EINVAL with *why set. */
int np_h248_parse(const char *buf, size_t len, struct np_h248_msg *m,
		  const char **why);
/* Whether node i's name is the long or the short token (case-insensitive,
 * RFC 3525 B.2); short may be NULL. */
bool np_h248_named(const struct np_h248_msg *m, int i, const char *lng,
		   const char *shrt);
/* Copies node i's value (or name, name true) into out, cut to fit. */
void np_h248_text(const struct np_h248_msg *m, int i, bool name, char *out,
		  size_t size);
/* The next node after `from` (-1: the first) whose parent is parent. */
int np_h248_child(const struct np_h248_msg *m, int parent, int from);
/* Whether a datagram looks like H.248 text (starts MEGACO/ or !/). */
bool np_h248_looks_like(const char *buf, size_t len);

/* A byte range of the message replaced with text (copied). */
struct np_h248_edit {
	size_t off, len;
	size_t text_len;
	char text[4096];
};

struct np_h248_edits {
	size_t n;
	struct np_h248_edit e[NP_H248_EDITS_MAX];
};

/* Replaces [off, off+len) with text; -E2BIG when full or too long. Edits
 * must not overlap. */
int np_h248_edit(struct np_h248_edits *ed, size_t off, size_t len,
		 const char *text, size_t text_len);
/*
 * Writes the header (buf[0, body)) and the range [from, to) of buf with
 * the edits that fall into either applied, into out; its length, or
 * -E2BIG. A whole message is from = the end of the header, to = len.
 */
int np_h248_write(const struct np_h248_msg *m, const struct np_h248_edits *ed,
		  size_t from, size_t to, char *out, size_t size);
/* Where the header ends (the first item starts). */
size_t np_h248_body_off(const struct np_h248_msg *m);

#endif
