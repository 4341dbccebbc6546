#!/usr/bin/python3
"""End-to-end tests of `wspulse live` on a real Linux TCP stack, as root.

    e2e.py --wspulse BIN [--mode live|offline] [--scenario faults|churn|all]
           [--churn-seconds N] [--keep]

Two network namespaces joined by a veth pair (lab.py); real WebSocket peers
between them (samples/peers, as samples/record.sh uses them); tcpdump on the
server's veth throughout; and, in live mode, `wspulse live` on that veth.

faults: four connections at once, 8 s healthy, then
  * 40002 black-holed (iptables DROP on its port in the client namespace):
    peer_unreachable (client), measured from the server's first
    retransmission to it;
  * 40003 stopped reader (SIGSTOP, SO_RCVBUF 4096, 2 KB pushed every 100 ms):
    zero_window_stall (client), from its first zero window;
  * 40004 a Close the server never answers (rawpeer --ignore-close):
    close_handshake_incomplete (server), from the Close frame;
  * 40001 healthy: must never leave alive.
  The assertions, the same for `wspulse live`'s verdict lines and for the
  capture judged offline tick by tick (`wspulse analyze --at`, every
  INTERVAL): each fault first leaves alive for false_alive with its reason
  and side, not before it shows on the wire and within its threshold plus one
  interval (plus SLACK) of that; the healthy connection never leaves alive;
  and judged at the end, each connection has its expected verdict and reason.
  Live mode also checks the stream: a header first, stats lines while it
  runs, and on SIGINT the final report (connection lines, a summary last)
  and exit 0.

churn: connections opening and closing continuously (tests/live/churn.py:
  16 at once, each open 0.3-1.5 s, about 18 a second), 66 s live; resident
  memory of `wspulse live` (VmRSS sampled each second from /proc, and the
  stats lines' rss_bytes) must stay flat: the largest sample of the last
  third at most 1.2 x the largest of the first third plus 4 MiB. Closed
  connections linger 60 s (TIME_WAIT) before they retire, so their state
  (about 1,100 connections of ~1.5 KB) legitimately builds up over the run;
  the 4 MiB cover that and allocator noise, while a leak of 4 KB per
  connection (1,200 of them) breaks the bound. Every connection must be
  reported once, closed. Offline mode runs 15 s of churn and checks the
  capture instead (every connection closed, none flagged).

Exit status 0 passed, 1 failed, 77 skipped (the reason on stderr). In live
mode, a wspulse without the live engine (its `live --help` has no
--duration, or it says live capture is not built in) gets the offline check
instead, and says so.
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(REPO, "samples", "peers")
sys.path.insert(0, HERE)
from lab import NS_CLI, NS_SRV, PY, SIP, VETH_S, Fail, Lab, Skip, note, prerequisites, run, sleep_until  # noqa: E402

INTERVAL = 1.0  # --interval: seconds between judging ticks
THRESHOLDS = ["--ack-stall", "3s", "--zero-window-stall", "3s", "--close-timeout", "3s"]
# Scheduling slack on top of threshold + interval: the tick that sees a change
# and the packet that shows the fault are timestamped by different code paths.
SLACK = 0.25
WARMUP = 8.0  # seconds of healthy traffic before the faults


class Fault:
    def __init__(self, port, what, code, side, threshold, onset_desc):
        self.port, self.what, self.code, self.side = port, what, code, side
        self.threshold, self.onset_desc = threshold, onset_desc


HEALTHY = 40001
FAULTS = [
    Fault(40002, "black-holed client", "peer_unreachable", "client", 3.0,
          "the server's first retransmission to it"),
    Fault(40003, "stopped reader", "zero_window_stall", "client", 3.0, "its first zero window"),
    Fault(40004, "close never answered", "close_handshake_incomplete", "server", 3.0,
          "its Close frame"),
]


class EngineMissing(Exception):
    pass


def rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def ndjson(path):
    out = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise Fail("%s line %d is not JSON: %r" % (path, n, line[:200]))
    return out


def client_port(obj):
    conn = obj.get("connection", obj)
    return conn["client"]["port"]


def has_reason(obj, code, side):
    return any(r.get("code") == code and r.get("side") == side for r in obj.get("reasons", []))


# --- wspulse live ---------------------------------------------------------------
def engine_present(wspulse):
    r = subprocess.run([wspulse, "live", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=10)
    if "--duration" not in r.stdout:
        return "its `live --help` has no --duration"
    return None


class Live:
    """`wspulse live` on the server's veth, NDJSON to WORK/live.out."""

    def __init__(self, lab, wspulse, duration, extra=()):
        self.lab, self.wspulse, self.duration, self.extra = lab, wspulse, duration, list(extra)
        self.p = None

    def start(self):
        argv = [self.wspulse, "live", "-i", VETH_S, "--format", "ndjson", "--interval", "%g" % INTERVAL,
                "--duration", "%d" % self.duration, "--stats-interval", "1s"] + THRESHOLDS + self.extra + ["tcp"]
        note("start: " + " ".join(argv))
        self.p = self.lab.spawn(NS_SRV, "live", argv)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            lines = self.lines_so_far()
            if lines:
                if lines[0].get("type") != "header":
                    raise Fail("wspulse live's first line is not a header: %r" % lines[0])
                return
            if self.p.poll() is not None:
                err = open(self.lab.path("live.err")).read().strip()
                if "not built in" in err or "not available" in err:
                    raise EngineMissing(err.splitlines()[-1] if err else "no live engine")
                raise Fail("wspulse live exited %d before its header: %s" % (self.p.returncode, err[-500:]))
            time.sleep(0.1)
        raise Fail("wspulse live printed no header in 15 s: " + self.lab.tails())

    def lines_so_far(self):
        out = []
        with open(self.lab.path("live.out")) as fh:
            for line in fh:
                if line.endswith("\n"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def rss(self):
        """VmRSS in bytes, or None once the process is gone."""
        try:
            with open("/proc/%d/status" % self.p.pid) as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def interrupt(self):
        """SIGINT, as Ctrl-C; the exit code (killed after 15 s: a failure)."""
        os.kill(self.p.pid, signal.SIGINT)
        try:
            return self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise Fail("wspulse live did not exit within 15 s of SIGINT")


# --- the faults scenario ----------------------------------------------------------
def wire_onsets(pcap, fault_at):
    """When each fault first shows on the wire, from the capture (tshark)."""
    flt = ("(tcp.analysis.retransmission && tcp.srcport==8080 && tcp.dstport==40002)"
           " || (tcp.srcport==40003 && tcp.window_size==0)"
           " || (tcp.srcport==40004 && websocket.opcode==8)")
    r = run(["tshark", "-n", "-r", pcap, "-Y", flt, "-T", "fields", "-e", "frame.number",
             "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.dstport"], timeout=60)
    onsets = {}
    for line in r.stdout.splitlines():
        frame, t, sport, dport = line.split("\t")
        port = int(dport) if int(sport) == 8080 else int(sport)
        t = float(t)
        if port in onsets or t < fault_at[port] - 0.05:
            continue
        onsets[port] = (t, int(frame))
    missing = [f.what for f in FAULTS if f.port not in onsets]
    if missing:
        raise Fail("the capture shows no onset for: %s" % ", ".join(missing))
    return onsets


def analyze(wspulse, pcap, at=None):
    """`wspulse analyze --format ndjson` on the capture, judged at `at` (epoch
    seconds) or at its end: the connection lines by client port, and the
    capture's last packet time."""
    argv = [wspulse, "analyze", "--format", "ndjson"] + THRESHOLDS
    if at is not None:
        argv += ["--at", datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")]
    r = run(argv + [pcap], timeout=60, check=False)
    if r.returncode != 0:
        raise Fail("wspulse analyze exited %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    last = rfc3339(lines[-1]["capture"]["last_packet"])
    return {client_port(d): d for d in lines if d["type"] == "connection"}, last


def check_final(conns, what):
    """The verdicts and reasons at the end of the run (a capture judged at its
    end, or the connection lines `wspulse live` prints when it stops)."""
    problems = []
    h = conns.get(HEALTHY)
    if h is None or h["verdict"] != "alive":
        problems.append("healthy %d: %s, not alive" % (HEALTHY, h and (h["verdict"], h["reasons"])))
    for f in FAULTS:
        c = conns.get(f.port)
        if c is None:
            problems.append("%s (%d): no connection line" % (f.what, f.port))
        elif c["verdict"] != "false_alive" or not has_reason(c, f.code, f.side):
            problems.append("%s (%d): %s %s, expected false_alive with %s (%s)" % (
                f.what, f.port, c["verdict"], [(x["code"], x["side"]) for x in c["reasons"]], f.code, f.side))
    if problems:
        raise Fail("%s: %s" % (what, "; ".join(problems)))


def offline_ticks(wspulse, pcap, first, last):
    """What `wspulse live` would print as verdict lines, ticking every
    INTERVAL from `first` to `last`: the capture judged at each tick with
    `analyze --at`, and each change of verdict as a verdict line."""
    verdict_lines, now = [], {}
    t = first
    while t <= last:
        for port, c in analyze(wspulse, pcap, at=t)[0].items():
            before = now.get(port, "alive")
            if c["verdict"] != before:
                verdict_lines.append({"type": "verdict", "at": c["judged_at"], "connection": c, "from": before,
                                      "to": c["verdict"], "reasons": c["reasons"]})
            now[port] = c["verdict"]
        t += INTERVAL
    return verdict_lines


def check_changes(verdicts, onsets, what):
    """Each fault first leaves alive for false_alive with its reason, no
    earlier than it shows on the wire and within its threshold plus one
    interval (plus SLACK) of that; the healthy connection never leaves alive.
    Returns the latencies."""
    problems, latencies = [], {}
    for f in FAULTS:
        onset = onsets[f.port][0]
        left = [v for v in verdicts if client_port(v) == f.port and v["to"] != "alive"]
        if not left:
            problems.append("%s: never left alive" % f.what)
            continue
        v = left[0]
        latency = rfc3339(v["at"]) - onset
        latencies[f.what] = latency
        bound = f.threshold + INTERVAL + SLACK
        if v["to"] != "false_alive" or not has_reason(v, f.code, f.side):
            problems.append("%s: first change is to %s with %s, expected false_alive with %s (%s)" % (
                f.what, v["to"], [(r["code"], r["side"]) for r in v["reasons"]], f.code, f.side))
        if latency < 0:
            problems.append("%s: %s at %s, %.2f s before %s" % (f.what, v["to"], v["at"], -latency, f.onset_desc))
        elif latency > bound:
            problems.append("%s: reported %.2f s after %s, over %.2f s" % (f.what, latency, f.onset_desc, bound))
    left = [v for v in verdicts if client_port(v) == HEALTHY and v["to"] != "alive"]
    if left:
        problems.append("healthy connection left alive: %s at %s" % (left[0]["to"], left[0]["at"]))
    if problems:
        raise Fail("%s: %s" % (what, "; ".join(problems)))
    return latencies


def check_live_stream(lines, rc, started, stopped):
    """The shape of a live run: header first, stats while it runs, and after
    SIGINT the final report (connection lines, a summary last) and exit 0."""
    problems = []
    if rc != 0:
        problems.append("exit %s after SIGINT, not 0" % rc)
    if not lines or lines[0].get("type") != "header":
        problems.append("the first line is not a header")
    if not lines or lines[-1].get("type") != "summary":
        problems.append("the last line is not a summary (the final report after SIGINT)")
    stats = [s for s in lines if s.get("type") == "stats"]
    want = int((stopped - started) / 2)
    if len(stats) < want:
        problems.append("%d stats lines in %.0f s with --stats-interval 1s (want >= %d)" % (
            len(stats), stopped - started, want))
    if any(not isinstance(s.get("rss_bytes"), int) or s["rss_bytes"] <= 0 for s in stats):
        problems.append("a stats line without a positive rss_bytes")
    if problems:
        raise Fail("live stream: " + "; ".join(problems))


def scenario_faults(lab, wspulse, mode):
    note("=== faults (%s)" % mode)
    cap = lab.capture("tcpdump")
    live = None
    if mode == "live":
        live = Live(lab, wspulse, duration=60)
        live.start()
    started = time.time()
    lab.server("server", PEERS, "--reply")
    lab.raw_server("closer", PEERS, "--port", "8081", "--ping-interval", "2", "--push-interval", "1",
                   "--reply", "--ignore-close")
    ws, ws_closer = "ws://%s:8080/" % SIP, "ws://%s:8081/" % SIP
    lab.client("healthy", PEERS, "--uri", ws, "--src-port", str(HEALTHY))
    # The faulty clients send no data of their own (only Pongs), so no read
    # gap of theirs races the reason under test.
    lab.client("blackholed", PEERS, "--uri", ws, "--src-port", "40002", "--send-interval", "0")
    lab.client("stopped", PEERS, "--uri", ws + "?push_interval=0.1&push_size=2048",
               "--src-port", "40003", "--rcvbuf", "4096", "--send-interval", "0")
    lab.client("closer-client", PEERS, "--uri", ws_closer, "--src-port", "40004",
               "--close-after", "%g" % WARMUP, "--close-timeout", "60")
    for name in ("healthy", "blackholed", "stopped", "closer-client"):
        lab.wait_for(name + ".jsonl", '"ev":"ws_open"')
    t0 = time.time()
    sleep_until(t0 + WARMUP)
    fault_at = {}
    lab.iptables(NS_CLI, "-I", "INPUT", "-p", "tcp", "--dport", "40002", "-j", "DROP")
    lab.iptables(NS_CLI, "-I", "OUTPUT", "-p", "tcp", "--sport", "40002", "-j", "DROP")
    fault_at[40002] = time.time()
    os.kill(lab.log_pid("stopped"), signal.SIGSTOP)
    fault_at[40003] = time.time()
    lab.wait_for("closer-client.jsonl", '"ev":"close_start"', secs=5)
    with open(lab.path("closer-client.jsonl")) as fh:
        fault_at[40004] = [e for e in map(json.loads, fh) if e["ev"] == "close_start"][0]["t"]
    # Past the last deadline (threshold + interval + slack), with a margin.
    sleep_until(max(fault_at.values()) + 3.0 + INTERVAL + 3.0)
    rc = None
    stopped = time.time()
    if live:
        rc = live.interrupt()
    lab.stop(cap, signal.SIGINT)
    os.kill(lab.log_pid("stopped"), signal.SIGCONT)
    pcap = lab.path("tcpdump.pcap")
    onsets = wire_onsets(pcap, fault_at)
    for f in FAULTS:
        t, frame = onsets[f.port]
        note("onset: %-22s %s at %.6f (frame %d), %.3f s after the fault was made" % (
            f.what, f.onset_desc, t, frame, t - fault_at[f.port]))
    result = {"scenario": "faults", "mode": mode,
              "onset_after_fault_s": {f.what: round(onsets[f.port][0] - fault_at[f.port], 3) for f in FAULTS}}
    # The capture, judged offline: at its end, and tick by tick as live would.
    at_end, last_packet = analyze(wspulse, pcap)
    check_final(at_end, "offline, at the end")
    ticks = offline_ticks(wspulse, pcap, t0, last_packet)
    latencies = check_changes(ticks, onsets, "offline, tick by tick")
    result["offline_latency_s"] = {k: round(v, 3) for k, v in latencies.items()}
    if live:
        lines = live.lines_so_far()
        check_live_stream(lines, rc, started, stopped)
        check_final({client_port(c): c for c in lines if c.get("type") == "connection"},
                    "live, the final report")
        latencies = check_changes([v for v in lines if v.get("type") == "verdict"], onsets, "live")
        result["live_latency_s"] = {k: round(v, 3) for k, v in latencies.items()}
    for k, v in sorted(result.get("live_latency_s", result["offline_latency_s"]).items()):
        note("reported: %-22s %.3f s after it showed on the wire" % (k, v))
    return result


# --- the churn scenario -------------------------------------------------------------
CHURN_LIVE_S = 66
CHURN_OFFLINE_S = 15
RSS_FACTOR, RSS_EXTRA = 1.2, 4 << 20


def flat(samples, start, end):
    """(first-third max, last-third max, bound) of (t, bytes) samples in [start, end]."""
    third = (end - start) / 3
    first = [b for t, b in samples if start <= t < start + third]
    last = [b for t, b in samples if end - third <= t <= end]
    if len(first) < 5 or len(last) < 5:
        raise Fail("too few memory samples (%d in the first third, %d in the last)" % (len(first), len(last)))
    return max(first), max(last), max(first) * RSS_FACTOR + RSS_EXTRA


def scenario_churn(lab, wspulse, mode, live_secs=CHURN_LIVE_S):
    note("=== churn (%s)" % mode)
    secs = live_secs if mode == "live" else CHURN_OFFLINE_S
    cap = lab.capture("tcpdump") if mode == "offline" else None
    live = None
    if mode == "live":
        live = Live(lab, wspulse, duration=secs + 60)
        live.start()
    lab.server("server", PEERS, "--reply")
    start = time.time()
    churn = lab.spawn(NS_CLI, "churn", [PY, os.path.join(HERE, "churn.py"), "--uri", "ws://%s:8080/" % SIP,
                                        "--duration", str(secs), "--concurrency", "16",
                                        "--max-connections", "5000", "--out", lab.path("churn.json")])
    samples = []
    while churn.poll() is None and time.time() < start + secs + 30:
        if live:
            rss = live.rss()
            if rss is None:
                raise Fail("wspulse live exited during the churn: " + lab.tails())
            samples.append((time.time(), rss))
        time.sleep(1.0)
    end = time.time()
    if churn.poll() is None or churn.returncode != 0:
        raise Fail("the churn client did not finish cleanly: " + lab.tails())
    with open(lab.path("churn.json")) as fh:
        counts = json.load(fh)
    note("churn: %(opened)d opened, %(closed)d closed, %(slow_closes)d slow closes, %(errors)d errors" % counts)
    if counts["errors"] or counts["opened"] < 10 * secs:
        raise Fail("churn too small or failing: %s" % counts)
    time.sleep(2.0)  # the last closes reach the wire
    result = {"scenario": "churn", "mode": mode, "seconds": round(end - start, 1), "connections": counts["opened"]}
    if cap:
        lab.stop(cap, signal.SIGINT)
        r = run([wspulse, "analyze", "--format", "ndjson", lab.path("tcpdump.pcap")], timeout=120, check=False)
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        conns = [c for c in lines if c["type"] == "connection"]
        bad = [(c["client"]["port"], c["verdict"]) for c in conns if c["verdict"] != "closed"]
        # A close the loaded client gave up waiting for may end otherwise.
        if r.returncode != 0 or len(conns) != counts["opened"] or len(bad) > counts["slow_closes"]:
            raise Fail("offline churn: exit %d, %d connections for %d opened, not closed: %s" % (
                r.returncode, len(conns), counts["opened"], bad[:5]))
        return result
    rc = live.interrupt()
    lines = live.lines_so_far()
    problems = []
    if rc != 0 or not lines or lines[-1].get("type") != "summary":
        problems.append("exit %s, last line %s: no final report after SIGINT" % (rc, lines and lines[-1].get("type")))
    conns = [c for c in lines if c.get("type") == "connection"]
    bad = [(c["client"]["port"], c["verdict"]) for c in conns if c["verdict"] not in ("closed", "alive")]
    if len(conns) != counts["opened"] or len(bad) > counts["slow_closes"]:
        problems.append("%d connection lines for %d opened; not closed or alive: %s" % (
            len(conns), counts["opened"], bad[:5]))
    first, last, bound = flat(samples, start, end)
    result["vmrss_mb"] = {"first_third_max": round(first / 2**20, 1), "last_third_max": round(last / 2**20, 1),
                          "bound": round(bound / 2**20, 1)}
    note("VmRSS: first third max %.1f MB, last third max %.1f MB, bound %.1f MB" % (
        first / 2**20, last / 2**20, bound / 2**20))
    if last > bound:
        problems.append("VmRSS grew: %s" % result["vmrss_mb"])
    stats = [(rfc3339(s["at"]), s["rss_bytes"]) for s in lines if s.get("type") == "stats" and "rss_bytes" in s]
    sf, sl, sb = flat(stats, start, end)
    result["stats_rss_mb"] = {"first_third_max": round(sf / 2**20, 1), "last_third_max": round(sl / 2**20, 1)}
    if sl > sb:
        problems.append("rss_bytes in stats grew: %s" % result["stats_rss_mb"])
    if problems:
        raise Fail("live churn: " + "; ".join(problems))
    return result


# --- main ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wspulse", required=True, help="the wspulse binary")
    ap.add_argument("--mode", choices=["live", "offline"], default="live")
    ap.add_argument("--scenario", choices=["faults", "churn", "all"], default="all")
    ap.add_argument("--churn-seconds", type=int, default=CHURN_LIVE_S,
                    help="how long the live churn runs (at least 60; longer for a soak)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, captures)")
    a = ap.parse_args()
    if a.churn_seconds < 60:
        ap.error("--churn-seconds: at least 60")
    try:
        prerequisites()
    except Skip as e:
        print("skipped: %s" % e, file=sys.stderr)
        return 77
    mode = a.mode
    if mode == "live":
        why = engine_present(a.wspulse)
        if why:
            note("wspulse has no live engine (%s): running the offline check instead" % why)
            mode = "offline"

    def timeout(*_):
        raise Fail("the whole test took over %d s" % (180 + a.churn_seconds))

    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(180 + a.churn_seconds)
    work = tempfile.mkdtemp(prefix="wa-e2e-")
    scenarios = {"faults": scenario_faults,
                 "churn": lambda lab, wspulse, mode: scenario_churn(lab, wspulse, mode, a.churn_seconds)}

    def attempt(name, mode):
        d = os.path.join(work, "%s-%s" % (name, mode))
        os.makedirs(d)
        with Lab(d) as lab:
            return scenarios[name](lab, a.wspulse, mode)

    failed = False
    try:
        for name in list(scenarios) if a.scenario == "all" else [a.scenario]:
            try:
                result = attempt(name, mode)
            except EngineMissing as e:
                note("wspulse live is not built in (%s): running the offline check instead" % e)
                mode = "offline"
                result = attempt(name, mode)
            print(json.dumps(result), flush=True)
    except Fail as e:
        failed = True
        print("FAILED: %s" % e, file=sys.stderr)
    finally:
        signal.alarm(0)
        if a.keep or failed:
            note("work directory kept: %s" % work)
        else:
            subprocess.run(["rm", "-rf", work])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
