//! The application-heartbeat samples (samples/app/, recorded by
//! samples/record-app.sh with real Socket.IO, graphql-ws, MQTT and STOMP
//! implementations) against their truth files: verdict, reasons with the
//! side at fault and the heartbeat protocol they name, notes, and frame
//! counts. Truth files come from the peers' own logs, never from wspulse.
//!
//! The judgement tests wait for the judge to recognise application
//! heartbeats (spec: shared/spec/liveness-model.md, "Heartbeats"); the truth
//! files' own consistency (frame counts against tshark's golden answers) is
//! checked now.

mod common;

use serde_json::Value;

const DIR: &str = "samples/app";

fn truth(name: &str) -> Value {
    common::truth(&format!("app/{name}"))
}

fn findings(name: &str, truth: &Value) -> Value {
    let mut args = vec!["analyze".to_string(), "--format".into(), "json".into()];
    args.extend(common::sample_flags(truth));
    args.push(format!("{DIR}/{}", common::sample_file(name, truth)));
    common::json(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Reasons as (code, side, heartbeat); heartbeat is compared only where the
/// truth names one.
fn reasons(list: &Value, with_heartbeat: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let code = r["code"].as_str().unwrap().to_string();
            let side = r["side"].as_str().unwrap_or("null").to_string();
            let hb = if with_heartbeat.contains(&(code.clone(), side.clone())) {
                r["heartbeat"].as_str().unwrap_or("(none)").to_string()
            } else {
                String::new()
            };
            (code, side, hb)
        })
        .collect();
    v.sort();
    v
}

fn note_codes(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

const OPCODES: [&str; 6] = ["text", "binary", "continuation", "close", "ping", "pong"];

fn check(name: &str) {
    let truth = truth(name);
    let report = findings(name, &truth);
    let conns = report["connections"].as_array().unwrap();
    for expected in truth["connections"].as_array().unwrap() {
        let client = common::addr(&expected["client"]);
        let label = format!("{name} {client}");
        let got = conns
            .iter()
            .find(|c| common::addr(&c["client"]) == client)
            .unwrap_or_else(|| panic!("{label}: no WebSocket connection from {client}"));
        assert_eq!(
            common::addr(&got["server"]),
            common::addr(&expected["server"]),
            "{label}: server (roles)"
        );
        let with_hb: Vec<(String, String)> = expected["expected_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("heartbeat").is_some())
            .map(|r| {
                (
                    r["code"].as_str().unwrap().to_string(),
                    r["side"].as_str().unwrap_or("null").to_string(),
                )
            })
            .collect();
        if expected["expected_verdict"] == "alive" {
            assert!(
                !got["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["code"] == "no_heartbeat"),
                "{label}: a working {} heartbeat is a heartbeat: no no_heartbeat ({})",
                truth["protocol"],
                got["reasons"]
            );
        }
        assert_eq!(
            got["verdict"], expected["expected_verdict"],
            "{label}: verdict; reasons {}",
            got["reasons"]
        );
        assert_eq!(
            reasons(&got["reasons"], &with_hb),
            reasons(&expected["expected_reasons"], &with_hb),
            "{label}: reasons (code, side, heartbeat)"
        );
        assert_eq!(
            note_codes(&got["notes"]),
            note_codes(&expected["expected_notes"]),
            "{label}: notes"
        );
        for side in ["client", "server"] {
            for op in OPCODES {
                assert_eq!(
                    got["frames"][side][op], expected["facts"][side][op],
                    "{label}: {side} {op} frames"
                );
            }
            let want = &expected["expected_heartbeat"][side];
            let have = &got["heartbeat"][side];
            assert_eq!(
                have["protocol"], want["protocol"],
                "{label}: {side} heartbeat protocol"
            );
            assert_eq!(
                have["interval_source"], want["interval_source"],
                "{label}: {side} heartbeat interval source"
            );
        }
    }
}

/// tshark's frame counts (the golden file tests/oracle/regen.py made from
/// the same capture) equal the truth's, which came from the peers' logs:
/// the recording and its truth agree, whatever wspulse says.
fn truth_agrees_with_tshark(name: &str) {
    let truth = truth(name);
    let file = common::sample_file(name, &truth);
    let path = common::repo().join(format!("tests/oracle/golden/samples__app__{file}.json"));
    let golden: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    for expected in truth["connections"].as_array().unwrap() {
        let client = common::addr(&expected["client"]);
        let stream = golden["tcp_connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| common::addr(&s["a"]) == client || common::addr(&s["b"]) == client)
            .unwrap_or_else(|| panic!("{name}: tshark saw no connection from {client}"));
        let client_is_a = common::addr(&stream["a"]) == client;
        for (side, from_a) in [("client", client_is_a), ("server", !client_is_a)] {
            let dir = if from_a { "a_to_b" } else { "b_to_a" };
            for op in OPCODES {
                let seen = stream["per_direction"][dir]["websocket_frames"][op]
                    .as_u64()
                    .unwrap_or(0);
                assert_eq!(
                    Some(seen),
                    expected["facts"][side][op].as_u64(),
                    "{name} {client}: {side} {op} frames, tshark against the peers' logs"
                );
            }
        }
    }
}

macro_rules! app_samples {
    ($($test:ident, $tshark:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }

            #[test]
            fn $tshark() {
                truth_agrees_with_tshark($name);
            }
        )*

        /// A sample without a test here is a sample nobody checks.
        #[test]
        fn every_app_sample_has_a_test() {
            let tested = [$($name),*];
            let captures = common::captures_in(&common::repo().join(DIR));
            assert!(captures.len() >= tested.len(), "samples/app/ lost captures");
            for path in captures {
                let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
                assert!(
                    tested.contains(&stem.as_str()),
                    "{DIR}/{stem} has no test in tests/app_samples.rs"
                );
            }
        }
    };
}

app_samples! {
    socketio_healthy_is_alive, socketio_healthy_truth_matches_tshark => "sio-healthy",
    socketio_frozen_client_is_false_alive, socketio_frozen_client_truth_matches_tshark => "sio-client-frozen",
    socketio_frozen_server_is_false_alive, socketio_frozen_server_truth_matches_tshark => "sio-server-frozen",
    socketio_pongs_without_app_pongs_is_false_alive, socketio_app_pings_dropped_truth_matches_tshark => "sio-app-pings-dropped",
    graphql_healthy_is_alive, graphql_healthy_truth_matches_tshark => "gql-healthy",
    graphql_frozen_client_is_false_alive, graphql_frozen_client_truth_matches_tshark => "gql-client-frozen",
    graphql_frozen_server_is_false_alive, graphql_frozen_server_truth_matches_tshark => "gql-server-frozen",
    graphql_pongs_without_app_pongs_is_false_alive, graphql_app_pings_dropped_truth_matches_tshark => "gql-app-pings-dropped",
    mqtt_healthy_is_alive, mqtt_healthy_truth_matches_tshark => "mqtt-healthy",
    mqtt_frozen_client, mqtt_frozen_client_truth_matches_tshark => "mqtt-client-frozen",
    mqtt_frozen_server, mqtt_frozen_server_truth_matches_tshark => "mqtt-server-frozen",
    mqtt_pongs_without_pingresp, mqtt_app_pings_dropped_truth_matches_tshark => "mqtt-app-pings-dropped",
    stomp_healthy_is_alive, stomp_healthy_truth_matches_tshark => "stomp-healthy",
    stomp_frozen_client_is_false_alive, stomp_frozen_client_truth_matches_tshark => "stomp-client-frozen",
    stomp_frozen_server_is_false_alive, stomp_frozen_server_truth_matches_tshark => "stomp-server-frozen",
    stomp_pongs_without_heart_beats_is_false_alive, stomp_app_pings_dropped_truth_matches_tshark => "stomp-app-pings-dropped",
}
