#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of the MGCP driver (issue 12, RFC 3435) on the SIP
# harness's namespaces (tests/sip/README.md), no Kamailio: a scripted
# residential gateway (tests/lib/mgcp_peer.py gw) at 192.168.1.10 behind
# NAT 1 and a scripted call agent (mgcp_peer.py ca) at 198.51.100.2:2727 in
# the core, natproxyd between them with a pair that carries MGCP only.
# The gateway's RSIP (sent again until answered: one transaction; an NCS
# 1.0 command line, as a cable gateway writes it) teaches
# natproxyd the gateway, which the call agent sees at its core address;
# the call agent answers it there, and makes a call: CRCX (the gateway's
# SDP comes back at a core relay), MDCX with its own SDP (the gateway gets
# an access relay), 50 RTP packets each way through the XDP relay,
# captured at both receivers, DLCX and its charging record, whose volumes
# match the captures. Meanwhile natproxyd audits the gateway with AUEP
# every 2 s. A second call is left up and the gateway goes silent: after
# three unanswered AUEPs natproxyd releases it, ends and bills the
# connection (terminal-lost) and tells the call agent with DLCX (E: 902).
# natproxyd is killed (kill -9) while the first call's RTP flows (its
# journal holding the connection as a gw-call record, never the gateway
# whole) and started again on the same state file and pins: XDP relays on meanwhile;
# the restarted natproxyd adopts the gateway (its core address, endpoint,
# connection), the call agent's MDCX and DLCX to that core address reach
# the gateway, the call is billed once with every packet. During the
# second call it is stopped cleanly and started again: the AUEPs that
# find the silent gateway are the third run's.
# Every MGCP message captured at both ends decodes in tshark (when
# installed) with no malformed field.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "MGCP end to end"
. tests/sip/topology.sh
. tests/lib/tshark.sh

gateway_test_begin

LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$NP_RUN_DIR/charging.log
GWLOG=$NP_RUN_DIR/gw.log
CALOG=$NP_RUN_DIR/ca.log
MUTE=$NP_RUN_DIR/gw.mute
PEER=tests/lib/mgcp_peer.py

gateway_config mgcp 2

check "natproxyd starts with an MGCP-only pair" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
		--state "$NP_RUN_DIR/state"
check "natproxyd listens for gateways on $SIP_PROXY_ACC_IP:2727 (no SIP socket)" \
	sh -c "ip netns exec $NP_RUN-proxy ss -Hlun | grep -q '$SIP_PROXY_ACC_IP:2727' &&
		! ip netns exec $NP_RUN-proxy ss -Hlun | grep -q ':5060'"

capture lan1 eth0 gw.pcap udp
GW_CAP=$SIP_LAST_PID
capture core eth0 core.pcap udp
CORE_CAP=$SIP_LAST_PID

# The gateway first: its RSIP goes unanswered until the call agent runs,
# and is sent again with the same transaction id.
sip_spawn lan1 python3 "$PEER" gw --ip "$SIP_A_IP" --ca "$SIP_PROXY_ACC_IP:2727" \
	--log "$GWLOG" --mute-file "$MUTE" --secs 40 --ncs
GW_PID=$SIP_LAST_PID
sleep 1.5
CUE=$NP_RUN_DIR/restart.cue
sip_spawn core python3 "$PEER" ca --ip "$SIP_KAM_IP" --media-ip "$SIP_CORE_UA_IP" \
	--log "$CALOG" --calls 2 --lost --mute-file "$MUTE" --restart-file "$CUE"
CA_PID=$SIP_LAST_PID

# --- restarts: kill -9 while call 1's RTP flows, a clean stop during call 2's --
gateway_restarted "$CUE.0" KILL "call 1" mgcp:A3C47F2145678000
gateway_restarted "$CUE.1" TERM "call 2" mgcp:A3C47F2145678001
check "the call agent's script completes (two calls, the second lost)" sip_wait "$CA_PID" 60
sip_stop "$GW_PID"
stop_capture "$GW_CAP"
stop_capture "$CORE_CAP"

# jq-free JSON reading: the summary lines of the two logs.
summary() {
	python3 - "$1" "$2" <<-'EOF'
		import json, sys
		s = None
		for line in open(sys.argv[1]):
		    d = json.loads(line)
		    if "summary" in d:
		        s = d["summary"]
		v = s
		for k in sys.argv[2].split("."):
		    v = v[int(k)] if k.isdigit() else v.get(k) if isinstance(v, dict) else None
		print("" if v is None else v)
	EOF
}
# msgs LOG DIR VERB: MGCP messages of a log (in/out) whose first line
# starts with VERB, one a line as "first-line | param lines".
msgs() {
	python3 - "$@" <<-'EOF'
		import json, sys
		for line in open(sys.argv[1]):
		    d = json.loads(line)
		    if d.get("dir") != sys.argv[2]:
		        continue
		    for m in d["msg"].split("\r\n.\r\n"):
		        if m.split(" ", 1)[0] == sys.argv[3]:
		            print(" | ".join(m.split("\r\n")[:6]))
	EOF
}

ep=$(summary "$CALOG" gateway.endpoint)
src=$(summary "$CALOG" gateway.source)
port=${src##*:}
check_eq "the call agent saw the RSIP from the gateway's core address" \
	"$SIP_PROXY_CORE_IP" "${src%:*}"
check "... a core port of the range ($port)" test "$port" -ge 20000 -a "$port" -le 20999
check_eq "... with the endpoint named at that core address" \
	"aaln/1@[$SIP_PROXY_CORE_IP]:$port" "$ep"
rsips=$(msgs "$GWLOG" out RSIP | wc -l)
check "the gateway sent its RSIP more than once ($rsips), the call agent got one" \
	test "$rsips" -ge 2 -a "$(msgs "$CALOG" in RSIP | wc -l)" -ge 1
rsip_ca=$(msgs "$CALOG" in RSIP | head -1)
check "the RSIP's NCS command line reached the call agent, endpoint rewritten ($rsip_ca)" \
	sh -c "echo '$rsip_ca' | grep -q '^RSIP [0-9]* aaln/1@\[$SIP_PROXY_CORE_IP\]:$port MGCP 1.0 NCS 1.0 | RM: restart'"
check_eq "the RSIP's 200 reached the gateway as its own transaction 1000" 1 \
	"$(summary "$GWLOG" rsip_ok)"
check "the CRCX reached the gateway with its own endpoint name and N: at natproxy" \
	sh -c "python3 - '$GWLOG' <<'EOF' | grep >/dev/null 'aaln/1@\[$SIP_A_IP\] MGCP 1.0 | C: A3C47F2145678000 | L: p:20, a:PCMU | M: recvonly | N: ca@\[$SIP_PROXY_ACC_IP\]:2727'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get('dir') == 'in' and d['msg'].startswith('CRCX'):
        print(' | '.join(d['msg'].split('\r\n')[:5]))
EOF"
check "no private address reached the call agent" \
	sh -c "! grep -q '192\.168\.' '$CALOG'"
check "no core address reached the gateway" \
	sh -c "! grep -q '198\.51\.100\.' '$GWLOG'"
lcd=$(summary "$CALOG" calls.0.lcd)
check "the gateway's SDP reached the call agent at a core relay ($lcd)" \
	sh -c "case '$lcd' in $SIP_PROXY_CORE_IP:40*) true ;; *) false ;; esac"
check "the MDCX reached the gateway with an access relay in its SDP" \
	grep -q "c=IN IP4 $SIP_PROXY_ACC_IP.*m=audio 30[0-9]* RTP/AVP 0" <(tr -d '\r' <"$GWLOG" | sed 's/\\r\\n/ /g')

# --- media: captured at the receivers ------------------------------------------
# rtp_to FILE IP PORT: RTP packets (172-byte UDP payload) a capture holds to IP:PORT.
rtp_to() {
	tests/lib/pcap_udp.py "$1" | awk -v ip="$2" -v p="$3" '$3 == ip && $4 == p && $10 == 172' | wc -l
}
at_gw=$(rtp_to "$NP_RUN_DIR/gw.pcap" "$SIP_A_IP" 4000)
at_core=$(rtp_to "$NP_RUN_DIR/core.pcap" "$SIP_CORE_UA_IP" 5000)
diag "RTP captured: $at_gw at the gateway (call 1 and 2), $at_core at the far end of call 1"
check_eq "call 1: the far end received 50 RTP packets (script count)" 50 "$(summary "$CALOG" calls.0.rtp_in)"
check_eq "call 1: captured at the far end: 50" 50 "$at_core"
check "both calls: the gateway received 100 RTP packets ($at_gw captured)" test "$at_gw" -eq 100
check_eq "call 1: the DLCX was answered 250" 250 "$(summary "$CALOG" calls.0.dlcx)"
k=$(summary "$CALOG" calls.0.rtp_at_kill) u=$(summary "$CALOG" calls.0.rtp_at_restart)
check "call 1: RTP reached the call agent while natproxyd was down (${k:-?} packets by the kill, ${u:-?} by the restart)" \
	test "${u:-0}" -gt "${k:-0}"
check_eq "call 1: the MDCX after the restart, to the same core address, was answered 200" \
	200 "$(summary "$CALOG" calls.0.mdcx_after_restart)"
check_eq "... it reached the gateway (its second MDCX of call 1)" 2 \
	"$(msgs "$GWLOG" in MDCX | grep -c 'C: A3C47F2145678000')"
check_eq "call 2: the MDCX after the clean restart was answered 200" \
	200 "$(summary "$CALOG" calls.1.mdcx_after_restart)"
check_eq "nothing crossed the proxy's kernel between the two sides" 0 "$(sip_leaks)"

# --- charging ---------------------------------------------------------------------
rec() {
	python3 - "$CHARGING" "$1" "$2" <<-'EOF'
		import json, sys
		recs = [json.loads(l) for l in open(sys.argv[1])]
		r = [x for x in recs if x["call_id"].startswith("mgcp:" + sys.argv[2])]
		if not r:
		    print("none"); sys.exit()
		v = r[0]
		for k in sys.argv[3].split("."):
		    v = v[int(k)] if k.isdigit() else v[k]
		print(v)
	EOF
}
c1=A3C47F2145678000
check_eq "two charging records" 2 "$(grep -c . "$CHARGING")"
check_eq "call 1's record: ended by the DLCX (bye)" bye "$(rec $c1 end_reason)"
check_eq "call 1's record names the endpoint as the call agent knows it" "$ep" "$(rec $c1 from)"
check_eq "call 1's record: the gateway's NAT mapping" "$SIP_NAT1_IP" "$(rec $c1 terminal | cut -d: -f1)"
check_eq "call 1's record: 50 packets from the gateway" 50 "$(rec $c1 streams.0.from_terminal.packets)"
check_eq "call 1's record: 50 packets to the gateway (the capture's count)" 50 "$(rec $c1 streams.0.to_terminal.packets)"
check_eq "call 1: exactly one charging record through the restart" 1 \
	"$(grep -c "\"call_id\": \"mgcp:$c1" "$CHARGING")"
check_eq "call 1's record: from the gateway, what the far end's capture holds" \
	"$at_core" "$(rec $c1 streams.0.from_terminal.packets)"

# --- keepalive and the lost gateway ------------------------------------------------
# Each run's first AUEP comes up to two intervals after it adopted the
# gateway: the gateway goes silent only once it has answered one (or 10 s
# after the call agent told it to), so at least one is answered.
aueps=$(summary "$GWLOG" auep)
muted=$(python3 - "$GWLOG" <<-'EOF'
	import json, sys
	print(sum(1 for l in map(json.loads, open(sys.argv[1]))
	          if l.get("dir") == "in-muted" and l["msg"].startswith("AUEP")))
EOF
)
check "natproxyd audited the gateway with AUEP ($aueps answered)" test "$aueps" -ge 1
check "the restarted natproxyd audited the silent gateway three times ($muted unanswered AUEPs)" \
	test "$muted" -ge 3
check "the AUEPs name the gateway's own endpoint" \
	sh -c "python3 - '$GWLOG' <<'EOF' | grep >/dev/null '^AUEP [0-9]* aaln/1@\[$SIP_A_IP\] MGCP 1.0$'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get('dir', '').startswith('in') and d['msg'].startswith('AUEP'):
        print(d['msg'].split('\r\n')[0])
EOF"
check_eq "silent gateway: call 2 billed terminal-lost" terminal-lost \
	"$(rec A3C47F2145678001 end_reason)"
check_eq "call 2's record: 50 packets to the gateway" 50 \
	"$(rec A3C47F2145678001 streams.0.to_terminal.packets)"
dl=$(summary "$CALOG" calls.1.dlcx_from_natproxy)
check "the call agent got natproxy's DLCX for call 2 with E: 902 ($dl)" \
	sh -c "echo \"$dl\" | grep -q \"'E': '902\""
check "natproxyd logged the gateway's release" \
	grep -q "stopped answering keepalives" "$LOG"
if command -v tshark >/dev/null; then
	for cap in gw core; do
		set -- $(tshark_counts "$NP_RUN_DIR/$cap.pcap" mgcp)
		check "every MGCP message captured at the $cap ($1) decodes in tshark, none malformed ($2)" \
			test "$1" -ge 10 -a "$2" -eq 0
	done
else
	skip "MGCP captures decode in tshark" "tshark not installed"
fi
sip_stop "$NPD_PID"
grep -i 'error' "$LOG" | head -3 | sed 's/^/# log: /'
check "natproxyd logged no error" sh -c "! grep -qi 'error' '$LOG'"
tap_done
