#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Scripted H.248/Megaco text peers (RFC 3525) for natproxy's end-to-end
test, stdlib only.

  h248_peer.py mg --ip IP --mgc HOST:PORT --log FILE [--mute-file F] [--secs N]
      A media gateway with mId [IP]:2944: sends ServiceChange Restart on
      ROOT (again, same transaction id, until replied), then answers: Add
      with a context, an ephemeral termination rtp/N and its Local SDP (RTP
      at IP:4000; when the Add has a Remote SDP it sends 50 RTP packets
      there from port 4000), Subtract with statistics, AuditValue on ROOT;
      a retransmitted transaction gets the same reply. While --mute-file
      exists it answers nothing. Every message in and out goes to the log
      as one JSON line; at the end a summary line.

  h248_peer.py mgc --ip IP --media-ip IP --log FILE --calls N [--lost]
      A media gateway controller on IP:2944: waits for a ServiceChange,
      replies, and for each call: Add (Local CHOOSE, Remote its own SDP at
      media-ip:5000+2k) to the mId the ServiceChange named, at the address
      it came from; sends 50 RTP packets to the reply's Local SDP and
      counts what arrives; TransactionResponseAck; Subtract (compact
      form). With --lost the last call is left up and the MGC waits for
      natproxy's ServiceChange Forced on the termination instead.
      --restart-file F: while each call's media flows, natproxyd is
      restarted (restart_cue.py); what follows comes after the restart.
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


def header(text):
    m = re.match(r"\s*(?:MEGACO|!)/(\d)\s+(\S+)", text)
    return m.group(2) if m else None


def first(pattern, text):
    m = re.search(pattern, text)
    return (m.groups() or (m.group(0),)) if m else None


def sdp_in(name, text):
    """The SDP of the first Local (name L) or Remote (R) descriptor."""
    g = first(r"(?:%s|%s)\s*\{([^}]*)\}" % ({"L": "Local", "R": "Remote"}[name], name), text)
    return g[0].strip() if g else ""






def gateway(a):
    log = open(a.log, "a")
    host, port = a.mgc.rsplit(":", 1)
    mgc = (host, int(port))
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sig.bind((a.ip, 2944))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((a.ip, 4000))
    mid = "[%s]:2944" % a.ip
    sdp = gateway_sdp(a.ip)
    answered = {}
    counts = {"rtp_in": 0, "audits": 0, "sc_ok": 0, "acks": 0}
    ctx = [0]

    def out(text, to):
        sig.sendto(text.encode(), to)
        log_line(log, dir="out", to="%s:%d" % to, msg=text)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sc = ("MEGACO/1 %s\r\nTransaction = 1 {\r\n\tContext = - {\r\n"
          "\t\tServiceChange = ROOT {Services {Method = Restart, "
          "ServiceChangeAddress = 2944, Profile = ResGW/1}}\r\n\t}\r\n}\r\n" % mid)
    try:
        out(sc, mgc)
        last = time.time()
        end = time.time() + a.secs
        while time.time() < end:
            if not counts["sc_ok"] and time.time() - last > 1:
                out(sc, mgc)
                last = time.time()
            r, _, _ = select.select([sig, media], [], [], 0.2)
            if media in r:
                media.recvfrom(2048)
                counts["rtp_in"] += 1
            if sig not in r:
                continue
            data, src = sig.recvfrom(65535)
            text = data.decode(errors="replace")
            if muted(a, counts["audits"]):
                log_line(log, dir="in-muted", frm="%s:%d" % src, msg=text)
                continue
            log_line(log, dir="in", frm="%s:%d" % src, msg=text)
            rep = first(r"(?:Reply|P)\s*=\s*(\d+)", text)
            if rep:
                if rep[0] == "1":
                    counts["sc_ok"] += 1
                continue
            if first(r"(?:TransactionResponseAck|K)\s*\{", text):
                counts["acks"] += 1
                continue
            tr = first(r"(?:Transaction|T)\s*=\s*(\d+)", text)
            if not tr:
                continue
            tid = tr[0]
            if tid in answered:
                out(answered[tid], src)
                continue
            if first(r"(?:\bAdd|\bA)\s*=", text):
                ctx[0] += 1
                remote = sdp_media(sdp_in("R", text))
                if remote:
                    threading.Thread(target=send_rtp, args=(media, remote, 0x6A7E, 0.1),
                                     daemon=True).start()
                body = ("Context = %d {\r\n\t\tAdd = rtp/%d {Media {Stream = 1 {Local {\r\n%s"
                        "}}}}\r\n\t}" % (ctx[0], ctx[0], sdp))
            elif first(r"(?:Subtract|\bS)\s*=", text):
                c, t = first(r"(?:Context|C)\s*=\s*(\w+)\s*\{\s*(?:Subtract|S)\s*=\s*([\w/*]+)", text)
                body = ("Context = %s {Subtract = %s {Statistics {rtp/ps=%d, rtp/pr=%d}}}"
                        % (c, t, RTP_PACKETS, counts["rtp_in"]))
            elif first(r"(?:AuditValue|AV)\s*=\s*ROOT", text):
                counts["audits"] += 1
                body = "Context = - {AuditValue = ROOT}"
            else:
                cmd = first(r"(?:Context|C)\s*=\s*([\w$*-]+)\s*\{\s*(\w+)\s*=\s*([\w/*$]+)", text)
                body = "Context = %s {%s = %s}" % (cmd or ("-", "AuditValue", "ROOT"))
            resp = "MEGACO/1 %s\r\nReply = %s {\r\n\t%s\r\n}\r\n" % (mid, tid, body)
            answered[tid] = resp
            out(resp, src)
    finally:
        log_line(log, summary=counts)


class Controller(Agent):
    def __init__(self, a):
        super().__init__(a, 2944)
        self.mid = "[%s]:2944" % a.ip
        self.tid = 500

    def reply_to(self, text, src):
        tr = first(r"(?:Transaction|T)\s*=\s*(\d+)", text)
        cmd = first(r"(?:Context|C)\s*=\s*([\w$*-]+)\s*\{\s*(\w+)\s*=\s*([\w/*$]+)", text)
        if tr and cmd:
            self.out("MEGACO/1 %s\r\nReply = %s {Context = %s {%s = %s}}\r\n"
                     % ((self.mid, tr[0]) + cmd), src)

    def transaction(self, to, body, compact=False):
        """Sends a transaction (again after 1 s, up to 4 times); returns its
        reply's text. Transactions arriving meanwhile get an empty reply."""
        self.tid += 1
        tid = str(self.tid)
        if compact:
            text = "!/1 %s\nT=%s{%s}" % (self.mid, tid, body)
        else:
            text = "MEGACO/1 %s\r\nTransaction = %s {\r\n\t%s\r\n}\r\n" % (self.mid, tid, body)
        for _ in range(5):
            self.out(text, to)
            end = time.time() + 1
            while time.time() < end:
                got = self.recv(end - time.time())
                if not got:
                    continue
                rep = first(r"(?:Reply|P)\s*=\s*(\d+)", got[0])
                if rep and rep[0] == tid:
                    return got[0], tid
                if not rep:
                    self.reply_to(got[0], got[1])
        raise SystemExit("no reply to transaction %s" % tid)

    def run(self):
        a = self.a
        summary = {"calls": [], "gateway": None}
        end = time.time() + 15
        while time.time() < end:
            got = self.recv(end - time.time())
            if got and first(r"(?:ServiceChange|SC)\s*=\s*ROOT", got[0]):
                self.reply_to(got[0], got[1])
                mg, mid = got[1], header(got[0])
                ad = first(r"(?:ServiceChangeAddress|AD)\s*=\s*(\S+?)[,}\s]", got[0])
                break
        else:
            raise SystemExit("no ServiceChange")
        summary["gateway"] = {"source": "%s:%d" % mg, "mid": mid,
                              "address": ad[0] if ad else None}
        for k in range(a.calls):
            port = 5000 + 2 * k
            media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            media.bind((a.media_ip, port))
            sdp = ("v=0\r\no=- 4723891 7428910 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
                   "t=0 0\r\nm=audio %d RTP/AVP 0\r\n" % (a.media_ip, a.media_ip, port))
            choose = "v=0\r\nc=IN IP4 $\r\nm=audio $ RTP/AVP 0\r\n"
            text, tid = self.transaction(mg, (
                "Context = $ {\r\n\t\tAdd = $ {Media {Stream = 1 {LocalControl "
                "{Mode = SendReceive},\r\n\t\t\tLocal {\r\n%s},\r\n\t\t\tRemote {\r\n%s"
                "}}}}\r\n\t}" % (choose, sdp)))
            ctx, term = first(r"(?:Context|C)\s*=\s*(\w+)\s*\{\s*(?:Add|A)\s*=\s*([\w/]+)", text)
            dest = sdp_media(sdp_in("L", text))
            self.out("MEGACO/1 %s\r\nTransactionResponseAck {%s}\r\n" % (self.mid, tid), mg)
            time.sleep(0.3)
            sender = threading.Thread(target=send_rtp, args=(media, dest, 0xCA11), daemon=True)
            sender.start()
            cue = "%s.%d" % (a.restart_file, k) if a.restart_file else None
            got_rtp, marks = restart_cue.receive(media, RTP_PACKETS * 0.02 + 2, cue)
            sender.join()
            call = {"ctx": ctx, "term": term, "local": "%s:%d" % dest,
                    "rtp_in": got_rtp, "rtp_out": RTP_PACKETS}
            if cue:
                call["rtp_at_kill"] = marks.get("down")
                call["rtp_at_restart"] = marks.get("up")
            if a.lost and k == a.calls - 1:
                open(a.mute_file, "w").close()
                end = time.time() + 30
                while time.time() < end and not call.get("forced"):
                    got = self.recv(0.5)
                    if not got:
                        continue
                    f = first(r"ServiceChange\s*=\s*([\w/]+)\s*\{Services\s*\{Method\s*=\s*Forced", got[0])
                    if f:
                        call["forced"] = f[0]
                    self.reply_to(got[0], got[1])
            else:
                text, _ = self.transaction(mg, "C=%s{S=%s}" % (ctx, term), compact=True)
                st = first(r"Statistics\s*\{([^}]*)\}", text)
                call["subtract"] = st[0] if st else "no statistics"
            summary["calls"].append(call)
            media.close()
        log_line(self.log, summary=summary)

if __name__ == "__main__":
    sys.exit(main(gateway, Controller, ("mg", "mgc")))
