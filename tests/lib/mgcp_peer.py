#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Scripted MGCP peers (RFC 3435) for natproxy's end-to-end test, stdlib only.

  mgcp_peer.py gw --ip IP --ca HOST:PORT --log FILE [--mute-file F] [--secs N]
                 [--ncs]
      A residential gateway with one endpoint aaln/1@[IP] on IP:2427: sends
      RSIP restart to the call agent (natproxy), then answers: CRCX with a
      connection id and its LocalConnectionDescriptor (RTP at IP:4000),
      MDCX 200 (and, when the MDCX makes the connection sendrecv with a
      remote SDP, sends 50 RTP packets there from port 4000), DLCX 250 with
      P: counts, AUEP 200; retransmissions get the same answer. It counts
      the RTP it receives on port 4000. While --mute-file exists it answers
      nothing (a gateway that went away), once it has answered an AUEP. Every message in and out goes
      to the log as one JSON line; at the end a summary line. --ncs: its
      RSIP's command line ends "MGCP 1.0 NCS 1.0", as a cable gateway's.

  mgcp_peer.py ca --ip IP --media-ip IP --log FILE --calls N [--lost]
      A call agent on IP:2727: waits for an RSIP, answers 200, and for
      each call: CRCX (no SDP) to the endpoint the RSIP named, at the
      address it came from; MDCX with its own SDP (media-ip:5000+2k);
      sends 50 RTP packets to the gateway's LocalConnectionDescriptor
      and counts what arrives; DLCX. With --lost the last call is left
      up and the CA waits for natproxy's DLCX (E: 902) instead.
      --restart-file F: while each call's media flows, natproxyd is
      restarted (restart_cue.py); after it the CA sends MDCX (sendrecv, no
      SDP) to the gateway before going on.
"""
import re
import select
import signal
import socket
import sys
import threading
import time

import restart_cue
from gw_peer import (RTP_PACKETS, Agent, gateway_sdp, log_line, main, muted,
                     sdp_media, send_rtp)


def parse(text):
    """(first line tokens, params dict (last wins, upper-case names), sdp)"""
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    params = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            params[k.strip().upper()] = v.strip()
    return lines[0].split(), params, body





def gateway(a):
    log = open(a.log, "a")
    ca_host, ca_port = a.ca.rsplit(":", 1)
    ca = (ca_host, int(ca_port))
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sig.bind((a.ip, 2427))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((a.ip, 4000))
    ep = "aaln/1@[%s]" % a.ip
    sdp = gateway_sdp(a.ip)
    answered = {}  # txid -> response text (retransmissions)
    conns = {}
    counts = {"rtp_in": 0, "auep": 0, "rsip_ok": 0}
    next_conn = [0x100]

    def out(text, to):
        sig.sendto(text.encode(), to)
        log_line(log, dir="out", to="%s:%d" % to, msg=text)

    # Stopped (SIGTERM) or done: the summary line either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        gateway_loop(a, log, ca, sig, media, ep, sdp, answered, conns, counts,
                     next_conn, out)
    finally:
        log_line(log, summary=counts)



def gateway_loop(a, log, ca, sig, media, ep, sdp, answered, conns, counts,
                 next_conn, out):
    # A cable gateway (PacketCable NCS) writes its protocol on the
    # command line after MGCP's: "MGCP 1.0 NCS 1.0".
    rsip = "RSIP 1000 %s MGCP 1.0%s\r\nRM: restart\r\n" % (
        ep, " NCS 1.0" if a.ncs else "")
    out(rsip, ca)
    last_rsip = time.time()
    end = time.time() + a.secs
    while time.time() < end:
        # RSIP again (same transaction id) until it is answered.
        if not counts["rsip_ok"] and time.time() - last_rsip > 1:
            out(rsip, ca)
            last_rsip = time.time()
        r, _, _ = select.select([sig, media], [], [], 0.2)
        if media in r:
            media.recvfrom(2048)
            counts["rtp_in"] += 1
        if sig not in r:
            continue
        data, src = sig.recvfrom(65535)
        text = data.decode(errors="replace")
        if muted(a, counts["auep"]):
            log_line(log, dir="in-muted", frm="%s:%d" % src, msg=text)
            continue
        log_line(log, dir="in", frm="%s:%d" % src, msg=text)
        for msg in re.split(r"\r?\n\.\r?\n", text):
            tok, p, body = parse(msg)
            if len(tok) < 2:
                continue
            if tok[0].isdigit():
                if tok[0] == "200" and tok[1] == "1000":
                    counts["rsip_ok"] += 1
                continue
            verb, txid = tok[0].upper(), tok[1]
            if txid in answered:
                out(answered[txid], src)
                continue
            resp = "200 %s OK\r\n" % txid
            if verb == "CRCX":
                cid = "%X" % next_conn[0]
                next_conn[0] += 1
                conns[cid] = p.get("C", "")
                resp = "200 %s OK\r\nI: %s\r\n\r\n%s" % (txid, cid, sdp)
            elif verb == "MDCX":
                dest = sdp_media(body)
                if dest and p.get("M", "").lower() == "sendrecv":
                    threading.Thread(target=send_rtp, args=(media, dest, 0x6A7E),
                                     daemon=True).start()
            elif verb == "DLCX":
                conns.pop(p.get("I", ""), None)
                resp = "250 %s OK\r\nP: PS=%d, OS=%d, PR=%d, OR=%d, PL=0, JI=0, LA=0\r\n" % (
                    txid, RTP_PACKETS, RTP_PACKETS * 160, counts["rtp_in"],
                    counts["rtp_in"] * 160)
            elif verb == "AUEP":
                counts["auep"] += 1
            answered[txid] = resp
            out(resp, src)


class CallAgent(Agent):
    def __init__(self, a):
        super().__init__(a, 2727)
        self.txid = 500
        self.inbox = []

    def command(self, verb, ep, to, params, body=""):
        """Sends a command (retransmitted after 1 s, up to 4 times) and
        returns its final response (tokens, params, sdp); commands that
        arrive meanwhile are answered 200."""
        self.txid += 1
        txid = str(self.txid)
        text = "%s %s %s MGCP 1.0\r\n%s" % (verb, txid, ep, "".join(
            "%s: %s\r\n" % kv for kv in params))
        if body:
            text += "\r\n" + body
        for _ in range(5):
            self.out(text, to)
            end = time.time() + 1
            while time.time() < end:
                got = self.recv(end - time.time())
                if not got:
                    continue
                tok, p, sdp = parse(got[0])
                if tok[0].isdigit() and tok[1] == txid and int(tok[0]) >= 200:
                    return tok, p, sdp
                if not tok[0].isdigit():
                    self.inbox.append((tok, p))
                    self.out("200 %s OK\r\n" % tok[1], got[1])
        raise SystemExit("no answer to %s %s" % (verb, txid))

    def run(self):
        a = self.a
        summary = {"calls": [], "gateway": None}
        # The gateway's RSIP, through natproxy.
        end = time.time() + 15
        while time.time() < end:
            got = self.recv(end - time.time())
            if not got:
                continue
            tok, p, _ = parse(got[0])
            if tok and tok[0].upper() == "RSIP":
                self.out("200 %s OK\r\n" % tok[1], got[1])
                gw, ep = got[1], tok[2]
                break
        else:
            raise SystemExit("no RSIP")
        summary["gateway"] = {"source": "%s:%d" % gw, "endpoint": ep}
        for k in range(a.calls):
            call_id = "A3C47F2145678%03d" % k
            port = 5000 + 2 * k
            media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            media.bind((a.media_ip, port))
            tok, p, lcd = self.command("CRCX", ep, gw, [
                ("C", call_id), ("L", "p:20, a:PCMU"), ("M", "recvonly"),
                ("N", "ca@[%s]:2727" % a.ip)])
            conn = p.get("I", "")
            dest = sdp_media(lcd)
            sdp = ("v=0\r\no=- 4723891 7428910 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
                   "t=0 0\r\nm=audio %d RTP/AVP 0\r\n" % (a.media_ip, a.media_ip, port))
            self.command("MDCX", ep, gw, [("C", call_id), ("I", conn), ("M", "sendrecv")], sdp)
            # The gateway starts on the MDCX: its first packet latches the
            # relay toward it before ours arrive there.
            time.sleep(0.3)
            sender = threading.Thread(target=send_rtp, args=(media, dest, 0xCA11), daemon=True)
            sender.start()
            cue = "%s.%d" % (a.restart_file, k) if a.restart_file else None
            got_rtp, marks = restart_cue.receive(media, RTP_PACKETS * 0.02 + 2, cue)
            sender.join()
            call = {"call_id": call_id, "conn": conn, "lcd": "%s:%d" % dest,
                    "rtp_in": got_rtp, "rtp_out": RTP_PACKETS}
            if cue:
                call["rtp_at_kill"] = marks.get("down")
                call["rtp_at_restart"] = marks.get("up")
                tok, _, _ = self.command("MDCX", ep, gw, [
                    ("C", call_id), ("I", conn), ("M", "sendrecv")])
                call["mdcx_after_restart"] = tok[0]
            if a.lost and k == a.calls - 1:
                # Left up: natproxy ends it when the gateway goes silent.
                open(a.mute_file, "w").close()
                end = time.time() + 30
                while time.time() < end and not call.get("dlcx_from_natproxy"):
                    got = self.recv(0.5)
                    if not got:
                        continue
                    tok, p, _ = parse(got[0])
                    if tok[0].upper() == "DLCX":
                        call["dlcx_from_natproxy"] = {"I": p.get("I"), "E": p.get("E")}
                        self.out("250 %s OK\r\n" % tok[1], got[1])
            else:
                tok, p, _ = self.command("DLCX", ep, gw, [("C", call_id), ("I", conn)])
                call["dlcx"] = tok[0]
                call["P"] = p.get("P", "")
            summary["calls"].append(call)
            media.close()
        log_line(self.log, summary=summary)

if __name__ == "__main__":
    sys.exit(main(gateway, CallAgent, ("gw", "ca"), "--ncs"))
