//! The verdict: at one instant, which of the spec's reasons hold, and the
//! evidence for each (numbers, and frames to open in Wireshark).
//!
//! Every rule reads facts recorded during the pass (TCP endpoints, the
//! WebSocket activity) and the evaluation time; none reads a clock.

use serde::Serialize;

use super::activity::Activity;
use super::{Code, Kind, Thresholds, Verdict, DATA_CADENCE_MESSAGES};
use crate::evidence::{FrameRef, Moment};
use crate::side::Side;
use crate::tcp::{Connection, TcpState};
use crate::time::{Span, Timestamp};
use crate::websocket::{Session, SessionKind};

/// The numbers behind a reason. Only the fields that apply are printed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evidence {
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
    /// Hex of the Ping payload that went unanswered or was echoed wrongly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pong_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding_pings: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<&'static str>,
    /// Capture frames that show it.
    pub frames: Vec<FrameRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    pub code: Code,
    pub kind: Kind,
    /// The endpoint at fault; null for `no_heartbeat`.
    pub side: Option<Side>,
    /// When the condition began (the stall's start, the silent side's last
    /// frame, the unanswered Ping…).
    pub since: Timestamp,
    pub detail: String,
    pub evidence: Evidence,
}

/// A stall or silence that ended (recovered, or with the connection).
#[derive(Clone, Debug, Serialize)]
pub struct Episode {
    pub code: Code,
    pub side: Option<Side>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_s: f64,
    pub frames: [FrameRef; 2],
}

#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub notes: Vec<Reason>,
    pub episodes: Vec<Episode>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secs(span: Span) -> f64 {
    (span.secs_f64() * 1e3).round() / 1e3
}

/// Judges `conn` at `at`. The connection holds the state as of `at` (the
/// pipeline stops feeding it there).
pub fn judge(conn: &Connection<Session>, at: Timestamp, th: &Thresholds) -> Judgement {
    let session = &conn.observer;
    let ws = &session.activity;
    let frames_visible = matches!(session.kind, SessionKind::WebSocket { .. });

    let both_close = ws.sides.client.close.is_some() && ws.sides.server.close.is_some();
    let both_fin = conn.endpoints.client.fin.is_some() && conn.endpoints.server.fin.is_some();
    let end = closing_moment(conn, ws);

    let mut notes = notes(conn, ws, both_close, both_fin);
    let mut episodes = past_episodes(conn, ws, th);

    let verdict = if both_close || both_fin || conn.state == TcpState::Closed {
        Some(Verdict::Closed)
    } else if conn.state == TcpState::Reset {
        Some(Verdict::Aborted)
    } else {
        None
    };

    if let Some(verdict) = verdict {
        // Ended: the hard reasons that held just before the end become
        // episodes ending there.
        if let Some(end) = end {
            let before = Timestamp::from_nanos(end.at.nanos() - 1);
            for r in hard_reasons(conn, ws, before, th, frames_visible) {
                episodes.push(Episode {
                    code: r.code,
                    side: r.side,
                    start: r.since,
                    end: end.at,
                    duration_s: secs(end.at.since(r.since)),
                    frames: [
                        r.evidence.frames.first().copied().unwrap_or(end.frame),
                        end.frame,
                    ],
                });
            }
        }
        episodes.sort_by_key(|e| e.start);
        return Judgement {
            verdict,
            reasons: Vec::new(),
            notes,
            episodes,
        };
    }

    let mut reasons = hard_reasons(conn, ws, at, th, frames_visible);
    let hard = !reasons.is_empty();
    reasons.extend(soft_reasons(conn, ws, at, th, frames_visible));
    let verdict = if hard {
        Verdict::FalseAlive
    } else if !reasons.is_empty() {
        Verdict::Suspect
    } else {
        Verdict::Alive
    };
    notes.sort_by_key(|n| n.code);
    episodes.sort_by_key(|e| e.start);
    Judgement {
        verdict,
        reasons,
        notes,
        episodes,
    }
}

/// The packet that ended the connection: the RST, or the later of the two
/// FINs / Close frames.
fn closing_moment(conn: &Connection<Session>, ws: &Activity) -> Option<Moment> {
    let e = &conn.endpoints;
    if let Some(side) = conn.reset_by {
        return e[side].rst;
    }
    let fins = e
        .client
        .fin
        .zip(e.server.fin)
        .map(|(a, b)| a.max_by_key_at(b));
    let closes = ws
        .sides
        .client
        .close
        .as_ref()
        .zip(ws.sides.server.close.as_ref())
        .map(|(a, b)| a.at.max_by_key_at(b.at));
    match (fins, closes) {
        (Some(f), Some(c)) => Some(f.min_by_key_at(c)),
        (f, c) => f.or(c),
    }
}

trait ByTime {
    fn max_by_key_at(self, other: Self) -> Self;
    fn min_by_key_at(self, other: Self) -> Self;
}

impl ByTime for Moment {
    fn max_by_key_at(self, other: Moment) -> Moment {
        if other.at > self.at {
            other
        } else {
            self
        }
    }
    fn min_by_key_at(self, other: Moment) -> Moment {
        if other.at < self.at {
            other
        } else {
            self
        }
    }
}

fn reason(
    code: Code,
    side: Option<Side>,
    since: Timestamp,
    detail: String,
    evidence: Evidence,
) -> Reason {
    Reason {
        code,
        kind: code.kind(),
        side,
        since,
        detail,
        evidence,
    }
}

fn hard_reasons(
    conn: &Connection<Session>,
    ws: &Activity,
    at: Timestamp,
    th: &Thresholds,
    frames_visible: bool,
) -> Vec<Reason> {
    let mut out = Vec::new();
    let tcp_open = !matches!(conn.state, TcpState::Closed | TcpState::Reset);

    for sender in Side::BOTH {
        let e = &conn.endpoints[sender];
        let peer = sender.other();
        // peer_unreachable: our bytes wait, unacknowledged, past the ACK
        // stall, and we retransmitted them (the peer is not ACKing).
        let stall = &e.ack_stall;
        if let Some(since) = stall.since {
            let limit = th.ack_stall(e.rtt.srtt());
            let waited = at.since(since.at);
            if e.backlog() > 0
                && waited > limit
                && stall.retransmissions >= th.ack_stall_retransmissions
            {
                let mut frames = vec![since.frame];
                frames.extend(stall.first_retransmission.map(|m| m.frame));
                frames.extend(stall.last_retransmission.map(|m| m.frame));
                frames.dedup();
                out.push(reason(
                    Code::PeerUnreachable,
                    Some(peer),
                    since.at,
                    format!(
                        "{} has not acknowledged {} bytes from the {} for {:.1}s ({} retransmissions; stall threshold {:.1}s)",
                        peer.name(),
                        e.backlog(),
                        sender.name(),
                        waited.secs_f64(),
                        stall.retransmissions,
                        limit.secs_f64()
                    ),
                    Evidence {
                        backlog_bytes: Some(e.backlog()),
                        retransmissions: Some(stall.retransmissions),
                        gap_s: Some(secs(waited)),
                        threshold_s: Some(secs(limit)),
                        frames,
                        ..Evidence::default()
                    },
                ));
            }
        }
    }

    for side in Side::BOTH {
        // zero_window_stall: this side advertises a zero window, held.
        let zw = &conn.endpoints[side].zero_window;
        if let Some(open) = zw.open {
            let held = at.since(open.at);
            if held >= th.zero_window {
                out.push(reason(
                    Code::ZeroWindowStall,
                    Some(side),
                    open.at,
                    format!(
                        "{} has advertised a zero receive window for {:.1}s: its application stopped reading ({} probes from the {})",
                        side.name(),
                        held.secs_f64(),
                        zw.probes_in_open,
                        side.other().name()
                    ),
                    Evidence {
                        window: Some(0),
                        zero_window_probes: Some(zw.probes_in_open),
                        gap_s: Some(secs(held)),
                        threshold_s: Some(secs(th.zero_window)),
                        frames: vec![open.frame],
                        ..Evidence::default()
                    },
                ));
            }
        }
    }

    if frames_visible {
        for pinger in Side::BOTH {
            // ping_unanswered: the oldest outstanding Ping is older than the
            // pong timeout. Older ones were superseded by answering only.
            let owner = pinger.other();
            let timeout = ws.pong_timeout(pinger);
            let outstanding = &ws.sides[pinger].outstanding;
            if let Some(ping) = outstanding.iter().find(|p| at.since(p.at.at) > timeout) {
                let waited = at.since(ping.at.at);
                out.push(reason(
                    Code::PingUnanswered,
                    Some(owner),
                    ping.at.at,
                    format!(
                        "{} has not answered a Ping sent {:.1}s ago (pong timeout {:.1}s; {} Ping(s) outstanding)",
                        owner.name(),
                        waited.secs_f64(),
                        timeout.secs_f64(),
                        outstanding.len()
                    ),
                    Evidence {
                        ping_payload: Some(hex(ping.payload())),
                        outstanding_pings: Some(outstanding.len()),
                        gap_s: Some(secs(waited)),
                        threshold_s: Some(secs(timeout)),
                        frames: vec![ping.at.frame],
                        ..Evidence::default()
                    },
                ));
            }
        }
    }

    for side in Side::BOTH {
        // read_gap_exceeded: a side with a cadence (or a Pong owed) has
        // written nothing for longer than the read deadline. Not silent,
        // though, is a side whose writes the peer is blocking (bytes
        // unacknowledged and retransmitted, or a zero window from the
        // peer): that is the peer's fault, reported on the peer. And a side
        // that sent Close may send nothing more (RFC 6455 §5.5.1).
        let me = &ws.sides[side];
        let e = &conn.endpoints[side];
        let zero_window = conn.endpoints[side.other()].zero_window.open.is_some();
        let blocked = zero_window || (e.backlog() > 0 && e.ack_stall.retransmissions > 0);
        let judged = me.has_cadence() || (frames_visible && ws.owes_pong(side));
        if let (Some(last), true, false) = (me.last_frame, judged, blocked || me.close.is_some()) {
            let deadline = ws.read_deadline(side);
            let gap = at.since(last.at);
            if gap > deadline {
                let what = if frames_visible {
                    "frame"
                } else {
                    "TLS record"
                };
                out.push(reason(
                    Code::ReadGapExceeded,
                    Some(side),
                    last.at,
                    format!(
                        "no {what} from the {} for {:.1}s (read deadline {:.1}s)",
                        side.name(),
                        gap.secs_f64(),
                        deadline.secs_f64()
                    ),
                    Evidence {
                        gap_s: Some(secs(gap)),
                        threshold_s: Some(secs(deadline)),
                        frames: vec![last.frame],
                        ..Evidence::default()
                    },
                ));
            }
        }
    }

    for side in Side::BOTH {
        let other = side.other();
        let fin = conn.endpoints[side].fin;
        let close = ws.sides[side].close.as_ref();
        // half_closed: FIN with no Close frame before it, the other side
        // still open past the timeout (RFC 6455 §7.1.1 wants Close first).
        if let Some(fin) = fin {
            let no_close_first = close.is_none_or(|c| c.at.at > fin.at);
            let other_open = tcp_open && conn.endpoints[other].fin.is_none();
            let held = at.since(fin.at);
            if no_close_first && other_open && held > th.half_close_timeout && frames_visible {
                out.push(reason(
                    Code::HalfClosed,
                    Some(side),
                    fin.at,
                    format!(
                        "{} sent FIN without a WebSocket Close {:.1}s ago; the {} still holds the connection open",
                        side.name(),
                        held.secs_f64(),
                        other.name()
                    ),
                    Evidence {
                        gap_s: Some(secs(held)),
                        threshold_s: Some(secs(th.half_close_timeout)),
                        frames: vec![fin.frame],
                        ..Evidence::default()
                    },
                ));
            }
        }
        // close_handshake_incomplete: Close sent, none back, TCP open.
        if let (Some(close), None, true) = (close, ws.sides[other].close.as_ref(), tcp_open) {
            let waited = at.since(close.at.at);
            if waited > th.close_timeout {
                out.push(reason(
                    Code::CloseHandshakeIncomplete,
                    Some(other),
                    close.at.at,
                    format!(
                        "{} sent Close{} {:.1}s ago and the {} has not answered it (RFC 6455 §5.5.1)",
                        side.name(),
                        close.code.map(|c| format!(" {c}")).unwrap_or_default(),
                        waited.secs_f64(),
                        other.name()
                    ),
                    Evidence {
                        close_code: close.code,
                        gap_s: Some(secs(waited)),
                        threshold_s: Some(secs(th.close_timeout)),
                        frames: vec![close.at.frame],
                        ..Evidence::default()
                    },
                ));
            }
        }
    }
    out
}

fn soft_reasons(
    conn: &Connection<Session>,
    ws: &Activity,
    at: Timestamp,
    th: &Thresholds,
    frames_visible: bool,
) -> Vec<Reason> {
    let mut out = Vec::new();
    if frames_visible {
        for side in Side::BOTH {
            // app_stall_control_only: data had a cadence and stopped, while
            // control frames (Pongs, Pings) still flow.
            let me = &ws.sides[side];
            let (Some(last_data), Some(last_control)) = (me.last_data, me.last_control) else {
                continue;
            };
            if me.data_messages < DATA_CADENCE_MESSAGES {
                continue;
            }
            let deadline = ws.read_deadline(side);
            let stall = th.data_stall(me.data_cadence.median(), deadline);
            let quiet = at.since(last_data.at);
            if quiet > stall
                && last_control.at > last_data.at
                && at.since(last_control.at) <= deadline
            {
                out.push(reason(
                    Code::AppStallControlOnly,
                    Some(side),
                    last_data.at,
                    format!(
                        "{} still sends control frames but no data for {:.1}s (it had a data message every {:.1}s; stall threshold {:.1}s)",
                        side.name(),
                        quiet.secs_f64(),
                        me.data_cadence.median().unwrap_or_default().secs_f64(),
                        stall.secs_f64()
                    ),
                    Evidence {
                        gap_s: Some(secs(quiet)),
                        threshold_s: Some(secs(stall)),
                        count: Some(me.data_messages),
                        frames: vec![last_data.frame, last_control.frame],
                        ..Evidence::default()
                    },
                ));
            }
        }
    }

    // no_heartbeat: idle past the threshold, and nothing on this connection
    // would notice a dead peer (no Ping/Pong, no TCP keep-alive).
    let e = &conn.endpoints;
    let keepalives = e.client.keepalives + e.server.keepalives;
    let last_heard = [e.client.last_payload, e.server.last_payload]
        .into_iter()
        .flatten()
        .max_by_key(|m| m.at);
    if let Some(last) = last_heard {
        let idle = at.since(last.at);
        if idle > th.idle && !ws.any_heartbeat() && keepalives == 0 {
            out.push(reason(
                Code::NoHeartbeat,
                None,
                last.at,
                format!(
                    "idle for {:.1}s with no Ping/Pong and no TCP keep-alive ever seen: a dead peer would look the same",
                    idle.secs_f64()
                ),
                Evidence {
                    gap_s: Some(secs(idle)),
                    threshold_s: Some(secs(th.idle)),
                    frames: vec![last.frame],
                    ..Evidence::default()
                },
            ));
        }
    }

    for side in Side::BOTH {
        // capture_loss: the receiver ACKed bytes the capture never saw.
        let missed = e[side].assembler.gaps.acked_unseen;
        if missed > 0 {
            out.push(reason(
                Code::CaptureLoss,
                Some(side),
                conn.first.at,
                format!(
                    "the capture missed {missed} bytes the {} sent (the {} acknowledged them): findings about this direction may be incomplete",
                    side.name(),
                    side.other().name()
                ),
                Evidence {
                    missed_bytes: Some(missed),
                    frames: Vec::new(),
                    ..Evidence::default()
                },
            ));
        }
    }
    out
}

fn notes(
    conn: &Connection<Session>,
    ws: &Activity,
    both_close: bool,
    both_fin: bool,
) -> Vec<Reason> {
    let mut out = Vec::new();
    for side in Side::BOTH {
        let me = &ws.sides[side];
        if let Some((at, ping, pong)) = &me.first_mismatch {
            out.push(reason(
                Code::PongPayloadMismatch,
                Some(side),
                at.at,
                format!(
                    "{} answered {} Ping(s) with a Pong whose payload differs (RFC 6455 §5.5.3 requires an echo)",
                    side.name(),
                    me.mismatched_pongs
                ),
                Evidence {
                    ping_payload: Some(hex(ping)),
                    pong_payload: Some(hex(pong)),
                    count: Some(u64::from(me.mismatched_pongs)),
                    frames: vec![at.frame],
                    ..Evidence::default()
                },
            ));
        }
        if me.violations > 0 {
            let mut codes: Vec<&'static str> =
                me.violation_samples.iter().map(|(c, _)| *c).collect();
            codes.dedup();
            let first = me
                .violation_samples
                .first()
                .map(|(_, m)| *m)
                .unwrap_or(conn.first);
            out.push(reason(
                Code::ProtocolViolation,
                Some(side),
                first.at,
                format!(
                    "{} broke RFC 6455 framing rules {} time(s): {}",
                    side.name(),
                    me.violations,
                    codes.join(", ")
                ),
                Evidence {
                    count: Some(u64::from(me.violations)),
                    violations: codes,
                    frames: me.violation_samples.iter().map(|(_, m)| m.frame).collect(),
                    ..Evidence::default()
                },
            ));
        }
    }
    let reset = conn.state == TcpState::Reset;
    if (both_fin || reset) && !both_close {
        let e = &conn.endpoints;
        let end = conn
            .reset_by
            .and_then(|s| e[s].rst)
            .or(e.client.fin)
            .or(e.server.fin);
        let fin = end.unwrap_or(conn.last);
        out.push(reason(
            Code::CloseWithoutWebsocketClose,
            None,
            fin.at,
            "TCP closed without the WebSocket closing handshake (RFC 6455 §7.1.5: abnormal closure, 1006)".into(),
            Evidence {
                frames: vec![fin.frame],
                ..Evidence::default()
            },
        ));
    }
    out
}

fn past_episodes(conn: &Connection<Session>, ws: &Activity, th: &Thresholds) -> Vec<Episode> {
    let mut out = Vec::new();
    let mut push = |code, side, start: Moment, end: Moment| {
        out.push(Episode {
            code,
            side,
            start: start.at,
            end: end.at,
            duration_s: secs(end.at.since(start.at)),
            frames: [start.frame, end.frame],
        })
    };
    for side in Side::BOTH {
        let e = &conn.endpoints[side];
        let limit = th.ack_stall(e.rtt.srtt());
        for s in &e.ack_stall.episodes {
            if s.end.at.since(s.start.at) > limit && s.count >= th.ack_stall_retransmissions {
                push(Code::PeerUnreachable, Some(side.other()), s.start, s.end);
            }
        }
        for z in &e.zero_window.episodes {
            if z.end.at.since(z.start.at) >= th.zero_window {
                push(Code::ZeroWindowStall, Some(side), z.start, z.end);
            }
        }
        for p in &ws.sides[side].episodes {
            if p.code == Code::ReadGapExceeded && writes_blocked(conn, side, p.start.at, p.end.at) {
                continue; // the peer's fault, as for a current read gap
            }
            push(p.code, Some(side), p.start, p.end);
        }
    }
    out
}

/// Whether the peer blocked `side`'s writes at some point in `[from, to]`:
/// a zero window it advertised, or an ACK stall with retransmissions of
/// `side`'s bytes. A silence then is not `side`'s.
fn writes_blocked(conn: &Connection<Session>, side: Side, from: Timestamp, to: Timestamp) -> bool {
    let overlaps = |start: Timestamp, end: Timestamp| start <= to && end >= from;
    let zw = &conn.endpoints[side.other()].zero_window;
    let stall = &conn.endpoints[side].ack_stall;
    zw.episodes.iter().any(|z| overlaps(z.start.at, z.end.at))
        || zw.open.is_some_and(|o| o.at <= to)
        || stall
            .episodes
            .iter()
            .any(|s| overlaps(s.start.at, s.end.at))
        || (stall.retransmissions > 0 && stall.since.is_some_and(|s| s.at <= to))
}
