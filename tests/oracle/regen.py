#!/usr/bin/env python3
"""Regenerate (or check) the tshark golden files for wspulse.

Usage:
    python3 tests/oracle/regen.py [--check] [CAPTURE...]

Without CAPTURE, every *.pcap / *.pcapng under samples/, tests/data/public/ and
tests/data/tunnels/ (relative to the repository root, found from this script's
location) is processed.  For each capture the golden file is

    tests/oracle/golden/<repo-relative path, "/" replaced by "__">.json

--check regenerates everything in memory and compares it with the files on disk
(key order is ignored, nothing else is).  It prints a unified diff per differing
file and exits 1 if any file differs or is missing (and, when no CAPTURE is
given, if a golden file has no capture any more).  Otherwise it exits 0.

One tshark pass per capture (-T fields), default preferences (a private, empty
configuration directory is used so personal Wireshark profiles cannot leak in),
plus the per-capture options from EXTRA_OPTS, which are recorded in the golden
file as "tshark_options".

The hand-maintained "known_differences" array of an existing golden file is read
before the file is rewritten and carried over unchanged.

Python 3 standard library only.
"""

import argparse
import atexit
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GOLDEN_DIR = os.path.join(HERE, "golden")
SCAN_DIRS = ["samples", os.path.join("tests", "data", "public"), os.path.join("tests", "data", "tunnels")]
CAPTURE_EXTS = (".pcap", ".pcapng")

# Extra tshark options per capture.  Looked up by repo-relative path first
# (forward slashes), then by file name.
EXTRA_OPTS = {
    # nDPI's cut-down copy of the Wireshark-wiki sample: no handshake, no SYN,
    # so tshark cannot see an HTTP Upgrade and needs decode-as.  (The file
    # itself is LGPL and is not shipped in tests/data/public; kept for when it
    # is processed from elsewhere.)
    "ndpi-websocket-midstream.pcap": ["-d", "tcp.port==12345,websocket"],
    # Recorded by the team: server on port 9477, capture starts after the
    # handshake.
    "samples/midstream-port.pcap": ["-d", "tcp.port==9477,websocket"],
    # MQTT over WebSocket on mosquitto's port 9001, which tshark does not
    # take for HTTP: decode it as HTTP so the Upgrade (and then WebSocket) is seen.
    "samples/app/mqtt-healthy.pcapng": ["-d", "tcp.port==9001,http"],
    "samples/app/mqtt-client-frozen.pcapng": ["-d", "tcp.port==9001,http"],
    "samples/app/mqtt-server-frozen.pcapng": ["-d", "tcp.port==9001,http"],
    "samples/app/mqtt-app-pings-dropped.pcapng": ["-d", "tcp.port==9001,http"],
    # wss samples with their key logs (paths relative to the repository root,
    # which tshark runs in): tshark decrypts and shows the frames. The
    # -dsb.pcapng carries its secrets in a Decryption Secrets Block instead.
    "samples/wss/wss13-healthy.pcap": ["-o", "tls.keylog_file:samples/wss/wss13-healthy.keys"],
    "samples/wss/wss12-blackhole.pcap": ["-o", "tls.keylog_file:samples/wss/wss12-blackhole.keys"],
    "samples/wss/wss12-chacha-stopped.pcap":
        ["-o", "tls.keylog_file:samples/wss/wss12-chacha-stopped.keys"],
}

OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

# tshark analysis flags counted per sending endpoint.
#
# Checked with tshark 4.0.17 on a hand-made capture (RTO retransmission, fast
# retransmission after three dup ACKs, spurious retransmission of already ACKed
# data) and on zeek/ssh-dups.pcap, zeek/reassembly.pcap,
# zeek/retransmit-fast009.pcap: tshark sets tcp.analysis.retransmission ALSO on
# every packet flagged tcp.analysis.fast_retransmission or
# tcp.analysis.spurious_retransmission.  So "retransmissions" below INCLUDES
# fast and spurious retransmissions; they are not disjoint counts.
FLAG_FIELDS = [
    ("retransmissions", "tcp.analysis.retransmission"),
    ("fast_retransmissions", "tcp.analysis.fast_retransmission"),
    ("spurious_retransmissions", "tcp.analysis.spurious_retransmission"),
    # packets whose SENDER advertised a zero window
    ("zero_window", "tcp.analysis.zero_window"),
    # NB tshark 4.0 often labels 0-byte probes at snd_nxt-1 as keep-alives,
    # not zero-window probes (see chrissanders tcp_zerowindowdead).
    ("zero_window_probes", "tcp.analysis.zero_window_probe"),
    ("keep_alives", "tcp.analysis.keep_alive"),
]

FIELDS = [
    "frame.number",
    "frame.protocols",
    "tcp.stream",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.len",
    "tcp.flags",
] + [f for _, f in FLAG_FIELDS] + ["websocket.opcode"]

BASE_OPTS = ["-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
             "-E", "aggregator=,", "-E", "header=n"]

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


class Error(Exception):
    pass


def rel(path):
    return os.path.relpath(os.path.abspath(path), ROOT).replace(os.sep, "/")


def golden_path(relpath):
    return os.path.join(GOLDEN_DIR, relpath.replace("/", "__") + ".json")


def extra_opts(relpath):
    if relpath in EXTRA_OPTS:
        return list(EXTRA_OPTS[relpath])
    return list(EXTRA_OPTS.get(os.path.basename(relpath), []))


def find_captures():
    found = []
    for d in SCAN_DIRS:
        top = os.path.join(ROOT, d)
        if not os.path.isdir(top):
            continue
        for dp, dirs, files in os.walk(top):
            dirs.sort()
            for fn in files:
                if fn.lower().endswith(CAPTURE_EXTS):
                    found.append(rel(os.path.join(dp, fn)))
    return sorted(found)


_env = None


def tshark_env():
    global _env
    if _env is None:
        cfg = tempfile.mkdtemp(prefix="wspulse-tshark-cfg-")
        atexit.register(shutil.rmtree, cfg, True)
        _env = dict(os.environ, WIRESHARK_CONFIG_DIR=cfg, LC_ALL="C")
    return _env


def tshark_version():
    p = subprocess.run(["tshark", "--version"], capture_output=True, env=tshark_env())
    first = p.stdout.decode("utf-8", "replace").splitlines()[:1]
    m = re.search(r"TShark \(Wireshark\) (\d+\.\d+\.\d+)", first[0] if first else "")
    if not m:
        raise Error("cannot determine the tshark version (is tshark installed?)")
    return m.group(1)


def last(value):
    """Innermost occurrence of an aggregated field ("a,b" -> "b")."""
    return value.split(",")[-1] if value else ""


def endpoint_ip(row):
    # For tunnelled packets take the IP layer nearest to TCP.
    protos = row["frame.protocols"].split(":")
    try:
        t = len(protos) - 1 - protos[::-1].index("tcp")
    except ValueError:
        t = len(protos)
    fam = None
    for p in protos[:t]:
        if p in ("ip", "ipv6"):
            fam = p
    if fam is None:
        fam = "ipv6" if row["ipv6.src"] else "ip"
    return last(row[fam + ".src"]), last(row[fam + ".dst"])


def empty_direction():
    d = {name: 0 for name, _ in FLAG_FIELDS}
    d.update({"packets": 0, "payload_bytes": 0, "fin": 0, "rst": 0, "syn": 0,
              "websocket_frames": {name: 0 for name in OPCODES.values()}})
    return d


def analyse(relpath, version):
    path = os.path.join(ROOT, relpath)
    opts = extra_opts(relpath)
    cmd = ["tshark", "-r", path] + opts + BASE_OPTS
    for f in FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, env=tshark_env(), cwd=ROOT)
    out = p.stdout.decode("utf-8", "replace")
    err = "\n".join(l for l in p.stderr.decode("utf-8", "replace").splitlines()
                    if "Running as user" not in l)
    if p.returncode != 0:
        if not out:
            raise Error(f"tshark failed on {relpath} (exit {p.returncode}):\n{err}")
        print(f"warning: tshark exit {p.returncode} on {relpath}: {err.strip()}", file=sys.stderr)

    packets = 0
    streams = {}
    for line in out.splitlines():
        packets += 1
        cols = line.split("\t")
        if len(cols) != len(FIELDS):
            raise Error(f"{relpath}: unexpected tshark line: {line!r}")
        row = dict(zip(FIELDS, cols))
        if not row["tcp.stream"]:
            continue  # not TCP
        stream = int(last(row["tcp.stream"]))
        src, dst = endpoint_ip(row)
        sport, dport = int(last(row["tcp.srcport"])), int(last(row["tcp.dstport"]))
        s = streams.get(stream)
        if s is None:
            s = streams[stream] = {
                "stream": stream,
                "a": {"ip": src, "port": sport},
                "b": {"ip": dst, "port": dport},
                "syn": False,
                "packets": 0,
                "per_direction": {"a_to_b": empty_direction(), "b_to_a": empty_direction()},
            }
        if (src, sport) == (s["a"]["ip"], s["a"]["port"]):
            d = s["per_direction"]["a_to_b"]
        elif (src, sport) == (s["b"]["ip"], s["b"]["port"]):
            d = s["per_direction"]["b_to_a"]
        else:
            raise Error(f"{relpath}: frame {row['frame.number']} {src}:{sport} "
                        f"does not belong to stream {stream}")
        s["packets"] += 1
        d["packets"] += 1
        d["payload_bytes"] += int(last(row["tcp.len"]) or 0)
        flags = int(last(row["tcp.flags"]) or "0", 16)
        if flags & TCP_SYN:
            d["syn"] += 1
            if not flags & TCP_ACK:
                s["syn"] = True
        if flags & TCP_FIN:
            d["fin"] += 1
        if flags & TCP_RST:
            d["rst"] += 1
        for name, field in FLAG_FIELDS:
            if row[field]:
                d[name] += 1
        if row["websocket.opcode"]:
            for op in row["websocket.opcode"].split(","):
                name = OPCODES.get(int(op, 0))
                if name is None:
                    # reserved opcode: shape gains an "other" counter
                    d["websocket_frames"]["other"] = d["websocket_frames"].get("other", 0) + 1
                else:
                    d["websocket_frames"][name] += 1

    return {
        "capture": relpath,
        "tshark": version,
        "tshark_options": opts,
        "packets": packets,
        "tcp_connections": [streams[k] for k in sorted(streams)],
    }


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dump(doc):
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def build(relpath, version):
    doc = analyse(relpath, version)
    gp = golden_path(relpath)
    known = []
    if os.path.exists(gp):
        try:
            known = read_json(gp).get("known_differences", [])
        except (ValueError, OSError) as e:
            raise Error(f"{rel(gp)}: cannot read existing golden file to keep known_differences: {e}")
    doc["known_differences"] = known
    return doc


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the golden files on disk instead of writing them")
    ap.add_argument("captures", nargs="*", metavar="CAPTURE")
    args = ap.parse_args(argv)

    if args.captures:
        captures = []
        for c in args.captures:
            cand = c if os.path.exists(c) else os.path.join(ROOT, c)
            if not os.path.isfile(cand):
                raise Error(f"no such capture: {c}")
            r = rel(cand)
            if r.startswith("../"):
                raise Error(f"capture outside the repository: {c}")
            captures.append(r)
    else:
        captures = find_captures()

    if not captures:
        print("no captures found", file=sys.stderr)

    version = tshark_version() if captures else None
    failed = False
    expected = set()
    for r in captures:
        doc = build(r, version)
        gp = golden_path(r)
        expected.add(os.path.abspath(gp))
        text = dump(doc)
        if args.check:
            if not os.path.exists(gp):
                print(f"MISSING {rel(gp)} (for {r})")
                failed = True
                continue
            try:
                on_disk = dump(read_json(gp))
            except ValueError as e:
                print(f"INVALID {rel(gp)}: {e}")
                failed = True
                continue
            if on_disk != text:
                failed = True
                sys.stdout.writelines(difflib.unified_diff(
                    on_disk.splitlines(True), text.splitlines(True),
                    fromfile=rel(gp) + " (on disk)", tofile=rel(gp) + " (regenerated)"))
        else:
            os.makedirs(GOLDEN_DIR, exist_ok=True)
            old = None
            if os.path.exists(gp):
                with open(gp, encoding="utf-8") as f:
                    old = f.read()
            if old != text:
                with open(gp, "w", encoding="utf-8", newline="\n") as f:
                    f.write(text)
                print(f"wrote {rel(gp)}")

    if not args.captures and os.path.isdir(GOLDEN_DIR):
        for fn in sorted(os.listdir(GOLDEN_DIR)):
            gp = os.path.abspath(os.path.join(GOLDEN_DIR, fn))
            if fn.endswith(".json") and gp not in expected:
                if args.check:
                    print(f"STALE {rel(gp)}: no capture for it any more")
                    failed = True
                else:
                    print(f"warning: stale golden file {rel(gp)} (capture gone); not deleted",
                          file=sys.stderr)

    if args.check:
        print("golden files differ" if failed else f"{len(captures)} golden file(s) up to date")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
