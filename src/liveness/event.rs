//! The judge's input: one event per thing that happened on a connection,
//! with its time and what proves it.
//!
//! The passive path (capture → TCP → WebSocket), the live tap and the active
//! probe all speak this vocabulary, so one judge serves the three. The TCP
//! half is [`TcpEvent`] (what a segment, or a probe's TCP_INFO reading, told
//! about a side's ability to send and be read); the WebSocket half is
//! [`WsEvent`] (what a side wrote). Nothing here names a connection, an
//! endpoint or a session type.

use crate::evidence::EvidenceRef;
use crate::side::Side;
use crate::time::{Span, Timestamp};

pub use crate::tcp::TcpEvent;
pub use crate::websocket::WsEvent;

/// An instant and what proves it: a capture frame or a probe sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub at: Timestamp,
    pub evidence: EvidenceRef,
}

/// One event about one side of a connection.
///
/// `side` is the endpoint the event is about: the sender of a frame or a
/// segment, the endpoint whose bytes an ACK acknowledged (see
/// [`TcpEvent`]), the probe's own side for a TCP_INFO reading.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub side: Side,
    pub mark: Mark,
    pub kind: EventKind<'a>,
}

#[derive(Clone, Copy, Debug)]
pub enum EventKind<'a> {
    Tcp(TcpEvent),
    Ws(WsEvent<'a>),
    /// A reading of the probe's own socket (Linux `TCP_INFO`, see
    /// tcp(7)): what the wire cannot show, such as bytes still queued.
    TcpInfo(TcpInfo),
}

/// The fields of Linux's `struct tcp_info` the judge uses, for the socket
/// a probe owns. Counters are cumulative, as the kernel reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// `tcpi_unacked`: segments sent and not acknowledged.
    pub unacked_segments: u32,
    /// Bytes sent and not acknowledged (`SIOCOUTQ` − `SIOCOUTQNSD`, else
    /// unacked segments × MSS).
    pub unacked_bytes: u32,
    /// `tcpi_notsent_bytes` (or `SIOCOUTQNSD`): written by the
    /// application, not yet sent.
    pub notsent_bytes: u32,
    /// `tcpi_bytes_acked`: bytes the peer acknowledged (RFC 4898).
    pub bytes_acked: u64,
    /// `tcpi_total_retrans`: retransmitted segments.
    pub total_retrans: u32,
    /// `tcpi_snd_wnd`: the peer's last advertised window, scaled.
    pub snd_wnd: u32,
    /// `tcpi_rtt`: the kernel's smoothed RTT.
    pub srtt: Span,
    /// `tcpi_snd_mss`, to turn unacked segments into bytes.
    pub snd_mss: u32,
}

impl<'a> Event<'a> {
    pub fn tcp(side: Side, mark: Mark, event: TcpEvent) -> Self {
        Event {
            side,
            mark,
            kind: EventKind::Tcp(event),
        }
    }

    pub fn ws(side: Side, mark: Mark, event: WsEvent<'a>) -> Self {
        Event {
            side,
            mark,
            kind: EventKind::Ws(event),
        }
    }
}
