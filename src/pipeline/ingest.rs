//! The per-packet steps every driver shares, offline or live: the capture
//! clock, the capture counters, the tcpdump filter, decoding, the
//! `--port`/`--host` selectors and the flow table.
//!
//! A driver calls [`Ingest::stamp`] for every packet (before any filter,
//! so the capture's span counts every packet), decides what to do with
//! that time (`analyze --at` leaves later packets out; the live tap judges
//! the connections at the ticks before it), then calls [`Ingest::apply`].

use crate::capture::clock::CaptureClock;
use crate::capture::filter::{PacketFilter, Selectors};
use crate::capture::{LinkType, Packet};
use crate::decode::{self, Segment, Skip};
use crate::evidence::Moment;
use crate::report::model::CaptureInfo;
use crate::tcp::{FlowTable, Limits, Retired, StreamObserver, SweepSchedule};
use crate::time::Timestamp;

/// Where a packet ended after [`Ingest::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The tcpdump filter expression refused it.
    FilteredOut,
    /// Not TCP over IP, or too damaged to decode (counted by kind).
    NotDecoded,
    /// TCP, but no `--port`/`--host` selector matched.
    NotSelected,
    /// Handed to its connection (tracked, or counted as untracked when
    /// `--max-flows` were open).
    Routed,
}

/// Packets in, connections out: one capture clock, one flow table.
pub struct Ingest<O> {
    /// The report's capture object, counted as packets go by.
    pub capture: CaptureInfo,
    /// Packet times, re-based across steps of the recording host's clock.
    pub clock: CaptureClock,
    /// The connections open now.
    pub table: FlowTable<O>,
    filter: Option<PacketFilter>,
    selectors: Selectors,
    /// The connections the selectors leave out, followed at the TCP level
    /// only so that ids count every connection of the capture (the spec's
    /// rule: ids count connections in the order of their first packet), and
    /// `wspulse explain 6` names the same connection with or without
    /// `--port`. `None` without selectors.
    unselected: Option<FlowTable<()>>,
    /// When both tables sweep: at packets the stream decides, the same
    /// whether one table or several hold the connections.
    schedule: SweepSchedule,
    last: Moment,
}

/// A packet that [`Ingest::route`] sends to a flow table.
pub struct Routed<'a> {
    /// Its TCP segment.
    pub segment: Segment<'a>,
    /// Its moment: capture-clock time and frame.
    pub now: Moment,
    /// True for the reported table; false for a connection the
    /// `--port`/`--host` selectors leave out.
    pub selected: bool,
    /// True when every table sweeps before this packet.
    pub sweep: bool,
}

impl<O: StreamObserver> Ingest<O> {
    /// `filter` is a tcpdump expression, compiled by libpcap; without the
    /// `live` feature it is refused with a message saying how to get it.
    pub fn new(
        limits: Limits,
        server_ports: Vec<u16>,
        selectors: Selectors,
        filter: Option<&str>,
    ) -> Result<Self, String> {
        let filter = filter.map(PacketFilter::new).transpose()?;
        let capture = CaptureInfo {
            limits,
            ..CaptureInfo::default()
        };
        Ok(Ingest {
            capture,
            clock: CaptureClock::new(),
            table: FlowTable::new(limits, server_ports),
            filter,
            unselected: (!selectors.is_empty()).then(|| FlowTable::new(limits, Vec::new())),
            selectors,
            schedule: SweepSchedule::new(limits.idle_timeout),
            last: Moment::default(),
        })
    }

    /// Puts `packet` on the capture clock (re-based across steps of the
    /// recording host's clock) and counts it: call it for every packet, in
    /// input order, before any filter. Returns its capture-clock time.
    pub fn stamp(&mut self, packet: &Packet<'_>) -> Timestamp {
        self.capture.packets += 1;
        let at = self.clock.on_packet(packet.at, packet.frame);
        let c = &mut self.capture;
        c.first_packet = Some(c.first_packet.map_or(at, |t| t.min(at)));
        c.last_packet = Some(c.last_packet.map_or(at, |t| t.max(at)));
        at
    }

    /// The rest of a packet's way, at `at` (from [`Ingest::stamp`]):
    /// snaplen count, filter, decode, selectors, and its connection.
    /// `new_observer` builds the consumer of a new connection; connections
    /// that end go to `retire`.
    pub fn apply(
        &mut self,
        packet: &Packet<'_>,
        at: Timestamp,
        new_observer: impl Fn(&Segment<'_>) -> O,
        retire: &mut dyn FnMut(Retired<O>),
    ) -> Step {
        let r = match self.route(packet, at) {
            Ok(r) => r,
            Err(step) => return step,
        };
        if r.sweep {
            self.table.sweep(r.now, retire);
            if let Some(others) = self.unselected.as_mut() {
                others.sweep(r.now, &mut |_| {});
            }
        }
        if !r.selected {
            if let Some(others) = self.unselected.as_mut() {
                others.set_next_id(self.table.next_id());
                others.on_segment(&r.segment, r.now, |_| (), &mut |_| {});
                self.table.set_next_id(others.next_id());
            }
            return Step::NotSelected;
        }
        self.table
            .on_segment(&r.segment, r.now, new_observer, retire);
        Step::Routed
    }

    /// Every step of [`Ingest::apply`] before the flow tables, counted in
    /// the capture object: snaplen, filter, decode, selectors, and the
    /// sweep schedule. `Err` is where a packet that reaches no table
    /// stopped; `Ok` is the segment, for the table `selected` names.
    pub fn route<'a>(&mut self, packet: &Packet<'a>, at: Timestamp) -> Result<Routed<'a>, Step> {
        let c = &mut self.capture;
        if (packet.data.len() as u64) < u64::from(packet.orig_len) {
            c.snaplen_cut_packets += 1;
        }
        if let Some(f) = self.filter.as_mut() {
            if !f.matches(packet) {
                c.filtered_out += 1;
                return Err(Step::FilteredOut);
            }
        }
        let segment = match decode::decode(packet) {
            Ok(s) => s,
            Err(skip) => {
                *c.not_decoded.entry(skip).or_default() += 1;
                if let (Skip::UnsupportedLinkType, LinkType::Other(link)) = (skip, packet.link) {
                    *c.link_types_not_decoded.entry(link).or_default() += 1;
                }
                return Err(Step::NotDecoded);
            }
        };
        let now = Moment {
            at,
            frame: packet.frame,
        };
        let selected =
            self.unselected.is_none() || self.selectors.matches(segment.src, segment.dst);
        if selected {
            c.tcp_packets += 1;
            self.last = now;
        } else {
            c.filtered_out += 1;
        }
        Ok(Routed {
            segment,
            now,
            selected,
            sweep: self.schedule.on_packet(at),
        })
    }

    /// Whether `--port`/`--host` selectors are given (and a second table
    /// follows the connections they leave out).
    pub fn has_selectors(&self) -> bool {
        self.unselected.is_some()
    }

    /// The last packet routed to a connection: the frame an end of input
    /// or a tick cites.
    pub fn last_routed(&self) -> Moment {
        self.last
    }

    /// Copies what only the clock and the table know into the capture
    /// object: clock steps, and what the table's limits did.
    pub fn settle(&mut self) {
        let (steps, count) = self.clock.steps();
        self.capture.clock_steps = steps
            .iter()
            .map(crate::report::model::ClockStepInfo::from)
            .collect();
        self.capture.clock_step_count = count;
        self.capture.flow_table = self.table.stats();
    }
}
