//! The per-connection `timeline` of the findings JSON: in time order,
//! bounded, and telling the same story as the reasons, closes and TCP
//! ends it comes from.

mod common;

use serde_json::Value;

fn connections(capture: &str) -> Vec<Value> {
    let doc = common::json(&["analyze", "--format", "json", capture]);
    doc["connections"].as_array().unwrap().clone()
}

fn events<'a>(c: &'a Value, event: &str) -> Vec<&'a Value> {
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event)
        .collect()
}

#[test]
fn every_timeline_is_sorted_bounded_and_names_each_reason_when_it_began() {
    let mut seen_reasons = 0;
    for capture in common::captures_in(&common::repo().join("samples")) {
        for c in connections(capture.to_str().unwrap()) {
            let timeline = c["timeline"].as_array().unwrap();
            assert!(
                timeline.len() <= 32,
                "{}: {}",
                capture.display(),
                timeline.len()
            );
            let times: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
            assert!(
                times.windows(2).all(|w| w[0] <= w[1]),
                "{}: not in time order: {times:?}",
                capture.display()
            );
            for r in c["reasons"].as_array().unwrap() {
                seen_reasons += 1;
                let began = events(&c, "reason_began");
                assert!(
                    began.iter().any(|e| e["at"] == r["since"]
                        && e["side"] == r["side"]
                        && e["detail"]
                            .as_str()
                            .unwrap()
                            .starts_with(r["code"].as_str().unwrap())),
                    "{}: no reason_began for {r}",
                    capture.display()
                );
            }
            let judged = events(&c, "judged");
            assert_eq!(judged.len(), 1);
            assert_eq!(judged[0]["at"], c["judged_at"]);
        }
    }
    assert!(seen_reasons > 5, "the samples must hold reasons");
}

#[test]
fn a_clean_close_shows_both_close_frames_and_both_fins_with_their_frames() {
    let c = &connections("samples/clean-close.pcap")[0];
    let closes = events(c, "close");
    assert_eq!(closes.len(), 2, "{}", c["timeline"]);
    for side in ["client", "server"] {
        let close = closes.iter().find(|e| e["side"] == side).unwrap();
        assert_eq!(close["frame"], c["close"][side]["frame"]);
    }
    let fins = events(c, "fin");
    assert_eq!(fins.len(), 2, "{}", c["timeline"]);
    assert!(fins.iter().all(|e| e["frame"]["frame"].as_u64().is_some()));
}

#[test]
fn the_timeline_holds_no_ping_payload_or_close_reason() {
    // The unanswered Ping's fingerprint and the close reason stay in their
    // redacted fields; the timeline speaks of them only in words.
    for capture in ["samples/blackhole-peer.pcap", "samples/clean-close.pcap"] {
        for c in connections(capture) {
            let text = c["timeline"].to_string();
            assert!(!text.contains("hmac") && !text.contains("<"), "{text}");
        }
    }
}
