"""Peers for the socket-view tests (tests/sockets_netns.rs), speaking
just enough WebSocket (RFC 6455 §4) for a capture to judge them.

  peers.py server PORT STATUS   accept connections on PORT (0: any, and
      the first line says which: "listening PORT"); to each one
      write a 1 KiB binary frame every 16 ms (64 KiB/s) with an 8 MiB
      send buffer, so bytes that cannot leave pile up in the kernel for
      minutes; every 100 ms write STATUS, a JSON object of bytes each
      connection's writes handed to the kernel, keyed by the client port,
      and `at`, the wall clock it was counted at (Unix seconds).
  peers.py client MODE HOST PORT LOCAL_PORT
      connect from LOCAL_PORT (0: any), do the handshake, print "ready
      PORT" (its own port), then
      `read` (read everything, as a healthy client) or `no-read` (a 4 KiB
      receive buffer, never read after the handshake).

Everything is bounded: each process exits after 60 s, every socket wait
is at most 1 s at a time.
"""
import base64, hashlib, json, os, socket, sys, threading, time

LIFE = 60.0
END = time.time() + LIFE
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def server(port, status):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    s.settimeout(1)
    written = {}
    lock = threading.Lock()

    def writer(c, peer_port):
        c.settimeout(1)
        buf = b""
        while b"\r\n\r\n" not in buf and time.time() < END:
            d = c.recv(4096)
            if not d:
                return
            buf += d
        key = [l.split(b":", 1)[1].strip() for l in buf.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        frame = b"\x82\x7e\x04\x00" + bytes(1024)
        pending = b""
        next_at = time.time()
        while time.time() < END:
            now = time.time()
            if now >= next_at:
                pending += frame
                next_at += 0.016
            if pending:
                try:
                    n = c.send(pending)
                except socket.timeout:
                    n = 0
                except OSError:
                    return
                pending = pending[n:]
                with lock:
                    written[peer_port] = written.get(peer_port, 0) + n
            time.sleep(max(0.0, min(0.016, next_at - time.time())))

    def report():
        while time.time() < END:
            with lock:
                counts = {str(k): v for k, v in written.items()}
                counts["at"] = time.time()
                text = json.dumps(counts)
            tmp = status + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, status)
            time.sleep(0.1)

    threading.Thread(target=report, daemon=True).start()
    print("listening", s.getsockname()[1], flush=True)
    while time.time() < END:
        try:
            c, addr = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=writer, args=(c, addr[1]), daemon=True).start()


def client(mode, host, port, local_port):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if mode == "no-read":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.bind(("0.0.0.0", local_port))
    c.settimeout(5)
    c.connect((host, port))
    key = base64.b64encode(os.urandom(16))
    c.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(1)  # byte by byte: nothing past the response is read
        if not d:
            sys.exit(1)
        buf += d
    print("ready", c.getsockname()[1], flush=True)
    c.settimeout(1)
    while time.time() < END:
        if mode == "no-read":
            time.sleep(0.5)
            continue
        try:
            if not c.recv(65536):
                return
        except socket.timeout:
            pass
        except OSError:
            return


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
