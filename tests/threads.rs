//! `analyze --threads N` splits the connections across threads; the
//! report must be the one a single thread writes, byte for byte, in every
//! format: same ids, same order, same counts, same exit status.

mod common;

use std::path::{Path, PathBuf};

use common::{captures_in, repo, wspulse};

/// Stdout, stderr and exit status of `analyze ARGS --threads N`.
fn run(args: &[&str], threads: usize) -> (Option<i32>, String, String) {
    let n = threads.to_string();
    let mut all = vec!["analyze", "--redact-key", "threads", "--threads", &n];
    all.extend_from_slice(args);
    let out = wspulse(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `args` give the same result with every thread count in `threads` as
/// with one; returns the one-thread stdout.
fn same_with(args: &[&str], threads: &[usize]) -> String {
    let one = run(args, 1);
    for &n in threads {
        let many = run(args, n);
        assert_eq!(one.0, many.0, "{args:?}: exit status with --threads {n}");
        assert!(
            one.1 == many.1,
            "{args:?}: stdout differs with --threads {n}\n--- 1:\n{}\n--- {n}:\n{}",
            one.1,
            many.1
        );
        assert_eq!(one.2, many.2, "{args:?}: stderr with --threads {n}");
    }
    one.1
}

fn every_capture() -> Vec<PathBuf> {
    let mut all = captures_in(&repo().join("samples"));
    all.extend(captures_in(&repo().join("tests/data")));
    assert!(all.len() > 40, "captures found: {}", all.len());
    all
}

#[test]
fn every_capture_gives_one_report_whatever_the_threads() {
    for capture in every_capture() {
        let path = capture.to_str().unwrap();
        for format in ["json", "ndjson", "table"] {
            same_with(&["--all", "--format", format, path], &[2, 3]);
        }
        same_with(&["--tcp", "--format", "json", path], &[2]);
    }
}

/// A classic pcap file: its header and its records, each with its time.
struct Pcap {
    header: Vec<u8>,
    records: Vec<(u64, Vec<u8>)>,
}

/// Reads a little-endian, microsecond pcap with Ethernet frames.
fn read_pcap(path: &Path) -> Pcap {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    assert_eq!(bytes[20], 1, "Ethernet");
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let word = |i: usize| u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
        let micros = u64::from(word(0)) * 1_000_000 + u64::from(word(4));
        let len = word(8) as usize;
        records.push((micros, bytes[at + 16..at + 16 + len].to_vec()));
        at += 16 + len;
    }
    Pcap {
        header: bytes[..24].to_vec(),
        records,
    }
}

/// `copies` copies of a sample's connections, each starting `step_us`
/// after the one before, the client moved to 10.77.(k % 100 + 1).2: so
/// many connections are open at once, copy k + 100 starts on copy k's
/// addresses and ports (port reuse while it is open, or a tombstone
/// after), and copies interleave packet by packet.
fn replicate(sample: &Path, copies: u64, step_us: u64, out: &Path) -> usize {
    let pcap = read_pcap(sample);
    let mut all: Vec<(u64, u64, usize, Vec<u8>)> = Vec::new();
    for k in 0..copies {
        for (i, (at, frame)) in pcap.records.iter().enumerate() {
            let mut frame = frame.clone();
            // Ethernet, then IPv4 with no options: addresses at 26 and 30.
            assert_eq!(frame[12..14], [0x08, 0x00]);
            for a in [26, 30] {
                if frame[a..a + 4] == [10, 77, 0, 2] {
                    frame[a + 2] = (k % 100 + 1) as u8;
                }
            }
            all.push((at + k * step_us, k, i, frame));
        }
    }
    all.sort_by_key(|r| (r.0, r.1, r.2));
    let mut bytes = pcap.header.clone();
    for (at, _, _, frame) in &all {
        bytes.extend_from_slice(&((at / 1_000_000) as u32).to_le_bytes());
        bytes.extend_from_slice(&((at % 1_000_000) as u32).to_le_bytes());
        bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        bytes.extend_from_slice(frame);
    }
    std::fs::write(out, bytes).unwrap();
    all.len()
}

#[test]
fn thousands_of_connections_with_port_reuse_and_idle_evictions_give_one_report() {
    let dir = std::env::temp_dir().join(format!("wspulse-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("replicated.pcap");
    // 6 connections a copy, 100 copies on one address at a time, each
    // address reused every 25 s: a copy that starts while the one before
    // on its address is open joins its connections (no new SYN), or
    // starts new ones on port reuse.
    let packets = replicate(&repo().join("samples/mixed-fates.pcap"), 400, 250_000, &big);
    assert!(packets > 300_000);
    let path = big.to_str().unwrap();
    // A short flow timeout: idle connections are evicted by sweeps.
    let json = same_with(
        &["--all", "--flow-timeout", "5s", "--format", "json", path],
        &[2, 3],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let table = &report["capture"]["flow_table"];
    assert!(table["connections"].as_u64().unwrap() >= 1_500, "{table}");
    assert!(table["idle_evictions"].as_u64().unwrap() > 0, "{table}");
    assert!(table["peak_connections"].as_u64().unwrap() > 100, "{table}");
    let ids: Vec<u64> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert!(ids.len() >= 1_000, "{} connections reported", ids.len());
    same_with(&["--all", "--format", "ndjson", path], &[2]);
    same_with(&["--format", "table", path], &[2]);
    // Selectors: the connections left out still take their ids.
    same_with(
        &["--all", "--host", "10.77.7.0/24", "--format", "json", path],
        &[2],
    );
    same_with(&["--tcp", "--format", "json", path], &[3]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zero_threads_is_refused_in_one_line() {
    let out = wspulse(&["analyze", "--threads", "0", "samples/clean-close.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--threads 0"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
