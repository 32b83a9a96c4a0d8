#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# High availability end to end (docs/ha.md), on the SIP topology of
# tests/sip/ with a second natproxy node beside the first: both on the
# access bridge and on a core bridge, keepalived in each holding the
# virtual addresses (VRRP, one sync group for the access and core sides),
# one redis-server in the core, Kamailio, terminal A behind its NAT.
#   replicate  node a takes the addresses and the lease and acts; node b
#              follows a's stream: it holds a's calls and their flows,
#              with a's latched addresses, in its own maps, and they relay
#              nothing while a acts
#   redis      redis stopped and restarted empty under HA_CALLS calls
#              (default 20) with RTP both ways: a keeps acting, b stays a
#              standby, a writes its whole state again, b follows again
#   redis-partition  a cut from redis, not from b: a acts on b's word (the
#              heartbeat), b never promotes; both converge when healed
#   redis-away redis stopped HA_REDIS_AWAY s (default 30, as the issue
#              asks) under the calls: a registration refreshing (every
#              HA_UA_REFRESH s, default 10: three times in that time), a
#              call ended, one set up; a acts
#              throughout, the record is written once and reaches redis
#              after, b then holds exactly a's flows and registrations
#   partition  everything between the nodes dropped, both still reach
#              redis: both hold the addresses, a acts, b (no lease) sends
#              no keepalive and ends no call; healed, b gives them back
#   isolated   a cut from redis and from b: a stops acting (isolated) before
#              its lease can lapse, keepalived moves the addresses, b takes
#              the calls; what each node sends on the SIP ports is captured
#              on its own links: a's last datagram before b's first
#   endkill    a call ended and the active node b killed at once: exactly
#              one record of it across the nodes (b files it when it starts
#              again if redis has its end, else a bills it)
#   links      a's interfaces taken down: keepalived moves the addresses,
#              b takes the lease and the calls; a, its links back, follows b
#   takeover   natproxyd b killed (-9): the addresses move back, a takes the
#              calls again; every call ends with a BYE through a; exactly
#              one charging record per call, written by a, saying it was
#              taken over from b, with counts of every node that match what
#              the far end and the terminal received (within the
#              replication interval and the address move); the media gap
#              at both ends is measured per call and event, and reported
#   fence      the lease taken by another node under a: a stops acting at
#              once (health "fenced"), and with the addresses put back on
#              it by hand sends no keepalive to a registered terminal, no
#              datagram at all from the access address, and no record
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "high availability (two natproxy nodes, keepalived, redis)"
require_tools "high availability" redis-server redis-cli keepalived
. tests/sip/topology.sh
. tests/lib/ha_nodes.sh
SIP_NAMESPACES+=(proxyb)

HA_CALLS=${HA_CALLS:-20}
HA_REDIS_AWAY=${HA_REDIS_AWAY:-30}
export HA_UA_REFRESH=${HA_UA_REFRESH:-10}
VIP_ACC=$SIP_PROXY_ACC_IP VIP_CORE=$SIP_PROXY_CORE_IP
A_ACC=203.0.113.3 A_CORE=198.51.100.3 B_ACC=203.0.113.4 B_CORE=198.51.100.4
REDIS_IP=198.51.100.50 REDIS_PORT=6379
HA=$NP_RUN_DIR/ha
CTL=$HA/ua
PY=/usr/bin/python3

rcli() { in_ns core redis-cli -h "$REDIS_IP" -p "$REDIS_PORT" "$@"; }
ctl_of() { local n=$1; shift; in_ns "$(ns_of "$n")" build/natproxyctl --pin-dir "$NP_RUN_DIR/bpf/$n" --state "$HA/$n/$n.state" "$@"; }
ns_of() { [ "$1" = a ] && echo proxy || echo proxyb; }
# health N FIELD: a field of node N's health file (its JSON).
health() { $PY -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print("")' "$HA/$1/$1.state.health" "$2"; }
role_is() { [ "$(health "$1" role)" = "$2" ]; }

# ha_topology: node b's namespace on both bridges (a core bridge made of
# the core's link), the nodes' own addresses, the virtual ones left to
# keepalived, redis' address in the core.
ha_topology() {
	local a
	in_ns proxy ip addr del "$VIP_ACC/24" dev acc0 &&
		in_ns proxy ip addr del "$VIP_CORE/24" dev core0 &&
		in_ns proxy ip addr add "$A_ACC/24" dev acc0 &&
		in_ns proxy ip addr add "$A_CORE/24" dev core0 || return 1
	sip_veth proxyb acc0 acc p-proxyb && in_ns acc ip link set p-proxyb master br0 || return 1
	in_ns core ip link add brc type bridge && in_ns core ip link set brc up || return 1
	in_ns core ip addr flush dev eth0 || return 1
	for a in "$SIP_KAM_IP" "$SIP_FAR_IP" "$SIP_CORE_UA_IP"; do
		in_ns core ip addr add "$a/24" dev brc || return 1
	done
	in_ns core ip link set eth0 master brc &&
		sip_veth proxyb core0 core eth1 && in_ns core ip link set eth1 master brc &&
		in_ns core ip addr add "$REDIS_IP/24" dev brc || return 1
	in_ns proxyb ip addr add "$B_ACC/24" dev acc0 &&
		in_ns proxyb ip addr add "$B_CORE/24" dev core0 &&
		in_ns proxyb sysctl -q -w net.ipv4.ip_forward=1 || return 1
	ha_guard proxyb
}

# node_cfg N PEER OWN_CORE PEER_CORE: node N's configuration, its
# heartbeat on its own core address.
node_cfg() {
	mkdir -p "$HA/$1"
	cat >"$HA/$1.yaml" <<-EOF
		realms:
		  - name: access
		    interface: acc0
		    address: $VIP_ACC
		    sip_port: 5060
		    media_ports: 30000-30999
		    media_timeout: 8
		  - name: core
		    interface: core0
		    address: $VIP_CORE
		    sip_ports: 20000-20999
		    media_ports: 40000-40999
		    media_timeout: 8
		pairs:
		  - first: access
		    second: core
		    softswitch: $SIP_KAM_IP:5060
		keepalive:
		  method: options
		  interval: 2
		charging:
		  file: $HA/$1/charging-$1.log
		metrics:
		  listen: 127.0.0.1:9917
		cluster:
		  redis: $REDIS_IP:$REDIS_PORT
		  node: $1
		  peer: $2
		  lease_ms: 1500
		  heartbeat: $3:7400
		  peer_heartbeat: $4:7400
		  heartbeat_key: $HA/hb.key
	EOF
}

# ka_start N PRIORITY OWN_ACC OWN_CORE PEER_ACC PEER_CORE: keepalived of
# node N: the two virtual addresses in one sync group, unicast to the
# peer, natproxyctl health as the track script (a failure: FAULT, the
# addresses go).
ka_start() {
	local n=$1 dir=$HA/$1
	ka_globals "$n" >"$dir/keepalived-$n.conf"
	cat >>"$dir/keepalived-$n.conf" <<-EOF
		vrrp_script np_health {
		  script "$PWD/build/natproxyctl health --state $dir/$n.state"
		  interval 1
		  fall 1
		  rise 1
		}
		vrrp_sync_group np {
		  group {
		    access
		    core
		  }
		}
		vrrp_instance access {
		  state BACKUP
		  nopreempt
		  interface acc0
		  virtual_router_id 51
		  priority $2
		  advert_int 0.2
		  unicast_src_ip $3
		  unicast_peer {
		    $5
		  }
		  virtual_ipaddress {
		    $VIP_ACC/24 dev acc0
		  }
		  track_script {
		    np_health
		  }
		}
		vrrp_instance core {
		  state BACKUP
		  nopreempt
		  interface core0
		  virtual_router_id 52
		  priority $2
		  advert_int 0.2
		  unicast_src_ip $4
		  unicast_peer {
		    $6
		  }
		  virtual_ipaddress {
		    $VIP_CORE/24 dev core0
		  }
		  track_script {
		    np_health
		  }
		}
	EOF
	sip_spawn "$(ns_of "$n")" keepalived -n -l -D -P -f "$dir/keepalived-$n.conf" \
		-p "$dir/keepalived.pid" -r "$dir/vrrp.pid" >"$dir/keepalived-$n.log" 2>&1
}

has_vip() { in_ns "$(ns_of "$1")" ip -o addr show dev acc0 | grep -q " $VIP_ACC/"; }
uac_all() { $PY -c 'import json,sys
try: s=json.load(open(sys.argv[1]))
except Exception: sys.exit(1)
sys.exit(0 if len(s)==int(sys.argv[3]) and all(v==sys.argv[2] for v in s.values()) else 1)' "$CTL/uac.state" "$1" "$HA_CALLS"; }
# n_flows N: the flows in node N's maps (flows --json: one a line).
n_flows() { ctl_of "$1" flows --json 2>/dev/null | grep -c '^{"local"'; }

sip_topology_up || { echo "not ok - topology"; exit 1; }
trap sip_topology_down EXIT
trap 'exit 1' INT TERM HUP PIPE
mkdir -p "$CTL"
ha_topology || { echo "not ok - ha topology"; exit 1; }
kamailio_start || { echo "not ok - kamailio"; exit 1; }
# redis_start: an empty redis-server (nothing saved), its PID in REDIS_PID.
redis_start() {
	sip_spawn core redis-server --bind "$REDIS_IP" --port "$REDIS_PORT" --save '' --appendonly no \
		--protected-mode no --dir "$HA" >>"$HA/redis.log" 2>&1
	REDIS_PID=$SIP_LAST_PID
	wait_for 5 eval 'rcli ping >/dev/null 2>&1'
}
redis_start

# --- replicate -------------------------------------------------------------
hb_key "$HA/hb.key"
node_cfg a b "$A_CORE" "$B_CORE"
node_cfg b a "$B_CORE" "$A_CORE"
npd_spawn a
npd_spawn b
check "replicate: natproxyd a starts (standby: no addresses yet)" npd_running a
check "replicate: natproxyd b starts" npd_running b
check "replicate: both report healthy standbys" \
	wait_for 5 eval 'role_is a standby && role_is b standby && ctl_of a health >/dev/null && ctl_of b health >/dev/null'
# b's keepalived starts once a holds the addresses: both start as BACKUP
# with nopreempt, so the first whose master-down timer (0.7 s) ends would
# win, and a loaded machine may start a's late.
ka_start a 150 "$A_ACC" "$A_CORE" "$B_ACC" "$B_CORE"
check "replicate: keepalived gives a the virtual addresses" wait_for 15 has_vip a
ka_start b 100 "$B_ACC" "$B_CORE" "$A_ACC" "$A_CORE"
check "replicate: a takes the lease and acts" wait_for 10 role_is a active
if ! role_is a active; then
	diag "a: $(tail -5 "$HA/a/natproxyd-a.log")"
	tap_done
	exit 1
fi
check_eq "replicate: the lease in redis names a" a "$(rcli get np:natproxy:lease)"
check "replicate: b follows a" wait_for 5 grep -q "following 'a'" "$HA/b/natproxyd-b.log"
check "replicate: b has no virtual address" eval '! has_vip b'
# metric N NAME: a sample of node N's Prometheus page ("NAME VALUE").
metric() { in_ns "$(ns_of "$1")" curl -s --max-time 5 http://127.0.0.1:9917/metrics | awk -v n="$2" '$1 == n {print $2}'; }
check_eq "replicate: the metrics say a active, b standby, both linked to redis" "1 1 1 1" \
	"$(metric a 'natproxy_cluster_role{role="active"}') $(metric b 'natproxy_cluster_role{role="standby"}') $(metric a natproxy_cluster_redis_up) $(metric b natproxy_cluster_redis_up)"

sip_spawn core $PY tests/lib/ha_ua.py uas "$SIP_FAR_IP" "$CTL"
UAS=$SIP_LAST_PID
sip_spawn lan1 $PY tests/lib/ha_ua.py uac "$SIP_A_IP" "$VIP_ACC" "$HA_CALLS" a "$CTL"
UAC=$SIP_LAST_PID
check "replicate: $HA_CALLS calls through a are up" wait_for 30 uac_all up
# Per stream: RTP and RTCP on each side.
want_flows=$((HA_CALLS * 4))
check_eq "replicate: a relays $want_flows flows" "$want_flows" "$(n_flows a)"
check "replicate: b holds the same $want_flows flows in its own maps" \
	wait_for 5 eval '[ "$(n_flows b)" = "$want_flows" ]'
check "replicate: b's copy of every call (its health, written every second)" \
	wait_for 3 eval '[ "$(health b copied_calls)" -ge "$HA_CALLS" ]'
# The latches: a's core flows send to A's NAT mapping, learnt from A's first
# packet; b's copies send there too, before b ever saw a packet.
latched_to_nat() { ctl_of "$1" flows --json 2>/dev/null | grep -o "\"$SIP_NAT1_IP:[0-9]*\"" | sort -u | wc -l; }
check "replicate: a's flows latched onto A's NAT mapping" test "$(latched_to_nat a)" -ge 1
check "replicate: b's flows hold a's latched NAT mapping" \
	wait_for 5 eval '[ "$(latched_to_nat b)" -ge 1 ] && [ "$(latched_to_nat b)" = "$(latched_to_nat a)" ]'
check "replicate: redis holds a's stream, snapshot and live calls" \
	test "$(rcli xlen np:a:journal)" -ge 1 -a "$(rcli exists np:a:snapshot)" = 1 -a "$(rcli hlen np:a:media)" = "$HA_CALLS"

# flows_taken_back N: what node N's flows handed the kernel and what they
# took back as dropped after the verdict (drops.xmit), for the counts below.
flows_taken_back() { ctl_of "$1" flows --json | $PY -c 'import json,sys
k = x = 0
for l in sys.stdin:
    f = json.loads(l); k += f["to_kernel"]; x += f["drops"]["xmit"]
print("to_kernel", k, "xmit drops", x)'; }
mono() { $PY -c 'import time; print(round(time.monotonic(), 3))'; }
npd_alive() { local v="NPD_$1"; _sip_running "${!v}"; }

# --- links: the active node's interfaces go down ------------------------------
# keepalived on a sees its links down (FAULT) and drops the addresses; b,
# hearing no more adverts, takes them; natproxyd a, without them, gives the
# lease up and follows b, and b acts.
# --- redis: restarted empty under the calls -----------------------------------
T_REDIS=$(mono)
sip_stop "$REDIS_PID"
t_redis=$EPOCHREALTIME
check "redis: away, a keeps acting (its journal is local)" \
	wait_for 5 eval '[ "$(health a redis)" = down ] && role_is a active'
# past a's lease (1.5 s) since redis went
sleep "$(awk -v t="$t_redis" -v now="$EPOCHREALTIME" 'BEGIN {l = t + 2 - now; print (l > 0 ? l : 0)}')"
check "redis: away, b stays a standby" role_is b standby
redis_start
check "redis: back empty, a writes its whole state again" wait_for 10 eval '[ "$(rcli exists np:a:snapshot)" = 1 ]'
check "redis: ... and holds the lease again" wait_for 5 eval '[ "$(rcli get np:natproxy:lease)" = a ]'
check "redis: b follows a again, with every flow" \
	wait_for 10 eval '[ "$(grep -c "following '"'a'"'" "$HA/b/natproxyd-b.log")" -ge 2 ] && [ "$(n_flows b)" = "$want_flows" ]'
check "redis: a's live calls are in redis again" wait_for 5 eval '[ "$(rcli hlen np:a:media)" = "$HA_CALLS" ]'

# The standby's copies relay nothing: no frame for the addresses reaches it.
# Checked below, seconds after b installed its copies again.
flow_packets() { ctl_of "$1" flows --json | $PY -c 'import json,sys
print(sum(json.loads(l)["packets"] for l in sys.stdin))'; }

# --- redis-partition: a cut from redis, not from b ----------------------------
# a keeps acting on b's word (its heartbeat echoes a's: b neither acts nor
# takes the lease); b, which still reaches redis and sees the lease lapse,
# does not take it (it has no addresses, and hears a acting).
# roles_during S: both nodes' roles sampled every 0.5 s for S seconds,
# each sample a line appended to ROLES.
ROLES=$HA/roles.txt
roles_during() {
	local until=$(($(date +%s%N) / 1000000 + $1 * 1000))
	while [ "$(($(date +%s%N) / 1000000))" -lt "$until" ]; do
		echo "$(health a role) $(health b role)" >>"$ROLES"
		sleep 0.4
	done
}
# only_roles A B: every sample of ROLES was "A B".
only_roles() { [ -s "$ROLES" ] && ! grep -qv "^$1 $2\$" "$ROLES"; }
T_PARTB=$(mono)
in_ns proxy nft -f - <<-EOF
	table ip ha_noredis {
		chain input { type filter hook input priority filter; policy accept; ip saddr $REDIS_IP drop; }
		chain output { type filter hook output priority filter; policy accept; ip daddr $REDIS_IP drop; }
	}
EOF
check "redis-partition: a loses redis" wait_for 5 eval '[ "$(health a redis)" = down ]'
: >"$ROLES"
roles_during 4
check "redis-partition: a acts, b stands by throughout (sampled every 0.5 s for 4 s)" only_roles active standby
check_eq "redis-partition: a acts on b's word (b says standby, a never isolated)" "standby 0" \
	"$(health a peer_says) $(health a isolations)"
check_eq "redis-partition: b never promoted" 0 "$(health b promotions)"
check_eq "replicate: b's copied flows relayed nothing while a was active" 0 "$(flow_packets b)"
diag "standby b: $(grep VmRSS /proc/$NPD_b/status | tr -s ' \t' ' '), CPU $(awk '{printf "%.2f s", ($14 + $15) / 100}' /proc/$NPD_b/stat) since its start; a: $(grep VmRSS /proc/$NPD_a/status | tr -s ' \t' ' '), CPU $(awk '{printf "%.2f s", ($14 + $15) / 100}' /proc/$NPD_a/stat)"
in_ns proxy nft delete table ip ha_noredis
check "redis-partition: healed, a holds the lease again" wait_for 10 eval '[ "$(rcli get np:natproxy:lease)" = a ]'
check "redis-partition: b follows a again, with every flow" \
	wait_for 10 eval '[ "$(grep -c "following '"'a'"'" "$HA/b/natproxyd-b.log")" -ge 3 ] && [ "$(n_flows b)" = "$want_flows" ]'

# --- redis-away: redis stopped HA_REDIS_AWAY seconds under load ----------------
# The calls carry RTP; terminal A's registrant registers and refreshes
# (every HA_UA_REFRESH s; it answers keepalives), call 0 ends and one more call is set
# up, all through a while redis is away: a acts on b's
# word, writes call 0's record at once (local), and its end reaches redis
# when redis is back (no record lost, none twice); b converges.
call_id() { $PY -c 'import json,sys
print(next((k for k in json.load(open(sys.argv[1])) if k.startswith("ha-%s-" % sys.argv[2])), ""))' "$CTL/uac.state" "$1"; }
# records N CALL_ID: node N's records of that call.
records() { grep -c "\"call_id\": \"$2\"" "$HA/$1/charging-$1.log" 2>/dev/null; }
T_AWAY=$(mono)
away_start=$SECONDS
sip_stop "$REDIS_PID"
check "redis-away: a sees redis gone and keeps acting" \
	wait_for 5 eval '[ "$(health a redis)" = down ] && role_is a active'
regs() { grep -c "terminal registered through core port" "$HA/a/natproxyd-a.log"; }
regs_before=$(regs)
touch "$CTL/register"
check "redis-away: terminal A registers through a" wait_for 5 eval '[ "$(cat "$CTL/reg.state" 2>/dev/null)" = registered ]'
ka_away=$(health a keepalives_sent)
CALL0=$(call_id 0)
touch "$CTL/end-0"
check "redis-away: call 0 ends (BYE through a), its record written by a" \
	wait_for 5 eval '[ "$(records a "$CALL0")" = 1 ]'
touch "$CTL/more"
check "redis-away: one more call is set up through a" \
	wait_for 10 eval '[ "$($PY -c "import json; s=json.load(open(\"$CTL/uac.state\")); print(sum(v == \"up\" for v in s.values()))")" = "$HA_CALLS" ] && [ -n "$(call_id "$HA_CALLS")" ]'
CALLN=$(call_id "$HA_CALLS")
: >"$ROLES"
roles_during $((HA_REDIS_AWAY / 2 - (SECONDS - away_start)))
roles_during $((HA_REDIS_AWAY - (SECONDS - away_start)))
check "redis-away: a acted, b stood by for the whole ${HA_REDIS_AWAY}s (sampled every 0.5 s)" only_roles active standby
check "redis-away: ... refreshed its registration every $HA_UA_REFRESH s, answered by a" \
	test "$(($(regs) - regs_before))" -ge "$((HA_REDIS_AWAY / HA_UA_REFRESH))" -a "$(cat "$CTL/reg.state")" = registered
check "redis-away: a's keepalives to A went on" test "$(health a keepalives_sent)" -gt "$ka_away"
check_eq "redis-away: call 0's record was written unconfirmed (redis away), once" "1 1" \
	"$(health a records_unconfirmed) $(records a "$CALL0")"
diag "redis-away: redis away $((SECONDS - away_start)) s"
redis_start
check "redis-away: back empty, a holds the lease again" wait_for 10 eval '[ "$(rcli get np:natproxy:lease)" = a ]'
want_flows=$((HA_CALLS * 4))
# flow_set N: node N's flows (their local addresses), sorted.
flow_set() { ctl_of "$1" flows --json 2>/dev/null | $PY -c 'import json,sys
print(" ".join(sorted(json.loads(l)["local"] for l in sys.stdin if l.startswith("{"))))'; }
check "redis-away: b follows a again and holds exactly a's flows (the ended call's gone, the new one's there)" \
	wait_for 10 eval '[ "$(n_flows a)" = "$want_flows" ] && [ "$(flow_set b)" = "$(flow_set a)" ]'
check "redis-away: ... and a's registrations (terminal B's, made while redis was away)" \
	wait_for 5 eval '[ "$(metric b natproxy_registrations{pair=\"access/core\"})" = "$(metric a natproxy_registrations{pair=\"access/core\"})" ]'
check "redis-away: a's live calls in redis again" wait_for 5 eval '[ "$(rcli hlen np:a:media)" = "$HA_CALLS" ]'
check_eq "redis-away: call 0's record reached redis once, the new call is live there" "1 1" \
	"$(rcli lrange np:charging 0 -1 | grep -c "$CALL0") $(rcli hkeys np:a:media | grep -c "$CALLN")"

# --- partition: the nodes cannot hear each other, both reach redis ------------
# Everything between the nodes dropped (VRRP and the heartbeat): keepalived
# on b makes itself master too, and both hold the addresses; the lease keeps
# b a standby that acts on nothing.
T_PART=$(mono)
in_ns proxyb nft -f - <<-EOF
	table ip ha_partition {
		chain input { type filter hook input priority filter; policy accept; ip protocol vrrp drop; ip saddr { $A_ACC, $A_CORE } drop; }
		chain output { type filter hook output priority filter; policy accept; ip protocol vrrp drop; ip daddr { $A_ACC, $A_CORE } drop; }
	}
EOF
check "partition: both nodes hold the addresses" wait_for 10 eval 'has_vip b && has_vip a'
b_ended=$(health b calls_ended) b_ka=$(health b keepalives_sent)
: >"$ROLES"
roles_during 3
check "partition: a acts, b stands by throughout (the lease is a's)" only_roles active standby
check_eq "partition: they do not hear each other; b sent no keepalive and ended no call" "unheard unheard $b_ended $b_ka" \
	"$(health a peer_says) $(health b peer_says) $(health b calls_ended) $(health b keepalives_sent)"
in_ns proxyb nft delete table ip ha_partition
check "partition: healed, b gives the addresses back" wait_for 10 eval '! has_vip b && has_vip a'

# --- isolated: a cut from redis and from b at once -----------------------------
# a may no longer act once its lease could have lapsed at redis and b's
# promise ended: it stops (isolated), keepalived moves the addresses, b
# takes the lease and the calls. What each node sends from its SIP sockets
# on the virtual addresses is captured on its own links (not what its
# kernel forwards once the addresses left it): a's last datagram comes
# before b's first. Only the source ports count: media relayed to a NAT
# mapping whose port happens to be a SIP port is the fast path's, which
# relays what reaches it until the addresses move (docs/ha.md).
for n in a b; do
	for dev in acc0 core0; do
		capture_start "$(ns_of $n)" "$dev" "iso-$n-$dev.pcap" -Q out udp and \
			"((src host $VIP_ACC and src port 5060) or (src host $VIP_CORE and src portrange 20000-20999))"
	done
done
captures_listening || true
sleep 1
# b's compactions written a slice a turn so far (its promotion's comes next).
sliced_b() { grep -c "state file written whole: .* slices" "$HA/b/natproxyd-b.log"; }
sliced_before=$(sliced_b)
T_ISO=$(mono)
t_iso=$(date +%s.%N)
in_ns proxy nft -f - <<-EOF
	table ip ha_isolate {
		chain input { type filter hook input priority filter; policy accept; ip protocol vrrp drop; ip saddr { $REDIS_IP, $B_ACC, $B_CORE } drop; }
		chain output { type filter hook output priority filter; policy accept; ip protocol vrrp drop; ip daddr { $REDIS_IP, $B_ACC, $B_CORE } drop; }
	}
EOF
check "isolated: a stops acting (isolated) and says why" \
	wait_for 5 eval 'role_is a isolated && grep -q "isolated: neither redis nor '"'b'"' confirms" "$HA/a/natproxyd-a.log"'
check "isolated: natproxyctl health says a is unhealthy, the metrics say isolated once" \
	eval '! ctl_of a health >/dev/null && [ "$(metric a natproxy_cluster_transitions_total{to=\"isolated\"})" = 1 ]'
check "isolated: b gets the addresses, the lease, and acts" wait_for 10 role_is b active
t_b=$(date +%s.%N)
wait_for 10 eval '! has_vip a'
t_a_gone=$(date +%s.%N)
check "isolated: b took over every call" test "$(health b taken_over)" -ge "$HA_CALLS"
check "isolated: b's whole state, to its stream, written a slice a turn (not in one), its snapshot in redis" \
	wait_for 5 eval '[ "$(sliced_b)" -gt "$sliced_before" ] && [ "$(rcli exists np:b:snapshot)" = 1 ]'
ka_b=$(health b keepalives_sent)
check "isolated: b sends keepalives to A (registered)" wait_for 6 eval '[ "$(health b keepalives_sent)" -gt "$ka_b" ]'
stop_captures
# iso_sent N: node N's SIP datagrams, both links, as tcpdump prints them
# with their times since the cut; iso_times N: those times alone.
iso_sent() { for dev in acc0 core0; do tcpdump -tt -nr "$NP_RUN_DIR/iso-$1-$dev.pcap" 2>/dev/null; done |
	sort -n | awk -v t="$t_iso" '{ $1 = sprintf("%.3f", $1 - t); print }'; }
iso_times() { iso_sent "$1" | awk '{print $1}'; }
a_last=$(iso_times a | tail -1) b_first=$(iso_times b | head -1)
diag "isolated: a's last SIP datagram ${a_last:-none} s after the cut ($(iso_times a | awk '$1 > 0' | wc -l) after it, $(health a dropped_output) held back as too late), b's first ${b_first:-none} s after; b active after $(echo "$t_b - $t_iso" | bc) s"
never_both() { [ -n "$b_first" ] && { [ -z "$a_last" ] || [ "$(echo "$a_last < $b_first" | bc)" = 1 ]; }; }
# Should it fail: what each sent, to tell a late act from a late packet.
never_both || { iso_sent a | awk '$1 > 0' | sed -n '1,5p;$p' | while read -r l; do diag "a: $l"; done
	iso_sent b | head -5 | while read -r l; do diag "b: $l"; done; }
check "isolated: b sent SIP datagrams, all after a's last one (never both)" never_both
in_ns proxy nft delete table ip ha_isolate
check "isolated: healed, a follows b with every flow" \
	wait_for 15 eval 'grep -q "following '"'b'"'" "$HA/a/natproxyd-a.log" && ! has_vip a && [ "$(n_flows a)" = "$want_flows" ]'

# --- endkill: a call ends and the active node is killed at once ----------------
# Its record is written once redis holds the call's end: killed before,
# the call stays live in redis and a ends and bills it; after, it is b's
# record and a never takes the call over. Exactly one either way.
CALL1=$(call_id 1)
touch "$CTL/end-1"
wait_for 5 eval '[ "$($PY -c "import json; print(json.load(open(\"$CTL/uac.state\"))[\"$CALL1\"])")" != up ]'
kill -9 "$NPD_b"
T_ENDKILL=$(mono)
t_kill=$(date +%s.%N)
check "endkill: a takes over" wait_for 10 role_is a active
t_a_has=$(date +%s.%N)
# A node killed after redis ran its call's end but before it heard files
# the record when it starts again (its STATE.unfiled).
check "endkill: natproxyd b restarts" npd_start b
# What the isolated a and the killed b relayed after their last replication
# (a second at most) until their addresses left is in no record, as at the
# last kill below (links down: only that second).
EARLIER_MOVES=$(echo "1 + $t_a_gone - $t_iso + 1 + $t_a_has - $t_kill + 1" | bc)
diag "isolated: a's addresses gone $(echo "$t_a_gone - $t_iso" | bc) s after the cut; endkill: a active $(echo "$t_a_has - $t_kill" | bc) s after the kill"
check "endkill: exactly one record of the ended call across both nodes" \
	wait_for 20 eval '[ "$(( $(records a "$CALL1") + $(records b "$CALL1") ))" = 1 ]'
want_flows=$(((HA_CALLS - 1) * 4))
diag "endkill: call 1's record by a: $(records a "$CALL1"), by b: $(records b "$CALL1"); in redis: $(rcli lrange np:charging 0 -1 | grep -c "$CALL1")"
sleep 1
check_eq "endkill: ... still one (nothing billed twice later), one in redis" "1 1" \
	"$(( $(records a "$CALL1") + $(records b "$CALL1") )) $(rcli lrange np:charging 0 -1 | grep -c "$CALL1")"
check "endkill: natproxyd b follows a with every flow" \
	wait_for 10 eval '[ "$(n_flows b)" = "$want_flows" ] && role_is b standby'
sleep 1
T_LINKS=$(mono)
in_ns proxy ip link set acc0 down
in_ns proxy ip link set core0 down
t0=$(date +%s.%N)
check "links: the addresses move to b" wait_for 15 has_vip b
t1=$(date +%s.%N)
check "links: b takes the lease and acts" wait_for 10 role_is b active
t2=$(date +%s.%N)
diag "links: addresses on b after $(echo "$t1 - $t0" | bc)s, b active after $(echo "$t2 - $t0" | bc)s"
check "links: b (restarted) took over every call" test "$(health b taken_over)" -ge "$((HA_CALLS - 1))"
check "links: a, without its addresses, stands by (it logged why)" \
	wait_for 5 eval 'role_is a standby && grep -q "standby (was active): the addresses are not here" "$HA/a/natproxyd-a.log"'
check "links: natproxyd a still runs" npd_alive a
diag "a flows after its links went down: $(flows_taken_back a)"
in_ns proxy ip link set acc0 up
in_ns proxy ip link set core0 up
check "links: a, its links back, follows b (keepalived keeps b master)" \
	wait_for 10 eval 'grep -q "following '"'b'"'" "$HA/a/natproxyd-a.log" && ! has_vip a'
check "links: a holds b's $want_flows flows again" \
	wait_for 10 eval '[ "$(n_flows a)" = "$want_flows" ]'

# --- takeover: natproxyd b is killed --------------------------------------------
sleep 3
diag "b flows before the kill: $(flows_taken_back b)"
T_KILL=$(mono)
kill -9 "$NPD_b"
t0=$(date +%s.%N)
check "takeover: the addresses move back to a" wait_for 10 has_vip a
t1=$(date +%s.%N)
check "takeover: a takes the lease and acts" wait_for 10 role_is a active
t2=$(date +%s.%N)
KILL_MOVE=$(echo "$t1 - $t0" | bc)
diag "takeover: addresses on a after ${KILL_MOVE}s, a active after $(echo "$t2 - $t0" | bc)s"
check "takeover: a took over every call" test "$(health a taken_over)" -ge "$HA_CALLS"
sleep 3
# What XDP on a handed to the kernel (no neighbour yet) and dropped, for the
# counts below.
diag "a flows: $(flows_taken_back a)"
T_BYE=$(mono)
touch "$CTL/bye"
check "takeover: the terminal's UA ends" wait_for 30 eval '! _sip_running $UAC'
touch "$CTL/stop"
check "takeover: the far end's UA ends" wait_for 10 eval '! _sip_running $UAS'
# A record is written once redis answered its call's end: none waits.
check "takeover: no record waits for redis" wait_for 5 eval '[ "$(health a records_waiting)" = 0 ]'
RES=$HA/result.txt
# Per call: its media gaps at each event (the largest pause in arrivals from
# the event to the next), its records and counts; the calls ended before
# the last BYE (early) only by their records.
$PY - "$CTL/uac.json" "$CTL/uas.json" "$HA/a/charging-a.log" "$HA/b/charging-b.log" "$T_BYE" \
	redis="$T_REDIS" partb="$T_PARTB" away="$T_AWAY" part="$T_PART" iso="$T_ISO" endkill="$T_ENDKILL" \
	links="$T_LINKS" kill="$T_KILL" >"$RES" <<-'EOF'
	import json, sys
	uac = json.load(open(sys.argv[1])); uas = json.load(open(sys.argv[2]))
	t_bye = float(sys.argv[5])
	events = sorted(((float(v), k) for k, v in (a.split("=") for a in sys.argv[6:])))
	def recs(path):
	    out = []
	    try:
	        for l in open(path):
	            out.append(json.loads(l))
	    except OSError:
	        pass
	    return out
	def gap(gaps, t, until):
	    g = [d for at, d in gaps if t - 0.5 <= at <= until]
	    return max(g) if g else 0.0
	ra, rb = recs(sys.argv[3]), recs(sys.argv[4])
	for cid, u in sorted(uac.items()):
	    f = uas.get(cid, {})
	    mine = [r for r in ra if r["call_id"] == cid]
	    theirs = [r for r in rb if r["call_id"] == cid]
	    if u.get("bye_at") and u["bye_at"] < t_bye:
	        print("early", cid, "index", u["index"], "early_records", len(mine) + len(theirs),
	              "by_a", len(mine), "by_b", len(theirs))
	        continue
	    r = mine[0] if mine else {}
	    up = sum(s["from_terminal"]["packets"] for s in r.get("streams", []))
	    down = sum(s["to_terminal"]["packets"] for s in r.get("streams", []))
	    line = ["call", cid, "state", u["state"], "bye_ok", int(u["bye_ok"]), "bye_code", u.get("bye_code", 0),
	            "far_bye", int(f.get("bye", False))]
	    for i, (t, name) in enumerate(events):
	        until = events[i + 1][0] if i + 1 < len(events) else 1e12
	        line += [name + "_gap_terminal", gap(u["gaps"], t, until), name + "_gap_far", gap(f.get("gaps", []), t, until)]
	    line += ["records_a", len(mine), "records_b", len(theirs),
	             "takeover_from", (r.get("takeover") or {}).get("from", "-"),
	             "rec_up", up, "far_received", f.get("received", -1),
	             "rec_down", down, "term_received", u["received"]]
	    print(*line)
EOF
sed 's/^/# /' "$RES"
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$RES"; }
# The calls that lasted to the last BYE: HA_CALLS - 2 + 1 (calls 0 and 1
# ended before, one more set up while redis was away).
all_eq() { local v; for v in $(field "$1"); do [ "$v" = "$2" ] || return 1; done; [ "$(field "$1" | wc -l)" = "$((HA_CALLS - 1))" ]; }
check "takeover: every call ended with a BYE through a, answered 200" all_eq bye_ok 1
check "takeover: ... which reached the far end" all_eq far_bye 1
check "takeover: exactly one charging record per call, by a (which ended it)" all_eq records_a 1
check "takeover: ... and none by b" all_eq records_b 0
check "takeover: ... each saying it was taken over from b" all_eq takeover_from b
# Counts: each takeover loses what the old node counted after its last
# replication (at most 1 s: a when its links went down, b when killed),
# and after the kill also what b's XDP relayed until keepalived moved the
# addresses: the records may miss that much (50 packets a second each
# way), and half a second more for the replication tick's jitter. They
# never count a packet that did not arrive (the relay takes back some 70
# a call each way that were billed before): what a node handed its kernel
# and the kernel dropped came off the flows before they were replicated,
# a's after its acc0 went down (no route, while core0 still reached
# redis) and b's from the frames the bridges flooded to it, addressed to
# a's MAC, until the addresses moved (not for b's MAC: OTHERHOST).
within() { # RECORDED GOT SLACK: GOT - SLACK <= RECORDED <= GOT, all numbers
	awk -v r="$1" -v g="$2" -v s="$3" 'BEGIN {n = "^-?[0-9]+(\\.[0-9]*)?$"
		exit !(r ~ n && g ~ n && s ~ n && g - s <= r && r <= g)}'
}
counts_match() {
	local slack rec got
	slack=$($PY -c "print(int(50 * (1 + $KILL_MOVE + 0.5 + $EARLIER_MOVES)))")
	paste <(field "$1") <(field "$2") | while read -r rec got; do
		within "$rec" "$got" "$slack" || { echo "# $1 $rec vs $2 $got (slack $slack)"; exit 1; }
	done
}
check "takeover: records' packets from the terminal match what the far end received" counts_match rec_up far_received
check "takeover: records' packets to the terminal match what the terminal received" counts_match rec_down term_received
# The gaps are printed above per call, against the issue's targets (1 s at
# a takeover, none while Redis is away); the checks bound them loosely, as
# a shared CI machine stalls for seconds: media must resume, not be timed.
check "takeover: media resumes at every terminal and far end after the kill (gap under 3 s)" \
	$PY -c 'import sys; sys.exit(0 if all(float(x) < 3 for x in sys.argv[1:]) else 1)' \
	$(field kill_gap_terminal) $(field kill_gap_far)
check "redis: media never stops while redis is away, cut off or restarted (no gap over 1 s)" \
	$PY -c 'import sys; sys.exit(0 if all(float(x) < 1 for x in sys.argv[1:]) else 1)' \
	$(field redis_gap_terminal) $(field redis_gap_far) $(field partb_gap_terminal) $(field partb_gap_far) \
	$(field away_gap_terminal) $(field away_gap_far)
check_eq "early: the calls ended before the last BYE (0 while redis was away, 1 at the kill) have one record each" "1 1" \
	"$(field early_records | tr '\n' ' ' | sed 's/ $//')"
check_eq "takeover: redis keeps no ended call live (a's media hash)" 0 "$(rcli hlen np:a:media)"
check_eq "takeover: redis holds one charging record per call" "$((HA_CALLS + 1))" "$(rcli llen np:charging)"

# --- fence -------------------------------------------------------------------
check "fence: terminal B registers through a" \
	sipp_run lan2 reg-b register -i "$SIP_B_IP" -p 5060 -key user b -key expires 120 "$VIP_ACC:5060"
ka_before=$(health a keepalives_sent)
check "fence: a sends keepalives to B" wait_for 6 eval '[ "$(health a keepalives_sent)" -gt "$ka_before" ]'
rcli set np:natproxy:lease intruder px 60000 >/dev/null
check "fence: a, its lease taken, is fenced" wait_for 5 role_is a fenced
check "fence: natproxyctl health says unhealthy" eval '! ctl_of a health >/dev/null'
check_eq "fence: ... and the metrics say fenced, once" "1 1" \
	"$(metric a 'natproxy_cluster_role{role="fenced"}') $(metric a 'natproxy_cluster_transitions_total{to="fenced"}')"
# keepalived takes the addresses from the unhealthy node; they are put back
# by hand: a node that holds them without the lease must still not act.
check "fence: keepalived takes the addresses from a" wait_for 5 eval '! has_vip a'
in_ns proxy ip addr add "$VIP_ACC/24" dev acc0
in_ns proxy ip addr add "$VIP_CORE/24" dev core0
check "fence: a, the addresses back on it by hand, still does not act" 	wait_for 3 eval 'has_vip a && [ "$(health a addresses)" = True ] && ! role_is a active'
ka_fenced=$(health a keepalives_sent)
ended=$(health a calls_ended)
capture nat2 wan fence.pcap udp and src host "$VIP_ACC"
sleep 5
stop_captures
check_eq "fence: no keepalive from a in 5 s (2 s interval)" "$ka_fenced" "$(health a keepalives_sent)"
check_eq "fence: ... and no datagram from the access address reached B's NAT" 0 \
	"$(tcpdump -nr "$NP_RUN_DIR/fence.pcap" 2>/dev/null | wc -l)"
check_eq "fence: no call ended (no record) while fenced" "$ended" "$(health a calls_ended)"
check "fence: a says why in its log" grep -q "fenced: 'intruder' holds the lease" "$HA/a/natproxyd-a.log"

tap_done
