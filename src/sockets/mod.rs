//! The host's own TCP sockets as a source for the judge: what the kernel
//! holds that the wire cannot show (bytes the application wrote and the
//! kernel has not sent, the backoff of a black-holed head segment, a peer's
//! zero window), read through netlink sock_diag every interval.
//!
//! - `diag`: the netlink dump (Linux only), optionally in another network
//!   namespace;
//! - `reading`: one socket as the dump gives it, and the parsing of its
//!   `tcp_info` bytes;
//! - here: a reading as a judge event, which side of a connection a local
//!   socket is, and [`Board`], the connections of `wspulse sockets`
//!   judged from readings alone.
//!
//! Readings become the same events as a probe's own `TCP_INFO`
//! ([`EventKind::TcpInfo`]), stamped with a sample reference (the n-th
//! reading of the run), so `peer_unreachable`, `zero_window_stall` and
//! `slow_reader` rest on them and cite them.

#[cfg(target_os = "linux")]
pub mod diag;
pub mod reading;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::evidence::EvidenceRef;
use crate::liveness::event::{Event, EventKind, Mark};
use crate::liveness::{Code, Judge, Settings, Verdict, Visibility};
use crate::side::{PerSide, Side};
use crate::time::Timestamp;
pub use reading::{Limited, Reading};

/// The states dumped: those of a connection that can hold data (ESTABLISHED,
/// the FIN_WAITs, CLOSE_WAIT, LAST_ACK, CLOSING), and LISTEN, which says
/// which local ports are servers. A mask of `1 << state`.
pub const STATES: u32 =
    (1 << 1) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11);

/// The reasons socket readings alone can support: a backlog the peer does
/// not acknowledge, a zero window, a window mostly closed.
pub const JUDGED_FROM_SOCKETS: [Code; 3] = [
    Code::PeerUnreachable,
    Code::ZeroWindowStall,
    Code::SlowReader,
];

/// The checks that need the packets (frames, FINs, what the capture
/// missed): `live -i IFACE --sockets` makes them.
pub const NEED_PACKETS: [Code; 7] = [
    Code::PingUnanswered,
    Code::ReadGapExceeded,
    Code::HalfClosed,
    Code::CloseHandshakeIncomplete,
    Code::AppStallControlOnly,
    Code::NoHeartbeat,
    Code::CaptureLoss,
];

/// Connections [`Board`] keeps at most; past it, the oldest that left the
/// host's table are forgotten, then new ones are not taken.
pub const MAX_CONNECTIONS: usize = 65_536;

/// Which end of a connection the local socket of `r` is: `server` when its
/// port is one of `ports` (`--port`) or a local listening port, `client`
/// when the other end's is; else the end on the higher (ephemeral) port is
/// the client, as the spec's last role rule says.
pub fn local_side(r: &Reading, ports: &[u16], listening: &HashSet<u16>) -> Side {
    let (l, p) = (r.local.port(), r.remote.port());
    if ports.contains(&l) {
        Side::Server
    } else if ports.contains(&p) {
        Side::Client
    } else if listening.contains(&l) {
        Side::Server
    } else if l > p {
        Side::Client
    } else {
        Side::Server
    }
}

/// Whether `r` concerns one of `ports` (all sockets when none is given).
pub fn wanted(r: &Reading, ports: &[u16]) -> bool {
    ports.is_empty() || ports.contains(&r.local.port()) || ports.contains(&r.remote.port())
}

/// The judge event of reading `r` of the socket on `side`, at `mark`;
/// `None` when the kernel sent no `tcp_info`.
pub fn event(r: &Reading, side: Side, mark: Mark) -> Option<Event<'static>> {
    let info = r.info.as_ref()?;
    Some(Event {
        side,
        mark,
        kind: EventKind::TcpInfo(info.for_judge()),
    })
}

/// One connection seen through its local socket(s).
pub struct SocketConnection {
    /// Counted in the order connections were first seen, from 1.
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub judge: Judge,
    /// Each side's latest reading, for a side whose socket is on this host.
    pub last: PerSide<Option<Reading>>,
    pub readings: u64,
    /// When the socket(s) last appeared in the dump.
    pub last_seen: Timestamp,
    /// When they first no longer did (closed, or its state left those
    /// dumped); `None` while present.
    pub gone: Option<Timestamp>,
    /// The verdict last reported, for change records.
    pub reported: Verdict,
}

/// The connections of a `wspulse sockets` run, judged from readings only.
pub struct Board {
    settings: Arc<Settings>,
    ports: Vec<u16>,
    conns: BTreeMap<(SocketAddr, SocketAddr), SocketConnection>,
    next_id: u64,
    samples: u64,
    /// Connections not taken because [`MAX_CONNECTIONS`] was reached.
    pub refused: u64,
}

impl Board {
    /// `ports`: `--port`, the server ports to follow (all when empty).
    pub fn new(settings: Arc<Settings>, ports: Vec<u16>) -> Self {
        Board {
            settings,
            ports,
            conns: BTreeMap::new(),
            next_id: 1,
            samples: 0,
            refused: 0,
        }
    }

    /// Readings taken so far (the last sample number).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// One dump, taken at `at`: each wanted socket's reading goes to its
    /// connection's judge (created on first sight); connections absent from
    /// the dump are marked gone.
    pub fn on_round(&mut self, dump: &[Reading], at: Timestamp) {
        let listening: HashSet<u16> = dump
            .iter()
            .filter(|r| r.state == reading::TCP_LISTEN)
            .map(|r| r.local.port())
            .collect();
        let mut seen = HashSet::new();
        for r in dump {
            if r.state == reading::TCP_LISTEN || r.info.is_none() || !wanted(r, &self.ports) {
                continue;
            }
            let side = local_side(r, &self.ports, &listening);
            let (client, server) = match side {
                Side::Server => (r.remote, r.local),
                Side::Client => (r.local, r.remote),
            };
            let key = (client, server);
            if !self.conns.contains_key(&key) && !self.make_room() {
                self.refused += 1;
                continue;
            }
            self.samples += 1;
            let mark = Mark {
                at,
                evidence: EvidenceRef::sample(self.samples),
            };
            let (settings, id) = (&self.settings, &mut self.next_id);
            let conn = self.conns.entry(key).or_insert_with(|| {
                *id += 1;
                SocketConnection {
                    id: *id - 1,
                    client,
                    server,
                    judge: Judge::new(settings.clone(), Visibility::Frames),
                    last: PerSide::default(),
                    readings: 0,
                    last_seen: at,
                    gone: None,
                    reported: Verdict::Alive,
                }
            });
            if let Some(e) = event(r, side, mark) {
                conn.judge.on_event(&e);
            }
            conn.last[side] = Some(r.clone());
            conn.readings += 1;
            conn.last_seen = at;
            conn.gone = None;
            seen.insert(key);
        }
        for (key, conn) in &mut self.conns {
            if !seen.contains(key) && conn.gone.is_none() {
                conn.gone = Some(at);
            }
        }
    }

    /// Frees a place for a new connection if the table is full: the one
    /// that left longest ago. False when none has left.
    fn make_room(&mut self) -> bool {
        if self.conns.len() < MAX_CONNECTIONS {
            return true;
        }
        let oldest = self
            .conns
            .iter()
            .filter_map(|(k, c)| c.gone.map(|g| (g, *k)))
            .min();
        oldest.is_some_and(|(_, k)| self.conns.remove(&k).is_some())
    }

    /// The connections, in id order.
    pub fn connections(&self) -> Vec<&SocketConnection> {
        let mut v: Vec<&SocketConnection> = self.conns.values().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// The connections, mutably, in no particular order.
    pub fn connections_mut(&mut self) -> impl Iterator<Item = &mut SocketConnection> {
        self.conns.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::SocketReading;

    fn reading(local: &str, remote: &str, state: u8) -> Reading {
        Reading {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            recv_queue: 0,
            send_queue: 0,
            info: Some(SocketReading::default()),
            limited: None,
        }
    }

    #[test]
    fn the_side_of_a_local_socket_follows_the_port_then_listening_then_the_higher_port() {
        let none = HashSet::new();
        let r = reading("10.0.0.1:8080", "10.0.0.2:40000", 1);
        assert_eq!(local_side(&r, &[8080], &none), Side::Server);
        let r = reading("10.0.0.2:40000", "10.0.0.1:8080", 1);
        assert_eq!(local_side(&r, &[8080], &none), Side::Client);
        // no --port: a listening port names the server
        let r = reading("10.0.0.1:40000", "10.0.0.2:50000", 1);
        assert_eq!(local_side(&r, &[], &HashSet::from([40000])), Side::Server);
        assert_eq!(local_side(&r, &[], &none), Side::Server);
        let r = reading("10.0.0.1:50000", "10.0.0.2:80", 1);
        assert_eq!(local_side(&r, &[], &none), Side::Client);
    }

    #[test]
    fn both_ends_on_this_host_make_one_connection_with_both_sides_read() {
        let settings = Arc::new(Settings {
            thresholds: Default::default(),
            key: crate::secret::Key::from_passphrase("t"),
        });
        let mut b = Board::new(settings, vec![8080]);
        let dump = [
            reading("127.0.0.1:8080", "0.0.0.0:0", reading::TCP_LISTEN),
            reading("127.0.0.1:8080", "127.0.0.1:40000", 1),
            reading("127.0.0.1:40000", "127.0.0.1:8080", 1),
            // another port: not followed
            reading("127.0.0.1:22", "127.0.0.1:50000", 1),
        ];
        b.on_round(&dump, Timestamp::from_nanos(1));
        let conns = b.connections();
        assert_eq!(conns.len(), 1);
        let c = conns[0];
        assert_eq!((c.client.port(), c.server.port()), (40000, 8080));
        assert!(c.last.client.is_some() && c.last.server.is_some());
        assert_eq!(b.samples(), 2);
        b.on_round(&[], Timestamp::from_nanos(2));
        assert_eq!(b.connections()[0].gone, Some(Timestamp::from_nanos(2)));
    }
}
