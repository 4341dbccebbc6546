//! `wspulse live` end to end, as root: real WebSocket peers in two network
//! namespaces joined by a veth pair, faults injected on a real Linux TCP
//! stack, and the NDJSON stream checked against what the wire shows. The
//! driver is `tests/live/e2e.py` (its docstring gives the scenarios and the
//! bounds); this file runs it and says why when it cannot.
//!
//! `WSPULSE_LIVE_E2E` picks the mode: `live` (the default) runs
//! `wspulse live` and checks its stream (and the capture offline as well);
//! `offline` checks only a tcpdump capture of the same scenario with
//! `wspulse analyze`; `skip` skips. A wspulse built without the live engine
//! gets the offline check, and the output says so.
//!
//! Skipped, with the reason printed, when not root or when the machine lacks
//! what the scenario needs (`ip netns`, iptables, tcpdump, tshark, Debian's
//! python3-websockets 10.x); `.ci/run` installs all of it, and there a skip
//! is a failure.

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// The scenarios share the namespace names and the 10.79.0.0/24 subnet, and
/// timing bounds need the CPU: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The exit status e2e.py uses for "cannot run here".
const SKIPPED: i32 = 77;

fn run_scenario(scenario: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mode = std::env::var("WSPULSE_LIVE_E2E").unwrap_or_else(|_| "live".into());
    let in_ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    let skip = |why: &str| {
        assert!(!in_ci, "the live end-to-end test cannot run in CI: {why}");
        println!("skipped: {why}");
    };
    match mode.as_str() {
        "skip" => return println!("skipped: WSPULSE_LIVE_E2E=skip"),
        "live" | "offline" => {}
        other => panic!("WSPULSE_LIVE_E2E={other}: use live, offline or skip"),
    }
    if !is_root() {
        return skip("needs root (network namespaces, iptables, packet capture)");
    }
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        return skip("needs /usr/bin/python3 with python3-websockets");
    }
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/e2e.py");
    let out = Command::new(python)
        .arg(&driver)
        .args(["--wspulse", env!("CARGO_BIN_EXE_wspulse")])
        .args(["--mode", &mode, "--scenario", scenario])
        // No __pycache__ left in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run tests/live/e2e.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            // What was measured: latencies, onsets, memory.
            print!("{stdout}");
            eprint!("{stderr}");
        }
        Some(SKIPPED) => skip(stderr.trim()),
        code => {
            panic!("e2e.py --scenario {scenario} --mode {mode}: exit {code:?}\n{stdout}\n{stderr}")
        }
    }
}

/// The effective user id is root, as /proc/self/status says.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

#[test]
fn faults_are_reported_within_threshold_plus_one_interval_and_healthy_stays_alive() {
    run_scenario("faults");
}

#[test]
fn memory_stays_flat_while_connections_open_and_close() {
    run_scenario("churn");
}
