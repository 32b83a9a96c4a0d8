#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Merges one `make bench` run into one table and one JSON.

bench/report.py RUNDIR OUTJSON [SECONDS]: reads what bench/run.sh collected
in RUNDIR (xdp_cost-*.json, media.json from bench/media.sh, signaling.json
from bench/signaling.sh, flood.json from bench/flood.sh and memory.jsonl from
build/bench/page_walk when they ran),
prints the table (rows: media zero-loss rate, CPU per Mpkt, latency p50/p99,
packets to user space per new stream, memory per stream, calls/s,
registrations/s, legitimate success under a flood, the relay's ns/packet;
columns: natproxy, the peer, the ceiling where one applies, and the ratios)
and writes the same rows, with every source, as JSON to OUTJSON.
"""
import glob
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_lines(path):
    """The JSON objects of a file of one a line; lines that are none are
    left out, a missing file is []."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                if isinstance(v, dict):
                    out.append(v)
    except OSError:
        pass
    return out


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def ratio(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, unit):
    if isinstance(v, str):
        return v
    if v is None:
        return "-"
    if unit == "Mpps":
        return f"{v / 1e6:.3f}"
    if unit == "us":
        return f"{v / 1e3:.1f}" if v >= 10000 else f"{v / 1e3:.2f}"
    if unit == "CPU ms":
        return f"{v:.3f}"
    if unit == "CPU s":
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    if unit == "x":
        return f"{v:.2f}x" if v < 10 else f"{v:.0f}x"
    if unit in ("%", "% CPU"):
        return f"{v:.1f}%"
    if unit == "loss %":
        return f"{v:.3f}%"
    if unit == "CPU us/s":
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    if unit in ("B", "/s", "pkts"):
        return f"{v:.1f}" if v < 100 else f"{v:.0f}"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def target_bounds(streams, gen, rtpe_pps, memory):
    """What this machine lets the media targets show at one scale, and what
    a random flow entry costs to read there.

    20x rtpengine: every relay here is fed by the one generator, so none
    can show a zero-loss rate above the generator's own: that rate over
    rtpengine's is the most any relay could show. The read of a random flow
    entry (page_walk at this scale, entries of the flow array's size, its
    4 KiB pages) is no bound but context: each read waiting for the one
    before and reads overlapping frame what a relayed packet's miss costs,
    which the ceiling, keeping no per-flow state, never pays.
    """
    b = {}
    g = num((gen or {}).get("zero_loss_pps"))
    if g and num(rtpe_pps):
        b["generator_pps"] = g
        b["max_ratio_vs_rtpengine"] = g / rtpe_pps
        b["pps_for_20x"] = 20 * rtpe_pps
    read = [m for m in memory if m.get("entries") == streams and m.get("page_kib") == 4
            and num(m.get("dependent_ns")) is not None
            and num(m.get("independent_ns")) is not None]
    if read:
        b["entry_bytes"] = read[-1].get("entry_bytes")
        b["entry_read_ns"] = read[-1]["dependent_ns"]
        b["entry_read_overlapped_ns"] = read[-1]["independent_ns"]
    return b


def print_bounds(b, rtpe_pps):
    if "max_ratio_vs_rtpengine" in b:
        print(f"  bound on the 20x target here: no relay can show more than the generator "
              f"makes, {b['generator_pps'] / 1e6:.3f} Mpps, {b['max_ratio_vs_rtpengine']:.1f}x "
              f"rtpengine's {rtpe_pps / 1e6:.3f}; 20x would take "
              f"{b['pps_for_20x'] / 1e6:.3f} Mpps")
    if "entry_read_ns" in b:
        print(f"  one read of a random flow entry here ({b['entry_bytes']} B, 4 KiB pages, "
              f"page_walk): {b['entry_read_ns']:.0f} ns each waiting for the one before, "
              f"{b['entry_read_overlapped_ns']:.0f} ns overlapped; the ceiling keeps no "
              f"per-flow state")


def main():
    rundir, outjson = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else None
    rows = []

    def row(metric, unit, np_v, peer, ceil=None, peer_name="", note=""):
        # Rates: natproxy over the other; costs: the other over natproxy;
        # packet counts (0 for natproxy by design): no ratio.
        cost = unit in ("CPU s", "CPU ms", "us", "B", "CPU us/s", "% CPU")
        plain = unit in ("pkts", "loss %")
        rows.append({"metric": metric, "unit": unit, "natproxy": np_v,
                     "peer": peer, "peer_name": peer_name, "ceiling": ceil,
                     "natproxy_over_peer": None if plain else
                     ratio(peer, np_v) if cost else ratio(np_v, peer),
                     "natproxy_over_ceiling": None if plain else
                     ratio(ceil, np_v) if cost else ratio(np_v, ceil),
                     "note": note})

    media = load(os.path.join(rundir, "media.json"))
    sig = load(os.path.join(rundir, "signaling.json"))
    flood = load(os.path.join(rundir, "flood.json"))
    xc = sorted(glob.glob(os.path.join(rundir, "xdp_cost-*.json")))
    xc = load(xc[-1]) if xc else None
    memory = load_lines(os.path.join(rundir, "memory.jsonl"))

    # --- media
    if media:
        for n, sc in media.get("scales", {}).items():
            npx = sc.get("natproxy") or {}
            rte = sc.get("rtpengine") or {}
            cei = sc.get("ceiling") or {}
            setup = sc.get("rtpengine_setup") or {}
            nlabel = f"{int(n):,}"
            peer_note = ""
            if rte and rte.get("streams") != int(n):
                peer_note = f"rtpengine: {rte.get('streams')} sessions"
            elif (setup.get("instances") or 1) > 1:
                peer_note = (f"rtpengine: {setup['sessions_total']} sessions in "
                             f"{setup['instances']} instances (open-file limit), CPU summed")
            elif not rte and int(n) < 1000:
                peer_note = ("natproxy against the ceiling only: a few streams at "
                             "hundreds of thousands of packets/s each are no real "
                             "streams (rtpengine: see the realistic-load rows)")
            elif not rte:
                peer_note = "rtpengine: not run"
            r_missing = "not run" if not rte else None
            silent = max([t.get("silent_streams", 0) for t in
                          rte.get("trials", []) + [rte.get("latency_trial") or {}]] or [0])
            if silent:
                peer_note = (peer_note + "; " if peer_note else "") + (
                    f"rtpengine stopped serving up to {silent} streams after an "
                    "overload (its log: UDP receive queue exceeded 5 times)")
            row(f"media zero-loss rate, {nlabel} streams", "Mpps",
                npx.get("zero_loss_pps"), rte.get("zero_loss_pps", r_missing),
                cei.get("zero_loss_pps"), "rtpengine", peer_note)
            row(f"CPU per Mpkt, relay path only, {nlabel} streams", "CPU s",
                npx.get("cpu_relay_s_per_mpkt"), rte.get("cpu_relay_s_per_mpkt", r_missing),
                cei.get("cpu_relay_s_per_mpkt"), "rtpengine",
                "minus generating and sinking the same packets in the same calls")
            row(f"CPU per Mpkt, with generator and sink, {nlabel} streams", "CPU s",
                npx.get("cpu_total_s_per_mpkt"), rte.get("cpu_total_s_per_mpkt", r_missing),
                cei.get("cpu_total_s_per_mpkt"), "rtpengine", "")
            row(f"latency p50 at {npx.get('latency_pps', 0):.0f} pps, {nlabel} streams",
                "us", npx.get("latency_p50_ns"), rte.get("latency_p50_ns", r_missing),
                cei.get("latency_p50_ns"), "rtpengine", peer_note)
            row(f"latency p99 at {npx.get('latency_pps', 0):.0f} pps, {nlabel} streams",
                "us", npx.get("latency_p99_ns"), rte.get("latency_p99_ns", r_missing),
                cei.get("latency_p99_ns"), "rtpengine", peer_note)
            def of_first(r):
                if not r or r.get("to_user_per_stream") is None:
                    return None
                return f"{r['to_user_per_stream']:.1f} of {r.get('new_stream_packets')}"
            row(f"packets to user space per new stream, {nlabel} streams",
                "pkts", of_first(npx), of_first(rte) or r_missing, None, "rtpengine",
                f"of the first {npx.get('new_stream_packets')} (natproxy), "
                f"{rte.get('new_stream_packets', '-')} (rtpengine) per stream")
            nt = (npx.get("new_stream_trial") or {}).get("natproxy_xdp") or {}
            if nt and npx.get("streams"):
                row(f"packets to the kernel stack per new stream, {nlabel} streams",
                    "pkts", nt.get("to_kernel", 0) / npx["streams"], None, None, "",
                    "natproxy's XDP verdicts: rewritten, passed to the kernel for a "
                    "missing neighbour (never to user space)")
            mem = sc.get("natproxy_memory") or {}
            np_mem = None
            if mem.get("memlock_total") and npx.get("streams"):
                np_mem = mem["memlock_total"] / npx["streams"]
            rt_mem = None
            if setup.get("sessions_total"):
                rt_mem = (setup["rss_after"] - setup["rss_before"]) / setup["sessions_total"]
            row(f"memory per stream, {nlabel} streams", "B", np_mem,
                rt_mem if rte else r_missing, None, "rtpengine",
                "natproxy: all pinned maps' memlock (preallocated) / streams; "
                "rtpengine: RSS growth / sessions")
        # Realistic load: every stream at a call's rate (bench/media.sh
        # MB_REAL_*): loss and the relay path's CPU per stream.
        for n, sc in (media.get("realistic") or {}).items():
            npx = sc.get("natproxy") or {}
            rte = sc.get("rtpengine") or {}
            pps = npx.get("per_stream_pps") or rte.get("per_stream_pps") or 0
            nlabel = f"{int(n):,} streams x {pps:.0f} pps"
            r_missing = "not run" if not rte else None
            note = ""
            rsetup = sc.get("rtpengine_setup") or {}
            if rte and rte.get("streams") != int(n):
                note = f"rtpengine: {rte.get('streams')} sessions"
            elif (rsetup.get("instances") or 1) > 1:
                note = (f"rtpengine: {rsetup['sessions_total']} sessions in "
                        f"{rsetup['instances']} instances (open-file limit), CPU summed")
            pct = lambda r: None if r.get("loss") is None else r["loss"] * 100
            row(f"realistic load, {nlabel}: loss", "loss %", pct(npx),
                pct(rte) if rte else r_missing, None, "rtpengine", note)
            row(f"realistic load, {nlabel}: CPU per stream, relay path",
                "CPU us/s", npx.get("cpu_relay_us_per_stream_s"),
                rte.get("cpu_relay_us_per_stream_s", r_missing), None, "rtpengine",
                "CPU microseconds per second per stream, minus generating and sinking")
            row(f"realistic load, {nlabel}: CPU, relay path", "% CPU",
                None if npx.get("cpu_relay_s_per_s") is None else npx["cpu_relay_s_per_s"] * 100,
                rte["cpu_relay_s_per_s"] * 100 if rte.get("cpu_relay_s_per_s") is not None
                else r_missing, None, "rtpengine", "of one CPU")
        # What one more stream costs at capacity: preallocated map bytes
        # over their max entries (the flow and counter maps per flow).
        last = list(media.get("scales", {}).values())[-1:] or [{}]
        mem = (last[0] or {}).get("natproxy_memory") or {}
        per_entry = sum(m["memlock"] / m["max_entries"] for m in mem.get("maps", [])
                        if m.get("max_entries") and
                        m["name"].startswith(("np_flows", "np_counters", "np_police")))
        if per_entry:
            row("memory per stream at capacity (map bytes / max entries)", "B",
                per_entry, None, None, "",
                "flows + counters + policers, 1Mi entries each")

    # --- signaling
    if sig:
        for key, name in (("calls_per_s", "calls/s"),
                          ("registrations_per_s", "registrations/s")):
            v = sig.get(key) or {}
            row(name, "/s", v.get("natproxy"), v.get("kamailio"), None,
                "kamailio")
        # CPU per call at the last passing step: the processes' total,
        # and their own work (less other namespaces' receive processing
        # that a veth runs in the sender's syscall), each against Kamailio
        # and rtpengine's figure of the same kind.
        for key, name in (("cpu_ms_per_call", "proxy CPU per call, process total"),
                          ("own_cpu_ms_per_call", "proxy CPU per call, own work")):
            v = sig.get(key)
            if v:
                row(name, "CPU ms", v.get("natproxy"), v.get("kamailio"), None,
                    "kamailio+rtpengine", "target <= 0.1 ms")
    else:
        row("calls/s", "/s", "not run", "not run", None, "kamailio",
            "bench/signaling.sh absent or failed")
        row("registrations/s", "/s", "not run", "not run", None, "kamailio",
            "bench/signaling.sh absent or failed")

    # --- flood: legitimate calls and registrations under attack
    if flood:
        by = {(x["target"], x["sources"], x["asked_per_s"]): x
              for x in flood.get("steps", [])}
        for (src, rate) in sorted({(x["sources"], x["asked_per_s"])
                                   for x in flood.get("steps", [])
                                   if x["asked_per_s"]},
                                  key=lambda k: (k[1], k[0])):
            a, b = by.get(("natproxy", src, rate)), by.get(("kamailio", src, rate))
            label = "one source" if src == "one" else "10,000 spoofed sources"
            reached = [f"{t}: {x['generator'].get('reached_per_s', 0) / 1e3:.0f}k/s"
                       for t, x in (("natproxy", a), ("kamailio", b)) if x]
            row(f"legit success, flood {rate // 1000}k/s from {label}", "%",
                a["legit_success_pct"] if a else "not run",
                b["legit_success_pct"] if b else "not run", None,
                "kamailio+pike", "generator reached " + ", ".join(reached))

    # --- xdp_cost: the relay per packet beside its floor
    if xc:
        floors = {r["entries"]: r for r in xc.get("rows", [])
                  if r["path"].startswith("floor: parse + lookup")}
        # The same flow every packet (XDP_TX, redirect), and every packet
        # another flow (the ring: what a relay with that many busy streams
        # pays in misses); each row named by its path.
        shown = {"relay, fib hit -> XDP_TX": "same flow, XDP_TX",
                 "relay, fib hit -> redirect": "same flow, redirect",
                 "relay, ring: each packet a new flow": "each packet another flow"}
        for r in xc.get("rows", []):
            if r["path"] not in shown:
                continue
            fl = floors.get(r["entries"], {})
            rows.append({"metric": f"relay ns/packet (xdp_cost, {shown[r['path']]}), "
                                   f"{r['entries']:,} flows",
                         "unit": "ns", "natproxy": r["ns_per_packet"],
                         "peer": None, "peer_name": "",
                         "ceiling": fl.get("ns_per_packet"),
                         "natproxy_over_peer": None,
                         "natproxy_over_ceiling": ratio(r["ns_per_packet"],
                                                        fl.get("ns_per_packet")),
                         "note": "ceiling: parse + lookup + XDP_TX floor; "
                                 "ratio is relay/floor (lower is better)"})
    else:
        rows.append({"metric": "relay ns/packet (xdp_cost)", "unit": "ns",
                     "natproxy": "failed", "peer": None, "peer_name": "",
                     "ceiling": None, "natproxy_over_peer": None,
                     "natproxy_over_ceiling": None, "note": ""})

    # --- print
    hdr = ("metric", "unit", "natproxy", "peer", "ceiling", "np/peer", "np/ceiling")
    lines = []
    for r in rows:
        lines.append((r["metric"], r["unit"], fmt(r["natproxy"], r["unit"]),
                      fmt(r["peer"], r["unit"]) + (f" ({r['peer_name']})"
                                                   if r["peer_name"] and r["peer"] is not None else ""),
                      fmt(r["ceiling"], r["unit"]) if r["ceiling"] is not None else "",
                      fmt(r["natproxy_over_peer"], "x"),
                      fmt(r["natproxy_over_ceiling"], "x")))
    w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
    out = []
    out.append("  ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i])
                         for i, h in enumerate(hdr)))
    for l in lines:
        out.append("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i])
                             for i, c in enumerate(l)))
    print("\n".join(out))
    notes = []
    for r in rows:
        if r["note"] and r["unit"] in ("Mpps", "%", "loss %"):
            notes.append(f"  {r['metric']}: {r['note']}")
    if notes:
        print("notes:\n" + "\n".join(notes))
    print("\nratios: np/peer and np/ceiling are natproxy's advantage: rate over rate,"
          " or the other's cost over natproxy's for CPU, latency and memory"
          " (xdp_cost rows: relay over floor, lower is better)")

    # targets
    targets = []
    if media:
        gen = media.get("generator") or {}
        # Which generator sent: BPF_PROG_RUN live frames, or where the
        # kernel refuses those the pump or an AF_XDP socket (bench/README.md).
        kind = media.get("generator_kind") or gen.get("generator") or "live_frames"
        how = {"live_frames": "BPF_PROG_RUN live frames",
               "pump": "the XDP pump, the kernel refused live frames",
               "af_xdp": "AF_XDP copy mode, the kernel refused live frames"}.get(kind, kind)
        if gen.get("zero_loss_pps"):
            print(f"generator alone ({how}; into the proxy's veth, sink there): "
                  f"{gen['zero_loss_pps'] / 1e6:.3f} Mpps offered without loss, "
                  f"{gen.get('cpu_baseline_s_per_mpkt', 0):.3f} CPU s per Mpkt at "
                  f"{gen.get('cpu_pps', 0) / 1e6:.2f} Mpps")
        elif gen:
            print(f"generator: {how}")
        calls = media.get("calls") or {}
        if calls:
            print(f"natproxy's flows for the first {calls.get('calls_up')} streams come from "
                  f"real SIP calls through natproxyd and Kamailio; the rest are bulk flows")
        if media.get("order"):
            print(f"natproxy's streams sent in {media['order']} order (bench/media.sh MB_ORDER)")
        for n, sc in media.get("scales", {}).items():
            npx, rte, cei = (sc.get(k) or {} for k in ("natproxy", "rtpengine", "ceiling"))
            a, b, c = (x.get("zero_loss_pps") for x in (npx, rte, cei))
            t1 = ratio(a, b)
            t2 = ratio(a, c)
            bounds = target_bounds(int(n), gen, b, memory)
            targets.append({"streams": int(n), "natproxy_over_rtpengine": t1,
                            "met_20x": t1 is not None and t1 >= 20,
                            "natproxy_over_ceiling": t2,
                            "met_80pct": t2 is not None and t2 >= 0.8,
                            "bounds": bounds})
            v1 = ("n/a" if t1 is None else
                  f"{'met' if t1 >= 20 else 'not met'} ({fmt(t1, 'x')})")
            v2 = ("n/a" if t2 is None else
                  f"{'met' if t2 >= 0.8 else 'not met'} ({t2 * 100:.0f}%)")
            print(f"targets at {int(n):,} streams: natproxy >= 20x rtpengine: {v1}; "
                  f">= 80% of the ceiling: {v2}")
            if npx.get("zero_loss_limited_by_generator"):
                print(f"  natproxy at {int(n):,} streams: no loss up to where the one CPU "
                      f"running generator, relay and sink saturated")
            if cei.get("zero_loss_limited_by_generator"):
                print(f"  ceiling at {int(n):,} streams: likewise")
            print_bounds(bounds, b)
            # The zero-loss ratios count the generator and sink, which share
            # the XDP relays' CPU; the relay paths alone are another figure.
            path = {k: x.get("cpu_relay_s_per_mpkt") for k, x in
                    (("natproxy", npx), ("ceiling", cei), ("rtpengine", rte))}
            for peer in ("ceiling", "rtpengine"):
                a_, b_ = path["natproxy"], path[peer]
                if a_ and b_ and a_ > 0 and b_ > 0:
                    print(f"  the relay paths alone (trial less baseline): natproxy "
                          f"{a_:.3f}, {peer} {b_:.3f} CPU s per Mpkt, its cost over "
                          f"natproxy's {b_ / a_:.2f}x (the zero-loss ratio also counts "
                          f"the generator and sink on natproxy's CPU)")
            if npx.get("trials_alternate_with") and cei.get("cpu_baseline_s_per_mpkt"):
                print(f"  natproxy and the ceiling side by side, trials taking turns; "
                      f"generator and sink alone (a gauge of how busy the machine was): "
                      f"{npx.get('cpu_baseline_s_per_mpkt', 0):.3f} and "
                      f"{cei['cpu_baseline_s_per_mpkt']:.3f} CPU s per Mpkt")
    if seconds is not None:
        print(f"bench run time: {seconds:.0f} s")

    res = {"benchmark": "natproxy bench", "rows": rows, "targets": targets,
           "run_seconds": seconds, "sources": {"media": media, "signaling": sig,
                                               "flood": flood, "xdp_cost": xc}}
    with open(outjson, "w") as f:
        json.dump(res, f, indent=1)
    print(f"written: {outjson}")


if __name__ == "__main__":
    main()
