//! What the assembler owns up to: bytes seen for the first time however
//! late or far out of order, holes skipped at a cap, and overlapping copies
//! that disagree (the first copy wins).

use super::*;

/// Sends `(offset, bytes)` segments, asking first how many bytes are new,
/// as the connection does; returns those counts.
fn run(h: &mut Harness, segs: &[(u32, &[u8])]) -> Vec<u32> {
    segs.iter()
        .map(|&(off, data)| {
            let fresh = h.asm.fresh(Seq(BASE) + off, data.len() as u32);
            let _ = h.seg(off, data);
            fresh.bytes
        })
        .collect()
}

/// Descending order, with several segment sizes, within the caps (held
/// segments join into few chunks), past the chunk cap and past the byte
/// cap: every segment is new when first seen, a second copy of any of
/// them is not, and only a cap makes bytes skipped.
#[test]
fn descending_segments_are_first_seen_even_past_the_caps() {
    let one_chunk = AssemblerLimits {
        max_bytes: 1 << 20,
        max_chunks: 1,
    };
    let small = AssemblerLimits {
        max_bytes: 64 * 1024,
        max_chunks: 1024,
    };
    for (size, count, limits, capped) in [
        (96, 1100, LIMITS, false),
        (7, 300, LIMITS, false),
        (7, 3000, one_chunk, true),
        (1448, 200, small, true),
    ] {
        let s = stream(size * count);
        let mut h = Harness::new(limits, 1 << 30);
        let segs: Vec<(u32, &[u8])> = (0..count)
            .rev()
            .map(|i| ((i * size) as u32, &s[i * size..(i + 1) * size]))
            .collect();
        let fresh = run(&mut h, &segs);
        assert!(
            fresh.iter().all(|&f| f == size as u32),
            "size {size}: first copies counted as old"
        );
        let again = run(&mut h, &segs);
        assert!(again.iter().all(|&f| f == 0), "size {size}: second copies");
        h.flush();
        // Whatever was skipped is a gap, counted, and the rest is the
        // stream's own bytes in place.
        let skipped = h.asm.gaps().overflow_bytes;
        assert_eq!(skipped > 0, capped, "size {size}: skipped {skipped}");
        let gaps: u64 = h
            .out
            .iter()
            .map(|o| match o {
                Out::Gap(n) => *n,
                Out::Data(_) => 0,
            })
            .sum();
        assert_eq!(gaps, skipped, "size {size}");
        let mut pos = 0usize;
        for o in &h.out {
            match o {
                Out::Data(d) => {
                    assert_eq!(&s[pos..pos + d.len()], &d[..]);
                    pos += d.len();
                }
                Out::Gap(n) => pos += *n as usize,
            }
        }
        assert_eq!(pos, s.len());
        assert_eq!(h.budget.used(), 0);
    }
}

/// A hole given up on at the end of the stream (FIN before the data)
/// still makes the data first seen when it comes.
#[test]
fn bytes_of_a_flushed_hole_are_first_seen() {
    let s = stream(300);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(100, &s[100..]).unwrap();
    h.flush();
    assert_eq!(h.asm.fresh(Seq(BASE), 100).bytes, 100);
    h.seg(0, &s[..100]).unwrap();
    assert_eq!(h.asm.fresh(Seq(BASE), 100).bytes, 0);
}

fn ms(n: i64) -> Timestamp {
    Timestamp::from_nanos(n * 1_000_000)
}

/// How long the hole a late segment fills has been open: since the first
/// byte past it arrived, kept across a skip at a cap and a flush, the
/// older time when holes merge; nothing for bytes in order.
#[test]
fn holes_remember_when_they_opened() {
    let s = stream(400);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.now = ms(10);
    h.seg(0, &s[..100]).unwrap();
    assert_eq!(h.asm.fresh(Seq(BASE) + 100, 50).hole_since, None);
    h.now = ms(20);
    h.seg(200, &s[200..300]).unwrap();
    h.now = ms(30);
    h.seg(350, &s[350..]).unwrap();
    let f = h.asm.fresh(Seq(BASE) + 100, 100);
    assert_eq!((f.bytes, f.hole_since), (100, Some(ms(20))));
    // Between two held chunks too.
    let f = h.asm.fresh(Seq(BASE) + 300, 50);
    assert_eq!((f.bytes, f.hole_since), (50, Some(ms(20))));
    // Past everything held: not a hole.
    assert_eq!(h.asm.fresh(Seq(BASE) + 400, 10).hole_since, None);
    h.now = ms(40);
    h.flush();
    // Given up on at the end, opened at 20 ms either way.
    let f = h.asm.fresh(Seq(BASE) + 150, 250);
    assert_eq!((f.bytes, f.hole_since), (100, Some(ms(20))));
    // A hole an ACK passed with nothing held opened with the ACK.
    h.now = ms(50);
    h.ack(500);
    let f = h.asm.fresh(Seq(BASE) + 450, 50);
    assert_eq!((f.bytes, f.hole_since), (50, Some(ms(50))));
}

fn conflicts(h: &Harness) -> (u32, u64) {
    let g = h.asm.gaps();
    (g.conflicts, g.conflict_bytes)
}

/// A copy that disagrees with held bytes at the start, in the middle or
/// at the end of a hole: counted once per segment, and the stream holds
/// the first copy.
#[test]
fn overlaps_that_disagree_keep_the_first_copy() {
    let first = stream(60);
    // The hole is [10, 50); held chunks sit at its start, middle and end.
    for held in [11..20, 25..35, 40..50] {
        let mut h = Harness::new(LIMITS, 1 << 20);
        h.seg(0, &first[..10]).unwrap();
        h.seg(held.start as u32, &first[held.clone()]).unwrap();
        // The filler covers the whole hole and disagrees everywhere.
        let other: Vec<u8> = first[10..50].iter().map(|b| b ^ 0xff).collect();
        let fresh = h.asm.fresh(Seq(BASE) + 10, 40).bytes;
        h.seg(10, &other).unwrap();
        h.seg(50, &first[50..]).unwrap();
        let n = held.len() as u32;
        assert_eq!(fresh, 40 - n, "held {held:?}");
        assert_eq!(conflicts(&h), (1, u64::from(n)), "held {held:?}");
        let mut want = first[..10].to_vec();
        want.extend_from_slice(&other);
        want[held.clone()].copy_from_slice(&first[held.clone()]);
        want.extend_from_slice(&first[50..]);
        assert_eq!(h.out, vec![Out::Data(want)], "held {held:?}");
    }
}

/// Two out-of-order copies that disagree: the second is compared with the
/// first while both wait for the hole.
#[test]
fn held_copies_are_compared_with_each_other() {
    let s = stream(100);
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(50, &s[50..80]).unwrap();
    let mut other = s[40..90].to_vec();
    other[15] ^= 1; // offset 55: inside the held chunk
    other[45] ^= 1; // offset 85: new bytes, nothing to compare
    h.seg(40, &other).unwrap();
    h.seg(0, &s[..40]).unwrap();
    assert_eq!(conflicts(&h), (1, 1));
    let mut want = s[..90].to_vec();
    want[85] ^= 1;
    assert_eq!(h.out, vec![Out::Data(want)]);
}

/// The conflicting-overlap case: a held chunk is delivered when the hole
/// fills, then a late copy of its tail arrives with other bytes. Both
/// disagreements count; the stream keeps the first copy.
#[test]
fn a_late_copy_of_bytes_that_filled_a_hole_is_compared() {
    let mut h = Harness::new(LIMITS, 1 << 20);
    h.seg(6, b"hello world").unwrap();
    h.seg(0, b"AAAAAA\x03\xe8zzzz").unwrap(); // overlaps [6, 12)
    h.seg(12, b"zzzzz").unwrap(); // overlaps [12, 17), now delivered
    assert_eq!(conflicts(&h), (2, 11));
    assert_eq!(h.out, vec![Out::Data(b"AAAAAAhello world".to_vec())]);
    // An identical late copy is a plain retransmission.
    h.seg(12, b"world").unwrap();
    assert_eq!(conflicts(&h), (2, 11));
    h.seg(17, b"!").unwrap();
    assert_eq!(h.budget.used(), 0);
}

/// Identical overlapping copies never count, whatever the order.
#[test]
fn agreeing_overlaps_are_not_conflicts() {
    let s = stream(500);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut h = Harness::new(LIMITS, 1 << 20);
    for _ in 0..200 {
        let a = (next_rand() % 500) as usize;
        let b = (a + 1 + (next_rand() % 80) as usize).min(500);
        let _ = h.seg(a as u32, &s[a..b]);
    }
    assert_eq!(conflicts(&h), (0, 0));
}

/// Against a model that knows every copy: each delivered byte is the first
/// copy of that byte, and `fresh` counts exactly the bytes no earlier
/// segment carried.
#[test]
fn first_copies_match_a_slow_model() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..500 {
        let len = 1 + (next_rand() % 1500) as usize;
        let mut first: Vec<Option<u8>> = vec![None; len];
        let mut h = Harness::new(
            AssemblerLimits {
                max_bytes: 1 + (next_rand() % 3000) as u32,
                max_chunks: 1 + (next_rand() % 8) as usize,
            },
            1 << 20,
        );
        // Few enough segments that no more holes are skipped than
        // remembered.
        for version in 0..(next_rand() % 12) as u8 {
            let a = (next_rand() as usize) % len;
            let b = (a + 1 + (next_rand() as usize) % 300).min(len);
            let data: Vec<u8> = (a..b)
                .map(|i| (i as u8) ^ version.wrapping_mul(37))
                .collect();
            let unseen = first[a..b].iter().filter(|x| x.is_none()).count() as u32;
            let fresh = h.asm.fresh(Seq(BASE) + a as u32, data.len() as u32).bytes;
            assert_eq!(fresh, unseen, "round {round}, segment {version}");
            let _ = h.seg(a as u32, &data);
            for (i, &byte) in (a..b).zip(&data) {
                first[i].get_or_insert(byte);
            }
        }
        h.flush();
        let mut pos = 0usize;
        for o in &h.out {
            match o {
                Out::Data(d) => {
                    for (i, &byte) in d.iter().enumerate() {
                        assert_eq!(first[pos + i], Some(byte), "round {round}");
                    }
                    pos += d.len();
                }
                Out::Gap(n) => pos += *n as usize,
            }
        }
        assert_eq!(h.budget.used(), 0);
    }
}

/// Segments arriving in order behind a hole, or in reverse, join into
/// chunks of about `MERGE_UP_TO` bytes, so a long run does not reach the
/// chunk cap; a segment bridging two chunks leaves them both in place.
#[test]
fn runs_behind_a_hole_join_into_few_chunks() {
    let s = stream(100_000);
    let mut h = Harness::new(LIMITS, 1 << 30);
    for off in (1000..60_000).step_by(1000) {
        h.seg(off as u32, &s[off..off + 1000]).unwrap();
    }
    for off in (61_000..100_000).step_by(1000).rev() {
        h.seg(off as u32, &s[off..off + 1000]).unwrap();
    }
    let held = h.asm.pending().len();
    assert!(held <= 8, "{held} chunks");
    h.seg(60_000, &s[60_000..61_000]).unwrap();
    assert!(h.out.is_empty());
    h.seg(0, &s[..1000]).unwrap();
    assert_eq!(h.out, vec![Out::Data(s.clone())]);
    assert_eq!(h.asm.gaps(), GapStats::default());
}
