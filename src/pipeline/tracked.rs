//! The passive path's per-connection consumer: the WebSocket session reads
//! the reassembled bytes, and every TCP fact and WebSocket event goes to
//! the connection's judge, stamped with its packet.

use std::sync::Arc;

use crate::evidence::{EvidenceRef, Moment};
use crate::liveness::event::{Event, Mark};
use crate::liveness::{Judge, Settings, Visibility};
use crate::side::Side;
use crate::tcp::{RoleSource, StreamObserver, TcpEvent};
use crate::websocket::{Session, SessionSetup};

pub struct Tracked {
    pub session: Session,
    pub judge: Judge,
}

impl Tracked {
    pub fn new(setup: SessionSetup, settings: Arc<Settings>) -> Self {
        let visibility = if setup.tls_port {
            Visibility::TlsRecords
        } else {
            Visibility::Frames
        };
        Tracked {
            session: Session::new(setup),
            judge: Judge::new(settings, visibility),
        }
    }
}

fn mark(now: Moment) -> Mark {
    Mark {
        at: now.at,
        evidence: EvidenceRef::frame(now.frame),
    }
}

impl StreamObserver for Tracked {
    fn on_data(&mut self, side: Side, bytes: &[u8], now: Moment) {
        let judge = &mut self.judge;
        let mark = mark(now);
        self.session.on_data(side, bytes, now, &mut |side, e| {
            judge.on_event(&Event::ws(side, mark, e))
        });
    }

    fn on_gap(&mut self, side: Side, len: u64, now: Moment) {
        let judge = &mut self.judge;
        let mark = mark(now);
        self.session.on_gap(side, len, &mut |side, e| {
            judge.on_event(&Event::ws(side, mark, e))
        });
    }

    fn on_tcp(&mut self, side: Side, event: TcpEvent, now: Moment) {
        self.judge.on_event(&Event::tcp(side, mark(now), event));
    }

    fn swap_sides(&mut self) {
        self.session.swap_sides();
        self.judge.swap_sides();
    }

    fn client_evidence(&self) -> Option<(Side, RoleSource)> {
        self.session.client_evidence()
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// Memory follows the connections open at once, so what one costs is
    /// a budget: a regression guard, with the figures of today. An idle
    /// upgraded connection adds to these only its heartbeat record and
    /// packed handshake (and its slot in the flow table).
    #[test]
    fn a_tracked_connection_stays_within_its_budget() {
        use crate::liveness::activity::{Heartbeats, Ping, SideActivity};
        use crate::liveness::transport::Transport;
        use crate::tcp::endpoint::Endpoint;
        use crate::websocket::frame::CompactDecoder;
        let conn = size_of::<crate::tcp::Connection<super::Tracked>>();
        let judge = size_of::<crate::liveness::Judge>();
        // 968 bytes today: the budget leaves one word for a consumer's
        // own per-connection state.
        assert!(conn <= 976, "Connection<Tracked> is {conn} bytes");
        assert!(judge <= 424, "Judge is {judge} bytes");
        assert!(size_of::<Endpoint>() <= 176);
        assert!(size_of::<Transport>() <= 72);
        assert!(size_of::<SideActivity>() <= 120);
        assert!(size_of::<crate::websocket::Session>() <= 64);
        assert!(size_of::<CompactDecoder>() <= 16);
        // Boxed only while a frame straddles two reads.
        assert!(size_of::<crate::websocket::frame::FrameDecoder>() <= 120);
        assert!(size_of::<Heartbeats>() <= 184);
        assert!(size_of::<Ping>() <= 56);
    }
}
