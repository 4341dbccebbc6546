//! Reasons, notes, pending obligations and episodes as the findings print
//! them: the sentence for people (`detail`), the evidence numbers rounded
//! to the millisecond, and the frames to open in Wireshark.

use serde::Serialize;

use super::redact::Redactor;
use crate::evidence::EvidenceRef;
use crate::liveness::{Code, Episode, Facts, Kind, Pending, Reason};
use crate::side::Side;
use crate::time::{Span, Timestamp};

/// The numbers behind a reason. Only the fields that apply are printed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EvidenceJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmissions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_window_probes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// The Ping's payload: its length and keyed fingerprint (matching the
    /// Pong's when it echoed it); its bytes in hex only with
    /// `--show-secrets` (`ping_payload`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_payload_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_payload_hmac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pong_payload_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pong_payload_hmac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pong_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding_pings: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_bytes: Option<u64>,
    /// Bytes the sender's application wrote that its kernel has not sent
    /// yet (its socket's `tcpi_notsent_bytes`, read through sock_diag or a
    /// probe's own socket): never on the wire, so no capture shows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notsent_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differing_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<&'static str>,
    /// Capture frames (or probe samples) that show it.
    pub frames: Vec<EvidenceRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReasonJson {
    pub code: Code,
    pub kind: Kind,
    /// The endpoint at fault; null for `no_heartbeat`.
    pub side: Option<Side>,
    pub since: Timestamp,
    pub detail: String,
    /// The heartbeat a silence or an unanswered ping is measured by
    /// (`websocket`, or the application protocol: `socket.io`, `mqtt`, ...);
    /// on `ping_unanswered` and `read_gap_exceeded` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<&'static str>,
    pub evidence: EvidenceJson,
}

#[derive(Clone, Debug, Serialize)]
pub struct PendingJson {
    pub code: Code,
    pub side: Option<Side>,
    pub since: Timestamp,
    /// When it becomes a reason if nothing arrives.
    pub due: Timestamp,
    pub due_in_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EpisodeJson {
    pub code: Code,
    pub side: Option<Side>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_s: f64,
    pub frames: [EvidenceRef; 2],
}

/// Seconds, rounded to the millisecond.
pub fn secs3(span: Span) -> f64 {
    (span.secs_f64() * 1e3).round() / 1e3
}

fn s(span: Option<Span>) -> f64 {
    span.unwrap_or_default().secs_f64()
}

fn name(side: Option<Side>) -> &'static str {
    side.map_or("connection", Side::name)
}

/// What the sender's socket holds that never reached the wire, when it
/// was read: "; 1200 bytes the server wrote wait unsent in its socket".
fn waiting(f: &Facts, sender: &str) -> String {
    f.notsent_bytes
        .filter(|&n| n > 0)
        .map(|n| format!("; {n} bytes the {sender} wrote wait unsent in its socket"))
        .unwrap_or_default()
}

/// The sentence for a reason or note.
pub fn detail(r: &Reason) -> String {
    let f = &r.facts;
    let side = name(r.side);
    let other = r.side.map_or("peer", |s| s.other().name());
    match r.code {
        Code::PeerUnreachable if f.probes.is_some() => format!(
            "{side} has not answered {} keep-alive or zero-window probes from the {other} for {:.1}s (stall threshold {:.1}s)",
            f.probes.unwrap_or(0),
            s(f.gap),
            s(f.threshold)
        ),
        Code::PeerUnreachable => format!(
            "{side} has not acknowledged {} bytes from the {other} for {:.1}s ({} retransmissions; stall threshold {:.1}s){}",
            f.backlog_bytes.unwrap_or(0),
            s(f.gap),
            f.retransmissions.unwrap_or(0),
            s(f.threshold),
            waiting(f, other)
        ),
        Code::ZeroWindowStall => format!(
            "{side} has advertised a zero receive window for {:.1}s: its application stopped reading ({} probes from the {other}){}",
            s(f.gap),
            f.probes.unwrap_or(0),
            waiting(f, other)
        ),
        Code::PingUnanswered => {
            let ping = match f.heartbeat {
                Some(app) if app != "websocket" => format!("{app} ping"),
                _ => "Ping".into(),
            };
            format!(
                "{side} has not answered a {ping} from the {other} for {:.1}s (pong timeout {:.1}s; {} {ping}(s) outstanding; time it could not send not counted)",
                s(f.gap),
                s(f.threshold),
                f.outstanding_pings.unwrap_or(0)
            )
        }
        Code::ReadGapExceeded => format!(
            "no {} from the {side} for {:.1}s (read deadline {:.1}s{})",
            match f.heartbeat {
                Some(app) if f.application_silence => format!("{app} message"),
                _ => "frame".into(),
            },
            s(f.gap),
            s(f.threshold),
            f.interval
                .map(|i| {
                    let layer = f.heartbeat.unwrap_or("websocket");
                    format!("; {layer} heartbeat every {:.1}s", i.secs_f64())
                })
                .unwrap_or_default()
        ),
        Code::HalfClosed => format!(
            "{side} sent FIN without a WebSocket Close {:.1}s ago; the {other} still holds the connection open",
            s(f.gap)
        ),
        Code::CloseHandshakeIncomplete => format!(
            "the {other} sent Close{} {:.1}s ago and the {side} has not answered it (RFC 6455 §5.5.1)",
            f.close_code.map(|c| format!(" {c}")).unwrap_or_default(),
            s(f.gap)
        ),
        Code::AppStallControlOnly => format!(
            "{side} still sends control frames but no data for {:.1}s (it had a data message every {:.1}s; stall threshold {:.1}s)",
            s(f.gap),
            s(f.interval),
            s(f.threshold)
        ),
        Code::NoHeartbeat => format!(
            "idle for {:.1}s with no Ping/Pong, no TCP keep-alive and no application heartbeat ever seen: a dead peer would look the same{}",
            s(f.gap),
            f.count
                .map(|n| format!(" ({n} compressed message(s) were not read: a heartbeat inside one would go unseen)"))
                .unwrap_or_default()
        ),
        Code::CaptureLoss => format!(
            "the capture missed {} bytes the {side} sent (the {other} acknowledged them): findings about this direction may be incomplete",
            f.missed_bytes.unwrap_or(0)
        ),
        Code::SlowReader => format!(
            "{side} kept its receive window closed to the {other} for {:.1}s of the last {:.1}s ({:.0}%), never long enough for a zero-window stall: it reads slower than the {other} writes",
            s(f.gap),
            s(f.threshold),
            f.share.unwrap_or(0.0) * 100.0
        ) + &waiting(f, other),
        Code::PongPayloadMismatch => format!(
            "{side} answered {} Ping(s) with a Pong whose payload differs (RFC 6455 §5.5.3 requires an echo)",
            f.count.unwrap_or(0)
        ),
        Code::ProtocolViolation => format!(
            "{side} broke RFC 6455 framing rules {} time(s): {}",
            f.count.unwrap_or(0),
            f.violations.join(", ")
        ),
        Code::ConflictingOverlap => format!(
            "{side} sent {} segment(s) overlapping bytes already captured with different content ({} bytes differ); the first copy was kept",
            f.count.unwrap_or(0),
            f.differing_bytes.unwrap_or(0)
        ),
        Code::CloseWithoutWebsocketClose => {
            "TCP closed without the WebSocket closing handshake (RFC 6455 §7.1.5: abnormal closure, 1006)".into()
        }
    }
}

fn evidence(f: &Facts, frames: &[EvidenceRef], redact: &Redactor) -> EvidenceJson {
    let ping = f.ping_payload.as_ref().map(|p| redact.payload(p));
    let pong = f.pong_payload.as_ref().map(|p| redact.payload(p));
    EvidenceJson {
        backlog_bytes: f.backlog_bytes,
        retransmissions: f.retransmissions,
        window: f.window,
        zero_window_probes: f.probes,
        gap_s: f.gap.map(secs3),
        threshold_s: f.threshold.map(secs3),
        share: f.share.map(|x| (x * 1e3).round() / 1e3),
        interval_s: f.interval.map(secs3),
        ping_payload_len: ping.as_ref().map(|p| p.len),
        ping_payload_hmac: ping.as_ref().map(|p| p.hmac.clone()),
        ping_payload: ping.and_then(|p| p.hex),
        pong_payload_len: pong.as_ref().map(|p| p.len),
        pong_payload_hmac: pong.as_ref().map(|p| p.hmac.clone()),
        pong_payload: pong.and_then(|p| p.hex),
        outstanding_pings: f.outstanding_pings,
        count: f.count,
        missed_bytes: f.missed_bytes,
        notsent_bytes: f.notsent_bytes,
        differing_bytes: f.differing_bytes,
        close_code: f.close_code,
        violations: f.violations.clone(),
        frames: frames.to_vec(),
    }
}

impl ReasonJson {
    /// `code (side)`, or the code alone: how tables name a reason.
    pub fn label(&self) -> String {
        match self.side {
            Some(side) => format!("{} ({})", self.code.name(), side.name()),
            None => self.code.name().to_string(),
        }
    }

    pub fn new(r: &Reason, redact: &Redactor) -> Self {
        ReasonJson {
            code: r.code,
            kind: r.code.kind(),
            side: r.side,
            since: r.since,
            detail: detail(r),
            heartbeat: r.facts.heartbeat,
            evidence: evidence(&r.facts, &r.evidence, redact),
        }
    }

    /// Each of `reasons` (or notes), in order, as the JSON gives them.
    pub fn all(reasons: &[Reason], redact: &Redactor) -> Vec<Self> {
        reasons.iter().map(|r| ReasonJson::new(r, redact)).collect()
    }
}

impl PendingJson {
    pub fn new(p: &Pending, at: Timestamp) -> Self {
        PendingJson {
            code: p.code,
            side: p.side,
            since: p.since,
            due: p.due,
            due_in_s: secs3(p.due.since(at)),
        }
    }
}

impl From<&Episode> for EpisodeJson {
    fn from(e: &Episode) -> Self {
        EpisodeJson {
            code: e.code,
            side: e.side,
            start: e.start.at,
            end: e.end.at,
            duration_s: secs3(e.end.at.since(e.start.at)),
            frames: [e.start.evidence, e.end.evidence],
        }
    }
}
