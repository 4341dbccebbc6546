//! `read_gap_exceeded` (hard; side: the silent one): no frame from a side
//! past its read deadline (3 × its heartbeat interval, at least the floor;
//! else 60 s), judged only when that side has a cadence of its own
//! (heartbeat or data, per the spec's cadence rule) or owes a Pong. TCP
//! keep-alives and pure ACKs are not frames.
//!
//! Not charged: time the side could not send; anything after its own FIN
//! or Close; a side that only answers (Pongs, replies) when the other side
//! stopped asking: the one that stopped is.

use super::{minus, Checks, View};
use crate::liveness::app::Layer;
use crate::liveness::event::Mark;
use crate::liveness::judge::{Episode, Facts};
use crate::liveness::Code;
use crate::side::Side;
use crate::time::{Span, Timestamp};

/// The silence `side` can be charged with at `at`, and its deadline, when
/// it is judged at all.
fn silence(v: &View<'_>, side: Side, at: Timestamp) -> Option<(Mark, Span, Span)> {
    let me = &v.ws.sides[side];
    let other = &v.ws.sides[side.other()];
    // A side that beats on its own at the application level is silent when
    // its application is: WebSocket Pongs its library sends do not count,
    // any data message does (STOMP and MQTT count all traffic as
    // heartbeat). A side that only answers the other's application pings
    // owes those answers (ping_unanswered); its frames still count here.
    let (last, blocked_then) = match (app_paced(v, side), me.data.as_deref()) {
        (true, Some(d)) => (d.last?, d.blocked_at_last),
        _ => (me.last_frame?, me.blocked_at_last_frame),
    };
    let owes_pong = v.frames
        && (!other.outstanding().is_empty() || !v.ws.app_outstanding(side.other()).is_empty());
    if !(v.ws.has_cadence(side) || owes_pong) || v.owes_nothing(side, at) {
        return None;
    }
    // Waiting for its own ping's answer, it is not the silent one.
    if !owes_pong && v.waiting_for_answer(side) {
        return None;
    }
    // An answering side is silent only if it was asked since it last spoke.
    let asked_since = other.last_frame.is_some_and(|m| m.at > last.at);
    if !owes_pong && v.ws.answers_only(side) && !asked_since {
        return None;
    }
    let blocked = v.blocked_between(side, blocked_then, at);
    let gap = minus(at.since(last.at), blocked);
    Some((last, gap, v.read_deadline(side)))
}

/// Whether `side` beats on its own at the application level.
fn app_paced(v: &View<'_>, side: Side) -> bool {
    matches!(v.ws.pace(side), Some(p) if matches!(p.layer, Layer::App(_)))
}

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    for side in Side::BOTH {
        let Some((last, gap, deadline)) = silence(v, side, at) else {
            continue;
        };
        if gap > deadline {
            out.reason(
                Code::ReadGapExceeded,
                Some(side),
                last.at,
                Facts {
                    gap: Some(gap),
                    threshold: Some(deadline),
                    interval: v.heartbeat(side),
                    heartbeat: v.pace(side).map(|p| p.layer.name()),
                    application_silence: app_paced(v, side),
                    ..Facts::default()
                },
                vec![last.evidence],
            );
        } else if v.heartbeat(side).is_some_and(|h| gap > h) {
            // The next heartbeat is overdue, not yet past the deadline.
            out.pending(
                Code::ReadGapExceeded,
                Some(side),
                last.at,
                at + minus(deadline, gap),
            );
        }
    }
}

/// `side` was heard from: the silence that just ended may have been a
/// read gap.
pub fn on_heard(v: &View<'_>, side: Side, now: Mark) -> Option<Episode> {
    // Most frames follow the last one closely: no deadline is shorter than
    // the floor (or the fixed flag), so skip the full check.
    let last = v.ws.sides[side].last_frame?;
    let shortest = v.th.read_deadline.unwrap_or(Span::from_secs(1));
    if now.at.since(last.at) <= shortest {
        return None;
    }
    let (last, gap, deadline) = silence(v, side, now.at)?;
    (gap > deadline).then_some(Episode {
        code: Code::ReadGapExceeded,
        side: Some(side),
        start: last,
        end: now,
    })
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    /// The server pings every 2 s and the client answers, 5 times.
    fn heartbeats() -> Script {
        let mut s = Script::established();
        for i in 0..5 {
            s.at(i * 2000).ping(Server, &[i as u8]);
            s.at(i * 2000 + 5).pong(Client, &[i as u8]);
        }
        s
    }

    #[test]
    fn a_side_with_a_heartbeat_that_falls_silent() {
        let s = heartbeats();
        // the server's 2 s cadence: deadline 6 s after its last Ping (8 s)
        assert_eq!(s.judge_at(13_000).verdict, Verdict::Alive);
        assert_eq!(s.judge_at(13_000).pending[0].code, Code::ReadGapExceeded);
        assert_eq!(
            s.codes_at(14_500),
            vec![(Code::ReadGapExceeded, Some(Server))]
        );
    }

    #[test]
    fn the_answering_side_is_not_silent_when_the_asker_stopped() {
        let s = heartbeats();
        let codes = s.codes_at(14_500);
        assert!(
            !codes.contains(&(Code::ReadGapExceeded, Some(Client))),
            "{codes:?}"
        );
    }

    #[test]
    fn a_burst_is_no_cadence() {
        let mut s = Script::established();
        s.at(0).ping(Client, b"1");
        s.at(0).ping(Client, b"2");
        s.at(1).pong(Server, b"1");
        s.at(1).pong(Server, b"2");
        assert_eq!(s.judge_at(30_000).verdict, Verdict::Alive);
    }

    #[test]
    fn no_read_gap_after_the_sides_fin() {
        let mut s = heartbeats();
        s.at(8100).fin(Server);
        let codes = s.codes_at(20_000);
        assert!(
            !codes.contains(&(Code::ReadGapExceeded, Some(Server))),
            "{codes:?}"
        );
    }

    #[test]
    fn no_blame_while_the_peers_window_is_closed() {
        // The server's heartbeat stops because the client's window is zero
        // and full of the server's data: the client is the one not reading.
        let mut s = heartbeats();
        s.at(8100).sent(Server, 65535, false, 65535);
        s.at(8200).window(Client, 0);
        let codes = s.codes_at(30_000);
        assert!(
            !codes.contains(&(Code::ReadGapExceeded, Some(Server))),
            "{codes:?}"
        );
        assert!(
            codes.contains(&(Code::ZeroWindowStall, Some(Client))),
            "{codes:?}"
        );
    }

    #[test]
    fn no_blame_while_the_sides_bytes_go_unacknowledged() {
        // The server keeps writing (retransmitting) into a black hole: its
        // silence on the wire is the client's doing, charged as
        // peer_unreachable to the client.
        let mut s = heartbeats();
        s.at(8100).sent(Server, 100, false, 100);
        s.at(8500).sent(Server, 100, true, 100);
        s.at(9500).sent(Server, 100, true, 100);
        let codes = s.codes_at(30_000);
        assert!(
            !codes.contains(&(Code::ReadGapExceeded, Some(Server))),
            "{codes:?}"
        );
        assert!(
            codes.contains(&(Code::PeerUnreachable, Some(Client))),
            "{codes:?}"
        );
    }

    #[test]
    fn a_side_that_only_replies_is_not_silent_when_asked_nothing() {
        // An echo: the client sends every second, the server replies; then
        // the client stops. The client, which had the cadence, is silent.
        let mut s = Script::established();
        for i in 0..8 {
            s.at(i * 1000).text(Client, 10);
            s.at(i * 1000 + 5).text(Server, 10);
        }
        let codes = s.codes_at(90_000);
        assert!(
            !codes.contains(&(Code::ReadGapExceeded, Some(Server))),
            "{codes:?}"
        );
        assert!(
            codes.contains(&(Code::ReadGapExceeded, Some(Client))),
            "{codes:?}"
        );
    }

    #[test]
    fn a_reply_owed_and_not_sent_is_charged() {
        let mut s = Script::established();
        for i in 0..8 {
            s.at(i * 1000).text(Client, 10);
            s.at(i * 1000 + 5).text(Server, 10);
        }
        // asked again, never answered, past the 60 s default deadline
        s.at(8000).text(Client, 10);
        let codes = s.codes_at(90_000);
        assert!(
            codes.contains(&(Code::ReadGapExceeded, Some(Server))),
            "{codes:?}"
        );
    }

    #[test]
    fn derived_deadlines_have_a_floor_of_four_srtt() {
        // Pings every 300 ms on a path with a 2 s SRTT: the floor, 8 s,
        // makes them one burst after another, not a 0.9 s deadline.
        let mut s = Script::established();
        s.at(0).sent(Server, 10, false, 10);
        s.at(2000).acked_with_srtt(Server, 0, 2000);
        for i in 0..10 {
            s.at(3000 + i * 300).ping(Server, &[i as u8]);
            s.at(3000 + i * 300 + 1).pong(Client, &[i as u8]);
        }
        assert_eq!(s.judge_at(9000).verdict, Verdict::Alive);
    }

    #[test]
    fn a_silence_that_ends_is_an_episode() {
        let mut s = heartbeats();
        s.at(30_000).ping(Server, b"late");
        let j = s.judge_at(30_001);
        assert!(j.episodes.iter().any(|e| e.code == Code::ReadGapExceeded));
    }
}
