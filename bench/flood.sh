#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Flood benchmark (`make bench`, never CI; issue 11): legitimate calls and
# registrations at a steady rate through the NAT proxy while an attacker on
# the access network floods its SIP address, for
#   (a) natproxyd with its default per-source limits, and
#   (b) Kamailio as the NAT-traversal proxy (bench/signaling/
#       kamailio-natproxy.cfg: nathelper, rtpengine) with pike and an ipban
#       htable (WITH_ANTIFLOOD, as Kamailio's default configuration has it),
# side by side in one run, each in the proxy namespace of
# tests/sip/topology.sh, in front of the same softswitch.
#
#   bench/flood.sh OUTDIR
#
# Legitimate load (per step, FLOOD_STEP_S seconds): sipp behind NAT 1 (lan1)
# placing FLOOD_CALLS calls/s to the far end (INVITE+SDP, 200+SDP, ACK,
# 100 ms, BYE) and, from a second sipp on another port, FLOOD_REGS
# registrations/s (a new user each). Attack (build/bench/flood/floodgen,
# from terminal C's namespace lan0, pinned to CPU FLOOD_GEN_CPU): a mix of
# junk, OPTIONS with SDP and INVITEs to a new number each, in turn, at each
# of FLOOD_RATES datagrams/s, from one source (203.0.113.30) and from
# FLOOD_SPOOFED spoofed sources (raw socket, IP_HDRINCL: 100 in
# 203.0.113.128/25, the rest in 198.18.0.0/16, which the proxy namespace
# routes to lan0). Plus one step without attack. Every step starts a fresh
# softswitch, proxy and far end, and both legitimate mappings register once
# before the attack (they are subscribers, not strangers).
#
# Per step: the legitimate success rate (calls and registrations that
# completed), the rate the generator reached, the proxy's CPU (utime+stime
# of its processes from /proc, over the attack) and the time they waited
# for a CPU (schedstat), memory (natproxyd: peak RSS; Kamailio: the PSS of
# every process in the proxy namespace, rtpengine's included), where
# datagrams were dropped: before user space (the proxy namespace's UDP
# RcvbufErrors, the veth's drops, the kernel's backlog) and in the proxy
# (natproxyd: natproxy_sip_limited_total and the malformed count from its
# metrics endpoint; Kamailio: requests pike and the ban dropped), and for
# natproxyd in XDP, by its signaling guard (natproxy_signaling_dropped_total
# where="xdp": blocked sources, unknown sources over the realm's rate).
# Writes OUTDIR/flood.json and OUTDIR/flood/ (steps, sipp traces, logs),
# prints a table. Removes everything it made on exit (namespaces, pins,
# processes, by PID), also on failure or ^C. Bounded: the generator stops
# itself after FLOOD_STEP_S, every sipp and the far end run under `timeout`,
# no new step once FLOOD_BUDGET_S (480 s) have passed: about 6 minutes.
set -u

cd "$(dirname "$0")/.."
TOP=$PWD
. bench/outdir.sh
bench_outdir flood "$@"

NATPROXYD=${FLOOD_NATPROXYD:-build/natproxyd}
GEN=build/bench/flood/floodgen
for bin in "$NATPROXYD" build/natproxyctl "$GEN"; do
	[ -e "$bin" ] || { echo "bench/flood.sh: $bin missing: run make first" >&2; exit 1; }
done
for cmd in sipp kamailio kamcmd rtpengine; do
	command -v "$cmd" >/dev/null ||
		{ echo "bench/flood.sh: $cmd missing: run make bench-deps" >&2; exit 1; }
done

STEP_S=${FLOOD_STEP_S:-12}        # seconds of load per step
BUDGET_S=${FLOOD_BUDGET_S:-480}   # no new step after this
CALLS=${FLOOD_CALLS:-20}          # legitimate calls/s
REGS=${FLOOD_REGS:-50}            # legitimate registrations/s
RATES=${FLOOD_RATES:-"10000 50000 100000"}
SPOOFED=${FLOOD_SPOOFED:-10000}   # spoofed sources (100 on the access /24)
GEN_CPU=${FLOOD_GEN_CPU:-0}
KP_CHILDREN=${FLOOD_KAMAILIO_CHILDREN:-2}
PIKE_DENSITY=${FLOOD_PIKE_DENSITY:-1000} # per 2 s: 500 requests/s an address
# natproxyd's max_transactions_per_terminal (0: none); its default, 256,
# refuses the legitimate PBX-like mapping after 128 calls (bench/README.md)
NP_MAX_TXN=${FLOOD_NP_MAX_TRANSACTIONS:-0}
PERF=${FLOOD_PERF:-} # 1: perf record natproxyd in every attacked step
RTPENGINE_NG_PORT=22222
METRICS=198.51.100.1:9100
SPOOF_NET=198.18.0.0/16 # RFC 2544's benchmarking range, routed to lan0
ATTACKER_IP=203.0.113.30

export NP_RUN=npfl$$
. tests/sip/topology.sh
BENCH=$TOP/bench/signaling
PROXY=$SIP_PROXY_ACC_IP:5060
START=$(date +%s)
HZ=$(getconf CLK_TCK)

cleanup() {
	sip_topology_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP PIPE

exec 3>&2 # the console, for log lines from inside a step
log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$LOGS/steps.log" >&3; }
die() { log "bench/flood.sh: $*"; exit 1; }

# --- the softswitch (tests/sip/kamailio.cfg, one UDP worker) -------------------

softswitch_restart() {
	kamailio_stop
	[ -f "$KAM_LOG" ] && tail -50 "$KAM_LOG" >>"$LOGS/softswitch.log"
	SIP_KAM_SHM=512 SIP_KAM_TRUST_ALL=1 kamailio_start ||
		die "the softswitch did not start"
}

# --- (a) natproxyd, default per-source limits ----------------------------------

natproxy_start() {
	cat >"$NP_RUN_DIR/natproxy.yaml" <<-EOF
		realms:
		  - name: access
		    interface: acc0
		    address: $SIP_PROXY_ACC_IP
		    sip_port: 5060
		    media_ports: 30000-39999
		    # The legitimate load is one sipp per kind, each a single
		    # NAT mapping (a PBX): the default cap of 256 counts
		    # completed transactions, kept 64-300 s (see the README).
		    max_transactions_per_terminal: $NP_MAX_TXN
		  - name: core
		    interface: core0
		    address: $SIP_PROXY_CORE_IP
		    sip_ports: 20000-20999
		    media_ports: 40000-49999
		pairs:
		  - first: access
		    second: core
		    softswitch: $SIP_KAM_IP:5060
		keepalive:
		  method: options
		  interval: 20
		metrics:
		  listen: $METRICS
	EOF
	rm -f "$NP_RUN_DIR/state"
	natproxyd_start "$LOGS/natproxyd.log" "$NATPROXYD" \
		-c "$NP_RUN_DIR/natproxy.yaml" --state "$NP_RUN_DIR/state" ||
		die "natproxyd did not start (see $LOGS/natproxyd.log)"
	PROXY_PIDS="$NPD_PID"
}

natproxy_stop() {
	[ -n "$NPD_PID" ] && sip_stop "$NPD_PID"
	NPD_PID=
	in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" detach acc0 >/dev/null 2>&1
	in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" detach core0 >/dev/null 2>&1
	in_ns proxy ip link set dev acc0 xdp off 2>/dev/null
	in_ns proxy ip link set dev core0 xdp off 2>/dev/null
	rm -rf "$NP_PIN_DIR"
}

# --- (b) Kamailio + rtpengine, with pike ---------------------------------------

KP_PID= RTPE_PID=
KP_CTL=$NP_RUN_DIR/kp/kamailio_ctl
kamailio_proxy_start() {
	local i
	mkdir -p "$NP_RUN_DIR/kp" "$NP_RUN_DIR/rtpe"
	sip_spawn proxy rtpengine --config-file=none --foreground --log-stderr \
		--log-level=4 --table=-1 \
		--interface="access/$SIP_PROXY_ACC_IP" --interface="core/$SIP_PROXY_CORE_IP" \
		--listen-ng="127.0.0.1:$RTPENGINE_NG_PORT" \
		--port-min=30000 --port-max=49999 --delete-delay=0 --num-threads=2 \
		--pidfile="$NP_RUN_DIR/rtpe/rtpengine.pid" >>"$LOGS/rtpengine.log" 2>&1
	RTPE_PID=$SIP_LAST_PID
	for ((i = 0; i < 50; i++)); do
		in_ns proxy ss -Hunl 2>/dev/null | grep -q "127.0.0.1:$RTPENGINE_NG_PORT " && break
		_sip_running "$RTPE_PID" || die "rtpengine did not start (see $LOGS/rtpengine.log)"
		sleep 0.1
	done
	sip_spawn proxy kamailio -f "$BENCH/kamailio-natproxy.cfg" -DD -E \
		-n "$KP_CHILDREN" -m 512 -M 8 \
		-P "$NP_RUN_DIR/kp/kamailio.pid" -Y "$NP_RUN_DIR/kp" -w "$NP_RUN_DIR/kp" \
		-A "CTL_SOCK=\"unix:$KP_CTL\"" \
		-A "RTPENGINE_NG=\"udp:127.0.0.1:$RTPENGINE_NG_PORT\"" \
		-A WITH_ANTIFLOOD -A "PIKE_DENSITY=$PIKE_DENSITY" \
		>>"$LOGS/kamailio-natproxy.log" 2>&1
	KP_PID=$SIP_LAST_PID
	for ((i = 0; i < 100; i++)); do
		_sip_running "$KP_PID" || break
		[ "$(cat "$NP_RUN_DIR/kp/kamailio.pid" 2>/dev/null)" = "$KP_PID" ] &&
			kamcmd -s "unix:$KP_CTL" core.uptime >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "the Kamailio NAT proxy did not start (see $LOGS/kamailio-natproxy.log)"
}

kamailio_proxy_stop() {
	[ -n "$KP_PID" ] && sip_stop "$KP_PID"
	[ -n "$RTPE_PID" ] && sip_stop "$RTPE_PID"
	KP_PID= RTPE_PID=
}

# --- the far end ---------------------------------------------------------------

FAR_PID=
far_start() {
	sip_spawn core timeout -k 5 "$((STEP_S + 60))" env -C "$LOGS" sipp \
		-sf "$BENCH/uas.xml" -nostdin -i "$SIP_FAR_IP" -p 5060 \
		-mi "$SIP_FAR_IP" -mp 7000 -recv_timeout 15s -max_reconnect 0 \
		-trace_err -error_file "$LOGS/$1-far.err" >"$LOGS/$1-far.out" 2>&1
	FAR_PID=$SIP_LAST_PID
	local i
	for ((i = 0; i < 50; i++)); do
		in_ns core ss -Hunl 2>/dev/null | grep -q "$SIP_FAR_IP:5060 " && return 0
		_sip_running "$FAR_PID" || break
		sleep 0.1
	done
	die "the far-end sipp did not start (see $LOGS/$1-far.out)"
}

far_stop() {
	[ -n "$FAR_PID" ] && sip_stop "$FAR_PID"
	FAR_PID=
}

# --- what is measured ----------------------------------------------------------

# proc_ticks PID...: utime + stime (clock ticks) of these processes so far.
proc_ticks() {
	local pid f sum=0
	for pid in "$@"; do
		f=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}

# proxy_pids: the proxy's processes: natproxyd, or Kamailio's (the main
# process and every child it forked, all in the proxy namespace) and
# rtpengine.
proxy_pids() {
	if [ -n "$NPD_PID" ]; then
		echo "$NPD_PID"
	else
		ip netns pids "$NP_RUN-proxy" 2>/dev/null
	fi
}

# proxy_mem_kb: natproxyd's peak RSS (VmHWM); for Kamailio and rtpengine the
# PSS of every process summed (Kamailio's shared memory counted once).
proxy_mem_kb() {
	local pid sum=0 v
	if [ -n "$NPD_PID" ]; then
		awk '/^VmHWM/ {print $2}' "/proc/$NPD_PID/status" 2>/dev/null || echo 0
		return
	fi
	for pid in $(proxy_pids); do
		v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# snmp NS FIELD: a Udp: counter of namespace NS's /proc/net/snmp.
snmp() {
	in_ns "$1" awk -v f="$2" '$1 == "Udp:" && !h {for (i = 2; i <= NF; i++) if ($i == f) c = i; h = 1; next}
		$1 == "Udp:" && h {print $c + 0; exit}' /proc/net/snmp
}

# rpf_drops: packets the proxy namespace's reverse-path filter dropped.
rpf_drops() {
	in_ns proxy awk '$1 == "TcpExt:" && !h {for (i = 2; i <= NF; i++) if ($i == "IPReversePathFilter") c = i; h = 1; next}
		$1 == "TcpExt:" && h {print $c + 0; exit}' /proc/net/netstat
}

# veth_drops: datagrams the veth into the proxy dropped (acc0's receive side,
# p-proxy's transmit side: a full XDP ring).
veth_drops() {
	echo $(($(in_ns proxy cat /sys/class/net/acc0/statistics/rx_dropped) + \
		$(in_ns acc cat /sys/class/net/p-proxy/statistics/tx_dropped)))
}

# backlog_drops: the kernel's per-CPU input backlog drops, machine-wide
# (softnet_stat's second column, hex).
backlog_drops() {
	local line f s=0
	while read -r -a f; do
		s=$((s + 16#${f[1]}))
	done </proc/net/softnet_stat
	echo "$s"
}

# machine_ticks: "busy softirq idle" clock ticks of all CPUs so far (steal
# counts as busy: the VM's host took it).
machine_ticks() {
	awk '$1 == "cpu" {t = 0; for (i = 2; i <= 9; i++) t += $i
		print t - $5 - $6, $8, $5 + $6; exit}' /proc/stat
}

# proc_wait PID...: nanoseconds their threads have waited on a run queue,
# runnable but not running (schedstat's second field): CPU they did not get.
proc_wait() {
	local pid f sum=0 a b c
	for pid in "$@"; do
		for f in /proc/"$pid"/task/*/schedstat; do
			read -r a b c <"$f" 2>/dev/null || continue
			sum=$((sum + b))
		done
	done
	echo "$sum"
}

# sock_drops: drops of the proxy's access socket 203.0.113.1:5060 (ss's
# skmem d counter, over the socket's life: this step).
sock_drops() {
	in_ns proxy ss -Huamn 2>/dev/null | awk -v a="$SIP_PROXY_ACC_IP:5060" '
		/^UNCONN/ {cur = $4; next}
		cur == a && match($0, /,d[0-9]+\)/) {s += substr($0, RSTART + 2, RLENGTH - 3)}
		END {print s + 0}'
}

# proxy_counters FILE: what the proxy says it dropped, as JSON: natproxyd's
# metrics (natproxy_sip_limited_total by limit, natproxy_sip_discarded_total
# by reason, rejections), or Kamailio's statistics.
proxy_counters() {
	if [ -n "$NPD_PID" ]; then
		in_ns proxy /usr/bin/python3 - "$METRICS" >"$1" 2>/dev/null <<-'EOF'
			import json, re, sys, urllib.request
			body = urllib.request.urlopen("http://%s/metrics" % sys.argv[1],
			                              timeout=5).read().decode()
			want = ("natproxy_sip_limited_total", "natproxy_sip_discarded_total",
			        "natproxy_sip_rejections_total", "natproxy_sip_denied_total",
			        "natproxy_terminals", "natproxy_calls_active",
			        "natproxy_signaling_", "natproxy_xdp_verdicts_total")
			out = {}
			for line in body.splitlines():
			    if line.startswith(want):
			        name, value = line.rsplit(" ", 1)
			        out[name] = out.get(name, 0) + float(value)
			json.dump(out, sys.stdout)
		EOF
	else
		kamcmd -s "unix:$KP_CTL" stats.get_statistics all 2>/dev/null |
			python3 -c '
import json, sys
out = {}
for line in sys.stdin:
    line = line.strip().strip("\"")
    if " = " in line:
        k, v = line.split(" = ", 1)
        try:
            out[k] = float(v)
        except ValueError:
            pass
json.dump(out, sys.stdout)' >"$1"
	fi
	[ -s "$1" ] || echo '{}' >"$1"
}

# stat_fields FILE: "successful failed retransmissions" of sipp's last
# statistics line (-trace_stat), cumulative.
stat_fields() {
	python3 - "$1" <<-'EOF'
		import sys
		try:
		    lines = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
		    head = lines[0].split(";")
		    last = lines[-1].split(";")
		    get = lambda k: int(last[head.index(k)])
		    print(get("SuccessfulCall(C)"), get("FailedCall(C)"),
		          get("Retransmissions(C)"))
		except Exception:
		    print("0 0 0")
	EOF
}

# --- one step ------------------------------------------------------------------

# legit_spawn NAME KIND: a bounded sipp behind NAT 1 placing STEP_S seconds
# of calls (port 5060) or registrations (port 5062); its PID in SIP_LAST_PID.
legit_spawn() {
	local name=$1 kind=$2 rate n args
	[ "$kind" = calls ] && rate=$CALLS || rate=$REGS
	n=$((rate * STEP_S))
	args=(-nostdin -r "$rate" -rp 1000 -m "$n" -l "$n"
		-timeout "$((STEP_S + 20))s" -recv_timeout 8s
		-i "$SIP_A_IP" -key domain "$SIP_DOMAIN"
		-oocsf "$SIP_SCENARIOS/ooc_keepalive.xml"
		-trace_err -error_file "$LOGS/$name.err"
		-trace_stat -stf "$LOGS/$name.stat")
	if [ "$kind" = calls ]; then
		args+=(-p 5060 -sf "$BENCH/uac.xml" -s far -key user a
			-mi "$SIP_A_IP" -mp 6000 -d 100)
	else
		awk -v n="$n" -v p="$name" 'BEGIN {
			print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "%s-%d;\n", p, i }' \
			>"$LOGS/$name.csv"
		args+=(-p 5062 -mp 6100 -sf "$BENCH/register.xml"
			-inf "$LOGS/$name.csv" -key expires 3600)
	fi
	sip_spawn lan1 timeout -k 5 "$((STEP_S + 35))" env -C "$LOGS" sipp "${args[@]}" \
		"$PROXY" >"$LOGS/$name.out" 2>&1
}

# legit_register NAME PORT USER: one REGISTER of USER from lan1's PORT (the
# port a legitimate sipp then uses: NAT 1 keeps the mapping), bounded.
legit_register() {
	printf 'SEQUENTIAL\n%s;\n' "$3" >"$LOGS/$1-reg$2.csv"
	in_ns lan1 timeout -k 5 20 env -C "$LOGS" sipp -sf "$BENCH/register.xml" \
		-inf "$LOGS/$1-reg$2.csv" -m 1 -nostdin -i "$SIP_A_IP" -p "$2" -mp 6200 \
		-key domain "$SIP_DOMAIN" -key expires 3600 -timeout 10s -timeout_error \
		-recv_timeout 5s "$PROXY" >"$LOGS/$1-reg$2.out" 2>&1
}

# step TARGET SOURCES RATE: one step (RATE 0: no attack); appends one JSON
# object to LOGS/steps.jsonl.
step() {
	local tgt=$1 src=$2 rate=$3 name calls_pid regs_pid gen_pid=
	local c0 c1 w0 w1 t0 t1 r0 v0 b0 p0 in0 mem pids perf_pid= m0 m1 s0 s1
	local mb0 ms0 mi0 mb1 ms1 mi1
	local calls_ok calls_fail calls_retr regs_ok regs_fail regs_retr
	name=$tgt-$src-$rate
	softswitch_restart
	if [ "$tgt" = natproxy ]; then natproxy_start; else
		kamailio_proxy_start
		PROXY_PIDS=
	fi
	far_start "$name"
	# The legitimate terminals are subscribers: each mapping registers
	# before the attack (natproxyd lets known terminals, not strangers,
	# take the ports it keeps in reserve).
	local registered=true
	legit_register "$name" 5060 a || registered=false
	legit_register "$name" 5062 "$name-pbx" || registered=false
	sleep 1
	proxy_counters "$LOGS/$name.before.json"
	read -r -a pids < <(proxy_pids | tr '\n' ' ')
	c0=$(proc_ticks "${pids[@]}") w0=$(proc_wait "${pids[@]}")
	m0=$(machine_ticks) s0=$(proc_ticks $(ip netns pids "$NP_RUN-core"))
	r0=$(snmp proxy RcvbufErrors) in0=$(snmp proxy InDatagrams)
	v0=$(veth_drops) b0=$(backlog_drops) p0=$(rpf_drops)
	t0=$(date +%s.%N)
	legit_spawn "$name-calls" calls
	calls_pid=$SIP_LAST_PID
	legit_spawn "$name-regs" regs
	regs_pid=$SIP_LAST_PID
	if [ "$rate" -gt 0 ]; then
		local spoof=()
		[ "$src" = spoofed ] &&
			spoof=(-S 203.0.113.128/25:100 -S "$SPOOF_NET:$((SPOOFED - 100))")
		sip_spawn lan0 timeout -k 5 "$((STEP_S + 10))" "$GEN" -d "$SIP_PROXY_ACC_IP" \
			-p 5060 -r "$rate" -t "$STEP_S" -b "$ATTACKER_IP" -c "$GEN_CPU" \
			"${spoof[@]}" >"$LOGS/$name.gen.json" 2>"$LOGS/$name.gen.err"
		gen_pid=$SIP_LAST_PID
		if [ -n "$PERF" ] && [ -n "$NPD_PID" ]; then
			sip_spawn - timeout -k 5 "$((STEP_S + 10))" perf record -q -F 499 -g \
				-p "$NPD_PID" -o "$LOGS/$name.perf.data" -- sleep "$((STEP_S - 1))" \
				>/dev/null 2>&1
			perf_pid=$SIP_LAST_PID
		fi
		sip_wait "$gen_pid" "$((STEP_S + 20))"
		[ -n "$perf_pid" ] && sip_wait "$perf_pid" 20
	else
		sleep "$STEP_S"
	fi
	t1=$(date +%s.%N)
	c1=$(proc_ticks "${pids[@]}") w1=$(proc_wait "${pids[@]}")
	m1=$(machine_ticks) s1=$(proc_ticks $(ip netns pids "$NP_RUN-core"))
	mem=$(proxy_mem_kb)
	read -r mb0 ms0 mi0 <<<"$m0"
	read -r mb1 ms1 mi1 <<<"$m1"
	sip_wait "$calls_pid" 40
	sip_wait "$regs_pid" 40
	proxy_counters "$LOGS/$name.after.json"
	read -r calls_ok calls_fail calls_retr < <(stat_fields "$LOGS/$name-calls.stat")
	read -r regs_ok regs_fail regs_retr < <(stat_fields "$LOGS/$name-regs.stat")
	python3 - "$LOGS/steps.jsonl" "$LOGS/$name.before.json" "$LOGS/$name.after.json" \
		"$LOGS/$name.gen.json" <<-EOF
		import json, sys
		out, before, after, genf = sys.argv[1:5]
		b = json.load(open(before)); a = json.load(open(after))
		try:
		    gen = json.load(open(genf))
		except (OSError, ValueError):
		    gen = {}
		delta = {k: a[k] - b.get(k, 0) for k in a if a[k] != b.get(k, 0)}
		secs = $t1 - $t0
		rec = {"target": "$tgt", "sources": "$src", "asked_per_s": $rate,
		       "generator": gen, "attack_seconds": round(secs, 2),
		       "registered_before": "$registered" == "true",
		       "calls": {"asked": $((CALLS * STEP_S)), "ok": $calls_ok,
		                 "failed": $calls_fail, "retransmissions": $calls_retr},
		       "registrations": {"asked": $((REGS * STEP_S)), "ok": $regs_ok,
		                         "failed": $regs_fail,
		                         "retransmissions": $regs_retr},
		       "proxy_cpu_pct": round(($c1 - $c0) * 100.0 / $HZ / secs, 1),
		       "proxy_runqueue_wait_pct": round(($w1 - $w0) / 1e7 / secs, 1),
		       "proxy_mem_kb": $mem,
		       # softswitch and far end; the whole machine (all CPUs,
		       # 100% = one CPU busy): busy and softirq time
		       "core_cpu_pct": round(($s1 - $s0) * 100.0 / $HZ / secs, 1),
		       "machine_busy_pct": round(($mb1 - $mb0) * 100.0 / $HZ / secs, 1),
		       "machine_softirq_pct": round(($ms1 - $ms0) * 100.0 / $HZ / secs, 1),
		       "machine_idle_pct": round(($mi1 - $mi0) * 100.0 / $HZ / secs, 1),
		       "dropped_before_user_space": {
		           "udp_rcvbuf": $(($(snmp proxy RcvbufErrors) - r0)),
		           "access_socket": $(sock_drops),
		           "veth": $(($(veth_drops) - v0)),
		           "backlog_machine_wide": $(($(backlog_drops) - b0)),
		           "rp_filter": $(($(rpf_drops) - p0))},
		       "udp_delivered_to_proxy": $(($(snmp proxy InDatagrams) - in0)),
		       "proxy_counters": delta}
		n = rec["calls"]["asked"] + rec["registrations"]["asked"]
		rec["legit_success_pct"] = round(100.0 * (rec["calls"]["ok"] +
		                                   rec["registrations"]["ok"]) / n, 2)
		with open(out, "a") as f:
		    f.write(json.dumps(rec) + "\n")
		g = rec["generator"]
		print("%s %s %s/s: reached %s/s, legit %.2f%% (calls %d/%d, regs %d/%d), "
		      "CPU %.0f%%, mem %d kB, drops %s, proxy %s" % (
		      "$tgt", "$src", "$rate", g.get("reached_per_s", 0),
		      rec["legit_success_pct"], rec["calls"]["ok"], rec["calls"]["asked"],
		      rec["registrations"]["ok"], rec["registrations"]["asked"],
		      rec["proxy_cpu_pct"], rec["proxy_mem_kb"],
		      rec["dropped_before_user_space"], delta))
	EOF
	far_stop
	if [ "$tgt" = natproxy ]; then natproxy_stop; else kamailio_proxy_stop; fi
	[ -n "$perf_pid" ] && timeout 60 perf report -i "$LOGS/$name.perf.data" --stdio \
		--no-children --sort sym 2>/dev/null | grep -v '^$' | head -60 >"$LOGS/$name.perf.txt"
	return 0
}

# --- the run -------------------------------------------------------------------

log "topology up ($NP_RUN)"
sip_topology_up || die "topology"
# The spoofed /16 is routed to the attacker's side of the access network, so
# that strict reverse-path filtering (rp_filter 1) passes it, as it passes a
# real access network's customer prefixes; the proxy answers there (lan0
# drops what it receives for 198.18/16). Spoofed sources on 203.0.113.0/24
# are on-link: their answers wait for ARP that never comes.
in_ns proxy ip route add "$SPOOF_NET" via "$ATTACKER_IP" dev acc0 || die "route"
RPF_WAS="all=$(in_ns proxy sysctl -n net.ipv4.conf.all.rp_filter) acc0=$(in_ns proxy sysctl -n net.ipv4.conf.acc0.rp_filter)"
in_ns proxy sysctl -q -w net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.acc0.rp_filter=1
log "proxy namespace rp_filter was $RPF_WAS, set to 1 (strict) on all and acc0"
: >"$LOGS/steps.jsonl"

STEPS=("none 0")
for r in $RATES; do
	STEPS+=("one $r" "spoofed $r")
done
NOT_RUN=()
for s in "${STEPS[@]}"; do
	read -r src rate <<<"$s"
	for tgt in natproxy kamailio; do
		if (($(date +%s) - START >= BUDGET_S)); then
			NOT_RUN+=("$tgt-$src-$rate")
			log "time budget (${BUDGET_S} s) spent: $tgt $src $rate/s not run"
			continue
		fi
		log "$tgt: attack $src $rate/s"
		step "$tgt" "$src" "$rate" >"$LOGS/step.txt" 2>>"$LOGS/steps.err"
		log "$(cat "$LOGS/step.txt")"
	done
done
kamailio_stop
LEAKS=$(sip_leaks)
ELAPSED=$(($(date +%s) - START))

python3 - "$LOGS/steps.jsonl" "$OUT/flood.json" "$ELAPSED" "$LEAKS" "$RPF_WAS" \
	"${NOT_RUN[*]:-}" "$CALLS" "$REGS" "$STEP_S" "$PIKE_DENSITY" "$(nproc)" "$NP_MAX_TXN" <<-'EOF'
	import json, sys
	steps_f, out, elapsed, leaks, rpf_was, not_run, calls, regs, step_s, pike, ncpu, txn = sys.argv[1:]
	steps = [json.loads(l) for l in open(steps_f) if l.strip()]
	by = {(s["target"], s["sources"], s["asked_per_s"]): s for s in steps}
	targets = {}
	for tgt in ("natproxy", "kamailio"):
	    for src in ("one", "spoofed"):
	        s = by.get((tgt, src, 50000))
	        targets["%s_%s_50k" % (tgt, src)] = None if not s else {
	            "legit_success_pct": s["legit_success_pct"],
	            "met": s["legit_success_pct"] >= 99.0}
	notes = ("legitimate load: %s calls/s and %s registrations/s from sipp behind NAT 1, "
	         "%s s per step; attack: junk, OPTIONS+SDP, INVITE to a new number, in turn, "
	         "from 203.0.113.30 (one source) or 10,000 spoofed (100 in 203.0.113.128/25, "
	         "the rest in 198.18.0.0/16), generator pinned to CPU 0; natproxyd: default "
	         "per-source limits and signaling guard (block_time 30 s, unknown_signaling_rate "
	         "5000/s) but max_transactions_per_terminal %s; kamailio: 2 UDP workers, nathelper, rtpengine (userspace), "
	         "pike (2 s, %s requests per unit) + ipban 300 s; rp_filter in the proxy "
	         "namespace was %s, set to 1; %s CPUs; %s s; guard leaks %s"
	         % (calls, regs, step_s, txn, pike, rpf_was, ncpu, elapsed, leaks))
	if not_run:
	    notes += "; not run (time budget): " + not_run
	with open(out, "w") as f:
	    json.dump({"steps": steps, "targets": targets, "notes": notes}, f, indent=2)
	    f.write("\n")

	def cell(s, key):
	    if not s:
	        return "-"
	    if key == "reached":
	        return "%.0fk" % (s["generator"].get("reached_per_s", 0) / 1e3) if s["asked_per_s"] else "-"
	    if key == "legit":
	        return "%.1f%%" % s["legit_success_pct"]
	    if key == "cpu":
	        return "%.0f%%" % s["proxy_cpu_pct"]
	    if key == "wait":
	        return "%.0f%%" % s.get("proxy_runqueue_wait_pct", 0)
	    if key == "mem":
	        return "%.0f" % (s["proxy_mem_kb"] / 1024.0)
	    if key == "sockdrop":
	        d = s["dropped_before_user_space"]
	        return "%d" % (d["udp_rcvbuf"] + d["veth"])
	    if key == "xdp":
	        if s["target"] != "natproxy":
	            return "-"
	        c = s["proxy_counters"]
	        return "%d" % sum(v for k, v in c.items() if k.startswith(
	            "natproxy_signaling_dropped_total") and 'where="xdp"' in k)
	    if key == "inproxy":
	        c = s["proxy_counters"]
	        if s["target"] == "natproxy":
	            n = sum(v for k, v in c.items() if k.startswith("natproxy_sip_limited_total"))
	        else:
	            n = sum(v for k, v in c.items() if "flood_blocked" in k)
	        return "%d" % n
	    return "?"
	cols = ("reached", "legit", "cpu", "wait", "mem", "sockdrop", "xdp", "inproxy")
	print()
	fmt = "%6s %6s %5s %5s %4s %8s %8s %8s"
	print("%-20s | %-58s | %s" % ("flood", "natproxyd", "kamailio + pike"))
	hdr = fmt % ("gen/s", "legit", "CPU", "wait", "MB", "sockdrop", "xdpdrop", "limited")
	hdr2 = fmt % ("gen/s", "legit", "CPU", "wait", "MB", "sockdrop", "xdpdrop", "pike")
	print("%-20s | %s | %s" % ("attack", hdr, hdr2))
	for s in sorted({(x["sources"], x["asked_per_s"]) for x in steps},
	                key=lambda k: (k[1], k[0] != "one")):
	    a, b = by.get(("natproxy",) + s), by.get(("kamailio",) + s)
	    label = "none" if not s[1] else "%dk/s, %s" % (
	        s[1] // 1000, {"one": "1 source", "spoofed": "10k spoofed"}[s[0]])
	    print("%-20s | %s | %s" % (label,
	          fmt % tuple(cell(a, k) for k in cols),
	          fmt % tuple(cell(b, k) for k in cols)))
	for k, v in targets.items():
	    if v:
	        print("target legit >= 99%% at 50k/s, %s: %s (%.2f%%)" % (
	            k.replace("_50k", ""), "met" if v["met"] else "NOT met", v["legit_success_pct"]))
	print("(gen/s: the rate the generator reached; legit: calls + registrations completed; "
	      "CPU: the proxy's processes, % of one core; wait: their time runnable on a run queue "
	      "without a CPU, % of one core; MB: natproxyd peak RSS, kamailio+rtpengine PSS; sockdrop: proxy namespace UDP "
	      "RcvbufErrors + veth drops; xdpdrop: dropped by natproxy's XDP signaling guard "
	      "(blocked sources, unknown sources over unknown_signaling_rate); "
	      "limited: natproxy_sip_limited_total; pike: requests "
	      "pike and the ban dropped)")
	idle = [x.get("machine_idle_pct", 0) for x in steps]
	if idle:
	    print("machine idle during the steps: %.0f-%.0f%% of %s CPUs (100%% = one CPU); "
	          "the softswitch, sipp and anything else running here share them" % (
	          min(idle), max(idle), ncpu))
	print("(%s s, %s CPUs; %s)" % (elapsed, ncpu, out))
EOF
