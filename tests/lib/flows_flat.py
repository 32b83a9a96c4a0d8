#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""natproxyctl flows --json on stdin, one "LOCAL FIELD VALUE" line per field
of each flow on stdout, nested fields dotted (drops.xmit): a snapshot of the
flows that a test's checks read with awk, one python for them all instead
of one per field."""
import json
import sys


def walk(local, path, value):
    if isinstance(value, dict):
        for key, inner in value.items():
            walk(local, path + [key], inner)
    else:
        print(local, ".".join(path), value)


for line in sys.stdin:
    if line.startswith("{"):
        flow = json.loads(line)
        walk(flow.pop("local"), [], flow)
