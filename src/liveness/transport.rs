//! What the judge remembers of one side's TCP: as a sender (bytes in
//! flight, the ACK stall, probes), as a receiver (its window), and the time
//! it could not send, which no rule may charge it for.

use super::event::Mark;
use crate::time::{Span, Timestamp};

/// Bytes in flight with no ACK progress, and the retransmissions since the
/// ACK last moved: the evidence for `peer_unreachable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The oldest unacknowledged byte was sent, or the ACK last advanced
    /// while bytes stayed in flight.
    pub since: Mark,
    pub retransmissions: u32,
    pub first_retransmission: Option<Mark>,
    pub last_retransmission: Option<Mark>,
}

/// Keep-alive or zero-window probes in a row that the peer has not
/// answered (any segment from the peer answers them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRun {
    pub count: u32,
    pub first: Mark,
    pub last: Mark,
}

/// A zero receive window this side advertised, still in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroWindow {
    pub since: Mark,
    /// Probes the peer sent into it.
    pub probes: u32,
}

/// Accumulated time in some condition: `total` for closed spans, plus the
/// one open since `since`. Reading it at two instants gives the time spent
/// in the condition between them, in O(1) memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clocked {
    pub since: Option<Timestamp>,
    pub total: Span,
}

impl Clocked {
    pub fn set(&mut self, on: bool, now: Timestamp) {
        match (on, self.since) {
            (true, None) => self.since = Some(now),
            (false, Some(since)) => {
                self.total += now.since(since).max(Span::ZERO);
                self.since = None;
            }
            _ => {}
        }
    }

    /// Total time in the condition up to `at`.
    pub fn at(&self, at: Timestamp) -> Span {
        self.total
            + self
                .since
                .map_or(Span::ZERO, |s| at.since(s).max(Span::ZERO))
    }
}

/// Spans of one condition in the recent past, bounded: the oldest are
/// dropped first, which can only under-count.
#[derive(Clone, Debug, Default)]
pub struct RecentSpans {
    spans: std::collections::VecDeque<(Timestamp, Timestamp)>,
}

/// Closed spans kept by [`RecentSpans`].
const RECENT_SPANS: usize = 64;

impl RecentSpans {
    pub fn push(&mut self, start: Timestamp, end: Timestamp) {
        if self.spans.len() == RECENT_SPANS {
            self.spans.pop_front();
        }
        self.spans.push_back((start, end));
    }

    /// Time covered within `[from, to]`, counting an open span from `open`.
    pub fn within(&self, from: Timestamp, to: Timestamp, open: Option<Timestamp>) -> Span {
        let overlap = |s: Timestamp, e: Timestamp| {
            let (s, e) = (s.max(from), e.min(to));
            if e > s {
                e.since(s)
            } else {
                Span::ZERO
            }
        };
        let closed = self
            .spans
            .iter()
            .fold(Span::ZERO, |acc, &(s, e)| acc + overlap(s, e));
        closed + open.map_or(Span::ZERO, |s| overlap(s, to))
    }

    /// Forgets spans that ended before `before`.
    pub fn trim(&mut self, before: Timestamp) {
        while self.spans.front().is_some_and(|&(_, e)| e < before) {
            self.spans.pop_front();
        }
    }
}

/// When a side's window was closed to its peer (zero, or filled by the
/// peer's bytes in flight): the recent spans, the one still open, and when
/// the latest zero-window span long enough for a `zero_window_stall` ended.
#[derive(Clone, Debug, Default)]
pub struct ClosedWindow {
    pub spans: RecentSpans,
    pub since: Option<Timestamp>,
    pub stall_ended: Option<Timestamp>,
}

/// The retransmissions of a [`Stall`], kept apart: most stalls last one
/// round trip and never see one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retransmitted {
    count: u32,
    first: Mark,
    last: Mark,
}

/// What only a side in trouble, idle or badly captured needs: probes,
/// bytes the capture missed, a zero window, retransmissions, time it could
/// not send, a closed window. Allocated the first time one of them happens,
/// so a healthy side costs nothing for them.
#[derive(Clone, Debug, Default)]
struct Rare {
    /// Probes in a row the peer has not answered yet.
    probes: Option<ProbeRun>,
    keepalives: u32,
    zero_window_probes: u32,
    /// Bytes the peer acknowledged that the capture never saw.
    missed_bytes: u64,
    first_missed: Option<Mark>,
    /// Overlapping segments of this side that disagreed with bytes held.
    conflicts: Option<Conflicts>,
    zero_window: Option<ZeroWindow>,
    /// Retransmissions in the current stall: reset with it.
    retransmitted: Option<Retransmitted>,
    blocked: Clocked,
    closed_window: Option<ClosedWindow>,
}

/// Segments of a side that overlapped bytes of its stream already held
/// with different bytes (see `TcpEvent::Conflict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflicts {
    pub segments: u32,
    /// Bytes that differed, over all those segments.
    pub bytes: u64,
    pub first: Mark,
}

/// How a side's stream ended, if it did (allocated with its FIN or RST).
#[derive(Clone, Copy, Debug, Default)]
struct End {
    fin: Option<Mark>,
    rst: Option<Mark>,
}

/// `srtt` unknown: RFC 6298 never gives a negative SRTT, nor does a
/// probe's TCP_INFO, so the most negative span is free to mean "none".
const NO_SRTT: Span = Span::from_nanos(i64::MIN);

/// One side's TCP, as the judge needs it: 72 bytes inline, the rest
/// allocated when first needed (see [`Rare`]).
#[derive(Clone, Debug)]
pub struct Transport {
    // --- as a sender
    pub in_flight: u32,
    /// When bytes in flight last got no ACK progress (see [`Stall`]).
    stall_since: Option<Mark>,
    /// This direction's smoothed RTT (RFC 6298), from the TCP stage, or
    /// `NO_SRTT`.
    srtt: Span,
    pub last_payload: Option<Mark>,
    // --- as a receiver
    /// Last advertised window, bytes; a lower bound unless `scale_known`.
    pub window: Option<u32>,
    pub scale_known: bool,
    end: Option<Box<End>>,
    rare: Option<Box<Rare>>,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            in_flight: 0,
            stall_since: None,
            srtt: NO_SRTT,
            last_payload: None,
            window: None,
            scale_known: false,
            end: None,
            rare: None,
        }
    }
}

impl Transport {
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// This direction's smoothed RTT (RFC 6298), from the TCP stage.
    pub fn srtt(&self) -> Option<Span> {
        (self.srtt != NO_SRTT).then_some(self.srtt)
    }

    /// Takes a newer SRTT; `None` keeps the one known.
    pub fn update_srtt(&mut self, srtt: Option<Span>) {
        if let Some(s) = srtt {
            self.srtt = s;
        }
    }

    /// Bytes in flight with no ACK progress, and the retransmissions since
    /// the ACK last moved: the evidence for `peer_unreachable`.
    pub fn stall(&self) -> Option<Stall> {
        let since = self.stall_since?;
        let r = self.rare.as_ref().and_then(|r| r.retransmitted);
        Some(Stall {
            since,
            retransmissions: r.map_or(0, |r| r.count),
            first_retransmission: r.map(|r| r.first),
            last_retransmission: r.map(|r| r.last),
        })
    }

    /// A new stall starts at `since` (or none, for `None`): its
    /// retransmissions start from zero.
    pub fn restart_stall(&mut self, since: Option<Mark>) {
        self.stall_since = since;
        if let Some(r) = &mut self.rare {
            r.retransmitted = None;
        }
    }

    /// A retransmission at `mark` during the current stall, if any.
    pub fn note_retransmission(&mut self, mark: Mark) {
        if self.stall_since.is_none() {
            return;
        }
        let r = &mut self.rare_mut().retransmitted;
        *r = Some(match *r {
            Some(r) => Retransmitted {
                count: r.count + 1,
                last: mark,
                ..r
            },
            None => Retransmitted {
                count: 1,
                first: mark,
                last: mark,
            },
        });
    }

    /// This side's FIN (RFC 9293 §3.6), the first one seen.
    pub fn fin(&self) -> Option<Mark> {
        self.end.as_ref().and_then(|e| e.fin)
    }

    /// This side's RST, the first one seen.
    pub fn rst(&self) -> Option<Mark> {
        self.end.as_ref().and_then(|e| e.rst)
    }

    pub fn note_fin(&mut self, mark: Mark) {
        self.end.get_or_insert_default().fin.get_or_insert(mark);
    }

    pub fn note_rst(&mut self, mark: Mark) {
        self.end.get_or_insert_default().rst.get_or_insert(mark);
    }

    /// The zero receive window this side advertised, still in force.
    pub fn zero_window(&self) -> Option<ZeroWindow> {
        self.rare.as_ref().and_then(|r| r.zero_window)
    }

    /// Sets or clears the zero window in force; returns the one it replaced.
    pub fn set_zero_window(&mut self, z: Option<ZeroWindow>) -> Option<ZeroWindow> {
        if z.is_none() && self.rare.is_none() {
            return None;
        }
        std::mem::replace(&mut self.rare_mut().zero_window, z)
    }

    /// A zero-window probe from the peer into this side's zero window.
    pub fn note_probe_into_zero_window(&mut self) {
        if let Some(z) = self.rare.as_mut().and_then(|r| r.zero_window.as_mut()) {
            z.probes += 1;
        }
    }

    /// A keep-alive (RFC 9293 §3.8.4) or zero-window probe this side sent.
    pub fn note_probe(&mut self, zero_window: bool, mark: Mark) {
        let r = self.rare_mut();
        if zero_window {
            r.zero_window_probes += 1;
        } else {
            r.keepalives += 1;
        }
        r.probes = Some(match r.probes {
            Some(run) => ProbeRun {
                count: run.count + 1,
                last: mark,
                ..run
            },
            None => ProbeRun {
                count: 1,
                first: mark,
                last: mark,
            },
        });
    }

    /// `bytes` of this side's stream the peer acknowledged and the capture
    /// never saw.
    pub fn note_missed(&mut self, bytes: u64, mark: Mark) {
        let r = self.rare_mut();
        r.missed_bytes += bytes;
        r.first_missed.get_or_insert(mark);
    }

    /// A segment of this side disagreed with bytes already held in `bytes`
    /// places.
    pub fn note_conflict(&mut self, bytes: u64, mark: Mark) {
        let r = self.rare_mut();
        let c = r.conflicts.get_or_insert(Conflicts {
            segments: 0,
            bytes: 0,
            first: mark,
        });
        c.segments += 1;
        c.bytes += bytes;
    }

    /// This side's overlapping segments that disagreed, if any did.
    pub fn conflicts(&self) -> Option<Conflicts> {
        self.rare.as_deref()?.conflicts
    }

    /// Bytes the capture missed, and the first time it did, if it did.
    pub fn missed(&self) -> Option<(u64, Mark)> {
        let r = self.rare.as_deref()?;
        r.first_missed.map(|m| (r.missed_bytes, m))
    }

    /// Time this side could not send, up to `at`: the peer's window was
    /// closed, or its bytes were stuck unacknowledged and retransmitted.
    /// Its silences in that time are not its fault (the spec's "who can be
    /// charged").
    pub fn blocked_at(&self, at: Timestamp) -> Span {
        self.rare.as_ref().map_or(Span::ZERO, |r| r.blocked.at(at))
    }

    /// Whether this side can send, from `now` on.
    #[inline]
    pub fn set_blocked(&mut self, on: bool, now: Timestamp) {
        if on || self.rare.is_some() {
            self.rare_mut().blocked.set(on, now);
        }
    }

    /// Whether this side's window is closed to a peer with `peer_in_flight`
    /// bytes outstanding: zero, or (scale known) filled.
    pub fn window_closed(&self, peer_in_flight: u32) -> bool {
        match self.window {
            Some(0) => true,
            Some(w) => self.scale_known && peer_in_flight > 0 && peer_in_flight >= w,
            None => false,
        }
    }

    /// Whether this side is reading slower than the peer writes: its window
    /// is zero, or smaller than the peer's bytes already in flight (the
    /// spec's `slow_reader`). A window the peer merely fills, as any bulk
    /// transfer does, is not behind: a reader that keeps up keeps it open.
    pub fn window_behind(&self, peer_in_flight: u32) -> bool {
        match self.window {
            Some(0) => true,
            Some(w) => self.scale_known && peer_in_flight > w,
            None => false,
        }
    }

    fn closed_window(&self) -> Option<&ClosedWindow> {
        self.rare.as_ref().and_then(|r| r.closed_window.as_ref())
    }

    /// Records whether the window is closed now, for `slow_reader`, and
    /// forgets spans older than `keep` before `now`.
    #[inline]
    pub fn note_window_closed(&mut self, closed: bool, now: Timestamp, keep: Span) {
        if closed || self.closed_window().is_some() {
            self.record_window_closed(closed, now, keep);
        }
    }

    fn record_window_closed(&mut self, closed: bool, now: Timestamp, keep: Span) {
        let cw = self.rare_mut().closed_window.get_or_insert_default();
        match (closed, cw.since) {
            (true, None) => cw.since = Some(now),
            (false, Some(since)) => {
                cw.spans.push(since, now);
                cw.since = None;
            }
            _ => {}
        }
        cw.spans.trim(Timestamp::from_nanos(
            now.nanos().saturating_sub(keep.nanos()),
        ));
    }

    /// A zero-window span long enough for a `zero_window_stall` ended.
    pub fn note_zero_window_stall_ended(&mut self, now: Timestamp) {
        let cw = self.rare_mut().closed_window.get_or_insert_default();
        cw.stall_ended = Some(now);
    }

    /// Whether such a span ended at or after `from`.
    pub fn zero_window_stall_ended_since(&self, from: Timestamp) -> bool {
        self.closed_window()
            .and_then(|c| c.stall_ended)
            .is_some_and(|e| e >= from)
    }

    /// Whether a closed window reopened within `[from, to]`: the side read.
    pub fn reopened_within(&self, from: Timestamp, to: Timestamp) -> bool {
        self.closed_window()
            .is_some_and(|c| c.spans.within(from, to, None) > Span::ZERO)
    }

    /// Time the window was closed within `[from, to]`.
    pub fn closed_within(&self, from: Timestamp, to: Timestamp) -> Span {
        self.closed_window()
            .map_or(Span::ZERO, |c| c.spans.within(from, to, c.since))
    }

    /// The probe run still unanswered, if any.
    pub fn probes(&self) -> Option<ProbeRun> {
        self.rare.as_ref().and_then(|r| r.probes)
    }

    /// Forgets the probe run: the peer answered, or data went out.
    pub fn probes_answered(&mut self) {
        if let Some(r) = &mut self.rare {
            r.probes = None;
        }
    }

    pub fn keepalives(&self) -> u32 {
        self.rare.as_ref().map_or(0, |r| r.keepalives)
    }

    /// Whether this side's own bytes are stuck: in flight, not acknowledged,
    /// and retransmitted.
    pub fn stalled(&self) -> bool {
        self.in_flight > 0
            && self.stall_since.is_some()
            && self
                .rare
                .as_ref()
                .is_some_and(|r| r.retransmitted.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn clocked_time_counts_open_and_closed_spans() {
        let mut c = Clocked::default();
        c.set(true, t(1000));
        c.set(true, t(1500));
        c.set(false, t(3000));
        assert_eq!(c.at(t(5000)), Span::from_secs(2));
        c.set(true, t(6000));
        assert_eq!(c.at(t(7000)), Span::from_secs(3));
    }

    #[test]
    fn recent_spans_overlap_the_window() {
        let mut r = RecentSpans::default();
        r.push(t(0), t(2000));
        r.push(t(3000), t(4000));
        assert_eq!(r.within(t(1000), t(10_000), None), Span::from_secs(2));
        assert_eq!(
            r.within(t(1000), t(10_000), Some(t(9000))),
            Span::from_secs(3)
        );
        r.trim(t(2500));
        assert_eq!(r.within(t(0), t(10_000), None), Span::from_secs(1));
    }

    #[test]
    fn a_window_is_closed_when_zero_or_filled_with_a_known_scale() {
        let mut tr = Transport {
            window: Some(1000),
            ..Transport::default()
        };
        assert!(!tr.window_closed(1000), "scale unknown: a lower bound");
        tr.scale_known = true;
        assert!(tr.window_closed(1000));
        assert!(!tr.window_closed(999));
        tr.window = Some(0);
        tr.scale_known = false;
        assert!(tr.window_closed(0), "zero is zero");
        tr.window = Some(1000);
        tr.scale_known = true;
        assert!(!tr.window_behind(1000), "filled is not behind");
        assert!(tr.window_behind(1001));
    }
}
