//! The report model: what the JSON says, field by field. Field names here
//! are a contract with users' scripts (see the liveness spec); add fields,
//! never rename them without a schema version bump.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::decode::tunnel::Tag;
use crate::decode::Skip;
use crate::evidence::{FrameRef, Moment};
use crate::side::{PerSide, Side};
use crate::tcp::endpoint::Endpoint;
use crate::tcp::table::{Limits, TableStats};
use crate::tcp::{Connection, RoleSource, TcpState};
use crate::time::{Span, Timestamp};

pub const TCP_SCHEMA: &str = "wspulse.tcp/1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    pub ip: IpAddr,
    pub port: u16,
}

impl From<(IpAddr, u16)> for Address {
    fn from((ip, port): (IpAddr, u16)) -> Self {
        Address { ip, port }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub packets: u64,
    /// The damage that stopped reading this file, if any.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureInfo {
    pub files: Vec<FileInfo>,
    pub packets: u64,
    pub tcp_packets: u64,
    pub first_packet: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    /// When the capture says it stopped (pcapng `isb_endtime`).
    pub recorded_end: Option<Timestamp>,
    /// Steps back of the capturing host's clock (the first 16) and their
    /// count: later packets were re-based so intervals stay as on the wire.
    pub clock_steps: Vec<ClockStepInfo>,
    pub clock_step_count: u64,
    /// The instant open connections are judged at: `--at`; else the
    /// capture's recorded end or its last packet, whichever is later (all
    /// files, before any filter); for a capture being written on stdin, the
    /// wall clock when it ended.
    pub evaluation_time: Option<Timestamp>,
    /// Which of those it was: `at`, `now`, `recorded_end`, `last_packet`
    /// or `wall_clock`; live, `capture_clock` (when capturing stopped).
    pub evaluation_basis: &'static str,
    /// Packets cut by snaplen (their headers may still be decoded).
    pub snaplen_cut_packets: u64,
    /// Packets a filter or selector left out.
    pub filtered_out: u64,
    /// Packets after `--at`, left out of the judgement.
    pub after_evaluation_time: u64,
    /// Packets not decoded to TCP, by reason.
    pub not_decoded: BTreeMap<Skip, u64>,
    /// Packets skipped because their link type is not one wspulse decodes,
    /// by LINKTYPE_ value (<https://www.tcpdump.org/linktypes.html>);
    /// 4294967295 counts pcapng packets naming an interface their file
    /// never described. A part of `not_decoded`'s unsupported link type.
    pub link_types_not_decoded: BTreeMap<u32, u64>,
    pub limits: Limits,
    pub flow_table: TableStats,
    /// libpcap's counters, for a live capture on an interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<crate::capture::KernelStats>,
}

impl CaptureInfo {
    /// One sentence per link type not decoded: "link type 65000 is not
    /// decoded: 24 packets skipped". For stderr, the table's summary line
    /// and the JSON `warnings`.
    pub fn link_type_warnings(&self) -> Vec<String> {
        self.link_types_not_decoded
            .iter()
            .map(|(&link, &n)| {
                let packets = if n == 1 { "packet" } else { "packets" };
                if link == u32::MAX {
                    format!(
                        "{n} {packets} name a pcapng interface their file never described: skipped"
                    )
                } else {
                    format!("link type {link} is not decoded: {n} {packets} skipped")
                }
            })
            .collect()
    }
}

/// The TCP view of one connection (`analyze --tcp`); the findings of later
/// stages embed the same object under `tcp`.
#[derive(Clone, Debug, Serialize)]
pub struct TcpConnection {
    pub id: u64,
    pub client: Address,
    pub server: Address,
    /// The outermost tunnel the connection came in (`{"kind": "vxlan",
    /// "id": 100}`), null for none; `client` and `server` are the inner
    /// endpoints.
    pub tunnel: Option<Tag>,
    pub role_source: RoleSource,
    /// Paste into Wireshark to see just this connection.
    pub wireshark_filter: String,
    pub tcp: TcpFacts,
}

#[derive(Clone, Debug, Serialize)]
pub struct TcpFacts {
    pub state: TcpState,
    pub handshake_seen: bool,
    pub first_packet: Timestamp,
    pub last_packet: Timestamp,
    pub first_frame: FrameRef,
    pub last_frame: FrameRef,
    pub duration_s: f64,
    pub handshake_rtt_ms: Option<f64>,
    /// False when the connection was joined mid-stream: windows are then
    /// raw values, lower bounds of the real ones (zero is still zero).
    pub window_scale_known: bool,
    pub reset_by: Option<Side>,
    /// RSTs outside the receiver's window (RFC 5961 §3.2), ignored.
    pub ignored_rsts: u32,
    /// Holes skipped because an out-of-order buffer cap was reached.
    pub ooo_overflows: u32,
    /// What each endpoint sent and advertised.
    #[serde(flatten)]
    pub sides: PerSide<SideFacts>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SideFacts {
    pub packets: u64,
    /// Payload bytes of the stream the capture saw, each counted once.
    pub payload_bytes: u64,
    /// Retransmitted segments (not capture duplicates, keep-alives or
    /// zero-window probes).
    pub retransmissions: u32,
    pub spurious_retransmissions: u32,
    pub retransmitted_bytes: u64,
    /// The same packet recorded twice by the capture.
    pub capture_duplicates: u32,
    pub keepalives: u32,
    pub zero_window_probes: u32,
    /// Bytes this side sent that the other has not acknowledged, at the end.
    pub backlog_bytes: u32,
    pub max_backlog_bytes: u32,
    /// Since when the backlog has waited with no ACK progress.
    pub unacked_since: Option<Timestamp>,
    pub retransmissions_since_ack_advance: u32,
    pub srtt_ms: Option<f64>,
    pub rttvar_ms: Option<f64>,
    pub rtt_samples: u32,
    /// Last receive window this side advertised (bytes, scaled if known).
    pub window: Option<u32>,
    pub zero_window: ZeroWindowFacts,
    pub last_payload: Option<Timestamp>,
    pub last_ack_advance: Option<Timestamp>,
    pub fin: Option<Moment>,
    pub rst: Option<Moment>,
    /// Bytes the other side ACKed that the capture never saw.
    pub missed_bytes: u64,
    /// Bytes cut by snaplen.
    pub snaplen_cut_bytes: u64,
    /// Bytes of this side's stream skipped, as gaps, because an
    /// out-of-order cap was reached (`--max-ooo-bytes`, `--max-ooo-total`).
    pub ooo_skipped_bytes: u64,
    /// Segments that overlapped bytes already captured with different
    /// content (the first copy was kept), and the bytes that differed.
    pub conflicting_overlaps: u32,
    pub conflicting_overlap_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ZeroWindowFacts {
    /// Segments advertising a zero window.
    pub packets: u32,
    /// Completed zero-window spans and their time.
    pub spans: u32,
    pub total_s: f64,
    pub longest_s: f64,
    /// A zero window still in force at the end.
    pub open_since: Option<Moment>,
}

fn ms(span: Option<Span>) -> Option<f64> {
    span.map(|s| (s.secs_f64() * 1e6).round() / 1e3)
}

fn secs(span: Span) -> f64 {
    (span.secs_f64() * 1e6).round() / 1e6
}

/// A display filter selecting exactly this connection.
pub fn wireshark_filter(client: Address, server: Address, tunnel: Option<Tag>) -> String {
    let ip = |a: &Address| match a.ip {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ipv6",
    };
    format!(
        "{}{c}.addr == {} && tcp.port == {} && {s}.addr == {} && tcp.port == {}",
        tunnel.map(Tag::wireshark_term).unwrap_or_default(),
        client.ip,
        client.port,
        server.ip,
        server.port,
        c = ip(&client),
        s = ip(&server)
    )
}

impl TcpConnection {
    pub fn from_connection<O>(id: u64, conn: &Connection<O>, end: Timestamp) -> Self {
        let client = Address::from(conn.client);
        let server = Address::from(conn.server);
        let sides = conn.endpoints.map(|_, e| side_facts(e, end));
        TcpConnection {
            id,
            client,
            server,
            tunnel: conn.tunnel,
            role_source: conn.role_source,
            wireshark_filter: wireshark_filter(client, server, conn.tunnel),
            tcp: TcpFacts {
                state: conn.state,
                handshake_seen: conn.syn.is_some() || conn.syn_ack.is_some(),
                first_packet: conn.first.at,
                last_packet: conn.last.at,
                first_frame: conn.first.frame,
                last_frame: conn.last.frame,
                duration_s: secs(conn.last.at.since(conn.first.at)),
                handshake_rtt_ms: ms(conn.handshake_rtt()),
                window_scale_known: conn.syn.is_some() && conn.syn_ack.is_some(),
                reset_by: conn.reset_by,
                ignored_rsts: conn.ignored_rsts,
                ooo_overflows: conn.overflows,
                sides,
            },
        }
    }
}

fn side_facts(e: &Endpoint, end: Timestamp) -> SideFacts {
    let t = e.troubles();
    let zw = &t.zero_window;
    let stall = e.ack_stall();
    let gaps = e.assembler.gaps();
    SideFacts {
        packets: e.packets,
        payload_bytes: e.payload_bytes,
        retransmissions: t.retransmissions,
        spurious_retransmissions: t.spurious_retransmissions,
        retransmitted_bytes: t.retransmitted_bytes,
        capture_duplicates: t.capture_duplicates,
        keepalives: t.keepalives,
        zero_window_probes: t.zero_window_probes,
        backlog_bytes: e.backlog(),
        max_backlog_bytes: e.max_backlog,
        unacked_since: stall.since.map(|m| m.at),
        retransmissions_since_ack_advance: stall.retransmissions,
        srtt_ms: ms(e.rtt.srtt()),
        rttvar_ms: ms(e.rtt.rttvar()),
        rtt_samples: e.rtt.samples,
        window: e.window(),
        zero_window: ZeroWindowFacts {
            packets: zw.packets,
            spans: zw.spans,
            total_s: secs(zw.total_at(end)),
            longest_s: secs(
                zw.open
                    .map_or(zw.longest, |o| zw.longest.max(end.since(o.at))),
            ),
            open_since: zw.open,
        },
        last_payload: e.last_payload.map(|m| m.at),
        last_ack_advance: e.last_ack_advance.map(|m| m.at),
        fin: e.fin(),
        rst: e.rst(),
        missed_bytes: gaps.acked_unseen,
        snaplen_cut_bytes: gaps.snaplen_bytes,
        ooo_skipped_bytes: gaps.overflow_bytes,
        conflicting_overlaps: gaps.conflicts,
        conflicting_overlap_bytes: gaps.conflict_bytes,
    }
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

impl From<&crate::capture::clock::ClockStep> for ClockStepInfo {
    fn from(s: &crate::capture::clock::ClockStep) -> Self {
        ClockStepInfo {
            file: s.frame.file(),
            frame: s.frame.frame(),
            recorded: s.raw,
            back_s: (s.back.secs_f64() * 1e6).round() / 1e6,
            at: s.at,
        }
    }
}
