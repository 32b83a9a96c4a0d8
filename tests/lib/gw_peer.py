# SPDX-License-Identifier: GPL-2.0-only
"""What the scripted MGCP and H.248 peers (mgcp_peer.py, h248_peer.py)
share: the JSON log, the gateway's SDP and its RTP, going silent on cue,
the agent's socket, and the command line."""
import argparse
import json
import os
import re
import select
import socket
import time

RTP_PACKETS = 50


def log_line(f, **kw):
    kw["t"] = round(time.time(), 3)
    f.write(json.dumps(kw) + "\n")
    f.flush()


def gateway_sdp(ip):
    """The gateway's own SDP: G.711 from ip:4000."""
    return ("v=0\r\no=- 25678 753849 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
            "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n" % (ip, ip))


def sdp_media(sdp):
    c = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    m = re.search(r"^m=audio (\d+)", sdp, re.M)
    return (c.group(1), int(m.group(1))) if c and m else None


def rtp(seq, ssrc):
    return bytes([0x80, 0]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big") \
        + ssrc.to_bytes(4, "big") + b"\xff" * 160


def send_rtp(sock, dest, ssrc, delay=0.0):
    time.sleep(delay)
    for i in range(RTP_PACKETS):
        sock.sendto(rtp(i + 1, ssrc), dest)
        time.sleep(0.02)


def muted(a, audits):
    """Whether the gateway has gone silent: --mute-file exists, and it has
    answered natproxyd's audit once (audits > 0), or 10 s passed since the
    file came. A restarted natproxyd audits at its own phase, up to two
    keepalive intervals after adopting the gateway: without this the
    test's answered audit would race that phase."""
    if not (a.mute_file and os.path.exists(a.mute_file)):
        return False
    if not getattr(a, "mute_seen", None):
        a.mute_seen = time.time()
    return audits > 0 or time.time() - a.mute_seen > 10


class Agent:
    """The agent's side (MGCP call agent, H.248 MGC): one socket on
    a.ip:port, every datagram in and out logged."""

    def __init__(self, a, port):
        self.a = a
        self.log = open(a.log, "a")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((a.ip, port))

    def out(self, text, to):
        self.sock.sendto(text.encode(), to)
        log_line(self.log, dir="out", to="%s:%d" % to, msg=text)

    def recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        data, src = self.sock.recvfrom(65535)
        text = data.decode(errors="replace")
        log_line(self.log, dir="in", frm="%s:%d" % src, msg=text)
        return text, src


def main(gateway, agent, roles, *flags):
    """Runs gateway(args) or agent(args).run() by the first argument, one of
    roles (the gateway's name, the agent's); the agent's address is given
    to the gateway as --AGENT; flags: further boolean options."""
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=roles)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--" + roles[1])
    ap.add_argument("--media-ip")
    ap.add_argument("--log", required=True)
    ap.add_argument("--mute-file")
    ap.add_argument("--secs", type=float, default=60)
    ap.add_argument("--calls", type=int, default=1)
    ap.add_argument("--lost", action="store_true")
    ap.add_argument("--restart-file")
    for flag in flags:
        ap.add_argument(flag, action="store_true")
    a = ap.parse_args()
    if a.role == roles[0]:
        gateway(a)
    else:
        agent(a).run()
    return 0


