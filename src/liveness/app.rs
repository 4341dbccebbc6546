//! Application heartbeats (the liveness spec's "Heartbeats" section), kept
//! per side like WebSocket Pings: the pings a side sent and their answers,
//! its one-way beats and their cadence, and any interval the application
//! declared on the wire. Which heartbeat paces a side, with its interval,
//! is [`Pace`].

use serde::Serialize;

use super::cadence::{Cadence, LatencyHistogram, HEARTBEAT_INTERVALS};
use super::event::Mark;
use crate::side::{PerSide, Side};
use crate::time::Span;
use crate::websocket::app::{AppProtocol, Beat, Declared, RecognisedBy};

/// Application pings kept per side waiting for an answer; the newest win,
/// as for WebSocket Pings.
pub const MAX_OUTSTANDING_APP_PINGS: usize = 8;

/// An application ping waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub struct AppPing {
    pub mark: Mark,
    /// The owner's blocked time when it was sent: time it could not
    /// answer is not charged (as for WebSocket Pings).
    pub owner_blocked: Span,
}

/// One side's application heartbeats.
#[derive(Clone, Debug, Default)]
pub struct AppBeats {
    /// This side's pings and one-way beats (bursts aside).
    pub cadence: Cadence,
    pub pings: u32,
    pub one_way: u32,
    /// This side's pings the other side has not answered, oldest first.
    pub outstanding: Vec<AppPing>,
    /// Answers this side got, and their latency.
    pub answers_received: u32,
    pub latency: LatencyHistogram,
    /// Answers this side sent (to the other side's pings, or unsolicited).
    pub answers_sent: u32,
    pub last: Option<Mark>,
    /// The interval the application declared for this side's beats.
    pub declared: Option<Declared>,
}

impl AppBeats {
    /// Beats this side sent of its own accord (pings and one-way beats).
    pub fn beats(&self) -> u32 {
        self.pings.saturating_add(self.one_way)
    }
}

/// A connection's application heartbeats: its protocol, how it was
/// recognised, and each side's beats (allocated once the protocol is
/// recognised: most connections never pay for it).
#[derive(Clone, Debug)]
pub struct AppState {
    pub protocol: AppProtocol,
    pub by: RecognisedBy,
    /// A declaration for "whichever side pings" (Engine.IO, version
    /// unknown), until a side pings.
    pub undirected: Option<Declared>,
    pub sides: PerSide<AppBeats>,
}

/// Which heartbeat layer paces a side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    WebSocket,
    App(AppProtocol),
}

impl Layer {
    /// The name findings print (`heartbeat`).
    pub fn name(self) -> &'static str {
        match self {
            Layer::WebSocket => "websocket",
            Layer::App(p) => p.name(),
        }
    }
}

/// Where an interval comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The application said so on the wire.
    Declared,
    /// Learned from the traffic (the spec's cadence rule).
    Learned,
}

/// The heartbeat a side is held to: its layer, its interval and where it
/// comes from, and the application's own deadlines when it declared them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    pub layer: Layer,
    pub interval: Span,
    pub source: Source,
    pub deadline: Option<Span>,
    pub pong_timeout: Option<Span>,
}

impl Pace {
    pub fn learned(layer: Layer, interval: Span) -> Self {
        Pace {
            layer,
            interval,
            source: Source::Learned,
            deadline: None,
            pong_timeout: None,
        }
    }

    fn declared(protocol: AppProtocol, d: Declared) -> Self {
        Pace {
            layer: Layer::App(protocol),
            interval: d.interval,
            source: Source::Declared,
            deadline: d.deadline,
            pong_timeout: d.pong_timeout,
        }
    }
}

/// What an application beat did, for the rules that look at answers.
pub struct AppAnswer {
    pub ping: AppPing,
    pub latency: Span,
}

impl AppState {
    pub fn new(protocol: AppProtocol, by: RecognisedBy) -> Self {
        AppState {
            protocol,
            by,
            undirected: None,
            sides: PerSide::default(),
        }
    }

    /// Records `beat` from `side`; an answer returns the ping it answered.
    /// An answer pairs with the most recent outstanding ping and supersedes
    /// every older one, as a Pong does (RFC 6455 §5.5.3): these protocols
    /// answer in order, and a late answer proves the reader alive anyway.
    pub fn on_beat(
        &mut self,
        side: Side,
        beat: Beat,
        mark: Mark,
        (floor, owner_blocked): (Span, Span),
    ) -> Option<AppAnswer> {
        let (me, other) = self.sides.pair_mut(side);
        me.last = Some(mark);
        match beat {
            Beat::Ping | Beat::OneWay => {
                me.cadence.event(mark.at, floor);
                if beat == Beat::OneWay {
                    me.one_way = me.one_way.saturating_add(1);
                    return None;
                }
                me.pings = me.pings.saturating_add(1);
                if me.outstanding.len() == MAX_OUTSTANDING_APP_PINGS {
                    me.outstanding.remove(0);
                }
                me.outstanding.push(AppPing {
                    mark,
                    owner_blocked,
                });
                None
            }
            Beat::Pong => {
                me.answers_sent = me.answers_sent.saturating_add(1);
                let ping = other.outstanding.pop()?;
                other.outstanding.clear();
                other.answers_received = other.answers_received.saturating_add(1);
                let latency = mark.at.since(ping.mark.at);
                other.latency.record(latency);
                Some(AppAnswer { ping, latency })
            }
        }
    }

    /// A declared interval, kept with the side it paces (or undirected).
    pub fn on_declared(&mut self, declared: Declared) {
        match declared.side {
            Some(side) => self.sides[side].declared = Some(declared),
            None => self.undirected = Some(declared),
        }
    }

    /// The application heartbeat pacing `side`: declared for it (or, when
    /// undirected, for the side that pings: `side` if it ever pinged, else
    /// the server, as Engine.IO from v4 on), else learned from its beats.
    pub fn pace(&self, side: Side) -> Option<Pace> {
        let me = &self.sides[side];
        if let Some(d) = me.declared {
            return Some(Pace::declared(self.protocol, d));
        }
        if let Some(d) = self.undirected {
            let other_pings = self.sides[side.other()].pings > 0;
            if me.pings > 0 || (!other_pings && side == Side::Server) {
                return Some(Pace::declared(self.protocol, d));
            }
        }
        let learned = me.cadence.learned(HEARTBEAT_INTERVALS)?;
        Some(Pace::learned(Layer::App(self.protocol), learned))
    }

    /// Whether any beat or answer was seen.
    pub fn any(&self) -> bool {
        let b = |s: &AppBeats| s.beats() > 0 || s.answers_sent > 0;
        b(&self.sides.client) || b(&self.sides.server)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{self, Client, Server};
    use crate::time::Span;
    use crate::websocket::app::{AppProtocol::*, Beat, Declared};

    /// Engine.IO v4 as a server opens it: pingInterval 2 s, pingTimeout 1 s.
    fn socket_io(pings: i64) -> Script {
        let mut s = Script::established();
        let declared = Declared {
            side: Some(Server),
            interval: Span::from_millis(2000),
            deadline: Some(Span::from_millis(3000)),
            pong_timeout: Some(Span::from_millis(1000)),
        };
        s.at(0).declared(Server, SocketIo, declared);
        for i in 0..pings {
            s.at(i * 2000).app(Server, SocketIo, Beat::Ping);
            s.at(i * 2000 + 3).app(Client, SocketIo, Beat::Pong);
        }
        s
    }

    fn heartbeat_of(s: &Script, ms: i64, code: Code) -> Option<&'static str> {
        let j = s.judge_at(ms);
        j.reasons
            .iter()
            .find(|r| r.code == code)
            .and_then(|r| r.facts.heartbeat)
    }

    #[test]
    fn a_working_application_heartbeat_is_alive_and_never_no_heartbeat() {
        let s = socket_io(10);
        // 18 s of only application heartbeats, past the 15 s idle threshold.
        assert_eq!(s.judge_at(18_100).verdict, Verdict::Alive);
        let pace = s.judge.activity().pace(Server).expect("a pace");
        assert_eq!(pace.interval, Span::from_millis(2000));
        assert_eq!(pace.source, super::Source::Declared);
    }

    #[test]
    fn a_frozen_server_is_charged_at_its_declared_deadline() {
        // Last ping at 8 s: Engine.IO's own rule gives up at 8 + 2 + 1 s.
        let s = socket_io(5);
        assert_eq!(s.judge_at(10_900).verdict, Verdict::Alive);
        assert_eq!(
            s.codes_at(11_100),
            vec![(Code::ReadGapExceeded, Some(Server))]
        );
        assert_eq!(
            heartbeat_of(&s, 11_100, Code::ReadGapExceeded),
            Some("socket.io")
        );
    }

    #[test]
    fn a_frozen_client_owes_the_pong_within_the_declared_timeout() {
        let mut s = socket_io(5);
        s.at(10_000).app(Server, SocketIo, Beat::Ping);
        assert_eq!(s.judge_at(10_900).verdict, Verdict::Alive);
        assert_eq!(s.judge_at(10_900).pending[0].code, Code::PingUnanswered);
        // Silent past the deadline too, as with WebSocket Pings; nothing
        // against the server, which kept pinging.
        assert_eq!(
            s.codes_at(11_100),
            vec![
                (Code::PingUnanswered, Some(Client)),
                (Code::ReadGapExceeded, Some(Client))
            ]
        );
        assert_eq!(
            heartbeat_of(&s, 11_100, Code::PingUnanswered),
            Some("socket.io")
        );
    }

    #[test]
    fn application_pings_unanswered_while_websocket_pings_are() {
        // graphql-transport-ws: the client pings every 2 s (learned), and
        // also sends WebSocket Pings; the server's library answers those,
        // its application stopped answering at 8 s.
        let mut s = Script::established();
        for i in 0..7 {
            let t = i * 2000;
            s.at(t).app(Client, GraphqlTransportWs, Beat::Ping);
            if t < 8000 {
                s.at(t + 2).app(Server, GraphqlTransportWs, Beat::Pong);
            }
            s.at(t + 10).ping(Client, &[i as u8]);
            s.at(t + 11).pong(Server, &[i as u8]);
        }
        // The ping at 8 s is unanswered; 2 × the 2 s heartbeat later:
        let codes = s.codes_at(12_100);
        assert_eq!(codes, vec![(Code::PingUnanswered, Some(Server))]);
        assert_eq!(
            heartbeat_of(&s, 12_100, Code::PingUnanswered),
            Some("graphql-transport-ws")
        );
    }

    #[test]
    fn one_way_beats_pace_each_side() {
        // STOMP, heart-beats every 2 s both ways; the server's stop at 8 s.
        let mut s = Script::established();
        for i in 0..10 {
            s.at(i * 2000).app(Client, Stomp, Beat::OneWay);
            if i <= 4 {
                s.at(i * 2000 + 5).app(Server, Stomp, Beat::OneWay);
            }
        }
        // 3 × 2 s after the server's last beat at 8 s.
        assert_eq!(s.judge_at(13_900).verdict, Verdict::Alive);
        assert_eq!(
            s.codes_at(18_100),
            vec![(Code::ReadGapExceeded, Some(Server))]
        );
        assert_eq!(
            heartbeat_of(&s, 18_100, Code::ReadGapExceeded),
            Some("stomp")
        );
    }

    #[test]
    fn an_undirected_declaration_paces_the_side_that_pings() {
        // Engine.IO v3 (version unknown here): the client pings.
        let mut s = Script::established();
        let declared = Declared {
            side: None,
            interval: Span::from_millis(2000),
            deadline: Some(Span::from_millis(3000)),
            pong_timeout: Some(Span::from_millis(1000)),
        };
        s.at(0).declared(Server, SocketIo, declared);
        for i in 0..3 {
            s.at(i * 2000).app(Client, SocketIo, Beat::Ping);
            s.at(i * 2000 + 3).app(Server, SocketIo, Beat::Pong);
        }
        let pace = |side: Side| s.judge.activity().pace(side).map(|p| p.interval);
        assert_eq!(pace(Client), Some(Span::from_millis(2000)));
        assert_eq!(pace(Server), None);
        assert_eq!(
            s.codes_at(7_100),
            vec![(Code::ReadGapExceeded, Some(Client))]
        );
    }

    #[test]
    fn a_side_waiting_for_its_pings_answer_is_not_the_silent_one() {
        // graphql-ws pings 2 s after each pong: when the server stops
        // answering, the client stops pinging, but keeps its WebSocket
        // Pings going. Only the server is charged.
        let mut s = Script::established();
        for i in 0..4 {
            let t = i * 2000;
            s.at(t).app(Client, GraphqlTransportWs, Beat::Ping);
            if i < 3 {
                s.at(t + 2).app(Server, GraphqlTransportWs, Beat::Pong);
            }
        }
        for i in 0..12 {
            s.at(i * 2000 + 10).ping(Client, &[i as u8]);
            s.at(i * 2000 + 11).pong(Server, &[i as u8]);
        }
        assert_eq!(
            s.codes_at(22_100),
            vec![(Code::PingUnanswered, Some(Server))]
        );
    }

    #[test]
    fn websocket_pongs_do_not_hide_a_stopped_application_heartbeat() {
        // STOMP beats from the client stop at 8 s; its library still
        // answers the server's WebSocket Pings.
        let mut s = Script::established();
        for i in 0..10 {
            let t = i * 2000;
            if i <= 4 {
                s.at(t).app(Client, Stomp, Beat::OneWay);
            }
            s.at(t + 5).app(Server, Stomp, Beat::OneWay);
            s.at(t + 10).ping(Server, &[i as u8]);
            s.at(t + 11).pong(Client, &[i as u8]);
        }
        assert_eq!(
            s.codes_at(18_100),
            vec![(Code::ReadGapExceeded, Some(Client))]
        );
    }
}
