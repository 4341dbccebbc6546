//! The metrics server as a scraper sees it: over a real socket, in the text
//! format Prometheus parses.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use super::*;

/// One HTTP/1.0 request; the status code and the body.
fn get(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// Samples by series (`name{labels}`), after checking that every family
/// is announced by `# HELP` and `# TYPE` before its samples.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
            typed.push(name.to_string());
        } else if line.starts_with("# HELP ") {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert!(
                typed.iter().any(|t| name == t
                    || name
                        .strip_prefix(t.as_str())
                        .is_some_and(|s| s == "_sum" || s == "_count")),
                "{name} has no TYPE line before it"
            );
            assert!(name.starts_with("wspulse_"), "{name}");
            samples.insert(series.to_string(), value.parse::<f64>().unwrap());
        }
    }
    samples
}

#[test]
fn a_scrape_sees_the_latest_snapshot_in_prometheus_text_format() {
    let server = MetricsServer::start("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    // Before the first tick: every family, at zero.
    let (status, head, body) = get(addr, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let zero = parse(&body);
    assert_eq!(zero["wspulse_packets_total"], 0.0);
    assert_eq!(zero["wspulse_judge_duration_seconds_count"], 0.0);

    server.update(&MetricsSnapshot {
        connections_by_verdict: vec![("alive", 3), ("false_alive", 1), ("suspect", 0)],
        reasons_by_code: vec![("peer_unreachable", "client", 1), ("no_heartbeat", "", 2)],
        packets_total: 12_345,
        bytes_total: 987_654,
        connections_total: 7,
        retired_total: 3,
        kernel_received: 12_400,
        kernel_dropped: 55,
        kernel_if_dropped: 2,
        judge_seconds_last: 0.000_25,
        judge_seconds_total: 1.5,
        judge_runs_total: 60,
    });
    let (status, _, body) = get(addr, "GET", "/metrics");
    assert_eq!(status, 200);
    let m = parse(&body);
    assert_eq!(m["wspulse_connections{verdict=\"alive\"}"], 3.0);
    assert_eq!(m["wspulse_connections{verdict=\"false_alive\"}"], 1.0);
    assert_eq!(m["wspulse_connections{verdict=\"suspect\"}"], 0.0);
    assert_eq!(
        m["wspulse_reasons{code=\"peer_unreachable\",side=\"client\"}"],
        1.0
    );
    assert_eq!(m["wspulse_reasons{code=\"no_heartbeat\",side=\"\"}"], 2.0);
    assert_eq!(m["wspulse_packets_total"], 12_345.0);
    assert_eq!(m["wspulse_captured_bytes_total"], 987_654.0);
    assert_eq!(m["wspulse_connections_seen_total"], 7.0);
    assert_eq!(m["wspulse_connections_retired_total"], 3.0);
    assert_eq!(m["wspulse_kernel_received_packets_total"], 12_400.0);
    assert_eq!(m["wspulse_kernel_dropped_packets_total"], 55.0);
    assert_eq!(m["wspulse_interface_dropped_packets_total"], 2.0);
    assert_eq!(m["wspulse_judge_last_duration_seconds"], 0.000_25);
    assert_eq!(m["wspulse_judge_duration_seconds_sum"], 1.5);
    assert_eq!(m["wspulse_judge_duration_seconds_count"], 60.0);
    assert!(body.contains("# TYPE wspulse_packets_total counter\n"));
    assert!(body.contains("# TYPE wspulse_connections gauge\n"));
    assert!(body.contains("# TYPE wspulse_judge_duration_seconds summary\n"));
}

#[test]
fn other_paths_are_not_found_and_other_methods_refused() {
    let server = MetricsServer::start("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "GET", "/").0, 404);
    assert_eq!(get(addr, "GET", "/metricsx").0, 404);
    assert_eq!(get(addr, "POST", "/metrics").0, 405);
    assert_eq!(get(addr, "GET", "/metrics?x=1").0, 200);
}

#[test]
fn an_address_that_cannot_be_served_is_named_in_the_error() {
    let err = MetricsServer::start("not an address").err().unwrap();
    assert!(
        err.starts_with("--metrics not an address: not an address"),
        "{err}"
    );
    assert!(err.contains("HOST:PORT"), "{err}");

    let taken = MetricsServer::start("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().to_string();
    let err = MetricsServer::start(&addr).err().unwrap();
    assert!(
        err.starts_with(&format!("--metrics {addr}: cannot listen there:")),
        "{err}"
    );
}

#[test]
fn label_values_and_odd_numbers_are_written_as_the_format_requires() {
    let mut out = String::new();
    sample(&mut out, "wspulse_x", &[("l", "a\"b\\c\nd")], 1);
    assert_eq!(out, "wspulse_x{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    let mut out = String::new();
    sample_f64(&mut out, "wspulse_y", f64::NAN);
    sample_f64(&mut out, "wspulse_y", f64::INFINITY);
    sample_f64(&mut out, "wspulse_y", 2.0);
    assert_eq!(out, "wspulse_y NaN\nwspulse_y +Inf\nwspulse_y 2\n");
}
