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

# Negative checks ("nothing matches") must not pass because the command
# that should have shown something failed: these two run the command apart
# from the filter and fail, saying so, when it fails.

# check_none DESCRIPTION ERE CMD...: CMD succeeds and no line of its output
# matches ERE (grep -E); a failure shows the lines that matched, or CMD's
# status.
check_none() {
	local what=$1 re=$2 out rc hits
	shift 2
	TAP_N=$((TAP_N + 1))
	out=$("$@")
	rc=$?
	hits=$(printf '%s\n' "$out" | grep -E -- "$re" | head -3 | tr '\n' ' ')
	if [ "$rc" -ne 0 ]; then
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $what ('$*' failed, status $rc)"
	elif [ -n "$hits" ]; then
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $what (found: $hits)"
	else
		echo "ok $TAP_N - $what"
	fi
}

# count_lines ERE CMD...: how many lines of CMD's output match ERE ('.':
# every non-empty line); when CMD fails, "'CMD' failed (status N)" and
# status 1, which no expected count equals.
count_lines() {
	local re=$1 out rc
	shift
	out=$("$@")
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "'$*' failed (status $rc)"
		return 1
	fi
	printf '%s' "$out" | grep -cE -- "$re"
	return 0
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
