//! `wspulse probe ws://…` against real WebSocket servers on loopback
//! (started by each test, see `probe_kit`): a healthy one, one stopped with
//! SIGSTOP mid-probe, one that answers Pings wrongly, servers that refuse or
//! stall the upgrade, and a refused port. Every run is bounded: the probe's
//! own `--duration` plus a margin, then killed.

mod probe_kit;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use probe_kit::*;
use serde_json::Value;

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
    let doc = json(&out);
    assert_eq!(doc["url"], url.as_str());
    assert_eq!(doc["summary"]["verdicts"]["alive"], 1, "{doc:#}");
    let v = conn(&out);
    assert_eq!(v["client"]["ip"], "127.0.0.1", "{v:#}");
    assert_eq!(v["server"]["port"], server.port, "{v:#}");
    assert_eq!(v["frames"]["client"]["ping"], 4, "{v:#}");
    assert_eq!(v["frames"]["server"]["pong"], 4, "{v:#}");
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
        assert_eq!(info["queued_bytes"], 0, "{info}");
        assert_eq!(info["unsent_bytes"], 0, "{info}");
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
    let v = conn(&out);
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
    let v = conn(&out);
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
    let Some(server) = Server::raw("wrong-pongs") else {
        return;
    };
    let url = server.url("/");
    let args = ["--count", "3", "--ping-interval", "200ms", &url];
    let (v, _) = probe_ok(&args, Duration::from_secs(10));
    assert_eq!(v["pings"]["sent"], 3, "{v:#}");
    assert_eq!(v["pings"]["answered"], 0, "{v:#}");
    assert_eq!(v["pings"]["mismatched"], 3, "{v:#}");
    // A note, as in the findings: the server still answers, wrongly.
    assert!(
        notes(&v).contains(&("pong_payload_mismatch".into(), "server".into())),
        "{v:#}"
    );
}
