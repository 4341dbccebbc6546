//! The live capture clock and the ticks it drives (the spec's "Verdicts
//! and reasons": "in live mode, the capture clock, which packets advance
//! and the wall clock advances when none arrive").
//!
//! "Now" is the last packet's time (on the re-based capture clock) plus
//! the wall time elapsed since that packet reached the tap, and never
//! before that packet. A replayed capture piped in keeps its own time: the
//! wall clock only fills the silences. Wall instants are parameters, so
//! the clock is tested without waiting.

use std::time::{Duration, Instant};

use crate::time::{Span, Timestamp};

/// The live tap's "now".
#[derive(Clone, Copy, Debug)]
pub struct LiveClock {
    /// The wall clock when the tap started, and the instant it read it:
    /// "now" until the first packet.
    start: (Timestamp, Instant),
    /// The last packet's capture-clock time, and when it reached the tap.
    last: Option<(Timestamp, Instant)>,
}

fn span(d: Duration) -> Span {
    Span::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl LiveClock {
    /// `wall_now` is the wall clock read at `started`.
    pub fn new(wall_now: Timestamp, started: Instant) -> Self {
        LiveClock {
            start: (wall_now, started),
            last: None,
        }
    }

    /// A packet stamped `at` reached the tap at `arrived`.
    pub fn on_packet(&mut self, at: Timestamp, arrived: Instant) {
        self.last = Some((at, arrived));
    }

    /// Whether a packet came yet: before one, "now" is the wall clock.
    pub fn has_packets(&self) -> bool {
        self.last.is_some()
    }

    /// The capture clock at wall instant `wall`.
    pub fn now(&self, wall: Instant) -> Timestamp {
        let (base, since) = self.last.unwrap_or(self.start);
        base + span(wall.saturating_duration_since(since))
    }

    /// The wall instant at which the capture clock reaches `at` if no
    /// packet comes first.
    pub fn wall_at(&self, at: Timestamp) -> Instant {
        let (base, since) = self.last.unwrap_or(self.start);
        let ahead = at.since(base).nanos().max(0) as u64;
        since + Duration::from_nanos(ahead)
    }
}

/// Consecutive ticks judged at most in one catch-up: past it (a forward
/// jump of the capture clock, or a replayed capture's long silence), the
/// ticks in between are skipped and the next is judged at the end of the
/// jump. A change then shows at that tick; its reasons' `since` still
/// says when it began.
pub const MAX_CATCH_UP: i64 = 1000;

/// Instants every `interval` on the capture clock, aligned to whole
/// multiples of it (a 1 s interval ticks on whole seconds).
#[derive(Clone, Copy, Debug)]
pub struct Ticks {
    interval: Span,
    next: Option<Timestamp>,
    skipped: u64,
}

impl Ticks {
    /// Ticks every `interval` (at least 1 ns), not started.
    pub fn new(interval: Span) -> Self {
        Ticks {
            interval: Span::from_nanos(interval.nanos().max(1)),
            next: None,
            skipped: 0,
        }
    }

    /// (Re)starts the ticks after `at`: the first is the next multiple of
    /// the interval after it.
    pub fn start(&mut self, at: Timestamp) {
        let i = self.interval.nanos();
        let t = at.nanos();
        let next = t.div_euclid(i).saturating_add(1).saturating_mul(i);
        self.next = Some(Timestamp::from_nanos(next));
    }

    /// The next tick, if started.
    pub fn next(&self) -> Option<Timestamp> {
        self.next
    }

    /// The next tick at or before `now`, if one is due; each is handed out
    /// once, in order. More than [`MAX_CATCH_UP`] due at once: the last of
    /// them only.
    pub fn due(&mut self, now: Timestamp) -> Option<Timestamp> {
        let next = self.next?;
        if next > now {
            return None;
        }
        let i = self.interval.nanos();
        let behind = now.since(next).nanos() / i;
        let at = if behind >= MAX_CATCH_UP {
            self.skipped += behind as u64;
            Timestamp::from_nanos(next.nanos().saturating_add(behind.saturating_mul(i)))
        } else {
            next
        };
        self.next = Some(Timestamp::from_nanos(at.nanos().saturating_add(i)));
        Some(at)
    }

    /// Ticks skipped by catch-ups so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn t(s: &str) -> Timestamp {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn the_wall_clock_carries_the_last_packet_forward() {
        let w0 = Instant::now();
        let mut clock = LiveClock::new(t("2026-11-29T18:00:00Z"), w0);
        assert!(!clock.has_packets());
        assert_eq!(
            clock.now(w0 + Duration::from_secs(2)),
            t("2026-11-29T18:00:02Z")
        );
        // A capture from days ago, piped in: its own time rules.
        let packet = t("2026-11-24T16:27:03.5Z");
        clock.on_packet(packet, w0 + Duration::from_secs(3));
        assert_eq!(clock.now(w0 + Duration::from_secs(3)), packet);
        assert_eq!(
            clock.now(w0 + Duration::from_millis(5500)),
            t("2026-11-24T16:27:06Z")
        );
        // Never before the packet, whatever instant is asked about.
        assert_eq!(clock.now(w0), packet);
        assert_eq!(
            clock.wall_at(t("2026-11-24T16:27:04Z")),
            w0 + Duration::from_millis(3500)
        );
        assert_eq!(
            clock.wall_at(t("2026-11-24T16:27:00Z")),
            w0 + Duration::from_secs(3)
        );
    }

    #[test]
    fn ticks_fall_on_whole_intervals_after_the_start() {
        let mut ticks = Ticks::new(Span::from_secs(1));
        assert_eq!(ticks.due(t("2026-11-24T16:27:09Z")), None);
        ticks.start(t("2026-11-24T16:27:03.4Z"));
        assert_eq!(ticks.next(), Some(t("2026-11-24T16:27:04Z")));
        assert_eq!(ticks.due(t("2026-11-24T16:27:03.9Z")), None);
        let due: Vec<_> = std::iter::from_fn(|| ticks.due(t("2026-11-24T16:27:06Z"))).collect();
        assert_eq!(
            due,
            [
                t("2026-11-24T16:27:04Z"),
                t("2026-11-24T16:27:05Z"),
                t("2026-11-24T16:27:06Z")
            ]
        );
        let mut quarter = Ticks::new(Span::from_millis(250));
        quarter.start(t("2026-11-24T16:27:03.5Z"));
        assert_eq!(quarter.next(), Some(t("2026-11-24T16:27:03.75Z")));
    }

    #[test]
    fn a_long_jump_is_judged_once_at_its_end() {
        let mut ticks = Ticks::new(Span::from_secs(1));
        ticks.start(t("2026-11-24T16:00:00Z"));
        // Ten years ahead: one tick, not three hundred million.
        let far = t("2036-11-24T16:00:00.5Z");
        let due: Vec<_> = std::iter::from_fn(|| ticks.due(far)).collect();
        assert_eq!(due, [t("2036-11-24T16:00:00Z")]);
        assert!(ticks.skipped() > 300_000_000);
        // Within the bound, every tick is judged.
        let mut ticks = Ticks::new(Span::from_secs(1));
        ticks.start(t("2026-11-24T16:00:00Z"));
        let hour: Vec<_> = std::iter::from_fn(|| ticks.due(t("2026-11-24T16:10:00Z"))).collect();
        assert_eq!(hour.len(), 600);
        assert_eq!(ticks.skipped(), 0);
    }
}
