#!/usr/bin/python3
"""A wss server and client on loopback for tests/data/tls/sni-alpn.pcap.

Two clients name a server (SNI `feed.wspulse.invalid`) and offer ALPN
`h2,http/1.1`; the server (localhost.pem, from make.sh) accepts only
`http/1.1`. The first speaks TLS 1.3 (the chosen ALPN travels encrypted),
the second at most TLS 1.2 (the ServerHello carries it). Each exchanges a
few messages and Pings for about 3 s; they stop while the connections are
still open (the capture ends first). Run by
record-sni.sh; needs Debian's python3-websockets 10.x.
"""
import asyncio
import os
import ssl
import sys

import websockets

PORT = int(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))


async def handler(ws, _path):
    async for msg in ws:
        await ws.send("echo " + msg)


async def main():
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(os.path.join(HERE, "localhost.pem"), os.path.join(HERE, "localhost.key"))
    sctx.set_alpn_protocols(["http/1.1"])
    async with websockets.serve(handler, "127.0.0.1", PORT, ssl=sctx, ping_interval=1):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
            cctx.maximum_version = version
            cctx.set_alpn_protocols(["h2", "http/1.1"])
            ws = await websockets.connect(
                f"wss://127.0.0.1:{PORT}/feed", ssl=cctx,
                server_hostname="feed.wspulse.invalid", ping_interval=1)
            for i in range(6):
                await ws.send(f"hello {i}")
                await ws.recv()
                await asyncio.sleep(0.25)
        print("done", flush=True)
        await asyncio.sleep(30)  # killed here, connection open


asyncio.run(main())
