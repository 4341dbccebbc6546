//! `wspulse probe wss://…`: TLS through rustls against a real TLS
//! WebSocket server on loopback, with the test CA of tests/data/tls (made
//! by its make.sh): a checked certificate, a name mismatch, an unknown
//! issuer, `--insecure`, and a plain server on a wss:// URL. Each failure
//! ends within the connect timeout with one line and exit 2.

mod probe_kit;

use std::time::Duration;

use probe_kit::*;

#[test]
fn a_certificate_from_the_given_ca_is_checked_and_the_probe_runs() {
    let Some(server) = Server::tls("localhost") else {
        return;
    };
    let ca = test_ca();
    let url = server.wss("/feed?key=tls-secret-5");
    let args = [
        "--ca-file",
        &ca,
        "--count",
        "3",
        "--ping-interval",
        "100ms",
        "--send",
        "hello",
        "--send-interval",
        "100ms",
        "--format",
        "json",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["url"], server.wss("/feed").as_str(), "{doc:#}");
    let v = conn(&out);
    assert_eq!(v["verdict"], "alive", "{v:#}");
    assert_eq!(v["tls"]["certificate_checked"], true, "{v:#}");
    assert!(v["tls"]["version"].as_str().unwrap().starts_with("TLSv1_"));
    assert_eq!(v["pings"]["answered"], 3, "{v:#}");
    // An echo server: each send is answered by the next data frame.
    let sends = &v["sends"];
    assert!(sends["sent"].as_u64().unwrap() >= 2, "{sends}");
    assert!(sends["answered"].as_u64().unwrap() >= 2, "{sends}");
    assert!(
        sends["latency_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{sends}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("tls-secret-5") && !text.contains("hello"),
        "{text}"
    );
}

#[test]
fn a_certificate_for_another_name_is_refused_in_one_line() {
    let Some(server) = Server::tls("other") else {
        return;
    };
    let ca = test_ca();
    let url = server.wss("/");
    let args = ["--ca-file", &ca, "--connect-timeout", "2s", &url];
    let (out, took) = probe(&args, Duration::from_secs(6));
    let needle = "certificate of wss://127.0.0.1";
    assert_one_line_error(&out, took, needle, Duration::from_secs(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not valid for 127.0.0.1"), "{err}");
}

#[test]
fn an_unknown_issuer_names_the_fix_and_insecure_connects_loudly() {
    let Some(server) = Server::tls("localhost") else {
        return;
    };
    let url = server.wss("/");
    // Mozilla's roots do not hold the test CA.
    let (out, took) = probe(&["--connect-timeout", "2s", &url], Duration::from_secs(6));
    assert_one_line_error(&out, took, "unknown issuer", Duration::from_secs(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ca-file"), "{err}");

    let args = [
        "--insecure",
        "--count",
        "2",
        "--ping-interval",
        "100ms",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--insecure") && err.contains("NOT checked"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("certificate NOT checked"), "{text}");
}

#[test]
fn a_plain_server_on_a_wss_url_is_said_to_not_speak_tls() {
    let Some(server) = Server::start() else {
        return;
    };
    let url = server.url("/").replace("ws://", "wss://");
    let (out, took) = probe(&["--connect-timeout", "2s", &url], Duration::from_secs(6));
    assert_one_line_error(&out, took, "did not answer in TLS", Duration::from_secs(3));
}

#[test]
fn a_plain_http_server_ends_the_tls_handshake_within_the_deadline() {
    let port = raw_server("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let url = format!("wss://127.0.0.1:{port}/");
    let (out, took) = probe(&["--connect-timeout", "2s", &url], Duration::from_secs(6));
    assert_one_line_error(&out, took, "did not answer in TLS", Duration::from_secs(3));
}
