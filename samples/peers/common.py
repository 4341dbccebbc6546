"""Shared helpers for the wspulse sample peers.

Every peer writes a JSON-lines log (one object per line, wall-clock time in
"t" as float seconds since the epoch and "ts" as RFC 3339 UTC). Three kinds of
evidence go in it:

* what the application did (app_send, app_recv, ping_sent, close_sent, ...);
* every WebSocket frame written to the socket, parsed from the exact bytes
  handed to the transport ("tx_frame", with the byte offset where the frame
  ends in the outgoing TCP stream), and every frame read ("rx_frame");
* kernel socket state sampled every 100 ms ("sock": TCP_INFO fields plus the
  number of bytes that have left the host = handed - asyncio buffer -
  SIOCOUTQNSD), so the truth builder can tell which frames really left the
  host before a fault or before the capture stopped.
"""

import asyncio
import datetime
import fcntl
import json
import os
import socket
import struct
import sys
import time

SIOCOUTQNSD = 0x894B  # bytes in the send queue not yet sent (write_seq - snd_nxt)

OPNAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


class Log:
    def __init__(self, path, role, name=""):
        self.f = open(path, "a", buffering=1)
        self.role = role
        self.name = name

    def ev(self, ev, **kw):
        t = time.time()
        rec = {"t": round(t, 6), "ts": rfc3339(t), "role": self.role, "ev": ev}
        if self.name:
            rec["peer"] = self.name
        rec.update(kw)
        self.f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        return rec


def addr_str(a):
    if a is None:
        return None
    return {"ip": a[0], "port": a[1]}


# struct tcp_info (linux/tcp.h). Offsets of the fields we use.
_TI = {
    "state": (0, "B"), "ca_state": (1, "B"), "retransmits": (2, "B"), "probes": (3, "B"),
    "backoff": (4, "B"), "rto": (8, "I"), "unacked": (24, "I"), "lost": (32, "I"),
    "retrans": (36, "I"), "last_data_sent": (44, "I"), "last_data_recv": (52, "I"),
    "last_ack_recv": (56, "I"), "rtt": (68, "I"), "rttvar": (72, "I"), "snd_cwnd": (80, "I"),
    "total_retrans": (100, "I"), "bytes_acked": (120, "Q"), "bytes_received": (128, "Q"),
    "segs_out": (136, "I"), "segs_in": (140, "I"), "notsent_bytes": (144, "I"),
    "bytes_sent": (200, "Q"), "bytes_retrans": (208, "Q"), "snd_wnd": (228, "I"),
    "rcv_wnd": (232, "I"),
}


def tcp_info(sock):
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except OSError:
        return None
    out = {}
    for k, (off, fmt) in _TI.items():
        n = struct.calcsize(fmt)
        if off + n <= len(raw):
            out[k] = struct.unpack_from("<" + fmt, raw, off)[0]
    return out


def outq_nsd(sock):
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, b"\0\0\0\0"))[0]
    except OSError:
        return None


def parse_frames(buf):
    """Parse complete WebSocket frames from bytes written in one call."""
    frames = []
    i = 0
    while i + 2 <= len(buf):
        b0, b1 = buf[i], buf[i + 1]
        n = b1 & 0x7F
        j = i + 2
        if n == 126:
            n = struct.unpack_from("!H", buf, j)[0]
            j += 2
        elif n == 127:
            n = struct.unpack_from("!Q", buf, j)[0]
            j += 8
        masked = bool(b1 & 0x80)
        key = None
        if masked:
            key = buf[j:j + 4]
            j += 4
        payload = buf[j:j + n]
        op = b0 & 0x0F
        fr = {"opcode": OPNAMES.get(op, op), "fin": bool(b0 & 0x80), "rsv1": bool(b0 & 0x40),
              "masked": masked, "payload_len": n, "wire_len": j + n - i, "hdr_len": j - i}
        if op >= 8:
            if masked:
                payload = bytes(c ^ key[k % 4] for k, c in enumerate(payload))
            fr["payload_hex"] = payload.hex()
            if op == 8 and len(payload) >= 2:
                fr["close_code"] = struct.unpack("!H", payload[:2])[0]
                fr["close_reason"] = payload[2:].decode("utf-8", "replace")
        frames.append(fr)
        i = j + n
    return frames, len(buf) - i


class Tap:
    """Wraps a transport's write/write_eof/close/abort to log the exact bytes
    (parsed as frames) and the TCP-level actions, and samples socket state."""

    def __init__(self, log, transport, conn):
        self.log = log
        self.transport = transport
        self.conn = conn
        self.sock = transport.get_extra_info("socket")
        self.handed = 0
        self.last_sample = None
        self.last_sample_t = 0.0
        self.closed = False
        self._w = transport.write
        self._weof = transport.write_eof
        self._close = transport.close
        self._abort = transport.abort
        transport.write = self.write
        transport.write_eof = self.write_eof
        transport.close = self.close
        transport.abort = self.abort
        self.task = asyncio.get_event_loop().create_task(self.sampler())

    def wire_off(self):
        try:
            nsd = outq_nsd(self.sock)
            return self.handed - self.transport.get_write_buffer_size() - (nsd or 0)
        except Exception:
            return None

    def write(self, data):
        data = bytes(data)
        t_write = round(time.time(), 6)
        start = self.handed
        self.handed += len(data)
        self._w(data)
        left = self.wire_off()
        if data[:4] in (b"GET ", b"HTTP"):
            self.log.ev("tx_http", conn=self.conn, off_start=start, off_end=self.handed,
                        wire_off=left, first_line=data.split(b"\r\n", 1)[0].decode())
            return
        frames, rest = parse_frames(data)
        off = start
        for fr in frames:
            off += fr["wire_len"]
            self.log.ev("tx_frame", conn=self.conn, t_write=t_write, off_end=off, wire_off=left, **fr)
        if rest:
            self.log.ev("tx_partial", conn=self.conn, bytes=rest)

    def write_eof(self):
        self.log.ev("tx_fin", conn=self.conn, how="shutdown(SHUT_WR)", handed=self.handed,
                    wire_off=self.wire_off())
        return self._weof()

    def close(self):
        if not self.closed:
            self.log.ev("transport_close", conn=self.conn, handed=self.handed,
                        wire_off=self.wire_off(),
                        asyncio_buffer=self.transport.get_write_buffer_size())
        self.closed = True
        return self._close()

    def abort(self):
        self.log.ev("transport_abort", conn=self.conn, handed=self.handed)
        self.closed = True
        return self._abort()

    def sample(self, force=False):
        ti = tcp_info(self.sock)
        if ti is None:
            return
        wo = self.wire_off()
        key = {k: v for k, v in ti.items() if not k.startswith("last_") and k not in ("rtt", "rttvar", "rto")}
        key["wire_off"] = wo
        now = time.time()
        if force or key != self.last_sample or now - self.last_sample_t >= 1.0:
            self.log.ev("sock", conn=self.conn, handed=self.handed, wire_off=wo,
                        asyncio_buffer=self.transport.get_write_buffer_size(), **ti)
            self.last_sample = key
            self.last_sample_t = now

    async def sampler(self):
        try:
            while not self.closed:
                try:
                    self.sample()
                except Exception as e:  # socket gone
                    self.log.ev("sample_error", conn=self.conn, error=repr(e))
                    return
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            pass


def conn_id(transport):
    p = transport.get_extra_info("peername")
    s = transport.get_extra_info("sockname")
    return {"local": addr_str(s[:2]) if s else None, "remote": addr_str(p[:2]) if p else None}


class LoggingMixin:
    """Mixin for websockets' legacy protocol classes."""

    peer_log = None
    keep_open_on_eof = False

    def connection_made(self, transport):
        super().connection_made(transport)
        cid = conn_id(transport)
        self.cid = "%s:%s" % (cid["remote"]["ip"], cid["remote"]["port"]) if self.peer_log.role == "server" \
            else "%s:%s" % (cid["local"]["ip"], cid["local"]["port"])
        self.peer_log.ev("tcp_established", conn=self.cid, **cid)
        self.tap = Tap(self.peer_log, transport, self.cid)

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        op = int(frame.opcode)
        rec = {"opcode": OPNAMES.get(op, op), "fin": frame.fin, "payload_len": len(frame.data)}
        if op >= 8:
            rec["payload_hex"] = bytes(frame.data).hex()
            if op == 8 and len(frame.data) >= 2:
                rec["close_code"] = struct.unpack("!H", frame.data[:2])[0]
        self.peer_log.ev("rx_frame", conn=self.cid, **rec)
        return frame

    def eof_received(self):
        self.peer_log.ev("rx_fin", conn=self.cid, keep_open=self.keep_open_on_eof)
        if self.keep_open_on_eof:
            return True  # keep the transport open; do not tell the library
        return super().eof_received()

    def connection_lost(self, exc):
        try:
            self.tap.sample(force=True)
        except Exception:
            pass
        self.tap.closed = True
        self.peer_log.ev("connection_lost", conn=self.cid, exc=repr(exc) if exc else None)
        super().connection_lost(exc)


def install_max_life(seconds):
    """Hard stop even if the event loop is wedged."""
    import signal
    signal.signal(signal.SIGALRM, lambda *a: os._exit(3))
    signal.alarm(int(seconds))


def make_socket(family, src_port=0, rcvbuf=0, src_ip=None):
    s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # asyncio sets TCP_NODELAY only on sockets it creates itself; match that
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if src_port or src_ip:
        s.bind((src_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0"), src_port))
    return s
