#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""What the RTP in a capture carries, over a span of time: the PCMU (payload
type 0, RFC 3551) payloads of the IPv4 UDP packets to or from one address,
decoded (G.711 mu-law) and measured as tests/lib/tone.py does. Independent
of the phones' own decoding: it says what reached (or left) a terminal,
and when.

  rtp_tone.py PCAP to|from ADDR PORT FROM TO HZ [OTHER_HZ...]

FROM and TO: capture timestamps (seconds since the epoch, as `date
+%s.%N`); packets from FROM up to TO count. One line:
"packets N pcmu M " followed by tone.py's measure line over the decoded
samples (8 kHz) of the M PCMU packets, the power of each frequency
averaged over 0.2 s blocks (a lost packet breaks a tone's phase).
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tone  # noqa: E402


def ulaw(b):
    """G.711 mu-law to 16-bit linear (ITU-T G.711, table 2)."""
    b = ~b & 0xFF
    t = (((b & 0x0F) << 3) + 0x84) << ((b & 0x70) >> 4)
    return 0x84 - t if b & 0x80 else t - 0x84


ULAW = [ulaw(i) for i in range(256)]


def frames(path):
    """(timestamp, frame) of every packet in a pcap file."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic = head[:4]
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        while True:
            hdr = f.read(16)
            if len(hdr) < 16:
                return
            sec, frac, caplen, _ = struct.unpack(endian + "IIII", hdr)
            frame = f.read(caplen)
            if len(frame) < caplen:  # a capture still being written
                return
            yield sec + frac / (1e9 if nano else 1e6), frame


def udp4(frame):
    """(src, sport, dst, dport, payload) of an IPv4 UDP frame, else None."""
    off = 14
    proto = struct.unpack("!H", frame[12:14])[0]
    if proto in (0x8100, 0x88A8):
        proto, off = struct.unpack("!H", frame[16:18])[0], 18
    if proto != 0x0800 or len(frame) < off + 28 or frame[off + 9] != 17:
        return None
    ihl = (frame[off] & 0xF) * 4
    total = struct.unpack("!H", frame[off + 2:off + 4])[0]
    udp = frame[off + ihl:off + total]
    src = ".".join(str(x) for x in frame[off + 12:off + 16])
    dst = ".".join(str(x) for x in frame[off + 16:off + 20])
    sport, dport = struct.unpack("!HH", udp[0:4])
    return src, sport, dst, dport, udp[8:]


def main(argv):
    if len(argv) < 7 or argv[1] not in ("to", "from"):
        sys.stderr.write(__doc__)
        return 2
    path, way, addr, port = argv[0], argv[1], argv[2], int(argv[3])
    start, end = float(argv[4]), float(argv[5])
    freqs = [float(f) for f in argv[6:]]
    n = m = 0
    samples = []
    for ts, frame in frames(path):
        if not start <= ts < end:
            continue
        p = udp4(frame)
        if not p:
            continue
        src, sport, dst, dport, rtp = p
        if (way == "to" and (dst, dport) != (addr, port)) or \
                (way == "from" and (src, sport) != (addr, port)):
            continue
        # RTP version 2, 12 bytes of header at least (RFC 3550 5.1).
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        n += 1
        if rtp[1] & 0x7F != 0:
            continue
        m += 1
        skip = 12 + 4 * (rtp[0] & 0x0F)
        if rtp[0] & 0x10 and len(rtp) >= skip + 4:  # header extension
            skip += 4 + 4 * struct.unpack("!H", rtp[skip + 2:skip + 4])[0]
        payload = rtp[skip:]
        if rtp[0] & 0x20 and payload:  # padding
            payload = payload[:-payload[-1]]
        samples.extend(ULAW[b] for b in payload)
    print("packets %d pcmu %d %s" % (n, m, tone.measure(8000, samples, freqs, 1600)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
