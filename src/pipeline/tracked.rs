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
    /// a budget: a regression guard, with the figures of today.
    #[test]
    fn a_tracked_connection_stays_within_its_budget() {
        let conn = size_of::<crate::tcp::Connection<super::Tracked>>();
        let judge = size_of::<crate::liveness::Judge>();
        assert!(conn <= 2100, "Connection<Tracked> is {conn} bytes");
        assert!(judge <= 800, "Judge is {judge} bytes");
        assert!(size_of::<crate::liveness::activity::Ping>() <= 64);
        assert!(size_of::<crate::websocket::frame::FrameDecoder>() <= 128);
    }
}
