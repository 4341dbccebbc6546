//! `zero_window_stall` (hard; side: the one advertising zero): a zero
//! receive window held past the stall threshold (5 s). RFC 9293 §3.8.6.1:
//! the sender must stop and probe; a window that never reopens means the
//! receiving application stopped reading.

use super::{Checks, View};
use crate::liveness::event::Mark;
use crate::liveness::judge::{Episode, Facts};
use crate::liveness::transport::ZeroWindow;
use crate::liveness::{Code, Thresholds};
use crate::side::Side;
use crate::time::Timestamp;

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    for side in Side::BOTH {
        let Some(z) = v.tcp[side].zero_window() else {
            continue;
        };
        let held = at.since(z.since.at);
        if held >= v.th.zero_window {
            // The peer's socket, if read, shows what waits behind it.
            let notsent = v.notsent(side.other());
            let mut evidence = vec![z.since.evidence];
            evidence.extend(notsent.map(|(_, reading)| reading));
            evidence.dedup();
            out.reason(
                Code::ZeroWindowStall,
                Some(side),
                z.since.at,
                Facts {
                    window: Some(0),
                    probes: Some(z.probes),
                    gap: Some(held),
                    threshold: Some(v.th.zero_window),
                    notsent_bytes: notsent.map(|(bytes, _)| bytes),
                    ..Facts::default()
                },
                evidence,
            );
        } else {
            out.pending(
                Code::ZeroWindowStall,
                Some(side),
                z.since.at,
                z.since.at + v.th.zero_window,
            );
        }
    }
}

/// `side` reopened its window: a zero span as long as the threshold was
/// an episode.
pub fn on_reopen(th: &Thresholds, side: Side, open: ZeroWindow, now: Mark) -> Option<Episode> {
    (now.at.since(open.since.at) >= th.zero_window).then_some(Episode {
        code: Code::ZeroWindowStall,
        side: Some(side),
        start: open.since,
        end: now,
    })
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    #[test]
    fn a_zero_window_held_is_a_stall_of_the_side_advertising_it() {
        let mut s = Script::established();
        s.at(0).sent(Server, 1000, false, 1000);
        s.at(10).window(Client, 0);
        s.at(1000).probe(Server, true);
        assert_eq!(s.judge_at(4000).verdict, Verdict::Alive);
        assert_eq!(
            s.codes_at(6000),
            vec![(Code::ZeroWindowStall, Some(Client))]
        );
    }

    #[test]
    fn a_short_zero_window_is_not_a_stall_and_a_long_one_that_reopens_is_an_episode() {
        let mut s = Script::established();
        s.at(0).window(Client, 0);
        s.at(2000).window(Client, 65535);
        s.at(3000).window(Client, 0);
        s.at(9000).window(Client, 65535);
        let j = s.judge_at(10_000);
        assert_eq!(j.verdict, Verdict::Alive);
        assert_eq!(j.episodes.len(), 1);
        assert_eq!(j.episodes[0].code, Code::ZeroWindowStall);
    }
}
