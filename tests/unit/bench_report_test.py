#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/report.py's bound on the 20x media target, and its memory line (TAP).

Every relay in the media bench is fed by the one generator, so what the
generator makes alone caps every relay's zero-loss rate: over rtpengine's,
the most any relay could show. Checked on figures made up here, through
target_bounds() and through the whole report on run directories written
here, with and without page_walk's lines, and with lines that are broken.
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
    {"entries": 500000, "entry_bytes": 192, "page_kib": 4, "dependent_ns": 150.0,
     "independent_ns": 11.0},
    {"entries": 500000, "entry_bytes": 192, "page_kib": 2048, "dependent_ns": 140.0,
     "independent_ns": 10.0},
    {"entries": 10000, "entry_bytes": 192, "page_kib": 4, "dependent_ns": 9.0,
     "independent_ns": 2.0},
]

b = report.target_bounds(10000, gen, 400_000, memory)
ok(near(b.get("max_ratio_vs_rtpengine"), 5.0), "20x bound: generator over rtpengine")
ok(near(b.get("pps_for_20x"), 8_000_000), "20x bound: the rate 20x would take")
ok(near(b.get("entry_read_ns"), 9.0) and near(b.get("entry_read_overlapped_ns"), 2.0),
   "entry read: this scale's, both ways")

b = report.target_bounds(500000, gen, None, memory)
ok("max_ratio_vs_rtpengine" not in b, "no rtpengine: no 20x bound")
ok(near(b.get("entry_read_ns"), 150.0), "entry read: 4 KiB pages, not 2 MiB")

ok(report.target_bounds(10, {}, None, []) == {}, "nothing measured: no bounds")
ok(report.target_bounds(10000, {}, 400_000, memory[2:]).get("generator_pps") is None,
   "no generator figure: no 20x bound")
ok("entry_read_ns" not in report.target_bounds(
    500000, gen, None, [{"entries": 500000, "page_kib": 4}]),
   "a page_walk line without its figures: no read")


def run_report(files):
    """The whole report on a run directory of FILES (name: text); its
    printed text and its targets, or the exception it raised."""
    with tempfile.TemporaryDirectory() as run:
        for name, text in files.items():
            with open(os.path.join(run, name), "w") as f:
                f.write(text)
        out = os.path.join(run, "out.json")
        printed = io.StringIO()
        sys.argv = ["report.py", run, out]
        try:
            with contextlib.redirect_stdout(printed):
                report.main()
        except Exception as e:  # noqa: BLE001 - the test reports it
            return repr(e), []
        with open(out) as f:
            return printed.getvalue(), json.load(f)["targets"]


media = {"generator": {"zero_loss_pps": 2_000_000, "generator": "pump"},
         "scales": {"10000": {
             "natproxy": {"zero_loss_pps": 1_200_000},
             "rtpengine": {"zero_loss_pps": 400_000, "streams": 10000},
             "ceiling": {"zero_loss_pps": 1_600_000}},
             "500000": {"natproxy": {"zero_loss_pps": 900_000}}}}
lines = "\n".join(json.dumps(m) for m in memory) + "\n"
text, targets = run_report({"media.json": json.dumps(media), "memory.jsonl": lines})
ok("no relay can show more than the generator makes, 2.000 Mpps, 5.0x "
   "rtpengine's 0.400; 20x would take 8.000 Mpps" in text, "report: the 20x bound line")
ok("one read of a random flow entry here (192 B, 4 KiB pages, page_walk): 150 ns "
   "each waiting for the one before, 11 ns overlapped" in text, "report: the memory line")
t = {x["streams"]: x for x in targets}
ok(not t[10000]["met_20x"] and not t[10000]["met_80pct"] and
   near(t[10000]["natproxy_over_ceiling"], 0.75), "report JSON: 3x and 75%, not met")
ok(near(t[10000]["bounds"]["max_ratio_vs_rtpengine"], 5.0), "report JSON: the bound")
ok(t[500000]["natproxy_over_ceiling"] is None and "max_ratio_vs_rtpengine" not in
   t[500000]["bounds"], "report JSON: a scale with natproxy only")

text, targets = run_report({"media.json": json.dumps(media)})
ok(targets and "one read of a random flow entry" not in text and "bound on the 20x" in text,
   "report without page_walk's lines: the bound, no memory line")
text, targets = run_report({"media.json": json.dumps(media),
                            "memory.jsonl": '{"entries": 10000, "page_' + "\n[1]\n" + lines})
ok(targets and "9 ns each waiting" in text,
   "report with a cut line and a line that is no object: the good lines kept")

print(f"1..{len(checks)}")
for i, (good, name) in enumerate(checks, 1):
    print(f"{'ok' if good else 'not ok'} {i} - {name}")
sys.exit(0 if all(g for g, _ in checks) else 1)
