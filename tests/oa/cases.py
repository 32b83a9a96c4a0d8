# SPDX-License-Identifier: GPL-2.0-only
# The offer/answer cases (tests/oa/README.md), run by tests/oa/oa.py in this
# order, each one TAP test point: Case(name, [steps...], todo=...). Steps:
# send(PEER, METHOD|CODE, ...), expect(PEER, METHOD|CODE, sdp=[...],
# hdr={...}, ...), nothing(PEER), flow(LOCAL, dst=...), noflow(LOCAL),
# call_state(...), charging(N, REASON). Peers: T, T2 (terminals), S (the
# softswitch), X (a stranger in the core). {NAME} in a pattern is a known
# value or captures one (relay ports: PA at the access relay, PC at the
# core relay); {NAME+1} is a known number plus one.
#
# todo=True: natproxyd does not do it yet (issue 10); the case still runs
# every check and prints "# TODO issue 10". Drop the flag when it passes.
# The functions and names below are in scope from oa.py.

# --- SDP ------------------------------------------------------------------


def sdp(ip="{T_IP}", port=6000, extra=(), c=None, v=1, media=None):
    """A terminal's (default) or the far end's SDP: one PCMU stream."""
    return (["v=0", "o=- 1 %d IN IP4 %s" % (v, ip), "s=-",
             "c=IN IP4 %s" % (c or ip), "t=0 0"] +
            (media or ["m=audio %d RTP/AVP 0" % port,
                       "a=rtpmap:0 PCMU/8000"]) + list(extra))


def far(port=7000, **kw):
    return sdp("{FAR_IP}", port, **kw)


def at(ip, port, extra=(), c=None, v=1, media=None):
    """The same SDP as it must arrive: at relay ip:{port} (o= address not
    checked)."""
    return (["v=0", "o=- 1 %d IN IP4 *" % v, "s=-",
             "c=IN IP4 %s" % (c or ip), "t=0 0"] +
            (media or ["m=audio {%s} RTP/AVP 0" % port,
                       "a=rtpmap:0 PCMU/8000"]) + list(extra))


def at_core(port="PC", **kw):
    return at("{CORE_IP}", port, **kw)


def at_acc(port="PA", **kw):
    return at("{ACC_IP}", port, **kw)


T_SDP, FAR_SDP = sdp(), far()
AT_CORE, AT_ACC = at_core(), at_acc()

# --- building blocks --------------------------------------------------------


def out_call(offer=T_SDP, answer=FAR_SDP, inv=None, ok=None, inv_kw=None,
             ok_kw=None, ack=True):
    """T calls the far end: INVITE with SDP, 200 with SDP, ACK; checks
    both SDPs at the relays (PC, PA)."""
    steps = [send("T", "INVITE", sdp=offer, **(inv_kw or {})),
             expect("S", "INVITE", sdp=inv or AT_CORE),
             send("S", 200, sdp=answer, **(ok_kw or {})),
             expect("T", 200, sdp=ok or AT_ACC)]
    if ack:
        steps += [send("T", "ACK"), expect("S", "ACK")]
    return steps


def in_call(offer=FAR_SDP, answer=T_SDP, inv=None, ok=None):
    """The far end calls T through the softswitch (which record-routes):
    INVITE to T's core address, 200, ACK."""
    return [send("S", "INVITE", sdp=offer,
                 headers=["Record-Route: <sip:{S_IP};lr>"]),
            expect("T", "INVITE", sdp=inv or AT_ACC),
            send("T", 200, sdp=answer),
            expect("S", 200, sdp=ok or AT_CORE),
            send("S", "ACK"), expect("T", "ACK")]


def bye(frm="T"):
    """A BYE from frm, answered 200 by the other side."""
    to = "S" if frm.startswith("T") else "T"
    return [send(frm, "BYE"), expect(to, "BYE"), send(to, 200),
            expect(frm, 200)]


FLOWS_OUT = [flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7000"),
             flow("{CORE_IP}:{PC}", dst="{T_IP}:6000")]
NO_FLOWS = [noflow("{ACC_IP}:{PA}"), noflow("{CORE_IP}:{PC}")]


def ended(reason="bye"):
    return [charging(1, reason)] + NO_FLOWS + [call_state(gone=True)]


def reinvite(frm, offer, code, v=2):
    """A re-INVITE from frm (its SDP version v) refused with code by the
    other side; the offer reached it (at the relay, PC or PA kept), the
    error came back."""
    to = "S" if frm == "T" else "T"
    return [send(frm, "INVITE", sdp=offer),
            expect(to, "INVITE", sdp=at_core(v=v) if frm == "T" else
                   at_acc(v=v)),
            send(to, code), expect(frm, code),
            send(frm, "ACK"), expect(to, "ACK")]


def unchanged():
    """After a refused offer: the agreed media, the call up, no record."""
    return FLOWS_OUT + [call_state(answered=True), charging(0)]


def multipart(sdp_lines):
    return ("--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
            "--b1\r\nContent-Type: application/sdp\r\n\r\n" +
            "".join(l + "\r\n" for l in sdp_lines) + "--b1--\r\n")


MP = "multipart/mixed;boundary=b1"
ICE = ["a=ice-ufrag:abcd", "a=ice-pwd:0123456789abcdef012345",
       "a=candidate:1 1 UDP 2130706431 {T_IP} 6000 typ host",
       "a=candidate:2 1 UDP 1694498815 192.0.2.7 6000 typ srflx raddr "
       "{T_IP} rport 6000", "a=end-of-candidates"]
VIDEO = ["m=audio {p} RTP/AVP 0", "a=rtpmap:0 PCMU/8000",
         "m=video {v} RTP/AVP 96", "a=rtpmap:96 H264/90000"]


def two(p, v):
    return [l.replace("{p}", str(p)).replace("{v}", str(v)) for l in VIDEO]


REL = ["Require: 100rel", "RSeq: 1"]
CORE_RR = ["<sip:{S_IP};lr>"]


def do_set(**kv):
    def run(ctx):
        for k, v in kv.items():
            ctx.env[k] = fill(v, ctx.env)
    return do(run, "set " + ",".join(kv))


CASES = []


def case(name, *steps, todo=False, keep=()):
    flat = []
    for s in steps:
        flat += s if isinstance(s, list) else [s]
    CASES.append(Case(name, flat, todo=todo, keep=keep))


# --- registrations (every later case needs them) ------------------------------

case("register: T's Contact and Via become its core address; the 200 gives "
     "T its own back",
     send("T", "REGISTER", headers=["Expires: 3600"]),
     expect("S", "REGISTER",
            hdr={"Via": ["SIP/2.0/UDP {CORE_IP}:{TPORT};branch={BRANCH}*"],
                 "Contact": ["<sip:t@{CORE_IP}:{TPORT}>"]}),
     do_set(CORE="{CORE_IP}:{TPORT}"),
     send("S", 200, contact="<sip:t@{CORE}>;expires=3600"),
     expect("T", 200, hdr={"Via": ["SIP/2.0/UDP {T};rport*;branch={BRANCH}*"],
                           "Contact": "<sip:t@{T}>*"}),
     keep=("TPORT", "CORE"))
case("register: a second terminal with two lines (;line=) gets a core "
     "address of its own",
     send("T2", "REGISTER", headers=["Expires: 3600"],
          contact=["<sip:100@{T2};line=aaa>", "<sip:101@{T2};line=bbb>"]),
     expect("S", "REGISTER",
            hdr={"Via": "SIP/2.0/UDP {CORE_IP}:{T2PORT};branch={BRANCH}*"}),
     do_set(CORE2="{CORE_IP}:{T2PORT}"),
     do(lambda ctx: ctx.env["T2PORT"] != ctx.env["TPORT"] or
        (_ for _ in ()).throw(Fail("T and T2 share core port")),
        "distinct core ports"),
     send("S", 200, contact=["<sip:100@{CORE2};line=aaa>;expires=3600",
                             "<sip:101@{CORE2};line=bbb>;expires=3600"]),
     expect("T2", 200),
     keep=("T2PORT", "CORE2"))
case("register: both ;line= Contacts rewritten to the core address (user "
     "and parameters kept), both restored in the 200",
     send("T2", "REGISTER", headers=["Expires: 3600"],
          contact=["<sip:100@{T2};line=aaa>", "<sip:101@{T2};line=bbb>"]),
     expect("S", "REGISTER",
            hdr={"Contact": ["<sip:100@{CORE2};line=aaa>",
                             "<sip:101@{CORE2};line=bbb>"]}),
     send("S", 200, contact=["<sip:100@{CORE2};line=aaa>;expires=3600",
                             "<sip:101@{CORE2};line=bbb>;expires=3600"]),
     expect("T2", 200, hdr={"Contact": ["<sip:100@{T2};line=aaa>*",
                                        "<sip:101@{T2};line=bbb>*"]}))

# --- call from the terminal -----------------------------------------------------

case("out: the offer reaches the core at the core relay, exact SDP",
     send("T", "INVITE", sdp=T_SDP),
     expect("S", "INVITE", sdp=AT_CORE))
case("out: the answer reaches the terminal at the access relay, exact SDP",
     out_call())
case("out: top Via toward the core is CORE with the terminal's branch",
     send("T", "INVITE", sdp=T_SDP),
     expect("S", "INVITE", hdr={"Via": ["SIP/2.0/UDP {CORE};branch={BRANCH}*"]}))
case("out: the response reaches the terminal with its own Via alone",
     send("T", "INVITE", sdp=T_SDP),
     expect("S", "INVITE"), send("S", 180),
     expect("T", 180, hdr={"Via": ["SIP/2.0/UDP {T};rport*;branch={BRANCH}*"]}))
case("out: Contact toward the core is CORE, user part and parameters kept",
     send("T", "INVITE", sdp=T_SDP, contact="<sip:t@{T};ob>;+sip.instance=\"<urn:uuid:1>\""),
     expect("S", "INVITE", hdr={"Contact": ["<sip:t@{CORE};ob>;+sip.instance=\"<urn:uuid:1>\""]}))
case("out: the core's Contact reaches the terminal unchanged; the ACK "
     "goes to it",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 200, sdp=FAR_SDP),
     expect("T", 200, hdr={"Contact": ["<sip:far@{FAR_IP}:5060>"]}),
     send("T", "ACK"), expect("S", "ACK", ruri="sip:far@{FAR_IP}:5060"))
case("out: flows from the access relay to the far end and from the core "
     "relay to the terminal", out_call(), FLOWS_OUT)
case("out: BYE from the terminal: flows removed, one record (bye)",
     out_call(), FLOWS_OUT, bye("T"), ended("bye"))
case("out: BYE from the core: flows removed, one record (bye)",
     out_call(), bye("S"), ended("bye"))
case("out: 486 from the core: the terminal gets it, one record",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 486), expect("T", 486), send("T", "ACK"),
     charging(1), NO_FLOWS)
case("out: a request without a branch gets one of natproxy's, unique per "
     "transaction",
     send("T", "OPTIONS", no_branch=True),
     expect("S", "OPTIONS", hdr={"Via": "SIP/2.0/UDP {CORE};branch=z9hG4bK{B1};rport"}),
     send("T", "OPTIONS", no_branch=True),
     expect("S", "OPTIONS", hdr={"Via": "SIP/2.0/UDP {CORE};branch=z9hG4bK{B2};rport"}),
     do(lambda ctx: ctx.env["B1"] != ctx.env["B2"] or
        (_ for _ in ()).throw(Fail("both got branch %s" % ctx.env["B1"])),
        "branches differ"))

# --- call to the terminal ---------------------------------------------------------

case("in: the Request-URI for CORE becomes the terminal's Contact",
     send("S", "INVITE", sdp=FAR_SDP),
     expect("T", "INVITE", ruri="sip:t@{T}"))
case("in: the offer reaches the terminal at the access relay, exact SDP",
     send("S", "INVITE", sdp=FAR_SDP),
     expect("T", "INVITE", sdp=AT_ACC))
case("in: the answer reaches the core at the core relay, exact SDP",
     in_call())
case("in: natproxy's Via on top toward the terminal, popped toward the core",
     send("S", "INVITE", sdp=FAR_SDP),
     expect("T", "INVITE", hdr={"Via": ["SIP/2.0/UDP {ACC};branch=*",
                                        "SIP/2.0/UDP {S};rport*;branch={BRANCH}*"]}),
     send("T", 180),
     expect("S", 180, hdr={"Via": ["SIP/2.0/UDP {S};rport*;branch={BRANCH}*"]}))
case("in: flows from the access relay to the far end and from the core "
     "relay to the terminal", in_call(), FLOWS_OUT)
case("in: BYE from the terminal: one record (bye), flows removed",
     in_call(), bye("T"), ended("bye"))
case("in: BYE from the core: one record (bye), flows removed",
     in_call(), bye("S"), ended("bye"))
case("in: 486 from the terminal: one record, flows removed",
     send("S", "INVITE", sdp=FAR_SDP), expect("T", "INVITE"),
     send("T", 486), expect("S", 486), send("S", "ACK"),
     charging(1), NO_FLOWS)

# --- late offer ------------------------------------------------------------------

case("late offer out: SDP in the 200 rewritten toward the terminal, the "
     "answer in the ACK toward the core, flows installed",
     send("T", "INVITE"), expect("S", "INVITE", nobody=True),
     send("S", 200, sdp=FAR_SDP), expect("T", 200, sdp=AT_ACC),
     send("T", "ACK", sdp=T_SDP), expect("S", "ACK", sdp=AT_CORE),
     FLOWS_OUT)
case("late offer in: SDP in the terminal's 200 rewritten toward the core, "
     "the answer in the core's ACK toward the terminal, flows installed",
     send("S", "INVITE"), expect("T", "INVITE", nobody=True),
     send("T", 200, sdp=T_SDP), expect("S", 200, sdp=AT_CORE),
     send("S", "ACK", sdp=FAR_SDP), expect("T", "ACK", sdp=AT_ACC),
     FLOWS_OUT)

# --- re-INVITE accepted -------------------------------------------------------------

case("re-INVITE from the terminal accepted: same relay ports, flows follow "
     "the new terminal port",
     out_call(), send("T", "INVITE", sdp=sdp(port=6100, v=2)),
     expect("S", "INVITE", sdp=at_core(v=2)),
     send("S", 200, sdp=far(v=2)), expect("T", 200, sdp=at_acc(v=2)),
     send("T", "ACK"), expect("S", "ACK"),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6100"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7000"),
     bye("T"), charging(1, "bye"))
case("re-INVITE from the core accepted: same relay ports, flows follow the "
     "new far port",
     in_call(), send("S", "INVITE", sdp=far(7100, v=2)),
     expect("T", "INVITE", sdp=at_acc(v=2)),
     send("T", 200, sdp=sdp(v=2)), expect("S", 200, sdp=at_core(v=2)),
     send("S", "ACK"), expect("T", "ACK"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7100"),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6000"),
     bye("S"), charging(1, "bye"))
case("re-INVITE from the terminal: the new far port in the 200 moves the "
     "flow",
     out_call(), send("T", "INVITE", sdp=sdp(v=2)),
     expect("S", "INVITE", sdp=at_core(v=2)),
     send("S", 200, sdp=far(7200, v=2)), expect("T", 200, sdp=at_acc(v=2)),
     send("T", "ACK"), expect("S", "ACK"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7200"))

# --- re-INVITE refused: the call goes on with its agreed media, no record -----

for code in (488, 491, 401, 407, 422, 500, 503, 603, 606):
    case("re-INVITE from the terminal refused %d: media and flows unchanged, "
         "call up, no record; BYE then writes one" % code,
         out_call(), reinvite("T", sdp(port=6100, v=2), code), unchanged(),
         bye("T"), charging(1, "bye"))
for code in (488, 491):
    case("re-INVITE from the core refused %d by the terminal: media and "
         "flows unchanged, no record" % code,
         in_call(), reinvite("S", far(7100, v=2), code), unchanged(),
         bye("S"), charging(1, "bye"))
case("re-INVITE refused 488, then a new re-INVITE is accepted on the same "
     "relay ports",
     out_call(), reinvite("T", sdp(port=6100, v=2), 488),
     send("T", "INVITE", sdp=sdp(port=6200, v=3)),
     expect("S", "INVITE", sdp=at_core(v=3)),
     send("S", 200, sdp=far(v=3)), expect("T", 200, sdp=at_acc(v=3)),
     send("T", "ACK"), expect("S", "ACK"),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6200"))

# --- CANCEL ---------------------------------------------------------------------

case("CANCEL from the terminal before the 2xx: one record (cancel), flows "
     "removed",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE", sdp=AT_CORE),
     send("S", 180), expect("T", 180),
     send("T", "CANCEL"), expect("S", "CANCEL"),
     send("S", 200), expect("T", 200),
     send("S", 487, reply_to="INVITE"), expect("T", 487),
     send("T", "ACK"), expect("S", "ACK"),
     charging(1, "cancel"), noflow("{CORE_IP}:{PC}"))
case("CANCEL from the core before the 2xx: one record (cancel)",
     send("S", "INVITE", sdp=FAR_SDP), expect("T", "INVITE", sdp=AT_ACC),
     send("T", 180), expect("S", 180),
     send("S", "CANCEL"), expect("T", "CANCEL"),
     send("T", 200), expect("S", 200),
     send("T", 487, reply_to="INVITE"), expect("S", 487),
     send("S", "ACK"), expect("T", "ACK"),
     charging(1, "cancel"), noflow("{ACC_IP}:{PA}"))
case("CANCEL of a re-INVITE: the call goes on, media and flows unchanged, "
     "no record",
     out_call(), send("T", "INVITE", sdp=sdp(port=6100, v=2)),
     expect("S", "INVITE"), send("T", "CANCEL"), expect("S", "CANCEL"),
     send("S", 200), expect("T", 200),
     send("S", 487, reply_to="INVITE"), expect("T", 487),
     send("T", "ACK"), expect("S", "ACK"),
     unchanged(), bye("T"), charging(1, "bye"))

# --- UPDATE ---------------------------------------------------------------------

case("UPDATE with SDP in the early dialog: the offer and the answer in its "
     "2xx rewritten, flows follow",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE", sdp=AT_CORE),
     send("S", 183, sdp=FAR_SDP), expect("T", 183, sdp=AT_ACC),
     send("T", "UPDATE", sdp=sdp(port=6100, v=2)),
     expect("S", "UPDATE", sdp=at_core(v=2)),
     send("S", 200, sdp=far(7100, v=2)), expect("T", 200, sdp=at_acc(v=2)),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6100"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7100"))
case("UPDATE with SDP from the terminal in the confirmed dialog: rewritten "
     "both ways, same relay ports",
     out_call(), send("T", "UPDATE", sdp=sdp(port=6100, v=2)),
     expect("S", "UPDATE", sdp=at_core(v=2)),
     send("S", 200, sdp=far(v=2)), expect("T", 200, sdp=at_acc(v=2)),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6100"))
case("UPDATE with SDP from the core in the confirmed dialog: rewritten both "
     "ways, same relay ports",
     in_call(), send("S", "UPDATE", sdp=far(7100, v=2)),
     expect("T", "UPDATE", sdp=at_acc(v=2)),
     send("T", 200, sdp=sdp(v=2)), expect("S", 200, sdp=at_core(v=2)),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7100"))
case("UPDATE refused 488: media and flows unchanged, no record",
     out_call(), send("T", "UPDATE", sdp=sdp(port=6100, v=2)),
     expect("S", "UPDATE"), send("S", 488), expect("T", 488),
     unchanged())

# --- PRACK ----------------------------------------------------------------------

case("PRACK: the offer in a reliable 183 reaches the terminal rewritten, the "
     "answer in the PRACK reaches the core rewritten, flows installed",
     send("T", "INVITE", headers=["Supported: 100rel"]),
     expect("S", "INVITE", nobody=True),
     send("S", 183, sdp=FAR_SDP, headers=REL),
     expect("T", 183, sdp=AT_ACC),
     send("T", "PRACK", sdp=T_SDP, headers=["RAck: 1 1 INVITE"]),
     expect("S", "PRACK", sdp=AT_CORE),
     send("S", 200), expect("T", 200),
     FLOWS_OUT)
case("PRACK with an offer: the SDP in its 2xx reaches the terminal rewritten",
     send("T", "INVITE", sdp=T_SDP, headers=["Supported: 100rel"]),
     expect("S", "INVITE", sdp=AT_CORE),
     send("S", 183, sdp=FAR_SDP, headers=REL), expect("T", 183, sdp=AT_ACC),
     send("T", "PRACK", sdp=sdp(port=6100, v=2), headers=["RAck: 1 1 INVITE"]),
     expect("S", "PRACK", sdp=at_core(v=2)),
     send("S", 200, sdp=far(7100, v=2)), expect("T", 200, sdp=at_acc(v=2)),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7100"),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6100"))

# --- hold and resume ------------------------------------------------------------

for attr in ("sendonly", "inactive"):
    case("hold from the terminal (a=%s): rewritten, relay ports kept, flows "
         "stay" % attr,
         out_call(), send("T", "INVITE", sdp=sdp(v=2, extra=["a=" + attr])),
         expect("S", "INVITE", sdp=at_core(v=2, extra=["a=" + attr])),
         send("S", 200, sdp=far(v=2, extra=["a=recvonly" if attr == "sendonly"
                                             else "a=inactive"])),
         expect("T", 200, sdp=at_acc(v=2, extra=["a=recvonly" if attr ==
                                                 "sendonly" else "a=inactive"])),
         send("T", "ACK"), expect("S", "ACK"), FLOWS_OUT,
         call_state(answered=True))
    case("hold from the core (a=%s): rewritten, relay ports kept, flows stay"
         % attr,
         in_call(), send("S", "INVITE", sdp=far(v=2, extra=["a=" + attr])),
         expect("T", "INVITE", sdp=at_acc(v=2, extra=["a=" + attr])),
         send("T", 200, sdp=sdp(v=2, extra=["a=recvonly" if attr == "sendonly"
                                            else "a=inactive"])),
         expect("S", 200, sdp=at_core(v=2, extra=["a=recvonly" if attr ==
                                                  "sendonly" else "a=inactive"])),
         send("S", "ACK"), expect("T", "ACK"), FLOWS_OUT)
case("hold from the terminal (c=0.0.0.0): c= kept, relay port kept, flows stay",
     out_call(), send("T", "INVITE", sdp=sdp(v=2, c="0.0.0.0")),
     expect("S", "INVITE", sdp=at_core(v=2, c="0.0.0.0")),
     send("S", 200, sdp=far(v=2)), expect("T", 200, sdp=at_acc(v=2)),
     send("T", "ACK"), expect("S", "ACK"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7000"), flow("{CORE_IP}:{PC}"))
case("hold from the core (c=0.0.0.0): c= kept, relay port kept, flows stay",
     in_call(), send("S", "INVITE", sdp=far(v=2, c="0.0.0.0")),
     expect("T", "INVITE", sdp=at_acc(v=2, c="0.0.0.0")),
     send("T", 200, sdp=sdp(v=2)), expect("S", 200, sdp=at_core(v=2)),
     send("S", "ACK"), expect("T", "ACK"),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6000"), flow("{ACC_IP}:{PA}"))
case("resume from the terminal after hold: sendrecv on the same relay ports",
     out_call(), send("T", "INVITE", sdp=sdp(v=2, extra=["a=sendonly"])),
     expect("S", "INVITE"), send("S", 200, sdp=far(v=2, extra=["a=recvonly"])),
     expect("T", 200), send("T", "ACK"), expect("S", "ACK"),
     send("T", "INVITE", sdp=sdp(v=3, extra=["a=sendrecv"])),
     expect("S", "INVITE", sdp=at_core(v=3, extra=["a=sendrecv"])),
     send("S", 200, sdp=far(v=3, extra=["a=sendrecv"])),
     expect("T", 200, sdp=at_acc(v=3, extra=["a=sendrecv"])),
     send("T", "ACK"), expect("S", "ACK"), FLOWS_OUT)
case("resume from the core after c=0.0.0.0 hold: the real address again, "
     "same relay ports",
     in_call(), send("S", "INVITE", sdp=far(v=2, c="0.0.0.0")),
     expect("T", "INVITE"), send("T", 200, sdp=sdp(v=2)), expect("S", 200),
     send("S", "ACK"), expect("T", "ACK"),
     send("S", "INVITE", sdp=far(v=3)), expect("T", "INVITE", sdp=at_acc(v=3)),
     send("T", 200, sdp=sdp(v=3)), expect("S", 200, sdp=at_core(v=3)),
     send("S", "ACK"), expect("T", "ACK"), FLOWS_OUT)

# --- forking with early media -------------------------------------------------

FORKS = [send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE", sdp=AT_CORE),
         send("S", 183, sdp=far(7000), tag="f1"),
         expect("T", 183, sdp=AT_ACC, hdr={"To": "*;tag=f1"}),
         send("S", 183, sdp=far(7002), tag="f2"),
         expect("T", 183, sdp=AT_ACC, hdr={"To": "*;tag=f2"})]
case("forking: two early dialogs, each 183's SDP rewritten to the same "
     "access relay; flows point at the fork of the last 183",
     FORKS, flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7002"))
case("forking: an SDP-less 200 from the first fork: flows follow that "
     "fork's SDP",
     FORKS, send("S", 200, tag="f1"), expect("T", 200, hdr={"To": "*;tag=f1"}),
     send("T", "ACK"), expect("S", "ACK"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7000"))
case("forking: the answered fork's call ends with one record at BYE",
     FORKS, send("S", 200, tag="f2"), expect("T", 200),
     send("T", "ACK"), expect("S", "ACK"),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7002"),
     bye("T"), ended("bye"))

# --- authentication challenges ------------------------------------------------------

for code in (401, 407):
    hdr = "Authorization" if code == 401 else "Proxy-Authorization"
    case("%d to the initial INVITE, then the retry: no record at the "
         "challenge, exactly one at the end" % code,
         send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE", sdp=AT_CORE),
         send("S", code), expect("T", code), send("T", "ACK"),
         expect("S", "ACK"), charging(0),
         send("T", "INVITE", sdp=T_SDP, new=False,
              headers=['%s: Digest username="t", nonce="1"' % hdr]),
         expect("S", "INVITE", sdp=AT_CORE),
         send("S", 200, sdp=FAR_SDP), expect("T", 200, sdp=AT_ACC),
         send("T", "ACK"), expect("S", "ACK"), FLOWS_OUT,
         bye("T"), charging(1, "bye"))

# --- redirects ---------------------------------------------------------------------

case("3xx from the terminal: its Contacts reach the core as they are",
     send("S", "INVITE", sdp=FAR_SDP), expect("T", "INVITE"),
     send("T", 302, contact=["<sip:x@192.0.2.55:5060>",
                             "<sip:y@{T}>;q=0.5"]),
     expect("S", 302, hdr={"Contact": ["<sip:x@192.0.2.55:5060>",
                                       "<sip:y@{T}>;q=0.5"]}),
     send("S", "ACK"), charging(1))
case("3xx from the core: the Contact reaches the terminal as it is",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 301, contact="<sip:z@198.51.100.99>"),
     expect("T", 301, hdr={"Contact": ["<sip:z@198.51.100.99>"]}),
     send("T", "ACK"), charging(1))

# --- ICE, multipart -----------------------------------------------------------

case("ICE attributes removed from the terminal's offer",
     send("T", "INVITE", sdp=sdp(extra=ICE)),
     expect("S", "INVITE", sdp=AT_CORE))
case("ICE attributes removed from the core's answer",
     out_call(answer=far(extra=[l.replace("{T_IP}", "{FAR_IP}") for l in ICE]
                         + ["a=remote-candidates:1 {T_IP} 6000"])))
case("multipart/mixed offer: the SDP part rewritten, the other part kept",
     send("T", "INVITE", body=multipart(T_SDP), ctype=MP),
     expect("S", "INVITE", sdp=AT_CORE, body_has=["hello"]),
     send("S", 200, sdp=FAR_SDP), expect("T", 200, sdp=AT_ACC),
     send("T", "ACK"), expect("S", "ACK"), FLOWS_OUT)
case("multipart/mixed answer from the core: the SDP part rewritten",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE", sdp=AT_CORE),
     send("S", 200, body=multipart(FAR_SDP), ctype=MP),
     expect("T", 200, sdp=AT_ACC, body_has=["hello"]))

# --- failing closed -----------------------------------------------------------

FQDN = sdp(c="media.example.test")
FQDN_FAR = far(c="media.example.test")
V6 = ["v=0", "o=- 1 1 IN IP6 2001:db8::30", "s=-", "c=IN IP6 2001:db8::30",
      "t=0 0", "m=audio 6000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]
case("FQDN c= in the terminal's INVITE: 488, nothing to the core, one "
     "record (refused)",
     send("T", "INVITE", sdp=FQDN), expect("T", 488), nothing("S"),
     charging(1, "refused"))
case("FQDN c= in the core's INVITE: 488 to the core, nothing to the "
     "terminal",
     send("S", "INVITE", sdp=FQDN_FAR), expect("S", 488), nothing("T"))
case("FQDN c= in the core's 183: forwarded without its body",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 183, sdp=FQDN_FAR), expect("T", 183, nobody=True))
case("FQDN c= in the core's 200: not forwarded; ACK and BYE to the core, "
     "500 to the terminal, one record (refused)",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 200, sdp=FQDN_FAR), expect("T", 500),
     expect("S", "ACK"), expect("S", "BYE"), charging(1, "refused"))
case("IPv6 c= in the terminal's INVITE on an IPv4 pair: 488, nothing to "
     "the core",
     send("T", "INVITE", sdp=V6), expect("T", 488), nothing("S"))
case("IPv6 c= in the core's 200 on an IPv4 pair: not forwarded, 500 to "
     "the terminal",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 200, sdp=[l.replace("2001:db8::30", "2001:db8::10")
                         for l in V6]),
     expect("T", 500))

# --- port 0, a=rtcp ----------------------------------------------------------

case("port 0 in the answer: the video stream stays 0, its relays released",
     out_call(offer=sdp(media=two(6000, 6002)),
              inv=at_core(media=[l.replace("{p}", "{PC}").replace(
                  "{v}", "{PCV}") for l in VIDEO]),
              answer=far(media=two(7000, 0)),
              ok=at_acc(media=[l.replace("{p}", "{PA}").replace("{v}", "0")
                               for l in VIDEO])),
     flow("{ACC_IP}:{PA}", dst="{FAR_IP}:7000"), noflow("{CORE_IP}:{PCV}"))
case("port 0 in a re-offer releases that stream's relays, the other stays",
     out_call(offer=sdp(media=two(6000, 6002)),
              inv=at_core(media=[l.replace("{p}", "{PC}").replace(
                  "{v}", "{PCV}") for l in VIDEO]),
              answer=far(media=two(7000, 7002)),
              ok=at_acc(media=[l.replace("{p}", "{PA}").replace(
                  "{v}", "{PAV}") for l in VIDEO])),
     flow("{CORE_IP}:{PCV}", dst="{T_IP}:6002"),
     send("T", "INVITE", sdp=sdp(v=2, media=two(6000, 0))),
     expect("S", "INVITE", sdp=at_core(v=2, media=[
         l.replace("{p}", "{PC}").replace("{v}", "0") for l in VIDEO])),
     send("S", 200, sdp=far(v=2, media=two(7000, 0))), expect("T", 200),
     send("T", "ACK"), expect("S", "ACK"),
     noflow("{CORE_IP}:{PCV}"), noflow("{ACC_IP}:{PAV}"),
     flow("{CORE_IP}:{PC}", dst="{T_IP}:6000"))
case("a=rtcp in the offer rewritten to the relay's RTCP port",
     send("T", "INVITE", sdp=sdp(extra=["a=rtcp:6001"])),
     expect("S", "INVITE", sdp=at_core(extra=["a=rtcp:{PC+1}"])))
case("a=rtcp with an address rewritten to the relay's RTCP port and address",
     send("T", "INVITE", sdp=sdp(extra=["a=rtcp:6001 IN IP4 {T_IP}"])),
     expect("S", "INVITE", sdp=at_core(extra=["a=rtcp:{PC+1} IN IP4 {CORE_IP}"])))
case("a=rtcp in the answer rewritten; RTCP flows go to the port it names",
     out_call(answer=far(extra=["a=rtcp:7011"]),
              ok=at_acc(extra=["a=rtcp:{PA+1}"])),
     flow("{ACC_IP}:{PA+1}", dst="{FAR_IP}:7011"),
     flow("{CORE_IP}:{PC+1}", dst="{T_IP}:6001"))
case("a=rtcp naming another port of the terminal: its RTCP flow goes there",
     out_call(offer=sdp(extra=["a=rtcp:6010 IN IP4 {T_IP}"]),
              inv=at_core(extra=["a=rtcp:{PC+1} IN IP4 {CORE_IP}"])),
     flow("{CORE_IP}:{PC+1}", dst="{T_IP}:6010"))

# --- multi-line terminal ------------------------------------------------------

for user, line in (("100", "aaa"), ("101", "bbb")):
    case("multi-line: an INVITE from the core for line %s reaches that "
         "Contact" % line,
         send("S", "INVITE", sdp=FAR_SDP, to="{CORE2}",
              ruri="sip:%s@{CORE2};line=%s" % (user, line)),
         expect("T2", "INVITE", ruri="sip:%s@{T2};line=%s" % (user, line),
                sdp=AT_ACC),
         nothing("T", 0.05))

# --- Route and Record-Route ---------------------------------------------------

case("a preloaded Route naming natproxy (ACC) is removed toward the core",
     send("T", "INVITE", sdp=T_SDP, route=["<sip:{ACC};lr>"]),
     expect("S", "INVITE", absent=["Route"]))
case("a preloaded Route naming ACC_IP without a port is removed too",
     send("T", "INVITE", sdp=T_SDP, route=["<sip:{ACC_IP};lr>"]),
     expect("S", "INVITE", absent=["Route"]))
case("a Route naming CORE is removed toward the terminal",
     send("S", "INVITE", sdp=FAR_SDP, route=["<sip:{CORE};lr>"]),
     expect("T", "INVITE", absent=["Route"]))
case("out: the INVITE toward the core carries Record-Route <sip:CORE;lr>",
     send("T", "INVITE", sdp=T_SDP),
     expect("S", "INVITE", hdr={"Record-Route": ["<sip:{CORE};lr>"]}))
case("out: Record-Route toward the terminal is exactly <sip:ACC;lr>",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 200, sdp=FAR_SDP, rr=["<sip:{S_IP};lr>", "<sip:{CORE};lr>"]),
     expect("T", 200, hdr={"Record-Route": ["<sip:{ACC};lr>"]}))
case("in: Record-Route toward the terminal is exactly <sip:ACC;lr>",
     send("S", "INVITE", sdp=FAR_SDP, headers=["Record-Route: <sip:{S_IP};lr>"]),
     expect("T", "INVITE", hdr={"Record-Route": ["<sip:{ACC};lr>"]}))
case("in: the 200 toward the core has <sip:CORE;lr> on top (natproxy is "
     "the proxy nearest the callee), then the core's entries",
     send("S", "INVITE", sdp=FAR_SDP, headers=["Record-Route: <sip:{S_IP};lr>"]),
     expect("T", "INVITE"), send("T", 200, sdp=T_SDP,
                                 rr=["<sip:{ACC};lr>"]),
     expect("S", 200, hdr={"Record-Route": ["<sip:{CORE};lr>",
                                            "<sip:{S_IP};lr>"]}))
case("out: the terminal's ACK and BYE reach the core with the core's route "
     "set",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 200, sdp=FAR_SDP, rr=["<sip:{S_IP};lr>", "<sip:{CORE};lr>"]),
     expect("T", 200),
     send("T", "ACK", route=["<sip:{ACC};lr>"]),
     expect("S", "ACK", hdr={"Route": ["<sip:{S_IP};lr>"]}),
     send("T", "BYE", route=["<sip:{ACC};lr>"]),
     expect("S", "BYE", hdr={"Route": ["<sip:{S_IP};lr>"]},
            ruri="sip:far@{FAR_IP}:5060"))
case("in: the terminal's re-INVITE and BYE reach the core with the core's "
     "route set",
     send("S", "INVITE", sdp=FAR_SDP, headers=["Record-Route: <sip:{S_IP};lr>"]),
     expect("T", "INVITE"), send("T", 200, sdp=T_SDP), expect("S", 200),
     send("S", "ACK"), expect("T", "ACK"),
     send("T", "INVITE", sdp=sdp(v=2), route=["<sip:{ACC};lr>"]),
     expect("S", "INVITE", hdr={"Route": ["<sip:{S_IP};lr>"]}),
     send("S", 200, sdp=far(v=2)), expect("T", 200),
     send("T", "ACK", route=["<sip:{ACC};lr>"]),
     send("T", "BYE", route=["<sip:{ACC};lr>"]),
     expect("S", "ACK"),
     expect("S", "BYE", hdr={"Route": ["<sip:{S_IP};lr>"]}))
case("out: in-dialog requests without Route from a terminal that ignored "
     "Record-Route still get the core's route set",
     send("T", "INVITE", sdp=T_SDP), expect("S", "INVITE"),
     send("S", 200, sdp=FAR_SDP, rr=["<sip:{S_IP};lr>", "<sip:{CORE};lr>"]),
     expect("T", 200), send("T", "ACK", route=[]),
     expect("S", "ACK", hdr={"Route": ["<sip:{S_IP};lr>"]}))

# --- the core side: strangers ------------------------------------------------

case("an INVITE to the terminal's core address from a stranger is dropped",
     send("X", "INVITE", sdp=FAR_SDP), nothing("T"), nothing("X", 0.05),
     charging(0))
case("a BYE from a stranger for a live call is dropped; the call goes on",
     in_call(), send("X", "BYE", ruri="sip:t@{CORE}",
                     headers=[]),
     nothing("T"), FLOWS_OUT, call_state(answered=True), charging(0))

# --- bandwidth -----------------------------------------------------------------

case("b=AS:64 PCMU: the policer allows at least 12000 IP bytes/s (100 "
     "packets of 120 bytes at 10 ms), or none",
     out_call(offer=sdp(media=["m=audio 6000 RTP/AVP 0", "b=AS:64",
                               "a=rtpmap:0 PCMU/8000"]),
              inv=at_core(media=["m=audio {PC} RTP/AVP 0", "b=AS:64",
                                 "a=rtpmap:0 PCMU/8000"])),
     flow("{CORE_IP}:{PC}", rate_bytes=lambda r: r == 0 or r >= 12000),
     flow("{ACC_IP}:{PA}", rate_bytes=lambda r: r == 0 or r >= 12000))

# --- last: natproxyd lived through all of the above ---------------------------


def _alive(ctx):
    try:
        os.kill(int(os.environ["OA_NPD_PID"]), 0)
    except (OSError, KeyError, ValueError) as e:
        raise Fail("natproxyd (pid %s) is gone: %s" %
                   (os.environ.get("OA_NPD_PID"), e))


case("natproxyd still runs after every case",
     do(_alive, "natproxyd's pid"),
     send("T", "OPTIONS"), expect("S", "OPTIONS"))

