#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Self test of the SIP end-to-end harness, without natproxyd: the topology
# (addresses, routes that must not exist, the NATs' random source ports, the
# offloads, the bpffs), Kamailio as registrar and proxy with sipp terminals
# in the core (REGISTER, a call to a registered UA and one to the far end,
# RTP both ways, keepalives answered, un-REGISTER), the one-way audio that a
# NAT causes without natproxy, and the cleanup. Prints TAP; < 100 s.
set -u
# Bounded as a whole: timeout signals our process group, the EXIT trap
# below still cleans up.
if [ -z "${SIP_SELFTEST_BOUNDED:-}" ]; then
	SIP_SELFTEST_BOUNDED=1 exec timeout -k 10 100 "$0" "$@"
fi
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
require_root "SIP harness self test"
for tool in kamailio kamcmd sipp nft tcpdump ethtool python3; do
	if ! command -v "$tool" >/dev/null; then
		skip "SIP harness self test" "needs $tool"
		tap_done
		exit 0
	fi
done
. tests/sip/topology.sh
trap sip_topology_down EXIT
trap 'exit 1' INT TERM HUP PIPE

PCAP=tests/lib/pcap_udp.py
UDP=tests/lib/udp.py

# --- the topology -----------------------------------------------------------
check "topology up ($NP_RUN)" sip_topology_up
n=0
for ns in "${SIP_NAMESPACES[@]}"; do
	ip netns list | grep -q "^$NP_RUN-$ns\b" && n=$((n + 1))
done
check_eq "all ${#SIP_NAMESPACES[@]} namespaces exist" "${#SIP_NAMESPACES[@]}" "$n"
check_eq "bpffs mounted at the run's pin root" bpf_fs "$(stat -f -c %T "$NP_RUN_DIR/bpf")"
check_eq "NP_PIN_DIR is under it" "$NP_RUN_DIR/bpf/natproxy" "$NP_PIN_DIR"

reach() { in_ns "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
check "terminal A (lan1) reaches the proxy 203.0.113.1 through nat1" reach lan1 203.0.113.1
check "terminal B (lan2) reaches the proxy through nat2" reach lan2 203.0.113.1
check "terminal C (lan0) reaches the proxy directly" reach lan0 203.0.113.1
check "the proxy reaches Kamailio's address 198.51.100.2" reach proxy 198.51.100.2
check "A cannot reach 198.51.100.2" not reach lan1 198.51.100.2
check "B cannot reach 198.51.100.10" not reach lan2 198.51.100.10
check "C cannot reach 198.51.100.2" not reach lan0 198.51.100.2
check "nat1 has no route to the core" not quiet in_ns nat1 ip route get 198.51.100.2
check "nat2 has no route to the core" not quiet in_ns nat2 ip route get 198.51.100.2
check "the core has no route to the access network" not quiet in_ns core ip route get 203.0.113.11
check "the core has no route to the LANs" not quiet in_ns core ip route get 192.168.1.10
check "the proxy has no route to the LANs" not quiet in_ns proxy ip route get 192.168.1.10

feature() { in_ns "$1" ethtool -k "$2" | awk -v f="$3:" '$1 == f {print $2}'; }
# The kernel's defaults, untouched: natproxy must cope with them.
check_eq "GRO off on the peer of acc0 (acc/p-proxy), the default" off "$(feature acc p-proxy generic-receive-offload)"
check_eq "GRO off on the peer of core0 (core/eth0), the default" off "$(feature core eth0 generic-receive-offload)"
on=0
for dev in lan0/eth0 lan1/eth0 lan2/eth0 core/eth0 proxy/acc0 proxy/core0; do
	[ "$(feature "${dev%/*}" "${dev#*/}" tx-checksumming)" = on ] && on=$((on + 1))
done
check_eq "tx checksum offload on (the default) on the senders' veths" 6 "$on"

# --- the NATs: masquerade with random source ports ---------------------------
capture proxy acc0 nat.pcap udp port 9999
nat_cap=$SIP_LAST_PID
capture core eth0 core.pcap ip # everything that reaches the core, to the end
for port in 5060 6000 6001 40000; do
	in_ns lan1 python3 "$UDP" send "192.168.1.10:$port" 203.0.113.1:9999 1
done
in_ns lan2 python3 "$UDP" send 192.168.2.10:5060 203.0.113.1:9999 1
in_ns lan0 python3 "$UDP" send 203.0.113.30:5060 203.0.113.1:9999 1
stop_capture "$nat_cap"
# A capture that cannot be read gives a line no check accepts.
lines=$(python3 "$PCAP" "$NP_RUN_DIR/nat.pcap") || lines="cannot read nat.pcap"
diag "$(echo "$lines" | awk '{printf "%s:%s ", $1, $2}')"
check_eq "the 4 flows of A arrive from nat1's address 203.0.113.11" 4 \
	"$(echo "$lines" | grep -c '^203\.0\.113\.11 ')"
a_ports=$(echo "$lines" | awk '$1 == "203.0.113.11" {print $2}')
kept=$(echo "$a_ports" | grep -cxE '5060|6000|6001|40000')
check "their source ports are randomized (kept: $kept of 4)" test "$kept" -le 1
check_eq "and all differ" 4 "$(echo "$a_ports" | sort -u | wc -l)"
check_eq "B's arrives from nat2's address 203.0.113.12" 1 \
	"$(echo "$lines" | grep -c '^203\.0\.113\.12 ')"
check_eq "C's arrives unchanged from 203.0.113.30:5060" 1 \
	"$(echo "$lines" | grep -c '^203\.0\.113\.30 5060 ')"
check_eq "UDP checksums arrive partial, as senders with offload leave them (right for the NATed addresses)" 6 \
	"$(echo "$lines" | awk '$8 == "ok" && $9 == "partial"' | wc -l)"

# The proxy's kernel forwards (bpf_fib_lookup needs it), but its guard drops
# what it would forward from the access side: give C a route and try.
in_ns lan0 ip route add 198.51.100.0/24 via 203.0.113.1
in_ns lan0 python3 "$UDP" send 203.0.113.30:5060 198.51.100.2:5060 3
in_ns lan0 ip route del 198.51.100.0/24 via 203.0.113.1
check_eq "the proxy's forward guard dropped (and counted) C's 3 packets to the core" \
	3 "$(sip_leaks)"

# --- Kamailio and sipp in the core -------------------------------------------
check "Kamailio starts in the core namespace" kamailio_start
check_eq "it listens on 198.51.100.2:5060 UDP" 1 \
	"$(in_ns core ss -Hunl 'sport = :5060' | grep -c '198\.51\.100\.2:5060')"
check "kamcmd answers on the run's control socket" quiet kam core.version

check "b (198.51.100.20) registers with Kamailio (register.xml)" \
	sipp_run core reg-b register -i 198.51.100.20 -p 5060 \
	-key user b -key expires 60 198.51.100.2:5060
check_eq "Kamailio's location table has b's contact" "sip:b@198.51.100.20:5060" \
	"$(kamailio_contacts sip:b@example.test)"
check "the 200 OK handed b its contact with expires=60" \
	grep -q 'Contact: <sip:b@198.51.100.20:5060>;expires=60' "$NP_RUN_DIR/reg-b.log"

# call_check NAME CALLER_IP CALLEE_IP: RTP of a call, both ways, from the
# capture on the core's loopback (its UAs and Kamailio share that namespace).
call_check() {
	local lines
	lines=$(python3 "$PCAP" "$NP_RUN_DIR/$1.pcap") || lines="cannot read $1.pcap"
	check_eq "$1: 200 RTP packets $2:6000 -> $3:6000" 200 \
		"$(echo "$lines" | grep -c "^$2 6000 $3 6000 .* 172 ")"
	check_eq "$1: 200 RTP packets $3:6000 -> $2:6000" 200 \
		"$(echo "$lines" | grep -c "^$3 6000 $2 6000 .* 172 ")"
	check_eq "$1: every RTP packet has valid checksums" 0 \
		"$(echo "$lines" | awk '$8 != "ok" || $9 != "ok"' | wc -l)"
}

# A keepalive before the call, as natproxy sends to a registered terminal:
# uas.xml answers it and still takes the call after.
keepalive() {
	in_ns core python3 - "$1" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.bind(("198.51.100.2", 5071))
		s.settimeout(2)
		s.sendto(b"\r\n\r\n", (sys.argv[1], 5060))
		s.sendto(("OPTIONS sip:%s:5060 SIP/2.0\r\n"
		          "Via: SIP/2.0/UDP 198.51.100.2:5071;branch=z9hG4bKka1\r\n"
		          "From: <sip:ka@198.51.100.2>;tag=ka1\r\nTo: <sip:%s>\r\n"
		          "Call-ID: ka-1@198.51.100.2\r\nCSeq: 1 OPTIONS\r\n"
		          "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		          % (sys.argv[1], sys.argv[1])).encode(), (sys.argv[1], 5060))
		print(s.recv(4096).decode().split("\r\n")[0])
	EOF
}

capture core lo rtp-b.pcap udp and not port 5060
cap=$SIP_LAST_PID
check "b answers as uas.xml (198.51.100.20:5060, media :6000)" \
	sipp_spawn core uas-b uas -i 198.51.100.20 -p 5060 -mi 198.51.100.20 -mp 6000
uas=$SIP_LAST_PID
check_eq "uas.xml answers a keepalive OPTIONS before the call" "SIP/2.0 200 OK" \
	"$(keepalive 198.51.100.20 2>&1)"
check "a (198.51.100.10) calls sip:b@example.test through Kamailio (uac.xml)" \
	sipp_run core call-a uac -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 6000 \
	-s b -key user a 198.51.100.2:5060
sip_wait "$uas" 10
check_eq "b's uas.xml passes" 0 $?
stop_capture "$cap"
call_check rtp-b 198.51.100.10 198.51.100.20
check "Kamailio looked b up: the INVITE went to b's contact" \
	grep -q 'uas: INVITE sip:b@198.51.100.20:5060 offer 198.51.100.10:6000' \
	"$NP_RUN_DIR/uas-b.log"
check "a got b's answer 198.51.100.20:6000" \
	grep -q 'uac a: 200 answer 198.51.100.20:6000' "$NP_RUN_DIR/call-a.log"
check_eq "Kamailio relayed INVITE, ACK and BYE of the call" 3 \
	"$(grep -cE 'request (INVITE sip:b@example.test|ACK sip:198.51.100.20|BYE sip:198.51.100.20)' "$KAM_LOG")"

capture core lo rtp-far.pcap udp and not port 5060
cap=$SIP_LAST_PID
check "the far end answers as uas.xml (198.51.100.10:5060)" \
	sipp_spawn core uas-far uas -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 6000
uas=$SIP_LAST_PID
check "b (198.51.100.20) calls sip:far@example.test through Kamailio" \
	sipp_run core call-b uac -i 198.51.100.20 -p 5060 -mi 198.51.100.20 -mp 6000 \
	-s far -key user b 198.51.100.2:5060
sip_wait "$uas" 10
check_eq "the far end's uas.xml passes" 0 $?
stop_capture "$cap"
call_check rtp-far 198.51.100.20 198.51.100.10
check "Kamailio sent it to the far end with the Request-URI unchanged" \
	grep -q 'uas: INVITE sip:far@example.test offer 198.51.100.20:6000' \
	"$NP_RUN_DIR/uas-far.log"

check "b un-registers (unregister.xml)" \
	sipp_run core unreg-b unregister -i 198.51.100.20 -p 5060 -key user b 198.51.100.2:5060
check_eq "and Kamailio has no contact for b left" "" "$(kamailio_contacts b)"
check "a call to an unknown user fails (the scenario reports it)" \
	not sipp_run core call-nobody uac -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 6000 \
	-s nobody -key user a 198.51.100.2:5060
check "with a 404 from Kamailio" grep -q 'SIP/2.0 404' "$NP_RUN_DIR/call-nobody.err"

# --- subscribers: digest authentication, record-routing ----------------------
# The core network is trusted (nothing above was challenged); natproxy's core
# address 198.51.100.1 is not: it relays subscribers. A sipp there (the proxy
# namespace, no natproxyd in this test) is what Kamailio sees of a terminal
# behind natproxy.
S_UA=(-i "$SIP_PROXY_CORE_IP" -p 5060 -mi "$SIP_PROXY_CORE_IP" -mp 6000)
check_none "no request from the core network was challenged" 'challenged' \
	cat "$NP_RUN_DIR"/reg-b.log "$NP_RUN_DIR"/call-a.log "$NP_RUN_DIR"/call-b.log
check "subscriber a (from 198.51.100.1) registers: password a-pw" \
	sipp_run proxy reg-sub register "${S_UA[@]}" -key user a -key expires 60 "$SIP_KAM_IP:5060"
check "... after a 401 challenge (realm example.test, qop=auth)" \
	bash -c "grep -q 'register a: 401 challenged' '$NP_RUN_DIR/reg-sub.log' &&
		grep -q 'WWW-Authenticate: Digest realm=\"example.test\", nonce=\"[^\"]*\", qop=\"auth\"' '$NP_RUN_DIR/reg-sub.msg'"
check_eq "Kamailio's location table has a's contact" "sip:a@$SIP_PROXY_CORE_IP:5060" \
	"$(kamailio_contacts a)"
check "a wrong password is refused (challenged again, the scenario fails)" \
	not sipp_run proxy reg-bad register "${S_UA[@]}" -key user c -au c -ap wrong \
	-key expires 60 "$SIP_KAM_IP:5060"
check "... with a 401 to each try, and no contact for c" \
	bash -c "grep -q '^CSeq: 2 REGISTER' '$NP_RUN_DIR/reg-bad.msg' &&
		[ \$(grep -c '^SIP/2.0 401' '$NP_RUN_DIR/reg-bad.msg') -ge 2 ] &&
		! grep -q '^SIP/2.0 200' '$NP_RUN_DIR/reg-bad.msg' && [ -z '$(kamailio_contacts c)' ]"
check "another user's credentials do not register c (a's, right password)" \
	not sipp_run proxy reg-other register "${S_UA[@]}" -key user c -au a -ap a-pw \
	-key expires 60 "$SIP_KAM_IP:5060"

capture core eth0 rtp-sub.pcap udp and not port 5060
cap=$SIP_LAST_PID
sipp_spawn core uas-far2 uas -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 6000
uas=$SIP_LAST_PID
check "subscriber a calls the far end (uac.xml)" \
	sipp_run proxy call-sub uac "${S_UA[@]}" -s far -key user a "$SIP_KAM_IP:5060"
sip_wait "$uas" 10
check_eq "the far end's uas.xml passes (it got the ACK and the BYE)" 0 $?
stop_capture "$cap"
check "a's INVITE was challenged: 407, ACKed, sent again with CSeq 2" \
	bash -c "grep -q 'uac a: 407 challenged' '$NP_RUN_DIR/call-sub.log' &&
		grep -q '^Proxy-Authenticate: Digest realm=\"example.test\"' '$NP_RUN_DIR/call-sub.msg' &&
		grep -q '^CSeq: 1 ACK' '$NP_RUN_DIR/call-sub.msg' &&
		grep -q '^CSeq: 2 INVITE' '$NP_RUN_DIR/call-sub.msg'"
check "... and only the retry reached the far end, without a's credentials" \
	bash -c "[ \$(grep -c '^INVITE ' '$NP_RUN_DIR/uas-far2.msg') = 1 ] &&
		grep -q '^CSeq: 2 INVITE' '$NP_RUN_DIR/uas-far2.msg' &&
		! grep -qi '^Proxy-Authorization' '$NP_RUN_DIR/uas-far2.msg'"
check "the 200 carried Kamailio's Record-Route" \
	grep -q "uac a: 200 Record-Route: <sip:$SIP_KAM_IP;lr" "$NP_RUN_DIR/call-sub.log"
check "a sent ACK and BYE to the far end's Contact with Route <sip:$SIP_KAM_IP;lr...>" \
	python3 - "$NP_RUN_DIR/call-sub.msg" "$SIP_KAM_IP" <<-'EOF'
		import re, sys
		text = open(sys.argv[1], errors="replace").read()
		seen = set()
		for m in re.finditer(r"^(ACK|BYE) sip:198\.51\.100\.10:5060\S* SIP/2\.0\r?\n(.*?)\r?\n\r?\n", text, re.M | re.S):
		    if re.search(r"^Route: <sip:%s;lr" % re.escape(sys.argv[2]), m.group(2), re.M):
		        seen.add(m.group(1))
		sys.exit(0 if seen == {"ACK", "BYE"} else 1)
	EOF
sub_cid=$(sed -n 's/^Call-ID: *//p' "$NP_RUN_DIR/call-sub.msg" | head -1 | tr -d '\r')
check_eq "Kamailio routed both by their Route (loose_route)" 2 \
	"$(grep -F " ${sub_cid:-no Call-ID}} " "$KAM_LOG" | grep -cE 'in-dialog (ACK|BYE) routed by its Route to sip:198\.51\.100\.10')"
call_check rtp-sub "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP"

# A request in a dialog that names no Route of Kamailio's is not its to
# forward (it would be an open relay): 404.
no_route_bye() {
	in_ns core python3 - <<-'EOF'
		import socket
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.bind(("198.51.100.20", 5072))
		s.settimeout(2)
		s.sendto(b"BYE sip:far@198.51.100.10:5060 SIP/2.0\r\n"
		         b"Via: SIP/2.0/UDP 198.51.100.20:5072;branch=z9hG4bKnoroute1\r\n"
		         b"From: <sip:b@example.test>;tag=nr1\r\nTo: <sip:far@example.test>;tag=nr2\r\n"
		         b"Call-ID: noroute-1@198.51.100.20\r\nCSeq: 2 BYE\r\n"
		         b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", ("198.51.100.2", 5060))
		print(s.recv(4096).decode().split("\r\n")[0])
	EOF
}
check_eq "a BYE with a To-tag and no Route is answered 404" "SIP/2.0 404 Not Here" \
	"$(no_route_bye 2>&1)"

check "subscriber a answers as uas.xml at 198.51.100.1" \
	sipp_spawn proxy uas-sub uas "${S_UA[@]}"
uas=$SIP_LAST_PID
check "the far end calls a: trusted, not challenged" \
	sipp_run core call-far uac -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 6000 \
	-s a -key user far "$SIP_KAM_IP:5060"
sip_wait "$uas" 10
check_eq "a's uas.xml passes (the far end's ACK and BYE came by Kamailio's Route)" 0 $?
check_none "... no challenge on the way" 'challenged' cat "$NP_RUN_DIR/call-far.log"
check "a echoed the Record-Route in its 200, the far end used it" \
	grep -q "uac far: 200 Record-Route: <sip:$SIP_KAM_IP;lr" "$NP_RUN_DIR/call-far.log"

# --- without natproxy, a NAT breaks the media one way ------------------------
# A sipp answering at the proxy's access address stands in for a proxy that
# does no NAT traversal: A's signaling and RTP reach it through nat1 (from
# 203.0.113.11, RTP from a port other than 6000), its RTP cannot reach A.
capture proxy acc0 oneway.pcap udp
cap=$SIP_LAST_PID
check "a stand-in uas at 203.0.113.1:5060 answers (media :30000)" \
	sipp_spawn proxy uas-standin uas -i 203.0.113.1 -p 5060 -mi 203.0.113.1 -mp 30000
uas=$SIP_LAST_PID
check "A calls from 192.168.1.10:5060 (media :6000) through nat1" \
	sipp_run lan1 call-nat uac -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000 \
	-s far -key user a 203.0.113.1:5060
sip_wait "$uas" 10
check_eq "the stand-in's uas.xml passes (sipp's status ignores lost RTP)" 0 $?
stop_capture "$cap"
lines=$(python3 "$PCAP" "$NP_RUN_DIR/oneway.pcap") || lines="cannot read oneway.pcap"
rtp_from_a=$(echo "$lines" | awk '$1 == "203.0.113.11" && $3 == "203.0.113.1" && $4 == 30000 && $10 == 172' | wc -l)
check_eq "A's 200 RTP packets arrive from 203.0.113.11" 200 "$rtp_from_a"
check "from a port other than 6000" test -n "$(echo "$lines" |
	awk '$1 == "203.0.113.11" && $4 == 30000 && $2 != 6000')"
check "the stand-in saw A's private media address in the offer" \
	grep -q 'offer 192.168.1.10:6000' "$NP_RUN_DIR/uas-standin.log"
check "and could not send its RTP there" \
	grep -q 'Network is unreachable' "$NP_RUN_DIR/uas-standin.err"

stop_captures
read_pcap() { tcpdump -nr "$@" 2>/dev/null; } # FILE [FILTER]: its status kept
check_eq "nothing from the access side or the LANs ever reached the core" 0 \
	"$(count_lines . read_pcap "$NP_RUN_DIR/core.pcap" 'ip and not src net 198.51.100.0/24')"

# --- cleanup -----------------------------------------------------------------
pids=("${SIP_PIDS[@]}")
sip_topology_down
check_eq "cleanup: no namespace of this run is left" 0 "$(count_lines "^$NP_RUN-" ip netns list)"
check "cleanup: the bpffs is unmounted and the run directory gone" test ! -e "$NP_RUN_DIR"
alive=0
for pid in "${pids[@]}"; do
	kill -0 "$pid" 2>/dev/null && alive=$((alive + 1))
done
check_eq "cleanup: none of the ${#pids[@]} processes this run started is alive" 0 "$alive"
tap_done
