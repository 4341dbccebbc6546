//! One probe connection: open it, then each Ping interval send a Ping
//! whose payload is its sequence number and read the socket; each send
//! interval send the `--send` text; read every frame the server sends; feed
//! all of it to the judge.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use super::app::AppClient;
use super::connect::{self, Opened};
use super::tls::{self, Wire};
use super::{socket_info, stopping, Pings, ProbeConfig, ProbeRun, Sample, Sends, SocketReading};
use crate::evidence::EvidenceRef;
use crate::liveness::event::{Event, EventKind, Mark, TcpEvent, WsEvent};
use crate::liveness::{Judge, Settings, Visibility};
use crate::side::Side;
use crate::time::{wall_clock, Span, Timestamp};
use crate::websocket::app::AppEvent;
use crate::websocket::frame::{FrameHeader, Opcode};

/// The longest one read waits, so the loop sees the clock, the stop flag
/// and the next Ping or send in time: 50 ms, or half the shortest interval.
fn poll(config: &ProbeConfig) -> Duration {
    let mut poll = Duration::from_millis(50).min(config.ping_interval / 2);
    if config.send.is_some() {
        poll = poll.min(config.send_interval / 2);
    }
    poll.max(Duration::from_millis(1))
}

/// Pings remembered for their round trip; older unanswered ones are
/// forgotten (the judge still holds them as outstanding).
const REMEMBERED_PINGS: usize = 64;

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

    fn app(&mut self, side: Side, event: AppEvent) {
        let mark = self.mark();
        self.judge
            .on_event(&Event::ws(side, mark, WsEvent::App(event)));
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

/// One connection's state between frames.
struct Probe<'a> {
    config: &'a ProbeConfig,
    ws: WebSocket<Wire>,
    feed: Feeder,
    pings: Pings,
    /// Sequence number → when it was sent, for round trips.
    outstanding: BTreeMap<u64, Instant>,
    last_rtt: Option<(u64, Duration)>,
    sends: Sends,
    /// Send instants still waiting for a data frame from the server.
    sends_waiting: std::collections::VecDeque<Instant>,
    blocked_writes: u64,
    socket: Option<SocketReading>,
    readings: u64,
    /// `--heartbeat`: the application protocol the probe speaks.
    app: Option<AppClient>,
}

/// Opens connection `id` and probes it; `watch` receives a sample each
/// Ping interval. Errors: the connection could not be opened.
pub fn run(
    id: u64,
    config: &ProbeConfig,
    settings: Arc<Settings>,
    tls: Option<&tls::Config>,
    watch: Option<Sender<Sample>>,
) -> Result<ProbeRun, String> {
    let Opened { ws, tls } = connect::open(config, tls)?;
    connect::poll_with(&ws, poll(config))?;
    let tcp = ws.get_ref().tcp();
    let io = |e: std::io::Error| format!("cannot read the socket's addresses: {e}");
    let (local, peer) = (tcp.local_addr().map_err(io)?, tcp.peer_addr().map_err(io)?);
    let mut p = Probe {
        config,
        ws,
        feed: Feeder {
            judge: Judge::new(settings, Visibility::Frames),
            start: Instant::now(),
            base: wall_clock(),
            sample: 0,
        },
        pings: Pings::default(),
        outstanding: BTreeMap::new(),
        last_rtt: None,
        sends: Sends::default(),
        sends_waiting: Default::default(),
        blocked_writes: 0,
        socket: None,
        readings: 0,
        app: config
            .heartbeat
            .map(|h| AppClient::new(h, &config.target.resource)),
    };
    p.read_socket();
    if let Some(why) = p.open_app() {
        return Err(why);
    }
    let ended = p.run_loop(id, watch.as_ref());
    p.read_socket();
    let at = p.feed.now();
    // A polite close, bounded by the poll timeouts; the judge is done.
    let normal = tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    };
    let _ = p.ws.close(Some(normal));
    let _ = p.ws.flush();
    Ok(ProbeRun {
        id,
        local,
        peer,
        judge: p.feed.judge,
        at,
        pings: p.pings,
        sends: p.sends,
        blocked_writes: p.blocked_writes,
        socket: p.socket,
        readings: p.readings,
        tls,
        ended,
    })
}

impl Probe<'_> {
    /// Runs until a stop condition; `Some` says why the connection ended.
    fn run_loop(&mut self, id: u64, watch: Option<&Sender<Sample>>) -> Option<String> {
        let config = self.config;
        let mut next_ping = Instant::now();
        let mut next_send = Instant::now();
        let mut last_ping = Instant::now();
        // After the last counted Ping, its Pong is awaited as `ping -c`
        // awaits its last reply: up to the pong timeout (`--pong-timeout`,
        // else twice the interval and at least a second), so a slow but
        // answering server is not cut off one interval after the Ping.
        let linger = match config.thresholds.pong_timeout {
            Some(t) => Duration::from_nanos(u64::try_from(t.nanos()).unwrap_or(0)),
            None => (config.ping_interval * 2).max(Duration::from_secs(1)),
        };
        loop {
            let now = Instant::now();
            let done_counting = config.count.is_some_and(|n| self.pings.sent >= n);
            if stopping()
                || self.feed.start.elapsed() >= config.duration
                || (done_counting
                    && ((self.outstanding.is_empty() && self.sends_waiting.is_empty())
                        || now >= last_ping + linger))
            {
                // The last Ping's line, as `ping` prints its last reply.
                if let Some(tx) = watch.filter(|_| self.pings.sent > 0) {
                    self.read_socket();
                    let _ = tx.send(self.sample(id));
                }
                return None;
            }
            if !done_counting && now >= next_ping {
                // The reading before this Ping: what the last interval left.
                self.read_socket();
                if let Some(tx) = watch.filter(|_| self.pings.sent > 0) {
                    let _ = tx.send(self.sample(id));
                }
                if let Some(why) = self.ping(now) {
                    return Some(why);
                }
                last_ping = now;
                next_ping += config.ping_interval;
            }
            if !done_counting && config.send.is_some() && now >= next_send {
                if let Some(why) = self.send(now) {
                    return Some(why);
                }
                next_send += config.send_interval;
            }
            match self.ws.read() {
                Ok(message) => {
                    if let Some(why) = self.on_message(message) {
                        return Some(why);
                    }
                }
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                Err(e) => return Some(self.ending(&e)),
            }
        }
    }

    /// The watch line for the last Ping sent.
    fn sample(&self, id: u64) -> Sample {
        let at = self.feed.now();
        Sample {
            connection: id,
            ping: self.pings.sent,
            at,
            rtt: self
                .last_rtt
                .filter(|&(seq, _)| seq == self.pings.sent)
                .map(|(_, rtt)| rtt),
            socket: self.socket,
            verdict: self.feed.judge.judge(at).verdict,
        }
    }

    /// Writes `message`; a full queue counts as blocked. `Some` when the
    /// write ended the connection.
    fn write(&mut self, message: Message) -> Option<String> {
        match self.ws.send(message) {
            Ok(()) => None,
            // A full send buffer leaves the frame queued in tungstenite
            // (WouldBlock): the kernel's queue is then what TCP_INFO shows.
            Err(tungstenite::Error::Io(e)) if would_block(&e) => None,
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                self.blocked_writes += 1;
                None
            }
            Err(e) => Some(self.ending(&e)),
        }
    }

    /// `--heartbeat`: the protocol's opening messages.
    fn open_app(&mut self) -> Option<String> {
        let app = self.app.as_ref()?;
        let ms = self.config.ping_interval.as_millis() as u64;
        let name = app.protocol.name();
        for message in app.opening(&self.config.target.host, ms) {
            if let Some(why) = self.write_data(message) {
                return Some(format!("the {name} opening failed: {why}"));
            }
        }
        None
    }

    /// Writes a data message of the probe's and feeds it to the judge, and
    /// through the application sniffer.
    fn write_data(&mut self, message: Message) -> Option<String> {
        let (opcode, bytes): (Opcode, Vec<u8>) = match &message {
            Message::Text(t) => (Opcode::Text, t.as_bytes().to_vec()),
            Message::Binary(b) => (Opcode::Binary, b.to_vec()),
            _ => return self.write(message),
        };
        let ended = self.write(message.clone());
        if ended.is_some() {
            return ended;
        }
        self.feed.frame(Side::Client, opcode, &bytes, false);
        self.app_read(Side::Client, &message);
        None
    }

    fn app_read(&mut self, side: Side, message: &Message) {
        if let Some(app) = &mut self.app {
            let feed = &mut self.feed;
            app.read(side, message, &mut |e| feed.app(side, e));
        }
    }

    fn ping(&mut self, now: Instant) -> Option<String> {
        if let Some(app) = &self.app {
            // The protocol's own heartbeat replaces the WebSocket Ping.
            let beat = app.beat()?;
            self.pings.sent += 1;
            return self.write_data(beat);
        }
        self.pings.sent += 1;
        let payload = self.pings.sent.to_be_bytes();
        let ended = self.write(Message::Ping(payload.to_vec().into()));
        if ended.is_some() {
            return ended;
        }
        self.feed.frame(Side::Client, Opcode::Ping, &payload, true);
        self.outstanding.insert(self.pings.sent, now);
        if self.outstanding.len() > REMEMBERED_PINGS {
            self.outstanding.pop_first();
        }
        None
    }

    fn send(&mut self, now: Instant) -> Option<String> {
        let text = self.config.send.as_deref().unwrap_or_default();
        let ended = self.write(Message::text(text));
        if ended.is_some() {
            return ended;
        }
        self.feed
            .frame(Side::Client, Opcode::Text, text.as_bytes(), false);
        self.sends.sent += 1;
        if self.sends_waiting.len() < REMEMBERED_PINGS {
            self.sends_waiting.push_back(now);
        }
        None
    }

    /// Reads `TCP_INFO` and the send queue, and feeds them to the judge.
    fn read_socket(&mut self) {
        use std::os::fd::AsRawFd;
        if let Some(r) = socket_info::read(self.ws.get_ref().tcp().as_raw_fd()) {
            self.feed.info(&r);
            self.socket = Some(r);
            self.readings += 1;
        }
    }

    /// A message from the server, fed to the judge; `Some` when it ended
    /// the connection.
    fn on_message(&mut self, message: Message) -> Option<String> {
        let feed = &mut self.feed;
        match message {
            Message::Pong(p) => {
                feed.frame(Side::Server, Opcode::Pong, &p, true);
                let seq = <[u8; 8]>::try_from(&p[..]).ok().map(u64::from_be_bytes);
                match seq.and_then(|s| self.outstanding.remove(&s).map(|t| (s, t))) {
                    Some((seq, sent)) => {
                        let rtt = sent.elapsed();
                        self.pings.answered += 1;
                        self.pings.rtt.record(span(rtt));
                        self.last_rtt = Some((seq, rtt));
                    }
                    None => self.pings.mismatched += 1,
                }
            }
            Message::Ping(p) => {
                feed.frame(Side::Server, Opcode::Ping, &p, true);
                // tungstenite queued the Pong (RFC 6455 §5.5.3): send it now.
                let _ = self.ws.flush();
                feed.frame(Side::Client, Opcode::Pong, &p, true);
            }
            Message::Text(_) | Message::Binary(_) => {
                let (opcode, bytes): (Opcode, &[u8]) = match &message {
                    Message::Text(t) => (Opcode::Text, t.as_bytes()),
                    Message::Binary(b) => (Opcode::Binary, b),
                    _ => (Opcode::Text, &[]),
                };
                feed.frame(Side::Server, opcode, bytes, false);
                self.app_read(Side::Server, &message);
                let reply = match (&self.app, &message) {
                    (Some(app), Message::Text(t)) => app.answer(t.as_str()),
                    _ => None,
                };
                match reply {
                    Some(reply) => return self.write_data(reply),
                    None => self.answered(),
                }
            }
            Message::Close(frame) => {
                let body: Vec<u8> = frame
                    .map(|f| u16::from(f.code).to_be_bytes().to_vec())
                    .unwrap_or_default();
                feed.frame(Side::Server, Opcode::Close, &body, true);
                let _ = self.ws.flush();
                self.feed.frame(Side::Client, Opcode::Close, &body, true);
                return Some(self.await_tcp_close());
            }
            Message::Frame(_) => {}
        }
        None
    }

    /// After the Close handshake the server closes TCP first (RFC 6455
    /// §7.1.1): waits for its FIN up to `--close-timeout`.
    fn await_tcp_close(&mut self) -> String {
        let limit = self.config.thresholds.close_timeout;
        let limit = Duration::from_nanos(u64::try_from(limit.nanos()).unwrap_or(0));
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && !stopping() {
            match self.ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                Err(_) => {
                    let mark = self.feed.mark();
                    let fin = Event::tcp(Side::Server, mark, TcpEvent::Fin);
                    self.feed.judge.on_event(&fin);
                    return "the server closed the connection".into();
                }
            }
        }
        format!(
            "the server sent Close but kept TCP open past {} (RFC 6455 §7.1.1: the server closes TCP first)",
            super::secs(limit)
        )
    }

    /// A data frame from the server answers the oldest waiting send.
    fn answered(&mut self) {
        if let Some(sent) = self.sends_waiting.pop_front() {
            self.sends.answered += 1;
            self.sends.latency.record(span(sent.elapsed()));
        }
    }

    /// How a read or write error ended the run; a reset is the server's RST.
    fn ending(&mut self, e: &tungstenite::Error) -> String {
        use tungstenite::Error;
        let feed = &mut self.feed;
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
}

fn span(d: Duration) -> Span {
    Span::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
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
