//! The findings document (`"schema": "wspulse.findings/1"`): per WebSocket
//! connection, the verdict, its reasons and the facts behind them. The field
//! names are the spec's contract.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Address, TcpConnection, TcpFacts};
use super::reasons::{EpisodeJson, PendingJson, ReasonJson};
use super::redact::Redactor;
use super::timeline::{self, TimelineEntry};
use super::tls::TlsJson;
use crate::decode::tunnel::Tag;
use crate::evidence::{FrameRef, Moment};
use crate::liveness::activity::{Activity, FrameCounts, Heartbeats, SideActivity};
use crate::liveness::app::Source;
use crate::liveness::cadence::LatencyHistogram;
use crate::liveness::{Judge, Verdict, VerdictSet, Visibility};
use crate::pipeline::Tracked;
use crate::side::{PerSide, Side};
use crate::tcp::{Connection, Retirement, RoleSource};
use crate::time::{Span, Timestamp};
use crate::websocket::app::RecognisedBy;
use crate::websocket::{Session, SessionKind};

pub const FINDINGS_SCHEMA: &str = "wspulse.findings/1";

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// WebSocket and TLS connections judged.
    pub connections: usize,
    /// Count per verdict, every verdict present.
    pub verdicts: BTreeMap<&'static str, usize>,
    /// TCP connections that were not WebSocket (plain HTTP, refused
    /// upgrades, other protocols).
    pub other_tcp_connections: usize,
    pub refused_upgrades: usize,
    /// TLS connections not judged: the capture began after their
    /// handshake (no hello seen) and their port was not named with
    /// `--tls-port`; and the server ports they used (at most 8). A
    /// connection whose capture holds its ClientHello or ServerHello is
    /// judged on any port and not counted here.
    pub unnamed_tls_connections: usize,
    pub unnamed_tls_ports: Vec<u16>,
    /// Judged TLS connections whose hello began in the capture but could
    /// not be read (longer than 16 KiB, malformed, or cut by a gap): their
    /// `tls.hello_unread` says why.
    pub tls_hellos_unread: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Frames decoded.
    Websocket,
    /// TLS (a hello seen on any port, or a `--tls-port`): frames not
    /// visible, TCP-level checks and TLS records only.
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
    /// The extensions the client offered (names and small numeric
    /// parameters; other parameter values masked).
    pub offered_extensions: Vec<String>,
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
    /// Data messages compressed with permessage-deflate: not read for an
    /// application heartbeat (a heartbeat inside one goes unseen).
    pub compressed_messages: u64,
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
    /// The heartbeat this side is held to (its own, or the one it
    /// answers): `websocket` or the application protocol; null when none.
    pub protocol: Option<&'static str>,
    /// Where `interval_s` comes from when a heartbeat paces this side:
    /// `declared` by the application on the wire, or `learned`.
    pub interval_source: Option<Source>,
    /// This side's application heartbeats, when the connection's protocol
    /// was recognised.
    pub application: Option<AppHeartbeatJson>,
}

/// One side's application heartbeats (the liveness spec's "Heartbeats").
#[derive(Clone, Debug, Serialize)]
pub struct AppHeartbeatJson {
    /// `socket.io`, `graphql-transport-ws`, `mqtt`, `stomp`, ...
    pub protocol: &'static str,
    /// `subprotocol`, `path` or `payload`.
    pub recognised_by: RecognisedBy,
    /// Pings this side sent (each owes an answer), and one-way beats.
    pub pings_sent: u32,
    pub one_way: u32,
    /// Answers to this side's pings, and this side's answers to the other's.
    pub answers_received: u32,
    pub answers_sent: u32,
    pub outstanding: usize,
    /// This side's last heartbeat message (ping, answer or one-way).
    pub last_seen: Option<Timestamp>,
    /// The interval the application declared for this side's beats.
    pub declared_interval_s: Option<f64>,
    pub latency_ms: Latency,
}

/// A Close frame as reported: its status code (RFC 6455 §7.4) and reason,
/// and where it was sent.
#[derive(Clone, Debug, Serialize)]
pub struct CloseJson {
    pub code: Option<u16>,
    /// The reason text's length and fingerprint (`<5B:…>`); the text itself
    /// only with `--show-secrets`.
    pub reason: String,
    pub reason_len: usize,
    pub at: Timestamp,
    pub frame: crate::evidence::EvidenceRef,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectionFindings {
    pub id: u64,
    pub client: Address,
    pub server: Address,
    /// The outermost tunnel the connection came in, null for none.
    pub tunnel: Option<Tag>,
    pub role_source: RoleSource,
    pub transport: Transport,
    pub handshake: HandshakeInfo,
    /// What the TLS hellos said (transport `tls`); null for `websocket`.
    pub tls: Option<TlsJson>,
    #[serde(flatten)]
    pub judged: Judged,
    pub wireshark_filter: String,
    pub tcp: TcpFacts,
    /// The dated facts behind the verdict, in time order and bounded
    /// (see [`super::timeline`]): what the markdown report tells.
    pub timeline: Vec<TimelineEntry>,
}

/// What the judge says of one connection and the frame facts behind it:
/// the part of a connection's findings a capture and a probe share, field
/// for field.
#[derive(Clone, Debug, Serialize)]
pub struct Judged {
    pub verdict: Verdict,
    /// The instant the verdict holds for: the evaluation time, or, for a
    /// connection that retired before it, the instant it retired.
    pub judged_at: Timestamp,
    /// Why the connection left the table before the evaluation time
    /// (`closed`, `aborted`, `idle`), or null when it was still open.
    pub retired: Option<Retirement>,
    pub reasons: Vec<ReasonJson>,
    /// Owed at `judged_at` and not yet due: each becomes a reason at `due`
    /// if nothing arrives.
    pub pending: Vec<PendingJson>,
    pub notes: Vec<ReasonJson>,
    pub episodes: Vec<EpisodeJson>,
    /// WebSocket frames by the side that sent them (what tshark counts).
    pub frames: PerSide<FrameCounts>,
    pub messages: PerSide<MessageFacts>,
    pub heartbeat: PerSide<HeartbeatFacts>,
    pub close: PerSide<Option<CloseJson>>,
    /// Each side's own socket as the host's kernel reported it (sock_diag,
    /// or a probe's TCP_INFO): null for a side whose socket was not read,
    /// which is every side of a capture read offline.
    pub socket: PerSide<Option<SocketFacts>>,
}

/// `socket.client` / `socket.server`: what a side's latest socket reading
/// showed. The bytes its application wrote that the kernel has not sent
/// never appear on the wire (behind a black hole only the head segment is
/// retransmitted; behind a zero window nothing leaves), so only the socket
/// can tell them.
#[derive(Clone, Debug, Serialize)]
pub struct SocketFacts {
    /// Written by the application, not yet sent (`tcpi_notsent_bytes`).
    pub notsent_bytes: u32,
    /// Sent, not yet acknowledged (send queue − not sent).
    pub unacked_bytes: u32,
    /// The peer's advertised window as the kernel holds it (bytes, scaled).
    pub send_window: u32,
    /// Since when the socket has held unsent bytes with no progress (no
    /// byte acknowledged between readings, or a zero window); null when
    /// it could send at its latest reading.
    pub unable_to_send_since: Option<Timestamp>,
    /// How long, in seconds, up to `judged_at`.
    pub unable_to_send_s: Option<f64>,
    /// When the latest reading was taken, and its reference
    /// (`{"sample": n}`: the n-th reading of the run).
    pub read_at: Timestamp,
    pub reading: crate::evidence::EvidenceRef,
}

impl SocketFacts {
    /// `side`'s latest reading in `judge`, judged at `at`.
    pub fn of(judge: &Judge, side: Side, at: Timestamp) -> Option<Self> {
        let s = judge.socket(side)?;
        Some(SocketFacts {
            notsent_bytes: s.notsent_bytes,
            unacked_bytes: s.unacked_bytes,
            send_window: s.snd_wnd,
            unable_to_send_since: s.unable_since.map(|m| m.at),
            unable_to_send_s: secs(s.unable_for(at.max(s.last.at))),
            read_at: s.last.at,
            reading: s.last.evidence,
        })
    }
}

impl Judged {
    /// Judges `judge` at `judged_at`.
    pub fn new(
        judge: &Judge,
        judged_at: Timestamp,
        retired: Option<Retirement>,
        redact: &Redactor,
    ) -> Self {
        let judgement = judge.judge(judged_at);
        let ws = judge.activity();
        Judged {
            verdict: judgement.verdict,
            judged_at,
            retired,
            reasons: ReasonJson::all(&judgement.reasons, redact),
            pending: judgement
                .pending
                .iter()
                .map(|p| PendingJson::new(p, judged_at))
                .collect(),
            notes: ReasonJson::all(&judgement.notes, redact),
            episodes: judgement.episodes.iter().map(EpisodeJson::from).collect(),
            frames: ws.sides.map(|_, a| a.frames),
            messages: ws.sides.map(|_, a| message_facts(a)),
            heartbeat: ws.sides.map(|side, a| heartbeat_facts(ws, side, a)),
            close: ws.sides.map(|_, a| {
                a.close().map(|c| CloseJson {
                    code: c.code,
                    reason: redact.text(&c.reason),
                    reason_len: c.reason.len(),
                    at: c.mark.at,
                    frame: c.mark.evidence,
                })
            }),
            socket: PerSide::new(
                SocketFacts::of(judge, Side::Client, judged_at),
                SocketFacts::of(judge, Side::Server, judged_at),
            ),
        }
    }
}

fn secs(span: Option<Span>) -> Option<f64> {
    span.map(|s| (s.secs_f64() * 1e6).round() / 1e6)
}

fn ms(span: Option<Span>) -> Option<f64> {
    span.map(|s| (s.secs_f64() * 1e6).round() / 1e3)
}

fn message_facts(a: &SideActivity) -> MessageFacts {
    let d = a.data.as_deref();
    let t = a.trouble();
    MessageFacts {
        data_messages: d.map_or(0, |d| d.messages),
        compressed_messages: d.map_or(0, |d| d.compressed),
        data_bytes: d.map_or(0, |d| d.bytes),
        first_frame: a.first_frame.map(|m| m.at),
        last_frame: a.last_frame.map(|m| m.at),
        last_data: d.and_then(|d| d.last).map(|m| m.at),
        last_control: a.last_control.map(|m| m.at),
        data_interval_s: secs(d.and_then(|d| d.cadence.median())),
        gap_bytes: t.map_or(0, |t| t.gap_bytes),
        resyncs: t.map_or(0, |t| t.resyncs),
        violations: t.map_or(0, |t| t.violations),
    }
}

fn heartbeat_facts(ws: &Activity, side: Side, a: &SideActivity) -> HeartbeatFacts {
    let empty = Heartbeats::default();
    let h = a.heartbeats.as_deref().unwrap_or(&empty);
    let none = LatencyHistogram::default();
    let l = h.pong_latency.as_deref().unwrap_or(&none);
    let pace = ws.pace(side).or_else(|| ws.pace(side.other()));
    HeartbeatFacts {
        pings_sent: a.pings_sent(),
        pongs_received: u64::from(h.pongs_received),
        outstanding_pings: h.outstanding.len(),
        unsolicited_pongs: u64::from(h.unsolicited_pongs),
        mismatched_pongs: h.mismatched_pongs,
        interval_s: secs(pace.map(|p| p.interval).or(h.ping_cadence.median())),
        pong_latency_ms: latency(l),
        protocol: pace.map(|p| p.layer.name()),
        interval_source: pace.map(|p| p.source),
        application: ws.app.as_deref().map(|app| {
            let b = &app.sides[side];
            AppHeartbeatJson {
                protocol: app.protocol.name(),
                recognised_by: app.by,
                pings_sent: b.pings,
                one_way: b.one_way,
                answers_received: b.answers_received,
                answers_sent: b.answers_sent,
                outstanding: b.outstanding.len(),
                last_seen: b.last.map(|m| m.at),
                declared_interval_s: secs(b.declared.map(|d| d.interval)),
                latency_ms: latency(&b.latency),
            }
        }),
    }
}

fn latency(l: &LatencyHistogram) -> Latency {
    Latency {
        p50: ms(l.quantile(0.5)),
        p99: ms(l.quantile(0.99)),
        max: ms((l.count > 0).then_some(l.max)),
    }
}

fn handshake_info(session: &Session, redact: &Redactor) -> HandshakeInfo {
    let h = &session.handshake;
    let mut info = HandshakeInfo {
        seen: h.seen(),
        inferred: session.kind
            == (SessionKind::WebSocket {
                handshake_seen: false,
            }),
        accept_valid: h.accept_valid,
        ..HandshakeInfo::default()
    };
    if let Some(req) = h.request() {
        info.path = Some(redact.path(&req.path));
        info.host = req.host.as_ref().map(|v| redact.origin(v));
        info.origin = req.origin.as_ref().map(|v| redact.origin(v));
        info.offered_protocols = req.protocols.iter().map(|p| redact.protocol(p)).collect();
        info.offered_extensions = req.extensions.iter().map(|e| redact.extension(e)).collect();
        info.request_frame = Some(req.at.frame);
    }
    if let Some(resp) = h.response() {
        info.status = Some(resp.status);
        info.protocol = resp.protocol.as_ref().map(|p| redact.protocol(p));
        info.extensions = resp
            .extensions
            .iter()
            .map(|e| redact.extension(e))
            .collect();
        info.response_frame = Some(resp.at.frame);
    }
    info
}

/// The instant a connection is judged at: its end if it closed or aborted,
/// its last packet plus the flow timeout if it idled out, else the
/// evaluation time.
pub fn judged_at(judge: &Judge, retired: Option<Retirement>, at: Moment) -> Timestamp {
    match retired {
        Some(Retirement::Closed | Retirement::Aborted) => {
            judge.ended().map_or(at.at, |(_, m)| m.at.min(at.at))
        }
        _ => at.at,
    }
}

impl ConnectionFindings {
    /// Judges `conn` at `judged_at` and builds its findings.
    pub fn new(
        id: u64,
        conn: &Connection<Tracked>,
        judged_at: Timestamp,
        retired: Option<Retirement>,
        redact: &Redactor,
    ) -> Self {
        let Tracked { session, judge, .. } = &conn.observer;
        let tcp = TcpConnection::from_connection(id, conn, judged_at);
        let (client, server) = (Address::from(conn.client), Address::from(conn.server));
        let tls = judge.visibility() == Visibility::TlsRecords;
        let mut findings = ConnectionFindings {
            id,
            client,
            server,
            tunnel: conn.tunnel,
            role_source: conn.role_source,
            transport: if tls {
                Transport::Tls
            } else {
                Transport::Websocket
            },
            handshake: handshake_info(session, redact),
            tls: (tls || session.decrypting()).then(|| TlsJson::new(session.tls(), redact)),
            judged: Judged::new(judge, judged_at, retired, redact),
            wireshark_filter: tcp.wireshark_filter,
            tcp: tcp.tcp,
            timeline: Vec::new(),
        };
        let h = &session.handshake;
        let handshake = [h.request().map(|r| r.at), h.response().map(|r| r.at)];
        findings.timeline = timeline::build(&findings, handshake);
        findings
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            connections: 0,
            verdicts: Verdict::ALL.iter().map(|v| (v.name(), 0)).collect(),
            other_tcp_connections: 0,
            refused_upgrades: 0,
            unnamed_tls_connections: 0,
            unnamed_tls_ports: Vec::new(),
            tls_hellos_unread: 0,
        }
    }
}

impl Summary {
    /// Counts one connection as it leaves: judged, or only counted.
    pub fn count(&mut self, session: &Session, verdict: Option<Verdict>, server_port: u16) {
        if let Some(v) = verdict {
            *self.verdicts.entry(v.name()).or_default() += 1;
            self.connections += 1;
            if session.tls().is_some_and(|t| t.unread.is_some()) {
                self.tls_hellos_unread += 1;
            }
            return;
        }
        match session.kind {
            SessionKind::Refused { .. } => self.refused_upgrades += 1,
            SessionKind::UnnamedTls => {
                self.other_tcp_connections += 1;
                self.unnamed_tls_connections += 1;
                if self.unnamed_tls_ports.len() < 8
                    && !self.unnamed_tls_ports.contains(&server_port)
                {
                    self.unnamed_tls_ports.push(server_port);
                    self.unnamed_tls_ports.sort_unstable();
                }
            }
            _ => self.other_tcp_connections += 1,
        }
    }

    /// Whether any connection has a verdict in `set`.
    pub fn any_in(&self, set: VerdictSet) -> bool {
        set.verdicts()
            .any(|v| self.verdicts.get(v.name()).is_some_and(|&n| n > 0))
    }
}
