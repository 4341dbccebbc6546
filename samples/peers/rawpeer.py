#!/usr/bin/python3
"""Hand-framed WebSocket peer for misbehaviours the websockets library won't do.

Speaks RFC 6455 framing by hand over a real asyncio TCP socket and logs in the
same JSON-lines format as server.py/client.py (tx_frame parsed from the exact
bytes written, rx_frame, sock samples).

client mode:
  --empty-pong            answer every Ping with an empty-payload Pong
  --half-close-after T    shutdown(SHUT_WR) (a FIN, no Close frame), then send
                          nothing at all (no data, no Pongs); keep reading
server mode:
  --ping-interval S       send a Ping with a 4-byte payload every S seconds
  --push-interval S       push a text message every S seconds
  --reply                 reply to every client text message
  --ignore-close          on a Close frame: never answer it, stop Pings and
                          replies, but keep pushing data (an app that ignores
                          the Close); the TCP connection stays open
"""

import argparse
import asyncio
import base64
import hashlib
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Log, Tap, OPNAMES, conn_id, install_max_life, make_socket  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(op, payload, mask):
    b0 = 0x80 | op
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if mask:
        key = os.urandom(4)
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        return hdr + key + payload
    return hdr + payload


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if b1 & 0x80 else None
    payload = await reader.readexactly(n)
    if key:
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return b0 & 0x0F, bool(b0 & 0x80), payload


class Peer:
    def __init__(self, a, log, reader, writer, is_client):
        self.a, self.log, self.reader, self.writer = a, log, reader, writer
        self.is_client = is_client
        cid = conn_id(writer.transport)
        self.ids = cid
        ep = cid["local"] if is_client else cid["remote"]
        self.cid = "%s:%s" % (ep["ip"], ep["port"])
        self.silent = False
        self.ignoring = False  # Close received and ignored
        self.tap = None

    def send(self, op, payload):
        if self.silent or self.writer.is_closing():
            return False
        self.writer.write(frame(op, payload, self.is_client))
        return True

    async def recv_loop(self):
        a = self.a
        try:
            while True:
                op, fin, payload = await read_frame(self.reader)
                rec = {"opcode": OPNAMES.get(op, op), "fin": fin, "payload_len": len(payload)}
                if op >= 8:
                    rec["payload_hex"] = payload.hex()
                    if op == 8 and len(payload) >= 2:
                        rec["close_code"] = struct.unpack("!H", payload[:2])[0]
                self.log.ev("rx_frame", conn=self.cid, **rec)
                if op == 9:
                    self.send(10, b"" if a.empty_pong else payload)
                elif op == 8:
                    if a.ignore_close:
                        self.log.ev("close_ignored", conn=self.cid,
                                    note="never answering the Close; no more Pings or replies, pushes go on")
                        self.ignoring = True
                    else:
                        self.send(8, payload[:2])
                elif op in (1, 2) and a.reply and not self.silent and not self.ignoring:
                    r = b"reply to " + payload[:40]
                    self.log.ev("app_send", conn=self.cid, kind="reply", size=len(r))
                    self.send(1, r)
        except asyncio.IncompleteReadError:
            self.log.ev("rx_fin", conn=self.cid, keep_open=True)
        except ConnectionError as e:
            self.log.ev("connection_lost", conn=self.cid, exc=repr(e))

    async def periodic(self, interval, fn):
        while interval > 0:
            await asyncio.sleep(interval)
            if self.silent:
                continue
            fn()

    async def run(self, t0):
        a = self.a
        self.tap = Tap(self.log, self.writer.transport, self.cid)
        tasks = [asyncio.ensure_future(self.recv_loop())]
        n = {"ping": 0, "push": 0, "data": 0}

        def ping():
            if self.ignoring:
                return
            n["ping"] += 1
            self.send(9, struct.pack("!I", 0xC0DE0000 + n["ping"]))

        def push():
            n["push"] += 1
            m = ("push %d " % n["push"]).ljust(a.push_size, "p").encode()
            self.log.ev("app_send", conn=self.cid, kind="push", n=n["push"], size=len(m))
            self.send(1, m)

        def data():
            n["data"] += 1
            m = ("hello %d " % n["data"]).ljust(a.send_size, "x").encode()
            self.log.ev("app_send", conn=self.cid, kind="data", n=n["data"], size=len(m))
            self.send(1, m)

        tasks.append(asyncio.ensure_future(self.periodic(a.ping_interval, ping)))
        tasks.append(asyncio.ensure_future(self.periodic(a.push_interval, push)))
        tasks.append(asyncio.ensure_future(self.periodic(a.send_interval, data)))
        if a.half_close_after:
            await asyncio.sleep(max(0.0, a.half_close_after - (time.monotonic() - t0)))
            self.silent = True
            self.writer.write_eof()  # Tap logs tx_fin; a real shutdown(SHUT_WR)
        await asyncio.gather(*tasks, return_exceptions=True)


async def client(a, log):
    host, port = a.host, a.port
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = make_socket(fam, a.src_port)
    sock.settimeout(5)
    sock.connect((host, port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    hosthdr = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "User-Agent: wspulse-rawpeer\r\n\r\n" % (a.path, hosthdr, key)).encode()
    p = Peer(a, log, reader, writer, True)
    log.ev("tcp_established", conn=p.cid, **p.ids)
    writer.write(req)  # before the Tap: the Tap starts after the handshake below
    resp = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    first = resp.split(b"\r\n", 1)[0].decode()
    log.ev("http_response", conn=p.cid, first_line=first)
    if " 101 " not in first:
        raise SystemExit("handshake failed: " + first)
    t0 = time.monotonic()
    log.ev("ws_open", conn=p.cid)
    await p.run(t0)


async def server(a, log):
    async def handle(reader, writer):
        p = Peer(a, log, reader, writer, False)
        log.ev("tcp_established", conn=p.cid, **p.ids)
        req = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        key = None
        for line in req.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                key = line.split(b":", 1)[1].strip()
        acc = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % acc).encode()
        writer.write(resp)
        log.ev("ws_open", conn=p.cid)
        await p.run(time.monotonic())

    srv = await asyncio.start_server(handle, a.host, a.port)
    log.ev("listening", host=a.host, port=a.port)
    async with srv:
        await asyncio.sleep(a.max_life)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["client", "server"])
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--path", default="/")
    ap.add_argument("--log", required=True)
    ap.add_argument("--name", default="")
    ap.add_argument("--src-port", type=int, default=0)
    ap.add_argument("--send-interval", type=float, default=0)
    ap.add_argument("--send-size", type=int, default=60)
    ap.add_argument("--ping-interval", type=float, default=0)
    ap.add_argument("--push-interval", type=float, default=0)
    ap.add_argument("--push-size", type=int, default=120)
    ap.add_argument("--reply", action="store_true")
    ap.add_argument("--empty-pong", action="store_true")
    ap.add_argument("--half-close-after", type=float, default=0)
    ap.add_argument("--ignore-close", action="store_true")
    ap.add_argument("--max-life", type=float, default=150)
    a = ap.parse_args()
    install_max_life(a.max_life)
    log = Log(a.log, a.mode, a.name)
    log.ev("start", pid=os.getpid(), args=vars(a), impl="rawpeer")

    async def runner():
        if a.mode == "client":
            await client(a, log)
            await asyncio.sleep(a.max_life)
        else:
            await server(a, log)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
