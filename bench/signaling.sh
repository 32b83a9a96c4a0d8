#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Signaling benchmark (`make bench`, never CI): calls per second (INVITE with
# SDP, 200 with SDP, ACK, BYE) and registrations per second through
#   (a) natproxyd, and
#   (b) Kamailio as the NAT-traversal proxy (nathelper + rtpengine module,
#       rtpengine-daemon without kernel forwarding),
# each in the proxy namespace of tests/sip/topology.sh. sipp plays a
# terminal behind NAT 1 (lan1) and, at the softswitch's address in the core
# (198.51.100.2:5060), the core peer: a UAS answering every INVITE with SDP
# (bench/signaling/uas.xml) for the call ramps, a registrar accepting every
# REGISTER (bench/signaling/registrar.xml) for the registration ramps. The
# peer keeps no dialogs, no location table and no transactions of its own
# beyond sipp's, so it is the same for both proxies and never what stops a
# ramp: every step reports its CPU (and the terminal's) next to the
# proxy's, to show it.
# Each step's proxy CPU per call comes twice: the processes' total and
# their own work, less the peers' receive processing that a veth runs in
# the proxy's sends (bench/signaling/own_cpu.py; SIG_OWN=0 turns it off).
# Each ramp begins with an unmeasured warm-up step (SIG_WARMUP_S).
#
#   bench/signaling.sh OUTDIR
#
# Each ramp runs sipp at rising rates (SIG_RATES_CALLS, SIG_RATES_REGS),
# SIG_STEP_S seconds of load per step; a step passes when every call of it
# succeeded (no failed call: no timeout, no unexpected message, no
# retransmission given up, all within SIG_STEP_S + 8 s); the ramp stops at the
# first failing step and reports the last passing rate. The core peer is
# restarted before every ramp. Writes OUTDIR/signaling.json and the steps'
# traces to OUTDIR/signaling/, prints a table. Removes everything it made on
# exit (namespaces, pins, processes, by PID). Bounded: each step's sipp by
# `timeout` (21 s at most), no new step once a ramp has run SIG_RAMP_S
# (90 s: each step's own-work split adds about 3 s, and a ramp must reach
# natproxyd's top rate): about 6 minutes in all, under 9 in the worst case. Method and
# figures: bench/README.md.
set -u

cd "$(dirname "$0")/.."
TOP=$PWD
if [ $# -ne 1 ]; then
	echo "usage: bench/signaling.sh OUTDIR" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/signaling.sh: must be run as root" >&2
	exit 1
fi
mkdir -p "$1" || exit 1
OUT=$(cd "$1" && pwd)
LOGS=$OUT/signaling
rm -rf "$LOGS"
mkdir -p "$LOGS" || exit 1

for bin in "${SIG_NATPROXYD:-build/natproxyd}" build/natproxyctl build/xdp_pass.bpf.o; do
	[ -e "$bin" ] || { echo "bench/signaling.sh: $bin missing: run make first" >&2; exit 1; }
done
for cmd in sipp kamailio kamcmd rtpengine; do
	command -v "$cmd" >/dev/null ||
		{ echo "bench/signaling.sh: $cmd missing: run make bench-deps" >&2; exit 1; }
done

STEP_S=${SIG_STEP_S:-3}    # seconds of load per step
RAMP_S=${SIG_RAMP_S:-90}   # no new step once a ramp has run this long
HOLD_MS=${SIG_HOLD_MS:-100} # between ACK and BYE
RATES_CALLS=${SIG_RATES_CALLS:-"500 1000 1500 2000 3000 4000 5000 6000 7000 8000 9000 10000"}
RATES_REGS=${SIG_RATES_REGS:-"2000 4000 6000 8000 10000 12000 14000 16000 20000 24000 28000 32000"}
# SIG_TARGETS: a subset of "natproxy kamailio", to try one (its figures
# in signaling.json are then 0 for the other)
# Kamailio NAT proxy's UDP workers: 4 on 2 cores, as operators size it (a
# worker waits for rtpengine's answer to every offer, answer and delete:
# more workers than cores keep the cores busy meanwhile).
KP_CHILDREN=${SIG_KAMAILIO_CHILDREN:-4}
# Terminal sipps per step (bench/README.md: one was the limit at 10,000
# registrations/s).
TERMINALS=${SIG_TERMINALS:-3}
# The sipps' socket buffers (sipp's default is 64 KiB): 4 MiB, so that a
# peer never drops what a proxy sends it in a burst (natproxyd sends a
# turn's datagrams together) and ends a ramp for the proxy.
PEER_BUF=${SIG_PEER_BUF:-4194304}
NATPROXYD=${SIG_NATPROXYD:-build/natproxyd} # another build, to compare
read -r -a NATPROXYD_ARGS <<<"${SIG_NATPROXYD_ARGS:-}" # more options, e.g. --state
RTPENGINE_NG_PORT=22222

export NP_RUN=npsig$$
. tests/sip/topology.sh
BENCH=$TOP/bench/signaling
TERM_IP=$SIP_A_IP
PROXY=$SIP_PROXY_ACC_IP:5060
START=$(date +%s)

cleanup() {
	sip_topology_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP PIPE

log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$LOGS/steps.log" >&2; }
die() { log "bench/signaling.sh: $*"; exit 1; }

# --- (a) natproxyd -----------------------------------------------------------

natproxy_start() {
	cat >"$NP_RUN_DIR/natproxy.yaml" <<-EOF
		realms:
		  - name: access
		    interface: acc0
		    address: $SIP_PROXY_ACC_IP
		    sip_port: 5060
		    media_ports: 30000-39999
		    # One sipp plays thousands of terminals on one mapping:
		    # the per-source limits would stop it (they are for
		    # floods, measured apart).
		    max_requests_per_address: 0
		    max_requests_per_mapping: 0
		    max_calls_per_terminal: 0
		    max_transactions_per_terminal: 0
		    unknown_signaling_rate: 0
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
	EOF
	# Its state file (rewritten on every change, as deployed) in the run
	# directory: /run/natproxy/state is anyone's. A fresh one per ramp:
	# calls a failed step left would be adopted, and every state write
	# would carry them.
	rm -f "$NP_RUN_DIR/state"
	# Appended to per ramp: a run counts from the lines already there.
	natproxyd_start "$LOGS/natproxyd.log" "$NATPROXYD" \
		-c "$NP_RUN_DIR/natproxy.yaml" --state "$NP_RUN_DIR/state" \
		"${NATPROXYD_ARGS[@]}" ||
		die "natproxyd did not start (see $LOGS/natproxyd.log)"
}

natproxy_stop() {
	[ -n "$NPD_PID" ] && sip_stop "$NPD_PID"
	NPD_PID=
	# Leave the proxy namespace as Kamailio will find it: no XDP, no pins.
	in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" detach acc0 >/dev/null 2>&1
	in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" detach core0 >/dev/null 2>&1
	in_ns proxy ip link set dev acc0 xdp off 2>/dev/null
	in_ns proxy ip link set dev core0 xdp off 2>/dev/null
	rm -rf "$NP_PIN_DIR"
}

# --- (b) Kamailio + rtpengine ------------------------------------------------

KP_PID= RTPE_PID=
KP_CTL=$NP_RUN_DIR/kp/kamailio_ctl
kamailio_proxy_start() {
	local i
	mkdir -p "$NP_RUN_DIR/kp" "$NP_RUN_DIR/rtpe"
	# rtpengine-daemon: in the foreground (we own its PID), userspace
	# forwarding only (table -1: its kernel module cannot load here), no
	# config file, sessions freed at once when deleted.
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

# --- the core peer -----------------------------------------------------------

# core_start KIND NAME [SIPP ARGS...]: sipp at the softswitch's address,
# the UAS (calls) or the registrar (regs), until core_stop; its traces under
# LOGS/NAME.
CORE_PID=
core_start() {
	local kind=$1 name=$2 sf i
	shift 2
	[ "$kind" = calls ] && sf=$BENCH/uas.xml || sf=$BENCH/registrar.xml
	sip_spawn core timeout -k 5 "$((RAMP_S + 60))" env -C "$LOGS" sipp \
		-sf "$sf" -nostdin -i "$SIP_KAM_IP" -p 5060 \
		-mi "$SIP_KAM_IP" -mp 7000 -recv_timeout 15s -max_reconnect 0 \
		-buff_size "$PEER_BUF" \
		-trace_err -error_file "$LOGS/$name.err" "$@" >"$LOGS/$name.out" 2>&1
	CORE_PID=$SIP_LAST_PID
	for ((i = 0; i < 50; i++)); do
		in_ns core ss -Hunl 2>/dev/null | grep -q "$SIP_KAM_IP:5060 " && return 0
		_sip_running "$CORE_PID" || break
		sleep 0.1
	done
	die "the core peer did not start (see $LOGS/$name.out)"
}

core_stop() {
	[ -n "$CORE_PID" ] && sip_stop "$CORE_PID"
	CORE_PID=
}

# --- one step, one ramp ------------------------------------------------------

# sock_drops NS: the UDP sockets of namespace NS that dropped datagrams
# (full receive buffer) in their lifetime, as "ADDR:PORT=N ...".
sock_drops() {
	in_ns "$1" ss -Huamn 2>/dev/null | awk '
		/^UNCONN/ {a = $4; next}
		match($0, /,d[0-9]+\)/) {
			n = substr($0, RSTART + 2, RLENGTH - 3)
			if (n > 0) printf "%s=%s ", a, n
		}'
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

# cpu_ticks NS: CPU time (clock ticks, user + system) used so far by the
# processes in namespace NS: the proxy's (natproxyd, or Kamailio and
# rtpengine), the core peer's (core) or the terminal's (lan1).
cpu_ticks() {
	local pid sum=0 f
	for pid in $(ip netns pids "$NP_RUN-$1" 2>/dev/null); do
		f=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}
HZ=$(getconf CLK_TCK)

# own_start NAME / own_stop: the proxy's own share of its CPU over a step
# (bench/signaling/own_cpu.py says how: its samples of OTHER namespaces'
# receive processing, which a veth runs in the sender's syscall, are left
# out), from `perf record` of its processes, into OWN_SHARE (1 without
# perf or with SIG_OWN=0); TOTAL_SHARE, the share that is not perf's own
# recording of the tracepoint (the process total is corrected by it). 997 Hz cpu-clock with call chains and a
# tracepoint per packet it receives for others: the same for both proxies.
OWN_PID= OWN_SHARE=1 TOTAL_SHARE=1 OWN_SAMPLES=
own_start() {
	local pids
	OWN_PID= OWN_SHARE=1 TOTAL_SHARE=1 OWN_SAMPLES=
	[ "${SIG_OWN:-1}" = 1 ] && [ "${SIG_PERF:-0}" != 1 ] && command -v perf >/dev/null || return 0
	pids=$(ip netns pids "$NP_RUN-proxy" | paste -sd,)
	[ -n "$pids" ] || return 0
	sip_spawn - perf record -q --sample-cpu -F 997 -e cpu-clock -g -e net:netif_receive_skb \
		-p "$pids" -o "$LOGS/$1.own.perf" >"$LOGS/$1.own.log" 2>&1
	OWN_PID=$SIP_LAST_PID OWN_DATA=$LOGS/$1.own.perf
	sleep 0.5 # perf attached before the load starts
}

own_stop() {
	local s f p
	[ -n "$OWN_PID" ] || return 0
	sip_stop "$OWN_PID" INT
	OWN_PID=
	read -r s f p TOTAL_SHARE OWN_SHARE < <(bench/signaling/own_cpu.py "$OWN_DATA" acc0 core0 lo)
	[ -n "$OWN_SHARE" ] || OWN_SHARE=1 TOTAL_SHARE=1
	OWN_SAMPLES="$s samples, $f the peers' receive, $p perf's"
	rm -f "$OWN_DATA"
}

# udp_drops NS: datagrams the kernel dropped in namespace NS so far for a
# full socket receive buffer (Udp RcvbufErrors): who could not keep up.
udp_drops() {
	in_ns "$1" awk '$1 == "Udp:" && !h {for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next}
		$1 == "Udp:" && h {print $c + 0; exit}' /proc/net/snmp
}

# step KIND TARGET RATE: one step of load, from TERMINALS sipps at once in
# the terminal namespace (each its own socket, so its own NAT mapping: its
# own terminal to the proxy; each RATE/TERMINALS), so that no one sipp
# thread is what stops a ramp. STEP_WHY says why it failed. Returns 0 when
# it passed.
step() {
	local kind=$1 tgt=$2 rate=$3 n=$(($3 * STEP_S)) name t0 t1 c0 d0 dp dc dt ok failed retr
	local limit=$((STEP_S + 8)) args k r_k n_k pids=() rcs=0 o f x
	name=$tgt-$kind-$rate${STEP_TAG:-}
	own_start "$name"
	c0="$(cpu_ticks proxy) $(cpu_ticks core)"
	d0="$(udp_drops proxy) $(udp_drops core) $(udp_drops lan1)"
	t0=$(date +%s.%N)
	for ((k = 0; k < TERMINALS; k++)); do
		r_k=$((rate / TERMINALS + (k < rate % TERMINALS ? 1 : 0)))
		n_k=$((r_k * STEP_S))
		args=(-nostdin -r "$r_k" -rp 1000 -m "$n_k" -l "$n_k"
			-timeout "${limit}s" -timeout_error -recv_timeout 6s
			-i "$TERM_IP" -p $((5060 + k)) -key domain "$SIP_DOMAIN"
			-buff_size "$PEER_BUF"
			-oocsf "$SIP_SCENARIOS/ooc_keepalive.xml"
			-trace_err -error_file "$LOGS/$name.$k.err"
			-trace_stat -stf "$LOGS/$name.$k.stat")
		if [ "$kind" = calls ]; then
			args+=(-sf "$BENCH/uac.xml" -s far -key user a
				-mi "$TERM_IP" -mp $((6000 + 10 * k)) -d "$HOLD_MS")
		else
			# A user per REGISTER, new in every step and every ramp.
			awk -v n="$n_k" -v p="$tgt$rate${STEP_TAG:-}-$k-" 'BEGIN {
				print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "%su%d;\n", p, i }' \
				>"$LOGS/$name.$k.csv"
			args+=(-sf "$BENCH/register.xml" -inf "$LOGS/$name.$k.csv"
				-key expires 3600)
		fi
		# Its own CPU time (user, system seconds) into .time.
		in_ns lan1 /usr/bin/time -f '%U %S' -o "$LOGS/$name.$k.time" \
			timeout -k 5 "$((limit + 10))" env -C "$LOGS" sipp "${args[@]}" "$PROXY" \
			>"$LOGS/$name.$k.out" 2>&1 &
		pids+=($!)
	done
	for x in "${pids[@]}"; do
		wait "$x" || rcs=$?
	done
	t1=$(date +%s.%N)
	read -r dp dc dt <<<"$d0"
	local cp cc c1
	read -r cp cc <<<"$c0"
	c1=$(cpu_ticks proxy)
	own_stop
	STEP_DROPS="rcvbuf drops proxy $(($(udp_drops proxy) - dp)), core $(($(udp_drops core) - dc)), terminal $(($(udp_drops lan1) - dt))"
	# the proxy's CPU time per call (ms), over the step
	# (less perf's recording when SIG_OWN measured), and its own work:
	# less the peers' receive processing too
	STEP_CPU=$(awk -v a="$cp" -v b="$c1" -v hz="$HZ" -v n="$n" -v s="$TOTAL_SHARE" \
		'BEGIN {printf "%.3f", (b - a) * 1000 / hz / n * s}')
	STEP_OWN=$(awk -v a="$cp" -v b="$c1" -v hz="$HZ" -v n="$n" -v s="$OWN_SHARE" \
		'BEGIN {printf "%.3f", (b - a) * 1000 / hz / n * s}')
	[ -n "$OWN_SAMPLES" ] || STEP_OWN=n/a
	# The peers' load while sipp ran: the share of one CPU each used
	# (sipp is single-threaded: near 100% it would be what stops the
	# ramp), the busiest terminal sipp's.
	STEP_PEERS=$(cat "$LOGS/$name".*.time 2>/dev/null | awk -v c0="$cc" -v c1="$(cpu_ticks core)" \
		-v hz="$HZ" -v load="$STEP_S" -v nt="$TERMINALS" '
		NF == 2 && $1 ~ /^[0-9.]+$/ {t = $1 + $2; sum += t; if (t > max) max = t}
		END {printf "core peer %.0f%%, terminals %.0f%% of a CPU each at most (%d sipps, %.0f%% together) over %.0f s of load", \
			(c1 - c0) * 100 / hz / load, max * 100 / load, nt, sum * 100 / load, load}')
	ok=0 failed=0 retr=0
	for ((k = 0; k < TERMINALS; k++)); do
		read -r o f x < <(stat_fields "$LOGS/$name.$k.stat")
		ok=$((ok + o)) failed=$((failed + f)) retr=$((retr + x))
	done
	STEP_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
	STEP_RETR=$retr
	STEP_WHY=
	if [ "$failed" -gt 0 ]; then
		STEP_WHY="$failed of $n failed"
	elif [ "$rcs" -ne 0 ]; then
		STEP_WHY="a sipp exited $rcs, $ok of $n passed"
	elif [ "$ok" -ne "$n" ]; then
		STEP_WHY="$ok of $n passed"
	fi
	[ -z "$STEP_WHY" ]
}

# probe KIND TARGET: one call or registration before the ramp, to check the
# proxy does its job, with message traces at both ends: the terminal is
# handed media on the proxy's access address (natproxyd's relay, or
# rtpengine's) and the core peer is offered media on its core address; the
# registrar is sent a Contact (or a Path) that reaches the terminal through
# the proxy. What it saw goes to PROBE.
probe() {
	local kind=$1 tgt=$2 name=$2-$1-probe args
	args=(-nostdin -m 1 -timeout 10s -timeout_error -recv_timeout 5s
		-i "$TERM_IP" -p 5060 -key domain "$SIP_DOMAIN"
		-oocsf "$SIP_SCENARIOS/ooc_keepalive.xml"
		-trace_msg -message_file "$LOGS/$name.msg")
	if [ "$kind" = calls ]; then
		args+=(-sf "$BENCH/uac.xml" -s far -key user a -mi "$TERM_IP" -mp 6000)
	else
		printf 'SEQUENTIAL\nprobe%s;\n' "$tgt" >"$LOGS/$name.csv"
		args+=(-sf "$BENCH/register.xml" -inf "$LOGS/$name.csv" -key expires 3600)
	fi
	core_start "$kind" "$name-core" -trace_msg -message_file "$LOGS/$name-core.msg"
	in_ns lan1 timeout -k 5 20 env -C "$LOGS" sipp "${args[@]}" "$PROXY" \
		>"$LOGS/$name.out" 2>&1 || die "$tgt: the probe $kind failed (see $LOGS/$name.*)"
	core_stop
	if [ "$kind" = calls ]; then
		grep -q "^c=IN IP4 $SIP_PROXY_ACC_IP\b" "$LOGS/$name.msg" ||
			die "$tgt: the terminal was not handed media on $SIP_PROXY_ACC_IP (see $LOGS/$name.msg)"
		grep -q "^c=IN IP4 $SIP_PROXY_CORE_IP\b" "$LOGS/$name-core.msg" ||
			die "$tgt: the core peer was not offered media on $SIP_PROXY_CORE_IP (see $LOGS/$name-core.msg)"
		PROBE[$tgt-$kind]="answer SDP c=$SIP_PROXY_ACC_IP, offer SDP c=$SIP_PROXY_CORE_IP"
	else
		PROBE[$tgt-$kind]="registrar got $(grep -m1 -E '^(Path|Contact):' "$LOGS/$name-core.msg" | tr -d '\r')"
		grep -qE "^(Path|Contact):.*($SIP_PROXY_CORE_IP|$SIP_NAT1_IP)" "$LOGS/$name-core.msg" ||
			die "$tgt: the registrar was given no address through the proxy (${PROBE[$tgt-$kind]})"
	fi
	log "$tgt: probe $kind: ${PROBE[$tgt-$kind]}"
}

# ramp KIND TARGET: the highest passing rate in RAMP_BEST (0 if none); the step
# that ended it goes to RAMP_END.
ramp() {
	local kind=$1 tgt=$2 rates best=0 r t0=$SECONDS
	[ "$kind" = calls ] && rates=$RATES_CALLS || rates=$RATES_REGS
	RAMP_END="all steps passed" RAMP_CPU=n/a RAMP_OWN=n/a RAMP_PEERS=n/a
	# Warm-up, unmeasured, the same for both proxies: a running proxy
	# has long since touched its ports and buffers (natproxyd claims a
	# relay port's lease the first time it hands it out); the ramp
	# measures the steady state, not a fresh process's first calls.
	# At a rate both pass (Kamailio fails from 2000 calls/s here).
	if [ "${SIG_WARMUP_S:-3}" -gt 0 ]; then
		local keep=$STEP_S wr
		[ "$kind" = calls ] && wr=${SIG_WARMUP_CALLS:-1000} || wr=${SIG_WARMUP_REGS:-2000}
		STEP_S=${SIG_WARMUP_S:-3}
		STEP_TAG=-warmup SIG_OWN=0 step "$kind" "$tgt" "$wr" >/dev/null 2>&1 ||
			log "  $tgt $kind warm-up: $STEP_WHY"
		STEP_S=$keep
		sleep 1
	fi
	for r in $rates; do
		if ((SECONDS - t0 >= RAMP_S)); then
			RAMP_END="time budget (${RAMP_S} s) spent before $r/s"
			break
		fi
		if step "$kind" "$tgt" "$r"; then
			log "  $tgt $kind $r/s: pass (${STEP_SECS} s, $STEP_RETR retransmissions, proxy CPU ${STEP_CPU} ms per call, own ${STEP_OWN} (${OWN_SAMPLES:-not measured}), $STEP_PEERS, $STEP_DROPS)"
			best=$r
			RAMP_CPU=$STEP_CPU RAMP_OWN=$STEP_OWN RAMP_PEERS=$STEP_PEERS
			printf '%s\t%s\t%s\t%s\t%s\n' "$tgt" "$kind" "$r" "$STEP_CPU" "$STEP_OWN" >>"$LOGS/steps.tsv"
		else
			log "  $tgt $kind $r/s: FAIL: $STEP_WHY (${STEP_SECS} s, $STEP_RETR retransmissions, proxy CPU ${STEP_CPU} ms per call, own ${STEP_OWN} (${OWN_SAMPLES:-not measured}), $STEP_PEERS, $STEP_DROPS)"
			RAMP_END="$r/s failed: $STEP_WHY ($STEP_DROPS)"
			break
		fi
		sleep 1
	done
	RAMP_BEST=$best
}

# profile_start NAME: with SIG_PERF=1, `perf record -g` of the proxy's
# processes for the ramp (SIG_PERF_CALLGRAPH=dwarf walks what was built
# without frame pointers), into LOGS/NAME.perf (perf report -i ...), and
# their system calls counted (`perf stat`: bpf, sendto, recvmmsg and all)
# into LOGS/NAME.perfstat.
PERF_PID= PSTAT_PID=
profile_start() {
	local pids
	[ "${SIG_PERF:-0}" = 1 ] || return 0
	pids=$(ip netns pids "$NP_RUN-proxy" | paste -sd,)
	[ -n "$pids" ] || return 0
	sip_spawn - perf record -q --call-graph "${SIG_PERF_CALLGRAPH:-fp}" -p "$pids" -o "$LOGS/$1.perf" >"$LOGS/$1.perf.log" 2>&1
	PERF_PID=$SIP_LAST_PID
	sip_spawn - perf stat -e syscalls:sys_enter_bpf,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_epoll_wait,raw_syscalls:sys_enter \
		-p "$pids" -o "$LOGS/$1.perfstat" >/dev/null 2>&1
	PSTAT_PID=$SIP_LAST_PID
}

profile_stop() {
	[ -n "$PERF_PID" ] && sip_stop "$PERF_PID" INT
	[ -n "$PSTAT_PID" ] && sip_stop "$PSTAT_PID" INT
	PERF_PID= PSTAT_PID=
}

# --- the run -----------------------------------------------------------------

log "topology up ($NP_RUN)"
sip_topology_up || die "topology"

declare -A BEST END CPU OWN PROBE PEERS
run_target() {
	local tgt=$1 kind
	for kind in calls regs; do
		if [ "$tgt" = natproxy ]; then natproxy_start; else kamailio_proxy_start; fi
		probe "$kind" "$tgt"
		core_start "$kind" "$tgt-$kind-core"
		sleep 1
		log "$tgt: $kind ramp"
		profile_start "$tgt-$kind"
		ramp "$kind" "$tgt"
		profile_stop
		log "$tgt: $kind: sockets that dropped: proxy: $(sock_drops proxy)core: $(sock_drops core)"
		BEST[$tgt-$kind]=$RAMP_BEST END[$tgt-$kind]=$RAMP_END CPU[$tgt-$kind]=$RAMP_CPU
		OWN[$tgt-$kind]=$RAMP_OWN
		PEERS[$tgt-$kind]=$RAMP_PEERS
		core_stop
		if [ "$tgt" = natproxy ]; then natproxy_stop; else kamailio_proxy_stop; fi
	done
}
for tgt in ${SIG_TARGETS:-natproxy kamailio}; do
	run_target "$tgt"
done
for k in natproxy-calls natproxy-regs kamailio-calls kamailio-regs; do
	BEST[$k]=${BEST[$k]:-0} CPU[$k]=${CPU[$k]:-n/a} OWN[$k]=${OWN[$k]:-n/a} END[$k]=${END[$k]:-not run}
	PROBE[$k]=${PROBE[$k]:-not run} PEERS[$k]=${PEERS[$k]:-n/a}
done
LEAKS=$(sip_leaks)
ELAPSED=$(($(date +%s) - START))

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
RC=$(ratio "${BEST[natproxy-calls]}" "${BEST[kamailio-calls]}")
RR=$(ratio "${BEST[natproxy-regs]}" "${BEST[kamailio-regs]}")

NOTES="${TERMINALS} sipp terminals (each its own NAT mapping, RATE/${TERMINALS} each) behind NAT 1 -> proxy (203.0.113.1:5060) -> core peer: sipp at the softswitch address 198.51.100.2:5060 (UAS answering INVITEs with SDP; registrar answering REGISTERs with 200), the same for both proxies; \
steps of ${STEP_S} s of load at rising rates, a step passes with every call successful (no timeout, unexpected message or retransmission given up; retransmissions as such allowed); highest passing rate reported. \
Calls: INVITE+SDP, 200+SDP, ACK, ${HOLD_MS} ms, BYE, 200. Registrations: one new user per REGISTER (sipp -inf), Expires 3600. \
(b) Kamailio ${KP_CHILDREN} UDP workers, nathelper fix_nated_contact + add_path_received, rtpengine module, rtpengine-daemon userspace (table -1). \
Ramp ends: natproxy calls: ${END[natproxy-calls]}; natproxy registrations: ${END[natproxy-regs]}; kamailio calls: ${END[kamailio-calls]}; kamailio registrations: ${END[kamailio-regs]}. \
Proxy CPU ms per call/registration at the last passing step: natproxy ${CPU[natproxy-calls]}/${CPU[natproxy-regs]}, kamailio+rtpengine ${CPU[kamailio-calls]}/${CPU[kamailio-regs]}; own work (less other namespaces' receive processing run in the proxy's sends, bench/signaling/own_cpu.py): natproxy ${OWN[natproxy-calls]}/${OWN[natproxy-regs]}, kamailio+rtpengine ${OWN[kamailio-calls]}/${OWN[kamailio-regs]}. \
Peers at the last passing step (not saturated below ~90%): natproxy calls ${PEERS[natproxy-calls]}; natproxy registrations ${PEERS[natproxy-regs]}; kamailio calls ${PEERS[kamailio-calls]}; kamailio registrations ${PEERS[kamailio-regs]}. \
Probes: natproxy ${PROBE[natproxy-calls]}, ${PROBE[natproxy-regs]}; kamailio ${PROBE[kamailio-calls]}, ${PROBE[kamailio-regs]}. \
Ratios natproxy/kamailio: calls ${RC} (target >= 2.0), registrations ${RR} (target >= 2.0); CPU per call target <= 0.1 ms. Shared 2-vCPU VM, noisy; ${ELAPSED} s; guard leaks ${LEAKS}."

python3 - "$OUT/signaling.json" "${BEST[natproxy-calls]}" "${BEST[kamailio-calls]}" \
	"${BEST[natproxy-regs]}" "${BEST[kamailio-regs]}" "$NOTES" "$LOGS/steps.tsv" \
	"${CPU[natproxy-calls]}" "${CPU[kamailio-calls]}" "${OWN[natproxy-calls]}" "${OWN[kamailio-calls]}" \
	"${CPU[natproxy-regs]}" "${CPU[kamailio-regs]}" "${OWN[natproxy-regs]}" "${OWN[kamailio-regs]}" <<-'EOF'
	import json, sys
	out, nc, kc, nr, kr, notes, tsv = sys.argv[1:8]
	num = lambda v: None if v == "n/a" else float(v)
	cpu = [num(v) for v in sys.argv[8:]]
	steps = []
	try:
	    for line in open(tsv):
	        t, k, r, c, o = line.split()
	        steps.append({"target": t, "kind": k, "rate": int(r),
	                      "cpu_ms": num(c), "own_cpu_ms": num(o)})
	except OSError:
	    pass
	with open(out, "w") as f:
	    json.dump({"calls_per_s": {"natproxy": int(nc), "kamailio": int(kc)},
	               "registrations_per_s": {"natproxy": int(nr), "kamailio": int(kr)},
	               "cpu_ms_per_call": {"natproxy": cpu[0], "kamailio": cpu[1]},
	               "own_cpu_ms_per_call": {"natproxy": cpu[2], "kamailio": cpu[3]},
	               "cpu_ms_per_registration": {"natproxy": cpu[4], "kamailio": cpu[5]},
	               "own_cpu_ms_per_registration": {"natproxy": cpu[6], "kamailio": cpu[7]},
	               "passing_steps": steps,
	               "notes": notes}, f, indent=2)
	    f.write("\n")
EOF

printf '\n%-22s %10s %10s %8s %s\n' "signaling" natproxyd kamailio ratio target
printf '%-22s %10s %10s %8s %s\n' "calls/s" "${BEST[natproxy-calls]}" "${BEST[kamailio-calls]}" "$RC" ">= 2.0"
printf '%-22s %10s %10s %8s %s\n' "registrations/s" "${BEST[natproxy-regs]}" "${BEST[kamailio-regs]}" "$RR" ">= 2.0"
printf '%-22s %10s %10s %8s %s\n' "proxy CPU ms/call" "${CPU[natproxy-calls]}" "${CPU[kamailio-calls]}" "" "natproxyd <= 0.1"
printf '%-22s %10s %10s %8s %s\n' "  own work ms/call" "${OWN[natproxy-calls]}" "${OWN[kamailio-calls]}" \
	"$(ratio "${OWN[kamailio-calls]}" "${OWN[natproxy-calls]}")" "natproxyd <= 0.1"
printf '%-22s %10s %10s\n' "proxy CPU ms/reg" "${CPU[natproxy-regs]}" "${CPU[kamailio-regs]}"
printf '%-22s %10s %10s\n' "  own work ms/reg" "${OWN[natproxy-regs]}" "${OWN[kamailio-regs]}"
printf 'peers at the last passing step: natproxyd calls: %s; regs: %s\n' "${PEERS[natproxy-calls]}" "${PEERS[natproxy-regs]}"
printf '                                kamailio calls: %s; regs: %s\n' "${PEERS[kamailio-calls]}" "${PEERS[kamailio-regs]}"
printf '(%s s; highest rate with no failed call; steps of %s s; %s)\n' "$ELAPSED" "$STEP_S" "$OUT/signaling.json"
