//! Bytes lost in gaps ([`FrameDecoder::on_gap`]): where sync is kept and
//! where the decoder hunts again.

use super::*;

#[test]
fn gap_inside_data_payload_keeps_sync() {
    let f1 = encode(true, 2, None, &[9; 1000]);
    let f2 = encode(true, 10, None, b"pong");
    let mut dec = server();
    let mut evs = feed(&mut dec, &[&f1[..100]]);
    dec.on_gap(500);
    assert!(dec.in_sync());
    evs.extend(feed(&mut dec, &[&f1[600..], &f2]));
    assert_eq!(
        frames(&evs),
        vec![(Opcode::Binary, 1000, 0), (Opcode::Pong, 4, 1004)]
    );
    assert!(!evs.iter().any(|e| matches!(e, Ev::Resynced { .. })));
    // A gap ending exactly at the payload end keeps sync too.
    let mut dec = server();
    feed(&mut dec, &[&f1[..4]]);
    dec.on_gap(1000);
    assert!(dec.in_sync());
    assert_eq!(
        frames(&feed(&mut dec, &[&f2])),
        vec![(Opcode::Pong, 4, 1004)]
    );
}

#[test]
fn gap_inside_header_or_past_payload_resyncs() {
    let f1 = encode(true, 2, None, &[9; 1000]);
    let f2 = encode(true, 10, None, b"pong");
    let f3 = encode(true, 1, None, b"text");
    // Gap inside the header of f1: hunting; the next segment (f2 + f3)
    // starts a chain of two frames.
    let mut dec = server();
    feed(&mut dec, &[&f1[..1]]);
    dec.on_gap(3);
    assert!(!dec.in_sync());
    feed(&mut dec, &[&f1[4..]])
        .iter()
        .for_each(|e| assert!(!matches!(e, Ev::Frame { .. })));
    let mut seg = f2.clone();
    seg.extend_from_slice(&f3);
    let evs = feed(&mut dec, &[&seg]);
    assert_eq!(evs[0], Ev::Resynced { skipped: 1004 });
    assert_eq!(
        frames(&evs),
        vec![(Opcode::Pong, 4, 1004), (Opcode::Text, 4, 1010)]
    );
    assert!(dec.in_sync());
    // Gap running past the payload end.
    let mut dec = server();
    feed(&mut dec, &[&f1[..10]]);
    dec.on_gap(996); // the rest of f1 and f2's 2-byte header
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&f2[2..], &f3]);
    assert_eq!(
        evs.first(),
        Some(&Ev::Resynced { skipped: 1000 }),
        "{evs:?}"
    );
    assert_eq!(frames(&evs), vec![(Opcode::Text, 4, 1010)]);
}

#[test]
fn gap_inside_control_payload_resyncs() {
    let ping = encode(true, 9, Some(KEY), b"0123456789");
    let mut dec = client();
    feed(&mut dec, &[&ping[..8]]);
    dec.on_gap(4);
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&ping[12..]]);
    assert!(frames(&evs).is_empty(), "{evs:?}");
}
