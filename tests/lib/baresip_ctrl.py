#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""One command to a baresip through its ctrl_tcp module (JSON in
netstrings) on 127.0.0.1:PORT; prints the response's data and exits 0 if
baresip says ok. Events that come before the response are skipped.

  baresip_ctrl.py PORT COMMAND [PARAMS]
"""
import json
import socket
import sys


def netstrings(sock):
    buf = b""
    while True:
        while b":" not in buf:
            more = sock.recv(4096)
            if not more:
                return
            buf += more
        head, rest = buf.split(b":", 1)
        size = int(head)
        while len(rest) < size + 1:
            more = sock.recv(4096)
            if not more:
                return
            rest += more
        yield rest[:size]
        buf = rest[size + 1:]


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    msg = {"command": argv[1], "token": "np"}
    if len(argv) > 2:
        msg["params"] = argv[2]
    body = json.dumps(msg).encode()
    with socket.create_connection(("127.0.0.1", int(argv[0])), timeout=5) as s:
        s.sendall(b"%d:%s," % (len(body), body))
        for raw in netstrings(s):
            reply = json.loads(raw)
            if reply.get("response") and reply.get("token") == "np":
                print(reply.get("data", "").strip())
                return 0 if reply.get("ok") else 1
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
