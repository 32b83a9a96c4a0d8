#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs natproxy's benchmarks (`make bench`, never CI): build/bench/xdp_cost
# inside a network namespace of its own, where a veth with 203.0.113.1/24 has
# permanent neighbours for 203.0.113.20 and .30, so the relay's FIB lookup
# succeeds and its full forwarding path (XDP_TX) can be timed. Arguments are
# passed to xdp_cost (-r REPEAT, -n RUNS, -c CPU, -o DIR). Everything made
# here is removed on exit. Needs root.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: must be run as root" >&2
	exit 1
fi

BIN=${XDP_COST:-build/bench/xdp_cost} # XDP_COST: another build, e.g. a variant
NS=npbench$$
DEV=bench0 # the relay's ingress and egress: 203.0.113.1/24
PEER=bench1 # its other end: the relay sits on it, idle (xdp_cost -H)
PIDS=()

if [ ! -x "$BIN" ]; then
	echo "bench/run.sh: $BIN missing; run 'make $BIN' first" >&2
	exit 1
fi

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
# No IPv6, so no neighbour discovery: nothing may reach the idle relay.
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link set lo up
ip -n "$NS" link add "$DEV" type veth peer name "$PEER"
ip -n "$NS" addr add 203.0.113.1/24 dev "$DEV"
ip -n "$NS" link set "$DEV" up
ip -n "$NS" link set "$PEER" up
# bpf_fib_lookup refuses to route for an ingress without forwarding; the
# no-neighbour rows come in on loopback, so it forwards too.
in_ns sysctl -qw net.ipv4.conf.all.forwarding=1 \
	"net.ipv4.conf.$DEV.forwarding=1" net.ipv4.conf.lo.forwarding=1
# The flows' next hops. 203.0.113.40 and .50 (the no-neighbour rows) are
# left without entries on purpose.
ip -n "$NS" neigh add 203.0.113.20 lladdr 02:00:00:00:00:20 dev "$DEV" \
	nud permanent
ip -n "$NS" neigh add 203.0.113.30 lladdr 02:00:00:00:00:30 dev "$DEV" \
	nud permanent

mkdir -p bench/results
in_ns "$BIN" -o bench/results -H "$PEER" "$@" "$DEV" &
PIDS+=($!)
rc=0
wait "${PIDS[0]}" || rc=$?
PIDS=()
exit "$rc"
