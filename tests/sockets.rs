//! `wspulse sockets` on loopback, as any user: a server
//! (tests/sockets/peers.py) writing 64 KiB/s to a client that never reads
//! and to one that does. Both ends are sockets of this host, so each
//! connection is read from both sides; the one whose reader stopped is
//! `zero_window_stall` charged to its client, the other stays alive, and
//! the JSON result matches schema/sockets.schema.json. Bad input is one
//! line and exit 2.
//!
//! Skipped, with the reason printed, without /usr/bin/python3 or off
//! Linux; in CI (`CI=true`) a skip is a failure. Every process is bounded
//! and killed on the way out.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

/// The peers, killed on drop.
struct Peers(Vec<Child>);

impl Drop for Peers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Peers {
    /// Runs peers.py ARGS; returns the number its first line ends with
    /// (a port), waiting 10 s at most.
    fn start(&mut self, args: &[&str]) -> u16 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sockets/peers.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a peer");
        let stdout = child.stdout.take().expect("stdout");
        self.0.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("peers.py {args:?} said nothing within 10 s"));
        let port = line.split_whitespace().last().and_then(|p| p.parse().ok());
        port.unwrap_or_else(|| panic!("peers.py {args:?}: {line}"))
    }
}

/// `wspulse ARGS`, killed past `within`.
fn wspulse(args: &[&str], within: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wspulse");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("wspulse {args:?} ran past {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn usable() -> bool {
    let why = if !cfg!(target_os = "linux") {
        "sock_diag is Linux's"
    } else if !Path::new(PYTHON).exists() {
        "needs /usr/bin/python3"
    } else {
        return true;
    };
    let in_ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    assert!(!in_ci, "the sockets test cannot run in CI: {why}");
    println!("skipped: {why}");
    false
}

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).expect("schema file")).expect("schema JSON")
}

/// Serves the findings schema to the sockets schema's references, offline.
struct Findings(Value);

impl jsonschema::Retrieve for Findings {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        match uri.as_str() {
            "https://wspulse.invalid/schema/findings-1.json" => Ok(self.0.clone()),
            other => Err(format!("no schema at {other}").into()),
        }
    }
}

#[test]
fn a_stopped_reader_on_loopback_is_a_zero_window_stall_and_a_reader_stays_alive() {
    if !usable() {
        return;
    }
    let mut peers = Peers(Vec::new());
    let status = std::env::temp_dir().join(format!("wk-loop-{}.json", std::process::id()));
    let status_arg = status.to_str().expect("path").to_string();
    let port = peers.start(&["server", "0", &status_arg]).to_string();
    let stopped = peers.start(&["client", "no-read", "127.0.0.1", &port, "0"]);
    let reading = peers.start(&["client", "read", "127.0.0.1", &port, "0"]);
    let out = wspulse(
        &[
            "sockets",
            "--port",
            &port,
            "--duration",
            "4s",
            "--interval",
            "250ms",
            "--zero-window-stall",
            "1s",
            "--format",
            "json",
        ],
        Duration::from_secs(15),
    );
    let _ = std::fs::remove_file(&status);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");

    let validator = jsonschema::options()
        .with_retriever(Findings(schema("findings.schema.json")))
        .build(&schema("sockets.schema.json"))
        .expect("the sockets schema is valid and its references resolve");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    // A broken contract is caught: the schema is not a rubber stamp.
    let mut broken = doc.clone();
    broken["connections"][0]["socket"]["server"]["notsent_bytes"] = "many".into();
    assert!(!validator.is_valid(&broken));

    let conns = doc["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 2, "{doc:#}");
    let of = |p: u16| {
        conns
            .iter()
            .find(|c| c["client"]["port"] == p)
            .unwrap_or_else(|| panic!("no connection from {p}: {doc:#}"))
    };
    let (stopped, reading) = (of(stopped), of(reading));
    for c in [stopped, reading] {
        // both ends are sockets here: both read, one connection
        assert!(c["tcp_info"]["client"].is_object(), "{c:#}");
        assert!(c["tcp_info"]["server"].is_object(), "{c:#}");
        assert_eq!(c["server"]["port"].to_string(), port);
    }
    assert_eq!(stopped["verdict"], "false_alive", "{stopped:#}");
    let codes: Vec<(&str, &str)> = stopped["reasons"]
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
    assert_eq!(codes, vec![("zero_window_stall", "client")], "{stopped:#}");
    let waiting = stopped["socket"]["server"]["notsent_bytes"]
        .as_u64()
        .unwrap();
    assert!(waiting > 32 << 10, "{stopped:#}");
    assert_eq!(stopped["socket"]["server"]["send_window"], 0);
    assert_eq!(reading["verdict"], "alive", "{reading:#}");
    assert!(reading["reasons"].as_array().unwrap().is_empty());
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let cases: [&[&str]; 3] = [
        &["sockets", "--netns", "wk-no-such-namespace", "--count", "1"],
        &["sockets", "--count", "0"],
        &["sockets", "--port", "0"],
    ];
    for args in cases {
        let out = wspulse(args, Duration::from_secs(5));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}
