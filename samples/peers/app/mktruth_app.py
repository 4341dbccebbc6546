#!/usr/bin/python3
"""Build the truth file of one application-heartbeat sample from the peers'
own logs (never from the pcap).

    mktruth_app.py --dir WORKDIR --out samples/app/NAME.truth.json

WORKDIR holds meta.tsv (record-app.sh's timings), client.jsonl and
server.jsonl (wirelog.js / wirelog.py: every WebSocket frame parsed from the
bytes the peer handed to its socket, `tx_frame`, and read, `rx_frame`). For
a server whose writes cannot be tapped (mosquitto, a C program), its frames
are the ones the client read (`rx_frame`), which the meta line
`server_frames_from client_rx` says; see the truth's description.

The expected verdict and reasons apply shared/spec/liveness-model.md at the
evaluation time, which is when tcpdump stopped: the samples are pcapng with
isb_endtime (samples/peers/endmark.py), because the point of a frozen peer
is the silence after the last packet. Heartbeat interval: the one the
protocol declares on the wire where it does (Engine.IO open packet
pingInterval, MQTT CONNECT keep-alive, STOMP CONNECT/CONNECTED heart-beat),
else the median interval of the pinging side's heartbeats; pong timeout is
2x, read deadline 3x that interval (spec, "Thresholds").
"""

import argparse
import datetime
import glob
import json
import os
import statistics

OPS = ["text", "binary", "continuation", "close", "ping", "pong"]

PROTO = {
    # name (spec: the subprotocol token where one exists), who pings, and
    # whether the pinger waits for the answer before its next ping
    "sio": {"name": "engine.io", "impl": "npm socket.io + socket.io-client", "pinger": "server", "gated": True},
    "gql": {"name": "graphql-transport-ws", "impl": "npm graphql-ws over ws", "pinger": "client", "gated": True},
    "mqtt": {"name": "mqtt", "impl": "Debian mosquitto + python3-paho-mqtt", "pinger": "client", "gated": False},
    "stomp": {"name": "stomp", "impl": "STOMP 1.2 over WebSocket", "pinger": None, "gated": False},
}

CLOSE_TIMEOUT = 5.0
HALF_CLOSE_TIMEOUT = 5.0


def rfc3339(t):
    if t is None:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def classify(proto, side, fr):
    """The kind of a frame: ws_ping, ws_pong, close, hb_ping, hb_pong,
    hb_beat (one-way heartbeat), data, or cont."""
    op = fr["opcode"]
    if op == "ping":
        return "ws_ping"
    if op == "pong":
        return "ws_pong"
    if op == "close":
        return "close"
    if op not in ("text", "binary"):
        return "cont"
    text = fr.get("text")
    raw = bytes.fromhex(fr["hex"]) if "hex" in fr else None
    if text is None and raw is not None:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = None
    if proto == "sio" and op == "text":
        if text == "2":
            return "hb_ping"
        if text == "3":
            return "hb_pong"
    if proto == "gql" and text is not None:
        if '"type":"ping"' in text.replace(" ", ""):
            return "hb_ping"
        if '"type":"pong"' in text.replace(" ", ""):
            return "hb_pong"
    if proto == "mqtt" and op == "binary" and raw is not None:
        if raw == b"\xc0\x00":
            return "hb_ping"
        if raw == b"\xd0\x00":
            return "hb_pong"
    if proto == "stomp" and text is not None and text.strip("\r\n") == "" and len(text) > 0:
        return "hb_beat"
    return "data"


def declared(proto, frames):
    """(interval per side, where from) when the protocol declares it on the
    wire, else None."""
    if proto == "sio":
        for f in frames["server"]:
            t = f.get("text") or ""
            if t.startswith("0{"):
                d = json.loads(t[1:])
                s = d["pingInterval"] / 1000.0
                return {"server": s, "client": s}, "Engine.IO open packet pingInterval %d ms, pingTimeout %d ms" % (
                    d["pingInterval"], d["pingTimeout"])
    if proto == "mqtt":
        for f in frames["client"]:
            raw = bytes.fromhex(f.get("hex", "")) if "hex" in f else b""
            if raw[:1] == b"\x10":
                # fixed header, remaining length (1 byte here), protocol name, level, flags, keep-alive
                i = 2
                n = int.from_bytes(raw[i:i + 2], "big")
                i += 2 + n + 2
                ka = int.from_bytes(raw[i:i + 2], "big")
                return {"client": float(ka), "server": float(ka)}, "MQTT CONNECT keep-alive %d s" % ka
    if proto == "stomp":
        cx = cy = sx = sy = None
        for side in ("client", "server"):
            for f in frames[side]:
                t = f.get("text") or ""
                if t.startswith(("CONNECT\n", "STOMP\n", "CONNECTED\n")):
                    for line in t.split("\n"):
                        if line.startswith("heart-beat:"):
                            x, y = (int(v) for v in line[11:].split(","))
                            if side == "client":
                                cx, cy = x, y
                            else:
                                sx, sy = x, y
        if None not in (cx, cy, sx, sy):
            # STOMP 1.2 "Heart-beating": the client sends every max(cx, sy)
            # ms, the server every max(sx, cy) ms (0 = never)
            c = max(cx, sy) / 1000.0 if cx and sy else None
            s = max(sx, cy) / 1000.0 if sx and cy else None
            return {"client": c, "server": s}, "STOMP heart-beat: CONNECT %d,%d, CONNECTED %d,%d" % (cx, cy, sx, sy)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    meta = {}
    for line in open(os.path.join(a.dir, "meta.tsv")):
        k, _, v = line.rstrip("\n").partition("\t")
        meta.setdefault(k, v)
    name, proto, scen = meta["name"], meta["protocol"], meta["scenario"]
    P = PROTO[proto]
    cs, ce = float(meta["capture_start"]), float(meta["capture_end"])
    logs = {s: load(os.path.join(a.dir, s + ".jsonl")) for s in ("client", "server")}
    starts = {s: next((e for e in logs[s] if e["ev"] == "start"), {}) for s in logs}

    # frames on the wire: written between capture start and the moment
    # tcpdump was told to stop (record-app.sh's capture_stop_signal)
    wire_end = float(meta.get("capture_stop_signal", ce))
    frames = {}
    for side in ("client", "server"):
        if side == "server" and meta.get("server_frames_from") == "client_rx":
            src = [e for e in logs["client"] if e["ev"] == "rx_frame"]
        else:
            src = [e for e in logs[side] if e["ev"] == "tx_frame"]
        frames[side] = [dict(e, kind=classify(proto, side, e)) for e in src if cs <= e["t"] <= wire_end]
    conns = {e["conn"] for s in logs for e in logs[s] if e["ev"] == "tcp_established"}
    est = next(e for e in logs["client"] if e["ev"] == "tcp_established")
    client_addr, server_addr = est["local"], est["remote"]

    fin = {}
    for side in ("client", "server"):
        ts = [e["t"] for e in logs[side] if e["ev"] in ("tx_fin", "socket_destroy", "tx_close_socket") and cs <= e["t"] <= ce]
        if ts:
            fin[side] = min(ts)
    fault_at = float(meta["fault_at"]) if "fault_at" in meta else None
    if meta.get("fault") == "app-pongs-dropped":
        ts = [e["t"] for s in logs for e in logs[s] if e["ev"].endswith("_dropped_from")]
        if not ts:  # the mosquitto shim logs each dropped PINGRESP
            ts = [e["t"] for e in load(os.path.join(a.dir, "dropped.jsonl")) if e["ev"] == "app_pong_dropped"]
        fault_at = min(ts) if ts else None
    failed_side = meta.get("failed_side") or (
        ("client" if P["pinger"] == "server" else "server") if meta.get("fault") == "app-pongs-dropped" else None)

    # heartbeat intervals
    dec = declared(proto, frames)
    hb_times = {s: [f["t"] for f in frames[s] if f["kind"] in ("hb_ping", "hb_beat")] for s in frames}
    if fault_at is not None:
        healthy = {s: [t for t in hb_times[s] if t < fault_at] for s in hb_times}
    else:
        healthy = hb_times
    learned = {}
    for s in ("client", "server"):
        for seq in (healthy[s], hb_times[s]):
            iv = [b - a_ for a_, b in zip(seq, seq[1:]) if b - a_ >= 1.0]
            learned[s] = round(statistics.median(iv), 3) if len(iv) >= 3 else None
            if learned[s]:
                break
    expected_hb = {}
    for s in ("client", "server"):
        if dec and dec[0].get(s):
            expected_hb[s] = {"protocol": P["name"], "interval_s": dec[0][s], "interval_source": "declared"}
        else:
            pinger = P["pinger"] or s
            v = learned.get(pinger)
            expected_hb[s] = {"protocol": P["name"], "interval_s": v, "interval_source": "learned"}
    known = [v["interval_s"] for v in expected_hb.values() if v["interval_s"]]
    interval = max(known) if known else None
    # spec defaults when no interval is known: 10 s and 60 s
    pong_timeout = round(2 * interval, 3) if interval else 10.0
    read_deadline = round(3 * interval, 3) if interval else 60.0
    ev_t = ce

    other = {"client": "server", "server": "client"}
    close_at = {s: next((f["t"] for f in frames[s] if f["kind"] == "close"), None) for s in frames}
    done_at = {s: min([t for t in (close_at[s], fin.get(s)) if t is not None], default=None) for s in frames}

    reasons, details, calls, notes = [], [], [], []

    def add(code, side, since, hb=None, **ev):
        r = {"code": code, "side": side}
        if hb:
            r["heartbeat"] = hb
        reasons.append(r)
        d = dict(r, since=rfc3339(since))
        if ev:
            d["evidence"] = ev
        details.append(d)

    closed = (close_at["client"] and close_at["server"]) or (fin.get("client") and fin.get("server"))
    if not closed:
        # ping_unanswered, per layer: the oldest ping not superseded
        for owner in ("client", "server"):
            asker = other[owner]
            for pk, ak, hb in (("hb_ping", "hb_pong", P["name"]), ("ws_ping", "ws_pong", "websocket")):
                pings = [f["t"] for f in frames[asker] if f["kind"] == pk]
                answers = [f["t"] for f in frames[owner] if f["kind"] == ak]
                last_answer = max(answers, default=None)
                open_pings = [t for t in pings if last_answer is None or t > last_answer]
                if not open_pings:
                    continue
                tp = open_pings[0]
                due = tp + pong_timeout
                if done_at[owner] is not None and done_at[owner] <= due:
                    continue
                if ev_t > due:
                    add("ping_unanswered", owner, due, hb, ping_sent=rfc3339(tp), pong_timeout_s=pong_timeout,
                        pings_unanswered=len(open_pings))
        # read_gap_exceeded
        for s in ("client", "server"):
            fs = frames[s]
            if not fs or done_at[s] is not None:
                continue
            own_hb = [f for f in fs if f["kind"] in ("hb_ping", "hb_beat")]
            data = [f for f in fs if f["kind"] == "data"]
            owes = any(r["code"] == "ping_unanswered" and r["side"] == s for r in reasons)
            cadence = len(own_hb) >= 4 or len(data) >= 5 or bool(own_hb and dec and dec[0].get(s))
            if not (cadence or owes):
                continue
            # the last frame of any kind; or, for a side with an application
            # heartbeat cadence of its own, the last of those heartbeats (the
            # spec: "a side whose application heartbeat stopped is
            # read_gap_exceeded", even when WebSocket Pongs still flow)
            last = fs[-1]["t"]
            hb = None
            # a cadence: four heartbeats, or an interval the protocol declared
            if own_hb and (len(own_hb) >= 4 or (dec and dec[0].get(s))) and ev_t - own_hb[-1]["t"] > read_deadline:
                last, hb = own_hb[-1]["t"], P["name"]
            if ev_t - last <= read_deadline:
                continue
            o = other[s]
            if P["gated"] and P["pinger"] == s and any(
                    r["code"] == "ping_unanswered" and r["side"] == o for r in reasons):
                calls.append({"code": "read_gap_exceeded", "side": s, "expected": False,
                              "why": "%s sends its next ping only after the pong to the last one (%s); its ping is "
                                     "unanswered, so its silence is waiting on the peer, not a stopped heartbeat"
                                     % (s, P["impl"])})
                continue
            if hb is None:
                kinds = {f["kind"] for f in fs}
                hb = P["name"] if kinds & {"hb_ping", "hb_pong", "hb_beat"} else "websocket"
            add("read_gap_exceeded", s, last + read_deadline, hb, last_frame=rfc3339(last),
                read_deadline_s=read_deadline, gap_s=round(ev_t - last, 3))
        # close_handshake_incomplete
        for s in ("client", "server"):
            o = other[s]
            if close_at[o] and not close_at[s] and ev_t - close_at[o] > CLOSE_TIMEOUT:
                add("close_handshake_incomplete", s, close_at[o] + CLOSE_TIMEOUT, close_sent=rfc3339(close_at[o]),
                    close_sent_by=o)
        # half_closed: FIN with no Close before it
        for s in ("client", "server"):
            if fin.get(s) and not close_at[s] and not fin.get(other[s]) and ev_t - fin[s] > HALF_CLOSE_TIMEOUT:
                add("half_closed", s, fin[s] + HALF_CLOSE_TIMEOUT, fin_sent=rfc3339(fin[s]))
        for r in reasons:
            if r["code"] == "half_closed" and failed_side and r["side"] != failed_side:
                calls.append({"code": "half_closed", "side": r["side"], "expected": True,
                              "why": "%s closed its socket (FIN, no Close frame) because its own keep-alive gave up on "
                                     "the frozen %s; the literal rule charges the side that sent the FIN, so it is "
                                     "kept, though the fault is the peer's" % (r["side"], failed_side)})
        if close_at["client"] or close_at["server"]:
            for s in ("client", "server"):
                if close_at[s] and any(r["code"] == "ping_unanswered" and r["side"] == other[s] for r in reasons):
                    calls.append({"code": "ping_unanswered", "side": other[s], "expected": True,
                                  "why": "the Ping went unanswered before %s sent its Close; the spec frees only the "
                                         "side that sent the Close from owing Pongs, so the unanswered ping is kept"
                                  % s})
    hard = {"peer_unreachable", "zero_window_stall", "ping_unanswered", "read_gap_exceeded", "half_closed",
            "close_handshake_incomplete"}
    if closed:
        verdict = "closed"
        if not (close_at["client"] and close_at["server"]):
            notes.append({"code": "close_without_websocket_close"})
    elif any(r["code"] in hard for r in reasons):
        verdict = "false_alive"
    elif reasons:
        verdict = "suspect"
    else:
        verdict = "alive"

    def counts(side):
        c = {op: 0 for op in OPS}
        for f in frames[side]:
            c[f["opcode"]] = c.get(f["opcode"], 0) + 1
        fs = frames[side]
        c.update({
            "data_messages": sum(1 for f in fs if f["kind"] in ("data", "hb_ping", "hb_pong", "hb_beat")),
            "app_heartbeats": {k: sum(1 for f in fs if f["kind"] == "hb_" + k) for k in ("ping", "pong", "beat")},
            "first_frame": rfc3339(fs[0]["t"]) if fs else None,
            "last_frame": rfc3339(fs[-1]["t"]) if fs else None,
        })
        return c

    # frames each peer read (None where its log has no reads: the Node server
    # tap cannot see reads once the HTTP parser hands the socket to ws)
    rx = {s: (sum(1 for e in logs[s] if e["ev"] == "rx_frame" and cs <= e["t"] <= ce)
              if any(e["ev"] == "rx_frame" for e in logs[s]) else None) for s in logs}
    truth = {
        "sample": name,
        "description": meta["description"],
        "protocol": P["name"],
        "implementation": {s: starts[s].get("impl") for s in starts} | {
            "details": {s: {k: v for k, v in starts[s].items() if k not in ("t", "ts", "role", "ev", "pid", "impl")}
                        for s in starts}},
        "scenario": scen,
        "fault": meta.get("fault", "none"),
        "fault_injected_at": rfc3339(fault_at),
        "failed_side": failed_side,
        "capture_start": rfc3339(cs),
        "capture_end": rfc3339(ce),
        "evaluation_time": rfc3339(ev_t),
        "capture_file": name + ".pcapng",
        "evaluation_note": "the sample is pcapng recording when tcpdump stopped (isb_endtime, samples/peers/endmark.py): "
                           "wspulse's default evaluation time is that instant, so the silence after a frozen peer's "
                           "last packet counts",
        "thresholds_flags": [],
        "derived_from": "peer logs (frames parsed from the bytes each peer handed to its socket%s) and record-app.sh "
                        "timings; never the pcap. Expected reasons apply shared/spec/liveness-model.md at "
                        "evaluation_time" % ({"client_rx": "; the server's frames are the ones the client read",
                                              "strace": "; mosquitto's frames are parsed from the bytes of its "
                                                        "write/send system calls, recorded by strace"}
                                             .get(meta.get("server_frames_from"), "")),
        "connections": [{
            "client": client_addr,
            "server": server_addr,
            "name": "client",
            "expected_verdict": verdict,
            "expected_reasons": reasons,
            "expected_notes": notes,
            "expected_heartbeat": expected_hb,
            "judgement_calls": calls,
            "reason_details": details,
            "thresholds_used": {
                "heartbeat_interval_s": interval,
                "interval_declared": dec[1] if dec else None,
                "interval_learned_s": learned,
                "pong_timeout_s": pong_timeout,
                "read_deadline_s": read_deadline,
                "close_timeout_s": CLOSE_TIMEOUT,
            },
            "facts": {
                "client": counts("client"),
                "server": counts("server"),
                "tcp_connections": len(conns),
                "handshake_in_capture": True,
                "fin_from": sorted(fin),
                "fin_at": {s: rfc3339(t) for s, t in fin.items()},
                "rst_from": [],
                "close_at": {s: rfc3339(t) for s, t in close_at.items() if t},
                "frames_written_but_not_on_wire": {"client": 0, "server": 0},
                "peer_logs_cross_check": {"client_frames_read_by_server": rx["server"],
                                          "server_frames_read_by_client": rx["client"]},
            },
        }],
    }
    if len(conns) != 1:
        raise SystemExit("mktruth_app.py: %s: expected one TCP connection, the logs show %d" % (name, len(conns)))
    with open(a.out, "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
