//! The decoder's own cases: splits of a stream, and what it reports.

use crate::websocket::frame::tests::{client, encode, feed, frames, server, violations, Ev, KEY};
use crate::websocket::frame::*;

#[test]
fn every_split_of_a_stream_gives_the_same_events() {
    let mut stream = encode(false, 1, Some(KEY), b"frag-one");
    stream.extend(encode(true, 9, Some(KEY), b"ping!"));
    stream.extend(encode(true, 0, Some(KEY), &[b'x'; 300]));
    stream.extend(encode(true, 2, Some(KEY), &[7u8; 70_000]));
    stream.extend(encode(true, 8, Some(KEY), &[0x03, 0xe8, b'b', b'y', b'e']));
    let whole = feed(&mut client(), &[&stream]);
    assert_eq!(
        frames(&whole),
        vec![
            (Opcode::Text, 8, 0),
            (Opcode::Ping, 5, 14),
            (Opcode::Continuation, 300, 25),
            (Opcode::Binary, 70_000, 333),
            (Opcode::Close, 5, 70_347),
        ]
    );
    assert!(violations(&whole).is_empty(), "{whole:?}");
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(feed(&mut client(), &[a, b]), whole, "cut at {cut}");
    }
    // Also byte by byte.
    let mut dec = client();
    let singles: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(feed(&mut dec, &singles), whole);
    assert_eq!(dec.stream_offset(), stream.len() as u64);
}

#[test]
fn many_frames_in_one_chunk() {
    let mut stream = Vec::new();
    for i in 0..50u8 {
        stream.extend(encode(true, 1, None, &vec![b'a'; usize::from(i)]));
        stream.extend(encode(true, 10, None, &[i]));
    }
    let evs = feed(&mut server(), &[&stream]);
    assert_eq!(frames(&evs).len(), 100);
    assert!(violations(&evs).is_empty());
    let pongs: Vec<u8> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Frame {
                payload: Some(p), ..
            } => p.first().copied(),
            _ => None,
        })
        .collect();
    assert_eq!(pongs, (0..50).collect::<Vec<u8>>());
}

#[test]
fn masked_control_payload_is_unmasked() {
    let frame = encode(true, 9, Some(KEY), b"Hello, masked world");
    assert_ne!(&frame[6..], b"Hello, masked world");
    for cut in 0..frame.len() {
        let evs = feed(&mut client(), &[&frame[..cut], &frame[cut..]]);
        assert_eq!(
            evs,
            vec![Ev::Frame {
                header: FrameHeader::parse(&frame).unwrap().unwrap(),
                start: 0,
                payload: Some(b"Hello, masked world".to_vec()),
                complete: true,
            }]
        );
    }
}
