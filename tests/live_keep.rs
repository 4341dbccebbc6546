//! What `wspulse live` keeps and serves beside its records: `--write`
//! saves the captured packets and the findings cite the saved frames;
//! `--extract` saves the connections that left `alive`, one file each;
//! `--metrics` serves the counts as Prometheus text; `--user` drops root.
//! All fed through a pipe (`-r -`), so no capture rights are needed.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(common::repo().join("samples").join(name)).unwrap()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .arg("live")
        .args(["-r", "-", "--format", "ndjson"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wspulse live")
}

/// `wspulse live -r - ARGS` fed `bytes`, to the end.
fn run(bytes: &[u8], args: &[&str]) -> Output {
    let mut child = spawn(args);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(bytes);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("wl-keep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Every frame reference in `v`, as (file, frame).
fn frames(v: &Value, out: &mut Vec<(u64, u64)>) {
    match v {
        Value::Object(m) => {
            if let (Some(f), Some(n)) = (m.get("file"), m.get("frame")) {
                if let (Some(f), Some(n)) = (f.as_u64(), n.as_u64()) {
                    out.push((f, n));
                }
            }
            m.values().for_each(|x| frames(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| frames(x, out)),
        _ => {}
    }
}

/// The saved file holds every packet, the findings' frames are its
/// frames (the Upgrade request is where tshark finds it), and analyze on
/// the saved file reaches the same verdict.
#[test]
fn write_saves_what_was_captured_and_findings_cite_the_saved_frames() {
    let saved = scratch("saved.pcap");
    let out = run(
        &sample("blackhole-peer.pcap"),
        &["--write", saved.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("saved in"), "{stderr}");
    let recs = records(&out);
    assert_eq!(recs[0]["inputs"][0]["path"], saved.to_str().unwrap());
    let conn = recs.iter().find(|r| r["type"] == "connection").unwrap();
    assert_eq!(conn["verdict"], "false_alive");
    let request = &conn["handshake"]["request_frame"];
    assert_eq!(request["file"], 0);
    // tshark on the saved file: the cited frame is the Upgrade request.
    let tshark = Command::new("tshark")
        .arg("-r")
        .arg(&saved)
        .args(["-Y", "http.request", "-T", "fields", "-e", "frame.number"])
        .output();
    if let Some(t) = tshark.ok().filter(|t| t.status.success()) {
        let number = String::from_utf8_lossy(&t.stdout).trim().to_string();
        assert_eq!(number, request["frame"].to_string());
    }
    let mut cited = Vec::new();
    recs.iter().for_each(|r| frames(r, &mut cited));
    let saved_count = common::json(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        saved.to_str().unwrap(),
    ])["capture"]["packets"]
        .as_u64();
    assert_eq!(saved_count, Some(63));
    assert!(
        cited.iter().all(|&(f, n)| f == 0 && (1..=63).contains(&n)),
        "{cited:?}"
    );
    let again = common::json(&["analyze", "--format", "json", saved.to_str().unwrap()]);
    assert_eq!(again["connections"][0]["verdict"], "false_alive");
    let _ = std::fs::remove_file(&saved);
}

/// A file that exists is refused before anything is captured, and left
/// as it was.
#[test]
fn write_never_overwrites_a_file() {
    let saved = scratch("exists.pcap");
    std::fs::write(&saved, b"keep me").unwrap();
    let out = run(
        &sample("blackhole-peer.pcap"),
        &["--write", saved.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exists"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read(&saved).unwrap(), b"keep me");
    let _ = std::fs::remove_file(&saved);
}

/// `live --extract`: each connection whose verdict left `alive` gets a
/// pcapng file of its own, holding its handshake and the packets before
/// and after its verdict (scrubbed), which `analyze` judges as the live
/// run did; a connection that stayed alive leaves none, and an existing
/// file is never overwritten.
#[test]
fn extract_saves_each_connection_that_left_alive() {
    let base = scratch("ev.pcapng");
    let stem = base.file_stem().unwrap().to_string_lossy().into_owned();
    let out = run(
        &sample("mixed-fates.pcap"),
        &["--extract", base.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let finals: Vec<Value> = records(&out)
        .into_iter()
        .filter(|r| r["type"] == "connection")
        .collect();
    assert_eq!(finals.len(), 6, "{stderr}");
    for c in &finals {
        let id = c["id"].as_u64().unwrap();
        let file = base.with_file_name(format!("{stem}-{id}.pcapng"));
        if c["verdict"] == "alive" {
            assert!(!file.exists(), "#{id} stayed alive: no file");
            continue;
        }
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        let again = common::wspulse(&[
            "analyze",
            "--format",
            "json",
            "--all",
            file.to_str().unwrap(),
        ]);
        let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
        let conns = doc["connections"].as_array().unwrap();
        assert_eq!(conns.len(), 1, "#{id}: one connection per file");
        let e = &conns[0];
        assert_eq!(e["client"], c["client"]);
        assert_eq!(e["verdict"], c["verdict"], "#{id}");
        // A connection with more packets before its verdict than are
        // held keeps its head and its latest ones: the extract says the
        // middle is missing (capture_loss), and nothing else changes.
        let mut got = common::codes(&e["reasons"]);
        if got.iter().any(|(code, _)| code == "capture_loss") {
            assert!(stderr.contains("earlier packets not kept"), "{stderr}");
            got.retain(|(code, _)| code != "capture_loss");
        }
        assert_eq!(got, common::codes(&c["reasons"]), "#{id}");
        let packets = doc["capture"]["packets"].as_u64().unwrap();
        if let Some(n) = common::tshark_frames(&file) {
            assert_eq!(n, packets, "#{id}: tshark reads every packet");
        }
        let _ = std::fs::remove_file(&file);
    }
    // A file of the same name is kept, and that connection not saved.
    let first = finals.iter().find(|c| c["verdict"] != "alive").unwrap();
    let taken = base.with_file_name(format!("{stem}-{}.pcapng", first["id"]));
    std::fs::write(&taken, b"keep me").unwrap();
    let out = run(
        &sample("mixed-fates.pcap"),
        &["--extract", base.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "1 more not saved (#{}: {} exists)",
            first["id"],
            taken.display()
        )),
        "{stderr}"
    );
    // A directory that is not there is said before anything is read.
    let out = run(
        &sample("mixed-fates.pcap"),
        &["--extract", "/nonexistent-dir/ev.pcapng"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        out.stdout.is_empty() && err.contains("no such directory"),
        "{err}"
    );
    assert_eq!(std::fs::read(&taken).unwrap(), b"keep me");
    for c in &finals {
        let _ = std::fs::remove_file(base.with_file_name(format!("{stem}-{}.pcapng", c["id"])));
    }
}

/// `live --redact`: no record, and no packet of an `--extract` file,
/// holds an address of the capture; the pseudonyms are the ones analyze
/// gives with the same key; `--write` (packets as captured) is refused.
#[test]
fn redact_hides_addresses_in_records_and_extract_files() {
    let base = scratch("red.pcapng");
    let stem = base.file_stem().unwrap().to_string_lossy().into_owned();
    let key = ["--redact", "--redact-key", "k"];
    let mut args = vec!["--extract", base.to_str().unwrap()];
    args.extend(key);
    let out = run(&sample("mixed-fates.pcap"), &args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("10.77.0."), "{text}");
    let mut args = vec!["analyze", "--format", "json", "samples/mixed-fates.pcap"];
    args.extend(key);
    let analyzed: Value = serde_json::from_slice(&common::wspulse(&args).stdout).unwrap();
    let pseudonym = analyzed["connections"][0]["server"]["ip"].as_str().unwrap();
    assert!(text.contains(pseudonym), "{text}");
    let mut files = 0;
    for c in records(&out).iter().filter(|r| r["type"] == "connection") {
        let file = base.with_file_name(format!("{stem}-{}.pcapng", c["id"]));
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        files += 1;
        for host in [[10u8, 77, 0, 1], [10, 77, 0, 2]] {
            assert!(!bytes.windows(4).any(|w| w == host), "{}", file.display());
        }
        // The request path goes too (analyze --redact --extract's rule).
        assert!(
            !bytes.windows(13).any(|w| w == b"push_interval"),
            "{}",
            file.display()
        );
        let _ = std::fs::remove_file(&file);
    }
    assert!(files > 0);
    let mut args = vec!["--write", "/tmp/never-written.pcap"];
    args.extend(key);
    let out = run(&sample("mixed-fates.pcap"), &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--write and --redact"));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text)
}

/// While the run goes on (the pipe still open), a scrape shows the
/// black-holed connection as false_alive with its reasons and sides.
#[test]
fn metrics_serve_verdicts_and_reasons_while_it_runs() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn(&["--metrics", &addr]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sample("blackhole-peer.pcap")).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    let found = loop {
        if let Some(text) = scrape(port) {
            if text.contains("wspulse_connections{verdict=\"false_alive\"} 1") {
                break Some(text);
            }
            last = text;
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = found.unwrap_or_else(|| {
        panic!(
            "no false_alive in the metrics: {last}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        text.contains("wspulse_reasons{code=\"peer_unreachable\",side=\"client\"} 1"),
        "{text}"
    );
    // The tick that saw the change came before the last packets.
    assert!(!text.contains("wspulse_packets_total 0\n"), "{text}");
    assert!(
        text.contains("wspulse_connections{verdict=\"alive\"} 0"),
        "{text}"
    );
    assert!(out.status.success());
}

/// A busy address is one line naming it, before anything is read.
#[test]
fn metrics_on_a_busy_address_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&sample("blackhole-peer.pcap"), &["--metrics", &addr]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// As root, --user nobody drops root and the run goes on; otherwise the
/// refusal says why.
#[test]
fn user_drops_root_or_says_why_not() {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let out = run(&sample("healthy-pings.pcap"), &["--user", "nobody"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if root {
        assert!(out.status.success(), "{stderr}");
        let recs = records(&out);
        assert_eq!(recs.last().unwrap()["type"], "summary");
    } else {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("root"), "{stderr}");
    }
}
