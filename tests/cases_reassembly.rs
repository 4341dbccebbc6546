//! Reassembly cases wspulse once got wrong (tests/data/cases/, from
//! shared/cases/README.md), each standing for a kind of fault: segments
//! far out of order, and overlapping copies that disagree.

mod common;

use serde_json::Value;

const CASES: &str = "tests/data/cases";

fn only(report: &Value) -> &Value {
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{report:#}");
    &conns[0]
}

/// Kind: first-seen data taken for retransmissions. 1,100 segments of 96
/// bytes arrive in descending order, past the out-of-order chunk cap:
/// none is a retransmission, every byte counts as sent, and the bytes
/// skipped at the cap are reported for the side and reach the WebSocket
/// stage as a gap.
#[test]
fn descending_segments_are_not_retransmissions() {
    let capture = format!("{CASES}/out-of-order-descending/c2c_small_desc.pcap");
    let tcp = common::json(&["analyze", "--tcp", "--format", "json", &capture]);
    let server = &only(&tcp)["tcp"]["server"];
    assert_eq!(server["retransmissions"], 0, "{server:#}");
    assert_eq!(server["retransmitted_bytes"], 0);
    // The 101 response (129 bytes) and 1,100 × 96 bytes of frames.
    assert_eq!(server["payload_bytes"], 129 + 1100 * 96);
    let skipped = server["ooo_skipped_bytes"].as_u64().unwrap();
    assert!(skipped > 0, "the chunk cap was hit: {server:#}");
    assert_eq!(only(&tcp)["tcp"]["client"]["ooo_skipped_bytes"], 0);

    let ws = common::json(&["analyze", "--format", "json", &capture]);
    let conn = only(&ws);
    assert_eq!(conn["messages"]["server"]["gap_bytes"], skipped, "{conn:#}");
    assert_eq!(conn["verdict"], "alive");
}

/// Kind: overlapping segments that carry different bytes. The Close
/// reason used to splice both copies ("zzzzworld"); now the first copy is
/// kept, and the two disagreeing segments are counted for the server and
/// noted.
#[test]
fn conflicting_overlaps_are_counted_noted_and_keep_the_first_copy() {
    let capture = format!("{CASES}/conflicting-overlap/c5b_conflict_overlap_ooo.pcap");
    let c = common::json(&["analyze", "--format", "json", "--show-secrets", &capture]);
    let conn = only(&c);
    let server = &conn["tcp"]["server"];
    assert_eq!(server["conflicting_overlaps"], 2, "{server:#}");
    assert_eq!(server["conflicting_overlap_bytes"], 11);
    assert_eq!(conn["tcp"]["client"]["conflicting_overlaps"], 0);
    let notes: Vec<(String, String)> = common::codes(&conn["notes"]);
    assert!(
        notes.contains(&("conflicting_overlap".into(), "server".into())),
        "{notes:?}"
    );
    // The first copy of those bytes said "hello world": the Close frame
    // read from the stream carries no byte of the later "zzzz" copies.
    let reason = conn["close"]["server"]["reason"].as_str().unwrap();
    assert!(!reason.contains('z'), "spliced: {reason}");
    assert_eq!(reason, "llo world");
    // Two Pings, both answered.
    assert_eq!(conn["frames"]["server"]["ping"], 2);
    assert_eq!(conn["frames"]["client"]["pong"], 2);
}
