//! The table for incidents, `explain`, and the generated completions and
//! man pages, as a user meets them.

mod common;

use std::process::{Command, Output};

use common::repo;

/// Runs wspulse with `COLUMNS`/`LINES` set as a terminal would have them.
fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wspulse"));
    cmd.args(args).current_dir(repo());
    cmd.env_remove("COLUMNS").env_remove("LINES");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run wspulse")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_table_fits_an_80_column_terminal() {
    let out = run(
        &[("COLUMNS", "80")],
        &["analyze", "samples/mixed-fates.pcap"],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} wide: {line}",
            line.chars().count()
        );
    }
    assert!(text.contains("left out"), "says what it dropped: {text}");
    assert!(text.contains("zero_window_stall"), "reasons stay: {text}");
    let wide = stdout(&run(
        &[("COLUMNS", "250")],
        &["analyze", "samples/mixed-fates.pcap"],
    ));
    assert!(
        wide.contains("pong p50/max") && !wide.contains("left out"),
        "{wide}"
    );
}

#[test]
fn past_a_screenful_alive_rows_are_counted_not_listed() {
    let args = ["analyze", "samples/mixed-fates.pcap"];
    let short = stdout(&run(&[("LINES", "10")], &args));
    assert!(short.contains("1 alive not listed"), "{short}");
    assert!(!short.contains("40001"), "the alive connection: {short}");
    let all = stdout(&run(&[("LINES", "10")], &["analyze", "--all", args[1]]));
    assert!(
        all.contains("40001") && !all.contains("not listed"),
        "{all}"
    );
    let only = stdout(&run(&[], &["analyze", "--verdict", "aborted", args[1]]));
    assert!(only.contains("40003") && !only.contains("40004"), "{only}");
    assert!(
        only.contains("6 WebSocket connections"),
        "summary counts all: {only}"
    );
}

#[test]
fn explain_tells_the_reason_its_start_frames_and_filter() {
    let out = run(&[], &["explain", "1", "samples/blackhole-peer.pcap"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    // What the JSON says of the same connection.
    let json = common::json(&["analyze", "--format", "json", "samples/blackhole-peer.pcap"]);
    let c = &json["connections"][0];
    let reason = c["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "peer_unreachable")
        .expect("the sample's reason");
    let since = reason["since"].as_str().unwrap();
    assert!(
        text.contains(since) && text.contains("reason peer_unreachable (client) began"),
        "{text}"
    );
    let frames: Vec<String> = reason["evidence"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["frame"].to_string())
        .collect();
    assert!(!frames.is_empty());
    assert!(
        text.contains(&format!("frame.number in {{{}}}", frames.join(", "))),
        "{text}"
    );
    assert!(
        text.contains(c["wireshark_filter"].as_str().unwrap()),
        "{text}"
    );
    assert!(text.contains("Verdict: false_alive"), "{text}");
    assert!(text.contains("GET / "), "the handshake: {text}");

    let flag = run(
        &[],
        &["analyze", "--explain", "1", "samples/blackhole-peer.pcap"],
    );
    assert_eq!(stdout(&flag), text, "--explain says the same");
    let missing = run(&[], &["explain", "7", "samples/blackhole-peer.pcap"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no WebSocket connection #7"));
}

#[test]
fn completions_man_pages_and_version_come_from_the_definitions() {
    let bash = stdout(&run(&[], &["completions", "bash"]));
    assert!(
        bash.contains("--fail-on") && bash.contains("explain"),
        "{bash}"
    );
    let man = stdout(&run(&[], &["man", "analyze"]));
    assert!(
        man.contains(".TH wspulse-analyze 1") && man.contains("fail\\-on"),
        "{man}"
    );
    assert_eq!(run(&[], &["man", "nope"]).status.code(), Some(2));
    let version = stdout(&run(&[], &["--version"]));
    let live = if cfg!(feature = "live") {
        "+live"
    } else {
        "-live"
    };
    assert!(version.contains(live), "{version}");
}

#[test]
fn ndjson_header_names_files_evaluation_time_and_thresholds() {
    let out = run(
        &[],
        &[
            "analyze",
            "--format",
            "ndjson",
            "--at",
            "2026-11-24T16:27:10Z",
            "samples/blackhole-peer.pcap",
        ],
    );
    let first = stdout(&out);
    let header: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(header["type"], "header");
    assert_eq!(header["inputs"][0]["index"], 0);
    assert_eq!(header["evaluation_time"], "2026-11-24T16:27:10.000000Z");
    assert_eq!(header["thresholds"]["idle_s"], 15.0);
    assert!(header["warnings"].is_array());
}

#[test]
fn fail_on_lists_match_exact_verdicts() {
    let code = |list: &str| {
        run(
            &[],
            &["analyze", "--fail-on", list, "samples/blackhole-peer.pcap"],
        )
        .status
        .code()
    };
    // The capture's one connection is false_alive.
    assert_eq!(
        code("suspect"),
        Some(1),
        "suspect alone includes false_alive"
    );
    assert_eq!(code("suspect,aborted"), Some(0), "a list is exact");
    assert_eq!(code("aborted,false_alive"), Some(1));
}

/// `--port`/`--host` choose what is reported, not how connections are
/// counted: each connection keeps the id the whole capture gives it, so
/// `explain 6 --port 40006` and the table's `#` name the same connection
/// as an unfiltered run.
#[test]
fn ids_stay_those_of_the_whole_capture_under_port_and_host() {
    let ids = |extra: &[&str]| -> Vec<(u64, u64)> {
        let mut args = vec!["analyze", "--format", "json", "samples/mixed-fates.pcap"];
        args.extend_from_slice(extra);
        let doc: serde_json::Value = serde_json::from_slice(&run(&[], &args).stdout).unwrap();
        doc["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_u64().unwrap(),
                    c["client"]["port"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let all = ids(&[]);
    assert_eq!(all.len(), 6, "{all:?}");
    for &(id, port) in &all {
        let p = port.to_string();
        assert_eq!(ids(&["--port", &p]), vec![(id, port)], "--port {p}");
    }
    // A host prefix that takes every connection changes nothing.
    assert_eq!(ids(&["--host", "10.77.0.0/24"]), all);
    let explained = run(
        &[],
        &[
            "explain",
            &all[5].0.to_string(),
            "samples/mixed-fates.pcap",
            "--port",
            &all[5].1.to_string(),
        ],
    );
    assert!(explained.status.success(), "{explained:?}");
    assert!(
        stdout(&explained).contains(&format!(":{}", all[5].1)),
        "{}",
        stdout(&explained)
    );
}
