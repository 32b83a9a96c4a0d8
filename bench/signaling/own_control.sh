#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The control for bench/signaling/own_cpu.py (bench/README.md, "own work"):
# a trivial UDP echo (C: recvfrom, sendto) in a namespace whose device is
# acc0, a client one veth away sending N datagrams (500 bytes), one at a
# time. Prints the echo's CPU per datagram as /proc counts it and its own
# work as own_cpu.py counts it: the difference is the client namespace's
# receive of the replies, which the veth runs in the echo's sendto.
#
#   bench/signaling/own_control.sh [N]   (default 60000; as root, bench lock)
set -u
cd "$(dirname "$0")/../.."
N=${1:-60000}
A=npown$$a B=npown$$b TMP=$(mktemp -d)
EP= PP=
cleanup() {
	[ -n "$PP" ] && kill "$PP" 2>/dev/null
	[ -n "$EP" ] && kill "$EP" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
cat >"$TMP/echo.c" <<-'C'
	#include <netinet/in.h>
	#include <sys/socket.h>
	int main(void)
	{
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5099)};
		char buf[2048];
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
			return 1;
		for (;;) {
			socklen_t l = sizeof(a);
			ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&a, &l);
			if (n >= 0)
				sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&a, l);
		}
	}
C
cc -O2 -o "$TMP/echo" "$TMP/echo.c" || exit 1
ip netns add "$A" && ip netns add "$B" || exit 1
ip link add acc0 netns "$A" type veth peer name eth0 netns "$B" || exit 1
ip -n "$A" addr add 192.168.77.1/24 dev acc0
ip -n "$B" addr add 192.168.77.2/24 dev eth0
ip -n "$A" link set acc0 up && ip -n "$A" link set lo up && ip -n "$B" link set eth0 up
ip netns exec "$A" "$TMP/echo" &
EP=$!
sleep 0.3
perf record -q --sample-cpu -F 997 -e cpu-clock -g -e net:netif_receive_skb \
	-p "$EP" -o "$TMP/perf.data" >/dev/null 2>&1 &
PP=$!
sleep 0.5
t0=$(awk '{print $14 + $15}' "/proc/$EP/stat")
timeout 120 ip netns exec "$B" /usr/bin/python3 -c '
import socket, sys
n = int(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
for i in range(n):
    s.sendto(b"x" * 500, ("192.168.77.1", 5099)); s.recv(2048)' "$N" || exit 1
t1=$(awk '{print $14 + $15}' "/proc/$EP/stat")
kill -INT "$PP"; wait "$PP"; PP=
read -r samples foreign _ _ share < <(bench/signaling/own_cpu.py "$TMP/perf.data" acc0 lo)
awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v n="$N" -v sh="$share" -v s="$samples" -v f="$foreign" 'BEGIN {
	t = (b - a) * 1e6 / hz / n
	printf "echo, %d datagrams: process total %.2f us each, own work %.2f us, the client namespace'\''s receive %.2f us (%d samples, %d of them its receive)\n", n, t, t * sh, t * (1 - sh), s, f }'
