# SPDX-License-Identifier: GPL-2.0-only
# Network-namespace topology for natproxy's tests and demo, sourced by bash
# scripts. Everything it creates carries the run's prefix and is removed by
# np_topology_down, which the caller traps on EXIT so a failing test cleans up
# too. Addresses: terminal 203.0.113.20 on the access network, the proxy at
# 203.0.113.1 (acc0) and 198.51.100.1 (core0), the far end at 198.51.100.10.

NP_RUN=${NP_RUN:-np$$}
NS_TERM=${NP_RUN}-term
NS_PROXY=${NP_RUN}-proxy
NS_CORE=${NP_RUN}-core
NP_RUN_DIR=/run/natproxy-test/$NP_RUN
NP_PIN_DIR=$NP_RUN_DIR/bpf/natproxy
NP_PIDS=()

in_term() { ip netns exec "$NS_TERM" "$@"; }
in_proxy() { ip netns exec "$NS_PROXY" "$@"; }
in_core() { ip netns exec "$NS_CORE" "$@"; }

# Starts a background process we own and remembers its PID for cleanup.
# Give it a command, not a shell function: a function would run in a
# subshell whose PID is not the process to stop.
np_spawn() {
	"$@" &
	NP_LAST_PID=$!
	NP_PIDS+=($!)
}

# Stops the processes np_spawn started, by PID, and reaps them.
np_topology_kill_spawned() {
	local pid
	for pid in "${NP_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	np_topology_wait_spawned
}

# Waits for the processes np_spawn started (each bounded in time).
np_topology_wait_spawned() {
	local pid
	for pid in "${NP_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	NP_PIDS=()
}

np_topology_up() {
	ip netns add "$NS_TERM"
	ip netns add "$NS_PROXY"
	ip netns add "$NS_CORE"
	ip link add t0 netns "$NS_TERM" type veth peer name acc0 netns "$NS_PROXY"
	ip link add c0 netns "$NS_CORE" type veth peer name core0 netns "$NS_PROXY"
	in_term ip addr add 203.0.113.20/24 dev t0
	in_term ip addr add 2001:db8:1::20/64 dev t0 nodad
	in_proxy ip addr add 203.0.113.1/24 dev acc0
	in_proxy ip addr add 2001:db8:1::1/64 dev acc0 nodad
	in_proxy ip addr add 198.51.100.1/24 dev core0
	in_proxy ip addr add 2001:db8:2::1/64 dev core0 nodad
	in_core ip addr add 198.51.100.10/24 dev c0
	in_core ip addr add 2001:db8:2::10/64 dev c0 nodad
	for ns in "$NS_TERM" "$NS_PROXY" "$NS_CORE"; do
		ip -n "$ns" link set lo up
		for dev in $(ip -n "$ns" -o link show type veth | awk -F': |@' '{print $2}'); do
			ip -n "$ns" link set "$dev" up
		done
	done
	# Nothing tuned: every veth keeps the kernel's defaults (checksum
	# offload on, GRO off, no XDP on the outer ends). np_fast_peers turns
	# on what XDP needs to send into the outer ends, for the checks that
	# are about that path.
	mkdir -p "$NP_RUN_DIR/bpf"
	# Pins must live on a bpffs of the initial mount namespace: one made
	# inside `ip netns exec` vanishes when that command exits.
	mount -t bpf bpf "$NP_RUN_DIR/bpf"
}

# np_fast_peers: GRO on the outer ends, which lets a veth take what XDP
# sends into it (its peer then advertises ndo_xdp_xmit); natproxy notices
# within a second (natproxyd) or on attach (natproxyctl).
np_fast_peers() {
	in_term ethtool -K t0 gro on >/dev/null &&
		in_core ethtool -K c0 gro on >/dev/null
}

np_topology_down() {
	local ns
	np_topology_kill_spawned
	for ns in "$NS_TERM" "$NS_PROXY" "$NS_CORE"; do
		ip netns del "$ns" 2>/dev/null
	done
	if mountpoint -q "$NP_RUN_DIR/bpf" 2>/dev/null; then
		umount "$NP_RUN_DIR/bpf"
	fi
	rm -rf "$NP_RUN_DIR"
	rmdir /run/natproxy-test 2>/dev/null
	return 0
}
