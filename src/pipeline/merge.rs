//! Puts the reports of the workers that split a capture's connections
//! back into the order one flow table gives: by the packet that caused
//! them, a sweep's retirements by id, and ids counted in the order of the
//! connections' first packets (the spec's rule), whichever worker holds
//! them.

use std::collections::{HashMap, VecDeque};

use crate::tcp::{Limits, Retired};

/// What a worker's tables did at one step of the stream (a packet, or a
/// sweep every worker makes).
pub enum Event<O> {
    /// A connection started, with the worker's own id for it; `selected`
    /// is false for one that `--port`/`--host` leave out (it takes an id,
    /// and is never reported).
    Created { local: u64, selected: bool },
    /// A reported connection left its table (its id still the worker's);
    /// boxed, as a connection is large and the other events are small.
    Retired(Box<Retired<O>>),
    /// A connection the selectors leave out left its table.
    Gone,
    /// The worker's out-of-order bytes held after the step, and the most
    /// held during it (bytes).
    Ooo { held: u64, peak: u64 },
}

/// A worker's events for the steps sent to it, each tagged with the
/// step's place in the stream, and how far the stream it has seen
/// reaches: it makes no further event at or before `upto`.
pub struct Report<O> {
    pub worker: usize,
    pub events: Vec<(u64, Event<O>)>,
    pub upto: u64,
}

/// The merged order, and what only the sum of the tables knows: the most
/// connections open at once, the most out-of-order bytes held at once,
/// and whether a limit that one table applies to the sum was passed
/// (then the workers, each applying it to its own connections, did not
/// do what one table would have).
pub struct Merger<O> {
    queues: Vec<VecDeque<(u64, Event<O>)>>,
    upto: Vec<u64>,
    /// Per worker: its ids of the open reported connections → global ids.
    ids: Vec<HashMap<u64, u64>>,
    next_id: u64,
    /// Open connections: reported, and left out by the selectors.
    open: [u64; 2],
    /// Most reported connections open at once.
    pub peak_open: u64,
    held: Vec<u64>,
    held_sum: u64,
    /// Most out-of-order bytes held at once (bytes).
    pub ooo_peak: u64,
    limits: Limits,
    /// More than `--max-flows` were open at once.
    pub over_max_flows: bool,
    /// More than the out-of-order total was held at once.
    pub over_ooo_total: bool,
    step: Vec<Retired<O>>,
}

impl<O> Merger<O> {
    /// A merger for `workers` workers whose tables each apply `limits`.
    pub fn new(workers: usize, limits: Limits) -> Self {
        Merger {
            queues: (0..workers).map(|_| VecDeque::new()).collect(),
            upto: vec![0; workers],
            ids: (0..workers).map(|_| HashMap::new()).collect(),
            next_id: 1,
            open: [0; 2],
            peak_open: 0,
            held: vec![0; workers],
            held_sum: 0,
            ooo_peak: 0,
            limits,
            over_max_flows: false,
            over_ooo_total: false,
            step: Vec::new(),
        }
    }

    /// Takes a worker's report; nothing is delivered yet.
    pub fn push(&mut self, report: Report<O>) {
        let w = report.worker;
        self.queues[w].extend(report.events);
        self.upto[w] = self.upto[w].max(report.upto);
    }

    /// How far every worker has reported.
    pub fn upto(&self) -> u64 {
        self.upto.iter().copied().min().unwrap_or(u64::MAX)
    }

    /// Hands `retire` every retirement of the steps every worker is past,
    /// in stream order, with its global id.
    pub fn release(&mut self, retire: &mut dyn FnMut(Retired<O>)) {
        self.deliver_until(self.upto(), retire);
    }

    /// The end of input: every step's retirements, then every worker's
    /// connections still open (`rest[w]`, worker `w`'s), in the order of
    /// their first packets.
    pub fn finish(&mut self, rest: Vec<Vec<Retired<O>>>, retire: &mut dyn FnMut(Retired<O>)) {
        self.deliver_until(u64::MAX, retire);
        let mut all = Vec::new();
        for (w, list) in rest.into_iter().enumerate() {
            for r in list {
                all.push(self.global(w, r));
            }
        }
        all.sort_by_key(|r| r.id);
        all.into_iter().for_each(retire);
    }

    fn deliver_until(&mut self, safe: u64, retire: &mut dyn FnMut(Retired<O>)) {
        loop {
            let next = self
                .queues
                .iter()
                .filter_map(|q| q.front().map(|e| e.0))
                .min();
            let Some(seq) = next.filter(|&s| s <= safe) else {
                return;
            };
            for w in 0..self.queues.len() {
                while self.queues[w].front().is_some_and(|e| e.0 == seq) {
                    let Some((_, event)) = self.queues[w].pop_front() else {
                        break;
                    };
                    self.handle(w, event);
                }
            }
            // One packet's retirements come from one worker, in id order;
            // a sweep's from every worker: in id order, as one table's.
            self.step.sort_by_key(|r| r.id);
            self.step.drain(..).for_each(&mut *retire);
        }
    }

    fn handle(&mut self, w: usize, event: Event<O>) {
        match event {
            Event::Created { local, selected } => {
                let id = self.next_id;
                self.next_id += 1;
                let open = &mut self.open[usize::from(!selected)];
                *open += 1;
                if *open > self.limits.max_flows as u64 {
                    self.over_max_flows = true;
                }
                if selected {
                    self.ids[w].insert(local, id);
                    self.peak_open = self.peak_open.max(self.open[0]);
                }
            }
            Event::Retired(r) => {
                let r = self.global(w, *r);
                self.step.push(r);
            }
            Event::Gone => self.open[1] = self.open[1].saturating_sub(1),
            Event::Ooo { held, peak } => {
                let others = self.held_sum - self.held[w];
                self.ooo_peak = self.ooo_peak.max(others + peak);
                if others + peak > self.limits.max_ooo_bytes_total {
                    self.over_ooo_total = true;
                }
                self.held[w] = held;
                self.held_sum = others + held;
            }
        }
    }

    /// A reported connection of worker `w` leaves: its global id.
    fn global(&mut self, w: usize, mut r: Retired<O>) -> Retired<O> {
        self.open[0] = self.open[0].saturating_sub(1);
        // Every retired connection was created, and reported so, first.
        if let Some(id) = self.ids[w].remove(&r.id) {
            r.id = id;
        }
        r
    }
}
