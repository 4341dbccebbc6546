#!/usr/bin/env python3
"""Synthetic many-flow pcaps for wspulse's memory benchmark (bench/flows/memory.sh).

Two scenarios, each written as a classic pcap (microsecond timestamps,
LINKTYPE_ETHERNET) to a file or to stdout:

  syn       N SYN-only flows, one SYN each, a flow every --gap-ms (default 10 ms).
  upgraded  N WebSocket connections that stay open: TCP handshake, HTTP
            Upgrade, 101 with the right Sec-WebSocket-Accept, the client's
            ACK, then one server Ping (unmasked, opcode 0x9) and the client's
            ACK of it. No FIN, no RST. A flow starts every --gap-us (default
            10 us) and its packets are interleaved with the others' in time
            order, so every connection is open at once by the end.

    gen_flows.py syn --flows 1000000 --gap-ms 10 -o syn.pcap
    gen_flows.py upgraded --flows 1000000 -o upgraded.pcap
    gen_flows.py upgraded --flows 100 -o - | tshark -r - -Y websocket

Every flow has its own 4-tuple: the client address and port both vary
(10.128.0.0/9, ports 1024..65023), the server is 10.0.0.1:8080. Initial
sequence numbers are pseudo-random per flow, except that one flow in 1000
(0, 1000, ...) starts both sides just below 2^32 so its streams wrap; SYN
consumes one sequence number, payloads advance seq, every ACK acknowledges
exactly what the other side sent. IPv4 header checksums and TCP checksums
(pseudo-header included) are correct: they are computed incrementally from
per-template partial sums, so tshark's checksum validation passes.

Output is deterministic for given arguments (--seed changes ISNs and keys).
Python 3 standard library only. A one-line summary goes to stderr.
"""

import argparse
import base64
import hashlib
import os
import struct
import sys
import time

MAX_FLOWS = 10_000_000          # 10.128.0.0/9 x 64000 ports holds far more; this bounds output (~9 GB upgraded)
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SERVER_IP = 0x0A000001          # 10.0.0.1
SERVER_PORT = 8080
CLIENT_NET = 0x0A800000         # 10.128.0.0, clients .0.1 upward
PORTS_PER_IP = 64000            # client ports 1024..65023
CLIENT_MAC = bytes.fromhex("020000000002")
SERVER_MAC = bytes.fromhex("020000000001")
START_SEC = 1767225600          # 2026-01-01T00:00:00Z
MASK32 = 0xFFFFFFFF
WRAP_EVERY = 1000               # flows 0, 1000, 2000, ... have sequence numbers that wrap

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# Offsets in one Ethernet/IPv4/TCP packet as stored in a pcap record (16-byte
# record header first). One pack_into covers the IP id through the TCP checksum.
REC, ETH, IP, TCP = 0, 16, 30, 50
VAR_FMT = struct.Struct(">HHBBHIIHHIIBBHH")     # ip.id .. tcp.checksum, from IP+4
TS_FMT = struct.Struct("<II")


def mix32(x):
    """A cheap 32-bit integer hash (lowbias32 of x + golden ratio), for ISNs and keys."""
    x = (x + 0x9E3779B9) & MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


def sum16(data, odd=False):
    """One's complement sum (unfolded) of data placed at an even, or odd, offset."""
    if odd:
        data = b"\0" + data
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(">%dH" % (len(data) // 2), data))


def ws_key(f, seed):
    """The client's Sec-WebSocket-Key for flow f: base64 of 16 pseudo-random bytes (24 chars)."""
    raw = struct.pack(">IIII", mix32(f * 4 + seed), mix32(f * 4 + 1 + seed),
                      mix32(f * 4 + 2 + seed), mix32(f * 4 + 3 + seed))
    return base64.b64encode(raw)


def ws_accept(key):
    """RFC 6455 section 4.2.2: base64(SHA-1(key + GUID)), 28 chars."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


class Template:
    """One packet kind of a flow: its bytes with zeroed variable fields, and the
    checksum sums of everything constant."""

    def __init__(self, from_client, flags, payload=b"", options=b"", window=64240,
                 seq_off=0, ack_off=0, var_at=None, var_len=0, at_us=0):
        self.from_client = from_client
        self.flags = flags
        self.window = window
        self.seq_off = seq_off          # added to the sender's ISN
        self.ack_off = ack_off          # added to the receiver's ISN (None: no ACK flag)
        self.at_us = at_us              # time after the flow's SYN
        self.var_at = var_at            # payload offset of per-flow bytes (key or accept)
        tcp_len = 20 + len(options) + len(payload)
        self.doff = (20 + len(options)) // 4 << 4
        ip_len = 20 + tcp_len
        self.length = 14 + ip_len
        buf = bytearray(16 + self.length)
        struct.pack_into("<IIII", buf, REC, 0, 0, self.length, self.length)
        src_mac, dst_mac = (CLIENT_MAC, SERVER_MAC) if from_client else (SERVER_MAC, CLIENT_MAC)
        buf[ETH:ETH + 14] = dst_mac + src_mac + b"\x08\x00"
        struct.pack_into(">BBH", buf, IP, 0x45, 0, ip_len)
        buf[TCP + 20:TCP + 20 + len(options)] = options
        buf[TCP + 20 + len(options):] = payload
        self.buf = buf
        self.payload_at = TCP + 20 + len(options)
        # IPv4 header: version/IHL/TOS, total length, DF, TTL/protocol, server address.
        self.ip_const = 0x4500 + ip_len + 0x4000 + (64 << 8 | 6) + (SERVER_IP >> 16) + (SERVER_IP & 0xFFFF)
        # TCP: pseudo-header (server address, protocol, length), server port,
        # data offset/flags, window, options, constant payload bytes.
        const_payload = bytes(payload)
        if var_at is not None:
            const_payload = payload[:var_at] + b"\0" * var_len + payload[var_at + var_len:]
        self.var_odd = bool(var_at is not None and (20 + len(options) + var_at) % 2)
        self.tcp_const = ((SERVER_IP >> 16) + (SERVER_IP & 0xFFFF) + 6 + tcp_len + SERVER_PORT
                          + (self.doff << 8 | flags) + window
                          + sum16(bytes(options)) + sum16(const_payload, (20 + len(options)) % 2 == 1))


class Writer:
    def __init__(self, out):
        self.out = out
        self.bytes = 0
        self.chunk = bytearray()

    def header(self):
        self.put(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def put(self, data):
        self.chunk += data
        if len(self.chunk) >= 1 << 20:
            self.flush()

    def flush(self):
        self.out.write(self.chunk)
        self.bytes += len(self.chunk)
        self.chunk = bytearray()


class Flow:
    """What a flow's packets share, computed once when its SYN is written."""
    __slots__ = ("cip", "cport", "addr_sum", "isn_c", "isn_s", "ip_id", "key", "accept")

    def __init__(self, f, seed, websocket=False):
        self.cip = CLIENT_NET + 1 + f // PORTS_PER_IP
        self.cport = 1024 + f % PORTS_PER_IP
        # The client address and port, in both checksums' sums.
        self.addr_sum = (self.cip >> 16) + (self.cip & 0xFFFF) + self.cport
        self.isn_c = mix32(2 * f + seed)
        self.isn_s = mix32(2 * f + 1 + seed)
        if f % WRAP_EVERY == 0:
            # Both streams cross 2^32 inside their first payload.
            self.isn_c = (-1 - self.isn_c % 100) & MASK32
            self.isn_s = (-1 - self.isn_s % 100) & MASK32
        # IP id: Linux counts per connection from a random start.
        self.ip_id = mix32(f ^ (seed << 1)) & 0xFFFF
        if websocket:
            self.key = ws_key(f, seed)
            self.accept = ws_accept(self.key)


def emit(w, t, fl, ts_us, n=0, var=b""):
    """Patch template t for flow fl at ts_us microseconds and append it; n is
    the packet's index in the flow (for the IP id)."""
    buf = t.buf
    cip = fl.cip
    if t.from_client:
        src, dst, sport, dport = cip, SERVER_IP, fl.cport, SERVER_PORT
        seq = (fl.isn_c + t.seq_off) & MASK32
        ack = (fl.isn_s + t.ack_off) & MASK32 if t.ack_off is not None else 0
    else:
        src, dst, sport, dport = SERVER_IP, cip, SERVER_PORT, fl.cport
        seq = (fl.isn_s + t.seq_off) & MASK32
        ack = (fl.isn_c + t.ack_off) & MASK32 if t.ack_off is not None else 0
    ip_id = (fl.ip_id + n) & 0xFFFF
    ipsum = t.ip_const + ip_id + (cip >> 16) + (cip & 0xFFFF)
    ipsum = (ipsum & 0xFFFF) + (ipsum >> 16)
    ipsum = (ipsum & 0xFFFF) + (ipsum >> 16)
    tsum = t.tcp_const + fl.addr_sum + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
    if var:
        at = t.payload_at + t.var_at
        buf[at:at + len(var)] = var
        tsum += sum16(var, t.var_odd)
    tsum = (tsum & 0xFFFF) + (tsum >> 16)
    tsum = (tsum & 0xFFFF) + (tsum >> 16)
    TS_FMT.pack_into(buf, REC, START_SEC + ts_us // 1_000_000, ts_us % 1_000_000)
    VAR_FMT.pack_into(buf, IP + 4, ip_id, 0x4000, 64, 6, ~ipsum & 0xFFFF,
                      src, dst, sport, dport, seq, ack, t.doff, t.flags, t.window,
                      ~tsum & 0xFFFF)
    w.put(buf)


MSS_OPTION = b"\x02\x04\x05\xb4"   # MSS 1460


def gen_syn(w, flows, gap_us, seed):
    t = Template(True, SYN, options=MSS_OPTION, ack_off=None)
    for f in range(flows):
        emit(w, t, Flow(f, seed), f * gap_us)


def upgraded_templates():
    host = b"10.0.0.1:%d" % SERVER_PORT
    get = (b"GET /ws HTTP/1.1\r\nHost: " + host + b"\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: ")
    key_at = len(get)
    get += b"\0" * 24 + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: ")
    accept_at = len(resp)
    resp += b"\0" * 28 + b"\r\n\r\n"
    ping = b"\x89\x04ping"             # FIN + opcode 0x9, unmasked, 4-byte payload
    g, r, p = len(get), len(resp), len(ping)
    # Times as seen at the server (where tcpdump usually runs), RTT 100 us:
    # the 101 carries the ACK of the request (the server answers well within
    # the delayed-ACK timer), the client ACKs the 101 at once (quick-ACK mode
    # early in a connection), the Ping comes 1 s after the SYN.
    return [
        Template(True, SYN, options=MSS_OPTION, ack_off=None, at_us=0),
        Template(False, SYN | ACK, options=MSS_OPTION, window=65160, ack_off=1, at_us=5),
        Template(True, ACK, seq_off=1, ack_off=1, window=64240, at_us=105),
        Template(True, PSH | ACK, payload=get, seq_off=1, ack_off=1, var_at=key_at, var_len=24,
                 at_us=110),
        Template(False, PSH | ACK, payload=resp, window=65024, seq_off=1, ack_off=1 + g,
                 var_at=accept_at, var_len=28, at_us=210),
        Template(True, ACK, seq_off=1 + g, ack_off=1 + r, at_us=310),
        Template(False, PSH | ACK, payload=ping, window=65024, seq_off=1 + r, ack_off=1 + g,
                 at_us=1_000_000),
        Template(True, ACK, seq_off=1 + g, ack_off=1 + r + p, at_us=1_000_100),
    ]


def gen_upgraded(w, flows, gap_us, seed):
    """Packet j of flow f is at f*gap + at_us[j]. Within the window of tick k,
    [k*gap, (k+1)*gap), it belongs to flow k - at_us[j] // gap at offset
    at_us[j] % gap, so walking ticks and, in each, the templates by that offset
    yields packets in time order. A flow's shared values live in a ring as
    long as the flow has packets to come."""
    templates = upgraded_templates()
    order = sorted(range(len(templates)), key=lambda j: (templates[j].at_us % gap_us, j))
    plan = [(templates[j].at_us // gap_us, templates[j].at_us % gap_us, templates[j], j)
            for j in order]
    key_t, accept_t = templates[3], templates[4]
    span = max(lag for lag, _, _, _ in plan) + 1
    ring = [None] * span
    for k in range(flows - 1 + span):
        base = k * gap_us
        for lag, sub, t, j in plan:
            f = k - lag
            if f < 0 or f >= flows:
                continue
            if j == 0:
                fl = ring[f % span] = Flow(f, seed, websocket=True)
            else:
                fl = ring[f % span]
            if t is key_t:
                emit(w, t, fl, base + sub, j, fl.key)
            elif t is accept_t:
                emit(w, t, fl, base + sub, j, fl.accept)
            else:
                emit(w, t, fl, base + sub, j)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("scenario", choices=["syn", "upgraded"])
    ap.add_argument("--flows", type=int, required=True, help="number of flows, 1..%d" % MAX_FLOWS)
    gap = ap.add_mutually_exclusive_group()
    gap.add_argument("--gap-ms", type=float, help="time between flow starts in ms (syn default 10)")
    gap.add_argument("--gap-us", type=int, help="time between flow starts in us (upgraded default 10)")
    ap.add_argument("-o", "--output", required=True, help="pcap file to write, - for stdout")
    ap.add_argument("--seed", type=int, default=0, help="changes ISNs and WebSocket keys (default 0)")
    a = ap.parse_args()
    if not 1 <= a.flows <= MAX_FLOWS:
        ap.error("--flows must be between 1 and %d" % MAX_FLOWS)
    if a.gap_us is not None:
        gap_us = a.gap_us
    elif a.gap_ms is not None:
        gap_us = round(a.gap_ms * 1000)
    else:
        gap_us = 10_000 if a.scenario == "syn" else 10
    if gap_us < 1 or gap_us > 3_600_000_000:
        ap.error("the gap must be between 1 us and 1 h")
    seed = a.seed & MASK32

    out = sys.stdout.buffer if a.output == "-" else open(a.output, "wb")
    w = Writer(out)
    started = time.monotonic()
    try:
        w.header()
        if a.scenario == "syn":
            gen_syn(w, a.flows, gap_us, seed)
        else:
            gen_upgraded(w, a.flows, gap_us, seed)
        w.flush()
        out.flush()
    except BrokenPipeError:
        # The reader went away (e.g. wspulse died): say so and exit non-zero;
        # stdout goes to /dev/null so Python does not complain again at exit.
        sys.stderr.write("gen_flows: output closed early after %d bytes\n" % w.bytes)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if out is not sys.stdout.buffer:
        out.close()
    packets = a.flows * (1 if a.scenario == "syn" else len(upgraded_templates()))
    sys.stderr.write("gen_flows: %s flows=%d packets=%d gap_us=%d bytes=%d seconds=%.1f\n"
                     % (a.scenario, a.flows, packets, gap_us, w.bytes, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
