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

const char *np_opt_error(char *buf, size_t len, int opt, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	char name[64];

	/* A long option names itself in argv (up to any "=value"); a short
	 * one only in optopt. */
	if (arg && !strncmp(arg, "--", 2))
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="),
			 arg);
	else if (optopt > ' ' && optopt < 127)
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%s", arg ? arg : "?");
	if (opt == ':')
		snprintf(buf, len, "option '%s' needs an argument", name);
	else
		snprintf(buf, len, "unknown option '%s'", name);
	return buf;
}
