# SPDX-License-Identifier: GPL-2.0-only
# TAP output for natproxy's shell tests, the same format as tests/tap.h:
# "ok N - what", "not ok N - what", "ok N - what # SKIP why", and between
# todo_begin and todo_end "... # TODO why": checks of a known bug, printed
# whatever their outcome, not counted as failures (tests/run.sh counts
# them apart).

# Debian's own interpreters and tools first: the checks use the standard
# library only, and a version manager's python3 shim on PATH (pyenv) takes
# seconds to start, which the hundreds of python3 calls here would pay.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

TAP_N=0
TAP_FAILED=0
TAP_TODO=

# todo_begin WHY / todo_end: the checks between are of a known bug, WHY
# names its issue.
todo_begin() { TAP_TODO=$1; }
todo_end() { TAP_TODO=; }

# tap_result OK TEXT: prints the result line of check TAP_N.
tap_result() {
	local todo=${TAP_TODO:+ # TODO $TAP_TODO}
	if [ "$1" = ok ]; then
		echo "ok $TAP_N - $2$todo"
	else
		[ -n "$todo" ] || TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $2$todo"
	fi
}

# check DESCRIPTION COMMAND...: runs the command, reports its success.
check() {
	local what=$1
	shift
	TAP_N=$((TAP_N + 1))
	if "$@"; then
		tap_result ok "$what"
	else
		tap_result fail "$what"
	fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	TAP_N=$((TAP_N + 1))
	if [ "$2" = "$3" ]; then
		tap_result ok "$1"
	else
		tap_result fail "$1 (expected '$2', got '$3')"
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
		tap_result fail "$what ('$*' failed, status $rc)"
	elif [ -n "$hits" ]; then
		tap_result fail "$what (found: $hits)"
	else
		tap_result ok "$what"
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
# require_tools LABEL TOOL...: every TOOL on PATH, or the suite is one
# skipped check (make deps installs them) and ends.
require_tools() {
	local label=$1 tool
	shift
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null; then
			skip "$label" "no $tool (make deps installs it)"
			tap_done
			exit 0
		fi
	done
}

require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "$1" "needs root"
		tap_done
		exit 0
	fi
}
