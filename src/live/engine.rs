//! The live tap's engine: packets in (the same steps as `analyze`, through
//! [`Ingest`]), and at every tick of the capture clock every connection
//! judged, its verdict compared with the one last reported, and a record
//! written when it changed. Connections that end are judged a last time,
//! written and freed, so memory follows the connections open at once.

use std::time::{Duration, Instant};

use super::book::Book;
use super::clock::{LiveClock, Ticks};
use super::extracting::Extractor;
use super::output::Output;
use super::publish::Publisher;
use super::saving::Saver;
use super::sockets::{beside_packets, sides_of, SocketSource};
use super::source::{Batch, End};
use crate::capture::KernelStats;
use crate::config::LiveConfig;
use crate::evidence::Moment;
use crate::liveness::Verdict;
use crate::pipeline::{Ingest, Judging, Step, Tracked};
use crate::report::findings::{ConnectionFindings, Summary};
use crate::report::live::{self, ConnectionRef, StatsRecord, VerdictRecord};
use crate::report::model::{Address, CaptureInfo, FileInfo};
use crate::report::reasons::ReasonJson;
use crate::report::table;
use crate::secret::pseudonym::Pseudonyms;
use crate::sockets::Reading;
use crate::tcp::Connection;
use crate::time::{Span, Timestamp};

/// How long a tick that only the wall clock reached waits for packets
/// still on their way (in the kernel, a pipe, or ssh), so a Pong already
/// on the wire is not judged missing.
pub const SETTLE: Span = Span::from_millis(100);

/// What the engine saw, for the final report.
pub struct Outcome {
    /// `--fail-on` matched at some time during the run.
    pub failed: bool,
    /// Lines for stderr: limits hit, skipped ticks.
    pub notes: Vec<String>,
    /// Lines for stderr: packets lost, damaged input.
    pub warnings: Vec<String>,
}

/// The engine of one run.
pub struct Engine<'a> {
    ingest: Ingest<Tracked>,
    book: Book<'a>,
    clock: LiveClock,
    ticks: Ticks,
    stats_ticks: Ticks,
    source: String,
    packets: u64,
    bytes: u64,
    /// Packets past the filter expression, for `--count`.
    counted: u64,
    /// The capture-clock time and packet count of the last stats record.
    last_stats: Option<(Timestamp, u64)>,
    kernel: Option<KernelStats>,
    /// Drops already said on stderr.
    drops_said: (u64, u64),
    queue: (usize, u64),
    /// Nothing is written before the input shows it is a capture.
    begun: bool,
    /// `--metrics`.
    publisher: Option<Publisher>,
    /// `--write`.
    saver: Option<Saver>,
}

impl<'a> Engine<'a> {
    /// `wall_now` is the wall clock read at `started`: "now" until the
    /// first packet. `source` names the input (interface or path).
    pub fn new(
        config: &LiveConfig,
        judging: &'a Judging,
        out: Output,
        source: String,
        (wall_now, started): (Timestamp, Instant),
    ) -> Result<Self, String> {
        // With -i the kernel applies the filter expression; with -r, we do.
        let filter = match config.source {
            crate::config::LiveSource::Stream(_) => config.filter.as_deref(),
            crate::config::LiveSource::Interface(_) => None,
        };
        let ingest = Ingest::new(
            config.limits,
            config.server_ports(),
            config.selectors.clone(),
            filter,
        )?;
        let mut ticks = Ticks::new(config.interval);
        let mut stats_ticks = Ticks::new(config.stats_interval);
        ticks.start(wall_now);
        stats_ticks.start(wall_now);
        Ok(Engine {
            ingest,
            book: Book {
                judging,
                out,
                summary: Summary::default(),
                retired: 0,
                fail_on: config.fail_on,
                failed: false,
                error: None,
                extractor: None,
                pseudonyms: None,
            },
            clock: LiveClock::new(wall_now, started),
            ticks,
            stats_ticks,
            source,
            packets: 0,
            bytes: 0,
            counted: 0,
            last_stats: None,
            kernel: None,
            drops_said: (0, 0),
            queue: (0, 0),
            begun: false,
            publisher: None,
            saver: None,
        })
    }

    /// Serves each tick's counts as Prometheus metrics (`--metrics`).
    pub fn publish(&mut self, publisher: Publisher) {
        self.publisher = Some(publisher);
    }

    /// Saves every packet (`--write`); findings then cite the saved frames.
    pub fn save(&mut self, saver: Saver) {
        self.saver = Some(saver);
    }

    /// Names hosts by these pseudonyms in every record (`--redact`).
    pub fn redact(&mut self, pseudonyms: Pseudonyms) {
        self.book.pseudonyms = Some(pseudonyms);
    }

    /// Keeps the packets of connections that leave `alive` (`--extract`).
    pub fn extract(&mut self, extractor: Extractor) {
        self.book.extractor = Some(extractor);
    }

    /// Writing failed, or the reader of stdout went away: nothing more
    /// can be said, so the run stops.
    pub fn output_gone(&self) -> bool {
        self.book.out.is_closed() || self.book.error.is_some()
    }

    /// Draws the view on the terminal from now on.
    pub fn show(&mut self, view: super::view::View) {
        self.book.out.show(view);
    }

    /// The input is a capture: the report begins (the NDJSON header), and
    /// ticks run from now on.
    pub fn begin(&mut self) -> Result<(), String> {
        self.begun = true;
        self.book.out.begin()
    }

    /// Takes a batch that reached the tap at `arrived`. Each packet first
    /// lets the ticks before it run, so a connection is judged at each
    /// tick with exactly the packets before it, however packets are
    /// batched. Returns true once `count` packets passed the filter.
    pub fn on_batch(&mut self, batch: &Batch, arrived: Instant, count: Option<u64>) -> bool {
        for packet in batch.iter() {
            if count.is_some_and(|n| self.counted >= n) {
                return true;
            }
            let mut packet = packet;
            if let Some(saver) = &mut self.saver {
                match saver.save(&packet) {
                    Ok(Some(frame)) => packet.frame = frame,
                    Ok(None) => {}
                    Err(e) => {
                        self.book.check(Err(e));
                        return true;
                    }
                }
            }
            let at = self.ingest.stamp(&packet);
            if !self.clock.has_packets() {
                // The capture's own time from now on (a replay may be old):
                // what the wall clock ticked before it does not count.
                self.ticks.start(at);
                self.stats_ticks.start(at);
                self.last_stats = None;
            }
            self.clock.on_packet(at, arrived);
            self.run_ticks(at);
            self.packets += 1;
            self.bytes += u64::from(packet.orig_len);
            let judging = self.book.judging;
            let book = &mut self.book;
            let step = self
                .ingest
                .apply(&packet, at, |seg| judging.observer(seg), &mut |r| {
                    book.retire(r)
                });
            if step != Step::FilteredOut {
                self.counted += 1;
            }
            if let (Step::Routed, Some(x)) = (step, &mut self.book.extractor) {
                let result = x.on_packet(&packet, at);
                self.book.check(result);
            }
        }
        count.is_some_and(|n| self.counted >= n)
    }

    /// Runs the ticks the wall clock reached (less [`SETTLE`]) with no
    /// packet to reach them: silence is judged while it lasts.
    pub fn on_wall(&mut self, wall: Instant) {
        if !self.begun {
            return;
        }
        let now = self.clock.now(wall);
        let now = if self.clock.has_packets() {
            Timestamp::from_nanos(now.nanos().saturating_sub(SETTLE.nanos()))
        } else {
            now
        };
        self.run_ticks(now);
    }

    /// `live --sockets`: one dump of the host's sockets, read at `wall`,
    /// fed to the captured connections whose end is a socket here (matched
    /// by 4-tuple, which also says the side). Stamped on the capture clock
    /// less [`SETTLE`], never before the last packet, after the ticks
    /// before it ran: the judge takes events in time order.
    pub fn on_sockets(&mut self, dump: &[Reading], wall: Instant, source: &mut SocketSource) {
        if !self.begun {
            return;
        }
        let now = self.clock.now(wall);
        let settled = Timestamp::from_nanos(now.nanos().saturating_sub(SETTLE.nanos()));
        let at = settled.max(self.ingest.last_routed().at);
        self.run_ticks(at);
        let index = SocketSource::index(dump);
        self.ingest.table.for_each_mut(|_, conn| {
            let (client, server) = (conn.client.into(), conn.server.into());
            for (side, reading) in sides_of(&index, client, server) {
                if let Some(e) = beside_packets(reading, side, source.mark(at)) {
                    conn.observer.judge.on_event(&e);
                }
            }
        });
    }

    /// When the wall clock next makes a tick due.
    pub fn next_wake(&self) -> Instant {
        let settle = if self.clock.has_packets() {
            Duration::from_nanos(SETTLE.nanos() as u64)
        } else {
            Duration::ZERO
        };
        match self.ticks.next() {
            Some(t) => self.clock.wall_at(t) + settle,
            None => Instant::now() + Duration::from_secs(1),
        }
    }

    /// libpcap's latest counters.
    pub fn on_kernel(&mut self, k: KernelStats) {
        self.kernel = Some(k);
    }

    /// The packet queue's bound and how often its reader waited.
    pub fn on_queue(&mut self, queue: (usize, u64)) {
        self.queue = queue;
    }

    fn run_ticks(&mut self, until: Timestamp) {
        while let Some(at) = self.ticks.due(until) {
            let stats = std::iter::from_fn(|| self.stats_ticks.due(at)).count() > 0;
            self.tick(at, stats);
        }
    }

    /// One tick at `at`: ended and idle connections retired, every other
    /// one judged, changes written (in id order), the view redrawn, and a
    /// stats record when `stats`.
    fn tick(&mut self, at: Timestamp, stats: bool) {
        let began = Instant::now();
        if let Some(p) = &mut self.publisher {
            p.begin_tick();
        }
        let moment = Moment {
            at,
            frame: self.ingest.last_routed().frame,
        };
        let book = &mut self.book;
        self.ingest.table.sweep(moment, &mut |r| book.retire(r));
        let redact = &self.book.judging.redact;
        let mut changes = Vec::new();
        let mut flagged = Vec::new();
        let extracting = self.book.extractor.is_some();
        let mut counts = [0u64; Verdict::ALL.len()];
        // Every verdict with its id only for the view, to pick what fits.
        let mut ranked = self.book.out.has_view().then(Vec::new);
        let publisher = &mut self.publisher;
        self.ingest.table.for_each_mut(|id, conn| {
            let t = &mut conn.observer;
            if !t.session.is_judged() {
                return;
            }
            // The verdict alone for all; the reasons for those that changed.
            let verdict = t.judge.verdict(at);
            counts[verdict as usize] += 1;
            if let Some(ranked) = &mut ranked {
                ranked.push((verdict, id));
            }
            // Reasons hold only on connections that are not alive.
            let mut reasons = None;
            if let (Some(p), false) = (publisher.as_mut(), verdict == Verdict::Alive) {
                let held = t.judge.judge(at).reasons;
                p.reasons(&held);
                reasons = Some(held);
            }
            if verdict != t.reported {
                if extracting && verdict != Verdict::Alive {
                    flagged.push((id, conn.client, conn.server));
                }
                let reasons = reasons.unwrap_or_else(|| t.judge.judge(at).reasons);
                changes.push(VerdictRecord {
                    at,
                    connection: connection_ref(id, conn),
                    from: conn.observer.reported,
                    to: verdict,
                    reasons: ReasonJson::all(&reasons, redact),
                });
                conn.observer.reported = verdict;
            }
        });
        changes.sort_by_key(|c| c.connection.id);
        for change in changes {
            self.book.change(change);
        }
        if let Some(x) = &mut self.book.extractor {
            flagged.sort_by_key(|f| f.0);
            let mut result = Ok(());
            for (id, client, server) in flagged {
                result = result.and(x.flag(id, client, server));
            }
            self.book.check(result);
        }
        if let Some(saver) = &mut self.saver {
            let result = saver.flush();
            self.book.check(result);
        }
        let publish = self.publisher.is_some();
        let record = (stats || publish || ranked.is_some()).then(|| self.stats(at, &counts));
        if let (Some(p), Some(record)) = (&mut self.publisher, &record) {
            p.end_tick(began.elapsed(), record);
        }
        if let (Some(record), Some(ranked)) = (&record, ranked) {
            self.draw(at, record, ranked);
        }
        if let (true, Some(record)) = (stats, record) {
            self.say_drops();
            self.last_stats = Some((at, self.packets));
            let result = self.book.out.stats(&record);
            self.book.check(result);
        }
    }

    /// The view, if any: the worst connections first, as many as fit.
    fn draw(&mut self, at: Timestamp, status: &StatsRecord, mut verdicts: Vec<(Verdict, u64)>) {
        let Some(fit) = self.book.out.view_rows() else {
            return;
        };
        verdicts.sort_unstable();
        let shown: std::collections::HashSet<u64> =
            verdicts.iter().take(fit).map(|&(_, id)| id).collect();
        let redact = &self.book.judging.redact;
        let pseudonyms = &mut self.book.pseudonyms;
        let mut rows = Vec::with_capacity(shown.len());
        self.ingest.table.for_each_mut(|id, conn| {
            if shown.contains(&id) {
                let mut c = ConnectionFindings::new(id, conn, at, None, redact);
                if let Some(p) = pseudonyms.as_mut() {
                    (c.client.ip, c.server.ip) = (p.of(c.client.ip), p.of(c.server.ip));
                }
                rows.push(table::findings_row(&c));
            }
        });
        let hidden = verdicts.len() - rows.len();
        self.book.out.draw(at, status, rows, hidden);
    }

    /// `counts`: open WebSocket connections by verdict, in
    /// [`Verdict::ALL`]'s order.
    fn stats(&self, at: Timestamp, counts: &[u64; Verdict::ALL.len()]) -> StatsRecord {
        let table = self.ingest.table.stats();
        let (since, before) = self
            .last_stats
            .unwrap_or((self.ingest.capture.first_packet.unwrap_or(at), 0));
        let span = at.since(since).secs_f64();
        let packets = self.packets - before;
        StatsRecord {
            at,
            packets: self.packets,
            packets_per_s: if span > 0.0 {
                (packets as f64 / span * 10.0).round() / 10.0
            } else {
                0.0
            },
            bytes: self.bytes,
            connections_open: self.ingest.table.open_connections() as u64,
            connections_total: table.connections,
            retired: self.book.retired,
            verdicts: Verdict::ALL
                .iter()
                .map(|v| (v.name(), counts[*v as usize]))
                .collect(),
            capture: self.kernel,
            rss_bytes: live::rss_bytes(),
            limits_hit: live::limits_hit(&self.ingest.table.limits(), &table, self.queue),
        }
    }

    /// New kernel drops, said once per stats interval on stderr (or in
    /// the view).
    fn say_drops(&mut self) {
        let Some(k) = self.kernel else { return };
        if (k.dropped, k.if_dropped) == self.drops_said {
            return;
        }
        let new = k.dropped.saturating_sub(self.drops_said.0)
            + k.if_dropped.saturating_sub(self.drops_said.1);
        self.drops_said = (k.dropped, k.if_dropped);
        if new > 0 {
            if let Some(w) = live::drop_warning(&k) {
                self.book.out.warn(format!("{new} more packets lost: {w}"));
            }
        }
    }

    /// Stops: the ticks up to the wall clock's "now" (or the end a pcapng
    /// stream recorded, if later), one last judgement at that instant
    /// (with a stats record), every connection still open written, then
    /// the summary. `input` says how the input ended, if it did.
    pub fn finish(
        mut self,
        wall: Instant,
        kernel: Option<KernelStats>,
        input: End,
    ) -> Result<Outcome, String> {
        if let Some(k) = kernel {
            self.kernel = Some(k);
        }
        if !self.begun {
            // Stopped before the input showed anything: an empty report.
            let result = self.begin();
            self.book.check(result);
        }
        let recorded_end = input.recorded_end.map(|e| self.ingest.clock.rebase(e));
        let warning = input.warning;
        let end = self
            .clock
            .now(wall)
            .max(recorded_end.unwrap_or(Timestamp::MIN));
        self.ingest.capture.recorded_end = recorded_end;
        self.run_ticks(end);
        if self.last_stats.is_none_or(|(at, _)| at != end) {
            self.tick(end, true);
        }
        let moment = Moment {
            at: end,
            frame: self.ingest.last_routed().frame,
        };
        let book = &mut self.book;
        self.ingest.table.finish(moment, &mut |r| book.retire(r));
        self.ingest.settle();
        let mut capture = std::mem::take(&mut self.ingest.capture);
        capture.evaluation_time = Some(end);
        capture.evaluation_basis = "capture_clock";
        capture.kernel = self.kernel;
        capture.files = vec![FileInfo {
            path: self.source.clone(),
            packets: self.packets,
            error: warning.clone(),
        }];
        let mut warnings: Vec<String> = warning.into_iter().collect();
        warnings.extend(self.kernel.as_ref().and_then(live::drop_warning));
        let mut notes = table::limits_hit(&capture);
        if let Some(x) = &self.book.extractor {
            notes.extend(x.note());
        }
        if self.ticks.skipped() > 0 {
            notes.push(format!(
                "{} ticks skipped where the capture clock jumped ahead: changes in them show at the tick after",
                self.ticks.skipped()
            ));
        }
        if let Some(saver) = &mut self.saver {
            let result = saver.flush();
            self.book.check(result);
            let paths: Vec<String> = saver
                .paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            if !paths.is_empty() {
                notes.push(format!(
                    "the captured packets are saved in {}: the findings' frames are theirs",
                    paths.join(", ")
                ));
            }
            if saver.other_link > 0 {
                notes.push(format!(
                    "{} packets of another link type than the first were not saved (a pcap file holds one)",
                    saver.other_link
                ));
            }
        }
        let line = summary_line(&self.book.summary, &capture);
        let Book {
            out,
            error,
            summary,
            failed,
            ..
        } = self.book;
        if let Some(e) = error {
            return Err(e);
        }
        out.finish(capture, summary, warnings.clone(), &line)?;
        Ok(Outcome {
            failed,
            notes,
            warnings,
        })
    }
}

fn connection_ref(id: u64, conn: &Connection<Tracked>) -> ConnectionRef {
    ConnectionRef {
        id,
        client: Address::from(conn.client),
        server: Address::from(conn.server),
    }
}

/// analyze's summary line, with libpcap's drops when there were any.
fn summary_line(summary: &Summary, capture: &CaptureInfo) -> String {
    let mut line = table::findings_summary_line(summary, capture);
    if let Some(k) = capture.kernel {
        if k.dropped > 0 || k.if_dropped > 0 {
            line.push_str(&format!(
                "; the capture lost {} packets (findings of that period may be incomplete)",
                k.dropped + k.if_dropped
            ));
        }
    }
    line
}
