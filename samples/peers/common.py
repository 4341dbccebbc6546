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

Over TLS (wss) the byte offsets are in the encrypted TCP stream: every TLS
record a peer writes is logged ("tx_tls_record", from the ssl module's
message callback, handshake records included), frames are still parsed from
the plaintext handed to the TLS transport and carry the encrypted offset of
the record that holds them.
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
import weakref

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

    def __init__(self, log, transport, conn, tls_records=None):
        self.log = log
        self.transport = transport
        self.conn = conn
        self.sock = transport.get_extra_info("socket")
        self.handed = 0
        # TLS: offsets count encrypted bytes (the TCP stream), from the records
        # the ssl module reports; the plaintext queued in the TLS layer, its
        # outgoing buffer and the raw transport's buffer have not left yet
        self.tls = None
        sslobj = transport.get_extra_info("ssl_object")
        if sslobj is not None and tls_records is not None:
            proto = getattr(transport, "_ssl_protocol", None)  # CPython 3.11 asyncio.sslproto
            self.tls = {"records": tls_records, "obj": sslobj, "proto": proto,
                        "raw": getattr(proto, "_transport", None)}
            tls_records.attach(sslobj, self)
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
            if self.tls:
                held = self.tls["proto"]._outgoing.pending + self.tls["raw"].get_write_buffer_size()
                return self.handed - held - (nsd or 0)
            return self.handed - self.transport.get_write_buffer_size() - (nsd or 0)
        except Exception:
            return None

    def tls_plain_queued(self):
        """Plaintext handed to the TLS layer but not yet encrypted."""
        try:
            p = self.tls["proto"]
            return self.transport.get_write_buffer_size() - p._outgoing.pending
        except Exception:
            return None

    def write(self, data):
        data = bytes(data)
        t_write = round(time.time(), 6)
        if self.tls:
            self._w(data)
            self.tls["records"].flush(self.tls["obj"])  # sets self.handed
            queued = self.tls_plain_queued()
            left = self.wire_off()
            # every frame in this write ends in the last record it produced,
            # unless the TLS layer kept the plaintext back (then unknown)
            self._log_write(data, self.handed, left, t_write, tls_end=None if queued else self.handed,
                            tls_queued=queued)
            return
        start = self.handed
        self.handed += len(data)
        self._w(data)
        left = self.wire_off()
        self._log_write(data, start, left, t_write)

    def _log_write(self, data, start, left, t_write, tls_end=False, tls_queued=None):
        if tls_end is not False:
            extra = {"tls": True, "tls_plain_queued": tls_queued}
            if data[:4] in (b"GET ", b"HTTP"):
                self.log.ev("tx_http", conn=self.conn, off_end=tls_end, wire_off=left,
                            first_line=data.split(b"\r\n", 1)[0].decode(), **extra)
                return
            frames, rest = parse_frames(data)
            for fr in frames:
                self.log.ev("tx_frame", conn=self.conn, t_write=t_write, off_end=tls_end, wire_off=left,
                            **extra, **fr)
            if rest:
                self.log.ev("tx_partial", conn=self.conn, bytes=rest)
            return
        if data[:4] in (b"GET ", b"HTTP"):
            self.log.ev("tx_http", conn=self.conn, off_start=start, off_end=start + len(data),
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
        if self.tls:
            self.tls["records"].flush(self.tls["obj"])
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


class TlsRecords:
    """Every TLS record a peer writes, from the ssl module's message callback
    (SSLContext._msg_callback, CPython's debugging hook: called with each
    record header OpenSSL writes, handshake included). Records are counted per
    TLS connection from the first byte of its TCP stream; those written before
    the WebSocket protocol sees the connection (the TLS handshake) are held and
    logged when its Tap attaches, later ones right after the write that made
    them, with the bytes that had left the host by then."""

    def __init__(self, log):
        self.log = log
        self.state = weakref.WeakKeyDictionary()  # SSLObject -> {off, pending, tap}

    def install(self, ctx):
        ctx._msg_callback = self.callback

    def callback(self, conn, direction, version, content_type, msg_type, data):
        if direction != "write" or int(content_type) != 0x100 or len(data) < 5:
            return  # 0x100: the record header pseudo content type
        st = self.state.setdefault(conn, {"off": 0, "pending": [], "tap": None})
        ctype, ver, length = struct.unpack("!BHH", bytes(data[:5]))
        st["off"] += 5 + length
        st["pending"].append({"t_rec": round(time.time(), 6), "ctype": ctype,
                              "version": "%04x" % ver, "len": length, "off_end": st["off"]})

    def attach(self, sslobj, tap):
        st = self.state.setdefault(sslobj, {"off": 0, "pending": [], "tap": None})
        st["tap"] = tap
        self.flush(sslobj)

    def flush(self, sslobj):
        st = self.state.get(sslobj)
        if not st or st["tap"] is None:
            return
        tap = st["tap"]
        tap.handed = st["off"]
        if not st["pending"]:
            return
        left = tap.wire_off()
        for r in st["pending"]:
            self.log.ev("tx_tls_record", conn=tap.conn, wire_off=left, **r)
        st["pending"] = []


def tls_info(transport):
    o = transport.get_extra_info("ssl_object")
    if o is None:
        return {}
    c = o.cipher()
    return {"tls_version": o.version(), "tls_cipher": c[0] if c else None}


def conn_id(transport):
    p = transport.get_extra_info("peername")
    s = transport.get_extra_info("sockname")
    return {"local": addr_str(s[:2]) if s else None, "remote": addr_str(p[:2]) if p else None}


class LoggingMixin:
    """Mixin for websockets' legacy protocol classes."""

    peer_log = None
    keep_open_on_eof = False
    tls_records = None

    def connection_made(self, transport):
        super().connection_made(transport)
        cid = conn_id(transport)
        self.cid = "%s:%s" % (cid["remote"]["ip"], cid["remote"]["port"]) if self.peer_log.role == "server" \
            else "%s:%s" % (cid["local"]["ip"], cid["local"]["port"])
        self.peer_log.ev("tcp_established", conn=self.cid, **cid, **tls_info(transport))
        self.tap = Tap(self.peer_log, transport, self.cid, self.tls_records)

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
