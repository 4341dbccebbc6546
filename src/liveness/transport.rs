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

/// What an idle or badly captured side adds: keep-alives and zero-window
/// probes, and bytes the capture missed.
#[derive(Clone, Debug, Default)]
pub struct Rare {
    /// Probes in a row the peer has not answered yet.
    pub probes: Option<ProbeRun>,
    pub keepalives: u32,
    pub zero_window_probes: u32,
    /// Bytes the peer acknowledged that the capture never saw.
    pub missed_bytes: u64,
    pub first_missed: Option<Mark>,
}

/// One side's TCP, as the judge needs it.
#[derive(Clone, Debug, Default)]
pub struct Transport {
    // --- as a sender
    pub in_flight: u32,
    pub stall: Option<Stall>,
    /// This direction's smoothed RTT (RFC 6298), from the TCP stage.
    pub srtt: Option<Span>,
    /// Probes and capture loss: allocated with the first.
    pub rare: Option<Box<Rare>>,
    pub last_payload: Option<Mark>,
    pub fin: Option<Mark>,
    pub rst: Option<Mark>,
    // --- as a receiver
    /// Last advertised window, bytes; a lower bound unless `scale_known`.
    pub window: Option<u32>,
    pub scale_known: bool,
    pub zero_window: Option<ZeroWindow>,
    /// When this side's window was closed to the peer, for `slow_reader`;
    /// allocated the first time it closes.
    pub closed_window: Option<Box<ClosedWindow>>,
    // --- charging
    /// Time this side could not send: the peer's window was closed, or its
    /// bytes were stuck unacknowledged and retransmitted. Its silences in
    /// that time are not its fault (the spec's "who can be charged").
    pub blocked: Clocked,
}

impl Transport {
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

    /// Records whether the window is closed now, for `slow_reader`, and
    /// forgets spans older than `keep` before `now`.
    pub fn note_window_closed(&mut self, closed: bool, now: Timestamp, keep: Span) {
        if !closed && self.closed_window.is_none() {
            return;
        }
        let cw = self.closed_window.get_or_insert_default();
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
        self.closed_window.get_or_insert_default().stall_ended = Some(now);
    }

    /// Whether such a span ended at or after `from`.
    pub fn zero_window_stall_ended_since(&self, from: Timestamp) -> bool {
        self.closed_window
            .as_ref()
            .and_then(|c| c.stall_ended)
            .is_some_and(|e| e >= from)
    }

    /// Whether a closed window reopened within `[from, to]`: the side read.
    pub fn reopened_within(&self, from: Timestamp, to: Timestamp) -> bool {
        self.closed_window
            .as_ref()
            .is_some_and(|c| c.spans.within(from, to, None) > Span::ZERO)
    }

    /// Time the window was closed within `[from, to]`.
    pub fn closed_within(&self, from: Timestamp, to: Timestamp) -> Span {
        self.closed_window
            .as_ref()
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
        self.in_flight > 0 && self.stall.is_some_and(|s| s.retransmissions > 0)
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
