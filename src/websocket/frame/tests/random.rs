//! Randomized streams: chunking never changes what is decoded, a gap inside
//! a payload never loses a frame boundary, a mid-stream decoder recovers
//! after garbage, and no input panics.

use super::*;
use crate::websocket::frame::CompactDecoder;

/// A random frame sequence, with some violations but no top-bit lengths
/// (those lose sync, which makes events depend on chunking by design).
fn random_stream(rng: &mut Rng) -> Vec<u8> {
    let mut s = Vec::new();
    for _ in 0..rng.below(20) {
        let op = [0u8, 1, 2, 8, 9, 10, 3, 0xB][rng.below(8) as usize];
        let fin = rng.below(4) != 0;
        let rsv = if rng.below(8) == 0 {
            rng.below(8) as u8
        } else {
            0
        };
        let mask: Option<[u8; 4]> =
            (rng.below(4) != 0).then(|| rng.next().to_le_bytes()[..4].try_into().unwrap());
        let len = match rng.below(6) {
            0 => 126 + rng.below(600),
            1 if op < 8 => 0x10000 + rng.below(1000),
            _ => rng.below(130),
        } as usize;
        let ext = (rng.below(10) == 0)
            .then(|| [0u8, 2, 8][rng.below(3) as usize])
            .filter(|&e| {
                // A forced encoding must be able to hold the length.
                (e == 0 && len < 126) || (e == 2 && len < 0x10000) || e == 8
            });
        let first = if fin { 0x80 } else { 0 } | rsv << 4 | op;
        let payload = rng.bytes(len);
        s.extend(encode_with(first, mask, &payload, ext));
    }
    s
}

/// A random sender role and extension setting.
fn random_setup(rng: &mut Rng) -> (Role, DecoderConfig) {
    let role = if rng.below(2) == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let cfg = DecoderConfig {
        permessage_deflate: rng.below(2) == 0,
    };
    (role, cfg)
}

#[test]
fn random_chunkings_give_the_same_events_as_whole() {
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    let mut total_frames = 0;
    for round in 0..300 {
        let stream = random_stream(&mut rng);
        let (role, cfg) = random_setup(&mut rng);
        let whole = feed(&mut FrameDecoder::new(role, cfg), &[&stream]);
        total_frames += frames(&whole).len();
        let mut chunks = Vec::new();
        let mut rest = stream.as_slice();
        while !rest.is_empty() {
            let max = if rng.below(2) == 0 { 16 } else { 2000 };
            let n = (1 + rng.below(max) as usize).min(rest.len());
            let (a, b) = rest.split_at(n);
            chunks.push(a);
            rest = b;
        }
        let mut dec = FrameDecoder::new(role, cfg);
        assert_eq!(feed(&mut dec, &chunks), whole, "round {round}");
        assert_eq!(dec.stream_offset(), stream.len() as u64);
    }
    assert!(total_frames > 1000, "{total_frames}");
}

#[test]
fn gaps_inside_payloads_keep_every_frame_boundary() {
    // A gap that starts and ends inside one frame's payload: every frame is
    // still reported at its offset, with no resync; only the cut frame's
    // payload (and the Close body rules it decides) may differ.
    let mut rng = Rng(0x6A95_0F5E_ED00_C0DE);
    let mut cut_controls = 0;
    for round in 0..400 {
        let stream = random_stream(&mut rng);
        let (role, cfg) = random_setup(&mut rng);
        let whole = feed(&mut FrameDecoder::new(role, cfg), &[&stream]);
        let with_payload: Vec<(FrameHeader, u64)> = whole
            .iter()
            .filter_map(|e| match e {
                Ev::Frame { header, start, .. } if header.payload_len > 0 => {
                    Some((*header, *start))
                }
                _ => None,
            })
            .collect();
        if with_payload.is_empty() {
            continue;
        }
        let (header, start) = with_payload[rng.below(with_payload.len() as u64) as usize];
        let from = start + u64::from(header.header_len);
        let to = from + header.payload_len;
        let a = from + rng.below(to - from);
        let b = a + 1 + rng.below(to - a);
        let mut dec = FrameDecoder::new(role, cfg);
        let mut evs = feed(&mut dec, &[&stream[..a as usize]]);
        evs.extend(gap(&mut dec, b - a));
        evs.extend(feed(&mut dec, &[&stream[b as usize..]]));
        assert!(dec.in_sync(), "round {round}");
        assert_eq!(frames(&evs), frames(&whole), "round {round}");
        assert!(!evs.iter().any(|e| matches!(e, Ev::Resynced { .. })));
        // Everything about the other frames is unchanged.
        let others = |evs: &[Ev]| -> Vec<Ev> {
            evs.iter()
                .filter(|e| match e {
                    Ev::Frame { start: s, .. } | Ev::Violation { at: s, .. } => *s != start,
                    Ev::Resynced { .. } => true,
                })
                .cloned()
                .collect()
        };
        assert_eq!(others(&evs), others(&whole), "round {round}");
        // The cut frame: a control payload is what was seen before the gap.
        let cut = evs
            .iter()
            .find(|e| matches!(e, Ev::Frame { start: s, .. } if *s == start));
        let Some(Ev::Frame {
            payload, complete, ..
        }) = cut
        else {
            panic!("round {round}: no frame at {start}");
        };
        if header.opcode.is_control() && header.payload_len <= MAX_CONTROL_PAYLOAD as u64 {
            cut_controls += 1;
            assert!(!complete, "round {round}");
            let full = whole.iter().find_map(|e| match e {
                Ev::Frame {
                    start: s,
                    payload: Some(p),
                    ..
                } if *s == start => Some(p),
                _ => None,
            });
            let seen = (a > from).then(|| full.unwrap()[..(a - from) as usize].to_vec());
            assert_eq!(*payload, seen, "round {round}");
        } else {
            assert!(*complete && payload.is_none(), "round {round}");
        }
    }
    assert!(cut_controls > 50, "{cut_controls}");
}

#[test]
fn midstream_decoder_recovers_random_streams_after_random_garbage() {
    // Garbage of ASCII text (never plausible without deflate) followed by
    // a clean random stream fed whole: the lock is at the first frame
    // and all frames match an in-sync decoder's.
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for round in 0..200 {
        let mut clean = Vec::new();
        for _ in 0..2 + rng.below(10) {
            let op = [1u8, 2, 9, 10][rng.below(4) as usize];
            let len = if op >= 8 {
                rng.below(126)
            } else {
                rng.below(3000)
            } as usize;
            let payload = rng.bytes(len);
            clean.extend(encode(true, op, None, &payload));
        }
        let garbage: Vec<u8> = (0..rng.below(200))
            .map(|_| b' ' + rng.below(90) as u8)
            .collect();
        let mut s = garbage.clone();
        s.extend_from_slice(&clean);
        let reference = feed(&mut server(), &[&clean]);
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(
            evs.first(),
            Some(&Ev::Resynced {
                skipped: garbage.len() as u64
            }),
            "round {round}"
        );
        let shifted: Vec<Ev> = reference
            .into_iter()
            .map(|e| match e {
                Ev::Frame {
                    header,
                    start,
                    payload,
                    complete,
                } => Ev::Frame {
                    header,
                    start: start + garbage.len() as u64,
                    payload,
                    complete,
                },
                other => other,
            })
            .collect();
        assert_eq!(evs[1..], shifted[..], "round {round}");
    }
}

#[test]
fn decoder_never_panics_on_random_bytes() {
    let mut rng = Rng(42);
    for _ in 0..500 {
        let bytes = {
            let n = rng.below(3000) as usize;
            rng.bytes(n)
        };
        for midstream in [false, true] {
            let mut dec = if midstream {
                FrameDecoder::new_midstream(
                    None,
                    DecoderConfig {
                        permessage_deflate: true,
                    },
                )
            } else {
                client()
            };
            let mut n = 0u64;
            for c in bytes.chunks(1 + rng.below(300) as usize) {
                dec.on_data(c, &mut |_| n += 1);
                if rng.below(5) == 0 {
                    dec.on_gap(rng.below(100), &mut |_| n += 1);
                }
            }
            assert!(dec.stream_offset() >= bytes.len() as u64);
        }
    }
}

#[test]
fn a_compact_decoder_reports_what_the_decoder_reports() {
    // Random streams after random garbage, cut anywhere, with random gaps:
    // parking between reads must never change an event or an answer.
    let mut rng = Rng(0x5EED_0FC0_FFEE);
    let mut parked_reads = 0;
    for round in 0..400 {
        let mut stream: Vec<u8> = (0..rng.below(3) * rng.below(100))
            .map(|_| rng.next() as u8)
            .collect();
        stream.extend(random_stream(&mut rng));
        let (role, cfg) = random_setup(&mut rng);
        let mut plain = match rng.below(3) {
            0 => FrameDecoder::new(role, cfg),
            1 => FrameDecoder::new_midstream(Some(role), cfg),
            _ => FrameDecoder::new_midstream(None, cfg),
        };
        let mut compact = CompactDecoder::new(plain.clone());
        let mut rest = stream.as_slice();
        while !rest.is_empty() {
            let max = if rng.below(2) == 0 { 8 } else { 900 };
            let n = (1 + rng.below(max) as usize).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let (mut want, mut got) = (Vec::new(), Vec::new());
            if rng.below(8) == 0 {
                let len = rng.below(300);
                plain.on_gap(len, &mut |e| want.push(own(e)));
                compact.on_gap(len, &mut |e| got.push(own(e)));
            } else {
                plain.on_data(chunk, &mut |e| want.push(own(e)));
                compact.on_data(chunk, &mut |e| got.push(own(e)));
            }
            assert_eq!(got, want, "round {round}");
            assert_eq!(compact.in_sync(), plain.in_sync(), "round {round}");
            assert_eq!(compact.stream_offset(), plain.stream_offset());
            assert_eq!(compact.inferred_masked(), plain.inferred_masked());
            parked_reads += usize::from(compact.is_parked());
        }
    }
    assert!(parked_reads > 1000, "{parked_reads}");
}
