#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""A scripted call agent for osmo-mgw behind natproxy (tests/e2e/mgcp_osmo.sh):
waits for the RSIP natproxy relays (mgcp_rsip.py sent it on the gateway's
behalf), answers it, then CRCX on rtpbridge/*@mgw with its own SDP
(MEDIA_IP:PORT) in loopback mode, MDCX, sends 50 RTP packets to the connection's
LocalConnectionDescriptor and counts the RTP packets that come back
(osmo-mgw echoes them; its 1-byte keep-alives are not counted), MDCX recvonly, DLCX. One JSON line per message and a summary in the log.

  mgcp_ca_osmo.py --ip IP --media-ip IP --log FILE
"""
import argparse
import select
import socket
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from gw_peer import RTP_PACKETS, log_line, rtp, sdp_media  # noqa: E402
from mgcp_peer import parse  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", required=True)
    ap.add_argument("--media-ip", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    log = open(a.log, "a")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.ip, 2727))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((a.media_ip, 6000))
    summary = {}
    txid = [900]

    def out(text, to):
        sock.sendto(text.encode(), to)
        log_line(log, dir="out", to="%s:%d" % to, msg=text)

    def recv(timeout):
        r, _, _ = select.select([sock], [], [], timeout)
        if not r:
            return None
        data, src = sock.recvfrom(65535)
        text = data.decode(errors="replace")
        log_line(log, dir="in", frm="%s:%d" % src, msg=text)
        return text, src

    def command(verb, ep, to, params, body=""):
        txid[0] += 1
        t = str(txid[0])
        text = "%s %s %s MGCP 1.0\r\n%s" % (verb, t, ep, "".join("%s: %s\r\n" % kv for kv in params))
        if body:
            text += "\r\n" + body
        for _ in range(4):
            out(text, to)
            end = time.time() + 1.5
            while time.time() < end:
                got = recv(end - time.time())
                if not got:
                    continue
                tok, p, sdp = parse(got[0])
                if tok[0].isdigit() and tok[1] == t and int(tok[0]) >= 200:
                    return tok, p, sdp
                if not tok[0].isdigit():
                    out("200 %s OK\r\n" % tok[1], got[1])
        raise SystemExit("no answer to %s" % verb)

    end = time.time() + 15
    gw = None
    while time.time() < end and not gw:
        got = recv(end - time.time())
        if got:
            tok, p, _ = parse(got[0])
            if tok[0].upper() == "RSIP":
                out("200 %s OK\r\n" % tok[1], got[1])
                gw, summary["rsip_endpoint"] = got[1], tok[2]
    if not gw:
        raise SystemExit("no RSIP")
    summary["gateway"] = "%s:%d" % gw
    sdp = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
           "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n" % (a.media_ip, a.media_ip))
    tok, p, lcd = command("CRCX", "rtpbridge/*@mgw", gw,
                          [("C", "abcd1234"), ("L", "p:20, a:PCMU"), ("M", "loopback")], sdp)
    summary["crcx"] = tok[0]
    summary["Z"] = p.get("Z", "")
    summary["I"] = p.get("I", "")
    dest = sdp_media(lcd)
    summary["lcd"] = "%s:%d" % dest if dest else None
    ep = p.get("Z", "rtpbridge/1@mgw")
    # osmo-mgw sends its keep-alive (rtp keep-alive once) before its CRCX
    # response: natproxy re-arms the latch when that response's SDP comes,
    # so the binding toward osmo-mgw opens with the keep-alive after an
    # MDCX (no SDP: nothing re-armed), as a call agent's usual CRCX, MDCX,
    # media order has it.
    tok, p, _ = command("MDCX", ep, gw, [("C", "abcd1234"), ("I", summary["I"]), ("M", "loopback")])
    summary["mdcx"] = tok[0]
    time.sleep(0.2)
    got = 0
    for i in range(RTP_PACKETS):
        media.sendto(rtp(i + 1, 0x05A0), dest)
        t_end = time.time() + 0.02
        while time.time() < t_end:
            r, _, _ = select.select([media], [], [], max(0, t_end - time.time()))
            if r and len(media.recvfrom(2048)[0]) == 172:
                got += 1
    t_end = time.time() + 1
    while time.time() < t_end:
        r, _, _ = select.select([media], [], [], 0.1)
        if r and len(media.recvfrom(2048)[0]) == 172:
            got += 1
    summary["rtp_out"], summary["rtp_back"] = RTP_PACKETS, got
    tok, p, _ = command("MDCX", ep, gw, [("C", "abcd1234"), ("I", summary["I"]), ("M", "recvonly")])
    summary["mdcx2"] = tok[0]
    tok, p, _ = command("DLCX", ep, gw, [("C", "abcd1234"), ("I", summary["I"])])
    summary["dlcx"], summary["P"] = tok[0], p.get("P", "")
    log_line(log, summary=summary)


if __name__ == "__main__":
    main()
