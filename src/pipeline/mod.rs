//! One pass over the input: packets → segments → connections → judged
//! connections, handed to the report as they retire.
//!
//! This is the passive path's driver. It owns the capture clock and the
//! evaluation time; the stages below it take time as a parameter.

pub mod ingest;
pub mod merge;
pub mod series;
mod sharded;
pub mod tracked;

use std::cell::RefCell;

use crate::capture::file::{CaptureError, FileOutcome, Input};
use crate::capture::set::read_set_noting;
use crate::capture::{Packet, SecretsSink};
use crate::config::{AnalyzeConfig, At};
use crate::decode;
use crate::evidence::Moment;
use crate::report::model::{CaptureInfo, FileInfo};
use crate::tcp::table::TableStats;
use crate::tcp::{Retired, StreamObserver};
use crate::time::{Span, Timestamp};
use crate::websocket::tls::KeyStore;

pub use ingest::{Ingest, Routed, Step};
pub use tracked::{Judging, Tracked};

/// What the pass learned about the input itself: the report's capture
/// object, filled as packets go by, and what only the driver needs.
#[derive(Default)]
pub struct Pass {
    pub capture: CaptureInfo,
    /// `--at`, resolved against the first packet.
    pub cutoff: Option<Timestamp>,
    /// Damaged or unreadable inputs: the report covers what came before.
    pub warnings: Vec<CaptureError>,
    /// Packets whose recorded time no `Timestamp` holds (kept, with the
    /// previous packet's time).
    pub unrepresentable_times: u64,
    /// What the order of the inputs called for: read in another order
    /// than given, or merged where their times overlap.
    pub input_notes: Vec<String>,
}

/// A stream on stdin whose last packet is this close to the wall clock is
/// a capture being written (`tcpdump -w - | wspulse analyze -`): judged at
/// the wall clock when it ends.
const LIVE_STREAM_SKEW: Span = Span::from_secs(300);

/// The spec's evaluation time: `--at`; else the capture's recorded end
/// (or its last packet, whichever is later); for a capture being written
/// on stdin, the wall clock when it ended. An `--at` instant outside the
/// capture is refused, naming the capture's span.
fn decide_evaluation_time(
    capture: &mut CaptureInfo,
    at: At,
    stdin: bool,
    wall: &dyn Fn() -> Timestamp,
) -> Result<(), String> {
    let (Some(first), Some(last)) = (capture.first_packet, capture.last_packet) else {
        capture.evaluation_basis = "last_packet";
        return Ok(());
    };
    let span = crate::capture::CaptureSpan {
        first_packet: first,
        last_packet: last,
        recorded_end: capture.recorded_end,
    };
    let (time, basis) = match at {
        // When the capture says it stopped, wherever it was read from.
        At::End if span.end() > last => (span.end(), "recorded_end"),
        // A stream still being written when it ended: it stopped now.
        At::End if stdin => {
            let now = wall();
            let skew = now.since(last);
            if skew >= Span::ZERO && skew <= LIVE_STREAM_SKEW {
                (now, "wall_clock")
            } else {
                (last, "last_packet")
            }
        }
        At::End | At::LastPacket => (last, "last_packet"),
        At::Now => (wall(), "now"),
        At::Instant(_) | At::AfterFirstPacket(_) => {
            let t = at.resolve(&span, wall()).map_err(|e| e.to_string())?;
            (t, "at")
        }
    };
    capture.evaluation_time = Some(time);
    capture.evaluation_basis = basis;
    Ok(())
}

/// What one input's end leaves in the report: its packet count, its
/// recorded end (re-based on the capture clock as it stands when the file
/// ends), and its damage as a warning.
fn file_ended<O: StreamObserver>(
    ingest: &mut Ingest<O>,
    pass: &mut Pass,
    index: u32,
    result: Result<FileOutcome, CaptureError>,
) {
    let (packets, error) = match result {
        Ok(outcome) => {
            if let Some(end) = outcome.recorded_end.map(|e| ingest.clock.rebase(e)) {
                let c = &mut ingest.capture;
                c.recorded_end = Some(c.recorded_end.map_or(end, |e| e.max(end)));
            }
            pass.unrepresentable_times += outcome.unrepresentable_times;
            (outcome.packets, None)
        }
        Err(e) => {
            let message = e.to_string();
            let packets = match &e {
                CaptureError::Damaged { frame, .. } => frame.saturating_sub(1),
                _ => 0,
            };
            pass.warnings.push(e);
            (packets, Some(message))
        }
    };
    if let Some(file) = ingest.capture.files.get_mut(index as usize) {
        file.packets = packets;
        file.error = error;
    }
}

/// Reads every input as one continuous capture, in time order (see
/// [`read_set`](crate::capture::set::read_set): rotated files by their first packet, overlapping files
/// merged by time), handing each
/// connection to `retire` when it ends (or at the end of input). A single
/// input that cannot be opened, and the same capture given twice, are
/// errors; an input among several that cannot be read, or one damaged
/// part-way, is a warning,
/// and the packets before the damage count. `wall_clock` is read once, when
/// the input ends, and only for a stream on stdin.
pub fn analyze_files<O: StreamObserver + Send>(
    config: &AnalyzeConfig,
    keys: Option<&KeyStore>,
    new_observer: impl Fn(&decode::Segment<'_>) -> O + Sync,
    wall_clock: &dyn Fn() -> Timestamp,
    retire: &mut dyn FnMut(Retired<O>),
) -> Result<Pass, String> {
    analyze_files_noting(config, keys, new_observer, wall_clock, retire, &mut |_| ())
}

/// What runs a packet's connection once the driver has read, stamped and
/// kept it: one flow table on this thread, or workers that split the
/// connections between them.
trait Drive<O> {
    /// A packet at `at` (capture clock), on its way through `ing`.
    fn packet(&mut self, ing: &mut Ingest<O>, packet: &Packet<'_>, at: Timestamp);
    /// Before keys read from the input are added: every packet so far has
    /// reached its connection.
    fn catch_up(&mut self);
    /// The end of input at `end`: every connection still open is handed
    /// on. Returns the tables' counts when they are not `ing`'s, and notes
    /// for the report.
    fn finish(&mut self, ing: &mut Ingest<O>, end: Moment) -> (Option<TableStats>, Vec<String>);
}

/// `--threads 1`: `ing`'s own table, on this thread.
struct OneThread<'a, F, O> {
    new_observer: &'a F,
    retire: &'a mut dyn FnMut(Retired<O>),
}

impl<O: StreamObserver, F: Fn(&decode::Segment<'_>) -> O> Drive<O> for OneThread<'_, F, O> {
    fn packet(&mut self, ing: &mut Ingest<O>, packet: &Packet<'_>, at: Timestamp) {
        ing.apply(packet, at, self.new_observer, self.retire);
    }

    fn catch_up(&mut self) {}

    fn finish(&mut self, ing: &mut Ingest<O>, end: Moment) -> (Option<TableStats>, Vec<String>) {
        ing.table.finish(end, self.retire);
        (None, Vec::new())
    }
}

/// [`analyze_files`], handing each warning about the inputs (their order,
/// an overlap, damage) to `on_warning` as soon as it is known, so a
/// streamed report's header can carry the ones known before its first
/// connection. The [`Pass`] has them all too.
///
/// With `config.threads` above 1, the connections are split across that
/// many threads, this one and `config.threads - 1` workers (see
/// `sharded`); what `retire` is handed, and in which order, is the same
/// as with one.
pub fn analyze_files_noting<O, F>(
    config: &AnalyzeConfig,
    keys: Option<&KeyStore>,
    new_observer: F,
    wall_clock: &dyn Fn() -> Timestamp,
    retire: &mut dyn FnMut(Retired<O>),
    on_warning: &mut dyn FnMut(String),
) -> Result<Pass, String>
where
    O: StreamObserver + Send,
    F: Fn(&decode::Segment<'_>) -> O + Sync,
{
    // One clock across every input: rotated files continue each other.
    let ingest: Ingest<O> = Ingest::new(
        config.limits,
        config.server_ports(),
        config.selectors.clone(),
        config.filter.as_deref(),
    )?;
    if config.threads <= 1 {
        let mut one = OneThread {
            new_observer: &new_observer,
            retire,
        };
        return read_pass(config, keys, wall_clock, on_warning, ingest, &mut one);
    }
    let ports = config.server_ports();
    let shape = (config.limits, &ports[..], ingest.has_selectors());
    std::thread::scope(|scope| {
        let mut sharded = sharded::start(scope, config.threads, shape, &new_observer, retire);
        read_pass(config, keys, wall_clock, on_warning, ingest, &mut sharded)
    })
}

fn read_pass<O: StreamObserver>(
    config: &AnalyzeConfig,
    keys: Option<&KeyStore>,
    wall_clock: &dyn Fn() -> Timestamp,
    on_warning: &mut dyn FnMut(String),
    mut ingest: Ingest<O>,
    drive: &mut dyn Drive<O>,
) -> Result<Pass, String> {
    let mut pass = Pass::default();
    ingest.capture.files = config
        .inputs
        .iter()
        .map(|input| FileInfo {
            path: input.display(),
            packets: 0,
            error: None,
        })
        .collect();
    // Both callbacks below update the pass; they never run at once.
    let state = RefCell::new((&mut ingest, &mut pass, drive));
    let on_warning = RefCell::new(on_warning);
    let mut notes = Vec::new();
    let sink = keys.map(|_| SecretsSink::default());
    read_set_noting(
        &config.inputs,
        sink.as_ref(),
        &mut |packet| {
            let (ing, p, drive) = &mut *state.borrow_mut();
            if let (Some(sink), Some(keys)) = (&sink, keys) {
                let text = sink.take();
                if !text.is_empty() {
                    drive.catch_up();
                    keys.add_text(&text);
                }
            }
            // Every time below is on the re-based capture clock.
            let at = ing.stamp(packet);
            if p.cutoff.is_none() {
                p.cutoff = match config.at {
                    At::Now => Some(wall_clock()),
                    at_word => {
                        at_word.known_from_first_packet(ing.capture.first_packet.unwrap_or(at))
                    }
                };
            }
            if p.cutoff.is_some_and(|c| at > c) {
                ing.capture.after_evaluation_time += 1;
                return;
            }
            drive.packet(ing, packet, at);
        },
        &mut |index, result| {
            if let Err(e) = &result {
                (on_warning.borrow_mut())(e.to_string());
            }
            let (ing, p, _) = &mut *state.borrow_mut();
            file_ended(ing, p, index, result);
        },
        &mut |note| {
            (on_warning.borrow_mut())(note.to_string());
            notes.push(note.to_string());
        },
    )
    .map_err(|e| e.to_string())?;
    let (_, _, drive) = state.into_inner();
    pass.input_notes = notes;
    let stdin = config.inputs.contains(&Input::Stdin);
    decide_evaluation_time(&mut ingest.capture, config.at, stdin, wall_clock)?;
    let end = Moment {
        at: ingest.capture.evaluation_time.unwrap_or_default(),
        frame: ingest.last_routed().frame,
    };
    let (stats, limit_notes) = drive.finish(&mut ingest, end);
    ingest.settle();
    if let Some(stats) = stats {
        ingest.capture.flow_table = stats;
    }
    pass.input_notes.extend(limit_notes);
    pass.capture = ingest.capture;
    Ok(pass)
}
