//! Every recorded sample against its truth file: the verdict, the reasons
//! with the side at fault, the notes, and the frame counts each peer logged
//! writing. Truth files come from the peers' own logs (samples/record.sh),
//! never from wspulse, so these tests compare with what happened.

mod common;

use serde_json::Value;

fn findings(name: &str, truth: &Value) -> Value {
    let mut args = vec!["analyze".to_string(), "--format".into(), "json".into()];
    args.extend(common::sample_flags(truth));
    args.push(format!("samples/{}", common::sample_file(name, truth)));
    common::json(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn check(name: &str) {
    let truth = common::truth(name);
    let report = findings(name, &truth);
    assert_eq!(report["schema"], "wspulse.findings/1");
    let conns = report["connections"].as_array().unwrap();
    for expected in truth["connections"].as_array().unwrap() {
        let client = common::addr(&expected["client"]);
        let got = conns
            .iter()
            .find(|c| common::addr(&c["client"]) == client)
            .unwrap_or_else(|| panic!("{name}: no WebSocket connection from {client}"));
        let label = format!("{name} {client}");
        assert_eq!(
            common::addr(&got["server"]),
            common::addr(&expected["server"]),
            "{label}: server (roles)"
        );
        common::assert_judged_as(&label, got, expected);
        check_episodes(&label, &expected["expected_episodes"], &got["episodes"]);
        let facts = &expected["facts"];
        check_tcp(&label, facts, &got["tcp"]);
        // Frames on the wire: what each peer logged writing, less what its
        // log says never left (the fault ate it).
        for side in ["client", "server"] {
            let unsent = facts["frames_written_but_not_on_wire"][side]
                .as_u64()
                .unwrap_or(0);
            for op in ["text", "binary", "continuation", "close", "ping", "pong"] {
                let (Some(logged), Some(seen)) =
                    (facts[side][op].as_u64(), got["frames"][side][op].as_u64())
                else {
                    continue;
                };
                if unsent == 0 {
                    assert_eq!(seen, logged, "{label}: {side} {op} frames");
                } else {
                    // The frame being written when the fault struck may have
                    // its header on the wire and its payload stuck: we count
                    // a frame when its header arrives.
                    assert!(
                        seen <= logged + 1 && seen + unsent >= logged,
                        "{label}: {side} {op}: saw {seen}, logged {logged}, {unsent} unsent"
                    );
                }
            }
        }
    }
}

/// Past stalls that recovered: the same codes and sides, each starting and
/// ending within half a second of what the peers' logs show.
fn check_episodes(label: &str, expected: &Value, got: &Value) {
    let empty = Vec::new();
    let expected = expected.as_array().unwrap_or(&empty);
    let got = got.as_array().unwrap();
    assert_eq!(
        common::codes(&Value::from(got.clone())),
        common::codes(&Value::from(expected.clone())),
        "{label}: episodes"
    );
    let secs = |v: &Value| {
        let t = v.as_str().unwrap();
        // Same day in every sample: seconds since midnight is enough.
        let h: f64 = t[11..13].parse().unwrap();
        let m: f64 = t[14..16].parse().unwrap();
        let s: f64 = t[17..t.len() - 1].parse().unwrap();
        h * 3600.0 + m * 60.0 + s
    };
    for e in expected {
        let found = got.iter().any(|g| {
            g["code"] == e["code"]
                && g["side"] == e["side"]
                && (secs(&g["start"]) - secs(&e["start"])).abs() < 0.5
                && (secs(&g["end"]) - secs(&e["end"])).abs() < 0.5
        });
        assert!(found, "{label}: episode {e} not found in {got:?}");
    }
}

/// TCP facts against the peers' logs and the server kernel's own counters
/// (TCP_INFO sampled during the recording).
fn check_tcp(label: &str, facts: &Value, tcp: &Value) {
    let listed = |key: &str, side: &str| {
        facts[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s == side))
    };
    for side in ["client", "server"] {
        assert_eq!(
            !tcp[side]["fin"].is_null(),
            listed("fin_from", side),
            "{label}: FIN from {side}"
        );
        assert_eq!(
            !tcp[side]["rst"].is_null(),
            listed("rst_from", side),
            "{label}: RST from {side}"
        );
    }
    let kernel = &facts["kernel"];
    if let Some(retrans) = kernel["server_total_retrans_during_capture"].as_u64() {
        // The kernel's count is sampled every 100 ms: one more may follow
        // its last sample.
        let seen = tcp["server"]["retransmissions"].as_u64().unwrap();
        assert!(
            (retrans..=retrans + 1).contains(&seen),
            "{label}: server retransmissions: kernel {retrans}, wspulse {seen}"
        );
    }
    if let Some(longest) = kernel["server_longest_zero_window_s"].as_f64() {
        // The server's view of the client's window. The kernel kept
        // measuring after the last captured packet (probes back off to tens
        // of seconds), so the capture can show less, never more.
        let seen = tcp["client"]["zero_window"]["longest_s"].as_f64().unwrap();
        if longest == 0.0 {
            assert_eq!(seen, 0.0, "{label}: no zero window expected");
        } else {
            assert!(
                seen > 0.0 && seen <= longest + 0.5,
                "{label}: longest zero window: kernel {longest}s, wspulse {seen}s"
            );
        }
    }
}

macro_rules! samples {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*

        /// A sample without a test here is a sample nobody checks.
        #[test]
        fn every_sample_has_a_test() {
            let tested = [$($name),*];
            for path in common::captures_in(&common::repo().join("samples")) {
                // samples/app/ and samples/wss/ have their own tests
                // (tests/app_samples.rs, tests/wss_keys.rs)
                if path.parent().is_some_and(|d| d.ends_with("app") || d.ends_with("wss")) {
                    continue;
                }
                let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
                assert!(tested.contains(&stem.as_str()), "samples/{stem}.pcap has no test in tests/samples.rs");
            }
        }
    };
}

samples! {
    healthy_pings_stays_alive => "healthy-pings",
    clean_close_is_closed => "clean-close",
    rst_abort_is_aborted => "rst-abort",
    blackholed_peer_is_false_alive => "blackhole-peer",
    stopped_reader_shows_zero_window_stall => "stopped-reader",
    lossy_but_alive_is_never_flagged => "lossy-alive",
    app_stuck_while_library_pongs_is_suspect => "app-stuck-ponging",
    half_close_without_close_frame => "half-close",
    close_never_answered => "close-unanswered",
    empty_pongs_are_a_noted_mismatch => "empty-pong",
    idle_without_heartbeat_is_suspect => "idle-no-heartbeat",
    midstream_capture_on_unusual_port => "midstream-port",
    permessage_deflate_is_decoded => "deflate",
    ipv6_is_judged_like_ipv4 => "ipv6",
    many_connections_of_mixed_fates => "mixed-fates",
    wss_healthy_stays_alive => "wss-healthy",
    wss_blackholed_peer_is_false_alive => "wss-blackhole",
    recovered_stalls_are_episodes_of_an_alive_connection => "stall-recovers",
}
