#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""SIP user agents for tests/e2e/ha.sh: calls whose RTP runs both ways
without a pause while the natproxy nodes change, and whose every arrival
is timed, so the gap a takeover leaves is measured where the audio lands.

  ha_ua.py uas ADDR CTLDIR
      the far end at ADDR:5060: answers every INVITE (200 with SDP), sends
      RTP (PCMU, 20 ms) to the offer's address until the call's BYE, answers
      the BYE; on CTLDIR/stop it writes CTLDIR/uas.json and exits.
  ha_ua.py uac ADDR PROXY N USER CTLDIR
      the terminal at ADDR: N calls to sip:far via PROXY:5060 (SIP ports
      5070.., media 6000..), each answering one digest challenge as USER
      (password USER-pw); RTP to the answer's address until CTLDIR/bye,
      then BYE through the route set (retransmitted, 500 ms, 16 s at most);
      a CRLF keepalive from each SIP socket every 5 s keeps the terminal's
      NAT binding (its masquerade entry) open for that BYE;
      writes CTLDIR/uac.json and exits. On CTLDIR/end-I call I (from 0)
      ends alone (its BYE, its media stopped; bye_at in the JSON); on
      CTLDIR/more one more call (index N) is set up. On CTLDIR/register a
      registrant (SIP port 5070+N+1) registers USER (expires 600, one
      challenge) and refreshes every REFRESH seconds (10, or HA_UA_REFRESH
      from the environment), answering natproxy's
      keepalives (OPTIONS) with 200; its state in CTLDIR/reg.state.

Each JSON holds, per Call-ID, the RTP packets sent and received, the
largest interval between two received packets (the gap, seconds, from the
first packet to the last), every pause over 100 ms (gaps: [CLOCK_MONOTONIC
time of the last packet before it, its length]), and whether its BYE got its 200 (uac) or came
(uas). Every loop is bounded in time (SAFETY seconds at most).
"""
import hashlib
import json
import os
import random
import re
import select
import socket
import struct
import sys
import time

SAFETY = 240.0
PTIME = 0.020
GAP = 0.1  # a pause in arrivals longer than this is listed
KEEPALIVE = 5.0  # s between a terminal's CRLF keepalives (its NAT binding)
# s between the registrant's REGISTERs: HA_UA_REFRESH, for a test that
# wants several within a shorter window
REFRESH = float(os.environ.get("HA_UA_REFRESH", "10"))
PAYLOAD = b"\xff" * 160


def header(msg, name):
    m = re.search(r"^%s:\s*(.*?)\r?$" % name, msg, re.M | re.I)
    return m.group(1).strip() if m else ""


def headers(msg, name):
    return [h.strip() for h in re.findall(r"^%s:\s*(.*?)\r?$" % name, msg, re.M | re.I)]


def sdp_addr(msg):
    c = re.search(r"^c=IN IP4 ([0-9.]+)", msg, re.M)
    m = re.search(r"^m=audio ([0-9]+)", msg, re.M)
    return (c.group(1), int(m.group(1))) if c and m else None


def sdp(addr, port):
    body = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
            "a=sendrecv\r\n") % (addr, addr, port)
    return body


class Media:
    """One call's RTP: sent every PTIME to dest, arrivals timed."""

    def __init__(self, addr, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, port))
        self.dest = None
        self.seq = random.randrange(65536)
        self.ssrc = random.getrandbits(32)
        self.sent = self.received = 0
        self.first = self.last = None
        self.gap = 0.0
        self.gap_at = None
        self.gaps = []  # [monotonic time, seconds] of every pause > GAP
        self.running = False

    def send(self):
        if not self.running or not self.dest:
            return
        hdr = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF,
                          (self.sent * 160) & 0xFFFFFFFF, self.ssrc)
        try:
            self.sock.sendto(hdr + PAYLOAD, self.dest)
            self.sent += 1
        except OSError:
            pass  # no route for a moment: a packet the gap takes
        self.seq += 1

    def recv(self, now):
        try:
            data, _ = self.sock.recvfrom(2048)
        except OSError:
            return
        if len(data) < 12:
            return
        self.received += 1
        if self.last is not None and now - self.last > self.gap:
            self.gap = now - self.last
            self.gap_at = self.last
        if self.last is not None and now - self.last > GAP:
            self.gaps.append([round(self.last, 3), round(now - self.last, 3)])
        if self.first is None:
            self.first = now
        self.last = now

    def stats(self):
        return {"sent": self.sent, "received": self.received,
                "gap": round(self.gap, 3),
                "gap_at": round(self.gap_at, 3) if self.gap_at else None,
                "gaps": self.gaps}


def digest(challenge, user, method, uri):
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    pw = user + "-pw"
    ha1 = hashlib.md5(("%s:%s:%s" % (user, fields["realm"], pw)).encode()).hexdigest()
    ha2 = hashlib.md5(("%s:%s" % (method, uri)).encode()).hexdigest()
    extra = ""
    if "auth" in fields.get("qop", "").split(","):
        cnonce, nc = "%08x" % random.getrandbits(32), "00000001"
        resp = hashlib.md5(("%s:%s:%s:%s:auth:%s" % (ha1, fields["nonce"], nc, cnonce, ha2)).encode()).hexdigest()
        extra = ', qop=auth, nc=%s, cnonce="%s"' % (nc, cnonce)
    else:
        resp = hashlib.md5(("%s:%s:%s" % (ha1, fields["nonce"], ha2)).encode()).hexdigest()
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=MD5%s') % (user, fields["realm"], fields["nonce"], uri, resp, extra)


class Call:
    """One UAC call: INVITE (one challenge), ACK, media, BYE."""

    def __init__(self, i, addr, proxy, user):
        self.i, self.addr, self.proxy, self.user = i, addr, proxy, user
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = 5070 + i
        self.sip.bind((addr, self.port))
        self.media = Media(addr, 6000 + 2 * i)
        self.call_id = "ha-%d-%08x@%s" % (i, random.getrandbits(32), addr)
        self.tag = "t%08x" % random.getrandbits(32)
        self.uri = "sip:far@example.test"
        self.cseq = 1
        self.state = "inviting"
        self.auth = ""
        self.to = "<%s>" % self.uri
        self.route = []
        self.target = self.uri
        self.bye_ok = False
        self.bye_code = 0
        self.pending = None
        self.pending_at = 0.0
        self.tries = 0
        self.invited = False
        self.bye_at = None

    def via(self):
        return "SIP/2.0/UDP %s:%d;branch=z9hG4bK%08x;rport" % (self.addr, self.port, random.getrandbits(32))

    def request(self, method, uri, to, cseq, extra="", body="", via=None):
        msg = ("%s %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\n"
               "From: <sip:%s@example.test>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n"
               "CSeq: %d %s\r\nContact: <sip:%s@%s:%d>\r\n%s") % (
            method, uri, via or self.via(), self.user, self.tag, to, self.call_id,
            cseq, method, self.user, self.addr, self.port, extra)
        if body:
            msg += "Content-Type: application/sdp\r\n"
        msg += "Content-Length: %d\r\n\r\n%s" % (len(body), body)
        return msg

    def send(self, msg, retransmit=True):
        self.sip.sendto(msg.encode(), (self.proxy, 5060))
        if retransmit:
            self.pending, self.pending_at, self.tries = msg, time.monotonic(), 0

    def invite(self):
        self.invited = True
        self.invite_via = self.via()
        extra = "Proxy-Authorization: %s\r\n" % self.auth if self.auth else ""
        self.send(self.request("INVITE", self.uri, "<%s>" % self.uri, self.cseq, extra,
                               sdp(self.addr, self.media.sock.getsockname()[1]), self.invite_via))

    def register(self, auth=""):
        """A REGISTER (a refresh: the same Call-ID, the next CSeq); auth:
        the answer to its challenge."""
        self.cseq += 1
        self.state = "registering"
        self.auth = auth
        extra = "Expires: 600\r\n"
        if auth:
            extra += "Authorization: %s\r\n" % auth
        self.send(self.request("REGISTER", "sip:example.test", "<sip:%s@example.test>" % self.user,
                               self.cseq, extra))

    def routes(self):
        return "".join("Route: %s\r\n" % r for r in self.route)

    def ack(self, to, cseq, in_dialog):
        uri = self.target if in_dialog else self.uri
        extra = self.routes() if in_dialog else ""
        via = self.via() if in_dialog else self.invite_via
        self.send(self.request("ACK", uri, to, cseq, extra, via=via), retransmit=False)

    def bye(self):
        self.bye_at = round(time.monotonic(), 3)
        self.cseq += 1
        self.state = "bye"
        self.send(self.request("BYE", self.target, self.to, self.cseq, self.routes()))

    def on_message(self, msg):
        first = msg.split("\r\n", 1)[0]
        if not first.startswith("SIP/2.0 "):
            # a request in the dialog (a keepalive OPTIONS): 200
            via = "".join("Via: %s\r\n" % v for v in headers(msg, "Via"))
            resp = ("SIP/2.0 200 OK\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
                    "CSeq: %s\r\nContent-Length: 0\r\n\r\n") % (
                via, header(msg, "From"), header(msg, "To"), header(msg, "Call-ID"), header(msg, "CSeq"))
            self.sip.sendto(resp.encode(), (self.proxy, 5060))
            return
        code = int(first.split()[1])
        cseq = header(msg, "CSeq").split()
        method = cseq[-1]
        # A response to a request sent before (a retransmitted INVITE
        # answered again after its challenge was): already handled.
        if method == "INVITE" and cseq and cseq[0] != str(self.cseq):
            return
        if method == "REGISTER":
            if cseq and cseq[0] != str(self.cseq):
                return
            self.pending = None
            if code in (401, 407) and not self.auth:
                chal = header(msg, "WWW-Authenticate") or header(msg, "Proxy-Authenticate")
                self.register(digest(chal, self.user, "REGISTER", "sip:example.test"))
            elif code >= 200:
                self.state = "registered" if code == 200 else "failed %d" % code
            return
        if method == "INVITE" and code in (401, 407) and not self.auth:
            self.pending = None
            self.ack(header(msg, "To"), self.cseq, False)
            chal = header(msg, "Proxy-Authenticate") or header(msg, "WWW-Authenticate")
            self.auth = digest(chal, self.user, "INVITE", self.uri)
            self.cseq += 1
            self.invite()
        elif method == "INVITE" and code == 200:
            self.pending = None
            self.to = header(msg, "To")
            self.route = list(reversed([r.strip() for h in headers(msg, "Record-Route") for r in h.split(",")]))
            m = re.search(r"<([^>]*)>", header(msg, "Contact"))
            if m:
                self.target = m.group(1)
            self.ack(self.to, self.cseq, True)
            if self.state == "inviting":
                self.media.dest = sdp_addr(msg.split("\r\n\r\n", 1)[1])
                self.media.running = True
                self.state = "up"
        elif method == "INVITE" and code >= 300:
            self.pending = None
            self.ack(header(msg, "To"), self.cseq, False)
            self.state = "failed %d" % code
        elif method == "BYE" and code >= 200:
            self.pending = None
            self.bye_ok = code == 200
            self.bye_code = code
            self.state = "ended"

    def tick(self, now):
        if self.pending and now - self.pending_at > 0.5:
            self.tries += 1
            if self.tries > 32:
                self.pending = None
                self.state = "timeout"
                return
            self.sip.sendto(self.pending.encode(), (self.proxy, 5060))
            self.pending_at = now


def run_uac(addr, proxy, n, user, ctl):
    calls = [Call(i, addr, proxy, user) for i in range(n + 1)]
    reg = Call(n + 1, addr, proxy, user)
    reg.state = "idle"
    next_reg = None
    for c in calls[:n]:
        c.invite()
        time.sleep(0.05)
    start = time.monotonic()
    next_rtp = start
    next_ka = start + KEEPALIVE
    bye_sent = False
    while time.monotonic() - start < SAFETY:
        now = time.monotonic()
        if now >= next_rtp:
            for c in calls:
                c.media.send()
            next_rtp += PTIME
            if next_rtp < now:
                next_rtp = now + PTIME
        if now >= next_ka:
            # As a phone keeps its NAT binding open for its calls' requests
            # (RFC 5626 4.4.1): a CRLF keepalive from every SIP socket.
            next_ka = now + KEEPALIVE
            for c in calls:
                c.sip.sendto(b"\r\n\r\n", (proxy, 5060))
        if next_reg is None and os.path.exists(os.path.join(ctl, "register")):
            next_reg = now
        if next_reg is not None and now >= next_reg:
            reg.register()
            next_reg = now + REFRESH
        reg.tick(now)
        if not calls[n].invited and os.path.exists(os.path.join(ctl, "more")):
            calls[n].invite()
        for c in calls:
            if c.state == "up" and os.path.exists(os.path.join(ctl, "end-%d" % c.i)):
                c.media.running = False
                c.bye()
        if not bye_sent and os.path.exists(os.path.join(ctl, "bye")):
            bye_sent = True
            for c in calls:
                c.media.running = False
                if c.state == "up":
                    c.bye()
        for c in calls:
            c.tick(now)
        if bye_sent and all(c.state != "bye" for c in calls):
            break
        socks = [c.sip for c in calls] + [c.media.sock for c in calls] + [reg.sip]
        r, _, _ = select.select(socks, [], [], max(0.0, next_rtp - time.monotonic()))
        now = time.monotonic()
        for s in r:
            if s is reg.sip:
                reg.on_message(s.recvfrom(65536)[0].decode("utf-8", "replace"))
            for c in calls:
                if s is c.sip:
                    c.on_message(s.recvfrom(65536)[0].decode("utf-8", "replace"))
                elif s is c.media.sock:
                    c.media.recv(now)
        with open(os.path.join(ctl, "uac.state.tmp"), "w") as f:
            json.dump({c.call_id: c.state for c in calls if c.invited}, f)
        os.replace(os.path.join(ctl, "uac.state.tmp"), os.path.join(ctl, "uac.state"))
        with open(os.path.join(ctl, "reg.state.tmp"), "w") as f:
            f.write(reg.state)
        os.replace(os.path.join(ctl, "reg.state.tmp"), os.path.join(ctl, "reg.state"))
    out = {c.call_id: dict(c.media.stats(), state=c.state, bye_ok=c.bye_ok, bye_code=c.bye_code,
                           bye_at=c.bye_at, index=c.i,
                           relay=("%s:%d" % c.media.dest) if c.media.dest else None)
           for c in calls if c.invited}
    with open(os.path.join(ctl, "uac.json"), "w") as f:
        json.dump(out, f, indent=1)


def run_uas(addr, ctl):
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind((addr, 5060))
    calls = {}
    start = time.monotonic()
    next_rtp = start
    next_port = 7000
    while time.monotonic() - start < SAFETY and not os.path.exists(os.path.join(ctl, "stop")):
        now = time.monotonic()
        if now >= next_rtp:
            for c in calls.values():
                c["media"].send()
            next_rtp += PTIME
            if next_rtp < now:
                next_rtp = now + PTIME
        socks = [sip] + [c["media"].sock for c in calls.values()]
        r, _, _ = select.select(socks, [], [], max(0.0, min(next_rtp - time.monotonic(), 0.1)))
        now = time.monotonic()
        for s in r:
            if s is not sip:
                for c in calls.values():
                    if s is c["media"].sock:
                        c["media"].recv(now)
                continue
            data, src = sip.recvfrom(65536)
            msg = data.decode("utf-8", "replace")
            first = msg.split("\r\n", 1)[0]
            if first.startswith("SIP/2.0"):
                continue
            method = first.split()[0]
            cid = header(msg, "Call-ID")
            via = "".join("Via: %s\r\n" % v for v in headers(msg, "Via"))
            rr = "".join("Record-Route: %s\r\n" % v for v in headers(msg, "Record-Route"))
            to = header(msg, "To")
            body = ""
            if method == "INVITE":
                if cid not in calls:
                    media = Media(addr, next_port)
                    next_port += 2
                    media.dest = sdp_addr(msg.split("\r\n\r\n", 1)[1])
                    media.running = True
                    calls[cid] = {"media": media, "tag": "f%08x" % random.getrandbits(32), "bye": False}
                c = calls[cid]
                if ";tag=" not in to:
                    to += ";tag=" + c["tag"]
                body = sdp(addr, c["media"].sock.getsockname()[1])
                extra = rr + "Contact: <sip:far@%s:5060>\r\nContent-Type: application/sdp\r\n" % addr
            elif method == "ACK":
                continue
            else:
                extra = ""
                if method == "BYE" and cid in calls:
                    calls[cid]["media"].running = False
                    calls[cid]["bye"] = True
            resp = ("SIP/2.0 200 OK\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n%s"
                    "Content-Length: %d\r\n\r\n%s") % (
                via, header(msg, "From"), to, cid, header(msg, "CSeq"), extra, len(body), body)
            sip.sendto(resp.encode(), src)
    out = {cid: dict(c["media"].stats(), bye=c["bye"]) for cid, c in calls.items()}
    with open(os.path.join(ctl, "uas.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "uas":
        run_uas(sys.argv[2], sys.argv[3])
    else:
        run_uac(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
