//! `live --sockets`: this host's TCP sockets, read through sock_diag every
//! interval, matched to the captured connections by their 4-tuple. A
//! socket whose local end is a connection's server end reads the server's
//! side; one whose local end is the client end, the client's. Connections
//! with no end on this host get no readings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::evidence::EvidenceRef;
use crate::liveness::event::{Event, EventKind, Mark};
use crate::side::Side;
use crate::sockets::{self, Reading};
use crate::time::{Span, Timestamp};

/// The sock_diag socket and when to read it next.
pub struct SocketSource {
    #[cfg(target_os = "linux")]
    diag: sockets::diag::Diag,
    interval: Duration,
    next: Instant,
    /// Readings matched to a captured connection so far: the last sample
    /// number.
    pub samples: u64,
    /// The first error reading the table, said once.
    pub failed: Option<String>,
}

impl SocketSource {
    /// Opens sock_diag here or in `netns`; read every `interval` from now.
    /// Errors: a one-line reason (no such namespace, not root, not Linux).
    pub fn open(netns: Option<&str>, interval: Span) -> Result<Self, String> {
        #[cfg(target_os = "linux")]
        let diag = sockets::diag::Diag::open(netns)?;
        #[cfg(not(target_os = "linux"))]
        {
            let _ = netns;
            return Err("--sockets reads the host's sockets through Linux's sock_diag".into());
        }
        #[allow(unreachable_code)]
        Ok(SocketSource {
            #[cfg(target_os = "linux")]
            diag,
            interval: Duration::from_nanos(u64::try_from(interval.nanos()).unwrap_or(0)),
            next: Instant::now(),
            samples: 0,
            failed: None,
        })
    }

    /// When the next reading is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// The host's sockets, if a reading is due at `now`; an error
    /// stops the readings (said once by the caller).
    pub fn poll(&mut self, now: Instant) -> Option<Vec<Reading>> {
        if now < self.next || self.failed.is_some() {
            return None;
        }
        while self.next <= now {
            self.next += self.interval.max(Duration::from_millis(1));
        }
        #[cfg(target_os = "linux")]
        match self.diag.dump(sockets::STATES) {
            Ok(d) => return Some(d),
            Err(e) => self.failed = Some(e),
        }
        None
    }

    /// Matches a dump to connections: for the connection between
    /// `client` and `server`, the readings of its local end(s), each with
    /// its side.
    pub fn index(dump: &[Reading]) -> HashMap<(SocketAddr, SocketAddr), &Reading> {
        dump.iter()
            .filter(|r| r.state != sockets::reading::TCP_LISTEN && r.info.is_some())
            .map(|r| ((r.local, r.remote), r))
            .collect()
    }

    /// The next sample's mark at `at`.
    pub fn mark(&mut self, at: Timestamp) -> Mark {
        self.samples += 1;
        Mark {
            at,
            evidence: EvidenceRef::sample(self.samples),
        }
    }
}

/// The local sockets of the connection `client`–`server` in `index`, with
/// the side each one is.
pub fn sides_of<'a>(
    index: &HashMap<(SocketAddr, SocketAddr), &'a Reading>,
    client: SocketAddr,
    server: SocketAddr,
) -> impl Iterator<Item = (Side, &'a Reading)> {
    let server_end = index.get(&(server, client)).map(|r| (Side::Server, *r));
    let client_end = index.get(&(client, server)).map(|r| (Side::Client, *r));
    client_end.into_iter().chain(server_end)
}

/// The judge event of reading `r` of the socket on `side`, for a
/// connection whose packets the judge also gets: the retransmission
/// counter is left out, since every retransmitted segment crosses the
/// interface and is counted from the capture already (counting both
/// would charge each one twice).
pub fn beside_packets(r: &Reading, side: Side, mark: Mark) -> Option<Event<'static>> {
    let mut event = sockets::event(r, side, mark)?;
    if let EventKind::TcpInfo(info) = &mut event.kind {
        info.total_retrans = 0;
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::SocketReading;

    fn reading(local: &str, remote: &str) -> Reading {
        Reading {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state: sockets::reading::TCP_ESTABLISHED,
            recv_queue: 0,
            send_queue: 0,
            info: Some(SocketReading::default()),
            limited: None,
        }
    }

    #[test]
    fn a_socket_is_the_side_whose_end_is_local() {
        let dump = [
            reading("10.0.0.1:8080", "10.0.0.2:40000"),
            reading("10.0.0.1:8080", "10.0.0.3:40000"),
        ];
        let index = SocketSource::index(&dump);
        let c: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let s: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        let sides: Vec<_> = sides_of(&index, c, s).collect();
        assert_eq!(sides.len(), 1);
        assert_eq!(sides[0].0, Side::Server);
        assert_eq!(sides[0].1.remote, c);
        // the same ports between other hosts: no reading
        let other: SocketAddr = "10.0.0.9:40000".parse().unwrap();
        assert_eq!(sides_of(&index, other, s).count(), 0);
        // the client's end on this host
        let dump = [reading("10.0.0.2:40000", "10.0.0.1:8080")];
        let index = SocketSource::index(&dump);
        let sides: Vec<_> = sides_of(&index, c, s).collect();
        assert_eq!(sides[0].0, Side::Client);
    }

    #[test]
    fn beside_packets_a_reading_does_not_count_retransmissions_again() {
        let mut r = reading("10.0.0.1:8080", "10.0.0.2:40000");
        r.info = Some(SocketReading {
            total_retrans: 5,
            notsent_bytes: Some(4000),
            ..SocketReading::default()
        });
        let mark = Mark::default();
        let Some(EventKind::TcpInfo(alone)) =
            sockets::event(&r, Side::Server, mark).map(|e| e.kind)
        else {
            panic!("no event")
        };
        let Some(EventKind::TcpInfo(beside)) =
            beside_packets(&r, Side::Server, mark).map(|e| e.kind)
        else {
            panic!("no event")
        };
        assert_eq!((alone.total_retrans, beside.total_retrans), (5, 0));
        assert_eq!(beside.notsent_bytes, 4000);
    }
}
