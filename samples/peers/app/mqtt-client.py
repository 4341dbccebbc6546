#!/usr/bin/python3
"""MQTT 3.1.1 over WebSocket client: Debian python3-paho-mqtt with
transport="websockets" (subprotocol `mqtt`), keepalive 2 s: paho sends
PINGREQ (binary frame C0 00) when it has sent nothing for the keep-alive
period, and closes the socket (no Close frame) when the PINGRESP (D0 00) has
not come one keep-alive period later. The loop is driven by hand
(client.loop()), so there is no reconnection: a dead connection stays one
connection in the capture. paho-mqtt sends no WebSocket Pings of its own.

    mqtt-client.py --log FILE --host H --port 9001 [--ws-ping-interval S] [--lifetime 60]

--ws-ping-interval S: also send an RFC 6455 Ping (masked, 4-byte payload)
every S seconds through paho's own WebSocket wrapper (its _create_frame),
for the scenario where the broker's WebSocket layer answers them while its
MQTT layer no longer answers PINGREQ.
"""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wirelog  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--log", required=True)
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=9001)
ap.add_argument("--keepalive", type=int, default=2)
ap.add_argument("--ws-ping-interval", type=float, default=0)
ap.add_argument("--lifetime", type=float, default=60)
a = ap.parse_args()

log = wirelog.Log(a.log, "client")
wirelog.tap(log, "client")
import paho.mqtt  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

log.ev("start", pid=os.getpid(), impl="python3-paho-mqtt %s" % paho.mqtt.__version__,
       python=sys.version.split()[0])
signal.signal(signal.SIGTERM, lambda *_: (log.ev("exit", why="sigterm"), os._exit(0)))

c = mqtt.Client(client_id="wspulse-sample", transport="websockets", protocol=mqtt.MQTTv311)
c.on_connect = lambda cl, u, f, rc: log.ev("ws_open", conn=conn(), mqtt_connack=rc)
c.on_disconnect = lambda cl, u, rc: log.ev("mqtt_disconnect", rc=rc)


def on_log(cl, u, level, buf):
    if "PINGREQ" in buf:
        log.ev("app_ping_sent")
    elif "PINGRESP" in buf:
        log.ev("app_pong_recv")


c.on_log = on_log


def conn():
    s = c.socket()
    s = getattr(s, "_socket", s)
    la = s.getsockname()
    return "%s:%d" % la[:2]


c.connect(a.host, a.port, keepalive=a.keepalive)
end = time.time() + a.lifetime
next_ping = time.time() + a.ws_ping_interval if a.ws_ping_interval else None
while time.time() < end:
    rc = c.loop(timeout=0.1)
    if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN) and c.socket() is None:
        log.ev("loop_ended", rc=rc)
        # stay alive without reconnecting until the recording ends
        time.sleep(max(0.0, end - time.time()))
        break
    if next_ping and time.time() >= next_ping and c.socket() is not None:
        ws = c.socket()
        ws._socket.send(ws._create_frame(9, bytearray(b"wsp!"), 1))
        log.ev("ws_ping_sent")
        next_ping += a.ws_ping_interval
log.ev("exit", why="lifetime")
