//! `wspulse probe ws://…`: an active probe. It opens a WebSocket
//! connection itself, sends sequence-numbered Pings, reads its own
//! socket's `TCP_INFO`, and feeds all of it to the same judge the capture
//! path feeds, so its findings read like a capture's.
//!
//! The probe is the client side. Its Pings and the Pongs it answers with
//! are client events; every frame read is a server event; `TCP_INFO`
//! readings are client events. Evidence is `{"sample": n}`: events are
//! numbered from 1 in the order the judge took them.
//!
//! - `target`: the URL, and its printable form;
//! - `connect`: TCP connect and handshake, each with a deadline;
//! - `socket_info`: `TCP_INFO` readings.

mod connect;
pub mod socket_info;
pub mod target;

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use crate::config::Format;
use crate::evidence::EvidenceRef;
use crate::liveness::event::{Event, EventKind, Mark, TcpEvent, WsEvent};
use crate::liveness::{Judge, Settings, Thresholds, Verdict, Visibility};
use crate::side::Side;
use crate::time::{wall_clock, Timestamp};
use crate::websocket::frame::{FrameHeader, Opcode};
pub use socket_info::SocketReading;
pub use target::Target;

/// Set by SIGINT or SIGTERM; the loop stops within one poll.
static STOP: AtomicBool = AtomicBool::new(false);

/// The longest one read waits, so the loop sees the clock, the stop flag
/// and the next Ping in time.
const POLL: Duration = Duration::from_millis(50);

/// A validated `wspulse probe` command line.
pub struct ProbeConfig {
    pub target: Target,
    /// `-H 'Name: value'`, in order. Values are secrets: never printed.
    pub headers: Vec<(String, String)>,
    pub subprotocol: Option<String>,
    pub origin: Option<String>,
    /// Bound on the TCP connect and on each handshake read or write.
    pub connect_timeout: Duration,
    /// Time between Pings.
    pub ping_interval: Duration,
    /// How long the probe runs at most.
    pub duration: Duration,
    /// Stop after this many Pings (answered, or one interval later).
    pub count: Option<u64>,
    pub thresholds: Thresholds,
    pub format: Format,
    /// Exit 1 when the verdict is this or worse.
    pub fail_on: Option<Verdict>,
}

/// Ping counts and round trips.
#[derive(Clone, Debug, Default)]
pub struct Pings {
    pub sent: u64,
    /// Pongs that echoed a Ping of ours still outstanding.
    pub answered: u64,
    /// Pongs whose payload matched no outstanding Ping.
    pub mismatched: u64,
    /// Round trip of each answered Ping, in send order.
    pub rtts: Vec<Duration>,
}

/// What a probe run leaves for the report.
pub struct ProbeRun {
    pub judge: Judge,
    /// The instant judged: when the probe stopped.
    pub at: Timestamp,
    pub pings: Pings,
    /// The last `TCP_INFO` reading (Linux only).
    pub socket: Option<SocketReading>,
    /// Why the probe stopped early, when the connection ended or failed.
    pub ended: Option<String>,
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

/// Feeds the judge with times on one clock: the wall clock at the start
/// carried forward by a monotonic one.
struct Feeder {
    judge: Judge,
    start: Instant,
    base: Timestamp,
    sample: u64,
}

impl Feeder {
    fn now(&self) -> Timestamp {
        let ns = i64::try_from(self.start.elapsed().as_nanos()).unwrap_or(i64::MAX);
        Timestamp::from_nanos(self.base.nanos().saturating_add(ns))
    }

    fn mark(&mut self) -> Mark {
        self.sample += 1;
        Mark {
            at: self.now(),
            evidence: EvidenceRef::sample(self.sample),
        }
    }

    fn frame(&mut self, side: Side, opcode: Opcode, payload: &[u8], control: bool) {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: (side == Side::Client).then_some([0; 4]),
            payload_len: payload.len() as u64,
            header_len: 2,
        };
        let event = WsEvent::Frame {
            header,
            control_payload: control.then_some(payload),
        };
        let mark = self.mark();
        self.judge.on_event(&Event::ws(side, mark, event));
    }

    fn info(&mut self, reading: &SocketReading) {
        let mark = self.mark();
        self.judge.on_event(&Event {
            side: Side::Client,
            mark,
            kind: EventKind::TcpInfo(reading.for_judge()),
        });
    }
}

/// Connects, probes until `--duration`, `--count`, a signal or the end of
/// the connection, and returns what the judge needs at that instant.
///
/// Errors (one line): what [`connect::open`] refuses; errors after the
/// handshake end the run instead and are reported in `ended`.
pub fn run(config: &ProbeConfig, settings: Arc<Settings>) -> Result<ProbeRun, String> {
    let mut ws = connect::open(config)?;
    connect::poll_with(&ws, POLL)?;
    let fd = ws.get_ref().stream.as_raw_fd();
    let mut feed = Feeder {
        judge: Judge::new(settings, Visibility::Frames),
        start: Instant::now(),
        base: wall_clock(),
        sample: 0,
    };
    let mut pings = Pings::default();
    let mut socket = socket_info::read(fd);
    if let Some(r) = &socket {
        feed.info(r);
    }
    let mut outstanding: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut next_ping = Instant::now();
    let mut last_ping = Instant::now();
    let mut ended = None;
    loop {
        let now = Instant::now();
        let done_counting = config.count.is_some_and(|n| pings.sent >= n);
        if STOP.load(Ordering::SeqCst)
            || feed.start.elapsed() >= config.duration
            || (done_counting
                && (outstanding.is_empty() || now >= last_ping + config.ping_interval))
        {
            break;
        }
        if !done_counting && now >= next_ping {
            pings.sent += 1;
            let payload = pings.sent.to_be_bytes();
            // A full send buffer leaves the frame queued in tungstenite
            // (WouldBlock): the kernel's queue is then what TCP_INFO shows.
            match ws.send(Message::Ping(payload.to_vec().into())) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                Err(e) => {
                    ended = Some(ending(&e, &mut feed));
                    break;
                }
            }
            feed.frame(Side::Client, Opcode::Ping, &payload, true);
            outstanding.insert(pings.sent, now);
            last_ping = now;
            next_ping += config.ping_interval;
            if let Some(r) = socket_info::read(fd) {
                feed.info(&r);
                socket = Some(r);
            }
        }
        match ws.read() {
            Ok(message) => {
                if let Some(why) =
                    on_message(&mut ws, message, &mut feed, &mut pings, &mut outstanding)
                {
                    ended = Some(why);
                    break;
                }
            }
            Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
            Err(e) => {
                ended = Some(ending(&e, &mut feed));
                break;
            }
        }
    }
    if let Some(r) = socket_info::read(fd) {
        feed.info(&r);
        socket = Some(r);
    }
    let at = feed.now();
    // A polite close, bounded by the poll timeouts; the judge is done.
    let normal = tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    };
    let _ = ws.close(Some(normal));
    let _ = ws.flush();
    Ok(ProbeRun {
        judge: feed.judge,
        at,
        pings,
        socket,
        ended,
    })
}

/// A read or write that found nothing to do before its timeout, or that a
/// signal interrupted (Ctrl-C is handled by the stop flag): try again.
fn would_block(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// A message from the server, fed to the judge; `Some` when it ended the
/// connection.
fn on_message(
    ws: &mut WebSocket<connect::Bounded>,
    message: Message,
    feed: &mut Feeder,
    pings: &mut Pings,
    outstanding: &mut BTreeMap<u64, Instant>,
) -> Option<String> {
    match message {
        Message::Pong(p) => {
            feed.frame(Side::Server, Opcode::Pong, &p, true);
            let seq = <[u8; 8]>::try_from(&p[..]).ok().map(u64::from_be_bytes);
            match seq.and_then(|s| outstanding.remove(&s)) {
                Some(sent) => {
                    pings.answered += 1;
                    pings.rtts.push(sent.elapsed());
                }
                None => pings.mismatched += 1,
            }
        }
        Message::Ping(p) => {
            feed.frame(Side::Server, Opcode::Ping, &p, true);
            // tungstenite queued the Pong (RFC 6455 §5.5.3): send it now.
            let _ = ws.flush();
            feed.frame(Side::Client, Opcode::Pong, &p, true);
        }
        Message::Text(t) => feed.frame(Side::Server, Opcode::Text, t.as_bytes(), false),
        Message::Binary(b) => feed.frame(Side::Server, Opcode::Binary, &b, false),
        Message::Close(frame) => {
            let body: Vec<u8> = frame
                .map(|f| u16::from(f.code).to_be_bytes().to_vec())
                .unwrap_or_default();
            feed.frame(Side::Server, Opcode::Close, &body, true);
            let _ = ws.flush();
            feed.frame(Side::Client, Opcode::Close, &body, true);
            return Some("the server closed the connection".into());
        }
        Message::Frame(_) => {}
    }
    None
}

/// How a read or write error ended the run; a reset is the server's RST.
fn ending(e: &tungstenite::Error, feed: &mut Feeder) -> String {
    use tungstenite::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset => {
            let mark = feed.mark();
            feed.judge
                .on_event(&Event::tcp(Side::Server, mark, TcpEvent::Rst));
            "the server reset the connection".into()
        }
        Error::ConnectionClosed | Error::AlreadyClosed => "the connection closed".into(),
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            let mark = feed.mark();
            feed.judge
                .on_event(&Event::tcp(Side::Server, mark, TcpEvent::Fin));
            "the server closed TCP without a WebSocket Close".into()
        }
        other => format!("the connection failed: {other}"),
    }
}
