//! The probe's outputs and its command line: `--watch` lines as `ping`
//! prints them, `--connections`, NDJSON, the monitoring-plugin line of
//! `--check` with its exit codes (3 UNKNOWN for bad arguments), `-4`/`-6`,
//! and options that do not combine, refused with a reason.

mod probe_kit;

use std::time::Duration;

use probe_kit::*;

#[test]
fn watch_prints_a_line_per_ping_interval_then_the_result() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/");
    let args = ["--watch", "--count", "4", "--ping-interval", "200ms", &url];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let watch: Vec<&str> = text.lines().filter(|l| l.starts_with("#1 ping ")).collect();
    // A line for each Ping, written one interval after it (the last one
    // when the probe stops).
    assert_eq!(watch.len(), 4, "{text}");
    for (i, line) in watch.iter().enumerate() {
        assert!(
            line.starts_with(&format!("#1 ping {}: rtt ", i + 1)),
            "{line}"
        );
        assert!(
            line.contains("not sent 0 B") && line.ends_with(": alive"),
            "{line}"
        );
    }
    assert!(text.contains(&format!("probe {url} #1")), "{text}");
}

#[test]
fn connections_opens_several_and_judges_each() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--connections",
        "3",
        "--count",
        "2",
        "--ping-interval",
        "100ms",
        "--format",
        "json",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json(&out);
    let conns = doc["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 3, "{doc:#}");
    let mut ports: Vec<u64> = conns
        .iter()
        .map(|c| c["client"]["port"].as_u64().unwrap())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "three sockets: {ports:?}");
    let ids: Vec<u64> = conns.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(doc["summary"]["connections"], 3);
    assert_eq!(doc["summary"]["verdicts"]["alive"], 3, "{doc:#}");
    assert_eq!(doc["summary"]["failed"], 0);
}

#[test]
fn ndjson_is_a_header_each_connection_and_a_summary() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/");
    let args = [
        "--connections",
        "2",
        "--count",
        "1",
        "--format",
        "ndjson",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["type"].as_str().expect("type").to_string()
        })
        .collect();
    assert_eq!(kinds, ["header", "connection", "connection", "summary"]);
}

#[test]
fn check_prints_one_plugin_line_with_performance_data() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/");
    let args = ["--check", "--count", "2", "--ping-interval", "100ms", &url];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(&format!("WSPULSE OK - {url} alive | ")),
        "{line}"
    );
    for perf in [
        "connections=1",
        "failed=0",
        "pings=2",
        "pongs=2",
        "rtt_max=",
        "unsent=0B",
    ] {
        assert!(line.contains(perf), "{perf} in {line}");
    }
}

#[test]
fn check_says_critical_when_nothing_connects_and_unknown_for_bad_arguments() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let (out, _) = probe(&["--check", &url], Duration::from_secs(8));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("WSPULSE CRITICAL - ") && line.contains("refused"),
        "{line}"
    );

    for bad in [
        vec!["--check", "--ping-interval", "soon", &url],
        vec!["--check", "--count", "0", &url],
        vec!["--check", "--format", "json", &url],
        vec!["--check", "http://example.invalid/"],
    ] {
        let (out, took) = probe(&bad, Duration::from_secs(5));
        assert_eq!(out.status.code(), Some(3), "{bad:?}: {out:?}");
        let line = String::from_utf8_lossy(&out.stdout);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("WSPULSE UNKNOWN - "), "{line}");
        assert!(took < Duration::from_secs(2));
    }
}

#[test]
fn an_address_family_with_no_address_is_said_plainly() {
    let (out, took) = probe(&["-6", "ws://127.0.0.1:9/"], Duration::from_secs(5));
    assert_one_line_error(
        &out,
        took,
        "127.0.0.1 has no IPv6 address",
        Duration::from_secs(2),
    );
}

#[test]
fn options_that_do_not_combine_are_refused_with_a_reason() {
    for (args, reason) in [
        (
            vec!["--watch", "--format", "json"],
            "--watch prints a line at a time",
        ),
        (vec!["--insecure"], "--insecure is for wss:// URLs"),
        (vec!["--ca-file", "ca.pem"], "--ca-file is for wss:// URLs"),
        (vec!["--connections", "0"], "--connections takes 1 to 1000"),
    ] {
        let all = [&args[..], &["ws://127.0.0.1:9/"]].concat();
        let (out, took) = probe(&all, Duration::from_secs(5));
        assert_one_line_error(&out, took, reason, Duration::from_secs(2));
    }
    // clap's own refusals: usage on stderr, exit 2.
    let (out, _) = probe(
        &["--send-interval", "1s", "ws://127.0.0.1:9/"],
        Duration::from_secs(5),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--send <TEXT>"));
}

/// Serves the findings schema to the probe schema's references, offline.
struct Findings(serde_json::Value);

impl jsonschema::Retrieve for Findings {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        match uri.as_str() {
            "https://wspulse.invalid/schema/findings-1.json" => Ok(self.0.clone()),
            other => Err(format!("no schema at {other}").into()),
        }
    }
}

fn schema(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).expect("schema file")).expect("schema JSON")
}

#[test]
fn the_json_result_matches_its_schema_reasons_evidence_and_all() {
    let Some(server) = Server::raw("silent") else {
        return;
    };
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .with_retriever(Findings(schema("findings.schema.json")))
        .build(&schema("probe.schema.json"))
        .expect("the probe schema is valid and its references resolve");
    let url = server.url("/");
    let args = [
        "--duration",
        "2s",
        "--ping-interval",
        "200ms",
        "--pong-timeout",
        "500ms",
        "--format",
        "json",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(8));
    let doc = json(&out);
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    // The evidence points at the probe's own samples, not capture frames.
    let reason = &doc["connections"][0]["reasons"][0];
    assert_eq!(reason["code"], "ping_unanswered", "{doc:#}");
    let evidence = reason["evidence"]["frames"][0]["sample"].as_u64();
    assert!(evidence.is_some_and(|n| n >= 1), "{reason:#}");

    // And a broken contract is caught: the schema is not a rubber stamp.
    let mut broken = doc.clone();
    broken["connections"][0]["verdict"] = "fine".into();
    assert!(!validator.is_valid(&broken));
}
