#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The offer/answer suite (docs/sip.md): one natproxyd, started once, between
# two scripted peers, a "terminal" on the access network (203.0.113.30, a
# second one at .31, no NAT) and a "softswitch" socket at the pair's
# softswitch address (198.51.100.2:5060) playing Kamailio; a stranger at
# 198.51.100.20 in the core. tests/oa/oa.py runs every case of
# tests/oa/cases.py in one process and prints TAP; cases of features not
# there yet are "# TODO issue 10". OA_ONLY=REGEX runs the cases whose name
# matches (plus the registrations every case needs); OA_VERBOSE=1 prints
# every message sent and received.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "offer/answer suite against natproxyd"
. tests/sip/topology.sh

trap sip_topology_down EXIT
trap 'exit 1' INT TERM HUP PIPE
sip_topology_up || { echo "not ok 1 - topology"; echo "1..1"; exit 1; }
# The second terminal and the core's stranger, on the same links.
in_ns lan0 ip addr add 203.0.113.31/24 dev eth0

CFG=$NP_RUN_DIR/natproxy.yaml
LOG=$NP_RUN_DIR/natproxyd.log
export OA_CHARGING=$NP_RUN_DIR/charging.log OA_STATE=$NP_RUN_DIR/state
export OA_LOG=$LOG OA_CTL=$PWD/build/natproxyctl
# media_timeout and the keepalive interval are long: nothing natproxy sends
# by itself may reach a peer during the suite.
cat >"$CFG" <<CONF
realms:
  - name: access
    interface: acc0
    address: 203.0.113.1
    sip_port: 5060
    media_ports: 30000-30999
    media_timeout: 3600
  - name: core
    interface: core0
    address: 198.51.100.1
    sip_ports: 20000-20999
    media_ports: 40000-40999
    media_timeout: 3600
pairs:
  - first: access
    second: core
    softswitch: 198.51.100.2:5060
keepalive:
  method: options
  interval: 3600
charging:
  file: $OA_CHARGING
CONF

if ! natproxyd_start "$LOG" build/natproxyd -c "$CFG" --state "$OA_STATE"; then
	echo "not ok 1 - natproxyd starts"
	sed 's/^/# /' "$LOG"
	echo "1..1"
	exit 1
fi
OA_NPD_PID=$NPD_PID timeout -k 5 100 python3 tests/oa/oa.py tests/oa/cases.py
rc=$?
if [ -n "${OA_KEEP_LOG:-}" ]; then cp "$LOG" "$OA_KEEP_LOG"; fi
exit $rc
