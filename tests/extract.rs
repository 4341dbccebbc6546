//! `analyze --extract FILE`: the packets of the connections not alive,
//! in a capture of their own. Analysed again it gives the same verdicts,
//! reasons and times; tshark reads it with the frame count wspulse
//! states; its packet comments lead each cited frame back to the
//! original; and it carries none of the secrets planted on the wire.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wspulse-extract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `analyze --format json` with `extra`, returning the report and
/// stderr.
fn analyze(capture: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["analyze", "--format", "json"];
    if !extra.contains(&"--verdict") {
        args.push("--all");
    }
    args.extend_from_slice(extra);
    args.push(capture);
    let out = common::wspulse(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.code() != Some(2), "wspulse {args:?}: {stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// What a connection was judged, keyed by its endpoints: the verdict,
/// when, and each reason and note with its side and since (and its detail
/// when `details`).
fn judged(report: &Value, details: bool) -> BTreeMap<String, Value> {
    report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key = format!(
                "{} {}",
                common::addr(&c["client"]),
                common::addr(&c["server"])
            );
            let reasons: Vec<Value> = c["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let detail = if details { &r["detail"] } else { &Value::Null };
                    serde_json::json!([r["code"], r["side"], r["since"], detail])
                })
                .collect();
            let notes: Vec<&Value> = c["notes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| &n["code"])
                .collect();
            (
                key,
                serde_json::json!({"verdict": c["verdict"], "judged_at": c["judged_at"],
                    "reasons": reasons, "notes": notes}),
            )
        })
        .collect()
}

/// tshark's frame comments, by frame number; `None` without tshark.
fn comments(capture: &Path) -> Option<Vec<String>> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args(["-T", "fields", "-e", "frame.comment"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// Every `{"file", "frame"}` a report's connections cite, in order.
fn cited(v: &Value, out: &mut Vec<(u64, u64)>) {
    match v {
        Value::Object(m) => {
            if let (Some(f), Some(n), 2) = (m.get("file"), m.get("frame"), m.len()) {
                out.push((f.as_u64().unwrap(), n.as_u64().unwrap()));
            }
            m.values().for_each(|x| cited(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| cited(x, out)),
        _ => {}
    }
}

fn check_sample(sample: &str) {
    check_capture(&format!("samples/{sample}.pcap"), sample, true);
}

/// `exact`: also the reasons' details, and every frame the extract's
/// findings cite mapping back to one the original's cite (not where the
/// original rests on a declaration the extract zeroes with its
/// credentials, such as an MQTT CONNECT's keep-alive: the thresholds a
/// detail names, and the frames cited, can differ).
fn check_capture(capture: &str, sample: &str, exact: bool) {
    let path = scratch(&format!("{sample}.pcap"));
    let (original, stderr) = analyze(capture, &["--extract", path.to_str().unwrap()]);
    let (again, _) = analyze(path.to_str().unwrap(), &[]);

    let expected: BTreeMap<_, _> = judged(&original, exact)
        .into_iter()
        .filter(|(_, j)| j["verdict"] != "alive")
        .collect();
    assert!(!expected.is_empty(), "{sample} has connections to extract");
    assert_eq!(judged(&again, exact), expected, "{sample}: judged the same");
    assert_eq!(
        again["capture"]["evaluation_time"],
        original["capture"]["evaluation_time"]
    );

    // The count wspulse states is the count tshark reads.
    let packets = again["capture"]["packets"].as_u64().unwrap();
    assert!(
        stderr.contains(&format!(
            ": {packets} packets of {} connection",
            expected.len()
        )),
        "{stderr}"
    );
    let Some(comments) = comments(&path) else {
        eprintln!("tshark not found: frame counts and comments not checked");
        return;
    };
    assert_eq!(comments.len() as u64, packets, "tshark frame count");
    if !exact {
        return;
    }

    // Each frame the extract's findings cite leads, by its comment, to
    // the frame the original findings cite for the same connection.
    let by_key = |r: &Value| -> BTreeMap<String, Value> {
        r["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    format!(
                        "{} {}",
                        common::addr(&c["client"]),
                        common::addr(&c["server"])
                    ),
                    c.clone(),
                )
            })
            .collect()
    };
    let (orig, ext) = (by_key(&original), by_key(&again));
    for key in expected.keys() {
        let (mut want, mut got) = (Vec::new(), Vec::new());
        cited(&orig[key], &mut want);
        cited(&ext[key], &mut got);
        assert!(!got.is_empty());
        let mapped: Vec<(u64, u64)> = got
            .iter()
            .map(|&(file, frame)| {
                assert_eq!(file, 0);
                let c = &comments[frame as usize - 1];
                let (input, number) = c
                    .split_once(", input ")
                    .unwrap()
                    .1
                    .split_once(" frame ")
                    .unwrap();
                (input.parse().unwrap(), number.parse().unwrap())
            })
            .collect();
        assert_eq!(mapped, want, "{sample} {key}: cited frames map back");
    }
}

#[test]
fn blackhole_peer_extract_is_judged_the_same() {
    check_sample("blackhole-peer");
}

#[test]
fn mixed_fates_extract_is_judged_the_same() {
    check_sample("mixed-fates");
}

/// Kind: an extract judged on other heartbeats than its source. The
/// application heartbeats (Socket.IO `2`/`3`, graphql-transport-ws
/// ping/pong, MQTT PINGREQ/PINGRESP, STOMP end-of-line frames), the
/// subprotocol names and the request path that name the protocol stay in
/// the extract, so each flagged connection of the application samples is
/// judged the same, reason by reason, from the same instant (a detail may
/// name another threshold, and the evidence fewer frames: an interval
/// declared in an MQTT CONNECT or an Engine.IO open packet is zeroed with
/// the credentials and session id beside it). Left out:
/// `stomp-app-pings-dropped`, whose verdict rests on the `heart-beat`
/// header of a STOMP CONNECT frame, which the extract zeroes with the
/// frame's credentials.
#[test]
fn application_heartbeat_extracts_are_judged_the_same() {
    for sample in [
        "gql-app-pings-dropped",
        "gql-client-frozen",
        "gql-server-frozen",
        "mqtt-app-pings-dropped",
        "mqtt-client-frozen",
        "mqtt-server-frozen",
        "sio-client-frozen",
        "sio-server-frozen",
        "stomp-client-frozen",
        "stomp-server-frozen",
    ] {
        check_capture(&format!("samples/app/{sample}.pcapng"), sample, false);
    }
}

const PLANTED: &str = "tests/data/secrets/planted.pcap";
const EVERY_VERDICT: &str = "alive,suspect,false_alive,aborted,closed";

fn planted() -> Vec<String> {
    std::fs::read_to_string(common::repo().join("tests/data/secrets/planted.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn found(bytes: &[u8], secrets: &[String]) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .cloned()
        .collect()
}

#[test]
fn no_planted_secret_reaches_the_extract_unless_shown() {
    let secrets = planted();
    let path = scratch("planted.pcap");
    let (original, _) = analyze(
        PLANTED,
        &[
            "--verdict",
            EVERY_VERDICT,
            "--extract",
            path.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(found(&bytes, &secrets), Vec::<String>::new());
    // Still judged the same: headers, lengths and frames were kept.
    let (again, _) = analyze(path.to_str().unwrap(), &[]);
    assert_eq!(judged(&again, true), judged(&original, true));

    // --show-secrets copies packets as they are, so the search can fail.
    let shown = scratch("planted-shown.pcap");
    analyze(
        PLANTED,
        &[
            "--verdict",
            EVERY_VERDICT,
            "--show-secrets",
            "--extract",
            shown.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&shown).unwrap();
    assert!(found(&bytes, &secrets).len() > 20);
}

#[test]
fn rewritten_packets_keep_valid_tcp_checksums() {
    let path = scratch("checksums.pcap");
    analyze(
        PLANTED,
        &[
            "--verdict",
            EVERY_VERDICT,
            "--extract",
            path.to_str().unwrap(),
        ],
    );
    let Ok(out) = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "tcp.checksum.status",
        ])
        .output()
    else {
        eprintln!("tshark not found: checksums not checked");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // tshark's status: 1 good, 0 bad.
    assert!(text.lines().count() > 30, "{text}");
    assert!(text.lines().all(|l| l == "1"), "{text}");
}

#[test]
fn connection_picks_one_and_stdin_and_existing_files_are_refused() {
    let path = scratch("one.pcap");
    let (_, stderr) = analyze(
        "samples/mixed-fates.pcap",
        &["--extract", path.to_str().unwrap(), "--connection", "4"],
    );
    assert!(
        stderr.contains("of 1 connection ") && stderr.contains("#4 frames 1-"),
        "{stderr}"
    );
    let (again, _) = analyze(path.to_str().unwrap(), &[]);
    let conns = again["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(
        conns[0]["verdict"], "alive",
        "connection 4 of mixed-fates is the alive one"
    );

    let out = common::wspulse(&[
        "analyze",
        "--extract",
        path.to_str().unwrap(),
        "samples/mixed-fates.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert!(out.stdout.is_empty(), "refused before any report");

    let fresh = scratch("stdin.pcap");
    let out = common::wspulse(&["analyze", "--extract", fresh.to_str().unwrap(), "-"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("stdin cannot be read again"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    assert!(!fresh.exists());
}

#[test]
fn the_report_maps_every_extract_frame_to_its_original() {
    let path = scratch("mapped.pcap");
    let (report, stderr) = analyze(
        "samples/mixed-fates.pcap",
        &[
            "--extract",
            path.to_str().unwrap(),
            "--connection",
            "3",
            "--connection",
            "99",
        ],
    );
    assert!(
        stderr.contains("no judged WebSocket connection #99"),
        "{stderr}"
    );
    let schema: Value = serde_json::from_slice(
        &std::fs::read(common::repo().join("schema/findings.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors, Vec::<String>::new());

    let extract = &report["extract"];
    assert_eq!(extract["path"], path.to_str().unwrap());
    let frames = extract["frames"].as_array().unwrap();
    assert_eq!(frames.len() as u64, extract["packets"].as_u64().unwrap());
    assert_eq!(extract["connections"][0]["id"], 3);
    assert_eq!(extract["connections"][0]["packets"], frames.len());
    let Some(comments) = comments(&path) else {
        eprintln!("tshark not found: comments not checked");
        return;
    };
    assert_eq!(comments.len(), frames.len());
    for f in frames {
        let n = f["frame"].as_u64().unwrap() as usize;
        let want = format!(
            "wspulse: connection #3, input {} frame {}",
            f["original"]["file"], f["original"]["frame"]
        );
        assert_eq!(comments[n - 1], want);
    }
    // Without --extract the report has no such member.
    let (plain, _) = analyze("samples/mixed-fates.pcap", &[]);
    assert!(plain.get("extract").is_none());
}

/// Two outputs naming one file would write over each other, or lose one
/// with no word said: refused in one line, before anything is written.
#[test]
fn two_outputs_to_one_file_are_refused() {
    let path = scratch("both.out");
    let p = path.to_str().unwrap();
    for flags in [
        ["--report", p, "-o", p],
        ["--extract", p, "-o", p],
        ["--report", p, "--extract", p],
    ] {
        let mut args = vec!["analyze"];
        args.extend(flags);
        args.push("samples/blackhole-peer.pcap");
        let out = common::wspulse(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains("name the same file"), "{err}");
        assert!(!path.exists(), "{flags:?}: nothing written");
    }
}
