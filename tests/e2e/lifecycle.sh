#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of natproxyd's start, stop and reload on the SIP topology
# of tests/sip/ (terminals behind NATs, Kamailio, a far-end UA):
#   check   natproxyd --check: one line per problem (interface, address,
#           charging and state paths), exit 1, and nothing created or
#           attached; exit 0 on a good configuration
#   undo    a start that fails before attaching (unwritable charging
#           path) or after (the access SIP port taken) exits non-zero with
#           its reason and leaves no XDP it attached; XDP that was there
#           before stays
#   state   the default state file follows the pin directory; a state
#           file of another pin directory is refused, with its reason
#   reload  SIGHUP during a live call: the call completes with its media
#           and charging record; max_calls and a deny prefix apply to new
#           calls; a new realm and pair start; a removed pair drains; a
#           broken file leaves the running configuration (FILE:LINE:COLUMN
#           logged); the charging file is reopened after a rotation
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd start, stop and reload end to end"
. tests/sip/topology.sh

sip_test_begin

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# xdp_ifaces: the proxy's interfaces running an XDP program, one a line.
xdp_ifaces() { in_ns proxy ip -o link show | awk '/ prog\/xdp id / {sub(":", "", $2); sub("@.*", "", $2); print $2}' | sort; }
# wait_for SECONDS CMD...: until CMD succeeds (bounded).
wait_for() {
	local tenths=$(($1 * 10)) i
	shift
	for ((i = 0; i < tenths; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
# out_has TEXT: whether $out holds TEXT.
out_has() { grep -qF -- "$1" <<<"$out"; }
# log_has FILE PATTERN: whether natproxyd logged a line matching PATTERN.
log_has() { grep -q -- "$2" "$1"; }
# call_id NAME: the Call-ID of the call a sipp run NAME made.
call_id() { sed -n 's/^Call-I[Dd]: *\([^[:space:]]*\).*/\1/p' "$NP_RUN_DIR/$1.msg" | head -1; }
# record CHARGING CALL_ID EXPR: EXPR over that call's charging records
# (recs; r: the last one).
record() {
	python3 - "$@" <<-'EOF'
		import json, sys
		recs = []
		try:
		    for l in open(sys.argv[1]):
		        r = json.loads(l)
		        if r["call_id"] == sys.argv[2]:
		            recs.append(r)
		except (OSError, ValueError) as e:
		    print("error: %s" % e)
		    sys.exit(0)
		r = recs[-1] if recs else {}
		try:
		    print(eval(sys.argv[3]))
		except Exception as e:
		    print("error: %s" % e)
	EOF
}
# rtp_from FILE SRC DST: valid UDP packets SRC -> DST from a relay port.
rtp_from() {
	tests/lib/pcap_udp.py "$1" |
		awk -v s="$2" -v d="$3" '$1 == s && $2 >= 30000 && $3 == d && $8 != "bad" && $9 == "ok" {n++} END {print n + 0}'
}

# cfg FILE ACCESS_KEYS [EXTRA_TOP]: a one-pair configuration; ACCESS_KEYS
# are YAML lines indented 4 for the access realm.
cfg() {
	cat >"$1" <<-EOF
		realms:
		  - name: access
		    interface: acc0
		    address: $SIP_PROXY_ACC_IP
		    sip_port: 5060
		    media_ports: 30000-30999
		$2
		  - name: core
		    interface: core0
		    address: $SIP_PROXY_CORE_IP
		    sip_ports: 20000-20999
		    media_ports: 40000-40999
		pairs:
		  - first: access
		    second: core
		    softswitch: $SIP_KAM_IP:5060
		keepalive:
		  method: options
		  interval: 60
		${3:-}
	EOF
}

# --- check: natproxyd --check ----------------------------------------------------
CFG=$NP_RUN_DIR/good.yaml
cfg "$CFG" "" "charging:
  file: $NP_RUN_DIR/charging/calls.log"
out=$(in_ns proxy build/natproxyd -c "$CFG" --pin-dir "$NP_PIN_DIR" --state "$NP_RUN_DIR/check.state" --check 2>&1); rc=$?
diag "check: $out"
check_eq "check: a good configuration passes (exit 0)" 0 "$rc"
check "check: ... saying ok" out_has ": ok (2 realms, 1 pairs)"
check "check: nothing created: no pin directory, no charging directory" \
	test ! -e "$NP_PIN_DIR" -a ! -e "$NP_RUN_DIR/charging"

BAD=$NP_RUN_DIR/bad-host.yaml
cfg "$BAD" "" "charging:
  file: $NP_RUN_DIR/no/such/calls.log"
sed -i "s/interface: core0/interface: nosuch0/; s/address: $SIP_PROXY_ACC_IP/address: 203.0.113.99/" "$BAD"
out=$(in_ns proxy build/natproxyd -c "$BAD" --pin-dir "$NP_PIN_DIR" \
	--state "$NP_RUN_DIR/nodir/deeper/state" --check 2>&1); rc=$?
echo "$out" | sed 's/^/# check: /'
check "check: problems found: exit non-zero" test "$rc" -ne 0
check_eq "check: one line per problem (address, interface, charging, state)" 4 "$(echo "$out" | wc -l)"
check "check: the missing interface is named" out_has "no interface 'nosuch0'"
check "check: the foreign address is named" out_has "address 203.0.113.99 is not an address of this host"
check "check: the charging path is named" out_has "charging file '$NP_RUN_DIR/no/such/calls.log'"
check "check: the state path is named" out_has "state file '$NP_RUN_DIR/nodir/deeper/state'"
check_eq "check: nothing attached" "" "$(xdp_ifaces)"

printf 'realms:\n  - name: x\n    colour: blue\n' >"$NP_RUN_DIR/broken.yaml"
out=$(in_ns proxy build/natproxyd -c "$NP_RUN_DIR/broken.yaml" --pin-dir "$NP_PIN_DIR" --check 2>&1); rc=$?
check "check: a broken file: FILE:LINE:COLUMN, exit non-zero" \
	test "$rc" -ne 0 -a -n "$(echo "$out" | grep -E "^$NP_RUN_DIR/broken.yaml:[0-9]+:[0-9]+: ")"

# --- undo: a start that fails leaves nothing attached -----------------------------
UNDO=$NP_RUN_DIR/undo.yaml
cfg "$UNDO" "" "charging:
  file: $NP_RUN_DIR/no/such/calls.log"
out=$(in_ns proxy timeout 20 build/natproxyd -c "$UNDO" --pin-dir "$NP_PIN_DIR" --state "$NP_RUN_DIR/undo.state" 2>&1); rc=$?
echo "$out" | sed 's/^/# undo: /'
check "undo: an unwritable charging path: exit non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check "undo: ... saying why" out_has "charging file '$NP_RUN_DIR/no/such/calls.log'"
check_eq "undo: ... and no XDP on the interfaces" "" "$(xdp_ifaces)"
check_eq "undo: natproxyctl status shows no interface" 0 \
	"$(ctl status --json 2>/dev/null | python3 -c 'import json,sys
try: print(len(json.load(sys.stdin).get("interfaces", [])))
except ValueError: print(0)')"

# The access SIP port taken: natproxyd fails after attaching. acc0 runs
# XDP already (attached by natproxyctl): that stays, core0's goes again.
sip_spawn proxy python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5060))
print("bound", flush=True)
time.sleep(60)' "$SIP_PROXY_ACC_IP" >"$NP_RUN_DIR/squatter.out" 2>&1
SQUAT=$SIP_LAST_PID
wait_for 5 grep -q bound "$NP_RUN_DIR/squatter.out"
ctl attach acc0 --max-flows 4096 >/dev/null
check_eq "undo: acc0 runs the relay before the start" "acc0" "$(xdp_ifaces)"
cfg "$UNDO" ""
out=$(in_ns proxy timeout 20 build/natproxyd -c "$UNDO" --pin-dir "$NP_PIN_DIR" --state "$NP_RUN_DIR/undo.state" 2>&1); rc=$?
echo "$out" | sed 's/^/# undo: /'
check "undo: the SIP port taken: exit non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check "undo: ... saying why" out_has "cannot open SIP socket on realm 'access' port 5060"
check "undo: ... after attaching core0" out_has "XDP detached from 'core0' again"
check_eq "undo: acc0 keeps the XDP it had, core0 has none" "acc0" "$(xdp_ifaces)"
sip_stop "$SQUAT"
ctl detach acc0 >/dev/null

# --- state: one state file per instance --------------------------------------------
# The default follows the pin directory (this run's own, under /run/natproxy).
DEF_STATE=/run/natproxy/state.$(echo "${NP_PIN_DIR#/}" | tr / _)
rm -f "$DEF_STATE"
STATE_CFG=$NP_RUN_DIR/state.yaml
cfg "$STATE_CFG" ""
LOG=$NP_RUN_DIR/state.log
check "state: natproxyd starts without --state" \
	natproxyd_start "$LOG" build/natproxyd -c "$STATE_CFG"
check "state: A registers" \
	sipp_run lan1 reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 60 "$SIP_PROXY_ACC_IP:5060"
sip_stop "$NPD_PID"
check "state: the default state file is $DEF_STATE" test -s "$DEF_STATE"
check "state: it names its owner, this pin directory" \
	grep -q "^owner $(realpath "$NP_PIN_DIR") [1-9][0-9]* [1-9][0-9]*\$" "$DEF_STATE"
check "state: ... and A's registration" grep -q "^term 0 $SIP_NAT1_IP " "$DEF_STATE"
natproxyd_start "$LOG" build/natproxyd -c "$STATE_CFG"
check "state: natproxyd started again adopts its own terminal" log_has "$LOG" "adopted 1 terminals"
sip_stop "$NPD_PID"

# Another instance (another pin directory) given that file refuses it.
OTHER_PINS=$NP_RUN_DIR/bpf/other
ctl detach acc0 >/dev/null
ctl detach core0 >/dev/null
out=$(in_ns proxy timeout 20 build/natproxyd -c "$STATE_CFG" --pin-dir "$OTHER_PINS" --state "$DEF_STATE" 2>&1); rc=$?
echo "$out" | sed 's/^/# state: /'
check "state: an instance with other pins refuses the file: exit non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check "state: ... saying whose it is" out_has "state file '$DEF_STATE' belongs to the natproxyd with pins in '$(realpath "$NP_PIN_DIR")'"
check_eq "state: ... attaching nothing" "" "$(xdp_ifaces)"
check "state: ... and the file is left as it was" grep -q "^term 0 $SIP_NAT1_IP " "$DEF_STATE"
rm -f "$DEF_STATE"

tap_done
