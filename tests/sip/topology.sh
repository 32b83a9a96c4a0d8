# SPDX-License-Identifier: GPL-2.0-only
# The SIP end-to-end topology for natproxy's tests, sourced by bash scripts:
# terminals in private LANs behind masquerading NAT routers on an access
# network, natproxy's namespace between that access network and the core,
# and Kamailio (the softswitch) plus far-end UAs in the core. Picture and
# usage: tests/sip/README.md.
#
#   . tests/sip/topology.sh
#   trap sip_topology_down EXIT
#   sip_topology_up
#
# Everything carries the run's prefix ($NP_RUN) and lives under
# $NP_RUN_DIR; sip_topology_down stops what this harness started (by PID),
# deletes the namespaces, unmounts the bpffs and removes the run directory,
# also after a failure. Set SIP_KEEP_LOGS=DIR to copy the run directory's
# logs, traces and captures there first.

NP_RUN=${NP_RUN:-nps$$}
# natproxyd as a suite starts it: the plain build, or the one NATPROXYD
# names (tests/e2e/sanitized.sh: build/sanitized/natproxyd).
NPD_BIN=${NATPROXYD:-build/natproxyd}
NP_RUN_DIR=/run/natproxy-test/$NP_RUN
NP_PIN_DIR=$NP_RUN_DIR/bpf/natproxy
export NP_RUN NP_RUN_DIR NP_PIN_DIR

SIP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$SIP_DIR/../lib/udp_errors.sh"
SIP_SCENARIOS=$SIP_DIR/scenarios
SIP_DOMAIN=${SIP_DOMAIN:-example.test}
# Short names; the namespaces are "$NP_RUN-<name>" (see sip_ns).
SIP_NAMESPACES=(lan0 lan1 lan2 nat1 nat2 acc proxy core)
SIP_PIDS=()
SIP_CAPTURE_PIDS=()
SIP_LAST_PID=
KAM_PID=
KAM_CTL=$NP_RUN_DIR/kamailio_ctl
KAM_LOG=$NP_RUN_DIR/kamailio.log

# Addresses, for tests to use by name.
SIP_A_IP=192.168.1.10 SIP_A_GW=192.168.1.1 SIP_NAT1_IP=203.0.113.11
SIP_B_IP=192.168.2.10 SIP_B_GW=192.168.2.1 SIP_NAT2_IP=203.0.113.12
SIP_C_IP=203.0.113.30
SIP_PROXY_ACC_IP=203.0.113.1 SIP_PROXY_CORE_IP=198.51.100.1
SIP_KAM_IP=198.51.100.2 SIP_FAR_IP=198.51.100.10 SIP_CORE_UA_IP=198.51.100.20

sip_ns() { echo "$NP_RUN-$1"; }

# in_ns NAME CMD...: runs a command in one of the topology's namespaces.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$NP_RUN-$ns" "$@"
}

# sip_spawn NAME CMD...: starts CMD in the background in namespace NAME
# ("-" for the namespace of the caller) and remembers its PID, in
# SIP_LAST_PID and for cleanup. Give it a command, not a shell function: a
# function would run in a subshell whose PID is not the process to stop.
# `ip netns exec` execs the command, so the PID is the command's.
sip_spawn() {
	local ns=$1
	shift
	if [ "$ns" = - ]; then
		"$@" &
	else
		ip netns exec "$NP_RUN-$ns" "$@" &
	fi
	SIP_LAST_PID=$!
	SIP_PIDS+=("$SIP_LAST_PID")
}

# _sip_running PID: whether a child of this shell still runs (a zombie does
# not; nor does a process that got the PID after bash reaped ours).
# Builtins only: polling loops call it every 0.1 s, teardown for every PID.
_sip_running() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	set -- ${stat##*) }
	[ "${2:-}" = "$BASHPID" ] && [ "$1" != Z ] && [ "$1" != X ]
}

# sip_wait PID [SECONDS]: waits (bounded, default 60 s) for a process
# sip_spawn started and returns its exit status; 124 if it still runs.
sip_wait() {
	local pid=$1 tenths=$((${2:-60} * 10)) i
	for ((i = 0; i < tenths; i++)); do
		_sip_running "$pid" || break
		sleep 0.1
	done
	_sip_running "$pid" && return 124
	wait "$pid"
}

# sip_stop PID [SIGNAL]: stops one process sip_spawn started: SIGNAL
# (default TERM), then KILL after 5 s; reaps it.
sip_stop() {
	local pid=$1 i
	_sip_running "$pid" && kill -"${2:-TERM}" "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		_sip_running "$pid" || break
		sleep 0.1
	done
	_sip_running "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# capture NS DEV FILE [FILTER...]: tcpdump on DEV in namespace NS into FILE
# (relative names go to the run directory); returns once it listens, its
# PID in SIP_LAST_PID. Immediate mode: packets are written as they come,
# not when a capture block fills or times out (1 s), so a capture stopped
# soon after a short exchange still holds it.
capture() { capture_start "$@" && captures_listening; }

# capture_start NS DEV FILE [FILTER...]: the same, without waiting for it
# to listen: captures started so start side by side (tcpdump takes a few
# tenths of a second each), captures_listening waits for them all.
SIP_CAPTURE_STARTING=()
capture_start() {
	local ns=$1 dev=$2 file=$3
	shift 3
	case $file in */*) ;; *) file=$NP_RUN_DIR/$file ;; esac
	sip_spawn "$ns" tcpdump -n -U --immediate-mode -s 0 -Z root -i "$dev" -w "$file" "$@" \
		>/dev/null 2>"$file.log"
	SIP_CAPTURE_PIDS+=("$SIP_LAST_PID")
	SIP_CAPTURE_STARTING+=("$SIP_LAST_PID $file $ns/$dev")
}

# captures_listening: every capture capture_start started listens
# (bounded, 5 s each); 1 if one does not, saying so.
captures_listening() {
	local c pid file where i err=0
	for c in "${SIP_CAPTURE_STARTING[@]}"; do
		read -r pid file where <<<"$c"
		for ((i = 0; i < 50; i++)); do
			grep -q "listening on" "$file.log" 2>/dev/null && continue 2
			_sip_running "$pid" || break
			sleep 0.1
		done
		echo "capture: tcpdump on $where did not start: $(cat "$file.log")" >&2
		err=1
	done
	SIP_CAPTURE_STARTING=()
	return $err
}

# stop_capture PID: stops one capture (its PID: SIP_LAST_PID after capture),
# after a moment for the last packets.
stop_capture() {
	local pid=$1 p keep=()
	sleep 0.3
	sip_stop "$pid" INT
	for p in "${SIP_CAPTURE_PIDS[@]}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	SIP_CAPTURE_PIDS=("${keep[@]}")
}

# stop_captures: stops every capture, after a moment for the last packets.
stop_captures() {
	local pid
	[ ${#SIP_CAPTURE_PIDS[@]} -eq 0 ] && return 0
	sleep 0.3
	# All told at once, then each reaped (a second SIGINT changes nothing).
	for pid in "${SIP_CAPTURE_PIDS[@]}"; do
		_sip_running "$pid" && kill -INT "$pid" 2>/dev/null
	done
	for pid in "${SIP_CAPTURE_PIDS[@]}"; do
		sip_stop "$pid" INT
	done
	SIP_CAPTURE_PIDS=() SIP_CAPTURE_STARTING=()
}

# sip_veth NS1 DEV1 NS2 DEV2: a veth pair, each end straight in its
# namespace (nothing appears in the caller's), both up, with the kernel's
# defaults: checksum offload on (senders hand on partial UDP checksums, and
# a capture on a veth shows them so: tests/lib/pcap_udp.py says "partial"),
# GRO off, no XDP program.
sip_veth() {
	ip link add "$2" netns "$NP_RUN-$1" type veth peer name "$4" netns "$NP_RUN-$3" || return 1
	in_ns "$1" ip link set "$2" up
	in_ns "$3" ip link set "$4" up
	return 0
}

# sip_nat NAME LAN_NET LAN_GW WAN_ADDR: a NAT router: masquerades LAN_NET
# out of "wan" with random source ports, routes nowhere but its two links.
sip_nat() {
	local ns=$1
	in_ns "$ns" ip addr add "$3/24" dev lan
	in_ns "$ns" ip addr add "$4/24" dev wan
	in_ns "$ns" sysctl -q -w net.ipv4.ip_forward=1
	in_ns "$ns" nft -f - <<-EOF
		table ip nat {
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				ip saddr $2 oifname "wan" counter masquerade random
			}
		}
	EOF
}

# in_ns_batch NAME: the ip commands on stdin (ip -batch) in namespace NAME,
# in one process: a topology is a hundred of them.
in_ns_batch() { ip -n "$NP_RUN-$1" -batch -; }

sip_topology_up() {
	local ns
	if [ -e "$NP_RUN_DIR" ]; then
		echo "sip_topology_up: $NP_RUN_DIR exists: another run named $NP_RUN?" >&2
		return 1
	fi
	mkdir -p "$NP_RUN_DIR/bpf" || return 1
	# Pins must live on a bpffs of the initial mount namespace: one made
	# inside `ip netns exec` vanishes when that command exits.
	mount -t bpf bpf "$NP_RUN_DIR/bpf" || return 1
	for ns in "${SIP_NAMESPACES[@]}"; do
		ip netns add "$NP_RUN-$ns" || return 1
		# Every namespace of SIP_NAMESPACES (a test may add its own).
		ip -n "$NP_RUN-$ns" link set lo up
		# IPv4 only: no router solicitations or MLD in the captures.
		in_ns "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
	done

	# Every link, each end straight in its namespace (as sip_veth makes
	# them: the kernel's defaults, GRO off, no XDP). The access network: a
	# bridge joining the NATs, terminal C, the proxy.
	ip -batch - <<-EOF || return 1
		link add eth0 netns $NP_RUN-lan1 type veth peer name lan netns $NP_RUN-nat1
		link add eth0 netns $NP_RUN-lan2 type veth peer name lan netns $NP_RUN-nat2
		link add wan netns $NP_RUN-nat1 type veth peer name p-nat1 netns $NP_RUN-acc
		link add wan netns $NP_RUN-nat2 type veth peer name p-nat2 netns $NP_RUN-acc
		link add eth0 netns $NP_RUN-lan0 type veth peer name p-lan0 netns $NP_RUN-acc
		link add acc0 netns $NP_RUN-proxy type veth peer name p-proxy netns $NP_RUN-acc
		link add core0 netns $NP_RUN-proxy type veth peer name eth0 netns $NP_RUN-core
	EOF
	in_ns_batch acc <<-EOF || return 1
		link add br0 type bridge
		link set br0 up
		link set p-nat1 master br0 up
		link set p-nat2 master br0 up
		link set p-lan0 master br0 up
		link set p-proxy master br0 up
	EOF

	# Terminals A and B behind the NATs, C with none.
	in_ns_batch lan1 <<-EOF || return 1
		link set eth0 up
		addr add $SIP_A_IP/24 dev eth0
		route add default via $SIP_A_GW
	EOF
	in_ns_batch lan2 <<-EOF || return 1
		link set eth0 up
		addr add $SIP_B_IP/24 dev eth0
		route add default via $SIP_B_GW
	EOF
	in_ns_batch lan0 <<-EOF || return 1
		link set eth0 up
		addr add $SIP_C_IP/24 dev eth0
	EOF
	for ns in nat1 nat2; do
		in_ns_batch "$ns" <<-EOF || return 1
			link set lan up
			link set wan up
		EOF
	done
	sip_nat nat1 192.168.1.0/24 "$SIP_A_GW" "$SIP_NAT1_IP" || return 1
	sip_nat nat2 192.168.2.0/24 "$SIP_B_GW" "$SIP_NAT2_IP" || return 1

	# The proxy: one leg on each side, no route between them but natproxy.
	# Forwarding is on because bpf_fib_lookup() answers "forwarding
	# disabled" without it; the guard below drops (and counts) anything
	# the kernel would forward with an address of the other side.
	in_ns_batch proxy <<-EOF || return 1
		link set acc0 up
		link set core0 up
		addr add $SIP_PROXY_ACC_IP/24 dev acc0
		addr add $SIP_PROXY_CORE_IP/24 dev core0
	EOF
	in_ns proxy sysctl -q -w net.ipv4.ip_forward=1
	in_ns proxy nft -f - <<-EOF || return 1
		table ip sip_guard {
			counter leak_to_core {}
			counter leak_to_access {}
			chain forward {
				type filter hook forward priority filter; policy accept;
				oifname "core0" ip saddr { 192.168.0.0/16, 203.0.113.0/24 } counter name leak_to_core drop
				oifname "acc0" ip saddr 198.51.100.0/24 counter name leak_to_access drop
			}
		}
	EOF

	# The core: Kamailio, the far-end UA and one more UA for self tests.
	in_ns_batch core <<-EOF || return 1
		link set eth0 up
		addr add $SIP_KAM_IP/24 dev eth0
		addr add $SIP_FAR_IP/24 dev eth0
		addr add $SIP_CORE_UA_IP/24 dev eth0
	EOF
	return 0
}

# sip_fast_peers: GRO on the peers of the proxy's acc0 and core0, a
# non-default setting for the checks that are about XDP's own path: a veth
# takes what XDP sends into it only when its peer runs NAPI (XDP or GRO).
# natproxyd notices within a second that it can send there.
sip_fast_peers() {
	in_ns acc ethtool -K p-proxy gro on >/dev/null &&
		in_ns core ethtool -K eth0 gro on >/dev/null
}

# sip_topology_begin: the topology up, torn down on any exit; a failure to
# start is one failed check and the end of the script.
sip_topology_begin() {
	trap sip_topology_down EXIT
	trap 'exit 1' INT TERM HUP PIPE
	sip_topology_up || { echo "not ok - topology"; exit 1; }
}

# sip_test_begin: what every SIP end-to-end script starts with: the
# topology and Kamailio up.
sip_test_begin() {
	sip_topology_begin
	kamailio_start || { echo "not ok - kamailio"; exit 1; }
}

# gateway_test_begin: what a gateway (MGCP, H.248) script starts with: the
# topology up, its own peers in place of Kamailio, XDP's own path to them.
gateway_test_begin() {
	sip_topology_begin
	sip_fast_peers
}

# proxy_config FILE PEER ACCESS_KEYS CORE_KEYS [SECTION...]: a one-pair
# natproxy.yaml at FILE on the topology's addresses. PEER is the pair's
# core peer at $SIP_KAM_IP and the protocol the access realm listens for:
# sip (the softswitch, 5060), mgcp (the call agent, 2727) or h248 (the
# MGC, 2944). ACCESS_KEYS and CORE_KEYS are further keys of each realm
# (YAML lines indented 4, or ""); each SECTION is top-level YAML. The
# realms' relay ports: PROXY_ACCESS_MEDIA (30000-30999) and
# PROXY_CORE_MEDIA (40000-40999).
proxy_config() {
	local port peer
	case $2 in
	sip) port="sip_port: 5060" peer="softswitch: $SIP_KAM_IP:5060" ;;
	mgcp) port="mgcp_port: 2727" peer="call_agent: $SIP_KAM_IP:2727" ;;
	h248) port="h248_port: 2944" peer="mgc: $SIP_KAM_IP:2944" ;;
	*) echo "proxy_config: no peer '$2'" >&2; return 1 ;;
	esac
	{
		cat <<-EOF
			realms:
			  - name: access
			    interface: acc0
			    address: $SIP_PROXY_ACC_IP
			    $port
			    media_ports: ${PROXY_ACCESS_MEDIA:-30000-30999}
		EOF
		[ -z "$3" ] || printf '%s\n' "$3"
		cat <<-EOF
			  - name: core
			    interface: core0
			    address: $SIP_PROXY_CORE_IP
			    sip_ports: 20000-20999
			    media_ports: ${PROXY_CORE_MEDIA:-40000-40999}
		EOF
		[ -z "$4" ] || printf '%s\n' "$4"
		cat <<-EOF
			pairs:
			  - first: access
			    second: core
			    $peer
		EOF
		[ $# -lt 5 ] || printf '%s\n' "${@:5}"
	} >"$1"
}

# gateway_config mgcp|h248 INTERVAL [SECTION...]: $NP_RUN_DIR/natproxy.yaml
# with one pair that carries that gateway protocol only, gateways audited
# every INTERVAL s, records to $CHARGING.
gateway_config() {
	proxy_config "$NP_RUN_DIR/natproxy.yaml" "$1" "" "" \
		"keepalive:
  interval: $2" "charging:
  file: $CHARGING" "${@:3}"
}

# sip_csum_errors: UDP datagrams (IPv4 and IPv6) that the NATs, the
# terminals and the core dropped for a bad checksum, all together.
sip_csum_errors() {
	local ns n=0
	for ns in lan0 lan1 lan2 nat1 nat2 core; do
		n=$((n + $(udp_csum_errors "$NP_RUN-$ns")))
	done
	echo "$n"
}

# sip_leaks: packets the proxy's kernel would have forwarded between access
# and core (dropped by the guard); "0" when natproxy alone bridged them.
# When nft cannot list the table it says so instead (status 1): never "0".
sip_leaks() {
	local out
	out=$(in_ns proxy nft list table ip sip_guard) ||
		{ echo "cannot list table ip sip_guard"; return 1; }
	echo "$out" |
		awk '/packets/ {for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1)} END {print n + 0}'
}

# kamailio_start [CFG]: Kamailio in the core namespace, in the foreground of
# a process we own, logging to $KAM_LOG, its control socket at $KAM_CTL;
# returns once it answers there (bounded, 10 s). SIP_KAM_SHM: its shared
# memory in MB (default 32).
kamailio_start() {
	local cfg=${1:-$SIP_DIR/kamailio.cfg} i extra=()
	# SIP_KAM_TRUST_ALL=1: no digest challenges for anyone in the core
	# network, natproxy's address included (the benchmarks measure the
	# proxies, not the softswitch's authentication).
	[ -n "${SIP_KAM_TRUST_ALL:-}" ] && extra=(-A 'SBC_IP="0.0.0.0"')
	if kam core.uptime >/dev/null 2>&1; then
		echo "kamailio_start: a Kamailio already answers on $KAM_CTL" >&2
		return 1
	fi
	rm -f "$NP_RUN_DIR/kamailio.pid"
	sip_spawn core kamailio -f "$cfg" -DD -E -n "${SIP_KAM_CHILDREN:-1}" -m "${SIP_KAM_SHM:-32}" -M 8 \
		-P "$NP_RUN_DIR/kamailio.pid" -Y "$NP_RUN_DIR" -w "$NP_RUN_DIR" \
		-A "CTL_SOCK=\"unix:$KAM_CTL\"" "${extra[@]}" >"$KAM_LOG" 2>&1
	KAM_PID=$SIP_LAST_PID
	for ((i = 0; i < 100; i++)); do
		_sip_running "$KAM_PID" || break
		[ "$(cat "$NP_RUN_DIR/kamailio.pid" 2>/dev/null)" = "$KAM_PID" ] &&
			kam core.uptime >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "kamailio_start: Kamailio did not come up; its log:" >&2
	tail -20 "$KAM_LOG" >&2
	return 1
}

kamailio_stop() {
	[ -n "$KAM_PID" ] && sip_stop "$KAM_PID"
	KAM_PID=
}

# kam RPC [ARGS...]: kamcmd against this run's Kamailio.
kam() { kamcmd -s "unix:$KAM_CTL" "$@"; }

# kamailio_contacts AOR: the contact URIs registered for AOR (e.g.
# b, b@example.test or sip:b@example.test), one a line, nothing if none.
kamailio_contacts() {
	kam ul.lookup location "${1#sip:}" 2>/dev/null |
		sed -n 's/^[[:space:]]*Address: //p'
}

# sipp_cmd NAME SCENARIO ARGS...: the command line (in SIPP_CMD) of a
# bounded sipp run: one call (-m 1; uas.xml stops itself after its call),
# SIP_SIPP_TIMEOUT seconds at most (default 30), every trace in the run
# directory under NAME (NAME.out: sipp's screen, NAME.err: unexpected
# messages and failures, NAME.stat: statistics, NAME.msg: SIP messages,
# NAME.log: the scenario's <log>s). SCENARIO: a name in scenarios/ or a
# path. ARGS carry the rest: -i, -p, -mi, -mp, -s, -key user X, the remote
# host. Given a -key user NAME (first one), and no -au, sipp answers
# challenges as NAME with password NAME-pw (the users of kamailio.cfg).
# uac.xml talks for -d milliseconds: 4500 (4 s of RTP, then silence)
# unless ARGS give their own -d.
sipp_cmd() {
	local name=$1 sf=$2 calls arg prev='' prev2='' user='' given_au=0 auth=()
	local domain=(-key domain "$SIP_DOMAIN") t=${SIP_SIPP_TIMEOUT:-30} talk=(-d 4500)
	shift 2
	# sipp keeps the first -key of a name: give ours only if ARGS have none.
	# The credentials a challenge is answered with are the first -key
	# user's (password USER-pw, Kamailio's convention) unless ARGS give -au.
	for arg in "$@"; do
		[ "$prev" = -key ] && [ "$arg" = domain ] && domain=()
		[ "$prev2" = -key ] && [ "$prev" = user ] && [ -z "$user" ] && user=$arg
		[ "$arg" = -au ] && given_au=1
		[ "$arg" = -d ] && talk=()
		prev2=$prev prev=$arg
	done
	[ -n "$user" ] && [ "$given_au" = 0 ] && auth=(-au "$user" -ap "$user-pw")
	case $sf in */*) ;; *) sf=$SIP_SCENARIOS/$sf.xml ;; esac
	# uas.xml ends itself after its call (keepalives before it are calls
	# too, so a call count would stop it early); the others make one call.
	# The client scenarios answer keepalives with ooc_keepalive.xml.
	case $sf in
	*/uas.xml | */uas_hold.xml) calls=() ;;
	*) calls=(-m 1 -oocsf "$SIP_SCENARIOS/ooc_keepalive.xml") ;;
	esac
	SIPP_CMD=(timeout -k 5 "$((t + 15))" env -C "$NP_RUN_DIR" sipp -sf "$sf" "${calls[@]}"
		-nostdin -timeout "${t}s" -timeout_error -recv_timeout 20s
		"${domain[@]}" "${auth[@]}" "${talk[@]}"
		-trace_err -error_file "$NP_RUN_DIR/$name.err"
		-trace_stat -stf "$NP_RUN_DIR/$name.stat"
		-trace_msg -message_file "$NP_RUN_DIR/$name.msg"
		-trace_logs -log_file "$NP_RUN_DIR/$name.log"
		"$@")
}

# sipp_run NS NAME SCENARIO ARGS...: runs sipp in namespace NS, returns its
# exit status (0: the call passed).
sipp_run() {
	local ns=$1
	shift
	sipp_cmd "$@"
	in_ns "$ns" "${SIPP_CMD[@]}" >"$NP_RUN_DIR/$1.out" 2>&1
}

# sipp_bound NS: waits (bounded, 5 s) until the sipp just started in NS
# with sip_spawn (SIP_LAST_PID) has bound its SIP port; 1 if it exits first.
sipp_bound() {
	local ns=$1 i child
	for ((i = 0; i < 50; i++)); do
		# timeout's child is sipp (env execs it): look for its socket.
		child=$(pgrep -P "$SIP_LAST_PID" | head -1)
		[ -n "$child" ] && in_ns "$ns" ss -Hunap 2>/dev/null |
			grep -q "\"sipp\",pid=$child," && return 0
		_sip_running "$SIP_LAST_PID" || return 1
		sleep 0.1
	done
	return 1
}

# sipp_spawn NS NAME SCENARIO ARGS...: the same in the background (a
# server, e.g. uas); SIP_LAST_PID is its PID, for sip_wait. Waits until
# sipp has bound its SIP port (sipp_bound).
sipp_spawn() {
	local ns=$1
	shift
	sipp_cmd "$@"
	sip_spawn "$ns" "${SIPP_CMD[@]}" >"$NP_RUN_DIR/$1.out" 2>&1
	sipp_bound "$ns"
}

# natproxyd_start LOG NATPROXYD ARGS...: the natproxyd binary NATPROXYD
# in the proxy namespace, on this run's pins, with ARGS (-c, --state...),
# appending to LOG; PID in NPD_PID. Returns once LOG has one more
# "natproxyd running" than before (bounded, 5 s), 1 if it does not.
NPD_PID=
natproxyd_start() {
	local log=$1 bin=$2 before i
	shift 2
	before=$(grep -c 'natproxyd running' "$log" 2>/dev/null)
	sip_spawn proxy "$bin" --pin-dir "$NP_PIN_DIR" "$@" >>"$log" 2>&1
	NPD_PID=$SIP_LAST_PID
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'natproxyd running' "$log")" -gt "${before:-0}" ] &&
			return 0
		_sip_running "$NPD_PID" || return 1
		sleep 0.1
	done
	return 1
}

# natproxyd_reload LOG: SIGHUP natproxyd (NPD_PID); waits (bounded, 10 s)
# until LOG has the outcome of that reload; 0 if it was "reloaded", 1 if
# "reload refused" or none came.
natproxyd_reload() {
	local log=$1 before i
	before=$(grep -c 'reloaded: \|reload refused' "$log")
	kill -HUP "$NPD_PID"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'reloaded: \|reload refused' "$log")" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(grep -c 'reloaded: \|reload refused' "$log")" -gt "$before" ] &&
		grep 'reloaded: \|reload refused' "$log" | tail -1 | grep -q 'reloaded: '
}

# file_appears FILE: it exists within 15 s.
file_appears() {
	local i
	for ((i = 0; i < 150; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_for SECONDS CMD...: until CMD succeeds, tried every 0.1 s (bounded).
wait_for() {
	local tenths=$(($1 * 10)) i
	shift
	for ((i = 0; i < tenths; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# natproxyd_restart_cued SIGNAL CUE LOG NATPROXYD ARGS...: a peer's
# restart cue (tests/lib/restart_cue.py): natproxyd (NPD_PID) stopped with
# SIGNAL (KILL: killed; TERM: a clean stop), CUE.down, 0.3 s in which XDP
# relays on alone, natproxyd started again as natproxyd_start does (its
# status returned), CUE.up.
natproxyd_restart_cued() {
	local sig=$1 cue=$2 err
	shift 2
	sip_stop "$NPD_PID" "$sig"
	touch "$cue.down"
	sleep 0.3
	natproxyd_start "$@"
	err=$?
	touch "$cue.up"
	return $err
}

# gateway_restarted CUE SIGNAL LABEL CALL: a gateway test's restart (its
# natproxyd on $NP_RUN_DIR/natproxy.yaml and state, logging to $LOG): the
# peer cued it, the journal held the live call (id starting with CALL) as
# a record of its own and never the gateway whole, natproxyd stopped with
# SIGNAL and started again, it adopted the gateway with its live call, and
# natproxyctl calls lists that call. Each a check labelled LABEL.
gateway_restarted() {
	check "$3: the core peer cues the restart while RTP flows" file_appears "$1"
	check "$3: the journal holds the call as a gw-call record, the gateway never whole" \
		gateway_call_journaled "$4"
	check "$3: natproxyd stopped ($2), started again on the same state and pins" \
		natproxyd_restart_cued "$2" "$1" "$LOG" build/natproxyd \
			-c "$NP_RUN_DIR/natproxy.yaml" --state "$NP_RUN_DIR/state"
	check "$3: ... and adopts the gateway and its live call" \
		eval 'grep "adopted" "$LOG" | tail -1 | grep -q "adopted 1 terminals and 1 live calls"'
	check "$3: natproxyctl calls lists the gateway's call" gateway_call_listed "$4"
}

# gateway_call_journaled CALL: $NP_RUN_DIR/state.journal has a gw-call
# record of a call whose id starts with CALL, and no whole gw record.
gateway_call_journaled() {
	local j=$NP_RUN_DIR/state.journal

	grep -A1 '^gw-call ' "$j" | grep -q "^gwcall $1" && ! grep -q '^gw ' "$j"
}

# gateway_call_listed CALL: natproxyctl calls (from $NP_RUN_DIR/state)
# lists a call whose id starts with CALL.
gateway_call_listed() {
	in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" calls \
		--state "$NP_RUN_DIR/state" | grep -q "^$1"
}

# sip_topology_down: removes everything; callers trap it on EXIT.
sip_topology_down() {
	local ns pid i left alive
	stop_captures
	for ((i = ${#SIP_PIDS[@]} - 1; i >= 0; i--)); do
		sip_stop "${SIP_PIDS[i]}"
	done
	SIP_PIDS=()
	KAM_PID=
	# Anything still inside our namespaces was started there by this run
	# (e.g. by a test through in_ns, or a child that outlived its parent):
	# stop it by PID, or the namespace would live on.
	left=()
	for ns in "${SIP_NAMESPACES[@]}"; do
		left+=($(ip netns pids "$NP_RUN-$ns" 2>/dev/null))
	done
	if [ ${#left[@]} -gt 0 ]; then
		kill -TERM "${left[@]}" 2>/dev/null
		for ((i = 0; i < 30; i++)); do
			alive=0
			for pid in "${left[@]}"; do
				kill -0 "$pid" 2>/dev/null && alive=1
			done
			[ "$alive" = 0 ] && break
			sleep 0.1
		done
		kill -KILL "${left[@]}" 2>/dev/null
	fi
	for ns in "${SIP_NAMESPACES[@]}"; do
		ip netns del "$NP_RUN-$ns" 2>/dev/null
	done
	if [ -n "${SIP_KEEP_LOGS:-}" ] && [ -d "$NP_RUN_DIR" ]; then
		mkdir -p "$SIP_KEEP_LOGS" &&
			find "$NP_RUN_DIR" -path "$NP_RUN_DIR/bpf" -prune -o -type f -print0 |
			xargs -0 -r cp -t "$SIP_KEEP_LOGS" 2>/dev/null
	fi
	if mountpoint -q "$NP_RUN_DIR/bpf" 2>/dev/null; then
		umount "$NP_RUN_DIR/bpf" 2>/dev/null || umount -l "$NP_RUN_DIR/bpf"
	fi
	case $NP_RUN_DIR in /run/natproxy-test/?*) rm -rf "$NP_RUN_DIR" ;; esac
	rmdir /run/natproxy-test 2>/dev/null
	return 0
}
