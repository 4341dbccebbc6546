//! `wspulse probe` across a real link, as root: a WebSocket server
//! (python3-websockets) in network namespace wp-srv (10.80.0.1), the probe
//! in wp-cli (10.80.0.2), joined by a veth pair. Mid-probe the server is
//! black-holed with iptables (everything in and out dropped): the probe must
//! see its own retransmissions and unacknowledged bytes in TCP_INFO and the
//! send queue, and say false_alive against the server within the ack stall
//! plus a margin; a new connection to the black hole must end within its
//! connect timeout with one line and exit 2.
//!
//! Skipped, with the reason printed, when not root or without `ip`,
//! `iptables` or /usr/bin/python3 with websockets; in CI (`CI=true`) a skip
//! is a failure. The namespaces (and their rules) are deleted on the way
//! out, whatever happens.

mod common;
mod probe_kit;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::netns::{self, sh, Veth};
use probe_kit::{probe_via, PYTHON};
use serde_json::Value;

const SRV: &str = "wp-srv";
const CLI: &str = "wp-cli";
const URL: &str = "ws://10.80.0.1:9000/";

const SERVER: &str = r#"
import asyncio, websockets
async def handler(ws, path):
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass
async def main():
    async with websockets.serve(handler, "10.80.0.1", 9000, ping_interval=None):
        print("listening", flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"#;

/// The two namespaces and the server; all deleted on drop.
struct Lab {
    server: Option<Child>,
    _net: Veth,
}

impl Lab {
    fn up() -> Result<Lab, String> {
        let net = Veth::up((SRV, CLI), "wp", ("10.80.0.1", "10.80.0.2"))?;
        Ok(Lab {
            server: None,
            _net: net,
        })
    }

    fn start_server(&mut self) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", SRV, PYTHON, "-c", SERVER])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let stdout = child.stdout.take().expect("stdout");
        self.server = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("server up");
        assert_eq!(line.trim(), "listening");
    }

    fn black_hole(&self) {
        for chain in ["INPUT", "OUTPUT"] {
            assert!(sh(&[
                "ip", "netns", "exec", SRV, "iptables", "-I", chain, "-j", "DROP"
            ]));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `wspulse probe ARGS` in the client namespace, killed past `within`.
fn probe_in_cli(args: &[&str], within: Duration) -> (std::process::Output, Duration) {
    probe_via(&["ip", "netns", "exec", CLI], args, within)
}

fn usable() -> Result<(), String> {
    netns::usable(&["ip", "iptables"])?;
    if !sh(&[PYTHON, "-c", "import websockets"]) {
        return Err(format!("needs {PYTHON} with python3-websockets"));
    }
    Ok(())
}

#[test]
fn a_server_black_holed_mid_probe_is_false_alive_from_the_probes_own_socket() {
    if let Err(why) = usable() {
        return netns::skip("the probe namespace test", &why);
    }
    let mut lab = Lab::up().expect("namespaces");
    lab.start_server();
    let args = [
        "--duration",
        "8s",
        "--ping-interval",
        "250ms",
        "--ack-stall",
        "2s",
        "--pong-timeout",
        "1s",
        "--watch",
        "--format",
        "ndjson",
        URL,
    ];
    let (out, took) = std::thread::scope(|s| {
        let run = s.spawn(|| probe_in_cli(&args, Duration::from_secs(15)));
        std::thread::sleep(Duration::from_secs(2));
        lab.black_hole();
        let onset = Instant::now();
        let (out, took) = run.join().expect("probe");
        (out, (took, onset.elapsed()))
    });
    let (took, since_onset) = took;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"header"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"summary"), "{kinds:?}");
    let v = lines
        .iter()
        .find(|l| l["type"] == "connection")
        .expect("a connection line");
    assert_eq!(v["verdict"], "false_alive", "{v:#}");
    let reasons: Vec<(&str, &str)> = v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap(),
                r["side"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(reasons.contains(&("peer_unreachable", "server")), "{v:#}");
    assert!(reasons.contains(&("ping_unanswered", "server")), "{v:#}");
    assert!(!reasons.iter().any(|(_, side)| *side == "client"), "{v:#}");
    let info = &v["tcp_info"];
    assert!(info["total_retrans"].as_u64().unwrap() >= 2, "{info}");
    assert!(info["backoff"].as_u64().unwrap() >= 1, "{info}");
    let queued = info["queued_bytes"].as_u64().unwrap();
    let unsent = info["unsent_bytes"].as_u64().unwrap();
    assert!(queued > unsent, "Pings sent and never acknowledged: {info}");
    // The watch samples: alive before the black hole, false_alive within
    // the 2 s ack stall plus 2 s of it.
    let samples: Vec<&Value> = lines.iter().filter(|l| l["type"] == "sample").collect();
    assert_eq!(samples.first().unwrap()["verdict"], "alive");
    let flagged = samples
        .iter()
        .position(|s| s["verdict"] == "false_alive")
        .expect("a false_alive sample");
    // Samples are 250 ms apart from the start; the black hole came at 2 s.
    let flagged_at = Duration::from_millis(250 * (flagged as u64 + 1));
    let after_onset = flagged_at.saturating_sub(Duration::from_secs(2));
    println!("flagged false_alive {after_onset:?} after the black hole");
    assert!(after_onset < Duration::from_secs(4), "{after_onset:?}");
    assert!(
        took < Duration::from_secs(11),
        "took {took:?} ({since_onset:?})"
    );

    // A new connection into the black hole: the connect timeout, one line.
    let (out, took) = probe_in_cli(&["--connect-timeout", "2s", URL], Duration::from_secs(6));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("timed out after 2s"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}
