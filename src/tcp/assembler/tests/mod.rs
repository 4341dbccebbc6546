//! The assembler's tests: ordering, retransmissions, holes, caps and
//! gaps, with sequence numbers that wrap.

use super::*;
use crate::time::Timestamp;

const LIMITS: AssemblerLimits = AssemblerLimits {
    max_bytes: 1 << 20,
    max_chunks: 64,
};
/// Sequence numbers start just below the wrap so every test crosses it.
const BASE: u32 = u32::MAX - 100;

#[derive(Debug, PartialEq, Eq)]
enum Out {
    Data(Vec<u8>),
    Gap(u64),
}

/// Runs segments `(offset from BASE, bytes)` and returns what came out,
/// with adjacent data merged.
struct Harness {
    asm: Assembler,
    budget: Budget,
    out: Vec<Out>,
    limits: AssemblerLimits,
    /// The capture time given with each segment and ACK.
    now: Timestamp,
}

impl Harness {
    fn new(limits: AssemblerLimits, global: u64) -> Self {
        let mut asm = Assembler::default();
        asm.start_at(Seq(BASE));
        Harness {
            asm,
            budget: Budget::new(global),
            out: Vec::new(),
            limits,
            now: Timestamp::default(),
        }
    }

    fn push_delivery(out: &mut Vec<Out>, d: Delivery<'_>) {
        match (d, out.last_mut()) {
            (Delivery::Data(b), Some(Out::Data(prev))) => prev.extend_from_slice(b),
            (Delivery::Data(b), _) => out.push(Out::Data(b.to_vec())),
            (Delivery::Gap(n), Some(Out::Gap(prev))) => *prev += n,
            (Delivery::Gap(n), _) => out.push(Out::Gap(n)),
        }
    }

    fn seg(&mut self, off: u32, data: &[u8]) -> Result<(), Overflow> {
        self.seg_cut(off, data, data.len() as u32)
    }

    fn seg_cut(&mut self, off: u32, data: &[u8], wire: u32) -> Result<(), Overflow> {
        let out = &mut self.out;
        let piece = Piece {
            seq: Seq(BASE) + off,
            data,
            wire_len: wire,
            at: self.now,
        };
        self.asm
            .segment(piece, self.limits, &mut self.budget, &mut |d| {
                Self::push_delivery(out, d)
            })
    }

    fn ack(&mut self, off: u32) {
        let out = &mut self.out;
        self.asm
            .acked(Seq(BASE) + off, self.now, &mut self.budget, &mut |d| {
                Self::push_delivery(out, d)
            });
    }

    fn flush(&mut self) {
        let out = &mut self.out;
        self.asm
            .flush(&mut self.budget, &mut |d| Self::push_delivery(out, d));
    }
}

fn stream(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn in_order_across_the_wrap() {
    let s = stream(300);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(0, &s[..150]).unwrap();
    h.seg(150, &s[150..]).unwrap();
    assert_eq!(h.out, vec![Out::Data(s)]);
    assert_eq!(h.asm.next(), Some(Seq(BASE) + 300));
}

#[test]
fn full_and_partial_retransmissions_deliver_once() {
    let s = stream(300);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(0, &s[..100]).unwrap();
    h.seg(0, &s[..100]).unwrap(); // full retransmission
    h.seg(50, &s[50..200]).unwrap(); // partial overlap
    h.seg(200, &s[200..]).unwrap();
    assert_eq!(h.out, vec![Out::Data(s)]);
}

#[test]
fn out_of_order_is_held_until_the_hole_fills() {
    let s = stream(300);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(200, &s[200..]).unwrap();
    h.seg(100, &s[100..250]).unwrap(); // overlaps the held chunk
    assert!(h.out.is_empty());
    assert_eq!(h.asm.buffered(), 200);
    assert_eq!(h.budget.used(), 200);
    h.seg(0, &s[..100]).unwrap();
    assert_eq!(h.out, vec![Out::Data(s.clone())]);
    assert_eq!(h.asm.buffered(), 0);
    // The last chunk delivered (the two held, joined) is kept until the
    // stream moves on, to compare a late copy with it.
    assert_eq!(h.budget.used(), 200);
    h.seg(300, b"more").unwrap();
    assert_eq!(
        h.budget.used(),
        0,
        "budget returned once the stream moved on"
    );
}

#[test]
fn an_ack_past_unseen_bytes_declares_the_gap() {
    let s = stream(300);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(0, &s[..100]).unwrap();
    h.seg(200, &s[200..]).unwrap();
    h.ack(250);
    assert_eq!(
        h.out,
        vec![
            Out::Data(s[..100].to_vec()),
            Out::Gap(100),
            Out::Data(s[200..].to_vec())
        ]
    );
    assert_eq!(h.asm.gaps().acked_unseen, 100);
}

#[test]
fn flush_reports_holes_that_never_filled() {
    let s = stream(300);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(100, &s[100..150]).unwrap();
    h.seg(250, &s[250..]).unwrap();
    h.flush();
    assert_eq!(
        h.out,
        vec![
            Out::Gap(100),
            Out::Data(s[100..150].to_vec()),
            Out::Gap(100),
            Out::Data(s[250..].to_vec())
        ]
    );
    assert_eq!(h.budget.used(), 0);
}

#[test]
fn snaplen_cut_tail_is_a_gap() {
    let s = stream(100);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg_cut(0, &s[..40], 100).unwrap();
    h.seg(100, &s[..10]).unwrap();
    assert_eq!(
        h.out,
        vec![
            Out::Data(s[..40].to_vec()),
            Out::Gap(60),
            Out::Data(s[..10].to_vec())
        ]
    );
}

#[test]
fn caps_skip_the_hole_instead_of_growing() {
    let s = stream(1000);
    let small = AssemblerLimits {
        max_bytes: 300,
        max_chunks: 64,
    };
    let mut h = Harness::new(small, 1 << 20);
    h.seg(100, &s[100..300]).unwrap();
    let err = h.seg(400, &s[400..600]).unwrap_err();
    assert_eq!(err, Overflow::PerDirection { cap: 300 });
    assert_eq!(
        h.out,
        vec![
            Out::Gap(100),
            Out::Data(s[100..300].to_vec()),
            Out::Gap(100),
            Out::Data(s[400..600].to_vec())
        ]
    );
    assert_eq!(h.asm.buffered(), 0);

    let mut g = Harness::new(LIMITS, 50);
    assert_eq!(
        g.seg(100, &s[100..200]).unwrap_err(),
        Overflow::Global { cap: 50 }
    );
    assert_eq!(g.budget.used(), 0);
}

#[test]
fn stray_segments_far_away_are_ignored() {
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(1 << 31, b"junk").unwrap();
    assert!(h.out.is_empty());
    assert_eq!(h.asm.buffered(), 0);
}

/// Compares the assembler with an obviously correct model on random
/// segment orders: the model knows every byte, so the stream delivered
/// must be the original bytes where seen and gaps of the right size where
/// not.
#[test]
fn matches_a_slow_model_on_random_input() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..500 {
        let len = 1 + (next_rand() % 2000) as usize;
        let s = stream(len);
        let mut seen = vec![false; len];
        let mut h = Harness::new(
            AssemblerLimits {
                max_bytes: 1 + (next_rand() % 3000) as u32,
                max_chunks: 1 + (next_rand() % 8) as usize,
            },
            1 << 20,
        );
        for _ in 0..(next_rand() % 30) {
            let a = (next_rand() as usize) % len;
            let b = (a + 1 + (next_rand() as usize) % 300).min(len);
            let _ = h.seg(a as u32, &s[a..b]);
            seen[a..b].iter_mut().for_each(|x| *x = true);
        }
        h.flush();
        // Replay the output against the original stream.
        let mut pos = 0usize;
        for o in &h.out {
            match o {
                Out::Data(d) => {
                    assert_eq!(&s[pos..pos + d.len()], &d[..]);
                    assert!(
                        seen[pos..pos + d.len()].iter().all(|&x| x),
                        "delivered unseen bytes"
                    );
                    pos += d.len();
                }
                Out::Gap(n) => pos += *n as usize,
            }
        }
        let last_seen = seen.iter().rposition(|&x| x).map_or(0, |i| i + 1);
        assert_eq!(
            pos, last_seen,
            "stream must end where the last seen byte does"
        );
        assert_eq!(h.budget.used(), 0);
    }
}

mod honesty;
