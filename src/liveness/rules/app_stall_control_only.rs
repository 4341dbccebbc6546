//! `app_stall_control_only` (soft; side: the silent one): control frames
//! still flow, data stopped past the data stall (max(5 × the side's median
//! data interval, its read deadline)), after at least five data messages.
//! The WebSocket library answers Pings; the application above it is stuck.

use super::{minus, Checks, View};
use crate::liveness::app::Layer;
use crate::liveness::judge::Facts;
use crate::liveness::Code;
use crate::side::Side;
use crate::time::Timestamp;

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    if !v.frames {
        return;
    }
    for side in Side::BOTH {
        let me = &v.ws.sides[side];
        let (Some(data), Some(last_control), Some(interval)) =
            (me.data.as_deref(), me.last_control, me.data_interval())
        else {
            continue;
        };
        let Some(last_data) = data.last else {
            continue;
        };
        // A side held to an application heartbeat has its data silence
        // judged by read_gap_exceeded, measured on that heartbeat.
        let app_paced = matches!(v.pace(side), Some(p) if matches!(p.layer, Layer::App(_)));
        if v.owes_nothing(side, at)
            || app_paced
            || v.waiting_for_answer(side)
            || (v.ws.answers_only(side) && !asked_since(v, side))
        {
            continue;
        }
        let deadline = v.read_deadline(side);
        let stall = v.th.data_stall(Some(interval), deadline);
        let blocked = v.blocked_between(side, data.blocked_at_last, at);
        let quiet = minus(at.since(last_data.at), blocked);
        if quiet > stall && last_control.at > last_data.at && at.since(last_control.at) <= deadline
        {
            out.reason(
                Code::AppStallControlOnly,
                Some(side),
                last_data.at,
                Facts {
                    gap: Some(quiet),
                    threshold: Some(stall),
                    interval: Some(interval),
                    count: Some(data.messages),
                    ..Facts::default()
                },
                vec![last_data.evidence, last_control.evidence],
            );
        }
    }
}

/// Whether the other side wrote data since `side`'s last data message.
fn asked_since(v: &View<'_>, side: Side) -> bool {
    let mine = v.ws.sides[side].last_data();
    let theirs = v.ws.sides[side.other()].last_data();
    matches!((mine, theirs), (Some(m), Some(t)) if t.at > m.at)
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    /// The server pushes data every second and answers the client's Pings.
    fn pushing() -> Script {
        let mut s = Script::established();
        for i in 0..10 {
            s.at(i * 1000).text(Server, 20);
        }
        s
    }

    #[test]
    fn pongs_flow_while_data_stopped() {
        let mut s = pushing();
        for i in 0..40 {
            let t = 10_000 + i * 2000;
            s.at(t).ping(Client, b"k");
            s.at(t + 3).pong(Server, b"k");
        }
        let j = s.judge_at(90_000);
        assert_eq!(j.verdict, Verdict::Suspect, "{:?}", j.reasons);
        assert_eq!(
            s.codes_at(90_000),
            vec![(Code::AppStallControlOnly, Some(Server))]
        );
    }

    #[test]
    fn data_still_flowing_is_no_stall() {
        let mut s = pushing();
        s.at(9500).ping(Client, b"k");
        s.at(9503).pong(Server, b"k");
        assert_eq!(s.judge_at(10_500).verdict, Verdict::Alive);
    }
}
