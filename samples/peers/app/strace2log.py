#!/usr/bin/python3
"""Turn `strace -ttt -xx -s 65536 -e trace=network,write,writev,close` output
of a server that cannot be tapped from inside (mosquitto, a C program) into
the wirelog JSON lines: every byte it handed to an accepted TCP socket is
parsed into `tx_frame`s (wirelog.FrameParser), and closing or shutting down
that socket is `tx_close_socket`. The bytes are the exact ones in the
write/send system calls, and the times are the system calls' own.

    strace2log.py STRACE_OUT OUT.jsonl
"""

import json
import re
import sys

from wirelog import FrameParser, rfc3339

LINE = re.compile(r"^(?:\d+\s+)?(\d+\.\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
ACCEPT = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
STR = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


def main():
    src, out = sys.argv[1], sys.argv[2]
    fds = {}  # fd -> (conn, parser)
    recs = []

    def ev(t, name, **kw):
        recs.append(dict({"t": round(t, 6), "ts": rfc3339(t), "role": "server", "ev": name}, **kw))

    for line in open(src):
        m = LINE.match(line.strip())
        if not m:
            continue
        t, call, args, ret = float(m.group(1)), m.group(2), m.group(3), int(m.group(4))
        fd = int(args.split(",")[0]) if args[:1].isdigit() else None
        if call in ("accept", "accept4") and ret >= 0:
            a = ACCEPT.search(args)
            if not a:
                continue
            ip = a.group(2)
            if "\\x" in ip:  # strace -xx writes the address string in hex too
                ip = bytes.fromhex(ip.replace("\\x", "")).decode()
            conn = "%s:%s" % (ip, a.group(1))
            fds[ret] = (conn, FrameParser(lambda fr, conn=conn, tt=[0]: None))
            ev(t, "tcp_established", conn=conn, local=None, remote={"ip": ip, "port": int(a.group(1))})
            continue
        if fd not in fds:
            continue
        conn, parser = fds[fd]
        if call in ("write", "send", "sendto", "writev", "sendmsg") and ret > 0:
            data = b"".join(bytes.fromhex(s.replace("\\x", "")) for s in STR.findall(args))[:ret]
            parser.on_frame = lambda fr, t=t, conn=conn: ev(t, "tx_frame", conn=conn, **fr)
            parser.push(data)
        elif call in ("close", "shutdown") and ret == 0:
            ev(t, "tx_close_socket", conn=conn)
            del fds[fd]
    with open(out, "w") as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
