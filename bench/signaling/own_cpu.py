#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""The share of a proxy's CPU samples that is its own work.

    own_cpu.py PERF_DATA OWN_DEV...

PERF_DATA: `perf record -e cpu-clock -g -e net:netif_receive_skb` of the
proxy's processes over one step. A veth's transmit runs the receiving
namespace's network stack (bridge, NAT, the peer's socket) in the sender's
syscall, as a softirq at bottom-half enable, and this kernel (tick CPU
accounting without IRQ_TIME_ACCOUNTING) charges it to the sending task;
across a wire that work runs on the other host. A cpu-clock sample whose
call chain is under net_rx_action is receive processing; the packet it
processes is the one of the last net:netif_receive_skb event on the same
CPU in the same task, whose device says the namespace: one of OWN_DEV (the
proxy namespace's devices: acc0, core0, lo) is the proxy's own (Kamailio's
NG requests to rtpengine over lo stay counted), any other is a peer's.
The tracepoint's own recording (samples under perf_tp_event) is perf's
cost, not the proxy's: left out of both. Prints "SAMPLES FOREIGN PERF
TOTAL_SHARE OWN_SHARE": all samples, those of peers' receive processing,
those of perf's recording; the share of the process's CPU that is not
perf's, and the share that is its own work (both 1.0 when perf saw
nothing). The cpu-clock sampling itself (997 Hz, the call chain walked in
the timer interrupt) is not seen in the samples and stays in both.
"""
import subprocess
import sys


def main():
    data, own_devs = sys.argv[1], set(sys.argv[2:])
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "sw:tid,cpu,event,ip,sym",
         "-F", "trace:tid,cpu,event,trace"],
        capture_output=True, text=True).stdout
    last_dev = {}  # (tid, cpu) -> device of the packet being received
    samples = foreign = perf = 0
    head, chain = None, []

    def flush():
        nonlocal samples, foreign, perf
        if head is None:
            return
        samples += 1
        if "perf_tp_event" in chain:
            perf += 1
        elif "net_rx_action" in chain and last_dev.get(head, "") not in own_devs \
                and head in last_dev:
            foreign += 1

    for line in out.splitlines():
        if not line.strip():
            continue
        if line.startswith("\t"):
            if head is None:
                continue
            parts = line.split()
            if len(parts) >= 2:
                chain.append(parts[1].split("+")[0])
            continue
        fields = line.split()
        # "TID [CPU] EVENT: ..." (the event field ends in a colon)
        try:
            tid, cpu = fields[0], fields[1].strip("[]")
            event = fields[2].rstrip(":")
        except IndexError:
            continue
        if event == "net:netif_receive_skb":
            flush()
            head, chain = None, []
            for f in fields[3:]:
                if f.startswith("dev="):
                    last_dev[(tid, cpu)] = f[4:]
            continue
        flush()
        head, chain = (tid, cpu), []
    flush()
    if samples == 0:
        print(0, 0, 0, "1.0000", "1.0000")
        return
    print(samples, foreign, perf, f"{(samples - perf) / samples:.4f}",
          f"{(samples - perf - foreign) / samples:.4f}")


if __name__ == "__main__":
    main()
