//! One pass over the input: packets → segments → connections → judged
//! connections, handed to the report as they retire.
//!
//! This is the passive path's driver. It owns the capture clock and the
//! evaluation time; the stages below it take time as a parameter.

pub mod tracked;

use crate::capture::clock::CaptureClock;
use crate::capture::file::{read_file, CaptureError, Input};
use crate::capture::filter::PacketFilter;
use crate::config::{AnalyzeConfig, At};
use crate::decode;
use crate::evidence::Moment;
use crate::report::model::{CaptureInfo, ClockStepInfo, FileInfo};
use crate::tcp::{FlowTable, Retired, StreamObserver};
use crate::time::{Span, Timestamp};

pub use tracked::Tracked;

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
        let (Some(first), Some(last)) = (self.capture.first_packet, self.capture.last_packet)
        else {
            self.capture.evaluation_basis = "last_packet";
            return Ok(());
        };
        let span = crate::capture::CaptureSpan {
            first_packet: first,
            last_packet: last,
            recorded_end: self.capture.recorded_end,
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
        self.capture.evaluation_time = Some(time);
        self.capture.evaluation_basis = basis;
        Ok(())
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
    pass.capture.limits = config.limits;
    let mut table: FlowTable<O> = FlowTable::new(config.limits, config.server_ports());
    let mut last_moment = Moment::default();
    // One clock across every input: rotated files continue each other.
    let mut clock = CaptureClock::new();
    for (index, input) in config.inputs.iter().enumerate() {
        let p = &mut pass;
        let t = &mut table;
        let c = &mut clock;
        let result = read_file(input, index as u32, &mut |packet| {
            p.capture.packets += 1;
            // Every time below is on the re-based capture clock.
            let at = c.on_packet(packet.at, packet.frame);
            // The evaluation time is the largest timestamp, before filters.
            p.capture.first_packet = Some(p.capture.first_packet.map_or(at, |t| t.min(at)));
            p.capture.last_packet = Some(p.capture.last_packet.map_or(at, |t| t.max(at)));
            if p.cutoff.is_none() {
                p.cutoff = match config.at {
                    At::Now => Some(wall_clock()),
                    at_word => {
                        at_word.known_from_first_packet(p.capture.first_packet.unwrap_or(at))
                    }
                };
            }
            if p.cutoff.is_some_and(|c| at > c) {
                p.capture.after_evaluation_time += 1;
                return;
            }
            if (packet.data.len() as u64) < u64::from(packet.orig_len) {
                p.capture.snaplen_cut_packets += 1;
            }
            if let Some(f) = filter.as_mut() {
                if !f.matches(packet) {
                    p.capture.filtered_out += 1;
                    return;
                }
            }
            let segment = match decode::decode(packet) {
                Ok(s) => s,
                Err(skip) => {
                    *p.capture.not_decoded.entry(skip).or_default() += 1;
                    return;
                }
            };
            if !config.selectors.is_empty() && !config.selectors.matches(segment.src, segment.dst) {
                p.capture.filtered_out += 1;
                return;
            }
            p.capture.tcp_packets += 1;
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
                    pass.capture.recorded_end =
                        Some(pass.capture.recorded_end.map_or(end, |e| e.max(end)));
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
        pass.capture.files.push(FileInfo {
            path: input.display(),
            packets,
            error,
        });
    }
    let (steps, count) = clock.steps();
    pass.capture.clock_steps = steps.iter().map(ClockStepInfo::from).collect();
    pass.capture.clock_step_count = count;
    let stdin = config.inputs.contains(&Input::Stdin);
    pass.decide_evaluation_time(config.at, stdin, wall_clock)?;
    let end = Moment {
        at: pass.capture.evaluation_time.unwrap_or_default(),
        frame: last_moment.frame,
    };
    table.finish(end, retire);
    pass.capture.flow_table = table.stats();
    Ok(pass)
}
