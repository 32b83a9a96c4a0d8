/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What natproxyd's and natproxyctl's command lines share: the version they
 * were built from, and getopt's errors in the programs' own words (getopt
 * is told to stay silent: a leading ':' in its option string).
 */
#ifndef NATPROXY_CLI_H
#define NATPROXY_CLI_H

#include <stddef.h>

/* `git describe --always --dirty` of the tree it was built from, or the
 * VERSION file's content outside a git checkout. */
extern const char np_version[];

/* After getopt_long returned '?' (unknown option) or ':' (missing
 * argument): "unknown option '--foo'" or "option '--pin-dir' needs an
 * argument" in BUF. */
const char *np_opt_error(char *buf, size_t len, int opt, char **argv);

#endif
