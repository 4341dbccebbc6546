//! The flow table: finds a packet's connection in one hash lookup, starts
//! new ones (mid-stream, from a handshake, or on port reuse), and keeps
//! memory bounded with named, counted limits.

use std::collections::HashMap;

use serde::Serialize;

use super::assembler::{AssemblerLimits, Budget};
use super::connection::{Connection, Endpoints};
use super::StreamObserver;
use crate::decode::Segment;
use crate::evidence::Moment;
use crate::time::Span;

/// Every limit that keeps memory bounded, with its default.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Limits {
    /// Connections tracked at once; past it, new ones are not tracked.
    pub max_flows: usize,
    /// Out-of-order bytes held per direction of one connection.
    pub max_ooo_bytes_per_direction: u32,
    /// Out-of-order chunks held per direction.
    pub max_ooo_chunks_per_direction: usize,
    /// Out-of-order bytes held across all connections.
    pub max_ooo_bytes_total: u64,
    /// A connection with no packet for this long stops being tracked (its
    /// findings so far are kept).
    #[serde(rename = "idle_timeout_s", serialize_with = "span_secs")]
    pub idle_timeout: Span,
}

fn span_secs<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(span.secs_f64())
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 1_000_000,
            max_ooo_bytes_per_direction: 4 << 20,
            max_ooo_chunks_per_direction: 1024,
            max_ooo_bytes_total: 512 << 20,
            idle_timeout: Span::from_secs(3600),
        }
    }
}

/// What the limits did, for the report.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TableStats {
    pub connections: u64,
    pub idle_evictions: u64,
    /// Packets of connections not tracked because `max_flows` was reached.
    pub untracked_packets: u64,
    pub ooo_overflows: u64,
    pub ooo_peak_bytes: u64,
}

/// A 5-tuple with the smaller endpoint first, so both directions find the
/// same entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey(Endpoints, Endpoints);

impl FlowKey {
    fn of(a: Endpoints, b: Endpoints) -> Self {
        if (a.0, a.1) <= (b.0, b.1) {
            FlowKey(a, b)
        } else {
            FlowKey(b, a)
        }
    }
}

pub struct FlowTable<O> {
    /// Connections still receiving packets, by 5-tuple → index.
    active: HashMap<FlowKey, usize>,
    /// Every connection ever seen, in order of its first packet.
    connections: Vec<Connection<O>>,
    limits: Limits,
    budget: Budget,
    server_ports: Vec<u16>,
    stats: TableStats,
    packets_since_sweep: u32,
}

/// How often (in packets) to look for idle connections.
const SWEEP_EVERY: u32 = 1 << 16;

impl<O: StreamObserver> FlowTable<O> {
    pub fn new(limits: Limits, server_ports: Vec<u16>) -> Self {
        FlowTable {
            active: HashMap::new(),
            connections: Vec::new(),
            budget: Budget::new(limits.max_ooo_bytes_total),
            limits,
            server_ports,
            stats: TableStats::default(),
            packets_since_sweep: 0,
        }
    }

    /// Routes one segment to its connection, creating one when needed.
    /// `new_observer` builds the consumer of a new connection.
    pub fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        now: Moment,
        new_observer: impl FnOnce(&Segment<'_>) -> O,
    ) {
        self.packets_since_sweep += 1;
        if self.packets_since_sweep >= SWEEP_EVERY {
            self.sweep(now);
        }
        let key = FlowKey::of(seg.src, seg.dst);
        let index = match self.active.get(&key) {
            Some(&i) if !self.connections[i].is_new_syn(seg) => i,
            existing => {
                if let Some(&old) = existing {
                    // Port reuse: the old connection is over for us.
                    self.connections[old].finish(now, &mut self.budget);
                }
                if existing.is_none() && self.active.len() >= self.limits.max_flows {
                    self.stats.untracked_packets += 1;
                    return;
                }
                let observer = new_observer(seg);
                self.connections
                    .push(Connection::new(seg, now, &self.server_ports, observer));
                self.stats.connections += 1;
                let i = self.connections.len() - 1;
                self.active.insert(key, i);
                i
            }
        };
        let limits = AssemblerLimits {
            max_bytes: self.limits.max_ooo_bytes_per_direction,
            max_chunks: self.limits.max_ooo_chunks_per_direction,
        };
        let conn = &mut self.connections[index];
        let side = conn.side_of(seg.src);
        let overflows = conn.overflows;
        conn.on_segment(seg, side, now, limits, &mut self.budget);
        self.stats.ooo_overflows += u64::from(conn.overflows - overflows);
    }

    /// Stops tracking connections idle past the timeout.
    fn sweep(&mut self, now: Moment) {
        self.packets_since_sweep = 0;
        let timeout = self.limits.idle_timeout;
        let connections = &mut self.connections;
        let budget = &mut self.budget;
        let before = self.active.len();
        self.active.retain(|_, &mut i| {
            let conn = &mut connections[i];
            let idle = now.at.since(conn.last.at) > timeout;
            if idle {
                conn.finish(now, budget);
            }
            !idle
        });
        self.stats.idle_evictions += (before - self.active.len()) as u64;
    }

    /// End of input: deliver whatever is still buffered.
    pub fn finish(&mut self, now: Moment) {
        for &i in self.active.values() {
            self.connections[i].finish(now, &mut self.budget);
        }
        self.stats.ooo_peak_bytes = self.budget.peak;
    }

    pub fn connections(&self) -> &[Connection<O>] {
        &self.connections
    }

    pub fn connections_mut(&mut self) -> &mut [Connection<O>] {
        &mut self.connections
    }

    pub fn stats(&self) -> TableStats {
        TableStats {
            ooo_peak_bytes: self.budget.peak,
            ..self.stats
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }
}
