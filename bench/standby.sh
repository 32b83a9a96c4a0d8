#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A standby following a real active node that carries SB_CALLS calls
# (default 10,000) set up by sipp through it (docs/ha.md; issue "high
# availability": the standby's memory and CPU while it follows). On the
# topology of tests/sip/: natproxyd a (active) in the proxy namespace, with
# the realms' addresses; natproxyd b (standby) in a namespace of its own,
# with its own acc0/core0 for its XDP maps but not the addresses, so it
# stays a standby and follows a; one redis-server (Debian's) beside b,
# reached by a over a link of its own. sipp behind NAT 1 places the calls
# from one socket per call (-t un: every call its own NAT mapping, so its
# own terminal, as real phones would be) at SB_RATE a second and holds
# them; sipp at the softswitch's address answers them (bench/signaling's
# scenarios).
#
#   flock -x /tmp/np-bench.lock bench/standby.sh OUTDIR
#
# Once every call is up and b holds as many flows as a, over SB_WINDOW_S
# seconds (default 30): each node's CPU (% of one CPU, from /proc/PID/stat)
# and RSS (and peak, VmHWM), Redis' memory (INFO memory) and CPU, each
# node's calls and flows. Then a resync: every Redis client disconnected
# (CLIENT KILL): b reads a's stream again from its snapshot, as after a
# Redis outage or a compaction of a; over the next 15 s, b's CPU and the
# fewest flows it held (sampled). The event loop's stalls are natproxyd's
# own "event loop: a turn took" lines (every turn over 20 ms; a build
# without them shows none), counted per phase in each node's log, with
# what the turns served (their count by the line's "served:" words; "-":
# none). sipp sends no
# media (media_timeout is an hour: the calls stay up); a second window of
# SB_WINDOW_S has every flow of a take a frame a second through a's relay
# program (bench/media_pulse.c), so a writes, and b reads, every call's
# counts every second: the same figures, and how many of a's media fields
# in Redis changed over it. sipp needs a socket
# per call and natproxyd one per terminal: the open-files limit (20,000
# here) bounds SB_CALLS. Prints a summary and writes OUTDIR/standby.txt.
# Bounded: the calls' setup SB_CALLS/SB_RATE + 60 s at most, the flows'
# wait 90 s, the two windows, the resync 15 s (about 3 minutes at the
# defaults, under 6). Removes everything it made on exit (namespaces,
# pins, processes by PID).
set -u

cd "$(dirname "$0")/.."
. bench/outdir.sh
bench_outdir standby "$@"
NATPROXYD=${SB_NATPROXYD:-build/natproxyd} # another build, to compare
for bin in "$NATPROXYD" build/natproxyctl; do
	[ -e "$bin" ] || { echo "bench/standby.sh: $bin missing: run make first" >&2; exit 1; }
done
for cmd in sipp redis-server redis-cli curl; do
	command -v "$cmd" >/dev/null ||
		{ echo "bench/standby.sh: $cmd missing: run make deps bench-deps" >&2; exit 1; }
done

CALLS=${SB_CALLS:-10000}
RATE=${SB_RATE:-400}
WINDOW_S=${SB_WINDOW_S:-30}
REDIS_IP=198.51.100.62 REDIS_PORT=6379 A_LINK_IP=198.51.100.61
HZ=$(getconf CLK_TCK)

export NP_RUN=npsb$$
. tests/sip/topology.sh
SIP_NAMESPACES+=(proxyb)
BENCH=$PWD/bench/signaling
trap sip_topology_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP PIPE

log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "$LOGS/steps.log" >&2; }
die() { log "bench/standby.sh: $*"; exit 1; }
ns_of() { [ "$1" = a ] && echo proxy || echo proxyb; }
ctl_of() { local n=$1; shift; in_ns "$(ns_of "$n")" build/natproxyctl --pin-dir "$NP_RUN_DIR/bpf/$n" "$@"; }
rcli() { in_ns proxyb redis-cli -h "$REDIS_IP" -p "$REDIS_PORT" "$@"; }
# n_flows N: the flows in node N's maps.
n_flows() { ctl_of "$1" flows --json 2>/dev/null | grep -c '^{"local"'; }
# metric N NAME: the sum of a metric's samples on node N's page.
metric() {
	in_ns "$(ns_of "$1")" curl -s --max-time 5 http://127.0.0.1:9917/metrics |
		awk -v n="$2" '{k = $1; sub(/\{.*/, "", k)} k == n {s += $2} END {print s + 0}'
}
role() { sed -n 's/.*"role": "\([a-z]*\)".*/\1/p' "$NP_RUN_DIR/$1.state.health" 2>/dev/null; }
# ticks PID: its CPU time so far (clock ticks, user + system).
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# kib PID FIELD: VmRSS or VmHWM of PID, KiB.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# standby_topology: b's namespace with its own acc0 and core0 (veth pairs
# inside it: XDP needs them; nothing reaches them), and a point-to-point
# link to a's namespace for Redis.
standby_topology() {
	sip_veth proxyb acc0 proxyb acc0p && sip_veth proxyb core0 proxyb core0p &&
		sip_veth proxy cl0 proxyb cl0 || return 1
	in_ns proxy ip addr add "$A_LINK_IP" peer "$REDIS_IP" dev cl0 &&
		in_ns proxyb ip addr add "$REDIS_IP" peer "$A_LINK_IP" dev cl0
}

# node_start N PEER: natproxyd of node N, PID in NPD_<N>.
node_start() {
	local n=$1 log=$LOGS/natproxyd-$1.log i
	cat >"$LOGS/$n.yaml" <<-EOF
		realms:
		  - name: access
		    interface: acc0
		    address: $SIP_PROXY_ACC_IP
		    sip_port: 5060
		    media_ports: 20000-59999
		    # One address (NAT 1) holds every terminal: the per-source
		    # limits are for floods.
		    max_requests_per_address: 0
		    max_requests_per_mapping: 0
		    max_terminals_per_address: 0
		    max_calls_per_terminal: 0
		    max_transactions_per_terminal: 0
		    unknown_signaling_rate: 0
		    media_timeout: 3600
		  - name: core
		    interface: core0
		    address: $SIP_PROXY_CORE_IP
		    sip_ports: 10000-29999
		    media_ports: 30000-59999
		    media_timeout: 3600
		pairs:
		  - first: access
		    second: core
		    softswitch: $SIP_KAM_IP:5060
		keepalive:
		  method: options
		  interval: 20
		metrics:
		  listen: 127.0.0.1:9917
		cluster:
		  redis: $REDIS_IP:$REDIS_PORT
		  node: $n
		  peer: $2
	EOF
	sip_spawn "$(ns_of "$n")" "$NATPROXYD" -c "$LOGS/$n.yaml" \
		--pin-dir "$NP_RUN_DIR/bpf/$n" --state "$NP_RUN_DIR/$n.state" >>"$log" 2>&1
	eval "NPD_$n=$SIP_LAST_PID"
	for ((i = 0; i < 50; i++)); do
		grep -q 'natproxyd running' "$log" && return 0
		_sip_running "$SIP_LAST_PID" || return 1
		sleep 0.1
	done
	return 1
}

# slow_turns N FROM: "COUNT MAX_MS SERVED" of node N's slow loop turns
# logged after line FROM of its log; SERVED: what they served and how
# often ("cluster:3,timer:1"; "-": no slow turn).
slow_turns() {
	tail -n +"$(($2 + 1))" "$LOGS/natproxyd-$1.log" |
		awk 'match($0, /a turn took [0-9.]+ ms/) {
			n++; v = substr($0, RSTART + 12, RLENGTH - 15) + 0; if (v > m) m = v
			w = $0; sub(/.*\(served:/, "", w); sub(/\).*/, "", w)
			gsub(/^ +| +$/, "", w); gsub(/ +/, "+", w); if (w == "") w = "none"
			if (!(w in c)) o[k++] = w; c[w]++}
			END {s = ""; for (i = 0; i < k; i++) s = s (i ? "," : "") o[i] ":" c[o[i]]
			printf "%d %.1f %s\n", n, m, k ? s : "-"}'
}
# turns "COUNT MAX SERVED": the words of a summary line.
turns() { echo "$1 (longest $2 ms; served $3)"; }
log_lines() { wc -l <"$LOGS/natproxyd-$1.log"; }

sip_topology_up || die "topology"
standby_topology || die "standby topology"
sip_spawn proxyb redis-server --bind "$REDIS_IP" --port "$REDIS_PORT" --save '' \
	--appendonly no --protected-mode no --dir "$LOGS" >"$LOGS/redis.log" 2>&1
REDIS_PID=$SIP_LAST_PID
wait_for 5 eval 'rcli ping >/dev/null 2>&1' || die "redis-server did not start"
node_start a b || die "natproxyd a did not start (see $LOGS/natproxyd-a.log)"
node_start b a || die "natproxyd b did not start (see $LOGS/natproxyd-b.log)"
wait_for 10 eval '[ "$(role a)" = active ]' || die "a did not become active"
wait_for 10 grep -q "following 'a'" "$LOGS/natproxyd-b.log" || die "b does not follow a"
log "a active, b follows it; $CALLS calls at $RATE/s"

sip_spawn core timeout -k 5 600 env -C "$LOGS" sipp -sf "$BENCH/uas.xml" -nostdin \
	-i "$SIP_KAM_IP" -p 5060 -mi "$SIP_KAM_IP" -mp 7000 -recv_timeout 600s \
	-max_reconnect 0 -trace_err -error_file "$LOGS/uas.err" >"$LOGS/uas.out" 2>&1
wait_for 5 eval 'in_ns core ss -Hunl | grep -q "$SIP_KAM_IP:5060 "' || die "the core peer did not start"
c_b0=$(ticks "$NPD_b") t0=$(date +%s.%N) l_b=$(log_lines b) l_a=$(log_lines a)
(exec ip netns exec "$NP_RUN-lan1" timeout -k 5 600 env -C "$LOGS" \
	sipp -sf "$BENCH/uac.xml" -nostdin -t un -max_socket 15000 \
	-r "$RATE" -rp 1000 -m "$CALLS" -l "$CALLS" -d 600000 \
	-i "$SIP_A_IP" -p 5060 -key domain "$SIP_DOMAIN" -s far -key user a \
	-mi "$SIP_A_IP" -mp 6000 -recv_timeout 20s \
	-trace_err -error_file "$LOGS/uac.err" "$SIP_PROXY_ACC_IP:5060") >"$LOGS/uac.out" 2>&1 &
UAC_PID=$!
SIP_PIDS+=("$UAC_PID")
setup_s=$((CALLS / RATE + 60))
# A metrics page reads every flow's counters: asked every 2 s, not more.
for ((i = 0; i < setup_s; i += 2)); do
	[ "$(metric a natproxy_calls_active)" -ge "$CALLS" ] && break
	sleep 2
done
t1=$(date +%s.%N)
calls_a=$(metric a natproxy_calls_active)
log "a holds $calls_a calls ($(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s)"
[ "$calls_a" -ge "$CALLS" ] || log "not every call came up: measuring what is there"
# b's CPU while the calls came up (its share of one CPU).
cpu_b_setup=$(awk -v c0="$c_b0" -v c1="$(ticks "$NPD_b")" -v a="$t0" -v b="$t1" -v hz="$HZ" \
	'BEGIN {printf "%.1f", (c1 - c0) * 100 / hz / (b - a)}')
flows_a=$(n_flows a)
for ((i = 0; i < 45; i++)); do
	flows_b=$(n_flows b)
	[ "$flows_b" -eq "$flows_a" ] && break
	sleep 2
done
read -r slow_setup max_setup what_setup < <(slow_turns b "$l_b")
read -r aslow_setup amax_setup awhat_setup < <(slow_turns a "$l_a")
log "flows: a $flows_a, b $flows_b"

# The window: both nodes and Redis at rest with every call up.
c_a0=$(ticks "$NPD_a") c_b0=$(ticks "$NPD_b") c_r0=$(ticks "$REDIS_PID") t0=$(date +%s.%N)
l_b=$(log_lines b) l_a=$(log_lines a)
sleep "$WINDOW_S"
c_a1=$(ticks "$NPD_a") c_b1=$(ticks "$NPD_b") c_r1=$(ticks "$REDIS_PID") t1=$(date +%s.%N)
read -r aslow_window amax_window awhat_window < <(slow_turns a "$l_a")
pct() { awk -v c0="$1" -v c1="$2" -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN {printf "%.1f", (c1 - c0) * 100 / hz / (b - a)}'; }
cpu_a=$(pct "$c_a0" "$c_a1") cpu_b=$(pct "$c_b0" "$c_b1") cpu_r=$(pct "$c_r0" "$c_r1")
rss_a=$(kib "$NPD_a" VmRSS) hwm_a=$(kib "$NPD_a" VmHWM)
rss_b=$(kib "$NPD_b" VmRSS) hwm_b=$(kib "$NPD_b" VmHWM)
redis_mem=$(rcli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" || $1 == "used_memory_rss" {printf "%s ", $2}')
calls_b=$(metric b natproxy_calls_active)
read -r slow_window max_window what_window < <(slow_turns b "$l_b")

# The same window with media: every flow of a gets a frame a second
# through a's relay program (bench/media_pulse.c), so every call's counts
# change every second: a writes every call's media field, b reads them.
# media_fields: "FIELD VALUE" lines of a's media hash, sorted.
media_fields() { rcli --no-raw hgetall np:a:media | paste - - | sort; }
log "media: one frame a second on each of a's flows"
(exec ip netns exec "$NP_RUN-proxy" timeout -k 5 $((WINDOW_S + 20)) \
	build/bench/media_pulse "$NP_RUN_DIR/bpf/a" $((WINDOW_S + 4))) >"$LOGS/media_pulse.out" 2>&1 &
PULSE_PID=$!
SIP_PIDS+=("$PULSE_PID")
sleep 3 # the first second latches the flows
media_fields >"$LOGS/media.before"
c_a0=$(ticks "$NPD_a") c_b0=$(ticks "$NPD_b") c_r0=$(ticks "$REDIS_PID") t0=$(date +%s.%N)
l_a=$(log_lines a) l_b=$(log_lines b)
sleep "$WINDOW_S"
c_a1=$(ticks "$NPD_a") c_b1=$(ticks "$NPD_b") c_r1=$(ticks "$REDIS_PID") t1=$(date +%s.%N)
media_fields >"$LOGS/media.after"
wait "$PULSE_PID"
mcpu_a=$(pct "$c_a0" "$c_a1") mcpu_b=$(pct "$c_b0" "$c_b1") mcpu_r=$(pct "$c_r0" "$c_r1")
read -r mslow_a mmax_a mwhat_a < <(slow_turns a "$l_a")
read -r mslow_b mmax_b mwhat_b < <(slow_turns b "$l_b")
mfields=$(wc -l <"$LOGS/media.after")
mchanged=$(comm -13 "$LOGS/media.before" "$LOGS/media.after" | wc -l)
mrss_b=$(kib "$NPD_b" VmRSS) mhwm_b=$(kib "$NPD_b" VmHWM)
log "media: $(tail -1 "$LOGS/media_pulse.out")"

# The resync: b reads a's stream again from its snapshot.
log "resync: every redis client disconnected"
l_b=$(log_lines b) l_a=$(log_lines a) c_b0=$(ticks "$NPD_b") t0=$(date +%s.%N)
rcli client kill type normal >/dev/null
flows_min=$flows_a
for ((i = 0; i < 15; i++)); do
	sleep 1
	f=$(n_flows b)
	[ "$f" -lt "$flows_min" ] && flows_min=$f
done
t1=$(date +%s.%N)
cpu_b_resync=$(pct "$c_b0" "$(ticks "$NPD_b")")
read -r slow_resync max_resync what_resync < <(slow_turns b "$l_b")
read -r aslow_resync amax_resync awhat_resync < <(slow_turns a "$l_a")
refollowed=$(tail -n +"$((l_b + 1))" "$LOGS/natproxyd-b.log" | grep -c "following 'a'")
flows_b2=$(n_flows b)
rss_b2=$(kib "$NPD_b" VmRSS) hwm_b2=$(kib "$NPD_b" VmHWM)

{
	echo "standby bench: $CALLS calls at $RATE/s through a, b following ($NATPROXYD)"
	echo "calls:  a $calls_a, b $calls_b; flows: a $flows_a, b $flows_b"
	echo "b while the calls came up: ${cpu_b_setup}% of a CPU; loop turns over 20 ms: $(turns "$slow_setup" "$max_setup" "$what_setup")"
	echo "a while the calls came up: loop turns over 20 ms: $(turns "$aslow_setup" "$amax_setup" "$awhat_setup")"
	echo "over ${WINDOW_S} s with every call up:"
	echo "  a (active):  ${cpu_a}% of a CPU, RSS $((rss_a / 1024)) MiB (peak $((hwm_a / 1024)) MiB); loop turns over 20 ms: $(turns "$aslow_window" "$amax_window" "$awhat_window")"
	echo "  b (standby): ${cpu_b}% of a CPU, RSS $((rss_b / 1024)) MiB (peak $((hwm_b / 1024)) MiB); loop turns over 20 ms: $(turns "$slow_window" "$max_window" "$what_window")"
	echo "  redis:       ${cpu_r}% of a CPU, used_memory/rss (bytes) $redis_mem"
	echo "over ${WINDOW_S} s with media (every flow a frame a second: $(tail -1 "$LOGS/media_pulse.out" | sed 's/^media_pulse: //')):"
	echo "  a (active):  ${mcpu_a}% of a CPU; loop turns over 20 ms: $(turns "$mslow_a" "$mmax_a" "$mwhat_a")"
	echo "  b (standby): ${mcpu_b}% of a CPU, RSS $((mrss_b / 1024)) MiB (peak $((mhwm_b / 1024)) MiB); loop turns over 20 ms: $(turns "$mslow_b" "$mmax_b" "$mwhat_b")"
	echo "  redis:       ${mcpu_r}% of a CPU; media fields changed over the window: $mchanged of $mfields"
	echo "resync (redis clients killed; b followed again: $refollowed), 15 s: b ${cpu_b_resync}% of a CPU, loop turns over 20 ms: $(turns "$slow_resync" "$max_resync" "$what_resync"); a's loop turns over 20 ms: $(turns "$aslow_resync" "$amax_resync" "$awhat_resync"); fewest flows b held $flows_min, after it $flows_b2; RSS $((rss_b2 / 1024)) MiB (peak $((hwm_b2 / 1024)) MiB)"
} | tee "$OUT/standby.txt"
[ "$flows_a" -eq "$flows_b" ] && [ "$calls_a" -ge "$CALLS" ]
