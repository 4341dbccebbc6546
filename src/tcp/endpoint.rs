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

/// What a healthy endpoint never needs: retransmissions, duplicates, probes
/// and zero windows. Allocated the first time one happens.
#[derive(Clone, Debug, Default)]
pub struct Troubles {
    pub retransmissions: u32,
    pub retransmitted_bytes: u64,
    /// Retransmissions of bytes the peer had already acknowledged.
    pub spurious_retransmissions: u32,
    /// Identical copies of the previous packet (same IP ID): the capture
    /// recorded one packet twice; not a retransmission.
    pub capture_duplicates: u32,
    pub keepalives: u32,
    pub zero_window_probes: u32,
    /// Retransmissions since the ACK last advanced.
    pub retransmissions_since_ack: u32,
    pub zero_window: ZeroWindow,
}

/// The troubles of an endpoint that had none.
static NO_TROUBLES: Troubles = Troubles {
    retransmissions: 0,
    retransmitted_bytes: 0,
    spurious_retransmissions: 0,
    capture_duplicates: 0,
    keepalives: 0,
    zero_window_probes: 0,
    retransmissions_since_ack: 0,
    zero_window: ZeroWindow {
        packets: 0,
        open: None,
        spans: 0,
        total: Span::ZERO,
        longest: Span::ZERO,
        probes_in_open: 0,
    },
};

/// How an endpoint's stream ended: its FIN (RFC 9293 §3.6) and the
/// sequence number the FIN took, its RST. Allocated with the first.
#[derive(Clone, Copy, Debug, Default)]
pub struct End {
    pub fin: Option<Moment>,
    pub fin_seq: Option<Seq>,
    pub rst: Option<Moment>,
}

/// One segment's identity, to tell a packet captured twice from a
/// retransmission: sequence number, length, ACK, IPv4 ID, and when.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Signature {
    pub(super) seen: bool,
    pub(super) seq: Seq,
    pub(super) len: u32,
    pub(super) ack: Seq,
    pub(super) ip_id: u16,
    pub(super) at: Timestamp,
}

impl Signature {
    pub(super) fn same(&self, other: &Signature) -> bool {
        self.seen
            && (self.seq, self.len, self.ack, self.ip_id)
                == (other.seq, other.len, other.ack, other.ip_id)
    }
}

/// The segment being timed for an RTT sample (RFC 6298 §3, Karn): where it
/// ends and when it was sent.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timed {
    pub(super) active: bool,
    pub(super) end: Seq,
    pub(super) sent: Timestamp,
}

/// What one endpoint did. What a healthy, open connection never needs
/// (troubles, the end) is allocated when first needed, so an endpoint is
/// about 200 bytes.
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
    pub max_backlog: u32,
    /// When the oldest still-unacknowledged byte was sent, or when the ACK
    /// last advanced while bytes stayed outstanding (see [`AckStall`]).
    unacked_since: Option<Moment>,
    pub last_payload: Option<Moment>,
    pub last_ack_advance: Option<Moment>,
    pub rtt: RttEstimator,
    /// RFC 6298 §3 / Karn: one segment timed at a time, never a
    /// retransmitted one.
    pub(super) timed: Timed,
    pub(super) last_signature: Signature,
    pub assembler: Assembler,
    troubles: Option<Box<Troubles>>,
    end: Option<Box<End>>,
    // --- as a receiver
    /// The SYN's window scale shift (RFC 7323 §2.2).
    pub window_scale: Option<u8>,
    /// Last advertised receive window, scaled when the scale is known.
    pub window: Option<u32>,
}

impl Endpoint {
    /// Bytes sent and not yet acknowledged, as far as the capture shows.
    pub fn backlog(&self) -> u32 {
        match (self.snd_max, self.acked) {
            (Some(max), Some(acked)) => max.bytes_after(acked),
            _ => 0,
        }
    }

    /// Retransmissions, duplicates, probes and zero windows (all zero for
    /// an endpoint that had none).
    pub fn troubles(&self) -> &Troubles {
        self.troubles.as_deref().unwrap_or(&NO_TROUBLES)
    }

    pub(super) fn troubles_mut(&mut self) -> &mut Troubles {
        self.troubles.get_or_insert_default()
    }

    /// The FIN, the sequence number it took, and the RST, if any.
    pub fn end(&self) -> End {
        self.end.as_deref().copied().unwrap_or_default()
    }

    pub(super) fn end_mut(&mut self) -> &mut End {
        self.end.get_or_insert_default()
    }

    pub fn fin(&self) -> Option<Moment> {
        self.end.as_ref().and_then(|e| e.fin)
    }

    pub fn fin_seq(&self) -> Option<Seq> {
        self.end.as_ref().and_then(|e| e.fin_seq)
    }

    pub fn rst(&self) -> Option<Moment> {
        self.end.as_ref().and_then(|e| e.rst)
    }

    /// The backlog waiting for ACK progress, and the retransmissions since.
    pub fn ack_stall(&self) -> AckStall {
        AckStall {
            since: self.unacked_since,
            retransmissions: self.troubles().retransmissions_since_ack,
        }
    }

    pub(super) fn advertise_window(&mut self, window: u32, now: Moment, counts: bool) {
        self.window = Some(window);
        if window == 0 {
            let z = &mut self.troubles_mut().zero_window;
            if counts {
                z.packets += 1;
            }
            z.advertise(0, now);
        } else if let Some(t) = &mut self.troubles {
            t.zero_window.advertise(window, now);
        }
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
        let timed = self.timed;
        if timed.active && ack.diff(timed.end) >= 0 {
            self.rtt.sample(now.at.since(timed.sent));
            self.timed.active = false;
        }
        let still_outstanding = self.backlog() > 0;
        if let Some(t) = &mut self.troubles {
            t.retransmissions_since_ack = 0;
        }
        self.unacked_since = if still_outstanding { Some(now) } else { None };
        true
    }

    pub(super) fn note_backlog(&mut self, now: Moment) {
        let backlog = self.backlog();
        self.max_backlog = self.max_backlog.max(backlog);
        if backlog > 0 && self.unacked_since.is_none() {
            self.unacked_since = Some(now);
        }
    }

    pub(super) fn note_retransmission(&mut self, bytes: u32, spurious: bool) {
        let t = self.troubles_mut();
        t.retransmissions += 1;
        t.retransmitted_bytes += u64::from(bytes);
        t.spurious_retransmissions += u32::from(spurious);
        t.retransmissions_since_ack += 1;
    }
}
