//! `ping_unanswered` (hard; side: the one that owes the Pong): a Ping, not
//! superseded, has no Pong after the pong timeout (2 × the pinger's
//! heartbeat interval, at least the floor; else 10 s). RFC 6455 §5.5.2:
//! a Ping must be answered "as soon as is practical".
//!
//! Not charged: time the owner could not send (the pinger's own window was
//! closed, or the owner's bytes were stuck), and anything after the owner's
//! own FIN or Close.

use super::{minus, Checks, View};
use crate::liveness::activity::Answer;
use crate::liveness::app::{AppAnswer, AppPing};
use crate::liveness::event::Mark;
use crate::liveness::judge::{Episode, Facts};
use crate::liveness::Code;
use crate::side::Side;
use crate::time::Timestamp;

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    if !v.frames {
        return;
    }
    for pinger in Side::BOTH {
        let owner = pinger.other();
        let outstanding = v.ws.sides[pinger].outstanding();
        if outstanding.is_empty() || v.owes_nothing(owner, at) {
            continue;
        }
        let timeout = v.pong_timeout(pinger);
        let waited = |p: &crate::liveness::activity::Ping| {
            minus(
                at.since(p.mark.at),
                v.blocked_between(owner, p.owner_blocked, at),
            )
        };
        // Outstanding Pings are oldest first; the oldest overdue one counts.
        if let Some(ping) = outstanding.iter().find(|p| waited(p) > timeout) {
            out.reason(
                Code::PingUnanswered,
                Some(owner),
                ping.mark.at,
                Facts {
                    ping_payload: Some(ping.payload()),
                    outstanding_pings: Some(outstanding.len()),
                    gap: Some(waited(ping)),
                    threshold: Some(timeout),
                    heartbeat: Some("websocket"),
                    ..Facts::default()
                },
                vec![ping.mark.evidence],
            );
        } else if let Some(ping) = outstanding.first() {
            let blocked = v.blocked_between(owner, ping.owner_blocked, at);
            out.pending(
                Code::PingUnanswered,
                Some(owner),
                ping.mark.at,
                ping.mark.at + timeout + blocked,
            );
        }
    }
}

/// Application pings (the spec's "Heartbeats"): the same rule, with the
/// application's own pong timeout when it declared one, and `heartbeat`
/// naming the protocol.
pub fn check_app(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    if !v.frames {
        return;
    }
    let Some(app) = v.ws.app.as_deref() else {
        return;
    };
    for pinger in Side::BOTH {
        let owner = pinger.other();
        let beats = &app.sides[pinger];
        if beats.outstanding.is_empty() {
            continue;
        }
        if v.owes_nothing(owner, at) {
            continue;
        }
        let timeout = v.app_pong_timeout(pinger);
        let waited = |p: &AppPing| {
            minus(
                at.since(p.mark.at),
                v.blocked_between(owner, p.owner_blocked, at),
            )
        };
        if let Some(ping) = beats.outstanding.iter().find(|p| waited(p) > timeout) {
            out.reason(
                Code::PingUnanswered,
                Some(owner),
                ping.mark.at,
                Facts {
                    outstanding_pings: Some(beats.outstanding.len()),
                    gap: Some(waited(ping)),
                    threshold: Some(timeout),
                    heartbeat: Some(app.protocol.name()),
                    ..Facts::default()
                },
                vec![ping.mark.evidence],
            );
        } else if let Some(ping) = beats.outstanding.first() {
            let blocked = v.blocked_between(owner, ping.owner_blocked, at);
            out.pending(
                Code::PingUnanswered,
                Some(owner),
                ping.mark.at,
                ping.mark.at + timeout + blocked,
            );
        }
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
