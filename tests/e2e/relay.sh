#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of the XDP relay on real veths: natproxyctl attaches it in a
# proxy namespace, static flows relay UDP between a terminal namespace and a
# far-end namespace, and what arrives is captured on the wire and checked
# field by field (addresses, ports, DSCP, TTL, both checksums), while a
# socket bound to the relay port proves that user space saw none of it.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/netns.sh
. tests/lib/udp_errors.sh
require_root "relay end to end"

CTL=(build/natproxyctl --pin-dir "$NP_PIN_DIR")
UDP=tests/lib/udp.py
sinkout=$NP_RUN_DIR/sink.out
trap np_topology_down EXIT
np_topology_up
in_term ip addr add 203.0.113.66/24 dev t0 # the attacker's address

ctl() { in_proxy "${CTL[@]}" "$@"; }
# snap: the flows as they are now, for flow_field and flow_counts to read:
# one natproxyctl and one python a read, so the checks that follow one
# exchange read one snapshot, taken once the exchange is over. Flattened, one "LOCAL FIELD VALUE" a line
# (nested fields dotted: drops.xmit); an empty file when natproxyctl fails.
FLOWS=$NP_RUN_DIR/flows.txt
snap() { ctl flows --json | /usr/bin/python3 -S tests/lib/flows_flat.py >"$FLOWS"; }
# status_snap: `status --json` in STATUS, for the checks that follow to
# read (iface_field); they clear it after.
STATUS=
status_snap() { STATUS=$(ctl status --json); }
# flow_field LOCAL FIELD: one field of a flow in the last snapshot.
flow_field() { awk -v l="$1" -v k="$2" '$1 == l && $2 == k {print $3}' "$FLOWS"; }
# capture NS DEV FILE: starts tcpdump; returns once it listens.
# capture_start NS DEV FILE starts it alone; captures_listening waits for
# every capture started so (they start side by side).
CAPTURE_PIDS=()
CAPTURE_LOGS=()
capture_start() {
	local log=$NP_RUN_DIR/$(basename "$3").log
	# A small snapshot length: immediate mode buffers a handful of
	# snapshots, and a burst would overflow 256 KiB ones.
	np_spawn ip netns exec "$1" tcpdump -n -U --immediate-mode -s 2048 -i "$2" -w "$3" udp 2>"$log"
	CAPTURE_PIDS+=("$NP_LAST_PID")
	CAPTURE_LOGS+=("$log")
}
captures_listening() {
	local log
	for log in "${CAPTURE_LOGS[@]}"; do
		for _ in $(seq 50); do
			grep -q listening "$log" 2>/dev/null && continue 2
			sleep 0.1
		done
		return 1
	done
}
capture() { capture_start "$@" && captures_listening; }
stop_captures() {
	sleep 0.3
	kill "${CAPTURE_PIDS[@]}" 2>/dev/null
	wait "${CAPTURE_PIDS[@]}" 2>/dev/null
	CAPTURE_PIDS=() CAPTURE_LOGS=()
}
# count_matching FILE PATTERN: packets in a capture whose line matches.
count_matching() {
	count_lines "$2" tests/lib/pcap_udp.py "$1"
}

# --- the loader -------------------------------------------------------------
out=$(ctl attach acc0 --max-flows 0 2>&1); rc=$?
check "attach --max-flows 0: refused, nothing attached" \
	eval '[ "$rc" -ne 0 ] && [ ! -e "$NP_PIN_DIR/np_flows4_v6" ] && [ ! -e "$NP_PIN_DIR/np_flowarr4_v2" ] && echo "$out" | grep -q "max-flows"'
check "attach to acc0" ctl attach acc0
check "natproxyctl's maps hold the most the relay takes (1048576 flows), the flow array mmapable" \
	bash -c "bpftool map show pinned '$NP_PIN_DIR/np_flows4_v6' | grep -q 'max_entries 1048576 ' &&
		bpftool map show pinned '$NP_PIN_DIR/np_flowarr4_v2' | tr '\\n' ' ' | grep -q 'flags 0x400 .*max_entries 1048576 '"
check "attach to core0 reuses the pinned maps" ctl attach core0
status_snap
prog_id=$(echo "$STATUS" | python3 -S -c 'import json,sys; print(json.load(sys.stdin)["program_id"])')
check "both interfaces run program $prog_id" \
	test "$(echo "$STATUS" | python3 -S -c 'import json,sys; print(len(json.load(sys.stdin)["interfaces"]))')" = 2
STATUS=
out=$(ctl attach acc0 2>&1); rc=$?
check "attaching twice fails" test "$rc" -ne 0
check_eq "attaching twice says why, on one line" 1 "$(echo "$out" | grep -c 'already has an XDP program')"
out=$(ctl attach nosuch0 2>&1); rc=$?
check "a missing interface fails with a clear error" \
	test "$rc" -ne 0 -a "$out" = "natproxyctl: error: no interface 'nosuch0'"
mkdir -p "$NP_RUN_DIR/plain"
out=$(in_proxy build/natproxyctl --pin-dir "$NP_RUN_DIR/plain/natproxy" attach lo 2>&1); rc=$?
check "a pin directory off bpffs is refused with advice" \
	test "$rc" -ne 0 -a -n "$(echo "$out" | grep 'not on a bpffs.*mount -t bpf')"
check_none "and nothing is left attached to lo" 'prog/xdp' in_proxy ip -d link show lo
out=$(in_proxy setpriv --reuid=65534 --regid=65534 --clear-groups \
	build/natproxyctl --pin-dir "$NP_PIN_DIR" attach lo 2>&1); rc=$?
check "without privileges: a one-line error" \
	test "$rc" -ne 0 -a "$(echo "$out" | wc -l)" = 1
check "bpftool dumps the flow map with named fields" \
	bash -c "bpftool map dump pinned '$NP_PIN_DIR/np_flows4_v6' >/dev/null"

# --- static flows: RTP and RTCP of one stream, each direction ----------------
STREAM_FLOWS=(203.0.113.1:30000 198.51.100.1:40000 203.0.113.1:30001
	198.51.100.1:40001 '[2001:db8:1::1]:30002')
# Terminal side: the first packet latches the reverse flow's destination.
add_stream_flows() {
	ctl flow add 203.0.113.1:30000 --src 198.51.100.1:40000 --dst 198.51.100.10:6000 \
		--latch --strict --reverse 198.51.100.1:40000 --dscp 46
	ctl flow add 198.51.100.1:40000 --src 203.0.113.1:30000 --dscp 46
	ctl flow add 203.0.113.1:30001 --src 198.51.100.1:40001 --dst 198.51.100.10:6001 \
		--latch --strict --reverse 198.51.100.1:40001
	ctl flow add 198.51.100.1:40001 --src 203.0.113.1:30001
	ctl flow add '[2001:db8:1::1]:30002' --src '[2001:db8:2::1]:40002' \
		--dst '[2001:db8:2::10]:6002' --dscp 34
}
# iface_field FIELD [IFACE]: FIELD of each interface in `natproxyctl status
# --json`, space-separated (of IFACE alone when given); with STATUS set
# (status_snap), of that status, not a new one.
iface_field() {
	{ if [ -n "$STATUS" ]; then echo "$STATUS"; else ctl status --json; fi; } | /usr/bin/python3 -S -c '
import json, sys
field, only = sys.argv[1], sys.argv[2:]
print(" ".join(str(i[field]) for i in json.load(sys.stdin)["interfaces"]
               if not only or i["name"] in only))' "$@"
}

# sink_start NS ADDR:PORT SECONDS OUT [COUNT]: a counting socket in NS, its
# PID in NP_LAST_PID; returns once it is bound.
# sink_spawn starts one alone, sink_bound OUT waits until it is bound.
sink_spawn() {
	rm -f "$4.ready"
	np_spawn ip netns exec "$1" $UDP sink "$2" "$3" "$4.ready" ${5:-} >"$4"
}
sink_bound() {
	for _ in $(seq 100); do
		[ -e "$1.ready" ] && return 0
		sleep 0.05
	done
	diag "sink $1 did not bind"
	return 1
}
sink_start() { sink_spawn "$@" && sink_bound "$4"; }


# stream_checks PATH: one stream each way between the terminal and the far
# end, every sender a socket with the kernel's default checksum offload (so
# its packets reach the relay with partial checksums), checked where they
# arrive: on the wire, by the receiving sockets and by the receivers' UDP
# error counters. PATH is how natproxy must deliver: "kernel" on the
# default topology, where XDP cannot send into the outer veths and the
# kernel forwards the rewritten packets (a checksum may stay partial there,
# for the next device to finish, and must then be the new addresses' sum);
# "xdp" with GRO on the outer ends, where XDP sends every packet itself and
# every checksum must be complete.
stream_checks() {
	local path=$1 csum=ok to_kernel=0 rtp_to_kernel=0 f
	local err_core0 err_term0 core term sink
	if [ "$path" = kernel ]; then
		csum='(ok|partial)' rtp_to_kernel=50
	fi
	status_snap
	check "[$path] status: media leaves acc0 and core0 by $path" \
		test "$(iface_field media_out)" = "$path $path"
	check "[$path] status: checksums verified on both veths" \
		test "$(iface_field verify_checksums)" = "True True"
	STATUS=
	add_stream_flows
	check_eq "[$path] five flows installed, checksums verified on each" 5 \
		"$(ctl flows --json | grep -c 'csum-verify')"
	# Resolve the next hops first, so that every packet takes the fast path.
	in_proxy ping -c1 -W1 198.51.100.10 >/dev/null
	in_proxy ping -c1 -W1 203.0.113.20 >/dev/null
	in_proxy ping -6 -c1 -W1 2001:db8:2::10 >/dev/null
	err_core0=$(udp_csum_errors "$NS_CORE") err_term0=$(udp_csum_errors "$NS_TERM")

	core=$NP_RUN_DIR/core-$path.pcap term=$NP_RUN_DIR/term-$path.pcap
	sink=$NP_RUN_DIR/sink-$path
	capture_start "$NS_CORE" c0 "$core"
	capture_start "$NS_TERM" t0 "$term"
	local sinks=() relay_sink
	# The relay port's own socket must get nothing: it listens the
	# longest, until the other sinks have all they expect.
	sink_spawn "$NS_PROXY" 203.0.113.1:30000 20 "$sink.relay"
	relay_sink=$NP_LAST_PID
	sink_spawn "$NS_CORE" 198.51.100.10:6000 20 "$sink.far" 50
	sinks+=("$NP_LAST_PID")
	sink_spawn "$NS_CORE" '[2001:db8:2::10]:6002' 20 "$sink.far6" 10
	sinks+=("$NP_LAST_PID")
	captures_listening
	sink_bound "$sink.relay" && sink_bound "$sink.far" && sink_bound "$sink.far6"
	in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 50
	in_term $UDP send 203.0.113.20:4001 203.0.113.1:30001 10 80 rtcp
	in_term $UDP send 203.0.113.66:4000 203.0.113.1:30000 7 # not the latched source
	in_term $UDP send '[2001:db8:1::20]:4002' '[2001:db8:1::1]:30002' 10
	# The terminal's ports are free again: count what comes back there.
	sink_start "$NS_TERM" 203.0.113.20:4000 20 "$sink.term" 40
	sinks+=("$NP_LAST_PID")
	in_core $UDP send 198.51.100.10:6100 198.51.100.1:40000 40
	in_core $UDP send 198.51.100.10:6101 198.51.100.1:40001 5 80 rtcp
	wait "${sinks[@]}"
	sleep 0.3 # for what the relay's socket might still get
	kill -TERM "$relay_sink"
	wait "$relay_sink"
	stop_captures

	diag "[$path] core side capture (src sport dst dport dscp ttl vlan ip-csum udp-csum len):"
	tests/lib/pcap_udp.py "$core" | cut -d' ' -f1-10 | sort | uniq -c | sed 's/^/#   /'
	diag "[$path] terminal side capture:"
	tests/lib/pcap_udp.py "$term" | cut -d' ' -f1-10 | sort | uniq -c | sed 's/^/#   /'
	check_eq "[$path] the senders' checksums reach the relay partial (offload on)" \
		50 "$(count_matching "$term" '^203.0.113.20 4000 203.0.113.1 30000 0 64 - ok partial 172 ')"
	check_eq "[$path] 50 RTP packets arrive rewritten: 198.51.100.1:40000 -> 198.51.100.10:6000, DSCP 46, TTL 63, checksums right" \
		50 "$(count_matching "$core" "^198.51.100.1 40000 198.51.100.10 6000 46 63 - ok $csum 172 ")"
	check_eq "[$path] 10 RTCP packets arrive on the RTCP relay: 40001 -> 6001, checksums right" \
		10 "$(count_matching "$core" "^198.51.100.1 40001 198.51.100.10 6001 0 63 - ok $csum 80 ")"
	check_eq "[$path] 10 IPv6 packets arrive: [2001:db8:2::1]:40002 -> [2001:db8:2::10]:6002, DSCP 34, hop limit 63, UDP checksum right" \
		10 "$(count_matching "$core" "^2001:db8:2::1 40002 2001:db8:2::10 6002 34 63 - n/a $csum 172 ")"
	check_eq "[$path] no packet arrives with a bad checksum, either side" \
		0 "$(count_lines ' bad ' tests/lib/pcap_udp.py "$core" "$term")"
	check_eq "[$path] the far end's sockets received all 50 RTP and 10 IPv6 packets" \
		"50 10" "$(cat "$sink.far") $(cat "$sink.far6")"
	check_eq "[$path] the terminal's socket received all 40 RTP packets" 40 "$(cat "$sink.term")"
	check_eq "[$path] no UDP checksum error at the far end or the terminal" "0 0" \
		"$(($(udp_csum_errors "$NS_CORE") - err_core0)) $(($(udp_csum_errors "$NS_TERM") - err_term0))"
	check_eq "[$path] nothing from the spoofing source reaches the far end" \
		0 "$(count_matching "$core" '^203\.0\.113\.66 ')"
	check_eq "[$path] payload is untouched (same digests sent and relayed)" \
		"$(tests/lib/pcap_udp.py "$term" | awk '$1=="203.0.113.20" && $2==4000 {print $11}' | sort | md5sum)" \
		"$(tests/lib/pcap_udp.py "$core" | awk '$2==40000 {print $11}' | sort | md5sum)"
	check_eq "[$path] 40 RTP packets come back to the latched terminal: 203.0.113.1:30000 -> 203.0.113.20:4000, DSCP 46" \
		40 "$(count_matching "$term" "^203.0.113.1 30000 203.0.113.20 4000 46 63 - ok $csum 172 ")"
	check_eq "[$path] 5 RTCP packets come back to the latched RTCP port 4001" \
		5 "$(count_matching "$term" "^203.0.113.1 30001 203.0.113.20 4001 0 63 - ok $csum 80 ")"
	check_eq "[$path] the socket bound to the relay port received nothing" 0 "$(cat "$sink.relay")"

	snap
	check_eq "[$path] flow counters: 50 packets of 200 bytes" "50 10000" \
		"$(flow_field 203.0.113.1:30000 packets) $(flow_field 203.0.113.1:30000 bytes)"
	check_eq "[$path] flow counters: 7 drops for the wrong source, none for checksums" "7 0" \
		"$(flow_field 203.0.113.1:30000 drops.source) $(flow_field 203.0.113.1:30000 drops.checksum)"
	check_eq "[$path] reverse flow latched onto the terminal's real source" \
		203.0.113.20:4000 "$(flow_field 198.51.100.1:40000 dst)"
	check_eq "[$path] reverse flow counters: 40 packets" 40 "$(flow_field 198.51.100.1:40000 packets)"
	check_eq "[$path] IPv6 flow counters: 10 packets" 10 "$(flow_field '[2001:db8:1::1]:30002' packets)"
	check_eq "[$path] packets the kernel forwarded (to_kernel) of the 50 RTP" \
		"$rtp_to_kernel" "$(flow_field 203.0.113.1:30000 to_kernel)"
	if [ "$path" = xdp ]; then
		for f in "${STREAM_FLOWS[@]}"; do
			check_eq "[$path] $f: no packet needed the kernel" 0 "$(flow_field "$f" to_kernel)"
		done
	fi
	for f in "${STREAM_FLOWS[@]}"; do
		ctl flow del "$f" >/dev/null
	done
}

# The default topology first; then, to show XDP's own path, GRO on the
# outer ends, which natproxyctl refresh notices.
stream_checks kernel
check "GRO on the outer ends (a non-default setting, for the XDP path)" np_fast_peers
check "refresh: natproxyctl records that XDP can now send into both" \
	test "$(ctl refresh --json)" = '{"changed": 2}'
stream_checks xdp

# --- hairpin: a relay whose destination is another of our relays -------------
# Two terminals behind the proxy calling each other: A's stream goes out to
# the core relay of B's leg, which the XDP program relays again at once.
ctl flow add 203.0.113.1:30010 --src 198.51.100.1:40010 --dst 198.51.100.1:40012
ctl flow add 198.51.100.1:40012 --src 203.0.113.1:30012 --dst 203.0.113.20:4010
capture "$NS_TERM" t0 "$NP_RUN_DIR/hairpin.pcap"
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30010 20
stop_captures
tests/lib/pcap_udp.py "$NP_RUN_DIR/hairpin.pcap" | cut -d' ' -f1-10 | sort | uniq -c | sed 's/^/#   /'
check_eq "hairpin: 20 packets come back through the second relay, TTL decremented once" \
	20 "$(count_matching "$NP_RUN_DIR/hairpin.pcap" '^203.0.113.1 30012 203.0.113.20 4010 0 63 - ok ok 172 ')"
snap
check_eq "hairpin: both flows count them" "20 20" \
	"$(flow_field 203.0.113.1:30010 packets) $(flow_field 198.51.100.1:40012 packets)"

# --- an unresolved neighbour: the kernel delivers, the next packet is fast ----
add_stream_flows
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 1
# The flow keeps the next hop that packet found for the rest of the clock's
# epoch (NP_NEXTHOP_EPOCH_SHIFT, 1.07 s): past it, the FIB is asked again.
# Flushed again just before the packet: meanwhile an ARP probe from the core
# (its own entry for core0 going stale) may have taught core0 the far end.
in_proxy ip neigh flush dev core0
sleep 1.1
capture "$NS_CORE" c0 "$NP_RUN_DIR/neigh.pcap"
in_proxy ip neigh flush dev core0
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 1
# The kernel resolves the neighbour for the packet it forwards.
for _ in $(seq 50); do
	in_proxy ip neigh show 198.51.100.10 dev core0 | grep -q 'REACHABLE\|STALE\|DELAY' && break
	sleep 0.1
done
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 3
stop_captures
check_eq "with no neighbour entry the packet still arrives, rewritten, and the next ones too" \
	4 "$(count_matching "$NP_RUN_DIR/neigh.pcap" '^198.51.100.1 40000 198.51.100.10 6000 46 ')"
snap
check_eq "exactly one packet went through the kernel" 1 "$(flow_field 203.0.113.1:30000 to_kernel)"

# --- the same in IPv6, with per-interface forwarding only ----------------------
# natproxyctl enabled forwarding on acc0 alone (force_forwarding, Linux
# 6.17): net.ipv6.conf.all.forwarding, which would stop router
# advertisements on every interface, stays off, and the kernel still
# forwards the packet the relay hands it.
check_eq "IPv6: net.ipv6.conf.all.forwarding left off" 0 \
	"$(in_proxy cat /proc/sys/net/ipv6/conf/all/forwarding)"
if [ -e /proc/sys/net/ipv6/conf/all/force_forwarding ]; then
	check_eq "IPv6: acc0 and core0 forward on their own (force_forwarding)" "1 1" \
		"$(in_proxy cat /proc/sys/net/ipv6/conf/acc0/force_forwarding) $(in_proxy cat /proc/sys/net/ipv6/conf/core0/force_forwarding)"
	in_proxy ip -6 neigh flush dev core0
	capture "$NS_CORE" c0 "$NP_RUN_DIR/neigh6.pcap"
	in_term $UDP send '[2001:db8:1::20]:4002' '[2001:db8:1::1]:30002' 1
	# The kernel resolves the neighbour for the packet it forwards.
	for _ in $(seq 50); do
		in_proxy ip -6 neigh show 2001:db8:2::10 dev core0 | grep -q 'REACHABLE\|STALE\|DELAY' && break
		sleep 0.1
	done
	in_term $UDP send '[2001:db8:1::20]:4002' '[2001:db8:1::1]:30002' 3
	stop_captures
	check_eq "IPv6: with no neighbour entry the packet still arrives through the kernel, and the next ones too" \
		4 "$(count_matching "$NP_RUN_DIR/neigh6.pcap" '^2001:db8:2::1 40002 2001:db8:2::10 6002 34 ')"
	snap
	check_eq "IPv6: exactly one packet went through the kernel" 1 "$(flow_field '[2001:db8:1::1]:30002' to_kernel)"
else
	skip "IPv6: per-interface forwarding" "no force_forwarding (Linux < 6.17)"
	skip "IPv6: forwarding through the kernel without the host-wide switch" "no force_forwarding"
	skip "IPv6: one packet through the kernel" "no force_forwarding"
fi

# --- frames the veth drops after the redirect are not relayed ----------------
# The kernel hands what XDP redirected to the veth in flushes of up to 16;
# the veth takes them in order and, at the first it cannot (here: over
# c0's MTU; a full ring is the same), drops the rest of the flush, with no
# error: core0 stays on the XDP path, but each dropped frame must come off
# its own flow. A burst of two flows taking turns, one with big frames
# among its small ones, so that flushes hold both: each flow counts what
# arrived at c0, frame for frame, and the rest as xmit drops.
# The frames must pile up in acc0's ring before its NAPI thread runs: when
# the thread kept up with the sender (a CPU to itself), each flush held
# one frame and only the big ones were dropped. So the thread is pinned to
# the sender's CPU, where the sender runs first (SCHED_FIFO) until the
# burst is sent. The burst fits the ring (a veth's XDP ring holds 256
# frames): past it, t0 drops what acc0 has no room for (its tx_dropped),
# frames the relay never sees.
BURST=120 # of each flow, every other one of the second flow's big
# flow_counts LOCAL: packets, bytes and xmit drops of a flow (snapshot).
flow_counts() {
	echo "$(flow_field "$1" packets) $(flow_field "$1" bytes) $(flow_field "$1" drops.xmit)"
}
# captured FILE DPORT: packets and IP bytes of a capture to DPORT.
captured() {
	tests/lib/pcap_udp.py "$1" | awk -v p="$2" '$4 == p {n++; b += $10 + 28} END {print n + 0, b + 0}'
}
in_core ip link set c0 mtu 1000
# acc0's NAPI in a thread of its own, so that the burst's frames pile up
# in its ring and each poll relays (and flushes) many of them at once; in
# softirq context it would run after every single datagram.
napi_threads() { ps -eo pid=,comm= | awk '$2 ~ /^napi\/acc0-/ {print $1}' | sort; }
threads0=$(napi_threads)
in_proxy sh -c 'echo 1 >/sys/class/net/acc0/threaded'
# Ours is the thread that came with it (a name is not unique: every
# namespace may have an acc0).
napi=$(comm -13 <(echo "$threads0") <(napi_threads))
if [ "$(echo "$napi" | grep -c .)" = 1 ] && taskset -pc 0 "$napi" >/dev/null; then
	diag "burst: acc0's NAPI thread $napi pinned to CPU 0, the sender's"
else
	diag "burst: no one new NAPI thread of acc0 to pin (found: '$napi')"
fi
t0_tx_dropped() { in_term cat /sys/class/net/t0/statistics/tx_dropped; }
t0_drops=$(t0_tx_dropped)
snap
read -r a_p a_b a_x <<<"$(flow_counts 203.0.113.1:30000)"
read -r b_p b_b b_x <<<"$(flow_counts 203.0.113.1:30001)"
capture "$NS_CORE" c0 "$NP_RUN_DIR/burst.pcap"
in_term chrt -f 1 taskset -c 0 $UDP burst $BURST 203.0.113.20:4000,203.0.113.1:30000,172 \
	203.0.113.20:4001,203.0.113.1:30001,100/1200
stop_captures
in_core ip link set c0 mtu 1500
in_proxy sh -c 'echo 0 >/sys/class/net/acc0/threaded'
snap
read -r a_p2 a_b2 a_x2 <<<"$(flow_counts 203.0.113.1:30000)"
read -r b_p2 b_b2 b_x2 <<<"$(flow_counts 203.0.113.1:30001)"
diag "burst: RTP flow $((a_p2 - a_p)) relayed, $((a_x2 - a_x)) dropped; the other $((b_p2 - b_p)) relayed, $((b_x2 - b_x)) dropped; $(($(t0_tx_dropped) - t0_drops)) never reached acc0 (t0's tx_dropped)"
check_eq "burst: the RTP flow counts what reached c0 (packets, bytes)" \
	"$(captured "$NP_RUN_DIR/burst.pcap" 6000)" "$((a_p2 - a_p)) $((a_b2 - a_b))"
check_eq "burst: the flow with big frames counts what reached c0 (packets, bytes)" \
	"$(captured "$NP_RUN_DIR/burst.pcap" 6001)" "$((b_p2 - b_p)) $((b_b2 - b_b))"
check_eq "burst: every frame sent is relayed or an xmit drop, per flow" "$BURST $BURST" \
	"$((a_p2 - a_p + a_x2 - a_x)) $((b_p2 - b_p + b_x2 - b_x))"
check "burst: the $((BURST / 2)) big frames and the small ones flushed after them were dropped" \
	test "$((a_x2 - a_x + b_x2 - b_x))" -gt $((BURST / 2))
status_snap
check_eq "burst: no error, so no xmit drop on core0 (it stays on the XDP path)" \
	"0 xdp" "$(iface_field xmit_drops core0) $(iface_field media_out core0)"
STATUS=

# --- frames lost after XDP sent them are counted, and stop the XDP path -------
# GRO off on c0 behind natproxy's back: what XDP redirects into core0 is now
# dropped by the veth. The tracepoints count it against core0; a refresh
# (natproxyd's every second) takes core0 off the XDP path.
in_core ethtool -K c0 gro off >/dev/null
snap
packets0=$(flow_field 203.0.113.1:30000 packets) xmit0=$(flow_field 203.0.113.1:30000 drops.xmit)
capture "$NS_CORE" c0 "$NP_RUN_DIR/lost.pcap"
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 10
stop_captures
check_eq "GRO off behind natproxy's back: the 10 redirected frames never reach the far end" \
	0 "$(count_matching "$NP_RUN_DIR/lost.pcap" '^198.51.100.1 40000 ')"
check_eq "and natproxyctl status counts them as xmit drops on core0" 10 "$(iface_field xmit_drops core0)"
snap
check_eq "the flow takes them back: not relayed (packets as before), 10 drops.xmit" \
	"$packets0 10" "$(flow_field 203.0.113.1:30000 packets) $(($(flow_field 203.0.113.1:30000 drops.xmit) - xmit0))"
check "refresh takes core0 off the XDP path" \
	test "$(ctl refresh --json 2>/dev/null)" = '{"changed": 1}'
check "status says why: the frames XDP sent were dropped" \
	bash -c "ip netns exec '$NS_PROXY' ${CTL[*]} status | grep -q 'core0: XDP cannot send out of it: frames XDP sent out of it were dropped'"
check_eq "status: core0's media now leaves by the kernel" kernel \
	"$(iface_field media_out core0)"
capture "$NS_CORE" c0 "$NP_RUN_DIR/after-lost.pcap"
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 5
stop_captures
check_eq "the next 5 packets arrive, forwarded by the kernel" \
	5 "$(count_matching "$NP_RUN_DIR/after-lost.pcap" '^198.51.100.1 40000 198.51.100.10 6000 46 63 - ok (ok|partial) ')"
check_eq "and no frame more is lost" 10 "$(iface_field xmit_drops core0)"

# --- the peer of the egress goes down: what XDP sent there was not relayed ----
# t0 down until the 10 are dropped: within the next hop's epoch the relay redirects into
# acc0, whose peer takes nothing (the flush fails); past it, the neighbour
# is gone with the carrier and the kernel queues the packets until ARP
# gives up (3-6 s), then drops them. Either way the terminal gets none of
# the 10, and the reverse flow counts none. Should the kernel still hold
# some when t0 comes back, it delivers them then: those count as relayed,
# so the check is that the flow counts exactly what the terminal got.
# xmit_drops_past LOCAL N: that flow counts more than N xmit drops.
# Read without a snapshot: one natproxyctl and a grep a poll.
xmit_drops_past() {
	local x
	x=$(ctl flows --json | grep -F "{\"local\": \"$1\"," | grep -o '"xmit": [0-9]*')
	[ "${x#*: }" -gt "$2" ] 2>/dev/null
}
snap
read -r r_p r_b r_x <<<"$(flow_counts 198.51.100.1:40000)"
sink_start "$NS_TERM" 203.0.113.20:4000 60 "$NP_RUN_DIR/sink.down" 10
dsink=$NP_LAST_PID
in_term ip link set t0 down
in_core $UDP send 198.51.100.10:6100 198.51.100.1:40000 10
# Until all 10 are dropped, at most 10 s; then 1 s with t0 up, for any
# the kernel would still deliver.
SECONDS=0
while [ "$SECONDS" -lt 10 ] && ! xmit_drops_past 198.51.100.1:40000 $((r_x + 9)); do
	sleep 0.1
done
waited=$SECONDS
in_term ip link set t0 up
sleep 1
kill -TERM "$dsink"
wait "$dsink"
snap
read -r r_p2 r_b2 r_x2 <<<"$(flow_counts 198.51.100.1:40000)"
got=$(cat "$NP_RUN_DIR/sink.down")
diag "t0 down for ${waited} s: acc0 counts $(iface_field xmit_drops acc0) refused frames (the XDP path), the flow $(flow_field 198.51.100.1:40000 to_kernel) handed to the kernel so far; the terminal got $got"
check_eq "t0 down: the flow counts relayed exactly what the terminal got, and the rest of the 10 as xmit drops" \
	"$got $((got * 200)) $((10 - got))" "$((r_p2 - r_p)) $((r_b2 - r_b)) $((r_x2 - r_x))"
# acc0 itself down, as when a node's links go down: its route is gone.
# Past the next hop's epoch the relay hands the packets to the kernel
# (no route in the FIB, so no fast path), which drops them for want of a
# route: handed over, not relayed.
in_proxy ip link set acc0 down
sleep 1.1
snap
read -r r_p r_b r_x <<<"$(flow_counts 198.51.100.1:40000)"
k0=$(flow_field 198.51.100.1:40000 to_kernel)
in_core $UDP send 198.51.100.10:6100 198.51.100.1:40000 10
snap
read -r r_p2 r_b2 r_x2 <<<"$(flow_counts 198.51.100.1:40000)"
k1=$(flow_field 198.51.100.1:40000 to_kernel)
in_proxy ip link set acc0 up
check_eq "acc0 down: all 10 handed to the kernel, none relayed, all 10 xmit drops" \
	"10 0 0 10" "$((k1 - k0)) $((r_p2 - r_p)) $((r_b2 - r_b)) $((r_x2 - r_x))"

# --- another natproxy in other namespaces: its drops are its own -------------
# Interface indexes are per namespace: a second natproxy whose interfaces
# have acc0's and core0's indexes, its far end taking no XDP frames (GRO
# off behind its back), drops 10 frames. The tracepoints fire for every
# namespace: they count for the natproxy whose namespace the flush is in.
NS_O=("$NP_RUN-oterm" "$NP_RUN-oproxy" "$NP_RUN-ocore")
trap 'for ns in "${NS_O[@]}"; do ip netns del "$ns" 2>/dev/null; done; np_topology_down' EXIT
OCTL=(build/natproxyctl --pin-dir "$NP_RUN_DIR/bpf/other")
for ns in "${NS_O[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "${NS_O[1]}" link add oacc index "$(in_proxy cat /sys/class/net/acc0/ifindex)" type veth \
	peer name ot0 netns "${NS_O[0]}"
ip -n "${NS_O[1]}" link add ocore index "$(in_proxy cat /sys/class/net/core0/ifindex)" type veth \
	peer name oc0 netns "${NS_O[2]}"
ip -n "${NS_O[0]}" addr add 203.0.113.20/24 dev ot0
ip -n "${NS_O[1]}" addr add 203.0.113.1/24 dev oacc
ip -n "${NS_O[1]}" addr add 198.51.100.1/24 dev ocore
ip -n "${NS_O[2]}" addr add 198.51.100.10/24 dev oc0
ip -n "${NS_O[0]}" link set ot0 up; ip -n "${NS_O[2]}" link set oc0 up
ip -n "${NS_O[1]}" link set oacc up; ip -n "${NS_O[1]}" link set ocore up
# GRO on the far end while natproxy attaches, so that it sends out of
# ocore by XDP, then off behind its back (as in the GRO section above):
# only a redirect that fails makes the flushes whose drops are counted.
ip netns exec "${NS_O[2]}" ethtool -K oc0 gro on >/dev/null
# Known neighbours: every frame takes the XDP path, none the kernel's.
ip -n "${NS_O[1]}" neigh replace 198.51.100.10 dev ocore \
	lladdr "$(ip netns exec "${NS_O[2]}" cat /sys/class/net/oc0/address)"
ip -n "${NS_O[0]}" neigh replace 203.0.113.1 dev ot0 \
	lladdr "$(ip netns exec "${NS_O[1]}" cat /sys/class/net/oacc/address)"
octl() { ip netns exec "${NS_O[1]}" "${OCTL[@]}" "$@"; }
mine0=$(iface_field xmit_drops)
check "a second natproxy attached in other namespaces, its interfaces with acc0's and core0's indexes" \
	eval 'octl attach oacc >/dev/null 2>&1 && octl attach ocore >/dev/null 2>&1 &&
		octl flow add 203.0.113.1:30000 --src 198.51.100.1:40000 --dst 198.51.100.10:6000 >/dev/null 2>&1 &&
		[ "$(ip netns exec "${NS_O[1]}" cat /sys/class/net/oacc/ifindex)" = "$(in_proxy cat /sys/class/net/acc0/ifindex)" ]'
ip netns exec "${NS_O[2]}" ethtool -K oc0 gro off >/dev/null
ip netns exec "${NS_O[0]}" $UDP send 203.0.113.20:4000 203.0.113.1:30000 10
ostatus=$(octl status --json | python3 -c '
import json, sys
print(" ".join(str(i["xmit_drops"]) for i in json.load(sys.stdin)["interfaces"] if i["name"] == "ocore"))')
check_eq "the other natproxy counts its 10 lost frames on its core interface" 10 "$ostatus"
check_eq "... and this one counts none of them (its interfaces' xmit drops unchanged)" \
	"$mine0" "$(iface_field xmit_drops)"
for ns in "${NS_O[@]}"; do ip netns del "$ns"; done

# --- deleting a flow hands its port back to the kernel ------------------------
check "flow del" ctl flow del 203.0.113.1:30000
sink_start "$NS_PROXY" 203.0.113.1:30000 20 "$sinkout.2" 5
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 5
np_topology_wait_spawned
check_eq "after flow del the relay port's socket gets the packets" 5 "$(cat "$sinkout.2")"
out=$(ctl flow del 203.0.113.1:30000 2>&1); rc=$?
check "deleting it again: an error" test "$rc" -ne 0 -a -n "$(echo "$out" | grep 'no such flow')"

# --- generic (skb) mode: a packet keeps its skb, and its partial checksum ---------
ctl detach acc0 2>/dev/null && ctl detach core0 2>/dev/null
check "attach both in generic mode" \
	bash -c "ip netns exec '$NS_PROXY' ${CTL[*]} attach acc0 --mode generic 2>/dev/null && ip netns exec '$NS_PROXY' ${CTL[*]} attach core0 --mode generic 2>/dev/null"
add_stream_flows
sink_start "$NS_CORE" 198.51.100.10:6000 20 "$NP_RUN_DIR/sink.generic" 30
gsink=$NP_LAST_PID
capture "$NS_CORE" c0 "$NP_RUN_DIR/generic.pcap"
in_term $UDP send 203.0.113.20:4000 203.0.113.1:30000 30
wait "$gsink"
stop_captures
status_snap
check_eq "generic mode: the far end's socket received all 30" 30 "$(cat "$NP_RUN_DIR/sink.generic")"
check_eq "generic mode: all 30 redirected by XDP, their checksums right (left partial, for the device, as the skb says)" \
	"30 30" "$(echo "$STATUS" | python3 -S -c 'import json,sys; print(json.load(sys.stdin)["verdicts"]["redirect"])') $(count_matching "$NP_RUN_DIR/generic.pcap" '^198.51.100.1 40000 198.51.100.10 6000 46 63 - ok (ok|partial) 172 ')"
prog_id=$(echo "$STATUS" | python3 -S -c 'import json,sys; print(json.load(sys.stdin)["program_id"])')
STATUS=

# --- detach leaves nothing behind ---------------------------------------------
check "detach acc0" ctl detach acc0
check "pins remain while core0 is attached" test -e "$NP_PIN_DIR/np_flowarr4_v2"
check "detach core0" ctl detach core0
check_none "no XDP program left on acc0 or core0" 'prog/xdp' in_proxy ip -d link show
check "no pin left behind" test ! -e "$NP_PIN_DIR"
check "program $prog_id is gone from the kernel" \
	bash -c "! bpftool prog show id $prog_id >/dev/null 2>&1"
tap_done
