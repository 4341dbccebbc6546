//! `no_heartbeat` (soft; no side): idle past the idle threshold (15 s), and
//! no heartbeat of any layer ever seen (WebSocket Ping/Pong, TCP
//! keep-alive): a dead peer would look exactly the same.

use super::{Checks, View};
use crate::liveness::judge::Facts;
use crate::liveness::Code;
use crate::time::Timestamp;

pub fn check(v: &View<'_>, at: Timestamp, out: &mut Checks) {
    let (c, s) = (&v.tcp.client, &v.tcp.server);
    if v.ws.any_heartbeat() || c.keepalives() + s.keepalives() > 0 {
        return;
    }
    // The last byte either side wrote, as TCP or as frames saw it.
    let last = [
        c.last_payload,
        s.last_payload,
        v.ws.sides.client.last_frame,
        v.ws.sides.server.last_frame,
    ]
    .into_iter()
    .flatten()
    .max_by_key(|m| m.at);
    let Some(last) = last else { return };
    let idle = at.since(last.at);
    if idle > v.th.idle {
        out.reason(
            Code::NoHeartbeat,
            None,
            last.at,
            Facts {
                gap: Some(idle),
                threshold: Some(v.th.idle),
                ..Facts::default()
            },
            vec![last.evidence],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::script::Script;
    use crate::liveness::{Code, Verdict};
    use crate::side::Side::{Client, Server};

    #[test]
    fn idle_with_no_heartbeat_of_any_kind() {
        let mut s = Script::established();
        s.at(0).text(Client, 10);
        assert_eq!(s.judge_at(10_000).verdict, Verdict::Alive);
        assert_eq!(s.codes_at(20_000), vec![(Code::NoHeartbeat, None)]);
    }

    #[test]
    fn a_tcp_keepalive_is_a_heartbeat() {
        let mut s = Script::established();
        s.at(0).text(Client, 10);
        s.at(5000).probe(Server, false);
        s.at(5001).window(Client, 65535);
        assert_eq!(s.judge_at(20_000).verdict, Verdict::Alive);
    }
}
