#!/usr/bin/python3
"""Compare each NAME.truth.json's frame counts with what tshark dissects in
NAME.pcap (a sanity check of the recording, not part of the truth). For wss
samples (facts.tls_records) also the TLS records per side (tshark decodes the
port as TLS; retransmitted segments are not counted twice).

    samples/peers/crosscheck.py samples/*.truth.json
"""

import collections
import json
import os
import subprocess
import sys

OPS = {"1": "text", "2": "binary", "0": "continuation", "8": "close", "9": "ping", "10": "pong"}


def tshark(pcap, extra, fields, flt):
    cmd = ["tshark", "-r", pcap] + extra + ["-Y", flt, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    return [l.split("\t") for l in out.splitlines() if l]


def main():
    bad = 0
    for tf in sys.argv[1:]:
        t = json.load(open(tf))
        pcap = tf[: -len(".truth.json")] + ".pcap"
        extra = []
        ports = {c["server"]["port"] for c in t["connections"]}
        tls_ports = {f["value"] for f in t.get("thresholds_flags", []) if f["flag"] == "--tls-port"}
        for p in ports:
            if str(p) in tls_ports:
                extra += ["-d", "tcp.port==%d,tls" % p]
            elif p != 8080:
                extra += ["-d", "tcp.port==%d,websocket" % p]
        rows = tshark(pcap, extra, ["tcp.srcport", "tcp.dstport", "websocket.opcode"], "websocket")
        cnt = collections.Counter()
        for src, dst, ops in rows:
            for op in ops.split(","):
                cnt[(src, dst, OPS.get(op, op))] += 1
        rtx = len(tshark(pcap, extra, ["frame.number"], "tcp.analysis.retransmission"))
        zw = len(tshark(pcap, extra, ["frame.number"], "tcp.analysis.zero_window"))
        print("%s: %d bytes, retransmissions %d, zero-window segments %d"
              % (os.path.basename(pcap), os.path.getsize(pcap), rtx, zw))
        for c in t["connections"]:
            cp, sp = str(c["client"]["port"]), str(c["server"]["port"])
            for side, (src, dst) in (("client", (cp, sp)), ("server", (sp, cp))):
                want = {k: c["facts"][side][k] for k in OPS.values()}
                got = {k: cnt[(src, dst, k)] for k in OPS.values()}
                ok = want == got
                bad += not ok
                print("  %s %-6s %s %s" % (cp, side, "OK  " if ok else "DIFF",
                                           " ".join("%s=%d" % (k, v) for k, v in got.items() if v or want[k])
                                           + ("" if ok else "  truth: %s" % want)))
                if "tls_records" in c["facts"]:
                    rows = tshark(pcap, extra, ["tls.record.length"],
                                  "tls && !tcp.analysis.retransmission && tcp.srcport==%s && tcp.dstport==%s"
                                  % (src, dst))
                    got_r = sum(len(r[0].split(",")) for r in rows if r[0])
                    want_r = c["facts"]["tls_records"][side]["records"]
                    bad += got_r != want_r
                    print("  %s %-6s %s tls_records=%d%s" % (cp, side, "OK  " if got_r == want_r else "DIFF",
                                                          got_r, "" if got_r == want_r else "  truth: %d" % want_r))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
