#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What a flow listing costs at the relay's largest array (1,048,576
# entries): `natproxyctl flows --json` and `status --json` wall time with
# 10 and with 10,000 IPv4 flows, for each natproxyctl given, side by side
# on the same pins (e.g. main's build against a branch's):
#   flock -x /tmp/np-bench.lock bench/flowlist.sh OLD_CTL build/natproxyctl
# The first binary attaches the relay to a veth in a netns of its own and
# adds the flows (natproxyctl flow add, one process each: some minutes for
# 10,000; FLOWLIST_FLOWS sets it). Prints the min and median of 7 runs
# of each command.
set -u
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 NATPROXYCTL..." >&2; exit 2; }
CTLS=("$@")
ADDCTL=$1
NS=npfl$$
RUN=/run/natproxy-test/npfl$$
PIN=$RUN/bpf/natproxy
cleanup() {
	ip netns exec "$NS" "$ADDCTL" --pin-dir "$PIN" detach fl0 >/dev/null 2>&1
	umount "$RUN/bpf" 2>/dev/null
	rm -rf "$RUN"
	ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link add fl0 type veth peer name fl1
ip -n "$NS" link set fl0 up
ip -n "$NS" link set fl1 up
# Pins on a bpffs of the initial mount namespace (ip netns exec remounts /sys).
mkdir -p "$RUN/bpf"
mount -t bpf bpf "$RUN/bpf"
ip netns exec "$NS" "$ADDCTL" --pin-dir "$PIN" attach fl0 >/dev/null 2>&1 || exit 1
# add FROM TO: flows FROM..TO-1, 40,000 relay ports an address.
add() {
	local i
	for ((i = $1; i < $2; i++)); do
		ip netns exec "$NS" "$ADDCTL" --pin-dir "$PIN" flow add \
			"203.0.113.$((1 + i / 40000)):$((20000 + i % 40000))" \
			--src "198.51.100.1:$((10000 + i % 50000))" \
			--dst 198.51.100.10:6000 >/dev/null || echo "flow add $i failed" >&2
	done
}
# timeit CTL CMD: min and median of 7 wall times, seconds.
timeit() {
	local s e
	for _ in 1 2 3 4 5 6 7; do
		s=$(date +%s%N)
		ip netns exec "$NS" "$1" --pin-dir "$PIN" "$2" --json >/dev/null
		e=$(date +%s%N)
		echo $((e - s))
	done | sort -n | awk '{a[NR] = $1} END {printf "min %.4f median %.4f", a[1] / 1e9, a[4] / 1e9}'
}
report() {
	local c n
	for c in "${CTLS[@]}"; do
		n=$(ip netns exec "$NS" "$c" --pin-dir "$PIN" status --json |
			/usr/bin/python3 -S -c 'import json, sys; print(json.load(sys.stdin)["flows"])')
		echo "$1 flows ($n counted) $c: flows [$(timeit "$c" flows)] status [$(timeit "$c" status)]"
	done
}
add 0 10
report 10
add 10 "${FLOWLIST_FLOWS:-10000}"
report "${FLOWLIST_FLOWS:-10000}"
