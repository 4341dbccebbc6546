//! TCP: the flow table, sequence arithmetic, reassembly and per-endpoint
//! accounting (ACK progress, windows, retransmissions, RTT).
//!
//! The next stage plugs in as a `StreamObserver`: it is told, per side and
//! in stream order, "here are bytes" and "N bytes were missed here", and it
//! can read the connection's TCP facts whenever it judges.

pub mod assembler;
pub mod connection;
pub mod endpoint;
pub mod rtt;
pub use crate::decode::seq;
pub mod sweep;
pub mod table;

use crate::evidence::Moment;
use crate::side::Side;
use crate::time::Span;

pub use connection::{Connection, RoleSource, TcpState};
pub use sweep::SweepSchedule;
pub use table::{FlowTable, Limits, Retired, Retirement};

/// What one segment told about one endpoint's ability to send and to be
/// read: the TCP half of the judge's evidence. `side` in
/// [`StreamObserver::on_tcp`] is the endpoint the event is about, which is
/// the sender of the segment except for `Acked` (the ACK came from the peer).
///
/// Order within one segment from side S: `Window` (S's receive window),
/// `Acked` (S acknowledged the peer's bytes: event about the peer), then
/// `Sent` or `Probe` (S's own bytes), then `Fin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// `len` payload bytes sent, new or retransmitted (RFC 9293 §3.8.1);
    /// `in_flight` is the sender's unacknowledged bytes afterwards.
    Sent {
        len: u32,
        retransmission: bool,
        in_flight: u32,
    },
    /// The peer's cumulative ACK of this side's bytes advanced; `in_flight`
    /// is what is still unacknowledged, `srtt` this direction's RFC 6298
    /// smoothed RTT.
    Acked { in_flight: u32, srtt: Option<Span> },
    /// The receive window this side advertised, in bytes: scaled when both
    /// SYNs were seen (RFC 7323 §2.2), else a lower bound (zero is zero).
    /// Every segment but a RST carries one, so this is also "the side sent
    /// a segment".
    Window { window: u32, scale_known: bool },
    /// A keep-alive (RFC 9293 §3.8.4) or, when the peer's window is zero, a
    /// zero-window probe (§3.8.6.1).
    Probe { zero_window: bool },
    /// This side sent FIN (RFC 9293 §3.6): it will send no more data.
    Fin,
    /// An in-window RST from this side (RFC 5961 §3.2) ended the connection.
    Rst,
    /// The peer acknowledged `bytes` of this side's stream that the capture
    /// never saw: the capture lost them, not the network.
    Missed { bytes: u64 },
    /// This side's segment overlapped bytes of its stream the capture
    /// already held, and `bytes` of the overlap differ: the first copy was
    /// kept. The receiver may have read either; a peer or middlebox that
    /// sends two versions of the same bytes is worth a look.
    Conflict { bytes: u64 },
}

/// Consumer of a connection's events. Calls come in stream order per side;
/// `now` is the packet that completed them.
pub trait StreamObserver {
    /// Reassembled bytes of `side`'s stream.
    fn on_data(&mut self, side: Side, bytes: &[u8], now: Moment);
    /// `len` bytes of `side`'s stream that the capture does not hold.
    fn on_gap(&mut self, side: Side, len: u64, now: Moment);
    /// A TCP fact about `side` (see [`TcpEvent`]).
    fn on_tcp(&mut self, _side: Side, _event: TcpEvent, _now: Moment) {}
    /// The roles were swapped (a stronger role rule decided): per-side
    /// state must follow.
    fn swap_sides(&mut self) {}
    /// Role evidence the consumer found that may outrank what TCP knew (the
    /// HTTP Upgrade sender, the masking side): the client and the rule.
    fn client_evidence(&self) -> Option<(Side, RoleSource)> {
        None
    }
}

/// The TCP view alone needs no consumer.
impl StreamObserver for () {
    fn on_data(&mut self, _: Side, _: &[u8], _: Moment) {}
    fn on_gap(&mut self, _: Side, _: u64, _: Moment) {}
}
