#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of a damaged state file (issue 11, item 5) on the SIP
# topology of tests/sip/: A calls the far end through natproxyd and holds
# the call; natproxyd is killed (-9), its state file cut in half (then, in
# a second round, filled with random bytes; its journal lost in the first),
# and natproxyd started again.
# No flow of the live call may be removed (the maps keep it), its media
# keeps being relayed (the flow's counter rises), the damaged file is kept
# aside, and when the call ends (BYE, then no media) it is billed exactly
# once, as a call recovered from the maps (end_reason recovered).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd start on a damaged state file end to end"
. tests/sip/topology.sh

sip_test_begin

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
n_flows() { count_lines '^\{' ctl flows --json; }
# flow_keys: the flows' local addresses, sorted, one a line.
flow_keys() { ctl flows --json | python3 -c '
import json, sys
for l in sys.stdin:
    l = l.strip()
    if l.startswith("{"):
        print(json.loads(l).get("local", ""))' | sort; }
# packets LOCAL: packets relayed by that flow.
packets() { ctl flows --json | python3 -c '
import json, sys
for l in sys.stdin:
    l = l.strip()
    if l.startswith("{"):
        o = json.loads(l)
        if o.get("local") == sys.argv[1]:
            print(o.get("packets", 0)); break
else:
    print(0)' "$1"; }
rises() { [ "$(packets "$1")" -gt "$2" ]; }
# answer_saved: the state file (snapshot and journal) holds an answered call.
answer_saved() { ctl calls --state "$STATE" --json 2>/dev/null | grep -q '"answered": true'; }
records() { # CHARGING EXPR over recs
	python3 - "$@" <<-'EOF'
		import json, sys
		recs = []
		try:
		    recs = [json.loads(l) for l in open(sys.argv[1])]
		except (OSError, ValueError) as e:
		    print("error: %s" % e); sys.exit(0)
		print(eval(sys.argv[2]))
	EOF
}
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
call_id() { sed -n 's/^Call-I[Dd]: *\([^[:space:]]*\).*/\1/p' "$NP_RUN_DIR/$1.msg" | head -1; }

# A uac whose RTP (pcmu.pcap played 20 times, about 80 s) runs across the
# restart; the test stops it (then no media: the media timeout ends it).
python3 - "$SIP_SCENARIOS/uac.xml" "$SIP_SCENARIOS/pcmu.pcap" >"$NP_RUN_DIR/uac-long.xml" <<'EOF'
import sys
text = open(sys.argv[1]).read()
play = ('  <nop>\n    <action>\n      <exec play_pcap_audio="%s"/>\n'
        '    </action>\n  </nop>\n  <pause milliseconds="4000"/>\n' % sys.argv[2])
start = text.index("  <nop>\n    <action>\n      <exec play_pcap_audio")
end = text.index("<pause/>") + len("<pause/>\n")
print(text[:start] + play * 20 + text[end:], end="")
EOF

CFG=$NP_RUN_DIR/statedmg.yaml
CHARGING=$NP_RUN_DIR/statedmg.charging
STATE=$NP_RUN_DIR/statedmg.state
cat >"$CFG" <<EOF
realms:
  - name: access
    interface: acc0
    address: $SIP_PROXY_ACC_IP
    sip_port: 5060
    media_ports: 30000-30999
    media_timeout: 4
  - name: core
    interface: core0
    address: $SIP_PROXY_CORE_IP
    sip_ports: 20000-20999
    media_ports: 40000-40999
    media_timeout: 4
pairs:
  - first: access
    second: core
    softswitch: $SIP_KAM_IP:5060
keepalive:
  method: options
  interval: 60
charging:
  file: $CHARGING
EOF

# round NAME DAMAGE: one call, natproxyd killed, the state damaged by
# DAMAGE (a command on $STATE), natproxyd started again.
round() {
	local name=$1 damage=$2 keys after relay p0 LOG=$NP_RUN_DIR/$1.log
	check "$name: natproxyd starts" natproxyd_start "$LOG" build/natproxyd -c "$CFG" --state "$STATE"
	sipp_spawn core "$name-uas" uas -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000
	FAR=$SIP_LAST_PID
	sipp_spawn lan1 "$name-a" "$NP_RUN_DIR/uac-long.xml" -i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 -s far -key user a "$SIP_PROXY_ACC_IP:5060"
	UAC=$SIP_LAST_PID
	wait_for 15 eval '[ "$(n_flows)" -ge 4 ]'
	wait_for 10 answer_saved # the call answered, its state saved
	keys=$(flow_keys)
	relay=$(echo "$keys" | grep "^$SIP_PROXY_ACC_IP:30[0-9]*[02468]\$" | head -1)
	diag "$name: flows before the kill: $(echo $keys)"
	check "$name: the call's flows are in the maps" test -n "$relay"
	sip_stop "$NPD_PID" KILL 2>/dev/null
	NPD_PID=
	eval "$damage"
	check "$name: natproxyd starts again on the damaged state" natproxyd_start "$LOG" build/natproxyd -c "$CFG" --state "$STATE"
	grep 'state file' "$LOG" | tail -2 | sed 's/^/# log: /'
	check "$name: ... says so in one line, with counts" grep -q "state file '$STATE' is damaged (.* records adopted, .* skipped).*no flow removed" "$LOG"
	check "$name: ... and keeps the damaged file aside" bash -c "ls '$STATE'.damaged.* >/dev/null 2>&1"
	after=$(flow_keys)
	check_eq "$name: no flow of the live call was removed" "$keys" "$after"
	p0=$(packets "$relay")
	check "$name: the call's media keeps flowing (packets past $p0)" wait_for 10 rises "$relay" $((p0 + 20))
	# The call ends: A's BYE (natproxyd no longer knows the dialog), then
	# no media: the recovered call is ended at the media timeout.
	kill "$UAC" 2>/dev/null
	sip_stop "$UAC" 2>/dev/null
	sip_stop "$FAR" 2>/dev/null
	check "$name: its flows are removed at the media timeout" wait_for 20 eval '[ "$(n_flows)" = 0 ]'
	sip_stop "$NPD_PID"
	NPD_PID=
	rm -f "$STATE" "$STATE".damaged.*
}

# The call may sit in the snapshot or in its journal (saves are coalesced,
# compactions come when the journal outgrows the snapshot): the snapshot
# is cut and the journal lost with it, so that neither holds the call.
round cut 'head -c $(( $(stat -c %s "$STATE") / 2 )) "$STATE" >"$STATE.half" && mv "$STATE.half" "$STATE" && rm -f "$STATE.journal"'
check_eq "cut: one record for the call, recovered, parties unknown" "1 recovered None" \
	"$(records "$CHARGING" '"%d %s %s" % (len(recs), recs[-1]["end_reason"] if recs else "-", recs[-1]["from"] if recs else "-")')"
check "cut: ... with the media XDP counted" test "$(records "$CHARGING" 'recs[-1]["streams"][0]["from_terminal"]["packets"] if recs else 0')" -gt 0
mv "$CHARGING" "$CHARGING.cut"

round random 'head -c 4096 /dev/urandom >"$STATE"'
check_eq "random: one record for the call, recovered" "1 recovered" \
	"$(records "$CHARGING" '"%d %s" % (len(recs), recs[-1]["end_reason"] if recs else "-")')"
check_eq "no flow is left in the maps" 0 "$(n_flows)"
tap_done
