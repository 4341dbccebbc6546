//! What the judge keeps of a side's own socket readings (Linux `TCP_INFO`,
//! from a probe's socket or from sock_diag on the host): the bytes its
//! application wrote that the kernel has not sent, and since when the
//! socket has been unable to send them.

use super::event::{Mark, TcpInfo};
use crate::time::Timestamp;

/// The latest reading of one side's socket, and what the readings so far
/// show. A side with no reading has none of this (`None` in the judge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketSeen {
    /// When the latest reading was taken, and its sample reference.
    pub last: Mark,
    /// Bytes written by the application and not yet sent, at `last`.
    pub notsent_bytes: u32,
    /// Bytes sent and not yet acknowledged, at `last`.
    pub unacked_bytes: u32,
    /// The peer's advertised window at `last` (bytes, scaled).
    pub snd_wnd: u32,
    /// The first reading of the current run in which the socket held
    /// unsent bytes and made no progress: no byte acknowledged since the
    /// reading before, or a zero window. `None` when it could send.
    pub unable_since: Option<Mark>,
    /// `tcpi_bytes_acked` at `last`, to tell progress between readings.
    pub bytes_acked: u64,
    /// `tcpi_total_retrans` at `last`, to turn the cumulative counter
    /// into retransmission events.
    pub total_retrans: u32,
}

impl SocketSeen {
    /// The state after `info`, read at `mark`, following `before` (the
    /// side's previous reading, if any).
    pub fn next(before: Option<&SocketSeen>, info: &TcpInfo, mark: Mark) -> SocketSeen {
        let progressed = before.is_none_or(|b| info.bytes_acked > b.bytes_acked);
        let stuck = info.notsent_bytes > 0 && (info.snd_wnd == 0 || !progressed);
        let unable_since = match (stuck, before.and_then(|b| b.unable_since)) {
            (false, _) => None,
            (true, Some(since)) => Some(since),
            (true, None) => Some(mark),
        };
        SocketSeen {
            last: mark,
            notsent_bytes: info.notsent_bytes,
            unacked_bytes: info.unacked_bytes,
            snd_wnd: info.snd_wnd,
            unable_since,
            bytes_acked: info.bytes_acked,
            total_retrans: info.total_retrans,
        }
    }

    /// How long the socket has been unable to send at `at`: from the first
    /// stuck reading of the current run (nothing when it could send at its
    /// latest reading).
    pub fn unable_for(&self, at: Timestamp) -> Option<crate::time::Span> {
        self.unable_since
            .map(|m| at.since(m.at).max(crate::time::Span::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::EvidenceRef;

    fn mark(ms: i64, n: u64) -> Mark {
        Mark {
            at: Timestamp::from_nanos(ms * 1_000_000),
            evidence: EvidenceRef::sample(n),
        }
    }

    fn info(notsent: u32, acked: u64, wnd: u32) -> TcpInfo {
        TcpInfo {
            notsent_bytes: notsent,
            bytes_acked: acked,
            snd_wnd: wnd,
            ..TcpInfo::default()
        }
    }

    #[test]
    fn unsent_bytes_with_no_ack_progress_are_a_socket_unable_to_send() {
        let a = SocketSeen::next(None, &info(100, 10, 65535), mark(0, 1));
        // a first reading that progresses as far as anyone knows
        assert_eq!(a.unable_since, None);
        let b = SocketSeen::next(Some(&a), &info(5000, 10, 65535), mark(1000, 2));
        assert_eq!(b.unable_since, Some(mark(1000, 2)));
        let c = SocketSeen::next(Some(&b), &info(9000, 10, 65535), mark(3000, 3));
        assert_eq!(c.unable_since, Some(mark(1000, 2)));
        assert_eq!(
            c.unable_for(Timestamp::from_nanos(4_000_000_000)),
            Some(crate::time::Span::from_millis(3000))
        );
        // the peer acknowledged again: it can send
        let d = SocketSeen::next(Some(&c), &info(9000, 20, 65535), mark(4000, 4));
        assert_eq!(d.unable_since, None);
    }

    #[test]
    fn a_zero_window_with_bytes_waiting_is_unable_to_send_even_at_the_first_reading() {
        let a = SocketSeen::next(None, &info(100, 10, 0), mark(0, 1));
        assert_eq!(a.unable_since, Some(mark(0, 1)));
        let b = SocketSeen::next(Some(&a), &info(0, 10, 0), mark(1000, 2));
        assert_eq!(b.unable_since, None, "nothing waits: nothing is held up");
    }
}
