//! No secret from the wire in any output, by default: a capture with a
//! secret planted in every field (tests/data/secrets/gen_secrets.py) through
//! every format of both views; `--show-secrets` shows them (so this test can
//! fail), and `--redact-key` makes fingerprints comparable across runs.

mod common;

const CAPTURE: &str = "tests/data/secrets/planted.pcap";

fn planted() -> Vec<String> {
    let text =
        std::fs::read_to_string(common::repo().join("tests/data/secrets/planted.txt")).unwrap();
    text.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

fn run(extra: &[&str]) -> (String, String) {
    let mut args = vec!["analyze"];
    args.extend_from_slice(extra);
    args.push(CAPTURE);
    let out = common::wspulse(&args);
    assert!(
        out.status.success(),
        "wspulse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_planted_secret_reaches_any_output() {
    let secrets = planted();
    assert!(
        secrets.len() >= 25,
        "the generator plants {} secrets",
        secrets.len()
    );
    for view in [&[][..], &["--tcp"][..]] {
        for format in ["table", "json", "ndjson"] {
            let mut args = view.to_vec();
            args.extend_from_slice(&["--format", format, "--color", "always"]);
            let (stdout, stderr) = run(&args);
            for secret in &secrets {
                assert!(
                    !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                    "{secret} leaked with {args:?}"
                );
            }
        }
    }
}

#[test]
fn what_a_reader_needs_stays() {
    let (stdout, _) = run(&["--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let conns = report["connections"].as_array().unwrap();
    let chat = conns.iter().find(|c| c["client"]["port"] == 40001).unwrap();
    let h = &chat["handshake"];
    let path = h["path"].as_str().unwrap();
    assert!(path.starts_with("/chat?token=<17B:"), "{path}");
    assert!(path.contains("&session=<"), "{path}");
    assert!(h["origin"].as_str().unwrap().ends_with("@app.example.com"));
    assert!(h["protocol"]
        .as_str()
        .unwrap()
        .starts_with("base64url.bearer.authorization.k8s.io.<"));
    assert!(h["extensions"][0]
        .as_str()
        .unwrap()
        .starts_with("permessage-deflate; server_max_window_bits=10; x-key=<"));
    assert_eq!(chat["close"]["client"]["code"], 1000);
    assert_eq!(chat["close"]["client"]["reason_len"], 24);
    let note = &chat["notes"][0]["evidence"];
    assert_eq!(note["ping_payload_len"], 17);
    assert_eq!(note["pong_payload_len"], 21);
    assert!(note.get("ping_payload").is_none());
    // The unanswered Ping is cited by length and fingerprint.
    let feed = conns.iter().find(|c| c["client"]["port"] == 40002).unwrap();
    let reason = &feed["reasons"][0];
    assert_eq!(reason["code"], "ping_unanswered");
    assert_eq!(reason["evidence"]["ping_payload_len"], 21);
    assert_eq!(
        reason["evidence"]["ping_payload_hmac"]
            .as_str()
            .unwrap()
            .len(),
        16
    );
}

#[test]
fn show_secrets_shows_them_and_says_so() {
    let (stdout, stderr) = run(&["--format", "json", "--show-secrets"]);
    assert!(stderr.contains("--show-secrets"), "{stderr}");
    for shown in [
        "PLANTEDQUERYVALUE",
        "PLANTEDORIGINPASSWORD",
        "PLANTEDK8STOKEN",
        "PLANTEDCLIENTCLOSEREASON",
        "PLANTEDEXTENSIONPARAM",
    ] {
        assert!(stdout.contains(shown), "{shown} not shown");
    }
    // Ping payloads in hex (their first 16 bytes).
    let hex: String = b"PLANTEDUNANSWERE"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(stdout.contains(&hex));
}

#[test]
fn a_redact_key_makes_fingerprints_comparable() {
    let one = run(&["--format", "json", "--redact-key", "incident-42"]).0;
    let two = run(&["--format", "json", "--redact-key", "incident-42"]).0;
    let other = run(&["--format", "json", "--redact-key", "incident-43"]).0;
    let random = run(&["--format", "json"]).0;
    let path = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["connections"][0]["handshake"]["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(path(&one), path(&two));
    assert_ne!(path(&one), path(&other));
    assert_ne!(path(&one), path(&random));
}
