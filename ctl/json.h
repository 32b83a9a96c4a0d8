/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Just enough JSON output for --json: escaped strings; callers write the
 * structure themselves with fprintf.
 */
#ifndef NATPROXY_JSON_H
#define NATPROXY_JSON_H

#include <stdio.h>

/* Writes s as a quoted JSON string (RFC 8259 §7). */
void json_str(FILE *f, const char *s);
/* Writes v as "%llu" does, without printf's machinery (a charging record
 * holds some thirty numbers). */
void json_u64(FILE *f, unsigned long long v);

#endif
