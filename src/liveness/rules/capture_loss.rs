//! `capture_loss` (soft; side: the sender of the missed bytes): the peer
//! acknowledged bytes the capture never saw. Not a network fault: findings
//! about that direction may be incomplete, and say so rather than blame a
//! side for bytes we did not see.

use super::{Checks, View};
use crate::liveness::judge::Facts;
use crate::liveness::Code;
use crate::side::Side;
use crate::time::Timestamp;

pub fn check(v: &View<'_>, _at: Timestamp, out: &mut Checks) {
    for side in Side::BOTH {
        let Some((missed_bytes, first)) = v.tcp[side].missed() else {
            continue;
        };
        if missed_bytes > 0 {
            out.reason(
                Code::CaptureLoss,
                Some(side),
                first.at,
                Facts {
                    missed_bytes: Some(missed_bytes),
                    ..Facts::default()
                },
                vec![first.evidence],
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
    fn bytes_acked_but_never_captured() {
        let mut s = Script::established();
        s.at(100).missed(Server, 1448);
        assert_eq!(s.judge_at(200).verdict, Verdict::Suspect);
        assert_eq!(s.codes_at(200), vec![(Code::CaptureLoss, Some(Server))]);
    }

    #[test]
    fn no_loss_no_reason() {
        let mut s = Script::established();
        s.at(100).sent(Client, 10, false, 10);
        s.at(101).acked(Client, 0);
        assert_eq!(s.judge_at(200).verdict, Verdict::Alive);
    }
}
