#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of natproxyd's media policy and charging (claims 9, 10,
# 12) on the SIP topology of tests/sip/ (terminals behind NATs, natproxyd
# with the XDP relay, Kamailio, a far-end UA), one natproxyd configuration
# per section:
#   access  allow/deny prefixes: 403 and no registration (Kamailio never
#           sees the terminal), deny_action drop: no answer at all
#   latch   latching against an attacker on the access network (RTP
#           Bleed / Inject), configured by the old name `restricted`:
#           nothing injected reaches either party, drops counted as latch
#           before the terminal latched, source after
#   hijack  the default (first-packet) against an attacker who sprays both
#           relay ports before the terminal's first packet: neither port
#           latches onto it, the far end's audio reaches the terminal and
#           none the attacker, every attacker packet counted as a drop
#   takeover latch: any: the attacker latches first (the unsafe window,
#           shown), the terminal's first packet takes the stream over and
#           its RTCP relay with it, the attacker gets nothing after
#   rate    max_stream_kbps and SDP b=AS enforced in XDP, measured at the
#           receivers; max_calls answered 503
#   charge  the charging record (one JSON line per call) against what the
#           receivers captured, byte for byte
#   timeout media_timeout: a call without media is ended with BYE both ways
#   restart kill -9 natproxyd mid-call (a call that streams until the test
#           ends it): no RTP lost, the restarted daemon (same --state and
#           pins) adopts the call, ends it and bills it once
#   qos     DSCP per realm on media and signaling, 802.1Q tag 100 pushed on
#           media leaving by the core realm (the proxy-core link made VLAN
#           100 with tc, the kernel may lack 8021q) and popped on media
#           leaving by the access realm
# About a minute. POLICY_ONLY="latch rate" runs only those sections; each
# section's natproxyd log, config, state and charging file are NAME.* in
# the run directory (SIP_KEEP_LOGS=DIR keeps them).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd media policy and charging end to end"
. tests/sip/topology.sh

sip_test_begin

UDP=tests/lib/udp.py
HELP=$NP_RUN_DIR/policy_helper.py
ATTACK_SIZE=77 # the attacker's payload: no RTP of the tests has this size

# Parsing, in one place: natproxyctl's JSON lines, charging records,
# captures with timestamps (pcap_udp.py prints none).
cat >"$HELP" <<'EOF'
import json, struct, sys

def lines(stream):
    out = []
    for l in stream:
        l = l.strip()
        if l.startswith("{"):
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
    return out

def pcap(path):
    """(time, src, sport, dst, dport, ip_len, vlan, dscp) of IPv4 UDP packets."""
    out = []
    with open(path, "rb") as f:
        magic = f.read(24)[:4]
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        while True:
            hdr = f.read(16)
            if len(hdr) < 16:
                break
            sec, frac, caplen, _ = struct.unpack(endian + "IIII", hdr)
            frame = f.read(caplen)
            t = sec + frac / (1e9 if nano else 1e6)
            proto, off, vlan = struct.unpack("!H", frame[12:14])[0], 14, "-"
            if proto == 0x8100:
                vlan = str(struct.unpack("!H", frame[14:16])[0] & 0xFFF)
                proto, off = struct.unpack("!H", frame[16:18])[0], 18
            if proto != 0x0800 or frame[off + 9] != 17:
                continue
            ihl = (frame[off] & 0xF) * 4
            ip_len = struct.unpack("!H", frame[off + 2:off + 4])[0]
            src = ".".join(str(b) for b in frame[off + 12:off + 16])
            dst = ".".join(str(b) for b in frame[off + 16:off + 20])
            sport, dport = struct.unpack("!HH", frame[off + ihl:off + ihl + 4])
            out.append((t, src, sport, dst, dport, ip_len, vlan, frame[off + 1] >> 2))
    return out

def find_call(obj, call_id):
    """The object (anywhere in obj) whose call_id is call_id."""
    if isinstance(obj, dict):
        if obj.get("call_id") == call_id:
            return obj
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            hit = find_call(v, call_id)
            if hit is not None:
                return hit
    return None

def numbers(obj, key):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, (int, float)):
                yield v
            else:
                yield from numbers(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from numbers(v, key)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd in ("charge", "charge-call"):
    # charge FILE EXPR [ARG]: EXPR over recs (every record), r (the last
    # one) and arg; charge-call FILE CALL_ID EXPR: over that call's records
    try:
        with open(args[0]) as f:
            recs = [json.loads(l) for l in f if l.strip()]
        if cmd == "charge-call":
            recs = [x for x in recs if x.get("call_id") == args[1]]
            args = [args[0], args[2]]
        arg = args[2] if len(args) > 2 else None
        r = recs[-1] if recs else None
        print(eval(args[1]))
    except Exception as e:
        print("ERR(%s: %s)" % (type(e).__name__, e))
elif cmd == "charge-valid":
    # FILE: every line one JSON object
    try:
        with open(args[0]) as f:
            ls = [l for l in f]
        ok = ls and all(isinstance(json.loads(l), dict) and l.endswith("\n") for l in ls)
    except Exception:
        ok = False
    sys.exit(0 if ok else 1)
elif cmd == "pcap":
    # FILE SRC DST [DPORT|-] [SKIP]: "packets bytes rate" of SRC -> DST;
    # bytes sum IP lengths; rate (bytes/s) over the packets after the
    # first SKIP seconds: the bucket's initial burst left out
    pk = [p for p in pcap(args[0]) if p[1] == args[1] and p[3] == args[2]
          and (len(args) < 4 or args[3] == "-" or p[4] == int(args[3]))]
    skip = float(args[4]) if len(args) > 4 else 1.0
    rate = 0
    if pk:
        win = [p for p in pk if p[0] >= pk[0][0] + skip]
        if len(win) > 1 and win[-1][0] > win[0][0]:
            rate = sum(p[5] for p in win[1:]) / (win[-1][0] - win[0][0])
    print(len(pk), sum(p[5] for p in pk), int(rate))
elif cmd == "pcap-lines":
    # FILE: "src sport dst dport ip_len vlan dscp" per IPv4 UDP packet
    for p in pcap(args[0]):
        print(*p[1:])
elif cmd == "info":
    # BIND_ADDR DEST_ADDR:PORT CALL_ID: one SIP INFO of that call, sent over
    # UDP (the test's cue to a uac_cued scenario); each one differs (branch,
    # CSeq), or sipp would take the second for a retransmission
    import socket, time
    host, dport = args[1].rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args[0], 0))
    lport = s.getsockname()[1]
    n = time.monotonic_ns() // 1000 % 1000000000
    msg = ("INFO sip:%s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-cue-%d\r\n"
           "From: <sip:test@%s>;tag=test\r\n"
           "To: <sip:a@%s>\r\n"
           "Call-ID: %s\r\n"
           "CSeq: %d INFO\r\n"
           "Max-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n") % (args[1], args[0], lport, n, host, host, args[2], n)
    s.sendto(msg.encode(), (host, int(dport)))
elif cmd == "calls":
    # CALL_ID, natproxyctl calls --json on stdin: "listed N" (N: the
    # largest packet count it shows for the call) or "absent"
    text = sys.stdin.read()
    try:
        objs = [json.loads(text)]
    except ValueError:
        objs = lines(text.splitlines())
    hit = find_call(objs, args[0])
    print("absent" if hit is None else "listed %d" % max(numbers(hit, "packets"), default=-1))
EOF

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
helper() { /usr/bin/python3 -S "$HELP" "$@"; }
# The flows, as the checks of one moment read them: snap takes a snapshot
# (one natproxyctl and one python), flow_field, has_flag and expects_any_port read the last
# one (awk); acc_rtp and the conditions polled (field_at_least, latched,
# expects...) take their own. The snapshot: a line "LOCAL FIELD VALUE" per
# field of each flow (nested ones dotted: drops.latch), none when
# natproxyctl fails.
FLOWS=$NP_RUN_DIR/flows.txt
snap() { ctl flows --json | /usr/bin/python3 -S tests/lib/flows_flat.py >"$FLOWS"; }
# flow_field LOCAL PATH: "none" if there is no such flow.
flow_field() { awk -v l="$1" -v k="$2" '$1 == l && $2 == k {print $3; f = 1} END {if (!f) print "none"}' "$FLOWS"; }
# rtp_relay ADDR: the RTP relay of ADDR in the snapshot (its lowest even
# port); acc_rtp: A's access one, in a new snapshot.
rtp_relay() {
	awk -v a="$1" '$2 == "src" {n = split($1, e, ":"); p = e[n] + 0
		if (e[1] == a && n == 2 && p % 2 == 0 && (m == "" || p < m)) m = p}
		END {if (m != "") print a ":" m}' "$FLOWS"
}
acc_rtp() { snap; rtp_relay "$SIP_PROXY_ACC_IP"; }
n_flows() { count_lines '^\{' ctl flows --json; }
# status_snap: natproxyctl status --json in STATUS, for verdict to read.
STATUS=
status_snap() { STATUS=$(ctl status --json); }
verdict() {
	echo "$STATUS" | python3 -S -c 'import json,sys; print(json.load(sys.stdin)["verdicts"][sys.argv[1]])' "$1"
}
# charge SECTION EXPR [ARG]: EXPR over that section's charging records
# (recs; r: the last; arg: ARG); charge_call SECTION CALL_ID EXPR: over
# that call's records.
charge() { helper charge "$NP_RUN_DIR/$1.charging" "$2" ${3+"$3"}; }
charge_call() { helper charge-call "$NP_RUN_DIR/$1.charging" "$2" "$3"; }
# media_sum FILE SRC DST: "packets bytes" (IP lengths) of the valid UDP
# packets SRC -> DST from a relay port (30000 and up: not signaling).
# Both say "cannot read FILE" (status 1) when the capture cannot be read:
# never "0 0" or "0".
media_sum() {
	local lines
	lines=$(tests/lib/pcap_udp.py "$1") || { echo "cannot read '$1'"; return 1; }
	echo "$lines" |
		awk -v s="$2" -v d="$3" '$1 == s && $2 >= 30000 && $3 == d && $8 != "bad" && ($9 == "ok" || $9 == "partial") {n++; b += $10 + 28}
			END {print n + 0, b + 0}'
}
# payloads FILE SIZE: UDP packets of that payload size in a capture.
payloads() {
	local lines
	lines=$(tests/lib/pcap_udp.py "$1") || { echo "cannot read '$1'"; return 1; }
	echo "$lines" | awk -v n="$2" '$10 == n' | wc -l
}
read_pcap() { tcpdump -nr "$@" 2>/dev/null; } # FILE [FILTER]: its status kept
# call_id NAME: the Call-ID of the call a sipp run NAME made.
call_id() { sed -n 's/^Call-I[Dd]: *\([^[:space:]]*\).*/\1/p' "$NP_RUN_DIR/$1.msg" | head -1; }
# kam_requests METHOD: requests Kamailio logged. Compared before and after:
# when the log cannot be read the text says when, so two never compare equal.
kam_requests() {
	grep -c "request $1 " "$KAM_LOG"
	[ $? -le 1 ] || { echo "cannot read '$KAM_LOG' (at $(date +%s.%N))"; return 1; }
}
within() { # VALUE TARGET PERCENT
	awk -v v="$1" -v t="$2" -v p="$3" 'BEGIN {d = v - t; if (d < 0) d = -d; exit !(d <= t * p / 100)}'
}

# cfg NAME ACCESS_KEYS CORE_KEYS: a configuration for one section, its
# charging file $NP_RUN_DIR/NAME.charging. Keys are YAML lines indented 4.
cfg() {
	proxy_config "$NP_RUN_DIR/$1.yaml" sip "$2" "$3" "keepalive:
  method: options
  interval: 60" "charging:
  file: $NP_RUN_DIR/$1.charging"
}
LOG=
# npd_start NAME [ARGS...]: natproxyd on NAME.yaml, log NAME.log
# (appended to), state NAME.state (never the shared default); waits
# (bounded) until it runs.
npd_start() {
	local name=$1
	shift
	LOG=$NP_RUN_DIR/$name.log
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/$name.yaml" \
		--state "$NP_RUN_DIR/$name.state" "$@" && return 0
	diag "natproxyd ($name) did not start: $(tail -3 "$LOG")"
	return 1
}
npd_stop() { [ -n "$NPD_PID" ] && sip_stop "$NPD_PID"; NPD_PID=; }
has_acc_flow() { [ -n "$(acc_rtp)" ]; }
# A's uac_cued call NAME: acked NAME once it has sent its ACK; cue NAME
# starts its media, the second cue stops it and hangs up.
acked() { grep -q 'uac_cued a: acked' "$NP_RUN_DIR/$1.log" 2>/dev/null; }
cue() { in_ns lan1 python3 "$HELP" info "$SIP_A_IP" "$SIP_A_IP:5060" "$(call_id "$1")"; }
# field_at_least LOCAL PATH N: that flow's field has reached N.
field_at_least() { local v; snap; v=$(flow_field "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge "$3" ]; }
# sent_rtp FILE ADDR [PORT]: RTP packets ADDR sent from PORT (6000) in a
# capture.
sent_rtp() { count_lines "^${2//./\\.} ${3:-6000} " tests/lib/pcap_udp.py "$1"; }
latched() { local f; snap; f=$(flow_field "$1" flags) && [ -n "$f" ] && ! echo "$f" | grep -q 'latch-pending\|^none$'; }
has_flag() { flow_field "$1" flags | tr , '\n' | grep -qx "$2"; }
expects() { snap; flow_field "$1" expect | grep -q "^$2:[1-9]"; }
no_flows() { [ "$(n_flows)" = 0 ]; }
# sipp_server NS NAME SCENARIO ARGS...: sipp_spawn for a server scenario
# other than uas.xml: sipp_cmd gives those the client options (-m 1,
# -oocsf), which sipp refuses in server mode; they are taken out here.
sipp_server() {
	local ns=$1 cmd=() skip=0 a
	shift
	sipp_cmd "$@"
	for a in "${SIPP_CMD[@]}"; do
		if [ "$skip" -gt 0 ]; then
			skip=$((skip - 1))
		elif [ "$a" = -m ] || [ "$a" = -oocsf ]; then
			skip=1
		else
			cmd+=("$a")
		fi
	done
	sip_spawn "$ns" "${cmd[@]}" >"$NP_RUN_DIR/$1.out" 2>&1
	sipp_bound "$ns"
}
# completes NAME PID: the sipp run NAME (PID) ends well (bounded, 30 s);
# else what it said.
completes() {
	local rc
	sip_wait "$2" 30 && return 0
	rc=$?
	diag "$1: sipp status $rc; log: $(tail -2 "$NP_RUN_DIR/$1.log" 2>/dev/null | tr '\n' ' ')"
	diag "$1: errors: $(grep -v '^$' "$NP_RUN_DIR/$1.err" 2>/dev/null | tail -3 | tr '\n' ' ' | cut -c1-400)"
	return 1
}
# cued_call NAME: A's uac_cued call NAME to the far end (its uas NAME-far,
# started first): both bounded by 240 s (-timeout) and 220 s between
# messages (-recv_timeout) instead of sipp_cmd's 30 s and 20 s, since the
# call lasts as long as the test's steps take on a loaded machine (the far
# end waits for its BYE all that time; 90 s were seen to be too few).
# A second argument silent: the far end plays no RTP (uas_silent, which
# waits 15 s at most for the BYE); the test sends the far end's audio.
cued_call() {
	if [ "${2:-}" = silent ]; then
		SIP_SIPP_TIMEOUT=240 sipp_server core "$1-far" uas_silent \
			-i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000
	else
		SIP_SIPP_TIMEOUT=240 sipp_spawn core "$1-far" uas -i "$SIP_FAR_IP" -p 5060 \
			-mi "$SIP_FAR_IP" -mp 7000 -recv_timeout 220s
	fi
	FAR=$SIP_LAST_PID
	SIP_SIPP_TIMEOUT=240 sipp_spawn lan1 "$1" uac_cued -recv_timeout 220s "${A_UA[@]}"
	UAC=$SIP_LAST_PID
}
far_uas() {
	case ${2:-uas} in
	uas) sipp_spawn core "$1" uas -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000 ;;
	*) sipp_server core "$1" "$2" -i "$SIP_FAR_IP" -p 5060 -mi "$SIP_FAR_IP" -mp 7000 ;;
	esac
}
A_UA=(-i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 -s far -key user a "$SIP_PROXY_ACC_IP:5060")

# --- access: allow/deny prefixes ------------------------------------------------
# A (NAT 203.0.113.11) is allowed; B (NAT 203.0.113.12) is denied; C
# (203.0.113.30, no NAT) is outside the allow list.
section_access() {
	local regs invites pid_b pid_c rc_b rc_c from_proxy
	cfg access "    allow:
      - 203.0.113.0/28
    deny:
      - 203.0.113.12/32" ""
	check "access: natproxyd starts with allow and deny lists" npd_start access
	check "access: A (allowed) registers" \
		sipp_run lan1 reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 60 "$SIP_PROXY_ACC_IP:5060"
	regs=$(kam_requests REGISTER)
	invites=$(kam_requests INVITE)
	check "access: B (deny 203.0.113.12/32) is answered 403 to REGISTER" \
		sipp_run lan2 reg-b-403 register_403 -i "$SIP_B_IP" -p 5060 -key user b -key expires 60 "$SIP_PROXY_ACC_IP:5060"
	check "access: C (outside allow 203.0.113.0/28) is answered 403 to REGISTER" \
		sipp_run lan0 reg-c-403 register_403 -i "$SIP_C_IP" -p 5060 -key user c -key expires 60 "$SIP_PROXY_ACC_IP:5060"
	check "access: B's INVITE is answered 403" \
		sipp_run lan2 inv-b-403 invite_refused -i "$SIP_B_IP" -p 5060 -mi "$SIP_B_IP" -mp 6002 -s far -key user b "$SIP_PROXY_ACC_IP:5060"
	check "access: ... and 403 is what B got" grep -q 'invite_refused b: 403' "$NP_RUN_DIR/inv-b-403.log"
	check "access: Kamailio saw no REGISTER or INVITE of B or C" \
		test "$(kam_requests REGISTER) $(kam_requests INVITE)" = "$regs $invites"
	check "access: Kamailio has A's contact, none of B or C" \
		test -n "$(kamailio_contacts a)" -a -z "$(kamailio_contacts b)$(kamailio_contacts c)"
	npd_stop

	cfg access-drop "    allow:
      - 203.0.113.0/28
    deny:
      - 203.0.113.12/32
    deny_action: drop" ""
	check "access: natproxyd restarts with deny_action: drop" npd_start access-drop
	capture_start lan2 eth0 deny-b.pcap
	capture lan0 eth0 deny-c.pcap
	regs=$(kam_requests REGISTER)
	SIP_SIPP_TIMEOUT=3 sipp_spawn lan2 reg-b-drop register -i "$SIP_B_IP" -p 5060 -key user b -key expires 60 "$SIP_PROXY_ACC_IP:5060"
	pid_b=$SIP_LAST_PID
	SIP_SIPP_TIMEOUT=3 sipp_spawn lan0 reg-c-drop register -i "$SIP_C_IP" -p 5060 -key user c -key expires 60 "$SIP_PROXY_ACC_IP:5060"
	pid_c=$SIP_LAST_PID
	sip_wait "$pid_b" 25; rc_b=$?
	sip_wait "$pid_c" 25; rc_c=$?
	stop_captures
	check "access: drop: B's and C's REGISTERs get no answer (sipp times out)" test "$rc_b" -ne 0 -a "$rc_c" -ne 0
	# IP only: the proxy's ARP requests are no answer.
	from_proxy="$(count_lines . read_pcap "$NP_RUN_DIR/deny-b.pcap" ip and src host "$SIP_PROXY_ACC_IP") $(count_lines . read_pcap "$NP_RUN_DIR/deny-c.pcap" ip and src host "$SIP_PROXY_ACC_IP")"
	check_eq "access: drop: not one packet from natproxy reached B or C (no 403, no ICMP)" "0 0" "$from_proxy"
	check "access: drop: though both sent (and retransmitted) their REGISTER" \
		test "$(tcpdump -nr "$NP_RUN_DIR/deny-b.pcap" dst host "$SIP_PROXY_ACC_IP" 2>/dev/null | wc -l)" -ge 2 -a \
		"$(tcpdump -nr "$NP_RUN_DIR/deny-c.pcap" dst host "$SIP_PROXY_ACC_IP" 2>/dev/null | wc -l)" -ge 2
	check_eq "access: drop: Kamailio saw no REGISTER" "$regs" "$(kam_requests REGISTER)"
	check "access: drop: A still registers" \
		sipp_run lan1 reg-a2 register -i "$SIP_A_IP" -p 5060 -key user a -key expires 60 "$SIP_PROXY_ACC_IP:5060"
	npd_stop
}

# --- latch: restricted (first-packet's old name) against an attacker -------------
# C (203.0.113.30, on the access network) sends 77-byte datagrams to A's
# access relay before A's media starts (uac_cued: A's media waits for the
# test's cue) and after A latched.
section_latch() {
	local relay n n_sent
	cfg latch "    latch: restricted" ""
	check "latch: natproxyd starts with latch: restricted" npd_start latch
	capture_start lan1 eth0 latch-a.pcap udp
	capture_start core eth0 latch-far.pcap udp
	capture lan0 eth0 latch-c.pcap udp
	cued_call latch-a
	wait_for 10 acked latch-a
	relay=$(acc_rtp)
	diag "latch: A's access relay ${relay:-(none)}, flags $(flow_field "$relay" flags)"
	check "latch: the access relay is restricted and waits to latch" \
		eval 'has_flag "$relay" restricted && has_flag "$relay" latch-pending'
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 20 $ATTACK_SIZE
	wait_for 10 field_at_least "$relay" drops.latch 20
	snap
	check_eq "latch: 20 attacker packets before A's media: drops.latch" 20 "$(flow_field "$relay" drops.latch)"
	check "latch: ... and the relay did not latch onto the attacker" eval '! expects "$relay" "$SIP_C_IP"'
	cue latch-a # A's media starts
	wait_for 10 latched "$relay"
	check "latch: A's first RTP packet latched the relay onto A's NAT" expects "$relay" "$SIP_NAT1_IP"
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 20 $ATTACK_SIZE
	wait_for 10 field_at_least "$relay" drops.source 20
	snap
	check_eq "latch: 20 attacker packets after the latch: drops.source" 20 "$(flow_field "$relay" drops.source)"
	cue latch-a # A's media stops, A hangs up
	check "latch: the call completes" completes latch-a "$UAC"
	check "latch: the far end's side completes" completes latch-a-far "$FAR"
	stop_captures
	check_eq "latch: no attacker payload reached A" 0 "$(payloads "$NP_RUN_DIR/latch-a.pcap" $ATTACK_SIZE)"
	check_eq "latch: no attacker payload reached the far end" 0 "$(payloads "$NP_RUN_DIR/latch-far.pcap" $ATTACK_SIZE)"
	check_eq "latch: the attacker received no media (no RTP Bleed)" "0 0" \
		"$(media_sum "$NP_RUN_DIR/latch-c.pcap" "$SIP_PROXY_ACC_IP" "$SIP_C_IP")"
	read -r n _ <<<"$(media_sum "$NP_RUN_DIR/latch-far.pcap" "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP")"
	n_sent=$(sent_rtp "$NP_RUN_DIR/latch-a.pcap" "$SIP_A_IP")
	check "latch: A sent RTP" test "$n_sent" -gt 0
	check_eq "latch: every RTP packet A sent reached the far end" "$n_sent" "$n"
	check "latch: natproxyd logged the latch onto A's NAT media source" \
		grep -q "latched.*$SIP_NAT1_IP:[0-9]" "$LOG"
	check_none "latch: ... and none onto the attacker" "latched.*${SIP_C_IP//./\\.}" cat "$LOG"
	grep 'latched' "$LOG" | head -2 | sed 's/^/# log: /'
	check_eq "latch: the charging record counts the drops (latch, source)" "20 20" \
		"$(charge latch '"%s %s" % (r["streams"][0]["from_terminal"]["drops"]["latch"], r["streams"][0]["from_terminal"]["drops"]["source"])')"
	npd_stop
}

# --- hijack: first-packet (the default) against an attacker who comes first -------
# C (203.0.113.30, on the access network) sprays A's RTP and RTCP relays
# before A's media starts, and again after A latched. The far end's audio
# (FAR_AUDIO packets, sent by the test from the far end's address once A
# latched) must reach A and nothing the attacker.
FAR_AUDIO=100
rtcp_of() { echo "${1%:*}:$((${1##*:} + 1))"; }
expects_any_port() { flow_field "$1" expect | grep -qx "$2:0"; }
section_hijack() {
	local relay rtcp core n_a n_c
	cfg hijack "" ""
	check "hijack: natproxyd starts with the default latch (first-packet)" npd_start hijack
	capture_start lan1 eth0 hijack-a.pcap udp
	capture_start core eth0 hijack-far.pcap udp
	capture lan0 eth0 hijack-c.pcap udp
	cued_call hijack-a silent
	wait_for 10 acked hijack-a
	relay=$(acc_rtp)
	rtcp=$(rtcp_of "$relay")
	core=$(flow_field "$relay" src)
	diag "hijack: A's relays $relay and $rtcp, flags $(flow_field "$relay" flags) / $(flow_field "$rtcp" flags)"
	check "hijack: A's RTP relay waits to latch, from A's NAT address only, and its RTCP follows it" \
		eval 'has_flag "$relay" latch-pending && has_flag "$relay" restricted && has_flag "$relay" rtcp-follows && expects_any_port "$relay" "$SIP_NAT1_IP"'
	check "hijack: A's RTCP relay waits to latch, from A's NAT address only" \
		eval 'has_flag "$rtcp" latch-pending && has_flag "$rtcp" restricted && expects_any_port "$rtcp" "$SIP_NAT1_IP"'
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 30 $ATTACK_SIZE
	in_ns lan0 $UDP send "$SIP_C_IP:5005" "$rtcp" 30 $ATTACK_SIZE rtcp
	wait_for 10 field_at_least "$relay" drops.latch 30
	wait_for 10 field_at_least "$rtcp" drops.latch 30
	snap
	check_eq "hijack: 30 attacker packets at the RTP relay before A's media: drops.latch" 30 "$(flow_field "$relay" drops.latch)"
	check_eq "hijack: 30 at the RTCP relay: drops.latch" 30 "$(flow_field "$rtcp" drops.latch)"
	check "hijack: neither relay latched onto the attacker" \
		eval 'has_flag "$relay" latch-pending && has_flag "$rtcp" latch-pending'
	cue hijack-a # A's media starts
	wait_for 10 latched "$relay"
	check "hijack: A's first RTP packet latched the relay onto A's NAT" expects "$relay" "$SIP_NAT1_IP"
	check "hijack: the RTCP relay still waits for A's NAT address only" \
		eval 'has_flag "$rtcp" latch-pending && expects_any_port "$rtcp" "$SIP_NAT1_IP"'
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 20 $ATTACK_SIZE
	in_ns lan0 $UDP send "$SIP_C_IP:5005" "$rtcp" 20 $ATTACK_SIZE rtcp
	wait_for 10 field_at_least "$relay" drops.source 20
	wait_for 10 field_at_least "$rtcp" drops.latch 50
	snap
	check_eq "hijack: 20 attacker packets at the RTP relay after the latch: drops.source" 20 "$(flow_field "$relay" drops.source)"
	check_eq "hijack: 20 more at the RTCP relay: drops.latch 50 in all" 50 "$(flow_field "$rtcp" drops.latch)"
	check "hijack: the RTP relay is still latched onto A's NAT" expects "$relay" "$SIP_NAT1_IP"
	# The far end's audio, now that A latched.
	in_ns core $UDP send "$SIP_FAR_IP:7010" "$core" $FAR_AUDIO
	wait_for 10 field_at_least "$core" packets $FAR_AUDIO
	cue hijack-a # A's media stops, A hangs up
	check "hijack: the call completes" completes hijack-a "$UAC"
	check "hijack: the far end's side completes" completes hijack-a-far "$FAR"
	stop_captures
	read -r n_a _ <<<"$(media_sum "$NP_RUN_DIR/hijack-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP")"
	read -r n_c _ <<<"$(media_sum "$NP_RUN_DIR/hijack-c.pcap" "$SIP_PROXY_ACC_IP" "$SIP_C_IP")"
	check_eq "hijack: the far end's audio reached A, every packet of it" $FAR_AUDIO "$n_a"
	check_eq "hijack: the attacker received nothing from the relays" 0 "$n_c"
	check_eq "hijack: no attacker payload reached A or the far end" "0 0" \
		"$(payloads "$NP_RUN_DIR/hijack-a.pcap" $ATTACK_SIZE) $(payloads "$NP_RUN_DIR/hijack-far.pcap" $ATTACK_SIZE)"
	check_none "hijack: natproxyd logged no latch onto the attacker" "latched.*${SIP_C_IP//./\\.}" cat "$LOG"
	check_eq "hijack: the charging record counts every attacker packet (latch 80, source 20) and A's audio" "80 20 $FAR_AUDIO" \
		"$(charge hijack '"%s %s %s" % (r["streams"][0]["from_terminal"]["drops"]["latch"], r["streams"][0]["from_terminal"]["drops"]["source"], r["streams"][0]["to_terminal"]["packets"])')"
	npd_stop
}

# --- takeover: latch: any, the terminal takes the stream back ----------------------
# C sprays A's RTP relay before A's media starts: with `latch: any` it
# latches (the unsafe window that makes `any` unsafe), and the far end's
# audio in that window goes to C. A's first packet, from the address of
# its signaling, takes the stream over, once; the RTCP relay follows;
# nothing C sends afterwards moves anything, and C gets nothing more.
section_takeover() {
	local relay rtcp core n_a n_c
	cfg takeover "    latch: any" ""
	check "takeover: natproxyd starts with latch: any" npd_start takeover
	capture_start lan1 eth0 takeover-a.pcap udp
	capture lan0 eth0 takeover-c.pcap udp
	cued_call takeover-a silent
	wait_for 10 acked takeover-a
	relay=$(acc_rtp)
	rtcp=$(rtcp_of "$relay")
	core=$(flow_field "$relay" src)
	check "takeover: A's RTP relay latches onto anyone, A's NAT address may take it over" \
		eval 'has_flag "$relay" latch-pending && has_flag "$relay" takeover && has_flag "$relay" rtcp-follows && ! has_flag "$relay" restricted'
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 20 $ATTACK_SIZE
	wait_for 10 latched "$relay"
	check "takeover: the attacker's first packet latched the RTP relay (the unsafe window)" expects "$relay" "$SIP_C_IP"
	check "takeover: ... and the RTCP relay may latch only from the attacker's address" \
		eval 'has_flag "$rtcp" latch-pending && has_flag "$rtcp" restricted && expects_any_port "$rtcp" "$SIP_C_IP"'
	in_ns core $UDP send "$SIP_FAR_IP:7010" "$core" 20
	wait_for 10 field_at_least "$core" packets 20
	cue takeover-a # A's media starts
	wait_for 10 expects "$relay" "$SIP_NAT1_IP"
	check "takeover: A's first RTP packet took the relay over onto A's NAT" expects "$relay" "$SIP_NAT1_IP"
	check "takeover: ... once: the takeover is spent" eval '! has_flag "$relay" takeover'
	check "takeover: the RTCP relay now waits for A's NAT address only" \
		eval 'has_flag "$rtcp" latch-pending && expects_any_port "$rtcp" "$SIP_NAT1_IP"'
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 20 $ATTACK_SIZE
	in_ns lan0 $UDP send "$SIP_C_IP:5005" "$rtcp" 20 $ATTACK_SIZE rtcp
	wait_for 10 field_at_least "$relay" drops.source 20
	wait_for 10 field_at_least "$rtcp" drops.latch 20
	snap
	check_eq "takeover: 20 attacker packets after it: drops.source" 20 "$(flow_field "$relay" drops.source)"
	check_eq "takeover: 20 at the RTCP relay: drops.latch" 20 "$(flow_field "$rtcp" drops.latch)"
	check "takeover: the attacker did not take the relay back" expects "$relay" "$SIP_NAT1_IP"
	in_ns core $UDP send "$SIP_FAR_IP:7010" "$core" $FAR_AUDIO
	wait_for 10 field_at_least "$core" packets $((FAR_AUDIO + 20))
	cue takeover-a # A's media stops, A hangs up
	check "takeover: the call completes" completes takeover-a "$UAC"
	check "takeover: the far end's side completes" completes takeover-a-far "$FAR"
	stop_captures
	read -r n_a _ <<<"$(media_sum "$NP_RUN_DIR/takeover-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP")"
	read -r n_c _ <<<"$(media_sum "$NP_RUN_DIR/takeover-c.pcap" "$SIP_PROXY_ACC_IP" "$SIP_C_IP")"
	check_eq "takeover: the attacker got the far end's audio of the window only (20 packets)" 20 "$n_c"
	check_eq "takeover: A got all the far end's audio after the takeover" $FAR_AUDIO "$n_a"
	check "takeover: natproxyd logged the takeover onto A's NAT" \
		grep -q "latched onto ${SIP_NAT1_IP//./\\.}:[0-9]* (its signaling address took it over" "$LOG"
	grep 'latched' "$LOG" | head -3 | sed 's/^/# log: /'
	npd_stop
}

# --- rate: max_stream_kbps, b=AS, max_calls ---------------------------------------
# max_stream_kbps 64 (8000 IP bytes/s) and max_calls 1 on access. The RTP of
# the scenarios is 200 IP bytes 50 times a second: 10000 bytes/s each way.
section_rate() {
	local relay invites n_far b_far r_far n_a b_a r_a n_sent
	cfg rate "    max_stream_kbps: 64
    max_calls: 1" ""
	check "rate: natproxyd starts with max_stream_kbps 64, max_calls 1" npd_start rate
	capture_start lan1 eth0 rate-a.pcap udp
	capture core eth0 rate-far.pcap udp
	# A's call stays up until the second cue, after B's attempt.
	cued_call rate-a
	wait_for 10 acked rate-a
	cue rate-a # A's media starts
	wait_for 10 has_acc_flow
	relay=$(acc_rtp)
	wait_for 10 latched "$relay"
	check_eq "rate: the access relay's bucket: 8000 bytes/s" 8000 "$(flow_field "$relay" rate_bytes)"
	invites=$(kam_requests INVITE)
	check "rate: a second call while A's is up (max_calls 1) is refused" \
		sipp_run lan2 rate-b invite_refused -i "$SIP_B_IP" -p 5060 -mi "$SIP_B_IP" -mp 6002 -s far -key user b "$SIP_PROXY_ACC_IP:5060"
	check "rate: ... with 503" grep -q 'invite_refused b: 503' "$NP_RUN_DIR/rate-b.log"
	check_eq "rate: ... and it never reached Kamailio" "$invites" "$(kam_requests INVITE)"
	# 4 s of A's stream through the bucket (40 packets/s) to measure.
	wait_for 30 field_at_least "$relay" packets 160
	cue rate-a # A's media stops, A hangs up
	check "rate: the call completes" completes rate-a "$UAC"
	check "rate: the far end's side completes" completes rate-a-far "$FAR"
	stop_captures
	read -r n_far b_far r_far <<<"$(helper pcap "$NP_RUN_DIR/rate-far.pcap" "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP" 7000)"
	read -r n_a b_a r_a <<<"$(helper pcap "$NP_RUN_DIR/rate-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP" 6000)"
	diag "rate: far end received $n_far packets, $b_far bytes, $r_far bytes/s; A $n_a, $b_a, $r_a bytes/s"
	check "rate: A -> far end arrives at 8000 bytes/s (within 10%)" within "$r_far" 8000 10
	check "rate: far end -> A arrives at 8000 bytes/s (within 10%)" within "$r_a" 8000 10
	check "rate: drops.rate counted both ways" \
		test "$(charge rate 'r["streams"][0]["from_terminal"]["drops"]["rate"] > 0 < r["streams"][0]["to_terminal"]["drops"]["rate"]')" = True
	n_sent=$(sent_rtp "$NP_RUN_DIR/rate-a.pcap" "$SIP_A_IP")
	check_eq "rate: from A, relayed + rate-dropped = what A sent" "$n_sent" \
		"$(charge rate 'r["streams"][0]["from_terminal"]["packets"] + r["streams"][0]["from_terminal"]["drops"]["rate"]')"
	check_eq "rate: the far end received what the record says was relayed" "$n_far" \
		"$(charge rate 'r["streams"][0]["from_terminal"]["packets"]')"

	# b=AS:1 in A's offer: the policer counts IP bytes, so natproxy adds
	# headers and headroom to what b=AS declares (1000/8 * 5/4 + 100
	# packets/s * 60 bytes = 6156 bytes/s), below the realm's 8000. The call
	# also shows the first one no longer counts against max_calls.
	capture_start lan1 eth0 bas-a.pcap udp
	capture core eth0 bas-far.pcap udp
	far_uas bas-far
	FAR=$SIP_LAST_PID
	check "rate: then a call offering b=AS:1 is accepted and completes" \
		sipp_run lan1 bas-a uac_bas "${A_UA[@]}" -key bas 1
	check "rate: the far end's side completes" sip_wait "$FAR" 20
	stop_captures
	read -r n_far b_far r_far <<<"$(helper pcap "$NP_RUN_DIR/bas-far.pcap" "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP" 7000)"
	read -r n_a b_a r_a <<<"$(helper pcap "$NP_RUN_DIR/bas-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP" 6000)"
	diag "rate: b=AS:1: far end received $n_far packets, $r_far bytes/s; A $n_a, $r_a bytes/s"
	check "rate: b=AS:1: A -> far end arrives at 6156 bytes/s (within 10%)" within "$r_far" 6156 10
	check "rate: b=AS:1: far end -> A arrives at 6156 bytes/s (within 10%)" within "$r_a" 6156 10
	npd_stop
}

# --- charge: the charging record against the receivers' captures ----------------
# First-packet latching (the default), and an attacker after the latch.
section_charge() {
	local relay cid n_far b_far n_a b_a n_sent
	cfg charge "" ""
	check "charge: natproxyd starts with a charging file" npd_start charge
	capture_start lan1 eth0 charge-a.pcap udp
	capture core eth0 charge-far.pcap udp
	cued_call charge-a
	wait_for 10 acked charge-a
	cue charge-a # A's media starts
	wait_for 10 has_acc_flow
	relay=$(acc_rtp)
	wait_for 10 latched "$relay"
	in_ns lan0 $UDP send "$SIP_C_IP:5004" "$relay" 20 $ATTACK_SIZE
	wait_for 10 field_at_least "$relay" drops.source 20
	cue charge-a # A's media stops, A hangs up
	check "charge: the call completes" completes charge-a "$UAC"
	check "charge: the far end's side completes" completes charge-a-far "$FAR"
	stop_captures
	cid=$(call_id charge-a)
	read -r n_far b_far <<<"$(media_sum "$NP_RUN_DIR/charge-far.pcap" "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP")"
	read -r n_a b_a <<<"$(media_sum "$NP_RUN_DIR/charge-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP")"
	diag "charge: captured $n_far packets $b_far bytes at the far end, $n_a packets $b_a bytes at A"
	diag "charge: record: $(head -c 1000 "$NP_RUN_DIR/charge.charging" 2>/dev/null)"
	check "charge: the charging file holds valid JSON lines" helper charge-valid "$NP_RUN_DIR/charge.charging"
	check_eq "charge: one record for the one call" 1 "$(charge charge 'len(recs)')"
	check_eq "charge: its call_id is the call's" "$cid" "$(charge charge 'r["call_id"]')"
	check_eq "charge: end_reason bye" bye "$(charge charge 'r["end_reason"]')"
	check_eq "charge: from, to, pair, terminal (A's NAT mapping)" True \
		"$(charge charge '"a@" in r["from"] and "far@" in r["to"] and bool(r["pair"]) and r["terminal"].startswith("203.0.113.11:")')"
	check_eq "charge: start <= answer < end, ISO 8601 UTC; duration is answer to end" True \
		"$(charge charge '(lambda re, dt, ts: all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", t) for t in ts) and ts[0] <= ts[1] < ts[2] and abs((dt.strptime(ts[2], "%Y-%m-%dT%H:%M:%S.%fZ") - dt.strptime(ts[1], "%Y-%m-%dT%H:%M:%S.%fZ")).total_seconds() - float(r["duration"])) < 0.01)(__import__("re"), __import__("datetime").datetime, [r["start"], r["answer"], r["end"]])')"
	check_eq "charge: one stream, index 0, its access and core relays" True \
		"$(charge charge 'len(r["streams"]) == 1 and r["streams"][0]["index"] == 0 and r["streams"][0]["access_relay"] == arg and r["streams"][0]["core_relay"].startswith("198.51.100.1:4")' "$relay")"
	n_sent=$(sent_rtp "$NP_RUN_DIR/charge-a.pcap" "$SIP_A_IP")
	check "charge: A sent RTP" test "$n_sent" -gt 0
	check_eq "charge: the far end received every RTP packet A sent" "$n_sent" "$n_far"
	check_eq "charge: from_terminal bytes = IP bytes the far end received" "$b_far" "$(charge charge 'r["streams"][0]["from_terminal"]["bytes"]')"
	check_eq "charge: from_terminal packets = packets the far end received" "$n_far" "$(charge charge 'r["streams"][0]["from_terminal"]["packets"]')"
	check_eq "charge: to_terminal bytes = IP bytes A received" "$b_a" "$(charge charge 'r["streams"][0]["to_terminal"]["bytes"]')"
	check_eq "charge: to_terminal packets = packets A received" "$n_a" "$(charge charge 'r["streams"][0]["to_terminal"]["packets"]')"
	check_eq "charge: first-packet latch: 20 attacker packets after it are drops.source" 20 \
		"$(charge charge 'r["streams"][0]["from_terminal"]["drops"]["source"]')"
	check_eq "charge: ... and reached nobody" "0 0" \
		"$(payloads "$NP_RUN_DIR/charge-a.pcap" $ATTACK_SIZE) $(payloads "$NP_RUN_DIR/charge-far.pcap" $ATTACK_SIZE)"
	check_eq "charge: drops name every reason both ways" True \
		"$(charge charge 'all(sorted(r["streams"][0][d]["drops"]) == ["checksum", "latch", "no-dest", "rate", "source", "xmit"] for d in ("from_terminal", "to_terminal"))')"
	npd_stop
}

# --- timeout: media_timeout 3 s on both realms ------------------------------------
section_timeout() {
	local took
	cfg timeout "    media_timeout: 3" "    media_timeout: 3"
	check "timeout: natproxyd starts with media_timeout 3" npd_start timeout
	far_uas timeout-far
	FAR=$SIP_LAST_PID
	check "timeout: a 4.5 s call with media throughout is not cut" \
		sipp_run lan1 timeout-a uac "${A_UA[@]}"
	sip_wait "$FAR" 20
	check_eq "timeout: ... its record says bye" bye "$(charge timeout 'r["end_reason"]')"
	capture_start lan1 eth0 silent-a.pcap udp port 5060
	capture core eth0 silent-far.pcap udp port 5060
	far_uas silent-far uas_silent
	FAR=$SIP_LAST_PID
	SECONDS=0
	check "timeout: a call without media: A gets a BYE from the network" \
		sipp_run lan1 silent-a uac_silent "${A_UA[@]}"
	took=$SECONDS
	check "timeout: ... and so does the far end" sip_wait "$FAR" 20
	stop_captures
	diag "timeout: the silent call took ${took}s; record: $(tail -1 "$NP_RUN_DIR/timeout.charging" 2>/dev/null | head -c 500)"
	check_eq "timeout: ended not before 3 s without media, nor 3 s after (answer to end)" True \
		"$(charge timeout '3.0 <= float(r["duration"]) <= 6.0 and r["answer"] is not None')"
	check "timeout: ... and A's sipp saw it within 9 s" test "$took" -le 9
	check "timeout: the BYE reached A from natproxy's access address" \
		bash -c "tcpdump -nr '$NP_RUN_DIR/silent-a.pcap' -A 'src host $SIP_PROXY_ACC_IP' 2>/dev/null | grep -q 'BYE sip:'"
	check "timeout: natproxy sent the far end's BYE to Kamailio from its core address" \
		bash -c "tcpdump -nr '$NP_RUN_DIR/silent-far.pcap' -A 'src host $SIP_PROXY_CORE_IP' 2>/dev/null | grep -q 'BYE sip:'"
	check "timeout: ... and the far end got it" grep -q 'uas_silent: got BYE' "$NP_RUN_DIR/silent-far.log"
	check_eq "timeout: the record says media-timeout" media-timeout "$(charge timeout 'r["end_reason"]')"
	check_eq "timeout: two records, two calls" 2 "$(charge timeout 'len(recs)')"
	check "timeout: no flow is left" no_flows
	npd_stop
}

# --- restart: kill -9 mid-call ------------------------------------------------------
# kill -9 natproxyd while RTP flows, start it again on the same --state and
# pins: XDP relays on from the pinned maps meanwhile. A's call (uac_cued)
# streams from the test's first cue until its second, after the restarted
# natproxyd has shown the call: every step waits for what it needs, none
# for time.
# relay_packets LOCAL: the packets XDP relayed for that flow (0 if none).
relay_packets() { local n; snap; n=$(flow_field "$1" packets); echo "${n/none/0}"; }
# relayed_past LOCAL N: the flow relayed more than N packets.
relayed_past() { [ "$(relay_packets "$1")" -gt "$2" ]; }
# adopted_call CALL_ID: natproxyctl calls lists it with packets (its
# output kept in $CALLS for the diagnostics).
CALLS=
adopted_call() {
	CALLS=$(ctl calls --json --state "$STATE" 2>&1)
	echo "$CALLS" | helper calls "$1" | grep -q "^listed [1-9]"
}
# far_played LOCAL: that core relay has seen the far end's 200 RTP packets
# (relayed, or dropped before A's latch gave them a destination).
far_played() {
	local p d
	snap
	p=$(flow_field "$1" packets) d=$(flow_field "$1" drops.no-dest)
	[[ $p$d =~ ^[0-9]+$ ]] && [ $((p + d)) -ge 200 ]
}
section_restart() {
	local relay cid p0 p1 n_far n_a n_sent far_sent flows snap_ino
	# The core's relay ports among the access' numbers (on its own
	# address, and other numbers than the access' first ones): a restart
	# tells a realm's flows by address and port.
	PROXY_CORE_MEDIA=30500-30999 cfg restart "" ""
	STATE=$NP_RUN_DIR/restart.state
	check "restart: natproxyd starts with --state" npd_start restart
	capture_start lan1 eth0 restart-a.pcap udp
	capture core eth0 restart-far.pcap udp
	cued_call restart-a
	wait_for 10 acked restart-a
	cue restart-a # A's media starts
	wait_for 10 has_acc_flow
	relay=$(acc_rtp)
	wait_for 10 latched "$relay" # A's RTP flows from here
	cid=$(call_id restart-a)
	diag "restart: call ${cid:-(none)}, A's access relay ${relay:-(none)}, flags $(flow_field "$relay" flags)"
	wait_for 10 adopted_call "$cid"
	diag "restart: calls: $(echo "$CALLS" | head -c 400)"
	check "restart: natproxyctl calls lists the live call with its running volume" \
		eval 'echo "$CALLS" | helper calls "$cid" | grep -q "^listed [1-9]"'
	flows=$(ctl flows --json | grep -c '^{')
	sip_stop "$NPD_PID" KILL 2>/dev/null
	NPD_PID=
	p0=$(relay_packets "$relay")
	wait_for 10 relayed_past "$relay" $((p0 + 10))
	p1=$(relay_packets "$relay")
	check "restart: with natproxyd killed, XDP relays A's RTP on (packets $p0, then $p1)" \
		test "$p1" -gt $((p0 + 10))
	check "restart: natproxyd starts again on the same state and pins" npd_start restart
	check "restart: ... and says it adopted the call" \
		eval 'grep "adopted" "$LOG" | tail -1 | grep -q "and 1 live call"'
	# The snapshot as adopted (a whole write renames a new file in).
	snap_ino=$(stat -c %i "$STATE")
	check "restart: ... and takes up its journal again" \
		grep -q "journal of '$STATE' taken up again" "$LOG"
	grep "adopted" "$LOG" | tail -1 | sed 's/^/# log: /'
	check_eq "restart: ... and keeps every flow of it (none taken for stale)" \
		"$flows" "$(ctl flows --json | grep -c '^{')"
	wait_for 10 adopted_call "$cid"
	diag "restart: calls after the restart: $(echo "$CALLS" | head -c 400)"
	check "restart: the restarted natproxyd lists the call it adopted" \
		eval 'echo "$CALLS" | helper calls "$cid" | grep -q "^listed [1-9]"'
	# The far end's 200 packets (below) must all reach the relay before A
	# hangs up, or a loaded machine ends the call under them.
	wait_for 100 far_played "$(snap; rtp_relay "$SIP_PROXY_CORE_IP")"
	cue restart-a # A's media stops, A hangs up
	check "restart: the call's BYE is handled, the call completes" completes restart-a "$UAC"
	check "restart: the far end's side completes" completes restart-a-far "$FAR"
	check "restart: the first save after the restart (the BYE) appended to the journal, not the whole state in its turn" \
		wait_for 5 eval '[ "$(stat -c %i "$STATE")" = "$snap_ino" ] && grep -q "^call-gone " "$STATE.journal"'
	stop_captures
	read -r n_far _ <<<"$(media_sum "$NP_RUN_DIR/restart-far.pcap" "$SIP_PROXY_CORE_IP" "$SIP_FAR_IP")"
	read -r n_a _ <<<"$(media_sum "$NP_RUN_DIR/restart-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP")"
	n_sent=$(sent_rtp "$NP_RUN_DIR/restart-a.pcap" "$SIP_A_IP")
	diag "restart: A sent $n_sent RTP packets; relayed: $n_far to the far end, $n_a to A"
	diag "restart: A's sipp: $(tail -2 "$NP_RUN_DIR/restart-a.log" 2>/dev/null | tr '\n' ' ')"
	check "restart: A's RTP went on after the kill ($n_sent packets sent, $p1 relayed by then)" test "$n_sent" -gt "$p1"
	check_eq "restart: every RTP packet A sent reached the far end" "$n_sent" "$n_far"
	# The far end plays its 200 packets (uas.xml) from its ACK, A only from
	# the cue: what came before A's latch had nowhere to go. (Not counted in
	# the capture: tcpdump was seen to miss packets on a loaded machine.)
	far_sent=200
	check_eq "restart: ... every packet of it but those before A's latch (no-dest drops)" "$far_sent" \
		"$(charge_call restart "$cid" 'r["streams"][0]["to_terminal"]["packets"] + r["streams"][0]["to_terminal"]["drops"]["no-dest"]')"
	check_eq "restart: exactly one charging record for the call" 1 "$(charge_call restart "$cid" 'len(recs)')"
	check_eq "restart: ... with every packet from the terminal, end_reason bye" "$n_far bye" \
		"$(charge_call restart "$cid" '"%s %s" % (r["streams"][0]["from_terminal"]["packets"], r["end_reason"])')"
	check_eq "restart: ... and to_terminal packets = what A received" "$n_a" \
		"$(charge_call restart "$cid" 'r["streams"][0]["to_terminal"]["packets"]')"
	check "restart: no flow is left" no_flows
	npd_stop
}

# --- qos: DSCP per realm, VLAN 100 on the core realm ----------------------------
# The proxy-core link becomes VLAN 100. This kernel may lack 8021q, so the
# VLAN is made with tc: on core/eth0 and proxy/core0 a clsact egress program
# pushes tag 100 on every frame the kernel sends, and an ingress program
# pops it, dropping untagged frames (or other VLANs). XDP runs before tc
# ingress and frames XDP sends skip tc egress: natproxy's relay must push
# the tag itself on media leaving by core0, and pop the tag of media it
# takes from core0 to the access side. Transmit VLAN offload is off, so
# tags travel inline, where XDP sees them.
vlan_link() { # NS DEV
	in_ns "$1" ethtool -K "$2" txvlan off rxvlan off >/dev/null 2>&1
	in_ns "$1" tc qdisc add dev "$2" clsact &&
		in_ns "$1" tc filter add dev "$2" ingress bpf da obj "$NP_RUN_DIR/vlan100.bpf.o" program vlan_in &&
		in_ns "$1" tc filter add dev "$2" egress bpf da obj "$NP_RUN_DIR/vlan100.bpf.o" program vlan_out
}
# vlan_drops: frames core/eth0's VLAN ingress dropped (untagged, other VLAN).
vlan_drops() { in_ns core tc -s qdisc show dev eth0 | sed -n '/clsact/,$ s/.*(dropped \([0-9]*\),.*/\1/p' | head -1; }
section_qos() {
	local vlan_drops0 redirect0 egress0 redirected via_kernel far_lines acc_lines media_far sig_core media_acc sig_acc n_a
	cat >"$NP_RUN_DIR/vlan100.bpf.c" <<-'EOF'
		#include <linux/bpf.h>
		#include <linux/if_ether.h>
		#include <linux/pkt_cls.h>
		#include <bpf/bpf_endian.h>
		#include <bpf/bpf_helpers.h>
		SEC("tc") int vlan_in(struct __sk_buff *skb)
		{
			if (!skb->vlan_present || (skb->vlan_tci & 0xfff) != 100)
				return TC_ACT_SHOT;
			return bpf_skb_vlan_pop(skb) ? TC_ACT_SHOT : TC_ACT_OK;
		}
		SEC("tc") int vlan_out(struct __sk_buff *skb)
		{
			return bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 100) ?
				       TC_ACT_SHOT : TC_ACT_OK;
		}
		char LICENSE[] SEC("license") = "GPL";
	EOF
	local vlan_up=no
	clang -O2 -g -target bpf -I"/usr/include/$(gcc -dumpmachine)" \
		-c "$NP_RUN_DIR/vlan100.bpf.c" -o "$NP_RUN_DIR/vlan100.bpf.o" &&
		vlan_link core eth0 && vlan_link proxy core0 && vlan_up=yes
	# The point here is XDP tagging what it sends itself: that needs XDP
	# to send into core/eth0, which a veth allows only with NAPI on its
	# peer (a non-default setting; the other sections run on defaults).
	check "qos: GRO on the peers of acc0 and core0, so that XDP sends media itself" sip_fast_peers
	check "qos: the proxy-core link carries VLAN 100 (tc push/pop), Kamailio answers over it" \
		eval '[ "$vlan_up" = yes ] && in_ns proxy ping -c 1 -W 2 "$SIP_KAM_IP" >/dev/null'
	cfg qos "    dscp: 34
    sip_dscp: 26" "    dscp: 46
    sip_dscp: 24
    vlan: 100"
	check "qos: natproxyd starts: dscp 34/46, sip_dscp 26/24 (access/core), vlan 100 on core" npd_start qos
	# For the flaky check below: where natproxyd sends media out of each
	# interface as the call starts, and the peers' GRO the kernel keeps.
	# (A core0 on the kernel path here was another namespace's lost XDP
	# frames, on an interface with core0's index, counted against core0
	# before the xmit tracepoints looked at the namespace: it sticks, as
	# the pins outlive each section's natproxyd. why_kernel says so.)
	diag "qos: media out (acc0 core0): $(ctl status --json | python3 -S -c 'import json,sys; print(" / ".join("%s(ifindex %d)=%s, %d xmit drops%s" % (i["name"], i["ifindex"], i["media_out"], i["xmit_drops"], ": " + i["why_kernel"] if i["why_kernel"] else "") for i in json.load(sys.stdin)["interfaces"]))'); GRO: acc/p-proxy $(in_ns acc ethtool -k p-proxy | sed -n 's/^generic-receive-offload: //p'), core/eth0 $(in_ns core ethtool -k eth0 | sed -n 's/^generic-receive-offload: //p')"
	capture_start core eth0 qos-far.pcap
	capture_start acc p-proxy qos-acc.pcap
	capture lan1 eth0 qos-a.pcap udp
	far_uas qos-far
	FAR=$SIP_LAST_PID
	status_snap
	redirect0=$(verdict redirect)
	vlan_drops0=$(vlan_drops)
	egress0=$(($(verdict pass-egress-by-kernel) + $(verdict pass-no-route)))
	check "qos: A's call to the far end over VLAN 100 completes" sipp_run lan1 qos-a uac "${A_UA[@]}"
	check "qos: the far end's side completes" sip_wait "$FAR" 20
	stop_captures
	status_snap
	redirected=$(($(verdict redirect) - redirect0))
	via_kernel=$(($(verdict pass-egress-by-kernel) + $(verdict pass-no-route) - egress0))
	far_lines=$(helper pcap-lines "$NP_RUN_DIR/qos-far.pcap")
	acc_lines=$(helper pcap-lines "$NP_RUN_DIR/qos-acc.pcap")
	# columns: src sport dst dport ip_len vlan dscp
	media_far=$(echo "$far_lines" | awk -v s="$SIP_PROXY_CORE_IP" -v d="$SIP_FAR_IP" '$1 == s && $3 == d && $4 == 7000')
	sig_core=$(echo "$far_lines" | awk -v s="$SIP_PROXY_CORE_IP" -v d="$SIP_KAM_IP" '$1 == s && $2 >= 20000 && $2 <= 20999 && $3 == d && $4 == 5060')
	media_acc=$(echo "$acc_lines" | awk -v s="$SIP_PROXY_ACC_IP" -v d="$SIP_NAT1_IP" '$1 == s && $2 >= 30000 && $2 <= 30999 && $3 == d')
	sig_acc=$(echo "$acc_lines" | awk -v s="$SIP_PROXY_ACC_IP" -v d="$SIP_NAT1_IP" '$1 == s && $2 == 5060 && $3 == d')
	diag "qos: XDP redirected $redirected packets; $via_kernel went up to the kernel for want of an egress"
	# What natproxyd said of its interfaces' XDP path, should that be why.
	grep -E "XDP cannot send|media leaves by|were dropped by" "$LOG" | sed 's/^/# qos: log: /'
	diag "qos: media at the far end (count vlan dscp): $(echo "$media_far" | awk 'NF {print $6, $7}' | sort | uniq -c | tr -s ' \n' ' ;')"
	diag "qos: media leaving by access (count vlan dscp): $(echo "$media_acc" | awk 'NF {print $6, $7}' | sort | uniq -c | tr -s ' \n' ' ;')"
	diag "qos: signaling to Kamailio (count vlan dscp): $(echo "$sig_core" | awk 'NF {print $6, $7}' | sort | uniq -c | tr -s ' \n' ' ;')"
	check_eq "qos: all 200 RTP packets reach the far end tagged VLAN 100, with DSCP 46" 200 \
		"$(echo "$media_far" | awk '$6 == 100 && $7 == 46' | grep -c .)"
	check_eq "qos: the core's VLAN 100 ingress dropped no frame (none untagged, none of another VLAN)" \
		"$vlan_drops0" "$(vlan_drops)"
	check "qos: the far end's RTP leaves by access untagged (tag popped), DSCP 34" \
		test "$(echo "$media_acc" | awk '$6 == "-" && $7 == 34' | grep -c .)" -ge 190 -a \
		"$(echo "$media_acc" | awk '$6 != "-" || $7 != 34' | grep -c .)" = 0
	read -r n_a _ <<<"$(media_sum "$NP_RUN_DIR/qos-a.pcap" "$SIP_PROXY_ACC_IP" "$SIP_A_IP")"
	check "qos: ... and reaches A" test "$n_a" -ge 190
	check "qos: XDP relayed the media itself, out of core0 (not the kernel)" \
		test "$redirected" -ge 380 -a "$via_kernel" -le 2
	check "qos: signaling from natproxy's core addresses carries DSCP 24" \
		test "$(echo "$sig_core" | grep -c .)" -ge 3 -a "$(echo "$sig_core" | awk '$7 != 24' | grep -c .)" = 0
	check "qos: ... tcpdump -v shows tos 0x60 on it" \
		bash -c "tcpdump -vnr '$NP_RUN_DIR/qos-far.pcap' 'vlan and src host $SIP_PROXY_CORE_IP and dst port 5060' 2>/dev/null | grep -q 'tos 0x60'"
	check "qos: signaling from natproxy's access socket carries DSCP 26" \
		test "$(echo "$sig_acc" | grep -c .)" -ge 3 -a "$(echo "$sig_acc" | awk '$7 != 26' | grep -c .)" = 0
	npd_stop
}

# POLICY_ONLY="latch rate" runs those sections alone (qos changes the core
# link: it runs last).
for s in access latch hijack takeover rate charge timeout restart qos; do
	case " ${POLICY_ONLY:-$s} " in *" $s "*) "section_$s" ;; esac
done
check_eq "no flow is left in the maps" 0 "$(n_flows)"
tap_done
