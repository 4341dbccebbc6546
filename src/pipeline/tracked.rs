//! The passive path's per-connection consumer: the WebSocket session reads
//! the reassembled bytes, and every TCP fact and WebSocket event goes to
//! the connection's judge, stamped with its packet.

use std::sync::Arc;

use crate::decode::Segment;
use crate::evidence::{EvidenceRef, Moment};
use crate::liveness::event::{Event, Mark};
use crate::liveness::{Judge, Settings, Thresholds, Verdict, Visibility};
use crate::report::redact::Redactor;
use crate::secret::Key;
use crate::side::Side;
use crate::tcp::{RoleSource, StreamObserver, TcpEvent};
use crate::websocket::tls::KeyStore;
use crate::websocket::{Session, SessionKind, SessionSetup};

/// What every connection of a run is judged and reported with: the
/// thresholds and the fingerprint key its judges share, the ports that
/// name servers, and the redactor that prints what they found.
pub struct Judging {
    settings: Arc<Settings>,
    ws_ports: Vec<u16>,
    tls_ports: Vec<u16>,
    /// The run's TLS secrets (`--tls-keylog`, Decryption Secrets Blocks).
    pub keys: Arc<KeyStore>,
    /// Renders what the judges found, secrets redacted unless shown.
    pub redact: Redactor,
}

impl Judging {
    /// The key is `redact_key` stretched (so two runs can be compared),
    /// else random per run; an error only when the system has no random
    /// source. `show_secrets` prints values from the wire as they are.
    pub fn new(
        thresholds: Thresholds,
        show_secrets: bool,
        redact_key: Option<&str>,
        ws_ports: &[u16],
        tls_ports: &[u16],
        keys: Arc<KeyStore>,
    ) -> Result<Self, String> {
        let key = match redact_key {
            Some(text) => Key::from_passphrase(text),
            None => Key::random()?,
        };
        Ok(Judging {
            redact: Redactor::new(key.clone(), show_secrets),
            settings: Arc::new(Settings { thresholds, key }),
            ws_ports: ws_ports.to_vec(),
            tls_ports: tls_ports.to_vec(),
            keys,
        })
    }

    /// The consumer of a connection whose first packet is `seg`: roles are
    /// known from a SYN or a `--ws-port`/`--tls-port` port.
    pub fn observer(&self, seg: &Segment<'_>) -> Tracked {
        let on = |ports: &[u16]| ports.contains(&seg.src.1) || ports.contains(&seg.dst.1);
        let setup = SessionSetup {
            roles_known: seg.flags.syn() || on(&self.ws_ports) || on(&self.tls_ports),
            ws_port: on(&self.ws_ports),
            tls_port: on(&self.tls_ports),
        };
        Tracked::new(setup, self.settings.clone(), Some(self.keys.clone()))
    }
}

/// A connection's consumer on the passive path: its WebSocket session,
/// its judge, and the verdict last reported for it (the live tap writes a
/// record when it changes; a connection starts `alive`).
pub struct Tracked {
    pub session: Session,
    pub judge: Judge,
    pub reported: Verdict,
}

impl Tracked {
    /// `keys`: the run's TLS secrets, for wss connections.
    pub fn new(setup: SessionSetup, settings: Arc<Settings>, keys: Option<Arc<KeyStore>>) -> Self {
        let visibility = if setup.tls_port {
            Visibility::TlsRecords
        } else {
            Visibility::Frames
        };
        Tracked {
            session: Session::new(setup, keys),
            judge: Judge::new(settings, visibility),
            reported: Verdict::Alive,
        }
    }
}

impl Tracked {
    /// The judge sees what the session found: TLS records once the bytes
    /// said TLS (on any port), frames once they said HTTP (even on a
    /// `--tls-port`).
    fn follow_session(&mut self) {
        let visibility = match self.session.kind {
            SessionKind::Tls if !self.session.decrypting() => Visibility::TlsRecords,
            _ => Visibility::Frames,
        };
        if self.judge.visibility() != visibility {
            self.judge.set_visibility(visibility);
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
        self.follow_session();
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
    /// packed handshake (and its slot in the flow table: one pointer).
    #[test]
    fn a_tracked_connection_stays_within_its_budget() {
        use crate::liveness::activity::{Heartbeats, Ping, SideActivity};
        use crate::liveness::cadence::Cadence;
        use crate::liveness::pings::Outstanding;
        use crate::liveness::transport::Transport;
        use crate::tcp::endpoint::Endpoint;
        use crate::websocket::frame::CompactDecoder;
        let conn = size_of::<crate::tcp::Connection<super::Tracked>>();
        let judge = size_of::<crate::liveness::Judge>();
        // 1000 bytes today: with the flow table's id and tunnel context,
        // 1016 in its box, which malloc serves from a 1024-byte chunk; a
        // few bytes more and it takes 1040.
        assert!(conn <= 1000, "Connection<Tracked> is {conn} bytes");
        assert!(judge <= 416, "Judge is {judge} bytes");
        assert!(size_of::<Endpoint>() <= 176);
        assert!(size_of::<Transport>() <= 72);
        assert!(size_of::<SideActivity>() <= 112);
        assert!(size_of::<crate::websocket::Session>() <= 88);
        assert!(size_of::<CompactDecoder>() <= 16);
        // Boxed only while a frame straddles two reads.
        assert!(size_of::<crate::websocket::frame::FrameDecoder>() <= 120);
        // 120 bytes, a 128-byte chunk: one outstanding Ping inline, the
        // cadence's intervals allocated with the second Ping.
        assert!(size_of::<Heartbeats>() <= 120);
        assert!(size_of::<Ping>() <= 56);
        assert!(size_of::<Outstanding>() <= size_of::<Ping>());
        assert!(size_of::<Cadence>() <= 32);
    }
}
