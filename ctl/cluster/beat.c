// SPDX-License-Identifier: GPL-2.0-only
/*
 * The heartbeat datagram (beat.h): its text, and its MAC by OpenSSL's
 * HMAC-SHA256 (nothing of the MAC is done here but calling it and
 * comparing in constant time).
 */
#define _GNU_SOURCE /* memrchr */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cluster/beat.h"

#define MAC_BYTES 32 /* SHA-256 */
#define MAC_HEX (2 * MAC_BYTES)

const char *const np_peer_state_names[NP_PEER_MAX] = {
	[NP_PEER_UNHEARD] = "unheard", [NP_PEER_STANDBY] = "standby",
	[NP_PEER_ACTIVE] = "active",   [NP_PEER_TAKING] = "taking",
	[NP_PEER_FENCED] = "fenced",   [NP_PEER_ISOLATED] = "isolated",
};

/* The MAC of text[0..len) with key; false if OpenSSL fails. */
static bool mac_of(const char *text, size_t len, const unsigned char *key,
		   size_t key_len, unsigned char mac[MAC_BYTES])
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), key, (int)key_len,
		    (const unsigned char *)text, len, mac, &n) &&
	       n == MAC_BYTES;
}

int np_beat_format(char *buf, size_t len, const struct np_beat *b,
		   const unsigned char *key, size_t key_len)
{
	unsigned char mac[MAC_BYTES];
	size_t at, i;
	int n;

	n = snprintf(buf, len, "nphb2 %s %s %s %016llx %llu %llu %016llx %llu ",
		     b->node, b->share, np_peer_state_names[b->state],
		     (unsigned long long)b->boot, (unsigned long long)b->seq,
		     (unsigned long long)b->echo,
		     (unsigned long long)b->ack_boot,
		     (unsigned long long)b->ack_seq);
	if (n < 0 || (size_t)n + MAC_HEX + 1 > len)
		return -ENOSPC;
	at = n;
	if (!key_len) {
		buf[at++] = '-';
		buf[at] = '\0';
		return at;
	}
	if (!mac_of(buf, at, key, key_len, mac))
		return -EIO;
	for (i = 0; i < MAC_BYTES; i++, at += 2)
		snprintf(buf + at, 3, "%02x", mac[i]);
	return at;
}

/* The MAC's hex digits into mac: false if they are not 64 of them. */
static bool mac_read(const char *hex, size_t len, unsigned char mac[MAC_BYTES])
{
	unsigned int v;
	size_t i;

	if (len != MAC_HEX)
		return false;
	for (i = 0; i < MAC_HEX; i++)
		if (!strchr("0123456789abcdef", hex[i]) || !hex[i])
			return false;
	for (i = 0; i < MAC_BYTES; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		mac[i] = (unsigned char)v;
	}
	return true;
}

/* Whether the MAC at the end of text (after its last space) is the one
 * the key gives; *signed_len: the bytes it covers. */
static bool mac_ok(const char *text, size_t len, const unsigned char *key,
		   size_t key_len, size_t *signed_len)
{
	unsigned char want[MAC_BYTES], got[MAC_BYTES];
	const char *sp = memrchr(text, ' ', len);

	if (!sp)
		return false;
	*signed_len = sp + 1 - text;
	if (!key_len)
		return len - *signed_len == 1 && text[len - 1] == '-';
	return mac_read(sp + 1, len - *signed_len, got) &&
	       mac_of(text, *signed_len, key, key_len, want) &&
	       !CRYPTO_memcmp(want, got, MAC_BYTES);
}

int np_beat_parse(const char *buf, size_t len, const unsigned char *key,
		  size_t key_len, struct np_beat *b)
{
	char text[NP_BEAT_MAX], state[16], end;
	unsigned long long boot, seq, echo, ack_boot, ack_seq;
	size_t signed_len;
	int i;

	if (len >= sizeof(text) || memchr(buf, '\0', len))
		return -EINVAL;
	memcpy(text, buf, len);
	text[len] = '\0';
	/* The MAC first: nothing an unkeyed sender wrote is read further. */
	if (!mac_ok(text, len, key, key_len, &signed_len))
		return -EBADMSG;
	text[signed_len] = '\0';
	memset(b, 0, sizeof(*b));
	/* 63: NP_CLUSTER_NAME_MAX - 1 */
	if (sscanf(text,
		   "nphb2 %63s %63s %15s %16llx %llu %llu %16llx %llu %c",
		   b->node, b->share, state, &boot, &seq, &echo, &ack_boot,
		   &ack_seq, &end) != 8 ||
	    !boot || !seq)
		return -EINVAL;
	for (i = NP_PEER_STANDBY; i < NP_PEER_MAX; i++)
		if (!strcmp(state, np_peer_state_names[i]))
			break;
	if (i == NP_PEER_MAX)
		return -EINVAL;
	b->state = i;
	b->boot = boot;
	b->seq = seq;
	b->echo = echo;
	b->ack_boot = ack_boot;
	b->ack_seq = ack_seq;
	return 0;
}
