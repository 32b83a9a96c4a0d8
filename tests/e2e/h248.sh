#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of the H.248 driver (issue 12, RFC 3525 text) on the SIP
# harness's namespaces (tests/sip/README.md): a scripted media gateway
# (tests/lib/h248_peer.py mg) at 192.168.1.10 behind NAT 1 and a scripted
# MGC (h248_peer.py mgc) at 198.51.100.2:2944 in the core, natproxyd
# between them with a pair that carries H.248 only. The gateway's
# ServiceChange (sent again until replied: one transaction) teaches
# natproxyd the gateway, which the MGC sees with an mId and a
# ServiceChangeAddress at its core address; the MGC replies there and
# makes a call: Add with Local CHOOSE and its Remote SDP (the gateway gets
# an access relay), whose reply's Local SDP comes back at a core relay, 50
# RTP packets each way through the XDP relay, captured at both receivers,
# TransactionResponseAck, Subtract (compact form) and its charging record,
# whose volumes match the captures. Meanwhile natproxyd audits the gateway
# with AuditValue on ROOT every 2 s. A second call is left up and the
# gateway goes silent: after three unanswered audits natproxyd releases
# it, bills the termination (terminal-lost) and tells the MGC with a
# ServiceChange Forced on it. natproxyd is killed (kill -9) while the
# first call's RTP flows (its journal holding the call as a gw-call
# record, never the gateway whole) and started again on the same state
# file and pins: XDP relays on meanwhile; the restarted natproxyd adopts the gateway
# (core address, mId, the termination in its context), the MGC's Subtract
# to that core address reaches the gateway, the call is billed once with
# every packet. During the second call natproxyd is stopped cleanly and
# started again: the audits that find the silent gateway are the third
# run's. Every H.248 message captured at both ends
# decodes in tshark (when installed) with no malformed field.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "H.248 end to end"
. tests/sip/topology.sh
. tests/lib/tshark.sh

gateway_test_begin

LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$NP_RUN_DIR/charging.log
MGLOG=$NP_RUN_DIR/mg.log
MGCLOG=$NP_RUN_DIR/mgc.log
MUTE=$NP_RUN_DIR/mg.mute
PEER=tests/lib/h248_peer.py

gateway_config h248 2

check "natproxyd starts with an H.248-only pair" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
		--state "$NP_RUN_DIR/state"
check "natproxyd listens for gateways on $SIP_PROXY_ACC_IP:2944 (the default h248_port)" \
	sh -c "ip netns exec $NP_RUN-proxy ss -Hlun | grep -q '$SIP_PROXY_ACC_IP:2944' &&
		! ip netns exec $NP_RUN-proxy ss -Hlun | grep -q ':5060'"

capture lan1 eth0 mg.pcap udp
MG_CAP=$SIP_LAST_PID
capture core eth0 core.pcap udp
CORE_CAP=$SIP_LAST_PID

sip_spawn lan1 python3 "$PEER" mg --ip "$SIP_A_IP" --mgc "$SIP_PROXY_ACC_IP:2944" \
	--log "$MGLOG" --mute-file "$MUTE" --secs 40
MG_PID=$SIP_LAST_PID
sleep 1.5
CUE=$NP_RUN_DIR/restart.cue
sip_spawn core python3 "$PEER" mgc --ip "$SIP_KAM_IP" --media-ip "$SIP_CORE_UA_IP" \
	--log "$MGCLOG" --calls 2 --lost --mute-file "$MUTE" --restart-file "$CUE"
MGC_PID=$SIP_LAST_PID

# --- restarts: kill -9 while call 1's RTP flows, a clean stop during call 2's --
gateway_restarted "$CUE.0" KILL "call 1" h248:
gateway_restarted "$CUE.1" TERM "call 2" h248:
check "the MGC's script completes (two calls, the second lost)" sip_wait "$MGC_PID" 60
sip_stop "$MG_PID"
stop_capture "$MG_CAP"
stop_capture "$CORE_CAP"

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
# count LOG DIR REGEX: messages of a log in direction DIR matching REGEX.
count() {
	python3 - "$@" <<-'EOF'
		import json, re, sys
		n = 0
		for line in open(sys.argv[1]):
		    d = json.loads(line)
		    if d.get("dir") == sys.argv[2] and re.search(sys.argv[3], d["msg"]):
		        n += 1
		print(n)
	EOF
}

src=$(summary "$MGCLOG" gateway.source)
port=${src##*:}
check_eq "the MGC saw the ServiceChange from the gateway's core address" \
	"$SIP_PROXY_CORE_IP" "${src%:*}"
check "... a core port of the range ($port)" test "$port" -ge 20000 -a "$port" -le 20999
check_eq "... with that address as the gateway's mId" \
	"[$SIP_PROXY_CORE_IP]:$port" "$(summary "$MGCLOG" gateway.mid)"
check_eq "... and as its ServiceChangeAddress" \
	"[$SIP_PROXY_CORE_IP]:$port" "$(summary "$MGCLOG" gateway.address)"
scs=$(count "$MGLOG" out 'ServiceChange = ROOT')
check "the gateway sent its ServiceChange more than once ($scs), the MGC got it" \
	test "$scs" -ge 2 -a "$(count "$MGCLOG" in 'ServiceChange = ROOT')" -ge 1
check "the reply reached the gateway as its own transaction 1, natproxy's mId" \
	test "$(count "$MGLOG" in "^MEGACO/1 \\[$SIP_PROXY_ACC_IP\\]:2944\\s+Reply = 1 ")" -ge 1
check "no private address reached the MGC" \
	sh -c "! grep -q '192\.168\.' '$MGCLOG'"
check "no core address reached the gateway" \
	sh -c "! grep -q '198\.51\.100\.' '$MGLOG'"
check "the Add reached the gateway with CHOOSE kept and Remote at an access relay" \
	test "$(count "$MGLOG" in "Local \\{\\\\r\\\\nv=0\\\\r\\\\nc=IN IP4 \\\$|Local \\{\\s*v=0\\s*c=IN IP4 \\\$")" -ge 1 -a \
	"$(count "$MGLOG" in "Remote \\{\\s*v=0\\s*o=- 4723891 7428910 IN IP4 $SIP_PROXY_ACC_IP\\s*s=-\\s*c=IN IP4 $SIP_PROXY_ACC_IP\\s*t=0 0\\s*m=audio 30[0-9]+ RTP/AVP 0")" -ge 1
local1=$(summary "$MGCLOG" calls.0.local)
check "the gateway's Local SDP reached the MGC at a core relay ($local1)" \
	sh -c "case '$local1' in $SIP_PROXY_CORE_IP:40*) true ;; *) false ;; esac"
check_eq "the MGC's TransactionResponseAck reached the gateway" 2 "$(summary "$MGLOG" acks)"

# --- media: captured at the receivers ---------------------------------------------
rtp_to() {
	tests/lib/pcap_udp.py "$1" | awk -v ip="$2" -v p="$3" '$3 == ip && $4 == p && $10 == 172' | wc -l
}
at_mg=$(rtp_to "$NP_RUN_DIR/mg.pcap" "$SIP_A_IP" 4000)
at_core=$(rtp_to "$NP_RUN_DIR/core.pcap" "$SIP_CORE_UA_IP" 5000)
diag "RTP captured: $at_mg at the gateway (calls 1 and 2), $at_core at the far end of call 1"
check_eq "call 1: the far end received 50 RTP packets (script count)" 50 "$(summary "$MGCLOG" calls.0.rtp_in)"
check_eq "call 1: captured at the far end: 50" 50 "$at_core"
check "both calls: the gateway received 100 RTP packets ($at_mg captured)" test "$at_mg" -eq 100
k=$(summary "$MGCLOG" calls.0.rtp_at_kill) u=$(summary "$MGCLOG" calls.0.rtp_at_restart)
check "call 1: RTP reached the MGC while natproxyd was down (${k:-?} packets by the kill, ${u:-?} by the restart)" \
	test "${u:-0}" -gt "${k:-0}"
check_eq "call 1: the Subtract after the restart, to the same core address, reached the gateway" 1 \
	"$(count "$MGLOG" in "C=$(summary "$MGCLOG" calls.0.ctx)\\{S=$(summary "$MGCLOG" calls.0.term)\\}")"
check_eq "call 1: the Subtract's reply carried the statistics" \
	"rtp/ps=50, rtp/pr=50" "$(summary "$MGCLOG" calls.0.subtract)"
check_eq "nothing crossed the proxy's kernel between the two sides" 0 "$(sip_leaks)"

# --- charging ----------------------------------------------------------------------
rec() {
	python3 - "$CHARGING" "$1" "$2" <<-'EOF'
		import json, sys
		recs = [json.loads(l) for l in open(sys.argv[1])]
		r = [x for x in recs if x["call_id"] == sys.argv[2]]
		if not r:
		    print("none"); sys.exit()
		v = r[0]
		for k in sys.argv[3].split("."):
		    v = v[int(k)] if k.isdigit() else v[k]
		print(v)
	EOF
}
c1="h248:$(summary "$MGCLOG" calls.0.ctx)/$(summary "$MGCLOG" calls.0.term)"
c2="h248:$(summary "$MGCLOG" calls.1.ctx)/$(summary "$MGCLOG" calls.1.term)"
check_eq "two charging records" 2 "$(grep -c . "$CHARGING")"
check_eq "call 1 ($c1): ended by the Subtract (bye)" bye "$(rec "$c1" end_reason)"
check_eq "call 1's record names the termination as the MGC knows the gateway" \
	"$(summary "$MGCLOG" calls.0.term)@[$SIP_PROXY_CORE_IP]:$port" "$(rec "$c1" from)"
check_eq "call 1's record: the gateway's NAT mapping" "$SIP_NAT1_IP" "$(rec "$c1" terminal | cut -d: -f1)"
check_eq "call 1's record: 50 packets from the gateway" 50 "$(rec "$c1" streams.0.from_terminal.packets)"
check_eq "call 1's record: 50 packets to the gateway (the capture's count)" 50 "$(rec "$c1" streams.0.to_terminal.packets)"
check_eq "call 1: exactly one charging record through the restart" 1 \
	"$(grep -c "\"call_id\": \"$c1\"" "$CHARGING")"
check_eq "call 1's record: from the gateway, what the far end's capture holds" \
	"$at_core" "$(rec "$c1" streams.0.from_terminal.packets)"

# --- keepalive and the lost gateway ----------------------------------------------------
# Each run's first audit comes up to two intervals after it adopted the
# gateway: the gateway goes silent only once it has answered one (or 10 s
# after the MGC told it to), so at least one is answered.
audits=$(summary "$MGLOG" audits)
muted=$(python3 - "$MGLOG" <<-'EOF'
	import json, sys
	print(sum(1 for l in map(json.loads, open(sys.argv[1]))
	          if l.get("dir") == "in-muted" and "AuditValue" in l["msg"]))
EOF
)
check "natproxyd audited the gateway with AuditValue on ROOT ($audits answered)" test "$audits" -ge 1
check "the restarted natproxyd audited the silent gateway three times ($muted unanswered audits)" \
	test "$muted" -ge 3
check_eq "silent gateway: call 2 ($c2) billed terminal-lost" terminal-lost "$(rec "$c2" end_reason)"
check_eq "call 2's record: 50 packets to the gateway" 50 "$(rec "$c2" streams.0.to_terminal.packets)"
check_eq "the MGC got natproxy's ServiceChange Forced on call 2's termination" \
	"$(summary "$MGCLOG" calls.1.term)" "$(summary "$MGCLOG" calls.1.forced)"
check "natproxyd logged the gateway's release" \
	grep -q "stopped answering keepalives" "$LOG"
if command -v tshark >/dev/null; then
	for cap in mg core; do
		set -- $(tshark_counts "$NP_RUN_DIR/$cap.pcap" megaco -d udp.port==2944,megaco -d "udp.port==$port,megaco")
		check "every H.248 message captured at the $cap ($1) decodes in tshark, none malformed ($2)" \
			test "$1" -ge 8 -a "$2" -eq 0
	done
else
	skip "H.248 captures decode in tshark" "tshark not installed"
fi
sip_stop "$NPD_PID"
grep -i 'error' "$LOG" | head -3 | sed 's/^/# log: /'
check "natproxyd logged no error" sh -c "! grep -qi 'error' '$LOG'"
tap_done
