#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the seed corpus of tests/fuzz/mgcp_fuzz.c: MGCP exchanges as
mgcp_fuzz reads them (datagrams split by NUL, each led by a control byte:
bit 0 the call agent's side, bits 1-2 the gateway's NAT, bits 3-7 seconds
to wait first; a control byte 0 would be a separator: gateways default
to NAT 1). Our
transaction ids start at 40000001 there (its clock)."""
import os
import sys

GW_SDP = ("v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\n"
          "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
CA_SDP = ("v=0\r\no=- 2 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\n"
          "t=0 0\r\nm=audio 5000 RTP/AVP 0\r\n")
EP = "aaln/1@[192.168.1.10]"
CORE_EP = "aaln/1@[198.51.100.1]:20000"


def gw(text, nat=1, wait=0):
    return bytes([(wait << 3) | (nat << 1)]) + text.encode()


def ca(text, wait=0):
    return bytes([(wait << 3) | 1]) + text.encode()


SEEDS = {
    "call": [
        gw("RSIP 1000 %s MGCP 1.0\r\nRM: restart\r\n" % EP),
        ca("200 40000001 OK\r\n"),
        ca("CRCX 300 %s MGCP 1.0\r\nC: A1\r\nM: recvonly\r\nN: ca@[198.51.100.2]:2727\r\n" % CORE_EP),
        gw("200 40000002 OK\r\nI: 11\r\n\r\n" + GW_SDP),
        ca("MDCX 301 %s MGCP 1.0\r\nC: A1\r\nI: 11\r\nM: sendrecv\r\n\r\n%s" % (CORE_EP, CA_SDP)),
        gw("100 40000003 Pending\r\n"),
        gw("200 40000003 OK\r\nK:\r\n"),
        ca("000 301\r\n"),
        ca("RQNT 302 %s MGCP 1.0\r\nK: 300-301\r\nX: 1\r\nR: L/hu\r\n" % CORE_EP),
        ca("DLCX 303 %s MGCP 1.0\r\nC: A1\r\nI: 11\r\n" % CORE_EP),
        gw("250 40000005 OK\r\nP: PS=1, OS=2\r\n"),
    ],
    "offer-first": [
        gw("RSIP 7 %s MGCP 1.0\r\nRM: restart\r\n" % EP),
        ca("CRCX 1 %s MGCP 1.0\r\nC: B\r\n\r\n%s" % (CORE_EP, CA_SDP)),
        gw("200 40000002 OK\r\nI: 22\r\n\r\n" + GW_SDP),
        ca("MDCX 2 %s MGCP 1.0\r\nC: B\r\nI: 22\r\n\r\n%s" % (CORE_EP, CA_SDP)),
        gw("200 40000003 OK\r\n"),
        gw("DLCX 8 %s MGCP 1.0\r\nC: B\r\nI: 22\r\nE: 900 gone\r\n" % EP),
    ],
    "piggyback": [
        gw("NTFY 5 %s MGCP 1.0\r\nO: L/hd\r\n.\r\nNTFY 6 %s MGCP 1.0\r\nO: L/hu\r\n" % (EP, EP), nat=1),
        ca("200 40000001 OK\r\n.\r\n200 40000002 OK\r\n"),
        ca("AUEP 9 *@[198.51.100.1]:20000 MGCP 1.0\r\nF: A\r\n"),
        gw("200 40000003 OK\r\nZ: aaln/1@[192.168.1.10]\r\nZ: aaln/2@[192.168.1.10]\r\n", nat=1),
    ],
    "lost": [
        gw("RSIP 1 %s MGCP 1.0\r\n" % EP, nat=2),
        ca("CRCX 2 %s MGCP 1.0\r\nC: L\r\n\r\n%s" % (CORE_EP, CA_SDP)),
        gw("200 40000002 OK\r\nI: 3\r\n\r\n" + GW_SDP, nat=2),
        gw("", wait=31), gw("", wait=31), gw("", wait=31),
    ],
    "bad": [
        gw("RSIP 1000 MGCP 1.0\r\n", nat=0, wait=1),
        gw("CRCX 0 a@b MGCP 1.0\r\n"),
        gw("RSIP 3 %s MGCP 1.0\r\n" % EP, nat=3),
        ca("CRCX 4 %s MGCP 1.0\r\nC: x\r\n\r\nv=0\r\nc=IN IP4 x.example\r\nm=audio 1 RTP/AVP 0\r\n" % CORE_EP),
        ca("MDCX 5 %s MGCP 1.0\r\nI: nosuch\r\n\r\n%s" % (CORE_EP, CA_SDP)),
        ca("200 99999 OK\r\n"),
    ],
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "mgcp")
os.makedirs(out, exist_ok=True)
for name, dgrams in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"\0".join(dgrams))
