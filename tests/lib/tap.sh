# SPDX-License-Identifier: GPL-2.0-only
# TAP output for natproxy's shell tests, the same format as tests/tap.h:
# "ok N - what", "not ok N - what", "ok N - what # SKIP why".

TAP_N=0
TAP_FAILED=0

# check DESCRIPTION COMMAND...: runs the command, reports its success.
check() {
	local what=$1
	shift
	TAP_N=$((TAP_N + 1))
	if "$@"; then
		echo "ok $TAP_N - $what"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $what"
	fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	TAP_N=$((TAP_N + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $TAP_N - $1"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $1 (expected '$2', got '$3')"
	fi
}

skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1 # SKIP $2"
}

diag() { echo "# $*"; }

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

# Exits with every planned check skipped unless we are root on a kernel that
# can run the tests: a test that cannot run says so, it never passes.
require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "$1" "needs root"
		tap_done
		exit 0
	fi
}
