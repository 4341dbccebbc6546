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
/// retransmission: sequence number, sequence length, ACK, IPv4 ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Signature {
    pub(super) seq: Seq,
    pub(super) len: u32,
    pub(super) ack: Seq,
    pub(super) ip_id: u16,
}

/// Which of [`Endpoint`]'s optional values are set (one bit each, so they
/// cost one byte between them instead of an Option's word each).
const ISN: u8 = 1;
const SND_MAX: u8 = 1 << 1;
const ACKED: u8 = 1 << 2;
const WINDOW: u8 = 1 << 3;
const WINDOW_SCALE: u8 = 1 << 4;
const TIMED: u8 = 1 << 5;
const SIGNATURE: u8 = 1 << 6;

/// What one endpoint did. What a healthy, open connection never needs
/// (troubles, the end) is allocated when first needed, and the optional
/// sequence numbers and window share one byte of flags: an endpoint is
/// 176 bytes.
#[derive(Default)]
pub struct Endpoint {
    // --- as a sender
    pub packets: u64,
    /// Payload bytes of the stream the capture saw, each counted once
    /// however many copies came (including bytes first seen in a
    /// retransmission whose original the capture missed).
    pub payload_bytes: u64,
    /// When the oldest still-unacknowledged byte was sent, or when the ACK
    /// last advanced while bytes stayed outstanding (see [`AckStall`]).
    unacked_since: Option<Moment>,
    pub last_payload: Option<Moment>,
    pub last_ack_advance: Option<Moment>,
    pub rtt: RttEstimator,
    /// RFC 6298 §3 / Karn: one segment timed at a time, never a
    /// retransmitted one: when it was sent and where it ends.
    timed_sent: Timestamp,
    timed_end: Seq,
    /// The previous segment and when it came (see [`Signature`]), field by
    /// field so that no padding comes between them.
    signature_at: Timestamp,
    signature_seq: Seq,
    signature_len: u32,
    signature_ack: Seq,
    signature_ip_id: u16,
    pub assembler: Assembler,
    troubles: Option<Box<Troubles>>,
    end: Option<Box<End>>,
    isn: Seq,
    /// One past the highest sequence number sent (or ACKed by the peer).
    snd_max: Seq,
    /// Highest cumulative ACK the other side sent for our bytes.
    acked: Seq,
    pub max_backlog: u32,
    // --- as a receiver
    /// Last advertised receive window, scaled when the scale is known.
    window: u32,
    /// The SYN's window scale shift (RFC 7323 §2.2).
    window_scale: u8,
    /// Which of the values above are set.
    set: u8,
}

impl Endpoint {
    fn get<T>(&self, flag: u8, value: T) -> Option<T> {
        (self.set & flag != 0).then_some(value)
    }

    /// The initial sequence number, from this side's SYN.
    pub fn isn(&self) -> Option<Seq> {
        self.get(ISN, self.isn)
    }

    pub(super) fn set_isn(&mut self, isn: Seq) {
        self.isn = isn;
        self.set |= ISN;
    }

    /// One past the highest sequence number sent (or ACKed by the peer).
    pub fn snd_max(&self) -> Option<Seq> {
        self.get(SND_MAX, self.snd_max)
    }

    pub(super) fn set_snd_max(&mut self, seq: Seq) {
        self.snd_max = seq;
        self.set |= SND_MAX;
    }

    /// Highest cumulative ACK the other side sent for our bytes.
    pub fn acked(&self) -> Option<Seq> {
        self.get(ACKED, self.acked)
    }

    fn set_acked(&mut self, ack: Seq) {
        self.acked = ack;
        self.set |= ACKED;
    }

    /// Last receive window advertised, scaled when the scale is known.
    pub fn window(&self) -> Option<u32> {
        self.get(WINDOW, self.window)
    }

    /// The SYN's window scale shift (RFC 7323 §2.2).
    pub fn window_scale(&self) -> Option<u8> {
        self.get(WINDOW_SCALE, self.window_scale)
    }

    pub(super) fn set_window_scale(&mut self, shift: Option<u8>) {
        self.window_scale = shift.unwrap_or(0);
        self.set = match shift {
            Some(_) => self.set | WINDOW_SCALE,
            None => self.set & !WINDOW_SCALE,
        };
    }

    /// The segment timed for an RTT sample: where it ends, when it was sent.
    pub(super) fn timed(&self) -> Option<(Seq, Timestamp)> {
        self.get(TIMED, (self.timed_end, self.timed_sent))
    }

    pub(super) fn set_timed(&mut self, timed: Option<(Seq, Timestamp)>) {
        match timed {
            Some((end, sent)) => {
                (self.timed_end, self.timed_sent) = (end, sent);
                self.set |= TIMED;
            }
            None => self.set &= !TIMED,
        }
    }

    /// The previous segment's signature and when it came.
    pub(super) fn last_signature(&self) -> Option<(Signature, Timestamp)> {
        let signature = Signature {
            seq: self.signature_seq,
            len: self.signature_len,
            ack: self.signature_ack,
            ip_id: self.signature_ip_id,
        };
        self.get(SIGNATURE, (signature, self.signature_at))
    }

    pub(super) fn set_last_signature(&mut self, s: Signature, at: Timestamp) {
        self.signature_seq = s.seq;
        self.signature_len = s.len;
        self.signature_ack = s.ack;
        self.signature_ip_id = s.ip_id;
        self.signature_at = at;
        self.set |= SIGNATURE;
    }

    /// Bytes sent and not yet acknowledged, as far as the capture shows.
    pub fn backlog(&self) -> u32 {
        match (self.snd_max(), self.acked()) {
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

    #[inline]
    pub(super) fn advertise_window(&mut self, window: u32, now: Moment, counts: bool) {
        self.window = window;
        self.set |= WINDOW;
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
    #[inline]
    pub(super) fn on_ack(&mut self, ack: Seq, now: Moment) -> bool {
        let advanced = match self.acked() {
            None => {
                self.set_acked(ack);
                false
            }
            Some(prev) if ack.diff(prev) > 0 => {
                self.set_acked(ack);
                true
            }
            Some(_) => false,
        };
        // An ACK for bytes the capture never saw still proves they were sent.
        if self.snd_max().is_none_or(|max| ack.diff(max) > 0) {
            self.set_snd_max(ack);
        }
        if !advanced {
            return false;
        }
        self.last_ack_advance = Some(now);
        if let Some((end, sent)) = self.timed() {
            if ack.diff(end) >= 0 {
                self.rtt.sample(now.at.since(sent));
                self.set_timed(None);
            }
        }
        let still_outstanding = self.backlog() > 0;
        if let Some(t) = &mut self.troubles {
            t.retransmissions_since_ack = 0;
        }
        self.unacked_since = if still_outstanding { Some(now) } else { None };
        true
    }

    #[inline]
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
