#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""UDP traffic for natproxy's tests, bounded in count and time.

  udp.py send BIND_ADDR:PORT DEST_ADDR:PORT COUNT [SIZE] [KIND]
      sends COUNT datagrams of SIZE payload bytes (default 172, an RTP
      packet of 20 ms G.711), KIND rtp (default) or rtcp (PT 200), 2 ms apart.
  udp.py burst COUNT BIND_ADDR:PORT,DEST_ADDR:PORT,SIZE[/SIZE...] ...
      sends COUNT datagrams from each source, taking turns and cycling
      through its sizes, with no pause: frames queue up in the kernel.
  udp.py sink BIND_ADDR:PORT SECONDS [READY_FILE [COUNT]]
      counts datagrams received for SECONDS (or until COUNT arrived, or
      SIGTERM: a test that knows when nothing more can come need not wait
      out SECONDS), prints the count; creates READY_FILE once bound, for a
      test to wait on.
"""
import signal
import socket
import struct
import sys
import time


def endpoint(text):
    host, port = text.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port))


def payload(seq, size, kind):
    if kind == "rtcp":  # sender report header, RFC 3550 6.4.1
        head = struct.pack("!BBHI", 0x80, 200, size // 4 - 1, 0x1234)
    else:  # RTP, PCMU, RFC 3550 5.1
        head = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234)
    return head + bytes((seq + i) & 0xFF for i in range(size - len(head)))


def send(bind, dest, count, size=172, kind="rtp"):
    family, local = endpoint(bind)
    _, remote = endpoint(dest)
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(local)
    for seq in range(int(count)):
        s.sendto(payload(seq, int(size), kind), remote)
        time.sleep(0.002)


def burst(count, *specs):
    senders = []
    for spec in specs:
        bind, dest, sizes = spec.split(",")
        family, local = endpoint(bind)
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind(local)
        senders.append((s, endpoint(dest)[1], [int(n) for n in sizes.split("/")]))
    for seq in range(int(count)):
        for s, remote, sizes in senders:
            s.sendto(payload(seq, sizes[seq % len(sizes)], "rtp"), remote)


def sink(bind, seconds, ready=None, count=None):
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    family, local = endpoint(bind)
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(local)
    if ready:
        open(ready, "w").close()
    s.settimeout(0.1)
    n, end = 0, time.monotonic() + float(seconds)
    while (not stopped and time.monotonic() < end and
           (count is None or n < int(count))):
        try:
            s.recv(65536)
            n += 1
        except socket.timeout:
            pass
    print(n)


if __name__ == "__main__":
    {"send": send, "burst": burst, "sink": sink}[sys.argv[1]](*sys.argv[2:])
