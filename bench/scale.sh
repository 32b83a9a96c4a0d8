#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# State at scale in a real natproxyd (never CI): build/bench/statescale
# drives 100,000 terminals through the proxy in one process, with no
# sockets; this runs the daemon itself, with a core socket per terminal,
# on the topology of tests/sip/topology.sh:
#   1. SCALE_TERMINALS terminals (default 15,000) register from lan1, each
#      from its own UDP socket (sipp -t un), so each is its own NAT
#      mapping at natproxyd; they hold their sockets and answer keepalives
#      (sipp -oocsf) until the end; the core peer is a sipp registrar;
#   2. SCALE_CALLS calls (default 5,000) from one more terminal, registered,
#      are set up and held; the core peer is now a sipp UAS;
#   3. natproxyd's memory, file descriptors, state file and idle CPU
#      (keepalives spread over the interval) over SCALE_IDLE_S seconds;
#   4. kill -9, and natproxyd started again on the same state and pins:
#      how long until it has adopted every terminal and call, and whether
#      the flows in the maps are the same.
# The process' open-file limit (20,000 hard here, not raisable) caps the
# terminals of one natproxyd and of one sipp: that is why 15,000.
#
#   bench/scale.sh OUTDIR
#
# Writes OUTDIR/scale.json and prints a table. Bounded: every sipp under
# `timeout`, every wait bounded; about 2 minutes. Removes what it made on
# exit (namespaces, pins, processes by PID).
set -u

cd "$(dirname "$0")/.."
. bench/outdir.sh
bench_outdir scale "$@"
for bin in build/natproxyd build/natproxyctl; do
	[ -e "$bin" ] || { echo "bench/scale.sh: $bin missing: run make first" >&2; exit 1; }
done
command -v sipp >/dev/null || { echo "bench/scale.sh: sipp missing: run make bench-deps" >&2; exit 1; }

TERMINALS=${SCALE_TERMINALS:-15000}
CALLS=${SCALE_CALLS:-5000}
IDLE_S=${SCALE_IDLE_S:-20}
HOLD_S=120 # every terminal and call outlives the run

export NP_RUN=npscale$$
. tests/sip/topology.sh
BENCH=$PWD/bench/signaling
trap sip_topology_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP PIPE

log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$LOGS/steps.log" >&2; }
die() { log "bench/scale.sh: $*"; exit 1; }
ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# until_true SECONDS CMD...: CMD succeeds within SECONDS (checked every 0.1 s).
until_true() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
# gauge NAME: the sum of a gauge's series on natproxyd's metrics page.
gauge() {
	in_ns proxy python3 -c '
import sys, urllib.request
page = urllib.request.urlopen("http://127.0.0.1:9917/metrics", timeout=5).read().decode()
print(int(sum(float(l.split()[-1]) for l in page.splitlines()
              if l.split("{")[0].split(" ")[0] == sys.argv[1])))' "$1"
}

# core_peer SCENARIO: the sipp at the softswitch's address, its PID in CORE_PID.
CORE_PID=
core_peer() {
	[ -n "$CORE_PID" ] && sip_stop "$CORE_PID"
	sip_spawn core timeout -k 5 $((HOLD_S + 60)) env -C "$LOGS" sipp \
		-sf "$BENCH/$1" -nostdin -i "$SIP_KAM_IP" -p 5060 \
		-mi "$SIP_KAM_IP" -mp 7000 -max_reconnect 0 >"$LOGS/core-$1.out" 2>&1
	CORE_PID=$SIP_LAST_PID
	until_true 5 eval 'in_ns core ss -Hunl | grep -q "$SIP_KAM_IP:5060 "' ||
		die "the core peer ($1) did not start"
}

sip_topology_up || die "topology"
# Relay ports for every call (each realm on its own address).
PROXY_ACCESS_MEDIA=30000-59999 PROXY_CORE_MEDIA=40000-59999 \
	proxy_config "$NP_RUN_DIR/natproxy.yaml" sip \
	"    # Thousands of terminals behind one NAT address and one caller with
    # thousands of calls: the per-source limits are for floods.
    max_requests_per_address: 0
    max_requests_per_mapping: 0
    max_terminals_per_address: 0
    max_calls_per_terminal: 0
    max_transactions_per_terminal: 0
    unknown_signaling_rate: 0" "" \
	"keepalive:
  method: options
  interval: 60" "metrics:
  listen: 127.0.0.1:9917"
# A core port per terminal.
sed -i 's/sip_ports: 20000-20999/sip_ports: 20000-39999/' "$NP_RUN_DIR/natproxy.yaml"
LOG=$LOGS/natproxyd.log
: >"$LOG"
natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
	--state "$NP_RUN_DIR/state" || die "natproxyd did not start (see $LOG)"

# 1. Terminals, each on its own socket, held (register.xml's pause).
core_peer registrar.xml
awk -v n="$TERMINALS" 'BEGIN { print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "t%d;\n", i }' \
	>"$LOGS/terminals.csv"
t0=$(date +%s.%N)
sip_spawn lan1 timeout -k 5 $((HOLD_S + 60)) env -C "$LOGS" sipp -nostdin \
	-sf "$BENCH/register.xml" -inf "$LOGS/terminals.csv" -key expires 3600 \
	-key domain "$SIP_DOMAIN" -oocsf "$SIP_SCENARIOS/ooc_keepalive.xml" \
	-t un -max_socket $((TERMINALS + 100)) -i "$SIP_A_IP" -p 5060 \
	-r 2000 -m "$TERMINALS" -l "$TERMINALS" -d $((HOLD_S * 1000)) \
	-trace_err -error_file "$LOGS/terminals.err" \
	"$SIP_PROXY_ACC_IP:5060" >"$LOGS/terminals.out" 2>&1
until_true 60 eval '[ "$(gauge natproxy_terminals 2>/dev/null)" -ge "$TERMINALS" ]' ||
	log "only $(gauge natproxy_terminals) of $TERMINALS terminals registered"
t_reg=$(echo "$(date +%s.%N) - $t0" | bc)
log "terminals: $(gauge natproxy_terminals) in ${t_reg} s"

# 2. Calls from one more terminal, held. It registers first, from the port
# it calls from: an unknown caller gets no core port once half are taken.
printf 'SEQUENTIAL\ncaller;\n' >"$LOGS/caller.csv"
in_ns lan1 timeout 20 env -C "$LOGS" sipp -nostdin -sf "$BENCH/register.xml" \
	-inf "$LOGS/caller.csv" -key expires 3600 -key domain "$SIP_DOMAIN" \
	-i "$SIP_A_IP" -p 5070 -m 1 "$SIP_PROXY_ACC_IP:5060" >"$LOGS/caller.out" 2>&1 ||
	die "the caller did not register (see $LOGS/caller.out)"
core_peer uas.xml
t0=$(date +%s.%N)
sip_spawn lan1 timeout -k 5 $((HOLD_S + 60)) env -C "$LOGS" sipp -nostdin \
	-sf "$BENCH/uac.xml" -s far -key user caller -key domain "$SIP_DOMAIN" \
	-i "$SIP_A_IP" -p 5070 -mi "$SIP_A_IP" -mp 16000 \
	-r 500 -m "$CALLS" -l "$CALLS" -d $((HOLD_S * 1000)) \
	-trace_err -error_file "$LOGS/calls.err" \
	"$SIP_PROXY_ACC_IP:5060" >"$LOGS/calls.out" 2>&1
until_true 60 eval '[ "$(gauge natproxy_calls_active 2>/dev/null)" -ge "$CALLS" ]' ||
	log "only $(gauge natproxy_calls_active) of $CALLS calls up"
t_calls=$(echo "$(date +%s.%N) - $t0" | bc)
log "calls: $(gauge natproxy_calls_active) in ${t_calls} s"

# 3. At rest: memory, descriptors, state, CPU.
sleep 2
pid_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }
c0=$(pid_ticks "$NPD_PID") t0=$(date +%s.%N)
sleep "$IDLE_S"
c1=$(pid_ticks "$NPD_PID") t1=$(date +%s.%N)
terms=$(gauge natproxy_terminals) calls=$(gauge natproxy_calls_active)
cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $(getconf CLK_TCK) / ($t1 - $t0)" | bc)
rss=$(rss_kib "$NPD_PID")
fds=$(ls "/proc/$NPD_PID/fd" | wc -l)
state_b=$(cat "$NP_RUN_DIR/state" "$NP_RUN_DIR"/state.* 2>/dev/null | wc -c)
ctl flows --json >"$LOGS/flows-before.json"
flows_before=$(grep -c "^{" "$LOGS/flows-before.json")
ka=$(grep -c 'OPTIONS' "$LOGS/terminals.out" 2>/dev/null || true)
log "at rest: $terms terminals, $calls calls, RSS $rss KiB, $fds fds, state $state_b B, CPU $cpu% over ${IDLE_S} s, $flows_before flows"

# 4. kill -9 and a restart on the same state and pins.
kill -9 "$NPD_PID"
wait "$NPD_PID" 2>/dev/null # its "Killed" notice

t0=$(date +%s.%N)
natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
	--state "$NP_RUN_DIR/state" || die "natproxyd did not start again (see $LOG)"
t_up=$(echo "$(date +%s.%N) - $t0" | bc)
adopted=$(grep 'adopted' "$LOG" | tail -1)
until_true 10 eval '[ "$(gauge natproxy_terminals 2>/dev/null)" -ge "$terms" ]'
t_ready=$(echo "$(date +%s.%N) - $t0" | bc)
ctl flows --json >"$LOGS/flows-after.json"
flows_after=$(grep -c "^{" "$LOGS/flows-after.json")
rss2=$(rss_kib "$NPD_PID")
log "restart: running in $t_up s, $(gauge natproxy_terminals) terminals answered by status in $t_ready s; $adopted; flows $flows_before -> $flows_after"

per_term=$((rss * 1024 / (terms + 1)))
cat >"$OUT/scale.json" <<-EOF
	{"terminals": $terms, "calls": $calls, "register_s": $t_reg, "calls_s": $t_calls,
	 "rss_kib": $rss, "rss_after_restart_kib": $rss2, "fds": $fds, "state_bytes": $state_b,
	 "idle_cpu_percent": $cpu, "idle_s": $IDLE_S, "flows": $flows_before,
	 "flows_after_restart": $flows_after, "restart_running_s": $t_up,
	 "restart_ready_s": $t_ready}
EOF
cat <<-EOF
	| one natproxyd | figure |
	|---|---|
	| terminals registered (own NAT mapping each) | $terms in $t_reg s |
	| calls held | $calls (set up in $t_calls s), $flows_before flows |
	| memory (RSS) | $((rss / 1024)) MiB, about $per_term B a terminal all in |
	| file descriptors | $fds |
	| state file and journal | $state_b B |
	| CPU at rest, keepalives every 60 s | $cpu% of a CPU |
	| restart after kill -9: running / all adopted | $t_up s / $t_ready s |
	| flows in the maps before / after the restart | $flows_before / $flows_after |
EOF
