//! The command line as a user meets it: errors, exit codes, pipes, output
//! files, rotated captures.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo, wspulse};

const CAPTURE: &str = "tests/data/public/zeek/wstunnel-ssh.pcap";

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wspulse-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Splits a legacy pcap after `n` records into two valid files, as tcpdump
/// `-C` rotation would.
fn split_pcap(src: &Path, n: usize, a: &Path, b: &Path) {
    let bytes = std::fs::read(src).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap expected"
    );
    let (header, mut rest) = bytes.split_at(24);
    let mut first = header.to_vec();
    for _ in 0..n {
        let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        first.extend_from_slice(&rest[..16 + caplen]);
        rest = &rest[16 + caplen..];
    }
    let mut second = header.to_vec();
    second.extend_from_slice(rest);
    std::fs::write(a, first).unwrap();
    std::fs::write(b, second).unwrap();
}

#[test]
fn truncated_file_reports_what_came_before_and_exits_2() {
    let bytes = std::fs::read(repo().join(CAPTURE)).unwrap();
    let cut = tmp("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = wspulse(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        cut.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cut.pcap"), "{stderr}");
    assert!(
        stderr.contains("frame 84"),
        "names the first damaged frame: {stderr}"
    );
    assert!(stderr.contains("byte offset 22170"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("findings still printed");
    assert_eq!(report["capture"]["packets"], 83);
    assert_eq!(report["connections"].as_array().unwrap().len(), 2);
    assert!(report["capture"]["files"][0]["error"]
        .as_str()
        .unwrap()
        .contains("truncated"));
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let junk = tmp("junk.pcap");
    std::fs::write(&junk, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").unwrap();
    let out = wspulse(&["analyze", "--tcp", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.pcap: not a pcap or pcapng file"));
    assert!(out.stdout.is_empty());

    let out = wspulse(&["analyze", "--tcp", "does-not-exist.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.pcap: cannot open"));
}

#[test]
fn rotated_files_are_one_capture_with_per_file_frame_numbers() {
    let (a, b) = (tmp("rot-0.pcap"), tmp("rot-1.pcap"));
    split_pcap(&repo().join(CAPTURE), 100, &a, &b);
    let whole = common::tcp_view(&repo().join(CAPTURE));
    let parts = common::json(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(parts["capture"]["packets"], whole["capture"]["packets"]);
    assert_eq!(
        parts["connections"].as_array().unwrap().len(),
        whole["connections"].as_array().unwrap().len()
    );
    for (p, w) in parts["connections"]
        .as_array()
        .unwrap()
        .iter()
        .zip(whole["connections"].as_array().unwrap())
    {
        for side in ["client", "server"] {
            assert_eq!(
                p["tcp"][side]["payload_bytes"],
                w["tcp"][side]["payload_bytes"]
            );
            assert_eq!(
                p["tcp"][side]["retransmissions"],
                w["tcp"][side]["retransmissions"]
            );
        }
        assert_eq!(p["tcp"]["state"], w["tcp"]["state"]);
    }
    // A connection that ends in the second file cites that file's numbering.
    let ends_late =
        |c: &&serde_json::Value| c["tcp"]["last_frame"]["frame"].as_u64().unwrap() > 100;
    let whole_conn = whole["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(ends_late)
        .unwrap();
    let id = &whole_conn["id"];
    let part_conn = parts["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| &c["id"] == id)
        .unwrap();
    let whole_last = whole_conn["tcp"]["last_frame"]["frame"].as_u64().unwrap();
    assert_eq!(part_conn["tcp"]["last_frame"]["file"], 1);
    assert_eq!(
        part_conn["tcp"]["last_frame"]["frame"].as_u64().unwrap(),
        whole_last - 100
    );
}

#[test]
fn stdin_reads_the_same_as_a_file() {
    let file = std::fs::File::open(repo().join(CAPTURE)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(["analyze", "--tcp", "--format", "json", "-"])
        .stdin(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_file = common::tcp_view(&repo().join(CAPTURE));
    assert_eq!(from_stdin["connections"], from_file["connections"]);
}

#[test]
fn a_closed_stdout_is_a_normal_end() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(["analyze", "--tcp", "--format", "ndjson"])
        // 2,000 connections: more output than a pipe holds.
        .arg(repo().join("tests/data/cases/capped-flows-silent/capped_2000ws.pcap"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head` exiting at once
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn output_file_is_written_whole_and_never_over_an_input() {
    let target = tmp("report.json");
    let out = wspulse(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        "-o",
        target.to_str().unwrap(),
        CAPTURE,
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(report["schema"], "wspulse.tcp/1");

    let copy = tmp("input-copy.pcap");
    std::fs::copy(repo().join(CAPTURE), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let out = wspulse(&[
        "analyze",
        "--tcp",
        "-o",
        copy.to_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

#[test]
fn selectors_keep_only_matching_connections() {
    let all = common::tcp_view(
        &repo().join("tests/data/public/pcapplusplus/four_ipv6_http_streams.pcap"),
    );
    let n = all["connections"].as_array().unwrap().len();
    assert_eq!(n, 4);
    let port = all["connections"][0]["client"]["port"].to_string();
    let one = common::json(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        "--port",
        &port,
        "tests/data/public/pcapplusplus/four_ipv6_http_streams.pcap",
    ]);
    assert_eq!(one["connections"].as_array().unwrap().len(), 1);
    assert!(one["capture"]["filtered_out"].as_u64().unwrap() > 0);
}

#[cfg(not(feature = "live"))]
#[test]
fn without_libpcap_filters_and_live_say_how_to_get_them() {
    let out = wspulse(&["analyze", "-f", "tcp port 80", CAPTURE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features live"));
    let out = wspulse(&["live", "-i", "lo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features live"));
}

#[cfg(feature = "live")]
#[test]
fn a_tcpdump_filter_applies_to_offline_packets() {
    let all = common::tcp_view(
        &repo().join("tests/data/public/pcapplusplus/four_ipv6_http_streams.pcap"),
    );
    let port = all["connections"][1]["client"]["port"].to_string();
    let expr = format!("tcp port {port}");
    let one = common::json(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        "-f",
        &expr,
        "tests/data/public/pcapplusplus/four_ipv6_http_streams.pcap",
    ]);
    assert_eq!(one["connections"].as_array().unwrap().len(), 1);
    assert_eq!(one["connections"][0]["client"]["port"].to_string(), port);
    let bad = wspulse(&["analyze", "-f", "tcp prot 80", CAPTURE]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tcp prot 80"));
}

/// Damaged input of every kind (flipped bytes in headers and payloads,
/// truncation anywhere) gives findings or a clear error, never a panic. The
/// test binary is built with overflow checks, so arithmetic on hostile
/// values is checked too. Regression: a jumped clock overflowed RFC 6298's
/// smoothing.
#[test]
fn mutated_captures_never_panic() {
    let sources = [
        "samples/blackhole-peer.pcap",
        "samples/mixed-fates.pcap",
        "tests/data/public/zeek/wstunnel-http.pcap",
        "tests/data/public/evsetool/evsetool-ocpp-cap.pcapng",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let target = tmp("mutated.pcap");
    for round in 0..80 {
        let mut bytes = std::fs::read(repo().join(sources[round % sources.len()])).unwrap();
        for _ in 0..1 + rand(16) {
            let at = 24 + rand(bytes.len() - 24);
            bytes[at] = rand(256) as u8;
        }
        if rand(3) == 0 {
            bytes.truncate(rand(bytes.len()));
        }
        std::fs::write(&target, &bytes).unwrap();
        for mode in [
            &["analyze", "--format", "json"][..],
            &["analyze", "--tcp"][..],
        ] {
            let mut args = mode.to_vec();
            args.push(target.to_str().unwrap());
            let out = wspulse(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 2)) && !stderr.contains("panicked"),
                "round {round}: {:?} {stderr}",
                out.status
            );
        }
    }
}

#[test]
fn fail_on_turns_a_verdict_into_exit_1() {
    let blackhole = "samples/blackhole-peer.pcap";
    assert_eq!(
        wspulse(&["analyze", "--fail-on", "false_alive", blackhole])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        wspulse(&["analyze", "--fail-on", "suspect", blackhole])
            .status
            .code(),
        Some(1),
        "suspect or worse"
    );
    assert_eq!(
        wspulse(&["analyze", blackhole]).status.code(),
        Some(0),
        "no --fail-on: the run worked"
    );
    let healthy = "samples/healthy-pings.pcap";
    assert_eq!(
        wspulse(&["analyze", "--fail-on", "suspect", healthy])
            .status
            .code(),
        Some(0)
    );
    let stuck = "samples/app-stuck-ponging.pcap";
    assert_eq!(
        wspulse(&["analyze", "--fail-on", "false_alive", stuck])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        wspulse(&["analyze", "--fail-on", "suspect", stuck])
            .status
            .code(),
        Some(1)
    );
}

/// `--at` judges the state at an earlier instant: before the client was
/// black-holed the connection was alive, and packets after it are left out.
#[test]
fn at_judges_an_earlier_instant() {
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("samples/blackhole-peer.truth.json")).unwrap(),
    )
    .unwrap();
    let fault = truth["fault_injected_at"].as_str().unwrap();
    // One second before the fault, as RFC 3339 with an offset.
    let secs: f64 = fault[17..26].parse().unwrap();
    assert!(
        secs >= 1.0,
        "fault at {fault}: pick a sample time that does not cross a minute"
    );
    let before = format!("{}{:09.6}+00:00", &fault[..17], secs - 1.0);
    let early = common::json(&[
        "analyze",
        "--format",
        "json",
        "--at",
        &before,
        "samples/blackhole-peer.pcap",
    ]);
    assert_eq!(
        early["connections"][0]["verdict"], "alive",
        "{}",
        early["connections"][0]["reasons"]
    );
    assert!(early["capture"]["after_evaluation_time"].as_u64().unwrap() > 0);
    assert_eq!(
        early["capture"]["evaluation_time"].as_str().unwrap()[..19],
        before[..19]
    );

    // Seconds after the first packet work too, and the end gives false_alive.
    let late = common::json(&[
        "analyze",
        "--format",
        "json",
        "--at",
        "23",
        "samples/blackhole-peer.pcap",
    ]);
    assert_eq!(late["connections"][0]["verdict"], "false_alive");
    // An instant outside the capture is refused, naming its span, and
    // nothing is printed before the refusal.
    let outside = wspulse(&["analyze", "--at", "1h", "samples/blackhole-peer.pcap"]);
    assert_eq!(outside.status.code(), Some(2));
    assert!(outside.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&outside.stderr);
    assert!(
        stderr.contains("outside the capture (2026-11-24T16:26:54"),
        "{stderr}"
    );
    let words = common::json(&[
        "analyze",
        "--format",
        "json",
        "--at",
        "last-packet",
        "samples/blackhole-peer.pcap",
    ]);
    assert_eq!(words["capture"]["evaluation_basis"], "last_packet");
    let bad = wspulse(&[
        "analyze",
        "--at",
        "yesterday",
        "samples/blackhole-peer.pcap",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

#[test]
fn ndjson_is_a_header_one_connection_per_line_and_a_summary() {
    let out = wspulse(&["analyze", "--format", "ndjson", "samples/mixed-fates.pcap"]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0]["type"], "header");
    assert_eq!(lines[0]["schema"], "wspulse.findings/1");
    assert_eq!(lines[0]["inputs"][0]["path"], "samples/mixed-fates.pcap");
    let conns = &lines[1..7];
    assert!(conns.iter().all(|c| c["type"] == "connection"
        && c["verdict"].is_string()
        && c["client"]["port"].is_u64()));
    let summary = &lines[7];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["summary"]["connections"], 6);
    assert!(summary["capture"]["evaluation_time"].is_string());
}

/// `-o` into something that is not a regular file writes into it (a FIFO
/// keeps being a FIFO); through a symlink it replaces the file the link
/// points to, keeping its permissions; `-o -` is stdout.
#[test]
fn output_goes_into_fifos_and_through_links() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("wspulse-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let real = dir.join("report.json");
    std::fs::write(&real, b"old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("latest.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = wspulse(&[
        "analyze",
        "--format",
        "json",
        "-o",
        link.to_str().unwrap(),
        "samples/blackhole-peer.pcap",
    ]);
    assert!(out.status.success());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let meta = std::fs::metadata(&real).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&real)
        .unwrap()
        .contains("wspulse.findings/1"));

    let fifo = dir.join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = wspulse(&[
        "analyze",
        "-o",
        fifo.to_str().unwrap(),
        "samples/blackhole-peer.pcap",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = reader.join().unwrap();
    assert!(String::from_utf8_lossy(&got).contains("false_alive"));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    let dash = wspulse(&["analyze", "-o", "-", "samples/blackhole-peer.pcap"]);
    assert!(String::from_utf8_lossy(&dash.stdout).contains("false_alive"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Settings that cannot mean anything, and a directory for a capture, are
/// clear errors.
#[test]
fn nonsense_settings_and_directories_are_refused() {
    for args in [
        &["analyze", "--max-flows", "0", "samples/blackhole-peer.pcap"][..],
        &[
            "analyze",
            "--flow-timeout",
            "0s",
            "samples/blackhole-peer.pcap",
        ][..],
        &["analyze", "samples"][..],
    ] {
        let out = wspulse(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let dir = wspulse(&["analyze", "samples"]);
    assert!(String::from_utf8_lossy(&dir.stderr).contains("is a directory"));
}

/// Connections retired together (idle past the flow timeout at the same
/// sweep) come out in the order of their first packet, whatever the hash
/// map's order in this process: the same input gives the same report.
#[test]
fn connections_retired_together_come_out_in_first_packet_order() {
    let capture = common::repo().join("tests/data/cases/capped-flows-silent/capped_2000ws.pcap");
    let ids = || -> Vec<u64> {
        let out = common::wspulse(&[
            "analyze",
            "--format",
            "ndjson",
            "--flow-timeout",
            "1ms",
            capture.to_str().unwrap(),
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["type"] == "connection")
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    };
    let first = ids();
    assert!(first.len() > 100, "{} connections", first.len());
    assert_eq!(first, ids());
}

/// `--format json` is indented for a person on a terminal; to a pipe or a
/// file each connection is one line of the same document. Both parse to
/// the same findings.
#[test]
fn json_is_a_line_per_connection_unless_a_terminal_reads_it() {
    let sample = "samples/mixed-fates.pcap";
    let args = ["analyze", "--format", "json", "--redact-key", "k", sample];
    let piped = wspulse(&args);
    assert!(piped.status.success());
    let text = String::from_utf8(piped.stdout).unwrap();
    let piped: serde_json::Value = serde_json::from_str(&text).unwrap();
    let count = piped["connections"].as_array().unwrap().len();
    assert!(count >= 4);
    let lines = text
        .lines()
        .filter(|l| l.starts_with("    {\"id\":"))
        .count();
    assert_eq!(lines, count, "one line per connection:\n{text}");

    // util-linux's script(1) gives the command a terminal.
    let bin = env!("CARGO_BIN_EXE_wspulse");
    let command = format!("{bin} {}", args.join(" "));
    let Ok(tty) = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(repo())
        .output()
    else {
        panic!("script(1) is needed for this test (util-linux)");
    };
    assert!(tty.status.success());
    let text = String::from_utf8(tty.stdout).unwrap().replace("\r\n", "\n");
    assert!(
        text.contains("\n    {\n      \"id\": 1,"),
        "indented:\n{text}"
    );
    let on_terminal: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(on_terminal, piped);
}
