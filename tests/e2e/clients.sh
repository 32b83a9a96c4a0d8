#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Two different real clients through natproxy (issue 10, "real clients
# beside sipp"): baresip as A in lan1 behind NAT 1, linphonec (linphone's
# console client, headless) as B in lan2 behind NAT 2 (tests/sip/topology.sh).
# Both register through natproxyd at Kamailio with digest credentials
# (realm example.test, user U's password U-pw: used when Kamailio
# challenges, unused when it does not). Two calls, one each way: A calls B,
# then B calls A; the caller puts the call on hold, holds it longer than
# natproxy's media timeout (5 s here), resumes it and hangs up. Each phone
# sends its own tone (A 440 Hz, B 1000 Hz, PCMU). What reached each phone
# is read from captures at the phone, per phase: before the hold, during it
# (the held phone must not send, so nothing reaches the holder; the call
# must survive the media timeout) and after the resume, each side's PCMU
# payloads decoded and the other side's tone looked for
# (tests/lib/rtp_tone.py). Also: the BYE reaches the other phone, through
# natproxy (the phones can reach no core address); one charging record per
# leg of each call (per terminal), ended by bye; every SIP message a phone
# sends goes to natproxy's access address; each phone's own recording
# holds the other's tone. linphonec's headless setup:
# tests/sip/README.md, "Real clients".
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd end to end with baresip and linphonec"
if ! command -v baresip >/dev/null || [ ! -e /usr/lib/baresip/modules/sndfile.so ]; then
	skip "natproxyd end to end with baresip and linphonec" "baresip-core is not installed"
	tap_done
	exit 0
fi
if ! command -v linphonec >/dev/null; then
	skip "natproxyd end to end with baresip and linphonec" "linphone-cli is not installed"
	tap_done
	exit 0
fi
. tests/sip/topology.sh

sip_test_begin

CFG=$NP_RUN_DIR/natproxy.yaml
LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$NP_RUN_DIR/charging
STATE=$NP_RUN_DIR/state
TONE_A=440 TONE_B=1000
PROBES="300 600 800 1400 2000 3000"
MEDIA_TIMEOUT=5
HOLD_SECS=7 # longer than MEDIA_TIMEOUT, with a tick to spare
TALK_SECS=3 # before the hold and after the resume
CTRL_PORT=4444
# The helpers run often while a call goes on: Debian's interpreter, not a
# wrapper that may stand first in PATH (a pyenv shim takes 0.6 s to start).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cat >"$CFG" <<EOF
realms:
  - name: access
    interface: acc0
    address: 203.0.113.1
    sip_port: 5060
    media_ports: 30000-30999
    media_timeout: $MEDIA_TIMEOUT
  - name: core
    interface: core0
    address: 198.51.100.1
    sip_ports: 20000-20999
    media_ports: 40000-40999
    media_timeout: $MEDIA_TIMEOUT
pairs:
  - first: access
    second: core
    softswitch: 198.51.100.2:5060
keepalive:
  method: options
  interval: 3
charging:
  file: $CHARGING
EOF

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# wait_for TENTHS CMD...: polls CMD every 0.1 s until it succeeds (0) or
# TENTHS polls have passed (1).
wait_for() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
registered() { [ -n "$(kamailio_contacts "$1")" ]; }
# logged_n FILE ERE N: FILE has N lines or more matching ERE.
logged_n() {
	local n
	n=$(grep -Ec -- "$2" "$1" 2>/dev/null)
	[ "${n:-0}" -ge "$3" ]
}
now() { date +%s.%N; }
plus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a + b}'; }

# --- natproxyd, the tones ----------------------------------------------------------
check "natproxyd starts (media_timeout $MEDIA_TIMEOUT s)" natproxyd_start "$LOG" build/natproxyd -c "$CFG" --state "$STATE"
check "the tones are written (A $TONE_A Hz, B $TONE_B Hz, 8 kHz, 60 s)" \
	bash -c ""$PY" tests/lib/tone.py write '$NP_RUN_DIR/tone-a.wav' $TONE_A 60 &&
		"$PY" tests/lib/tone.py write '$NP_RUN_DIR/tone-b.wav' $TONE_B 60"

# --- A: baresip ---------------------------------------------------------------------
# SIP on its address, natproxy as its outbound proxy, digest password a-pw,
# PCMU only, answers by itself, its tone from a file, what it decodes
# written to rec/dump-*-dec.wav (the sndfile filter), ctrl_tcp on
# 127.0.0.1 (its namespace's own); tests/e2e/baresip.sh explains the rest.
BS_DIR=$NP_RUN_DIR/baresip-a
BS_LOG=$NP_RUN_DIR/baresip-a.log
mkdir -p "$BS_DIR/rec"
cat >"$BS_DIR/config" <<EOF
poll_method		epoll
sip_listen		$SIP_A_IP:5060
call_local_timeout	30
call_max_calls		1
audio_source		aufile,$NP_RUN_DIR/tone-a.wav
ausrc_srate		8000
ausrc_channels		1
audio_level		no
rtp_ports		16000-16999
rtcp_mux		no
jitter_buffer_delay	5-10
dns_server		127.0.0.1:53
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			sndfile.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$CTRL_PORT
snd_path		$BS_DIR/rec
EOF
echo "<sip:a@$SIP_DOMAIN>;auth_pass=a-pw;outbound=\"sip:$SIP_PROXY_ACC_IP:5060\";regint=60;answermode=auto;audio_codecs=pcmu" \
	>"$BS_DIR/accounts"
bs() { in_ns lan1 "$PY" tests/lib/baresip_ctrl.py "$CTRL_PORT" "$@"; }

# --- B: linphonec -------------------------------------------------------------------
# linphonec reads its commands on stdin: a FIFO that this shell holds open
# read-write on fd 7 (so linphonec never sees its end), written by `lp`.
# Its configuration (-c) lives in the run directory, HOME too (its call
# history database). No sound card: `soundcard use files` plays a WAV file
# as the microphone (`play`, also the music it sends while it holds a
# call) and records what it decodes to one (`record`). UDP only, fixed
# ports, no STUN, ICE, uPnP or IPv6; PCMU only; answers by itself (-a).
LP_DIR=$NP_RUN_DIR/linphone-b
LP_OUT=$NP_RUN_DIR/linphonec-b.out
mkdir -p "$LP_DIR/.local/share/linphone"
mkfifo "$LP_DIR/cmd"
exec 7<>"$LP_DIR/cmd"
cat >"$LP_DIR/rc" <<EOF
[sip]
sip_port=5060
sip_tcp_port=-1
sip_tls_port=-1
use_ipv6=0
default_proxy=0
register_only_when_network_is_up=0
inc_timeout=30
in_call_timeout=0
delayed_timeout=0

[net]
firewall_policy=0
stun_server=
nat_policy_ref=
mtu=0
upnp_enabled=0

[rtp]
audio_rtp_port=7078
rtcp_mux=0
audio_jitt_comp=60
nortp_timeout=120

[sound]
echocancellation=0
agc=0
noisegate=0
playback_dev_id=
capture_dev_id=
ringer_dev_id=

[video]
enabled=0
capture=0
display=0

[audio_codec_0]
mime=PCMU
rate=8000
channels=1
enabled=1
EOF
# linphone appends every codec its configuration does not name, enabled:
# name those it has, disabled.
i=1
for c in opus/48000/2 speex/16000/1 speex/8000/1 speex/32000/1 PCMA/8000/1 G729/8000/1 \
	GSM/8000/1 G722/8000/1 iLBC/8000/1 AMR/8000/1 BV16/8000/1 L16/44100/2 L16/44100/1; do
	IFS=/ read -r mime rate chans <<<"$c"
	printf '\n[audio_codec_%d]\nmime=%s\nrate=%s\nchannels=%s\nenabled=0\n' \
		"$i" "$mime" "$rate" "$chans" >>"$LP_DIR/rc"
	i=$((i + 1))
done
cat >>"$LP_DIR/rc" <<EOF

[proxy_0]
reg_proxy=<sip:$SIP_PROXY_ACC_IP:5060;transport=udp>
reg_route=<sip:$SIP_PROXY_ACC_IP:5060;transport=udp;lr>
reg_identity=sip:b@$SIP_DOMAIN
reg_expires=60
reg_sendregister=1
publish=0
dial_escape_plus=0
avpf=0

[auth_info_0]
username=b
userid=b
passwd=b-pw
realm=$SIP_DOMAIN
domain=$SIP_DOMAIN
EOF
lp() { echo "$*" >&7; }

# SIP apart from the media: the checks read SIP while a call goes on.
capture lan1 eth0 a-sip.pcap udp port 5060
capture lan2 eth0 b-sip.pcap udp port 5060
capture lan1 eth0 a.pcap udp and not port 5060 or icmp
capture lan2 eth0 b.pcap udp and not port 5060 or icmp
# -t and timeout: a bound on each phone's life, whatever happens here.
sip_spawn lan1 baresip -f "$BS_DIR" -t 150 >"$BS_LOG" 2>&1
BS_PID=$SIP_LAST_PID
# bash gives a command started with & no stdin of its own (/dev/null) unless
# the command itself redirects it: sh -c does, then execs.
# stdbuf: its output line by line (it is a file, not a terminal), as
# the checks read it.
sip_spawn lan2 sh -c 'exec "$@" <"$0"' "$LP_DIR/cmd" timeout -k 5 150 env HOME="$LP_DIR" \
	stdbuf -oL linphonec -c "$LP_DIR/rc" -a -S -d 5 -l "$LP_DIR/linphone.log" >"$LP_OUT" 2>&1
LP_PID=$SIP_LAST_PID
lp soundcard use files
lp play "$NP_RUN_DIR/tone-b.wav"
lp record "$LP_DIR/rec.wav"
check "A (baresip) registers through natproxy" wait_for 100 registered a
check "B (linphonec) registers through natproxy" wait_for 100 registered b
check "Kamailio stores A and B at natproxy's core address" \
	bash -c "echo '$(kamailio_contacts a) $(kamailio_contacts b)' |
		grep -Eq '^sip:a[^@]*@198\.51\.100\.1:20[0-9]{3}.* sip:b[^@]*@198\.51\.100\.1:20[0-9]{3}'"
diag "contacts: a $(kamailio_contacts a | tr '\n' ' '); b $(kamailio_contacts b | tr '\n' ' ')"

# --- the phones, one interface -------------------------------------------------------
# phone_ip P, phone_cap P, phone_name P: a phone's address, capture, name.
phone_ip() { if [ "$1" = a ]; then echo "$SIP_A_IP"; else echo "$SIP_B_IP"; fi; }
phone_cap() { echo "$NP_RUN_DIR/$1.pcap"; }
phone_name() { if [ "$1" = a ]; then echo "A (baresip)"; else echo "B (linphonec)"; fi; }
phone_tone() { if [ "$1" = a ]; then echo "$TONE_A"; else echo "$TONE_B"; fi; }
# phone P ACTION [URI]: dial, hold, resume, hangup. baresip answers on
# ctrl_tcp; linphonec says nothing on its stdin's side, its output does.
phone() {
	case $1:$2 in
	a:dial) bs dial "$3" >/dev/null ;;
	a:hold) bs hold >/dev/null ;;
	a:resume) bs resume >/dev/null ;;
	a:hangup) bs hangup >/dev/null ;;
	b:dial) lp_said 50 'Establishing call id to' call "$3" ;;
	b:hold) lp_said 20 'Pausing call' pause ;;
	b:resume) lp_said 20 'Resuming call' resume ;;
	b:hangup) lp terminate ;;
	esac
}
# lp_said TENTHS ERE COMMAND...: gives linphonec COMMAND, succeeds once
# its output has one more line matching ERE (bounded: TENTHS of a second).
lp_said() {
	local tenths=$1 re=$2 n
	shift 2
	n=$(grep -Ec -- "$re" "$LP_OUT" 2>/dev/null)
	lp "$@"
	wait_for "$tenths" logged_n "$LP_OUT" "$re" $((${n:-0} + 1))
}
# phone_up P N, phone_ended P N: P has been in N calls / seen N end.
phone_up() {
	if [ "$1" = a ]; then
		logged_n "$BS_LOG" 'Call established: ' "$2"
	else
		logged_n "$LP_OUT" 'Call [0-9]+ with .* connected\.' "$2"
	fi
}
phone_ended() {
	if [ "$1" = a ]; then
		logged_n "$BS_LOG" 'terminated \(duration' "$2"
	else
		logged_n "$LP_OUT" 'Call [0-9]+ with .* ended' "$2"
	fi
}

# sip_of P: the SIP messages captured at phone P (tests/lib/sip_pcap.py).
sip_of() { "$PY" tests/lib/sip_pcap.py "$NP_RUN_DIR/$1-sip.pcap"; }
# sip_seen P AWK: a SIP message captured at P after $T (time) in call $CID
# matches AWK (over sip_pcap's fields: $6 what, $9 dir...).
sip_seen() {
	sip_of "$1" | awk -v t="$T" -v c="$CID" "\$1 >= t && \$8 == c && ($2) {f = 1} END {exit !f}"
}
# from_proxy P WHAT [DIRS]: P received WHAT (method or status) in call
# $CID from natproxy's access address after $T, with SDP of a direction
# in DIRS (ERE) if given.
from_proxy() {
	sip_seen "$1" "\$2 == \"$SIP_PROXY_ACC_IP\" && \$3 == 5060 && \$6 == \"$2\" && \$9 ~ /^(${3:-.*})\$/"
}
# rtp_at P FROM TO: what RTP reached phone P's media port between FROM
# and TO (tests/lib/rtp_tone.py), the other phone's tone looked for.
rtp_at() {
	local me=$1 other=a port
	[ "$me" = a ] && other=b
	if [ "$me" = "$CALLER" ]; then port=$CALLER_PORT; else port=$CALLEE_PORT; fi
	"$PY" tests/lib/rtp_tone.py "$(phone_cap "$me")" to "$(phone_ip "$me")" "$port" "$2" "$3" \
		"$(phone_tone "$other")" "$(phone_tone "$me")" $PROBES
}
# heard MEASURE SECONDS: rtp_at's measure holds the other side's tone:
# 20 dB over every other frequency probed, half the energy at least,
# SECONDS of it at least.
heard() {
	echo "$1" | awk -v s="$2" '{for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)}
		END {exit !(v["ratio_db"] >= 20 && v["fraction"] >= 0.5 && v["voiced"] >= s)}'
}
# silent MEASURE: fewer than 5 RTP packets (0.1 s of PCMU).
silent() { echo "$1" | awk '{exit !($2 < 5)}'; }
# sleep_until TIME: sleeps until TIME (now's scale), at once if past.
sleep_until() { sleep "$(awk -v t="$1" -v n="$(now)" 'BEGIN {d = t - n; printf "%.3f", (d > 0 ? d : 0)}')"; }
# charged_bye: this call's charging records are one per leg (two, each
# phone's terminal), both ended by bye.
charged_bye() {
	[ "$(charge '" ".join(sorted(r["end_reason"] for r in recs) + [str(len(set(r["terminal"] for r in recs)))])')" = "bye bye 2" ]
}
# charge EXPR: EXPR over this call's charging records (recs).
charge() {
	"$PY" -c '
import json, sys
try:
    with open(sys.argv[1]) as f:
        recs = [r for r in (json.loads(l) for l in f if l.strip()) if r.get("call_id") == sys.argv[2]]
    print(eval(sys.argv[3]))
except Exception as e:
    print("ERR(%s: %s)" % (type(e).__name__, e))' "$CHARGING" "$CID" "$1"
}

in_call() { ! phone_ended "$CALLER" "$CALL_N" && ! phone_ended "$CALLEE" "$CALL_N"; }

# call CALLER CALLEE: one call, CALLER puts it on hold, resumes it and
# hangs up; checks as the header says. CALL_N: the call's number (1, 2).
# Each phase lasts a fixed time from its start, whatever its checks took;
# the captures are read once the call is over.
CALL_N=0
call() {
	CALLER=$1 CALLEE=$2
	CALL_N=$((CALL_N + 1))
	local x y t_up t_hold t_resume t_end m p
	x=$(phone_name "$CALLER") y=$(phone_name "$CALLEE")
	diag "call $CALL_N: $x calls $y, holds, resumes, hangs up (at ${SECONDS}s)"
	T=$(now) CID=
	check "call $CALL_N: $x dials $y" phone "$CALLER" dial "sip:$CALLEE@$SIP_DOMAIN"
	check "call $CALL_N: $x's call is up ($y answered)" wait_for 100 phone_up "$CALLER" "$CALL_N"
	t_up=$(now)
	CID=$(sip_of "$CALLER" | awk -v t="$T" -v me="$(phone_ip "$CALLER")" \
		'$1 >= t && $2 == me && $6 == "INVITE" {print $8; exit}')
	check "call $CALL_N: the call (its Call-ID) reaches $y, from natproxy" from_proxy "$CALLEE" INVITE
	check "call $CALL_N: $x's ACK reaches $y, from natproxy" wait_for 10 from_proxy "$CALLEE" ACK
	# On hold, longer than natproxy's media timeout.
	sleep_until "$(plus "$t_up" "$TALK_SECS")"
	t_hold=$(now)
	T=$t_hold
	check "call $CALL_N: $x puts the call on hold" phone "$CALLER" hold
	check "call $CALL_N: the hold (re-INVITE, a=sendonly or inactive) reaches $y, from natproxy" \
		wait_for 20 from_proxy "$CALLEE" INVITE 'sendonly|inactive|hold'
	check "call $CALL_N: $x's hold is answered (200, a=recvonly or inactive), through natproxy" \
		wait_for 20 from_proxy "$CALLER" 200 'recvonly|inactive|hold'
	sleep_until "$(plus "$t_hold" "$HOLD_SECS")"
	t_resume=$(now)
	# Whether natproxy keeps a call on hold past its media timeout is seen
	# only once the hold reaches the held phone (above): until then the
	# held phone sends on. Once it does, a call baresip holds is silent
	# both ways (it stops sending, and linphonec, held, too); linphonec
	# holding sends its music (its tone) and baresip, held, stops.
	check "call $CALL_N: natproxy keeps the call on hold past its media timeout ($HOLD_SECS s > $MEDIA_TIMEOUT s)" \
		bash -c "! grep -q \"call '$CID': no media\" '$LOG' &&
			[ \"\$(grep -s '\"$CID\"' '$CHARGING' | grep -c media-timeout)\" = 0 ]"
	check "call $CALL_N: both phones are still in the call after the hold" in_call

	T=$t_resume
	check "call $CALL_N: $x resumes the call" phone "$CALLER" resume
	check "call $CALL_N: the resume (re-INVITE, a=sendrecv) reaches $y, from natproxy" \
		wait_for 20 from_proxy "$CALLEE" INVITE sendrecv
	sleep_until "$(plus "$t_resume" "$TALK_SECS")"
	t_end=$(now)

	# Hang up.
	T=$t_end
	check "call $CALL_N: $x hangs up" phone "$CALLER" hangup
	check "call $CALL_N: $x's call ends" wait_for 50 phone_ended "$CALLER" "$CALL_N"
	check "call $CALL_N: the BYE reaches $y, from natproxy" wait_for 20 from_proxy "$CALLEE" BYE
	check "call $CALL_N: $y's call ends" wait_for 10 phone_ended "$CALLEE" "$CALL_N"
	if ! phone_ended "$CALLEE" "$CALL_N"; then
		diag "call $CALL_N: $y is still in the call: it hangs up itself"
		phone "$CALLEE" hangup
		wait_for 50 phone_ended "$CALLEE" "$CALL_N"
	fi
	# A 401/407 to the INVITE does not end the call (docs/sip.md): natproxy
	# on main writes a record "rejected" for it, another for the call.
	check "call $CALL_N: natproxy ends the call: one charging record per leg (2), both ended by bye" \
		wait_for 20 charged_bye
	diag "call $CALL_N: charging: $(charge '[(r["terminal"], r["end_reason"]) for r in recs]')"
	for p in "$CALLER" "$CALLEE"; do
		diag "call $CALL_N: SIP at $(phone_name "$p"): $(sip_of "$p" | awk -v c="$CID" '$8 == c {print $2 ">" $4 ":" $5, $6, $7, $9}' | uniq -c | tr -s ' ' | tr '\n' ';')"
	done

	diag "call $CALL_N: over (at ${SECONDS}s)"
	# The media, from the captures: where each phone receives RTP (the
	# port its own SDP named), then what reached it in each phase.
	CALLER_PORT=$(sip_of "$CALLER" | awk -v c="$CID" -v me="$(phone_ip "$CALLER")" \
		'$8 == c && $2 == me && $6 == "INVITE" && $11 != "-" {print $11; exit}')
	CALLEE_PORT=$(sip_of "$CALLEE" | awk -v c="$CID" -v me="$(phone_ip "$CALLEE")" \
		'$8 == c && $2 == me && $6 == "200" && $7 == "INVITE" && $11 != "-" {print $11; exit}')
	diag "call $CALL_N: Call-ID $CID; RTP ports: $x $CALLER_PORT, $y $CALLEE_PORT"
	for p in "$CALLER" "$CALLEE"; do
		m=$(rtp_at "$p" "$(plus "$t_up" 0.5)" "$t_hold")
		diag "call $CALL_N, before the hold, RTP to $(phone_name "$p"): $m"
		check "call $CALL_N: before the hold, $(phone_name "$p") gets the other's tone" heard "$m" 1.5
	done
	m=$(rtp_at "$CALLER" "$(plus "$t_hold" 1.5)" "$t_resume")
	diag "call $CALL_N, on hold, RTP to $x: $m"
	diag "call $CALL_N, on hold, RTP to $y: $(rtp_at "$CALLEE" "$(plus "$t_hold" 1.5)" "$t_resume")"
	check "call $CALL_N: on hold, no audio reaches $x from $y (the held direction)" silent "$m"
	for p in "$CALLER" "$CALLEE"; do
		m=$(rtp_at "$p" "$(plus "$t_resume" 1)" "$t_end")
		diag "call $CALL_N, after the resume, RTP to $(phone_name "$p"): $m"
		check "call $CALL_N: after the resume, $(phone_name "$p") gets the other's tone" heard "$m" 1.2
	done
}

call a b
call b a

diag "both calls over (at ${SECONDS}s)"
# --- after both calls ---------------------------------------------------------------
lp quit
bs quit >/dev/null
sip_wait "$BS_PID" 5 >/dev/null || sip_stop "$BS_PID"
sip_wait "$LP_PID" 5 >/dev/null || sip_stop "$LP_PID"
stop_captures
for p in a b; do
	# Each message P sent elsewhere: "DST:PORT WHAT CSEQ CALL-ID".
	check_none "$(phone_name "$p") sent every SIP message to natproxy's access address, the only one it can reach" \
		. bash -c "'$PY' tests/lib/sip_pcap.py '$NP_RUN_DIR/$p-sip.pcap' |
			awk -v me='$(phone_ip "$p")' -v acc='$SIP_PROXY_ACC_IP' \
				'\$2 == me && (\$4 != acc || \$5 != 5060) {print \$4 \":\" \$5, \$6, \$7, \$8}'"
done
check_eq "no flow is left in the maps" 0 "$(ctl flows --json | grep -c '^{')"
for f in "$BS_DIR"/rec/dump-*-dec.wav; do
	m=$("$PY" tests/lib/tone.py measure --block 0.2 "$f" "$TONE_B" "$TONE_A" $PROBES 2>&1)
	diag "A decoded ($(basename "$f")): $m"
	check "A (baresip) decoded B's tone ($TONE_B Hz) in $(basename "$f")" heard "$m" 2
done
m=$("$PY" tests/lib/tone.py measure --block 0.2 "$LP_DIR/rec.wav" "$TONE_A" "$TONE_B" $PROBES 2>&1)
diag "B decoded (its recording): $m"
check "B (linphonec) decoded A's tone ($TONE_A Hz) in its recording" heard "$m" 2
check_eq "no UDP checksum error at any NAT, terminal or the core" 0 "$(sip_csum_errors)"
check_eq "nothing crossed the proxy's kernel between access and core" 0 "$(sip_leaks)"
diag "natproxyd warnings: $(grep -iE 'warn|error' "$LOG" | tail -5 | tr '\n' ';')"

sip_stop "$NPD_PID"
tap_done
