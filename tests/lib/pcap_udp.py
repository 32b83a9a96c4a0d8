#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Prints one line per UDP packet in pcap files (Ethernet link type), with
the fields natproxy's tests assert on and both checksums verified by a full
recomputation (RFC 1071), independent of the XDP program's own:

  src sport dst dport dscp ttl vlan ip_csum udp_csum length payload_sha1
"""
import hashlib
import ipaddress
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_ok(pseudo, udp):
    """ok: complete and right; partial: the folded pseudo-header sum that a
    sender with checksum offload leaves for the device to finish (seen on
    a veth, where no device does), right for this packet's addresses;
    none: IPv4 without a checksum; bad: anything else."""
    field = struct.unpack("!H", udp[6:8])[0]
    if field == 0:
        return "none" if len(pseudo) == 12 else "bad"
    if csum(pseudo + udp) == 0xFFFF:
        return "ok"
    return "partial" if field == csum(pseudo) else "bad"


def packets(path):
    with open(path, "rb") as f:
        magic = f.read(24)[:4]
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        while True:
            hdr = f.read(16)
            if len(hdr) < 16:
                return
            caplen = struct.unpack(endian + "IIII", hdr)[2]
            yield f.read(caplen)


def describe(frame):
    proto, off, vlan = struct.unpack("!H", frame[12:14])[0], 14, "-"
    if proto in (0x8100, 0x88A8):
        vlan = str(struct.unpack("!H", frame[14:16])[0] & 0xFFF)
        proto, off = struct.unpack("!H", frame[16:18])[0], 18
    if proto == 0x0800:
        ihl = (frame[off] & 0xF) * 4
        ip = frame[off:off + ihl]
        if ip[9] != 17:
            return None
        total = struct.unpack("!H", ip[2:4])[0]
        udp = frame[off + ihl:off + total]
        src, dst = ipaddress.IPv4Address(ip[12:16]), ipaddress.IPv4Address(ip[16:20])
        tos, ttl = ip[1], ip[8]
        ip_ok = "ok" if csum(ip) == 0xFFFF else "bad"
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    elif proto == 0x86DD:
        ip = frame[off:off + 40]
        if ip[6] != 17:
            return None
        plen = struct.unpack("!H", ip[4:6])[0]
        udp = frame[off + 40:off + 40 + plen]
        src, dst = ipaddress.IPv6Address(ip[8:24]), ipaddress.IPv6Address(ip[24:40])
        tos = ((ip[0] & 0xF) << 4) | (ip[1] >> 4)
        ttl, ip_ok = ip[7], "n/a"
        pseudo = ip[8:40] + struct.pack("!IxxxB", len(udp), 17)
    else:
        return None
    sport, dport = struct.unpack("!HH", udp[0:4])
    return " ".join(str(x) for x in (
        src, sport, dst, dport, tos >> 2, ttl, vlan, ip_ok, udp_ok(pseudo, udp),
        len(udp) - 8, hashlib.sha1(udp[8:]).hexdigest()[:12]))


for path in sys.argv[1:]:
    for frame in packets(path):
        line = describe(frame)
        if line:
            print(line)
