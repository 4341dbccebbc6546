//! The capture clock: packet times re-based across steps of the clock that
//! recorded them (the spec's "Verdicts and reasons").
//!
//! A capture's timestamps come from the capturing host's wall clock, which
//! NTP, a VM migration or an operator can step. Judged on raw times, a clock
//! that steps back 3 h makes every heartbeat look 3 h late. So every packet
//! goes through one [`CaptureClock`] (across all files of the input, which
//! are one capture), and everything downstream sees only its times:
//!
//! - A time that goes backwards by at most [`REORDER_TOLERANCE`] is a
//!   reordering, common with `tcpdump -i any` (each CPU stamps its own
//!   queue): the packet is clamped to the latest time so far, not treated
//!   as a step, and counted in [`CaptureClock::reordered`]. A step back that
//!   small is absorbed the same way: packets share a time until the clock
//!   catches up, so intervals shrink by at most the tolerance.
//! - A time that goes further back is a step: the packet is placed
//!   [`AFTER_STEP`] after the latest time so far and every later packet is
//!   shifted by the same amount, so intervals stay as they were on the wire.
//!   Steps are counted, and the first [`KEPT_STEPS`] are kept with their
//!   frame for the report and a warning.
//! - A forward jump is left as it is, as silence. From times alone, a clock
//!   that jumped ahead and a connection that fell quiet look the same; only
//!   the TCP layer can tell them apart (sequence numbers, ACKs and
//!   heartbeats that carry on as if no time had passed), and it judges with
//!   these times, so a wrong guess here would hide real silence.
//!
//! Times never go backwards on the capture clock: each is at or after the
//! one before.

use crate::evidence::FrameRef;
use crate::time::{Span, Timestamp};

use super::CaptureSpan;

/// How far back a time may go and still be a reordering rather than a step.
pub const REORDER_TOLERANCE: Span = Span::from_secs(1);

/// Where the packet after a step is placed: this long after the latest
/// time before it. The true interval is unknown; 1 µs, the finest interval
/// a microsecond capture can show, keeps the order strict without inventing
/// a silence (or a burst of heartbeats) that the wire did not have.
pub const AFTER_STEP: Span = Span::from_micros(1);

/// Steps kept with their details; later ones are only counted.
pub const KEPT_STEPS: usize = 16;

/// A step back of the clock that recorded the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// The first packet after the step.
    pub frame: FrameRef,
    /// Its time as the file records it.
    pub raw: Timestamp,
    /// How far back the clock went: the latest capture-clock time before
    /// this packet minus this packet's time as it would have been without
    /// re-basing (always more than [`REORDER_TOLERANCE`]).
    pub back: Span,
    /// The capture-clock time it was given.
    pub at: Timestamp,
}

/// Turns recorded packet times into capture-clock times; one per input.
#[derive(Clone, Debug)]
pub struct CaptureClock {
    tolerance: Span,
    /// Added to every recorded time: the sum of the steps so far.
    shift: Span,
    first: Option<Timestamp>,
    /// The latest capture-clock time given.
    last: Option<Timestamp>,
    steps: Vec<ClockStep>,
    step_count: u64,
    reordered: u64,
}

impl Default for CaptureClock {
    fn default() -> Self {
        CaptureClock::new()
    }
}

impl CaptureClock {
    pub fn new() -> Self {
        CaptureClock::with_tolerance(REORDER_TOLERANCE)
    }

    /// A clock that takes a time going back by up to `tolerance` as a
    /// reordering, and by more as a step.
    pub fn with_tolerance(tolerance: Span) -> Self {
        CaptureClock {
            tolerance,
            shift: Span::ZERO,
            first: None,
            last: None,
            steps: Vec::new(),
            step_count: 0,
            reordered: 0,
        }
    }

    /// The capture-clock time of the packet recorded at `raw`, which is
    /// frame `frame`. Call it for every packet, in file order, before any
    /// filter.
    pub fn on_packet(&mut self, raw: Timestamp, frame: FrameRef) -> Timestamp {
        let shifted = raw + self.shift;
        let at = match self.last {
            None => {
                self.first = Some(shifted);
                shifted
            }
            Some(last) if shifted >= last => shifted,
            Some(last) if last.since(shifted) <= self.tolerance => {
                self.reordered += 1;
                last
            }
            Some(last) => {
                let at = last + AFTER_STEP;
                self.shift = at.since(raw);
                self.step_count += 1;
                if self.steps.len() < KEPT_STEPS {
                    self.steps.push(ClockStep {
                        frame,
                        raw,
                        back: last.since(shifted),
                        at,
                    });
                }
                at
            }
        };
        self.last = Some(at);
        at
    }

    /// The first [`KEPT_STEPS`] steps, and how many there were in all.
    pub fn steps(&self) -> (&[ClockStep], u64) {
        (&self.steps, self.step_count)
    }

    /// Packets that came up to the tolerance earlier than the one before
    /// them and were clamped to its time.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// What is added to recorded times now: the sum of the steps so far.
    pub fn shift(&self) -> Span {
        self.shift
    }

    /// A recorded instant taken on the clock as it is now, such as a file's
    /// `isb_endtime` (`FileOutcome::recorded_end`): call it when that file
    /// has been read, since the end was written after its last packet.
    pub fn rebase(&self, raw: Timestamp) -> Timestamp {
        raw + self.shift
    }

    /// The latest capture-clock time, `None` before the first packet.
    pub fn now(&self) -> Option<Timestamp> {
        self.last
    }

    /// The capture's extent on this clock, with the recorded end already
    /// re-based (see [`CaptureClock::rebase`]); `None` before the first
    /// packet.
    pub fn span(&self, recorded_end: Option<Timestamp>) -> Option<CaptureSpan> {
        Some(CaptureSpan {
            first_packet: self.first?,
            last_packet: self.last?,
            recorded_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::{read_file, Input};
    use crate::time::parse_rfc3339;

    fn frame(n: u64) -> FrameRef {
        FrameRef::new(0, n)
    }

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    /// Feeds times (ms) through a clock: the capture-clock times (ms).
    fn run(clock: &mut CaptureClock, raw: &[i64]) -> Vec<i64> {
        raw.iter()
            .enumerate()
            .map(|(i, &t)| clock.on_packet(ms(t), frame(i as u64 + 1)).nanos() / 1_000_000)
            .collect()
    }

    #[test]
    fn an_orderly_clock_is_left_alone() {
        let mut clock = CaptureClock::new();
        assert_eq!(clock.now(), None);
        assert_eq!(clock.span(None), None);
        assert_eq!(
            run(&mut clock, &[1000, 1000, 1500, 90_000]),
            [1000, 1000, 1500, 90_000]
        );
        assert_eq!(clock.steps(), (&[][..], 0));
        assert_eq!((clock.reordered(), clock.shift()), (0, Span::ZERO));
        assert_eq!(
            clock.span(Some(ms(95_000))),
            Some(CaptureSpan {
                first_packet: ms(1000),
                last_packet: ms(90_000),
                recorded_end: Some(ms(95_000)),
            })
        );
    }

    #[test]
    fn small_reorderings_are_clamped_not_steps() {
        let mut clock = CaptureClock::new();
        // Up to 1 s back, as `-i any` gives; the next packet carries on.
        assert_eq!(
            run(&mut clock, &[10_000, 10_500, 10_200, 9_500, 10_600]),
            [10_000, 10_500, 10_500, 10_500, 10_600]
        );
        assert_eq!(clock.steps().1, 0);
        assert_eq!(clock.reordered(), 2);
        assert_eq!(clock.shift(), Span::ZERO);
    }

    #[test]
    fn a_step_back_is_re_based_keeping_intervals() {
        let mut clock = CaptureClock::new();
        let times = run(&mut clock, &[10_000, 11_000, 12_000, 8_000, 9_000, 9_001]);
        assert_eq!(&times[..3], [10_000, 11_000, 12_000]);
        let after = clock.steps().0[0].at;
        assert_eq!(after, ms(12_000) + AFTER_STEP);
        let after_ms = after.nanos() / 1_000_000;
        assert_eq!(&times[3..], [after_ms, after_ms + 1000, after_ms + 1001]);
        assert_eq!(
            clock.steps(),
            (
                &[ClockStep {
                    frame: frame(4),
                    raw: ms(8_000),
                    back: Span::from_secs(4),
                    at: after,
                }][..],
                1
            )
        );
        // A recorded end written after the step, on the stepped clock.
        assert_eq!(clock.rebase(ms(9_500)), after + Span::from_millis(1500));
        assert_eq!(clock.now(), Some(after + Span::from_millis(1001)));
        // Just past the tolerance is a step too.
        let mut clock = CaptureClock::new();
        run(&mut clock, &[10_000, 8_999]);
        assert_eq!(clock.steps().1, 1);
    }

    #[test]
    fn steps_add_up_and_only_the_first_sixteen_are_kept() {
        let mut clock = CaptureClock::new();
        // Every packet an hour before the one before it.
        let raw: Vec<i64> = (0..20).map(|i| 100_000_000 - i * 3_600_000).collect();
        let times = run(&mut clock, &raw);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let (kept, count) = clock.steps();
        assert_eq!((kept.len(), count), (KEPT_STEPS, 19));
        assert_eq!(kept[15].frame, frame(17));
        assert!(kept.iter().all(|s| s.back == Span::from_secs(3600)));
    }

    #[test]
    fn forward_jumps_stay_silence() {
        let mut clock = CaptureClock::new();
        assert_eq!(
            run(&mut clock, &[0, 3_600_000, 3_600_001]),
            [0, 3_600_000, 3_600_001]
        );
        assert_eq!(clock.steps().1, 0);
    }

    #[test]
    fn the_tolerance_can_be_chosen() {
        let mut clock = CaptureClock::with_tolerance(Span::from_millis(10));
        run(&mut clock, &[1_000, 990, 979]);
        assert_eq!((clock.reordered(), clock.steps().1), (1, 1));
    }

    #[test]
    fn extreme_times_saturate_instead_of_wrapping() {
        let mut clock = CaptureClock::new();
        clock.on_packet(Timestamp::MAX, frame(1));
        let at = clock.on_packet(Timestamp::MIN, frame(2));
        assert_eq!(at, Timestamp::MAX);
        assert_eq!(clock.steps().1, 1);
        assert_eq!(
            clock.on_packet(Timestamp::from_nanos(0), frame(3)),
            Timestamp::MAX
        );
    }

    /// The clock-step-back case: the capture clock steps back 3 h at frame
    /// 16 (tshark: 1700000003.011999 at frame 15, 1699989204.011999 at 16),
    /// while the Pings go on being answered every second.
    #[test]
    fn the_3h_step_back_case_is_re_based_at_frame_16() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/cases/clock-step-back/c7a_backwards_3h.pcap");
        let mut raw = Vec::new();
        let outcome = read_file(&Input::Path(path), 0, &mut |p| raw.push((p.at, p.frame))).unwrap();
        assert_eq!((outcome.packets, outcome.recorded_end), (24, None));

        let mut clock = CaptureClock::new();
        let times: Vec<Timestamp> = raw.iter().map(|&(at, f)| clock.on_packet(at, f)).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

        let t = |s| parse_rfc3339(s).unwrap();
        let (steps, count) = clock.steps();
        assert_eq!(count, 1);
        assert_eq!(
            steps,
            [ClockStep {
                frame: FrameRef::new(0, 16),
                raw: t("2023-11-14T19:13:24.011999Z"),
                back: Span::from_secs(10_799),
                at: t("2023-11-14T22:13:23.012000Z"),
            }]
        );
        // Intervals on the wire are kept: before and after the step alike.
        for i in 1..times.len() {
            if i != 15 {
                assert_eq!(times[i].since(times[i - 1]), raw[i].0.since(raw[i - 1].0));
            }
        }
        // The last Ping (frame 22) comes 2.006001 s after the one at frame
        // 13, not 3 h before it: 3 s on the wire, less the second that the
        // step hid (frame 16 is placed 1 µs after frame 15).
        assert_eq!(times[21].since(times[12]).nanos(), 2_006_001_000);
        assert_eq!(clock.reordered(), 0);
        let span = clock.span(None).unwrap();
        assert_eq!(span.end().since(span.first_packet).nanos(), 5_017_000_000);
    }
}
