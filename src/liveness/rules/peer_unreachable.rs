//! `peer_unreachable` (hard; side: the one not ACKing): bytes in flight
//! with no ACK progress past the ACK stall (max(5 s, 4 × SRTT)), with at
//! least two retransmissions; or, with nothing in flight, at least two
//! keep-alive or zero-window probes in a row unanswered past the ACK stall
//! (RFC 9293 §3.8.4: a live peer answers a keep-alive).

use super::{Checks, View};
use crate::liveness::event::Mark;
use crate::liveness::judge::{Episode, Facts};
use crate::liveness::Code;
use crate::side::Side;
use crate::time::Timestamp;

/// Probes in a row that make a silent peer.
const PROBES: u32 = 2;

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    for sender in Side::BOTH {
        let t = &v.tcp[sender];
        let peer = sender.other();
        let limit = v.th.ack_stall(t.srtt());
        if let (Some(stall), true) = (t.stall(), t.in_flight > 0) {
            let waited = at.since(stall.since.at);
            if stall.retransmissions >= v.th.ack_stall_retransmissions && waited > limit {
                let mut evidence = vec![stall.since.evidence];
                evidence.extend(stall.first_retransmission.map(|m| m.evidence));
                evidence.extend(stall.last_retransmission.map(|m| m.evidence));
                let notsent = v.notsent(sender);
                evidence.extend(notsent.map(|(_, reading)| reading));
                evidence.dedup();
                out.reason(
                    Code::PeerUnreachable,
                    Some(peer),
                    stall.since.at,
                    Facts {
                        backlog_bytes: Some(t.in_flight),
                        retransmissions: Some(stall.retransmissions),
                        gap: Some(waited),
                        threshold: Some(limit),
                        notsent_bytes: notsent.map(|(bytes, _)| bytes),
                        ..Facts::default()
                    },
                    evidence,
                );
                continue;
            }
            if stall.retransmissions > 0 {
                out.pending(
                    Code::PeerUnreachable,
                    Some(peer),
                    stall.since.at,
                    stall.since.at + limit,
                );
            }
        }
        if let (Some(run), 0) = (t.probes(), t.in_flight) {
            let waited = at.since(run.first.at);
            if run.count >= PROBES && waited > limit {
                out.reason(
                    Code::PeerUnreachable,
                    Some(peer),
                    run.first.at,
                    Facts {
                        probes: Some(run.count),
                        gap: Some(waited),
                        threshold: Some(limit),
                        ..Facts::default()
                    },
                    vec![run.first.evidence, run.last.evidence],
                );
            }
        }
    }
}

/// The peer acknowledged `sender`'s bytes: a stall that had lasted past
/// the threshold, with retransmissions, was an episode.
pub fn on_ack(v: &View<'_>, sender: Side, now: Mark) -> Option<Episode> {
    let t = &v.tcp[sender];
    let stall = t.stall()?;
    let lasted = now.at.since(stall.since.at);
    (stall.retransmissions >= v.th.ack_stall_retransmissions && lasted > v.th.ack_stall(t.srtt()))
        .then_some(Episode {
            code: Code::PeerUnreachable,
            side: Some(sender.other()),
            start: stall.since,
            end: now,
        })
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    #[test]
    fn a_backlog_retransmitted_and_never_acked_is_the_peer_unreachable() {
        let mut s = Script::established();
        s.at(1000).sent(Server, 100, false, 100);
        s.at(1300).sent(Server, 100, true, 100);
        s.at(2000).sent(Server, 100, true, 100);
        let j = s.judge_at(7000);
        assert_eq!(j.verdict, Verdict::FalseAlive);
        assert_eq!(
            s.codes_at(7000),
            vec![(Code::PeerUnreachable, Some(Client))]
        );
        // before the stall threshold it is pending, not a reason
        let early = s.judge_at(3000);
        assert_eq!(early.verdict, Verdict::Alive);
        assert_eq!(early.pending[0].code, Code::PeerUnreachable);
    }

    #[test]
    fn lossy_but_acked_is_never_flagged() {
        let mut s = Script::established();
        for i in 0..20 {
            let t = i * 1000;
            s.at(t).sent(Server, 100, false, 100);
            s.at(t + 200).sent(Server, 100, true, 100);
            s.at(t + 400).sent(Server, 100, true, 100);
            s.at(t + 500).acked(Server, 0);
        }
        assert_eq!(s.judge_at(21_000).verdict, Verdict::Alive);
        assert!(s.judge_at(21_000).episodes.is_empty());
    }

    #[test]
    fn a_stall_that_recovers_is_an_episode() {
        let mut s = Script::established();
        s.at(0).sent(Client, 10, false, 10);
        s.at(1000).sent(Client, 10, true, 10);
        s.at(3000).sent(Client, 10, true, 10);
        s.at(9000).acked(Client, 0);
        let j = s.judge_at(10_000);
        assert_eq!(j.verdict, Verdict::Alive);
        assert_eq!(j.episodes.len(), 1);
        assert_eq!(j.episodes[0].side, Some(Server));
    }

    #[test]
    fn a_probes_own_socket_readings_show_the_same_stall() {
        use crate::liveness::event::TcpInfo;
        // The probe (client) wrote 3 segments the server never acknowledges,
        // and its kernel keeps retransmitting them.
        let mut s = Script::established();
        let info = |retrans| TcpInfo {
            unacked_segments: 3,
            unacked_bytes: 3 * 1448,
            snd_mss: 1448,
            bytes_acked: 100,
            total_retrans: retrans,
            snd_wnd: 65535,
            srtt: crate::time::Span::from_millis(1),
            ..TcpInfo::default()
        };
        s.at(0).tcp_info(Client, info(0));
        s.at(1000).tcp_info(Client, info(1));
        s.at(3000).tcp_info(Client, info(3));
        assert_eq!(s.judge_at(4000).verdict, Verdict::Alive);
        assert_eq!(
            s.codes_at(9000),
            vec![(Code::PeerUnreachable, Some(Server))]
        );
        let j = s.judge_at(9000);
        let evidence = serde_json::to_string(&j.reasons[0].evidence[0]).unwrap();
        assert!(evidence.contains("sample"), "{evidence}");
    }

    #[test]
    fn unanswered_keepalives_with_nothing_in_flight() {
        let mut s = Script::established();
        s.at(0).probe(Client, false);
        s.at(1000).probe(Client, false);
        s.at(2000).probe(Client, false);
        assert_eq!(
            s.codes_at(7000),
            vec![(Code::PeerUnreachable, Some(Server))]
        );
        // an answer (any segment from the server) resets the run
        s.at(7100).window(Server, 1000);
        assert_eq!(s.judge_at(8000).verdict, Verdict::Alive);
    }
}
