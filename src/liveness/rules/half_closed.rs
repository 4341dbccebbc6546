//! `half_closed` (hard; side: the one that sent FIN and fell silent): FIN
//! one way with no Close frame before it (RFC 6455 §7.1.1 wants the Close
//! first), the other side still open past the half-close timeout. A Close
//! then FIN that gets no Close back is `close_handshake_incomplete`.

use super::{Checks, View};
use crate::liveness::judge::Facts;
use crate::liveness::Code;
use crate::side::Side;
use crate::time::Timestamp;

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    if !v.frames || !v.tcp_open() {
        return;
    }
    for side in Side::BOTH {
        let Some(fin) = v.tcp[side].fin() else {
            continue;
        };
        let close_first = v.ws.sides[side]
            .close()
            .is_some_and(|c| c.mark.at <= fin.at);
        if close_first || v.tcp[side.other()].fin().is_some() {
            continue;
        }
        let held = at.since(fin.at);
        if held > v.th.half_close_timeout {
            out.reason(
                Code::HalfClosed,
                Some(side),
                fin.at,
                Facts {
                    gap: Some(held),
                    threshold: Some(v.th.half_close_timeout),
                    ..Facts::default()
                },
                vec![fin.evidence],
            );
        } else {
            out.pending(
                Code::HalfClosed,
                Some(side),
                fin.at,
                fin.at + v.th.half_close_timeout,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    #[test]
    fn fin_without_close_and_the_other_side_stays() {
        let mut s = Script::established();
        s.at(1000).fin(Client);
        assert_eq!(s.judge_at(3000).pending[0].code, Code::HalfClosed);
        assert_eq!(s.codes_at(7000), vec![(Code::HalfClosed, Some(Client))]);
    }

    #[test]
    fn fin_both_ways_is_closed_not_half_closed() {
        let mut s = Script::established();
        s.at(1000).fin(Client);
        s.at(1001).fin(Server);
        assert_eq!(s.judge_at(9000).verdict, Verdict::Closed);
    }

    #[test]
    fn close_then_fin_is_not_a_half_close() {
        let mut s = Script::established();
        s.at(1000).close(Client, 1000);
        s.at(1001).fin(Client);
        let codes = s.codes_at(9000);
        assert_eq!(codes, vec![(Code::CloseHandshakeIncomplete, Some(Server))]);
    }
}
