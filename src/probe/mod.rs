//! `wspulse probe ws[s]://…`: an active probe. It opens WebSocket
//! connections itself, sends sequence-numbered Pings (and `--send` data),
//! reads its own socket's `TCP_INFO` and send queue, and feeds all of it to
//! the same judge the capture path feeds, so its findings read like a
//! capture's.
//!
//! The probe is the client side. Its Pings, data and the Pongs it answers
//! with are client events; every frame read is a server event; socket
//! readings are client events. Evidence is `{"sample": n}`: events are
//! numbered from 1, per connection, in the order the judge took them.
//!
//! - `target`: the URL, and its printable form;
//! - `connect`: TCP connect and handshake, each with a deadline;
//! - `tls`: `wss://` through rustls;
//! - `session`: one connection's loop (Pings, sends, readings);
//! - `socket_info`: `TCP_INFO` and the send queue ioctls.

pub mod app;
mod connect;
mod session;
pub mod socket_info;
pub mod target;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Format;
use crate::liveness::cadence::LatencyHistogram;
use crate::liveness::{Judge, Settings, Thresholds, Verdict, VerdictSet};
use crate::time::Timestamp;
pub use socket_info::SocketReading;
pub use target::Target;
pub use tls::{TlsInfo, Trust};

/// Set by SIGINT or SIGTERM; every connection's loop stops within one poll.
static STOP: AtomicBool = AtomicBool::new(false);

/// The most frames the probe queues in user space when the socket's send
/// buffer is full (a stopped reader): past it, a Ping or send is counted
/// as blocked instead of growing memory.
pub(crate) const MAX_WRITE_BUFFER: usize = 1 << 20;

/// The most connections one probe opens (`--connections`): one thread each.
pub const MAX_CONNECTIONS: usize = 1000;

/// `-4` or `-6`: connect over that address family only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// A validated `wspulse probe` command line.
pub struct ProbeConfig {
    pub target: Target,
    /// `-H 'Name: value'`, in order. Values are secrets: never printed.
    pub headers: Vec<(String, String)>,
    pub subprotocol: Option<String>,
    pub origin: Option<String>,
    pub family: Option<Family>,
    /// How `wss://` certificates are checked.
    pub trust: Trust,
    /// Bound on the TCP connect, and on the TLS and WebSocket handshakes
    /// together.
    pub connect_timeout: Duration,
    /// Time between Pings, and between socket readings.
    pub ping_interval: Duration,
    /// `--heartbeat`: speak this application protocol's heartbeat instead
    /// of sending WebSocket Pings.
    pub heartbeat: Option<app::AppHeartbeat>,
    /// `--send TEXT`: a text message sent every `send_interval`. Never
    /// printed.
    pub send: Option<String>,
    pub send_interval: Duration,
    /// How long the probe runs at most.
    pub duration: Duration,
    /// Stop after this many Pings (answered, or one interval later).
    pub count: Option<u64>,
    /// Connections opened to the same URL, each judged on its own.
    pub connections: usize,
    pub thresholds: Thresholds,
    pub format: Format,
    /// `--check`: one monitoring-plugin status line instead of `format`.
    pub check: bool,
    /// `--watch`: one line per Ping interval while the probe runs.
    pub watch: bool,
    /// Exit 1 when a connection's verdict is one of these.
    pub fail_on: Option<VerdictSet>,
}

/// The probe's Pings, checked against their echo (RFC 6455 §5.5.3: a Pong
/// carries its Ping's payload).
#[derive(Clone, Debug, Default)]
pub struct Pings {
    pub sent: u64,
    /// Pongs that echoed a Ping of ours still outstanding.
    pub answered: u64,
    /// Pongs whose payload matched no outstanding Ping.
    pub mismatched: u64,
    /// Round trips of the answered Pings.
    pub rtt: LatencyHistogram,
}

/// `--send` counts and the time from each send to the next data frame from
/// the server (an echo or a response).
#[derive(Clone, Debug, Default)]
pub struct Sends {
    pub sent: u64,
    /// Sends a data frame from the server followed.
    pub answered: u64,
    pub latency: LatencyHistogram,
}

/// One connection's run, for the report.
pub struct ProbeRun {
    /// 1-based, in the order the connections were asked for.
    pub id: u64,
    /// The probe's own address and the server's.
    pub local: std::net::SocketAddr,
    pub peer: std::net::SocketAddr,
    pub judge: Judge,
    /// The instant judged: when the probe stopped.
    pub at: Timestamp,
    pub pings: Pings,
    pub sends: Sends,
    /// Pings and sends that found the user-space queue full too
    /// (`MAX_WRITE_BUFFER` bytes): not written at all.
    pub blocked_writes: u64,
    /// The last socket reading (Linux only).
    pub socket: Option<SocketReading>,
    /// The readings taken in all.
    pub readings: u64,
    pub tls: Option<TlsInfo>,
    /// Why the probe stopped early, when the connection ended or failed.
    pub ended: Option<String>,
}

/// What `--watch` prints each Ping interval, per connection.
#[derive(Clone, Debug)]
pub struct Sample {
    pub connection: u64,
    /// The Ping this line reports on: sent one interval ago.
    pub ping: u64,
    pub at: Timestamp,
    /// Its round trip, `None` when no Pong echoed it yet.
    pub rtt: Option<Duration>,
    pub socket: Option<SocketReading>,
    /// The verdict at `at`.
    pub verdict: Verdict,
}

/// Seconds as a short text: `5s`, `0.25s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The first SIGINT or SIGTERM stops the probe (the result follows); a
/// second one quits at once with 130.
pub fn stop_on_signals() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!("wspulse: warning: Ctrl-C will not stop the probe cleanly: {e}");
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Opens `--connections` connections at once, one thread each, probes them
/// until `--duration`, `--count`, a signal or their end, and returns each
/// run in id order. `on_sample` sees `--watch` samples as they come, on
/// the calling thread.
///
/// Errors: `Err` for a connection that could not be opened (one line, see
/// [`connect::open`]); the whole call fails only when the TLS set-up does.
pub fn run(
    config: &ProbeConfig,
    settings: Arc<Settings>,
    mut on_sample: impl FnMut(&Sample),
) -> Result<Vec<Result<ProbeRun, String>>, String> {
    let tls = match config.target.tls {
        true => Some(tls::config(&config.trust)?),
        false => None,
    };
    let (tx, rx) = mpsc::channel::<Sample>();
    let runs = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=config.connections as u64)
            .map(|id| {
                let tx = config.watch.then(|| tx.clone());
                let (settings, tls) = (settings.clone(), tls.as_ref());
                scope.spawn(move || session::run(id, config, settings, tls, tx))
            })
            .collect();
        drop(tx);
        for sample in rx {
            on_sample(&sample);
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the probe's connection thread failed".into()))
            })
            .collect()
    });
    Ok(runs)
}
