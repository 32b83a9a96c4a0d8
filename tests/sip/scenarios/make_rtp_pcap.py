#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the RTP capture that the SIP scenarios play with sipp's
play_pcap_audio: G.711 mu-law (payload type 0), 160-byte payloads (20 ms of
a 440 Hz tone), one packet every 20 ms, in an Ethernet/IPv4/UDP pcap.
sipp replaces the addresses and ports with the call's, so the ones here
(198.51.100.100:6000 -> 198.51.100.101:6000) do not matter.

  make_rtp_pcap.py OUT.pcap [COUNT]     (default 200 packets: 4 s)
"""
import math
import struct
import sys


def ulaw(sample):
    """G.711 mu-law encoding of one 16-bit linear sample (as in the
    reference implementation: 14-bit magnitude, bias 33, clip 8159)."""
    value = sample >> 2
    sign = 0x80 if value < 0 else 0
    value = min(-value if value < 0 else value, 8159) + 0x21
    exponent = max(0, value.bit_length() - 6)
    mantissa = (value >> (exponent + 1)) & 0x0F
    if exponent > 7:
        exponent, mantissa = 7, 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(seq, payload, src, dst, sport, dport):
    rtp = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x4E505331) + payload
    udp_len = 8 + len(rtp)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + rtp
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, seq & 0xFFFF,
                     0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    return eth + ip + udp


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    src, dst = bytes([198, 51, 100, 100]), bytes([198, 51, 100, 101])
    samples = [int(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(160 * count)]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for seq in range(count):
            payload = bytes(ulaw(s) for s in samples[seq * 160:(seq + 1) * 160])
            data = frame(seq, payload, src, dst, 6000, 6000)
            usec = seq * 20000
            f.write(struct.pack("<IIII", 1700000000 + usec // 1000000, usec % 1000000,
                                len(data), len(data)))
            f.write(data)


if __name__ == "__main__":
    main()
