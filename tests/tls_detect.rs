//! TLS without being told: a connection whose capture holds its hello is
//! judged on any port, with what its ClientHello and ServerHello said;
//! `--tls-port` is a hint the bytes can overrule.
//!
//! tests/data/tls/sni-alpn.pcap is a real recording (record-sni.sh): two
//! wss connections on port 9555, SNI `feed.wspulse.invalid`, ALPN offered
//! `h2,http/1.1`, the first TLS 1.3, the second TLS 1.2 (ALPN chosen
//! `http/1.1`), as tshark dissects them. tests/data/tls/wss-midstream.pcap
//! is samples/wss-healthy.pcap from frame 20 on (`editcap -r … 20-80`): the
//! capture begins after the handshake.

mod common;

use serde_json::{json, Value};

fn args_without_tls_port(truth: &Value) -> Vec<String> {
    let flags = common::sample_flags(truth);
    let mut out = Vec::new();
    let mut it = flags.into_iter();
    while let Some(f) = it.next() {
        if f == "--tls-port" {
            it.next();
        } else {
            out.push(f);
        }
    }
    out
}

#[test]
fn a_blackholed_wss_connection_on_an_unnamed_port_fails_false_alive() {
    let truth = common::truth("wss-blackhole");
    let mut args = vec![
        "analyze".to_string(),
        "--fail-on".into(),
        "false_alive".into(),
    ];
    args.extend(args_without_tls_port(&truth));
    assert!(!args.iter().any(|a| a == "--tls-port"));
    args.extend([
        "--format".into(),
        "json".into(),
        "samples/wss-blackhole.pcap".into(),
    ]);
    let out = common::wspulse(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &report["connections"][0];
    assert_eq!(c["transport"], "tls");
    assert_eq!(c["verdict"], "false_alive");
    assert_eq!(
        common::codes(&c["reasons"]),
        common::codes(&truth["connections"][0]["expected_reasons"])
    );
    assert_eq!(c["tls"]["version"], "TLSv1_3");
    assert_eq!(report["summary"]["unnamed_tls_connections"], 0);
}

#[test]
fn a_wss_connection_is_judged_the_same_with_the_flag_or_without() {
    for name in ["wss-healthy", "wss-blackhole"] {
        let truth = common::truth(name);
        let capture = format!("samples/{name}.pcap");
        let mut bare = vec!["analyze".to_string(), "--format".into(), "json".into()];
        bare.extend(args_without_tls_port(&truth));
        bare.push(capture.clone());
        let mut named = bare.clone();
        named.insert(1, "--tls-port".into());
        named.insert(2, "8443".into());
        let run = |a: &[String]| common::json(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let (without, with) = (run(&bare), run(&named));
        let (a, b) = (&without["connections"][0], &with["connections"][0]);
        assert_eq!(a["verdict"], truth["connections"][0]["expected_verdict"]);
        for field in [
            "verdict",
            "reasons",
            "transport",
            "tls",
            "frames",
            "judged_at",
        ] {
            assert_eq!(a[field], b[field], "{name}: {field}");
        }
        // Roles: the SYN decides both ways, the ClientHello agrees.
        assert_eq!(a["role_source"], "syn");
        assert_eq!(b["role_source"], "syn");
    }
}

#[test]
fn the_server_name_and_protocols_come_from_the_hellos_as_tshark_reads_them() {
    let report = common::json(&[
        "analyze",
        "--format",
        "json",
        "tests/data/tls/sni-alpn.pcap",
    ]);
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2);
    let tls: Vec<&Value> = conns.iter().map(|c| &c["tls"]).collect();
    assert_eq!(
        *tls[0],
        json!({"sni": "feed.wspulse.invalid", "alpn_offered": ["h2", "http/1.1"],
               "alpn": null, "version": "TLSv1_3",
               "client_hello_frame": {"file": 0, "frame": 4},
               "server_hello_frame": {"file": 0, "frame": 6}, "hello_unread": null,
               "decrypted": false, "not_decrypted": "no_keylog", "cipher_suite": null,
               "records_decrypted": 0, "records_failed": 0})
    );
    assert_eq!(tls[1]["version"], "TLSv1_2");
    assert_eq!(
        tls[1]["alpn"], "http/1.1",
        "TLS 1.2 says the choice in clear"
    );
    assert_eq!(tls[1]["client_hello_frame"]["frame"], 41);
    for c in conns {
        assert_eq!(c["transport"], "tls");
        assert_eq!(c["server"]["port"], 9555);
        assert_eq!(c["verdict"], "alive");
    }
    let table = common::wspulse(&[
        "analyze",
        "--color",
        "never",
        "tests/data/tls/sni-alpn.pcap",
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("feed.wspulse.invalid"), "{text}");
    assert!(text.contains("TLSv1_2, ALPN http/1.1"), "{text}");
}

#[test]
fn tls_whose_handshake_the_capture_missed_needs_the_flag() {
    let capture = "tests/data/tls/wss-midstream.pcap";
    let bare = common::json(&["analyze", "--format", "json", capture]);
    assert_eq!(bare["summary"]["connections"], 0);
    assert_eq!(bare["summary"]["unnamed_tls_connections"], 1);
    assert_eq!(bare["summary"]["unnamed_tls_ports"], json!([8443]));
    let table = common::wspulse(&["analyze", "--color", "never", capture]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("add --tls-port 8443 to judge wss"));
    let named = common::json(&["analyze", "--format", "json", "--tls-port", "8443", capture]);
    let c = &named["connections"][0];
    assert_eq!(c["transport"], "tls");
    assert_eq!(c["tls"]["sni"], Value::Null);
    assert_eq!(c["tls"]["version"], Value::Null);
    assert_eq!(named["summary"]["unnamed_tls_connections"], 0);
}

/// `--tls-port 8080` on plain ws: the bytes are an HTTP Upgrade, so the
/// frames are decoded (and agree with tshark's golden counts for the
/// sample) and the port is named in a warning.
#[test]
fn a_tls_port_that_carries_plain_websocket_is_decoded_with_a_warning() {
    let capture = "samples/healthy-pings.pcap";
    let out = common::wspulse(&["analyze", "--format", "json", "--tls-port", "8080", capture]);
    assert_eq!(out.status.code(), Some(0), "a warning, not an error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: --tls-port 8080:") && stderr.contains("plain HTTP"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("--tls-port 8080:")),
        "{warnings:?}"
    );
    let c = &report["connections"][0];
    assert_eq!(c["transport"], "websocket");
    assert_eq!(c["tls"], Value::Null);
    assert_eq!(c["handshake"]["seen"], true);
    let plain = common::json(&["analyze", "--format", "json", capture]);
    assert_eq!(c["frames"], plain["connections"][0]["frames"]);
    assert_eq!(c["verdict"], plain["connections"][0]["verdict"]);
    // tshark's count of the same frames (tests/oracle/golden).
    let golden: Value = serde_json::from_slice(
        &std::fs::read(common::repo().join("tests/oracle/golden/samples__healthy-pings.pcap.json"))
            .unwrap(),
    )
    .unwrap();
    let stream = &golden["tcp_connections"][0];
    let server = common::addr(&c["server"]);
    for (dir, from) in [("a_to_b", &stream["a"]), ("b_to_a", &stream["b"])] {
        let side = if common::addr(from) == server {
            "server"
        } else {
            "client"
        };
        let t = &stream["per_direction"][dir]["websocket_frames"];
        for op in ["text", "ping", "pong", "close"] {
            assert_eq!(
                c["frames"][side][op].as_i64().unwrap(),
                t[op].as_i64().unwrap_or(0),
                "{side} {op}"
            );
        }
    }
    assert!(c["frames"]["server"]["ping"].as_i64().unwrap() > 0);
}
