#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# High availability without Redis as a single point (docs/ha.md,
# "Sentinel"): a Redis master, two replicas and three Redis Sentinels in
# the core; two natproxy nodes configured with the sentinels, not with a
# Redis address. The SIP topology of tests/sip/, node b beside node a as in
# tests/e2e/ha.sh but without keepalived: a holds the addresses (the
# topology gives them to it) and acts, b has none and follows.
#   config     both redis and sentinels, or sentinels without a master
#              name: natproxyd --check says what is wrong
#   start      both nodes find the master through the first sentinel; a
#              acts, b follows a: it holds a's calls and their flows
#   failover   the master killed (-9) under HA_CALLS calls (default 2) with
#              RTP both ways: the sentinels promote a replica; both nodes
#              find it (log, metrics), a writes its whole state there and
#              holds its lease there, acting throughout (never fenced),
#              while b never sees the lease free and follows a again with
#              every flow; the media never pauses at the terminal or the
#              far end (gap measured per call)
#   demoted    a failover asked of the sentinels while the master is alive:
#              the old master becomes a replica that refuses writes, both
#              nodes leave it for the new one
#   charging   the calls end after the failovers: exactly one charging
#              record each, in the list on the current master
#   heartbeat  the nodes' heartbeat, with a key (heartbeat_key): they hear
#              each other; "active" beats forged from b's address with a
#              wrong MAC, and one of b's own beats played back, are refused
#              and counted by a, which stays active and still hears b as
#              standby
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "redis sentinel failover (two natproxy nodes, redis, sentinels)"
require_tools "redis sentinel" redis-server redis-sentinel redis-cli
. tests/sip/topology.sh
. tests/lib/ha_nodes.sh
SIP_NAMESPACES+=(proxyb)

HA_CALLS=${HA_CALLS:-2}
VIP_ACC=$SIP_PROXY_ACC_IP
B_ACC=203.0.113.4 B_CORE=198.51.100.4
# Everything Redis on one core address (its own traffic stays local).
REDIS_IP=198.51.100.50 PORTS=(6379 6380 6381) SENTINELS=(26379 26380 26381)
HA=$NP_RUN_DIR/ha
CTL=$HA/ua
PY=/usr/bin/python3

rcli() { local port=$1; shift; in_ns core redis-cli -h "$REDIS_IP" -p "$port" "$@" 2>/dev/null; }
# master_port: the master's port as the first sentinel names it.
master_port() { rcli "${SENTINELS[0]}" sentinel get-master-addr-by-name np | sed -n 2p; }
# agreed OLD: every sentinel names one master, not OLD, that says it is
# the master, and none has it down or in a failover.
agreed() {
	local s p=$(master_port)
	[ -n "$p" ] && [ "$p" != "$1" ] && [ "$(rcli "$p" role | head -1)" = master ] || return 1
	for s in "${SENTINELS[@]}"; do
		[ "$(rcli "$s" sentinel get-master-addr-by-name np | sed -n 2p)" = "$p" ] &&
			[ "$(rcli "$s" sentinel master np | grep -A1 -x flags | tail -1)" = master ] || return 1
	done
}
# settled OLD: agreed, and still a second later: with a down-after of 1 s,
# a sentinel may find the master it just promoted down and fail over once
# more (seen on this shared machine).
settled() { agreed "$1" && sleep 1.2 && agreed "$1"; }

# standby_topology: node b's namespace on the access bridge and on a core
# bridge made of the core's link, with addresses of its own only.
standby_topology() {
	local a
	sip_veth proxyb acc0 acc p-proxyb && in_ns acc ip link set p-proxyb master br0 || return 1
	in_ns core ip link add brc type bridge && in_ns core ip link set brc up &&
		in_ns core ip addr flush dev eth0 || return 1
	for a in "$SIP_KAM_IP" "$SIP_FAR_IP" "$SIP_CORE_UA_IP" "$REDIS_IP"; do
		in_ns core ip addr add "$a/24" dev brc || return 1
	done
	in_ns core ip link set eth0 master brc && sip_veth proxyb core0 core eth1 &&
		in_ns core ip link set eth1 master brc &&
		in_ns proxyb ip addr add "$B_ACC/24" dev acc0 &&
		in_ns proxyb ip addr add "$B_CORE/24" dev core0
}

# redis_up PORT [MASTER_PORT]: a redis-server on PORT (a replica of
# MASTER_PORT if given), nothing saved; its PID in REDIS_PID_<PORT>. Its
# address announced: connections between servers on one address of a
# bridge leave from the bridge's first address.
redis_up() {
	local extra=(--replica-announce-ip "$REDIS_IP" --repl-diskless-sync-delay 0)
	[ $# -gt 1 ] && extra+=(--replicaof "$REDIS_IP" "$2")
	sip_spawn core redis-server --bind "$REDIS_IP" --port "$1" --save '' --appendonly no \
		--protected-mode no --dir "$HA" "${extra[@]}" >>"$HA/redis-$1.log" 2>&1
	eval "REDIS_PID_$1=$SIP_LAST_PID"
	wait_for 5 eval "rcli $1 ping >/dev/null"
}

# sentinel_up PORT: a sentinel (Debian's redis-sentinel) watching master
# "np": down after 1 s without an answer, two of three agree.
sentinel_up() {
	cat >"$HA/sentinel-$1.conf" <<-EOF
		bind $REDIS_IP
		port $1
		protected-mode no
		dir $HA
		sentinel announce-ip $REDIS_IP
		sentinel monitor np $REDIS_IP ${PORTS[0]} 2
		sentinel down-after-milliseconds np 1000
		sentinel failover-timeout np 4000
		sentinel parallel-syncs np 2
	EOF
	sip_spawn core redis-sentinel "$HA/sentinel-$1.conf" >>"$HA/sentinel-$1.log" 2>&1
}

# sentinels_ready N MASTER_PORT: every sentinel sees the two others and N
# replicas, all up (no s_down flag), and the master has them in sync (a
# failover needs them).
sentinels_ready() {
	local s
	for s in "${SENTINELS[@]}"; do
		rcli "$s" sentinel ckquorum np | grep -q '^OK 3 usable' &&
			[ "$(rcli "$s" sentinel sentinels np | grep -A1 -x flags | grep -cx sentinel)" = 2 ] &&
			[ "$(rcli "$s" sentinel replicas np | grep -A1 -x flags | grep -cx slave)" = "$1" ] ||
			return 1
	done
	[ "$(rcli "$2" info replication | grep -c 'state=online')" = "$1" ]
}

# node_cfg N PEER [CLUSTER_LINES]: node N's configuration; the cluster
# section's Redis lines default to the three sentinels and master np. The
# lease outlives a failover (about 2.5 s here): an active node cut off from
# Redis longer than its lease may no longer count on it. The heartbeat on
# each node's own core address (a's is the topology's: a keeps it here),
# MAC'd with one key.
hb_ip() { [ "$1" = a ] && echo "$SIP_PROXY_CORE_IP" || echo "$B_CORE"; }
HB_KEY=$HA/heartbeat.key
node_cfg() {
	local redis=${3:-"  sentinels: [$REDIS_IP:${SENTINELS[0]}, $REDIS_IP:${SENTINELS[1]}, $REDIS_IP:${SENTINELS[2]}]
  master: np"}
	mkdir -p "$HA/$1"
	proxy_config "$HA/$1.yaml" sip "" "" "keepalive:
  method: options
  interval: 2" "charging:
  file: $HA/$1/charging-$1.log" "metrics:
  listen: 127.0.0.1:9917" "cluster:
$redis
  node: $1
  peer: $2
  lease_ms: 4000
  heartbeat: $(hb_ip "$1"):7400
  peer_heartbeat: $(hb_ip "$2"):7400
  heartbeat_key: $HB_KEY"
}

sip_topology_up || { echo "not ok - topology"; exit 1; }
trap sip_topology_down EXIT
trap 'exit 1' INT TERM HUP PIPE
mkdir -p "$CTL"
standby_topology || { echo "not ok - standby topology"; exit 1; }
kamailio_start || { echo "not ok - kamailio"; exit 1; }

# --- config --------------------------------------------------------------------
# check_says N WHAT: natproxyd --check on node N's file fails, saying WHAT.
check_says() {
	local out
	out=$(in_ns "$(ns_of "$1")" build/natproxyd -c "$HA/$1.yaml" --pin-dir "$NP_RUN_DIR/bpf/$1" --check 2>&1) && return 1
	echo "$out" | grep -qF "$2" || { echo "# got: $out"; return 1; }
}
mkdir -p "$HA"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HB_KEY")
node_cfg a b "  redis: $REDIS_IP:${PORTS[0]}
  sentinels: [$REDIS_IP:${SENTINELS[0]}]
  master: np"
check "config: redis and sentinels both: --check says to give one" \
	check_says a "'redis' and 'sentinels' in cluster: give one Redis, or the sentinels that name its master, not both"
node_cfg a b "  sentinels: [$REDIS_IP:${SENTINELS[0]}]"
check "config: sentinels without the master's name: --check asks for it" \
	check_says a "missing required key 'master' in cluster: the name the sentinels monitor"
node_cfg a b
node_cfg b a
check "config: the sentinels' configuration passes --check" \
	eval 'in_ns proxy build/natproxyd -c "$HA/a.yaml" --pin-dir "$NP_RUN_DIR/bpf/a" --check >/dev/null'

# --- start ---------------------------------------------------------------------
redis_up "${PORTS[0]}"
redis_up "${PORTS[1]}" "${PORTS[0]}"
redis_up "${PORTS[2]}" "${PORTS[0]}"
for s in "${SENTINELS[@]}"; do sentinel_up "$s"; done
check "start: three sentinels agree on the master and its two replicas" wait_for 15 sentinels_ready 2 "${PORTS[0]}"
check "start: natproxyd a starts" npd_start a
check "start: natproxyd b starts" npd_start b
check "start: a, with the addresses, takes the lease and acts; b stands by" \
	wait_for 10 eval 'role_is a active && role_is b standby'
check "start: both found the master through the first sentinel" \
	eval 'grep -q "connected to redis $REDIS_IP:${PORTS[0]} (master .np., as sentinel $REDIS_IP:${SENTINELS[0]} says)" "$HA/a/natproxyd-a.log" &&
		grep -q "connected to redis $REDIS_IP:${PORTS[0]} (master" "$HA/b/natproxyd-b.log"'
check_eq "start: the metrics name that master, no failover yet" "1 0 1 0" \
	"$(metric a "natproxy_cluster_redis_master{address=\"$REDIS_IP:${PORTS[0]}\"}") $(metric a natproxy_cluster_redis_failovers_total) $(metric b "natproxy_cluster_redis_master{address=\"$REDIS_IP:${PORTS[0]}\"}") $(metric b natproxy_cluster_redis_failovers_total)"
check "start: b follows a" wait_for 5 grep -q "following 'a'" "$HA/b/natproxyd-b.log"

sip_spawn core $PY tests/lib/ha_ua.py uas "$SIP_FAR_IP" "$CTL"
UAS=$SIP_LAST_PID
sip_spawn lan1 $PY tests/lib/ha_ua.py uac "$SIP_A_IP" "$VIP_ACC" "$HA_CALLS" a "$CTL"
UAC=$SIP_LAST_PID
check "start: $HA_CALLS calls through a are up" wait_for 30 uac_all up
want_flows=$((HA_CALLS * 4))
check "start: b holds a's $want_flows flows in its own maps" \
	wait_for 5 eval '[ "$(n_flows b)" = "$want_flows" ] && [ "$(n_flows a)" = "$want_flows" ]'
check "start: b's flows hold a's latched NAT mapping" \
	wait_for 5 eval '[ "$(latched_to_nat b)" -ge 1 ] && [ "$(latched_to_nat b)" = "$(latched_to_nat a)" ]'

# --- heartbeat: authenticated, once-only ------------------------------------------
# forge_beats: from the core namespace, 20 "active" beats in b's name from
# b's heartbeat address with a MAC of another key, then one of b's own
# beats (read off the core bridge) played back 3 times, all to a's.
forge_beats() {
	in_ns core $PY - "$(hb_ip b)" "$(hb_ip a)" <<-'EOF'
	import os, socket, struct, sys, time
	sys.path.insert(0, "tests/lib")
	from flood import spoofed
	b, a = sys.argv[1], sys.argv[2]
	raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
	for seq in range(1, 21):
	    text = "nphb2 b natproxy active %016x %d 0 0000000000000000 0 %s" % (
	        0x5eed, 10**9 + seq, os.urandom(32).hex())
	    raw.sendto(spoofed(b, 7400, a, 7400, text.encode()), (a, 0))
	sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
	sniff.settimeout(0.2)
	end = time.monotonic() + 3
	while time.monotonic() < end:
	    try:
	        frame = sniff.recv(2048)
	    except socket.timeout:
	        continue
	    if frame[12:14] != b"\x08\x00":
	        continue
	    pkt = frame[14:]
	    hl = (pkt[0] & 15) * 4
	    if (pkt[9] == 17 and socket.inet_ntoa(pkt[12:16]) == b and
	            socket.inet_ntoa(pkt[16:20]) == a and
	            struct.unpack("!H", pkt[hl + 2:hl + 4])[0] == 7400):
	        time.sleep(0.3)
	        for _ in range(3):
	            raw.sendto(spoofed(b, 7400, a, 7400, pkt[hl + 8:]), (a, 0))
	        sys.exit(0)
	sys.exit(1)
	EOF
}
refused() { metric a "natproxy_cluster_heartbeats_refused_total{reason=\"$1\"}"; }
check "heartbeat: a hears b standing by, b hears a active (one key)" \
	wait_for 5 eval '[ "$(metric a "natproxy_cluster_peer{state=\"standby\"}")" = 1 ] &&
		[ "$(metric b "natproxy_cluster_peer{state=\"active\"}")" = 1 ]'
mac0=$(refused mac) replay0=$(refused replay) heard0=$(metric a 'natproxy_cluster_heartbeats_total{dir="heard"}')
check "heartbeat: 20 forged 'active' beats and 3 of b's played back sent to a" forge_beats
sleep 0.5
check_eq "heartbeat: a refused the 20 forged (mac) and the 3 played back (replay)" "20 3" \
	"$(($(refused mac) - mac0)) $(($(refused replay) - replay0))"
check "heartbeat: a still active, still hears b as standby, and heard b's beats meanwhile" \
	eval 'role_is a active && [ "$(metric a "natproxy_cluster_peer{state=\"standby\"}")" = 1 ] &&
		[ "$(metric a "natproxy_cluster_heartbeats_total{dir=\"heard\"}")" -gt "$heard0" ] &&
		! grep -q "peer .b. says active" "$HA/a/natproxyd-a.log"'

# --- failover: the master killed -------------------------------------------------
sleep 1
b_lines=$(wc -l <"$HA/b/natproxyd-b.log")
T_KILL=$(mono)
T_KILL_MS=$(date +%s%3N)
old=${PORTS[0]}
sip_stop "$REDIS_PID_6379" KILL
check "failover: the sentinels promote a replica" wait_for 20 settled "$old"
new=$(master_port)
# switched_ms: when the first sentinel announced the first +switch-master
# after the kill (its log's clock, ms since the epoch).
switched_ms() {
	grep -h '+switch-master' "$HA"/sentinel-*.log | sed -n 's/^[0-9]*:X \(.*\) # +switch-master.*/\1/p' |
		while read -r t; do date -d "$t" +%s%3N; done | sort -n | awk -v k="$T_KILL_MS" '$1 > k {print $1 - k; exit}'
}
t_promoted=$(switched_ms)
# on_master N PORT: node N is connected to PORT (its metrics say so).
on_master() { [ "$(metric "$1" "natproxy_cluster_redis_master{address=\"$REDIS_IP:$2\"}")" = 1 ]; }
check "failover: a and b follow it (their metrics)" wait_for 10 eval 'on_master a "$new" && on_master b "$new"'
check "failover: ... and log the move" \
	eval 'grep -q "redis master .np. moved from $REDIS_IP:$old to" "$HA/a/natproxyd-a.log" &&
		grep -q "redis master .np. moved from $REDIS_IP:$old to" "$HA/b/natproxyd-b.log"'
fa=$(metric a natproxy_cluster_redis_failovers_total) fb=$(metric b natproxy_cluster_redis_failovers_total)
check "failover: each counts the failover" test "${fa:-0}" -ge 1 -a "${fb:-0}" -ge 1
# first_entry PORT: the id and kind of the first entry of a's stream there.
first_entry() { rcli "$1" xrange np:a:journal - + count 1 | head -3 | tr '\n' ' '; }
check "failover: a's stream on the new master starts with a snapshot written after the kill" \
	wait_for 5 eval '[ "$(first_entry "$new" | cut -d- -f1)" -gt "$T_KILL_MS" ] && first_entry "$new" | grep -q " kind snapshot "'
t_written=$(($(first_entry "$new" | cut -d- -f1) - T_KILL_MS))
check "failover: a holds its lease on the new master" \
	wait_for 5 eval '[ "$(rcli "$new" get np:natproxy:lease)" = a ]'
check "failover: a's live calls are in the new master" \
	wait_for 5 eval '[ "$(rcli "$new" hlen np:a:media)" = "$HA_CALLS" ]'
check "failover: b follows a on the new master, with every flow" \
	wait_for 10 eval '[ "$(tail -n +$((b_lines + 1)) "$HA/b/natproxyd-b.log" | grep -c "following '"'a'"'")" -ge 1 ] && [ "$(n_flows b)" = "$want_flows" ]'
check "failover: b's flows still hold a's latched NAT mapping" \
	eval '[ "$(latched_to_nat b)" -ge 1 ] && [ "$(latched_to_nat b)" = "$(latched_to_nat a)" ]'
check_none "failover: b never saw the lease free (it may have been lost with the master)" \
	"lease 'natproxy' free" tail -n +$((b_lines + 1)) "$HA/b/natproxyd-b.log"
gone=$(grep -o '[0-9.]* s without redis' "$HA/a/natproxyd-a.log" | head -1)
diag "failover: the sentinels switched to the new master ${t_promoted} ms after the kill; a's snapshot on it after ${t_written} ms; a was ${gone} ($fa failovers seen by a, $fb by b)"

# --- demoted: a failover while the master lives ------------------------------------
check "demoted: the sentinels see the other replica follow the new master" \
	wait_for 15 sentinels_ready 1 "$new"
prev=$new
T_DEMOTE_MS=$(date +%s%3N)
rcli "${SENTINELS[0]}" sentinel failover np >/dev/null
check "demoted: the sentinels promote the other replica" wait_for 20 settled "$prev"
new=$(master_port)
# The old master, alive, is told it is a replica only when a sentinel
# next looks at it (up to 10 s): until then it takes any write. The
# nodes leave it on the sentinel's +switch-master, not on a refusal.
check "demoted: a and b leave the old master at the sentinels' word" \
	wait_for 10 eval 'on_master a "$new" && on_master b "$new" &&
		grep -q "redis connection lost: the sentinels made $REDIS_IP:[0-9]* the master" "$HA/a/natproxyd-a.log" &&
		grep -q "redis connection lost: the sentinels made $REDIS_IP:[0-9]* the master" "$HA/b/natproxyd-b.log"'
t_left=$(($(date +%s%3N) - T_DEMOTE_MS))
check "demoted: a holds its lease there, b follows a with every flow" \
	wait_for 10 eval '[ "$(rcli "$new" get np:natproxy:lease)" = a ] && [ "$(n_flows b)" = "$want_flows" ] && role_is b standby'
check "demoted: each counts one failover more" \
	test "$(metric a natproxy_cluster_redis_failovers_total)" -gt "$fa" -a "$(metric b natproxy_cluster_redis_failovers_total)" -gt "$fb"
diag "demoted: both nodes on the new master ${t_left} ms after SENTINEL FAILOVER"
check_eq "failover, demoted: a acted throughout (never fenced nor standby), b never acted" "1 0 0 0 0" \
	"$(metric a 'natproxy_cluster_transitions_total{to="active"}') $(metric a 'natproxy_cluster_transitions_total{to="fenced"}') $(metric a 'natproxy_cluster_transitions_total{to="standby"}') $(metric b 'natproxy_cluster_transitions_total{to="active"}') $(metric b 'natproxy_cluster_transitions_total{to="fenced"}')"

# --- charging: the calls end after the failovers ------------------------------------
sleep 1
touch "$CTL/bye"
check "charging: the terminal's UA ends its calls" wait_for 30 eval '! _sip_running $UAC'
touch "$CTL/stop"
check "charging: the far end's UA ends" wait_for 10 eval '! _sip_running $UAS'
RES=$HA/result.txt
$PY - "$CTL/uac.json" "$CTL/uas.json" "$T_KILL" >"$RES" <<-'EOF'
	import json, sys
	uac = json.load(open(sys.argv[1])); uas = json.load(open(sys.argv[2]))
	t_kill = float(sys.argv[3])
	def gap(gaps):
	    g = [d for at, d in gaps if at >= t_kill - 0.5]
	    return max(g) if g else 0.0
	for cid, u in sorted(uac.items()):
	    f = uas.get(cid, {})
	    print("call", cid, "bye_ok", int(u["bye_ok"]), "far_bye", int(f.get("bye", False)),
	          "gap_terminal", gap(u["gaps"]), "gap_far", gap(f.get("gaps", [])),
	          "received_terminal", u["received"], "received_far", f.get("received", -1))
EOF
sed 's/^/# /' "$RES"
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$RES"; }
check_eq "charging: every call ended with a BYE answered 200, which reached the far end" \
	"$HA_CALLS $HA_CALLS" "$(field bye_ok | grep -cx 1) $(field far_bye | grep -cx 1)"
# The media never depends on Redis: XDP relays it. Gaps under 0.1 s are
# not listed by the agents; 1 s bounds a stall of this shared machine.
check "failover: the media never paused at the terminal or the far end (no gap of 1 s)" \
	$PY -c 'import sys; sys.exit(0 if len(sys.argv) > 1 and all(float(x) < 1 for x in sys.argv[1:]) else 1)' \
	$(field gap_terminal) $(field gap_far)
records() { rcli "$new" lrange np:charging 0 -1 | $PY -c 'import json, sys
ids = [json.loads(l)["call_id"] for l in sys.stdin if l.strip()]
print(len(ids), len(set(ids)))'; }
check_eq "charging: the current master holds exactly one record per call" "$HA_CALLS $HA_CALLS" \
	"$(wait_for 5 eval '[ "$(rcli "$new" llen np:charging)" -ge "$HA_CALLS" ]'; records)"
check_eq "charging: ... for the calls the terminal made" \
	"$(field call | sort | tr '\n' ' ')" \
	"$(rcli "$new" lrange np:charging 0 -1 | $PY -c 'import json, sys
print(" ".join(sorted(json.loads(l)["call_id"] for l in sys.stdin if l.strip())))') "
check_eq "charging: a wrote them (its file), b none; no call is live in redis" \
	"$HA_CALLS 0 0" \
	"$(grep -c call_id "$HA/a/charging-a.log" 2>/dev/null) $(cat "$HA/b/charging-b.log" 2>/dev/null | grep -c call_id) $(rcli "$new" hlen np:a:media)"

tap_done
