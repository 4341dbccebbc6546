"""The JSON-lines log of the Python application-heartbeat peers, in the shape
of wirelog.js (and samples/peers/common.py): `t` (epoch seconds), `ts` (RFC
3339 UTC, microseconds), `role`, `ev`.

tap(log, role) wraps socket.socket's send/sendall/recv at class level, so
every byte a library hands to (or reads from) a TCP socket is seen: the HTTP
Upgrade head is skipped (up to the first CRLF CRLF), then RFC 6455 §5.2
frames are parsed and logged as `tx_frame` / `rx_frame` (opcode, fin, rsv1,
masked, len, off_end, and `text` or `hex` of small payloads, unmasked), as
wirelog.js does. close() of a connected socket is logged as `tx_close_socket`
(the kernel sends FIN then).
"""

import datetime
import json
import socket
import time

OPNAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Log:
    def __init__(self, path, role):
        self.f = open(path, "a", buffering=1)
        self.role = role

    def ev(self, ev, **kw):
        t = time.time()
        rec = {"t": round(t, 6), "ts": rfc3339(t), "role": self.role, "ev": ev}
        rec.update(kw)
        self.f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        return rec


class FrameParser:
    def __init__(self, on_frame):
        self.buf = b""
        self.in_http = True
        self.off = 0
        self.on_frame = on_frame

    def push(self, data):
        self.buf += bytes(data)
        while True:
            if self.in_http:
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    return
                self.in_http = False
                self._consume(i + 4)
                continue
            b = self.buf
            if len(b) < 2:
                return
            n = b[1] & 0x7F
            p = 2
            if n == 126:
                if len(b) < 4:
                    return
                n, p = int.from_bytes(b[2:4], "big"), 4
            elif n == 127:
                if len(b) < 10:
                    return
                n, p = int.from_bytes(b[2:10], "big"), 10
            masked = bool(b[1] & 0x80)
            key = None
            if masked:
                if len(b) < p + 4:
                    return
                key, p = b[p:p + 4], p + 4
            if len(b) < p + n:
                return
            payload = bytearray(b[p:p + n])
            if key:
                for i in range(len(payload)):
                    payload[i] ^= key[i & 3]
            op = b[0] & 0x0F
            fr = {"opcode": OPNAMES.get(op, str(op)), "fin": bool(b[0] & 0x80), "rsv1": bool(b[0] & 0x40),
                  "masked": masked, "len": n, "off_end": self.off + p + n}
            if op == 1 and n <= 200:
                fr["text"] = payload.decode("utf-8", "replace")
            elif n <= 64:
                fr["hex"] = payload.hex()
            self._consume(p + n)
            self.on_frame(fr)

    def _consume(self, k):
        self.buf = self.buf[k:]
        self.off += k


def tap(log, role):
    states = {}

    def state(sock):
        st = states.get(id(sock))
        if st is False:
            return None
        if st is None:
            try:
                la, ra = sock.getsockname(), sock.getpeername()
            except OSError:
                return None
            if ra[0].startswith("127.") or ra[0] == "::1":
                # not a peer connection (paho-mqtt's loopback wake-up socket pair)
                states[id(sock)] = False
                return None
            cl = la if role == "client" else ra
            conn = "%s:%d" % (cl[0], cl[1])
            st = {"conn": conn}
            st["tx"] = FrameParser(lambda fr: log.ev("tx_frame", conn=conn, **fr))
            st["rx"] = FrameParser(lambda fr: log.ev("rx_frame", conn=conn, **fr))
            states[id(sock)] = st
            log.ev("tcp_established", conn=conn, local={"ip": la[0], "port": la[1]},
                   remote={"ip": ra[0], "port": ra[1]})
        return st

    send, sendall, recv, close = socket.socket.send, socket.socket.sendall, socket.socket.recv, socket.socket.close

    def t_send(self, data, *a):
        n = send(self, data, *a)
        st = state(self)
        if st and n:
            st["tx"].push(bytes(data)[:n])
        return n

    def t_sendall(self, data, *a):
        r = sendall(self, data, *a)
        st = state(self)
        if st:
            st["tx"].push(bytes(data))
        return r

    def t_recv(self, bufsize, *a):
        d = recv(self, bufsize, *a)
        st = state(self)
        if st:
            if d:
                st["rx"].push(d)
            else:
                log.ev("rx_fin", conn=st["conn"])
        return d

    def t_close(self):
        st = states.get(id(self))
        if st and self.fileno() >= 0:
            log.ev("tx_close_socket", conn=st["conn"])
        return close(self)

    socket.socket.send, socket.socket.sendall, socket.socket.recv = t_send, t_sendall, t_recv
    socket.socket.close = t_close
