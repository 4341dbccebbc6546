//! Turns the segments of one direction into an ordered byte stream.
//!
//! In-order payload is handed on by reference, straight from the capture
//! buffer. Only a segment that arrives ahead of a hole is copied, and only
//! until the hole is filled or given up on. Holes are given up on, and
//! reported as `Gap`s, when the receiver acknowledges bytes the capture never
//! saw (capture loss), when a buffer cap is reached, or when the stream ends.
//! The consumer sees exactly two things, in stream order: data, and "N bytes
//! were missed here" (the gopacket/Zeek boundary).
//!
//! Where two copies of the same bytes differ (overlapping segments that
//! disagree), the first copy seen is kept and the disagreement counted: most
//! stacks keep the bytes they already hold, so that is what the receiver
//! most likely read.

use super::seq::Seq;
use crate::time::Timestamp;
pub use limits::{AssemblerLimits, Budget, Overflow};
use skipped::{earlier, Skipped};

mod held;
mod limits;
mod skipped;

/// What the assembler hands to its consumer, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

/// Why a hole was given up on (counted in `GapStats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GapCause {
    /// The receiver ACKed bytes the capture does not have.
    Acked,
    /// A buffer cap was reached while waiting for the hole to fill.
    Overflow,
    /// The stream ended (FIN, RST, eviction, end of capture) with a hole.
    Flush,
}

/// One segment's payload as the assembler takes it: where it starts, the
/// bytes captured, how many it had on the wire (more when the capture cut
/// it), and when it was captured.
#[derive(Clone, Copy, Debug)]
pub struct Piece<'a> {
    pub seq: Seq,
    pub data: &'a [u8],
    pub wire_len: u32,
    pub at: Timestamp,
}

/// The bytes of a segment the capture has not seen before (see
/// [`Assembler::fresh`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fresh {
    pub bytes: u32,
    /// When the oldest hole these bytes fill opened (the first byte past it
    /// arrived, or an ACK passed it); `None` for bytes in order.
    pub hole_since: Option<Timestamp>,
}

impl Fresh {
    fn in_order(bytes: u32) -> Self {
        Fresh {
            bytes,
            hole_since: None,
        }
    }
}

struct Chunk {
    start: Seq,
    data: Box<[u8]>,
}

impl Chunk {
    fn end(&self) -> Seq {
        self.start + self.data.len() as u32
    }
}

/// Counts of what happened to holes and overlaps, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GapStats {
    /// Bytes the receiver ACKed that the capture never saw.
    pub acked_unseen: u64,
    /// Bytes skipped, as gaps, because a buffer cap was reached.
    pub overflow_bytes: u64,
    /// Times a cap made the assembler skip a hole.
    pub overflows: u32,
    pub flushed_bytes: u64,
    pub snaplen_bytes: u64,
    /// Segments that overlapped bytes already held with different bytes.
    pub conflicts: u32,
    /// Bytes that differed in those overlaps (the first copy was kept).
    pub conflict_bytes: u64,
}

/// What an in-order stream never needs: out-of-order chunks waiting for a
/// hole to fill, and the counts of holes given up on.
///
/// Invariant: `pending` is sorted by `start`, its chunks do not overlap, each
/// starts after the assembler's `next`, and `buffered` is the sum of their
/// lengths. `opened` is when the first chunk now held arrived: the holes
/// before and between the chunks are that old. `skipped` holds holes
/// declared gaps whose bytes never came, with when each opened.
/// `recent` is the last chunk delivered, before `next`: kept (and counted
/// in the budget, not in `buffered`) until the stream moves on, so that a
/// late copy of the bytes that filled a hole can be compared with it.
#[derive(Default)]
struct Extra {
    pending: Vec<Chunk>,
    opened: Timestamp,
    buffered: u32,
    gaps: GapStats,
    skipped: Skipped,
    recent: Option<Chunk>,
}

/// So the stream up to `next` has been delivered (as data or gaps) exactly
/// once. What an in-order stream never needs is allocated when first
/// needed, and freed as soon as the hole fills (unless it left a gap to
/// count): an assembler in order is 16 bytes.
#[derive(Default)]
pub struct Assembler {
    next: Option<Seq>,
    extra: Option<Box<Extra>>,
}

/// Distance beyond which a segment is not part of this stream (a stray or
/// injected packet): bigger than any real window (RFC 7323 caps it at 1 GiB).
const MAX_AHEAD: i64 = 1 << 30;

impl Assembler {
    /// Where the stream starts: after the SYN, or at the first segment seen
    /// when the connection was picked up mid-stream.
    pub fn start_at(&mut self, next: Seq) {
        if self.next.is_none() {
            self.next = Some(next);
        }
    }

    pub fn next(&self) -> Option<Seq> {
        self.next
    }

    pub fn buffered(&self) -> u32 {
        self.extra.as_ref().map_or(0, |e| e.buffered)
    }

    /// What happened to holes so far.
    pub fn gaps(&self) -> GapStats {
        self.extra.as_ref().map_or(GapStats::default(), |e| e.gaps)
    }

    /// Segments that disagreed with bytes held, and the bytes that differed,
    /// so far (see [`GapStats::conflicts`]).
    pub fn conflicts(&self) -> (u32, u64) {
        self.extra
            .as_ref()
            .map_or((0, 0), |e| (e.gaps.conflicts, e.gaps.conflict_bytes))
    }

    /// Bytes the receiver acknowledged that the capture never saw, so far.
    pub fn acked_unseen(&self) -> u64 {
        self.extra.as_ref().map_or(0, |e| e.gaps.acked_unseen)
    }

    fn gaps_mut(&mut self) -> &mut GapStats {
        &mut self.extra.get_or_insert_default().gaps
    }

    fn pending(&self) -> &[Chunk] {
        self.extra.as_ref().map_or(&[], |e| &e.pending)
    }

    /// What of the `wire_len` bytes at `seq` the capture has not seen
    /// before: those at or past `next` that no held chunk covers, and those
    /// of holes given up on that never came; and since when the oldest hole
    /// they fill has been open. A segment with none is a retransmission.
    /// Does not change anything: call before [`Assembler::segment`].
    #[inline(always)]
    pub fn fresh(&self, seq: Seq, wire_len: u32) -> Fresh {
        match (self.next, self.extra.as_deref()) {
            (None, _) => Fresh::in_order(wire_len),
            // Nothing held or skipped: new past `next`, old before it.
            (Some(next), None) => Fresh::in_order((seq + wire_len).bytes_after(seq.max(next))),
            (Some(next), Some(extra)) => Self::fresh_around(next, extra, seq, wire_len),
        }
    }

    /// [`Assembler::fresh`] for a stream with chunks held or holes skipped.
    #[inline(never)]
    fn fresh_around(next: Seq, extra: &Extra, seq: Seq, wire_len: u32) -> Fresh {
        let end = seq + wire_len;
        let from = seq.max(next);
        let mut fresh = Fresh::in_order(end.bytes_after(from));
        // Below the last byte held, new bytes fill a hole: before the
        // first chunk or between two.
        if let Some(last) = extra.pending.last() {
            if fresh.bytes > 0 && from.diff(last.end()) < 0 {
                fresh.hole_since = Some(extra.opened);
            }
        }
        for chunk in &extra.pending {
            if chunk.start.diff(end) >= 0 {
                break;
            }
            fresh.bytes -= earlier(end, chunk.end()).bytes_after(from.max(chunk.start));
        }
        if seq.diff(next) < 0 {
            let (late, since) = extra.skipped.overlap(seq, earlier(end, next));
            fresh.bytes += late;
            if let Some(since) = since {
                let oldest = fresh.hole_since.map_or(since, |t| t.min(since));
                fresh.hole_since = Some(oldest);
            }
        }
        fresh
    }

    /// Nothing held any more: free the chunks' buffer, and the whole
    /// record when it counts no gap.
    fn release(&mut self) {
        if let Some(e) = &mut self.extra {
            e.pending = Vec::new();
            if e.gaps == GapStats::default() && e.skipped.is_empty() && e.recent.is_none() {
                self.extra = None;
            }
        }
    }

    /// Adds one segment's payload and delivers whatever became in order.
    /// A cap reached is an error, after the hole before the segment was
    /// skipped (delivered as a gap) so that the segment could go on.
    pub fn segment(
        &mut self,
        piece: Piece<'_>,
        limits: AssemblerLimits,
        budget: &mut Budget,
        out: &mut impl FnMut(Delivery<'_>),
    ) -> Result<(), Overflow> {
        let Piece {
            seq,
            data,
            wire_len,
            at: now,
        } = piece;
        if wire_len == 0 {
            return Ok(());
        }
        let next = *self.next.get_or_insert(seq);
        let ahead = seq.diff(next);
        let end = seq + wire_len;
        if ahead == 0 && self.extra.is_none() && data.len() >= wire_len as usize {
            // In order, whole, nothing held: the common case.
            out(Delivery::Data(&data[..wire_len as usize]));
            self.next = Some(end);
            return Ok(());
        }
        if ahead > MAX_AHEAD {
            return Ok(()); // a stray
        }
        if let Some(extra) = self.extra.as_deref_mut() {
            if ahead < 0 {
                // Bytes of a hole given up on: already reported as a gap,
                // and seen now, so a later copy is a retransmission.
                extra.skipped.take(seq, earlier(end, next));
            }
            let kept = data.len().min(wire_len as usize);
            extra.count_conflicts(seq, &data[..kept]);
            if ahead >= 0 {
                // New bytes: the stream moved on past the last hole filled.
                if let Some(recent) = extra.recent.take() {
                    budget.give_back(recent.data.len() as u64);
                }
                if extra.pending.is_empty() {
                    self.release();
                }
            }
        }
        if end.diff(next) <= 0 {
            return Ok(()); // entirely old
        }
        if ahead > 0 {
            let kept = data.len().min(wire_len as usize);
            match self.insert(seq, &data[..kept], now, limits, budget) {
                Ok(()) => return Ok(()),
                Err(overflow) => {
                    // Give up on the hole before this segment; it is then in
                    // order and needs no buffering.
                    let before = self.gaps().overflow_bytes;
                    self.skip_to(seq, GapCause::Overflow, now, budget, out);
                    if self.gaps().overflow_bytes > before {
                        self.gaps_mut().overflows += 1;
                    }
                    self.deliver_in_order(seq, data, wire_len, budget, out);
                    return Err(overflow);
                }
            }
        }
        self.deliver_in_order(seq, data, wire_len, budget, out);
        Ok(())
    }

    /// The receiver acknowledged up to `ack`: anything before it that we do
    /// not have will never come (a retransmission would not be sent), so it
    /// is a gap now rather than at the end of the stream.
    /// `now` is when the ACK came (when a hole with nothing held opened).
    pub fn acked(
        &mut self,
        ack: Seq,
        now: Timestamp,
        budget: &mut Budget,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        if let Some(next) = self.next {
            let ahead = ack.diff(next);
            if ahead > 0 && ahead <= MAX_AHEAD {
                self.skip_to(ack, GapCause::Acked, now, budget, out);
            }
        }
    }

    /// The stream is over: deliver what is buffered, with gaps for the holes,
    /// and return the memory.
    pub fn flush(&mut self, budget: &mut Budget, out: &mut impl FnMut(Delivery<'_>)) {
        if let Some(last) = self.pending().last() {
            let end = last.end();
            let opened = self
                .extra
                .as_ref()
                .map_or(Timestamp::default(), |e| e.opened);
            self.skip_to(end, GapCause::Flush, opened, budget, out);
        }
        if let Some(recent) = self.extra.as_mut().and_then(|e| e.recent.take()) {
            budget.give_back(recent.data.len() as u64);
        }
        self.release();
    }

    fn deliver_in_order(
        &mut self,
        seq: Seq,
        data: &[u8],
        wire_len: u32,
        budget: &mut Budget,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        let end = seq + wire_len;
        let captured_end = seq + data.len().min(wire_len as usize) as u32;
        let mut next = self.next.unwrap_or(seq);
        if self.pending().is_empty() {
            // In order with nothing held: the common case.
            let (from, to) = (
                next.bytes_after(seq) as usize,
                captured_end.bytes_after(seq),
            );
            if from < to as usize {
                out(Delivery::Data(&data[from..to as usize]));
            }
        } else {
            next = self.deliver_around_held(seq, data, captured_end, next, budget, out);
        }
        let cut = end.bytes_after(captured_end.max(next));
        if cut > 0 {
            self.gaps_mut().snaplen_bytes += u64::from(cut);
            out(Delivery::Gap(u64::from(cut)));
        }
        self.next = Some(end.max(next));
        self.drain(budget, out);
    }

    /// Delivers `data` (captured up to `captured_end`) from `next` on,
    /// except where a held chunk covers it: there the held chunk, the first
    /// copy, is delivered instead. Returns where the stream then is.
    #[inline(never)]
    fn deliver_around_held(
        &mut self,
        seq: Seq,
        data: &[u8],
        captured_end: Seq,
        mut next: Seq,
        budget: &mut Budget,
        out: &mut impl FnMut(Delivery<'_>),
    ) -> Seq {
        loop {
            let upto = match self.pending().first() {
                Some(c) if c.start.diff(captured_end) < 0 => c.start,
                _ => captured_end,
            };
            let (from, to) = (
                next.bytes_after(seq) as usize,
                upto.bytes_after(seq) as usize,
            );
            if from < to {
                out(Delivery::Data(&data[from..to]));
            }
            if upto == captured_end {
                return next.max(upto);
            }
            self.next = Some(upto.max(next));
            self.drain(budget, out);
            next = self.next.unwrap_or(upto);
            if next.diff(captured_end) >= 0 {
                return next;
            }
        }
    }

    /// Delivers buffered chunks that the stream has reached.
    fn drain(&mut self, budget: &mut Budget, out: &mut impl FnMut(Delivery<'_>)) {
        let Some(mut next) = self.next else { return };
        let Some(extra) = self.extra.as_mut() else {
            return;
        };
        let mut done = 0;
        for chunk in &extra.pending {
            if chunk.start.diff(next) > 0 {
                break;
            }
            let skip = next.bytes_after(chunk.start) as usize;
            if skip < chunk.data.len() {
                out(Delivery::Data(&chunk.data[skip..]));
                next = chunk.end();
            }
            done += 1;
        }
        if done > 0 {
            let mut drained = extra.pending.drain(..done);
            let last = drained.next_back();
            let mut freed: usize = drained.map(|c| c.data.len()).sum();
            // The last chunk stays, as `recent`, in the budget.
            let kept = last.as_ref().map_or(0, |c| c.data.len());
            extra.buffered -= (freed + kept) as u32;
            if let Some(old) = std::mem::replace(&mut extra.recent, last) {
                freed += old.data.len();
            }
            budget.give_back(freed as u64);
            if extra.pending.is_empty() {
                self.release();
            }
            self.next = Some(next);
        }
    }

    /// Declares everything missing before `target` a gap, delivering the
    /// buffered chunks in between.
    // Off the in-order path: kept out of its callers.
    #[inline(never)]
    fn skip_to(
        &mut self,
        target: Seq,
        cause: GapCause,
        now: Timestamp,
        budget: &mut Budget,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        while let Some(next) = self.next {
            if target.diff(next) <= 0 {
                break;
            }
            let hole_end = match self.pending().first() {
                Some(c) if c.start.diff(target) < 0 => c.start,
                _ => target,
            };
            let len = u64::from(hole_end.bytes_after(next));
            if len > 0 {
                let extra = self.extra.get_or_insert_default();
                // A hole before held chunks is as old as they are.
                let opened = if extra.pending.is_empty() {
                    now
                } else {
                    extra.opened
                };
                extra.skipped.add(next, hole_end, opened);
                let gaps = &mut extra.gaps;
                match cause {
                    GapCause::Acked => gaps.acked_unseen += len,
                    GapCause::Overflow => gaps.overflow_bytes += len,
                    GapCause::Flush => gaps.flushed_bytes += len,
                }
                out(Delivery::Gap(len));
            }
            self.next = Some(hole_end);
            self.drain(budget, out);
        }
    }
}

#[cfg(test)]
mod tests;
