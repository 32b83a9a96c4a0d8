#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs every natproxy test suite (each prints TAP), then one summary line:
# "N passed, N failed, N skipped". Exits non-zero on any failure, and on CI
# (CI=true) on any skip too: there, every test must really run.
set -u
cd "$(dirname "$0")/.."

SUITES=(
	build/tests/addr_test
	build/tests/unit/config_test
	build/tests/unit/sdp_test
	build/tests/unit/proxy_test
	build/tests/unit/state_test
	build/tests/unit/sipmsg_test
	build/tests/fuzz/proxy_fuzz
	build/tests/fuzz/config_fuzz
	tests/xdp_packet_test.sh
	tests/e2e/relay.sh
	tests/e2e/sip.sh
	tests/e2e/realms.sh
	tests/e2e/policy.sh
	tests/e2e/baresip.sh
)

passed=0 failed=0 skipped=0
for suite in "${SUITES[@]}"; do
	echo "== $suite"
	out=$(mktemp)
	timeout 300 "$suite" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(grep -E '^ok [0-9]+' "$out" | grep -vc '# SKIP')
	s=$(grep -E '^ok [0-9]+.*# SKIP' -c "$out")
	f=$(grep -Ec '^not ok [0-9]+' "$out")
	# A suite that dies without a failing check still fails once.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $suite exited with status $rc"
		f=1
	fi
	rm -f "$out"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ] || exit 1
if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
	echo "CI: skipped tests are failures here"
	exit 1
fi
exit 0
