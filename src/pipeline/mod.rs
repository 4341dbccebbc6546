//! One pass over the input: packets → segments → connections → judged
//! connections, handed to the report as they retire.
//!
//! This is the passive path's driver. It owns the capture clock and the
//! evaluation time; the stages below it take time as a parameter.

pub mod tracked;

use std::collections::BTreeMap;

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
    pub open_at_end: usize,
}

/// A stream on stdin whose last packet is this close to the wall clock is
/// a capture being written (`tcpdump -w - | wspulse analyze -`): judged at
/// the wall clock when it ends.
const LIVE_STREAM_SKEW: Span = Span::from_secs(300);

impl Pass {
    /// The spec's evaluation time: `--at`; else the capture's recorded end
    /// (or its last packet, whichever is later); for a capture being
    /// written on stdin, the wall clock when it ended.
    fn decide_evaluation_time(&mut self, stdin: bool, wall: Timestamp) {
        let (at, basis) = if let Some(cutoff) = self.cutoff {
            (Some(cutoff), "at")
        } else if let (true, Some(last)) = (stdin, self.last_packet) {
            let skew = wall.since(last);
            if skew >= Span::ZERO && skew <= LIVE_STREAM_SKEW {
                (Some(wall), "wall_clock")
            } else {
                (Some(last), "last_packet")
            }
        } else {
            match (self.recorded_end, self.last_packet) {
                (Some(end), Some(last)) if end > last => (Some(end), "recorded_end"),
                (_, last) => (last, "last_packet"),
            }
        };
        self.evaluation_time = at;
        self.evaluation_basis = basis;
    }

    pub fn capture_info(&self, limits: crate::tcp::Limits) -> CaptureInfo {
        CaptureInfo {
            files: self.files.clone(),
            packets: self.packets,
            tcp_packets: self.tcp_packets,
            first_packet: self.first_packet,
            last_packet: self.last_packet,
            recorded_end: self.recorded_end,
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
    for (index, input) in config.inputs.iter().enumerate() {
        let p = &mut pass;
        let t = &mut table;
        let result = read_file(input, index as u32, &mut |packet| {
            p.packets += 1;
            // The evaluation time is the largest timestamp, before filters.
            p.first_packet = Some(p.first_packet.map_or(packet.at, |t| t.min(packet.at)));
            p.last_packet = Some(p.last_packet.map_or(packet.at, |t| t.max(packet.at)));
            if p.cutoff.is_none() {
                p.cutoff = match config.at {
                    Some(At::Instant(t)) => Some(t),
                    Some(At::AfterFirstPacket(span)) => Some(packet.at + span),
                    None => None,
                };
            }
            if p.cutoff.is_some_and(|c| packet.at > c) {
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
                at: packet.at,
                frame: packet.frame,
            };
            last_moment = now;
            t.on_segment(&segment, now, &new_observer, retire);
        });
        let (packets, error) = match result {
            Ok(outcome) => {
                if let Some(end) = outcome.recorded_end {
                    pass.recorded_end = Some(pass.recorded_end.map_or(end, |e| e.max(end)));
                }
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
    let stdin = config.inputs.contains(&Input::Stdin);
    let wall = if stdin && config.at.is_none() {
        wall_clock()
    } else {
        Timestamp::default()
    };
    pass.decide_evaluation_time(stdin, wall);
    let end = Moment {
        at: pass.evaluation_time.unwrap_or_default(),
        frame: last_moment.frame,
    };
    pass.open_at_end = table.open_connections();
    table.finish(end, retire);
    pass.flow_table = table.stats();
    Ok(pass)
}
