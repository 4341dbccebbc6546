//! Holes the assembler gave up on, remembered so that their bytes, should
//! they arrive after all, are known as first seen rather than taken for
//! retransmissions of bytes the capture already held.

use super::Seq;
use crate::time::Timestamp;

/// Skipped ranges remembered per direction. Beyond this the oldest is
/// forgotten: its late bytes then count as retransmissions, the old
/// behaviour, so the bound costs accuracy only after 16 separate holes.
pub(super) const MAX_SKIPPED: usize = 16;

/// Ranges `[start, end)` of sequence space declared gaps and not seen
/// since, each with when its hole opened.
///
/// Invariant: sorted by `start`, disjoint and not adjacent (adjacent
/// ranges are merged, keeping the older time), at most [`MAX_SKIPPED`] of
/// them, all before the assembler's `next`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Skipped {
    ranges: Vec<(Seq, Seq, Timestamp)>,
}

impl Skipped {
    /// Remembers `[start, end)`, declared a gap just now: gaps are declared
    /// in stream order, so it comes after every range held.
    pub(super) fn add(&mut self, start: Seq, end: Seq, opened: Timestamp) {
        if end.diff(start) <= 0 {
            return;
        }
        match self.ranges.last_mut() {
            Some(last) if last.1 == start => {
                last.1 = end;
                last.2 = last.2.min(opened);
            }
            _ => {
                if self.ranges.len() == MAX_SKIPPED {
                    self.ranges.remove(0);
                }
                self.ranges.push((start, end, opened));
            }
        }
    }

    /// Bytes of `[start, end)` inside skipped ranges, and when the oldest
    /// of those ranges opened.
    pub(super) fn overlap(&self, start: Seq, end: Seq) -> (u32, Option<Timestamp>) {
        let mut bytes = 0;
        let mut since: Option<Timestamp> = None;
        for &(s, e, opened) in &self.ranges {
            let n = earlier(end, e).bytes_after(start.max(s));
            if n > 0 {
                bytes += n;
                since = Some(since.map_or(opened, |t| t.min(opened)));
            }
        }
        (bytes, since)
    }

    /// Forgets the parts of `[start, end)` inside skipped ranges (they have
    /// now been seen) and returns how many bytes that was.
    pub(super) fn take(&mut self, start: Seq, end: Seq) -> u32 {
        let (taken, _) = self.overlap(start, end);
        if taken == 0 {
            return 0;
        }
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for &(s, e, opened) in &self.ranges {
            if end.diff(s) <= 0 || e.diff(start) <= 0 {
                kept.push((s, e, opened));
                continue;
            }
            if start.diff(s) > 0 {
                kept.push((s, start, opened));
            }
            if e.diff(end) > 0 {
                kept.push((end, e, opened));
            }
        }
        // Splitting one range in two may pass the bound by one.
        if kept.len() > MAX_SKIPPED {
            kept.remove(0);
        }
        self.ranges = kept;
        taken
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// The earlier of two sequence numbers, in wrapping order.
pub(super) fn earlier(a: Seq, b: Seq) -> Seq {
    if a.diff(b) <= 0 {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u32 = u32::MAX - 10;

    fn at(off: u32) -> Seq {
        Seq(BASE) + off
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn late_bytes_are_taken_once() {
        let mut s = Skipped::default();
        s.add(at(0), at(100), t(7));
        assert_eq!(s.overlap(at(50), at(150)), (50, Some(t(7))));
        assert_eq!(s.overlap(at(100), at(150)), (0, None));
        assert_eq!(s.take(at(40), at(60)), 20);
        assert_eq!(s.take(at(40), at(60)), 0, "seen now: a second copy is old");
        assert_eq!(s.overlap(at(0), at(100)), (80, Some(t(7))));
        assert_eq!(s.take(at(0), at(100)), 80);
        assert!(s.is_empty());
    }

    #[test]
    fn adjacent_gaps_merge_and_the_oldest_is_forgotten() {
        let mut s = Skipped::default();
        s.add(at(0), at(10), t(5));
        s.add(at(10), at(20), t(3));
        assert_eq!(s.ranges.len(), 1);
        assert_eq!(s.overlap(at(0), at(20)), (20, Some(t(3))), "the older time");
        for i in 1..=MAX_SKIPPED as u32 {
            s.add(at(i * 100), at(i * 100 + 10), t(9));
        }
        assert_eq!(s.ranges.len(), MAX_SKIPPED);
        assert_eq!(s.overlap(at(0), at(20)), (0, None), "oldest forgotten");
        // Splitting a range in the middle stays within the bound.
        assert_eq!(s.take(at(102), at(105)), 3);
        assert!(s.ranges.len() <= MAX_SKIPPED);
    }
}
