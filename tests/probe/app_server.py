"""A WebSocket server speaking one application protocol's heartbeat on the
wire as its documented format says (python3-websockets 10.x), for the tests
of `wspulse probe --heartbeat`. Argument 1: engineio | graphql | mqtt |
stomp; argument 2: healthy | mute (after 1 s the application stops
answering and beating; the WebSocket library still answers Pings).
It prints its port, and exits on its own after 30 s."""

import asyncio
import sys

import websockets

PROTOCOL, MODE = sys.argv[1], sys.argv[2]
SUBPROTOCOLS = {"graphql": ["graphql-transport-ws"], "mqtt": ["mqtt"], "stomp": ["v12.stomp"]}


async def handler(ws, path):
    loop = asyncio.get_running_loop()
    start = loop.time()

    def muted():
        return MODE == "mute" and loop.time() - start > 1.0

    async def beat(message, every):
        while True:
            await asyncio.sleep(every)
            if not muted():
                await ws.send(message)

    tasks = []
    if PROTOCOL == "engineio":
        # Engine.IO v4 open packet; the server pings every pingInterval.
        await ws.send('0{"sid":"s","upgrades":[],"pingInterval":500,"pingTimeout":1000,"maxPayload":1000}')
        tasks.append(asyncio.ensure_future(beat("2", 0.5)))
    if PROTOCOL == "stomp":
        tasks.append(asyncio.ensure_future(beat("\n", 0.5)))
    try:
        async for m in ws:
            if muted():
                continue
            if PROTOCOL == "engineio" and m == "40":
                await ws.send('40{"sid":"n"}')
            elif PROTOCOL == "graphql" and '"connection_init"' in m:
                await ws.send('{"type":"connection_ack"}')
            elif PROTOCOL == "graphql" and '"ping"' in m:
                await ws.send('{"type":"pong"}')
            elif PROTOCOL == "mqtt" and isinstance(m, bytes) and m[:1] == b"\x10":
                await ws.send(b"\x20\x02\x00\x00")  # CONNACK, accepted
            elif PROTOCOL == "mqtt" and m == b"\xc0\x00":
                await ws.send(b"\xd0\x00")  # PINGRESP
            elif PROTOCOL == "stomp" and isinstance(m, str) and m.startswith("CONNECT"):
                await ws.send("CONNECTED\nversion:1.2\nheart-beat:500,500\n\n\0")
    except websockets.ConnectionClosed:
        pass
    finally:
        for t in tasks:
            t.cancel()


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None,
                                subprotocols=SUBPROTOCOLS.get(PROTOCOL)) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(30)


asyncio.run(main())
