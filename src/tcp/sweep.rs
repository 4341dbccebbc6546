//! When the flow table sweeps: a function of the packet stream alone
//! (capture time and packet count), never of a table's size, so that one
//! table, or several tables that split a capture's connections between
//! them, sweep at the same packets and retire the same connections in the
//! same order.

use crate::time::{Span, Timestamp};

/// Packets between sweeps at most, whatever the clock does, until an
/// eighth of the packets seen is more.
pub const SWEEP_EVERY: u64 = 1 << 16;

/// The sweep schedule of one capture. A sweep is due at a packet when the
/// capture clock passed the next sweep time (a quarter of the flow timeout
/// after the last sweep, at most a second) and at least one eighth of the
/// packets seen so far (at least one, at most [`SWEEP_EVERY`]) came since
/// the last sweep; or, whatever the clock says (it may stand still or
/// step back), when [`SWEEP_EVERY`] packets or an eighth of those seen,
/// whichever is more, came since it.
///
/// The eighth keeps the cost of sweeping bounded: a sweep walks every open
/// connection, and there are never more open connections than packets
/// seen, so sweeping costs at most eight connection visits per packet.
/// Sweeps without the clock grow apart with the capture: with a million
/// connections open, one every 65,536 packets was a tenth of the run.
#[derive(Clone, Debug)]
pub struct SweepSchedule {
    interval: Span,
    next: Option<Timestamp>,
    since: u64,
    seen: u64,
}

impl SweepSchedule {
    /// The schedule for connections retired after `idle_timeout` of
    /// silence.
    pub fn new(idle_timeout: Span) -> Self {
        SweepSchedule {
            interval: Span::from_nanos((idle_timeout.nanos() / 4).clamp(1, 1_000_000_000)),
            next: None,
            since: 0,
            seen: 0,
        }
    }

    /// Counts a packet that reaches a flow table, at `now` on the capture
    /// clock; true when the tables sweep before it is routed.
    pub fn on_packet(&mut self, now: Timestamp) -> bool {
        self.since += 1;
        self.seen += 1;
        let floor = (self.seen / 8).clamp(1, SWEEP_EVERY);
        let due = (self.next.is_none_or(|t| now >= t) && self.since >= floor)
            || self.since >= (self.seen / 8).max(SWEEP_EVERY);
        if due {
            self.since = 0;
            self.next = Some(now + self.interval);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn the_first_packet_sweeps_and_then_the_clock_decides() {
        let mut s = SweepSchedule::new(Span::from_secs(60));
        assert!(s.on_packet(at(0)));
        // Within the second: no sweep, however many packets.
        assert!(!(1..100).any(|i| s.on_packet(at(i))));
        // A second later, with enough packets since: a sweep.
        assert!(s.on_packet(at(1_000)));
    }

    #[test]
    fn packets_sweep_even_when_the_clock_stands_still() {
        let mut s = SweepSchedule::new(Span::from_secs(60));
        assert!(s.on_packet(at(0)));
        let n = (1..=SWEEP_EVERY).position(|_| s.on_packet(at(0)));
        assert_eq!(n, Some(SWEEP_EVERY as usize - 1));
    }

    #[test]
    fn without_the_clock_sweeps_grow_apart_with_the_capture() {
        let mut s = SweepSchedule::new(Span::from_secs(60));
        let mut at_packet = Vec::new();
        for i in 0..4_000_000u64 {
            if s.on_packet(at(0)) {
                at_packet.push(i);
            }
        }
        // Every 65,536 packets up to 524,288, then each an eighth of
        // the packets seen after the one before: still sweeping, but
        // not 61 times.
        assert!(at_packet.contains(&65_536) && at_packet.contains(&524_288));
        assert!(at_packet.len() < 30, "{} sweeps", at_packet.len());
        assert!(*at_packet.last().unwrap() > 3_000_000);
    }

    #[test]
    fn a_busy_capture_sweeps_no_more_than_every_eighth_of_its_packets() {
        let mut s = SweepSchedule::new(Span::from_secs(60));
        let mut sweeps = 0;
        for i in 0..80_000i64 {
            // A packet every 10 s: the clock alone would sweep at each.
            sweeps += u64::from(s.on_packet(at(i * 10_000)));
        }
        // One a packet while an eighth of them is under one (16 packets),
        // then each after 8/7 as many packets as the one before.
        let bound = 16.0 + (80_000f64 / 16.0).ln() / (8f64 / 7.0).ln() + 2.0;
        assert!((sweeps as f64) <= bound, "{sweeps} sweeps, bound {bound}");
        assert!(sweeps > 10, "{sweeps} sweeps");
    }
}
