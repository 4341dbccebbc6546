//! `wspulse live` end to end, with no privileges: captures piped in on
//! stdin (`-r -`), as `tcpdump -U -w - | wspulse live -r -` feeds it. Every
//! NDJSON record is validated against schema/live.schema.json, verdict
//! changes are checked against the samples' truth files, and stopping
//! (end of input, SIGINT, SIGTERM, --duration, --count) always ends with
//! the final report.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Serves the findings schema to the live schema's references, offline.
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

fn schema(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(common::repo().join("schema").join(name)).unwrap())
        .unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .with_retriever(Findings(schema("findings.schema.json")))
        .build(&schema("live.schema.json"))
        .expect("the live schema is valid and its references resolve")
}

fn errors(v: &jsonschema::Validator, record: &Value) -> Vec<String> {
    v.iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .arg("live")
        .args(args)
        .current_dir(common::repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wspulse live")
}

/// What a run printed: its records (each checked against the schema) and
/// stderr, and its exit status.
struct Run {
    records: Vec<Value>,
    stderr: String,
    code: Option<i32>,
}

impl Run {
    fn of(&self, kind: &str) -> Vec<&Value> {
        self.records.iter().filter(|r| r["type"] == kind).collect()
    }

    /// The verdict records about the connection from `client`.
    fn changes(&self, client: &str) -> Vec<&Value> {
        self.of("verdict")
            .into_iter()
            .filter(|r| common::addr(&r["connection"]["client"]) == client)
            .collect()
    }
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    let v = validator();
    let text = String::from_utf8(out.stdout).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for r in &records {
        let errs = errors(&v, r);
        assert!(errs.is_empty(), "{}\n{r}", errs.join("\n"));
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let (Some(first), Some(last)) = (records.first(), records.last()) {
        assert_eq!(first["type"], "header", "{stderr}");
        assert_eq!(first["schema"], "wspulse.live/1");
        assert_eq!(last["type"], "summary", "{stderr}");
    }
    Run {
        records,
        stderr,
        code: out.status.code(),
    }
}

/// `wspulse live -r - ARGS` fed `bytes` through a pipe, to the end.
fn live_stdin(bytes: &[u8], args: &[&str]) -> Run {
    let mut all = vec!["-r", "-"];
    all.extend(args);
    let mut child = spawn(&all);
    let mut stdin = child.stdin.take().unwrap();
    let bytes = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        // The reader may stop first (--count): a closed pipe is fine.
        let _ = stdin.write_all(&bytes);
    });
    let run = finish(child);
    writer.join().unwrap();
    run
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(common::repo().join("samples").join(name)).unwrap()
}

/// Every sample replayed through a pipe: each connection's verdict changes
/// lead to the truth's verdict with reasons from the truth (code and
/// side); a connection that stays alive never gets a record; the final
/// `connection` records give the truth's verdicts.
#[test]
fn replayed_samples_change_verdict_as_their_truth_says() {
    let mut names: Vec<String> = std::fs::read_dir(common::repo().join("samples"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".truth.json").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 18, "{names:?}");
    for name in &names {
        let name = name.as_str();
        let truth = common::truth(name);
        let args = common::sample_flags(&truth);
        let run = live_stdin(
            &sample(&common::sample_file(name, &truth)),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        assert!(!run.of("stats").is_empty(), "{name}: no stats record");
        let conns = run.of("connection");
        for expected in truth["connections"].as_array().unwrap() {
            let client = common::addr(&expected["client"]);
            let label = format!("{name} {client}");
            let verdict = expected["expected_verdict"].as_str().unwrap();
            let wanted = common::codes(&expected["expected_reasons"]);
            let changes = run.changes(&client);
            if verdict == "alive" && name != "stall-recovers" {
                assert!(changes.is_empty(), "{label}: left alive: {changes:?}");
            }
            let mut from = "alive";
            for c in &changes {
                assert_eq!(c["from"], from, "{label}: changes follow each other");
                from = c["to"].as_str().unwrap();
                if c["to"] == verdict && matches!(verdict, "false_alive" | "suspect") {
                    let got = common::codes(&c["reasons"]);
                    assert!(!got.is_empty(), "{label}: a change with no reason");
                    assert!(
                        got.iter().all(|r| wanted.contains(r)),
                        "{label}: {got:?} not among {wanted:?}"
                    );
                }
            }
            assert_eq!(from, verdict, "{label}: last change");
            let last = conns
                .iter()
                .find(|c| common::addr(&c["client"]) == client)
                .unwrap_or_else(|| panic!("{label}: no connection record"));
            assert_eq!(last["verdict"], verdict, "{label}: {}", last["reasons"]);
            assert_eq!(common::codes(&last["reasons"]), wanted, "{label}");
        }
        let summary = run.of("summary")[0];
        assert_eq!(
            summary["summary"]["connections"].as_u64().unwrap() as usize,
            truth["connections"].as_array().unwrap().len(),
            "{name}"
        );
    }
}

/// A stall that recovers is two changes: to false_alive when it is seen,
/// back to alive when the peer catches up.
#[test]
fn a_stall_that_recovers_goes_and_comes_back() {
    let run = live_stdin(&sample("stall-recovers.pcap"), &[]);
    let tos: Vec<&str> = run
        .of("verdict")
        .iter()
        .map(|r| r["to"].as_str().unwrap())
        .collect();
    assert!(tos.len() >= 2, "{tos:?}");
    assert_eq!(tos.last(), Some(&"alive"), "{tos:?}");
    assert!(tos.contains(&"false_alive"), "{tos:?}");
}

/// The verdict changes at the tick that first sees it, on the capture's
/// own clock: the blackhole's Ping is due 4 s after it was sent
/// (16:27:04.43 + 4.01 s), so the tick of 16:27:09 reports it.
#[test]
fn a_change_is_reported_at_the_first_tick_past_it() {
    let run = live_stdin(&sample("blackhole-peer.pcap"), &[]);
    let first = run.changes("10.77.0.2:52532")[0];
    assert_eq!(first["at"], "2026-11-24T16:27:09.000000Z");
    assert_eq!(first["to"], "false_alive");
    assert_eq!(
        common::codes(&first["reasons"]),
        [("ping_unanswered".to_string(), "client".to_string())]
    );
    // A finer interval sees it sooner.
    let run = live_stdin(&sample("blackhole-peer.pcap"), &["--interval", "250ms"]);
    assert_eq!(
        run.changes("10.77.0.2:52532")[0]["at"],
        "2026-11-24T16:27:08.500000Z"
    );
    let stats = run.of("stats");
    let times: Vec<&str> = stats.iter().map(|s| s["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let last = stats.last().unwrap();
    assert_eq!(last["packets"], 63);
    assert_eq!(last["connections_open"], 1);
    assert!(
        last["capture"].is_null(),
        "no libpcap counters for a stream"
    );
}

/// The packets of a little-endian µs pcap (header and records) up to
/// `until_s` seconds (UTC) of capture time.
fn pcap_until(pcap: &[u8], until_s: u32, until_us: u32) -> Vec<u8> {
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let sec = u32::from_le_bytes(pcap[off..off + 4].try_into().unwrap());
        let usec = u32::from_le_bytes(pcap[off + 4..off + 8].try_into().unwrap());
        if (sec, usec) > (until_s, until_us) {
            break;
        }
        let caplen = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + caplen;
    }
    pcap[..off].to_vec()
}

/// 2026-11-24T16:29:58Z, two seconds after the client's Close in
/// close-unanswered (the server never answers it).
const AFTER_CLOSE: u32 = 1_795_537_798;

/// Reads stdout lines on a thread, so a test can wait for one with a
/// deadline while the pipe into wspulse stays open.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first record of type `kind` within `within`, the ones before it
/// skipped.
fn wait_for(rx: &mpsc::Receiver<String>, within: Duration, kind: &str) -> Value {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no {kind} record within {within:?} ({e}); saw {seen:?}"));
        let record: Value = serde_json::from_str(&line).unwrap();
        if record["type"] == kind {
            return record;
        }
        seen.push(record["type"].to_string());
    }
}

/// Silence is judged while it lasts: the input stops two seconds after
/// the client's Close, the pipe stays open, and the wall clock carries the
/// capture clock to the close timeout: the change comes before any end of
/// input.
#[test]
fn the_wall_clock_moves_now_while_no_packet_comes() {
    let head = pcap_until(&sample("close-unanswered.pcap"), AFTER_CLOSE, 0);
    let mut child = spawn(&["-r", "-"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&head).unwrap();
    stdin.flush().unwrap();
    let rx = lines(&mut child);
    let fed = Instant::now();
    let change = wait_for(&rx, Duration::from_secs(20), "verdict");
    let waited = fed.elapsed();
    assert_eq!(change["to"], "false_alive", "{change}");
    assert_eq!(
        common::codes(&change["reasons"]),
        [("close_handshake_incomplete".into(), "server".into())]
    );
    // Due at 16:30:01.16, three seconds of silence after the last packet.
    assert_eq!(change["at"], "2026-11-24T16:30:02.000000Z");
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    // Still running: the end of input ends it, with the report.
    assert!(child.try_wait().unwrap().is_none());
    drop(stdin);
    let summary = wait_for(&rx, Duration::from_secs(10), "summary");
    assert_eq!(summary["summary"]["verdicts"]["false_alive"], 1);
    assert!(child.wait().unwrap().success());
}

/// SIGINT and SIGTERM stop the capture: one more judgement, the
/// connections still open, the summary, exit 0.
#[test]
fn a_signal_stops_it_with_the_final_report() {
    for signal in ["-INT", "-TERM"] {
        let head = pcap_until(&sample("healthy-pings.pcap"), 1_795_537_575, 0);
        let mut child = spawn(&["-r", "-"]);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&head).unwrap();
        let rx = lines(&mut child);
        // The stats of 16:26:10: packets are being judged.
        wait_for(&rx, Duration::from_secs(10), "stats");
        let kill = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let conn = wait_for(&rx, Duration::from_secs(10), "connection");
        assert_eq!(conn["retired"], Value::Null, "still open when stopped");
        assert_eq!(conn["verdict"], "alive");
        wait_for(&rx, Duration::from_secs(10), "summary");
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{signal}");
        drop(stdin);
    }
}

/// --duration stops it by the wall clock, though the pipe stays open;
/// --count after that many packets.
#[test]
fn duration_and_count_stop_it() {
    let head = pcap_until(&sample("healthy-pings.pcap"), 1_795_537_575, 0);
    let mut child = spawn(&["-r", "-", "--duration", "1500ms"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&head).unwrap();
    let started = Instant::now();
    let rx = lines(&mut child);
    let summary = wait_for(&rx, Duration::from_secs(15), "summary");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(summary["summary"]["verdicts"]["alive"], 1);
    assert!(child.wait().unwrap().success());
    drop(stdin);

    let run = live_stdin(&sample("blackhole-peer.pcap"), &["--count", "10"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.of("summary")[0];
    assert_eq!(summary["capture"]["packets"], 10);
    assert_eq!(run.of("stats").last().unwrap()["packets"], 10);
}

/// `--fail-on` fails the run when a connection reached that verdict.
#[test]
fn fail_on_sets_the_exit_status() {
    let run = live_stdin(
        &sample("blackhole-peer.pcap"),
        &["--fail-on", "false_alive"],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let run = live_stdin(&sample("healthy-pings.pcap"), &["--fail-on", "suspect"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// `-o FILE` appends: what was in the file stays, each run adds its own
/// records.
#[test]
fn output_file_is_appended_to() {
    let path = std::env::temp_dir().join(format!("wl-append-{}.ndjson", std::process::id()));
    std::fs::write(&path, "{\"type\":\"earlier\"}\n").unwrap();
    for _ in 0..2 {
        let run = live_stdin(&sample("rst-abort.pcap"), &["-o", path.to_str().unwrap()]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(run.records.is_empty(), "records go to the file, not stdout");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let types: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(types[0], "\"earlier\"");
    assert_eq!(types.iter().filter(|t| *t == "\"header\"").count(), 2);
    assert_eq!(types.iter().filter(|t| *t == "\"summary\"").count(), 2);
}

/// What is not a capture, or an empty pipe, is a one-line error.
#[test]
fn bad_input_is_a_clear_error() {
    let run = live_stdin(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &[]);
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr.trim(),
        "wspulse: <stdin>: not a pcap or pcapng file"
    );
    let run = live_stdin(b"", &[]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

/// The schema catches a record that breaks the contract.
#[test]
fn the_live_schema_rejects_a_broken_record() {
    let v = validator();
    let run = live_stdin(&sample("blackhole-peer.pcap"), &[]);
    let change = run.of("verdict")[0].clone();
    assert!(errors(&v, &change).is_empty());
    let mut bad = change.clone();
    bad["to"] = Value::from("dead");
    assert!(!errors(&v, &bad).is_empty(), "an unknown verdict must fail");
    let mut bad = change.clone();
    bad["reasons"][0]["code"] = Value::from("bad_vibes");
    assert!(!errors(&v, &bad).is_empty(), "an unknown reason must fail");
    let mut stats = run.of("stats")[0].clone();
    stats.as_object_mut().unwrap().remove("packets");
    assert!(!errors(&v, &stats).is_empty(), "a missing field must fail");
    let mut conn = run.of("connection")[0].clone();
    conn.as_object_mut().unwrap().remove("frames");
    assert!(
        !errors(&v, &conn).is_empty(),
        "findings' contract holds too"
    );
}

#[cfg(feature = "live")]
#[test]
fn an_unknown_interface_is_a_one_line_error() {
    let out = common::wspulse(&["live", "-i", "wl-nosuchiface0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "wspulse: wl-nosuchiface0: no such interface (wspulse live --list-interfaces lists them)"
    );
}

/// Without CAP_NET_RAW, the message says how to grant it. Run as root
/// with the capabilities dropped (skipped where capsh is missing or we are
/// not root).
#[cfg(feature = "live")]
#[test]
fn without_capture_rights_the_message_gives_the_setcap_line() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n");
    let capsh = Command::new("capsh").arg("--help").output().is_ok();
    if !(root.unwrap_or(false) && capsh) {
        eprintln!("skipped: needs root and capsh to drop CAP_NET_RAW");
        return;
    }
    let out = Command::new("capsh")
        .args([
            "--drop=cap_net_raw,cap_net_admin",
            "--",
            "-c",
            &format!("{} live -i lo --duration 1s", env!("CARGO_BIN_EXE_wspulse")),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{stderr}"
    );
}

/// `-r FILE` follows a capture file as it is written (tcpdump -w FILE):
/// what is appended is judged as it comes; Ctrl-C ends it.
#[test]
fn a_file_being_written_is_followed() {
    let pcap = sample("close-unanswered.pcap");
    let head = pcap_until(&pcap, AFTER_CLOSE - 5, 0);
    let path = std::env::temp_dir().join(format!("wl-follow-{}.pcap", std::process::id()));
    std::fs::write(&path, &head).unwrap();
    let mut child = spawn(&["-r", path.to_str().unwrap()]);
    let rx = lines(&mut child);
    wait_for(&rx, Duration::from_secs(10), "header");
    // The rest arrives while wspulse waits at the end of the file.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&pcap[head.len()..]).unwrap();
    let change = wait_for(&rx, Duration::from_secs(10), "verdict");
    assert_eq!(
        common::codes(&change["reasons"]),
        [("close_handshake_incomplete".into(), "server".into())]
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let summary = wait_for(&rx, Duration::from_secs(10), "summary");
    assert_eq!(
        summary["capture"]["packets"].as_u64(),
        Some(count_packets(&pcap))
    );
    assert!(child.wait().unwrap().success());
    std::fs::remove_file(&path).unwrap();
}

fn count_packets(pcap: &[u8]) -> u64 {
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= pcap.len() {
        off += 16 + u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        n += 1;
    }
    n
}

/// On a terminal: the view on the alternate screen while running, then,
/// the terminal given back, analyze's table. Run under script(1) for a
/// terminal (skipped where it is missing).
#[test]
fn on_a_terminal_a_view_then_the_final_table() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: needs script(1) for a terminal");
        return;
    }
    let cmd = format!(
        "{} live -r samples/blackhole-peer.pcap --duration 1500ms --color never",
        env!("CARGO_BIN_EXE_wspulse")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(common::repo())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let (view, report) = text
        .split_once("\x1b[?1049l")
        .expect("the alternate screen is left");
    assert!(
        view.contains("\x1b[?1049h"),
        "the view uses the alternate screen"
    );
    assert!(
        view.contains("wspulse live · samples/blackhole-peer.pcap"),
        "{view}"
    );
    assert!(
        view.contains("alive → false_alive"),
        "recent changes: {view}"
    );
    assert!(report.contains("false_alive"), "{report}");
    assert!(report.contains("peer_unreachable (client)"), "{report}");
    assert!(
        report.contains("1 WebSocket connection: 1 false_alive"),
        "{report}"
    );
}

/// `--format json` is analyze's findings document, valid against its
/// schema, whatever happened during the run.
#[test]
fn json_is_the_findings_document() {
    let mut child = spawn(&["-r", "-", "--format", "json"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sample("mixed-fates.pcap")).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema("findings.schema.json"))
        .unwrap();
    let errs = errors(&v, &doc);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    assert_eq!(doc["connections"].as_array().unwrap().len(), 6);
    assert_eq!(doc["capture"]["evaluation_basis"], "capture_clock");
}

/// `-r -` with nothing piped in (stdin a terminal) says what to do.
#[test]
fn stdin_from_a_terminal_is_refused_with_an_example() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: needs script(1) for a terminal");
        return;
    }
    let cmd = format!("{} live -r -", env!("CARGO_BIN_EXE_wspulse"));
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stdin is a terminal"), "{text}");
    assert!(text.contains("tcpdump -i eth0 -U -w -"), "{text}");
}

/// Regression: stats the wall clock ticked while the stream had begun
/// but no packet had come (a replay's capture clock is days behind) were
/// taken for the final one, which then said 0 packets.
#[test]
fn the_last_stats_record_counts_every_packet_after_an_early_wall_tick() {
    let pcap = sample("blackhole-peer.pcap");
    // The first 3 packets (the TCP handshake) span less than 100 ms.
    let args = [
        "-r",
        "-",
        "--interval",
        "1ms",
        "--stats-interval",
        "100ms",
        "--count",
        "3",
    ];
    let mut child = spawn(&args);
    let mut stdin = child.stdin.take().unwrap();
    // The file header, then packets only after the wall clock ticked.
    stdin.write_all(&pcap[..24]).unwrap();
    stdin.flush().unwrap();
    let rx = lines(&mut child);
    let early = wait_for(&rx, Duration::from_secs(10), "stats");
    assert_eq!(early["packets"], 0);
    stdin.write_all(&pcap[24..]).unwrap();
    drop(stdin);
    let mut last = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        let r: Value = serde_json::from_str(&line).unwrap();
        if r["type"] == "stats" {
            last = Some(r);
        }
    }
    let last = last.expect("a stats record after the packets");
    assert_eq!(last["packets"], 3, "{last}");
    assert!(
        last["at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-24T16:26:54"),
        "{last}"
    );
    assert!(child.wait().unwrap().success());
}
