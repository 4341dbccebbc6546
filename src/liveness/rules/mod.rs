//! The spec's reasons, one file per code. Each file holds the code's
//! current check (`check`: does it hold at `at`, or is it pending?), its
//! past-episode detection (called by the judge as events arrive), and its
//! tests, built from event sequences.
//!
//! Who can be charged (the spec's section of that name) is decided here,
//! once, for every rule: [`View::blocked_between`] (time a side could not
//! send is not its silence) and [`View::owes_nothing`] (after its own FIN
//! or Close, a side owes no Pongs, heartbeats or data).

pub mod app_stall_control_only;
pub mod capture_loss;
pub mod close_handshake_incomplete;
pub mod half_closed;
pub mod no_heartbeat;
pub mod notes;
pub mod peer_unreachable;
pub mod ping_unanswered;
pub mod read_gap_exceeded;
pub mod slow_reader;
pub mod zero_window_stall;

#[cfg(test)]
pub(crate) mod script;

use super::activity::Activity;
use super::app::Pace;
use super::event::Mark;
use super::judge::{Facts, Pending, Reason};
use super::transport::Transport;
use super::{Code, Thresholds, Verdict};
use crate::evidence::EvidenceRef;
use crate::side::{PerSide, Side};
use crate::time::{Span, Timestamp};

/// What the rules read: the judge's state, borrowed.
pub struct View<'a> {
    pub th: &'a Thresholds,
    /// WebSocket frames are visible (not only TLS records).
    pub frames: bool,
    pub tcp: &'a PerSide<Transport>,
    pub ws: &'a Activity,
    pub first: Mark,
    /// Each side's latest socket reading, when readings come.
    pub sockets: Option<&'a PerSide<Option<super::socket::SocketSeen>>>,
}

/// What the rules found at one instant.
#[derive(Default)]
pub struct Checks {
    pub reasons: Vec<Reason>,
    pub pending: Vec<Pending>,
}

impl Checks {
    pub fn reason(
        &mut self,
        code: Code,
        side: Option<Side>,
        since: Timestamp,
        facts: Facts,
        evidence: Vec<EvidenceRef>,
    ) {
        self.reasons.push(Reason {
            code,
            side,
            since,
            facts,
            evidence,
        });
    }

    pub fn pending(&mut self, code: Code, side: Option<Side>, since: Timestamp, due: Timestamp) {
        self.pending.push(Pending {
            code,
            side,
            since,
            due,
        });
    }
}

/// Every reason's current check, in the spec's order.
pub fn check_all(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    peer_unreachable::check(v, at, out);
    zero_window_stall::check(v, at, out);
    ping_unanswered::check(v, at, out);
    ping_unanswered::check_app(v, at, out);
    read_gap_exceeded::check(v, at, out);
    half_closed::check(v, at, out);
    close_handshake_incomplete::check(v, at, out);
    app_stall_control_only::check(v, at, out);
    no_heartbeat::check(v, at, out);
    capture_loss::check(v, at, out);
    slow_reader::check(v, at, out);
}

/// Whether the connection ended, and how: `closed` when Close frames went
/// both ways or FIN did (a RST after that changes nothing), `aborted` when
/// an in-window RST came first. With the instant it ended.
pub fn closing(v: &View<'_>) -> Option<(Verdict, Mark)> {
    let (c, s) = (&v.tcp.client, &v.tcp.server);
    let later = |a: Mark, b: Mark| if b.at > a.at { b } else { a };
    let fins = c.fin().zip(s.fin()).map(|(a, b)| later(a, b));
    let closes =
        v.ws.sides
            .client
            .close()
            .zip(v.ws.sides.server.close())
            .map(|(a, b)| later(a.mark, b.mark));
    let closed = match (fins, closes) {
        (Some(f), Some(c)) => Some(if c.at < f.at { c } else { f }),
        (f, c) => f.or(c),
    };
    let rst = match (c.rst(), s.rst()) {
        (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
        (a, b) => a.or(b),
    };
    match (closed, rst) {
        (Some(end), Some(r)) if r.at < end.at => Some((Verdict::Aborted, r)),
        (Some(end), _) => Some((Verdict::Closed, end)),
        (None, Some(r)) => Some((Verdict::Aborted, r)),
        (None, None) => None,
    }
}

impl View<'_> {
    /// Bytes `sender`'s application wrote that its socket has not sent,
    /// and the reading that shows it, when its socket was read.
    pub fn notsent(&self, sender: Side) -> Option<(u32, EvidenceRef)> {
        let s = self.sockets?[sender].as_ref()?;
        Some((s.notsent_bytes, s.last.evidence))
    }

    /// The floor under thresholds derived from a cadence.
    pub fn floor(&self) -> Span {
        super::floor(self.tcp.client.srtt().max(self.tcp.server.srtt()))
    }

    /// Time `side` could not send between `since` (when its blocked time
    /// read `blocked_then`) and `at`.
    pub fn blocked_between(&self, side: Side, blocked_then: Span, at: Timestamp) -> Span {
        let now = self.tcp[side].blocked_at(at);
        Span::from_nanos(now.nanos().saturating_sub(blocked_then.nanos()).max(0))
    }

    /// After its own FIN or Close frame (RFC 6455 §5.5.1) a side owes no
    /// Pongs, heartbeats or data.
    pub fn owes_nothing(&self, side: Side, at: Timestamp) -> bool {
        self.tcp[side].fin().is_some_and(|m| m.at <= at)
            || self.ws.sides[side].close().is_some_and(|c| c.mark.at <= at)
            || self.tcp.client.rst().is_some()
            || self.tcp.server.rst().is_some()
    }

    /// Whether `side` is waiting for the answer to a ping of its own
    /// (WebSocket or application): its silence is then not its fault, the
    /// side that owes the answer is (protocols such as graphql-ws send the
    /// next ping only once the last one is answered).
    pub fn waiting_for_answer(&self, side: Side) -> bool {
        !self.ws.sides[side].outstanding().is_empty() || !self.ws.app_outstanding(side).is_empty()
    }

    /// Whether TCP is still open both ways (no FIN both ways, no RST).
    pub fn tcp_open(&self) -> bool {
        !(self.tcp.client.fin().is_some() && self.tcp.server.fin().is_some())
            && self.tcp.client.rst().is_none()
            && self.tcp.server.rst().is_none()
    }

    /// The heartbeat that paces `side`: its own (Pings or application
    /// beats), or else the one it answers.
    pub fn pace(&self, side: Side) -> Option<Pace> {
        self.ws.pace(side).or_else(|| self.ws.pace(side.other()))
    }

    pub fn heartbeat(&self, side: Side) -> Option<Span> {
        self.pace(side).map(|p| p.interval)
    }

    /// 3 × the heartbeat interval (the flag, else the application's own
    /// deadline when it declared one), at least the floor.
    pub fn read_deadline(&self, side: Side) -> Span {
        match self.pace(side) {
            Some(Pace {
                deadline: Some(d), ..
            }) if self.th.read_deadline.is_none() => d.max(self.floor()),
            pace => self
                .th
                .read_deadline(pace.map(|p| p.interval), self.floor()),
        }
    }

    /// The time `pinger`'s WebSocket Pings have to be answered: 2 × its
    /// Ping cadence (the flag wins), at least the floor.
    pub fn pong_timeout(&self, pinger: Side) -> Span {
        self.th
            .pong_timeout(self.ws.sides[pinger].heartbeat(), self.floor())
    }

    /// The time `pinger`'s application pings have to be answered: the
    /// flag, else the application's declared timeout, else 2 × its
    /// application heartbeat interval, at least the floor.
    pub fn app_pong_timeout(&self, pinger: Side) -> Span {
        let pace = self.ws.app.as_ref().and_then(|a| a.pace(pinger));
        match pace {
            Some(Pace {
                pong_timeout: Some(t),
                ..
            }) if self.th.pong_timeout.is_none() => t.max(self.floor()),
            pace => self.th.pong_timeout(pace.map(|p| p.interval), self.floor()),
        }
    }
}

/// `a − b`, never negative.
pub fn minus(a: Span, b: Span) -> Span {
    Span::from_nanos(a.nanos().saturating_sub(b.nanos()).max(0))
}
