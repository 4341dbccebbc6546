//! TCP sequence numbers: 32-bit, compared modulo 2^32 (RFC 9293 §3.4).
//!
//! Distances are signed and never panic: a sniffer sees garbage, injected
//! segments and connections picked up mid-stream, so "how far apart" must be
//! an answer for any pair of values.

use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq(pub u32);

impl Seq {
    /// `self - other` as a signed distance: correct whenever the two are
    /// less than 2^31 apart, which RFC 9293's window rules guarantee for any
    /// pair of numbers from one live connection.
    pub fn diff(self, other: Seq) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }

    /// Bytes from `other` up to `self`, or 0 when `self` is not after it.
    pub fn bytes_after(self, other: Seq) -> u32 {
        self.diff(other).max(0) as u32
    }

    pub fn max(self, other: Seq) -> Seq {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }
}

/// Advancing wraps modulo 2^32 (RFC 9293 §3.4).
impl std::ops::Add<u32> for Seq {
    type Output = Seq;
    fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}

impl std::ops::Sub<u32> for Seq {
    type Output = Seq;
    fn sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Seq) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_crosses_the_wrap() {
        let before = Seq(u32::MAX - 10);
        let after = before + 20;
        assert_eq!(after, Seq(9));
        assert!(before < after);
        assert_eq!(after.diff(before), 20);
        assert_eq!(before.diff(after), -20);
        assert_eq!(after.bytes_after(before), 20);
        assert_eq!(before.bytes_after(after), 0);
        assert_eq!(before.max(after), after);
        assert_eq!((Seq(3) - 5), Seq(u32::MAX - 1));
    }

    #[test]
    fn distances_never_panic_at_the_extremes() {
        for (a, b) in [(0, u32::MAX), (u32::MAX, 0), (0, 1 << 31), (1 << 31, 0)] {
            let d = Seq(a).diff(Seq(b));
            assert!(d.abs() <= 1 << 31, "{a} {b} {d}");
        }
    }
}
