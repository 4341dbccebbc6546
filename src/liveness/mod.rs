//! The judge: from what each side wrote (WebSocket frames, heartbeats,
//! closes) and what TCP shows (ACK progress, windows, FIN/RST), decide at
//! one instant whether a connection is really alive, and prove it.
//!
//! The judge takes [`event::Event`]s, one connection at a time, and answers
//! [`judge::Judge::judge`] for any instant at or after the last event:
//!
//! - `event`: the input vocabulary (TCP facts, WebSocket frames, a probe's
//!   TCP_INFO readings), each with its time and evidence reference;
//! - `transport` and `activity` (with `pings`, the Pings awaiting a Pong):
//!   what the judge remembers of each side's TCP and WebSocket traffic, in
//!   bounded memory;
//! - `rules`: one file per reason code, holding its current check, its
//!   past-episode detection and its tests;
//! - `judge`: the per-connection state machine and the verdict.
//!
//! Nothing here reads a clock, names a capture, or formats output.

pub mod activity;
pub mod app;
pub mod cadence;
pub mod event;
pub mod judge;
pub mod pings;
pub mod rules;
pub mod socket;
pub mod transport;

pub use judge::{Episode, Facts, Judge, Judgement, Pending, Reason, Visibility};

use serde::Serialize;

use crate::secret::Key;
use crate::time::Span;

/// What every judge of a run shares: the thresholds, and the key that
/// fingerprints control payloads (to match a Pong to its Ping, and to cite
/// a payload without printing it).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub thresholds: Thresholds,
    pub key: Key,
}

/// When a silence or a stall becomes a finding. Defaults are the spec's;
/// each has a flag.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Thresholds {
    /// Fixed pong timeout; default: 2 × the heartbeat interval, else 10 s.
    #[serde(rename = "pong_timeout_s", serialize_with = "opt_secs")]
    pub pong_timeout: Option<Span>,
    /// Fixed read deadline; default: 3 × the heartbeat interval, else 60 s.
    #[serde(rename = "read_deadline_s", serialize_with = "opt_secs")]
    pub read_deadline: Option<Span>,
    /// ACK stall: backlog with no ACK progress for max(this, 4 × SRTT)…
    #[serde(rename = "ack_stall_s", serialize_with = "secs")]
    pub ack_stall: Span,
    /// …and at least this many retransmissions.
    pub ack_stall_retransmissions: u32,
    #[serde(rename = "zero_window_s", serialize_with = "secs")]
    pub zero_window: Span,
    #[serde(rename = "close_timeout_s", serialize_with = "secs")]
    pub close_timeout: Span,
    #[serde(rename = "half_close_timeout_s", serialize_with = "secs")]
    pub half_close_timeout: Span,
    /// Idle with no heartbeat of any kind.
    #[serde(rename = "idle_s", serialize_with = "secs")]
    pub idle: Span,
    /// Fixed data stall; default: max(5 × median data interval, read deadline).
    #[serde(rename = "data_stall_s", serialize_with = "opt_secs")]
    pub data_stall: Option<Span>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pong_timeout: None,
            read_deadline: None,
            ack_stall: Span::from_secs(5),
            ack_stall_retransmissions: 2,
            zero_window: Span::from_secs(5),
            close_timeout: Span::from_secs(5),
            half_close_timeout: Span::from_secs(5),
            idle: Span::from_secs(15),
            data_stall: None,
        }
    }
}

/// The least any threshold derived from a cadence may be: max(1 s, 4 ×
/// SRTT) (the spec's cadence rule), so a burst or a fast LAN never makes a
/// deadline of a few milliseconds.
pub fn floor(srtt: Option<Span>) -> Span {
    Span::from_secs(1).max(srtt.map_or(Span::ZERO, |s| s * 4))
}

impl Thresholds {
    /// 2 × the heartbeat interval when known (at least `floor`), else 10 s;
    /// a value given by flag wins.
    pub fn pong_timeout(&self, heartbeat: Option<Span>, floor: Span) -> Span {
        self.pong_timeout
            .unwrap_or_else(|| heartbeat.map_or(Span::from_secs(10), |h| (h * 2).max(floor)))
    }

    /// 3 × the heartbeat interval when known (at least `floor`), else 60 s.
    pub fn read_deadline(&self, heartbeat: Option<Span>, floor: Span) -> Span {
        self.read_deadline
            .unwrap_or_else(|| heartbeat.map_or(Span::from_secs(60), |h| (h * 3).max(floor)))
    }

    /// max(the flag, 4 × SRTT).
    pub fn ack_stall(&self, srtt: Option<Span>) -> Span {
        self.ack_stall.max(srtt.map_or(Span::ZERO, |s| s * 4))
    }

    /// max(5 × the median data interval, the read deadline).
    pub fn data_stall(&self, median_interval: Option<Span>, read_deadline: Span) -> Span {
        self.data_stall.unwrap_or_else(|| {
            median_interval.map_or(read_deadline, |m| (m * 5).max(read_deadline))
        })
    }
}

fn secs<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(span.secs_f64())
}

fn opt_secs<S: serde::Serializer>(span: &Option<Span>, s: S) -> Result<S::Ok, S::Error> {
    match span {
        Some(span) => s.serialize_some(&span.secs_f64()),
        None => s.serialize_none(),
    }
}

/// The verdict, exactly one per connection; first match wins (spec order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    // Declared worst first: tables sort by this order.
    FalseAlive,
    Suspect,
    Aborted,
    Alive,
    Closed,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::FalseAlive => "false_alive",
            Verdict::Suspect => "suspect",
            Verdict::Aborted => "aborted",
            Verdict::Closed => "closed",
            Verdict::Alive => "alive",
        }
    }

    pub const ALL: [Verdict; 5] = [
        Verdict::FalseAlive,
        Verdict::Suspect,
        Verdict::Aborted,
        Verdict::Alive,
        Verdict::Closed,
    ];
}

/// A set of verdicts, e.g. the ones `--fail-on` fails a run on. Empty by
/// default; [`VerdictSet::contains`] tests membership.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictSet(u8);

impl VerdictSet {
    /// The set holding exactly `verdicts`.
    pub fn of(verdicts: &[Verdict]) -> Self {
        VerdictSet(verdicts.iter().fold(0, |bits, v| bits | Self::bit(*v)))
    }

    fn bit(v: Verdict) -> u8 {
        1 << (v as u8)
    }

    /// Whether `v` is in the set.
    pub fn contains(self, v: Verdict) -> bool {
        self.0 & Self::bit(v) != 0
    }

    /// The verdicts in the set, worst first.
    pub fn verdicts(self) -> impl Iterator<Item = Verdict> {
        Verdict::ALL.into_iter().filter(move |v| self.contains(*v))
    }

    /// Parses a comma-separated list of verdict names (`suspect,aborted`),
    /// each an exact match; `suspect` alone means suspect or false_alive,
    /// as `--fail-on suspect` always has. Errors name the unknown word and
    /// the verdicts there are.
    pub fn parse(list: &str) -> Result<Self, String> {
        if list.trim() == "suspect" {
            return Ok(Self::of(&[Verdict::Suspect, Verdict::FalseAlive]));
        }
        Self::parse_exact(list)
    }

    /// Parses a comma-separated list of verdict names, each an exact match
    /// (`suspect` alone is suspect only). Errors as [`VerdictSet::parse`].
    pub fn parse_exact(list: &str) -> Result<Self, String> {
        let words = list.split(',').map(str::trim);
        let mut set = VerdictSet::default();
        for word in words {
            let v = Verdict::ALL
                .into_iter()
                .find(|v| v.name() == word)
                .ok_or_else(|| {
                    let names: Vec<&str> = Verdict::ALL.iter().map(|v| v.name()).collect();
                    format!(
                        "'{word}' is not a verdict: use one or more of {}, separated by commas",
                        names.join(", ")
                    )
                })?;
            set = Self(set.0 | Self::bit(v));
        }
        Ok(set)
    }
}

/// `reasons[].code`: a contract with users' scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    PeerUnreachable,
    ZeroWindowStall,
    PingUnanswered,
    ReadGapExceeded,
    HalfClosed,
    CloseHandshakeIncomplete,
    AppStallControlOnly,
    NoHeartbeat,
    CaptureLoss,
    SlowReader,
    PongPayloadMismatch,
    ProtocolViolation,
    CloseWithoutWebsocketClose,
    ConflictingOverlap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Hard,
    Soft,
    Note,
}

impl Code {
    pub fn kind(self) -> Kind {
        match self {
            Code::PeerUnreachable
            | Code::ZeroWindowStall
            | Code::PingUnanswered
            | Code::ReadGapExceeded
            | Code::HalfClosed
            | Code::CloseHandshakeIncomplete => Kind::Hard,
            Code::AppStallControlOnly
            | Code::NoHeartbeat
            | Code::CaptureLoss
            | Code::SlowReader => Kind::Soft,
            Code::PongPayloadMismatch
            | Code::ProtocolViolation
            | Code::CloseWithoutWebsocketClose
            | Code::ConflictingOverlap => Kind::Note,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::PeerUnreachable => "peer_unreachable",
            Code::ZeroWindowStall => "zero_window_stall",
            Code::PingUnanswered => "ping_unanswered",
            Code::ReadGapExceeded => "read_gap_exceeded",
            Code::HalfClosed => "half_closed",
            Code::CloseHandshakeIncomplete => "close_handshake_incomplete",
            Code::AppStallControlOnly => "app_stall_control_only",
            Code::NoHeartbeat => "no_heartbeat",
            Code::CaptureLoss => "capture_loss",
            Code::SlowReader => "slow_reader",
            Code::PongPayloadMismatch => "pong_payload_mismatch",
            Code::ProtocolViolation => "protocol_violation",
            Code::CloseWithoutWebsocketClose => "close_without_websocket_close",
            Code::ConflictingOverlap => "conflicting_overlap",
        }
    }
}

#[cfg(test)]
mod verdict_set_tests {
    use super::{Verdict, VerdictSet};

    #[test]
    fn a_list_matches_exactly_the_verdicts_named() {
        let set = VerdictSet::parse("aborted, false_alive").unwrap();
        assert_eq!(
            set.verdicts().collect::<Vec<_>>(),
            [Verdict::FalseAlive, Verdict::Aborted]
        );
        assert!(!set.contains(Verdict::Suspect));
        let set = VerdictSet::parse("suspect,closed").unwrap();
        assert!(!set.contains(Verdict::FalseAlive), "exact in a list");
    }

    #[test]
    fn suspect_alone_still_includes_false_alive() {
        let set = VerdictSet::parse("suspect").unwrap();
        assert!(set.contains(Verdict::Suspect) && set.contains(Verdict::FalseAlive));
        assert!(!set.contains(Verdict::Aborted));
    }

    #[test]
    fn an_unknown_word_is_named_with_the_choices() {
        let e = VerdictSet::parse("suspect,dead").unwrap_err();
        assert!(
            e.contains("'dead'") && e.contains("false_alive, suspect, aborted"),
            "{e}"
        );
        assert!(VerdictSet::parse("").is_err());
    }
}
