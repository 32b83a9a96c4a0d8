// SPDX-License-Identifier: GPL-2.0-only
/*
 * The version string (build/np_version.h, made by the Makefile) and getopt's
 * errors worded like every other error of the programs.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "np_version.h"

const char np_version[] = NP_VERSION;

/* The option as written, up to any "=value". */
static void long_name(char *name, size_t len, const char *arg)
{
	snprintf(name, len, "%.*s", (int)strcspn(arg, "="), arg);
}

const char *np_opt_error(char *buf, size_t len, int opt, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	char name[64];

	/* A missing argument: getopt stepped past the option that lacks it.
	 * An unknown long option: optopt is 0, argv names it. A known long
	 * option given a value it does not take: optopt is its value and
	 * argv shows "--name=value". Else a short option, in optopt only
	 * (argv may point at a bundle or at the argument before it). */
	if (opt == ':' && arg) {
		long_name(name, sizeof(name), arg);
		snprintf(buf, len, "option '%s' needs an argument", name);
	} else if (!optopt && arg) {
		long_name(name, sizeof(name), arg);
		snprintf(buf, len, "unknown option '%s'", name);
	} else if (arg && !strncmp(arg, "--", 2) && strchr(arg, '=')) {
		long_name(name, sizeof(name), arg);
		snprintf(buf, len, "option '%s' takes no argument", name);
	} else {
		snprintf(buf, len, "unknown option '-%c'", optopt);
	}
	return buf;
}
