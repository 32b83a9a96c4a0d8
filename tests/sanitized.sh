#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The unit tests and the fuzz corpora's replays once more, built with
# AddressSanitizer and UBSan into build/sanitized (`make sanitized`, which
# `make test` runs first), every finding fatal: memory read or written out
# of bounds or after its free, memory never freed (LeakSanitizer, at
# exit), a signed overflow, a shift too far or a NULL handed to libc end
# the binary where the plain build goes on. One check per binary: it exits
# 0, its TAP has no failure, and no sanitizer said anything.
set -u
cd "$(dirname "$0")/.."
. tests/lib/tap.sh

SAN=${SANITIZED_BUILD:-build/sanitized}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

bins=()
for src in tests/addr_test.c tests/unit/*_test.c tests/fuzz/*_fuzz.c; do
	bins+=("$SAN/${src%.c}")
done
for bin in "${bins[@]}"; do
	name=${bin#"$SAN"/tests/}
	if [ ! -x "$bin" ]; then
		TAP_N=$((TAP_N + 1))
		tap_result "not ok" "$name sanitized: not built ('make sanitized')"
		continue
	fi
	rc=0
	ASAN_OPTIONS=detect_leaks=1 timeout 300 "$bin" >"$TMP/out" 2>&1 || rc=$?
	failed=$(grep -c '^not ok' "$TMP/out")
	found=$(grep -m1 -E 'runtime error|ERROR: (Address|Leak)Sanitizer' "$TMP/out")
	TAP_N=$((TAP_N + 1))
	if [ "$rc" = 0 ] && [ "$failed" = 0 ] && [ -z "$found" ]; then
		tap_result ok "$name sanitized: passes, nothing found"
	else
		tap_result "not ok" "$name sanitized: exit $rc, $failed failed${found:+, $found}"
	fi
done
tap_done
