#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# An end-to-end suite once more with natproxyd built with AddressSanitizer
# (leaks included) and UBSan (`make sanitized`), through the daemon itself
# where the unit tests reach only its parts. Which suite is in this file's
# name, as make test runs it: sip_sanitized.sh runs tests/e2e/sip.sh
# (registrations, calls both ways and between two terminals, RTP,
# keepalives, malformed SIP), ha_sanitized.sh runs tests/e2e/ha.sh (an
# active node and a standby following its journal through Redis, the
# takeovers). Two checks: the suite passes whole, and no natproxyd it
# started reported anything (each writes its report, if any, at the error
# or at exit; one killed with SIGKILL writes none).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh

NPD=build/sanitized/natproxyd
NAME=$(basename "$0" _sanitized.sh)
SUITE=tests/e2e/$NAME.sh
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ ! -x "$NPD" ]; then
	check "$NAME.sh with the sanitized natproxyd: built ('make sanitized')" false
	tap_done
	exit
fi
NATPROXYD=$NPD ASAN_OPTIONS=detect_leaks=1:log_path=$TMP/report \
	"$SUITE" >"$TMP/out" 2>&1
# Skipped only when the suite ran nothing (not root, a tool missing): one
# skip among checks that ran still leaves its reports to look at.
if ! grep '^ok ' "$TMP/out" | grep -vq '# SKIP' && grep -q '# SKIP' "$TMP/out"; then
	skip "$NAME.sh with the sanitized natproxyd" \
		"$(grep -m1 -o '# SKIP.*' "$TMP/out" | cut -c8-)"
	tap_done
	exit
fi
passed=$(grep -c '^ok ' "$TMP/out")
plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$TMP/out" | tail -n 1)
grep '^not ok' "$TMP/out" | sed 's/^/# /'
check "$NAME.sh with the sanitized natproxyd: $passed of ${plan:-?} pass" \
	test -n "$plan" -a "$passed" = "${plan:-x}"
reports=$(cat "$TMP"/report.* 2>/dev/null)
[ -z "$reports" ] || printf '%s\n' "$reports" | head -40 | sed 's/^/# /'
check "no natproxyd it started reported an error or a leak" test -z "$reports"
tap_done
