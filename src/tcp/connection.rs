//! One TCP connection: roles, state, and the per-segment rules that keep
//! each endpoint's accounting and feed the reassembled bytes onward.

use std::net::IpAddr;

use serde::Serialize;

use super::assembler::{AssemblerLimits, Budget, Delivery, Piece};
use super::endpoint::{Endpoint, Signature};
use super::{StreamObserver, TcpEvent};
use crate::decode::tunnel::Tag;
use crate::decode::Segment;
use crate::evidence::Moment;
use crate::side::{PerSide, Side};
use crate::time::Span;

/// How we decided which endpoint is the client, strongest first (the order
/// of the spec's role rules). A later stage may replace a weaker source with
/// a stronger one, never the reverse, and the report says which one won.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleSource {
    /// The SYN sender is the client.
    Syn,
    /// The SYN-ACK receiver is the client.
    SynAck,
    /// The HTTP Upgrade request sender is the client.
    HttpUpgrade,
    /// The TLS ClientHello sender is the client (RFC 8446 §4.1.2).
    TlsHello,
    /// The endpoint on a `--ws-port`/`--tls-port` port is the server.
    PortOption,
    /// The endpoint whose WebSocket frames are masked is the client.
    Masking,
    /// The endpoint on the higher (ephemeral) port is the client.
    EphemeralPort,
}

/// Where the connection is in its life, as the wire shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpState {
    /// SYN seen, handshake not complete.
    Opening,
    /// Data may flow both ways (or we joined mid-stream).
    Established,
    /// One side sent FIN (RFC 9293 §3.6); the other may still send.
    HalfClosed,
    /// FIN both ways.
    Closed,
    /// An in-window RST ended it.
    Reset,
}

impl TcpState {
    pub fn is_over(self) -> bool {
        matches!(self, TcpState::Closed | TcpState::Reset)
    }
}

pub type Endpoints = (IpAddr, u16);

/// Two identical segments closer than this are one packet captured twice.
const DUPLICATE_WITHIN: Span = Span::from_millis(1);

/// The handshake RTT not measured yet: capture times never go backwards
/// (see `CaptureClock`), so no measurement is negative, let alone this.
const NO_RTT: Span = Span::from_nanos(i64::MIN);

/// How long a hole may stay open before the bytes that fill it, though new
/// to the capture, count as resent: no retransmission timer fires sooner
/// (RFC 6298 §2.4 rounds the RTO up to 1 s), and networks reorder within
/// far less. Earlier, the capture cannot tell a late original from a fast
/// retransmission whose original it missed, and calls it out of order.
const REORDERING_WINDOW: Span = Span::from_millis(1000);

/// An ACK more than this beyond anything the peer sent is a stray.
const MAX_ACK_AHEAD: i64 = 1 << 30;

pub struct Connection<O> {
    pub client: Endpoints,
    pub server: Endpoints,
    /// The outermost tunnel it came in, from its first packet (all its
    /// packets share it: the tunnel is part of the flow key).
    pub tunnel: Option<Tag>,
    pub role_source: RoleSource,
    pub state: TcpState,
    pub first: Moment,
    pub last: Moment,
    /// Client SYN, server SYN-ACK, client ACK of the SYN-ACK.
    pub syn: Option<Moment>,
    pub syn_ack: Option<Moment>,
    /// See [`Connection::handshake_rtt`]; `NO_RTT` until measured.
    handshake_rtt: Span,
    pub endpoints: PerSide<Endpoint>,
    /// The RST that ended the connection, by the side that sent it.
    pub reset_by: Option<Side>,
    /// RSTs whose sequence number was outside the receiver's window
    /// (RFC 5961 §3.2): injected or stale, they do not end anything.
    pub ignored_rsts: u32,
    /// Out-of-order bytes refused by a cap (the hole was skipped instead).
    pub overflows: u32,
    pub observer: O,
}

impl<O> Connection<O> {
    /// From the client's SYN to its ACK of the SYN-ACK, as this vantage
    /// point saw them: the handshake's round trip, once it completed.
    pub fn handshake_rtt(&self) -> Option<Span> {
        (self.handshake_rtt != NO_RTT).then_some(self.handshake_rtt)
    }
}

impl<O: StreamObserver> Connection<O> {
    /// Builds a connection from its first packet, deciding roles with what
    /// one packet can tell.
    pub fn new(seg: &Segment<'_>, now: Moment, server_ports: &[u16], observer: O) -> Self {
        let (client_is_src, role_source) = if seg.flags.syn() && !seg.flags.ack() {
            (true, RoleSource::Syn)
        } else if seg.flags.syn() {
            (false, RoleSource::SynAck)
        } else if server_ports.contains(&seg.dst.1) && !server_ports.contains(&seg.src.1) {
            (true, RoleSource::PortOption)
        } else if server_ports.contains(&seg.src.1) && !server_ports.contains(&seg.dst.1) {
            (false, RoleSource::PortOption)
        } else {
            (seg.src.1 >= seg.dst.1, RoleSource::EphemeralPort)
        };
        let (client, server) = if client_is_src {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        Connection {
            client,
            server,
            tunnel: seg.tunnel.tag,
            role_source,
            state: if seg.flags.syn() {
                TcpState::Opening
            } else {
                TcpState::Established
            },
            first: now,
            last: now,
            syn: None,
            syn_ack: None,
            handshake_rtt: NO_RTT,
            endpoints: PerSide::default(),
            reset_by: None,
            ignored_rsts: 0,
            overflows: 0,
            observer,
        }
    }

    pub fn side_of(&self, src: Endpoints) -> Side {
        if src == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub fn endpoint(&self, side: Side) -> Endpoints {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }

    /// A later stage learned the roles from something stronger (an HTTP
    /// Upgrade, masking). Swaps only when the new source outranks the old.
    pub fn assign_client(&mut self, client: Endpoints, source: RoleSource) -> bool {
        if source >= self.role_source {
            return false;
        }
        if client != self.client {
            std::mem::swap(&mut self.client, &mut self.server);
            self.endpoints.swap();
            self.observer.swap_sides();
            self.reset_by = self.reset_by.map(Side::other);
        }
        self.role_source = source;
        true
    }

    /// Whether a SYN on this 4-tuple starts a new connection (port reuse)
    /// rather than retransmitting this one's.
    pub fn is_new_syn(&self, seg: &Segment<'_>) -> bool {
        if !seg.flags.syn() || seg.flags.ack() {
            return false;
        }
        if self.state.is_over() {
            return true;
        }
        let isn = self.endpoints[self.side_of(seg.src)].isn();
        isn.is_some_and(|isn| isn != seg.seq) || (isn.is_none() && self.state != TcpState::Opening)
    }

    /// Applies one segment. `side` sent it.
    pub fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        side: Side,
        now: Moment,
        limits: AssemblerLimits,
        budget: &mut Budget,
    ) {
        self.last = now;
        self.endpoints[side].packets += 1;
        // The same packet twice in a row is a capture artefact (a span port
        // or `-i any` seeing it twice), not a retransmission: a sender picks
        // a new IPv4 ID for a retransmission, and no retransmission timer or
        // duplicate-ACK trigger fires within a millisecond. IPv6 and DF
        // packets from some stacks carry no ID, so time decides there.
        let me = &mut self.endpoints[side];
        let signature = Signature {
            seq: seg.seq,
            len: seg.seq_len(),
            ack: seg.ack,
            ip_id: seg.ip_id,
        };
        if seg.seq_len() > 0 {
            if let Some((previous, at)) = me.last_signature() {
                let quick = now.at.since(at) < DUPLICATE_WITHIN;
                if previous == signature && (seg.ip_id != 0 || quick) {
                    me.troubles_mut().capture_duplicates += 1;
                    return;
                }
            }
        }
        me.set_last_signature(signature, now.at);
        if seg.flags.rst() {
            self.on_rst(seg, side, now, budget);
            return;
        }
        if seg.flags.syn() {
            self.on_syn(seg, side, now);
        }
        self.on_window_and_ack(seg, side, now, budget);
        self.on_send(seg, side, now, limits, budget);
        // The next stage may have proved the roles (an HTTP Upgrade, the
        // masking side): adopt them now, so per-side facts follow at once.
        if self.role_source > RoleSource::HttpUpgrade {
            if let Some((client, source)) = self.observer.client_evidence() {
                self.assign_client(self.endpoint(client), source);
            }
        }
    }

    fn on_syn(&mut self, seg: &Segment<'_>, side: Side, now: Moment) {
        let me = &mut self.endpoints[side];
        if me.isn() == Some(seg.seq) {
            // The same SYN again: the first was lost or unanswered.
            me.note_retransmission(0, false);
            return;
        }
        me.set_isn(seg.seq);
        me.set_window_scale(seg.syn_options.window_scale);
        me.assembler.start_at(seg.seq + 1);
        me.set_snd_max(seg.seq + 1);
        if seg.flags.ack() {
            self.syn_ack.get_or_insert(now);
        } else {
            self.syn.get_or_insert(now);
        }
    }

    fn on_window_and_ack(
        &mut self,
        seg: &Segment<'_>,
        side: Side,
        now: Moment,
        budget: &mut Budget,
    ) {
        let Connection {
            endpoints,
            observer,
            state,
            syn,
            syn_ack,
            handshake_rtt,
            ..
        } = self;
        let (me, peer) = endpoints.pair_mut(side);

        // The window this endpoint advertises. RFC 7323 §2.2: never scaled
        // in a SYN, and scaled only when both SYNs carried the option. When
        // we joined mid-stream the scale is unknown and the raw value is a
        // lower bound (zero is zero either way).
        let raw = u32::from(seg.window);
        let window = match (seg.flags.syn(), me.window_scale(), peer.window_scale()) {
            (false, Some(shift), Some(_)) => raw << shift,
            _ => raw,
        };
        let counts = !(seg.flags.syn() || seg.flags.fin());
        me.advertise_window(window, now, counts);
        let scale_known = me.window_scale().is_some() && peer.window_scale().is_some();
        observer.on_tcp(
            side,
            TcpEvent::Window {
                window,
                scale_known: scale_known || window == 0,
            },
            now,
        );

        if !seg.flags.ack() {
            return;
        }
        // The ACK is about the peer's bytes. One far beyond anything the
        // peer sent is a stray, not evidence.
        let ack = seg.ack;
        if peer
            .snd_max()
            .is_some_and(|max| ack.diff(max) > MAX_ACK_AHEAD)
        {
            return;
        }
        // A FIN takes one sequence number but no byte of the stream.
        let data_end = match peer.fin_seq() {
            Some(fin) if ack.diff(fin) > 0 => fin,
            _ => ack,
        };
        let peer_side = side.other();
        if peer.on_ack(ack, now) {
            let event = TcpEvent::Acked {
                in_flight: peer.backlog(),
                srtt: peer.rtt.srtt(),
            };
            observer.on_tcp(peer_side, event, now);
        }
        let unseen = peer.assembler.acked_unseen();
        peer.assembler.acked(data_end, now.at, budget, &mut |d| {
            deliver(observer, peer_side, d, now)
        });
        let bytes = peer.assembler.acked_unseen() - unseen;
        if bytes > 0 {
            observer.on_tcp(peer_side, TcpEvent::Missed { bytes }, now);
        }
        peer.note_backlog(now);
        if *state == TcpState::Opening && !seg.flags.syn() && side == Side::Client {
            if let (Some(syn), Some(syn_ack)) = (*syn, *syn_ack) {
                // The client's ACK of the SYN-ACK: the handshake RTT as this
                // vantage point sees it, and one sample for each direction
                // (RFC 6298 §2 allows SYN samples when not retransmitted).
                *handshake_rtt = now.at.since(syn.at);
                peer.rtt.sample(now.at.since(syn_ack.at));
                me.rtt.sample(syn_ack.at.since(syn.at));
                *state = TcpState::Established;
            }
        }
    }

    /// Classifies what the segment carries for the sender's own stream:
    /// new data, a retransmission, a keep-alive or a zero-window probe.
    fn on_send(
        &mut self,
        seg: &Segment<'_>,
        side: Side,
        now: Moment,
        limits: AssemblerLimits,
        budget: &mut Budget,
    ) {
        let Connection {
            endpoints,
            observer,
            state,
            overflows,
            ..
        } = self;
        let (me, peer) = endpoints.pair_mut(side);
        let syn = u32::from(seg.flags.syn());
        let data_seq = seg.seq + syn;
        let len = seg.wire_len;
        let peer_window_zero = peer.window() == Some(0);

        if let Some(max) = me.snd_max() {
            // RFC 9293 §3.8.4 keep-alive and §3.8.6.1 zero-window probe: at
            // most one byte, one below the next sequence number. Linux sends
            // both as 0-byte segments at SND.UNA − 1, so only the peer's
            // window tells them apart. A 1-byte probe of new data at the
            // edge of a zero window is the classic probe shape.
            if !seg.flags.syn() && !seg.flags.fin() && len <= 1 {
                let below = seg.seq == max - 1 || me.acked().is_some_and(|a| seg.seq == a - 1);
                if below && (len == 0 || seg.seq.diff(max) < 0) {
                    if peer_window_zero {
                        me.troubles_mut().zero_window_probes += 1;
                        peer.troubles_mut().zero_window.probes_in_open += 1;
                    } else {
                        me.troubles_mut().keepalives += 1;
                    }
                    let event = TcpEvent::Probe {
                        zero_window: peer_window_zero,
                    };
                    observer.on_tcp(side, event, now);
                    return;
                }
                if len == 1 && peer_window_zero && seg.seq == max {
                    me.troubles_mut().zero_window_probes += 1;
                    peer.troubles_mut().zero_window.probes_in_open += 1;
                }
            }
        }

        let fin = u32::from(seg.flags.fin());
        if len + fin > 0 {
            let end = data_seq + len + fin;
            let mut retransmission = false;
            // Bytes the capture sees for the first time are not a
            // retransmission, however far out of order they come: below the
            // highest sequence number sent is no proof they were sent
            // before. Unless the hole they fill has been open longer than a
            // retransmission timer takes: then the capture missed the
            // original.
            let fresh = me.assembler.fresh(data_seq, len);
            let resent = len == 0
                || fresh.bytes < len
                || fresh
                    .hole_since
                    .is_some_and(|t| now.at.since(t) > REORDERING_WINDOW);
            match me.snd_max() {
                // Retransmission: it starts below what was already sent
                // (RFC 9293 §3.8.1) and was sent before. Spurious when the
                // peer had ACKed it all.
                Some(max) if seg.seq.diff(max) < 0 && !seg.flags.syn() && resent => {
                    let spurious = me.acked().is_some_and(|a| end.diff(a) <= 0);
                    me.note_retransmission(len, spurious);
                    retransmission = true;
                    if me.timed().is_some_and(|(t_end, _)| seg.seq.diff(t_end) < 0) {
                        me.set_timed(None); // Karn's algorithm
                    }
                    me.payload_bytes += u64::from(fresh.bytes);
                    me.set_snd_max(max.max(end));
                }
                _ => {
                    me.payload_bytes += u64::from(fresh.bytes);
                    if len > 0 && me.timed().is_none() {
                        me.set_timed(Some((end, now.at)));
                    }
                    me.set_snd_max(me.snd_max().map_or(end, |m| m.max(end)));
                }
            }
            if len > 0 {
                me.last_payload = Some(now);
            }
            me.note_backlog(now);
            if len > 0 || retransmission {
                let event = TcpEvent::Sent {
                    len,
                    retransmission,
                    in_flight: me.backlog(),
                };
                observer.on_tcp(side, event, now);
            }
        }

        if len > 0 {
            me.assembler.start_at(data_seq);
            let (conflicts, conflict_bytes) = me.assembler.conflicts();
            let piece = Piece {
                seq: data_seq,
                data: seg.payload,
                wire_len: len,
                at: now.at,
            };
            let result = me.assembler.segment(piece, limits, budget, &mut |d| {
                deliver(observer, side, d, now)
            });
            *overflows += u32::from(result.is_err());
            if me.assembler.conflicts().0 > conflicts {
                let bytes = me.assembler.conflicts().1 - conflict_bytes;
                observer.on_tcp(side, TcpEvent::Conflict { bytes }, now);
            }
        }

        if seg.flags.fin() && me.fin().is_none() {
            let end = me.end_mut();
            end.fin = Some(now);
            end.fin_seq = Some(data_seq + len);
            *state = match *state {
                TcpState::HalfClosed if peer.fin().is_some() => TcpState::Closed,
                TcpState::Closed | TcpState::Reset => *state,
                _ if peer.fin().is_some() => TcpState::Closed,
                _ => TcpState::HalfClosed,
            };
            me.assembler
                .flush(budget, &mut |d| deliver(observer, side, d, now));
            observer.on_tcp(side, TcpEvent::Fin, now);
        }
    }

    fn on_rst(&mut self, seg: &Segment<'_>, side: Side, now: Moment, budget: &mut Budget) {
        let (me, peer) = self.endpoints.pair_mut(side);
        // RFC 5961 §3.2: a RST is acceptable when its sequence number is in
        // the receiver's window. We know RCV.NXT as the highest ACK the
        // receiver sent; without it (or with a zero window) accept
        // RCV.NXT exactly. Unknown: accept.
        let in_window = match me.acked() {
            None => true,
            Some(rcv_nxt) => {
                let off = seg.seq.diff(rcv_nxt);
                let wnd = i64::from(peer.window().unwrap_or(0).max(1));
                (0..wnd).contains(&off) || seg.seq == me.snd_max().unwrap_or(rcv_nxt)
            }
        };
        if !in_window || self.state.is_over() {
            if !in_window {
                self.ignored_rsts += 1;
            }
            if me.rst().is_none() && self.state.is_over() {
                me.end_mut().rst = Some(now);
            }
            return;
        }
        me.end_mut().rst = Some(now);
        self.reset_by = Some(side);
        self.state = TcpState::Reset;
        self.finish(now, budget);
        self.observer.on_tcp(side, TcpEvent::Rst, now);
    }

    /// The connection is over (or evicted, or the capture ended): deliver
    /// what is buffered and free the memory.
    pub fn finish(&mut self, now: Moment, budget: &mut Budget) {
        let Connection {
            endpoints,
            observer,
            ..
        } = self;
        for side in Side::BOTH {
            endpoints[side]
                .assembler
                .flush(budget, &mut |d| deliver(observer, side, d, now));
        }
    }
}

fn deliver<O: StreamObserver>(observer: &mut O, side: Side, d: Delivery<'_>, now: Moment) {
    match d {
        Delivery::Data(bytes) => observer.on_data(side, bytes, now),
        Delivery::Gap(len) => observer.on_gap(side, len, now),
    }
}
