#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The media benchmark (`make bench` through bench/run.sh, never CI): one
# topology (tests/sip/topology.sh: terminals behind NATs, natproxy's
# namespace between the access network and the core, Kamailio and the far
# end in the core), one generator, one sink, three relays with the same
# offered load:
#
#   ceiling    bench/media/ceiling.bpf.c: rewrite and redirect to core0,
#              nothing else; on a veth of its own into the proxy's
#              namespace (p-ceil -> ceil0), its trials taking turns with
#              natproxy's (one mediabench run measures both: the machine
#              is shared, and both must see it as it is at the same time);
#   natproxy   natproxyd with its XDP relay, flows installed for real SIP
#              calls (sipp through natproxyd and Kamailio), bulk flows beside
#              them through the same flow-install API for the larger counts;
#   rtpengine  rtpengine-daemon in user space (kernel forwarding off, table
#              -1), sessions made over its ng protocol.
#
# The generator (gen.bpf.c, BPF_PROG_RUN live frames; where the kernel
# refuses those, gen.bpf.c's pump on a veth pair of its own, fed tokens by
# an AF_XDP socket) transmits out of acc/p-proxy into the proxy's acc0; the sink (sink.bpf.c) counts at
# core/eth0 (the ceiling's frames leave by acc/p-ceil into ceil0 and reach
# the same core0 and sink). Usage: bench/media.sh OUTDIR; writes
# OUTDIR/media.json.
# Environment: MB_SCALES (default "10 10000 500000"), MB_CALLS (real SIP
# calls, default 10), MB_RTPE_MAX (most rtpengine sessions, default 10000,
# lowered to what the open-file limit allows),
# MB_TRIAL_S (seconds per trial, default 1), MB_RELAYS (default "ceiling
# natproxy rtpengine"), MB_CPU (the generator's CPU, default 0), MB_NICE
# (the generator's and rtpengine's nice, default -10), MB_KEEP_LOGS (where the logs go, default
# OUTDIR/media-logs), MB_REAL_SCALES (stream counts of the realistic-load
# rows, default "1000 10000"), MB_REAL_PPS (packets/s per stream there,
# default 50: 20 ms G.711), MB_REAL_S (seconds of that load, default 5),
# MB_ORDER (shuffled, the default, or install: the order natproxy's streams
# are sent in; see bench/README.md, "A fair measurement"), MB_SAT_TRIES
# (more tries where the generator's CPU saturated, default 4), MB_SAT_PASSES
# (saturated passes in a row that end the doubling, default 1: see
# bench/README.md, "A fair measurement"), MB_GENERATOR (auto, the default:
# live frames where the kernel allows them, else the pump; live_frames;
# pump; af_xdp: every frame from user space, a fifth of the pump's rate).
# Everything else is removed on exit.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${1:?usage: bench/media.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
MB=$PWD/build/bench/media/mediabench
CTL=$PWD/build/natproxyctl
NPD=$PWD/build/natproxyd
SCALES=${MB_SCALES:-"10 10000 500000"}
CALLS=${MB_CALLS:-10}
RTPE_MAX=${MB_RTPE_MAX:-10000}
TRIAL_S=${MB_TRIAL_S:-1}
RELAYS=${MB_RELAYS:-"ceiling natproxy rtpengine"}
# Empty (MB_REAL_SCALES=""): no realistic-load rows.
REAL_SCALES=${MB_REAL_SCALES-"1000 10000"}
REAL_PPS=${MB_REAL_PPS:-50}
REAL_S=${MB_REAL_S:-5}
# The machine is shared: the generator (whose CPU also runs the XDP relays,
# the kernel's UDP receive and the sink) and rtpengine run at a higher
# priority than other work, alike.
NICE=${MB_NICE:--10}
# The generator's CPU: the first, as xdp_cost pins itself to the last.
GEN_CPU=${MB_CPU:-0}
# How the generator sends (mediabench run --generator).
GEN_KIND=${MB_GENERATOR:-auto}
HOLD_MS=900000 # the calls outlive the benchmark; BYE never comes

for f in "$MB" "$CTL" "$NPD" build/xdp_pass.bpf.o; do
	[ -e "$f" ] || { echo "bench/media.sh: $f missing: make first" >&2; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/media.sh: must be run as root" >&2
	exit 1
fi

export NP_RUN=npmb$$
. tests/sip/topology.sh
WORK=$NP_RUN_DIR
RTPE_PIDS=()

BG_PID=
# bg_run CMD...: CMD in the background, waited for: a signal to this script
# then runs its trap at once (not after CMD), and cleanup stops CMD by PID.
bg_run() {
	local rc=0
	"$@" &
	BG_PID=$!
	wait "$BG_PID" || rc=$?
	BG_PID=
	return "$rc"
}

cleanup() {
	if [ -n "$BG_PID" ]; then
		kill "$BG_PID" 2>/dev/null
		wait "$BG_PID" 2>/dev/null
	fi
	local pid
	for pid in "${RTPE_PIDS[@]}"; do
		sip_stop "$pid"
	done
	# Keep logs and traces, not the stream lists (up to 20 MB each).
	rm -f "$WORK"/s-* "$WORK"/np-* "$WORK"/rt-*
	SIP_KEEP_LOGS=${MB_KEEP_LOGS:-$OUT/media-logs} sip_topology_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP PIPE

log() { printf '[media %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

log "topology $NP_RUN"
sip_topology_up || die "topology"
SIP_KAM_TRUST_ALL=1 kamailio_start || die "kamailio"
NS_ACC=$(sip_ns acc)
NS_PROXY=$(sip_ns proxy)
NS_CORE=$(sip_ns core)
# An interface that never receives, for the generator to stay attached to
# (see mediabench.c: otherwise every BPF_PROG_RUN call waits for RCU).
in_ns acc ip link add mbidle0 type veth peer name mbidle1 || die "idle veth"
in_ns acc ip link set mbidle0 up
in_ns acc ip link set mbidle1 up
# The ceiling's own way in, for its trials to take turns with natproxy's
# (natproxy stays attached to acc0): frames out of acc/p-ceil into the
# proxy's ceil0, which redirects them to core0 as natproxy does from acc0;
# and an idle veth for its generator, as mbidle0 for the first.
sip_veth acc p-ceil proxy ceil0 || die "ceiling veth"
in_ns acc ip link set p-ceil up
in_ns proxy ip link set ceil0 up
in_ns acc ip link add mbidle2 type veth peer name mbidle3 || die "idle veth"
in_ns acc ip link set mbidle2 up
in_ns acc ip link set mbidle3 up

# The same generator, sink and search for every relay; options follow.
mb_run() {
	local label=$1 streams=$2
	shift 2
	log "run $label ($(wc -l <"$streams") streams)"
	bg_run timeout -k 5 300 nice -n "$NICE" "$MB" run --gen-netns "$NS_ACC" --gen-dev p-proxy \
		--relay-netns "$NS_PROXY" --relay-dev acc0 \
		--sink-netns "$NS_CORE" --sink-dev eth0 --sink-addr "$SIP_FAR_IP" \
		--streams "$streams" --label "$label" --trial-s "$TRIAL_S" --cpu "$GEN_CPU" --idle-dev mbidle0 --idle-peer mbidle1 \
		--saturated-tries "${MB_SAT_TRIES:-4}" --saturated-passes "${MB_SAT_PASSES:-1}" \
		--generator "$GEN_KIND" --out "$OUT/media-$label.json" "$@"
}

# Streams with no relay state (generator alone, ceiling): to the proxy's
# access address, one port each.
synthetic_streams() {
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "203.0.113.11 %d 203.0.113.1 %d\n", 20000 + i % 40000, 10000 + i % 50000 }' >"$2"
}

# New-stream rounds and their rate, per relay kind (xdp, user) and stream
# count: every stream gets its first packets at a rate the relay forwards
# without loss, in a few seconds at most.
new_opts() {
	case $1-$2 in
	xdp-10) echo "--new-rounds 100 --new-pps 10000" ;;
	xdp-*) echo "--new-rounds 2 --new-pps 200000" ;;
	user-10) echo "--new-rounds 20 --new-pps 2000" ;;
	*) echo "--new-rounds 1 --new-pps 5000" ;;
	esac
}

# --- the generator alone: its own ceiling, the sink on acc0 -----------------------
synthetic_streams 10 "$WORK/s-10"
log "generator alone (sink on the proxy's acc0)"
bg_run timeout -k 5 300 nice -n "$NICE" "$MB" run --gen-netns "$NS_ACC" --gen-dev p-proxy \
	--relay-netns "$NS_PROXY" --relay-dev acc0 \
	--sink-netns "$NS_PROXY" --sink-dev acc0 --sink-addr 203.0.113.1 \
	--streams "$WORK/s-10" --label generator --trial-s "$TRIAL_S" --cpu "$GEN_CPU" --idle-dev mbidle0 --idle-peer mbidle1 \
	--new-rounds 10 --generator "$GEN_KIND" --out "$OUT/media-generator.json" ||
	die "generator alone"

relay() { case " $RELAYS " in *" $1 "*) return 0 ;; esac; return 1; }

# --- the ceiling: a minimal XDP redirect on acc0 -----------------------------------
# Alone only when natproxy is not measured; otherwise beside it (below).
relay ceiling && ! relay natproxy && for n in $SCALES; do
	synthetic_streams "$n" "$WORK/s-$n"
	mb_run "ceiling-$n" "$WORK/s-$n" --ceiling-out core0 \
		--ceiling-saddr "$SIP_PROXY_CORE_IP" $(new_opts xdp "$n") ||
		die "ceiling at $n streams"
done

# --- natproxy: natproxyd, real SIP calls, then bulk flows -------------------------
natproxy_phase() {
cat >"$WORK/natproxy.yaml" <<EOF
realms:
  - name: access
    interface: acc0
    address: 203.0.113.1
    sip_port: 5060
    media_ports: 30000-30999
    media_timeout: 3600
  - name: core
    interface: core0
    address: 198.51.100.1
    sip_ports: 20000-20999
    media_ports: 40000-40999
    media_timeout: 3600
pairs:
  - first: access
    second: core
    softswitch: 198.51.100.2:5060
keepalive:
  method: options
  interval: 600
EOF
# natproxyd sizes the maps it creates to its media ports (4,096 flows
# here); the 500,000-stream run needs the most the relay takes, so the maps
# are made first, full size, and natproxyd uses them.
in_ns proxy "$CTL" attach acc0 --max-flows 1048576 --pin-dir "$NP_PIN_DIR" \
	>/dev/null || die "natproxyctl attach acc0 --max-flows 1048576"
natproxyd_start "$WORK/natproxyd.log" "$NPD" -c "$WORK/natproxy.yaml" \
	--state "$WORK/state" || die "natproxyd did not start"

log "A registers, then makes $CALLS calls to the far end through natproxyd and Kamailio"
sipp_run lan1 reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 3600 \
	"$SIP_PROXY_ACC_IP:5060" || die "registration of A"
# Held calls: started here, stopped by PID at cleanup.
sip_spawn core timeout -k 5 1000 env -C "$WORK" sipp -sf "$PWD/bench/media/uas_hold.xml" \
	-nostdin -m "$CALLS" -d "$HOLD_MS" -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000 \
	-trace_err -error_file "$WORK/uas-hold.err" >"$WORK/uas-hold.out" 2>&1
sleep 0.5
sip_spawn lan1 timeout -k 5 1000 env -C "$WORK" sipp -sf "$PWD/bench/media/uac_hold.xml" \
	-nostdin -m "$CALLS" -l "$CALLS" -r 20 -d "$HOLD_MS" -s far -key user a \
	-key domain "$SIP_DOMAIN" -oocsf "$SIP_SCENARIOS/ooc_keepalive.xml" \
	-i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 \
	-trace_err -error_file "$WORK/uac-hold.err" \
	"$SIP_PROXY_ACC_IP:5060" >"$WORK/uac-hold.out" 2>&1

np_streams() {
	in_ns proxy "$MB" natproxy-streams --pin-dir "$NP_PIN_DIR" \
		--access "$SIP_PROXY_ACC_IP" --far "$SIP_FAR_IP" --src "$SIP_NAT1_IP" \
		--bulk-base 203.0.113.100 --streams "$1" --out "$2"
}
real=0
for _ in $(seq 60); do
	info=$(np_streams "$CALLS" "$WORK/np-probe" 2>/dev/null) &&
		real=$(echo "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["real_call_streams"])')
	[ "$real" -ge "$CALLS" ] && break
	sleep 0.5
done
log "$real of $CALLS calls established (natproxyd installed their flows)"
[ "$real" -ge 1 ] || die "no call through natproxyd"
echo "{\"calls_wanted\": $CALLS, \"calls_up\": $real}" >"$OUT/media-natproxy-calls.json"

for n in $SCALES; do
	bg_run np_streams "$n" "$WORK/np-$n" >"$OUT/media-natproxy-$n-mem.json" ||
		die "natproxy flows for $n streams"
	# The streams in random order (MB_ORDER=shuffled, the default), as a
	# deployment's packets come: in no relation to where their flows lie in
	# memory. MB_ORDER=install sends them in the order their flows were
	# installed, which puts consecutive packets' flows next to each other,
	# where the prefetcher finds them (easier than any deployment). The
	# generator's and the sink's per-stream state is walked in stream order
	# either way, for natproxy as for the ceiling. The same seed every run.
	[ "${MB_ORDER:-shuffled}" = shuffled ] &&
		shuf --random-source=<(yes) -o "$WORK/np-$n" "$WORK/np-$n"
	# The ceiling's trials take turns with natproxy's, on its own veth
	# pair into the same core0 and sink, its generator on the same CPU.
	pair=()
	if relay ceiling; then
		synthetic_streams "$n" "$WORK/s-$n"
		pair=(--ceiling-out core0 --ceiling-saddr "$SIP_PROXY_CORE_IP"
			--ceiling-in ceil0 --ceiling-gen-dev p-ceil
			--ceiling-idle-dev mbidle2 --ceiling-streams "$WORK/s-$n"
			--ceiling-label "ceiling-$n"
			--ceiling-json "$OUT/media-ceiling-$n.json")
	fi
	mb_run "natproxy-$n" "$WORK/np-$n" --pin-dir "$NP_PIN_DIR" --relay-pid "$NPD_PID" \
		$(new_opts xdp "$n") "${pair[@]}" ||
		die "natproxy at $n streams"
done
# Realistic load: every stream at a call's rate, loss and CPU per stream.
for n in $REAL_SCALES; do
	bg_run np_streams "$n" "$WORK/np-r$n" >/dev/null ||
		die "natproxy flows for $n streams"
	mb_run "natproxy-real-$n" "$WORK/np-r$n" --pin-dir "$NP_PIN_DIR" \
		--relay-pid "$NPD_PID" $(new_opts xdp "$n") \
		--fixed-pps $((n * REAL_PPS)) --fixed-s "$REAL_S" ||
		die "natproxy at $n streams of $REAL_PPS packets/s"
done
in_ns proxy "$CTL" --pin-dir "$NP_PIN_DIR" status --json >"$OUT/media-natproxy-status.json" 2>&1
log "natproxyd stops"
sip_stop "$NPD_PID"
in_ns proxy "$CTL" --pin-dir "$NP_PIN_DIR" detach acc0 >/dev/null 2>&1
in_ns proxy "$CTL" --pin-dir "$NP_PIN_DIR" detach core0 >/dev/null 2>&1
in_ns proxy ip link set dev acc0 xdpdrv off 2>/dev/null
in_ns proxy ip link set dev core0 xdpdrv off 2>/dev/null
}
relay natproxy && natproxy_phase

# --- rtpengine: user space, no kernel forwarding ------------------------------------
rtpengine_phase() {
log "rtpengine takes the proxy's addresses"
# The generator's frames need acc0's NAPI: a pass-through XDP program (the
# kernel stack then takes every packet, as for any socket).
in_ns proxy ip link set dev acc0 xdpdrv obj build/xdp_pass.bpf.o sec xdp ||
	die "xdp_pass on acc0"
# Four sockets per session (RTP and RTCP on each side): the open-file limit
# bounds the sessions one rtpengine process can hold. It gets as many as
# the kernel allows (fs.nr_open); where the hard limit cannot be raised
# (a process without CAP_SYS_RESOURCE, as in the sandbox these notes come
# from: 20,000, so 4,936 sessions), the sessions are spread over as many
# rtpengine instances as it takes, each with its own share of the ports
# and its own ng port, and their CPU summed: every stream asked is served.
ulimit -Hn "$(cat /proc/sys/fs/nr_open)" 2>/dev/null ||
	log "cannot raise the open-file hard limit ($(ulimit -Hn)): rtpengine runs as several instances where one cannot hold the sessions"
ulimit -Sn "$(ulimit -Hn)"
per_instance=$((($(ulimit -Hn) - 256) / 4))
# rtpe_start LABEL N: a fresh rtpengine, as many instances as N sessions
# need (a fresh one for every stream count: sessions an overload of an
# earlier run left behind, rtpengine 10.5 stops serving a stream whose
# socket overflowed 5 times, must not count against the next).
rtpe_start() {
	local label=$1 k=$(( ($2 + per_instance - 1) / per_instance )) i lo span
	span=$((50000 / k))
	RTPE_PIDS=()
	for ((i = 0; i < k; i++)); do
		lo=$((10000 + i * span))
		cat >"$WORK/rtpengine-$i.conf" <<EOF
[rtpengine]
table = -1
interface = acc/$SIP_PROXY_ACC_IP;core/$SIP_PROXY_CORE_IP
listen-ng = 127.0.0.1:$((2223 + i))
port-min = $lo
port-max = $((lo + span - 1))
timeout = 3600
silent-timeout = 3600
num-threads = 2
log-level = 5
EOF
		sip_spawn proxy nice -n "$NICE" rtpengine --config-file="$WORK/rtpengine-$i.conf" \
			--config-section=rtpengine --foreground --log-stderr \
			--pidfile="$WORK/rtpengine-$i.pid" >"$WORK/rtpengine-$label-$i.log" 2>&1
		RTPE_PIDS+=("$SIP_LAST_PID")
	done
	for ((i = 0; i < k; i++)); do
		for _ in $(seq 50); do
			in_ns proxy ss -Hunl 2>/dev/null | grep -q "127.0.0.1:$((2223 + i))" && break
			sleep 0.1
		done
		in_ns proxy ss -Hunl 2>/dev/null | grep -q "127.0.0.1:$((2223 + i))" || {
			tail -5 "$WORK/rtpengine-$label-$i.log" >&2
			return 1
		}
	done
	[ "$k" -gt 1 ] && log "rtpengine: $k instances for $2 sessions (at most $per_instance each)"
	return 0
}
rtpe_stop() {
	local pid
	for pid in "${RTPE_PIDS[@]}"; do
		sip_stop "$pid"
	done
	RTPE_PIDS=()
}
rss() {
	local pid sum=0
	for pid in "${RTPE_PIDS[@]}"; do
		sum=$((sum + $(awk '/^VmRSS/ {print $2 * 1024}' "/proc/$pid/status")))
	done
	echo "$sum"
}
pid_args() { printf -- '--relay-pid %s ' "${RTPE_PIDS[@]}"; }
cap=$RTPE_MAX
# rtpe_sessions N LABEL: N sessions on the running instances (shared out),
# their streams in $WORK/rt-LABEL, the setup's JSON with its memory; sets
# measured.
rtpe_sessions() {
	local n=$1 label=$2 k=${#RTPE_PIDS[@]} i share made rss0 rssn
	rss0=$(rss)
	: >"$WORK/rt-$label"
	for ((i = 0; i < k; i++)); do
		share=$((n / k + (i < n % k ? 1 : 0)))
		bg_run in_ns proxy "$MB" rtpengine-streams --ng "127.0.0.1:$((2223 + i))" \
			--src "$SIP_NAT1_IP" --far "$SIP_FAR_IP:7000" --streams "$share" \
			--time-limit 120 --call-prefix "s$label-$i" --out "$WORK/rt-$label-$i" \
			>"$OUT/media-rtpengine-$label-setup-$i.json" || return 1
		cat "$WORK/rt-$label-$i" >>"$WORK/rt-$label"
	done
	made=$(wc -l <"$WORK/rt-$label")
	rssn=$(rss)
	python3 - "$OUT/media-rtpengine-$label-setup.json" "$made" "$rss0" "$rssn" "$per_instance" "$k" <<'EOF'
import glob, json, sys
path, made, rss0, rssn, cap, k = sys.argv[1], *map(int, sys.argv[2:])
parts = [json.load(open(path[:-5] + f"-{i}.json")) for i in range(k)]
d = {"sessions": sum(p.get("sessions", 0) for p in parts),
     "wanted": sum(p.get("wanted", 0) for p in parts),
     "setup_s": sum(p.get("setup_s", 0) for p in parts), "instances": k,
     "sessions_total": made, "rss_before": rss0, "rss_after": rssn,
     "sessions_per_instance_max": cap}
json.dump(d, open(path, "w"))
EOF
	log "rtpengine holds $made sessions (asked $n) in $k instance(s)"
	measured=$made
}
measured=0
for n in $SCALES; do
	# A few streams at hundreds of thousands of packets/s each are no real
	# streams: that row is natproxy against the ceiling only, and
	# rtpengine is measured at realistic rates below.
	if [ "$n" -lt 1000 ]; then
		log "rtpengine at $n streams: not run (natproxy against the ceiling only)"
		continue
	fi
	target=$n
	[ "$target" -gt "$cap" ] && target=$cap
	if [ "$target" -le "$measured" ]; then
		log "rtpengine at $n streams: not run (at most $cap sessions here, measured already)"
		continue
	fi
	rtpe_start "$n" "$target" || die "rtpengine did not start"
	rtpe_sessions "$target" "$n" || die "rtpengine sessions for $n"
	mb_run "rtpengine-$n" "$WORK/rt-$n" --start-pps 25000 $(pid_args) \
		$(new_opts user "$n") || die "rtpengine at $n streams"
	rtpe_stop
done
# Realistic load, as for natproxy: a fresh rtpengine for each count.
for n in $REAL_SCALES; do
	target=$n
	[ "$target" -gt "$cap" ] && target=$cap
	rtpe_start "real-$n" "$target" || die "rtpengine did not start"
	rtpe_sessions "$target" "real-$n" || die "rtpengine sessions for $n"
	mb_run "rtpengine-real-$n" "$WORK/rt-real-$n" $(pid_args) \
		$(new_opts user "$n") --fixed-pps $((measured * REAL_PPS)) \
		--fixed-s "$REAL_S" || die "rtpengine at $n streams of $REAL_PPS packets/s"
	rtpe_stop
done
}
relay rtpengine && rtpengine_phase

# --- one JSON --------------------------------------------------------------------
python3 - "$OUT" "$SCALES" "$REAL_SCALES" <<'EOF'
import glob, json, os, sys
out, scales, real = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def load(name):
    p = os.path.join(out, name)
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return None
gen = load("media-generator.json")
res = {"generator": gen, "generator_kind": (gen or {}).get("generator"),
       "calls": load("media-natproxy-calls.json"), "scales": {},
       "order": os.environ.get("MB_ORDER") or "shuffled"}
for n in scales:
    res["scales"][n] = {
        "ceiling": load(f"media-ceiling-{n}.json"),
        "natproxy": load(f"media-natproxy-{n}.json"),
        "natproxy_memory": load(f"media-natproxy-{n}-mem.json"),
        "rtpengine": load(f"media-rtpengine-{n}.json"),
        "rtpengine_setup": load(f"media-rtpengine-{n}-setup.json"),
    }
res["realistic"] = {n: {"natproxy": load(f"media-natproxy-real-{n}.json"),
                        "rtpengine": load(f"media-rtpengine-real-{n}.json"),
                        "rtpengine_setup": load(f"media-rtpengine-real-{n}-setup.json")}
                    for n in real}
json.dump(res, open(os.path.join(out, "media.json"), "w"), indent=1)
EOF
log "done: $OUT/media.json"
