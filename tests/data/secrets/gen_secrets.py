#!/usr/bin/env python3
"""Write planted.pcap: WebSocket connections with a secret in every field a
capture can carry, and planted.txt: the secrets, one per line.

Usage: gen_secrets.py [OUT_DIR]   (default: the directory of this script)

Hand-built on purpose (a hostile input): no real peer puts tokens in all
these places at once. Every secret is a distinct marker (`PLANTED` and a
name), so a test can search every output of wspulse for any of them:

- connection 1 (closes cleanly): secrets in the request target's query
  values and fragment, the Host's and Origin's user info, a custom header,
  Cookie, Authorization, Proxy-Authorization, User-Agent, a header split
  across two segments, a folded header (obs-fold, RFC 9112 §5.2), mixed-case
  names, Sec-WebSocket-Protocol (a Kubernetes bearer token and a bare token),
  Sec-WebSocket-Extensions parameters, the response's Set-Cookie, chosen
  subprotocol and extension parameters; then text and binary data both
  ways, a Ping answered by a Pong that does not echo it (both payloads
  secret), and Close frames both ways whose reasons are secret.
- connection 2 (left open): secrets in a path parameter and a path
  segment, and a Ping with a secret payload that is never answered, so the
  secret would be cited as evidence of ping_unanswered.
"""
import os
import struct
import sys

SECRETS = {}


def s(name):
    v = "PLANTED" + name
    SECRETS[name] = v
    return v


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


class Conn:
    def __init__(self, out, cport, start):
        self.out, self.cport, self.t = out, cport, start
        self.cip, self.sip, self.sport = "10.9.0.2", "10.9.0.1", 8080
        self.seq = {"c": 1000, "s": 5000}
        self.ipid = 1

    def pkt(self, who, flags, payload=b"", dt=0.001):
        self.t += dt
        src, dst = (self.cip, self.sip) if who == "c" else (self.sip, self.cip)
        sp, dp = (self.cport, self.sport) if who == "c" else (self.sport, self.cport)
        other = "s" if who == "c" else "c"
        seq, ack = self.seq[who], self.seq[other]
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        c = csum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.ipid, 0x4000, 64, 6, 0, ip4(src), ip4(dst))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        self.ipid += 1
        frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp + payload
        sec = int(self.t)
        usec = int(round((self.t - sec) * 1e6))
        self.out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
        adv = len(payload) + (1 if flags & 0x03 else 0)
        self.seq[who] = (self.seq[who] + adv) & 0xFFFFFFFF

    def handshake(self):
        self.pkt("c", 0x02)
        self.pkt("s", 0x12)
        self.pkt("c", 0x10)

    def data(self, who, payload, dt=0.001):
        self.pkt(who, 0x18, payload, dt)
        self.pkt("s" if who == "c" else "c", 0x10)


def frame(opcode, payload, masked):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([(0x80 if masked else 0) | n])
    else:
        head += bytes([(0x80 if masked else 0) | 126]) + struct.pack("!H", n)
    if not masked:
        return head + payload
    key = b"\x11\x22\x33\x44"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    out = []
    a = Conn(out, 40001, 1700000000.0)
    a.handshake()
    request = (
        "GET /chat?token=%s&session=%s#%s HTTP/1.1\r\n"
        "Host: %s@ws.example.com:8080\r\n"
        "upgrade: websocket\r\n"
        "CONNECTION: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Origin: https://user:%s@app.example.com\r\n"
        "Cookie: sid=%s\r\n"
        "AUTHORIZATION: Bearer %s\r\n"
        "Proxy-Authorization: Basic %s\r\n"
        "User-Agent: agent/%s\r\n"
        "X-Api-Key: %s\r\n"
        "X-Folded: first\r\n"
        " %s\r\n"
        "Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.%s, %s\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; x-key=%s\r\n"
        "X-Split: %s\r\n"
        "\r\n"
    ) % (
        s("QUERYVALUE"), s("SESSIONVALUE"), s("FRAGMENT"), s("HOSTUSERINFO"),
        s("ORIGINPASSWORD"), s("COOKIE"), s("BEARER"), s("PROXYAUTH"), s("USERAGENT"),
        s("APIKEY"), s("FOLDED"), s("K8STOKEN"), s("BARETOKENSUBPROTOCOL"),
        s("EXTENSIONPARAM"), s("SPLITHEADER"),
    )
    raw = request.encode()
    cut = raw.index(b"X-Split: ") + len(b"X-Split: PLANTED")  # split inside a secret
    a.data("c", raw[:cut])
    a.data("c", raw[cut:])
    response = (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.%s\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; x-key=%s\r\n"
        "Set-Cookie: sid=%s; HttpOnly\r\n"
        "\r\n"
    ) % (s("K8STOKEN"), s("SERVEREXTPARAM"), s("SETCOOKIE"))
    a.data("s", response.encode())
    a.data("c", frame(1, s("CLIENTTEXT").encode(), True), 0.2)
    a.data("s", frame(1, s("SERVERTEXT").encode(), False), 0.2)
    a.data("c", frame(2, s("CLIENTBINARY").encode(), True), 0.2)
    a.data("s", frame(2, s("SERVERBINARY").encode(), False), 0.2)
    a.data("c", frame(9, s("CLIENTPING").encode(), True), 0.5)
    a.data("s", frame(10, s("MISMATCHEDPONG").encode(), False), 0.01)
    a.data("s", frame(9, s("SERVERPING").encode(), False), 0.5)
    a.data("c", frame(10, s("SERVERPING").encode(), True), 0.01)
    a.data("c", frame(8, struct.pack("!H", 1000) + s("CLIENTCLOSEREASON").encode(), True), 0.5)
    a.data("s", frame(8, struct.pack("!H", 1000) + s("SERVERCLOSEREASON").encode(), False), 0.01)
    a.pkt("s", 0x11)
    a.pkt("c", 0x11)
    a.pkt("s", 0x10)

    b = Conn(out, 40002, 1700000001.0)
    b.handshake()
    b.data("c", (
        "GET /feed;jsessionid=%s/%s?api_key=%s HTTP/1.1\r\nHost: ws.example.com\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        % (s("PATHPARAM"), s("PATHSEGMENTTOKEN1234567890"), s("FEEDKEY"))).encode())
    b.data("s", (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n").encode())
    b.data("s", frame(9, s("UNANSWEREDPING").encode(), False), 1.0)
    b.pkt("c", 0x10, b"", 20.0)  # a pure ACK 20 s later: still open, Ping unanswered

    out.sort(key=lambda rec: struct.unpack("<II", rec[:8]))
    with open(os.path.join(out_dir, "planted.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.write(b"".join(out))
    with open(os.path.join(out_dir, "planted.txt"), "w") as f:
        f.write("\n".join(sorted(set(SECRETS.values()))) + "\n")


if __name__ == "__main__":
    main()
