//! Reassembly cases wspulse once got wrong (tests/data/cases/, from
//! shared/cases/README.md), each standing for a kind of fault: segments
//! far out of order, and overlapping copies that disagree.

mod common;
mod pcapgen;

use pcapgen::{binary_frame, Capture, PSH_ACK};
use serde_json::Value;

const CASES: &str = "tests/data/cases";

fn only(report: &Value) -> &Value {
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{report:#}");
    &conns[0]
}

/// Kind: first-seen data taken for retransmissions. 1,100 segments of 96
/// bytes arrive in descending order, once past the out-of-order chunk cap:
/// none is a retransmission, every byte counts as sent, and held segments
/// now join into few chunks, so nothing is skipped at a cap. What the
/// capture really lacks shows instead: the first 96 bytes after the 101
/// never came, and the client acknowledged them (tshark agrees).
#[test]
fn descending_segments_are_not_retransmissions() {
    let capture = format!("{CASES}/out-of-order-descending/c2c_small_desc.pcap");
    let tcp = common::json(&["analyze", "--tcp", "--format", "json", &capture]);
    let server = &only(&tcp)["tcp"]["server"];
    assert_eq!(server["retransmissions"], 0, "{server:#}");
    assert_eq!(server["retransmitted_bytes"], 0);
    // The 101 response (129 bytes) and 1,100 × 96 bytes of frames.
    assert_eq!(server["payload_bytes"], 129 + 1100 * 96);
    assert_eq!(server["ooo_skipped_bytes"], 0, "{server:#}");
    assert_eq!(server["missed_bytes"], 96);
    assert_eq!(only(&tcp)["tcp"]["client"]["ooo_skipped_bytes"], 0);

    let ws = common::json(&["analyze", "--format", "json", &capture]);
    let conn = only(&ws);
    assert_eq!(conn["messages"]["server"]["gap_bytes"], 96, "{conn:#}");
    assert_eq!(conn["frames"]["server"]["binary"], 1100);
    assert_eq!(
        common::codes(&conn["reasons"]),
        vec![("capture_loss".to_string(), "server".to_string())]
    );

    // With a per-direction cap it cannot hold them under, the bytes
    // skipped are reported for the side and reach the WebSocket stage as
    // a gap.
    let cap = ["--max-ooo-bytes", "10000"];
    let tcp = common::json(&[
        "analyze", "--tcp", "--format", "json", cap[0], cap[1], &capture,
    ]);
    let server = &only(&tcp)["tcp"]["server"];
    assert_eq!(server["retransmissions"], 0, "{server:#}");
    assert_eq!(server["payload_bytes"], 129 + 1100 * 96);
    let skipped = server["ooo_skipped_bytes"].as_u64().unwrap();
    assert!(skipped > 0, "{server:#}");
    let ws = common::json(&["analyze", "--format", "json", cap[0], cap[1], &capture]);
    assert_eq!(only(&ws)["messages"]["server"]["gap_bytes"], skipped);
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

/// The server's stream after the 101: `frames` binary frames of 100 bytes.
fn server_frames(frames: usize) -> Vec<u8> {
    (0..frames)
        .flat_map(|i| binary_frame(&[i as u8; 100]))
        .collect()
}

fn tcp_and_ws(cap: &Capture, name: &str, extra: &[&str]) -> (Value, Value) {
    let file = cap.write(name);
    let run = |view: &[&str]| {
        let mut args = vec!["analyze", "--format", "json"];
        args.extend_from_slice(view);
        args.extend_from_slice(extra);
        args.push(file.arg());
        common::json(&args)
    };
    (
        only(&run(&["--tcp"]))["tcp"].clone(),
        only(&run(&[])).clone(),
    )
}

/// Descending order with other segment sizes and counts, within and past
/// a cap: never a retransmission, every byte counted once, and what a cap
/// skipped is what the WebSocket stage was told it missed.
#[test]
fn descending_variants_are_first_seen() {
    for (size, frames, limit) in [
        (1448, 100, None),
        (20, 300, None),
        (7, 200, None),
        (333, 2000, None),
        (20, 300, Some("5000")),
        (1448, 2000, Some("65536")),
    ] {
        let mut cap = Capture::upgraded();
        cap.step_us = 10;
        let stream = server_frames(frames);
        let base = cap.seq[1];
        let starts: Vec<usize> = (0..stream.len()).step_by(size).collect();
        for &at in starts.iter().rev() {
            let part = &stream[at..(at + size).min(stream.len())];
            cap.packet_at(false, base.wrapping_add(at as u32), PSH_ACK, part);
        }
        cap.seq[1] = base.wrapping_add(stream.len() as u32);
        cap.send(true, pcapgen::ACK, b"", true);
        let name = format!("desc-{size}-{frames}-{limit:?}.pcap");
        let flags: Vec<&str> = limit.map_or(vec![], |c| vec!["--max-ooo-bytes", c]);
        let (tcp, conn) = tcp_and_ws(&cap, &name, &flags);
        let server = &tcp["server"];
        assert_eq!(server["retransmissions"], 0, "{name}: {server:#}");
        let total = pcapgen::RESPONSE.len() + stream.len();
        assert_eq!(server["payload_bytes"], total as u64, "{name}");
        let skipped = server["ooo_skipped_bytes"].as_u64().unwrap();
        assert_eq!(
            skipped > 0,
            limit.is_some(),
            "{name}: skipped only past a cap"
        );
        let ws = &conn["messages"]["server"];
        assert_eq!(ws["gap_bytes"], skipped, "{name}: {ws:#}");
        if skipped == 0 {
            assert_eq!(conn["frames"]["server"]["binary"], frames as u64, "{name}");
        }
    }
}

/// A segment the capture never held, sent again well past any
/// retransmission timer, is a retransmission whose original was missed;
/// the same bytes a few milliseconds late are the original, out of order.
#[test]
fn a_hole_filled_late_is_a_retransmission_one_filled_soon_is_not() {
    for (wait_us, resent) in [(1_500_000, 1), (5_000, 0)] {
        let mut cap = Capture::upgraded();
        let frame = binary_frame(&[7; 100]);
        let lost_at = cap.seq[1];
        cap.send(false, PSH_ACK, &frame, false);
        cap.send(false, PSH_ACK, &frame, true);
        cap.micros += wait_us;
        cap.packet_at(false, lost_at, PSH_ACK, &frame);
        cap.send(true, pcapgen::ACK, b"", true);
        let (tcp, conn) = tcp_and_ws(&cap, &format!("late-{wait_us}.pcap"), &[]);
        let server = &tcp["server"];
        assert_eq!(
            server["retransmissions"], resent,
            "{wait_us} µs: {server:#}"
        );
        let total = pcapgen::RESPONSE.len() + 2 * frame.len();
        assert_eq!(server["payload_bytes"], total as u64, "{wait_us} µs");
        assert_eq!(conn["frames"]["server"]["binary"], 2, "{wait_us} µs");
    }
}

/// Overlapping copies that disagree, held at the start, in the middle or
/// at the end of a hole: one conflicting segment each, noted, and the
/// frames read from the first copy.
#[test]
fn conflicting_overlaps_anywhere_in_a_hole_are_counted() {
    let stream = server_frames(3); // 3 × 102 bytes
    for held in [1..40, 120..180, 250..306] {
        let mut cap = Capture::upgraded();
        let base = cap.seq[1];
        let at = |off: usize| base.wrapping_add(off as u32);
        cap.packet_at(false, at(held.start), PSH_ACK, &stream[held.clone()]);
        // The filler covers the whole stream; its bytes differ where the
        // held copy is, inside a frame payload.
        let mut other = stream.clone();
        for b in &mut other[held.start.max(2)..held.end] {
            *b ^= 0x55;
        }
        // Frame headers stay as they were, so the stream keeps its shape.
        for h in [0, 1, 102, 103, 204, 205] {
            other[h] = stream[h];
        }
        cap.packet_at(false, at(0), PSH_ACK, &other);
        cap.seq[1] = at(stream.len());
        cap.send(true, pcapgen::ACK, b"", true);
        let (tcp, conn) = tcp_and_ws(&cap, &format!("conflict-{}.pcap", held.start), &[]);
        let server = &tcp["server"];
        assert_eq!(server["conflicting_overlaps"], 1, "{held:?}: {server:#}");
        assert!(server["conflicting_overlap_bytes"].as_u64().unwrap() > 0);
        assert_eq!(server["retransmissions"], 1, "{held:?}: the filler");
        let notes = common::codes(&conn["notes"]);
        assert!(
            notes.contains(&("conflicting_overlap".into(), "server".into())),
            "{held:?}: {notes:?}"
        );
        assert_eq!(conn["frames"]["server"]["binary"], 3, "{held:?}");
    }
}
