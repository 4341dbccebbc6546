#!/usr/bin/python3
"""WebSocket sample server (websockets 10.4, legacy asyncio API).

Per connection: logs every frame in/out, replies to each client message
(--reply), pushes a text message every --push-interval seconds of
--push-size bytes. The query string of the request path can override
push_interval and push_size per connection (used by mixed-fates).
The library sends Pings every --ping-interval seconds with ping_timeout=None,
so it never closes a connection on its own. With --tls-cert/--tls-key it
serves wss (ssl.SSLContext, TLS records logged, see common.TlsRecords).
"""

import argparse
import asyncio
import os
import ssl
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import websockets  # noqa: E402
from websockets.legacy.server import WebSocketServerProtocol  # noqa: E402
from common import Log, LoggingMixin, TlsRecords, install_max_life, tls_info  # noqa: E402


def filler(prefix, size):
    # compressible but not trivial text
    base = prefix + " " + "the quick brown fox jumps over the lazy dog " * (size // 44 + 1)
    return base[:size] if size > len(prefix) else prefix


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ping-interval", type=float, default=2.0, help="0 = no pings")
    ap.add_argument("--reply", action="store_true")
    ap.add_argument("--push-interval", type=float, default=1.0, help="0 = no pushes")
    ap.add_argument("--push-size", type=int, default=120)
    ap.add_argument("--compression", choices=["none", "deflate"], default="none")
    ap.add_argument("--keep-open-on-eof", action="store_true",
                    help="on a FIN from the client, keep the connection open and keep writing")
    ap.add_argument("--tls-cert", help="PEM certificate: serve wss (TLS) instead of ws")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--max-life", type=float, default=150)
    a = ap.parse_args()
    install_max_life(a.max_life)

    log = Log(a.log, "server")
    log.ev("start", pid=os.getpid(), args=vars(a), websockets=websockets.__version__)

    ctx = None
    records = None
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        records = TlsRecords(log)
        records.install(ctx)

    class Proto(LoggingMixin, WebSocketServerProtocol):
        peer_log = log
        keep_open_on_eof = a.keep_open_on_eof
        tls_records = records

    async def handler(ws, path=None):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(ws.path).query)
        push_interval = float(q.get("push_interval", [a.push_interval])[0])
        push_size = int(q.get("push_size", [a.push_size])[0])
        log.ev("ws_open", conn=ws.cid, path=ws.path, push_interval=push_interval,
               push_size=push_size, extensions=[e.name for e in ws.extensions], **tls_info(ws.transport))

        async def pusher():
            n = 0
            while push_interval > 0:
                await asyncio.sleep(push_interval)
                n += 1
                msg = filler("push %d" % n, push_size)
                log.ev("app_send", conn=ws.cid, kind="push", n=n, size=len(msg))
                await ws.send(msg)

        task = asyncio.ensure_future(pusher())
        try:
            async for msg in ws:
                log.ev("app_recv", conn=ws.cid, size=len(msg), head=str(msg[:24]))
                if a.reply:
                    r = "reply to " + str(msg[:40])
                    log.ev("app_send", conn=ws.cid, kind="reply", size=len(r))
                    await ws.send(r)
            log.ev("ws_closed", conn=ws.cid, code=ws.close_code, reason=ws.close_reason)
        except websockets.ConnectionClosed as e:
            log.ev("ws_closed", conn=ws.cid, code=e.code, reason=e.reason, exc=type(e).__name__)
        finally:
            task.cancel()

    async with websockets.serve(
        handler, a.host, a.port, create_protocol=Proto,
        ping_interval=a.ping_interval or None, ping_timeout=None,
        compression=None if a.compression == "none" else "deflate",
        close_timeout=10, max_queue=1024, ssl=ctx,
    ):
        log.ev("listening", host=a.host, port=a.port, tls=ctx is not None)
        await asyncio.sleep(a.max_life)


if __name__ == "__main__":
    asyncio.run(main())
