#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's first command: builds a demo topology in network namespaces
# (terminal, natproxy, far end), attaches the XDP relay to natproxy's two
# interfaces, installs one RTP stream both ways as static flows, sends RTP
# through it in both directions, and prints the flow counters and the raw
# map as bpftool shows it. Everything is removed at the end.
set -eu
cd "$(dirname "$0")/.."
. tests/lib/netns.sh

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces and XDP)" >&2
	exit 1
fi
trap np_topology_down EXIT
np_topology_up
ctl() { in_proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }

echo "== attach the relay to natproxy's access (acc0) and core (core0) sides"
ctl attach acc0
ctl attach core0

echo "== one stream: terminal 203.0.113.20 <-> relay 203.0.113.1:30000 | 198.51.100.1:40000 <-> far end 198.51.100.10:6000"
ctl flow add 203.0.113.1:30000 --src 198.51.100.1:40000 \
	--dst 198.51.100.10:6000 --latch --strict --reverse 198.51.100.1:40000 --dscp 46
ctl flow add 198.51.100.1:40000 --src 203.0.113.1:30000 --dscp 46

echo "== 250 RTP packets (5 s of G.711) each way"
in_term tests/lib/udp.py send 203.0.113.20:4000 203.0.113.1:30000 250
in_core tests/lib/udp.py send 198.51.100.10:6000 198.51.100.1:40000 250

echo "== natproxyctl flows"
ctl flows
echo "== bpftool map dump pinned $NP_PIN_DIR/np_counters_v1 (per CPU)"
bpftool map dump pinned "$NP_PIN_DIR/np_counters_v1" | grep -E '"(port|packets|bytes)"' | head -12
echo "== natproxyctl status"
ctl status
ctl detach acc0
ctl detach core0
