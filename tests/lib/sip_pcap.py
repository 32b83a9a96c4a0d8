#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""One line per SIP message (UDP, IPv4) in a pcap file, for tests to grep:

  time src sport dst dport what cseq_method call_id dir addr port

what: the request's method or the response's status code; dir: the SDP's
media direction (sendrecv, sendonly, recvonly, inactive; "hold" for a
c= of 0.0.0.0, RFC 2543) or "-" without SDP; addr port: the SDP's c= and
first m= port, "- -" without SDP. Only packets to or from port 5060.

  sip_pcap.py PCAP
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtp_tone import frames, udp4  # noqa: E402


def header(lines, names):
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() in names:
            return value.strip()
    return "-"


def describe(ts, p):
    src, sport, dst, dport, data = p
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    first = lines[0].split()
    if len(first) < 2:
        return None
    what = first[1] if first[0].startswith("SIP/") else first[0]
    cseq = header(lines[1:], ("cseq",)).split()
    call_id = header(lines[1:], ("call-id", "i"))
    direction, addr, port = "-", "-", "-"
    if "m=" in body:
        direction = "sendrecv"
        for line in body.split("\r\n"):
            if line.startswith("c=IN IP4 "):
                addr = line.split()[2]
            elif line.startswith("m=") and port == "-":
                port = line.split()[1]
            elif line in ("a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv"):
                direction = line[2:]
        if addr == "0.0.0.0":
            direction = "hold"
    return "%.6f %s %d %s %d %s %s %s %s %s %s" % (
        ts, src, sport, dst, dport, what, cseq[-1] if cseq else "-", call_id,
        direction, addr, port)


def main(argv):
    if len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    # A reader that has seen enough (awk's exit) ends us quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for ts, frame in frames(argv[0]):
        p = udp4(frame)
        if p and 5060 in (p[1], p[3]) and len(p[4]) > 4:
            line = describe(ts, p)
            if line:
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
