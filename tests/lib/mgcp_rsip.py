#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Sends one MGCP RSIP from another process's UDP port (a raw socket, the
kernel writes the IP header): for a gateway that never sends RSIP itself
(osmo-mgw), so the NAT in front of it opens the mapping a residential
gateway's RSIP would, and natproxy learns the gateway there.

  mgcp_rsip.py SRC_IP SRC_PORT DST_IP DST_PORT ENDPOINT [TXID]
"""
import socket
import struct
import sys

src, sport, dst, dport, ep = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
txid = sys.argv[6] if len(sys.argv) > 6 else "1"
payload = ("RSIP %s %s MGCP 1.0\r\nRM: restart\r\n" % (txid, ep)).encode()


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
c = csum(pseudo + udp) or 0xFFFF
udp = udp[:6] + struct.pack("!H", c) + udp[8:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.bind((src, 0))
s.sendto(udp, (dst, 0))
