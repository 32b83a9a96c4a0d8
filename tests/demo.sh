#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's first command: a demo topology in network namespaces (a
# terminal behind a NAT, natproxy, Kamailio as the softswitch, a far-end
# UA), natproxyd started on configs/natproxy.yaml, the terminal registering
# and calling the far end with 4 s of RTP each way, and the flow counters
# printed mid-call (natproxyctl flows, bpftool), the call's charging
# record at the end. Everything is
# removed at the end.
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces and XDP)" >&2
	exit 1
fi
. tests/sip/topology.sh
trap sip_topology_down EXIT
trap 'exit 1' INT TERM HUP PIPE

step() { printf '\n== %s\n' "$*"; }
ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
fail() { echo "demo: $*" >&2; exit 1; }

step "topology: terminal A 192.168.1.10 behind NAT 203.0.113.11 | natproxy 203.0.113.1 / 198.51.100.1 | Kamailio 198.51.100.2, far end 198.51.100.10"
sip_topology_up || fail "cannot build the topology"
kamailio_start || fail "cannot start Kamailio"
CFG=$NP_RUN_DIR/natproxy.yaml
sed "s|/var/lib/natproxy/charging.log|$NP_RUN_DIR/charging.log|" configs/natproxy.yaml >"$CFG"

step "natproxyd -c configs/natproxy.yaml (attaches the XDP relay to acc0 and core0)"
natproxyd_start "$NP_RUN_DIR/natproxyd.log" build/natproxyd -c "$CFG" \
	--state "$NP_RUN_DIR/state" || fail "natproxyd did not start"
# On these veths, with the kernel's defaults, XDP cannot send into a peer
# that runs neither XDP nor GRO: natproxy says so, rewrites and counts in
# XDP, and lets the kernel forward.
ctl status | sed '/VERDICT/,$d'

step "A registers through its NAT; Kamailio stores natproxy's core address for it"
sipp_run lan1 reg-a register -i 192.168.1.10 -p 5060 -key user a -key expires 60 203.0.113.1:5060 ||
	fail "registration failed"
echo "Kamailio location for a: $(kamailio_contacts a)"

step "A calls the far end: 4 s of RTP each way, rewritten and counted by XDP"
sipp_spawn core uas-far uas -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 7000 || fail "far end"
sipp_cmd call-a uac -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000 -s far -key user a 203.0.113.1:5060
sip_spawn lan1 "${SIPP_CMD[@]}" >"$NP_RUN_DIR/call-a.out" 2>&1
CALL=$SIP_LAST_PID
sleep 3

step "natproxyctl flows (mid-call)"
ctl flows
# Relay 203.0.113.1:30000's entry in the IPv4 flow array: at index
# (address << 16 | port) masked to the array's size (np_flow4_index in
# include/natproxy.h), a 32-bit key in host (little-endian) order.
N=$(bpftool -j map show pinned "$NP_PIN_DIR/np_flowarr4_v2" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["max_entries"])')
IDX=$(( (0xcb007101 << 16 | 30000) & (N - 1) ))
KEY=$(printf '%02x %02x %02x %02x' $((IDX & 255)) $((IDX >> 8 & 255)) \
	$((IDX >> 16 & 255)) $((IDX >> 24)))
# The entry counts what its owner CPU relays (packets, bytes); the per-CPU
# array at the flow's slot holds the rest (drops, RTCP, other CPUs).
step "bpftool map lookup pinned $NP_PIN_DIR/np_flowarr4_v2 key hex $KEY (the flow entry, index $IDX)"
ENTRY=$(bpftool -j map lookup pinned "$NP_PIN_DIR/np_flowarr4_v2" key hex $KEY)
python3 -c 'import json, sys; v = json.load(sys.stdin)["formatted"]["value"]
print("owner CPU %d, packets %d, bytes %d, slot %d" % ((v["flags"] >> 19) - 1, v["packets"], v["bytes"], v["slot"]))' <<<"$ENTRY"
SLOT=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["formatted"]["value"]["slot"])' <<<"$ENTRY")
SLOT_KEY=$(printf '%02x %02x %02x %02x' $((SLOT & 255)) $((SLOT >> 8 & 255)) \
	$((SLOT >> 16 & 255)) $((SLOT >> 24)))
step "bpftool map lookup pinned $NP_PIN_DIR/np_counters_v4 key hex $SLOT_KEY (slot $SLOT, per CPU)"
bpftool map lookup pinned "$NP_PIN_DIR/np_counters_v4" key hex $SLOT_KEY |
	grep -E '"cpu"|"packets"|"bytes"|"first_seen_ns"'

sip_wait "$CALL" 30 || fail "the call failed (see $NP_RUN_DIR/call-a.err)"
step "call ended: natproxyd's account of it"
grep -E "stream .* ended|call .* ended" "$NP_RUN_DIR/natproxyd.log" | sed -E 's/^[^ ]+ natproxyd: info: //'
step "charging record ($NP_RUN_DIR/charging.log)"
python3 -m json.tool "$NP_RUN_DIR/charging.log" 2>/dev/null || cat "$NP_RUN_DIR/charging.log"
step "XDP verdicts"
ctl status | sed -n '/VERDICT/,$p' | awk '$2 != 0'
