#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of several NAT address pairs (claim 11) and of a terminal
# with no NAT at all (claims 2, 7), on the SIP topology of tests/sip/: two
# access realms on the access network, each with its own address, port
# ranges and latch policy, share one core realm and one Kamailio. A (behind
# NAT 1) uses realm "access-a" at 203.0.113.1, B (behind NAT 2) and C (no
# NAT) use realm "access-b" at 203.0.113.2. Asserts that every terminal
# gets its own core address, that signaling and media toward a terminal
# leave from its own realm's address and port range, that realm b's media
# latches only from the signaling address (restricted, first-packet's other
# name) while realm a's (latch: any) latches onto anyone, that calls
# between the realms carry RTP both ways, and that nothing is left behind.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd with two NAT address pairs, Kamailio and sipp"
. tests/sip/topology.sh

sip_test_begin

ACC_B_IP=203.0.113.2
CFG=$NP_RUN_DIR/realms.yaml
LOG=$NP_RUN_DIR/natproxyd.log
cat >"$CFG" <<EOF2
realms:
  - name: access-a
    interface: acc0
    address: $SIP_PROXY_ACC_IP
    sip_port: 5060
    media_ports: 30000-30999
    latch: any
  - name: access-b
    interface: acc0
    address: $ACC_B_IP
    sip_port: 5060
    media_ports: 31000-31999
    latch: restricted
  - name: core
    interface: core0
    address: $SIP_PROXY_CORE_IP
    sip_ports: 20000-20999
    media_ports: 40000-40999
pairs:
  - first: access-a
    second: core
    softswitch: $SIP_KAM_IP:5060
  - first: access-b
    second: core
    softswitch: $SIP_KAM_IP:5060
keepalive:
  method: crlf
  interval: 5
EOF2

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
read_pcap() { tcpdump -nr "$@" 2>/dev/null; } # FILE [FILTER]: its status kept
# flows_json FILTER: the flows (one JSON line each) whose local relay
# address starts with FILTER.
flows_at() { ctl flows --json | grep -F "\"local\": \"$1" || true; }
# rtp_from CAPTURE SRC DST DPORT: valid UDP packets SRC -> DST:DPORT, with
# the source ports seen (sorted, unique), as "COUNT PORT PORT...".
rtp_from() {
	tests/lib/pcap_udp.py "$1" |
		awk -v s="$2" -v d="$3" -v p="$4" \
			'$1 == s && $3 == d && $4 == p && $8 != "bad" && ($9 == "ok" || $9 == "partial") {n++; ports[$2] = 1}
			 END {printf "%d", n; for (q in ports) printf " %s", q; print ""}'
}
in_range() { # PORT LO HI
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

in_ns proxy ip addr add "$ACC_B_IP/24" dev acc0
check "natproxyd starts with two pairs sharing one core realm" \
	natproxyd_start "$LOG" build/natproxyd -c "$CFG" --state "$NP_RUN_DIR/state"

# --- registrations through both realms ------------------------------------------
capture lan2 eth0 reg-b.pcap udp port 5060
check "A registers through NAT 1 at realm access-a" \
	sipp_run lan1 reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 60 "$SIP_PROXY_ACC_IP:5060"
check "B registers through NAT 2 at realm access-b" \
	sipp_run lan2 reg-b register -i "$SIP_B_IP" -p 5060 -key user b -key expires 60 "$ACC_B_IP:5060"
check "C, with no NAT, registers at realm access-b" \
	sipp_run lan0 reg-c register -i "$SIP_C_IP" -p 5060 -key user c -key expires 60 "$ACC_B_IP:5060"
stop_captures
ca=$(kamailio_contacts a) cb=$(kamailio_contacts b) cc=$(kamailio_contacts c)
diag "Kamailio's contacts: a=$ca b=$cb c=$cc"
check "Kamailio stores A, B and C at three distinct core addresses of natproxy" \
	bash -c "[ \$(printf '%s\n' '$ca' '$cb' '$cc' | grep -E '^sip:[abc]@198\.51\.100\.1:20[0-9]{3}' | cut -d@ -f2 | sort -u | wc -l) = 3 ]"
check "B's 200 OK came from realm access-b's address ($ACC_B_IP:5060)" \
	bash -c "tcpdump -nr '$NP_RUN_DIR/reg-b.pcap' 2>/dev/null | grep -q 'IP $ACC_B_IP.5060 > $SIP_B_IP.5060'"

# --- A (realm a) calls B (realm b) ------------------------------------------------
capture lan1 eth0 ab-a.pcap udp port 6000
capture lan2 eth0 ab-b.pcap udp
sipp_spawn lan2 uas-b uas -i "$SIP_B_IP" -p 5060 -mi "$SIP_B_IP" -mp 6002
UASB=$SIP_LAST_PID
sipp_spawn lan1 call-ab uac -i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 -s b -key user a "$SIP_PROXY_ACC_IP:5060"
CALL=$SIP_LAST_PID
for _ in $(seq 100); do [ -n "$(flows_at "$ACC_B_IP:")" ] && break; sleep 0.1; done
b_flows=$(flows_at "$ACC_B_IP:")
a_flows=$(flows_at "$SIP_PROXY_ACC_IP:")
check "mid-call: realm b's relays are in its own range (31000-31999)" \
	bash -c "[ -n '$b_flows' ] && ! echo '$b_flows' | grep -qv '\"local\": \"$ACC_B_IP:31[0-9][0-9][0-9]\"'"
check "mid-call: realm b's relays latch only from B's NAT (restricted, expecting $SIP_NAT2_IP)" \
	bash -c "echo '$b_flows' | grep '\"flags\": \"[^\"]*restricted' | grep -q '\"expect\": \"$SIP_NAT2_IP:'"
check "mid-call: realm a's relays are in 30000-30999, its RTP relay latches onto anyone (latch: any: takeover, not restricted)" \
	bash -c "[ -n '$a_flows' ] && ! echo '$a_flows' | grep -qv '\"local\": \"$SIP_PROXY_ACC_IP:30[0-9][0-9][0-9]\"' && echo '$a_flows' | grep '\"local\": \"$SIP_PROXY_ACC_IP:30[0-9][0-9][02468]\"' | grep '\"flags\": \"[^\"]*takeover' | grep -qv restricted"
check "call A -> B across the two pairs completes" sip_wait "$CALL" 30
check "B's side completes" sip_wait "$UASB" 20
stop_captures
read -r to_b b_ports <<<"$(rtp_from "$NP_RUN_DIR/ab-b.pcap" "$ACC_B_IP" "$SIP_B_IP" 6002)"
read -r to_a a_ports <<<"$(rtp_from "$NP_RUN_DIR/ab-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP" 6000)"
diag "RTP relayed: $to_b to B from $ACC_B_IP port(s) $b_ports; $to_a to A from $SIP_PROXY_ACC_IP port(s) $a_ports"
check "RTP from A reaches B from realm b's address, checksums valid" test "$to_b" -ge 190
check "... from a port of realm b's range" bash -c "for p in $b_ports; do [ \$p -ge 31000 ] && [ \$p -le 31999 ] || exit 1; done; [ -n '$b_ports' ]"
check "RTP from B reaches A from realm a's address" test "$to_a" -ge 190
check "... from a port of realm a's range" bash -c "for p in $a_ports; do [ \$p -ge 30000 ] && [ \$p -le 30999 ] || exit 1; done; [ -n '$a_ports' ]"
check "INVITE reached B from realm b's SIP socket" \
	bash -c "tcpdump -nr '$NP_RUN_DIR/ab-b.pcap' port 5060 2>/dev/null | grep -q 'IP $ACC_B_IP.5060 > $SIP_B_IP.5060'"
check_none "... not from realm a's" "IP ${SIP_PROXY_ACC_IP//./\\.}\\.5060 " \
	read_pcap "$NP_RUN_DIR/ab-b.pcap" port 5060
check_eq "BYE removed every flow of both legs" 0 "$(count_lines . ctl flows --json)"

# --- C (no NAT, realm b) calls A (realm a) -----------------------------------------
capture lan0 eth0 ca-c.pcap udp port 6004
capture lan1 eth0 ca-a.pcap udp port 6000
check "A re-registers" \
	sipp_run lan1 reg-a2 register -i "$SIP_A_IP" -p 5060 -key user a -key expires 60 "$SIP_PROXY_ACC_IP:5060"
sipp_spawn lan1 uas-a uas -i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000
UASA=$SIP_LAST_PID
check "call C -> A (no NAT on C's side) completes" \
	sipp_run lan0 call-ca uac -i "$SIP_C_IP" -p 5060 -mi "$SIP_C_IP" -mp 6004 -s a -key user c "$ACC_B_IP:5060"
check "A's side completes" sip_wait "$UASA" 20
stop_captures
read -r to_c _ <<<"$(rtp_from "$NP_RUN_DIR/ca-c.pcap" "$ACC_B_IP" "$SIP_C_IP" 6004)"
read -r to_a _ <<<"$(rtp_from "$NP_RUN_DIR/ca-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP" 6000)"
diag "RTP relayed: $to_c to C, $to_a to A"
check "RTP from A reaches C (its SDP address is reachable: no latch wait)" test "$to_c" -ge 195
check "RTP from C reaches A" test "$to_a" -ge 190
check_eq "BYE removed every flow" 0 "$(count_lines . ctl flows --json)"
check_eq "nothing crossed the proxy's kernel between access and core" 0 "$(sip_leaks)"

sip_stop "$NPD_PID"
check "natproxyd stops cleanly on SIGTERM" grep -q 'shutting down' "$LOG"
tap_done
