//! The Pings a side is waiting to have answered (RFC 6455 §5.5.2, §5.5.3),
//! in the little memory an idle connection can afford: one outstanding
//! Ping, the usual case, is kept inline.

use super::activity::{Payload, KEPT_PAYLOAD};
use super::event::Mark;
use crate::secret::{Key, Secret};
use crate::time::Span;

/// Outstanding Pings kept per side; the newest win (the spec's bound).
pub const MAX_OUTSTANDING_PINGS: usize = 8;

/// A Ping waiting for its Pong: its payload's length and digest (enough
/// to match the echo, RFC 6455 §5.5.3), and its first bytes.
#[derive(Clone, Debug)]
pub struct Ping {
    pub mark: Mark,
    /// The owner's blocked time when the Ping was sent (see
    /// `Transport::blocked`): time it could not answer is not charged.
    pub owner_blocked: Span,
    len: u8,
    kept: [u8; KEPT_PAYLOAD],
    digest: u64,
}

impl Ping {
    pub(super) fn new(mark: Mark, owner_blocked: Span, payload: &[u8], key: &Key) -> Self {
        let payload = &payload[..payload.len().min(125)];
        let mut kept = [0; KEPT_PAYLOAD];
        let n = payload.len().min(KEPT_PAYLOAD);
        kept[..n].copy_from_slice(&payload[..n]);
        Ping {
            mark,
            owner_blocked,
            len: payload.len() as u8,
            kept,
            digest: key.fingerprint(payload),
        }
    }

    /// The payload as the report may cite it: its length, its keyed
    /// fingerprint, and its first bytes (secret).
    pub fn payload(&self) -> Payload {
        let len = self.len as usize;
        Payload {
            len,
            fingerprint: self.digest,
            kept: Secret::new(self.kept[..len.min(KEPT_PAYLOAD)].to_vec()),
        }
    }

    /// Whether a Pong of `len` bytes with this fingerprint echoes this
    /// Ping's payload (RFC 6455 §5.5.3).
    pub fn echoed_by(&self, len: usize, fingerprint: u64) -> bool {
        len == self.len as usize && fingerprint == self.digest
    }
}

/// Pings waiting for their Pong, oldest first, at most
/// [`MAX_OUTSTANDING_PINGS`] (a new one past that pushes the oldest out).
/// One is held inline; a second moves them all to a `Vec`, which goes again
/// once one is left. None is an empty `Many`, which allocates nothing: two
/// variants let the enum keep its tag in a niche of [`Ping`], so it costs
/// no more than one Ping (56 bytes).
#[derive(Clone, Debug)]
pub enum Outstanding {
    One(Ping),
    /// None (empty, unallocated), or two and more.
    Many(Vec<Ping>),
}

impl Default for Outstanding {
    fn default() -> Self {
        Outstanding::Many(Vec::new())
    }
}

impl Outstanding {
    /// The outstanding Pings, oldest first.
    pub fn as_slice(&self) -> &[Ping] {
        match self {
            Outstanding::One(p) => std::slice::from_ref(p),
            Outstanding::Many(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Outstanding::Many(v) if v.is_empty())
    }

    /// A new Ping, the newest.
    pub(super) fn push(&mut self, ping: Ping) {
        *self = match std::mem::take(self) {
            Outstanding::Many(v) if v.is_empty() => Outstanding::One(ping),
            Outstanding::One(first) => Outstanding::Many(vec![first, ping]),
            Outstanding::Many(mut v) => {
                if v.len() == MAX_OUTSTANDING_PINGS {
                    v.remove(0);
                }
                v.push(ping);
                Outstanding::Many(v)
            }
        };
    }

    /// The Ping at `index` was answered: it leaves with every older one,
    /// and is returned.
    pub(super) fn answer(&mut self, index: usize) -> Option<Ping> {
        let (answered, rest) = match std::mem::take(self) {
            Outstanding::One(p) if index == 0 => (Some(p), Outstanding::default()),
            Outstanding::Many(mut v) if index < v.len() => {
                let p = v.drain(..=index).next_back();
                let rest = match v.len() {
                    0 => Outstanding::default(),
                    1 => Outstanding::One(v.swap_remove(0)),
                    _ => Outstanding::Many(v),
                };
                (p, rest)
            }
            unchanged => (None, unchanged),
        };
        *self = rest;
        answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::EvidenceRef;
    use crate::time::Timestamp;

    fn ping(n: i64) -> Ping {
        let mark = Mark {
            at: Timestamp::from_nanos(n),
            evidence: EvidenceRef::sample(n as u64),
        };
        Ping::new(mark, Span::ZERO, b"p", &Key::default())
    }

    fn times(o: &Outstanding) -> Vec<i64> {
        o.as_slice().iter().map(|p| p.mark.at.nanos()).collect()
    }

    #[test]
    fn the_newest_pings_wait_oldest_first_and_an_answer_takes_the_older_ones() {
        let mut o = Outstanding::default();
        assert!(o.is_empty() && o.answer(0).is_none());
        for n in 1..=10 {
            o.push(ping(n));
        }
        assert_eq!(times(&o), (3..=10).collect::<Vec<_>>(), "the newest 8");
        assert_eq!(o.answer(8).map(|p| p.mark.at.nanos()), None);
        assert_eq!(o.answer(2).map(|p| p.mark.at.nanos()), Some(5));
        assert_eq!(times(&o), [6, 7, 8, 9, 10]);
        assert_eq!(o.answer(3).map(|p| p.mark.at.nanos()), Some(9));
        assert!(matches!(o, Outstanding::One(_)), "one left: inline again");
        assert_eq!(times(&o), [10]);
        o.push(ping(11));
        assert_eq!(o.len(), 2);
        assert_eq!(o.answer(1).map(|p| p.mark.at.nanos()), Some(11));
        assert!(o.is_empty());
    }
}
