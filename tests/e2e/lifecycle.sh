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
# When ip cannot list the links it says so: never "" (no XDP).
xdp_ifaces() {
	local links
	links=$(in_ns proxy ip -o link show) || { echo "cannot list the proxy's links"; return 1; }
	echo "$links" | awk '/ prog\/xdp id / {sub(":", "", $2); sub("@.*", "", $2); print $2}' | sort
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
	local lines
	lines=$(tests/lib/pcap_udp.py "$1") || { echo "cannot read '$1'"; return 1; }
	echo "$lines" |
		awk -v s="$2" -v d="$3" '$1 == s && $2 >= 30000 && $3 == d && $8 != "bad" && $9 == "ok" {n++} END {print n + 0}'
}

# cfg FILE ACCESS_KEYS [EXTRA_TOP]: a one-pair configuration; ACCESS_KEYS
# are YAML lines indented 4 for the access realm.
cfg() {
	proxy_config "$1" sip "$2" "" "keepalive:
  method: options
  interval: 60" "${3:-}"
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

# --- shipped: configs/natproxy.yaml starts as shipped ------------------------------
# The proxy namespace has its interfaces and addresses (acc0 203.0.113.1,
# core0 198.51.100.1); the pins go to this run's bpffs. Its charging file's
# directory, /var/lib/natproxy, is made if missing (and removed again here
# if this test made it).
SHIPPED_DIR=/var/lib/natproxy
SHIPPED_CHARGING=$SHIPPED_DIR/charging.log
made_dir=0 made_file=0
[ -e "$SHIPPED_DIR" ] || made_dir=1
[ -e "$SHIPPED_CHARGING" ] || made_file=1
out=$(in_ns proxy build/natproxyd -c configs/natproxy.yaml --pin-dir "$NP_PIN_DIR" --state "$NP_RUN_DIR/shipped.state" --check 2>&1); rc=$?
diag "shipped: $out"
check_eq "shipped: configs/natproxy.yaml passes --check on a host with its interfaces" 0 "$rc"
LOG=$NP_RUN_DIR/shipped.log
check "shipped: natproxyd starts on configs/natproxy.yaml as shipped" \
	natproxyd_start "$LOG" build/natproxyd -c configs/natproxy.yaml --state "$NP_RUN_DIR/shipped.state"
check "shipped: ... its charging file is there" test -f "$SHIPPED_CHARGING"
check "shipped: A registers through it" \
	sipp_run lan1 shipped-reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 60 "$SIP_PROXY_ACC_IP:5060"
sip_stop "$NPD_PID"
ctl detach acc0 >/dev/null
ctl detach core0 >/dev/null
[ "$made_file" = 1 ] && [ ! -s "$SHIPPED_CHARGING" ] && rm -f "$SHIPPED_CHARGING"
[ "$made_dir" = 1 ] && rmdir "$SHIPPED_DIR" 2>/dev/null

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
	grep -qE "^owner $(realpath "$NP_PIN_DIR") [1-9][0-9]* [1-9][0-9]*( [1-9][0-9]*)? #[0-9a-f]{8}\$" "$DEF_STATE"
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

# --- reload: SIGHUP ------------------------------------------------------------------
# rcfg ACCESS_KEYS CORE_KEYS WITH_ACCESS2: the reload test's configuration
# (written over $RCFG), its charging file $CHARGING; WITH_ACCESS2=1 adds
# realm access2 (203.0.113.2 on acc0) and the pair access2->core.
RCFG=$NP_RUN_DIR/reload.yaml
CHARGING=$NP_RUN_DIR/reload.charging
ACC2_IP=203.0.113.2
rcfg() {
	local extra_realm='' extra_pair=''
	if [ "$3" = 1 ]; then
		extra_realm="  - name: access2
    interface: acc0
    address: $ACC2_IP
    sip_port: 5060
    media_ports: 30000-30999"
		extra_pair="  - first: access2
    second: core
    softswitch: $SIP_KAM_IP:5060"
	fi
	cat >"$RCFG.tmp" <<-EOF
		realms:
		  - name: access
		    interface: acc0
		    address: $SIP_PROXY_ACC_IP
		    sip_port: 5060
		    media_ports: 30000-30999
		$1
		  - name: core
		    interface: core0
		    address: $SIP_PROXY_CORE_IP
		    sip_ports: 20000-20999
		    media_ports: 40000-40999
		$2
		$extra_realm
		pairs:
		  - first: access
		    second: core
		    softswitch: $SIP_KAM_IP:5060
		$extra_pair
		keepalive:
		  method: options
		  interval: 60
		charging:
		  file: $CHARGING
	EOF
	mv "$RCFG.tmp" "$RCFG"
}
# hup: SIGHUP natproxyd, wait (bounded) until it logged the outcome of
# that reload ("reloaded" or "reload refused").
hup() {
	local before
	before=$(grep -c 'reloaded: \|reload refused' "$LOG")
	kill -HUP "$NPD_PID"
	wait_for 10 eval '[ "$(grep -c "reloaded: \|reload refused" "$LOG")" -gt "$before" ]'
}
# A uac that holds its call after the RTP until an INFO arrives in it
# (send_info), so that a test acts mid-call without racing the BYE.
sed -e "s|play_pcap_audio=\"pcmu.pcap\"|play_pcap_audio=\"$SIP_SCENARIOS/pcmu.pcap\"|" \
	-e 's|<pause/>|<recv request="INFO"/>|' \
	"$SIP_SCENARIOS/uac.xml" >"$NP_RUN_DIR/uac-hold.xml"
# send_info NS IP CALL_ID: an INFO of that call to the sipp at IP:5060.
send_info() {
	in_ns "$1" python3 -c '
import socket, sys
ip, cid = sys.argv[1], sys.argv[2]
msg = ("INFO sip:hold@%s:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5999;branch=z9hG4bK-hold\r\n"
       "From: <sip:test@example.test>;tag=t1\r\nTo: <sip:hold@example.test>;tag=t2\r\n"
       "Call-ID: %s\r\nCSeq: 99 INFO\r\nContent-Length: 0\r\n\r\n" % (ip, ip, cid))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, 5999))
s.sendto(msg.encode(), (ip, 5060))' "$2" "$3"
}
# far_count FILE: RTP packets natproxy relayed to the far end in a capture.
far_count() { rtp_from "$1" "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP"; }
n_flows() { count_lines '^\{' ctl flows --json; }

in_ns proxy ip addr add "$ACC2_IP/24" dev acc0
rcfg "" "" 0
LOG=$NP_RUN_DIR/reload.log
check "reload: natproxyd starts" \
	natproxyd_start "$LOG" build/natproxyd -c "$RCFG" --state "$NP_RUN_DIR/reload.state"

# A calls the far end and holds the call; the configuration changes under it.
capture core eth0 r1-far.pcap udp port 7000
sipp_spawn core r1-uas uas -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000
FAR=$SIP_LAST_PID
sipp_spawn lan1 r1-a "$NP_RUN_DIR/uac-hold.xml" -i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 -s far -key user a "$SIP_PROXY_ACC_IP:5060"
UAC=$SIP_LAST_PID
wait_for 10 eval '[ "$(n_flows)" -ge 2 ]'
flows_before=$(n_flows)
CID1=$(call_id r1-a)
# The new policy: at most one call through core, B's NAT denied, a new
# realm and pair (access2 -> core).
rcfg "    deny:
      - $SIP_NAT2_IP/32" "    max_calls: 1" 1
check "reload: SIGHUP mid-call is taken" hup
check "reload: ... and logged as reloaded with 3 realms, 2 pairs" log_has "$LOG" "reloaded: 3 realms, 2 pairs (0 draining)"
check "reload: ... each change noted" \
	bash -c "grep -q \"reload: realm 'core': max_calls 0 -> 1\" '$LOG' && grep -q 'reload: pair access2->core added' '$LOG'"
check "reload: natproxyd lives on" kill -0 "$NPD_PID"
check_eq "reload: the live call keeps its flows" "$flows_before" "$(n_flows)"

sipp_run lan2 r1-reg-b register -i "$SIP_B_IP" -p 5060 -key user b -key expires 60 "$SIP_PROXY_ACC_IP:5060"
check "reload: the newly denied NAT (B) is refused: 403" grep -q '^SIP/2.0 403' "$NP_RUN_DIR/r1-reg-b.msg"
check_eq "reload: ... and Kamailio never saw B" "" "$(kamailio_contacts b)"
check "reload: C registers through the new pair (access2 -> core)" \
	sipp_run lan0 r1-reg-c register -i "$SIP_C_IP" -p 5060 -key user c -key expires 60 "$ACC2_IP:5060"
contact_c=$(kamailio_contacts c)
check "reload: ... Kamailio stores C at natproxy's core address" \
	bash -c "echo '$contact_c' | grep -Eq '^sip:c@198\.51\.100\.1:20[0-9]{3}'"
sipp_run lan0 r1-call-c uac -i "$SIP_C_IP" -p 5060 -mi "$SIP_C_IP" -mp 6004 -s far -key user c "$ACC2_IP:5060"
check "reload: a second call while A's is live gets 503 (max_calls 1 on core)" \
	grep -q '^SIP/2.0 503' "$NP_RUN_DIR/r1-call-c.msg"

wait_for 10 eval '[ "$(far_count "$NP_RUN_DIR/r1-far.pcap")" -ge 200 ]'
send_info lan1 "$SIP_A_IP" "$CID1"
check "reload: A's call, older than the reload, completes (BYE, 200)" sip_wait "$UAC" 20
check "reload: ... the far end's side too" sip_wait "$FAR" 20
stop_captures
check_eq "reload: ... all 200 of A's RTP packets reached the far end" 200 "$(far_count "$NP_RUN_DIR/r1-far.pcap")"
check_eq "reload: ... one charging record, 200 packets from A, ended by bye" "1 200 bye" \
	"$(record "$CHARGING" "$CID1" '"%d %s %s" % (len(recs), r["streams"][0]["from_terminal"]["packets"], r["end_reason"])')"
check_eq "reload: ... and no flow is left" 0 "$(n_flows)"

# A broken file: the running configuration stays.
cp "$RCFG" "$NP_RUN_DIR/reload.good"
sed 's/max_calls: 1$/max_calls: lots/' "$NP_RUN_DIR/reload.good" >"$RCFG"
bad_line=$(grep -n 'max_calls: lots' "$RCFG" | cut -d: -f1)
check "reload: SIGHUP with a broken file (max_calls: lots)" hup
check "reload: ... FILE:LINE:COLUMN logged, running configuration kept" \
	grep -Eq "reload refused, running configuration kept: $RCFG:$bad_line:[0-9]+: " "$LOG"
grep 'reload refused' "$LOG" | tail -1 | sed 's/^/# log: /'
check "reload: ... natproxyd lives on" kill -0 "$NPD_PID"
sipp_run lan2 r2-reg-b register -i "$SIP_B_IP" -p 5060 -key user b -key expires 60 "$SIP_PROXY_ACC_IP:5060"
check "reload: ... the running policy still applies (B: 403)" grep -q '^SIP/2.0 403' "$NP_RUN_DIR/r2-reg-b.msg"

# Rotation and drain: C calls through access2 and holds; the charging
# file is moved away, access2 leaves the file, SIGHUP.
cp "$NP_RUN_DIR/reload.good" "$RCFG"
capture core eth0 r3-far.pcap udp port 7000
sipp_spawn core r3-uas uas -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000
FAR=$SIP_LAST_PID
sipp_spawn lan0 r3-c "$NP_RUN_DIR/uac-hold.xml" -i "$SIP_C_IP" -p 5060 -mi "$SIP_C_IP" -mp 6004 -s far -key user c "$ACC2_IP:5060"
UAC=$SIP_LAST_PID
wait_for 10 eval '[ "$(n_flows)" -ge 2 ]'
CID3=$(call_id r3-c)
mv "$CHARGING" "$CHARGING.1"
rcfg "    deny:
      - $SIP_NAT2_IP/32" "    max_calls: 1" 0
check "reload: SIGHUP after the charging file was moved, access2 removed" hup
check "reload: ... pair access2->core drains" log_has "$LOG" "reload: pair access2->core removed: draining"
check "reload: ... reloaded with the realm kept while it drains" log_has "$LOG" "reloaded: 3 realms, 2 pairs (1 draining)"
check "reload: ... a new charging file at the configured path" test -e "$CHARGING"
sipp_run lan0 r3-reg-c2 register -i "$SIP_C_IP" -p 5070 -key user c2 -key expires 60 "$ACC2_IP:5060"
check "reload: the draining pair takes no new terminal: 503" grep -q '^SIP/2.0 503' "$NP_RUN_DIR/r3-reg-c2.msg"
check_eq "reload: ... and Kamailio never saw it" "" "$(kamailio_contacts c2)"
wait_for 10 eval '[ "$(far_count "$NP_RUN_DIR/r3-far.pcap")" -ge 200 ]'
send_info lan0 "$SIP_C_IP" "$CID3"
check "reload: C's call in the draining pair completes" sip_wait "$UAC" 20
check "reload: ... the far end's side too" sip_wait "$FAR" 20
stop_captures
check_eq "reload: ... all 200 of C's RTP packets reached the far end" 200 "$(far_count "$NP_RUN_DIR/r3-far.pcap")"
check_eq "reload: ... its record is in the new charging file (200 packets, bye)" "1 200 bye" \
	"$(record "$CHARGING" "$CID3" '"%d %s %s" % (len(recs), r["streams"][0]["from_terminal"]["packets"], r["end_reason"])')"
check_eq "reload: ... the moved file holds A's record only" "1 0" \
	"$(record "$CHARGING.1" "$CID1" 'len(recs)') $(record "$CHARGING.1" "$CID3" 'len(recs)')"
check_eq "reload: ... and the record of pair access2->core names it" "access2->core" \
	"$(record "$CHARGING" "$CID3" 'r["pair"]')"

sip_stop "$NPD_PID"
check "reload: natproxyd stops cleanly on SIGTERM" log_has "$LOG" "shutting down"
check_eq "reload: no flow is left" 0 "$(n_flows)"

tap_done
