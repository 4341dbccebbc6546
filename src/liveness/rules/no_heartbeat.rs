//! `no_heartbeat` (soft; no side): idle past the idle threshold (15 s), and
//! no heartbeat of any layer ever seen (WebSocket Ping/Pong, TCP
//! keep-alive, an application heartbeat): a dead peer would look exactly
//! the same. Compressed messages, not read for heartbeats, are counted in
//! the evidence.

use super::{Checks, View};
use crate::liveness::judge::Facts;
use crate::liveness::Code;
use crate::side::Side;
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
                // Compressed messages are not read: a heartbeat inside one
                // would go unseen, and the sentence says so.
                count: Some(compressed(v)).filter(|&n| n > 0),
                ..Facts::default()
            },
            vec![last.evidence],
        );
    }
}

/// permessage-deflate messages of both sides, not read for heartbeats.
fn compressed(v: &View<'_>) -> u64 {
    let of = |side: Side| v.ws.sides[side].data.as_ref().map_or(0, |d| d.compressed);
    of(Side::Client) + of(Side::Server)
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
    fn compressed_messages_it_could_not_read_are_said() {
        let mut s = Script::established();
        s.at(0).compressed_text(Client, 10);
        s.at(1).compressed_text(Server, 10);
        let j = s.judge_at(20_000);
        assert_eq!(j.reasons[0].code, Code::NoHeartbeat);
        assert_eq!(j.reasons[0].facts.count, Some(2));
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
