#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The unit tests and the fuzz corpora's replays once more, built with
# UBSan into build/ubsan (`make ubsan`, which `make test` runs first),
# every finding fatal (-fno-sanitize-recover): a signed overflow, a shift
# too far or a NULL handed to libc ends the binary where the plain build
# goes on with a wrong value. One check per binary: it exits 0, its TAP
# has no failure, and UBSan said nothing.
set -u
cd "$(dirname "$0")/.."
. tests/lib/tap.sh

UB=${UBSAN_BUILD:-build/ubsan}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

bins=()
for src in tests/addr_test.c tests/unit/*_test.c tests/fuzz/*_fuzz.c; do
	bins+=("$UB/${src%.c}")
done
for bin in "${bins[@]}"; do
	name=${bin#"$UB"/tests/}
	if [ ! -x "$bin" ]; then
		TAP_N=$((TAP_N + 1))
		tap_result "not ok" "$name under UBSan: not built ('make ubsan')"
		continue
	fi
	rc=0
	timeout 300 "$bin" >"$TMP/out" 2>&1 || rc=$?
	failed=$(grep -c '^not ok' "$TMP/out")
	found=$(grep -m1 'runtime error' "$TMP/out")
	TAP_N=$((TAP_N + 1))
	if [ "$rc" = 0 ] && [ "$failed" = 0 ] && [ -z "$found" ]; then
		tap_result ok "$name under UBSan: passes, no undefined behaviour"
	else
		tap_result "not ok" "$name under UBSan: exit $rc, $failed failed${found:+, $found}"
	fi
done
tap_done
