#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of the H.248 driver with real H.248 stacks (issue 12):
# two media gateways and a media gateway controller written on Erlang's
# megaco application (tests/e2e/megaco/*.erl; text encoding over UDP), on
# the SIP harness's namespaces (tests/sip/README.md): MG 1 at
# 192.168.1.10 behind NAT 1, MG 2 at 192.168.2.10 behind NAT 2, the MGC at
# 198.51.100.2:2944 in the core, natproxyd between them with a pair that
# carries H.248 only. Both gateways register with a ServiceChange through
# natproxyd; the MGC joins them with one RTP stream (Add with Local CHOOSE
# on MG 1, Add with MG 1's Local as Remote on MG 2, Modify of MG 1 with MG
# 2's Local as Remote), each MG sends 50 RTP packets to the address it was
# given and counts what arrives, the MGC Subtracts both and gets their
# counts as statistics. Twice, in one run of the three Erlang VMs: with the
# pretty text encoder, then (the gateways re-registering from the same
# port, as rebooted gateways would) the compact one. Checked: RTP both
# ways, relayed by XDP (its verdicts and the flows' counters, nothing
# through the proxy's kernel), the charging records against the gateways'
# counts and the captures, and every captured H.248 message decoding in
# tshark with no malformed field.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "H.248 with erlang-megaco peers"
command -v erlc >/dev/null && [ -d /usr/lib/erlang/lib/megaco-*/include ] || {
	echo "1..0 # SKIP erlang-megaco, erlang-dev not installed (make deps)"
	exit 0
}
. tests/sip/topology.sh

gateway_test_begin

LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$NP_RUN_DIR/charging.log
D=$NP_RUN_DIR/megaco
EBIN=$NP_RUN_DIR/ebin
PACKETS=50
mkdir -p "$D" "$EBIN"

gateway_config h248 3 'metrics:' '  listen: 127.0.0.1:9917'

check "the Erlang MG and MGC compile" erlc -o "$EBIN" tests/e2e/megaco/*.erl
check "natproxyd starts with an H.248-only pair" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" \
		--state "$NP_RUN_DIR/state"

capture lan1 eth0 mg1.pcap udp
CAPS=("$SIP_LAST_PID")
capture lan2 eth0 mg2.pcap udp
CAPS+=("$SIP_LAST_PID")
capture core eth0 core.pcap udp
CAPS+=("$SIP_LAST_PID")

erl_vm() { # NS LOG MODULE ARGS...: one Erlang VM, PID in SIP_LAST_PID
	local ns=$1 log=$2 mod=$3
	shift 3
	sip_spawn "$ns" env ERL_CRASH_DUMP_SECONDS=0 erl -noshell -noinput -pa "$EBIN" -run "$mod" main "$D" "$@" \
		>"$NP_RUN_DIR/$log" 2>&1
}
erl_vm core mgc.log np_megaco_mgc "$SIP_KAM_IP"
MGC_PID=$SIP_LAST_PID
erl_vm lan1 mg1.log np_megaco_mg mg1 "$SIP_A_IP" "$SIP_PROXY_ACC_IP" 4000 100
MG1_PID=$SIP_LAST_PID
erl_vm lan2 mg2.log np_megaco_mg mg2 "$SIP_B_IP" "$SIP_PROXY_ACC_IP" 4002 200
MG2_PID=$SIP_LAST_PID

ctl() { in_ns proxy build/natproxyctl --pin-dir "$NP_PIN_DIR" "$@"; }
# await FILE...: waits (bounded, 20 s) until the Erlang peers wrote them.
await() {
	local f i
	for f in "$@"; do
		for ((i = 0; i < 200; i++)); do
			[ -e "$D/$f" ] && continue 2
			sleep 0.1
		done
		return 1
	done
}
# field FILE KEY [LINE]: the word after KEY on line LINE (default 1).
field() {
	sed -n "${3:-1}p" "$D/$1" | awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'
}
# relayed: packets XDP rewrote and sent on (itself, or handed to the
# kernel to deliver: never to natproxyd's sockets).
relayed() {
	ctl status --json | python3 -c 'import json, sys
v = json.load(sys.stdin)["verdicts"]
print(sum(v[k] for k in ("redirect", "tx", "pass-no-neighbour", "pass-no-route", "pass-egress-by-kernel")))'
}
# flow_packets LOCAL: packets the flow at the relay address LOCAL counted.
flow_packets() {
	ctl flows --json | python3 -c 'import json, sys
print(sum(json.loads(l)["packets"] for l in sys.stdin if json.loads(l)["local"] == sys.argv[1]))' "$1"
}
# rec CALL KEY: a field of CALL's charging record ("none" without one).
rec() {
	/usr/bin/python3 - "$CHARGING" "$1" "$2" <<-'EOF'
		import json, sys
		r = [json.loads(l) for l in open(sys.argv[1])]
		r = [x for x in r if x["call_id"] == sys.argv[2]]
		if not r:
		    print("none"); sys.exit()
		v = r[0]
		for k in sys.argv[3].split("."):
		    v = v[int(k)] if k.isdigit() else v[k]
		print(sum(v.values()) if isinstance(v, dict) else v)
	EOF
}

MIDS=()
for round in 1 2; do
	enc=$([ $round = 1 ] && echo pretty || echo compact)
	before=$(relayed)
	touch "$D/round.$round"
	check "[$enc] both gateways registered through their NATs, the MGC set up the stream" \
		await "mg1.registered.$round" "mg2.registered.$round" "media.$round"
	[ -e "$D/media.$round" ] || break
	for i in 1 2; do
		mid=$(field "media.$round" gw $i)
		MIDS+=("$mid")
		check "[$enc] the MGC knows gateway $i by a core mId of natproxy's ($mid)" \
			sh -c "echo '$mid' | grep -Eq '^\[$SIP_PROXY_CORE_IP\]:20[0-9]{3}$'"
		check "[$enc] gateway $i's Local reached the MGC at a core relay ($(field "media.$round" local $i))" \
			sh -c "echo '$(field "media.$round" local $i)' | grep -Eq '^$SIP_PROXY_CORE_IP:40[0-9]{3}$'"
	done
	check "[$enc] the two gateways are two mIds at the MGC" \
		test "$(field "media.$round" gw 1)" != "$(field "media.$round" gw 2)"
	relay1=$(field "media.$round" local 1) relay2=$(field "media.$round" local 2)
	touch "$D/go.$round"
	check "[$enc] both gateways sent their $PACKETS RTP packets" \
		await "mg1.sent.$round" "mg2.sent.$round"
	sleep 0.3
	# While the stream is up: what its flows counted in the BPF maps.
	at_relay1=$(flow_packets "$relay1") at_relay2=$(flow_packets "$relay2")
	touch "$D/end.$round"
	check "[$enc] the MGC Subtracted both terminations" \
		await "result.$round" "mg1.done.$round" "mg2.done.$round"
	[ -e "$D/result.$round" ] || break
	after=$(relayed)
	declare -A pr=() ps=() call=()
	for mg in mg1 mg2; do
		ctx=$(field "$mg.done.$round" ctx) term=$(field "$mg.done.$round" term)
		call[$mg]="h248:$ctx/$term"
		pr[$mg]=$(field "$mg.done.$round" pr) ps[$mg]=$(field "$mg.done.$round" ps)
		line=$(grep -n " ctx $ctx term $term " "$D/result.$round" | cut -d: -f1)
		check_eq "[$enc] $mg's Subtract reply carried its counts to the MGC" \
			"${ps[$mg]} ${pr[$mg]}" \
			"$(field "result.$round" ps "${line:-9}") $(field "result.$round" pr "${line:-9}")"
	done
	diag "[$enc] RTP: mg1 sent ${ps[mg1]}, received ${pr[mg1]}; mg2 sent ${ps[mg2]}, received ${pr[mg2]};" \
		"XDP relayed $((after - before)); flows at the core relays counted $at_relay1 and $at_relay2"
	# The first packet of the side that starts second may meet a relay
	# not latched yet (dropped and counted as such, never billed).
	check "[$enc] RTP mg1 -> mg2 arrived (${pr[mg2]} of $PACKETS)" test "${pr[mg2]}" -ge $((PACKETS - 1))
	check "[$enc] RTP mg2 -> mg1 arrived (${pr[mg1]} of $PACKETS)" test "${pr[mg1]}" -ge $((PACKETS - 1))
	check "[$enc] XDP relayed every packet the gateways received ($((after - before)))" \
		test $((after - before)) -ge $((pr[mg1] + pr[mg2]))
	for mg in mg1 mg2; do
		other=$([ $mg = mg1 ] && echo mg2 || echo mg1)
		c=${call[$mg]}
		check_eq "[$enc] $mg's termination ($c) ended by the Subtract (bye)" bye "$(rec "$c" end_reason)"
		check_eq "[$enc] $c billed: the packets $mg received" "${pr[$mg]}" "$(rec "$c" streams.0.to_terminal.packets)"
		check_eq "[$enc] $c billed: the packets $mg sent" "${ps[$mg]}" "$(rec "$c" streams.0.from_terminal.packets)"
		check_eq "[$enc] $c: what $other sent is delivered or counted as a drop" "${ps[$other]}" \
			"$(($(rec "$c" streams.0.to_terminal.packets) + $(rec "$c" streams.0.to_terminal.drops)))"
	done
	unset pr ps call
done
check "the MGC finished both rounds" sip_wait "$MGC_PID" 10
check "MG 1 finished both rounds" sip_wait "$MG1_PID" 10
check "MG 2 finished both rounds" sip_wait "$MG2_PID" 10
for pid in "${CAPS[@]}"; do
	stop_capture "$pid"
done

# --- the captures -----------------------------------------------------------------
rtp_to() { # FILE DST PORT: valid RTP packets (172 bytes) to DST:PORT
	tests/lib/pcap_udp.py "$1" |
		awk -v d="$2" -v p="$3" '$3 == d && $4 == p && $10 == 172 && $8 != "bad" && $9 != "bad"' | wc -l
}
billed() { # MG: packets billed to it over both rounds
	local c n=0
	for c in $(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["terminal"].startswith(sys.argv[2]):
        print(r["call_id"])' "$CHARGING" "$1"); do
		n=$((n + $(rec "$c" streams.0.to_terminal.packets)))
	done
	echo $n
}
check_eq "four charging records (two terminations, two rounds)" 4 "$(grep -c . "$CHARGING")"
cap1=$(rtp_to "$NP_RUN_DIR/mg1.pcap" "$SIP_A_IP" 4000)
cap2=$(rtp_to "$NP_RUN_DIR/mg2.pcap" "$SIP_B_IP" 4002)
diag "RTP captured: $cap1 at mg1, $cap2 at mg2 (both rounds)"
check_eq "the capture at mg1 holds what its records billed" "$(billed "$SIP_NAT1_IP")" "$cap1"
check_eq "the capture at mg2 holds what its records billed" "$(billed "$SIP_NAT2_IP")" "$cap2"
check_eq "no UDP checksum error at any NAT, gateway or the core" 0 "$(sip_csum_errors)"
check_eq "nothing crossed the proxy's kernel between the two sides" 0 "$(sip_leaks)"
# capture_stats FILE NET REGEX: one tshark pass over a capture (H.248 on
# 2944 and the gateways' core ports), printed as "megaco bad pretty
# compact leaks": the H.248 messages, frames tshark finds malformed or in
# error, messages in the pretty (MEGACO/) and the compact (!/) form, and
# packets with an address of NET (a CIDR) in their IP header or text
# matching REGEX in their payload. "none" for an empty capture.
capture_stats() {
	local dec=(-d udp.port==2944,megaco) mid
	for mid in $(printf '%s\n' "${MIDS[@]}" | sort -u); do
		dec+=(-d "udp.port==${mid##*:},megaco")
	done
	[ -s "$1" ] || { echo none; return; }
	tshark -r "$1" "${dec[@]}" -T fields -E separator=/t -e frame.protocols \
		-e ip.src -e ip.dst -e _ws.expert.severity -e udp.payload 2>/dev/null |
		/usr/bin/python3 -c 'import ipaddress, re, sys
net, text = ipaddress.ip_network(sys.argv[1]), re.compile(sys.argv[2].encode())
n = dict(megaco=0, bad=0, pretty=0, compact=0, leaks=0)
for line in sys.stdin:
    f = (line.rstrip("\n").split("\t") + [""] * 5)[:5]
    payload = bytes.fromhex(f[4]) if f[4] else b""
    if "megaco" in f[0].split(":"):
        n["megaco"] += 1
        n["pretty"] += payload.startswith(b"MEGACO/")
        n["compact"] += payload.startswith(b"!/")
    # Expert severity "error" is 0x00800000 and up (epan/proto.h).
    if "_ws.malformed" in f[0] or any(int(v) >= 0x800000 for v in f[3].split(",") if v):
        n["bad"] += 1
    if any(a and ipaddress.ip_address(a) in net for a in f[1:3]) or text.search(payload):
        n["leaks"] += 1
print(" ".join(str(n[k]) for k in ("megaco", "bad", "pretty", "compact", "leaks")))' "$2" "$3"
}
for cap in core mg1 mg2; do
	if [ $cap = core ]; then
		set -- $(capture_stats "$NP_RUN_DIR/$cap.pcap" 192.168.0.0/16 '192\.168\.')
		what="no private address reached the core"
	else
		set -- $(capture_stats "$NP_RUN_DIR/$cap.pcap" 198.51.100.0/24 '198\.51\.100\.')
		what="no core address reached $cap"
	fi
	[ $# = 5 ] || set -- 0 0 0 0 "no capture"
	check "every H.248 message captured at $cap ($1) decodes in tshark, none malformed ($2)" \
		test "$1" -ge 10 -a "$2" -eq 0
	check "... in both forms: $3 pretty (MEGACO/1), $4 compact (!/1)" test "$3" -ge 5 -a "$4" -ge 5
	check_eq "$what, in headers or payloads" 0 "$5"
done
# metric NAME LABELS: a sample's value on natproxyd's metrics page.
metric() {
	in_ns proxy /usr/bin/python3 - "$1{$2}" <<-'EOF'
		import sys, urllib.request
		page = urllib.request.urlopen("http://127.0.0.1:9917/metrics", timeout=5).read().decode()
		print(next((l.split()[-1] for l in page.splitlines() if l.startswith(sys.argv[1] + " ")), "absent"))
	EOF
}
sent() { metric natproxy_h248_commands_sent_total "realm=\"access\",command=\"$1\""; }
check_eq "metrics: the MGC's commands sent on to the gateways, per command (Add, Modify, Subtract)" \
	"4 2 4" "$(sent Add) $(sent Modify) $(sent Subtract)"
sc=$(metric natproxy_h248_commands_received_total 'realm="access",command="ServiceChange"')
av=$(sent AuditValue)
check "metrics: the gateways' ServiceChanges received ($sc), natproxy's AuditValue keepalives sent ($av)" \
	test "$sc" -ge 4 -a "$av" -ge 2
sip_stop "$NPD_PID"
check "natproxyd logged no error" sh -c "! grep -qi 'error' '$LOG'"
tap_done
