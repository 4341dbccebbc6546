#!/usr/bin/env python3
"""Figures of one load step of bench/live/rate.sh, and the table of a run.

    summarize.py step STEP_DIR   -> writes STEP_DIR/step.json, prints one line
    summarize.py table RUN_DIR   -> prints the Markdown table of every step
                                    and the highest step without kernel drops

A step directory holds what rate.sh recorded for one offered load:

    meta.env         KEY=VALUE lines: the step's label and load (the wsload
                     client's arguments, or the tcpreplay mode), wall-clock
                     instants (Unix seconds) of the load's start and end,
                     veth_pb's packet/byte counters and the /proc/stat "cpu"
                     line before and after, loadavg before
    wspulse.ndjson   wspulse live's records (--format ndjson)
    *.time           GNU time -f "%e %U %S %M": wall s, user s, sys s,
                     max RSS KiB (wspulse, wsload server and client or the
                     tcpreplay senders, tcpdump when run)
    tcpdump.log      tcpdump's closing counters, when run

Figures (MB = 10^6 bytes):
  offered      packets and bytes through veth_pb (rx + tx) during the
               step, from the interface counters: all of it is the load's
               TCP port 8080 traffic (no ARP, no IPv6 in the namespaces;
               replayed packets are dropped in perf_b's raw table, so
               nothing answers them)
  seen         packets wspulse counted (its last `stats` record)
  steady pps / MB/s
               from the `stats` records whose 5 s intervals lie wholly
               between the load's start + 5.5 s (wsload opens its
               connections over the first 5 s) and the load's end: the
               (packets, bytes) difference between the first and the last
               of them over their time difference
  kernel       libpcap's received / dropped / if_dropped for wspulse's
               capture (its last `stats` record; one process per step, so
               these are the step's own counts)
  queue        times wspulse's judging fell behind and packets waited in
               the kernel buffer (`limits_hit.queue.count`)
  RSS          the largest `rss_bytes` of the stats records, GNU time's
               maximum resident set size, and the largest VmRSS sampled
  CPU          under load: wspulse's utime + stime (/proc/PID/stat, sampled
               every 0.5 s by rate.sh) over the same window as the steady
               rate, as a share of one core, and per packet of that window
               (step.json also has the user-time share and the context
               switches of all its threads per 1000 packets); in all: user
               + sys seconds of the whole process (GNU time)
  machine      /proc/stat busy share (user, nice, system, irq, softirq) of
               all cores during the step; "other s" is the busy CPU seconds
               the step's own processes (wspulse, wsload or tcpreplay,
               tcpdump; their times include the softirq work that ran on
               them) do not account for: other work on the machine, such
               as builds running beside, and kernel threads
"""

import json
import os
import sys


def read_env(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k] = v
    return out


def read_time(path):
    """GNU time's "%e %U %S %M" line -> (wall, user, sys, maxrss_kib), or None."""
    try:
        with open(path) as f:
            lines = [x for x in f.read().splitlines() if x.strip()]
    except OSError:
        return None
    if not lines:
        return None
    parts = lines[-1].split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        return None


def read_samples(path):
    """rate.sh's /proc samples of wspulse ->
    [(unix s, utime + stime ticks, rss KiB, context switches of all threads, utime ticks)]."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) == 5:
                    out.append((float(w[0]), int(w[1]) + int(w[2]), int(w[3]), int(w[4]), int(w[1])))
    except (OSError, ValueError):
        pass
    return out


def parse_ts(s):
    """RFC 3339 UTC as wspulse writes it (2026-11-29T19:43:50.000000Z) -> Unix s."""
    from datetime import datetime, timezone

    s = s.rstrip("Z")
    base, _, frac = s.partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return t.timestamp() + (float("0." + frac) if frac else 0.0)


def cpu_line(s):
    """/proc/stat "cpu" fields -> (busy jiffies, softirq+irq jiffies, total jiffies)."""
    v = [int(x) for x in s.split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal
    busy = user + nice + system + irq + softirq
    return busy, irq + softirq, total


def step(d):
    m = read_env(os.path.join(d, "meta.env"))
    recs = []
    header = None
    summary = None
    with open(os.path.join(d, "wspulse.ndjson")) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            t = r.get("type")
            if t == "stats":
                recs.append(r)
            elif t == "header":
                header = r
            elif t == "summary":
                summary = r
    last = recs[-1] if recs else {}
    kern = last.get("capture") or {}
    t0 = float(m["load_start"]) + 5.5
    t1 = float(m["load_end"])
    interval = 5.0
    inside = [r for r in recs if parse_ts(r["at"]) - interval >= t0 and parse_ts(r["at"]) <= t1]
    # the first record inside is the base: its own interval is inside too,
    # but its packets count is the total at its end, so the difference starts there
    steady_pps = steady_mbs = None
    if len(inside) >= 2:
        a, b = inside[0], inside[-1]
        dt = parse_ts(b["at"]) - parse_ts(a["at"])
        steady_pps = (b["packets"] - a["packets"]) / dt
        steady_mbs = (b["bytes"] - a["bytes"]) / dt / 1e6
    peak_pps = max((r["packets_per_s"] for r in inside), default=None)

    samples = read_samples(os.path.join(d, "wspulse.samples"))
    hz = os.sysconf("SC_CLK_TCK")
    load_cpu_pct = load_us_per_pkt = load_user_share = switches_per_1k = None
    win = [x for x in samples if t0 <= x[0] <= t1]
    if len(win) >= 2 and win[-1][0] > win[0][0]:
        dt = win[-1][0] - win[0][0]
        cpu = (win[-1][1] - win[0][1]) / hz
        load_cpu_pct = 100 * cpu / dt
        if cpu > 0:
            load_user_share = (win[-1][4] - win[0][4]) / hz / cpu
        if steady_pps:
            load_us_per_pkt = 1e6 * cpu / (steady_pps * dt)
            switches_per_1k = 1000 * (win[-1][3] - win[0][3]) / (steady_pps * dt)
    peak_rss_proc = max((x[2] for x in samples), default=0) * 1024 / 1e6

    off_pk = (int(m["rx_packets_after"]) - int(m["rx_packets_before"])) + (
        int(m["tx_packets_after"]) - int(m["tx_packets_before"])
    )
    off_b = (int(m["rx_bytes_after"]) - int(m["rx_bytes_before"])) + (
        int(m["tx_bytes_after"]) - int(m["tx_bytes_before"])
    )
    ws = read_time(os.path.join(d, "wspulse.time"))
    procs = {}
    for name in ("wspulse", "server", "client", "tcpdump", "sender1", "sender2", "sender3", "sender4"):
        t = read_time(os.path.join(d, name + ".time"))
        if t:
            procs[name] = round(t[1] + t[2], 2)
    b0, s0, tot0 = cpu_line(m["procstat_before"])
    b1, s1, tot1 = cpu_line(m["procstat_after"])
    ncpu = int(m.get("ncpu", os.cpu_count() or 1))
    busy_s = (b1 - b0) / hz
    wall_s = (tot1 - tot0) / hz / ncpu
    tcpdump = None
    tl = os.path.join(d, "tcpdump.log")
    if os.path.exists(tl):
        tcpdump = {}
        with open(tl) as f:
            for line in f:
                w = line.split()
                if len(w) >= 3 and w[0].isdigit():
                    if "captured" in line:
                        tcpdump["captured"] = int(w[0])
                    elif "received by filter" in line:
                        tcpdump["received"] = int(w[0])
                    elif "dropped by kernel" in line:
                        tcpdump["dropped"] = int(w[0])
    out = {
        "step": int(m["step"]),
        "label": m["label"],
        "load": m.get("load", ""),
        "loadavg_before": m["loadavg"],
        "buffer": header.get("buffer_size") if header else None,
        "offered_packets": off_pk,
        "offered_bytes": off_b,
        "seen_packets": last.get("packets"),
        "seen_bytes": last.get("bytes"),
        "connections_total": last.get("connections_total"),
        "steady_pps": steady_pps,
        "steady_mb_s": steady_mbs,
        "peak_pps_5s": peak_pps,
        "steady_intervals": max(len(inside) - 1, 0),
        "kernel_received": kern.get("received"),
        "kernel_dropped": kern.get("dropped"),
        "kernel_if_dropped": kern.get("if_dropped"),
        "queue": ((last.get("limits_hit") or {}).get("queue") or {}).get("count", 0),
        "limits_hit": sorted((last.get("limits_hit") or {}).keys()),
        "peak_rss_stats_mb": max((r.get("rss_bytes") or 0 for r in recs), default=0) / 1e6,
        "maxrss_time_mb": ws[3] * 1024 / 1e6 if ws else None,
        "peak_rss_proc_mb": peak_rss_proc,
        "load_cpu_pct": load_cpu_pct,
        "load_us_per_packet": load_us_per_pkt,
        "load_user_share": load_user_share,
        "load_switches_per_1k_packets": switches_per_1k,
        "wspulse_wall_s": ws[0] if ws else None,
        "wspulse_cpu_s": (ws[1] + ws[2]) if ws else None,
        "wspulse_cpu_pct": 100 * (ws[1] + ws[2]) / ws[0] if ws and ws[0] > 0 else None,
        "wspulse_us_per_packet": (
            1e6 * (ws[1] + ws[2]) / last["packets"] if ws and last.get("packets") else None
        ),
        "proc_cpu_s": procs,
        "machine_busy_pct": 100 * busy_s / (wall_s * ncpu) if wall_s > 0 else None,
        "machine_busy_s": busy_s,
        "irq_softirq_s": (s1 - s0) / hz,
        "other_s": busy_s - sum(procs.values()),
        "step_wall_s": wall_s,
        "tcpdump": tcpdump,
        "summary_present": summary is not None,
        "stats_records": len(recs),
    }
    with open(os.path.join(d, "step.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(one_line(out))


def fmt(v, spec):
    return "?" if v is None else format(v, spec)


def one_line(s):
    return (
        f"step {s['step']} ({s['label']}): offered {s['offered_packets']} pkts, "
        f"seen {s['seen_packets']}; steady {fmt(s['steady_pps'], ',.0f')} pkt/s "
        f"{fmt(s['steady_mb_s'], '.1f')} MB/s; kernel recv {s['kernel_received']} "
        f"drop {s['kernel_dropped']} ifdrop {s['kernel_if_dropped']}; queue {s['queue']}; "
        f"peak RSS {s['peak_rss_stats_mb']:.1f}/{fmt(s['maxrss_time_mb'], '.1f')}/{s['peak_rss_proc_mb']:.1f} MB; "
        f"CPU under load {fmt(s['load_cpu_pct'], '.0f')}% of a core ({fmt(s['load_us_per_packet'], '.2f')} us/pkt), "
        f"user {fmt(s['load_user_share'] and 100 * s['load_user_share'], '.0f')}%, "
        f"{fmt(s['load_switches_per_1k_packets'], '.0f')} context switches per 1000 packets; "
        f"{fmt(s['wspulse_cpu_s'], '.2f')} s in all; machine busy "
        f"{fmt(s['machine_busy_pct'], '.0f')}%"
    )


def table(run):
    steps = []
    for name in sorted(os.listdir(run)):
        p = os.path.join(run, name, "step.json")
        if os.path.exists(p):
            with open(p) as f:
                steps.append(json.load(f))
    steps.sort(key=lambda s: s["step"])
    print(
        "| step | load | offered pkts | seen pkts | steady pkt/s | steady MB/s "
        "| kernel recv / drop / ifdrop | queue waits | peak RSS MB (stats / time / proc) "
        "| wspulse CPU under load, % of a core (µs/pkt) | wspulse CPU s in all | tcpdump recv / drop "
        "| machine busy % (other s) | load before |"
    )
    print("|---:|---|---:|---:|---:|---:|---|---:|---|---|---:|---|---|---|")
    for s in steps:
        td = s.get("tcpdump")
        tds = f"{td.get('received', '?')} / {td.get('dropped', '?')}" if td else "-"
        print(
            f"| {s['step']} | {s['label']}: {short_load(s['load'])} "
            f"| {s['offered_packets']:,} | {fmt(s['seen_packets'], ',')} "
            f"| {fmt(s['steady_pps'], ',.0f')} | {fmt(s['steady_mb_s'], '.1f')} "
            f"| {fmt(s['kernel_received'], ',')} / {s['kernel_dropped']} / {s['kernel_if_dropped']} "
            f"| {s['queue']} | {s['peak_rss_stats_mb']:.0f} / {fmt(s['maxrss_time_mb'], '.0f')} "
            f"/ {s['peak_rss_proc_mb']:.0f} "
            f"| {fmt(s['load_cpu_pct'], '.0f')} ({fmt(s['load_us_per_packet'], '.2f')}) "
            f"| {fmt(s['wspulse_cpu_s'], '.1f')} | {tds} "
            f"| {fmt(s['machine_busy_pct'], '.0f')} ({s['other_s']:.1f}) | {s['loadavg_before']} |"
        )
    ok = [s for s in steps if s["kernel_dropped"] == 0 and s["kernel_if_dropped"] == 0]
    print()
    if not steps:
        print("no step finished")
        return 1
    if ok:
        best = max(ok, key=lambda s: s["steady_pps"] or 0)
        print(
            f"highest step without kernel drops: step {best['step']} ({best['label']}): "
            f"{fmt(best['steady_pps'], ',.0f')} packets/s, {fmt(best['steady_mb_s'], '.1f')} MB/s steady; "
            f"peak RSS {max(best['peak_rss_stats_mb'], best['peak_rss_proc_mb']):.0f} MB; wspulse CPU under load "
            f"{fmt(best['load_cpu_pct'], '.0f')}% of one core ({fmt(best['load_us_per_packet'], '.2f')} µs/packet)"
        )
    else:
        print("every step had kernel drops")
    dropped = [s for s in steps if s not in ok]
    if dropped:
        first = min(dropped, key=lambda s: s["step"])
        print(
            f"first step with drops: step {first['step']} ({first['label']}): "
            f"{first['kernel_dropped']} dropped, {first['kernel_if_dropped']} if_dropped of "
            f"{first['kernel_received']} received"
        )
    short = [s for s in steps if s["seen_packets"] is not None and s["seen_packets"] < s["offered_packets"]]
    for s in short:
        print(
            f"note: step {s['step']} saw {s['seen_packets']:,} of {s['offered_packets']:,} packets offered on veth_pb"
        )
    return 0


def short_load(a):
    """The load's description, its per-connection rates only (wsload) or as it is."""
    w = a.split()
    if not w or w[0] != "wsload":
        return a
    keep = []
    for i, k in enumerate(w):
        if k in ("--long", "--rate", "--bin-every", "--client-every") and i + 1 < len(w):
            keep.append(f"{k[2:]} {w[i + 1]}")
    return ", ".join(keep)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("step", "table"):
        print("usage: summarize.py step STEP_DIR | table RUN_DIR", file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "step":
        step(sys.argv[2])
    else:
        sys.exit(table(sys.argv[2]))
