//! Round-trip time, smoothed as RFC 6298 §2 does.

use serde::Serialize;

use crate::time::Span;

/// SRTT and RTTVAR from RTT samples (RFC 6298 §2.2 and §2.3, with
/// α = 1/8 and β = 1/4).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RttEstimator {
    /// `NO_SAMPLE` until the first sample: samples are never negative, nor
    /// is an average of them.
    #[serde(skip)]
    srtt: Span,
    #[serde(skip)]
    rttvar: Span,
    pub samples: u32,
}

const NO_SAMPLE: Span = Span::from_nanos(i64::MIN);

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator {
            srtt: NO_SAMPLE,
            rttvar: Span::ZERO,
            samples: 0,
        }
    }
}

impl RttEstimator {
    pub fn sample(&mut self, r: Span) {
        if r.nanos() < 0 {
            return; // out-of-order timestamps in the capture: not a sample
        }
        match self.srtt() {
            // §2.2: first measurement.
            None => {
                self.srtt = r;
                self.rttvar = Span::from_nanos(r.nanos() / 2);
            }
            // §2.3: RTTVAR first, with the old SRTT.
            // In i128: a capture's clock can jump by centuries.
            Some(srtt) => {
                let (srtt, r, var) = (
                    srtt.nanos() as i128,
                    r.nanos() as i128,
                    self.rttvar.nanos() as i128,
                );
                let err = (srtt - r).abs();
                self.rttvar = Span::from_nanos(((3 * var + err) / 4) as i64);
                self.srtt = Span::from_nanos(((7 * srtt + r) / 8) as i64);
            }
        }
        self.samples = self.samples.saturating_add(1);
    }

    pub fn srtt(&self) -> Option<Span> {
        (self.srtt != NO_SAMPLE).then_some(self.srtt)
    }

    pub fn rttvar(&self) -> Option<Span> {
        self.srtt().map(|_| self.rttvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc6298() {
        let mut rtt = RttEstimator::default();
        assert_eq!(rtt.srtt(), None);
        rtt.sample(Span::from_millis(100));
        assert_eq!(rtt.srtt(), Some(Span::from_millis(100)));
        assert_eq!(rtt.rttvar(), Some(Span::from_millis(50)));
        rtt.sample(Span::from_millis(200));
        // RTTVAR = 3/4·50 + 1/4·|100−200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5
        assert_eq!(rtt.rttvar(), Some(Span::from_nanos(62_500_000)));
        assert_eq!(rtt.srtt(), Some(Span::from_nanos(112_500_000)));
        assert_eq!(rtt.samples, 2);
    }

    #[test]
    fn huge_samples_do_not_overflow() {
        let mut rtt = RttEstimator::default();
        rtt.sample(Span::from_nanos(i64::MAX));
        rtt.sample(Span::from_nanos(i64::MAX));
        rtt.sample(Span::from_nanos(1));
        assert!(rtt.srtt().is_some());
    }

    #[test]
    fn negative_samples_are_ignored() {
        let mut rtt = RttEstimator::default();
        rtt.sample(Span::from_millis(-3));
        assert_eq!(rtt.samples, 0);
        assert_eq!(rtt.srtt(), None);
    }
}
