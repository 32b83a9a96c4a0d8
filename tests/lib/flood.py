#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Sends a bounded flood of SIP-shaped datagrams from one socket, as an
attacker on the access network would (tests/e2e/hostile.sh).

  flood.py MODE DST_IP DST_PORT COUNT RATE [STREAMS [NET16]]

MODE: sdp-options (OPTIONS, each with an SDP of STREAMS audio streams),
invite (unique INVITEs with one stream), junk (200 random bytes),
spoof-register (REGISTERs from STREAMS spoofed sources in 203.0.113.100-
199, each with a port of its own: a raw socket writes the IP header; with
NET16, e.g. 198.18, STREAMS addresses of that /16 instead, which the test
routes: answers to on-link sources wait for ARP and fill the proxy's
socket buffer, which real spoofed sources beyond a router do not). COUNT
datagrams at about RATE a second; never runs longer than COUNT/RATE + 5 s.
FLOOD_FROM=ADDR in the environment sends from that address (else the
route's). Prints how many were sent and the rate reached."""
import os
import socket
import struct
import sys
import time


def sdp(ip, streams):
    lines = ["v=0", "o=x 1 1 IN IP4 %s" % ip, "s=-", "c=IN IP4 %s" % ip,
             "t=0 0"]
    for i in range(streams):
        lines += ["m=audio %d RTP/AVP 0" % (6000 + 2 * i)]
    return "\r\n".join(lines) + "\r\n"


def sip(method, ip, port, n, body):
    return ("%s sip:far@example.test SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-fl%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:x@example.test>;tag=fl%d\r\n"
            "To: <sip:far@example.test>\r\n"
            "Call-ID: flood%d@%s\r\n"
            "CSeq: 1 %s\r\n"
            "Contact: <sip:x@%s:%d>\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Length: %d\r\n\r\n%s"
            % (method, ip, port, n, n, n, ip, method, ip, port, len(body),
               body)).encode()


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def spoofed(src, sport, dst, dport, payload):
    """An IPv4/UDP datagram from src:sport, both checksums right."""
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xffff) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + udp


def register(ip, port, n):
    return ("REGISTER sip:example.test SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-sp%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:spoof%d@example.test>;tag=sp%d\r\n"
            "To: <sip:spoof%d@example.test>\r\n"
            "Call-ID: spoof%d@%s\r\n"
            "CSeq: 1 REGISTER\r\n"
            "Contact: <sip:spoof%d@%s:%d>\r\n"
            "Expires: 3600\r\n"
            "Content-Length: 0\r\n\r\n"
            % (ip, port, n, n, n, n, n, ip, n, ip, port)).encode()


def main():
    mode, dst, dport, count, rate = sys.argv[1:6]
    streams = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    dport, count, rate = int(dport), int(count), int(rate)
    if mode == "spoof-register":
        net = sys.argv[7] if len(sys.argv) > 7 else None
        return spoof(dst, dport, count, rate, streams, net)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if os.environ.get("FLOOD_FROM"):
        s.bind((os.environ["FLOOD_FROM"], 0))
    s.connect((dst, dport))
    ip, port = s.getsockname()
    body = sdp(ip, streams)
    start = time.monotonic()
    deadline = start + count / rate + 5
    sent = 0
    while sent < count and time.monotonic() < deadline:
        if mode == "junk":
            data = os.urandom(200)
        else:
            data = sip("OPTIONS" if mode == "sdp-options" else "INVITE",
                       ip, port, sent, body)
        try:
            s.send(data)
        except OSError:
            pass
        sent += 1
        # Pace: ahead of the schedule, wait for it.
        ahead = start + sent / rate - time.monotonic()
        if ahead > 0.002:
            time.sleep(ahead)
    took = time.monotonic() - start
    print("%d %.0f" % (sent, sent / took if took else 0))


def spoof(dst, dport, count, rate, sources, net):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    start = time.monotonic()
    deadline = start + count / rate + 5
    sent = 0
    while sent < count and time.monotonic() < deadline:
        k = sent % sources
        if net:
            src = "%s.%d.%d" % (net, k // 254, 1 + k % 254)
            sport = 5060
        else:
            src = "203.0.113.%d" % (100 + k % 100)
            sport = 20000 + k // 100
        s.sendto(spoofed(src, sport, dst, dport, register(src, sport, sent)),
                 (dst, 0))
        sent += 1
        ahead = start + sent / rate - time.monotonic()
        if ahead > 0.002:
            time.sleep(ahead)
    took = time.monotonic() - start
    print("%d %.0f" % (sent, sent / took if took else 0))


if __name__ == "__main__":
    main()
