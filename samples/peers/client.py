#!/usr/bin/python3
"""WebSocket sample client (websockets 10.4, legacy asyncio API).

Sends a text message every --send-interval seconds, keeps reading everything
(so the library keeps answering Pings), and can at given times (seconds after
the WebSocket opened):
  --stop-sending-after T   stop sending data messages (app stuck, library alive)
  --close-after T          close with code 1000 (normal close handshake)
  --abort-after T          SO_LINGER 0 + close: the kernel sends a RST
The socket is created here (optional fixed source port, optional small
SO_RCVBUF set before connect) and handed to websockets.connect(sock=...).
For a wss:// URI the client speaks TLS (ssl.SSLContext); --insecure turns
off certificate and host name checks (the recorder's self-signed certificate).
After its scenario actions the client stays connected until killed.
"""

import argparse
import asyncio
import os
import socket
import ssl
import struct
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import websockets  # noqa: E402
from websockets.legacy.client import WebSocketClientProtocol  # noqa: E402
from common import Log, LoggingMixin, TlsRecords, install_max_life, make_socket, tls_info  # noqa: E402


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--name", default="")
    ap.add_argument("--src-port", type=int, default=0)
    ap.add_argument("--rcvbuf", type=int, default=0)
    ap.add_argument("--send-interval", type=float, default=1.0, help="0 = never send")
    ap.add_argument("--send-size", type=int, default=60)
    ap.add_argument("--send-count", type=int, default=0, help="0 = unlimited")
    ap.add_argument("--ping-interval", type=float, default=0, help="0 = client sends no pings")
    ap.add_argument("--compression", choices=["none", "deflate"], default="none")
    ap.add_argument("--stop-sending-after", type=float, default=0)
    ap.add_argument("--close-after", type=float, default=0)
    ap.add_argument("--abort-after", type=float, default=0)
    ap.add_argument("--close-timeout", type=float, default=10)
    ap.add_argument("--insecure", action="store_true",
                    help="wss: do not verify the server certificate (self-signed)")
    ap.add_argument("--max-life", type=float, default=150)
    ap.add_argument("--keylog", default="",
                    help="wss: append the TLS secrets to this file (SSLContext.keylog_filename)")
    ap.add_argument("--tls-version", choices=["", "1.2", "1.3"], default="",
                    help="wss: only this TLS version")
    ap.add_argument("--ciphers", default="",
                    help="wss: TLS 1.2 cipher list (SSLContext.set_ciphers)")
    a = ap.parse_args()
    install_max_life(a.max_life)

    log = Log(a.log, "client", a.name)
    log.ev("start", pid=os.getpid(), args=vars(a), websockets=websockets.__version__)

    u = urllib.parse.urlparse(a.uri)
    host = u.hostname
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = make_socket(fam, a.src_port, a.rcvbuf)
    log.ev("socket", rcvbuf_requested=a.rcvbuf,
           rcvbuf_effective=sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    sock.settimeout(5)
    sock.connect((host, u.port))
    sock.setblocking(False)

    ctx = None
    records = None
    if u.scheme == "wss":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if a.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_default_certs()
        if a.keylog:
            ctx.keylog_filename = a.keylog
        if a.tls_version:
            v = ssl.TLSVersion.TLSv1_2 if a.tls_version == "1.2" else ssl.TLSVersion.TLSv1_3
            ctx.minimum_version = ctx.maximum_version = v
        if a.ciphers:
            ctx.set_ciphers(a.ciphers)
        records = TlsRecords(log)
        records.install(ctx)

    class Proto(LoggingMixin, WebSocketClientProtocol):
        peer_log = log
        tls_records = records

    tls_kw = {"ssl": ctx, "server_hostname": host} if ctx else {}
    ws = await asyncio.wait_for(websockets.connect(
        a.uri, sock=sock, create_protocol=Proto, **tls_kw,
        ping_interval=a.ping_interval or None, ping_timeout=None,
        compression=None if a.compression == "none" else "deflate",
        close_timeout=a.close_timeout, max_queue=1024), 10)
    t0 = time.monotonic()
    log.ev("ws_open", conn=ws.cid, extensions=[e.name for e in ws.extensions], **tls_info(ws.transport))

    async def reader():
        try:
            async for msg in ws:
                log.ev("app_recv", conn=ws.cid, size=len(msg), head=str(msg[:24]))
            log.ev("ws_closed", conn=ws.cid, code=ws.close_code, reason=ws.close_reason)
        except websockets.ConnectionClosed as e:
            log.ev("ws_closed", conn=ws.cid, code=e.code, reason=e.reason, exc=type(e).__name__)

    async def sender():
        n = 0
        while a.send_interval > 0:
            await asyncio.sleep(a.send_interval)
            if a.stop_sending_after and time.monotonic() - t0 >= a.stop_sending_after:
                log.ev("app_stop_sending", conn=ws.cid, sent=n)
                return
            if a.send_count and n >= a.send_count:
                log.ev("app_stop_sending", conn=ws.cid, sent=n)
                return
            n += 1
            msg = ("hello %d " % n).ljust(a.send_size, "x" if a.compression == "none" else "a")
            log.ev("app_send", conn=ws.cid, kind="data", n=n, size=len(msg))
            try:
                await ws.send(msg)
            except websockets.ConnectionClosed:
                return

    rt = asyncio.ensure_future(reader())
    st = asyncio.ensure_future(sender())

    async def at(t):
        await asyncio.sleep(max(0.0, t - (time.monotonic() - t0)))

    if a.close_after:
        await at(a.close_after)
        st.cancel()
        log.ev("close_start", conn=ws.cid, code=1000)
        await ws.close(1000, "bye")
        log.ev("close_done", conn=ws.cid, code=ws.close_code)
    elif a.abort_after:
        await at(a.abort_after)
        st.cancel()
        s = ws.transport.get_extra_info("socket")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        log.ev("tx_rst", conn=ws.cid, how="SO_LINGER 0 then close")
        ws.transport.abort()
    await asyncio.sleep(a.max_life)


if __name__ == "__main__":
    asyncio.run(main())
