#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of natproxyd with real parts: terminals (sipp) in private
# LANs behind nftables masquerade NATs, natproxyd with the XDP relay between
# the access network and the core, a real Kamailio as registrar and proxy
# that knows nothing about NAT, and a far-end UA. Asserts what Kamailio
# stored, that calls in both directions and between two terminals complete,
# what RTP arrived (captured at the receivers, checksums recomputed), what
# the flow counters counted, that no media reached user space, that BYE
# leaves no flow behind, and that keepalives reach and time out terminals.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd end to end with Kamailio and sipp"
. tests/sip/topology.sh

sip_test_begin

CFG=$NP_RUN_DIR/natproxy.yaml
LOG=$NP_RUN_DIR/natproxyd.log
cat >"$CFG" <<EOF
realms:
  - name: access
    interface: acc0
    address: 203.0.113.1
    sip_port: 5060
    media_ports: 30000-30999
  - name: core
    interface: core0
    address: 198.51.100.1
    sip_ports: 20000-20999
    media_ports: 40000-40999
pairs:
  - first: access
    second: core
    softswitch: 198.51.100.2:5060
keepalive:
  method: options
  interval: 3
EOF

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# lookup_links: sk_lookup links attached to the proxy's namespace.
lookup_links() {
	local ino
	ino=$(in_ns proxy stat -L -c %i /proc/self/ns/net)
	bpftool -j link show | /usr/bin/python3 -c 'import json,sys
print(sum(1 for l in json.load(sys.stdin) if l.get("type") == "netns" and
          l.get("netns_ino") == int(sys.argv[1]) and l.get("attach_type") == "sk_lookup"))' "$ino"
}
# rtp_count FILE SRC DST DPORT: valid packets SRC -> DST:DPORT in a capture.
rtp_count() {
	tests/lib/pcap_udp.py "$1" |
		awk -v s="$2" -v d="$3" -v p="$4" \
			'$1 == s && $3 == d && $4 == p && $8 != "bad" && ($9 == "ok" || $9 == "partial") {n++} END {print n + 0}'
}
# stream_log WHAT: the packets counted for a stream, from natproxyd's
# record of it when the call ended ("from the terminal" or "to it").
stream_packets() {
	grep "stream .* ended" "$LOG" | tail -n "$1" | head -1 |
		sed -n "s/.* \([0-9]*\) packets [0-9]* bytes $2.*/\1/p"
}

printf 'realms:\n  - name: x\n    colour: blue\n' >"$NP_RUN_DIR/bad.yaml"
out=$(in_ns proxy "$NPD_BIN" -c "$NP_RUN_DIR/bad.yaml" --pin-dir "$NP_PIN_DIR" 2>&1); rc=$?
check "a broken config: FILE:LINE:COLUMN error, non-zero exit" \
	test "$rc" -ne 0 -a -n "$(echo "$out" | grep -E "^$NP_RUN_DIR/bad.yaml:[0-9]+:[0-9]+: ")"
check_none "and nothing attached" 'prog/xdp' in_ns proxy ip -d link show

natproxyd_start "$LOG" "$NPD_BIN" -c "$CFG" --state "$NP_RUN_DIR/state"
check "natproxyd starts and attaches XDP to acc0 and core0" \
	test "$(ctl status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["interfaces"]))')" = 2
# 1000 + 1000 relay ports, twice over: maps for 4096 flows, not the 1M the
# relay can take (576 MiB preallocated on 2 CPUs).
check "natproxyd sized the flow maps to its media ports (4096 entries, 64 words of cold bits)" \
	bash -c "bpftool map show pinned '$NP_PIN_DIR/np_flows4_v6' | grep -q 'max_entries 4096 ' &&
		bpftool map show pinned '$NP_PIN_DIR/np_flowarr4_v2' | grep -q 'max_entries 4096 ' &&
		bpftool map show pinned '$NP_PIN_DIR/np_counters_v4' | grep -q 'max_entries 4096 ' &&
		bpftool map show pinned '$NP_PIN_DIR/np_slots_v1' | grep -q 'max_entries 4096 ' &&
		bpftool map show pinned '$NP_PIN_DIR/np_coldslots_v1' | grep -q 'max_entries 64 '"
# A burst must wait in the socket, not be dropped: 1 MiB asked, the kernel
# doubles it (ss shows rb2097152).
check "the access SIP socket has a 2 MiB receive buffer (SO_RCVBUFFORCE)" \
	bash -c "ip netns exec $NP_RUN-proxy ss -Huamn 'sport = :5060' | grep -q 'rb2097152,'"

# --- registration through NAT ------------------------------------------------
check "A registers through its NAT" \
	sipp_run lan1 reg-a register -i 192.168.1.10 -p 5060 -key user a -key expires 60 203.0.113.1:5060
contact=$(kamailio_contacts a)
check "Kamailio stores A at natproxy's core address, not the private one" \
	bash -c "echo '$contact' | grep -Eq '^sip:a@198\.51\.100\.1:20[0-9]{3}'"
check "the 200 OK reached A with A's own Via restored" \
	grep -q '192.168.1.10:5060' "$NP_RUN_DIR/reg-a.log"

# --- A calls the far end -------------------------------------------------------
capture lan1 eth0 a1.pcap udp port 6000
capture core eth0 far1.pcap udp port 7000
sipp_spawn core uas-far uas -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 7000
FAR=$SIP_LAST_PID
check "call A -> far end completes (INVITE, 200, ACK, RTP, BYE)" \
	sipp_run lan1 call-a uac -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000 -s far -key user a 203.0.113.1:5060
check "the far end's side of the call completes" sip_wait "$FAR" 20
stop_captures
to_far=$(rtp_count "$NP_RUN_DIR/far1.pcap" 198.51.100.1 198.51.100.10 7000)
to_a=$(rtp_count "$NP_RUN_DIR/a1.pcap" 203.0.113.1 192.168.1.10 6000)
diag "RTP relayed: $to_far to the far end, $to_a to A (200 sent each way)"
check_eq "all 200 RTP packets from A reach the far end from natproxy's core relay, checksums valid" 200 "$to_far"
check "RTP from the far end reaches A through its NAT (the first few may precede A's latch)" \
	test "$to_a" -ge 190
check_eq "the flow counters counted what the far end received" "$to_far" "$(stream_packets 1 'from the terminal')"
check_eq "the flow counters counted what A received" "$to_a" "$(stream_packets 1 'to it')"
check_eq "BYE removed every flow" 0 "$(count_lines . ctl flows --json)"

# --- the far end calls A --------------------------------------------------------
capture lan1 eth0 a2.pcap udp port 6000
capture core eth0 far2.pcap udp port 7000
check "A re-registers" \
	sipp_run lan1 reg-a2 register -i 192.168.1.10 -p 5060 -key user a -key expires 60 203.0.113.1:5060
sipp_spawn lan1 uas-a uas -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000
UASA=$SIP_LAST_PID
check "call far end -> A through Kamailio completes" \
	sipp_run core call-far uac -i 198.51.100.20 -p 5060 -mi 198.51.100.10 -mp 7000 -s a -key user far 198.51.100.2:5060
check "A's side of the call completes" sip_wait "$UASA" 20
stop_captures
to_far=$(rtp_count "$NP_RUN_DIR/far2.pcap" 198.51.100.1 198.51.100.10 7000)
to_a=$(rtp_count "$NP_RUN_DIR/a2.pcap" 203.0.113.1 192.168.1.10 6000)
diag "RTP relayed: $to_far to the far end, $to_a to A"
check "RTP from A reaches the far end" test "$to_far" -ge 190
check "RTP from the far end reaches A" test "$to_a" -ge 190
check_eq "BYE removed every flow" 0 "$(count_lines . ctl flows --json)"

# --- terminal to terminal through Kamailio --------------------------------------
capture lan1 eth0 a3.pcap udp port 6000
capture lan2 eth0 b3.pcap udp port 6002
check "B registers through the other NAT" \
	sipp_run lan2 reg-b register -i 192.168.2.10 -p 5060 -key user b -key expires 60 203.0.113.1:5060
check "A re-registers" \
	sipp_run lan1 reg-a3 register -i 192.168.1.10 -p 5060 -key user a -key expires 60 203.0.113.1:5060
check "A and B have distinct core addresses at Kamailio" \
	test "$(kamailio_contacts a)" != "$(kamailio_contacts b)"

# --- the terminals' core ports: one socket per realm (ctl/termsock.h) ---------
a_port=$(kamailio_contacts a | sed -n 's/^sip:a@[0-9.]*:\([0-9]*\).*/\1/p' | head -1)
check "A's core port ($a_port) has no socket of its own: the realm's shared one serves it" \
	bash -c "[ -n '$a_port' ] && ! ip netns exec $NP_RUN-proxy ss -Huan 'sport = :$a_port' | grep -q ."
check "natproxyd's socket lookup is attached to its namespace by a link it owns" \
	test "$(lookup_links)" = 1
# Larger than the links' MTU (1500): it leaves the core port fragmented,
# Kamailio's answer (a challenge) comes back to the core port and to C.
check "a 4000-byte REGISTER leaves a new terminal's core port and is answered through it" \
	in_ns lan1 /usr/bin/python3 tests/lib/sip_probe.py 192.168.1.10:5070 203.0.113.1:5060 5 4000
sipp_spawn lan2 uas-b uas -i 192.168.2.10 -p 5060 -mi 192.168.2.10 -mp 6002
UASB=$SIP_LAST_PID
check "call A -> B (both behind NATs, the same Call-ID passing twice) completes" \
	sipp_run lan1 call-ab uac -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000 -s b -key user a 203.0.113.1:5060
check "B's side completes" sip_wait "$UASB" 20
stop_captures
to_b=$(rtp_count "$NP_RUN_DIR/b3.pcap" 203.0.113.1 192.168.2.10 6002)
to_a=$(rtp_count "$NP_RUN_DIR/a3.pcap" 203.0.113.1 192.168.1.10 6000)
diag "RTP relayed: $to_b to B, $to_a to A"
check "RTP from A reaches B" test "$to_b" -ge 190
check "RTP from B reaches A" test "$to_a" -ge 190
check_eq "BYE removed every flow of both legs" 0 "$(ctl flows --json | wc -l)"

# --- media never reached user space -------------------------------------------
verdicts=$(ctl status --json)
relayed=$(echo "$verdicts" | python3 -c 'import json,sys; v=json.load(sys.stdin)["verdicts"]; print(v["redirect"] + v["tx"])')
to_kernel=$(echo "$verdicts" | python3 -c 'import json,sys; v=json.load(sys.stdin)["verdicts"]; print(v["pass-no-neighbour"] + v["pass-no-route"] + v["pass-egress-by-kernel"])')
diag "XDP relayed $relayed packets, $to_kernel handed to the kernel"
# Default veths: XDP cannot send into a peer without NAPI, so natproxy
# rewrites and counts in XDP and lets the kernel forward (relay.sh and
# policy.sh's qos section show XDP sending itself, with GRO on the peers).
check "status: media leaves acc0 and core0 through the kernel, which can deliver it" \
	test "$(ctl status --json | python3 -c 'import json,sys; print(" ".join(i["media_out"] for i in json.load(sys.stdin)["interfaces"]))')" = "kernel kernel"
check "natproxy relayed the media (over 1100 packets rewritten in XDP)" test "$((relayed + to_kernel))" -ge 1100
check_eq "no UDP checksum error at any NAT, terminal or the core" 0 "$(sip_csum_errors)"
check_eq "nothing crossed the proxy's kernel between access and core" 0 "$(sip_leaks)"
check_none "natproxyd received only signaling (its counters)" 'malformed SIP' cat "$LOG"

# --- keepalives, and a terminal that goes silent --------------------------------
# Keepalives every second from here (a reload): B's binding goes after 3
# unanswered ones, in 3 s rather than 9.
sed -i 's/^  interval: 3$/  interval: 1/' "$CFG"
check "natproxyd reloads with keepalives every second" natproxyd_reload "$LOG"
capture lan2 eth0 ka.pcap udp port 5060
# B did not answer keepalives since its first REGISTER: its binding may
# have been dropped already. Only what the log says from here counts.
log_from=$(($(wc -l <"$LOG") + 1))
b_dropped() { tail -n +"$log_from" "$LOG" | grep -q 'at 203.0.113.12:[0-9]* stopped answering keepalives'; }
check "B registers once more, then goes silent" \
	sipp_run lan2 reg-b2 register -i 192.168.2.10 -p 5060 -key user b -key expires 60 203.0.113.1:5060
for _ in $(seq 200); do b_dropped && break; sleep 0.1; done
stop_captures
check "OPTIONS keepalives reached B through its NAT" \
	test "$(tcpdump -r "$NP_RUN_DIR/ka.pcap" -A 2>/dev/null | grep -c 'OPTIONS sip:b@192.168.2.10')" -ge 1
check "B's binding is dropped when it stops answering" b_dropped

# --- malformed input never hurts --------------------------------------------------
in_ns lan0 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for junk in (b"INVITE", b"\x00\xff" * 300, b"INVITE sip:x SIP/2.0\r\nVia: garbage\r\n\r\n",
             b"SIP/2.0 200 OK\r\n\r\n"):
    s.sendto(junk, ("203.0.113.1", 5060))'
sleep 0.3
check "natproxyd survives malformed SIP" kill -0 "$NPD_PID"
check "and logs it" grep -q 'malformed SIP' "$LOG"

sip_stop "$NPD_PID"
check "natproxyd stops cleanly on SIGTERM" grep -q 'shutting down' "$LOG"
check_eq "and its socket lookup link went with it" 0 "$(lookup_links)"
check_eq "no flow is left in the maps" 0 "$(ctl flows --json | wc -l)"
tap_done
