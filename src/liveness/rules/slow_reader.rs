//! `slow_reader` (soft; side: the one that reads slowly): over the last
//! 10 s before the instant judged (or the connection's life, if shorter,
//! and at least 3 s), this side's advertised window was zero or filled by
//! the peer's bytes in flight for at least half of the time, with no single
//! zero-window span reaching the zero-window stall: it reads, but slower
//! than the peer writes.

use super::{Checks, View};
use crate::liveness::judge::Facts;
use crate::liveness::Code;
use crate::side::Side;
use crate::time::{Span, Timestamp};

/// How far back the rule looks.
pub const WINDOW: Span = Span::from_secs(10);
/// The shortest life the rule judges.
const MIN_LIFE: Span = Span::from_secs(3);

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    let life = at.since(v.first.at);
    let window = if life < WINDOW { life } else { WINDOW };
    if window < MIN_LIFE {
        return;
    }
    let from = Timestamp::from_nanos(at.nanos().saturating_sub(window.nanos()));
    for side in Side::BOTH {
        let t = &v.tcp[side];
        // A zero window held to the stall threshold is a zero_window_stall,
        // not a slow reader; one that never reopened has not read at all.
        let stalled = t
            .zero_window()
            .is_some_and(|z| at.since(z.since.at) >= v.th.zero_window)
            || t.zero_window_stall_ended_since(from);
        if stalled || !t.reopened_within(from, at) {
            continue;
        }
        let closed = t.closed_within(from, at);
        if closed.nanos() * 2 >= window.nanos() {
            let notsent = v.notsent(side.other());
            out.reason(
                Code::SlowReader,
                Some(side),
                from,
                Facts {
                    window: t.window,
                    gap: Some(closed),
                    threshold: Some(window),
                    share: Some(closed.secs_f64() / window.secs_f64()),
                    backlog_bytes: Some(v.tcp[side.other()].in_flight),
                    notsent_bytes: notsent.map(|(bytes, _)| bytes),
                    ..Facts::default()
                },
                notsent.map(|(_, reading)| reading).into_iter().collect(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    /// The server writes; the client's window is zero for 1.9 s of every 2.
    fn slow_client() -> Script {
        let mut s = Script::established();
        for i in 0..10 {
            let t = i * 2000;
            s.at(t).sent(Server, 4000, false, 4000);
            s.at(t + 10).window(Client, 0);
            s.at(t + 1910).window(Client, 4000);
            s.at(t + 1911).acked(Server, 0);
        }
        s
    }

    #[test]
    fn a_window_mostly_closed_without_a_long_stall() {
        let s = slow_client();
        let j = s.judge_at(19_900);
        assert_eq!(j.verdict, Verdict::Suspect, "{:?}", j.reasons);
        assert_eq!(s.codes_at(19_900), vec![(Code::SlowReader, Some(Client))]);
    }

    #[test]
    fn an_open_window_is_no_slow_reader() {
        let mut s = Script::established();
        for i in 0..10 {
            s.at(i * 1000).sent(Server, 1000, false, 1000);
            s.at(i * 1000 + 5).acked(Server, 0);
        }
        assert_eq!(s.judge_at(10_000).verdict, Verdict::Alive);
    }

    #[test]
    fn a_short_life_is_not_judged() {
        let mut s = Script::established();
        s.at(0).window(Client, 0);
        s.at(2000).window(Client, 100);
        assert!(s.codes_at(2500).is_empty());
    }
}
