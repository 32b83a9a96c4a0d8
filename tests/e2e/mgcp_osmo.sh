#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of the MGCP driver with a real media gateway: osmo-mgw
# (Debian) at 192.168.2.10:2427 behind NAT 2, a scripted call agent in the
# core (tests/lib/mgcp_ca_osmo.py), natproxyd between them. osmo-mgw never
# sends RSIP; tests/lib/mgcp_rsip.py sends one from its address and port
# (raw socket) as a residential gateway would after a restart, which opens
# the NAT mapping and teaches natproxyd the gateway. The call agent then
# drives osmo-mgw through natproxyd: CRCX on rtpbridge/*@mgw in loopback
# mode with its SDP (osmo-mgw's LocalConnectionDescriptor comes back at a
# core relay), 50 RTP packets sent through the XDP relay and echoed back
# by osmo-mgw, MDCX, DLCX with its charging record; natproxyd's AUEPs are
# answered by osmo-mgw. Every MGCP message captured decodes in tshark with
# no malformed field. SKIP when osmo-mgw is not installed.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "MGCP with osmo-mgw end to end"
if ! command -v osmo-mgw >/dev/null; then
	echo "ok 1 - osmo-mgw end to end # SKIP osmo-mgw not installed (apt-get install osmo-mgw)"
	echo "1..1"
	exit 0
fi
. tests/sip/topology.sh
. tests/lib/tshark.sh

gateway_test_begin

LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$NP_RUN_DIR/charging.log
CALOG=$NP_RUN_DIR/ca.log
MGWLOG=$NP_RUN_DIR/osmo-mgw.log

gateway_config mgcp 2
cat >"$NP_RUN_DIR/osmo-mgw.cfg" <<-EOF2
	log stderr
	 logging filter all 1
	 logging print category 1
	 logging level set-all info
	line vty
	 bind 127.0.0.1
	mgcp
	 bind ip $SIP_B_IP
	 bind port 2427
	 rtp port-range 4002 4100
	 rtp bind-ip $SIP_B_IP
	 rtp keep-alive once
	 number endpoints 8
	 domain mgw
EOF2

check "natproxyd starts with an MGCP-only pair" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
		--state "$NP_RUN_DIR/state"
sip_spawn lan2 osmo-mgw -c "$NP_RUN_DIR/osmo-mgw.cfg" -s >"$MGWLOG" 2>&1
MGW_PID=$SIP_LAST_PID
up=no
for _ in $(seq 50); do
	in_ns lan2 ss -Hlun | grep -q "$SIP_B_IP:2427" && { up=yes; break; }
	sleep 0.1
done
check_eq "osmo-mgw listens on $SIP_B_IP:2427 in LAN 2" yes "$up"

capture acc p-nat2 acc.pcap udp
CAP=$SIP_LAST_PID
sip_spawn core python3 tests/lib/mgcp_ca_osmo.py --ip "$SIP_KAM_IP" --media-ip "$SIP_CORE_UA_IP" \
	--log "$CALOG"
CA_PID=$SIP_LAST_PID
sleep 0.5
check "an RSIP from osmo-mgw's address and port (raw socket)" \
	in_ns lan2 python3 tests/lib/mgcp_rsip.py "$SIP_B_IP" 2427 "$SIP_PROXY_ACC_IP" 2727 "rtpbridge/*@mgw"
check "the call agent's script completes" sip_wait "$CA_PID" 40
# natproxyd audits the gateway every 2 s (gateway_config): until two AUEPs
# are in the capture, 10 s at most (tcpdump starts at once, tshark below
# tells them apart for the check).
aueps_seen() { [ "$(tcpdump -r "$NP_RUN_DIR/acc.pcap" -A 2>/dev/null | grep -c 'AUEP ')" -ge 2 ]; }
wait_for 10 aueps_seen
stop_capture "$CAP"

summary() {
	python3 - "$CALOG" "$1" <<-'EOF2'
		import json, sys
		s = {}
		for line in open(sys.argv[1]):
		    d = json.loads(line)
		    s = d.get("summary", s)
		print(s.get(sys.argv[2], ""))
	EOF2
}
diag "call agent: $(grep summary "$CALOG" 2>/dev/null)"
check_eq "the RSIP reached the call agent from a core address" "$SIP_PROXY_CORE_IP" "$(summary gateway | cut -d: -f1)"
check_eq "osmo-mgw answered the CRCX 200" 200 "$(summary crcx)"
check "... naming the endpoint it chose (Z: $(summary Z))" test -n "$(summary Z)"
lcd=$(summary lcd)
check "osmo-mgw's SDP reached the call agent at a core relay ($lcd)" \
	sh -c "case '$lcd' in $SIP_PROXY_CORE_IP:40*) true ;; *) false ;; esac"
back=$(summary rtp_back)
check_eq "osmo-mgw echoed the 50 RTP packets through the relay both ways" 50 "$back"
check_eq "osmo-mgw answered the MDCX 200" 200 "$(summary mdcx)"
check_eq "osmo-mgw answered the second MDCX 200" 200 "$(summary mdcx2)"
check_eq "osmo-mgw answered the DLCX 250" 250 "$(summary dlcx)"
rec=$(python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
print(len(r), r[0]["end_reason"], r[0]["streams"][0]["from_terminal"]["packets"], r[0]["streams"][0]["to_terminal"]["packets"], r[0]["from"])' "$CHARGING" 2>&1)
diag "charging: $rec"
check "one charging record, ended by the DLCX, with the packets both ways ($rec)" \
	sh -c "set -- $rec; [ \$1 = 1 ] && [ \$2 = bye ] && [ \$3 -ge 50 ] && [ \$4 = 50 ] && [ \$5 = $(summary Z) ]"
read -r nmgcp bad aueps <<<"$(tshark_counts "$NP_RUN_DIR/acc.pcap" mgcp mgcp.req.verb AUEP)"
check "natproxyd audited osmo-mgw with AUEP ($aueps seen on the access network)" test "$aueps" -ge 2
check "every MGCP message on the access network ($nmgcp) decodes in tshark, none malformed" \
	test "$nmgcp" -ge 8 -a "$bad" -eq 0
sip_stop "$MGW_PID"
sip_stop "$NPD_PID"
tap_done
