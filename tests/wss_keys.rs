//! wss samples recorded with their TLS key logs (samples/record-wss.sh):
//! with the keys, each is judged as its ws twin is (same verdict, reasons
//! and notes as the truth file, built from the peers' logs); without them,
//! on TCP and TLS records, with a note naming `--tls-keylog`. A tampered
//! record is a counted authentication failure; a bad key log a clear
//! error; and no secret of the key log ever reaches the output.

mod common;

use serde_json::Value;

/// A keyed sample, its ws twin, and the suite it negotiated.
const KEYED: [(&str, &str, &str); 3] = [
    ("wss13-healthy", "healthy-pings", "TLS_AES_256_GCM_SHA384"),
    (
        "wss12-blackhole",
        "blackhole-peer",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "wss12-chacha-stopped",
        "stopped-reader",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

fn truth(name: &str) -> Value {
    common::truth(&format!("wss/{name}"))
}

fn keys(name: &str) -> String {
    format!("samples/wss/{name}.keys")
}

fn analyze(extra: &[&str]) -> Value {
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(extra);
    common::json(&args)
}

fn only(report: &Value) -> &Value {
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "one connection per sample");
    &conns[0]
}

#[test]
fn with_keys_each_sample_is_judged_as_its_ws_twin() {
    for (name, twin, suite) in KEYED {
        let capture = format!("samples/wss/{name}.pcap");
        let key_log = keys(name);
        let c = only(&analyze(&["--tls-keylog", &key_log, &capture])).clone();
        let expected = &truth(name)["connections"][0];
        common::assert_judged_as(name, &c, expected);
        // The twin recorded over ws: the same fault gives the same findings.
        let twin_expected = &common::truth(twin)["connections"][0];
        assert_eq!(
            c["verdict"], twin_expected["expected_verdict"],
            "{name} vs {twin}"
        );
        assert_eq!(
            common::codes(&c["reasons"]),
            common::codes(&twin_expected["expected_reasons"]),
            "{name} vs {twin}: reasons"
        );
        assert_eq!(c["transport"], "websocket", "{name}: judged on frames");
        assert_eq!(
            c["handshake"]["seen"], true,
            "{name}: Upgrade read inside TLS"
        );
        let tls = &c["tls"];
        assert_eq!(tls["decrypted"], true, "{name}: {tls}");
        assert_eq!(tls["cipher_suite"], suite, "{name}");
        assert_eq!(tls["not_decrypted"], Value::Null, "{name}");
        assert_eq!(tls["records_failed"], 0, "{name}");
        assert!(tls["records_decrypted"].as_u64().unwrap() > 10, "{name}");
        // Frames the peers logged writing (less what never left).
        let facts = &expected["facts"];
        for side in ["client", "server"] {
            let unsent = facts["frames_written_but_not_on_wire"][side]
                .as_u64()
                .unwrap_or(0);
            for op in ["text", "ping", "pong", "close"] {
                let logged = facts[side][op].as_u64().unwrap_or(0);
                let seen = c["frames"][side][op].as_u64().unwrap();
                if unsent == 0 {
                    assert_eq!(seen, logged, "{name}: {side} {op} frames");
                } else {
                    assert!(seen <= logged, "{name}: {side} {op} frames");
                }
            }
        }
    }
}

#[test]
fn secrets_in_a_decryption_secrets_block_are_used_without_the_flag() {
    let report = analyze(&["samples/wss/wss13-healthy-dsb.pcapng"]);
    let c = only(&report);
    common::assert_judged_as("dsb", c, &truth("wss13-healthy-dsb")["connections"][0]);
    assert_eq!(c["tls"]["decrypted"], true);
    // The same frames as from the pcap with the key log beside it.
    let key_log = keys("wss13-healthy");
    let plain = analyze(&["--tls-keylog", &key_log, "samples/wss/wss13-healthy.pcap"]);
    assert_eq!(c["frames"], only(&plain)["frames"]);
}

#[test]
fn without_keys_tcp_level_judgement_and_a_note_naming_the_flag() {
    for (name, _, _) in KEYED {
        let capture = format!("samples/wss/{name}.pcap");
        let c = only(&analyze(&[&capture])).clone();
        assert_eq!(c["transport"], "tls", "{name}");
        assert_eq!(c["tls"]["decrypted"], false, "{name}");
        assert_eq!(c["tls"]["not_decrypted"], "no_keylog", "{name}");
        assert_eq!(c["frames"]["server"]["ping"], 0, "{name}: frames hidden");
        // What TCP alone shows still shows.
        let verdict = c["verdict"].as_str().unwrap();
        let expected = truth(name)["connections"][0]["expected_verdict"].clone();
        assert_eq!(verdict, expected, "{name}: TCP-level verdict");
        let table = common::wspulse(&["analyze", &capture]);
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(text.contains("--tls-keylog"), "{name}: {text}");
    }
}

#[test]
fn another_connections_key_log_is_no_key() {
    let other = keys("wss12-blackhole");
    let c = only(&analyze(&[
        "--tls-keylog",
        &other,
        "samples/wss/wss13-healthy.pcap",
    ]))
    .clone();
    assert_eq!(c["tls"]["decrypted"], false);
    assert_eq!(c["tls"]["not_decrypted"], "no_key");
    assert_eq!(c["transport"], "tls");
}

/// Offsets of TCP payloads in a classic pcap of Ethernet/IPv4 packets:
/// (payload start, payload length) per packet.
fn payloads(pcap: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let pkt = at + 16;
        let ip = pkt + 14;
        let ihl = usize::from(pcap[ip] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([pcap[ip + 2], pcap[ip + 3]]));
        let tcp = ip + ihl;
        let doff = usize::from(pcap[tcp + 12] >> 4) * 4;
        let start = tcp + doff;
        out.push((start, (ip + total).saturating_sub(start)));
        at = pkt + caplen;
    }
    out
}

#[test]
fn a_tampered_record_is_a_counted_authentication_failure() {
    let bytes = std::fs::read(common::repo().join("samples/wss/wss13-healthy.pcap")).unwrap();
    let mut tampered = bytes.clone();
    // The 30th packet that starts with an application-data record: flip a
    // byte inside its ciphertext.
    let (start, _) = payloads(&bytes)
        .into_iter()
        .filter(|&(s, n)| n > 40 && bytes[s..s + 3] == [23, 3, 3])
        .nth(30)
        .expect("application data records");
    tampered[start + 20] ^= 0x5a;
    let dir = std::env::temp_dir().join(format!("wspulse-wss-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tampered.pcap");
    std::fs::write(&path, &tampered).unwrap();
    let key_log = keys("wss13-healthy");
    let report = analyze(&["--tls-keylog", &key_log, path.to_str().unwrap()]);
    let c = only(&report);
    assert_eq!(c["tls"]["decrypted"], true);
    assert_eq!(c["tls"]["records_failed"], 1, "{}", c["tls"]);
    // One record lost, the rest read: the connection is still alive.
    assert_eq!(c["verdict"], "alive");
    let table = common::wspulse(&["analyze", "--tls-keylog", &key_log, path.to_str().unwrap()]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("1 record(s) failed to authenticate"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_log_with_garbage_lines_is_read_or_refused_in_one_line() {
    let dir = std::env::temp_dir().join(format!("wspulse-wss-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Good lines among garbage: skipped with a count, decryption works.
    let good = std::fs::read_to_string(common::repo().join(keys("wss13-healthy"))).unwrap();
    let mixed = dir.join("mixed.keys");
    std::fs::write(&mixed, format!("garbage line\n{good}CLIENT_RANDOM zz\n")).unwrap();
    let out = common::wspulse(&[
        "analyze",
        "--format",
        "json",
        "--tls-keylog",
        mixed.to_str().unwrap(),
        "samples/wss/wss13-healthy.pcap",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 line(s) not understood, skipped (first: line 1)"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(only(&report)["tls"]["decrypted"], true);
    // Nothing but garbage: one line naming the file and the line.
    let bad = dir.join("bad.keys");
    std::fs::write(&bad, "\n\nthis is not a key log\n").unwrap();
    let out = common::wspulse(&[
        "analyze",
        "--tls-keylog",
        bad.to_str().unwrap(),
        "samples/wss/wss13-healthy.pcap",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.keys: line 3: not a key log line"),
        "{err}"
    );
    // Empty, or only comments: it decrypts nothing, and says so.
    let empty = dir.join("empty.keys");
    std::fs::write(&empty, "# SSL/TLS secrets log file\n").unwrap();
    let out = common::wspulse(&[
        "analyze",
        "--tls-keylog",
        empty.to_str().unwrap(),
        "samples/wss/wss13-healthy.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty.keys: no key log line in it"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_secret_of_the_key_log_reaches_any_output() {
    for (name, _, _) in KEYED {
        let key_log = keys(name);
        let text = std::fs::read_to_string(common::repo().join(&key_log)).unwrap();
        let secrets: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(2))
            .map(str::to_lowercase)
            .collect();
        assert!(!secrets.is_empty());
        let capture = format!("samples/wss/{name}.pcap");
        let runs: [&[&str]; 4] = [
            &["--format", "json"],
            &["--format", "table"],
            &["--format", "markdown"],
            &["--explain", "1"],
        ];
        for format in runs {
            let mut args = vec!["analyze", "--tls-keylog", &key_log, &capture];
            args.extend(format);
            let out = common::wspulse(&args);
            assert!(out.status.success(), "{name} {format:?}");
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .to_lowercase();
            for s in &secrets {
                // Any 16 hex digits of a secret would be a leak.
                assert!(
                    !all.contains(&s[..16]),
                    "{name} {format:?}: a secret in the output"
                );
            }
        }
    }
}

#[test]
fn tls13_traffic_secrets_alone_are_enough() {
    // Some loggers write only the application traffic secrets: the
    // encrypted handshake records are then passed over, not failures.
    let text = std::fs::read_to_string(common::repo().join(keys("wss13-healthy"))).unwrap();
    let only: String = text
        .lines()
        .filter(|l| {
            l.starts_with("CLIENT_TRAFFIC_SECRET_0") || l.starts_with("SERVER_TRAFFIC_SECRET_0")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(only.lines().count(), 2);
    let dir = std::env::temp_dir().join(format!("wspulse-wss-traffic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("traffic.keys");
    std::fs::write(&path, only).unwrap();
    let report = analyze(&[
        "--tls-keylog",
        path.to_str().unwrap(),
        "samples/wss/wss13-healthy.pcap",
    ]);
    let c = self::only(&report);
    assert_eq!(c["tls"]["decrypted"], true);
    assert_eq!(c["tls"]["records_failed"], 0, "{}", c["tls"]);
    common::assert_judged_as("traffic only", c, &truth("wss13-healthy")["connections"][0]);
    std::fs::remove_dir_all(&dir).unwrap();
}
