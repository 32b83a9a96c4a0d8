#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the seed corpus of tests/fuzz/proxy_fuzz.c: whole dialogs as
proxy_fuzz reads them (datagrams split by NUL, each led by a control byte:
bit 0 the core side, bits 1-2 the NAT, bits 3-7 seconds to wait first)."""
import os
import sys

ACCESS, CORE = 0, 1


def msg(start, headers, body=""):
    lines = [start] + headers
    if body:
        lines += ["Content-Type: application/sdp"]
    lines += ["Content-Length: %d" % len(body), "", ""]
    return "\r\n".join(lines) + body


def sdp(addr, ports, mux=False, extra=""):
    out = ["v=0", "o=- 1 1 IN IP4 %s" % addr, "s=-", "c=IN IP4 %s" % addr,
           "t=0 0"]
    for kind, port in ports:
        out += ["m=%s %d RTP/AVP 0 8 101" % (kind, port), "b=AS:64",
                "a=rtpmap:101 telephone-event/8000"]
        if mux:
            out += ["a=rtcp-mux"]
    return "\r\n".join(out + ([extra] if extra else [])) + "\r\n"


def term_req(method, cseq, branch, body="", extra=()):
    return msg("%s sip:far@example.test SIP/2.0" % method, [
        "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=%s;rport" % branch,
        "Max-Forwards: 70",
        "From: <sip:alice@example.test>;tag=a1",
        "To: <sip:far@example.test>" + (";tag=f1" if method in ("ACK", "BYE") and cseq > 1 else ""),
        "Call-ID: call-1@192.168.1.10",
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:alice@192.168.1.10:5060>",
    ] + list(extra), body)


def core_resp(code, reason, method, cseq, branch, body=""):
    return msg("SIP/2.0 %d %s" % (code, reason), [
        "Via: SIP/2.0/UDP 198.51.100.1:20000;branch=%s" % branch,
        "From: <sip:alice@example.test>;tag=a1",
        "To: <sip:far@example.test>;tag=f1",
        "Call-ID: call-1@192.168.1.10",
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:far@198.51.100.10:5060>",
    ], body)


def register():
    return [(ACCESS, msg("REGISTER sip:example.test SIP/2.0", [
        "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-r1;rport",
        "Max-Forwards: 70", "From: <sip:alice@example.test>;tag=r1",
        "To: <sip:alice@example.test>", "Call-ID: reg-1@192.168.1.10",
        "CSeq: 1 REGISTER", "Contact: <sip:alice@192.168.1.10:5060>",
        "Expires: 60"])),
        (CORE, msg("SIP/2.0 200 OK", [
            "Via: SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK-r1",
            "From: <sip:alice@example.test>;tag=r1",
            "To: <sip:alice@example.test>;tag=k1",
            "Call-ID: reg-1@192.168.1.10", "CSeq: 1 REGISTER",
            "Contact: <sip:alice@198.51.100.1:20000>;expires=60"]))]


def call(term_sdp, far_sdp, end="bye"):
    out = [(ACCESS, term_req("INVITE", 1, "z9hG4bK-i1", term_sdp)),
           (CORE, core_resp(100, "Trying", "INVITE", 1, "z9hG4bK-i1")),
           (CORE, core_resp(183, "Session Progress", "INVITE", 1, "z9hG4bK-i1", far_sdp))]
    if end == "busy":
        return out + [(CORE, core_resp(486, "Busy Here", "INVITE", 1, "z9hG4bK-i1")),
                      (ACCESS, term_req("ACK", 1, "z9hG4bK-i1"))]
    if end == "cancel":
        return out + [(ACCESS, term_req("CANCEL", 1, "z9hG4bK-i1"))]
    out += [(CORE, core_resp(200, "OK", "INVITE", 1, "z9hG4bK-i1", far_sdp)),
            (ACCESS, term_req("ACK", 1, "z9hG4bK-a1"))]
    if end == "reinvite":
        out += [(ACCESS, term_req("INVITE", 2, "z9hG4bK-i2",
                                  sdp("0.0.0.0", [("audio", 4000)], extra="a=sendonly"))),
                (CORE, core_resp(200, "OK", "INVITE", 2, "z9hG4bK-i2", far_sdp))]
    if end == "timeout":
        return out + [(ACCESS | (31 << 3), "\r\n\r\n")] * 4
    return out + [(ACCESS, term_req("BYE", 3, "z9hG4bK-b1")),
                  (CORE, core_resp(200, "OK", "BYE", 3, "z9hG4bK-b1"))]


def write(path, dialog):
    with open(path, "wb") as f:
        # Every message waits a second: no control byte is NUL.
        f.write(b"\0".join(bytes([ctl | 1 << 3]) + text.encode()
                           for ctl, text in dialog))


def main(out):
    os.makedirs(out, exist_ok=True)
    audio = sdp("192.168.1.10", [("audio", 4000)])
    av = sdp("192.168.1.10", [("audio", 4000), ("video", 4002)], mux=True)
    far = sdp("198.51.100.10", [("audio", 7000)])
    far_av = sdp("198.51.100.10", [("audio", 7000), ("video", 0)], mux=True)
    write(os.path.join(out, "register"), register())
    write(os.path.join(out, "call"), register() + call(audio, far))
    write(os.path.join(out, "call-video-mux"), call(av, far_av))
    write(os.path.join(out, "call-busy"), call(audio, far, "busy"))
    write(os.path.join(out, "call-cancel"), call(audio, far, "cancel"))
    write(os.path.join(out, "call-hold"), call(audio, far, "reinvite"))
    write(os.path.join(out, "call-timeout"), call(audio, far, "timeout"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/proxy")
