#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# natproxyd under callgrind, for bench/signaling.sh to start in its place:
#   SIG_NATPROXYD=bench/signaling/callgrind.sh SIG_WARMUP_S=0 SIG_OWN=0 \
#   SIG_TARGETS=natproxy SIG_RATES_CALLS=20 SIG_RATES_REGS=20 \
#   bench/signaling.sh OUT
# Instructions counted, not time: the same for the same build and traffic
# however busy the machine, so a change's cost per message shows through
# noise that hides it in CPU time. One file per natproxyd (the calls ramp's
# first), SIG_CALLGRIND_OUT.PID; `callgrind_annotate --inclusive=yes` it and
# divide np_proxy_input by the messages (5 a call: INVITE, 200, ACK, BYE, 200).
# 20 calls/s is what natproxyd keeps up with under callgrind.
exec valgrind --tool=callgrind \
	--callgrind-out-file="${SIG_CALLGRIND_OUT:-$PWD/callgrind.out}.%p" \
	"${NATPROXYD_UNDER_CALLGRIND:-$(dirname "$0")/../../build/natproxyd}" "$@"
