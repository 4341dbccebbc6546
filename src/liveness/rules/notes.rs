//! Notes: facts worth a line that never change a verdict.
//!
//! - `pong_payload_mismatch`: a Pong whose payload differs from the Ping it
//!   answers (RFC 6455 §5.5.3 requires an echo);
//! - `protocol_violation`: other RFC 6455 framing rules broken;
//! - `close_without_websocket_close`: TCP closed (FIN both ways, or RST)
//!   with no Close frames both ways (RFC 6455 §7.1.5: abnormal closure,
//!   1006);
//! - `conflicting_overlap`: a side sent two versions of the same stream
//!   bytes (overlapping TCP segments that differ); the first copy was kept,
//!   so what the receiver read may differ from what the findings show.

use super::View;
use crate::liveness::judge::{Facts, Reason};
use crate::liveness::Code;
use crate::side::Side;

pub fn check(v: &View<'_>) -> Vec<Reason> {
    let mut out = Vec::new();
    for side in Side::BOTH {
        if let Some(c) = v.tcp[side].conflicts() {
            out.push(Reason {
                code: Code::ConflictingOverlap,
                side: Some(side),
                since: c.first.at,
                facts: Facts {
                    count: Some(u64::from(c.segments)),
                    differing_bytes: Some(c.bytes),
                    ..Facts::default()
                },
                evidence: vec![c.first.evidence],
            });
        }
        let me = &v.ws.sides[side];
        let mismatch = me
            .heartbeats
            .as_deref()
            .and_then(|h| h.first_mismatch.as_deref().map(|m| (m, h.mismatched_pongs)));
        if let Some(((mark, ping, pong), count)) = mismatch {
            out.push(Reason {
                code: Code::PongPayloadMismatch,
                side: Some(side),
                since: mark.at,
                facts: Facts {
                    ping_payload: Some(ping.clone()),
                    pong_payload: Some(pong.clone()),
                    count: Some(u64::from(count)),
                    ..Facts::default()
                },
                evidence: vec![mark.evidence],
            });
        }
        if let Some(t) = me.trouble().filter(|t| t.violations > 0) {
            let mut codes: Vec<&'static str> =
                t.violation_samples.iter().map(|(c, _)| *c).collect();
            codes.dedup();
            let first = t.violation_samples.first().map_or(v.first, |(_, m)| *m);
            out.push(Reason {
                code: Code::ProtocolViolation,
                side: Some(side),
                since: first.at,
                facts: Facts {
                    count: Some(u64::from(t.violations)),
                    violations: codes,
                    ..Facts::default()
                },
                evidence: t
                    .violation_samples
                    .iter()
                    .map(|(_, m)| m.evidence)
                    .collect(),
            });
        }
    }
    let (c, s) = (&v.tcp.client, &v.tcp.server);
    let both_close = v.ws.sides.client.close().is_some() && v.ws.sides.server.close().is_some();
    let both_fin = c.fin().is_some() && s.fin().is_some();
    let rst = c.rst().or(s.rst());
    if (both_fin || rst.is_some()) && !both_close {
        let end = rst.or(c.fin()).or(s.fin()).unwrap_or(v.first);
        out.push(Reason {
            code: Code::CloseWithoutWebsocketClose,
            side: None,
            since: end.at,
            facts: Facts::default(),
            evidence: vec![end.evidence],
        });
    }
    out.sort_by_key(|n| n.code);
    out
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    #[test]
    fn a_pong_that_does_not_echo_is_noted_not_judged() {
        let mut s = Script::established();
        s.at(0).ping(Server, b"abc");
        s.at(5).pong(Client, b"xyz");
        let j = s.judge_at(100);
        assert_eq!(j.verdict, Verdict::Alive);
        assert_eq!(j.notes[0].code, Code::PongPayloadMismatch);
    }

    #[test]
    fn a_pong_whose_payload_was_cut_answers_without_a_note() {
        let mut s = Script::established();
        s.at(0).ping(Server, b"abc");
        s.at(5).pong_cut(Client);
        let j = s.judge_at(30_000);
        assert_eq!(j.verdict, Verdict::Alive);
        assert!(j.notes.is_empty());
    }

    #[test]
    fn fin_both_ways_without_close_frames() {
        let mut s = Script::established();
        s.at(0).fin(Client);
        s.at(1).fin(Server);
        let j = s.judge_at(100);
        assert_eq!(j.verdict, Verdict::Closed);
        assert_eq!(j.notes[0].code, Code::CloseWithoutWebsocketClose);
    }

    #[test]
    fn overlaps_that_disagree_are_noted_against_their_sender() {
        let mut s = Script::established();
        s.at(3).conflict(Server, 6);
        s.at(4).conflict(Server, 5);
        let j = s.judge_at(100);
        assert_eq!(j.verdict, Verdict::Alive);
        assert_eq!(j.notes.len(), 1);
        let n = &j.notes[0];
        assert_eq!((n.code, n.side), (Code::ConflictingOverlap, Some(Server)));
        assert_eq!(n.facts.count, Some(2));
        assert_eq!(n.facts.differing_bytes, Some(11));
    }

    #[test]
    fn a_reset_aborts() {
        let mut s = Script::established();
        s.at(0).rst(Server);
        assert_eq!(s.judge_at(100).verdict, Verdict::Aborted);
    }
}
