//! `close_handshake_incomplete` (hard; side: the one that owes the Close):
//! a Close frame sent, none back, TCP still open past the close timeout.
//! RFC 6455 §5.5.1: an endpoint that receives a Close must send one back.

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
        let other = side.other();
        let (Some(close), None) = (v.ws.sides[side].close(), v.ws.sides[other].close()) else {
            continue;
        };
        let waited = at.since(close.mark.at);
        if waited > v.th.close_timeout {
            out.reason(
                Code::CloseHandshakeIncomplete,
                Some(other),
                close.mark.at,
                Facts {
                    close_code: close.code,
                    gap: Some(waited),
                    threshold: Some(v.th.close_timeout),
                    ..Facts::default()
                },
                vec![close.mark.evidence],
            );
        } else {
            out.pending(
                Code::CloseHandshakeIncomplete,
                Some(other),
                close.mark.at,
                close.mark.at + v.th.close_timeout,
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
    fn a_close_never_answered_is_pending_then_a_reason() {
        let mut s = Script::established();
        s.at(1500).close(Client, 1000);
        let early = s.judge_at(1544);
        assert_eq!(early.verdict, Verdict::Alive);
        assert_eq!(early.pending[0].code, Code::CloseHandshakeIncomplete);
        assert_eq!(early.pending[0].side, Some(Server));
        assert_eq!(
            early.pending[0].due,
            crate::time::Timestamp::from_nanos(6_500_000_000)
        );
        assert_eq!(
            s.codes_at(12_000),
            vec![(Code::CloseHandshakeIncomplete, Some(Server))]
        );
    }

    #[test]
    fn a_close_answered_is_closed() {
        let mut s = Script::established();
        s.at(1500).close(Client, 1000);
        s.at(1510).close(Server, 1000);
        assert_eq!(s.judge_at(12_000).verdict, Verdict::Closed);
    }
}
