//! One connection's judge: events in, a verdict out at any instant.
//!
//! [`Judge::on_event`] takes events in time order; [`Judge::judge`] answers
//! for any instant at or after the last event (the caller feeds nothing
//! past the instant it asks about). As in smoltcp's `poll(timestamp)`, time
//! is a parameter: the judge never reads a clock.

use std::sync::Arc;

use serde::Serialize;

use super::activity::{Activity, Outcome, Payload};
use super::event::{Event, EventKind, Mark, TcpEvent, TcpInfo, WsEvent};
use super::rules::{self, Checks, View};
use super::socket::SocketSeen;
use super::transport::{Transport, ZeroWindow};
use super::{Code, Kind, Settings, Thresholds, Verdict};
use crate::evidence::EvidenceRef;
use crate::side::{PerSide, Side};
use crate::time::{Span, Timestamp};

/// What the judge can see of the application: WebSocket frames, or only
/// TLS records (wss without keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Frames,
    TlsRecords,
}

/// The numbers behind a reason, for the report to print (only those that
/// apply are set). Spans are exact; rounding is the report's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub backlog_bytes: Option<u32>,
    pub retransmissions: Option<u32>,
    pub window: Option<u32>,
    pub probes: Option<u32>,
    /// How long the condition has held (time the side could not act
    /// deducted, where a rule does so).
    pub gap: Option<Span>,
    pub threshold: Option<Span>,
    /// Share of the recent window the condition held (slow_reader).
    pub share: Option<f64>,
    pub ping_payload: Option<Payload>,
    pub pong_payload: Option<Payload>,
    pub outstanding_pings: Option<usize>,
    pub count: Option<u64>,
    pub missed_bytes: Option<u64>,
    /// Bytes the sender's application wrote that its kernel has not sent,
    /// from its latest socket reading (sock_diag or a probe's TCP_INFO).
    pub notsent_bytes: Option<u32>,
    /// Bytes that differed between two copies of the same stream bytes.
    pub differing_bytes: Option<u64>,
    pub close_code: Option<u16>,
    pub interval: Option<Span>,
    /// The heartbeat layer a silence or a missing answer is measured by:
    /// `websocket` or the application protocol's name.
    pub heartbeat: Option<&'static str>,
    /// A silence measured on the side's application messages (its own
    /// application heartbeat stopped), not on all its frames.
    pub application_silence: bool,
    pub violations: Vec<&'static str>,
}

/// A reason (or a note) that holds at the instant judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    pub code: Code,
    /// The endpoint at fault; `None` for `no_heartbeat` and some notes.
    pub side: Option<Side>,
    /// When the condition began.
    pub since: Timestamp,
    pub facts: Facts,
    /// What proves it, oldest first.
    pub evidence: Vec<EvidenceRef>,
}

impl Reason {
    pub fn kind(&self) -> Kind {
        self.code.kind()
    }
}

/// Something owed at the instant judged whose threshold has not passed:
/// it becomes a reason at `due` if nothing arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub code: Code,
    pub side: Option<Side>,
    pub since: Timestamp,
    pub due: Timestamp,
}

/// A stall or silence that ended (recovered, or with the connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Episode {
    pub code: Code,
    pub side: Option<Side>,
    pub start: Mark,
    pub end: Mark,
}

#[derive(Clone, Debug)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub pending: Vec<Pending>,
    pub notes: Vec<Reason>,
    pub episodes: Vec<Episode>,
    /// Episodes beyond the bound, counted only.
    pub episodes_dropped: u32,
}

/// Past episodes kept per connection; later ones are counted, not kept.
pub const MAX_EPISODES: usize = 32;

/// What a judge keeps only once it happens: past episodes, and each
/// side's latest socket reading.
#[derive(Clone, Debug, Default)]
struct History {
    episodes: Vec<Episode>,
    /// Episodes beyond `MAX_EPISODES`, counted only.
    episodes_dropped: u32,
    sockets: PerSide<Option<SocketSeen>>,
}

/// The judge of one connection.
#[derive(Clone, Debug)]
pub struct Judge {
    /// Shared by every connection of a run.
    settings: Arc<Settings>,
    visibility: Visibility,
    tcp: PerSide<Transport>,
    ws: Activity,
    first: Option<Mark>,
    /// Allocated with the first episode or probe reading.
    history: Option<Box<History>>,
}

impl Judge {
    pub fn new(settings: Arc<Settings>, visibility: Visibility) -> Self {
        Judge {
            settings,
            visibility,
            tcp: PerSide::default(),
            ws: Activity::default(),
            first: None,
            history: None,
        }
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.settings.thresholds
    }

    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// What the connection turned out to show: TLS records where frames
    /// were expected (TLS seen on an unnamed port), or frames where TLS was
    /// announced (plain HTTP on a `--tls-port`). Rules read it when judging,
    /// so events already taken count either way.
    pub fn set_visibility(&mut self, visibility: Visibility) {
        self.visibility = visibility;
    }

    /// What each side wrote (frame counts, heartbeats, Close frames).
    pub fn activity(&self) -> &Activity {
        &self.ws
    }

    /// What the judge knows of `side`'s TCP.
    pub fn transport(&self, side: Side) -> &Transport {
        &self.tcp[side]
    }

    /// The roles turned out the other way round: per-side state follows.
    pub fn swap_sides(&mut self) {
        self.tcp.swap();
        self.ws.sides.swap();
        if let Some(h) = &mut self.history {
            h.sockets.swap();
            for e in &mut h.episodes {
                e.side = e.side.map(Side::other);
            }
        }
    }

    /// What `side`'s own socket readings showed (a probe's socket, or a
    /// sock_diag reading on the host); `None` when it had none.
    pub fn socket(&self, side: Side) -> Option<&SocketSeen> {
        self.history.as_ref().and_then(|h| h.sockets[side].as_ref())
    }

    fn view(&self) -> View<'_> {
        View {
            th: &self.settings.thresholds,
            frames: self.visibility == Visibility::Frames,
            tcp: &self.tcp,
            ws: &self.ws,
            first: self.first.unwrap_or_default(),
            sockets: self.history.as_ref().map(|h| &h.sockets),
        }
    }

    fn push_episode(&mut self, episode: Option<Episode>) {
        let Some(episode) = episode else { return };
        let h = self.history.get_or_insert_default();
        if h.episodes.len() < MAX_EPISODES {
            h.episodes.push(episode);
        } else {
            h.episodes_dropped += 1;
        }
    }

    /// Takes one event. Events come in time order.
    pub fn on_event(&mut self, event: &Event<'_>) {
        let mark = event.mark;
        self.first.get_or_insert(mark);
        match event.kind {
            EventKind::Tcp(e) => self.on_tcp(event.side, e, mark),
            EventKind::Ws(e) => self.on_ws(event.side, e, mark),
            EventKind::TcpInfo(info) => self.on_tcp_info(event.side, info, mark),
        }
    }

    fn on_tcp(&mut self, side: Side, event: TcpEvent, mark: Mark) {
        let peer = side.other();
        match event {
            TcpEvent::Window {
                window,
                scale_known,
            } => {
                // Any segment answers the peer's keep-alives and probes.
                self.tcp[peer].probes_answered();
                let me = &mut self.tcp[side];
                if me.window == Some(window) && me.scale_known == scale_known {
                    return; // the same window again: nothing changes
                }
                me.window = Some(window);
                me.scale_known = scale_known;
                match (window, me.zero_window()) {
                    (0, None) => {
                        me.set_zero_window(Some(ZeroWindow {
                            since: mark,
                            probes: 0,
                        }));
                    }
                    (1.., Some(open)) => {
                        me.set_zero_window(None);
                        let ep = rules::zero_window_stall::on_reopen(
                            &self.settings.thresholds,
                            side,
                            open,
                            mark,
                        );
                        if ep.is_some() {
                            self.tcp[side].note_zero_window_stall_ended(mark.at);
                        }
                        self.push_episode(ep);
                    }
                    _ => {}
                }
            }
            TcpEvent::Acked { in_flight, srtt } => {
                let ep = rules::peer_unreachable::on_ack(&self.view(), side, mark);
                self.push_episode(ep);
                let me = &mut self.tcp[side];
                me.in_flight = in_flight;
                me.update_srtt(srtt);
                me.restart_stall((in_flight > 0).then_some(mark));
            }
            TcpEvent::Sent {
                len,
                retransmission,
                in_flight,
            } => {
                let me = &mut self.tcp[side];
                me.in_flight = in_flight;
                me.probes_answered();
                if len > 0 {
                    me.last_payload = Some(mark);
                }
                if in_flight > 0 && me.stall().is_none() {
                    me.restart_stall(Some(mark));
                }
                if retransmission {
                    me.note_retransmission(mark);
                }
            }
            TcpEvent::Probe { zero_window } => {
                self.tcp[side].note_probe(zero_window, mark);
                if zero_window {
                    self.tcp[peer].note_probe_into_zero_window();
                }
            }
            // None of these changes who can send: no update below.
            TcpEvent::Fin => {
                self.tcp[side].note_fin(mark);
                return;
            }
            TcpEvent::Rst => {
                self.tcp[side].note_rst(mark);
                return;
            }
            TcpEvent::Missed { bytes } => {
                self.tcp[side].note_missed(bytes, mark);
                return;
            }
            TcpEvent::Conflict { bytes } => {
                self.tcp[side].note_conflict(bytes, mark);
                return;
            }
        }
        self.update_blocked(mark.at);
    }

    /// Re-derives, after a TCP fact, which side cannot send and whose
    /// window is closed.
    fn update_blocked(&mut self, now: Timestamp) {
        for side in Side::BOTH {
            let (me, peer) = (&self.tcp[side], &self.tcp[side.other()]);
            let blocked = peer.window_closed(me.in_flight) || me.stalled();
            let closed = me.window_behind(peer.in_flight);
            let me = &mut self.tcp[side];
            me.set_blocked(blocked, now);
            me.note_window_closed(closed, now, rules::slow_reader::WINDOW);
        }
    }

    fn on_ws(&mut self, side: Side, event: WsEvent<'_>, mark: Mark) {
        let floor = self.floor();
        match event {
            WsEvent::Frame {
                header,
                control_payload,
            } => {
                self.heard(side, mark);
                let owner_blocked = self.tcp[side.other()].blocked_at(mark.at);
                let key = &self.settings.key;
                let outcome = self.ws.on_frame(
                    side,
                    &header,
                    control_payload,
                    mark,
                    (floor, owner_blocked),
                    key,
                );
                if let Outcome::Answered(answer) = outcome {
                    let ep = rules::ping_unanswered::on_answer(&self.view(), side, &answer, mark);
                    self.push_episode(ep);
                }
            }
            WsEvent::Record { len } => {
                self.heard(side, mark);
                self.ws.on_record(side, len, mark, floor);
            }
            WsEvent::App(event) => {
                let owner_blocked = self.tcp[side.other()].blocked_at(mark.at);
                let answer = self.ws.on_app(side, event, mark, (floor, owner_blocked));
                if let Some(answer) = answer {
                    let ep =
                        rules::ping_unanswered::on_app_answer(&self.view(), side, &answer, mark);
                    self.push_episode(ep);
                }
            }
            WsEvent::Violation { code } => self.ws.on_violation(side, code, mark),
            WsEvent::Resynced => self.ws.on_resync(side),
            WsEvent::Gap { len } => self.ws.on_gap(side, len),
        }
    }

    /// A frame or record from `side`: a silence that just ended may have
    /// been a read gap.
    fn heard(&mut self, side: Side, mark: Mark) {
        let ep = rules::read_gap_exceeded::on_heard(&self.view(), side, mark);
        self.push_episode(ep);
        let blocked = self.tcp[side].blocked_at(mark.at);
        self.ws.heard(side, mark, blocked);
    }

    /// A reading of `side`'s own socket (a probe's, or one sock_diag
    /// reported on the host): cumulative counters become the same TCP
    /// facts packets give.
    fn on_tcp_info(&mut self, side: Side, info: TcpInfo, mark: Mark) {
        let slot = &mut self.history.get_or_insert_default().sockets[side];
        let before = *slot;
        *slot = Some(SocketSeen::next(before.as_ref(), &info, mark));
        let last = before.map_or((0, 0), |b| (b.bytes_acked, b.total_retrans));
        // In flight is what was sent and not acknowledged, as on the wire;
        // bytes not sent yet are kept apart (the socket facts, and the
        // reasons' `notsent_bytes`): counting them would make any window
        // look filled behind a black hole.
        let in_flight = info.unacked_bytes;
        let peer = side.other();
        let window = TcpEvent::Window {
            window: info.snd_wnd,
            scale_known: true,
        };
        self.on_tcp(peer, window, mark);
        if info.bytes_acked > last.0 {
            let srtt = Some(info.srtt);
            self.on_tcp(side, TcpEvent::Acked { in_flight, srtt }, mark);
        }
        let retrans = info.total_retrans.saturating_sub(last.1);
        for i in 0..retrans.clamp(1, 16) {
            let sent = TcpEvent::Sent {
                len: 0,
                retransmission: i < retrans,
                in_flight,
            };
            self.on_tcp(side, sent, mark);
        }
    }

    /// The floor under every threshold derived from a cadence.
    fn floor(&self) -> Span {
        let srtt = self.tcp.client.srtt().max(self.tcp.server.srtt());
        super::floor(srtt)
    }

    /// The verdict at `at`, with its reasons, what is pending, notes and
    /// past episodes. `at` must not be before the last event.
    pub fn judge(&self, at: Timestamp) -> Judgement {
        let view = self.view();
        let notes = rules::notes::check(&view);
        let (mut episodes, episodes_dropped) = self.history.as_ref().map_or((Vec::new(), 0), |h| {
            (h.episodes.clone(), h.episodes_dropped)
        });
        let end = rules::closing(&view);
        if let Some((verdict, end)) = end {
            // Ended: the hard reasons that held just before the end become
            // episodes ending there.
            let before = Timestamp::from_nanos(end.at.nanos().saturating_sub(1));
            let mut checks = Checks::default();
            rules::check_all(&view, before, &mut checks);
            for r in checks.reasons.iter().filter(|r| r.kind() == Kind::Hard) {
                episodes.push(Episode {
                    code: r.code,
                    side: r.side,
                    start: Mark {
                        at: r.since,
                        evidence: r.evidence.first().copied().unwrap_or(end.evidence),
                    },
                    end,
                });
            }
            episodes.sort_by_key(|e| e.start.at);
            return Judgement {
                verdict,
                reasons: Vec::new(),
                pending: Vec::new(),
                notes,
                episodes,
                episodes_dropped,
            };
        }
        let mut checks = Checks::default();
        rules::check_all(&view, at, &mut checks);
        let hard = checks.reasons.iter().any(|r| r.kind() == Kind::Hard);
        let verdict = if hard {
            Verdict::FalseAlive
        } else if !checks.reasons.is_empty() {
            Verdict::Suspect
        } else {
            Verdict::Alive
        };
        episodes.sort_by_key(|e| e.start.at);
        checks.pending.sort_by_key(|p| p.due);
        Judgement {
            verdict,
            reasons: checks.reasons,
            pending: checks.pending,
            notes,
            episodes,
            episodes_dropped,
        }
    }

    /// The verdict alone at `at`, as [`Judge::judge`] gives it, without
    /// building notes, pending items or episodes: what a live tap asks of
    /// every connection at every tick, keeping the full judgement for the
    /// few whose verdict changed. `at` must not be before the last event.
    pub fn verdict(&self, at: Timestamp) -> Verdict {
        let view = self.view();
        if let Some((verdict, _)) = rules::closing(&view) {
            return verdict;
        }
        let mut checks = Checks::default();
        rules::check_all(&view, at, &mut checks);
        if checks.reasons.iter().any(|r| r.kind() == Kind::Hard) {
            Verdict::FalseAlive
        } else if checks.reasons.is_empty() {
            Verdict::Alive
        } else {
            Verdict::Suspect
        }
    }

    /// The instant the connection ended (its later FIN or Close, or its
    /// RST), if it did.
    pub fn ended(&self) -> Option<(Verdict, Mark)> {
        rules::closing(&self.view())
    }
}
