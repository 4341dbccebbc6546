//! One pass over the input: packets → segments → connections.

use std::collections::BTreeMap;

use crate::capture::file::{read_file, CaptureError};
use crate::capture::filter::PacketFilter;
use crate::config::{AnalyzeConfig, At};
use crate::decode::{self, Skip};
use crate::evidence::{FrameRef, Moment};
use crate::liveness::Thresholds;
use crate::report::findings::{Findings, LazyFindings, Summary, FINDINGS_SCHEMA};
use crate::report::model::{CaptureInfo, FileInfo, LazyTcp, TcpReport, TCP_SCHEMA};
use crate::tcp::{FlowTable, StreamObserver};
use crate::time::Timestamp;
use crate::websocket::{Session, SessionKind};

/// Everything one pass learned.
pub struct Analysis<O> {
    pub table: FlowTable<O>,
    pub files: Vec<FileInfo>,
    pub packets: u64,
    pub tcp_packets: u64,
    pub first_packet: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    pub snaplen_cut_packets: u64,
    pub filtered_out: u64,
    /// Packets after `--at`, left out of the judgement.
    pub after_evaluation_time: u64,
    /// `--at`, resolved against the first packet.
    pub cutoff: Option<Timestamp>,
    pub not_decoded: BTreeMap<Skip, u64>,
    /// Damaged or unreadable inputs: the report covers what came before.
    pub warnings: Vec<CaptureError>,
}

impl<O: StreamObserver> Analysis<O> {
    fn new(config: &AnalyzeConfig) -> Self {
        Analysis {
            table: FlowTable::new(config.limits, config.server_ports()),
            files: Vec::new(),
            packets: 0,
            tcp_packets: 0,
            first_packet: None,
            last_packet: None,
            snaplen_cut_packets: 0,
            filtered_out: 0,
            after_evaluation_time: 0,
            cutoff: None,
            not_decoded: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The spec's evaluation time: `--at`, else the largest packet
    /// timestamp in the input (all files, before any filter).
    pub fn evaluation_time(&self) -> Option<Timestamp> {
        self.cutoff.or(self.last_packet)
    }

    pub fn capture_info(&self) -> CaptureInfo {
        CaptureInfo {
            files: self.files.clone(),
            packets: self.packets,
            tcp_packets: self.tcp_packets,
            first_packet: self.first_packet,
            last_packet: self.last_packet,
            evaluation_time: self.evaluation_time(),
            snaplen_cut_packets: self.snaplen_cut_packets,
            filtered_out: self.filtered_out,
            after_evaluation_time: self.after_evaluation_time,
            not_decoded: self.not_decoded.clone(),
            limits: self.table.limits(),
            flow_table: self.table.stats(),
        }
    }

    pub fn tcp_report(&self) -> TcpReport<'_, O> {
        TcpReport {
            schema: TCP_SCHEMA,
            capture: self.capture_info(),
            connections: LazyTcp {
                connections: self.table.connections(),
                at: self.evaluation_time().unwrap_or_default(),
            },
        }
    }
}

/// Reads every input in order as one continuous capture. An input that
/// cannot be opened is an error; one damaged part-way is a warning, and the
/// packets before the damage count.
pub fn analyze_files<O: StreamObserver>(
    config: &AnalyzeConfig,
    new_observer: impl Fn(&crate::decode::Segment<'_>) -> O,
) -> Result<Analysis<O>, String> {
    let mut filter = match &config.filter {
        Some(expr) => Some(PacketFilter::new(expr)?),
        None => None,
    };
    let mut analysis = Analysis::new(config);
    let mut last_moment = Moment::default();
    for (index, input) in config.inputs.iter().enumerate() {
        let a = &mut analysis;
        let result = read_file(input, index as u32, &mut |packet| {
            a.packets += 1;
            // The evaluation time is the largest timestamp, before filters.
            a.first_packet = Some(a.first_packet.map_or(packet.at, |t| t.min(packet.at)));
            a.last_packet = Some(a.last_packet.map_or(packet.at, |t| t.max(packet.at)));
            if a.cutoff.is_none() {
                a.cutoff = match config.at {
                    At::Instant(t) => Some(t),
                    At::AfterFirstPacket(span) => Some(packet.at + span),
                    At::Now => Some(crate::time::wall_clock()),
                    At::End | At::LastPacket => None,
                };
            }
            if a.cutoff.is_some_and(|c| packet.at > c) {
                a.after_evaluation_time += 1;
                return;
            }
            if (packet.data.len() as u64) < u64::from(packet.orig_len) {
                a.snaplen_cut_packets += 1;
            }
            if let Some(f) = filter.as_mut() {
                if !f.matches(packet) {
                    a.filtered_out += 1;
                    return;
                }
            }
            let segment = match decode::decode(packet) {
                Ok(s) => s,
                Err(skip) => {
                    *a.not_decoded.entry(skip).or_default() += 1;
                    return;
                }
            };
            if !config.selectors.is_empty() && !config.selectors.matches(segment.src, segment.dst) {
                a.filtered_out += 1;
                return;
            }
            a.tcp_packets += 1;
            let now = Moment {
                at: packet.at,
                frame: packet.frame,
            };
            last_moment = now;
            a.table.on_segment(&segment, now, &new_observer);
        });
        let (packets, error) = match result {
            Ok(outcome) => (outcome.packets, None),
            Err(
                e @ (CaptureError::Open { .. }
                | CaptureError::NotACapture { .. }
                | CaptureError::Empty { .. }),
            ) => {
                if config.inputs.len() == 1 {
                    return Err(e.to_string());
                }
                let message = e.to_string();
                analysis.warnings.push(e);
                (0, Some(message))
            }
            Err(e) => {
                let message = e.to_string();
                let packets = match &e {
                    CaptureError::Damaged { frame, .. } => frame.saturating_sub(1),
                    _ => 0,
                };
                analysis.warnings.push(e);
                (packets, Some(message))
            }
        };
        analysis.files.push(FileInfo {
            path: input.display(),
            packets,
            error,
        });
    }
    let end = Moment {
        at: analysis.evaluation_time().unwrap_or_default(),
        frame: FrameRef {
            frame: last_moment.frame.frame,
            file: last_moment.frame.file,
        },
    };
    analysis.table.finish(end);
    Ok(analysis)
}

impl Analysis<Session> {
    /// Adopts the roles the WebSocket stage proved (the Upgrade sender, the
    /// masking side) where they outrank what TCP knew.
    fn adopt_roles(&mut self) {
        for conn in self.table.connections_mut() {
            if let Some((side, source)) = conn.observer.client_evidence() {
                let client = conn.endpoint(side);
                conn.assign_client(client, source);
            }
        }
    }

    pub fn findings(&mut self, thresholds: &Thresholds) -> Findings<'_> {
        self.adopt_roles();
        let at = self.evaluation_time().unwrap_or_default();
        let (mut judged, mut other, mut refused) = (Vec::new(), 0, 0);
        let (mut tls, mut tls_ports) = (0, std::collections::BTreeSet::new());
        for (i, conn) in self.table.connections().iter().enumerate() {
            match conn.observer.kind {
                _ if conn.observer.is_judged() => judged.push(i),
                SessionKind::Refused { .. } => refused += 1,
                SessionKind::UnnamedTls => {
                    other += 1;
                    tls += 1;
                    if tls_ports.len() < 8 {
                        tls_ports.insert(conn.server.1);
                    }
                }
                _ => other += 1,
            }
        }
        let connections = LazyFindings {
            connections: self.table.connections(),
            judged,
            at,
            thresholds: *thresholds,
        };
        Findings {
            schema: FINDINGS_SCHEMA,
            capture: self.capture_info(),
            thresholds: *thresholds,
            summary: Summary::new(
                connections.verdicts(),
                other,
                refused,
                (tls, tls_ports.into_iter().collect()),
            ),
            connections,
        }
    }
}
