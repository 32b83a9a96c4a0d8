#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# natproxyd's and natproxyctl's command lines and logs, as an operator
# meets them: --version from the tree they were built from; unknown options
# and missing arguments answered in the tools' own one-line error shape
# (never getopt's); natproxyd's log lines timestamped, "<N>"-prefixed when
# stderr is the journal (JOURNAL_STREAM), sent to syslog with --syslog
# (a private /dev/log in a mount namespace), filtered by --log-level;
# libbpf's own chatter only at debug (a real attach in network namespaces);
# and natproxyctl blocks and unblock on the attached relay's block list:
# argument errors, absent entries, each kind of source listed and removed.
set -u
cd "$(dirname "$0")/.."
. tests/lib/tap.sh

NPD=build/natproxyd
CTL=build/natproxyctl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- versions -------------------------------------------------------------------
if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
	want=$(git describe --always --dirty)
	# The build may predate the last edit of the tree ("-dirty" or not).
	want_re="^${want%-dirty}(-dirty)?$"
else
	# Not a checkout, or not one this user may ask git about: the build
	# recorded what it found (VERSION outside a checkout).
	want=$(sed -n 's/^#define NP_VERSION "\(.*\)"$/\1/p' build/np_version.h)
	want_re="^$want$"
fi
v_npd=$($NPD --version)
v_ctl=$($CTL --version)
check "natproxyd --version: 'natproxyd VERSION' (got '$v_npd', tree '$want')" \
	eval '[[ ${v_npd#natproxyd } =~ $want_re ]] && [[ $v_npd == "natproxyd "* ]]'
check_eq "natproxyctl --version: the same version" "natproxyctl ${v_npd#natproxyd }" "$v_ctl"

# --- option errors ----------------------------------------------------------------
# err_of CMD...: "STATUS|STDERR" with stderr's lines joined by '|'.
err_of() {
	local err rc
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	echo "$rc|$(printf '%s' "$err" | tr '\n' '|')"
}
check_eq "natproxyd --bogus: status 2, one line in its own words" \
	"2|natproxyd: unknown option '--bogus' (natproxyd --help)" "$(err_of $NPD --bogus)"
check_eq "natproxyd -x: the same for a short option" \
	"2|natproxyd: unknown option '-x' (natproxyd --help)" "$(err_of $NPD -x)"
check_eq "natproxyd --check -vx: the unknown letter of a bundle" \
	"2|natproxyd: unknown option '-x' (natproxyd --help)" "$(err_of $NPD --check -vx)"
check_eq "natproxyd --check=1: a value for an option that takes none" \
	"2|natproxyd: option '--check' takes no argument (natproxyd --help)" "$(err_of $NPD --check=1)"
check_eq "natproxyd --log-level without a value" \
	"2|natproxyd: option '--log-level' needs an argument (natproxyd --help)" "$(err_of $NPD --log-level)"
check_eq "natproxyd --log-level loud" \
	"2|natproxyd: --log-level is error, warn, info or debug" "$(err_of $NPD --log-level loud -c x)"
out=$(err_of $CTL --bogus)
check "natproxyctl --bogus: status 2, 'natproxyctl: unknown option', then usage (got '${out:0:80}')" \
	eval '[[ $out == "2|natproxyctl: unknown option '"'--bogus'"'|usage:"* ]]'
check_eq "natproxyctl flows --bogus=1: the command's usage error" \
	"2|natproxyctl flows: unknown option '--bogus'|usage: natproxyctl flows [--pin-dir DIR] [--json]" \
	"$(err_of $CTL flows --bogus=1)"
out=$(err_of $CTL flow add 203.0.113.1:30000 --src)
check "natproxyctl flow add ... --src: 'needs an argument' (got '${out:0:80}')" \
	eval '[[ $out == "2|natproxyctl flow: option '"'--src'"' needs an argument|usage:"* ]]'
check_none "no getopt message anywhere" 'unrecognized|invalid option|requires an argument|allow an argument' \
	eval '$NPD --bogus 2>&1; $NPD -x 2>&1; $NPD --log-level 2>&1; $NPD --check=1 2>&1; $CTL --bogus 2>&1; $CTL flows -q 2>&1; $CTL flows --json=1 2>&1; true'

# --- log lines --------------------------------------------------------------------
# A configuration whose interface does not exist: natproxyd loads it, starts
# logging, and fails at its first step with an error line.
cat >"$TMP/nosuch.yaml" <<EOF
realms:
  - name: access
    interface: np-nosuch0
    address: 203.0.113.1
    sip_port: 5060
    media_ports: 30000-30999
  - name: core
    interface: np-nosuch1
    address: 198.51.100.1
    sip_ports: 20000-20999
    media_ports: 40000-40999
pairs:
  - first: access
    second: core
    softswitch: 198.51.100.2:5060
EOF
NOSUCH=(-c "$TMP/nosuch.yaml" --pin-dir "$TMP/pins/natproxy" --state "$TMP/state")
$NPD "${NOSUCH[@]}" 2>"$TMP/plain.err"
rc=$?
diag "stderr: $(head -3 "$TMP/plain.err" | tr '\n' '|')"
check "natproxyd fails on a missing interface" test "$rc" -ne 0
check "its error line: 'TIMESTAMP natproxyd: error: realm 'access': no interface ...' (UTC, ms)" \
	grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z natproxyd: error: realm 'access': no interface 'np-nosuch0'$" "$TMP/plain.err"
check_none "every line is timestamped" '^[^0-9]' cat "$TMP/plain.err"
# The journal: systemd names the stream it gave as stderr in JOURNAL_STREAM.
touch "$TMP/journal.err"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/journal.err") $NPD "${NOSUCH[@]}" 2>>"$TMP/journal.err"
check_eq "stderr is the journal: a '<3>' priority, no timestamp, no level word" \
	"<3>realm 'access': no interface 'np-nosuch0'" "$(grep 'np-nosuch0' "$TMP/journal.err")"
check_none "... on every line" '^[^<]|^<[0-9]>[0-9]{4}-|error:' cat "$TMP/journal.err"
JOURNAL_STREAM=1:1 $NPD "${NOSUCH[@]}" 2>"$TMP/other.err"
check "JOURNAL_STREAM naming another stream: timestamps as usual" \
	grep -qE "^[0-9-]{10}T[0-9:.]{12}Z natproxyd: error: realm 'access': no interface" "$TMP/other.err"

# --- syslog and levels, in a mount namespace with our own /dev/log ------------------
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	for t in "--syslog without /dev/log" "--log-level error" "--syslog" "--syslog priority" \
		"attach at info" "no libbpf at info" "detach" "attach at debug" "libbpf at debug" \
		"blocks and unblock"; do
		skip "$t" "needs root (mount and network namespaces)"
	done
	tap_done
	exit
fi
# in_devns SCRIPT: SCRIPT (bash) with a fresh, private /dev holding only
# null; the host's /dev is not touched.
in_devns() {
	unshare -m --propagation private bash -c '
		mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && eval "$1"' _ "$1"
}
out=$(in_devns "$NPD ${NOSUCH[*]} --syslog 2>&1")
diag "--syslog, no /dev/log: $(echo "$out" | tr '\n' '|')"
check "--syslog without /dev/log: a warning, and the log goes to stderr" \
	eval '[[ $out == *"natproxyd: warning: no syslog socket '"'/dev/log'"'"* && $out == *"natproxyd: error: realm '"'access'"': no interface"* ]]'
out=$(in_devns "$NPD ${NOSUCH[*]} --syslog --log-level error 2>&1")
check "--log-level error: the warning is left out, the error is not (got '$(echo "$out" | tr '\n' '|')')" \
	eval '[[ $out != *warning* && $out == *"error: realm '"'access'"': no interface"* ]]'
# A /dev/log that writes each datagram it receives to a file, bounded.
cat >"$TMP/devlog.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
open(sys.argv[1] + ".ready", "w").close()
s.settimeout(10)
with open(sys.argv[1], "wb") as out:
    try:
        while True:
            out.write(s.recv(4096) + b"\n")
            out.flush()
    except socket.timeout:
        pass
EOF
in_devns "
	python3 '$TMP/devlog.py' '$TMP/syslog.out' & L=\$!
	for i in \$(seq 50); do [ -e '$TMP/syslog.out.ready' ] && break; sleep 0.1; done
	$NPD ${NOSUCH[*]} --syslog 2>'$TMP/syslog.err'
	for i in \$(seq 50); do grep -q 'no interface' '$TMP/syslog.out' && break; sleep 0.1; done
	kill \$L; wait \$L"
diag "syslog received: $(tr '\n' '|' <"$TMP/syslog.out" 2>/dev/null)"
check "--syslog: the error went to /dev/log, as natproxyd[PID]" \
	grep -qE "natproxyd\[[0-9]+\]: realm 'access': no interface 'np-nosuch0'" "$TMP/syslog.out"
check "--syslog: priority daemon.err (<27>), and nothing on stderr" \
	eval 'grep -q "^<27>" "$TMP/syslog.out" && [ ! -s "$TMP/syslog.err" ]'

# --- libbpf's lines only at debug: a real attach -----------------------------------
. tests/lib/netns.sh
trap 'np_topology_down; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP PIPE
np_topology_up
sed -e "s|interface: np-nosuch0|interface: acc0|; s|interface: np-nosuch1|interface: core0|" \
	"$TMP/nosuch.yaml" >"$TMP/real.yaml"
# npd_run LOG ARGS...: natproxyd in the proxy namespace until it runs
# (bounded), then stopped; 0 if it ran.
npd_run() {
	local log=$1 i ran=1
	shift
	np_spawn ip netns exec "$NS_PROXY" $NPD -c "$TMP/real.yaml" --pin-dir "$NP_PIN_DIR" \
		--state "$NP_RUN_DIR/state" "$@" 2>"$log"
	for ((i = 0; i < 100; i++)); do
		grep -q 'natproxyd running' "$log" && { ran=0; break; }
		kill -0 "$NP_LAST_PID" 2>/dev/null || break
		sleep 0.1
	done
	np_topology_kill_spawned
	return $ran
}
detach_all() {
	in_proxy $CTL --pin-dir "$NP_PIN_DIR" detach acc0 >/dev/null 2>&1 &&
		in_proxy $CTL --pin-dir "$NP_PIN_DIR" detach core0 >/dev/null 2>&1
}
check "natproxyd attaches and runs at the default level" npd_run "$TMP/info.log"
check_none "... no libbpf line, no debug line" 'libbpf|: debug: ' cat "$TMP/info.log"
check "natproxyctl detaches both interfaces" detach_all
check "natproxyd attaches and runs with --log-level debug" npd_run "$TMP/debug.log" --log-level debug
diag "debug log: $(grep -c . "$TMP/debug.log") lines, e.g. $(grep -m1 libbpf "$TMP/debug.log")"
check "... libbpf's own lines are there, in our format" \
	grep -qE '^[0-9-]{10}T[0-9:.]{12}Z natproxyd: debug: libbpf: ' "$TMP/debug.log"

# --- natproxyctl blocks and unblock, on the pins natproxyd left --------------------
# The block list as natproxyd writes it (ctl/guard.c), here with bpftool:
# block_put SOURCE SECONDS (negative: ended), SOURCE in unblock's syntax.
block_put() {
	local args
	args=$(/usr/bin/python3 - "$1" "$2" <<'PY'
import socket, struct, sys, time
text, seconds = sys.argv[1], int(sys.argv[2])
port, plen = 0, None
if "/" in text:
    text, plen = text.split("/")
elif text.startswith("["):
    text, port = text[1:].split("]:")
elif text.count(":") == 1:
    text, port = text.split(":")
v6 = ":" in text
addr = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, text)
plen = int(plen) if plen else (128 if v6 else 32)
key = struct.pack("!BBH", 6 if v6 else 4, plen, int(port)) + addr.ljust(16, b"\0")
until = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + seconds * 10**9
print("key hex", " ".join("%02x" % b for b in key),
      "value hex", " ".join("%02x" % b for b in struct.pack("<Q", until)))
PY
	)
	bpftool map update pinned "$NP_PIN_DIR/np_blocked_v1" $args
}
bctl() { in_proxy $CTL --pin-dir "$NP_PIN_DIR" "$@"; }
check_eq "unblock without SOURCE: status 2" \
	"2|natproxyctl unblock: one SOURCE|usage: natproxyctl unblock SOURCE [--pin-dir DIR] [--json]" \
	"$(err_of bctl unblock)"
for bad in 203.0.113.0/16 2001:db8::/48 203.0.113.7:0 customer.example 203.0.113.0/24:5060; do
	check_eq "unblock $bad: status 2, what SOURCE may be" \
		"2|natproxyctl unblock: SOURCE is ADDR, ADDR:PORT, or a prefix ADDR/24 (IPv4) or ADDR/64 (IPv6)|usage: natproxyctl unblock SOURCE [--pin-dir DIR] [--json]" \
		"$(err_of bctl unblock "$bad")"
done
check_eq "blocks with an argument: status 2" \
	"2|natproxyctl blocks: no arguments|usage: natproxyctl blocks [--pin-dir DIR] [--json]" \
	"$(err_of bctl blocks 203.0.113.7)"
check_eq "blocks, none: the header alone" "KIND     SOURCE                                             LEFT" "$(bctl blocks)"
check_eq "unblock of a source not blocked: status 1, said so" \
	"1|natproxyctl: error: address '203.0.113.9' is not blocked (natproxyctl blocks lists what is)" \
	"$(err_of bctl unblock 203.0.113.9)"
check_eq "... with --json: the error as JSON on stdout" \
	"{\"error\": \"address '203.0.113.9' is not blocked (natproxyctl blocks lists what is)\"}" \
	"$(bctl unblock 203.0.113.9 --json 2>/dev/null)"
check "four blocks running, one ended, put in np_blocked_v1" eval '
	block_put 203.0.113.7:5060 60 && block_put 203.0.113.8 60 &&
	block_put 203.0.113.0/24 120 && block_put 2001:db8:0:7::/64 60 &&
	block_put 203.0.113.20 -1'
got=$(bctl blocks --json | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    b = json.loads(line)
    want = 120 if b["kind"] == "prefix" and "." in b["source"] else 60
    ok = want - 5 < b["seconds_left"] <= want
    print(b["kind"], b["source"], "ok" if ok else b["seconds_left"])' | sort | tr '\n' '|')
check_eq "blocks --json: the running blocks, by kind, with their seconds left" \
	"address 203.0.113.8 ok|mapping 203.0.113.7:5060 ok|prefix 2001:db8:0:7::/64 ok|prefix 203.0.113.0/24 ok|" "$got"
check_eq "blocks: a header and a row for each" 5 "$(bctl blocks | wc -l)"
check_eq "unblock of an address of the /24: the prefix goes, said back" \
	"unblocked prefix 203.0.113.0/24" "$(bctl unblock 203.0.113.57/24)"
check "... gone from np_blocked_v1" eval '! bctl blocks | grep -q "203.0.113.0/24"'
check_eq "... a second time: status 1, not blocked" "1" "$(err_of bctl unblock 203.0.113.0/24 | cut -d'|' -f1)"
check_eq "unblock of the ended block: status 1, not blocked (XDP passes it already)" \
	"1|natproxyctl: error: address '203.0.113.20' is not blocked (natproxyctl blocks lists what is)" \
	"$(err_of bctl unblock 203.0.113.20)"
check_eq "unblock --json of a mapping, an address, an IPv6 prefix" \
	'{"unblocked": "203.0.113.7:5060", "kind": "mapping"}|{"unblocked": "203.0.113.8", "kind": "address"}|{"unblocked": "2001:db8:0:7::/64", "kind": "prefix"}|' \
	"$(for s in 203.0.113.7:5060 203.0.113.8 2001:db8:0:7::1/64; do bctl unblock "$s" --json; done | tr '\n' '|')"
check_eq "blocks --json: none left" "" "$(bctl blocks --json)"
tap_done
