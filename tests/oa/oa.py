#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The offer/answer suite's driver (tests/oa/README.md): one process, two
scripted SIP peers on both sides of one running natproxyd, the cases of a
case file run in order, one TAP test point each.

Peers: T (the terminal, 203.0.113.30:5060 on the access network), T2 (a
second terminal, 203.0.113.31:5060), S (the softswitch, 198.51.100.2:5060 in
the core: natproxy's pair's softswitch), X (a stranger in the core,
198.51.100.20:5060). Their sockets are made in the test's namespaces (setns)
and all live in this one process.

A case is a list of steps (the functions below that return a Step): send a
message from a peer, expect what arrives at another (its start line,
headers, exact SDP lines with {PLACEHOLDERS} that capture on first sight
and must match afterwards), expect that nothing arrives, and check
natproxy's state (flows, calls, charging records). The first step that
fails fails the case; a case marked todo prints "# TODO issue 10" and
still runs every check for real.
"""

import ctypes
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
TODO = "issue 10"
WAIT = 0.6  # s for a message that must arrive
QUIET = 0.3  # s of silence for "nothing arrives"

G = {  # addresses every case may name; TPORT/T2PORT come from registration
    "T_IP": "203.0.113.30", "T": "203.0.113.30:5060",
    "T2_IP": "203.0.113.31", "T2": "203.0.113.31:5060",
    "ACC_IP": "203.0.113.1", "ACC": "203.0.113.1:5060",
    "CORE_IP": "198.51.100.1",
    "S_IP": "198.51.100.2", "S": "198.51.100.2:5060",
    "X_IP": "198.51.100.20",
    "FAR_IP": "198.51.100.10",
    "DOMAIN": "example.test",
}

VERBOSE = os.environ.get("OA_VERBOSE") == "1"
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns, fn):
    """Runs fn() with this thread in network namespace ns (a socket made
    there stays there)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns " + ns)
        return fn()
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(fd)
        os.close(home)


class Fail(Exception):
    pass


# --- SIP messages ------------------------------------------------------------

# Call-IDs of the cases already run: their late messages are skipped.
ENDED = set()

COMPACT = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact",
           "l": "Content-Length", "c": "Content-Type", "k": "Supported",
           "s": "Subject"}
MULTI = {"via", "route", "record-route", "contact"}


def split_values(v):
    """A header's comma-separated values, commas inside <> or quotes kept."""
    out, cur, depth, quote = [], "", 0, False
    for ch in v:
        if ch == '"':
            quote = not quote
        elif not quote and ch == "<":
            depth += 1
        elif not quote and ch == ">":
            depth -= 1
        if ch == "," and not depth and not quote:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class Msg:
    def __init__(self, raw, src=None):
        self.raw = raw
        self.src = src
        text = raw.decode("utf-8", "replace")
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.start = lines[0]
        self.headers = []  # (canonical lower name, value), values split
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            n, _, v = line.partition(":")
            n = n.strip()
            n = COMPACT.get(n, n).lower()
            self.headers.append((n, v.strip()))
        expanded = []
        for n, v in self.headers:
            if n in MULTI:
                expanded += [(n, x) for x in split_values(v)]
            else:
                expanded.append((n, v))
        self.headers = expanded
        parts = self.start.split(" ", 2)
        if parts[0] == "SIP/2.0":
            self.code, self.method, self.ruri = int(parts[1]), None, None
        else:
            self.code, self.method, self.ruri = None, parts[0], parts[1]

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    @property
    def cseq_method(self):
        return (self.get("CSeq") or " ").split()[-1]

    @property
    def cseq(self):
        return int((self.get("CSeq") or "0").split()[0])

    def what(self):
        return self.method or "%d/%s" % (self.code, self.cseq_method)

    def sdp(self):
        """The SDP lines: the body, or the application/sdp part of a
        multipart body."""
        ct = (self.get("Content-Type") or "").lower()
        if ct.startswith("application/sdp"):
            return [l for l in self.body.split("\r\n") if l]
        if ct.startswith("multipart/"):
            for part in self.parts():
                if part[0].lower().startswith("application/sdp"):
                    return [l for l in part[1].split("\r\n") if l]
        return None

    def parts(self):
        m = re.search(r'boundary="?([^";]+)"?', self.get("Content-Type") or "")
        if not m:
            return []
        out = []
        for chunk in self.body.split("--" + m.group(1))[1:]:
            if chunk.startswith("--"):
                break
            head, _, body = chunk.lstrip("\r\n").partition("\r\n\r\n")
            ct = ""
            for h in head.split("\r\n"):
                if h.lower().startswith("content-type:"):
                    ct = h.split(":", 1)[1].strip()
            out.append((ct, body.rstrip("\r\n") if body.endswith("\r\n")
                        else body))
        return out


def tag_of(v):
    m = re.search(r";\s*tag=([^;>\s]+)", v or "")
    return m.group(1) if m else None


def uri_of(v):
    m = re.search(r"<([^>]*)>", v or "")
    return m.group(1) if m else (v or "").split(";")[0].strip()


# --- patterns -----------------------------------------------------------------

def fill(text, env):
    """Template text with {NAME} from env; an unknown name is an error."""
    def sub(m):
        if m.group(1) not in env:
            raise Fail("template names unknown {%s}" % m.group(1))
        return str(int(env[m.group(1)]) + int(m.group(2))) if m.group(2) \
            else str(env[m.group(1)])
    return re.sub(r"\{([A-Z0-9_]+)(?:\+(\d+))?\}", sub, text)


def match(pattern, actual, env):
    """Whether actual matches pattern: {NAME} is env's value, or captures
    (into env) when env has none; * matches anything. Returns True/False;
    captures only on success."""
    rx, seen = "", set()
    for tok in re.split(r"(\{[A-Z0-9_]+(?:\+\d+)?\}|\*)", pattern):
        if tok == "*":
            rx += ".*"
        elif tok.startswith("{") and tok.endswith("}") and len(tok) > 2:
            name = tok[1:-1]
            if "+" in name:
                rx += re.escape(fill(tok, env))
            elif name in env:
                rx += re.escape(str(env[name]))
            elif name in seen:
                rx += "(?P=%s)" % name
            else:
                seen.add(name)
                rx += r"(?P<%s>[^\s;,<>]+)" % name
        else:
            rx += re.escape(tok)
    m = re.fullmatch(rx, actual or "", re.S)
    if not m:
        return False
    env.update(m.groupdict())
    return True


# --- peers --------------------------------------------------------------------

class Peer:
    def __init__(self, name, ns, ip, port, user):
        self.name, self.ip, self.port, self.user = name, ip, port, user
        self.sock = in_netns(ns, lambda: socket.socket(socket.AF_INET,
                                                       socket.SOCK_DGRAM))
        self.sock.bind((ip, port))
        self.reset()

    def reset(self):
        self.got = {}  # last request received, by method; "last": any
        self.sent = {}  # last request sent, by method
        self.dlg = {}  # the dialog: call_id, ltag, rtag, lcseq, target, routes
        self.last_final = None

    def drain(self):
        n = 0
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(65535)
            n += 1
        return n

    def send(self, text, dest):
        data = text.encode()
        if VERBOSE:
            print("# %s -> %s:%d\n# %s" % (self.name, dest[0], dest[1],
                  text.replace("\r\n", "\n# ")))
        self.sock.sendto(data, dest)

    def recv(self, timeout):
        """The next message, 100 Trying skipped; None after timeout s."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            data, src = self.sock.recvfrom(65535)
            if not data.strip():
                continue
            m = Msg(data, src)
            # What an earlier case left (its cleanup's BYE or CANCEL
            # relayed late on a busy machine) is not this case's.
            if m.get("Call-ID") in ENDED:
                continue
            if VERBOSE:
                print("# %s <- %s:%d\n# %s" % (self.name, src[0], src[1],
                      data.decode("utf-8", "replace").replace("\r\n", "\n# ")))
            if m.code == 100:
                continue
            return m


# --- steps ------------------------------------------------------------------

class Step:
    def __init__(self, desc, fn):
        self.desc, self.fn = desc, fn


class Ctx:
    """One case's run: its variables and the peers."""

    def __init__(self, suite, case, n):
        self.suite, self.case = suite, case
        self.env = dict(G)
        self.env.update(suite.glob)
        uid = "oa%d-%d" % (n, os.getpid())
        self.env.update(CALLID=uid + "@oa.test", CASE=uid)
        self.branches = 0
        self.peers = suite.peers

    def branch(self):
        self.branches += 1
        return "z9hG4bK-%s-%d" % (self.env["CASE"], self.branches)

    def peer(self, name):
        return self.peers[name]


def _dest_of(ctx, to):
    host, _, port = fill(to, ctx.env).rpartition(":")
    return (host, int(port))


def sdp_text(lines, env):
    return "".join(fill(l, env) + "\r\n" for l in lines)


def build_request(ctx, p, method, ruri=None, sdp=None, body=None, ctype=None,
                  headers=(), route=None, contact=True, new=False,
                  branch=None, to_tag=None, no_branch=False, cseq=None):
    env = ctx.env
    d = p.dlg
    in_dialog = d.get("rtag") is not None and not new
    if method in ("INVITE", "REGISTER") and not d.get("call_id") or new:
        d.clear()
        d.update(call_id=env["CALLID"], ltag="%s-%s" % (p.name.lower(),
                 env["CASE"]), rtag=None, lcseq=0, routes=[], target=None,
                 luri=None, ruri=None)
    if method == "ACK" and p.last_final and p.last_final.code >= 300:
        # RFC 3261 17.1.1.3: the ACK of an error response is the INVITE's
        # transaction: its branch, R-URI, Route, CSeq number.
        inv = p.sent["INVITE"]
        lines = ["ACK %s SIP/2.0" % inv.ruri,
                 "Via: %s" % inv.get("Via"),
                 "From: %s" % inv.get("From"),
                 "To: %s" % p.last_final.get("To"),
                 "Call-ID: %s" % inv.get("Call-ID"),
                 "CSeq: %d ACK" % inv.cseq]
        lines += ["Route: %s" % r for r in inv.all("Route")]
        lines += ["Max-Forwards: 70", "Content-Length: 0", "", ""]
        return "\r\n".join(lines)
    if method == "CANCEL":
        inv = p.sent["INVITE"]
        lines = ["CANCEL %s SIP/2.0" % inv.ruri,
                 "Via: %s" % inv.get("Via"),
                 "From: %s" % inv.get("From"),
                 "To: %s" % inv.get("To"),
                 "Call-ID: %s" % inv.get("Call-ID"),
                 "CSeq: %d CANCEL" % inv.cseq]
        lines += ["Route: %s" % r for r in inv.all("Route")]
        lines += ["Max-Forwards: 70", "Content-Length: 0", "", ""]
        return "\r\n".join(lines)
    me = "%s@%s:%d" % (p.user, p.ip, p.port)
    if p.name.startswith("T"):
        luri = d.get("luri") or "sip:%s@%s" % (p.user, G["DOMAIN"])
        target = d.get("target") or "sip:far@%s" % G["DOMAIN"]
        ruri_v = fill(ruri, env) if ruri else (
            target if in_dialog or method != "REGISTER"
            else "sip:" + G["DOMAIN"])
        if method == "REGISTER":
            luri = "sip:%s@%s" % (p.user, G["DOMAIN"])
    else:
        luri = d.get("luri") or "sip:far@%s" % G["DOMAIN"]
        target = d.get("target") or "sip:t@%s" % env.get("CORE", "?")
        ruri_v = fill(ruri, env) if ruri else target
    ruri_user = d.get("ruri") or ("sip:%s@%s" % ("t", G["DOMAIN"])
                                  if not p.name.startswith("T") else
                                  "sip:far@%s" % G["DOMAIN"])
    if method == "REGISTER":
        ruri_user = luri
    b = fill(branch, env) if branch else ctx.branch()
    env["BRANCH"] = b
    if method == "ACK":
        cs = d.get("ack_cseq") or d.get("lcseq") or 1
    elif cseq is not None:
        cs = cseq
    else:
        d["lcseq"] = (d.get("lcseq") or 0) + 1
        cs = d["lcseq"]
    to = "<%s>" % ruri_user + (";tag=%s" % (to_tag or d["rtag"]) if
                               (to_tag or (in_dialog and d.get("rtag")))
                               else "")
    via = "SIP/2.0/UDP %s:%d;rport" % (p.ip, p.port)
    if not no_branch:
        via += ";branch=%s" % b
    lines = ["%s %s SIP/2.0" % (method, ruri_v),
             "Via: %s" % via,
             "Max-Forwards: 70",
             "From: <%s>;tag=%s" % (luri, d.get("ltag") or "x"),
             "To: %s" % to,
             "Call-ID: %s" % (d.get("call_id") or env["CALLID"]),
             "CSeq: %d %s" % (cs, method)]
    routes = route if route is not None else (d.get("routes") if in_dialog
                                             else [])
    lines += ["Route: %s" % fill(r, env) for r in routes or []]
    if contact is True and method in ("INVITE", "UPDATE", "SUBSCRIBE",
                                      "REGISTER"):
        lines.append("Contact: <sip:%s>" % me)
    elif isinstance(contact, (list, tuple)):
        lines += ["Contact: %s" % fill(c, env) for c in contact]
    elif isinstance(contact, str):
        lines.append("Contact: %s" % fill(contact, env))
    lines += [fill(h, env) for h in headers]
    payload = ""
    if sdp is not None:
        payload, ctype = sdp_text(sdp, env), ctype or "application/sdp"
    elif body is not None:
        payload = fill(body, env)
    if ctype:
        lines.append("Content-Type: %s" % fill(ctype, env))
    lines.append("Content-Length: %d" % len(payload.encode()))
    if method == "INVITE":
        d["ack_cseq"] = cs
    return "\r\n".join(lines) + "\r\n\r\n" + payload


def build_response(ctx, p, code, req, reason=None, sdp=None, body=None,
                   ctype=None, headers=(), tag=None, rr=None, contact=None):
    env = ctx.env
    reasons = {180: "Ringing", 183: "Session Progress", 200: "OK",
               202: "Accepted", 301: "Moved Permanently",
               302: "Moved Temporarily", 401: "Unauthorized",
               407: "Proxy Authentication Required",
               422: "Session Interval Too Small",
               481: "Call/Transaction Does Not Exist",
               486: "Busy Here", 487: "Request Terminated",
               488: "Not Acceptable Here", 491: "Request Pending",
               500: "Server Internal Error", 503: "Service Unavailable",
               603: "Decline", 606: "Not Acceptable"}
    to = req.get("To")
    if not tag_of(to) and code > 100:
        to += ";tag=%s" % (tag or p.dlg.get("ltag")
                           or "%s-%s" % (p.name.lower(), env["CASE"]))
    lines = ["SIP/2.0 %d %s" % (code, reason or reasons.get(code, "X"))]
    lines += ["Via: %s" % v for v in req.all("Via")]
    if rr is not None:
        lines += ["Record-Route: %s" % fill(r, env) for r in rr]
    elif code < 300 and req.method in ("INVITE", "SUBSCRIBE"):
        # The softswitch plays Kamailio with record_route(): its own entry
        # on top of those of a dialog-creating request.
        if p.name == "S" and not tag_of(req.get("To")):
            lines.append("Record-Route: <sip:%s;lr>" % G["S_IP"])
        lines += ["Record-Route: %s" % r for r in req.all("Record-Route")]
    lines += ["From: %s" % req.get("From"), "To: %s" % to,
              "Call-ID: %s" % req.get("Call-ID"),
              "CSeq: %s" % req.get("CSeq")]
    if contact is not None:
        lines += ["Contact: %s" % fill(c, env) for c in
                  (contact if isinstance(contact, (list, tuple)) else
                   [contact])]
    elif code < 300 and req.method in ("INVITE", "UPDATE", "SUBSCRIBE"):
        lines.append("Contact: <sip:%s@%s:%d>" % (
            "t" if p.name.startswith("T") else "far",
            p.ip if p.name.startswith("T") else G["FAR_IP"], p.port))
    lines += [fill(h, env) for h in headers]
    payload = ""
    if sdp is not None:
        payload, ctype = sdp_text(sdp, env), ctype or "application/sdp"
    elif body is not None:
        payload = fill(body, env)
    if ctype:
        lines.append("Content-Type: %s" % fill(ctype, env))
    lines.append("Content-Length: %d" % len(payload.encode()))
    return "\r\n".join(lines) + "\r\n\r\n" + payload


def send(peer, what, to=None, reply_to=None, tag=None, **kw):
    """Step: peer sends a request (what: a method) or a response (what: a
    status code, to the last request it received of method reply_to, else
    the last request it received). to: ADDR:PORT destination (default: a
    terminal sends to ACC, the softswitch to the terminal's core address,
    a response goes back to where its request came from)."""
    def run(ctx):
        p = ctx.peer(peer)
        if isinstance(what, int):
            req = p.got.get(reply_to or "last")
            if not req:
                raise Fail("%s has no %s to answer" % (peer,
                           reply_to or "request"))
            if tag is not None:
                p.dlg["ltag"] = tag
            text = build_response(ctx, p, what, req, tag=tag, **kw)
            if 200 <= what < 300 and req.method == "INVITE" or (
                    100 < what < 200 and tag_of(req.get("To")) is None):
                # UAS: the dialog of the request (RFC 3261 12.1.1).
                p.dlg.update(call_id=req.get("Call-ID"),
                             rtag=tag_of(req.get("From")),
                             ltag=tag_of(Msg(text.encode()).get("To")),
                             target=uri_of(req.get("Contact")),
                             routes=own_routes_popped(
                                 p, req.all("Record-Route")),
                             luri=uri_of(req.get("To")),
                             ruri=uri_of(req.get("From")))
            dest = _dest_of(ctx, to) if to else req.src
        else:
            text = build_request(ctx, p, what, **kw)
            if to:
                dest = _dest_of(ctx, to)
            elif peer.startswith("T"):
                dest = (G["ACC_IP"], 5060)
            else:
                dest = _dest_of(ctx, "{CORE}")
            m = Msg(text.encode())
            p.sent[what] = m
            if what == "INVITE":
                p.last_final = None
        p.send(text, dest)
    return Step("%s sends %s" % (peer, what), run)


def expect(peer, what, sdp=None, sdp_has=(), sdp_lacks=(), hdr=None,
           absent=(), ruri=None, nobody=False, body_has=(), src=None,
           timeout=WAIT):
    """Step: the next message at peer is `what` (a method, or a status
    code), and: sdp, its SDP lines exactly (patterns); sdp_has/sdp_lacks,
    lines (patterns) it must have / must not have; hdr, {name: pattern}
    for the first value or {name: [patterns]} for all of them, exactly;
    absent, headers it must not carry; ruri, the Request-URI; nobody, no
    body at all; src, where it came from (ADDR:PORT pattern)."""
    def run(ctx):
        p = ctx.peer(peer)
        m = p.recv(timeout)
        if m is None:
            raise Fail("%s received nothing (expected %s)" % (peer, what))
        if isinstance(what, int):
            if m.code != what:
                raise Fail("%s received %s, expected %d" % (peer, m.what(),
                                                           what))
        elif m.method != what:
            raise Fail("%s received %s, expected %s" % (peer, m.what(), what))
        env = ctx.env
        if src and not match(src, "%s:%d" % m.src, env):
            raise Fail("%s from %s:%d, expected %s" % (what, m.src[0],
                                                       m.src[1], src))
        if ruri and not match(ruri, m.ruri, env):
            raise Fail("%s Request-URI %r, expected %r" % (what, m.ruri, ruri))
        for name, pat in (hdr or {}).items():
            vals = m.all(name)
            if isinstance(pat, (list, tuple)):
                ok = len(vals) == len(pat) and all(
                    match(pp, v, env) for pp, v in zip(pat, vals))
            else:
                ok = bool(vals) and match(pat, vals[0], env)
            if not ok:
                raise Fail("%s %s: %r, expected %r" % (what, name, vals, pat))
        for name in absent:
            if m.all(name):
                raise Fail("%s carries %s: %r" % (what, name, m.all(name)))
        got = m.sdp()
        if nobody and m.body.strip():
            raise Fail("%s has a body: %r" % (what, m.body[:200]))
        if sdp is not None or sdp_has or sdp_lacks:
            if got is None:
                raise Fail("%s has no SDP" % what)
        if sdp is not None:
            if len(got) != len(sdp) or not all(
                    match(pp, l, env) for pp, l in zip(sdp, got)):
                raise Fail("%s SDP %r, expected %r" % (what, got, sdp))
        for pat in sdp_has:
            if not any(match(pat, l, env) for l in got):
                raise Fail("%s SDP has no line %r: %r" % (what, pat, got))
        for pat in sdp_lacks:
            bad = [l for l in got if match(pat, l, dict(env))]
            if bad:
                raise Fail("%s SDP has %r" % (what, bad))
        for pat in body_has:
            if pat not in m.body:
                raise Fail("%s body lacks %r" % (what, pat))
        learn(p, m)
    return Step("%s receives %s" % (peer, what), run)


def own_routes_popped(p, routes):
    """The softswitch is Kamailio and its UA in one: the UA's route set
    starts after Kamailio's own entry (loose_route() pops it)."""
    if p.name != "S":
        return routes
    return [r for r in routes if "sip:%s;" % G["S_IP"] not in r]


def learn(p, m):
    """Dialog state of a peer from what it received (RFC 3261 12.1)."""
    if m.method:
        p.got[m.method] = m
        p.got["last"] = m
        return
    if m.cseq_method == "INVITE" and m.code >= 200:
        p.last_final = m
    if m.cseq_method == "INVITE" and 100 < m.code < 300 and tag_of(
            m.get("To")):
        d = p.dlg
        d["rtag"] = tag_of(m.get("To"))
        if m.get("Contact"):
            d["target"] = uri_of(m.get("Contact"))
        if m.code >= 200 or not d.get("confirmed"):
            d["routes"] = own_routes_popped(p, list(reversed(
                m.all("Record-Route"))))
        if m.code >= 200:
            d["confirmed"] = True
    p.got["resp"] = m


def nothing(peer, quiet=QUIET):
    """Step: nothing (but 100 Trying) arrives at peer for quiet s."""
    def run(ctx):
        m = ctx.peer(peer).recv(quiet)
        if m is not None:
            raise Fail("%s received %s, expected nothing" % (peer, m.what()))
    return Step("nothing reaches %s" % peer, run)


def do(fn, desc="a check"):
    """Step: any function of the context; raise Fail to fail."""
    return Step(desc, fn)


def _ctl(*args):
    r = subprocess.run(["ip", "netns", "exec", os.environ["NP_RUN"] + "-proxy",
                        os.environ["OA_CTL"], "--pin-dir",
                        os.environ["NP_PIN_DIR"]] + list(args),
                       capture_output=True, text=True, timeout=10)
    if r.returncode:
        raise Fail("natproxyctl %s failed: %s" % (" ".join(args), r.stderr))
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def flows():
    return _ctl("flows", "--json")


def calls():
    return _ctl("calls", "--state", os.environ["OA_STATE"], "--json")


def _poll(fn, wait):
    end = time.monotonic() + wait
    while True:
        err = fn()
        if not err:
            return
        if time.monotonic() > end:
            raise Fail(err)
        time.sleep(0.05)


def flow(local, wait=1.0, **fields):
    """Step: a flow at relay address `local` (a pattern) exists, its fields
    (dst, src, flags, rate_bytes...) matching the given patterns; numbers
    may be given as a predicate."""
    def run(ctx):
        def check():
            env = dict(ctx.env)
            fl = [f for f in flows() if match(local, f["local"], env)]
            if not fl:
                return "no flow at %s" % fill_known(local, ctx.env)
            for f in fl:
                e = dict(env)
                if all(v(f[k]) if callable(v) else match(str(v), str(f[k]), e)
                       for k, v in fields.items()):
                    ctx.env.update(e)
                    return None
            return "flow at %s is %s, expected %s" % (
                fill_known(local, ctx.env),
                {k: fl[0].get(k) for k in fields}, fields)
        _poll(check, wait)
    return Step("flow %s" % local, run)


def noflow(local, wait=1.0):
    """Step: no flow at relay address `local` (within wait s)."""
    def run(ctx):
        def check():
            fl = [f for f in flows() if match(local, f["local"],
                                              dict(ctx.env))]
            return fl and "flow at %s still there: %s" % (
                fill_known(local, ctx.env), fl[0]["dst"])
        _poll(check, wait)
    return Step("no flow %s" % local, run)


def fill_known(text, env):
    return re.sub(r"\{([A-Z0-9_]+)\}",
                  lambda m: str(env.get(m.group(1), m.group(0))), text)


def call_state(answered=None, streams=None, gone=False, wait=1.0):
    """Step: natproxyctl calls lists this case's call (answered true/false;
    streams: [(access_port pattern, core_port pattern)...]) or, gone, does
    not list it."""
    def run(ctx):
        def check():
            cid = ctx.env["CALLID"]
            cl = [c for c in calls() if c["call_id"] == cid]
            if gone:
                return cl and "call %s still listed" % cid
            if not cl:
                return "call %s not listed" % cid
            c = cl[0]
            if answered is not None and c["answered"] != answered:
                return "call answered=%s" % c["answered"]
            if streams is not None:
                got = [(str(s["access_port"]), str(s["core_port"]))
                       for s in c["streams"]]
                e = dict(ctx.env)
                if len(got) != len(streams) or not all(
                        match(a, g[0], e) and match(b, g[1], e)
                        for (a, b), g in zip(streams, got)):
                    return "call streams %s, expected %s" % (got, streams)
                ctx.env.update(e)
            return None
        _poll(check, wait)
    return Step("natproxyctl calls", run)


def records(ctx):
    try:
        with open(os.environ["OA_CHARGING"]) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    out = []
    for l in lines:
        try:
            r = json.loads(l)
        except ValueError:
            continue
        if r.get("call_id") == ctx.env["CALLID"]:
            out.append(r)
    return out


def charging(n, reason=None, wait=None):
    """Step: exactly n charging records for this case's Call-ID (the last
    with end_reason reason). n=0 is checked after a short quiet time."""
    def run(ctx):
        def check():
            rs = records(ctx)
            if len(rs) != n:
                return "%d charging records, expected %d%s" % (
                    len(rs), n, rs and " (end_reason %s)" %
                    [r.get("end_reason") for r in rs] or "")
            if reason and rs[-1].get("end_reason") != reason:
                return "end_reason %r, expected %r" % (
                    rs[-1].get("end_reason"), reason)
            return None
        if n == 0:
            time.sleep(0.2)
        _poll(check, 1.0 if wait is None else wait)
    return Step("charging %d %s" % (n, reason or ""), run)


# --- the run --------------------------------------------------------------

class Case:
    def __init__(self, name, steps, todo=False, keep=(), cleanup=True):
        self.name, self.steps, self.todo = name, steps, todo
        self.keep, self.cleanup = keep, cleanup


class Suite:
    def __init__(self):
        run = os.environ["NP_RUN"]
        self.glob = {}
        self.peers = {
            "T": Peer("T", run + "-lan0", G["T_IP"], 5060, "t"),
            "T2": Peer("T2", run + "-lan0", G["T2_IP"], 5060, "t2"),
            "S": Peer("S", run + "-core", G["S_IP"], 5060, "far"),
            "X": Peer("X", run + "-core", G["X_IP"], 5060, "x"),
        }

    def cleanup(self, ctx):
        """Ends whatever the case left: a BYE and a CANCEL from the
        terminals for its Call-ID, answers to nobody; then drains."""
        p = self.peers["S"]
        if "INVITE" in p.sent and p.last_final is None:
            try:
                p.send(build_request(ctx, p, "CANCEL"),
                       _dest_of(ctx, "{CORE}"))
            except Exception:
                pass
        for name in ("T", "T2"):
            p = self.peers[name]
            if not p.dlg.get("call_id"):
                continue
            try:
                if "INVITE" in p.sent:
                    p.send(build_request(ctx, p, "CANCEL"),
                           (G["ACC_IP"], 5060))
                p.send(build_request(ctx, p, "BYE"), (G["ACC_IP"], 5060))
            except Exception:
                pass
        ENDED.add(ctx.env.get("CALLID"))
        for p in self.peers.values():
            ENDED.add(p.dlg.get("call_id"))
        time.sleep(0.05)
        for p in self.peers.values():
            p.drain()
            p.reset()

    def run(self, cases, only=None):
        n = 0
        results = []
        for case in cases:
            if only and not re.search(only, case.name) and not case.keep:
                continue
            n += 1
            ctx = Ctx(self, case, n)
            for p in self.peers.values():
                p.drain()
                p.reset()
            err, where = None, None
            for i, step in enumerate(case.steps):
                try:
                    step.fn(ctx)
                except Fail as e:
                    err, where = str(e), "step %d (%s)" % (i + 1, step.desc)
                    break
                except Exception as e:  # a broken case is a failure too
                    err = "%s: %s" % (type(e).__name__, e)
                    where = "step %d (%s)" % (i + 1, step.desc)
                    break
            for k in case.keep:
                if k in ctx.env:
                    self.glob[k] = ctx.env[k]
            todo = " # TODO %s" % TODO if case.todo else ""
            print("%s %d - %s%s" % ("ok" if err is None else "not ok", n,
                                    case.name, todo))
            if err:
                print("#   %s: %s" % (where, err))
            elif case.todo:
                print("#   passes now: drop its todo flag")
            sys.stdout.flush()
            results.append((case, err))
            if case.cleanup:
                self.cleanup(ctx)
        print("1..%d" % n)
        return results


def main():
    path = sys.argv[1]
    ns = dict(globals(), __file__=path, __name__="cases")
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), ns)
    suite = Suite()
    t0 = time.monotonic()
    res = suite.run(ns["CASES"], os.environ.get("OA_ONLY"))
    failed = [c.name for c, e in res if e and not c.todo]
    fixed = [c.name for c, e in res if not e and c.todo]
    todo = [c.name for c, e in res if e and c.todo]
    print("# %d cases in %.1fs: %d failed, %d todo failing, %d todo passing"
          % (len(res), time.monotonic() - t0, len(failed), len(todo),
             len(fixed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
