#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# natproxyd on a hostile access network (issue 11): an attacker at
# 203.0.113.30 (no NAT) sends SIP-shaped floods while terminal A (behind
# NAT 1) registers and calls the far end through natproxy and Kamailio.
# Asserts that requests which cannot lead to a call or registration cost no
# relay port, that REGISTERs from spoofed sources leave the last core ports
# to known subscribers and give theirs back soon, that one source's flood of new INVITEs is capped (calls,
# transactions, rate) without natproxyd growing, that a flood of junk is
# dropped before parsing with its log lines rate-limited, that a flooding
# source is blocked in XDP, and that A's calls complete throughout. Last, a
# REGISTER flood from 10,000 spoofed sources with a low
# unknown_signaling_rate: XDP drops it before the socket, while A, a known
# subscriber, registers again and calls. Then sources from several addresses
# of one /24 flood together: the /24 is blocked in XDP (natproxyctl blocks),
# A in it still registers and calls, and natproxyctl unblock lets a new
# address of it in again. And from the core network, a stranger floods one
# terminal's core port: its budget holds the flood back (bpf/siglookup.bpf.c)
# and A's call, whose signaling shares the core realm's socket, completes.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd under floods from the access network"
. tests/sip/topology.sh

sip_test_begin

CFG=$NP_RUN_DIR/natproxy.yaml
LOG=$NP_RUN_DIR/natproxyd.log
LISTEN=198.51.100.1:9100
cat >"$CFG" <<EOF2
realms:
  - name: access
    interface: acc0
    address: 203.0.113.1
    sip_port: 5060
    media_ports: 30000-30199
  - name: core
    interface: core0
    address: 198.51.100.1
    sip_ports: 20000-20099
    media_ports: 40000-40199
pairs:
  - first: access
    second: core
    softswitch: 198.51.100.2:5060
keepalive:
  method: options
  interval: 20
metrics:
  listen: $LISTEN
EOF2

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# metric NAME LABELS: a sample's value from natproxyd's metrics page (with
# LABELS ending in ",": the sum of the samples whose labels start so);
# nothing if the page cannot be had.
metric() {
	local prefix=$1
	case ${2:-} in
	'') prefix+=' ' ;;
	*,) prefix+="{$2" ;;
	*) prefix+="{$2}" ;;
	esac
	in_ns proxy tests/lib/http_get.sh "$LISTEN" |
		awk -v p="$prefix" 'NR == 1 {ok = $1 == 200; next}
			ok && index($0, p) == 1 {s += int($NF)} END {if (ok) print s + 0}'
}
# dropped: signaling datagrams dropped for their source so far, in XDP and
# in natproxyd.
dropped() {
	echo $(($(metric natproxy_signaling_dropped_total 'where="xdp"') +
		$(metric natproxy_signaling_dropped_total 'where="natproxyd"')))
}
verdict() { metric natproxy_xdp_verdicts_total "verdict=\"$1\""; }
flows() { ctl flows --json | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$NPD_PID/status"; }
# reload: natproxyd reads $CFG again (SIGHUP); 0 if it took it (10 s at most).
reload() { natproxyd_reload "$LOG"; }
# call_a NAME: A calls a far end started for this one call; both complete.
# A talks for a second: what matters here is its signaling getting through.
call_a() {
	local far
	sipp_spawn core "$1-far" uas -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000
	far=$SIP_LAST_PID
	sipp_run lan1 "$1" uac -i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 -s far -key user a -d 1000 "$SIP_PROXY_ACC_IP:5060" &&
		sip_wait "$far" 20
}
terms_at_most() { [ "$(metric natproxy_terminals 'pair="access/core"')" -le "$1" ]; }

natproxyd_start "$LOG" build/natproxyd -c "$CFG" --state "$NP_RUN_DIR/state"
check "natproxyd starts" test -n "${NPD_PID:-}"
check "A registers through its NAT" \
	sipp_run lan1 reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 300 "$SIP_PROXY_ACC_IP:5060"

# --- 1: requests that cannot lead to a call cost nothing ------------------------
# Today's main gave 50 OPTIONS with SDP (16 streams) all 100 relay pairs.
in_ns lan0 /usr/bin/python3 tests/lib/flood.py sdp-options 203.0.113.1 5060 40 200 16 >/dev/null
in_ns lan0 /usr/bin/python3 tests/lib/flood.py sdp-options 203.0.113.1 5060 10 200 1 >/dev/null
check_eq "1: 50 OPTIONS with SDP from a stranger: no flow, no terminal for it" \
	"0 1" "$(flows) $(metric natproxy_terminals 'pair="access/core"')"
check "1: A's call completes after them" call_a call-1

# --- 2: REGISTERs from spoofed sources cannot lock subscribers out --------------
# Today's main gave 10,000 spoofed sources every core port for 60 s.
out=$(in_ns lan0 /usr/bin/python3 tests/lib/flood.py spoof-register 203.0.113.1 5060 2000 1000 2000)
flooded=$SECONDS
diag "2: spoofed REGISTERs: sent, rate: $out"
terms=$(metric natproxy_terminals 'pair="access/core"')
check "2: newcomers stop at the reserve: at most 91 of the 100 core ports held ($terms)" \
	test "$terms" -le 91
check "2: A, its NAT mapping changed, registers again (a known subscriber may use the reserve)" \
	sipp_run lan1 reg-a2 register -i "$SIP_A_IP" -p 5062 -key user a -key expires 300 "$SIP_PROXY_ACC_IP:5060"

# --- 4: junk at high rate: dropped before parsing, few log lines ----------------
# While section 2's newcomers wait out their 16 s: junk makes no terminal.
lines0=$(grep -c 'malformed SIP' "$LOG") dropped0=$(dropped)
in_ns lan0 /usr/bin/python3 tests/lib/flood.py junk 203.0.113.1 5060 60000 20000 >"$NP_RUN_DIR/junk.out" &
JUNK=$!
check "4: A's call completes during a junk flood" call_a call-4
wait "$JUNK"
diag "4: junk flood: sent, rate: $(cat "$NP_RUN_DIR/junk.out")"
lines=$(($(grep -c 'malformed SIP' "$LOG") - lines0))
check "4: at most 10 malformed-SIP lines per 10 s, not one per datagram ($lines)" \
	test "$lines" -le 30
check "4: natproxyd is still running" _sip_running "$NPD_PID"
check "4: the flood stayed on the rate limit or the block ($(($(dropped) - dropped0)) dropped)" \
	test $(($(dropped) - dropped0)) -gt 10000

# A newcomer that never registered holds its port 16 s (NEWCOMER_LIFETIME).
wait_for 20 terms_at_most 2
terms=$(metric natproxy_terminals 'pair="access/core"') took=$((SECONDS - flooded))
check "2: within 20 s of the flood the spoofed sources' terminals are gone ($terms left after $took s)" \
	test "$terms" -le 2 -a "$took" -le 20
check "2: then B, a new subscriber, registers" \
	sipp_run lan2 reg-b register -i "$SIP_B_IP" -p 5060 -key user b -key expires 300 "$SIP_PROXY_ACC_IP:5060"

# --- 3: one source's INVITE flood is capped, natproxyd does not grow ------------
rss0=$(rss_kb) dropped0=$(dropped) blocks0=$(metric natproxy_signaling_guard_blocks_total)
blocked0=$(verdict drop-blocked-source)
out=$(in_ns lan0 /usr/bin/python3 tests/lib/flood.py invite 203.0.113.1 5060 6000 3000)
diag "3: INVITE flood: sent, rate: $out"
calls=$(metric natproxy_calls_active 'pair="access/core"')
check "3: the flooding terminal holds at most max_calls_per_terminal (32) calls ($calls)" \
	test "$calls" -le 32
check "3: the rate limit dropped most of the flood unread" \
	test $(($(dropped) - dropped0)) -gt 1000
check "3: the flooding mapping was blocked in XDP, which dropped the rest" \
	test $(($(metric natproxy_signaling_guard_blocks_total) - blocks0)) -ge 1 -a \
	$(($(verdict drop-blocked-source) - blocked0)) -gt 1000
rss1=$(rss_kb)
diag "3: natproxyd RSS $rss0 kB before, $rss1 kB after"
check "3: natproxyd grew by less than 16 MB ($rss0 -> $rss1 kB)" \
	test $((rss1 - rss0)) -lt 16384
check "3: A's call completes after the flood" call_a call-3

# --- 5: 10,000 spoofed sources: dropped in XDP, a known subscriber rides through
# Unknown sources may send 100 datagrams/s to the SIP port (a reload);
# A, registered (its mapping known), is never held back by that.
sed -i 's/^    sip_port: 5060$/&\n    unknown_signaling_rate: 100\n    unknown_signaling_burst: 100/' "$CFG"
check "5: natproxyd reloads with unknown_signaling_rate 100" reload
check "5: A registers (known to XDP from now on)" \
	sipp_run lan1 reg-a5 register -i "$SIP_A_IP" -p 5060 -key user a -key expires 300 "$SIP_PROXY_ACC_IP:5060"
rate0=$(verdict drop-unknown-over-rate)
known0=$(verdict pass-signaling-known)
regs0=$(metric natproxy_sip_requests_received_total 'realm="access",method="REGISTER"')
# From 198.18.0.0/16, routed to C's side of the access network as a real
# access network routes its customers' prefixes (C drops what comes back).
in_ns proxy ip route add 198.18.0.0/16 via "$SIP_C_IP" dev acc0
in_ns lan0 /usr/bin/python3 tests/lib/flood.py spoof-register 203.0.113.1 5060 35000 5000 10000 198.18 >"$NP_RUN_DIR/spoof.out" &
SPOOF=$!
sleep 0.5
check "5: during the flood A registers again" \
	sipp_run lan1 reg-a5b register -i "$SIP_A_IP" -p 5060 -key user a -key expires 300 "$SIP_PROXY_ACC_IP:5060"
check "5: during the flood A's call completes" call_a call-5
flooding=no
_sip_running "$SPOOF" && flooding=yes
wait "$SPOOF"
read -r sent _ <"$NP_RUN_DIR/spoof.out"
diag "5: spoofed flood: sent, rate: $(cat "$NP_RUN_DIR/spoof.out"); still flooding after A's call: $flooding"
check_eq "5: the flood lasted until A's call was over" yes "$flooding"
xdp=$(($(verdict drop-unknown-over-rate) - rate0))
regs=$(($(metric natproxy_sip_requests_received_total 'realm="access",method="REGISTER"') - regs0))
check "5: XDP dropped most of the $sent spoofed REGISTERs ($xdp)" \
	test "$xdp" -gt $((sent * 3 / 4))
check "5: natproxyd read few of them (REGISTERs received: $regs)" \
	test "$regs" -lt $((sent / 10))
check "5: A's datagrams went by the known sources' lane" \
	test "$(verdict pass-signaling-known)" -gt "$known0"

# --- 6: a /24 over max_requests_per_prefix: blocked in XDP, unblocked by hand ---
# 20 addresses of the access /24 (spoofed by C) flood together, each far
# below its own limits; together they go over the prefix's. A (behind NAT
# 1, 203.0.113.11) is in the same /24 and known; 203.0.113.31, a new
# address of C's, is not.
sed -i 's/^    unknown_signaling_burst: 100$/&\n    max_requests_per_prefix: 50\n    block_time: 120/' "$CFG"
check "6: natproxyd reloads with max_requests_per_prefix 50, block_time 120" reload
in_ns lan0 ip addr add 203.0.113.31/24 dev eth0
probe() { in_ns lan0 /usr/bin/python3 tests/lib/sip_probe.py 203.0.113.31:5070 "$SIP_PROXY_ACC_IP:5060" "$1"; }
# prefix_left: seconds left of the /24's block (natproxyctl blocks --json), or nothing.
prefix_left() {
	ctl blocks --json | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    b = json.loads(line)
    if b["kind"] == "prefix" and b["source"] == "203.0.113.0/24":
        print(b["seconds_left"])'
}
blocked0=$(verdict drop-blocked-source)
out=$(in_ns lan0 /usr/bin/python3 tests/lib/flood.py spoof-register 203.0.113.1 5060 600 300 20)
diag "6: REGISTERs from 203.0.113.100-119: sent, rate: $out"
left=$(prefix_left)
diag "6: natproxyctl blocks: $(ctl blocks --json | tr '\n' ' ')"
check "6: natproxyctl blocks --json lists the prefix 203.0.113.0/24 ($left s left)" \
	test -n "$left"
blocked1=$(verdict drop-blocked-source)
check "6: XDP dropped the rest of the flood as from a blocked source ($((blocked1 - blocked0)))" \
	test $((blocked1 - blocked0)) -gt 200
out=$(probe 3)
blocked2=$(verdict drop-blocked-source)
check_eq "6: another address of the /24 gets no answer" "no answer" "$out"
check "6: ... its REGISTERs were dropped in XDP as from a blocked source" \
	test "$blocked2" -gt "$blocked1"
known0=$(verdict pass-signaling-known)
check "6: A, known, in the blocked /24, registers again" \
	sipp_run lan1 reg-a6 register -i "$SIP_A_IP" -p 5060 -key user a -key expires 300 "$SIP_PROXY_ACC_IP:5060"
check "6: ... and calls" call_a call-6
check "6: A's datagrams went by the known sources' lane" \
	test "$(verdict pass-signaling-known)" -gt "$known0"
left=$(prefix_left)
check "6: the /24 is still blocked, for long yet ($left s left)" test "${left:-0}" -gt 60
out=$(ctl unblock 203.0.113.0/24)
check_eq "6: natproxyctl unblock 203.0.113.0/24" "unblocked prefix 203.0.113.0/24" "$out"
check_eq "6: ... natproxyctl blocks no longer lists it" "" "$(prefix_left)"
out=$(probe 5)
diag "6: after the unblock, the probe's answer: $out"
check "6: the new address's REGISTER is answered ($out)" \
	eval '[[ $out == "SIP/2.0 "* ]]'
# --- 7: a flood on one terminal's core port, from the core network ------------
# B registers; a stranger on the core network (not the softswitch) sends
# junk to B's core port. Every terminal port of the realm shares one socket
# (ctl/termsock.h): the lookup lets a port's budget through and drops the
# rest, so A's call, whose requests and answers reach A's core port, goes
# on.
check "7: B registers through NAT 2" \
	sipp_run lan2 reg-b7 register -i "$SIP_B_IP" -p 5060 -key user b -key expires 300 "$SIP_PROXY_ACC_IP:5060"
b_port=$(kamailio_contacts b | sed -n 's/^sip:b@[0-9.]*:\([0-9]*\).*/\1/p' | head -1)
FLOOD_FROM=$SIP_CORE_UA_IP in_ns core /usr/bin/python3 tests/lib/flood.py junk \
	"$SIP_PROXY_CORE_IP" "${b_port:-1}" 100000 20000 >"$NP_RUN_DIR/core-flood.out" &
CORE_FLOOD=$!
check "7: during a flood of B's core port ($b_port) from $SIP_CORE_UA_IP, A's call completes" call_a call-7
flooding=no
kill -0 "$CORE_FLOOD" 2>/dev/null && flooding=yes
wait "$CORE_FLOOD"
sleep 1.5 # the tick that says the last second's drops
diag "7: core flood: sent, rate: $(cat "$NP_RUN_DIR/core-flood.out"); still flooding after A's call: $flooding"
check_eq "7: the flood lasted until A's call was over" yes "$flooding"
over=$(grep -o '[0-9]* datagrams to terminals. core ports dropped' "$LOG" | awk '{n += $1} END {print n + 0}')
check "7: the lookup dropped most of the flood over B's port's budget ($over)" \
	test "$over" -gt 30000
check_eq "7: the metric counts what the log said" "$over" \
	"$(metric natproxy_terminal_port_over_budget_total)"
check "7: natproxyd is still running" kill -0 "$NPD_PID"

[ -n "${HOSTILE_KEEP:-}" ] && cp -r "$NP_RUN_DIR" /tmp/hostile-run
tap_done
