//! `analyze --threads N`: the reader (the calling thread) reads, stamps,
//! filters and decodes every packet as one thread does, and sends each
//! TCP segment to the worker that holds its connection
//! ([`shard_of`]); each worker runs the flow table, the WebSocket session
//! and the judge of its own connections. The sweep schedule is the
//! stream's ([`SweepSchedule`](crate::tcp::SweepSchedule)), decided by the
//! reader and sent to every worker, and the [`Merger`] puts the workers'
//! retirements back in one table's order with the spec's ids: the report
//! is the one `--threads 1` writes, byte for byte.
//!
//! What one table bounds for all connections, each worker bounds for its
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
use crate::tcp::{shard_of, FlowTable, Limits, Retired, StreamObserver};
use crate::time::Timestamp;

/// Segments sent to each worker at once (and so the reader's lead, with
/// [`QUEUED`]: bounded memory whatever the input).
const BATCH: usize = 256;
/// Batches queued to one worker before the reader waits for it.
const QUEUED: usize = 4;

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

/// One worker's tables: the connections reported, and (with selectors)
/// those left out, which share its id counter as one [`Ingest`]'s do.
struct Worker<O> {
    index: usize,
    table: FlowTable<O>,
    others: Option<FlowTable<()>>,
    held: u64,
}

impl<O: StreamObserver> Worker<O> {
    fn step(
        &mut self,
        item: Item,
        bytes: &[u8],
        new_observer: &impl Fn(&Segment<'_>) -> O,
        out: &mut Vec<(u64, Event<O>)>,
    ) {
        let seq = match item {
            Item::Sweep { seq, now } => {
                self.table
                    .sweep(now, &mut |r| out.push((seq, Event::Retired(Box::new(r)))));
                if let Some(others) = self.others.as_mut() {
                    others.sweep(now, &mut |_| out.push((seq, Event::Gone)));
                }
                seq
            }
            Item::Packet {
                seq,
                now,
                segment,
                payload,
                selected,
            } => {
                let mut seg: Segment<'_> = segment;
                seg.payload = &bytes[payload];
                let before = self.table.next_id();
                match self.others.as_mut() {
                    Some(others) if !selected => {
                        others.set_next_id(before);
                        others.on_segment(&seg, now, |_| (), &mut |_| out.push((seq, Event::Gone)));
                        self.table.set_next_id(others.next_id());
                    }
                    _ => self.table.on_segment(&seg, now, new_observer, &mut |r| {
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
                seq
            }
        };
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

/// The reader's side: batches to the workers, reports back, merged.
pub(super) struct Sharded<'r, O> {
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

/// Runs `pass` with `threads` workers started in `scope`, each with the
/// tables `limits` and `server_ports` describe (and one for the
/// connections the selectors leave out when `selectors`).
pub(super) fn start<'scope, 'env, 'r, O, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    threads: usize,
    (limits, server_ports, selectors): (Limits, &[u16], bool),
    new_observer: &'env F,
    retire: &'r mut dyn FnMut(Retired<O>),
) -> Sharded<'r, O>
where
    O: StreamObserver + Send + 'env,
    F: Fn(&Segment<'_>) -> O + Sync,
{
    let (back_tx, back) = mpsc::channel();
    let mut orders = Vec::with_capacity(threads);
    for index in 0..threads {
        let (tx, rx) = mpsc::sync_channel(QUEUED);
        orders.push(tx);
        let worker = Worker {
            index,
            table: FlowTable::new(limits, server_ports.to_vec()),
            others: selectors.then(|| FlowTable::new(limits, Vec::new())),
            held: 0,
        };
        let back_tx = back_tx.clone();
        scope.spawn(move || work(worker, new_observer, rx, back_tx));
    }
    Sharded {
        orders,
        pending: (0..threads).map(|_| Work::default()).collect(),
        spare: Vec::new(),
        queued: 0,
        back,
        merger: Merger::new(threads, limits),
        seq: 0,
        done: (0..threads).map(|_| None).collect(),
        retire,
    }
}

impl<O> Sharded<'_, O> {
    /// Sends every worker its batch (empty ones too: they carry how far
    /// the stream reaches), then delivers what the workers have reported.
    fn flush(&mut self) {
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

impl<O: StreamObserver> Drive<O> for Sharded<'_, O> {
    fn packet(&mut self, ing: &mut Ingest<O>, packet: &Packet<'_>, at: Timestamp) {
        let Ok(r) = ing.route(packet, at) else {
            return;
        };
        if r.sweep {
            self.seq += 1;
            for work in &mut self.pending {
                work.items.push(Item::Sweep {
                    seq: self.seq,
                    now: r.now,
                });
            }
        }
        self.seq += 1;
        let work = &mut self.pending[shard_of(&r.segment, self.orders.len())];
        let start = work.bytes.len();
        work.bytes.extend_from_slice(r.segment.payload);
        work.items.push(Item::Packet {
            seq: self.seq,
            now: r.now,
            segment: detach(&r.segment),
            payload: start..work.bytes.len(),
            selected: r.selected,
        });
        self.queued += 1;
        if self.queued >= BATCH * self.orders.len() {
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
    /// passed: the workers then did not do what one table would have.
    fn finish(&mut self, _ing: &mut Ingest<O>, end: Moment) -> (Option<TableStats>, Vec<String>) {
        self.flush();
        for tx in std::mem::take(&mut self.orders) {
            let _ = tx.send(Order::Finish(end));
        }
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
        let threads = self.pending.len();
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
