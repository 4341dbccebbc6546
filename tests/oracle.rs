//! wspulse against tshark, connection by connection, on every capture we
//! ship (TCP retransmissions, zero windows and packets per direction;
//! WebSocket frames per opcode and sender): the golden files in tests/oracle/golden/ hold tshark's answers
//! (regenerated and checked by `tests/oracle/regen.py` in CI). Where wspulse
//! is right and tshark is not, the golden file's `known_differences` says so
//! with the reason; a difference not listed there fails, and so does a
//! listed one that no longer happens.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

/// Per unordered endpoint pair, per sending endpoint: the counted fields.
type Counts = BTreeMap<(String, String), BTreeMap<String, i64>>;

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Keys read `sender>receiver field`, e.g. `10.0.0.1:8080>10.0.0.2:40004 ws_text`.
fn add(counts: &mut Counts, a: &str, b: &str, sender: &str, field: &str, n: i64) {
    let receiver = if sender == a { b } else { a };
    let key = format!("{sender}>{receiver} {field}");
    *counts
        .entry(pair(a, b))
        .or_default()
        .entry(key)
        .or_default() += n;
}

/// The TCP fields tshark and wspulse both count, per direction.
const TCP_FIELDS: [(&str, &str); 5] = [
    ("retransmissions", "retransmissions"),
    ("zero_window", "zero_window.packets"),
    ("zero_window_probes", "zero_window_probes"),
    ("keep_alives", "keepalives"),
    ("packets", "packets"),
];

/// WebSocket opcodes as both count them (the spec's `frames` fields).
const OPCODES: [&str; 6] = ["text", "binary", "continuation", "close", "ping", "pong"];

fn tshark_counts(golden: &Value) -> (usize, Counts) {
    let mut counts = Counts::new();
    let streams = golden["tcp_connections"].as_array().unwrap();
    for s in streams {
        let (a, b) = (common::addr(&s["a"]), common::addr(&s["b"]));
        for (dir, sender) in [("a_to_b", &a), ("b_to_a", &b)] {
            let d = &s["per_direction"][dir];
            for (field, _) in TCP_FIELDS {
                add(
                    &mut counts,
                    &a,
                    &b,
                    sender,
                    field,
                    d[field].as_i64().unwrap(),
                );
            }
            for op in OPCODES {
                let n = d["websocket_frames"][op].as_i64().unwrap_or(0);
                add(&mut counts, &a, &b, sender, &format!("ws_{op}"), n);
            }
        }
    }
    (streams.len(), counts)
}

fn get<'a>(v: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(v, |v, k| &v[k])
}

/// Adds the WebSocket frame counts from the findings document.
fn add_frame_counts(counts: &mut Counts, findings: &Value) {
    for c in findings["connections"].as_array().unwrap() {
        let (client, server) = (common::addr(&c["client"]), common::addr(&c["server"]));
        for (side, sender) in [("client", &client), ("server", &server)] {
            for op in OPCODES {
                let n = c["frames"][side][op].as_i64().unwrap();
                add(counts, &client, &server, sender, &format!("ws_{op}"), n);
            }
        }
    }
}

/// `-d tcp.port==N,websocket` for tshark is `--ws-port N` for us;
/// `-o tls.keylog_file:PATH` (relative to the repository) `--tls-keylog`.
fn ws_ports(golden: &Value) -> Vec<String> {
    let mut args = Vec::new();
    for opt in golden["tshark_options"].as_array().unwrap() {
        let opt = opt.as_str().unwrap();
        if let Some(path) = opt.strip_prefix("tls.keylog_file:") {
            args.push("--tls-keylog".to_string());
            args.push(common::repo().join(path).to_str().unwrap().to_string());
        }
        if let Some(port) = opt
            .strip_prefix("tcp.port==")
            .and_then(|r| r.strip_suffix(",websocket"))
        {
            args.push("--ws-port".to_string());
            args.push(port.to_string());
        }
    }
    args
}

fn wspulse_counts(view: &Value) -> (usize, Counts) {
    let mut counts = Counts::new();
    let conns = view["connections"].as_array().unwrap();
    for c in conns {
        let (client, server) = (common::addr(&c["client"]), common::addr(&c["server"]));
        for (side, sender) in [("client", &client), ("server", &server)] {
            let facts = &c["tcp"][side];
            for (field, ours) in TCP_FIELDS {
                let n = get(facts, ours).as_i64().unwrap();
                add(&mut counts, &client, &server, sender, field, n);
            }
        }
    }
    (conns.len(), counts)
}

#[test]
fn tcp_and_frame_counts_agree_with_tshark() {
    let golden_dir = common::repo().join("tests/oracle/golden");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&golden_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let golden: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let capture = common::repo().join(golden["capture"].as_str().unwrap());
        let view = common::tcp_view(&capture);
        let (t_conns, t_counts) = tshark_counts(&golden);
        let (w_conns, mut w_counts) = wspulse_counts(&view);
        let mut args = vec!["analyze".to_string(), "--format".into(), "json".into()];
        args.extend(ws_ports(&golden));
        args.push(capture.to_str().unwrap().to_string());
        let findings = common::json(&args.iter().map(String::as_str).collect::<Vec<_>>());
        add_frame_counts(&mut w_counts, &findings);

        // Each difference as (field, tshark, wspulse), field = "a:p>b:p name".
        let mut diffs: Vec<(String, i64, i64)> = Vec::new();
        if t_conns != w_conns {
            diffs.push(("connections".into(), t_conns as i64, w_conns as i64));
        }
        let keys: std::collections::BTreeSet<_> = t_counts.keys().chain(w_counts.keys()).collect();
        for key in keys {
            let empty = BTreeMap::new();
            let t = t_counts.get(key).unwrap_or(&empty);
            let w = w_counts.get(key).unwrap_or(&empty);
            let fields: std::collections::BTreeSet<_> = t.keys().chain(w.keys()).collect();
            for f in fields {
                let (tv, wv) = (
                    t.get(f).copied().unwrap_or(0),
                    w.get(f).copied().unwrap_or(0),
                );
                if tv != wv {
                    diffs.push((f.clone(), tv, wv));
                }
            }
        }
        let known: Vec<(String, i64, i64)> = golden["known_differences"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["reason"].as_str().is_some_and(|r| !r.is_empty()))
            .map(|d| {
                (
                    d["field"].as_str().unwrap().to_string(),
                    d["tshark"].as_i64().unwrap(),
                    d["wspulse"].as_i64().unwrap(),
                )
            })
            .collect();
        let name = golden["capture"].as_str().unwrap();
        for d in &diffs {
            if !known.contains(d) {
                failures.push(format!(
                    "{name}: {} tshark {} wspulse {} (not a known difference)",
                    d.0, d.1, d.2
                ));
            }
        }
        for k in &known {
            if !diffs.contains(k) {
                failures.push(format!(
                    "{name}: known difference {} tshark {} wspulse {} no longer happens",
                    k.0, k.1, k.2
                ));
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 30,
        "expected the shipped public captures, found {checked} golden files"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Frames wspulse sees and tshark does not, on captures we cannot ship
/// (so their golden files cannot carry the note): capture, key, reason.
const SHARED_KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "ndn-tools/ipv4-websocket-segmented.pcap",
        "131.179.196.220:59622>131.179.196.46:9696 ws_close",
        "the capture joins this connection after its handshake; its only payloads are a masked Close 1000 \
         (88 82 e355bef7 e0bc) and the server's Close 1000 (88 02 03e9): wspulse infers the framing from the \
         masking, tshark decodes WebSocket only after seeing an Upgrade",
    ),
    (
        "ndn-tools/ipv4-websocket-segmented.pcap",
        "131.179.196.46:9696>131.179.196.220:59622 ws_close",
        "the server's Close 1000 answering the one above",
    ),
];

/// The public captures we may not ship (GPL, LGPL, no licence) are still
/// checked when `../shared/captures/public/` is beside the checkout (CI has
/// it): WebSocket frames per opcode and sender against the tshark oracle
/// text recorded there.
#[test]
fn frame_counts_agree_with_tshark_on_shared_public_captures() {
    let Some((root, oracles)) = shared_oracles() else {
        return;
    };
    let mut failures = Vec::new();
    let mut compared = 0;
    for (file, text) in &oracles {
        let capture = root.join(file);
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        let section = text
            .split("## websocket frames by stream")
            .nth(1)
            .unwrap_or("");
        for line in section.lines().skip(1).take_while(|l| !l.starts_with("##")) {
            // "      2  stream 1  127.0.0.1:47746 -> 127.0.0.1:7687  opcode 2 (binary)  mask=1"
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [n, "stream", _, from, "->", to, "opcode", _, name, ..] = words[..] {
                let name = name.trim_matches(|c| c == '(' || c == ')');
                let name = if name == "cont" { "continuation" } else { name };
                *expected
                    .entry(format!("{from}>{to} ws_{name}"))
                    .or_default() += n.parse::<i64>().unwrap();
            }
        }
        let mut args = vec!["analyze".to_string(), "--format".into(), "json".into()];
        if let Some(opts) = text
            .lines()
            .find_map(|l| l.strip_prefix("extra tshark options: "))
        {
            for port in opts.split("tcp.port==").skip(1) {
                args.push("--ws-port".into());
                args.push(port.split(',').next().unwrap().to_string());
            }
        }
        args.push(capture.to_str().unwrap().to_string());
        let findings = common::json(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let mut got = Counts::new();
        add_frame_counts(&mut got, &findings);
        let mut got: BTreeMap<String, i64> = got
            .into_values()
            .flatten()
            .filter(|(_, n)| *n > 0)
            .collect();
        for (capture, key, reason) in SHARED_KNOWN_DIFFERENCES {
            if file == capture {
                assert!(
                    got.remove(*key).is_some(),
                    "{capture}: known difference {key} no longer happens ({reason})"
                );
            }
        }
        if got != expected {
            failures.push(format!("{file}: tshark {expected:?}\n    wspulse {got:?}"));
        }
        compared += 1;
    }
    assert_all_agree(compared, &failures);
}

/// The TCP side of the same shared captures: the connections tshark
/// counts (its `tcp.stream`s) and the packets of each endpoint pair, from
/// the oracle text's "TCP streams" table. This is what checks the
/// captures wspulse reaches only through a tunnel (GTP-U in nDPI's
/// `http_origin_different_than_host.pcap`, LGPL and so not shipped).
#[test]
fn tcp_streams_agree_with_tshark_on_shared_public_captures() {
    let Some((root, oracles)) = shared_oracles() else {
        return;
    };
    let mut failures = Vec::new();
    let mut compared = 0;
    for (file, text) in &oracles {
        let Some(section) = text.split("## TCP streams: ").nth(1) else {
            continue;
        };
        let streams: usize = section.lines().next().unwrap().trim().parse().unwrap();
        // "0  10.140.206.74:34536 -> 18.135.206.102:80  4  0.000000 ..."
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        for line in section.lines().skip(1).take_while(|l| !l.starts_with("##")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [index, a, "->", b, packets, ..] = words[..] {
                if index.parse::<u64>().is_ok() {
                    *expected.entry(pair(a, b)).or_default() += packets.parse::<i64>().unwrap();
                }
            }
        }
        let view = common::tcp_view(&root.join(file));
        let conns = view["connections"].as_array().unwrap();
        let mut got: BTreeMap<(String, String), i64> = BTreeMap::new();
        for c in conns {
            let (a, b) = (common::addr(&c["client"]), common::addr(&c["server"]));
            let packets = c["tcp"]["client"]["packets"].as_i64().unwrap()
                + c["tcp"]["server"]["packets"].as_i64().unwrap();
            *got.entry(pair(&a, &b)).or_default() += packets;
        }
        if conns.len() != streams || got != expected {
            failures.push(format!(
                "{file}: tshark {streams} streams {expected:?}\n    wspulse {} {got:?}",
                conns.len()
            ));
        }
        compared += 1;
    }
    assert_all_agree(compared, &failures);
}

/// The oracle texts beside the checkout in `../shared/captures/public/`,
/// in name order, as (capture file, text); `None` (said) when they are not
/// here, so only what the repo ships is checked.
fn shared_oracles() -> Option<(std::path::PathBuf, Vec<(String, String)>)> {
    let root = common::repo().join("../shared/captures/public");
    let Ok(entries) = std::fs::read_dir(root.join("oracle")) else {
        eprintln!(
            "skipped: {} is not here; checked only what the repo ships",
            root.display()
        );
        return None;
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let oracles = paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let file = text.lines().find_map(|l| l.strip_prefix("file: "))?;
            Some((file.trim().to_string(), text))
        })
        .collect();
    Some((root, oracles))
}

/// More than 40 shared captures compared, and none differed.
fn assert_all_agree(compared: usize, failures: &[String]) {
    assert!(compared > 40, "only {compared} oracle files compared");
    assert!(
        failures.is_empty(),
        "{} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
