# SPDX-License-Identifier: GPL-2.0-only
"""RTP counted across a natproxyd restart, for the gateway peers
(mgcp_peer.py, h248_peer.py --restart-file F): the peer creates the cue
file F.K while call K's media flows; the test then stops natproxyd
(kill -9, or a clean stop), creates F.K.down, starts natproxyd again and
creates F.K.up.
"""
import os
import select
import time

RESTART_MAX = 20  # s the peer waits for CUE.up


def receive(media, secs, cue=None):
    """Counts the datagrams arriving on media for secs; with cue, creates
    it first and goes on until CUE.up exists (at most RESTART_MAX s more).
    Returns the count and, per mark ("down", "up"), the count when it
    appeared."""
    got, marks = 0, {}
    if cue:
        open(cue, "w").close()
    end = time.time() + secs
    hard = end + RESTART_MAX
    while time.time() < end or (cue and "up" not in marks and time.time() < hard):
        r, _, _ = select.select([media], [], [], 0.05)
        if r:
            media.recvfrom(2048)
            got += 1
        for mark in ("down", "up"):
            if cue and mark not in marks and os.path.exists(cue + "." + mark):
                marks[mark] = got
    return got, marks
