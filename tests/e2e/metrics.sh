#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of natproxyd's Prometheus endpoint: off by default; with
# metrics.listen set, GET /metrics (404 elsewhere) scraped from inside the
# proxy's namespace before, during and after real calls through Kamailio
# (terminal A behind its NAT calls the far end: once with 4 s of RTP each
# way and a BYE, once held up by the test's own RTP for as long as it reads,
# then ended by natproxyd's media timeout). The figures are checked against
# `natproxyctl calls` during a call, against the charging records and
# `natproxyctl status` after, and every page against `promtool check
# metrics`.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "natproxyd metrics end to end"
if ! command -v promtool >/dev/null; then
	skip "natproxyd metrics end to end" "promtool not installed (package prometheus; make deps)"
	tap_done
	exit 0
fi
. tests/sip/topology.sh

sip_test_begin

LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$NP_RUN_DIR/charging.log
LISTEN=127.0.0.1:9917
HELP=$NP_RUN_DIR/metrics_helper.py

# cfg FILE [EXTRA]: the usual access/core configuration, plus EXTRA lines.
cfg() {
	proxy_config "$1" sip "    media_timeout: 5" "" "keepalive:
  method: options
  interval: 60" "charging:
  file: $CHARGING" "${2:-}"
}

cat >"$HELP" <<'EOF'
import json, re, sys

def sample(page, name, labels):
    """The value of NAME{labels...} (a dict) in a page, or None."""
    for line in page.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if have == labels:
            v = float(m.group(3))
            return int(v) if v == int(v) else v
    return None

cmd = sys.argv[1]
if cmd == "value":  # value PAGE NAME [K=V...]
    page = open(sys.argv[2]).read()
    labels = dict(a.split("=", 1) for a in sys.argv[4:])
    v = sample(page, sys.argv[3], labels)
    print("absent" if v is None else v)
elif cmd == "calls":  # calls < natproxyctl calls --json: "N PACKETS" from terminals
    recs = [json.loads(l) for l in sys.stdin if l.startswith("{")]
    print(len(recs), sum(s["from_terminal"]["packets"] for r in recs for s in r["streams"]))
elif cmd == "charge":  # charge FILE DIR FIELD: summed over every record and stream
    recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    print(sum(s[sys.argv[3]][sys.argv[4]] for r in recs for s in r["streams"]))
elif cmd == "charge-drops":  # charge-drops FILE DIR REASON
    recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    print(sum(s[sys.argv[3]]["drops"][sys.argv[4]] for r in recs for s in r["streams"]))
elif cmd == "reasons":  # reasons FILE: end reasons, counted
    recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    print(" ".join("%s=%d" % (k, sum(1 for r in recs if r["end_reason"] == k))
                   for k in sorted({r["end_reason"] for r in recs})))
elif cmd == "verdict":  # verdict NAME < natproxyctl status --json
    print(json.load(sys.stdin)["verdicts"][sys.argv[2]])
EOF

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# scrape NAME [PATH]: GET http://$LISTEN/PATH inside the proxy's namespace;
# the body into NAME.prom, the status code printed.
scrape() {
	in_ns proxy tests/lib/http_get.sh "$LISTEN" "/${2-metrics}" >"$NP_RUN_DIR/$1.raw"
	head -1 "$NP_RUN_DIR/$1.raw"
	tail -n +2 "$NP_RUN_DIR/$1.raw" >"$NP_RUN_DIR/$1.prom"
}
# m NAME METRIC [K=V...]: a sample's value in NAME.prom ("absent" if none).
m() { local f=$1; shift; python3 "$HELP" value "$NP_RUN_DIR/$f.prom" "$@"; }
charge() { python3 "$HELP" charge "$CHARGING" "$@"; }
# wait_for TENTHS CMD...: until CMD succeeds (bounded).
wait_for() {
	local i
	for ((i = 0; i < $1; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}
listeners() { in_ns proxy ss -Hltn | wc -l; }

# --- off by default -----------------------------------------------------------
cfg "$NP_RUN_DIR/plain.yaml"
check "natproxyd starts without a metrics section" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/plain.yaml" --state "$NP_RUN_DIR/state"
check_eq "and listens on no TCP port (metrics are off by default)" 0 "$(listeners)"
sip_stop "$NPD_PID"

# --- on -------------------------------------------------------------------------
cfg "$NP_RUN_DIR/natproxy.yaml" "metrics:
  listen: $LISTEN"
check "natproxyd starts with metrics.listen $LISTEN" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" --state "$NP_RUN_DIR/state"
check "it logs where the metrics are served" grep -q "metrics on http://$LISTEN/metrics" "$LOG"
# A second natproxyd on the same address fails at once, before it attaches
# or opens anything (the first keeps serving).
out=$(in_ns proxy timeout 20 build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" --pin-dir "$NP_PIN_DIR" \
	--state "$NP_RUN_DIR/state2" 2>&1); rc=$?
check "a metrics port in use: natproxyd exits non-zero, saying why" \
	test "$rc" -ne 0 -a -n "$(echo "$out" | grep "cannot serve metrics on $LISTEN: Address already in use")"
[ -n "$(echo "$out" | grep 'cannot serve metrics')" ] || diag "second natproxyd: rc $rc, $(echo "$out" | tail -3)"
check "... before attaching anything" test -z "$(echo "$out" | grep -i 'attached to')"
check_eq "GET / is 404" 404 "$(scrape root "")"
check_eq "GET /metricsx is 404" 404 "$(scrape other metricsx)"
check_eq "GET /metrics is 200" 200 "$(scrape idle)"
check "promtool check metrics accepts the page" \
	bash -c "promtool check metrics <'$NP_RUN_DIR/idle.prom' >'$NP_RUN_DIR/promtool-idle.out' 2>&1"
check_eq "idle: no call" 0 "$(m idle natproxy_calls_active pair=access/core)"
check_eq "idle: every access relay port is free" "1000 1000" \
	"$(m idle natproxy_relay_ports realm=access) $(m idle natproxy_relay_ports_free realm=access)"
check_eq "idle: no media counted" 0 "$(m idle natproxy_media_packets_total realm=access)"
# The topology's veths keep the kernel's defaults: XDP cannot send into
# them, checksums are verified (README: "Default Linux networking").
check_eq "idle: media leaves both realms through the kernel, checksums verified, nothing lost" \
	"0 0 1 1 0 0" \
	"$(m idle natproxy_link_media_by_xdp realm=access) $(m idle natproxy_link_media_by_xdp realm=core) $(m idle natproxy_link_checksums_verified realm=access) $(m idle natproxy_link_checksums_verified realm=core) $(m idle natproxy_xdp_xmit_drops_total realm=access) $(m idle natproxy_xdp_xmit_drops_total realm=core)"

# --- A registers, then calls the far end -----------------------------------------
check "A registers through its NAT" \
	sipp_run lan1 reg-a register -i 192.168.1.10 -p 5060 -key user a -key expires 60 203.0.113.1:5060
scrape reg >/dev/null
check_eq "one terminal, one registration" "1 1" \
	"$(m reg natproxy_terminals pair=access/core) $(m reg natproxy_registrations pair=access/core)"
# Kamailio challenges the REGISTER (401) and takes the retry with A's
# credentials: two REGISTERs each way.
check_eq "two REGISTERs (challenged, then with credentials) received on the access realm, two sent on the core realm" "2 2" \
	"$(m reg natproxy_sip_requests_received_total realm=access method=REGISTER) $(m reg natproxy_sip_requests_sent_total realm=core method=REGISTER)"

sipp_spawn core uas-far uas -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 7000
FAR=$SIP_LAST_PID
check "call A -> far end completes (INVITE, 200, ACK, 4 s of RTP each way, BYE)" \
	sipp_run lan1 call-a uac -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000 -s far -key user a 203.0.113.1:5060
check "the far end's side completes" sip_wait "$FAR" 20
# The record is written when the call ends, in the same loop turn as the
# counts: wait for it, then scrape.
check "one charging record is written" wait_for 50 test -s "$CHARGING"
scrape end >/dev/null
status=$(ctl status --json)

check_eq "after the call: no call active, one started, one ended by bye (the charging record's reason)" \
	"0 1 $(python3 "$HELP" reasons "$CHARGING")" \
	"$(m end natproxy_calls_active pair=access/core) $(m end natproxy_calls_started_total pair=access/core) bye=$(m end natproxy_calls_ended_total pair=access/core reason=bye)"
check_eq "after the call: media packets on the access realm = the record's packets from the terminal" \
	"$(charge from_terminal packets)" "$(m end natproxy_media_packets_total realm=access)"
check_eq "after the call: media bytes on the access realm = the record's bytes from the terminal" \
	"$(charge from_terminal bytes)" "$(m end natproxy_media_bytes_total realm=access)"
check_eq "after the call: media packets on the core realm = the record's packets to the terminal" \
	"$(charge to_terminal packets)" "$(m end natproxy_media_packets_total realm=core)"
check_eq "after the call: media bytes on the core realm = the record's bytes to the terminal" \
	"$(charge to_terminal bytes)" "$(m end natproxy_media_bytes_total realm=core)"
check "the totals kept the ended call's 200 packets each way (its flows are gone)" \
	test "$(m end natproxy_media_packets_total realm=access)" -ge 200 -a "$(ctl flows --json | wc -l)" -eq 0
for reason in source latch rate no-dest; do
	check_eq "after the call: $reason drops on the access realm = the record's" \
		"$(python3 "$HELP" charge-drops "$CHARGING" from_terminal "$reason")" \
		"$(m end natproxy_media_drops_total realm=access reason=$reason)"
done
check_eq "after the call: every relay port is free again" "1000 1000" \
	"$(m end natproxy_relay_ports_free realm=access) $(m end natproxy_relay_ports_free realm=core)"
# The INVITE is challenged (407) and sent again with credentials.
check_eq "SIP: INVITE (twice: challenged, then with credentials) and BYE received from A on access, sent to the core" "2 1 2 1" \
	"$(m end natproxy_sip_requests_received_total realm=access method=INVITE) $(m end natproxy_sip_requests_received_total realm=access method=BYE) $(m end natproxy_sip_requests_sent_total realm=core method=INVITE) $(m end natproxy_sip_requests_sent_total realm=core method=BYE)"
check_eq "SIP: the 2xx responses received on core (REGISTER, INVITE, BYE) were all sent on to A" \
	"3 3" "$(m end natproxy_sip_responses_received_total realm=core status_class=2xx) $(m end natproxy_sip_responses_sent_total realm=access status_class=2xx)"
check_eq "SIP: no rejection yet" "0 0 0" \
	"$(m end natproxy_sip_rejections_total realm=access code=400) $(m end natproxy_sip_rejections_total realm=access code=403) $(m end natproxy_sip_rejections_total realm=access code=503)"
tx=$(echo "$status" | python3 "$HELP" verdict tx)
redirect=$(echo "$status" | python3 "$HELP" verdict redirect)
check_eq "XDP verdicts tx and redirect = natproxyctl status's (no media since)" "$tx $redirect" \
	"$(m end natproxy_xdp_verdicts_total verdict=tx) $(m end natproxy_xdp_verdicts_total verdict=redirect)"
check "the state file was saved, and timed" \
	test "$(m end natproxy_state_save_duration_seconds_count)" -ge 1
check "promtool check metrics accepts the page after the call" \
	bash -c "promtool check metrics <'$NP_RUN_DIR/end.prom' >'$NP_RUN_DIR/promtool-end.out' 2>&1"
[ -s "$NP_RUN_DIR/promtool-end.out" ] && diag "promtool: $(head -5 "$NP_RUN_DIR/promtool-end.out")"

# --- a call held up by the test's own media: scraped while it lasts ------------------
# A's scenario sends no RTP and waits for a BYE, the far end's waits for it
# without uas.xml's 20 s deadline; the test sends A's RTP for
# as long as it reads, then stops, and natproxyd's media timeout (5 s on
# the access realm) ends the call with BYE both ways. The call lasts as
# long as the media: the readings below need no timing.
SIP_SIPP_TIMEOUT=120 sipp_spawn core uas-far2 uas_hold -i 198.51.100.10 -p 5060 -mi 198.51.100.10 -mp 7000
FAR=$SIP_LAST_PID
SIP_SIPP_TIMEOUT=120 sipp_spawn lan1 call-hold uac_hold -i 192.168.1.10 -p 5060 -mi 192.168.1.10 -mp 6000 -s far -key user a 203.0.113.1:5060
CALL=$SIP_LAST_PID
answered() { ctl calls --state "$NP_RUN_DIR/state" --json | grep -q '"answered": true'; }
check "the held call is answered (natproxyctl calls)" wait_for 200 answered
relay=$(ctl calls --state "$NP_RUN_DIR/state" --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["streams"][0]["access_port"])')
STOP=$NP_RUN_DIR/stop-media
# RTP from A (192.168.1.10:6010, through its NAT) to its access relay, one
# packet every 20 ms until $STOP exists (at most 60 s).
in_ns lan1 python3 -c '
import os, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.168.1.10", 6010))
n = 0
while n < 3000 and not os.path.exists(sys.argv[2]):
    s.sendto(struct.pack("!BBHII", 0x80, 0, n, n * 160, 0x4242) + bytes(160), ("203.0.113.1", int(sys.argv[1])))
    n += 1
    time.sleep(0.02)
print(n)' "$relay" "$STOP" >"$NP_RUN_DIR/held-sent" &
SENDER=$!
media_flows() { [ "$(ctl calls --state "$NP_RUN_DIR/state" --json | python3 "$HELP" calls | cut -d' ' -f2)" -gt 0 ] 2>/dev/null; }
check "natproxyctl calls shows the held call's media flowing" wait_for 150 media_flows
before=$(ctl calls --state "$NP_RUN_DIR/state" --json | python3 "$HELP" calls)
scrape during >/dev/null
after=$(ctl calls --state "$NP_RUN_DIR/state" --json | python3 "$HELP" calls)
# Packets of the first call (ended) are in the total; this call's are live.
ended=$(charge from_terminal packets)
during=$(m during natproxy_media_packets_total realm=access)
diag "from the terminal: natproxyctl calls '$before' (calls, packets), then metrics $during ($ended of them of the ended call), then natproxyctl '$after'"
check_eq "during the call: natproxyctl lists one call, the metrics one active call" "1 1 1" \
	"${before%% *} $(m during natproxy_calls_active pair=access/core) ${after%% *}"
check "during the call: media packets (ended call + live one) lie between two natproxyctl readings" \
	test "$((${before#* } + ended))" -le "$during" -a "$during" -le "$((${after#* } + ended))"
check_eq "during the call: one stream holds 2 relay ports on each realm" "998 998" \
	"$(m during natproxy_relay_ports_free realm=access) $(m during natproxy_relay_ports_free realm=core)"
check_eq "during the call: the relay latched onto the terminal twice (once per call)" 2 \
	"$(m during natproxy_latch_events_total realm=access)"
check "promtool check metrics accepts the page during the call" \
	bash -c "promtool check metrics <'$NP_RUN_DIR/during.prom' >'$NP_RUN_DIR/promtool-during.out' 2>&1"
touch "$STOP"
wait "$SENDER"
diag "the test sent $(cat "$NP_RUN_DIR/held-sent") RTP packets from A"
two_records() { [ "$(grep -c . "$CHARGING")" -eq 2 ]; }
check "the media timeout ends the held call: a second charging record" wait_for 300 two_records
check "A's side of the held call completes (it answered natproxyd's BYE)" sip_wait "$CALL" 30
check "the far end's side completes" sip_wait "$FAR" 30
scrape held >/dev/null
check_eq "after both calls: ended by bye and media-timeout, as the charging records say" \
	"$(python3 "$HELP" reasons "$CHARGING")" \
	"bye=$(m held natproxy_calls_ended_total pair=access/core reason=bye) media-timeout=$(m held natproxy_calls_ended_total pair=access/core reason=media-timeout)"
check_eq "after both calls: media packets and bytes on the access realm = the records' from the terminal" \
	"$(charge from_terminal packets) $(charge from_terminal bytes)" \
	"$(m held natproxy_media_packets_total realm=access) $(m held natproxy_media_bytes_total realm=access)"
check_eq "after both calls: media packets and bytes on the core realm = the records' to the terminal" \
	"$(charge to_terminal packets) $(charge to_terminal bytes)" \
	"$(m held natproxy_media_packets_total realm=core) $(m held natproxy_media_bytes_total realm=core)"
check_eq "after both calls: no call active, relay ports all free" "0 1000" \
	"$(m held natproxy_calls_active pair=access/core) $(m held natproxy_relay_ports_free realm=access)"
check_eq "natproxyd's BYEs are counted as requests sent on both realms" "1 1" \
	"$(m held natproxy_sip_requests_sent_total realm=access method=BYE) $(($(m held natproxy_sip_requests_sent_total realm=core method=BYE) - 1))"

# --- refusals and junk ---------------------------------------------------------------
in_ns lan0 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("203.0.113.30", 5099))
branch = "z9hG4bK" + "x" * 200
s.sendto(("OPTIONS sip:x@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.30:5099;branch=%s\r\n"
          "From: <sip:c@203.0.113.30>;tag=1\r\nTo: <sip:x@203.0.113.1>\r\nCall-ID: long@c\r\n"
          "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % branch).encode(), ("203.0.113.1", 5060))
s.sendto(b"\x00\xff" * 40, ("203.0.113.1", 5060))'
refused() { scrape junk >/dev/null; [ "$(m junk natproxy_sip_rejections_total realm=access code=400)" = 1 ] &&
	[ "$(m junk natproxy_sip_discarded_total reason=malformed)" = 2 ]; }
check "a Via branch too long is a 400 rejection; it and the junk are 2 malformed" wait_for 50 refused ||
	diag "seen: 400 rejections $(m junk natproxy_sip_rejections_total realm=access code=400), malformed $(m junk natproxy_sip_discarded_total reason=malformed)"
# Kamailio's challenges (401, 407) passed on to A are 4xx responses too:
# the 400 is one more than before the junk.
check_eq "and the 400 as a 4xx response sent on the access realm" \
	"$(($(m held natproxy_sip_responses_sent_total realm=access status_class=4xx) + 1))" \
	"$(m junk natproxy_sip_responses_sent_total realm=access status_class=4xx)"

# --- an overload: datagrams the access socket dropped unread ---------------------------
# natproxyd stopped while 3000 datagrams of 1000 bytes (CRLF pings, from A's
# NAT mapping, which the XDP guard knows) reach its access socket, about
# three times what its buffer holds (1 MiB): what the kernel counted as
# dropped for lack of room in the proxy's namespace is what natproxyd counts.
rcvbuf_errors() { in_ns proxy awk '/^Udp:/ { if (h) { print $i; exit } for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") break; h = 1 }' /proc/net/snmp; }
scrape calm >/dev/null
kernel_before=$(rcvbuf_errors)
kill -STOP "$NPD_PID"
in_ns lan1 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.168.1.10", 5060))
for _ in range(3000):
    s.sendto(b"\r\n" * 500, ("203.0.113.1", 5060))'
kernel_dropped=$(($(rcvbuf_errors) - kernel_before))
kill -CONT "$NPD_PID"
diag "the kernel dropped $kernel_dropped of the 3000 at the access socket"
counted() { scrape overload >/dev/null; [ "$(m overload natproxy_signaling_input_dropped_total realm=access)" -gt 0 ] 2>/dev/null; }
check "natproxyd counts the datagrams its access socket dropped while it was stopped" wait_for 50 counted
check_eq "as many as the kernel counted in the proxy's namespace (none before)" \
	"0 $kernel_dropped" \
	"$(m calm natproxy_signaling_input_dropped_total realm=access) $(m overload natproxy_signaling_input_dropped_total realm=access)"
check "most of them: the access socket holds about 900" test "$kernel_dropped" -ge 1000 -a "$kernel_dropped" -le 2900
check_eq "none on the core realm" 0 "$(m overload natproxy_signaling_input_dropped_total realm=core)"
check "and says so in its log" grep -q "realm 'access': $kernel_dropped signaling datagrams dropped unread" "$LOG"

grep -v '^#' "$NP_RUN_DIR/end.prom" | grep -v ' 0$' | head -40 | sed 's/^/# /'
sip_stop "$NPD_PID"
check "natproxyd stops cleanly, the endpoint with it" grep -q 'shutting down' "$LOG"
tap_done
