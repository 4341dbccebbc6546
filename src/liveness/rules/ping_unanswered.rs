//! `ping_unanswered` (hard; side: the one that owes the Pong): a Ping, not
//! superseded, has no Pong after the pong timeout (2 × the pinger's
//! heartbeat interval, at least the floor; else 10 s). RFC 6455 §5.5.2:
//! a Ping must be answered "as soon as is practical".
//!
//! Not charged: time the owner could not send (the pinger's own window was
//! closed, or the owner's bytes were stuck), and anything after the owner's
//! own FIN or Close.

use super::{minus, Checks, View};
use crate::liveness::activity::{Answer, Ping};
use crate::liveness::app::{AppAnswer, AppPing};
use crate::liveness::event::Mark;
use crate::liveness::judge::{Episode, Facts};
use crate::liveness::Code;
use crate::side::Side;
use crate::time::{Span, Timestamp};

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    if !v.frames {
        return;
    }
    for pinger in Side::BOTH {
        let outstanding = v.ws.sides[pinger].outstanding();
        let timeout = v.pong_timeout(pinger);
        overdue(v, at, pinger, outstanding, timeout, out, |ping, waited| {
            Facts {
                ping_payload: Some(ping.payload()),
                outstanding_pings: Some(outstanding.len()),
                gap: Some(waited),
                threshold: Some(timeout),
                heartbeat: Some("websocket"),
                ..Facts::default()
            }
        });
    }
}

/// Application pings (the spec's "Heartbeats"): the same rule, with the
/// application's own pong timeout when it declared one, and `heartbeat`
/// naming the protocol.
pub fn check_app(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    let Some(app) = v.ws.app.as_deref().filter(|_| v.frames) else {
        return;
    };
    for pinger in Side::BOTH {
        let outstanding = &app.sides[pinger].outstanding;
        let timeout = v.app_pong_timeout(pinger);
        overdue(v, at, pinger, outstanding, timeout, out, |_, waited| {
            Facts {
                outstanding_pings: Some(outstanding.len()),
                gap: Some(waited),
                threshold: Some(timeout),
                heartbeat: Some(app.protocol.name()),
                ..Facts::default()
            }
        });
    }
}

/// A ping waiting for its answer, WebSocket or application.
trait Owed {
    fn mark(&self) -> Mark;
    /// The owner's blocked time when it was sent.
    fn owner_blocked(&self) -> Span;
}

impl Owed for Ping {
    fn mark(&self) -> Mark {
        self.mark
    }
    fn owner_blocked(&self) -> Span {
        self.owner_blocked
    }
}

impl Owed for AppPing {
    fn mark(&self) -> Mark {
        self.mark
    }
    fn owner_blocked(&self) -> Span {
        self.owner_blocked
    }
}

/// `pinger`'s outstanding pings (oldest first): the oldest one waited on
/// past `timeout` (time the owner could not send deducted) is a reason,
/// with the facts `facts` gives it; else the oldest is pending.
fn overdue<P: Owed>(
    v: &View<'_>,
    at: Timestamp,
    pinger: Side,
    outstanding: &[P],
    timeout: Span,
    out: &mut Checks,
    facts: impl FnOnce(&P, Span) -> Facts,
) {
    let owner = pinger.other();
    if outstanding.is_empty() || v.owes_nothing(owner, at) {
        return;
    }
    let blocked = |p: &P| v.blocked_between(owner, p.owner_blocked(), at);
    let waited = |p: &P| minus(at.since(p.mark().at), blocked(p));
    if let Some(ping) = outstanding.iter().find(|p| waited(p) > timeout) {
        let mark = ping.mark();
        let facts = facts(ping, waited(ping));
        out.reason(
            Code::PingUnanswered,
            Some(owner),
            mark.at,
            facts,
            vec![mark.evidence],
        );
    } else if let Some(ping) = outstanding.first() {
        let since = ping.mark().at;
        out.pending(
            Code::PingUnanswered,
            Some(owner),
            since,
            since + timeout + blocked(ping),
        );
    }
}

/// `ponger` answered an application ping late: an episode.
pub fn on_app_answer(v: &View<'_>, ponger: Side, answer: &AppAnswer, now: Mark) -> Option<Episode> {
    let blocked = v.blocked_between(ponger, answer.ping.owner_blocked, now.at);
    (minus(answer.latency, blocked) > v.app_pong_timeout(ponger.other())).then_some(Episode {
        code: Code::PingUnanswered,
        side: Some(ponger),
        start: answer.ping.mark,
        end: now,
    })
}

/// `ponger` answered a Ping: one answered later than the pong timeout
/// (time it could not send deducted) was an episode.
pub fn on_answer(v: &View<'_>, ponger: Side, answer: &Answer, now: Mark) -> Option<Episode> {
    let pinger = ponger.other();
    let blocked = v.blocked_between(ponger, answer.ping.owner_blocked, now.at);
    (minus(answer.latency, blocked) > v.pong_timeout(pinger)).then_some(Episode {
        code: Code::PingUnanswered,
        side: Some(ponger),
        start: answer.ping.mark,
        end: now,
    })
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    #[test]
    fn a_ping_with_no_pong_past_the_timeout() {
        let mut s = Script::established();
        s.at(1000).ping(Server, b"a");
        assert_eq!(s.judge_at(5000).verdict, Verdict::Alive);
        assert_eq!(s.judge_at(5000).pending[0].code, Code::PingUnanswered);
        assert_eq!(
            s.codes_at(11_001),
            vec![(Code::PingUnanswered, Some(Client))]
        );
    }

    #[test]
    fn an_answer_supersedes_older_pings() {
        let mut s = Script::established();
        s.at(0).ping(Server, b"1");
        s.at(1000).ping(Server, b"2");
        s.at(1010).pong(Client, b"2");
        assert_eq!(s.judge_at(30_000).verdict, Verdict::Alive);
    }

    #[test]
    fn no_blame_while_the_pingers_own_window_is_closed() {
        // The client pings; the server's Pong waits behind data the client
        // does not accept (its window is zero): the server cannot answer.
        let mut s = Script::established();
        s.at(0).sent(Server, 5000, false, 5000);
        s.at(10).window(Client, 0);
        s.at(20).ping(Client, b"p");
        s.at(3000).window(Client, 4000);
        s.at(3010).window(Client, 0);
        let j = s.judge_at(12_000);
        assert!(
            !s.codes_at(12_000)
                .contains(&(Code::PingUnanswered, Some(Server))),
            "{j:?}"
        );
    }

    #[test]
    fn no_pong_owed_after_the_owners_close() {
        let mut s = Script::established();
        s.at(0).ping(Server, b"x");
        s.at(100).close(Client, 1000);
        let codes = s.codes_at(20_000);
        assert!(
            !codes.contains(&(Code::PingUnanswered, Some(Client))),
            "{codes:?}"
        );
    }

    #[test]
    fn a_late_pong_is_an_episode() {
        let mut s = Script::established();
        s.at(0).ping(Server, b"x");
        s.at(15_000).pong(Client, b"x");
        let j = s.judge_at(16_000);
        assert_eq!(j.verdict, Verdict::Alive);
        assert_eq!(j.episodes[0].code, Code::PingUnanswered);
    }
}
