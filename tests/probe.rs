//! `wspulse probe ws://…` against real WebSocket servers on loopback
//! (Debian's python3-websockets 10.x, started by each test): a healthy
//! one, one stopped with SIGSTOP mid-probe, and a refused port. Every run
//! is bounded: the probe's own `--duration` plus a margin, then killed.
//!
//! Skipped, with the reason printed, when /usr/bin/python3 cannot import
//! websockets; in CI (`CI=true`) a skip is a failure.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A server that reads and discards every message; the library answers
/// Pings itself (RFC 6455 §5.5.3) and sends none of its own. It prints
/// its port, and exits on its own after 60 s whatever happens.
const SERVER: &str = r#"
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

/// A server that completes the handshake (RFC 6455 §4.2.2) and answers
/// every Ping with a Pong that does not echo it (§5.5.3 says it must):
/// payload `nope`. One connection; every socket wait is bounded by 30 s.
const WRONG_PONGS: &str = r#"
import base64, hashlib, socket, struct, sys
s = socket.socket()
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
        c.sendall(b"\x8a\x04nope")
    elif b0 & 0x0F == 0x8:
        c.sendall(b"\x88\x02\x03\xe8")
        break
"#;

const PYTHON: &str = "/usr/bin/python3";

/// A running server, killed (and resumed first, if stopped) on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// `None` when python3-websockets is missing (skip, said on stdout).
    fn start() -> Option<Server> {
        Server::run(SERVER)
    }

    /// Runs `script`, which prints its port first.
    fn run(script: &str) -> Option<Server> {
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

    fn url(&self, rest: &str) -> String {
        format!("ws://127.0.0.1:{}{rest}", self.port)
    }

    fn signal(&self, name: &str) {
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
fn probe_stopping(
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

fn probe(args: &[&str], within: Duration) -> (Output, Duration) {
    let child = Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .arg("probe")
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

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn reasons(v: &Value) -> Vec<(String, String)> {
    v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap_or("").to_string(),
                r["side"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_server_is_alive_and_answers_every_ping() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/feed");
    let args = [
        "--count",
        "4",
        "--ping-interval",
        "200ms",
        "--format",
        "json",
    ];
    let (out, took) = probe(&[&args[..], &[&url]].concat(), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["schema"], "wspulse.probe/1");
    assert_eq!(v["url"], url.as_str());
    assert_eq!(v["verdict"], "alive", "{v:#}");
    assert_eq!(reasons(&v), Vec::<(String, String)>::new());
    assert_eq!(v["notes"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["pings"]["sent"], 4);
    assert_eq!(v["pings"]["answered"], 4);
    assert_eq!(v["pings"]["mismatched"], 0);
    let p50 = v["pings"]["rtt_ms"]["p50"].as_f64().expect("p50");
    let max = v["pings"]["rtt_ms"]["max"].as_f64().expect("max");
    assert!(0.0 < p50 && p50 <= max, "rtt p50 {p50} max {max}");
    if cfg!(target_os = "linux") {
        let info = &v["tcp_info"];
        // Four Pings of 14 bytes each at least, all acknowledged.
        assert!(
            info["bytes_acked"].as_u64().unwrap_or(0) >= 4 * 14,
            "{info}"
        );
        assert_eq!(info["unacked_segments"], 0, "{info}");
        assert_eq!(info["notsent_bytes"], 0, "{info}");
    }
    // Four Pings 200 ms apart: well under a second, not the 10 s default.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_stopped_server_is_not_alive_and_its_pings_go_unanswered() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--duration",
        "6s",
        "--ping-interval",
        "500ms",
        "--format",
        "json",
        &url,
    ];
    // Answered Pings first, so the server had a Pong cadence; then silence.
    let (out, took) = probe_stopping(
        &server,
        &args,
        Duration::from_millis(1500),
        Duration::from_secs(15),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_ne!(v["verdict"], "alive", "{v:#}");
    assert!(
        reasons(&v).contains(&("ping_unanswered".into(), "server".into())),
        "{v:#}"
    );
    let answered = v["pings"]["answered"].as_u64().unwrap();
    let sent = v["pings"]["sent"].as_u64().unwrap();
    assert!(answered >= 1 && answered < sent, "{answered} of {sent}");
    // The kernel still acknowledges for a stopped process: TCP is fine.
    assert_eq!(v["tcp_info"]["unacked_segments"], 0, "{v:#}");
    assert!(took < Duration::from_secs(9), "took {took:?}");
}

#[test]
fn fail_on_makes_a_false_alive_probe_exit_1() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--duration",
        "4s",
        "--ping-interval",
        "250ms",
        "--pong-timeout",
        "1s",
        "--fail-on",
        "suspect",
        &url,
    ];
    let (out, _) = probe_stopping(
        &server,
        &args,
        Duration::from_millis(800),
        Duration::from_secs(12),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("false_alive"), "{text}");
    assert!(text.contains("ping_unanswered (server)"), "{text}");
}

#[test]
fn a_refused_port_is_a_one_line_error_and_exit_2() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let (out, took) = probe(&["--connect-timeout", "2s", &url], Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("wspulse: connection refused"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn header_values_and_query_values_never_reach_the_output() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/x?token=query-secret-42");
    let userinfo = url.replace("ws://", "ws://user:userinfo-secret@");
    for format in ["table", "json"] {
        let args = [
            "--count",
            "2",
            "--ping-interval",
            "100ms",
            "-H",
            "Authorization: Bearer header-secret-7f3a",
            "-H",
            "X-Api-Key: second-secret-99",
            "--format",
            format,
            userinfo.as_str(),
        ];
        let (out, _) = probe(&args, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in [
            "header-secret-7f3a",
            "second-secret-99",
            "query-secret-42",
            "userinfo-secret",
        ] {
            assert!(!all.contains(secret), "{format}: {secret} printed:\n{all}");
        }
        assert!(all.contains(&server.url("/x")), "{all}");
    }
}

/// A TCP server on loopback that accepts one connection, reads the
/// request, answers `reply` (nothing when empty) and holds it open 5 s.
fn raw_server(reply: &'static str) -> u16 {
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

#[test]
fn an_http_200_instead_of_101_is_a_one_line_error_with_the_status() {
    let port = raw_server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let url = format!("ws://127.0.0.1:{port}/");
    let (out, took) = probe(&[&url], Duration::from_secs(8));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("refused the WebSocket upgrade: HTTP 200"),
        "{err}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_server_that_never_answers_the_upgrade_times_out_within_the_connect_timeout() {
    let port = raw_server("");
    let url = format!("ws://127.0.0.1:{port}/");
    let (out, took) = probe(&["--connect-timeout", "1s", &url], Duration::from_secs(6));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("handshake") && err.contains("timed out after 1s"),
        "{err}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn ctrl_c_stops_the_probe_and_the_result_follows() {
    let Some(server) = Server::start() else {
        return;
    };
    let child = Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(["probe", "--duration", "20s", "--ping-interval", "200ms"])
        .args(["--format", "json", &server.url("/")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wspulse probe");
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    std::thread::sleep(Duration::from_millis(1200));
    let started = Instant::now();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let out = match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(out) => out.expect("wspulse output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the probe did not stop within 5 s of SIGINT");
        }
    };
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["verdict"], "alive", "{v:#}");
    assert_eq!(v["ended"], Value::Null, "{v:#}");
    assert!(v["pings"]["answered"].as_u64().unwrap() >= 3, "{v:#}");
}

#[test]
fn a_server_dripping_its_answer_cannot_stretch_the_handshake_deadline() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            // One byte every 200 ms: each read gets something, the whole
            // answer takes 7 s.
            for b in b"HTTP/1.1 101 Switching Protocols\r\n" {
                if conn.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let (out, took) = probe(&["--connect-timeout", "1s", &url], Duration::from_secs(8));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[test]
fn pongs_that_do_not_echo_the_ping_are_counted_and_reported() {
    let Some(server) = Server::run(WRONG_PONGS) else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--count",
        "3",
        "--ping-interval",
        "200ms",
        "--format",
        "json",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["pings"]["sent"], 3, "{v:#}");
    assert_eq!(v["pings"]["answered"], 0, "{v:#}");
    assert_eq!(v["pings"]["mismatched"], 3, "{v:#}");
    // A note, as in the findings: the server still answers, wrongly.
    let notes: Vec<_> = v["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| (n["code"].as_str(), n["side"].as_str()))
        .collect();
    assert!(
        notes.contains(&(Some("pong_payload_mismatch"), Some("server"))),
        "{v:#}"
    );
}
