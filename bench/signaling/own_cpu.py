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
Prints "SAMPLES FOREIGN OWN_SHARE": all samples, those of peers' receive
processing, and the share left (1.0 when perf saw nothing).
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
    samples = foreign = 0
    head, chain = None, []

    def flush():
        nonlocal samples, foreign
        if head is None:
            return
        samples += 1
        if "net_rx_action" in chain and last_dev.get(head, "") not in own_devs \
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
    share = 1.0 if samples == 0 else (samples - foreign) / samples
    print(samples, foreign, f"{share:.4f}")


if __name__ == "__main__":
    main()
