//! One helper for every end-to-end test: run the real binary, parse JSON.

#![allow(dead_code)]

pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn wspulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wspulse"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run wspulse")
}

/// Runs wspulse and parses its JSON document, failing with stderr shown.
pub fn json(args: &[&str]) -> Value {
    let out = wspulse(args);
    assert!(
        out.status.success(),
        "wspulse {args:?} exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("wspulse {args:?}: bad JSON: {e}"))
}

/// The TCP view of a capture.
pub fn tcp_view(capture: &Path) -> Value {
    json(&[
        "analyze",
        "--tcp",
        "--format",
        "json",
        capture.to_str().unwrap(),
    ])
}

/// `ip:port` of a JSON address object.
pub fn addr(v: &Value) -> String {
    format!("{}:{}", v["ip"].as_str().unwrap(), v["port"])
}

/// Every capture file below `dir`, sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(captures_in(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        ) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The `(code, side)` pairs of a reasons, pending or notes array, sorted
/// (`side` "null" when there is none).
pub fn codes(list: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_string(),
                r["side"].as_str().unwrap_or("null").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A sample's truth file (samples/NAME.truth.json).
pub fn truth(name: &str) -> Value {
    let path = repo().join(format!("samples/{name}.truth.json"));
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The extra flags a sample needs (each with its reason in the truth file).
pub fn sample_flags(truth: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for f in truth["thresholds_flags"].as_array().into_iter().flatten() {
        out.push(f["flag"].as_str().unwrap().to_string());
        if let Some(v) = f["value"].as_str() {
            out.push(v.to_string());
        }
    }
    out
}

/// A sample's capture file name: pcapng for one that records when
/// capturing stopped, else NAME.pcap.
pub fn sample_file(name: &str, truth: &Value) -> String {
    truth["capture_file"]
        .as_str()
        .map_or_else(|| format!("{name}.pcap"), str::to_string)
}

/// How many frames tshark reads in `capture`; `None` without tshark (CI
/// installs it, so there a missing tshark fails).
pub fn tshark_frames(capture: &Path) -> Option<u64> {
    let out = match Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .arg("-T")
        .arg("fields")
        .arg("-e")
        .arg("frame.number")
        .output()
    {
        Ok(out) => out,
        Err(_) if std::env::var_os("CI").is_none() => return None,
        Err(e) => panic!("tshark: {e}"),
    };
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).lines().count() as u64)
}

/// Note codes, sorted and once each, from a report's notes (objects) or a
/// truth file's (codes or objects).
pub fn note_codes(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_str()
                .map_or_else(|| r["code"].as_str().unwrap().to_string(), str::to_string)
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A connection judged as its truth file expects: the verdict, the
/// reasons with their sides, the notes.
pub fn assert_judged_as(label: &str, got: &Value, expected: &Value) {
    assert_eq!(
        got["verdict"], expected["expected_verdict"],
        "{label}: verdict; reasons {}",
        got["reasons"]
    );
    assert_eq!(
        codes(&got["reasons"]),
        codes(&expected["expected_reasons"]),
        "{label}: reasons"
    );
    assert_eq!(
        note_codes(&got["notes"]),
        note_codes(&expected["expected_notes"]),
        "{label}: notes"
    );
}
