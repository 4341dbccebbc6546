#!/usr/bin/python3
"""Build NAME.truth.json from the peers' logs (never from the pcap).

Inputs in --dir: meta.tsv written by record.sh (scenario name, description,
fault, fault time, capture start/end) and the peers' *.jsonl logs.

Which frames are on the wire: a frame written by a peer left its host when
the kernel's snd_nxt passed its end (the peer logs handed bytes, asyncio
buffer and SIOCOUTQNSD at write time and every 100 ms). It is in the capture
if it left between capture start and end, and before its side was
black-holed. The evaluation time (wspulse's default: the last packet in the
capture) is estimated from the server's TCP_INFO segs_in/segs_out counters
(100 ms resolution) and the frame times. Expected reasons are the spec's
rules (shared/spec/liveness-model.md) applied to those log-derived facts; the
kernel's TCP_INFO (unacked, bytes_acked, total_retrans, snd_wnd) gives the
TCP-level ones.

wss samples (meta tls_port): frames travel inside TLS records, so the wire
shows records, not frames. The rules are then those wspulse applies with
--tls-port: TCP-level checks, and each TLS record a side put on the wire
counts as hearing from it (a cadence after >= 5 records); no heartbeat is
visible, so the read deadline is the default for an unknown heartbeat unless
meta read_deadline overrides it (recorded in thresholds_flags). Frame counts
in facts are 0 (what is visible on the wire); the frames the peers wrote are
in facts.frames_inside_tls.
"""

import argparse
import collections
import glob
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import rfc3339  # noqa: E402

DATA = ("text", "binary", "continuation")


def ts(t):
    return None if t is None else rfc3339(t)


def load(d):
    meta = collections.OrderedDict()
    conn_faults = []
    for line in open(os.path.join(d, "meta.tsv")):
        k, v = line.rstrip("\n").split("\t", 1)
        if k == "conn_fault":
            port, kind, t = v.split()
            conn_faults.append((int(port), kind, float(t)))
        else:
            meta[k] = v
    logs = {}
    for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        logs[os.path.basename(f)[:-6]] = [json.loads(l) for l in open(f) if l.strip()]
    return meta, conn_faults, logs


class Side:
    def __init__(self, name):
        self.name = name
        self.ev = []

    def of(self, kind):
        return [e for e in self.ev if e["ev"] == kind]


def split_ep(key):
    ip, port = key.rsplit(":", 1)
    return ip, int(port)


def left_time(fr, samples):
    if fr.get("off_end") is None:
        return None  # TLS: plaintext still queued in the TLS layer, offset unknown
    if fr.get("wire_off") is not None and fr["wire_off"] >= fr["off_end"]:
        return fr["t"]  # logged right after the write call returned
    for s in samples:
        if s["t"] >= fr["t"] and s.get("wire_off") is not None and s["wire_off"] >= fr["off_end"]:
            return s["t"]
    return None


def wire_marks(side):
    """(time, bytes that had left the host) from everything a side logged."""
    return sorted((e["t"], e["wire_off"]) for e in side.ev
                  if e["ev"] in ("sock", "tx_tls_record", "tx_frame", "tx_http")
                  and e.get("wire_off") is not None)


def record_left_time(rec, marks):
    for t, wo in marks:
        if t >= rec["t_rec"] and wo >= rec["off_end"]:
            return max(t, rec["t_rec"])
    return None


def median_interval(times):
    if len(times) < 2:
        return None
    return statistics.median([b - a for a, b in zip(times, times[1:])])


def conn_context(key, sides, meta, conn_faults, cap0, cap1, fault_at):
    cip, cport = split_ep(key)
    cl, sv = sides["client"], sides["server"]
    black, stopped = {}, {}
    if meta.get("blackholed") == "client" and fault_at:
        black["client"] = fault_at
    if meta.get("stopped") == "client" and fault_at and not meta.get("resumed_at"):
        stopped["client"] = fault_at  # a resumed (SIGCONT) client samples its socket again
    for port, kind, t in conn_faults:
        if port == cport:
            if kind == "blackhole":
                black["client"] = t
            elif kind == "sigstop":
                stopped["client"] = t
    def on_wire(lt, name):
        """Left the host inside the capture window, and not into a black hole."""
        if lt is None or lt < cap0 or lt > cap1:
            return False
        return not (name in black and lt >= black[name])

    # frames on the wire, per side. TCP delivers in order and the peers log
    # every frame they read, so the k-th frame one side wrote is the k-th frame
    # the other side read: its read time bounds a left time known only from a
    # 100 ms sample.
    wire = {}
    for side, peer in ((cl, sv), (sv, cl)):
        samples = side.of("sock")
        rx = peer.of("rx_frame")
        frs = []
        for k, fr in enumerate(side.of("tx_frame")):
            lt = left_time(fr, samples)
            if lt is not None and k < len(rx) and rx[k]["opcode"] == fr["opcode"]:
                lt = min(lt, rx[k]["t"])
            if lt is not None and fr.get("t_write") is not None:
                lt = max(lt, fr["t_write"])
            if not on_wire(lt, side.name):
                continue
            f = dict(fr)
            f["lt"] = lt
            frs.append(f)
        wire[side.name] = frs
    # TLS records on the wire, per side (same rules as frames)
    recs = {}
    for side in (cl, sv):
        marks = wire_marks(side)
        rs = []
        for r in side.of("tx_tls_record"):
            lt = record_left_time(r, marks)
            if not on_wire(lt, side.name):
                continue
            r = dict(r)
            r["lt"] = lt
            rs.append(r)
        recs[side.name] = rs
    # TCP FIN/RST, per side, from the logs (own action, or the peer seeing it)
    fin, rst = {}, {}
    for side, other in ((cl, sv), (sv, cl)):
        lost = [e["t"] for e in side.of("connection_lost")]
        lost_t = lost[0] if lost else float("inf")
        peer_reset = any("Reset" in (e.get("exc") or "") for e in side.of("connection_lost"))
        for e in side.of("tx_rst"):
            rst.setdefault(side.name, e["t"])
        cands = [e["t"] for e in side.ev if e["ev"] in ("tx_fin", "transport_close") and e["t"] <= lost_t
                 and not peer_reset and side.name not in rst]
        cands += [e["t"] for e in other.of("rx_fin")]
        if cands and side.name not in black:
            fin[side.name] = min(cands)
        resets = [e["t"] for e in other.of("connection_lost") if "Reset" in (e.get("exc") or "")]
        if resets:
            rst.setdefault(side.name, min(resets))
    fin = {k: v for k, v in fin.items() if cap0 <= v <= cap1}
    rst = {k: v for k, v in rst.items() if cap0 <= v <= cap1}
    return {"key": key, "cip": cip, "cport": cport, "cl": cl, "sv": sv, "sides": sides,
            "black": black, "stopped": stopped, "wire": wire, "recs": recs, "fin": fin, "rst": rst}


HARD = {"peer_unreachable", "zero_window_stall", "ping_unanswered", "read_gap_exceeded",
        "half_closed", "close_handshake_incomplete"}


def evaluate(ctx, Et, tls=False, read_dl_flag=None):
    """The spec's rules at time Et. Returns (verdict, reasons, judgement_calls, notes, info).

    tls: frames are not visible (wss): no frame-level rules; each TLS record
    on the wire counts as activity (read gaps, cadence, idle)."""
    wire, fin, rst, sides = ctx["wire"], ctx["fin"], ctx["rst"], ctx["sides"]
    black, stopped = ctx["black"], ctx["stopped"]
    if tls:
        W = {n: [] for n in ("client", "server")}
        R = {n: [r for r in ctx["recs"][n] if r["lt"] <= Et] for n in ("client", "server")}
    else:
        W = {n: [f for f in wire[n] if f["lt"] <= Et] for n in ("client", "server")}
        R = None
    other = {"client": "server", "server": "client"}
    known = [v for v in (median_interval([f["lt"] for f in W[n] if f["opcode"] == "ping"]) for n in W) if v]
    H = min(known) if known else None
    pong_to = 2 * H if H else 10.0
    read_dl = 3 * H if H else 60.0
    if read_dl_flag is not None:
        read_dl = read_dl_flag
    reasons, calls, notes = [], [], []
    info = {"heartbeat_interval_s": round(H, 3) if H else None,
            "pong_timeout_s": round(pong_to, 3), "read_deadline_s": round(read_dl, 3),
            "_pong_to": pong_to, "_read_dl": read_dl}
    closes = {n: [f for f in W[n] if f["opcode"] == "close"] for n in W}
    finE = {n: t for n, t in fin.items() if t <= Et}
    rstE = {n: t for n, t in rst.items() if t <= Et}
    closed = bool((closes["client"] and closes["server"]) or len(finE) == 2)
    ended = closed or bool(rstE)

    # TCP level first, from the sending side's kernel (TCP_INFO), only when that
    # sender's packets reach the capture (not black-holed / stopped)
    tcp_stalled_by = {}  # sender -> reason code on the receiver
    for n in ("client", "server"):
        o = other[n]  # o sends, n should ACK / open its window
        if o in black or o in stopped:
            continue
        S = [s for s in sides[o].of("sock") if s["t"] <= Et]
        if not S:
            continue
        last = S[-1]
        adv_t, prev = S[0]["t"], S[0].get("bytes_acked")
        for s in S[1:]:
            if s.get("bytes_acked") != prev:
                adv_t, prev = s["t"], s.get("bytes_acked")
        base = [s for s in S if s["t"] <= adv_t][-1]
        rtx = last.get("total_retrans", 0) - base.get("total_retrans", 0)
        stall = max(5.0, 4 * last.get("rtt", 0) / 1e6)
        if last.get("unacked", 0) > 0 and Et - adv_t >= stall and rtx >= 2 and not ended:
            tcp_stalled_by[o] = "peer_unreachable"
            reasons.append({"code": "peer_unreachable", "side": n, "since": ts(adv_t + stall),
                            "evidence": {"last_ack_advance": ts(adv_t),
                                         "sender_kernel_retransmissions_since": rtx,
                                         "sender_kernel_unacked_segments": last.get("unacked"),
                                         "sender_kernel_unsent_bytes": last.get("notsent_bytes")}})
        z0 = None
        for s in S:
            if s.get("snd_wnd") == 0:
                z0 = z0 or s["t"]
            else:
                z0 = None
        if z0 is not None and Et - z0 >= 5.0 and not ended:
            tcp_stalled_by[o] = "zero_window_stall"
            reasons.append({"code": "zero_window_stall", "side": n, "since": ts(z0 + 5.0),
                            "evidence": {"zero_window_since_about": ts(z0),
                                         "sender_kernel_probes_outstanding": last.get("probes"),
                                         "sender_kernel_unsent_bytes": last.get("notsent_bytes")}})

    # Ping/Pong pairing (spec): a Pong answers the latest outstanding Ping with an
    # equal payload, else the latest one (mismatch note); older ones are superseded
    owed, mismatch = {}, False
    for pinger in W:
        ponger = other[pinger]
        evs = sorted([(f["lt"], 0, f) for f in W[pinger] if f["opcode"] == "ping"] +
                     [(f["lt"], 1, f) for f in W[ponger] if f["opcode"] == "pong"],
                     key=lambda x: (x[0], x[1]))
        out = []
        for t, kind, f in evs:
            if kind == 0:
                out.append(f)
            elif out:
                idx = next((i for i in range(len(out) - 1, -1, -1)
                            if out[i]["payload_hex"] == f["payload_hex"]), None)
                if idx is None:
                    idx = len(out) - 1
                    mismatch = True
                out = out[idx + 1:]
        owed[ponger] = out

    for n in ("client", "server"):
        o = other[n]
        # Spec, "who can be charged": after its own FIN or Close a side owes
        # no more Pongs, heartbeats or data.
        done = n in finE or bool([c for c in closes[n] if c["lt"] <= Et])
        if owed[n] and not ended and not done:
            p = owed[n][0]
            if Et - p["lt"] >= pong_to:
                reasons.append({"code": "ping_unanswered", "side": n, "since": ts(p["lt"] + pong_to),
                                "evidence": {"ping_payload_hex": p["payload_hex"], "ping_sent": ts(p["lt"]),
                                             "outstanding_pings": len(owed[n])}})
        datas = [f for f in W[n] if f["opcode"] in DATA and f["fin"]]
        pings = [f for f in W[n] if f["opcode"] == "ping"]
        cadence = len(pings) >= 2 or len(datas) >= 5 or bool(owed[n])
        last = W[n][-1]["lt"] if W[n] else None
        if tls:  # records pace a side like data messages do
            cadence = len(R[n]) >= 5
            last = R[n][-1]["lt"] if R[n] else None
        if cadence and last is not None and Et - last >= read_dl and not ended:
            r = {"code": "read_gap_exceeded", "side": n, "since": ts(last + read_dl),
                 "evidence": {("last_tls_record" if tls else "last_frame"): ts(last),
                              "gap_s": round(Et - last, 3)}}
            if n in tcp_stalled_by:
                r["why_not_expected"] = ("%s's new frames are stuck in its send queue because the peer "
                                         "stopped ACKing/opened no window (%s on the peer): it is not "
                                         "silent by choice, its TCP keeps retransmitting/probing"
                                         % (n, tcp_stalled_by[n]))
                calls.append(r)
            elif closes[n]:
                r["why_not_expected"] = ("%s sent a Close and is legitimately silent while it waits "
                                         "for the Close back" % n)
                calls.append(r)
            elif n in finE:
                r["why_not_expected"] = ("%s sent FIN: it owes no more frames; the FIN itself is "
                                         "judged by half_closed" % n)
                calls.append(r)
            else:
                reasons.append(r)
        if len(datas) >= 5:
            m = median_interval([f["lt"] for f in datas])
            stall = max(5 * m, read_dl)
            ld = datas[-1]["lt"]
            ctrl_after = [f for f in W[n] if f["opcode"] in ("ping", "pong") and f["lt"] > ld]
            if Et - ld >= stall and ctrl_after and Et - ctrl_after[-1]["lt"] < read_dl and not ended:
                reasons.append({"code": "app_stall_control_only", "side": n, "since": ts(ld + stall),
                                "evidence": {"last_data": ts(ld), "median_data_interval_s": round(m, 3),
                                             "data_stall_s": round(stall, 3),
                                             "control_frames_since": len(ctrl_after)}})
        if n in finE and not ended and not tls:  # without frames a Close cannot be ruled out
            f = finE[n]
            if not [c for c in closes[n] if c["lt"] <= f] and Et - f >= 5.0:
                reasons.append({"code": "half_closed", "side": n, "since": ts(f + 5.0),
                                "evidence": {"fin": ts(f)}})
        if closes[o] and not closes[n] and not ended:
            c = closes[o][0]["lt"]
            if Et - c >= 5.0:
                reasons.append({"code": "close_handshake_incomplete", "side": n, "since": ts(c + 5.0),
                                "evidence": {"close_sent": ts(c), "close_sent_by": o}})
    allf = sorted(W["client"] + W["server"], key=lambda f: f["lt"])
    if tls:  # no Ping/Pong is ever visible; activity is TLS records
        allf = sorted(R["client"] + R["server"], key=lambda f: f["lt"])
    if not any(f.get("opcode") in ("ping", "pong") for f in allf) and allf and not ended \
            and Et - allf[-1]["lt"] >= 15.0:
        reasons.append({"code": "no_heartbeat", "side": None, "since": ts(allf[-1]["lt"] + 15.0),
                        "evidence": {"idle_s": round(Et - allf[-1]["lt"], 3)}})
    if mismatch:
        notes.append("pong_payload_mismatch")
    if ended and not closes["client"] and not closes["server"]:
        notes.append("close_without_websocket_close")
    if closed:
        verdict = "closed"
    elif rstE:
        verdict = "aborted"
    elif any(r["code"] in HARD for r in reasons):
        verdict = "false_alive"
    elif reasons:
        verdict = "suspect"
    else:
        verdict = "alive"
    info["ended"] = ended
    return verdict, reasons, calls, notes, info


def pong_pairing(pings, pongs):
    """The spec's Ping/Pong pairing over on-wire frames: [(ping, removed_at or None)].
    A Pong answers the latest outstanding Ping with an equal payload, else the
    latest one; answering a Ping supersedes every older outstanding Ping."""
    evs = sorted([(f["lt"], 0, f) for f in pings] + [(f["lt"], 1, f) for f in pongs],
                 key=lambda x: (x[0], x[1]))
    out, done = [], []
    for t, kind, f in evs:
        if kind == 0:
            out.append(f)
        elif out:
            idx = next((i for i in range(len(out) - 1, -1, -1)
                        if out[i]["payload_hex"] == f["payload_hex"]), None)
            if idx is None:
                idx = len(out) - 1
            done += [(p, t) for p in out[:idx + 1]]
            out = out[idx + 1:]
    return done + [(p, None) for p in out]


def merge(iv):
    """Merge overlapping (start, end, extra) intervals; extra of the first kept."""
    res = []
    for a, b, x in sorted(iv, key=lambda v: v[0]):
        if res and a <= res[-1][1]:
            res[-1][1] = max(res[-1][1], b)
        else:
            res.append([a, b, x])
    return res


def episodes(ctx, Et, info, cap0, tls=False):
    """Past stalls that recovered before Et (the spec's episodes: code, side,
    start, end), from the same log-derived facts the reasons use. start is when
    the stall began (zero window first seen by the sender's kernel; the Ping put
    on the wire; the last frame before the silence; the last ACK advance), end
    when it ended (window reopened; the Pong, or a later answer that superseded
    it; the next frame; the ACK moved), and only stalls that lasted past their
    threshold count. Stalls still holding at Et are reasons, not episodes.
    Returns (episodes, judgement_calls)."""
    wire, sides, black, stopped = ctx["wire"], ctx["sides"], ctx["black"], ctx["stopped"]
    other = {"client": "server", "server": "client"}
    pong_to, read_dl = info["_pong_to"], info["_read_dl"]
    eps, calls = [], []
    tcp_eps = []  # (receiver side at fault, start, end): the sender's frames were stuck
    for n in ("client", "server"):
        o = other[n]  # o sends, n should ACK / open its window
        if o in black or o in stopped:
            continue
        S = [s for s in sides[o].of("sock") if s["t"] <= Et]
        # zero window: runs of snd_wnd == 0 in the sender's TCP_INFO samples; it
        # reopened by the first sample showing a window, or earlier if a frame
        # of the sender left the host before that sample (it needed a window)
        sent = sorted(f["lt"] for f in (ctx["recs"][o] if tls else wire[o]))
        z0 = None
        for s in S:
            if s.get("snd_wnd") == 0:
                z0 = z0 or s["t"]
                continue
            if z0 is not None:
                z1 = min([s["t"]] + [t for t in sent if z0 < t < s["t"]])
                if z1 - z0 >= 5.0 and z1 >= cap0:
                    eps.append({"code": "zero_window_stall", "side": n, "start": z0, "end": z1,
                                "held_from": z0 + 5.0,
                                "evidence": {"sender_kernel": o, "zero_window_first_sample": ts(z0),
                                             "window_open_sample": ts(s["t"]),
                                             "window_after": s.get("snd_wnd"),
                                             "first_frame_sent_after": ts(z1) if z1 < s["t"] else None}})
                    tcp_eps.append((n, z0, z1))
            z0 = None
        # ACK stall with retransmissions that ended with the ACK moving
        if S:
            adv_t, prev, base = S[0]["t"], S[0].get("bytes_acked"), S[0]
            last = S[0]
            for s in S[1:]:
                if s.get("bytes_acked") != prev:
                    stall = max(5.0, 4 * last.get("rtt", 0) / 1e6)
                    rtx = last.get("total_retrans", 0) - base.get("total_retrans", 0)
                    if last.get("unacked", 0) > 0 and s["t"] - adv_t >= stall and rtx >= 2 \
                            and s["t"] >= cap0:
                        eps.append({"code": "peer_unreachable", "side": n, "start": adv_t, "end": s["t"],
                                    "held_from": adv_t + stall,
                                    "evidence": {"sender_kernel": o,
                                                 "sender_kernel_retransmissions": rtx}})
                        tcp_eps.append((n, adv_t, s["t"]))
                    adv_t, prev, base = s["t"], s.get("bytes_acked"), s
                last = s
    if tls:
        F = {n: [r for r in ctx["recs"][n] if r["lt"] <= Et] for n in ("client", "server")}
    else:
        F = {n: [f for f in wire[n] if f["lt"] <= Et] for n in ("client", "server")}
    pairs = {}
    for pinger in ("client", "server"):
        ponger = other[pinger]
        if tls:
            pairs[ponger] = []
            continue
        pairs[ponger] = pong_pairing([f for f in F[pinger] if f["opcode"] == "ping"],
                                     [f for f in F[ponger] if f["opcode"] == "pong"])
        late = [(p["lt"], t, p) for p, t in pairs[ponger] if t is not None and t - p["lt"] >= pong_to]
        for a, b, p in merge(late):
            eps.append({"code": "ping_unanswered", "side": ponger, "start": a, "end": b,
                        "held_from": a + pong_to,
                        "evidence": {"ping_payload_hex": p["payload_hex"], "ping_sent": ts(a),
                                     "answered_at": ts(b), "latency_s": round(b - a, 3)}})
    for n in ("client", "server"):
        fr = F[n]
        closes = [f["lt"] for f in fr if not tls and f["opcode"] == "close"]
        for i in range(1, len(fr)):
            a, b = fr[i - 1]["lt"], fr[i]["lt"]
            if b - a < read_dl:
                continue
            before = fr[:i]
            if tls:
                cadence = len(before) >= 5
            else:
                cadence = (sum(1 for f in before if f["opcode"] == "ping") >= 2 or
                           sum(1 for f in before if f["opcode"] in DATA and f["fin"]) >= 5 or
                           any(p["lt"] < b and (t is None or t >= b) for p, t in pairs[n]))
            if not cadence:
                continue
            e = {"code": "read_gap_exceeded", "side": n, "start": a, "end": b, "held_from": a + read_dl,
                 "evidence": {"last_frame_before": ts(a), "next_frame": ts(b), "gap_s": round(b - a, 3)}}
            stuck = [(c, s0, s1) for c, s0, s1 in tcp_eps if c == other[n] and s0 < b and s1 > a]
            if stuck:
                e["why_not_expected"] = ("%s's frames were stuck in its send queue while the peer stalled "
                                         "its TCP (%s, %s to %s): it was not silent by choice"
                                         % (n, other[n], ts(stuck[0][1]), ts(stuck[0][2])))
                calls.append(e)
            elif closes and closes[0] <= a:
                e["why_not_expected"] = ("%s sent a Close and was legitimately silent while it waited "
                                         "for the Close back" % n)
                calls.append(e)
            else:
                eps.append(e)
    key = lambda e: (e["start"], e["code"], e["side"])
    return sorted(eps, key=key), sorted(calls, key=key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    meta, conn_faults, logs = load(a.dir)
    cap0 = float(meta["capture_start"])
    cap1 = float(meta["capture_end"])
    fault_at = float(meta["fault_at"]) if meta.get("fault_at") else None

    conns = collections.OrderedDict()
    for lname, evs in logs.items():
        for e in evs:
            c = e.get("conn")
            if c:
                conns.setdefault(c, {"client": Side("client"), "server": Side("server")})
                conns[c][e["role"]].ev.append(e)
    warnings = []
    ctxs = []
    for key, sides in conns.items():
        if not sides["client"].ev or not sides["server"].ev:
            warnings.append("connection %s seen by only one peer log" % key)
            continue
        ctxs.append(conn_context(key, sides, meta, conn_faults, cap0, cap1, fault_at))

    # evaluation time = last packet at the server's interface, estimated from the
    # server kernel's segs_in/segs_out (100 ms samples), on-wire frames, FIN/RST
    pkt = []
    for ctx in ctxs:
        prev = None
        for s in ctx["sv"].of("sock"):
            cur = (s.get("segs_in"), s.get("segs_out"))
            if prev is not None and cur != prev and cap0 <= s["t"] <= cap1:
                pkt.append(s["t"])
            prev = cur
        for e in ctx["sv"].ev:
            if e["ev"] in ("rx_frame", "rx_fin", "connection_lost") and cap0 <= e["t"] <= cap1:
                pkt.append(e["t"])
        pkt += [t for t in list(ctx["fin"].values()) + list(ctx["rst"].values())]
        for n in ctx["wire"]:
            pkt += [f["lt"] for f in ctx["wire"][n]]
            pkt += [r["lt"] for r in ctx["recs"][n]]
    eval_default = max(pkt) if pkt else cap1
    use_at = meta.get("at_flag") == "yes"
    E = cap1 if use_at else eval_default
    tls = bool(meta.get("tls_port"))
    read_dl_flag = float(meta["read_deadline"]) if meta.get("read_deadline") else None

    out_conns = []
    for ctx in ctxs:
        cl, sv, wire, fin, rst = ctx["cl"], ctx["sv"], ctx["wire"], ctx["fin"], ctx["rst"]
        verdict, reasons, calls, notes, info = evaluate(ctx, E, tls, read_dl_flag)
        # past stalls that recovered: up to the evaluation time, or for an ended
        # connection up to its end (what held then is in episodes_note)
        ep_end = E
        if info["ended"]:
            ep_end = min(list(fin.values()) + list(rst.values()) +
                         [f["lt"] for n in wire for f in wire[n] if f["opcode"] == "close"] or [E]) - 1e-3
        eps, ep_calls = episodes(ctx, ep_end, info, cap0, tls)
        hidden_calls = []
        if tls:
            # what the frame-level rules would say if the frames were visible
            _, plain, _, _, _ = evaluate(ctx, E)
            have = {(r["code"], r["side"]) for r in reasons}
            for r in plain:
                if (r["code"], r["side"]) not in have:
                    r = dict(r)
                    r["why_not_expected"] = ("wss: this rule needs frames (from the peers' logs, %s would "
                                             "hold), but the frames are inside TLS records and not visible "
                                             "on the wire" % r["code"])
                    hidden_calls.append(r)
        ended_note = None
        if info["ended"]:
            end_t = min(list(fin.values()) + list(rst.values()) +
                        [f["lt"] for n in wire for f in wire[n] if f["opcode"] == "close"] or [E])
            _, pre, pcalls, _, _ = evaluate(ctx, end_t - 1e-3, tls, read_dl_flag)
            reasons = [r for r in pre if r["code"] in HARD]
            calls = pcalls
            if reasons:
                ended_note = "hard reasons that held just before the end (%s), kept as episodes" % ts(end_t)
            if "close_without_websocket_close" in notes and rst:
                calls.append({"code": "close_without_websocket_close", "side": None,
                              "why_included": "the connection ended by RST with no Close frame either "
                                              "way; the spec's note table says 'the TCP connection closed "
                                              "with no Close frame' without limiting it to FIN"})

        def facts_for(name):
            frs = wire[name]
            cnt = collections.Counter(f["opcode"] for f in frs)
            d = {k: cnt.get(k, 0) for k in ("text", "binary", "continuation", "ping", "pong", "close")}
            d["data_bytes"] = sum(f["payload_len"] for f in frs if f["opcode"] in DATA)
            d["data_messages"] = sum(1 for f in frs if f["opcode"] in DATA and f["fin"])
            d["compressed_frames"] = sum(1 for f in frs if f.get("rsv1"))
            d["first_frame"] = ts(frs[0]["lt"]) if frs else None
            d["last_frame"] = ts(frs[-1]["lt"]) if frs else None
            cc = [f.get("close_code") for f in frs if f["opcode"] == "close"]
            if cc:
                d["close_codes"] = cc
            return d

        def tls_facts(name):
            rs = ctx["recs"][name]
            kinds = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
            cnt = collections.Counter(kinds.get(r["ctype"], str(r["ctype"])) for r in rs)
            return {"records": len(rs), "by_outer_content_type": dict(sorted(cnt.items())),
                    "record_bytes": sum(5 + r["len"] for r in rs),
                    "first_record": ts(rs[0]["lt"]) if rs else None,
                    "last_record": ts(rs[-1]["lt"]) if rs else None}

        def frames_hidden(d):
            # what the wire shows: no frames (they are inside TLS records)
            h = {k: 0 for k in ("text", "binary", "continuation", "ping", "pong", "close")}
            h.update(data_bytes=0, data_messages=0, compressed_frames=0, first_frame=None, last_frame=None)
            return h

        def not_on_wire(side):
            n = 0
            samples = side.of("sock")
            offs = {w["off_end"] for w in wire[side.name]}
            for f in side.of("tx_frame"):
                if f["t"] > cap1:
                    continue
                lt = left_time(f, samples)
                if lt is not None and lt < cap0:
                    continue
                if f["off_end"] not in offs:
                    n += 1
            return n

        est = cl.of("tcp_established")[0]
        ss = [s for s in sv.of("sock") if cap0 <= s["t"] <= cap1]
        kern = {}
        if ss:
            zs, z0 = 0.0, None
            for s in ss:
                if s.get("snd_wnd") == 0:
                    z0 = z0 or s["t"]
                    zs = max(zs, s["t"] - z0)
                else:
                    z0 = None
            kern = {"server_total_retrans_during_capture": ss[-1].get("total_retrans", 0) - ss[0].get("total_retrans", 0),
                    "server_min_snd_wnd": min(s.get("snd_wnd", 0) for s in ss),
                    "server_max_unacked_segments": max(s.get("unacked", 0) for s in ss),
                    "server_max_probes_outstanding": max(s.get("probes", 0) for s in ss),
                    "server_longest_zero_window_s": round(zs, 3)}
        ws_open = [e["t"] for e in cl.of("ws_open")]
        fc, fs = facts_for("client"), facts_for("server")
        facts = {
            "client": frames_hidden(fc) if tls else fc,
            "server": frames_hidden(fs) if tls else fs,
            "tcp_connections": 1,
            "handshake_in_capture": bool(ws_open and ws_open[0] >= cap0),
            "fin_from": [k for k, _ in sorted(fin.items(), key=lambda x: x[1])],
            "fin_at": {k: ts(v) for k, v in fin.items()},
            "rst_from": [k for k, _ in sorted(rst.items(), key=lambda x: x[1])],
            "rst_at": {k: ts(v) for k, v in rst.items()},
            "frames_written_but_not_on_wire": {"client": not_on_wire(cl), "server": not_on_wire(sv)},
            "peer_logs_cross_check": {
                "client_frames_read_by_server": sum(1 for e in sv.of("rx_frame") if cap0 <= e["t"] <= cap1),
                "server_frames_read_by_client": sum(1 for e in cl.of("rx_frame") if cap0 <= e["t"] <= cap1)},
            "kernel": kern,
        }
        if tls:
            facts["frames_note"] = ("wss: the frames are inside TLS records, so the per-opcode counts "
                                    "above are what the wire shows (0, as wspulse reports); "
                                    "frames_inside_tls has what the peers wrote and read "
                                    "(the same on-wire rules), tls_records the records on the wire")
            facts["frames_inside_tls"] = {"client": fc, "server": fs}
            facts["tls_records"] = {"client": tls_facts("client"), "server": tls_facts("server")}
            opened = cl.of("ws_open")
            if opened and opened[0].get("tls_version"):
                facts["tls"] = {"version": opened[0]["tls_version"], "cipher": opened[0].get("tls_cipher")}
        exts = [e.get("extensions") for e in cl.of("ws_open") if e.get("extensions")]
        if exts:
            facts["extensions"] = exts[0]
        c = collections.OrderedDict()
        c["client"] = {"ip": ctx["cip"], "port": ctx["cport"]}
        c["server"] = {"ip": est["remote"]["ip"], "port": est["remote"]["port"]}
        c["name"] = cl.ev[0].get("peer") or None
        c["expected_verdict"] = verdict
        c["expected_reasons"] = [{"code": r["code"], "side": r["side"]} for r in reasons]
        c["expected_notes"] = notes
        if ended_note:
            c["episodes_note"] = ended_note
        def ep_out(e, extra=()):
            d = {"code": e["code"], "side": e["side"], "start": ts(e["start"]), "end": ts(e["end"])}
            for k in extra:
                d[k] = e[k] if k != "held_from" else ts(e[k])
            return d
        if eps or ep_calls:  # only then (the field is new; older truths have none)
            c["expected_episodes"] = [ep_out(e) for e in eps]
        c["judgement_calls"] = calls + hidden_calls + [
            ep_out(e, ("held_from", "evidence", "why_not_expected")) for e in ep_calls]
        c["reason_details"] = reasons
        if eps:
            c["episode_details"] = [dict(ep_out(e, ("held_from", "evidence")),
                                         duration_s=round(e["end"] - e["start"], 3)) for e in eps]
        c["thresholds_used"] = {k: v for k, v in info.items() if k != "ended" and not k.startswith("_")}
        c["facts"] = facts
        out_conns.append(c)

    truth = collections.OrderedDict()
    truth["sample"] = meta["name"]
    truth["description"] = meta["description"]
    truth["fault"] = meta["fault"]
    truth["fault_injected_at"] = ts(fault_at) if fault_at else (
        ts(min(t for _, _, t in conn_faults)) if conn_faults else None)
    if meta.get("resumed_at"):
        truth["fault_cleared_at"] = ts(float(meta["resumed_at"]))
    truth["failed_side"] = None if meta["failed_side"] == "null" else meta["failed_side"]
    if conn_faults:
        truth["per_connection_faults"] = [{"client_port": p, "fault": k, "at": ts(t)} for p, k, t in conn_faults]
    truth["capture_start"] = ts(cap0)
    truth["capture_end_hint"] = ("tcpdump stopped at %s; the last packet (wspulse's default evaluation "
                                 "time) is at about %s (estimated from the peers' logs, +-0.1 s)"
                                 % (ts(cap1), ts(eval_default)))
    truth["evaluation_time"] = ts(E)
    flags = []
    if use_at:
        truth["capture_file"] = "%s.pcapng" % meta["name"]
        truth["evaluation_note"] = (
            "nothing is on the wire during the idle period, so the last packet (about %s) comes "
            "before the silence; the sample is pcapng recording when tcpdump stopped (isb_endtime, "
            "samples/peers/endmark.py), the evaluation time by default" % ts(eval_default))
    if tls:
        flags.append({"flag": "--tls-port", "value": meta["tls_port"],
                      "why": "wss: the server on this port speaks TLS, so frames are not visible; "
                             "without the flag wspulse does not judge the connection (TCP-level "
                             "checks and TLS record gaps only)"})
    if read_dl_flag is not None:
        flags.append({"flag": "--read-deadline", "value": "%gs" % read_dl_flag,
                      "why": "TLS hides the heartbeat, so the default read deadline is the one for an "
                             "unknown heartbeat (60 s), longer than the fault lasts in this capture; "
                             "%g s makes the silence after the fault a read gap (the healthy TLS "
                             "record cadence before it is about 1 s per side)" % read_dl_flag})
    truth["thresholds_flags"] = flags
    truth["derived_from"] = ("peer logs (frames parsed from the bytes each peer wrote; SIOCOUTQNSD and "
                             "TCP_INFO samples every 100 ms) and record.sh timings; never the pcap. "
                             "Expected reasons apply shared/spec/liveness-model.md rules at evaluation_time; "
                             "judgement_calls lists literal-rule hits left out (or notes kept) and why")
    if any("expected_episodes" in c for c in out_conns):
        truth["derived_from"] += ("; expected_episodes (past stalls that recovered before evaluation_time: "
                                  "start when the stall began, end when it ended; episode_details has "
                                  "when each rule began to hold and the evidence) come from the same logs "
                                  "and 100 ms kernel samples, so their times are approximate (+-0.5 s)")
    if warnings:
        truth["warnings"] = warnings
    truth["connections"] = out_conns
    with open(a.out, "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
