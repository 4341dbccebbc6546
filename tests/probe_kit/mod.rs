//! What the probe tests share: real servers on loopback (Debian's
//! python3-websockets 10.x, or a raw socket where a server must misbehave
//! on purpose), and a bounded run of `wspulse probe`.
//!
//! Skipped, with the reason printed, when /usr/bin/python3 cannot import
//! websockets; in CI (`CI=true`) a skip is a failure.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A server that reads and discards every message; the library answers
/// Pings itself (RFC 6455 §5.5.3) and sends none of its own. It prints
/// its port, and exits on its own after 60 s whatever happens.
pub const SERVER: &str = r#"
import asyncio, websockets
async def handler(ws, path):
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass
async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"#;

/// [`SERVER`] over TLS, with the certificate and key files given as its
/// arguments; it echoes every message.
pub const TLS_SERVER: &str = r#"
import asyncio, ssl, sys, websockets
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
async def handler(ws, path):
    try:
        async for m in ws:
            await ws.send(m)
    except websockets.ConnectionClosed:
        pass
async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None, ssl=ctx) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"#;

/// A server that completes the handshake (RFC 6455 §4.2.2) by hand, then
/// misbehaves one way, named by its first argument:
///
/// - `wrong-pongs`: answers every Ping with a Pong that does not echo it
///   (§5.5.3 says it must): payload `nope`;
/// - `empty-pongs`: answers every Ping with an empty Pong;
/// - `silent`: reads every frame and answers none;
/// - `no-read`: a 4 KiB receive buffer, and never reads after the handshake;
/// - `close-hold`: after 1 s sends Close (1001), then keeps TCP open and
///   reads, without ever closing;
/// - `rst`: after 1 s aborts the connection (SO_LINGER 0: an RST).
///
/// One connection; every socket wait is bounded by 30 s.
pub const RAW_PEER: &str = r#"
import base64, hashlib, socket, struct, sys, time
mode = sys.argv[1]
s = socket.socket()
if mode == "no-read":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0))
s.listen(1)
s.settimeout(30)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.settimeout(30)
buf = b""
while b"\r\n\r\n" not in buf:
    buf += c.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
       if l.lower().startswith(b"sec-websocket-key:")][0]
accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
if mode == "no-read":
    time.sleep(30)
    sys.exit(0)
if mode == "rst":
    time.sleep(1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    sys.exit(0)
if mode == "close-hold":
    time.sleep(1)
    c.sendall(b"\x88\x02\x03\xe9")
    end = time.time() + 20
    while time.time() < end:
        c.settimeout(max(0.1, end - time.time()))
        try:
            if not c.recv(4096):
                time.sleep(end - time.time())
        except socket.timeout:
            pass
    sys.exit(0)
def need(n):
    global buf
    while len(buf) < n:
        d = c.recv(4096)
        if not d:
            sys.exit(0)
        buf += d
    out, buf = buf[:n], buf[n:]
    return out
while True:
    b0, b1 = need(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", need(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", need(8))[0]
    if b1 & 0x80:
        need(4)
    need(n)
    if b0 & 0x0F == 0x9:
        if mode == "wrong-pongs":
            c.sendall(b"\x8a\x04nope")
        elif mode == "empty-pongs":
            c.sendall(b"\x8a\x00")
    elif b0 & 0x0F == 0x8:
        c.sendall(b"\x88\x02\x03\xe8")
        break
"#;

pub const PYTHON: &str = "/usr/bin/python3";

/// A running server, killed (and resumed first, if stopped) on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// `None` when python3-websockets is missing (skip, said on stdout).
    pub fn start() -> Option<Server> {
        Server::run(SERVER)
    }

    /// Runs [`RAW_PEER`] in `mode`.
    pub fn raw(mode: &str) -> Option<Server> {
        Server::run_with(RAW_PEER, &[mode])
    }

    /// Runs [`TLS_SERVER`] with `name`'s certificate from tests/data/tls
    /// (`localhost`: valid for 127.0.0.1; `other`: for another name).
    pub fn tls(name: &str) -> Option<Server> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls");
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));
        Server::run_with(TLS_SERVER, &[cert, key])
    }

    /// Runs `script`, which prints its port first.
    pub fn run(script: &str) -> Option<Server> {
        Server::run_with(script, &[])
    }

    /// Runs `script` with `args` (its `sys.argv[1:]`).
    pub fn run_with(script: &str, args: &[&str]) -> Option<Server> {
        let usable = Path::new(PYTHON).exists()
            && Command::new(PYTHON)
                .args(["-c", "import websockets"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !usable {
            let in_ci = std::env::var_os("CI").is_some_and(|v| v == "true");
            assert!(
                !in_ci,
                "the probe tests need {PYTHON} with python3-websockets"
            );
            println!("skipped: needs {PYTHON} with python3-websockets");
            return None;
        }
        let mut child = Command::new(PYTHON)
            .args(["-c", script])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the test server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the test server printed no port within 10 s");
        let port = line.trim().parse().expect("the server's port");
        Some(Server { child, port })
    }

    pub fn wss(&self, rest: &str) -> String {
        format!("wss://127.0.0.1:{}{rest}", self.port)
    }

    pub fn url(&self, rest: &str) -> String {
        format!("ws://127.0.0.1:{}{rest}", self.port)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {name} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `wspulse probe ARGS`; panics when it outlives `within`.
/// `probe(args, within)` while the server is stopped (SIGSTOP) `after`
/// the start: a server that froze mid-run.
pub fn probe_stopping(
    server: &Server,
    args: &[&str],
    after: Duration,
    within: Duration,
) -> (Output, Duration) {
    std::thread::scope(|s| {
        let run = s.spawn(|| probe(args, within));
        std::thread::sleep(after);
        server.signal("-STOP");
        run.join().expect("the probe ended")
    })
}

pub fn probe(args: &[&str], within: Duration) -> (Output, Duration) {
    probe_via(&[], args, within)
}

/// `PREFIX... wspulse probe ARGS` (e.g. `ip netns exec NS`); panics when
/// it outlives `within` (it is killed first).
pub fn probe_via(prefix: &[&str], args: &[&str], within: Duration) -> (Output, Duration) {
    let bin = env!("CARGO_BIN_EXE_wspulse");
    let argv: Vec<&str> = prefix.iter().copied().chain([bin, "probe"]).collect();
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wspulse probe");
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => (out.expect("wspulse output"), started.elapsed()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("wspulse probe {args:?} ran longer than {within:?}");
        }
    }
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The test CA's certificate (tests/data/tls/make.sh).
pub fn test_ca() -> String {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls/ca.pem");
    ca.to_str().expect("path").to_string()
}

/// Asserts a failed probe: exit 2, one line on stderr holding `needle`,
/// nothing on stdout, and within `within`.
pub fn assert_one_line_error(out: &Output, took: Duration, needle: &str, within: Duration) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("wspulse: ") && err.contains(needle),
        "{err}"
    );
    assert!(took < within, "took {took:?}");
}

/// The first connection of a probe's JSON document.
pub fn conn(out: &Output) -> Value {
    let doc = json(out);
    assert_eq!(doc["schema"], "wspulse.probe/2", "{doc:#}");
    doc["connections"][0].clone()
}

/// `wspulse probe --format json ARGS`, which must exit 0: its first
/// connection, and how long the run took.
pub fn probe_ok(args: &[&str], within: Duration) -> (Value, Duration) {
    let all = [&["--format", "json"][..], args].concat();
    let (out, took) = probe(&all, within);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    (conn(&out), took)
}

/// A connection's notes, as (code, side).
pub fn notes(v: &Value) -> Vec<(String, String)> {
    pairs(&v["notes"])
}

pub fn reasons(v: &Value) -> Vec<(String, String)> {
    pairs(&v["reasons"])
}

fn pairs(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .expect("a list of reasons or notes")
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap_or("").to_string(),
                r["side"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A TCP server on loopback that accepts one connection, reads the
/// request, answers `reply` (nothing when empty) and holds it open 5 s.
pub fn raw_server(reply: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            if !reply.is_empty() {
                let _ = conn.write_all(reply.as_bytes());
            }
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    port
}
