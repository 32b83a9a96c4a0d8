#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Scale-out end to end (docs/ha.md, "Scale-out"), on the SIP topology of
# tests/sip/ with two more natproxy nodes beside the first, all three on
# the access bridge and on a core bridge, one redis-server, Kamailio and
# keepalived (one VRRP sync group per share, natproxyctl health SHARE as its
# track script). Two shares, each its own access and core addresses:
#   s1  node a active, node c its spare; terminal A calls through it
#   s2  node b active, node c its spare; terminal B calls through it
#   follow   c follows both shares' streams at once: it holds a's and b's
#            calls and flows in its own maps, relays nothing, and is a
#            standby for both; b, in s1 too (its lowest priority), is
#            active for s2 and follows s1 (mutual takeover's shape)
#            and every member of each share hears the others' heartbeat
#   redis-away  every node cut from redis (nftables) for 4 leases: a acts
#            for s1 on b's and c's promises, b for s2 on c's, nobody
#            promotes; a call set up and ended through a meanwhile is
#            billed once, in np:charging once redis answers; the
#            followers converge on the active nodes' flows
#   hb-cut   c cut from the heartbeat (not from redis): the leases decide,
#            a and b act on, c stands by; the health says who is unheard
#   kill-a   natproxyd a killed (-9): keepalived moves s1's addresses to c,
#            c becomes active for s1 only (still a standby for s2): it
#            takes s1's calls over, relays their media, sends nothing from
#            s2's addresses while b acts; s2's calls stay on b, which
#            follows s1 as c now writes it and sends nothing on s1
#   back     natproxyd a started again: it follows s1 as c now writes it,
#            holds s1's calls and flows again, keepalived leaves s1 on c
#   kill-b   natproxyd b killed too: c carries both shares
#   bye      every call ends with a BYE through c, answered; exactly one
#            charging record per call (by c, saying from whom it took it),
#            one in redis' np:charging; the media gap at the terminals per
#            call is reported
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "scale-out (three natproxy nodes, keepalived, redis)"
require_tools "scale-out" redis-server redis-cli keepalived
. tests/sip/topology.sh
. tests/lib/ha_nodes.sh
SIP_NAMESPACES+=(proxyb proxyc)

CALLS=${HA_SCALEOUT_CALLS:-5} # per share
S1_ACC=$SIP_PROXY_ACC_IP S1_CORE=$SIP_PROXY_CORE_IP
S2_ACC=203.0.113.5 S2_CORE=198.51.100.5
declare -A OWN_ACC=([a]=203.0.113.3 [b]=203.0.113.4 [c]=203.0.113.6)
declare -A OWN_CORE=([a]=198.51.100.3 [b]=198.51.100.4 [c]=198.51.100.6)
REDIS_IP=198.51.100.50 REDIS_PORT=6379
HA=$NP_RUN_DIR/ha
PY=/usr/bin/python3

ns_of() { case $1 in a) echo proxy ;; b) echo proxyb ;; *) echo proxyc ;; esac; }
rcli() { in_ns core redis-cli -h "$REDIS_IP" -p "$REDIS_PORT" "$@"; }
# share_health N SHARE FIELD: a field of node N's health of SHARE.
share_health() {
	$PY -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print("")' "$HA/$1/$1.state.$2.health" "$3"
}
roles_of() { echo "$(share_health "$1" s1 role) $(share_health "$1" s2 role)"; }
# hb_says N:SHARE...: what node N's health of SHARE says each member says
# over the heartbeat ("b=standby,c=active"), one word per N:SHARE, read
# in one go.
hb_says() {
	$PY -c 'import json,sys
def says(n, s):
    try: return ",".join(m["node"] + "=" + m["says"] for m in json.load(open("%s/%s/%s.state.%s.health" % (sys.argv[1], n, n, s)))["heartbeat"]["members"])
    except Exception: return "-"
print(*(says(*a.split(":")) for a in sys.argv[2:]))' "$HA" "$@"
}
# hb_promised N SHARE: the members whose promise node N holds for SHARE.
hb_promised() {
	$PY -c 'import json,sys
try: print(" ".join(m["node"] for m in json.load(open(sys.argv[1]))["heartbeat"]["members"] if m["promise_s"] > 0))
except Exception: print("")' "$HA/$1/$1.state.$2.health"
}
# up_call UA I: the Call-ID of the UA's call I if it is up, else "".
up_call() {
	$PY -c 'import json,sys
try: print(next((k for k, v in json.load(open(sys.argv[1])).items() if k.startswith("ha-%s-" % sys.argv[2]) and v == "up"), ""))
except Exception: print("")' "$HA/$1/uac.state" "$2"
}
has_addr() { in_ns "$(ns_of "$1")" ip -o addr show dev acc0 | grep -q " $2/"; }

# scaleout_topology: node a in the topology's proxy namespace (its virtual
# addresses left to keepalived), b and c in their own, each on the access
# bridge and on a core bridge made of the core's link, with its own
# addresses and the topology's guard (no access source into the core).
scaleout_topology() {
	local n a i=1
	in_ns proxy ip addr del "$S1_ACC/24" dev acc0 &&
		in_ns proxy ip addr del "$S1_CORE/24" dev core0 || return 1
	in_ns core ip link add brc type bridge && in_ns core ip link set brc up &&
		in_ns core ip addr flush dev eth0 && in_ns core ip link set eth0 master brc || return 1
	for a in "$SIP_KAM_IP" "$SIP_FAR_IP" "$SIP_CORE_UA_IP" "$REDIS_IP"; do
		in_ns core ip addr add "$a/24" dev brc || return 1
	done
	for n in b c; do
		sip_veth "$(ns_of $n)" acc0 acc "p-proxy$n" && in_ns acc ip link set "p-proxy$n" master br0 &&
			sip_veth "$(ns_of $n)" core0 core "eth$i" && in_ns core ip link set "eth$i" master brc &&
			in_ns "$(ns_of $n)" sysctl -q -w net.ipv4.ip_forward=1 || return 1
		ha_guard "$(ns_of $n)" || return 1
		i=$((i + 1))
	done
	for n in a b c; do
		in_ns "$(ns_of $n)" ip addr add "${OWN_ACC[$n]}/24" dev acc0 &&
			in_ns "$(ns_of $n)" ip addr add "${OWN_CORE[$n]}/24" dev core0 || return 1
	done
}

# The nodes of each share (keepalived's priorities: ka_start below).
declare -A SHARE_NODES=([s1]="a b c" [s2]="b c")
# node_cfg N SHARES: node N's configuration (the same realms and pairs on
# every node), in the shares named (s1, s2: YAML list items), with the
# heartbeat on its own core address to the other nodes of its shares.
node_cfg() {
	local n=$1 s m members=
	shift
	for s in "$@"; do
		for m in ${SHARE_NODES[$s]}; do
			[ "$m" != "$n" ] && [[ " $members " != *" $m "* ]] && members+=" $m"
		done
	done
	mkdir -p "$HA/$n"
	{
		cat <<-EOF
			realms:
			  - {name: acc1, interface: acc0, address: $S1_ACC, sip_port: 5060, media_ports: 30000-30999, media_timeout: 8}
			  - {name: core1, interface: core0, address: $S1_CORE, sip_ports: 20000-20999, media_ports: 40000-40999, media_timeout: 8}
			  - {name: acc2, interface: acc0, address: $S2_ACC, sip_port: 5060, media_ports: 31000-31999, media_timeout: 8}
			  - {name: core2, interface: core0, address: $S2_CORE, sip_ports: 21000-21999, media_ports: 41000-41999, media_timeout: 8}
			pairs:
			  - {first: acc1, second: core1, softswitch: "$SIP_KAM_IP:5060"}
			  - {first: acc2, second: core2, softswitch: "$SIP_KAM_IP:5060"}
			keepalive: {method: options, interval: 2}
			charging: {file: $HA/$n/charging-$n.log}
			metrics: {listen: "127.0.0.1:9917"}
			cluster:
			  redis: $REDIS_IP:$REDIS_PORT
			  node: $n
			  lease_ms: 1500
			  heartbeat: ${OWN_CORE[$n]}:7400
			  heartbeat_key: $HA/hb.key
			  members:
		EOF
		for m in $members; do
			echo "    - {node: $m, heartbeat: ${OWN_CORE[$m]}:7400}"
		done
		echo "  shares:"
		for s in "$@"; do
			echo "    - name: $s"
			echo "      realms: [acc${s#s}, core${s#s}]"
			echo "      members: [$(echo ${SHARE_NODES[$s]} | tr ' ' '\n' | grep -vx "$n" | paste -sd, -)]"
		done
	} >"$HA/$n.yaml"
}

# ka_start N SHARE:PRIORITY:PEER[,PEER]...: keepalived of node N, per share
# a sync group of its access and core addresses, unicast to the share's
# other members, natproxyctl health SHARE as the track script.
ka_start() {
	local n=$1 dir=$HA/$1 spec s prio peers id acc core side vip own dev p ips
	shift
	ka_globals "$n" >"$dir/keepalived-$n.conf"
	for spec in "$@"; do
		IFS=: read -r s prio peers <<<"$spec"
		id=$((60 + 2 * ${s#s}))
		[ "$s" = s1 ] && acc=$S1_ACC core=$S1_CORE || acc=$S2_ACC core=$S2_CORE
		cat >>"$dir/keepalived-$n.conf" <<-EOF
			vrrp_script np_$s {
			  script "$PWD/build/natproxyctl --state $dir/$n.state health $s"
			  interval 1
			  fall 1
			  rise 1
			}
			vrrp_sync_group $s {
			  group {
			    ${s}_acc
			    ${s}_core
			  }
			}
		EOF
		for side in acc core; do
			[ $side = acc ] && vip=$acc own=${OWN_ACC[$n]} dev=acc0 ||
				vip=$core own=${OWN_CORE[$n]} dev=core0
			ips= # one a line: keepalived reads one address a line
			for p in ${peers//,/ }; do
				[ $side = acc ] && ips+="${OWN_ACC[$p]}"$'\n' || ips+="${OWN_CORE[$p]}"$'\n'
			done
			cat >>"$dir/keepalived-$n.conf" <<-EOF
				vrrp_instance ${s}_$side {
				  state BACKUP
				  nopreempt
				  interface $dev
				  virtual_router_id $id
				  priority $prio
				  advert_int 0.5
				  unicast_src_ip $own
				  unicast_peer {
				$ips
				  }
				  virtual_ipaddress {
				    $vip/24 dev $dev
				  }
				  track_script {
				    np_$s
				  }
				}
			EOF
			id=$((id + 1))
		done
	done
	sip_spawn "$(ns_of "$n")" keepalived -n -l -D -P -f "$dir/keepalived-$n.conf" \
		-p "$dir/keepalived.pid" -r "$dir/vrrp.pid" >"$dir/keepalived-$n.log" 2>&1
}

# all_up CTLDIR: every one of the terminal's CALLS calls is up.
all_up() {
	$PY -c 'import json,sys
try: s=json.load(open(sys.argv[1]))
except Exception: sys.exit(1)
sys.exit(0 if len(s)==int(sys.argv[2]) and all(v=="up" for v in s.values()) else 1)' "$1/uac.state" "$CALLS"
}
# flow_stats N: node N's flows and the packets they relayed on s1's
# access and core addresses, then s2's: "FLOWS PACKETS" four times.
flow_stats() {
	ctl_of "$1" flows --json 2>/dev/null | $PY -c 'import json,sys
addrs = sys.argv[1:]
n, p = [0] * 4, [0] * 4
for l in sys.stdin:
    if not l.startswith("{"): continue
    f = json.loads(l)
    a = f["local"].rsplit(":", 1)[0]
    if a in addrs: i = addrs.index(a); n[i] += 1; p[i] += f["packets"]
print(*(x for i in range(4) for x in (n[i], p[i])))' "$S1_ACC" "$S1_CORE" "$S2_ACC" "$S2_CORE"
}
# packets_on N SHARE: the packets node N's flows relayed on SHARE's access
# address.
packets_on() { flow_stats "$1" | awk -v s="$2" '{print s == "s1" ? $2 : $6}'; }
mono() { $PY -c 'import time; print(round(time.monotonic(), 3))'; }
# count_out N SHARE: an nft counter in node N's output hook of what its
# stack sends from SHARE's addresses; sent_from N SHARE: that count.
count_out() {
	local acc=$S1_ACC core=$S1_CORE
	[ "$2" = s2 ] && acc=$S2_ACC core=$S2_CORE
	in_ns "$(ns_of "$1")" nft -f - <<-EOF
		table ip ha_out_$2 {
			chain output { type filter hook output priority filter; policy accept; ip saddr { $acc, $core } counter; }
		}
	EOF
}
sent_from() {
	in_ns "$(ns_of "$1")" nft list table ip "ha_out_$2" 2>/dev/null |
		awk '/packets/ {for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1)} END {print n + 0}'
}

sip_topology_up || { echo "not ok - topology"; exit 1; }
trap sip_topology_down EXIT
trap 'exit 1' INT TERM HUP PIPE
mkdir -p "$HA/ua1" "$HA/ua2"
scaleout_topology || { echo "not ok - scale-out topology"; exit 1; }
kamailio_start || { echo "not ok - kamailio"; exit 1; }
sip_spawn core redis-server --bind "$REDIS_IP" --port "$REDIS_PORT" --save '' --appendonly no \
	--protected-mode no --dir "$HA" >>"$HA/redis.log" 2>&1
wait_for 5 eval 'rcli ping >/dev/null 2>&1'

# --- follow ---------------------------------------------------------------------
hb_key "$HA/hb.key"
node_cfg a s1
node_cfg b s1 s2
node_cfg c s1 s2
for n in a b c; do
	check "follow: natproxyd $n starts" npd_start $n
done
check "follow: every share of every node a healthy standby" \
	wait_for 5 eval '[ "$(roles_of c) $(roles_of b) $(share_health a s1 role)" = "standby standby standby standby standby" ] && ctl_of c health s1 >/dev/null && ctl_of c health s2 >/dev/null'
ka_start a s1:150:b,c
ka_start b s2:150:c s1:50:a,c
check "follow: keepalived gives a s1's addresses, b s2's" \
	wait_for 15 eval 'has_addr a "$S1_ACC" && has_addr b "$S2_ACC"'
ka_start c s1:100:a,b s2:100:b
check "follow: a active for s1, b for s2" \
	wait_for 10 eval '[ "$(share_health a s1 role) $(share_health b s2 role)" = "active active" ]'
check_eq "follow: the leases in redis name them" "a b" "$(rcli get np:s1:lease) $(rcli get np:s2:lease)"
# follows N SHARE WRITER: node N's log says it follows SHARE as WRITER
# writes it.
follows() { grep -q "share '$2' following share '$2' as '$3' writes it" "$HA/$1/natproxyd-$1.log"; }
check "follow: c follows s1 as a writes it and s2 as b writes it; b, active for s2, follows s1 too" \
	wait_for 5 eval 'follows c s1 a && follows c s2 b && follows b s1 a && [ "$(roles_of b)" = "standby active" ]'
sleep 1
check "follow: c holds no virtual address, and stands by for both" \
	eval '! has_addr c "$S1_ACC" && ! has_addr c "$S2_ACC" && [ "$(roles_of c)" = "standby standby" ]'

sip_spawn core $PY tests/lib/ha_ua.py uas "$SIP_FAR_IP" "$HA/ua1"
UAS=$SIP_LAST_PID
sip_spawn lan1 $PY tests/lib/ha_ua.py uac "$SIP_A_IP" "$S1_ACC" "$CALLS" a "$HA/ua1"
UAC1=$SIP_LAST_PID
sip_spawn lan2 $PY tests/lib/ha_ua.py uac "$SIP_B_IP" "$S2_ACC" "$CALLS" b "$HA/ua2"
UAC2=$SIP_LAST_PID
check "follow: $CALLS calls through s1 (a) and $CALLS through s2 (b) are up" \
	wait_for 30 eval 'all_up "$HA/ua1" && all_up "$HA/ua2"'
touch "$HA/ua2/register"
check "follow: terminal B registers through s2 (b), which keeps it alive" \
	wait_for 5 eval '[ "$(cat "$HA/ua2/reg.state" 2>/dev/null)" = registered ]'
# n_flows_of N: node N's flows on s1's access and core addresses and on
# s2's.
n_flows_of() { flow_stats "$1" | awk '{print $1, $3, $5, $7}'; }
f=$((CALLS * 2)) # per call and side: RTP and RTCP
check_eq "follow: a relays s1's flows (access and core), b s2's (and holds s1's)" "$f $f 0 0 $f $f $f $f" \
	"$(n_flows_of a) $(n_flows_of b)"
check "follow: c holds both shares' flows in its own maps, b its own and s1's" \
	wait_for 10 eval '[ "$(n_flows_of c) $(n_flows_of b)" = "$f $f $f $f $f $f $f $f" ]'
check "follow: c's copy of every call of both shares" \
	wait_for 3 eval '[ "$(share_health c s1 copied_calls)" -ge "$CALLS" ] && [ "$(share_health c s2 copied_calls)" -ge "$CALLS" ]'
# (the live calls go there once a second: a call just set up may wait
# for the next write)
check "follow: redis holds each share's stream and live calls" \
	wait_for 3 eval '[ "$(rcli exists np:s1:journal) $(rcli exists np:s2:journal) $(rcli hlen np:s1:media) $(rcli hlen np:s2:media)" = "1 1 $CALLS $CALLS" ]'
check_eq "follow: c's copies relayed nothing, nor b's of s1" "0 0 0" "$(packets_on c s1) $(packets_on c s2) $(packets_on b s1)"
check_eq "follow: c's metrics: standby for s1 and s2" "1 1" \
	"$(metric c 'natproxy_cluster_share_role{share="s1",role="standby"}') $(metric c 'natproxy_cluster_share_role{share="s2",role="standby"}')"

check "follow: the heartbeat: every member of every share heard, each saying standby or active as it is" \
	wait_for 3 eval '[ "$(hb_says a:s1 b:s1 b:s2 c:s1 c:s2)" = "b=standby,c=standby a=active,c=standby c=standby a=active,b=standby b=active" ]'

# --- redis-away: the nodes cut from redis for AWAY s ---------------------------
# nftables in every node's namespace drop what goes to redis and comes from
# it, for 5 leases and more (AWAY s sampled, then the checks): a acts for s1 on b's and c's
# word, b for s2 on c's (the heartbeat: each echoes the active node's
# beats, and so promises not to take the share); nobody promotes. During
# it terminal A sets up one more call through s1 and ends it with a BYE:
# a bills it at once (its end waits in a's queue); B's registration is
# kept alive by b. When redis answers again a and b hold their leases, the
# call's end reaches np:charging once, and c (and b for s1) follows again
# with exactly the active nodes' flows.
AWAY=${HA_SCALEOUT_AWAY:-6}
redis_cut() {
	local n
	for n in a b c; do
		in_ns "$(ns_of $n)" nft -f - <<-EOF || return 1
			table ip ha_noredis {
				chain input { type filter hook input priority filter; policy accept; ip saddr $REDIS_IP drop; }
				chain output { type filter hook output priority filter; policy accept; ip daddr $REDIS_IP drop; }
			}
		EOF
	done
}
redis_heal() { local n; for n in a b c; do in_ns "$(ns_of $n)" nft delete table ip ha_noredis; done; }
# roles_all: every share's role on every node, one line (a s1, b s1 s2, c
# s1 s2), read in one go.
roles_all() {
	$PY -c 'import json,sys
def role(p):
    try: return json.load(open(p))["role"]
    except Exception: return "-"
print(*(role("%s/%s/%s.state.%s.health" % (sys.argv[1], n, n, s)) for n, s in
        (("a", "s1"), ("b", "s1"), ("b", "s2"), ("c", "s1"), ("c", "s2"))))' "$HA"
}
# flows_on N SHARE: node N's flows on SHARE's addresses (their local
# address and port), sorted.
flows_on() {
	local acc=$S1_ACC core=$S1_CORE
	[ "$2" = s2 ] && acc=$S2_ACC core=$S2_CORE
	ctl_of "$1" flows --json 2>/dev/null | $PY -c 'import json,sys
fl = (json.loads(l) for l in sys.stdin if l.startswith("{"))
print(" ".join(sorted(f["local"] for f in fl if f["local"].rsplit(":", 1)[0] in sys.argv[1:])))' "$acc" "$core"
}
ROLES=$HA/roles.txt
: >"$ROLES"
a_pkts=$(packets_on a s1) b_pkts=$(packets_on b s2) b_ka=$(share_health b s2 keepalives_sent)
T_AWAY=$(mono)
t0=$(date +%s.%N)
redis_cut
touch "$HA/ua1/more"
away_end=$(($(date +%s%N) / 1000000 + AWAY * 1000))
EARLY=
while [ "$(($(date +%s%N) / 1000000))" -lt "$away_end" ]; do
	roles_all >>"$ROLES"
	if [ -z "$EARLY" ] && [ -n "$(up_call ua1 "$CALLS")" ]; then
		EARLY=$(up_call ua1 "$CALLS")
		sleep 1 # media of the call, then its BYE
		touch "$HA/ua1/end-$CALLS"
	fi
	sleep 0.3
done
check "redis-away: a, b and c lost redis" \
	wait_for 3 eval '[ "$(share_health a s1 redis) $(share_health b s2 redis) $(share_health c s1 redis)" = "down down down" ]'
check "redis-away: a acted for s1, b for s2, and no standby promoted, for the first ${AWAY} s (sampled every 0.3 s)" \
	eval '[ -s "$ROLES" ] && ! grep -qv "^active standby active standby standby\$" "$ROLES"'
check_eq "redis-away: none isolated, none fenced (health): each acted on its members' promises" "0 0 0 0" \
	"$(share_health a s1 isolations) $(share_health b s2 isolations) $(share_health a s1 fencings) $(share_health b s2 fencings)"
check_eq "redis-away: the lease's time at redis long over, the promises hold: b and c promise a s1, c promises b s2" "b c|c" \
	"$(hb_promised a s1)|$(hb_promised b s2)"
check "redis-away: one more call set up through s1 (a) and ended with a BYE, answered" \
	wait_for 5 eval '[ -n "$EARLY" ] && [ "$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$HA/ua1/uac.state" "$EARLY")" = ended ]'
check_eq "redis-away: a billed it at once, unconfirmed (redis away), once" "1 1" \
	"$(grep -c "\"call_id\": \"$EARLY\"" "$HA/a/charging-a.log") $(share_health a s1 records_unconfirmed)"
check "redis-away: media went on through a (s1) and b (s2)" \
	eval '[ "$(packets_on a s1)" -gt "$a_pkts" ] && [ "$(packets_on b s2)" -gt "$b_pkts" ]'
b_ka_away=$(($(share_health b s2 keepalives_sent) - b_ka))
check "redis-away: b's keepalives to B went on ($b_ka_away sent meanwhile)" test "$b_ka_away" -gt 0
redis_heal
T_HEAL=$(mono)
diag "redis-away: redis unreachable from every node for $(echo "$(date +%s.%N) - $t0" | bc) s, roles sampled $(wc -l <"$ROLES") times"
check "redis-away: healed, a and b hold their leases again" \
	wait_for 10 eval '[ "$(rcli get np:s1:lease) $(rcli get np:s2:lease)" = "a b" ]'
check "redis-away: the call's end reached np:charging once" \
	wait_for 5 eval '[ "$(rcli lrange np:charging 0 -1 | grep -c "$EARLY")" = 1 ]'
check "redis-away: c follows s1 and s2 again with exactly a's and b's flows, b s1 with a's" \
	wait_for 10 eval '[ "$(flows_on c s1)" = "$(flows_on a s1)" ] && [ "$(flows_on c s2)" = "$(flows_on b s2)" ] && [ "$(flows_on b s1)" = "$(flows_on a s1)" ] && [ "$(n_flows_of a)" = "$f $f 0 0" ]'
diag "redis-away: the followers converged $(echo "$(mono) - $T_HEAL" | bc) s after redis answered"
check_eq "redis-away: no standby ever promoted (b for s1, c for both)" "0 0 0" \
	"$(share_health b s1 promotions) $(share_health c s1 promotions) $(share_health c s2 promotions)"

# --- hb-cut: c cut from the heartbeat, every node still reaches redis ----------
# c hears no member and none hears it (UDP to and from port 7400 dropped in
# its namespace; VRRP and redis untouched): the leases decide, as they
# would without a heartbeat. a and b act on, c stands by for both shares
# (it sees them held), the active nodes' health says c unheard.
# transitions: every share's promotions, fencings and isolations, summed.
transitions() {
	$PY -c 'import json,sys
t = 0
for n, s in (("a", "s1"), ("b", "s1"), ("b", "s2"), ("c", "s1"), ("c", "s2")):
    h = json.load(open("%s/%s/%s.state.%s.health" % (sys.argv[1], n, n, s)))
    t += h["promotions"] + h["fencings"] + h["isolations"]
print(t)' "$HA"
}
trans=$(transitions)
in_ns proxyc nft -f - <<-EOF
	table ip ha_nobeat {
		chain input { type filter hook input priority filter; policy accept; udp dport 7400 drop; udp sport 7400 drop; }
		chain output { type filter hook output priority filter; policy accept; udp dport 7400 drop; udp sport 7400 drop; }
	}
EOF
check "hb-cut: a hears c no more (s1), b neither (s1, s2); c hears nobody (health)" \
	wait_for 4 eval '[ "$(hb_says a:s1 b:s1 b:s2 c:s1 c:s2)" = "b=standby,c=unheard a=active,c=unheard c=unheard a=unheard,b=unheard b=unheard" ]'
check_eq "hb-cut: ... and a and b act on, c stands by, the leases theirs, no share changed role meanwhile" \
	"active standby active standby standby a b $trans" \
	"$(roles_all) $(rcli get np:s1:lease) $(rcli get np:s2:lease) $(transitions)"
in_ns proxyc nft delete table ip ha_nobeat
check "hb-cut: healed, every member heard again" \
	wait_for 3 eval '[ "$(hb_says a:s1 b:s2 c:s1)" = "b=standby,c=standby c=standby a=active,b=standby" ]'

# --- kill-a ---------------------------------------------------------------------
count_out c s2
count_out b s1
sleep 1
b_pkts=$(packets_on b s2)
T_KILL_A=$(mono)
t0=$(date +%s.%N)
kill_a_ms=$(date +%s%3N)
kill -9 "$NPD_a"
{ wait "$NPD_a"; } 2>/dev/null # reaped here: no "Killed" line
check "kill-a: s1's addresses move to c" wait_for 10 has_addr c "$S1_ACC"
t1=$(date +%s.%N)
check "kill-a: c active for s1" wait_for 10 eval '[ "$(share_health c s1 role)" = active ]'
t2=$(date +%s.%N)
diag "kill-a: s1's addresses on c after $(echo "$t1 - $t0" | bc) s, c active for s1 after $(echo "$t2 - $t0" | bc) s"
check_eq "kill-a: ... and still a standby for s2, which b holds (lease, addresses)" "standby b" \
	"$(share_health c s2 role) $(rcli get np:s2:lease)"
check "kill-a: c took over s1's $CALLS calls, none of s2's" \
	eval '[ "$(share_health c s1 taken_over)" = "$CALLS" ] && [ "$(share_health c s2 taken_over)" = 0 ]'
node_roles() {
	$PY -c 'import json,sys
print(" ".join(s["share"] + "=" + s["role"] for s in json.load(open(sys.argv[1]))["shares"]))' "$HA/$1/$1.state.health"
}
check_eq "kill-a: natproxyctl health without a share: c healthy, s1 active, s2 standby" "0 s1=active s2=standby" \
	"$(ctl_of c health >/dev/null; echo $?) $(node_roles c)"
check_eq "kill-a: the log and the metrics say so per share" "1 1" \
	"$(grep -c "node 'c' share 's1' active: holds the addresses and the lease; $CALLS calls taken over from 'a'" "$HA/c/natproxyd-c.log") $(metric c 'natproxy_cluster_share_role{share="s2",role="standby"}')"
# terms_in KEY PAIR: terminal records of PAIR in the stream KEY.
terms_in() { rcli xrange "$1" - + | grep -c "^term $2 "; }
# since_ms KEY: when the stream's first entry was written (its id's time,
# ms).
since_ms() { rcli xrange "$1" - + COUNT 1 | head -1 | cut -d- -f1; }
check "kill-a: c writes s1's stream (it starts with c's snapshot): s1's terminals, none of its copies of s2's" \
	wait_for 3 eval '[ "$(since_ms np:s1:journal)" -gt "$kill_a_ms" ] && [ "$(terms_in np:s1:journal 0)" -ge "$CALLS" ] && [ "$(terms_in np:s1:journal 1)" = 0 ]'
c_s1=$(packets_on c s1)
check "kill-a: c relays s1's media" wait_for 5 eval '[ "$(packets_on c s1)" -gt "$c_s1" ]'
check "kill-a: s2's calls still on b: its flows go on relaying" \
	wait_for 5 eval '[ "$(packets_on b s2)" -gt "$b_pkts" ]'
# b sends keepalives to B every 2 s; c, a standby for s2, none.
check_eq "kill-a: while b acts for s2, c sent nothing from s2's addresses (no keepalive to B) and relayed none of its media" "0 0" \
	"$(sent_from c s2) $(packets_on c s2)"
check_eq "kill-a: s2's calls live on b in redis" "$CALLS b" "$(rcli hlen np:s2:media) $(rcli get np:s2:lease)"
# b, in s1 too (priority 50 to c's 100), stays a standby for it: it now
# follows s1 as c writes it (the stream read again from its start).
check "kill-a: b, a standby for s1 still, follows s1 as c writes it, with every flow" \
	wait_for 5 eval 'follows b s1 c && [ "$(roles_of b)" = "standby active" ] && [ "$(n_flows_of b)" = "$f $f $f $f" ]'
# What b showed when the check ended, and s1's relay ports it holds that c
# does not. It failed one run in four once: a's journal batch from the
# redis outage, left in the connection a had given up on, reached redis
# seconds after it healed, behind c's snapshot, and b copied the call a
# had ended meanwhile (its ports here). Lost connections now close with a
# reset (ctl/cluster/redis.c, disconnect()).
diag "kill-a: b: follows s1 as c writes it: $(follows b s1 c && echo yes || echo no), roles $(roles_of b), flows $(n_flows_of b) (of $f each); s1's on b, not on c: $(comm -23 <(flows_on b s1 | tr ' ' '\n' | sort) <(flows_on c s1 | tr ' ' '\n' | sort) | tr '\n' ' ')"
check_eq "kill-a: b sent nothing from s1's addresses and its copies relayed nothing" "0 0" \
	"$(sent_from b s1) $(packets_on b s1)"

# --- back: natproxyd a starts again ------------------------------------------------
# s1's stream is the share's: a, back, follows it as c writes it (with c's
# copies of s2 in it, which a passes over); keepalived leaves s1 on c.
check "back: natproxyd a starts again" npd_start a
check "back: a follows s1 as c writes it, a standby" \
	wait_for 10 eval 'grep -q "share '"'s1'"' following share '"'s1'"' as '"'c'"'" "$HA/a/natproxyd-a.log" && [ "$(share_health a s1 role)" = standby ]'
check "back: a holds s1's flows again, none of s2's" wait_for 10 eval '[ "$(n_flows_of a)" = "$f $f 0 0" ]'
check "back: a healthy, s1's addresses stay on c (nopreempt)" \
	eval 'ctl_of a health s1 >/dev/null && has_addr c "$S1_ACC" && ! has_addr a "$S1_ACC"'

# --- kill-b ---------------------------------------------------------------------
T_KILL_B=$(mono)
t0=$(date +%s.%N)
kill -9 "$NPD_b"
{ wait "$NPD_b"; } 2>/dev/null # reaped here: no "Killed" line
check "kill-b: s2's addresses move to c" wait_for 10 has_addr c "$S2_ACC"
check "kill-b: c active for both shares" wait_for 10 eval '[ "$(roles_of c)" = "active active" ]'
diag "kill-b: c active for s2 after $(echo "$(date +%s.%N) - $t0" | bc) s"
check_eq "kill-b: c took over s2's $CALLS calls" "$CALLS" "$(share_health c s2 taken_over)"
c_s2=$(packets_on c s2)
check "kill-b: c relays s2's media" wait_for 5 eval '[ "$(packets_on c s2)" -gt "$c_s2" ]'
check "kill-b: c, active for s2, keeps B's registration alive (keepalives from s2's address)" \
	wait_for 6 eval '[ "$(sent_from c s2)" -gt 0 ] && [ "$(cat "$HA/ua2/reg.state")" = registered ]'
sleep 1 # media through c, for the gaps

# --- bye --------------------------------------------------------------------------
T_BYE=$(mono)
touch "$HA/ua1/bye" "$HA/ua2/bye"
check "bye: both terminals' UAs end" wait_for 30 eval '! _sip_running $UAC1 && ! _sip_running $UAC2'
touch "$HA/ua1/stop"
check "bye: the far end's UA ends" wait_for 10 eval '! _sip_running $UAS'
check "bye: a, following s1, dropped its copies with the calls' ends" \
	wait_for 5 eval '[ "$(n_flows_of a)" = "0 0 0 0" ]'
check "bye: no record waits for redis" \
	wait_for 5 eval '[ "$(share_health c s1 records_waiting) $(share_health c s2 records_waiting)" = "0 0" ]'
RES=$HA/result.txt
$PY - "$HA/ua1/uac.json" "$HA/ua2/uac.json" "$HA/ua1/uas.json" "$HA/c/charging-c.log" \
	"$HA/a/charging-a.log" "$HA/b/charging-b.log" "$T_KILL_A" "$T_KILL_B" "$T_BYE" "$EARLY" "$T_AWAY" "$T_HEAL" >"$RES" <<-'EOF'
	import json, sys
	uas = json.load(open(sys.argv[3]))
	def recs(path):
	    try:
	        return [json.loads(l) for l in open(path)]
	    except OSError:
	        return []
	rc, ra, rb = recs(sys.argv[4]), recs(sys.argv[5]), recs(sys.argv[6])
	t_a, t_b, t_bye = (float(x) for x in sys.argv[7:10])
	early = sys.argv[10]  # the call set up and ended through a while redis was away
	t_away, t_heal = float(sys.argv[11]), float(sys.argv[12])
	def gap(gaps, since, until):
	    g = [d for at, d in gaps if since - 0.5 <= at <= until]
	    return max(g) if g else 0.0
	for share, path, killed, killer in (("s1", sys.argv[1], t_a, "a"), ("s2", sys.argv[2], t_b, "b")):
	    for cid, u in sorted(json.load(open(path)).items()):
	        f = uas.get(cid, {})
	        by = {n: [r for r in recs_n if r["call_id"] == cid] for n, recs_n in (("a", ra), ("b", rb), ("c", rc))}
	        ender = "a" if cid == early else "c"
	        r = by[ender][0] if by[ender] else {}
	        took = (r.get("takeover") or {}).get("from", "-")
	        print("call", cid, "share", share, "bye_ok", int(u["bye_ok"]), "far_bye", int(f.get("bye", False)),
	              "ender", ender, "records_end", len(by[ender]),
	              "records_else", sum(len(v) for n, v in by.items() if n != ender),
	              "takeover_ok", int(took == ("-" if cid == early else killer)), "takeover_from", took,
	              "gap_terminal", gap(u["gaps"], killed, t_bye), "gap_far", gap(f.get("gaps", []), killed, t_bye),
	              "gap_away", max(gap(u["gaps"], t_away, t_heal), gap(f.get("gaps", []), t_away, t_heal)),
	              "rec_up", sum(s["from_terminal"]["packets"] for s in r.get("streams", [])),
	              "far_received", f.get("received", -1), "term_received", u["received"])
EOF
sed 's/^/# /' "$RES"
field() { awk -v k="$1" -v s="${2:-}" '{for (i = 1; i < NF; i++) if ($i == "share") sh = $(i + 1); for (i = 1; i < NF; i++) if ($i == k && (s == "" || sh == s)) print $(i + 1)}' "$RES"; }
all_eq() { local v; for v in $(field "$1" "${3:-}"); do [ "$v" = "$2" ] || return 1; done; [ "$(field "$1" "${3:-}" | wc -l)" -gt 0 ]; }
N_CALLS=$((2 * CALLS + 1)) # and the one set up and ended while redis was away
check_eq "bye: a result line per call" "$N_CALLS" "$(grep -c '^call ' "$RES")"
check "bye: every call ended with a BYE, answered 200" all_eq bye_ok 1
check "bye: ... which reached the far end" all_eq far_bye 1
check "bye: exactly one charging record per call, by the node that ended it (c; a the one ended while redis was away)" \
	all_eq records_end 1
check "bye: ... none by the others" all_eq records_else 0
check "bye: s1's records say taken over from a, s2's from b (the call a ended: no takeover)" all_eq takeover_ok 1
check_eq "bye: redis' np:charging holds each call once" "$N_CALLS $N_CALLS" \
	"$(rcli llen np:charging) $(rcli lrange np:charging 0 -1 | grep -o '"call_id": "[^"]*"' | sort -u | wc -l)"
# The media at the terminals went on through each takeover: no pause
# longer than the address move (keepalived: 3 adverts and the skew).
# below LIMIT FIELD...: every value of each field is under LIMIT.
below() {
	local lim=$1 k
	shift
	for k in "$@"; do
		[ "$(field "$k" | wc -l)" = "$N_CALLS" ] || return 1
		field "$k" | awk -v l="$lim" '$1 >= l {f = 1} END {exit f}' || return 1
	done
}
check "bye: no pause of 2.5 s or more at the terminals or the far end after either kill" \
	below 2.5 gap_terminal gap_far
check "bye: no pause of 1 s or more in any call's media while redis was away" below 1 gap_away
# The records count both nodes' packets: never more than arrived, and
# under by at most what the killed node relayed after its last
# replication and until the addresses moved (a second each, at 50
# packets a second; 150 allows 3 s).
counts_ok() {
	awk '{for (i = 1; i < NF; i++) v[$i] = $(i + 1); d = v["far_received"] - v["rec_up"]; if (d < 0 || d > 150) f = 1} END {exit f}' "$RES"
}
check "bye: each record's packets from the terminal: never more than the far end received, at most 3 s under" counts_ok
diag "largest media gap after the kill, per call (terminal/far end, s): $(paste -d/ <(field gap_terminal) <(field gap_far) | tr '\n' ' ')"
diag "largest media gap while redis was away, per call (s): $(field gap_away | tr '\n' ' ')"
tap_done
