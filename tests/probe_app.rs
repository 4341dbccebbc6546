//! `wspulse probe --heartbeat`: the probe speaks an application protocol's
//! heartbeat as its clients do, against servers that speak each protocol's
//! documented wire format (tests/probe/app_server.py, python3-websockets):
//! healthy they are alive with the protocol named, and an application that
//! stops answering while its WebSocket library still would is caught with
//! the protocol's own heartbeat.

mod probe_kit;

use std::path::Path;
use std::time::Duration;

use probe_kit::*;
use serde_json::Value;

fn app_server(protocol: &str, mode: &str) -> Option<Server> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/app_server.py");
    let source = std::fs::read_to_string(script).expect("the test server");
    Server::run_with(&source, &[protocol, mode])
}

fn run(server: &Server, heartbeat: &str, path: &str, secs: &str) -> Value {
    let url = server.url(path);
    let args = [
        "--heartbeat",
        heartbeat,
        "--ping-interval",
        "500ms",
        "--duration",
        secs,
        "--format",
        "json",
        &url,
    ];
    let (out, _) = probe(&args, Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    conn(&out)
}

fn app<'a>(v: &'a Value, side: &str) -> &'a Value {
    &v["heartbeat"][side]["application"]
}

#[test]
fn each_protocol_is_spoken_and_recognised_on_a_healthy_server() {
    for (protocol, heartbeat, path, name) in [
        (
            "engineio",
            "engineio",
            "/socket.io/?EIO=4&transport=websocket",
            "socket.io",
        ),
        (
            "graphql",
            "graphql-transport-ws",
            "/graphql",
            "graphql-transport-ws",
        ),
        ("mqtt", "mqtt", "/mqtt", "mqtt"),
        ("stomp", "stomp", "/stomp", "stomp"),
    ] {
        let Some(server) = app_server(protocol, "healthy") else {
            return;
        };
        let v = run(&server, heartbeat, path, "3s");
        assert_eq!(v["verdict"], "alive", "{protocol}: {v:#}");
        assert_eq!(app(&v, "client")["protocol"], name, "{protocol}: {v:#}");
        // No WebSocket Pings: the protocol's own heartbeat instead.
        assert_eq!(v["frames"]["client"]["ping"], 0, "{protocol}");
        let beats = |side| {
            let a = app(&v, side);
            a["pings_sent"].as_u64().unwrap()
                + a["one_way"].as_u64().unwrap()
                + a["answers_sent"].as_u64().unwrap()
        };
        assert!(
            beats("client") >= 3 && beats("server") >= 3,
            "{protocol}: {v:#}"
        );
    }
}

#[test]
fn a_server_whose_application_stops_is_caught_by_its_own_heartbeat() {
    for (protocol, heartbeat, path, code, name) in [
        (
            "engineio",
            "engineio",
            "/socket.io/?EIO=4",
            "read_gap_exceeded",
            "socket.io",
        ),
        (
            "graphql",
            "graphql-transport-ws",
            "/graphql",
            "ping_unanswered",
            "graphql-transport-ws",
        ),
        ("mqtt", "mqtt", "/mqtt", "ping_unanswered", "mqtt"),
        ("stomp", "stomp", "/stomp", "read_gap_exceeded", "stomp"),
    ] {
        let Some(server) = app_server(protocol, "mute") else {
            return;
        };
        let v = run(&server, heartbeat, path, "5s");
        assert_eq!(v["verdict"], "false_alive", "{protocol}: {v:#}");
        let found = v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == code && r["side"] == "server" && r["heartbeat"] == name);
        assert!(found, "{protocol}: {code} (server, {name}) in {v:#}");
    }
}
