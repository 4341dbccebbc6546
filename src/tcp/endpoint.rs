//! What one endpoint of a connection did, as the capture saw it: the bytes
//! it sent and how far the other side acknowledged them, and the receive
//! window it advertised.

use super::assembler::Assembler;
use super::rtt::RttEstimator;
use super::seq::Seq;
use crate::evidence::Moment;
use crate::time::{Span, Timestamp};

/// Zero windows this endpoint advertised (RFC 9293 §3.8.6.1: the sender must
/// stop and probe).
#[derive(Clone, Debug, Default)]
pub struct ZeroWindow {
    /// Segments advertising zero (tshark's `tcp.analysis.zero_window`: not
    /// SYN, FIN or RST).
    pub packets: u32,
    /// The zero window still in force, if any.
    pub open: Option<Moment>,
    pub spans: u32,
    pub total: Span,
    pub longest: Span,
    /// Probes the other side sent during the open span.
    pub probes_in_open: u32,
}

impl ZeroWindow {
    fn advertise(&mut self, window: u32, now: Moment) {
        match (window, self.open) {
            (0, None) => {
                self.open = Some(now);
                self.probes_in_open = 0;
            }
            (0, Some(_)) => {}
            (_, Some(start)) => self.close(start, now),
            (_, None) => {}
        }
    }

    fn close(&mut self, start: Moment, now: Moment) {
        let held = now.at.since(start.at);
        self.spans += 1;
        self.total += held;
        self.longest = self.longest.max(held);
        self.open = None;
    }

    /// Time spent at zero, counting a span still open at `now`.
    pub fn total_at(&self, now: Timestamp) -> Span {
        self.total + self.open.map_or(Span::ZERO, |s| now.since(s.at))
    }
}

/// Data this endpoint sent that the other side has not acknowledged, and
/// since when nothing moved (the evidence for `peer_unreachable`).
#[derive(Clone, Debug, Default)]
pub struct AckStall {
    /// When the oldest still-unacknowledged byte was sent, or when the ACK
    /// last advanced while bytes stayed outstanding.
    pub since: Option<Moment>,
    /// Retransmissions since the ACK last advanced.
    pub retransmissions: u32,
}

#[derive(Default)]
pub struct Endpoint {
    // --- as a sender
    pub isn: Option<Seq>,
    /// One past the highest sequence number sent (or ACKed by the peer).
    pub snd_max: Option<Seq>,
    /// Highest cumulative ACK the other side sent for our bytes.
    pub acked: Option<Seq>,
    pub packets: u64,
    /// New payload bytes (retransmissions not counted again).
    pub payload_bytes: u64,
    pub retransmissions: u32,
    pub retransmitted_bytes: u64,
    /// Retransmissions of bytes the peer had already acknowledged.
    pub spurious_retransmissions: u32,
    /// Identical copies of the previous packet (same IP ID): the capture
    /// recorded one packet twice; not a retransmission.
    pub capture_duplicates: u32,
    pub keepalives: u32,
    pub zero_window_probes: u32,
    pub max_backlog: u32,
    pub ack_stall: AckStall,
    pub last_payload: Option<Moment>,
    pub last_ack_advance: Option<Moment>,
    pub fin: Option<Moment>,
    pub fin_seq: Option<Seq>,
    pub rst: Option<Moment>,
    pub rtt: RttEstimator,
    /// RFC 6298 §3 / Karn: one segment timed at a time, never a
    /// retransmitted one. (end of segment, when sent)
    pub(super) timed: Option<(Seq, Timestamp)>,
    pub(super) last_signature: Option<((Seq, u32, Seq, u16), Timestamp)>,
    pub assembler: Assembler,
    // --- as a receiver
    /// The SYN's window scale shift (RFC 7323 §2.2).
    pub window_scale: Option<u8>,
    /// Last advertised receive window, scaled when the scale is known.
    pub window: Option<u32>,
    pub zero_window: ZeroWindow,
}

impl Endpoint {
    /// Bytes sent and not yet acknowledged, as far as the capture shows.
    pub fn backlog(&self) -> u32 {
        match (self.snd_max, self.acked) {
            (Some(max), Some(acked)) => max.bytes_after(acked),
            _ => 0,
        }
    }

    pub(super) fn advertise_window(&mut self, window: u32, now: Moment, counts: bool) {
        self.window = Some(window);
        if window == 0 && counts {
            self.zero_window.packets += 1;
        }
        self.zero_window.advertise(window, now);
    }

    /// The other side acknowledged up to `ack`. Returns true when it moved.
    pub(super) fn on_ack(&mut self, ack: Seq, now: Moment) -> bool {
        let advanced = match self.acked {
            None => {
                self.acked = Some(ack);
                false
            }
            Some(prev) if ack.diff(prev) > 0 => {
                self.acked = Some(ack);
                true
            }
            Some(_) => false,
        };
        // An ACK for bytes the capture never saw still proves they were sent.
        if self.snd_max.is_none_or(|max| ack.diff(max) > 0) {
            self.snd_max = Some(ack);
        }
        if !advanced {
            return false;
        }
        self.last_ack_advance = Some(now);
        if let Some((end, sent)) = self.timed {
            if ack.diff(end) >= 0 {
                self.rtt.sample(now.at.since(sent));
                self.timed = None;
            }
        }
        let still_outstanding = self.backlog() > 0;
        let stall = &mut self.ack_stall;
        stall.retransmissions = 0;
        stall.since = if still_outstanding { Some(now) } else { None };
        true
    }

    pub(super) fn note_backlog(&mut self, now: Moment) {
        let backlog = self.backlog();
        self.max_backlog = self.max_backlog.max(backlog);
        if backlog > 0 && self.ack_stall.since.is_none() {
            self.ack_stall.since = Some(now);
        }
    }

    pub(super) fn note_retransmission(&mut self, bytes: u32, spurious: bool) {
        self.retransmissions += 1;
        self.retransmitted_bytes += u64::from(bytes);
        self.spurious_retransmissions += u32::from(spurious);
        let stall = &mut self.ack_stall;
        stall.retransmissions += 1;
    }
}
