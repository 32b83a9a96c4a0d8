#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# State at scale in a real natproxyd (never CI): build/bench/statescale
# drives 100,000 terminals through the proxy in one process, with no
# sockets; this runs the daemon itself on the topology of
# tests/sip/topology.sh, the terminals' core ports on one socket per realm
# (ctl/termsock.h):
#   1. SCALE_TERMINALS terminals (default 100,000) register from lan1 and lan2,
#      each from its own UDP socket (sipp -t un), so each is its own NAT
#      mapping at natproxyd; they hold their sockets and answer keepalives
#      (sipp -oocsf) until the end; the core peer is a sipp registrar
#      that answers every REGISTER, a retransmission too (-deadcall_wait
#      0: natproxyd's sockets drop datagrams in the burst, and a 200
#      dropped once must come again, else its terminal never registers),
#      with signaling.sh's 4 MiB socket buffer.
#      A sipp process holds at most SCALE_PER_SIPP of them (default
#      12,500: its open files are capped too), each from its own address;
#      a NAT address has 64k ports and a core address too, so the
#      terminals are split over two pairs, the first's behind NAT 1 (lan1),
#      the second's behind NAT 2 (lan2). (Two NATs, not one: Linux's
#      masquerade maps two sockets to the same port toward two
#      destinations, which natproxyd, which knows a terminal by its
#      mapping, would take for one terminal.)
#   2. SCALE_CALLS calls (default 10,000) from one more terminal (lan0,
#      no NAT), of a third pair (its core address holds the calls' relay ports), are set
#      up and held; the core peer is now a sipp UAS;
#   3. natproxyd's memory, file descriptors, state file and idle CPU over
#      SCALE_IDLE_S seconds, with the keepalives it sent in each second
#      (spread over the interval, not in bursts);
#   4. kill -9, and natproxyd started again on the same state and pins:
#      how long until it has adopted every terminal and call, and whether
#      the flows in the maps are the same;
#   5. two reloads (SIGHUP): the first save after the restart (nothing
#      else changes meanwhile) and a reload's; the event loop's turns over
#      20 ms in the seconds after each (SCALE_SAVE_WAIT_S, default 10).
#
#   bench/scale.sh OUTDIR
#
# Writes OUTDIR/scale.json and prints a table. Bounded: every sipp under
# `timeout`, every wait bounded; about 4 minutes at 100,000. Removes what it
# made on exit (namespaces, pins, processes by PID).
set -u

cd "$(dirname "$0")/.."
. bench/outdir.sh
bench_outdir scale "$@"
for bin in build/natproxyd build/natproxyctl; do
	[ -e "$bin" ] || { echo "bench/scale.sh: $bin missing: run make first" >&2; exit 1; }
done
command -v sipp >/dev/null || { echo "bench/scale.sh: sipp missing: run make bench-deps" >&2; exit 1; }

TERMINALS=${SCALE_TERMINALS:-100000}
CALLS=${SCALE_CALLS:-10000}
PER_SIPP=${SCALE_PER_SIPP:-12500}
IDLE_S=${SCALE_IDLE_S:-20}
# natproxyd's default interval. The first keepalive comes within one
# interval of the registration, before the NATs' UDP timeout for a flow
# that has not lasted 2 s (Linux: 30 s) (bench/README.md, "Lost terminals").
KEEPALIVE_S=${SCALE_KEEPALIVE_S:-20}
# Registrations a second from each sipp: 8 x 400 is under what natproxyd
# takes of new terminals here (about 4,000/s beside the sipps). Offered
# twice that (SCALE_REG_RATE=1000), its access sockets drop REGISTERs, the
# terminals retransmit, and sipp terminals that give up after 32 s are
# gone for good: natproxyd drops their bindings by keepalive later.
REG_RATE=${SCALE_REG_RATE:-400}
HOLD_S=${SCALE_HOLD_S:-300} # every terminal and call outlives the run
SIPPS=$(((TERMINALS + PER_SIPP - 1) / PER_SIPP))
[ "$SIPPS" -le 8 ] || { echo "bench/scale.sh: at most 8 sipp groups (SCALE_PER_SIPP)" >&2; exit 1; }

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

# mark: the number of natproxyd's log lines so far (a phase's start).
mark() { wc -l <"$LOG"; }
# slow_turns FROM TO: natproxyd's turns over 20 ms in lines FROM+1..TO of
# its log ("event loop: a turn took"), as "N, max M ms (CAUSE N max M,
# ...)": the cause is the compaction (its last slice), the save (and a
# slice of a compaction in progress; save+begin: one that began a
# compaction) or the tick where that part took most of the turn, else what
# woke it (served: ...).
slow_turns() {
	awk -v from="$1" -v to="$2" '
	NR > from && NR <= to && match($0, /a turn took [0-9.]+ ms \(served:[^;]*;/) {
		split(substr($0, RSTART, RLENGTH), w, /[ (;]+/)
		ms = w[4] + 0
		served = substr($0, RSTART, RLENGTH)
		sub(/.*served: */, "", served); sub(/;$/, "", served)
		cause = served
		if (match($0, /tick [0-9.]+ ms/) && substr($0, RSTART + 5) + 0 > ms / 2)
			cause = "tick"
		if (match($0, /(save|compaction) [0-9.]+ ms/)) {
			part = substr($0, RSTART, RLENGTH)
			split(part, p, " ")
			if (p[2] + 0 > ms / 2)
				cause = /compaction begun/ ? "save+begin" : p[1]
		}
		n++; if (ms > max) max = ms
		c[cause]++; if (ms > cm[cause]) cm[cause] = ms
	}
	END {
		printf "%d, max %.1f ms", n, max
		sep = " ("
		for (k in c) { printf "%s%s %d max %.1f", sep, k, c[k], cm[k]; sep = ", " }
		if (n) printf ")"
		print ""
	}' "$LOG"
}

# core_peer SCENARIO [SIPP ARGS...]: the sipp at the softswitch's address,
# its PID in CORE_PID.
CORE_PID=
core_peer() {
	local sf=$1
	shift
	[ -n "$CORE_PID" ] && sip_stop "$CORE_PID"
	sip_spawn core timeout -k 5 $((HOLD_S + 60)) env -C "$LOGS" sipp \
		-sf "$BENCH/$sf" -nostdin -i "$SIP_KAM_IP" -p 5060 "$@" \
		-mi "$SIP_KAM_IP" -mp 7000 -max_reconnect 0 -buff_size 4194304 \
		-trace_err -error_file "$LOGS/core-$sf.err" >"$LOGS/core-$sf.out" 2>&1
	CORE_PID=$SIP_LAST_PID
	until_true 5 eval 'in_ns core ss -Hunl | grep -q "$SIP_KAM_IP:5060 "' ||
		die "the core peer ($sf) did not start"
}

sip_topology_up || die "topology"
# Three pairs: terminals on the first two, the calls on the third. The
# proxy's extra addresses on acc0 and core0; the terminals from one address
# per sipp (a source address has 64k ports), of lan1 and lan2 in turn.
ACC=(203.0.113.1 203.0.113.2 203.0.113.3) CORE=(198.51.100.1 198.51.100.3 198.51.100.4)
for i in 1 2; do
	in_ns proxy ip addr add "${ACC[i]}/24" dev acc0 || die "address ${ACC[i]}"
	in_ns proxy ip addr add "${CORE[i]}/24" dev core0 || die "address ${CORE[i]}"
done
# sipp group g: from lan(1 + g % 2), address 192.168.(1 + g % 2).(100 + g),
# to the access address of pair g % 2.
for ((g = 0; g < SIPPS; g++)); do
	in_ns lan$((1 + g % 2)) ip addr add "192.168.$((1 + g % 2)).$((100 + g))/24" dev eth0 ||
		die "lan address"
done
limits="    # Thousands of terminals behind one NAT address and one caller with
    # thousands of calls: the per-source limits are for floods.
    max_requests_per_address: 0
    max_requests_per_mapping: 0
    max_terminals_per_address: 0
    max_calls_per_terminal: 0
    max_transactions_per_terminal: 0
    unknown_signaling_rate: 0
    # The calls carry no media: held, not ended at the media timeout.
    media_timeout: 3600"
{
	echo "realms:"
	for i in 0 1 2; do
		# Access: relay ports of the calls (the third pair's); core: a
		# port per terminal, and the calls' relay ports on the third.
		core_ports="sip_ports: 1024-64999
    media_ports: 65000-65099"
		[ "$i" = 2 ] && core_ports="sip_ports: 1024-1999
    media_ports: 30000-59999"
		cat <<-EOF
		  - name: access$i
		    interface: acc0
		    address: ${ACC[i]}
		    sip_port: 5060
		    media_ports: 30000-59999
		$limits
		  - name: core$i
		    interface: core0
		    address: ${CORE[i]}
		    $core_ports
		    media_timeout: 3600
		EOF
	done
	echo "pairs:"
	for i in 0 1 2; do
		printf '  - first: access%d\n    second: core%d\n    softswitch: %s:5060\n' "$i" "$i" "$SIP_KAM_IP"
	done
	printf 'keepalive:\n  method: options\n  interval: %d\nmetrics:\n  listen: 127.0.0.1:9917\n' "$KEEPALIVE_S"
} >"$NP_RUN_DIR/natproxy.yaml"
LOG=$LOGS/natproxyd.log
: >"$LOG"
natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
	--state "$NP_RUN_DIR/state" || die "natproxyd did not start (see $LOG)"

# 1. Terminals, each on its own socket, held (register.xml's pause).
rss_kib() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }
sleep 1
rss_base=$(rss_kib "$NPD_PID")
# registrar.xml's call ends with its 200, and sipp keeps an ended call's
# Call-ID 33 s (-deadcall_wait) to discard what comes for it: a REGISTER
# retransmitted because the 200 was lost went unanswered for good (the
# 19:29 run lost 60 terminals so). Without: a new call, answered, as a
# registrar's server transaction answers a retransmission again.
core_peer registrar.xml -deadcall_wait 0
# SCALE_DIAG=1: where a datagram goes missing: captures of the signaling on
# both sides of NAT 1 through the registrations, then the NATs' conntrack
# statistics, every namespace's UDP/ICMP counters and natproxyd's metrics.
if [ "${SCALE_DIAG:-0}" = 1 ]; then
	for ns in nat1 nat2; do in_ns $ns conntrack -S >"$LOGS/conntrack-$ns-before.txt" 2>&1; done
	for ns in nat1 nat2 lan1 lan2 proxy core; do in_ns $ns nstat -n; done
	capture_start nat1 wan "$LOGS/nat1-wan.pcap" -s 400 udp port 5060
	capture_start nat1 lan "$LOGS/nat1-lan.pcap" -s 400 udp port 5060
	captures_listening || die "captures"
fi
t0=$(date +%s.%N)
m_reg=$(mark)
left=$TERMINALS
for ((g = 0; g < SIPPS; g++)); do
	n=$((left < PER_SIPP ? left : PER_SIPP))
	left=$((left - n))
	awk -v n="$n" -v g="$g" 'BEGIN { print "SEQUENTIAL"; for (i = 0; i < n; i++) printf "t%d_%d;\n", g, i }' \
		>"$LOGS/terminals$g.csv"
	sip_spawn lan$((1 + g % 2)) timeout -k 5 $((HOLD_S + 60)) env -C "$LOGS" sipp -nostdin \
		-sf "$BENCH/register.xml" -inf "$LOGS/terminals$g.csv" -key expires 3600 \
		-key domain "$SIP_DOMAIN" -oocsf "$SIP_SCENARIOS/ooc_keepalive.xml" \
		-t un -max_socket $((n + 100)) -i "192.168.$((1 + g % 2)).$((100 + g))" -p 5060 \
		-r "$REG_RATE" -m "$n" -l "$n" -d $((HOLD_S * 1000)) \
		-trace_err -error_file "$LOGS/terminals$g.err" \
		"${ACC[g % 2]}:5060" >"$LOGS/terminals$g.out" 2>&1
done
# Registered, not only known: a REGISTER whose 200 never came makes a
# terminal too, released unregistered 16 s later.
until_true 180 eval '[ "$(gauge natproxy_registrations 2>/dev/null)" -ge "$TERMINALS" ]' ||
	log "only $(gauge natproxy_registrations) of $TERMINALS terminals registered"
t_reg=$(echo "$(date +%s.%N) - $t0" | bc)
reg_done=$SECONDS
terms_only=$(gauge natproxy_registrations)
rss_terms=$(rss_kib "$NPD_PID")
turns_reg=$(slow_turns "$m_reg" "$(mark)")
log "terminals: $terms_only in ${t_reg} s, RSS $rss_terms KiB (at start $rss_base); turns over 20 ms: $turns_reg"
if [ "${SCALE_DIAG:-0}" = 1 ]; then
	sleep 35 # past the REGISTERs' last retransmissions (64 x T1)
	for pid in "${SIP_CAPTURE_PIDS[@]}"; do sip_stop "$pid" INT; done
	for ns in nat1 nat2; do
		in_ns $ns conntrack -S >"$LOGS/conntrack-$ns.txt" 2>&1
		in_ns $ns conntrack -C >>"$LOGS/conntrack-$ns.txt" 2>&1
	done
	for ns in nat1 nat2 lan1 lan2 proxy core; do in_ns $ns nstat -az >"$LOGS/nstat-$ns.txt"; done
	in_ns proxy ss -uamn >"$LOGS/ss-proxy.txt" # per socket: d = dropped
	in_ns proxy python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9917/metrics", timeout=5).read().decode())' >"$LOGS/metrics-registered.txt"
	log "diag: terminals now $(gauge natproxy_terminals)"
fi

# 2. Calls from one more terminal, held, on the third pair. It registers
# first, from the port it calls from: an unknown caller gets no core port
# once half are taken. It answers keepalives, or natproxyd drops its
# binding and its calls with it.
printf 'SEQUENTIAL\ncaller;\n' >"$LOGS/caller.csv"
in_ns lan0 timeout 20 env -C "$LOGS" sipp -nostdin -sf "$BENCH/register.xml" \
	-inf "$LOGS/caller.csv" -key expires 3600 -key domain "$SIP_DOMAIN" \
	-i "$SIP_C_IP" -p 5070 -m 1 "${ACC[2]}:5060" >"$LOGS/caller.out" 2>&1 ||
	die "the caller did not register (see $LOGS/caller.out)"
core_peer uas.xml
t0=$(date +%s.%N)
m_calls=$(mark)
sip_spawn lan0 timeout -k 5 $((HOLD_S + 60)) env -C "$LOGS" sipp -nostdin \
	-sf "$BENCH/uac.xml" -s far -key user caller -key domain "$SIP_DOMAIN" \
	-oocsf "$SIP_SCENARIOS/ooc_keepalive.xml" -i "$SIP_C_IP" -p 5070 -mi "$SIP_C_IP" -mp 16000 \
	-r 500 -m "$CALLS" -l "$CALLS" -d $((HOLD_S * 1000)) \
	-trace_err -error_file "$LOGS/calls.err" \
	"${ACC[2]}:5060" >"$LOGS/calls.out" 2>&1
until_true 90 eval '[ "$(gauge natproxy_calls_active 2>/dev/null)" -ge "$CALLS" ]' ||
	log "only $(gauge natproxy_calls_active) of $CALLS calls up"
t_calls=$(echo "$(date +%s.%N) - $t0" | bc)
rss_calls=$(rss_kib "$NPD_PID")
turns_calls=$(slow_turns "$m_calls" "$(mark)")
log "calls: $(gauge natproxy_calls_active) in ${t_calls} s, RSS $rss_calls KiB; turns over 20 ms: $turns_calls"
m_settle=$(mark)

# 3. At rest: memory, descriptors, state, CPU, keepalives per second,
# once every terminal is in its keepalive cycle (the first comes in the
# second half of the interval after the registration), and late
# enough to count what the keepalives lost: a terminal whose NAT mapping
# is gone misses its first and the next two, and its binding is dropped
# five intervals after it registered at the latest.
sleep 2
while [ $((SECONDS - reg_done)) -lt $((5 * KEEPALIVE_S + 2)) ]; do sleep 1; done
pid_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
turns_settle=$(slow_turns "$m_settle" "$(mark)")
m_rest=$(mark)
c0=$(pid_ticks "$NPD_PID") t0=$(date +%s.%N)
sleep "$IDLE_S" # nothing asks natproxyd anything meanwhile
c1=$(pid_ticks "$NPD_PID") t1=$(date +%s.%N)
# Then the keepalives it sends in each second.
# One reader, a read every second on the second: each delta is one tick's
# keepalives (natproxyd sends them from its one-second tick).
ka_list=$(in_ns proxy python3 -c '
import sys, time, urllib.request
def sent():
    page = urllib.request.urlopen("http://127.0.0.1:9917/metrics", timeout=5).read().decode()
    return int(sum(float(l.split()[-1]) for l in page.splitlines()
                   if l.split(" ")[0] == "natproxy_keepalives_sent_total"))
n, last, at, out = int(sys.argv[1]), sent(), time.monotonic(), []
for i in range(n):
    at += 1
    time.sleep(max(0, at - time.monotonic()))
    now = sent()
    out.append(now - last)
    last = now
print(" ".join(map(str, out)))' "$IDLE_S")
terms=$(gauge natproxy_terminals) calls=$(gauge natproxy_calls_active)
lost=$(gauge natproxy_keepalive_bindings_lost_total) idle=$(grep -c 'released (idle)' "$LOG")
# What natproxyd's own sockets dropped unread (all realms), and the
# keepalives left unanswered meanwhile that it did not hold against their
# terminals.
dropped=$(gauge natproxy_signaling_input_dropped_total)
excused=$(gauge natproxy_keepalive_misses_excused_total)
cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $(getconf CLK_TCK) / ($t1 - $t0)" | bc)
rss=$(rss_kib "$NPD_PID")
fds=$(ls "/proc/$NPD_PID/fd" | wc -l)
socks=$(find "/proc/$NPD_PID/fd" -lname 'socket:*' | wc -l)
state_b=$(cat "$NP_RUN_DIR/state" "$NP_RUN_DIR"/state.* 2>/dev/null | wc -c)
ctl flows --json >"$LOGS/flows-before.json"
flows_before=$(grep -c "^{" "$LOGS/flows-before.json")
turns_rest=$(slow_turns "$m_rest" "$(mark)")
log "turns over 20 ms: after the calls until at rest (keepalives begin): $turns_settle; at rest: $turns_rest"
log "at rest: $terms terminals ($lost bindings lost to keepalives, $excused misses excused, $dropped datagrams dropped unread; $idle released before they registered, most made again), $calls calls, RSS $rss KiB, $fds fds ($socks sockets), state $state_b B, CPU $cpu% over ${IDLE_S} s, $flows_before flows; keepalives sent per second: $ka_list"

# 4. kill -9 and a restart on the same state and pins.
kill -9 "$NPD_PID"
wait "$NPD_PID" 2>/dev/null # its "Killed" notice

t0=$(date +%s.%N)
m_restart=$(mark)
natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
	--state "$NP_RUN_DIR/state" || die "natproxyd did not start again (see $LOG)"
t_up=$(echo "$(date +%s.%N) - $t0" | bc)
adopted=$(grep 'adopted' "$LOG" | tail -1)
until_true 30 eval '[ "$(gauge natproxy_terminals 2>/dev/null)" -ge "$terms" ]'
t_ready=$(echo "$(date +%s.%N) - $t0" | bc)
ctl flows --json >"$LOGS/flows-after.json"
flows_after=$(grep -c "^{" "$LOGS/flows-after.json")
# The same flows: every field but the counters, which media may move.
flows_same=$(python3 -c '
import json, sys
def flows(path):
    out = set()
    for line in open(path):
        if line.startswith("{"):
            f = json.loads(line)
            out.add(json.dumps({k: v for k, v in f.items()
                                if not isinstance(v, (int, float)) or k.endswith("port")},
                               sort_keys=True))
    return out
print("yes" if flows(sys.argv[1]) == flows(sys.argv[2]) else "no")' \
	"$LOGS/flows-before.json" "$LOGS/flows-after.json")
rss2=$(rss_kib "$NPD_PID")
log "restart: running in $t_up s, $(gauge natproxy_terminals) terminals answered by status in $t_ready s; $adopted; flows $flows_before -> $flows_after (same: $flows_same)"

# 5. The saves that used to write the whole state in one turn: the first
# after the restart (a reload's: nothing else changes here meanwhile),
# then a reload's; the turns over 20 ms from the restart on, and in the
# SAVE_WAIT_S seconds after each reload (a compaction written a slice a
# turn takes a few seconds at 100,000 terminals).
SAVE_WAIT_S=${SCALE_SAVE_WAIT_S:-10}
sleep 2
turns_restart=$(slow_turns "$m_restart" "$(mark)")
m_first=$(mark)
natproxyd_reload "$LOG" || log "the first reload was refused"
sleep "$SAVE_WAIT_S"
turns_first=$(slow_turns "$m_first" "$(mark)")
m_reload=$(mark)
natproxyd_reload "$LOG" || log "the second reload was refused"
sleep "$SAVE_WAIT_S"
turns_reload=$(slow_turns "$m_reload" "$(mark)")
written=$(tail -n +"$((m_first + 1))" "$LOG" | grep -o 'state file written whole: .*' | tr '\n' ';')
log "turns over 20 ms: restart until the first save: $turns_restart; the first save (a reload's): $turns_first; a reload's: $turns_reload; ${written:-no compaction in slices}"

per_term=$(((rss_terms - rss_base) * 1024 / (terms_only + 1)))
per_call=$(((rss_calls - rss_terms) * 1024 / (calls + 1)))
cat >"$OUT/scale.json" <<-EOF
	{"terminals": $terms, "terminals_registered_first": $terms_only,
	 "bindings_lost": $lost, "released_unregistered": $idle,
	 "input_dropped": $dropped, "keepalive_misses_excused": $excused,
	 "calls": $calls, "register_s": $t_reg, "calls_s": $t_calls,
	 "rss_kib": $rss, "rss_start_kib": $rss_base, "rss_terminals_kib": $rss_terms,
	 "rss_calls_kib": $rss_calls, "rss_per_terminal_b": $per_term,
	 "rss_per_call_b": $per_call, "rss_after_restart_kib": $rss2,
	 "fds": $fds, "sockets": $socks, "state_bytes": $state_b,
	 "idle_cpu_percent": $cpu, "idle_s": $IDLE_S,
	 "keepalives_per_s": [$(echo "$ka_list" | tr ' ' ',')],
	 "flows": $flows_before, "flows_after_restart": $flows_after,
	 "flows_same": "$flows_same", "restart_running_s": $t_up,
	 "restart_ready_s": $t_ready,
	 "slow_turns": {"registration": "$turns_reg", "calls": "$turns_calls",
	                "settling": "$turns_settle", "rest": "$turns_rest",
	                "restart": "$turns_restart",
	                "first_save": "$turns_first", "reload": "$turns_reload"}}
EOF
cat <<-EOF
	| one natproxyd | figure |
	|---|---|
	| terminals registered (own NAT mapping each) | $terms_only in $t_reg s; $terms at rest ($lost lost to keepalives; $dropped datagrams dropped unread, $excused unanswered keepalives excused) |
	| calls held | $calls (set up in $t_calls s), $flows_before flows |
	| memory (RSS) | $((rss / 1024)) MiB: $((rss_base / 1024)) MiB at start, $per_term B a terminal, $per_call B a call |
	| file descriptors | $fds ($socks sockets) |
	| state file and journal | $state_b B |
	| CPU at rest, keepalives every $KEEPALIVE_S s | $cpu% of a CPU |
	| keepalives sent, each second of $IDLE_S | $ka_list |
	| restart after kill -9: running / all adopted | $t_up s / $t_ready s |
	| flows in the maps before / after the restart (the same) | $flows_before / $flows_after ($flows_same) |
	| event loop turns over 20 ms: registration | $turns_reg |
	| ... calls set up | $turns_calls |
	| ... after the calls until at rest | $turns_settle |
	| ... at rest ($IDLE_S s and the keepalive count) | $turns_rest |
	| ... restart until the first save | $turns_restart |
	| ... the first save after the restart (a reload's), $SAVE_WAIT_S s | $turns_first |
	| ... a reload, $SAVE_WAIT_S s | $turns_reload |
EOF
