# SPDX-License-Identifier: GPL-2.0-only
# Two natproxy nodes of a cluster (docs/ha.md) on the SIP topology of
# tests/sip/, for the high-availability suites: node a in the topology's
# proxy namespace, node b in proxyb; each with its pins under
# $NP_RUN_DIR/bpf/NODE, its configuration $HA/NODE.yaml, its state, log and
# health under $HA/NODE/. The calls of tests/lib/ha_ua.py write to $CTL.
# Sourced after tests/sip/topology.sh; uses HA, CTL, HA_CALLS and PY.

ns_of() { [ "$1" = a ] && echo proxy || echo proxyb; }
ctl_of() {
	local n=$1
	shift
	in_ns "$(ns_of "$n")" build/natproxyctl --pin-dir "$NP_RUN_DIR/bpf/$n" --state "$HA/$n/$n.state" "$@"
}

# health N FIELD: a field of node N's health file (its JSON).
health() {
	$PY -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print("")' "$HA/$1/$1.state.health" "$2"
}
role_is() { [ "$(health "$1" role)" = "$2" ]; }

# npd_start N: natproxyd of node N, its PID in NPD_<N>; returns once it
# runs. npd_spawn N starts it alone, npd_running N waits (bounded, 5 s)
# until it runs: nodes start side by side.
npd_start() { npd_spawn "$1" && npd_running "$1"; }
npd_spawn() {
	sip_spawn "$(ns_of "$1")" "$NPD_BIN" -c "$HA/$1.yaml" --pin-dir "$NP_RUN_DIR/bpf/$1" \
		--state "$HA/$1/$1.state" >>"$HA/$1/natproxyd-$1.log" 2>&1
	eval "NPD_$1=$SIP_LAST_PID"
}
npd_running() {
	local pid="NPD_$1" i
	for ((i = 0; i < 50; i++)); do
		grep -q 'natproxyd running' "$HA/$1/natproxyd-$1.log" && return 0
		_sip_running "${!pid}" || return 1
		sleep 0.1
	done
	return 1
}

# metric N NAME: a sample of node N's Prometheus page ("NAME VALUE"), its
# endpoint on 127.0.0.1:9917 in the node's namespace.
metric() {
	in_ns "$(ns_of "$1")" curl -s --max-time 5 http://127.0.0.1:9917/metrics |
		awk -v n="$2" '$1 == n {print $2}'
}

# uac_all STATE: every one of the terminal's HA_CALLS calls is in STATE.
uac_all() {
	$PY -c 'import json,sys
try: s=json.load(open(sys.argv[1]))
except Exception: sys.exit(1)
sys.exit(0 if len(s)==int(sys.argv[3]) and all(v==sys.argv[2] for v in s.values()) else 1)' "$CTL/uac.state" "$1" "$HA_CALLS"
}

# n_flows N: the flows in node N's maps (flows --json: one a line).
n_flows() { ctl_of "$1" flows --json 2>/dev/null | grep -c '^{"local"'; }
# latched_to_nat N: how many of terminal A's NAT mappings node N's flows
# send to (learnt from A's packets, or copied with the active node's
# latches).
latched_to_nat() { ctl_of "$1" flows --json 2>/dev/null | grep -o "\"$SIP_NAT1_IP:[0-9]*\"" | sort -u | wc -l; }
mono() { $PY -c 'import time; print(round(time.monotonic(), 3))'; }

# ha_guard NS: a node namespace's forwarding guard, as the topology's proxy
# has: nothing from the terminals' side into the core, nor back.
ha_guard() {
	in_ns "$1" nft -f - <<-EOG
		table ip sip_guard {
			chain forward {
				type filter hook forward priority filter; policy accept;
				oifname "core0" ip saddr { 192.168.0.0/16, 203.0.113.0/24 } drop
				oifname "acc0" ip saddr 198.51.100.0/24 drop
			}
		}
	EOG
}

# ka_globals N: keepalived's global_defs for node N (VRRPv3, its gratuitous
# ARPs at once, thrice, and again every second: after a partition heals the
# neighbours learn the master again).
ka_globals() {
	cat <<-EOG
		global_defs {
		  router_id np_$1
		  script_user root
		  vrrp_garp_master_delay 0
		  vrrp_garp_master_repeat 3
		  vrrp_version 3
		  vrrp_garp_master_refresh 1
		}
	EOG
}

# hb_key FILE: a heartbeat key (docs/ha.md, heartbeat_key): 32 random
# bytes as 64 hex digits, the file readable and writable by its owner only.
hb_key() { (umask 077 && openssl rand -hex 32 >"$1"); }
