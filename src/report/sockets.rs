//! `wspulse sockets`' result as printed. Each connection carries the same
//! judged fields as a capture's findings and a probe's connections
//! (`verdict`, `reasons`, `pending`, `notes`, `episodes`, `socket`, ...:
//! [`Judged`]), so `jq '.connections[] | .verdict, .reasons'` reads all
//! three; in place of packet facts it has each local socket's latest
//! reading.
//!
//! Formats: the JSON document (`wspulse.sockets/1`), NDJSON lines
//! (`header`, `verdict`, `connection`, `summary`), and lines for people.

use std::collections::BTreeMap;

use serde::Serialize;

use super::findings::Judged;
use super::live::{ConnectionRef, VerdictRecord};
use super::model::Address;
use super::probe::typed;
use super::reasons::ReasonJson;
use super::redact::Redactor;
use crate::liveness::{Thresholds, Verdict};
use crate::probe::SocketReading;
use crate::side::PerSide;
use crate::sockets::{reading::state_name, Limited, SocketConnection};
use crate::sockets::{JUDGED_FROM_SOCKETS, NEED_PACKETS};
use crate::time::{Span, Timestamp};

/// The `schema` of `wspulse sockets`' JSON result.
pub const SOCKETS_SCHEMA: &str = "wspulse.sockets/1";

/// One local socket's latest reading: its `tcp_info` fields (as a probe
/// prints its own), its queues, and the time it was limited.
#[derive(Clone, Debug, Serialize)]
pub struct SideReading {
    /// The TCP state, as `ss` names it (`established`, `close_wait`, ...).
    pub state: &'static str,
    /// Bytes received and not yet read by the application (`idiag_rqueue`).
    pub recv_queue: u32,
    /// Bytes in the send queue, unacknowledged plus unsent (`idiag_wqueue`).
    pub send_queue: u32,
    #[serde(flatten)]
    pub tcp_info: SocketReading,
    /// Linux 4.10's busy and limited times (ms, cumulative); null before.
    pub limited: Option<Limited>,
}

/// One connection, seen through its socket(s) on this host.
#[derive(Clone, Debug, Serialize)]
pub struct SocketsConnection {
    pub id: u64,
    pub client: Address,
    pub server: Address,
    /// The socket(s) no longer appear in the host's table (closed, or
    /// gone to TIME_WAIT): judged at their last reading.
    pub gone: bool,
    #[serde(flatten)]
    pub judged: Judged,
    /// Each side's latest reading; null for a side whose socket is not on
    /// this host.
    pub tcp_info: PerSide<Option<SideReading>>,
    /// Readings of this connection's sockets taken over the run.
    pub readings: u64,
}

/// `checks`: the reason codes the readings can support, and those that
/// need the packets (`wspulse live -i IFACE --sockets`).
#[derive(Clone, Debug, Serialize)]
pub struct Checks {
    pub judged: Vec<&'static str>,
    pub need_packets: Vec<&'static str>,
}

/// `summary`: connections judged, per verdict (all present), readings
/// of the socket table, and connections not followed past the bound.
#[derive(Clone, Debug, Serialize)]
pub struct SocketsSummary {
    pub connections: usize,
    pub verdicts: BTreeMap<&'static str, usize>,
    pub rounds: u64,
    pub not_followed: u64,
}

/// The whole result: `{"schema","netns","ports","interval_s","thresholds",
/// "checks","connections","summary"}`.
#[derive(Clone, Debug, Serialize)]
pub struct SocketsJson {
    pub schema: &'static str,
    /// `--netns`, or null for wspulse's own namespace.
    pub netns: Option<String>,
    /// `--port` (empty: every TCP connection).
    pub ports: Vec<u16>,
    pub interval_s: f64,
    pub thresholds: Thresholds,
    pub checks: Checks,
    pub connections: Vec<SocketsConnection>,
    pub summary: SocketsSummary,
}

/// What the run was, for the header and the document.
pub struct Run<'a> {
    pub netns: Option<&'a str>,
    pub ports: &'a [u16],
    pub interval: Span,
    pub thresholds: Thresholds,
}

fn checks() -> Checks {
    Checks {
        judged: JUDGED_FROM_SOCKETS.iter().map(|c| c.name()).collect(),
        need_packets: NEED_PACKETS.iter().map(|c| c.name()).collect(),
    }
}

impl SocketsConnection {
    /// Judges `c` at `at`, or at its last reading once its socket left.
    pub fn new(c: &SocketConnection, at: Timestamp, redact: &Redactor) -> Self {
        let judged_at = if c.gone.is_some() { c.last_seen } else { at };
        let side = |r: &Option<crate::sockets::Reading>| {
            r.as_ref().and_then(|r| {
                Some(SideReading {
                    state: state_name(r.state),
                    recv_queue: r.recv_queue,
                    send_queue: r.send_queue,
                    tcp_info: r.info?,
                    limited: r.limited,
                })
            })
        };
        SocketsConnection {
            id: c.id,
            client: Address::from((c.client.ip(), c.client.port())),
            server: Address::from((c.server.ip(), c.server.port())),
            gone: c.gone.is_some(),
            judged: Judged::new(&c.judge, judged_at, None, redact),
            tcp_info: PerSide::new(side(&c.last.client), side(&c.last.server)),
            readings: c.readings,
        }
    }

    /// A few lines for people: the connection and verdict, each local
    /// socket's queue, reasons last.
    pub fn table(&self) -> String {
        let j = &self.judged;
        let mut out = format!(
            "#{} {} → {}: {}{}\n",
            self.id,
            self.client,
            self.server,
            j.verdict.name(),
            if self.gone { " (socket gone)" } else { "" }
        );
        for side in crate::side::Side::BOTH {
            let Some(r) = &self.tcp_info[side] else {
                continue;
            };
            let t = &r.tcp_info;
            let opt = |v: Option<u32>| v.map_or("?".into(), |b| b.to_string());
            let unable = j.socket[side]
                .as_ref()
                .and_then(|s| s.unable_to_send_s)
                .map(|s| format!(", unable to send for {s:.1}s"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} socket ({}): not sent {} B, unacked {} B, retransmitted {} (backoff {}), rtt {:.3} ms, send window {}{unable}\n",
                side.name(),
                r.state,
                opt(t.not_sent()),
                t.unacked_bytes(),
                t.total_retrans,
                t.backoff,
                t.rtt_ms,
                opt(t.snd_wnd),
            ));
        }
        for r in &j.reasons {
            out.push_str(&format!("  {}: {}\n", r.label(), r.detail));
        }
        out
    }
}

impl SocketsJson {
    /// The document for `conns`, judged at `at`.
    pub fn new(
        run: &Run<'_>,
        conns: &[&SocketConnection],
        at: Timestamp,
        (rounds, not_followed): (u64, u64),
        redact: &Redactor,
    ) -> Self {
        let connections: Vec<SocketsConnection> = conns
            .iter()
            .map(|c| SocketsConnection::new(c, at, redact))
            .collect();
        let verdicts = super::count_verdicts(connections.iter().map(|c| c.judged.verdict));
        SocketsJson {
            schema: SOCKETS_SCHEMA,
            netns: run.netns.map(str::to_string),
            ports: run.ports.to_vec(),
            interval_s: run.interval.secs_f64(),
            thresholds: run.thresholds,
            checks: checks(),
            summary: SocketsSummary {
                connections: connections.len(),
                verdicts,
                rounds,
                not_followed,
            },
            connections,
        }
    }

    /// Every connection's lines, then a summary line and the checks made.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for c in &self.connections {
            out.push_str(&c.table());
        }
        let counts = super::verdict_words(&self.summary.verdicts);
        out.push_str(&format!(
            "{} connections{}{}; {} reading{} of the socket table\n",
            self.connections.len(),
            if counts.is_empty() { "" } else { ": " },
            counts.join(", "),
            self.summary.rounds,
            if self.summary.rounds == 1 { "" } else { "s" }
        ));
        out.push_str(&format!(
            "judged from the sockets: {}; these need packets (wspulse live -i IFACE --sockets): {}\n",
            self.checks.judged.join(", "),
            self.checks.need_packets.join(", ")
        ));
        out
    }

    /// NDJSON after the header and the verdict records: one `connection`
    /// line each, then the `summary`.
    pub fn ndjson(&self) -> Result<String, String> {
        let mut out = String::new();
        for c in &self.connections {
            out.push_str(&typed("connection", c)?);
        }
        out.push_str(&typed("summary", &self.summary)?);
        Ok(out)
    }
}

/// The NDJSON `header` line.
pub fn ndjson_header(run: &Run<'_>, started: Timestamp) -> Result<String, String> {
    let header = serde_json::json!({"type": "header", "schema": SOCKETS_SCHEMA,
        "netns": run.netns, "ports": run.ports, "interval_s": run.interval.secs_f64(),
        "thresholds": run.thresholds, "checks": checks(), "started_at": started});
    Ok(format!("{header}\n"))
}

/// A connection whose verdict changed at `at`, as the live tap's
/// `verdict` record.
pub fn verdict_record(
    c: &SocketConnection,
    at: Timestamp,
    to: Verdict,
    redact: &Redactor,
) -> VerdictRecord {
    let reasons = c.judge.judge(at).reasons;
    VerdictRecord {
        at,
        connection: ConnectionRef {
            id: c.id,
            client: Address::from((c.client.ip(), c.client.port())),
            server: Address::from((c.server.ip(), c.server.port())),
        },
        from: c.reported,
        to,
        reasons: ReasonJson::all(&reasons, redact),
    }
}

/// A verdict record as one NDJSON line, or as a line for people.
pub fn verdict_line(r: &VerdictRecord, ndjson: bool) -> Result<String, String> {
    if ndjson {
        return typed("verdict", r);
    }
    let reasons: Vec<String> = r.reasons.iter().map(|x| x.label()).collect();
    Ok(format!(
        "{} #{} {} → {}: {} → {}{}\n",
        r.at,
        r.connection.id,
        r.connection.client,
        r.connection.server,
        r.from.name(),
        r.to.name(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        }
    ))
}
