//! `wspulse sockets` and `wspulse live --sockets` on a real Linux TCP
//! stack, as root: a server in network namespace wk-srv (10.81.0.1:9100,
//! tests/sockets/peers.py) writes 64 KiB/s of WebSocket frames to each of
//! three clients in wk-cli (10.81.0.2): one black-holed mid-stream (iptables
//! DROP in the client namespace, its port only), one that never reads, one
//! healthy. What the server's application wrote and its kernel could not
//! send piles up in the server's sockets, where only sock_diag sees it.
//!
//! Checked: the unsent backlog grows for the first two and not for the
//! third; `sockets --netns wk-srv` alone flags the first two (not alive,
//! reasons charged to the client) and not the third; `live -i wk-s
//! --sockets` (with the `live` feature) gives each captured connection the
//! readings of its own server socket.
//!
//! Skipped, with the reason printed, when not root or without `ip`,
//! `iptables` or /usr/bin/python3; in CI (`CI=true`) a skip is a failure.
//! The namespaces are deleted and every process killed on the way out,
//! whatever happens; every run is bounded in time.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::netns::{self, sh, Veth};
use serde_json::Value;

const SRV: &str = "wk-srv";
const CLI: &str = "wk-cli";
const PYTHON: &str = "/usr/bin/python3";
const PORT: &str = "9100";
/// The clients' ports: black-holed, never reading, healthy.
const BLACK_HOLED: u64 = 41001;
const NO_READ: u64 = 41002;
const HEALTHY: u64 = 41003;

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sockets/peers.py")
}

/// The namespaces and the peers; all gone on drop.
struct Lab {
    children: Vec<Child>,
    status: PathBuf,
    _net: Veth,
}

impl Lab {
    fn up() -> Result<Lab, String> {
        let net = Veth::up((SRV, CLI), "wk", ("10.81.0.1", "10.81.0.2"))?;
        let lab = Lab {
            children: Vec::new(),
            status: std::env::temp_dir().join(format!("wk-status-{}.json", std::process::id())),
            _net: net,
        };
        Ok(lab)
    }

    /// Starts peers.py ARGS in `ns` and waits (10 s at most) for its first
    /// line, which must begin with `expect`.
    fn start(&mut self, ns: &str, args: &[&str], expect: &str) {
        let script = peers();
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, PYTHON])
            .arg(&script)
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a peer");
        let stdout = child.stdout.take().expect("stdout");
        self.children.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("peers.py {args:?} said nothing within 10 s"));
        assert!(line.starts_with(expect), "peers.py {args:?}: {line}");
    }

    fn client(&mut self, mode: &str, port: u64) {
        let port = port.to_string();
        self.start(CLI, &["client", mode, "10.81.0.1", PORT, &port], "ready");
    }

    /// Drops everything to and from the client port `port`, in the
    /// client's namespace: the server's segments reach nobody.
    fn black_hole(&self, port: u64) {
        let port = port.to_string();
        for (chain, dir) in [("INPUT", "--dport"), ("OUTPUT", "--sport")] {
            let rule = [
                "ip", "netns", "exec", CLI, "iptables", "-I", chain, "-p", "tcp", dir, &port, "-j",
                "DROP",
            ];
            assert!(sh(&rule), "{}", rule.join(" "));
        }
    }

    /// Bytes each connection's writes handed to the server's kernel, by
    /// client port, as the server last counted them.
    fn written(&self) -> Value {
        let text = std::fs::read_to_string(&self.status).expect("the server's status file");
        serde_json::from_str(&text).expect("status JSON")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.status);
    }
}

/// A wspulse run in the background, killed if it outlives `within`.
struct Run {
    child: Option<Child>,
    within: Duration,
    started: Instant,
}

impl Run {
    fn start(prefix: &[&str], args: &[&str], within: Duration) -> Run {
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(env!("CARGO_BIN_EXE_wspulse"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_wspulse")),
        };
        let child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wspulse");
        Run {
            child: Some(child),
            within,
            started: Instant::now(),
        }
    }

    fn finish(mut self) -> Output {
        let mut child = self.child.take().expect("running");
        while child.try_wait().expect("wait").is_none() {
            if self.started.elapsed() > self.within {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!("wspulse ran past {:?}: {out:?}", self.within);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn usable() -> Result<(), String> {
    netns::usable(&["ip", "iptables"])?;
    if !Path::new(PYTHON).exists() {
        return Err(format!("needs {PYTHON}"));
    }
    Ok(())
}

const JUDGING: [&str; 6] = [
    "--ack-stall",
    "2s",
    "--zero-window-stall",
    "2s",
    "--port",
    PORT,
];

/// One reading of the server's sockets: `wspulse sockets --count 1`.
fn snapshot() -> Value {
    let mut args = vec![
        "sockets", "--netns", SRV, "--count", "1", "--format", "json",
    ];
    args.extend(JUDGING);
    let out = Run::start(&[], &args, Duration::from_secs(5)).finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("sockets JSON")
}

/// The connection of client port `port` in a list of connections.
fn by_port(conns: &[Value], port: u64) -> &Value {
    conns
        .iter()
        .find(|c| c["client"]["port"] == port)
        .unwrap_or_else(|| panic!("no connection from port {port} in {conns:#?}"))
}

fn notsent(conn: &Value) -> u64 {
    conn["socket"]["server"]["notsent_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no server socket reading: {conn:#}"))
}

fn reasons(conn: &Value) -> Vec<(String, String)> {
    conn["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| {
            let side = r["side"].as_str().unwrap_or("").to_string();
            (r["code"].as_str().unwrap().to_string(), side)
        })
        .collect()
}

#[test]
fn unsent_bytes_flag_the_black_holed_and_the_stopped_reader_but_not_the_healthy_client() {
    if let Err(why) = usable() {
        return netns::skip("the sockets namespace test", &why);
    }
    let mut lab = Lab::up().expect("namespaces");
    let status = lab.status.to_str().expect("path").to_string();
    lab.start(SRV, &["server", PORT, &status], "listening");
    // Both watchers start before the clients: the capture sees every
    // handshake, the sockets run every connection from its start.
    let live = cfg!(feature = "live").then(|| {
        let args = [
            "live",
            "-i",
            "wk-s",
            "--sockets",
            "--format",
            "ndjson",
            "--duration",
            "9s",
            "--interval",
            "500ms",
            "--ack-stall",
            "2s",
            "--zero-window-stall",
            "2s",
            "tcp",
            "port",
            PORT,
        ];
        Run::start(
            &["ip", "netns", "exec", SRV],
            &args,
            Duration::from_secs(20),
        )
    });
    let mut args = vec![
        "sockets",
        "--netns",
        SRV,
        "--duration",
        "8s",
        "--interval",
        "250ms",
        "--format",
        "json",
    ];
    args.extend(JUDGING);
    let alone = Run::start(&[], &args, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(700));
    lab.client("read", BLACK_HOLED);
    lab.client("no-read", NO_READ);
    lab.client("read", HEALTHY);
    std::thread::sleep(Duration::from_secs(1));
    lab.black_hole(BLACK_HOLED);

    // The unsent backlog, 2 s and 4 s into the black hole.
    std::thread::sleep(Duration::from_secs(2));
    let (first, written_first) = (snapshot(), lab.written());
    std::thread::sleep(Duration::from_secs(2));
    let (second, written_second) = (snapshot(), lab.written());
    let (a, b) = (
        first["connections"].as_array().expect("connections"),
        second["connections"].as_array().expect("connections"),
    );
    for port in [BLACK_HOLED, NO_READ, HEALTHY] {
        println!(
            "client {port}: written {} → {} bytes, not sent {} → {} bytes",
            written_first[port.to_string()],
            written_second[port.to_string()],
            notsent(by_port(a, port)),
            notsent(by_port(b, port))
        );
    }
    for port in [BLACK_HOLED, NO_READ] {
        // 64 KiB/s for 2 s, none of it sent: at least half of it shows.
        let grew = notsent(by_port(b, port)).saturating_sub(notsent(by_port(a, port)));
        assert!(grew > 64 << 10, "client {port}: grew {grew} bytes\n{b:#?}");
    }
    for snap in [a, b] {
        let healthy = by_port(snap, HEALTHY);
        assert!(notsent(healthy) < 32 << 10, "{healthy:#}");
    }

    // `sockets` alone, judging from readings only.
    let out = alone.finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("sockets JSON");
    let conns = doc["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 3, "{doc:#}");
    let holed = by_port(conns, BLACK_HOLED);
    assert_ne!(holed["verdict"], "alive", "{holed:#}");
    assert!(
        reasons(holed).contains(&("peer_unreachable".into(), "client".into())),
        "{holed:#}"
    );
    let stopped = by_port(conns, NO_READ);
    assert_ne!(stopped["verdict"], "alive", "{stopped:#}");
    assert!(
        reasons(stopped).contains(&("zero_window_stall".into(), "client".into())),
        "{stopped:#}"
    );
    for c in [holed, stopped] {
        assert!(reasons(c).iter().all(|(_, side)| side == "client"), "{c:#}");
        let s = &c["socket"]["server"];
        assert!(s["unable_to_send_s"].as_f64().unwrap_or(0.0) > 1.0, "{c:#}");
        assert!(notsent(c) > 64 << 10, "{c:#}");
    }
    let healthy = by_port(conns, HEALTHY);
    assert_eq!(healthy["verdict"], "alive", "{healthy:#}");
    assert!(reasons(healthy).is_empty(), "{healthy:#}");
    assert!(healthy["socket"]["server"]["unable_to_send_s"].is_null());
    let need: Vec<&str> = doc["checks"]["need_packets"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(need.contains(&"ping_unanswered"), "{need:?}");

    // live -i wk-s --sockets: each captured connection has its own server
    // socket's readings, and no client socket (those are in wk-cli).
    let Some(live) = live else {
        return println!("live --sockets not checked: built without the live feature");
    };
    let out = live.finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect();
    let conns: Vec<Value> = records
        .into_iter()
        .filter(|r| r["type"] == "connection")
        .collect();
    assert_eq!(conns.len(), 3, "{conns:#?}");
    for c in &conns {
        assert!(c["socket"]["client"].is_null(), "{c:#}");
        assert!(c["socket"]["server"]["reading"]["sample"].is_u64(), "{c:#}");
    }
    let holed = by_port(&conns, BLACK_HOLED);
    assert!(notsent(holed) > 64 << 10, "{holed:#}");
    let cited = holed["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["code"] == "peer_unreachable")
        .unwrap_or_else(|| panic!("{holed:#}"));
    assert!(cited["evidence"]["notsent_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(notsent(by_port(&conns, NO_READ)) > 64 << 10);
    let healthy = by_port(&conns, HEALTHY);
    assert!(notsent(healthy) < 32 << 10, "{healthy:#}");
    assert_eq!(healthy["verdict"], "alive", "{healthy:#}");
}
