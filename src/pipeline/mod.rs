//! One pass over the input: packets → segments → connections → judged
//! connections, handed to the report as they retire.
//!
//! This is the passive path's driver. It owns the capture clock and the
//! evaluation time; the stages below it take time as a parameter.

pub mod tracked;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::capture::clock::{CaptureClock, ClockStep};
use crate::capture::file::{read_file, CaptureError, Input};
use crate::capture::filter::PacketFilter;
use crate::config::{AnalyzeConfig, At};
use crate::decode::{self, Skip};
use crate::evidence::Moment;
use crate::report::model::{CaptureInfo, FileInfo};
use crate::tcp::table::TableStats;
use crate::tcp::{FlowTable, Retired, StreamObserver};
use crate::time::{Span, Timestamp};

pub use tracked::Tracked;

/// What the pass learned about the input itself.
#[derive(Default)]
pub struct Pass {
    pub files: Vec<FileInfo>,
    pub packets: u64,
    pub tcp_packets: u64,
    pub first_packet: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    /// When the capture says it stopped (pcapng `isb_endtime`).
    pub recorded_end: Option<Timestamp>,
    pub snaplen_cut_packets: u64,
    pub filtered_out: u64,
    /// Packets after `--at`, left out of the judgement.
    pub after_evaluation_time: u64,
    /// `--at`, resolved against the first packet.
    pub cutoff: Option<Timestamp>,
    pub not_decoded: BTreeMap<Skip, u64>,
    /// Damaged or unreadable inputs: the report covers what came before.
    pub warnings: Vec<CaptureError>,
    /// The instant verdicts were judged at, once the input ended.
    pub evaluation_time: Option<Timestamp>,
    /// How the evaluation time was chosen, for the report.
    pub evaluation_basis: &'static str,
    pub flow_table: TableStats,
    /// Steps back of the capturing host's clock (the first few), and how
    /// many in all: later packets were re-based.
    pub clock_steps: Vec<ClockStepInfo>,
    pub clock_step_count: u64,
    /// Packets whose recorded time no `Timestamp` holds (kept, with the
    /// previous packet's time).
    pub unrepresentable_times: u64,
}

/// A step back of the capture clock, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct ClockStepInfo {
    pub file: u32,
    pub frame: u64,
    /// The packet's time as the file records it.
    pub recorded: Timestamp,
    /// How far back the clock went, seconds.
    pub back_s: f64,
    /// The time it was given on the re-based capture clock.
    pub at: Timestamp,
}

impl From<&ClockStep> for ClockStepInfo {
    fn from(s: &ClockStep) -> Self {
        ClockStepInfo {
            file: s.frame.file(),
            frame: s.frame.frame(),
            recorded: s.raw,
            back_s: (s.back.secs_f64() * 1e6).round() / 1e6,
            at: s.at,
        }
    }
}

/// A stream on stdin whose last packet is this close to the wall clock is
/// a capture being written (`tcpdump -w - | wspulse analyze -`): judged at
/// the wall clock when it ends.
const LIVE_STREAM_SKEW: Span = Span::from_secs(300);

impl Pass {
    /// The spec's evaluation time: `--at`; else the capture's recorded end
    /// (or its last packet, whichever is later); for a capture being
    /// written on stdin, the wall clock when it ended. An `--at` instant
    /// outside the capture is refused, naming the capture's span.
    fn decide_evaluation_time(
        &mut self,
        at: At,
        stdin: bool,
        wall: &dyn Fn() -> Timestamp,
    ) -> Result<(), String> {
        let (Some(first), Some(last)) = (self.first_packet, self.last_packet) else {
            self.evaluation_basis = "last_packet";
            return Ok(());
        };
        let span = crate::capture::CaptureSpan {
            first_packet: first,
            last_packet: last,
            recorded_end: self.recorded_end,
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
        self.evaluation_time = Some(time);
        self.evaluation_basis = basis;
        Ok(())
    }

    pub fn capture_info(&self, limits: crate::tcp::Limits) -> CaptureInfo {
        CaptureInfo {
            files: self.files.clone(),
            packets: self.packets,
            tcp_packets: self.tcp_packets,
            first_packet: self.first_packet,
            last_packet: self.last_packet,
            recorded_end: self.recorded_end,
            clock_steps: self.clock_steps.clone(),
            clock_step_count: self.clock_step_count,
            evaluation_time: self.evaluation_time,
            evaluation_basis: self.evaluation_basis,
            snaplen_cut_packets: self.snaplen_cut_packets,
            filtered_out: self.filtered_out,
            after_evaluation_time: self.after_evaluation_time,
            not_decoded: self.not_decoded.clone(),
            limits,
            flow_table: self.flow_table,
        }
    }
}

/// Reads every input in order as one continuous capture, handing each
/// connection to `retire` when it ends (or at the end of input). An input
/// that cannot be opened is an error; one damaged part-way is a warning,
/// and the packets before the damage count. `wall_clock` is read once, when
/// the input ends, and only for a stream on stdin.
pub fn analyze_files<O: StreamObserver>(
    config: &AnalyzeConfig,
    new_observer: impl Fn(&decode::Segment<'_>) -> O,
    wall_clock: &dyn Fn() -> Timestamp,
    retire: &mut dyn FnMut(Retired<O>),
) -> Result<Pass, String> {
    let mut filter = match &config.filter {
        Some(expr) => Some(PacketFilter::new(expr)?),
        None => None,
    };
    let mut pass = Pass::default();
    let mut table: FlowTable<O> = FlowTable::new(config.limits, config.server_ports());
    let mut last_moment = Moment::default();
    // One clock across every input: rotated files continue each other.
    let mut clock = CaptureClock::new();
    for (index, input) in config.inputs.iter().enumerate() {
        let p = &mut pass;
        let t = &mut table;
        let c = &mut clock;
        let result = read_file(input, index as u32, &mut |packet| {
            p.packets += 1;
            // Every time below is on the re-based capture clock.
            let at = c.on_packet(packet.at, packet.frame);
            // The evaluation time is the largest timestamp, before filters.
            p.first_packet = Some(p.first_packet.map_or(at, |t| t.min(at)));
            p.last_packet = Some(p.last_packet.map_or(at, |t| t.max(at)));
            if p.cutoff.is_none() {
                p.cutoff = match config.at {
                    At::Now => Some(wall_clock()),
                    at_word => at_word.known_from_first_packet(p.first_packet.unwrap_or(at)),
                };
            }
            if p.cutoff.is_some_and(|c| at > c) {
                p.after_evaluation_time += 1;
                return;
            }
            if (packet.data.len() as u64) < u64::from(packet.orig_len) {
                p.snaplen_cut_packets += 1;
            }
            if let Some(f) = filter.as_mut() {
                if !f.matches(packet) {
                    p.filtered_out += 1;
                    return;
                }
            }
            let segment = match decode::decode(packet) {
                Ok(s) => s,
                Err(skip) => {
                    *p.not_decoded.entry(skip).or_default() += 1;
                    return;
                }
            };
            if !config.selectors.is_empty() && !config.selectors.matches(segment.src, segment.dst) {
                p.filtered_out += 1;
                return;
            }
            p.tcp_packets += 1;
            let now = Moment {
                at,
                frame: packet.frame,
            };
            last_moment = now;
            t.on_segment(&segment, now, &new_observer, retire);
        });
        let (packets, error) = match result {
            Ok(outcome) => {
                if let Some(end) = outcome.recorded_end.map(|e| clock.rebase(e)) {
                    pass.recorded_end = Some(pass.recorded_end.map_or(end, |e| e.max(end)));
                }
                pass.unrepresentable_times += outcome.unrepresentable_times;
                (outcome.packets, None)
            }
            Err(
                e @ (CaptureError::Open { .. }
                | CaptureError::NotACapture { .. }
                | CaptureError::Empty { .. }),
            ) => {
                if config.inputs.len() == 1 {
                    return Err(e.to_string());
                }
                let message = e.to_string();
                pass.warnings.push(e);
                (0, Some(message))
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
        pass.files.push(FileInfo {
            path: input.display(),
            packets,
            error,
        });
    }
    let (steps, count) = clock.steps();
    pass.clock_steps = steps.iter().map(ClockStepInfo::from).collect();
    pass.clock_step_count = count;
    let stdin = config.inputs.contains(&Input::Stdin);
    pass.decide_evaluation_time(config.at, stdin, wall_clock)?;
    let end = Moment {
        at: pass.evaluation_time.unwrap_or_default(),
        frame: last_moment.frame,
    };
    table.finish(end, retire);
    pass.flow_table = table.stats();
    Ok(pass)
}
