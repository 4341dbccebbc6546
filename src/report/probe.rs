//! A probe's result as printed. Each connection carries the same judged
//! fields as a capture's findings (`verdict`, `reasons`, `pending`,
//! `notes`, `episodes`, `frames`, `messages`, `heartbeat`, `close`, see
//! [`Judged`]), so `jq '.connections[] | .verdict, .reasons'` reads both;
//! in place of packet facts it has the socket's own readings.
//!
//! Formats: the JSON document, NDJSON lines (`header`, `sample` with
//! `--watch`, `connection`, `summary`), a few lines for people, `--watch`
//! lines, and the monitoring-plugin status line of `--check`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::findings::Judged;
use super::model::Address;
use super::redact::Redactor;
use crate::liveness::{Thresholds, Verdict};
use crate::probe::{ProbeRun, Sample, SocketReading, TlsInfo};
use crate::time::Span;

/// The `schema` of a probe's JSON result. `/2` put connections in an
/// array, each shaped like a capture finding.
pub const PROBE_SCHEMA: &str = "wspulse.probe/2";

/// Latencies in milliseconds (rounded to the µs); null when none.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyMs {
    pub p50: Option<f64>,
    pub max: Option<f64>,
}

/// `pings`: the probe's Pings, the Pongs that echoed one, the Pongs that
/// echoed none, round trips of the echoed ones.
#[derive(Clone, Debug, Serialize)]
pub struct PingsJson {
    pub sent: u64,
    pub answered: u64,
    pub mismatched: u64,
    pub rtt_ms: LatencyMs,
}

/// `sends`: `--send` messages, those a data frame from the server followed,
/// and the time to that frame.
#[derive(Clone, Debug, Serialize)]
pub struct SendsJson {
    pub sent: u64,
    pub answered: u64,
    pub latency_ms: LatencyMs,
}

/// One probed connection.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeConnection {
    pub id: u64,
    /// The probe's own address.
    pub client: Address,
    pub server: Address,
    /// `wss://` only: version, cipher suite, whether the certificate was
    /// checked.
    pub tls: Option<TlsInfo>,
    #[serde(flatten)]
    pub judged: Judged,
    pub pings: PingsJson,
    pub sends: SendsJson,
    /// Pings and sends not written at all: the probe's own queue was full.
    pub blocked_writes: u64,
    /// The last socket reading (`TCP_INFO` and the send queue); null off
    /// Linux.
    pub tcp_info: Option<SocketReading>,
    /// Socket readings taken over the run.
    pub readings: u64,
    /// Why the probe stopped early, when the connection ended; else null.
    pub ended: Option<String>,
}

/// A connection that could not be opened.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeError {
    pub connection: u64,
    pub error: String,
}

/// `summary`: connections judged, per verdict (all present), and failed.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeSummary {
    pub connections: usize,
    pub verdicts: BTreeMap<&'static str, usize>,
    pub failed: usize,
}

/// The whole result: `{"schema","url","thresholds","connections",
/// "errors","summary"}`. `url` holds scheme, host, port and path only.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeJson {
    pub schema: &'static str,
    pub url: String,
    pub thresholds: Thresholds,
    pub connections: Vec<ProbeConnection>,
    pub errors: Vec<ProbeError>,
    pub summary: ProbeSummary,
}

fn ms(d: Option<Span>) -> Option<f64> {
    d.map(|s| (s.secs_f64() * 1e6).round() / 1e3)
}

impl ProbeConnection {
    /// Judges `run` at the instant it stopped.
    pub fn new(run: &ProbeRun, redact: &Redactor) -> Self {
        let judged = Judged::new(&run.judge, run.at, None, redact);
        let (p, s) = (&run.pings, &run.sends.latency);
        ProbeConnection {
            id: run.id,
            client: Address::from((run.local.ip(), run.local.port())),
            server: Address::from((run.peer.ip(), run.peer.port())),
            tls: run.tls.clone(),
            pings: PingsJson {
                sent: p.sent,
                answered: p.answered,
                mismatched: p.mismatched,
                rtt_ms: LatencyMs {
                    p50: ms(p.rtt.quantile(0.5)),
                    max: ms((p.rtt.count > 0).then_some(p.rtt.max)),
                },
            },
            judged,
            sends: SendsJson {
                sent: run.sends.sent,
                answered: run.sends.answered,
                latency_ms: LatencyMs {
                    p50: ms(s.quantile(0.5)),
                    max: ms((s.count > 0).then_some(s.max)),
                },
            },
            blocked_writes: run.blocked_writes,
            tcp_info: run.socket,
            readings: run.readings,
            ended: run.ended.clone(),
        }
    }

    /// A few lines for people, reasons last.
    pub fn table(&self, url: &str) -> String {
        let j = &self.judged;
        let mut out = format!(
            "probe {url} #{} ({} → {}): {}\n",
            self.id,
            self.client,
            self.server,
            j.verdict.name()
        );
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3} ms"));
        let p = &self.pings;
        out.push_str(&format!(
            "pings: {} sent, {} answered, {} mismatched; rtt p50 {}, max {}\n",
            p.sent,
            p.answered,
            p.mismatched,
            opt(p.rtt_ms.p50),
            opt(p.rtt_ms.max)
        ));
        let s = &self.sends;
        if s.sent > 0 {
            out.push_str(&format!(
                "sends: {} sent, {} answered; response p50 {}, max {}\n",
                s.sent,
                s.answered,
                opt(s.latency_ms.p50),
                opt(s.latency_ms.max)
            ));
        }
        if let Some(t) = &self.tls {
            let checked = if t.certificate_checked {
                "certificate checked"
            } else {
                "certificate NOT checked (--insecure)"
            };
            out.push_str(&format!(
                "tls: {} {}, {checked}\n",
                t.version, t.cipher_suite
            ));
        }
        if let Some(t) = &self.tcp_info {
            out.push_str(&format!("tcp_info: {}\n", socket_line(t)));
        }
        if self.blocked_writes > 0 {
            out.push_str(&format!(
                "blocked: {} Pings or sends not written, the send queue was full\n",
                self.blocked_writes
            ));
        }
        if let Some(e) = &self.ended {
            out.push_str(&format!("ended: {e}\n"));
        }
        for r in &j.reasons {
            out.push_str(&format!("  {}: {}\n", r.label(), r.detail));
        }
        for r in &j.notes {
            out.push_str(&format!("  note: {}: {}\n", r.label(), r.detail));
        }
        out
    }
}

/// The socket reading in one line: RTT, queue, retransmissions, window.
fn socket_line(t: &SocketReading) -> String {
    let opt = |v: Option<u32>| v.map_or("?".into(), |b| b.to_string());
    format!(
        "rtt {:.3} ms (var {:.3}), unacked {} B ({} segments), not sent {} B, retransmitted {} (backoff {}), send window {}",
        t.rtt_ms,
        t.rttvar_ms,
        t.unacked_bytes(),
        t.unacked_segments,
        opt(t.not_sent()),
        t.total_retrans,
        t.backoff,
        opt(t.snd_wnd),
    )
}

impl ProbeJson {
    /// The document for `runs` (in id order; `Err` for connections that
    /// could not be opened).
    pub fn new(
        url: &str,
        thresholds: Thresholds,
        runs: &[Result<ProbeRun, String>],
        redact: &Redactor,
    ) -> Self {
        let mut connections = Vec::new();
        let mut errors = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            match run {
                Ok(run) => connections.push(ProbeConnection::new(run, redact)),
                Err(e) => errors.push(ProbeError {
                    connection: i as u64 + 1,
                    error: e.clone(),
                }),
            }
        }
        let verdicts = super::count_verdicts(connections.iter().map(|c| c.judged.verdict));
        ProbeJson {
            schema: PROBE_SCHEMA,
            url: url.to_string(),
            thresholds,
            summary: ProbeSummary {
                connections: connections.len(),
                verdicts,
                failed: errors.len(),
            },
            connections,
            errors,
        }
    }

    /// The worst verdict of the connections judged.
    pub fn worst(&self) -> Option<Verdict> {
        self.connections.iter().map(|c| c.judged.verdict).min()
    }

    /// Every connection's lines, then a summary line when there are several.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for c in &self.connections {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&c.table(&self.url));
        }
        for e in &self.errors {
            out.push_str(&format!("connection #{}: {}\n", e.connection, e.error));
        }
        if self.connections.len() + self.errors.len() > 1 {
            let counts = super::verdict_words(&self.summary.verdicts);
            out.push_str(&format!(
                "\n{} connections: {}{}\n",
                self.connections.len() + self.errors.len(),
                counts.join(", "),
                match self.errors.len() {
                    0 => String::new(),
                    n => format!("; {n} not opened"),
                }
            ));
        }
        out
    }

    /// NDJSON after the header (see [`ndjson_header`]): one `connection`
    /// line each, an `error` line per connection not opened, a `summary`.
    pub fn ndjson(&self) -> Result<String, String> {
        let mut out = String::new();
        for c in &self.connections {
            out.push_str(&typed("connection", c)?);
        }
        for e in &self.errors {
            out.push_str(&typed("error", e)?);
        }
        out.push_str(&typed("summary", &self.summary)?);
        Ok(out)
    }

    /// `--check`: the monitoring-plugin line (`SERVICE STATUS - text |
    /// perfdata`) and its exit code: 0 OK (alive or closed), 1 WARNING
    /// (suspect), 2 CRITICAL (false_alive, aborted, or a connection not
    /// opened). Performance data use the plugin units (`ms`, `B`).
    pub fn check(&self) -> (String, u8) {
        let worst = self.worst();
        let code = if !self.errors.is_empty() {
            2
        } else {
            match worst {
                Some(Verdict::FalseAlive | Verdict::Aborted) | None => 2,
                Some(Verdict::Suspect) => 1,
                Some(Verdict::Alive | Verdict::Closed) => 0,
            }
        };
        let status = ["OK", "WARNING", "CRITICAL"][usize::from(code)];
        let mut text = match (&self.errors.first(), worst) {
            (Some(e), _) => format!("{}: {}", self.url, e.error),
            (None, Some(v)) => format!("{} {}", self.url, v.name()),
            (None, None) => format!("{}: no connection", self.url),
        };
        let codes: Vec<String> = self
            .connections
            .iter()
            .flat_map(|c| c.judged.reasons.iter().map(|r| r.label()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !codes.is_empty() {
            text.push_str(&format!(" ({})", codes.join(", ")));
        }
        let rtt = self
            .connections
            .iter()
            .filter_map(|c| c.pings.rtt_ms.max)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let sum = |f: &dyn Fn(&ProbeConnection) -> u64| self.connections.iter().map(f).sum::<u64>();
        let unsent = sum(&|c| c.tcp_info.and_then(|t| t.not_sent()).map_or(0, u64::from));
        let unacked = sum(&|c| c.tcp_info.map_or(0, |t| u64::from(t.unacked_bytes())));
        let mut perf = format!(
            "connections={} failed={} pings={} pongs={}",
            self.connections.len(),
            self.errors.len(),
            sum(&|c| c.pings.sent),
            sum(&|c| c.pings.answered),
        );
        if let Some(rtt) = rtt {
            perf.push_str(&format!(" rtt_max={rtt}ms"));
        }
        perf.push_str(&format!(" unacked={unacked}B unsent={unsent}B"));
        (format!("WSPULSE {status} - {text} | {perf}\n"), code)
    }
}

/// The NDJSON `header` line, written before the probe starts so `sample`
/// lines follow it.
pub fn ndjson_header(url: &str, thresholds: Thresholds) -> String {
    let header = serde_json::json!({"type": "header", "schema": PROBE_SCHEMA, "url": url,
        "thresholds": thresholds});
    format!("{header}\n")
}

/// `value` as one NDJSON line with `type` first.
pub(super) fn typed<T: Serialize>(kind: &str, value: &T) -> Result<String, String> {
    let mut v = serde_json::to_value(value).map_err(|e| e.to_string())?;
    if let serde_json::Value::Object(map) = &mut v {
        let mut with_type = serde_json::Map::new();
        with_type.insert("type".into(), kind.into());
        with_type.extend(std::mem::take(map));
        *map = with_type;
    }
    Ok(format!("{v}\n"))
}

/// One `--watch` line, as `ping` prints one per reply: the connection,
/// the Ping of one interval ago and its round trip, the send queue, the
/// window and the verdict now.
pub fn watch_line(s: &Sample) -> String {
    let rtt = s.rtt.map_or("no pong".to_string(), |d| {
        format!("rtt {:.3} ms", d.as_secs_f64() * 1e3)
    });
    let socket = s.socket.map_or(String::new(), |t| {
        let opt = |v: Option<u32>| v.map_or("?".into(), |b| b.to_string());
        format!(
            ", unacked {} B, not sent {} B, window {}, retrans {}",
            t.unacked_bytes(),
            opt(t.not_sent()),
            opt(t.snd_wnd),
            t.total_retrans
        )
    });
    format!(
        "#{} ping {}: {rtt}{socket}: {}",
        s.connection,
        s.ping,
        s.verdict.name()
    )
}

/// One `--watch` sample as an NDJSON `sample` line.
pub fn watch_json(s: &Sample) -> String {
    let v = serde_json::json!({
        "type": "sample",
        "connection": s.connection,
        "ping": s.ping,
        "at": s.at,
        "rtt_ms": s.rtt.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
        "tcp_info": s.socket,
        "verdict": s.verdict.name(),
    });
    v.to_string()
}
