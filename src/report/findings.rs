//! The findings document (`"schema": "wspulse.findings/1"`): per WebSocket
//! connection, the verdict, its reasons and the facts behind them. The field
//! names are the spec's contract.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{wireshark_filter, Address, CaptureInfo, TcpConnection, TcpFacts};
use crate::evidence::FrameRef;
use crate::liveness::activity::{Activity, CloseFrame, FrameCounts, SideActivity};
use crate::liveness::cadence::LatencyHistogram;
use crate::liveness::judge::{judge, Episode, Reason};
use crate::liveness::{Thresholds, Verdict};
use crate::side::PerSide;
use crate::tcp::{Connection, RoleSource};
use crate::time::{Span, Timestamp};
use crate::websocket::{Session, SessionKind};

pub const FINDINGS_SCHEMA: &str = "wspulse.findings/1";

/// The whole document. Connections are built one at a time as they are
/// written, so a capture of 50,000 connections never holds 50,000 reports.
#[derive(Serialize)]
pub struct Findings<'a> {
    pub schema: &'static str,
    pub capture: CaptureInfo,
    pub thresholds: Thresholds,
    pub summary: Summary,
    pub connections: LazyFindings<'a>,
}

/// The judged connections, reported on demand.
pub struct LazyFindings<'a> {
    pub connections: &'a [Connection<Session>],
    /// Indices of the connections that are judged (WebSocket or TLS).
    pub judged: Vec<usize>,
    pub at: Timestamp,
    pub thresholds: Thresholds,
}

impl LazyFindings<'_> {
    pub fn iter(&self) -> impl Iterator<Item = ConnectionFindings> + '_ {
        self.judged.iter().map(|&i| {
            ConnectionFindings::new(i + 1, &self.connections[i], self.at, &self.thresholds)
        })
    }

    pub fn verdicts(&self) -> impl Iterator<Item = Verdict> + '_ {
        self.judged
            .iter()
            .map(|&i| judge(&self.connections[i], self.at, &self.thresholds).verdict)
    }
}

impl Serialize for LazyFindings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// WebSocket (and `--tls-port`) connections judged.
    pub connections: usize,
    /// Count per verdict, every verdict present.
    pub verdicts: BTreeMap<&'static str, usize>,
    /// TCP connections that were not WebSocket (plain HTTP, refused
    /// upgrades, other protocols).
    pub other_tcp_connections: usize,
    pub refused_upgrades: usize,
    /// TLS connections not judged because their port was not named with
    /// `--tls-port`, and the server ports they used (at most 8).
    pub unnamed_tls_connections: usize,
    pub unnamed_tls_ports: Vec<u16>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Frames decoded.
    Websocket,
    /// wss on a `--tls-port`: frames not visible, TCP-level checks and TLS
    /// records only.
    Tls,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HandshakeInfo {
    /// The HTTP Upgrade was in the capture.
    pub seen: bool,
    /// WebSocket framing was inferred (capture started mid-stream).
    pub inferred: bool,
    pub path: Option<String>,
    pub host: Option<String>,
    pub origin: Option<String>,
    pub offered_protocols: Vec<String>,
    pub protocol: Option<String>,
    pub extensions: Vec<String>,
    pub status: Option<u16>,
    pub accept_valid: Option<bool>,
    pub request_frame: Option<FrameRef>,
    pub response_frame: Option<FrameRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageFacts {
    pub data_messages: u64,
    pub data_bytes: u64,
    pub first_frame: Option<Timestamp>,
    pub last_frame: Option<Timestamp>,
    pub last_data: Option<Timestamp>,
    pub last_control: Option<Timestamp>,
    /// Median interval between data messages (last 15).
    pub data_interval_s: Option<f64>,
    /// Stream bytes the capture missed in this direction.
    pub gap_bytes: u64,
    pub resyncs: u32,
    pub violations: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HeartbeatFacts {
    pub pings_sent: u64,
    /// Pongs received for this side's Pings.
    pub pongs_received: u64,
    pub outstanding_pings: usize,
    /// Pongs this side sent with no Ping outstanding (one-way heartbeat).
    pub unsolicited_pongs: u64,
    pub mismatched_pongs: u32,
    /// Median interval between this side's Pings (last 15).
    pub interval_s: Option<f64>,
    /// Latency of the Pongs answering this side's Pings.
    pub pong_latency_ms: Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectionFindings {
    pub id: usize,
    pub client: Address,
    pub server: Address,
    pub role_source: RoleSource,
    pub transport: Transport,
    pub handshake: HandshakeInfo,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub notes: Vec<Reason>,
    pub episodes: Vec<Episode>,
    /// WebSocket frames by the side that sent them (what tshark counts).
    pub frames: PerSide<FrameCounts>,
    pub messages: PerSide<MessageFacts>,
    pub heartbeat: PerSide<HeartbeatFacts>,
    pub close: PerSide<Option<CloseFrame>>,
    pub wireshark_filter: String,
    pub tcp: TcpFacts,
}

fn secs(span: Option<Span>) -> Option<f64> {
    span.map(|s| (s.secs_f64() * 1e6).round() / 1e6)
}

fn ms(span: Option<Span>) -> Option<f64> {
    span.map(|s| (s.secs_f64() * 1e6).round() / 1e3)
}

fn message_facts(a: &SideActivity) -> MessageFacts {
    MessageFacts {
        data_messages: a.data_messages,
        data_bytes: a.data_bytes,
        first_frame: a.first_frame.map(|m| m.at),
        last_frame: a.last_frame.map(|m| m.at),
        last_data: a.last_data.map(|m| m.at),
        last_control: a.last_control.map(|m| m.at),
        data_interval_s: secs(a.data_cadence.median()),
        gap_bytes: a.gap_bytes,
        resyncs: a.resyncs,
        violations: a.violations,
    }
}

fn heartbeat_facts(a: &SideActivity) -> HeartbeatFacts {
    let empty = LatencyHistogram::default();
    let h = a.pong_latency.as_deref().unwrap_or(&empty);
    HeartbeatFacts {
        pings_sent: a.pings_sent(),
        pongs_received: a.pongs_received,
        outstanding_pings: a.outstanding.len(),
        unsolicited_pongs: a.unsolicited_pongs,
        mismatched_pongs: a.mismatched_pongs,
        interval_s: secs(a.ping_cadence.median()),
        pong_latency_ms: Latency {
            p50: ms(h.quantile(0.5)),
            p99: ms(h.quantile(0.99)),
            max: ms((h.count > 0).then_some(h.max)),
        },
    }
}

fn handshake_info(session: &Session) -> HandshakeInfo {
    let h = &session.handshake;
    let mut info = HandshakeInfo {
        seen: h.request.is_some() || h.response.is_some(),
        inferred: session.kind
            == (SessionKind::WebSocket {
                handshake_seen: false,
            }),
        accept_valid: h.accept_valid,
        ..HandshakeInfo::default()
    };
    if let Some((req, at)) = &h.request {
        info.path = Some(req.path.clone());
        info.host = req.host.clone();
        info.origin = req.origin.clone();
        info.offered_protocols = req.protocols.clone();
        info.request_frame = Some(at.frame);
    }
    if let Some((resp, at)) = &h.response {
        info.status = Some(resp.status);
        info.protocol = resp.protocol.clone();
        info.extensions = resp.extensions.clone();
        info.response_frame = Some(at.frame);
    }
    info
}

impl ConnectionFindings {
    pub fn new(
        id: usize,
        conn: &Connection<Session>,
        at: Timestamp,
        thresholds: &Thresholds,
    ) -> Self {
        let judgement = judge(conn, at, thresholds);
        let session = &conn.observer;
        let ws: &Activity = &session.activity;
        let tcp = TcpConnection::from_connection(id, conn, at);
        let (client, server) = (Address::from(conn.client), Address::from(conn.server));
        ConnectionFindings {
            id,
            client,
            server,
            role_source: conn.role_source,
            transport: if session.kind == SessionKind::Tls {
                Transport::Tls
            } else {
                Transport::Websocket
            },
            handshake: handshake_info(session),
            verdict: judgement.verdict,
            reasons: judgement.reasons,
            notes: judgement.notes,
            episodes: judgement.episodes,
            frames: ws.sides.map(|_, a| a.frames),
            messages: ws.sides.map(|_, a| message_facts(a)),
            heartbeat: ws.sides.map(|_, a| heartbeat_facts(a)),
            close: ws.sides.map(|_, a| a.close.clone()),
            wireshark_filter: wireshark_filter(client, server),
            tcp: tcp.tcp,
        }
    }
}

impl Summary {
    pub fn new(
        verdicts_seen: impl Iterator<Item = Verdict>,
        other: usize,
        refused: usize,
        tls: (usize, Vec<u16>),
    ) -> Self {
        let mut verdicts: BTreeMap<&'static str, usize> =
            Verdict::ALL.iter().map(|v| (v.name(), 0)).collect();
        let mut connections = 0;
        for v in verdicts_seen {
            *verdicts.entry(v.name()).or_default() += 1;
            connections += 1;
        }
        Summary {
            connections,
            verdicts,
            other_tcp_connections: other,
            refused_upgrades: refused,
            unnamed_tls_connections: tls.0,
            unnamed_tls_ports: tls.1,
        }
    }
}
