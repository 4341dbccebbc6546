//! Inputs wspulse once got wrong, each standing for a kind of fault, with
//! the right answer (tests/data/cases/, from shared/cases/README.md).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const CASES: &str = "tests/data/cases";

fn findings(args: &[&str]) -> Value {
    let mut all = vec!["analyze", "--format", "json"];
    all.extend_from_slice(args);
    common::json(&all)
}

fn only(report: &Value) -> &Value {
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{report:#}");
    &conns[0]
}

fn pair(code: &str, side: &str) -> (String, String) {
    (code.to_string(), side.to_string())
}

/// Kind: obligations still open when the evidence stops. The pcapng
/// records that the capture ran 10.6 s past the unanswered Close.
#[test]
fn a_close_never_answered_is_judged_at_the_recorded_end() {
    let c = findings(&[&format!("{CASES}/close-never-answered/capture.pcapng")]);
    let conn = only(&c);
    assert_eq!(conn["verdict"], "false_alive", "{conn:#}");
    assert_eq!(
        common::codes(&conn["reasons"]),
        vec![pair("close_handshake_incomplete", "server")]
    );
    assert_eq!(c["capture"]["evaluation_basis"], "recorded_end");
}

/// Without an end record, the Close is owed but not yet due: pending.
#[test]
fn a_close_not_yet_due_is_pending() {
    let c = findings(&[&format!("{CASES}/close-never-answered/capture.pcap")]);
    let conn = only(&c);
    assert_eq!(conn["verdict"], "alive");
    assert_eq!(
        common::codes(&conn["pending"]),
        vec![pair("close_handshake_incomplete", "server")]
    );
    let due = conn["pending"][0]["due_in_s"].as_f64().unwrap();
    assert!((4.0..5.0).contains(&due), "due in {due}s");
}

/// Rewrites a classic pcap's timestamps so its last packet is `ago_s`
/// seconds before now: a capture "being written".
fn shifted_to_now(pcap: &[u8], ago_s: u32) -> Vec<u8> {
    let mut out = pcap.to_vec();
    assert_eq!(
        &out[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut offsets = Vec::new();
    let mut off = 24;
    while off + 16 <= out.len() {
        offsets.push(off);
        let caplen = u32::from_le_bytes(out[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + caplen;
    }
    let last = offsets
        .iter()
        .map(|&o| u32::from_le_bytes(out[o..o + 4].try_into().unwrap()))
        .max()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let shift = now - ago_s - last;
    for o in offsets {
        let ts = u32::from_le_bytes(out[o..o + 4].try_into().unwrap());
        out[o..o + 4].copy_from_slice(&(ts + shift).to_le_bytes());
    }
    out
}

/// Kind: charging a side for silence while it cannot send. The client's
/// own window was closed most of the time; the server's Pongs waited
/// behind data the client was slow to accept.
#[test]
fn pongs_behind_a_slow_reader_blame_the_reader() {
    for at in ["7.9", "12.9", "17.6"] {
        let c = findings(&[
            "--at",
            at,
            &format!("{CASES}/pong-behind-slow-reader/capture.pcap"),
        ]);
        let conn = only(&c);
        assert_eq!(conn["verdict"], "suspect", "--at {at}: {conn:#}");
        assert_eq!(
            common::codes(&conn["reasons"]),
            vec![pair("slow_reader", "client")],
            "--at {at}"
        );
    }
}

/// Kind: thresholds learned from too little evidence (a burst of two Pings
/// in one segment is not a 0 s heartbeat).
#[test]
fn two_pings_in_one_segment_make_no_cadence() {
    let c = findings(&[&format!(
        "{CASES}/two-pings-one-segment/c4d_two_pings_one_segment.pcap"
    )]);
    let conn = only(&c);
    assert_eq!(conn["verdict"], "alive", "{conn:#}");
    assert!(conn["reasons"].as_array().unwrap().is_empty());
}

/// Kind: a capture clock that steps back. Counted and reported with its
/// frame; no reason rests on the step.
#[test]
fn a_clock_step_back_is_reported_not_judged() {
    let out = common::wspulse(&[
        "analyze",
        "--format",
        "json",
        &format!("{CASES}/clock-step-back/c7a_backwards_3h.pcap"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("backwards"), "stderr: {stderr}");
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let conn = only(&c);
    assert_eq!(conn["verdict"], "alive", "{conn:#}");
    let gap = conn["messages"]["server"]["last_frame"].as_str().unwrap();
    assert!(gap.starts_with("2023-"), "re-based time: {gap}");
}

/// Kind: bytes the capture cut are not the peer's silence. Every Pong's
/// header was captured; only the last payload bytes were cut by snaplen.
#[test]
fn pongs_cut_by_snaplen_still_answer() {
    let c = findings(&[
        "--ws-port",
        "8080",
        &format!("{CASES}/snaplen-cut-pongs/c6b_snaplen_cut.pcap"),
    ]);
    let conn = only(&c);
    assert_eq!(conn["verdict"], "alive", "{conn:#}");
    let pongs = conn["frames"]["client"]["pong"].as_u64().unwrap()
        + conn["frames"]["server"]["pong"].as_u64().unwrap();
    assert!(pongs >= 3, "{:#}", conn["frames"]);
}

/// Kind: a limit hit silently. The table's summary and stderr say how many
/// connections were not tracked, and why.
#[test]
fn capped_flows_are_reported_on_stderr_and_in_the_summary() {
    let out = common::wspulse(&[
        "analyze",
        "--max-flows",
        "10",
        &format!("{CASES}/capped-flows-silent/capped_2000ws.pcap"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("not tracked"), "{stdout}");
    assert!(stdout.contains("--max-flows 10"), "{stdout}");
    assert!(stderr.contains("not tracked"), "{stderr}");
    let c = findings(&[
        "--max-flows",
        "10",
        &format!("{CASES}/capped-flows-silent/capped_2000ws.pcap"),
    ]);
    // Each connection counted once, not each of its packets.
    assert_eq!(c["capture"]["flow_table"]["flows_refused"], 1990);
}

/// Kind: untrusted times that would wrap. Refused with a clear error.
#[test]
fn an_instant_the_clock_cannot_hold_is_refused() {
    let out = common::wspulse(&[
        "analyze",
        "--format",
        "json",
        "--at",
        "2300-01-01T00:00:00Z",
        &format!("{CASES}/at-far-future/c6_ref.pcap"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2300"), "{stderr}");
}

/// Kind: secrets from the wire in the findings. The JSON held a query
/// token, a bearer token in the subprotocol, Origin user info, Ping and
/// Pong payloads and Close reason text.
#[test]
fn secrets_in_the_handshake_stay_out_of_the_findings() {
    let capture = format!("{CASES}/secrets-in-handshake/c10_secrets.pcap");
    for format in ["json", "ndjson", "table"] {
        let out = common::wspulse(&["analyze", "--format", format, &capture]);
        let text = String::from_utf8_lossy(&out.stdout);
        for secret in ["QUERYSECRET", "PROTOSECRET", "ORIGINPASS", "CLOSESECRET"] {
            assert!(!text.contains(secret), "{secret} in {format}");
        }
        let hex_ping: String = b"PINGSECRET".iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&hex_ping), "Ping payload in {format}");
    }
    let shown = common::wspulse(&["analyze", "--format", "json", "--show-secrets", &capture]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("QUERYSECRET"));
}

/// A connection idle past --flow-timeout by the end is retired idle, judged
/// at its last packet plus the timeout, whether or not packets followed.
#[test]
fn idle_past_the_flow_timeout_at_the_end_is_retired_idle() {
    let c = findings(&[
        "--flow-timeout",
        "3s",
        &format!("{CASES}/close-never-answered/capture.pcapng"),
    ]);
    let conn = only(&c);
    assert_eq!(conn["retired"], "idle", "{conn:#}");
    assert_eq!(c["capture"]["flow_table"]["idle_evictions"], 1);
}

fn case_bytes(path: &str) -> Vec<u8> {
    std::fs::read(common::repo().join(CASES).join(path)).unwrap()
}

/// `analyze --format json -` fed `bytes` on stdin. With `interrupt`, a
/// SIGINT (a terminal's Ctrl-C) arrives while the pipe is still open, and
/// the pipe closes after it, as when tcpdump is interrupted too.
fn analyze_stdin(bytes: &[u8], interrupt: bool) -> (Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(bytes).unwrap();
    if interrupt {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// A capture piped in while it is written is judged at the wall clock
/// when the input ends, not at its last packet.
#[test]
fn a_stream_on_stdin_is_judged_at_the_wall_clock() {
    let live = shifted_to_now(&case_bytes("close-never-answered/capture.pcap"), 8);
    let (c, _) = analyze_stdin(&live, false);
    assert_eq!(c["capture"]["evaluation_basis"], "wall_clock");
    let conn = only(&c);
    assert_eq!(conn["verdict"], "false_alive", "{conn:#}");
    assert_eq!(
        common::codes(&conn["reasons"]),
        vec![pair("close_handshake_incomplete", "server")]
    );
}

/// Kind: obligations still open when the evidence stops, when the user
/// stops the capture with Ctrl-C: the first SIGINT does not kill wspulse;
/// the input then ends and the report is judged at the wall clock.
#[test]
fn ctrl_c_on_a_stream_still_gives_the_report() {
    let live = shifted_to_now(&case_bytes("close-never-answered/capture.pcap"), 8);
    let (c, stderr) = analyze_stdin(&live, true);
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(c["capture"]["evaluation_basis"], "wall_clock");
    assert_eq!(only(&c)["verdict"], "false_alive");
}

/// The same bytes give the same verdict from a file or from stdin: a
/// pcapng's recorded end holds either way.
#[test]
fn a_recorded_end_holds_on_stdin_too() {
    let (c, _) = analyze_stdin(&case_bytes("close-never-answered/capture.pcapng"), false);
    assert_eq!(c["capture"]["evaluation_basis"], "recorded_end");
    assert_eq!(only(&c)["verdict"], "false_alive");
}
