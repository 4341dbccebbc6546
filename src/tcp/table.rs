//! The flow table: finds a packet's connection in one hash lookup, starts
//! new ones (mid-stream, from a handshake, or on port reuse), retires the
//! ones that ended, and keeps memory bounded with named, counted limits.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::HashTable;

/// The flow maps are looked up for every packet. foldhash is several
/// times faster than the standard SipHash on these small keys and is
/// still seeded at random per map, so crafted 4-tuples in a live tap
/// cannot aim at one bucket.
type Hasher = foldhash::fast::RandomState;

use serde::Serialize;

use super::assembler::{AssemblerLimits, Budget};
use super::connection::{Connection, Endpoints, TcpState};
use super::StreamObserver;
use crate::decode::Segment;
use crate::evidence::Moment;
use crate::time::{Span, Timestamp};

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
    /// A connection with no packet for this long is retired (judged at its
    /// last packet plus this timeout, and freed).
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
    /// Most connections tracked at once.
    pub peak_connections: u64,
    pub idle_evictions: u64,
    /// New connections not tracked because `max_flows` were open.
    pub flows_refused: u64,
    /// Packets of connections not tracked because `max_flows` was reached.
    pub untracked_packets: u64,
    /// Packets of a connection already retired after its close (a late
    /// ACK or RST), counted and not judged.
    pub after_close_packets: u64,
    pub ooo_overflows: u64,
    pub ooo_peak_bytes: u64,
}

/// Why a connection left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retirement {
    /// FIN both ways.
    Closed,
    /// An in-window RST.
    Aborted,
    /// No packet for the flow timeout.
    Idle,
    /// Still open when the input ended (or at `--at`): not retired.
    Open,
}

/// A connection leaving the table, with its id (connections counted in
/// the order of their first packet, from 1) and the packet that retired it.
pub struct Retired<O> {
    pub id: u64,
    pub conn: Connection<O>,
    pub cause: Retirement,
    /// For `Idle`, when the flow timeout passed; otherwise the packet (or
    /// the end of input) that retired it.
    pub at: Moment,
}

/// A 5-tuple with the smaller endpoint first, so both directions find the
/// same entry, and the tunnel it came in (`Tunnel::context`, 0 for none),
/// so equal inner tuples in two tunnels are two connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKey(Endpoints, Endpoints, u64);

/// Hashes the tunnel context only when there is one: every packet is
/// hashed once, and a capture without tunnels should not pay for them.
/// Equal keys still hash alike, as `Hash` requires.
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
        if self.2 != 0 {
            state.write_u64(self.2);
        }
    }
}

impl FlowKey {
    /// Its hash in the flow table, seeded by `hasher`: each endpoint fed as
    /// whole words (a derived `Hash` feeds an address as a length and its
    /// bytes), as every packet's lookup computes it.
    #[inline]
    fn table_hash(&self, hasher: &Hasher) -> u64 {
        use std::hash::Hasher as _;
        let mut h = hasher.build_hasher();
        for (ip, port) in [self.0, self.1] {
            match ip {
                IpAddr::V4(a) => h.write_u64(u64::from(a.to_bits()) << 16 | u64::from(port)),
                IpAddr::V6(a) => {
                    h.write_u128(a.to_bits());
                    h.write_u16(port);
                }
            }
        }
        h.write_u64(self.2);
        h.finish()
    }

    fn of(seg: &Segment<'_>) -> Self {
        Self::new(seg.src, seg.dst, seg.tunnel.context)
    }

    /// Either endpoint first: the key is the same.
    fn new(a: Endpoints, b: Endpoints, context: u64) -> Self {
        if (a.0, a.1) <= (b.0, b.1) {
            FlowKey(a, b, context)
        } else {
            FlowKey(b, a, context)
        }
    }
}

/// A connection in the table, with what its key is made of: its two
/// endpoints and its tunnel context (so the table's slots need not hold a
/// copy of the key).
struct Entry<O> {
    id: u64,
    /// `Tunnel::context` of its packets, 0 for none.
    context: u64,
    conn: Connection<O>,
}

impl<O> Entry<O> {
    fn key(&self) -> FlowKey {
        FlowKey::new(self.conn.client, self.conn.server, self.context)
    }

    /// Whether `key` is this entry's: `self.key() == *key`, without
    /// ordering the endpoints (every packet's lookup asks it).
    #[inline(always)]
    fn is(&self, key: &FlowKey) -> bool {
        let (c, s) = (&self.conn.client, &self.conn.server);
        self.context == key.2 && ((*c == key.0 && *s == key.1) || (*c == key.1 && *s == key.0))
    }
}

/// How long a closed connection stays for late packets (the last ACK, a
/// retransmitted FIN) before it is retired: Linux's TIME_WAIT, 2 × MSL
/// (RFC 9293 §3.4.2 allows a longer MSL; 60 s is what stacks use).
const LINGER: Span = Span::from_secs(60);
/// How long the 4-tuple of a retired connection swallows late packets
/// that would otherwise start a phantom connection mid-stream.
const TOMBSTONE: Span = Span::from_secs(60);

/// The connections open at once, bounded. Memory follows the connections
/// open, not the total seen: a connection that closes, aborts or idles out
/// is handed to the caller (`retire`) and freed.
pub struct FlowTable<O> {
    /// Boxed, and keyed by what the entry holds: a slot is one pointer
    /// (and a control byte), so the table's growth, which holds old and
    /// new slots at once, costs little per connection.
    active: HashTable<Box<Entry<O>>>,
    /// Seeds the hashes of `active`.
    hasher: Hasher,
    /// Recently retired 4-tuples, and until when they swallow packets.
    tombstones: HashMap<FlowKey, Timestamp, Hasher>,
    /// Connections refused while the table was full, so each is counted
    /// once (bounded: past it, only SYNs count as new refusals).
    refused: HashSet<FlowKey, Hasher>,
    next_id: u64,
    limits: Limits,
    budget: Budget,
    server_ports: Vec<u16>,
    stats: TableStats,
}

/// Refused connections remembered, to count each once.
const REFUSED_KEYS: usize = 1 << 20;

impl<O: StreamObserver> FlowTable<O> {
    pub fn new(limits: Limits, server_ports: Vec<u16>) -> Self {
        FlowTable {
            active: HashTable::new(),
            hasher: Hasher::default(),
            tombstones: HashMap::default(),
            refused: HashSet::default(),
            next_id: 1,
            budget: Budget::new(limits.max_ooo_bytes_total),
            limits,
            server_ports,
            stats: TableStats::default(),
        }
    }

    /// Routes one segment to its connection, creating one when needed.
    /// `new_observer` builds the consumer of a new connection; connections
    /// that end are handed to `retire`. The table does not sweep on its
    /// own (except when full): the caller sweeps on a
    /// [`SweepSchedule`](super::SweepSchedule), so that sweeps follow the
    /// packet stream, not this table's size.
    pub fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        now: Moment,
        new_observer: impl Fn(&Segment<'_>) -> O,
        retire: &mut dyn FnMut(Retired<O>),
    ) {
        let key = FlowKey::of(seg);
        let limits = AssemblerLimits {
            max_bytes: self.limits.max_ooo_bytes_per_direction,
            max_chunks: self.limits.max_ooo_chunks_per_direction,
        };
        let hash = key.table_hash(&self.hasher);
        // The common case in one hash lookup: a packet of a known connection.
        if let Some(entry) = self.active.find_mut(hash, |e| e.is(&key)) {
            if !entry.conn.is_new_syn(seg) {
                let acct = (&mut self.budget, &mut self.stats);
                return Self::apply(&mut entry.conn, seg, now, limits, acct);
            }
        }
        match self.take(hash, key) {
            // Port reuse: the old connection is over for us.
            Some(old) => {
                let cause = cause_of(&old.conn);
                self.retire_entry(*old, cause, now, retire);
            }
            None => {
                if let Some(&until) = self.tombstones.get(&key) {
                    let new_syn = seg.flags.syn() && !seg.flags.ack();
                    if now.at <= until && !new_syn {
                        self.stats.after_close_packets += 1;
                        return;
                    }
                    self.tombstones.remove(&key);
                }
                if self.active.len() >= self.limits.max_flows {
                    // Idle flows go before a new one is refused.
                    self.sweep(now, retire);
                }
                if self.active.len() >= self.limits.max_flows {
                    let new = if self.refused.len() < REFUSED_KEYS {
                        self.refused.insert(key)
                    } else {
                        !self.refused.contains(&key) && seg.flags.syn() && !seg.flags.ack()
                    };
                    self.stats.flows_refused += u64::from(new);
                    self.stats.untracked_packets += 1;
                    return;
                }
                self.refused.remove(&key);
            }
        }
        self.insert(hash, seg, now, &new_observer, limits);
    }

    /// Removes the connection keyed `key` (hashed `hash`), if any.
    fn take(&mut self, hash: u64, key: FlowKey) -> Option<Box<Entry<O>>> {
        match self.active.find_entry(hash, |e| e.is(&key)) {
            Ok(found) => Some(found.remove().0),
            Err(_) => None,
        }
    }

    fn apply(
        conn: &mut Connection<O>,
        seg: &Segment<'_>,
        now: Moment,
        limits: AssemblerLimits,
        (budget, stats): (&mut Budget, &mut TableStats),
    ) {
        let side = conn.side_of(seg.src);
        let overflows = conn.overflows;
        conn.on_segment(seg, side, now, limits, budget);
        stats.ooo_overflows += u64::from(conn.overflows - overflows);
    }

    fn insert(
        &mut self,
        hash: u64,
        seg: &Segment<'_>,
        now: Moment,
        new_observer: &impl Fn(&Segment<'_>) -> O,
        limits: AssemblerLimits,
    ) {
        let observer = new_observer(seg);
        let conn = Connection::new(seg, now, &self.server_ports, observer);
        let id = self.next_id;
        self.next_id += 1;
        self.stats.connections += 1;
        self.stats.peak_connections = self
            .stats
            .peak_connections
            .max(self.active.len() as u64 + 1);
        let mut entry = Box::new(Entry {
            id,
            context: seg.tunnel.context,
            conn,
        });
        let acct = (&mut self.budget, &mut self.stats);
        Self::apply(&mut entry.conn, seg, now, limits, acct);
        let hasher = &self.hasher;
        self.active
            .insert_unique(hash, entry, |e| e.key().table_hash(hasher));
    }

    fn retire_entry(
        &mut self,
        entry: Entry<O>,
        cause: Retirement,
        at: Moment,
        retire: &mut dyn FnMut(Retired<O>),
    ) {
        let Entry { id, mut conn, .. } = entry;
        conn.finish(at, &mut self.budget);
        retire(Retired {
            id,
            conn,
            cause,
            at,
        });
    }

    /// Retires connections that closed (after a short linger for late
    /// packets) or sat idle past the flow timeout.
    pub fn sweep(&mut self, now: Moment, retire: &mut dyn FnMut(Retired<O>)) {
        let timeout = self.limits.idle_timeout;
        let mut gone: Vec<(u64, FlowKey)> = self
            .active
            .iter()
            .filter(|e| {
                let quiet = now.at.since(e.conn.last.at);
                quiet > timeout || (e.conn.state.is_over() && quiet > LINGER)
            })
            .map(|e| (e.id, e.key()))
            .collect();
        // In the order of their first packet, as at the end of input: the
        // hash map's order changes from run to run, a report must not.
        gone.sort_unstable_by_key(|&(id, _)| id);
        for (_, key) in gone {
            let Some(entry) = self.take(key.table_hash(&self.hasher), key) else {
                continue;
            };
            let (cause, at) = if entry.conn.state.is_over() {
                self.tombstones.insert(key, now.at + TOMBSTONE);
                (cause_of(&entry.conn), now)
            } else {
                self.stats.idle_evictions += 1;
                let at = Moment {
                    at: entry.conn.last.at + timeout,
                    frame: entry.conn.last.frame,
                };
                (Retirement::Idle, at)
            };
            self.retire_entry(*entry, cause, at, retire);
        }
        self.tombstones.retain(|_, until| *until >= now.at);
        let hasher = &self.hasher;
        self.active
            .shrink_to(self.active.len() * 2, |e| e.key().table_hash(hasher));
    }

    /// End of input: every connection still in the table, in the order of
    /// their first packet, delivered as it stands at `end`.
    pub fn finish(&mut self, end: Moment, retire: &mut dyn FnMut(Retired<O>)) {
        let mut rest: Vec<Box<Entry<O>>> = self.active.drain().collect();
        rest.sort_by_key(|e| e.id);
        let timeout = self.limits.idle_timeout;
        for entry in rest {
            let (cause, at) = match entry.conn.state {
                TcpState::Closed => (Retirement::Closed, end),
                TcpState::Reset => (Retirement::Aborted, end),
                // Idle past the timeout by the end: retired then, as it
                // would have been had a later packet come.
                _ if end.at.since(entry.conn.last.at) > timeout => {
                    self.stats.idle_evictions += 1;
                    let at = Moment {
                        at: entry.conn.last.at + timeout,
                        frame: entry.conn.last.frame,
                    };
                    (Retirement::Idle, at)
                }
                _ => (Retirement::Open, end),
            };
            self.retire_entry(*entry, cause, at, retire);
        }
        self.stats.ooo_peak_bytes = self.budget.peak;
    }

    /// Every connection in the table, with its id, in no particular
    /// order: what a live tap judges at each tick.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(u64, &mut Connection<O>)) {
        for entry in self.active.iter_mut() {
            f(entry.id, &mut entry.conn);
        }
    }

    pub fn open_connections(&self) -> usize {
        self.active.len()
    }

    /// Out-of-order bytes held now, and the most held since the last call
    /// (at least what is held now): what a driver that splits the
    /// connections across tables sums into one peak.
    pub fn ooo_held(&mut self) -> (u64, u64) {
        (self.budget.used(), self.budget.take_recent_peak())
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

    /// The id the next new connection gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Continues the numbering from `id`: two tables that count one
    /// capture's connections between them (the ones reported and the ones
    /// `--port`/`--host` leave out) hand the counter over, so an id is the
    /// same whatever is selected.
    pub fn set_next_id(&mut self, id: u64) {
        self.next_id = id;
    }
}

fn cause_of<O>(conn: &Connection<O>) -> Retirement {
    match conn.state {
        TcpState::Closed => Retirement::Closed,
        TcpState::Reset => Retirement::Aborted,
        _ => Retirement::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::FlowKey;

    /// A retired connection holds one key in the tombstones: two
    /// endpoints of 20 bytes and the 8-byte tunnel context, 48 bytes. An
    /// open one holds only a pointer in the table: its entry is its key.
    #[test]
    fn a_flow_key_stays_within_its_budget() {
        assert!(std::mem::size_of::<FlowKey>() <= 48);
    }
}
