#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/report.py's bounds on the media targets (TAP).

The bounds are arithmetic on a run's own figures: what the generator makes
alone caps every relay's zero-loss rate, and at 80% of the ceiling's rate
natproxy may cost 0.25 / ceiling seconds a packet more than the ceiling.
Checked on figures made up here, through target_bounds() and through the
whole report on a run directory written here.
"""
import contextlib
import io
import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in bench/ from a test
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import report  # noqa: E402

checks = []


def ok(cond, name):
    checks.append((bool(cond), name))


def near(a, b):
    return a is not None and abs(a - b) < 1e-6 * max(1, abs(b))


gen = {"zero_loss_pps": 2_000_000}
memory = [
    {"entries": 500000, "entry_bytes": 192, "page_kib": 4, "dependent_ns": 150.0},
    {"entries": 500000, "entry_bytes": 192, "page_kib": 2048, "dependent_ns": 140.0},
    {"entries": 10000, "entry_bytes": 192, "page_kib": 4, "dependent_ns": 9.0},
]

b = report.target_bounds(10000, gen, 400_000, 1_600_000, memory)
ok(near(b.get("max_ratio_vs_rtpengine"), 5.0), "20x bound: generator over rtpengine")
ok(near(b.get("pps_for_20x"), 8_000_000), "20x bound: the rate 20x would take")
ok(near(b.get("budget_ns_at_80pct"), 156.25), "80% budget: 0.25 / ceiling rate")
ok(near(b.get("entry_read_ns"), 9.0), "entry read: this scale's")

b = report.target_bounds(500000, gen, None, 1_250_000, memory)
ok("max_ratio_vs_rtpengine" not in b, "no rtpengine: no 20x bound")
ok(near(b.get("budget_ns_at_80pct"), 200.0), "80% budget at another ceiling")
ok(near(b.get("entry_read_ns"), 150.0), "entry read: 4 KiB pages, not 2 MiB")

b = report.target_bounds(10, {}, None, None, [])
ok(b == {}, "nothing measured: no bounds")

# The whole report on a run of made-up figures.
with tempfile.TemporaryDirectory() as run:
    media = {"generator": {"zero_loss_pps": 2_000_000, "generator": "pump"},
             "scales": {"10000": {
                 "natproxy": {"zero_loss_pps": 1_200_000},
                 "rtpengine": {"zero_loss_pps": 400_000, "streams": 10000},
                 "ceiling": {"zero_loss_pps": 1_600_000}}}}
    with open(os.path.join(run, "media.json"), "w") as f:
        json.dump(media, f)
    with open(os.path.join(run, "memory.jsonl"), "w") as f:
        f.write("\n".join(json.dumps(m) for m in memory) + "\n")
    out = os.path.join(run, "out.json")
    text = io.StringIO()
    sys.argv = ["report.py", run, out]
    with contextlib.redirect_stdout(text):
        report.main()
    text = text.getvalue()
    ok("no relay can show more than the generator makes, 2.000 Mpps, 5.0x "
       "rtpengine's 0.400; 20x would take 8.000 Mpps" in text, "report: the 20x bound line")
    ok("natproxy may cost 156 ns a packet more than the ceiling" in text,
       "report: the 80% budget line")
    ok("takes 9 ns of it (6%)" in text, "report: the entry read against the budget")
    with open(out) as f:
        t = json.load(f)["targets"][0]
    ok(t["streams"] == 10000 and not t["met_20x"] and not t["met_80pct"],
       "report JSON: targets not met at 3x and 75%")
    ok(near(t["bounds"]["max_ratio_vs_rtpengine"], 5.0), "report JSON: the bounds")

print(f"1..{len(checks)}")
for i, (good, name) in enumerate(checks, 1):
    print(f"{'ok' if good else 'not ok'} {i} - {name}")
sys.exit(0 if all(g for g, _ in checks) else 1)
