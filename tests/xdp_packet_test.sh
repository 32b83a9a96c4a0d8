#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs build/tests/xdp_packet_test in a network namespace of its own, where
# bpf_fib_lookup has routes and neighbours to find: a0 (203.0.113.1/24,
# 2001:db8:1::1/64) and b0 (198.51.100.1/24, 2001:db8:2::1/64), one end of
# two veth pairs, with forwarding on and permanent neighbours at the fixed
# MACs the C test expects (its neighs[] table). 198.51.100.99 and
# 2001:db8:2::99 are on-link without a neighbour; 192.0.2.1 and
# 2001:db8:99::1 have no route. The namespace goes away on exit, whatever
# happens. Without root or namespaces every case is reported as skipped,
# never as passed. Exits with the test's status.
set -u
cd "$(dirname "$0")/.."

BIN=build/tests/xdp_packet_test
NS=np-xdp-test-$$

if [ ! -x "$BIN" ]; then
	echo "Bail out! $BIN is not built (make $BIN)"
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	exec "$BIN" --skip "needs root"
fi

CHILD=
cleanup() {
	if [ -n "$CHILD" ]; then
		kill "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A subshell with -e: the first failing command fails the whole setup (as
# long as it is not called as a condition, where bash ignores -e).
setup() (
	set -e
	ip netns add "$NS"
	ip -n "$NS" link add a0 type veth peer name a1
	ip -n "$NS" link add b0 type veth peer name b1
	for dev in lo a0 a1 b0 b1; do
		ip -n "$NS" link set "$dev" up
	done
	ip -n "$NS" addr add 203.0.113.1/24 dev a0
	ip -n "$NS" addr add 2001:db8:1::1/64 dev a0 nodad
	ip -n "$NS" addr add 198.51.100.1/24 dev b0
	ip -n "$NS" addr add 2001:db8:2::1/64 dev b0 nodad
	# bpf_fib_lookup answers FWD_DISABLED unless the ingress forwards.
	ip netns exec "$NS" sysctl -qw net.ipv4.conf.all.forwarding=1 \
		net.ipv4.conf.a0.forwarding=1 net.ipv4.conf.b0.forwarding=1 \
		net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.a0.forwarding=1 net.ipv6.conf.b0.forwarding=1
	ip -n "$NS" neigh add 203.0.113.20 lladdr 02:00:00:00:00:20 \
		dev a0 nud permanent
	ip -n "$NS" neigh add 198.51.100.10 lladdr 02:00:00:00:00:10 \
		dev b0 nud permanent
	ip -n "$NS" neigh add 2001:db8:1::20 lladdr 02:00:00:00:01:20 \
		dev a0 nud permanent
	ip -n "$NS" neigh add 2001:db8:2::10 lladdr 02:00:00:00:01:10 \
		dev b0 nud permanent
)

err=$(setup 2>&1)
if [ $? -ne 0 ]; then
	echo "$err" | sed 's/^/# /'
	"$BIN" --skip "cannot build the test namespace"
	exit $?
fi
# In the background, so that a signal is handled (and the test stopped) at
# once rather than after the test ends.
ip netns exec "$NS" "$BIN" &
CHILD=$!
wait "$CHILD"
rc=$?
CHILD=
exit $rc
