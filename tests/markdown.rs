//! `--format markdown`: the report for a ticket, checked against committed
//! snapshots on samples (their times are fixed, and `--redact-key` makes
//! every fingerprint the same from run to run). After a deliberate change
//! of the report, `WSPULSE_BLESS=1 cargo test --test markdown` rewrites
//! the snapshots; review their diff before committing it.

mod common;

use std::path::PathBuf;

fn markdown(args: &[&str]) -> String {
    let mut all = vec![
        "analyze",
        "--format",
        "markdown",
        "--redact-key",
        "snapshot",
    ];
    all.extend_from_slice(args);
    let out = common::wspulse(&all);
    assert!(
        out.status.success(),
        "wspulse {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn snapshot(name: &str, args: &[&str]) {
    let got = markdown(args);
    let path: PathBuf = common::repo().join(format!("tests/snapshots/{name}.md"));
    if std::env::var_os("WSPULSE_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (WSPULSE_BLESS=1 writes it)", path.display()));
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "{} differs from the report, first at line {}:\n  got:  {:?}\n  want: {:?}",
            path.display(),
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first)
        );
    }
}

#[test]
fn blackhole_peer_report_matches_its_snapshot() {
    snapshot("blackhole-peer", &["samples/blackhole-peer.pcap"]);
}

#[test]
fn stopped_reader_report_matches_its_snapshot() {
    snapshot("stopped-reader", &["samples/stopped-reader.pcap"]);
}

#[test]
fn healthy_connection_gets_a_section_only_with_all() {
    snapshot(
        "healthy-pings-all",
        &["--all", "samples/healthy-pings.pcap"],
    );
    let plain = markdown(&["samples/healthy-pings.pcap"]);
    assert!(plain.contains("No connection is flagged."), "{plain}");
    assert!(!plain.contains("## Connection #"), "{plain}");
}

#[test]
fn the_reproducing_commands_carry_the_judging_flags_but_never_the_key() {
    let md = markdown(&[
        "--port",
        "8080",
        "--pong-timeout",
        "3s",
        "samples/blackhole-peer.pcap",
    ]);
    assert!(
        md.contains(
            "wspulse analyze --format markdown --port 8080 --pong-timeout 3s samples/blackhole-peer.pcap"
        ),
        "{md}"
    );
    assert!(
        md.contains("wspulse explain 1 --port 8080 --pong-timeout 3s samples/blackhole-peer.pcap")
    );
    assert!(!md.contains("snapshot"), "the redaction key leaked:\n{md}");
}

#[test]
fn every_evidence_filter_is_one_tshark_can_run_on_the_file() {
    let md = markdown(&["samples/blackhole-peer.pcap"]);
    let commands: Vec<&str> = md.lines().filter(|l| l.starts_with("tshark -r ")).collect();
    assert!(commands.len() >= 2, "{md}");
    for c in commands {
        assert!(
            c.starts_with("tshark -r samples/blackhole-peer.pcap -Y '"),
            "{c}"
        );
    }
}

#[test]
fn the_tcp_view_has_no_markdown_and_says_so_in_one_line() {
    let out = common::wspulse(&[
        "analyze",
        "--tcp",
        "--format",
        "markdown",
        "samples/blackhole-peer.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--format markdown"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn fail_on_still_decides_the_exit_status_in_markdown() {
    let out = common::wspulse(&[
        "analyze",
        "--format",
        "markdown",
        "--fail-on",
        "false_alive",
        "samples/blackhole-peer.pcap",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# wspulse report"));
}

/// Runs `tshark -r FILE -Y FILTER` as the report gives it; None when
/// tshark is not installed.
fn tshark(file: &str, filter: &str) -> Option<std::process::Output> {
    std::process::Command::new("tshark")
        .args(["-r", file, "-Y", filter])
        .current_dir(common::repo())
        .output()
        .ok()
}

#[test]
fn tshark_accepts_every_filter_the_report_gives_and_shows_the_evidence_frames() {
    let md = markdown(&["samples/blackhole-peer.pcap"]);
    let mut ran = 0;
    for line in md.lines().filter(|l| l.starts_with("tshark -r ")) {
        let filter = line
            .split_once(" -Y '")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(f, _)| f)
            .unwrap_or_else(|| panic!("no quoted filter in {line}"));
        let Some(out) = tshark("samples/blackhole-peer.pcap", filter) else {
            eprintln!("tshark is not installed: filters not run");
            return;
        };
        assert!(
            out.status.success(),
            "tshark refused {filter:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = String::from_utf8_lossy(&out.stdout).lines().count();
        if let Some(set) = filter.strip_prefix("frame.number in {") {
            let listed = set.trim_end_matches('}').split(", ").count();
            assert_eq!(shown, listed, "{filter}");
        } else {
            assert!(shown > 10, "the connection filter showed {shown} frames");
        }
        ran += 1;
    }
    assert!(ran >= 3, "{md}");
}

/// Kind: a reproduce command that does not reproduce. A wss report judged
/// with a key log names it in its `wspulse` commands and gives tshark the
/// same keys, or the reader re-runs them and sees TCP alone.
#[test]
fn reproduce_commands_carry_the_key_log() {
    let out = common::wspulse(&[
        "analyze",
        "--format",
        "markdown",
        "--tls-keylog",
        "samples/wss/wss12-blackhole.keys",
        "samples/wss/wss12-blackhole.pcap",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("wspulse ") || l.starts_with("tshark "))
        .collect();
    assert!(commands.len() >= 3, "{text}");
    for c in &commands {
        let wanted = if c.starts_with("wspulse") {
            "--tls-keylog samples/wss/wss12-blackhole.keys"
        } else {
            "-o tls.keylog_file:samples/wss/wss12-blackhole.keys"
        };
        assert!(c.contains(wanted), "{c}");
    }
}
