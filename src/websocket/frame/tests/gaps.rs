//! Bytes lost in gaps ([`FrameDecoder::on_gap`]): where sync is kept, which
//! frames a gap completes, and where the decoder hunts again.

use super::*;

/// The header of the frame that `bytes` starts with.
fn header_of(bytes: &[u8]) -> FrameHeader {
    FrameHeader::parse(bytes).unwrap().unwrap()
}

/// The event of a control frame at `start` whose payload a gap cut.
fn cut_frame(bytes: &[u8], start: u64, seen: Option<&[u8]>) -> Ev {
    Ev::Frame {
        header: header_of(bytes),
        start,
        payload: seen.map(<[u8]>::to_vec),
        complete: false,
    }
}

fn resyncs(evs: &[Ev]) -> usize {
    evs.iter()
        .filter(|e| matches!(e, Ev::Resynced { .. }))
        .count()
}

#[test]
fn gap_inside_data_payload_keeps_sync() {
    let f1 = encode(true, 2, None, &[9; 1000]);
    let f2 = encode(true, 10, None, b"pong");
    let mut dec = server();
    let mut evs = feed(&mut dec, &[&f1[..100]]);
    assert!(gap(&mut dec, 500).is_empty());
    assert!(dec.in_sync());
    evs.extend(feed(&mut dec, &[&f1[600..], &f2]));
    assert_eq!(
        frames(&evs),
        vec![(Opcode::Binary, 1000, 0), (Opcode::Pong, 4, 1004)]
    );
    assert_eq!(resyncs(&evs), 0);
    // A gap ending exactly at the payload end keeps sync too.
    let mut dec = server();
    feed(&mut dec, &[&f1[..4]]);
    assert!(gap(&mut dec, 1000).is_empty());
    assert!(dec.in_sync());
    assert_eq!(
        frames(&feed(&mut dec, &[&f2])),
        vec![(Opcode::Pong, 4, 1004)]
    );
}

#[test]
fn gap_ending_next_to_a_data_frame_end() {
    // Binary (2 + 100 bytes), Pong at 102, Text at 108 and 113.
    let mut s = encode(true, 2, None, &[9; 100]);
    s.extend(encode(true, 10, None, b"pong"));
    s.extend(encode(true, 1, None, b"one"));
    s.extend(encode(true, 1, None, b"two"));
    // The gap starts 10 bytes into the payload and ends one byte before
    // its end, at its end, or one byte into the Pong's header.
    for (len, in_sync) in [(89, true), (90, true), (91, false)] {
        let mut dec = server();
        let mut evs = feed(&mut dec, &[&s[..12]]);
        // The Binary frame was reported at its header: the gap adds nothing.
        assert!(gap(&mut dec, len).is_empty(), "gap {len}");
        assert_eq!(dec.in_sync(), in_sync, "gap {len}");
        evs.extend(feed(&mut dec, &[&s[12 + len as usize..]]));
        if in_sync {
            assert_eq!(resyncs(&evs), 0, "gap {len}: {evs:?}");
            assert_eq!(
                frames(&evs),
                vec![
                    (Opcode::Binary, 100, 0),
                    (Opcode::Pong, 4, 102),
                    (Opcode::Text, 3, 108),
                    (Opcode::Text, 3, 113)
                ]
            );
        } else {
            // Skipped: the 6-byte Pong and nothing else.
            assert_eq!(evs[1], Ev::Resynced { skipped: 6 }, "{evs:?}");
            assert_eq!(
                frames(&evs),
                vec![
                    (Opcode::Binary, 100, 0),
                    (Opcode::Text, 3, 108),
                    (Opcode::Text, 3, 113)
                ]
            );
        }
    }
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
    assert!(gap(&mut dec, 3).is_empty());
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
    // Gap running past the payload end: f1 was reported, so the bytes
    // skipped are those after it, f2 (6 bytes).
    let mut dec = server();
    feed(&mut dec, &[&f1[..10]]);
    assert!(gap(&mut dec, 996).is_empty()); // the rest of f1 and f2's 2-byte header
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&f2[2..], &f3]);
    assert_eq!(evs.first(), Some(&Ev::Resynced { skipped: 6 }), "{evs:?}");
    assert_eq!(frames(&evs), vec![(Opcode::Text, 4, 1010)]);
}

#[test]
fn gap_inside_control_header_resyncs() {
    let mut s = encode(true, 9, Some(KEY), b"ping");
    s.extend(encode(true, 1, Some(KEY), b"one"));
    s.extend(encode(true, 1, Some(KEY), b"two"));
    // The mask key is partly lost: no frame is reported.
    let mut dec = client();
    assert!(feed(&mut dec, &[&s[..3]]).is_empty());
    assert!(gap(&mut dec, 2).is_empty());
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&s[5..]]);
    assert_eq!(evs[0], Ev::Resynced { skipped: 10 }, "{evs:?}");
    assert_eq!(
        frames(&evs),
        vec![(Opcode::Text, 3, 10), (Opcode::Text, 3, 19)]
    );
}

#[test]
fn gap_ending_next_to_a_control_frame_end() {
    // Ping (6 + 10 bytes), then Pong at 16 and Text at 24.
    let mut s = encode(true, 9, Some(KEY), b"0123456789");
    s.extend(encode(true, 10, Some(KEY), b"ok"));
    s.extend(encode(true, 1, Some(KEY), b"hi"));
    // Header and 2 payload bytes seen; the gap ends one byte before the
    // Ping's end, at its end, or one byte into the Pong's header.
    for (len, in_sync) in [(7, true), (8, true), (9, false)] {
        let mut dec = client();
        assert!(feed(&mut dec, &[&s[..8]]).is_empty());
        // The Ping is reported when the gap is, with what was seen of it.
        assert_eq!(
            gap(&mut dec, len),
            vec![cut_frame(&s, 0, Some(b"01"))],
            "gap {len}"
        );
        assert_eq!(dec.in_sync(), in_sync, "gap {len}");
        let evs = feed(&mut dec, &[&s[8 + len as usize..]]);
        if in_sync {
            assert_eq!(
                frames(&evs),
                vec![(Opcode::Pong, 2, 16), (Opcode::Text, 2, 24)],
                "gap {len}"
            );
            assert!(violations(&evs).is_empty());
            assert_eq!(resyncs(&evs), 0);
        } else {
            // Skipped: the 8-byte Pong.
            assert_eq!(evs[0], Ev::Resynced { skipped: 8 }, "{evs:?}");
            assert_eq!(frames(&evs), vec![(Opcode::Text, 2, 24)]);
        }
    }
}

#[test]
fn pongs_missing_their_last_payload_bytes_are_still_frames() {
    // A capture's snaplen kept each Pong's header and mask key (6 bytes)
    // but not its 2 payload bytes.
    let pong = encode(true, 10, Some(*b"abcd"), b"K0");
    let mut dec = client();
    let mut evs = Vec::new();
    for _ in 0..3 {
        evs.extend(feed(&mut dec, &[&pong[..6]]));
        evs.extend(gap(&mut dec, 2));
        assert!(dec.in_sync());
    }
    let expect: Vec<Ev> = (0..3).map(|i| cut_frame(&pong, 8 * i, None)).collect();
    assert_eq!(evs, expect);
    // With one payload byte seen, that byte is kept, unmasked.
    let mut dec = client();
    assert!(feed(&mut dec, &[&pong[..7]]).is_empty());
    assert_eq!(gap(&mut dec, 1), vec![cut_frame(&pong, 0, Some(b"K"))]);
    assert!(dec.in_sync());
}

#[test]
fn midstream_pongs_missing_their_payload_lock_on() {
    // The same Pongs when the handshake was lost too: the first one is
    // followed tentatively and confirmed by the next header.
    let pong = encode(true, 10, Some(*b"abcd"), b"K0");
    let mut dec = FrameDecoder::new_midstream(Some(Role::Client), DecoderConfig::default());
    let mut evs = Vec::new();
    for _ in 0..4 {
        evs.extend(feed(&mut dec, &[&pong[..6]]));
        evs.extend(gap(&mut dec, 2));
    }
    assert!(dec.in_sync());
    let mut expect = vec![Ev::Resynced { skipped: 0 }];
    expect.extend((0..4).map(|i| cut_frame(&pong, 8 * i, None)));
    assert_eq!(evs, expect);
    // A candidate whose frame ends inside a gap is never confirmed, so
    // never reported: the lock is on a later frame.
    let mut dec = FrameDecoder::new_midstream(Some(Role::Client), DecoderConfig::default());
    assert!(feed(&mut dec, &[&pong[..6]]).is_empty());
    assert!(gap(&mut dec, 3).is_empty());
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&pong[1..], &pong]);
    assert_eq!(evs[0], Ev::Resynced { skipped: 16 }, "{evs:?}");
    assert_eq!(frames(&evs), vec![(Opcode::Pong, 2, 16)]);
}

#[test]
fn close_with_a_cut_payload() {
    let mut body = 1000u16.to_be_bytes().to_vec();
    body.extend_from_slice("bye, ça va".as_bytes());
    let close = encode(true, 8, None, &body);
    let text = encode(true, 1, None, b"late");
    // Status code and two reason bytes seen: the frame is reported, and
    // nothing about the body is held against it.
    let mut dec = server();
    assert!(feed(&mut dec, &[&close[..6]]).is_empty());
    let seen = [0x03, 0xe8, b'b', b'y'];
    assert_eq!(
        gap(&mut dec, close.len() as u64 - 6),
        vec![cut_frame(&close, 0, Some(&seen))]
    );
    assert!(dec.in_sync());
    // The Close counts: data after it is a violation (§5.5.1).
    let evs = feed(&mut dec, &[&text]);
    assert_eq!(violations(&evs), vec![Violation::DataAfterClose]);
    assert_eq!(frames(&evs), vec![(Opcode::Text, 4, close.len() as u64)]);

    // What a cut body can still be blamed for.
    let cut_close = |body: &[u8], seen: usize| {
        let close = encode(true, 8, None, body);
        let mut dec = server();
        let mut evs = feed(&mut dec, &[&close[..2 + seen]]);
        evs.extend(gap(&mut dec, (body.len() - seen) as u64));
        assert!(dec.in_sync());
        violations(&evs)
    };
    // Cut inside the two bytes of 'ç': no fault.
    let at_c = 2 + "bye, ".len() + 1;
    assert!(cut_close(&body, at_c).is_empty());
    // A byte no UTF-8 continuation can make valid.
    let mut bad = body.clone();
    bad[3] = 0xff;
    assert_eq!(cut_close(&bad, 4), vec![Violation::InvalidUtf8CloseReason]);
    // A status code not valid on the wire, seen before the cut.
    let mut reserved = 1005u16.to_be_bytes().to_vec();
    reserved.extend_from_slice(b"gone");
    assert_eq!(
        cut_close(&reserved, 2),
        vec![Violation::InvalidCloseCode(1005)]
    );
    // Status code cut: nothing to judge.
    assert!(cut_close(&reserved, 1).is_empty());
    // A one-byte body is wrong whatever the byte (the length says so).
    assert_eq!(cut_close(&[3], 0), vec![Violation::CloseBodyOneByte]);
}

#[test]
fn gap_spanning_two_frames() {
    // Ping 0..6, Pong 6..12, Text 12..17, Text 17..22, Text 22..27.
    let mut s = encode(true, 9, None, b"ping");
    s.extend(encode(true, 10, None, b"pong"));
    for t in [b"one", b"two", b"3rd"] {
        s.extend(encode(true, 1, None, t));
    }
    // The gap takes the Ping's last 2 bytes, the whole Pong and the first
    // byte of the next Text: the Ping is still reported, then hunting.
    let mut dec = server();
    assert!(feed(&mut dec, &[&s[..4]]).is_empty());
    assert_eq!(gap(&mut dec, 9), vec![cut_frame(&s, 0, Some(b"pi"))]);
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&s[13..]]);
    assert_eq!(evs[0], Ev::Resynced { skipped: 11 }, "{evs:?}");
    assert_eq!(
        frames(&evs),
        vec![(Opcode::Text, 3, 17), (Opcode::Text, 3, 22)]
    );
    // A data frame's header was reported before the gap: the gap adds no
    // event, and hunting counts from the end of that frame.
    let mut s = encode(true, 2, None, &[7; 50]);
    let second = s.len();
    s.extend(encode(true, 2, None, &[8; 50]));
    for t in [b"one", b"two"] {
        s.extend(encode(true, 1, None, t));
    }
    let mut dec = server();
    let evs = feed(&mut dec, &[&s[..20]]);
    assert_eq!(frames(&evs), vec![(Opcode::Binary, 50, 0)]);
    assert!(gap(&mut dec, 40).is_empty());
    assert!(!dec.in_sync());
    let evs = feed(&mut dec, &[&s[60..]]);
    assert_eq!(
        evs[0],
        Ev::Resynced {
            skipped: 52 // the second Binary frame
        },
        "{evs:?}"
    );
    assert_eq!(
        frames(&evs),
        vec![(Opcode::Text, 3, 2 * second as u64), (Opcode::Text, 3, 109)]
    );
}
