//! Typical intervals and latency distributions, in bounded memory.

use crate::time::{Span, Timestamp};

/// How many recent intervals the cadence keeps.
const CADENCE_WINDOW: usize = 15;

/// The typical interval between consecutive events of one kind (Pings, data
/// messages): the median of the last 15 intervals. A running window rather
/// than all history, so a connection that changes pace is judged by its
/// current one, and memory stays fixed.
///
/// Per the spec's cadence rule, events closer together than the floor
/// (`max(1 s, 4 × SRTT)`, given by the caller) are one burst, not intervals:
/// two Pings in one segment do not make a 0 s heartbeat.
#[derive(Clone, Debug, Default)]
pub struct Cadence {
    /// The last event counted (bursts aside), once `events > 0`.
    last: Timestamp,
    /// Intervals in microseconds, saturating at about 71 minutes: half the
    /// memory of nanoseconds, far finer than any threshold. Allocated with
    /// the first interval: a side that pinged once (most of an idle
    /// server's connections at any moment) has none.
    ring: Option<Box<[u32; CADENCE_WINDOW]>>,
    len: u8,
    next: u8,
    /// The median of `ring`, in microseconds, once `len > 0`: recomputed
    /// when an interval arrives, read on every frame.
    median_micros: u32,
    /// Every event, bursts included (saturating).
    pub events: u32,
    /// Intervals counted, bursts excluded (saturating: only compared with
    /// a handful).
    pub intervals: u32,
}

/// Intervals a heartbeat cadence needs before it counts (four heartbeats).
pub const HEARTBEAT_INTERVALS: u32 = 3;
/// Intervals a data cadence needs (five data messages).
pub const DATA_INTERVALS: u32 = 4;

impl Cadence {
    /// An event at `at`; one closer than `floor` to the previous counted
    /// event belongs to the same burst.
    pub fn event(&mut self, at: Timestamp, floor: Span) {
        let prev = (self.events > 0).then_some(self.last);
        self.events = self.events.saturating_add(1);
        if let Some(prev) = prev {
            let interval = at.since(prev);
            if interval < floor {
                return;
            }
            let ring = self.ring.get_or_insert_default();
            ring[self.next as usize] =
                (interval.nanos() / 1_000).clamp(0, i64::from(u32::MAX)) as u32;
            self.next = ((self.next as usize + 1) % CADENCE_WINDOW) as u8;
            self.len = (self.len + 1).min(CADENCE_WINDOW as u8);
            self.intervals = self.intervals.saturating_add(1);
            let mut sorted = **ring;
            let window = &mut sorted[..self.len as usize];
            window.sort_unstable();
            self.median_micros = window[window.len() / 2];
        }
        self.last = at;
    }

    /// The median interval, once at least `min_intervals` were seen.
    pub fn learned(&self, min_intervals: u32) -> Option<Span> {
        self.median().filter(|_| self.intervals >= min_intervals)
    }

    /// The median interval of whatever was seen, learned or not (for
    /// reports).
    pub fn median(&self) -> Option<Span> {
        (self.len > 0).then(|| Span::from_nanos(i64::from(self.median_micros) * 1_000))
    }
}

/// Latencies in logarithmic buckets (four per doubling, from 1 µs to about
/// 70 min): percentiles within ±9% whatever the count; the maximum is
/// exact. Only the buckets in use are kept, as (bucket, count) in bucket
/// order: a steady heartbeat's latencies fall in a handful of them, so a
/// histogram is tens of bytes, not the 512 of every bucket.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    buckets: Vec<(u8, u32)>,
    pub count: u32,
    pub max: Span,
}

const BUCKETS: usize = 128;

impl LatencyHistogram {
    fn bucket(span: Span) -> u8 {
        let micros = (span.nanos() / 1_000).max(1) as f64;
        ((micros.log2() * 4.0) as usize).min(BUCKETS - 1) as u8
    }

    pub fn record(&mut self, span: Span) {
        let b = Self::bucket(span);
        match self.buckets.binary_search_by_key(&b, |&(i, _)| i) {
            Ok(at) => self.buckets[at].1 += 1,
            Err(at) => {
                // A new bucket is rare once the pace is set: grow by one.
                self.buckets.reserve_exact(1);
                self.buckets.insert(at, (b, 1));
            }
        }
        self.count = self.count.saturating_add(1);
        self.max = self.max.max(span);
    }

    /// The `q` quantile (0..=1), as the geometric middle of its bucket,
    /// never above the exact maximum.
    pub fn quantile(&self, q: f64) -> Option<Span> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * f64::from(self.count)).ceil() as u32).clamp(1, self.count);
        let mut seen = 0;
        for &(i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let micros = 2f64.powf((f64::from(i) + 0.5) / 4.0);
                let span = Span::from_nanos((micros * 1_000.0) as i64);
                return Some(if span > self.max { self.max } else { span });
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    const FLOOR: Span = Span::from_secs(1);

    #[test]
    fn a_burst_is_one_heartbeat_not_an_interval() {
        let mut c = Cadence::default();
        c.event(t(0), FLOOR);
        c.event(t(0), FLOOR);
        c.event(t(3), FLOOR);
        assert_eq!((c.events, c.intervals, c.median()), (3, 0, None));
        for at in [2000, 4000] {
            c.event(t(at), FLOOR);
        }
        assert_eq!(c.median(), Some(Span::from_millis(2000)));
        assert_eq!(
            c.learned(HEARTBEAT_INTERVALS),
            None,
            "two intervals are not enough"
        );
        c.event(t(6000), FLOOR);
        assert_eq!(
            c.learned(HEARTBEAT_INTERVALS),
            Some(Span::from_millis(2000))
        );
    }

    #[test]
    fn cadence_is_the_median_of_recent_intervals() {
        let mut c = Cadence::default();
        assert_eq!(c.median(), None);
        c.event(t(0), FLOOR);
        assert_eq!(c.median(), None);
        for (i, at) in [2000, 4000, 6100, 8000, 30000].iter().enumerate() {
            c.event(t(*at), FLOOR);
            assert!(c.median().is_some(), "after {i}");
        }
        // intervals 2000, 2000, 2100, 1900, 22000 → median 2000
        assert_eq!(c.median(), Some(Span::from_millis(2000)));
        // a new pace takes over once it fills most of the window
        let mut at = 30000;
        for _ in 0..15 {
            at += 1500;
            c.event(t(at), FLOOR);
        }
        assert_eq!(c.median(), Some(Span::from_millis(1500)));
    }

    #[test]
    fn histogram_percentiles_are_close_and_max_is_exact() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100 {
            h.record(Span::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().secs_f64() * 1000.0;
        let p99 = h.quantile(0.99).unwrap().secs_f64() * 1000.0;
        assert!((45.0..=56.0).contains(&p50), "p50 {p50}");
        assert!((90.0..=100.0).contains(&p99), "p99 {p99}");
        assert_eq!(h.max, Span::from_millis(100));
        assert!(h.quantile(1.0).unwrap() <= h.max);
    }

    #[test]
    fn only_the_buckets_in_use_are_kept_in_order() {
        let mut h = LatencyHistogram::default();
        for ms in [40, 40, 3, 41, 39, 3000, 40] {
            h.record(Span::from_millis(ms));
        }
        let kept: Vec<u8> = h.buckets.iter().map(|&(b, _)| b).collect();
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "{kept:?}");
        assert!(kept.len() <= 4, "{kept:?}");
        assert_eq!(h.buckets.iter().map(|&(_, n)| n).sum::<u32>(), 7);
        // 3 ms is the lowest, 3 s the highest; the median is about 40 ms.
        assert!(h.quantile(0.0).unwrap() < Span::from_millis(4));
        let p50 = h.quantile(0.5).unwrap().secs_f64() * 1000.0;
        assert!((36.0..=44.0).contains(&p50), "p50 {p50}");
        assert_eq!(
            h.quantile(1.0),
            Some(Span::from_millis(3000)),
            "capped at the max"
        );
    }
}
