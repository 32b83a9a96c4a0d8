#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Sends one REGISTER and says whether anything answered it, as a terminal
that has not registered yet would find out (tests/e2e/hostile.sh).

  sip_probe.py BIND_IP:PORT DST_IP:PORT SECONDS [PAD]

Retransmits as RFC 3261 17.1.2.2 does (timer E: 0.5 s, doubling) for at
most SECONDS; PAD bytes of an extra header make it larger than the
path's MTU (a REGISTER that must be fragmented). Prints the status line of the first response, or "no
answer"; exits 0 if answered, 1 if not."""
import socket
import sys
import time

from flood import register


def main():
    bind, dst, seconds = sys.argv[1:4]
    pad = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    ip, port = bind.rsplit(":", 1)
    dst_ip, dst_port = dst.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, int(port)))
    data = register(ip, int(port), 1)
    if pad:
        data = data.replace(b"\r\nContent-Length",
                            b"\r\nX-Pad: " + b"p" * pad + b"\r\nContent-Length")
    deadline = time.monotonic() + float(seconds)
    interval = 0.5
    while time.monotonic() < deadline:
        s.sendto(data, (dst_ip, int(dst_port)))
        s.settimeout(max(0.01, min(interval, deadline - time.monotonic())))
        try:
            answer = s.recv(65535)
        except socket.timeout:
            interval *= 2
            continue
        print(answer.split(b"\r\n", 1)[0].decode(errors="replace"))
        return 0
    print("no answer")
    return 1


if __name__ == "__main__":
    sys.exit(main())
