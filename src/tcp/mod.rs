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
pub mod table;

use crate::evidence::Moment;
use crate::side::Side;

pub use connection::{Connection, RoleSource, TcpState};
pub use table::{FlowTable, Limits};

/// Consumer of reassembled bytes. Calls come in stream order per side;
/// `now` is the packet that completed them.
pub trait StreamObserver {
    fn on_data(&mut self, side: Side, bytes: &[u8], now: Moment);
    fn on_gap(&mut self, side: Side, len: u64, now: Moment);
    /// The roles were swapped (a stronger role rule decided): per-side
    /// state must follow.
    fn swap_sides(&mut self) {}
}

/// The TCP view alone needs no consumer.
impl StreamObserver for () {
    fn on_data(&mut self, _: Side, _: &[u8], _: Moment) {}
    fn on_gap(&mut self, _: Side, _: u64, _: Moment) {}
}
