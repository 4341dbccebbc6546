//! `analyze --redact`: for sharing outside the team. No original address,
//! host, path or payload appears in any format nor in the `--extract`
//! capture (searched for, as text and as address bytes); pseudonyms are
//! the same in the report and the capture, which is still judged the same.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wspulse-redact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = common::wspulse(args);
    assert!(
        out.status.code() != Some(2),
        "wspulse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

/// Every IP address of every connection the plain report names.
fn addresses(capture: &str) -> Vec<IpAddr> {
    let report = common::json(&["analyze", "--all", "--format", "json", capture]);
    let mut out: Vec<IpAddr> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| [&c["client"]["ip"], &c["server"]["ip"]])
        .map(|ip| ip.as_str().unwrap().parse().unwrap())
        .collect();
    out.sort();
    out.dedup();
    assert!(!out.is_empty());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What of `words` and `ips` (as text, and as bytes when `binary`) is in
/// `hay`.
fn leaks(hay: &[u8], words: &[String], ips: &[IpAddr], binary: bool) -> Vec<String> {
    let mut out: Vec<String> = words
        .iter()
        .filter(|w| contains(hay, w.as_bytes()))
        .cloned()
        .collect();
    for ip in ips {
        if contains(hay, ip.to_string().as_bytes()) {
            out.push(ip.to_string());
        }
        let bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        if binary && contains(hay, &bytes) {
            out.push(format!("{ip} (bytes)"));
        }
    }
    out
}

/// Every output of a `--redact` run of `capture`, and the plain ones.
fn outputs(capture: &str, redact: bool) -> (Vec<u8>, Vec<u8>) {
    let r: &[&str] = if redact { &["--redact"] } else { &[] };
    let mut text = Vec::new();
    for format in ["table", "json", "ndjson", "markdown"] {
        let mut args = vec!["analyze", "--all", "--format", format];
        args.extend_from_slice(r);
        args.push(capture);
        text.extend(run(&args));
    }
    // The TCP view names addresses too.
    for format in ["table", "json"] {
        let mut args = vec!["analyze", "--tcp", "--format", format];
        args.extend_from_slice(r);
        args.push(capture);
        text.extend(run(&args));
    }
    let mut args = vec!["analyze", "--explain", "1"];
    args.extend_from_slice(r);
    args.push(capture);
    text.extend(run(&args));
    let path = scratch(&format!("{}-{redact}.pcap", capture.replace('/', "_")));
    let mut args = vec![
        "analyze",
        "--verdict",
        "alive,suspect,false_alive,aborted,closed",
        "--extract",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(r);
    args.push(capture);
    text.extend(run(&args));
    (text, std::fs::read(&path).unwrap())
}

fn check(capture: &str, words: &[String]) {
    let ips = addresses(capture);
    let (text, extract) = outputs(capture, true);
    assert_eq!(
        leaks(&text, words, &ips, false),
        Vec::<String>::new(),
        "report"
    );
    assert_eq!(
        leaks(&extract, words, &ips, true),
        Vec::<String>::new(),
        "extract"
    );
    // Without --redact they are there: the search can fail.
    let (text, extract) = outputs(capture, false);
    assert_eq!(leaks(&text, &[], &ips, false).len(), ips.len());
    assert!(leaks(&extract, &[], &ips, true).len() >= ips.len());
}

#[test]
fn planted_capture_leaves_no_address_host_path_or_secret() {
    let mut words: Vec<String> =
        std::fs::read_to_string(common::repo().join("tests/data/secrets/planted.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    words.extend(["ws.example.com", "app.example.com", "/chat", "/feed"].map(String::from));
    check("tests/data/secrets/planted.pcap", &words);
}

#[test]
fn mixed_fates_leaves_no_address() {
    check("samples/mixed-fates.pcap", &[]);
}

fn judged(report: &Value) -> Vec<(String, String, Value)> {
    let mut v: Vec<_> = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let codes: Vec<&Value> = c["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| &r["code"])
                .collect();
            (
                common::addr(&c["client"]),
                c["verdict"].as_str().unwrap().to_string(),
                serde_json::json!(codes),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn pseudonyms_match_between_report_and_extract_and_keep_subnets() {
    let path = scratch("keyed.pcap");
    let report = common::json(&[
        "analyze",
        "--format",
        "json",
        "--redact",
        "--redact-key",
        "ticket-42",
        "--extract",
        path.to_str().unwrap(),
        "samples/mixed-fates.pcap",
    ]);
    let again = common::json(&["analyze", "--format", "json", path.to_str().unwrap()]);
    let not_alive: Vec<_> = judged(&report)
        .into_iter()
        .filter(|j| j.1 != "alive")
        .collect();
    assert_eq!(judged(&again), not_alive);
    // 10.77.0.1 and 10.77.0.2 share 30 bits, and so do their pseudonyms.
    let c = &report["connections"][0];
    let ip = |v: &Value| -> u32 {
        let a: std::net::Ipv4Addr = v["ip"].as_str().unwrap().parse().unwrap();
        a.into()
    };
    assert_eq!((ip(&c["client"]) ^ ip(&c["server"])).leading_zeros(), 30);
    // The same key gives the same pseudonyms in another run.
    let other = common::json(&[
        "analyze",
        "--format",
        "json",
        "--redact",
        "--redact-key",
        "ticket-42",
        "samples/mixed-fates.pcap",
    ]);
    assert_eq!(other["connections"][0]["client"], c["client"]);
}

/// The TCP view under --redact names each host by the same pseudonym as
/// the findings do (one key, one run's pseudonyms per command).
#[test]
fn the_tcp_view_uses_the_findings_pseudonyms() {
    let key = ["--redact", "--redact-key", "k"];
    let mut args = vec!["analyze", "--tcp", "--format", "json"];
    args.extend(key);
    args.push("samples/mixed-fates.pcap");
    let tcp: Value = serde_json::from_slice(&run(&args)).unwrap();
    let mut args = vec!["analyze", "--all", "--format", "json"];
    args.extend(key);
    args.push("samples/mixed-fates.pcap");
    let findings: Value = serde_json::from_slice(&run(&args)).unwrap();
    let ip = |v: &Value| v["client"]["ip"].as_str().unwrap().to_string();
    assert_ne!(ip(&tcp["connections"][0]), "10.77.0.2");
    assert_eq!(ip(&tcp["connections"][0]), ip(&findings["connections"][0]));
}
