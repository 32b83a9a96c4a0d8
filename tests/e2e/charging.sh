#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End-to-end test of charging on a full disk (issue 11, item 6): the
# charging file on a tiny tmpfs of the test's own, filled up while calls
# end. Terminal A (behind its NAT) calls a user nobody registered through
# natproxy and Kamailio (404: one "rejected" record per call, at once).
# While the disk is full, no record is torn (every line of the file is
# whole JSON) and the metrics show the records held; once space is freed,
# every record arrives, once, in the order the calls ended. Then the disk
# is filled again and natproxyd stopped: the held records go to the spool
# next to the state file; a torn tail is appended by hand (a crash
# mid-write); the next start moves the tail to FILE.torn and writes the
# spooled records, once, in order.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
require_root "charging on a full disk end to end"
. tests/sip/topology.sh

sip_test_begin
CHG=$NP_RUN_DIR/chg
# The tmpfs goes before the run directory does, also on failure.
chg_down() {
	mountpoint -q "$CHG" 2>/dev/null && { umount "$CHG" 2>/dev/null || umount -l "$CHG"; }
	sip_topology_down
}
trap chg_down EXIT

LOG=$NP_RUN_DIR/natproxyd.log
CHARGING=$CHG/charging.log
STATE=$NP_RUN_DIR/state
SPOOL=$STATE.charging-spool
LISTEN=127.0.0.1:9917

mkdir -p "$CHG" && mount -t tmpfs -o size=64k,mode=0755 np-charging "$CHG" ||
	{ echo "not ok - tmpfs for the charging file"; exit 1; }

proxy_config "$NP_RUN_DIR/natproxy.yaml" sip "" "" "charging:
  file: $CHARGING" "metrics:
  listen: $LISTEN"

# The metric NAME's value on natproxyd's page.
metric() {
	in_ns proxy python3 -c '
import sys, urllib.request
page = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode()
for line in page.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(int(float(line.split()[1])))' "$LISTEN" "$1"
}
# check_file FILE: "N whole" (every line valid JSON, ending in a newline),
# else what is wrong; the Call-IDs, one a line, into FILE.ids.
check_file() {
	python3 - "$1" <<-'EOF'
		import json, sys
		data = open(sys.argv[1], "rb").read()
		ids = []
		bad = 0
		for line in data.split(b"\n")[:-1]:
		    try:
		        ids.append(json.loads(line)["call_id"])
		    except Exception:
		        bad += 1
		open(sys.argv[1] + ".ids", "w").write("".join(i + "\n" for i in ids))
		tail = "" if not data or data.endswith(b"\n") else ", a last line without its newline"
		print("%d whole" % len(ids) + (", %d not JSON" % bad if bad else "") + tail)
	EOF
}
# call N: one call from A to nobody; its Call-ID appended to calls.ids.
call() {
	sipp_run lan1 "call$1" invite_404 -i "$SIP_A_IP" -p 5060 -mi "$SIP_A_IP" -mp 6000 \
		-s nobody -key user a "$SIP_PROXY_ACC_IP:5060" || return 1
	sed -n 's/^Call-ID: //p' "$NP_RUN_DIR/call$1.msg" | head -1 | tr -d '\r' >>"$NP_RUN_DIR/calls.ids"
}
# fill: the tmpfs full (what is left of the charging file's last page
# stays free: a record that crosses into a new page comes up short).
fill() { dd if=/dev/zero of="$CHG/fill" bs=4k >/dev/null 2>&1; true; }
wait_for() {
	local i
	for ((i = 0; i < $1; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}
pending_is() { [ "$(metric natproxy_charging_records_pending)" = "$1" ]; }
: >"$NP_RUN_DIR/calls.ids"

check "natproxyd starts, charging to a file on a 64 KiB tmpfs" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" --state "$STATE"
check "A registers" sipp_run lan1 reg-a register -i "$SIP_A_IP" -p 5060 -key user a -key expires 300 \
	"$SIP_PROXY_ACC_IP:5060"

# --- the disk fills while calls end ------------------------------------------
N1=2 N2=10
for ((n = 1; n <= N1; n++)); do call "$n"; done
check_eq "two calls with room: two whole records" "$N1 whole" "$(check_file "$CHARGING")"
fill
failures_before=$(metric natproxy_charging_write_failures_total)
for ((n = N1 + 1; n <= N2; n++)); do call "$n"; done
check_eq "all $N2 calls completed (404 from Kamailio)" "$N2" "$(grep -c . "$NP_RUN_DIR/calls.ids")"
full=$(check_file "$CHARGING")
check "disk full: no torn record in the file ($full)" \
	test -z "$(echo "$full" | grep -E 'not JSON|newline')"
written=${full%% *}
pending=$(metric natproxy_charging_records_pending)
failures=$(metric natproxy_charging_write_failures_total)
diag "disk full: $written records in the file, $pending pending, $failures failed attempts (before the fill: $failures_before)"
check "disk full: the metrics show the records held (pending $pending > 0, written + pending = $N2)" \
	test "$pending" -gt 0 -a "$((written + pending))" -eq "$N2"
check "disk full: write failures counted" test "$failures" -gt 0
check_eq "disk full: one log line when writing began failing, none per record" 1 \
	"$(grep -c 'record not written' "$LOG")"
check "natproxyd keeps answering while the disk is full (metrics)" test -n "$(metric natproxy_charging_records_written_total)"

rm -f "$CHG/fill"
check "space freed: within 3 s nothing is pending" wait_for 30 pending_is 0
check_eq "space freed: $N2 whole records in the file" "$N2 whole" "$(check_file "$CHARGING")"
check "space freed: each call's record once, in the order the calls ended" \
	cmp -s "$CHARGING.ids" "$NP_RUN_DIR/calls.ids"
check "space freed: one log line says writing works again, with the records held" \
	grep -q "writing again, $pending held records written" "$LOG"
check_eq "metrics: $N2 records written" "$N2" "$(metric natproxy_charging_records_written_total)"

# --- full at shutdown: the spool, and a torn tail at the next start ------------
fill
N3=14
for ((n = N2 + 1; n <= N3; n++)); do call "$n"; done
held=$(metric natproxy_charging_records_pending)
sip_stop "$NPD_PID"
check "full at shutdown: the held records ($held) saved to the spool next to the state file" \
	grep -q "charging: $held records could not be written to '$CHARGING': saved to '$SPOOL'" "$LOG"
inspool=$(check_file "$SPOOL")
check_eq "the spool holds them whole" "$held whole" "$inspool"
before=$(check_file "$CHARGING")
check "no torn record in the file after the shutdown ($before)" \
	test -z "$(echo "$before" | grep -E 'not JSON|newline')"
rm -f "$CHG/fill"
# A crash mid-write leaves the start of a record without its newline.
printf '{"call_id": "torn-by-a-crash", "streams": [{"ind' >>"$CHARGING"
check "natproxyd starts again" \
	natproxyd_start "$LOG" build/natproxyd -c "$NP_RUN_DIR/natproxy.yaml" --state "$STATE"
check "at start: the torn tail is moved to charging.log.torn, logged" \
	grep -q "ended with a torn record.*48 bytes moved to '$CHARGING.torn'" "$LOG"
check "... where its bytes are" grep -q '"torn-by-a-crash"' "$CHARGING.torn"
check "at start: the spool is re-read and written, and removed" \
	wait_for 30 test ! -e "$SPOOL"
check_eq "every record of the $N3 calls in the file, whole" "$N3 whole" "$(check_file "$CHARGING")"
check "each call's record once, in the order the calls ended" \
	cmp -s "$CHARGING.ids" "$NP_RUN_DIR/calls.ids"
call $((N3 + 1))
check_eq "a new call's record follows them" "$((N3 + 1)) whole" "$(check_file "$CHARGING")"
sip_stop "$NPD_PID"
tap_done
