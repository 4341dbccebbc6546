#!/usr/bin/python3
"""Connections opening and closing continuously, for the memory test of
`wspulse live` (run by e2e.py in the client namespace).

Keeps --concurrency WebSocket connections going at once: each opens, sends a
message, waits for the server's reply, stays open a random 0.3-1.5 s and
closes with the closing handshake; then the next one opens. Bounded in time
(--duration seconds, then every connection is closed) and in count
(--max-connections). Writes a JSON summary to --out: opened, closed, errors.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import time

import websockets


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-connections", type=int, default=5000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    # A hard stop even if the event loop wedges.
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(int(a.duration) + 60)

    deadline = time.monotonic() + a.duration
    counts = {"opened": 0, "closed": 0, "slow_closes": 0, "errors": 0, "first_error": None}
    rng = random.Random(7)

    def take_one():
        return time.monotonic() < deadline and counts["opened"] + counts["errors"] < a.max_connections

    async def worker():
        while take_one():
            try:
                ws = await asyncio.wait_for(
                    websockets.connect(a.uri, ping_interval=None, close_timeout=2), 5)
            except Exception as e:  # a refused or timed-out connect: counted, then go on
                counts["errors"] += 1
                counts["first_error"] = counts["first_error"] or repr(e)
                await asyncio.sleep(0.2)
                continue
            counts["opened"] += 1
            try:
                await ws.send("churn %d" % counts["opened"])
                await asyncio.wait_for(ws.recv(), 5)
                await asyncio.sleep(rng.uniform(0.3, 1.5))
            except Exception as e:
                counts["errors"] += 1
                counts["first_error"] = counts["first_error"] or repr(e)
            finally:
                # A loaded machine can be slow to finish a close handshake:
                # counted apart, it is not the tap's failure.
                try:
                    await asyncio.wait_for(ws.close(), 15)
                    counts["closed"] += 1
                except asyncio.TimeoutError:
                    counts["slow_closes"] += 1

    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    with open(a.out, "w") as f:
        json.dump(counts, f)


if __name__ == "__main__":
    asyncio.run(main())
