//! A probe's result as printed: the verdict and reasons in the findings'
//! vocabulary, Ping round trips, and the socket's last `TCP_INFO`.

use serde::Serialize;

use super::reasons::ReasonJson;
use super::redact::Redactor;
use crate::liveness::Verdict;
use crate::probe::{ProbeRun, SocketReading};

/// The `schema` of a probe's JSON result.
pub const PROBE_SCHEMA: &str = "wspulse.probe/1";

/// Round trips of answered Pings, in milliseconds (rounded to the µs);
/// null when no Ping was answered.
#[derive(Clone, Debug, Serialize)]
pub struct RttJson {
    pub p50: Option<f64>,
    pub max: Option<f64>,
}

/// `pings`: sent, answered (echo of an outstanding Ping), mismatched
/// (a Pong that echoed none), round trips.
#[derive(Clone, Debug, Serialize)]
pub struct PingsJson {
    pub sent: u64,
    pub answered: u64,
    pub mismatched: u64,
    pub rtt_ms: RttJson,
}

/// The whole result:
/// `{"schema","url","verdict","reasons","notes","pings","tcp_info","ended"}`.
/// `notes` are the findings' notes (e.g. `pong_payload_mismatch`): true,
/// but not what the verdict rests on.
/// `url` holds scheme, host, port and path only; `tcp_info` is null off
/// Linux; `ended` says why the probe stopped early, else null.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeJson {
    pub schema: &'static str,
    pub url: String,
    pub verdict: Verdict,
    pub reasons: Vec<ReasonJson>,
    pub notes: Vec<ReasonJson>,
    pub pings: PingsJson,
    pub tcp_info: Option<SocketReading>,
    pub ended: Option<String>,
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl ProbeJson {
    /// Judges `run` at the instant it stopped.
    pub fn new(url: &str, run: &ProbeRun, redact: &Redactor) -> Self {
        let judgement = run.judge.judge(run.at);
        let mut rtts = run.pings.rtts.clone();
        rtts.sort();
        let p50 = (!rtts.is_empty()).then(|| ms(rtts[(rtts.len() - 1) / 2]));
        ProbeJson {
            schema: PROBE_SCHEMA,
            url: url.to_string(),
            verdict: judgement.verdict,
            reasons: ReasonJson::all(&judgement.reasons, redact),
            notes: ReasonJson::all(&judgement.notes, redact),
            pings: PingsJson {
                sent: run.pings.sent,
                answered: run.pings.answered,
                mismatched: run.pings.mismatched,
                rtt_ms: RttJson {
                    p50,
                    max: rtts.last().map(|d| ms(*d)),
                },
            },
            tcp_info: run.socket,
            ended: run.ended.clone(),
        }
    }

    /// The result for people: a few lines, reasons last.
    pub fn table(&self) -> String {
        let mut out = format!("probe {}: {}\n", self.url, self.verdict.name());
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3} ms"));
        out.push_str(&format!(
            "pings: {} sent, {} answered, {} mismatched; rtt p50 {}, max {}\n",
            self.pings.sent,
            self.pings.answered,
            self.pings.mismatched,
            opt(self.pings.rtt_ms.p50),
            opt(self.pings.rtt_ms.max)
        ));
        if let Some(t) = &self.tcp_info {
            out.push_str(&format!(
                "tcp_info: rtt {:.3} ms (var {:.3}), unacked {} segments, not sent {} bytes, retransmitted {} (backoff {}), send window {}\n",
                t.rtt_ms,
                t.rttvar_ms,
                t.unacked_segments,
                t.notsent_bytes.map_or("?".into(), |b| b.to_string()),
                t.total_retrans,
                t.backoff,
                t.snd_wnd.map_or("?".into(), |b| b.to_string()),
            ));
        }
        if let Some(e) = &self.ended {
            out.push_str(&format!("ended: {e}\n"));
        }
        for r in &self.reasons {
            out.push_str(&format!("  {}: {}\n", r.label(), r.detail));
        }
        for r in &self.notes {
            out.push_str(&format!("  note: {}: {}\n", r.label(), r.detail));
        }
        out
    }
}
