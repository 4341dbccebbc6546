//! `analyze --threads N`: the reader (the calling thread) reads, stamps,
//! filters and decodes every packet as one thread does, and hands each
//! TCP segment to the thread that holds its connection ([`Buckets`]):
//! itself, for a smaller share of the connections as it also reads, or
//! one of N - 1 workers, in batches. Each runs the flow table, the
//! WebSocket session and the judge of its own connections. The sweep
//! schedule is the stream's ([`SweepSchedule`](crate::tcp::SweepSchedule)),
//! decided by the reader and followed by every table, and the [`Merger`]
//! puts the retirements back in one table's order with the spec's ids:
//! the report is the one `--threads 1` writes, byte for byte.
//!
//! What one table bounds for all connections, each thread bounds for its
//! own: `--max-flows` and `--max-ooo-total`. While the sum stays within
//! them the result is the same; past them it is not, and the pass says so
//! (see [`Sharded::finish`]).

use std::ops::Range;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use super::merge::{Event, Merger, Report};
use super::{Drive, Ingest};
use crate::capture::Packet;
use crate::decode::Segment;
use crate::evidence::Moment;
use crate::tcp::table::TableStats;
use crate::tcp::{FlowTable, Limits, Retired, StreamObserver};
use crate::time::Timestamp;

/// Segments sent to each worker at once, at most (and so the reader's
/// lead, with [`BATCH_BYTES`] and [`QUEUED`]: bounded memory whatever the
/// input).
const BATCH: usize = 512;
/// Payload bytes that send a worker's batch before it has [`BATCH`]
/// segments: its bytes stay under this plus one packet, however large
/// the packets.
const BATCH_BYTES: usize = 256 << 10;
/// Batches queued to one worker before the reader waits for it.
const QUEUED: usize = 8;

/// Which thread holds a connection: its hash ([`bucket`]) picks one of
/// [`Buckets::COUNT`] buckets, each held by one thread. The reader (thread
/// 0) holds fewer than a worker ([`READER_WEIGHT`]), as it also reads,
/// decodes and routes every packet, and writes the report.
struct Buckets(Vec<usize>);

/// The reader's share of the connections, as a fraction of a worker's.
/// Measured with `--threads 2` (CPU samples per thread): on a 1.1 GB
/// capture of 1,000 connections, reading, decoding and routing every
/// packet cost the reader about 40% of all CPU, following the
/// connections the rest, so the reader holds an eighth of them (51% of
/// samples on the reader, 49% on the worker; 54/46 at 0.25, 60/40 at
/// 0.4); on a capture of 50,000 connections the reader also writes a far
/// larger report (62/38 at this weight), where less would be better
/// still.
const READER_WEIGHT: f64 = 0.15;

impl Buckets {
    /// Buckets, many more than threads: the split follows the weights
    /// closely.
    const BITS: u32 = 10;
    const COUNT: usize = 1 << Self::BITS;

    /// Buckets for the reader and `threads - 1` workers (`threads` ≥ 1).
    fn new(threads: usize) -> Self {
        let workers = threads.saturating_sub(1);
        let share = READER_WEIGHT / (READER_WEIGHT + workers as f64);
        let own = ((Self::COUNT as f64 * share).round() as usize).min(Self::COUNT);
        let mut map = vec![0; Self::COUNT];
        for (i, slot) in map.iter_mut().enumerate().skip(own) {
            *slot = 1 + (i - own) % workers.max(1);
        }
        Buckets(map)
    }

    /// The thread that holds `seg`'s connection: 0 for the reader.
    fn of(&self, seg: &Segment<'_>) -> usize {
        self.0[bucket(seg)]
    }
}

/// `seg`'s bucket, below [`Buckets::COUNT`]: the same for every segment
/// with the same addresses, ports and tunnel, in either direction (so a
/// connection, port reuse and tombstones stay in one table), in every
/// run. The endpoints' hashes are added, so the direction does not count, and no sort is needed: this runs on the
/// reader for every packet. A skewed split costs speed, not results.
fn bucket(seg: &Segment<'_>) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    fn end((ip, port): (std::net::IpAddr, u16)) -> u64 {
        let a = match ip {
            std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
            std::net::IpAddr::V6(a) => {
                let x = u128::from(a);
                (x as u64) ^ ((x >> 64) as u64).rotate_left(32)
            }
        };
        (a.rotate_left(16) ^ u64::from(port)).wrapping_mul(K)
    }
    let h = end(seg.src).wrapping_add(end(seg.dst)) ^ seg.tunnel.context;
    // The high bits of a product mix every bit of the key.
    (h.wrapping_mul(K) >> (64 - Buckets::BITS)) as usize
}

/// One step of the stream for a worker.
enum Item {
    /// A segment of one of its connections; its payload is
    /// `payload` of the batch's bytes.
    Packet {
        seq: u64,
        now: Moment,
        segment: Segment<'static>,
        payload: Range<usize>,
        selected: bool,
    },
    /// Every table sweeps at `now`.
    Sweep { seq: u64, now: Moment },
}

/// Steps for one worker, and how far the stream they come from reaches.
#[derive(Default)]
struct Work {
    items: Vec<Item>,
    bytes: Vec<u8>,
    upto: u64,
}

enum Order {
    Work(Work),
    /// The end of input, as of this moment.
    Finish(Moment),
}

enum Back<O> {
    /// What a batch did, and the batch's emptied buffers, to fill again.
    Report(Report<O>, Work),
    /// The worker's connections open at the end, and its table's counts.
    Done {
        worker: usize,
        rest: Vec<Retired<O>>,
        stats: TableStats,
    },
}

/// The segment with no payload: what crosses to a worker beside the bytes.
fn detach(s: &Segment<'_>) -> Segment<'static> {
    Segment {
        src: s.src,
        dst: s.dst,
        seq: s.seq,
        ack: s.ack,
        flags: s.flags,
        window: s.window,
        syn_options: s.syn_options,
        payload: &[],
        wire_len: s.wire_len,
        header_len: s.header_len,
        ip_id: s.ip_id,
        tunnel: s.tunnel,
    }
}

/// One thread's tables: the connections reported, and (with selectors)
/// those left out, which share its id counter as one [`Ingest`]'s do.
struct Worker<O> {
    index: usize,
    table: FlowTable<O>,
    others: Option<FlowTable<()>>,
    held: u64,
}

impl<O: StreamObserver> Worker<O> {
    fn new(index: usize, (limits, server_ports, selectors): (Limits, &[u16], bool)) -> Self {
        Worker {
            index,
            table: FlowTable::new(limits, server_ports.to_vec()),
            others: selectors.then(|| FlowTable::new(limits, Vec::new())),
            held: 0,
        }
    }

    /// An item of a batch whose payload bytes are `bytes`.
    fn step(
        &mut self,
        item: Item,
        bytes: &[u8],
        new_observer: &impl Fn(&Segment<'_>) -> O,
        out: &mut Vec<(u64, Event<O>)>,
    ) {
        match item {
            Item::Sweep { seq, now } => self.sweep(seq, now, out),
            Item::Packet {
                seq,
                now,
                segment,
                payload,
                selected,
            } => {
                let mut seg: Segment<'_> = segment;
                seg.payload = &bytes[payload];
                self.segment(seq, now, &seg, selected, new_observer, out);
            }
        }
    }

    /// Every table sweeps at `now`, step `seq` of the stream.
    fn sweep(&mut self, seq: u64, now: Moment, out: &mut Vec<(u64, Event<O>)>) {
        self.table
            .sweep(now, &mut |r| out.push((seq, Event::Retired(Box::new(r)))));
        if let Some(others) = self.others.as_mut() {
            others.sweep(now, &mut |_| out.push((seq, Event::Gone)));
        }
        self.held_after(seq, out);
    }

    /// `seg`, step `seq` of the stream, at `now`, to the table `selected`
    /// names.
    fn segment(
        &mut self,
        seq: u64,
        now: Moment,
        seg: &Segment<'_>,
        selected: bool,
        new_observer: &impl Fn(&Segment<'_>) -> O,
        out: &mut Vec<(u64, Event<O>)>,
    ) {
        let before = self.table.next_id();
        match self.others.as_mut() {
            Some(others) if !selected => {
                others.set_next_id(before);
                others.on_segment(seg, now, |_| (), &mut |_| out.push((seq, Event::Gone)));
                self.table.set_next_id(others.next_id());
            }
            _ => self.table.on_segment(seg, now, new_observer, &mut |r| {
                out.push((seq, Event::Retired(Box::new(r))))
            }),
        }
        if self.table.next_id() != before {
            out.push((
                seq,
                Event::Created {
                    local: before,
                    selected,
                },
            ));
        }
        self.held_after(seq, out);
    }

    fn held_after(&mut self, seq: u64, out: &mut Vec<(u64, Event<O>)>) {
        let (held, peak) = self.table.ooo_held();
        if held != self.held || peak != self.held {
            out.push((seq, Event::Ooo { held, peak }));
            self.held = held;
        }
    }
}

/// A worker's loop: steps until the end of input (or until the reader
/// is gone).
fn work<O: StreamObserver>(
    mut worker: Worker<O>,
    new_observer: &impl Fn(&Segment<'_>) -> O,
    orders: Receiver<Order>,
    back: Sender<Back<O>>,
) {
    for order in orders {
        match order {
            Order::Work(w) => {
                let mut w = w;
                let mut events = Vec::new();
                for item in w.items.drain(..) {
                    worker.step(item, &w.bytes, new_observer, &mut events);
                }
                w.bytes.clear();
                let report = Report {
                    worker: worker.index,
                    events,
                    upto: w.upto,
                };
                if back.send(Back::Report(report, w)).is_err() {
                    return;
                }
            }
            Order::Finish(end) => {
                let mut rest = Vec::new();
                worker.table.finish(end, &mut |r| rest.push(r));
                let stats = worker.table.stats();
                let _ = back.send(Back::Done {
                    worker: worker.index,
                    rest,
                    stats,
                });
                return;
            }
        }
    }
}

/// The reader's side: its own connections, batches to the workers,
/// reports back, merged.
pub(super) struct Sharded<'r, 'f, O, F> {
    /// The connections the reader holds itself (thread 0).
    own: Worker<O>,
    /// What they did since the last flush.
    own_events: Vec<(u64, Event<O>)>,
    new_observer: &'f F,
    buckets: Buckets,
    /// To workers 1.. (index 0 is worker 1's).
    orders: Vec<SyncSender<Order>>,
    pending: Vec<Work>,
    /// Batches the workers are done with, to fill again: no allocation
    /// (and no page faults) per batch.
    spare: Vec<Work>,
    queued: usize,
    back: Receiver<Back<O>>,
    merger: Merger<O>,
    seq: u64,
    done: Vec<Option<(Vec<Retired<O>>, TableStats)>>,
    retire: &'r mut dyn FnMut(Retired<O>),
}

/// Runs `pass` on `threads` threads (`threads` ≥ 2): the reader, and
/// `threads - 1` workers started in `scope`, each with the tables
/// `limits` and `server_ports` describe (and one for the connections the
/// selectors leave out when `selectors`).
pub(super) fn start<'scope, 'env, 'r, O, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    threads: usize,
    shape: (Limits, &[u16], bool),
    new_observer: &'env F,
    retire: &'r mut dyn FnMut(Retired<O>),
) -> Sharded<'r, 'env, O, F>
where
    O: StreamObserver + Send + 'env,
    F: Fn(&Segment<'_>) -> O + Sync,
{
    let threads = threads.max(2);
    let (back_tx, back) = mpsc::channel();
    let mut orders = Vec::with_capacity(threads - 1);
    for index in 1..threads {
        let (tx, rx) = mpsc::sync_channel(QUEUED);
        orders.push(tx);
        let worker = Worker::new(index, shape);
        let back_tx = back_tx.clone();
        scope.spawn(move || work(worker, new_observer, rx, back_tx));
    }
    Sharded {
        own: Worker::new(0, shape),
        own_events: Vec::new(),
        new_observer,
        buckets: Buckets::new(threads),
        orders,
        pending: (1..threads).map(|_| Work::default()).collect(),
        spare: Vec::new(),
        queued: 0,
        back,
        merger: Merger::new(threads, shape.0),
        seq: 0,
        done: (0..threads).map(|_| None).collect(),
        retire,
    }
}

impl<O, F> Sharded<'_, '_, O, F> {
    /// Sends every worker its batch (empty ones too: they carry how far
    /// the stream reaches), then delivers what every thread has reported.
    fn flush(&mut self) {
        self.merger.push(Report {
            worker: 0,
            events: std::mem::take(&mut self.own_events),
            upto: self.seq,
        });
        for (w, tx) in self.orders.iter().enumerate() {
            let fresh = self.spare.pop().unwrap_or_default();
            let mut work = std::mem::replace(&mut self.pending[w], fresh);
            work.upto = self.seq;
            // A worker gone has panicked: the scope's join says so.
            let _ = tx.send(Order::Work(work));
        }
        self.queued = 0;
        while let Ok(b) = self.back.try_recv() {
            self.take(b);
        }
        self.merger.release(self.retire);
    }

    fn take(&mut self, back: Back<O>) {
        match back {
            Back::Report(r, spare) => {
                self.merger.push(r);
                // As many as can be in flight; past that, freed.
                if self.spare.len() < self.orders.len() * (QUEUED + 2) {
                    self.spare.push(spare);
                }
            }
            Back::Done {
                worker,
                rest,
                stats,
            } => self.done[worker] = Some((rest, stats)),
        }
    }
}

impl<O: StreamObserver, F: Fn(&Segment<'_>) -> O> Drive<O> for Sharded<'_, '_, O, F> {
    fn packet(&mut self, ing: &mut Ingest<O>, packet: &Packet<'_>, at: Timestamp) {
        let Ok(r) = ing.route(packet, at) else {
            return;
        };
        if r.sweep {
            self.seq += 1;
            self.own.sweep(self.seq, r.now, &mut self.own_events);
            for work in &mut self.pending {
                work.items.push(Item::Sweep {
                    seq: self.seq,
                    now: r.now,
                });
            }
        }
        self.seq += 1;
        let full = match self.buckets.of(&r.segment) {
            0 => {
                let own = &mut self.own_events;
                let seg = &r.segment;
                self.own
                    .segment(self.seq, r.now, seg, r.selected, self.new_observer, own);
                false
            }
            w => {
                let work = &mut self.pending[w - 1];
                let start = work.bytes.len();
                work.bytes.extend_from_slice(r.segment.payload);
                work.items.push(Item::Packet {
                    seq: self.seq,
                    now: r.now,
                    segment: detach(&r.segment),
                    payload: start..work.bytes.len(),
                    selected: r.selected,
                });
                work.bytes.len() >= BATCH_BYTES
            }
        };
        self.queued += 1;
        if self.queued >= BATCH * (self.orders.len() + 1) || full {
            self.flush();
        }
    }

    /// Waits until every worker has taken every segment sent so far: keys
    /// read from the input reach a connection no sooner than with one
    /// thread.
    fn catch_up(&mut self) {
        self.flush();
        while self.merger.upto() < self.seq {
            match self.back.recv() {
                Ok(b) => self.take(b),
                Err(_) => break,
            }
        }
        self.merger.release(self.retire);
    }

    /// Also counts in the report what only the sum of the tables knows,
    /// and returns a note when a limit one table applies to the sum was
    /// passed: the threads then did not do what one table would have.
    fn finish(&mut self, _ing: &mut Ingest<O>, end: Moment) -> (Option<TableStats>, Vec<String>) {
        self.flush();
        for tx in std::mem::take(&mut self.orders) {
            let _ = tx.send(Order::Finish(end));
        }
        let mut rest = Vec::new();
        self.own.table.finish(end, &mut |r| rest.push(r));
        self.done[0] = Some((rest, self.own.table.stats()));
        while self.done.iter().any(Option::is_none) {
            match self.back.recv() {
                Ok(b) => self.take(b),
                Err(_) => break,
            }
        }
        let (rests, stats): (Vec<_>, Vec<_>) =
            self.done.iter_mut().filter_map(Option::take).unzip();
        self.merger.finish(rests, self.retire);
        let mut sum = TableStats::default();
        for s in stats {
            sum.connections += s.connections;
            sum.idle_evictions += s.idle_evictions;
            sum.flows_refused += s.flows_refused;
            sum.untracked_packets += s.untracked_packets;
            sum.after_close_packets += s.after_close_packets;
            sum.ooo_overflows += s.ooo_overflows;
        }
        sum.peak_connections = self.merger.peak_open;
        sum.ooo_peak_bytes = self.merger.ooo_peak;
        let threads = self.done.len();
        let mut notes = Vec::new();
        if self.merger.over_max_flows {
            notes.push(format!("more than --max-flows connections were open at once: each of the {threads} threads applied the limit to its own, so more were tracked than with --threads 1 (give it for the limit as set)"));
        }
        if self.merger.over_ooo_total {
            notes.push(format!("more than --max-ooo-total out-of-order bytes were held at once: each of the {threads} threads applied the limit to its own connections, so more were held than with --threads 1 (give it for the limit as set)"));
        }
        (Some(sum), notes)
    }
}
