#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs natproxy's benchmarks (`make bench`, never CI) and prints one table:
#
#   1. build/bench/xdp_cost: the relay's ns/packet beside its floors, inside
#      a network namespace of its own, where a veth with 203.0.113.1/24 has
#      permanent neighbours for 203.0.113.20 and .30, so the relay's FIB
#      lookup succeeds and its full forwarding path (XDP_TX) can be timed;
#   2. bench/media.sh: media relay rates, CPU, latency, packets to user space
#      and memory for natproxy, rtpengine and the ceiling (a minimal XDP
#      redirect) on the SIP test topology;
#   3. bench/signaling.sh OUTDIR, when it exists: calls/s and
#      registrations/s of natproxyd and Kamailio (OUTDIR/signaling.json);
#   4. bench/flood.sh OUTDIR: legitimate calls and registrations while an
#      attacker floods the access address, natproxyd and Kamailio with pike
#      (OUTDIR/flood.json);
#   5. build/bench/page_walk: what one read of a random flow entry costs at
#      each media scale (OUTDIR/memory.jsonl), which bench/report.py prints
#      under the media targets: the cost of the miss a relay with per-flow
#      state pays at 500,000 random streams and the ceiling does not.
#
# bench/report.py merges them into one table and writes it as JSON to
# bench/results/bench-<date>-<time>.json; each part's own files stay in
# bench/results/run-<date>-<time>/. Arguments are passed to xdp_cost (-r
# REPEAT, -n RUNS, -c CPU). BENCH_PARTS (default "xdp_cost media
# signaling flood memory") selects parts. Everything made here is removed on exit; every
# part is bounded in time. Needs root.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: must be run as root" >&2
	exit 1
fi

BIN=${XDP_COST:-build/bench/xdp_cost} # XDP_COST: another build, e.g. a variant
PARTS=${BENCH_PARTS:-"xdp_cost media signaling flood memory"}
STAMP=$(date +%Y%m%d-%H%M%S)
RUN=bench/results/run-$STAMP
NS=npbench$$
DEV=bench0 # the relay's ingress and egress: 203.0.113.1/24
PEER=bench1 # its other end: the relay sits on it, idle (xdp_cost -H)
PIDS=()
T0=$(date +%s)

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
trap 'exit 143' TERM HUP PIPE

part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# run_bounded SECONDS CMD...: CMD in the background (so the traps can stop
# it by PID), killed by timeout after SECONDS; returns its status.
run_bounded() {
	local t=$1 rc=0
	shift
	timeout -k 30 "$t" "$@" &
	PIDS+=($!)
	wait "${PIDS[-1]}" || rc=$?
	unset 'PIDS[-1]'
	return "$rc"
}

xdp_cost() {
	ip netns add "$NS"
	# No IPv6, so no neighbour discovery: nothing may reach the idle relay.
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip -n "$NS" link set lo up
	ip -n "$NS" link add "$DEV" type veth peer name "$PEER"
	ip -n "$NS" addr add 203.0.113.1/24 dev "$DEV"
	ip -n "$NS" link set "$DEV" up
	ip -n "$NS" link set "$PEER" up
	# bpf_fib_lookup refuses to route for an ingress without forwarding;
	# the no-neighbour rows come in on loopback, so it forwards too.
	ip netns exec "$NS" sysctl -qw net.ipv4.conf.all.forwarding=1 \
		"net.ipv4.conf.$DEV.forwarding=1" net.ipv4.conf.lo.forwarding=1
	# The flows' next hops. 203.0.113.40 and .50 (the no-neighbour rows)
	# are left without entries on purpose.
	ip -n "$NS" neigh add 203.0.113.20 lladdr 02:00:00:00:00:20 dev "$DEV" \
		nud permanent
	ip -n "$NS" neigh add 203.0.113.30 lladdr 02:00:00:00:00:30 dev "$DEV" \
		nud permanent
	# The ring row's flows (xdp_cost.c: fillers on 192.168.1.1 on, each
	# relaying to another): on-link, with neighbours.
	ip -n "$NS" route add 192.168.1.0/24 dev "$DEV"
	local i
	for i in $(seq 1 21); do
		ip -n "$NS" neigh add "192.168.1.$i" \
			lladdr "02:00:00:00:01:$(printf %02x "$i")" dev "$DEV" nud permanent
	done
	run_bounded 100 ip netns exec "$NS" "$BIN" -o "$RUN" -H "$PEER" "$@" "$DEV"
	local rc=$?
	ip netns del "$NS" 2>/dev/null || true
	return "$rc"
}

mkdir -p "$RUN"
rc=0
if part xdp_cost; then
	echo "=== xdp_cost: the relay's ns/packet" >&2
	xdp_cost "$@" || { echo "bench/run.sh: xdp_cost failed" >&2; rc=1; }
fi
if part media; then
	echo "=== media: natproxy, rtpengine and the ceiling" >&2
	run_bounded 600 bench/media.sh "$RUN" ||
		{ echo "bench/run.sh: media failed" >&2; rc=1; }
fi
if part signaling && [ -e bench/signaling.sh ]; then
	echo "=== signaling: natproxyd and Kamailio" >&2
	run_bounded 360 bash bench/signaling.sh "$RUN" ||
		{ echo "bench/run.sh: signaling failed" >&2; rc=1; }
fi
if part flood; then
	echo "=== flood: legitimate traffic under attack, natproxyd and Kamailio" >&2
	run_bounded 600 bash bench/flood.sh "$RUN" ||
		{ echo "bench/run.sh: flood failed" >&2; rc=1; }
fi
if part memory; then
	echo "=== memory: one read of a random flow entry, at each media scale" >&2
	for n in ${MB_SCALES:-10 10000 500000}; do
		run_bounded 60 build/bench/page_walk -f -4 -j -e "$n" -c "${MB_CPU:-0}" ||
			{ echo "bench/run.sh: page_walk failed" >&2; rc=1; break; }
	done >"$RUN/memory.jsonl"
fi

echo >&2
python3 bench/report.py "$RUN" "bench/results/bench-$STAMP.json" \
	"$(($(date +%s) - T0))" | tee "$RUN/table.txt"
exit "$rc"
