//! One connection's WebSocket session: finds the opening handshake (or
//! infers WebSocket framing when the capture started mid-stream), runs a
//! frame decoder per direction, and reports what each side wrote as
//! [`WsEvent`]s. It knows nothing of thresholds or verdicts.

use std::sync::Arc;

use serde::Serialize;

use super::app::{AppEvent, AppSniffer, HEAD_LEN};
use super::frame::{CompactDecoder, DecoderConfig, Event, FrameDecoder, FrameHeader, Opcode, Role};
use super::handshake::{
    accept_matches, permessage_deflate, HandshakeParse, HeaderAccumulator, UpgradeOutcome,
    UpgradeRequest, UpgradeResponse,
};
pub use super::seen::{Handshake, RequestSeen, ResponseSeen};
use super::tls::{record_header, KeyStore, TlsLayer, HANDSHAKE};
use crate::evidence::Moment;
use crate::side::{PerSide, Side};
use crate::tcp::RoleSource;

/// What one side wrote, in stream order: the WebSocket half of the judge's
/// evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A frame (RFC 6455 §5.2), reported when its header is complete (data
    /// frames) or its payload is (control frames, with the unmasked
    /// payload; `None` when a capture gap cut it).
    Frame {
        header: FrameHeader,
        control_payload: Option<&'a [u8]>,
    },
    /// An RFC 6455 rule the side broke (the violation's short code).
    Violation { code: &'static str },
    /// Frame boundaries found again after a gap or a mid-stream start.
    Resynced,
    /// `len` stream bytes the capture does not hold.
    Gap { len: u64 },
    /// A TLS record of `len` bytes (wss: frames hidden).
    Record { len: u64 },
    /// What the data message just reported says as an application
    /// heartbeat (see [`super::app`]).
    App(AppEvent),
}

#[path = "session_tls.rs"]
mod session_tls;

/// Bytes a direction may be searched for frame boundaries before we decide
/// it is not WebSocket.
const HUNT_LIMIT: u64 = 64 << 10;

/// What the connection turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Not enough seen yet.
    Undecided,
    /// A WebSocket connection; `handshake_seen` false when the framing was
    /// inferred (capture started mid-stream).
    WebSocket {
        handshake_seen: bool,
    },
    /// TLS: the connection began with a handshake record (a ClientHello
    /// or ServerHello, RFC 8446 §4.1), on any port, or it is on a
    /// `--tls-port` and its bytes do not say otherwise. Judged with
    /// TCP-level checks and TLS records.
    Tls,
    /// The server answered the Upgrade with this status (4xx/5xx).
    Refused {
        status: u16,
    },
    /// TLS records whose hellos the capture does not hold (it began
    /// mid-stream), on a port not named with `--tls-port`: not judged, but
    /// counted so the report can say which flag would judge it.
    UnnamedTls,
    NotWebSocket,
}

/// How the session should start, from the connection's first packet and
/// the user's port hints.
#[derive(Clone, Copy, Debug)]
pub struct SessionSetup {
    /// The TCP view's roles are reliable (handshake or a port option), so
    /// decoders can check masking against them.
    pub roles_known: bool,
    /// `--ws-port`: decode as WebSocket even without a handshake.
    pub ws_port: bool,
    /// `--tls-port`: wss, frames not visible, unless the first bytes are
    /// plain HTTP.
    pub tls_port: bool,
}

enum Reader {
    Start,
    Request(Box<HeaderAccumulator<UpgradeRequest>>),
    Response(Box<HeaderAccumulator<UpgradeResponse>>),
    /// Parked between frames: a few bytes per idle direction.
    Frames(CompactDecoder),
    /// The direction's bytes go to the TLS layer, which is not decrypting
    /// them.
    Tls,
    /// Nothing more to read in this direction.
    Done,
}

pub struct Session {
    pub kind: SessionKind,
    pub handshake: Handshake,
    readers: PerSide<Reader>,
    setup: SessionSetup,
    /// Application heartbeats being looked for (see [`super::app`]).
    app: Option<Box<AppSniffer>>,
    /// Nothing found where something was looked for: never look again.
    app_off: bool,
    /// wss: the TLS layer in front of the readers (see `session_tls.rs`).
    tls: Option<Box<TlsLayer>>,
    /// The run's TLS secrets.
    keys: Option<Arc<KeyStore>>,
}

impl Session {
    /// A session for a connection set up as `setup`; `keys` are the run's
    /// TLS secrets (a wss connection whose secrets they hold is decrypted).
    pub fn new(setup: SessionSetup, keys: Option<Arc<KeyStore>>) -> Self {
        Session {
            kind: if setup.tls_port {
                SessionKind::Tls
            } else {
                SessionKind::Undecided
            },
            handshake: Handshake::default(),
            readers: PerSide::new(Reader::Start, Reader::Start),
            setup,
            app: None,
            app_off: false,
            tls: None,
            keys,
        }
    }

    /// True when the connection is on a `--tls-port` but its first bytes
    /// were an HTTP request or response, so it was decoded as WebSocket
    /// (the report warns about the port). A session on a `--tls-port`
    /// starts as TLS and leaves it only that way.
    pub fn tls_port_was_plain(&self) -> bool {
        self.setup.tls_port && self.kind != SessionKind::Tls && self.tls.is_none()
    }

    /// Whether a direction began with a TLS record header.
    fn tls_began(&self) -> bool {
        self.tls.as_ref().is_some_and(|l| l.began())
    }

    /// Whether the judge should report this connection.
    pub fn is_judged(&self) -> bool {
        matches!(self.kind, SessionKind::WebSocket { .. } | SessionKind::Tls)
    }

    /// The role evidence this session found, for the TCP view to adopt when
    /// it outranks what TCP knew: the Upgrade sender, or the masking side.
    pub fn client_evidence(&self) -> Option<(Side, RoleSource)> {
        if let Some(side) = self.handshake.request_side {
            return Some((side, RoleSource::HttpUpgrade));
        }
        if let Some(side) = self.handshake.response_side {
            return Some((side.other(), RoleSource::HttpUpgrade));
        }
        if let Some(side) = self.tls().and_then(|t| t.client_side) {
            return Some((side, RoleSource::TlsHello));
        }
        if let SessionKind::WebSocket {
            handshake_seen: false,
        } = self.kind
        {
            for side in Side::BOTH {
                if let Reader::Frames(d) = &self.readers[side] {
                    if d.inferred_masked() == Some(true) {
                        return Some((side, RoleSource::Masking));
                    }
                }
            }
        }
        None
    }

    fn role_of(&self, side: Side) -> Option<Role> {
        self.setup.roles_known.then_some(match side {
            Side::Client => Role::Client,
            Side::Server => Role::Server,
        })
    }

    /// The reader for a direction whose first bytes are `bytes`; decides
    /// the session's kind when they say TLS, or plain HTTP on a
    /// `--tls-port`.
    fn start_reader(&mut self, side: Side, bytes: &[u8]) -> Reader {
        let tls = tls_record_start(bytes);
        let http = http_reader(bytes);
        match (self.kind, tls) {
            // The bytes say HTTP where TLS was announced, and no direction
            // has shown TLS: follow the bytes.
            (SessionKind::Tls, None) if http.is_some() && !self.tls_began() => {
                self.kind = SessionKind::Undecided;
                self.tls = None;
                let other = side.other();
                if let Reader::Tls = self.readers[other] {
                    self.readers[other] = self.midstream(other);
                }
            }
            // A handshake record starts the connection (RFC 8446 §4.1):
            // TLS on any port.
            (SessionKind::Tls, _) | (_, Some(HANDSHAKE)) => {
                self.kind = SessionKind::Tls;
                let layer = self.tls.get_or_insert_with(Box::default);
                layer.start(side, tls.is_some());
                return Reader::Tls;
            }
            // Other records first: the capture began after the handshake.
            (SessionKind::Undecided, Some(_)) => {
                self.kind = SessionKind::UnnamedTls;
                return Reader::Done;
            }
            _ => {}
        }
        http.unwrap_or_else(|| self.midstream(side))
    }

    fn midstream(&self, side: Side) -> Reader {
        // Extensions cannot be known mid-stream: allow RSV1 (permessage-deflate).
        let cfg = DecoderConfig {
            permessage_deflate: true,
        };
        Reader::Frames(CompactDecoder::new(FrameDecoder::new_midstream(
            self.role_of(side),
            cfg,
        )))
    }

    fn give_up(&mut self) {
        if self.kind == SessionKind::Undecided {
            self.kind = SessionKind::NotWebSocket;
        }
        self.readers = PerSide::new(Reader::Done, Reader::Done);
    }

    /// Reads `bytes` of `side`'s stream; what they hold goes to `emit`.
    /// A direction read as TLS goes through the TLS layer first.
    pub fn on_data(
        &mut self,
        side: Side,
        bytes: &[u8],
        now: Moment,
        emit: &mut dyn FnMut(Side, WsEvent<'_>),
    ) {
        if self.tls.as_ref().is_some_and(|l| l.reads(side)) {
            return self.through_tls(side, bytes, now, emit);
        }
        self.feed(side, bytes, now, emit);
        if matches!(self.readers[side], Reader::Tls) {
            // The first bytes said TLS: they are the layer's.
            self.through_tls(side, bytes, now, emit);
        }
    }

    fn feed(
        &mut self,
        side: Side,
        bytes: &[u8],
        now: Moment,
        emit: &mut dyn FnMut(Side, WsEvent<'_>),
    ) {
        if let Reader::Start = self.readers[side] {
            self.readers[side] = self.start_reader(side, bytes);
            if self.kind == SessionKind::UnnamedTls {
                return self.give_up();
            }
        }
        match &mut self.readers[side] {
            Reader::Start | Reader::Done | Reader::Tls => {}
            Reader::Frames(decoder) => {
                let base = decoder.stream_offset();
                let (app, off) = (&mut self.app, &mut self.app_off);
                decoder.on_data(bytes, &mut |event| {
                    let head = data_head(&event, base, bytes).filter(|_| !*off);
                    relay(emit, side, event);
                    if let Some((header, head)) = head {
                        *off = !sniff(app, side, &header, head, emit);
                    }
                });
                if self.kind == SessionKind::Undecided {
                    self.decide_midstream();
                }
            }
            Reader::Request(acc) => match acc.push(bytes) {
                HandshakeParse::NeedMore => {}
                HandshakeParse::Done {
                    value, body_offset, ..
                } => {
                    if !value.is_websocket_upgrade() {
                        return self.give_up();
                    }
                    let cfg = DecoderConfig {
                        permessage_deflate: permessage_deflate(&value.extensions),
                    };
                    self.handshake.set_request(&value, now);
                    self.handshake.request_side = Some(side);
                    // Kept only when the handshake named a protocol: else
                    // the first data message allocates a blank one, and a
                    // connection that sends none never does.
                    let app = AppSniffer::from_handshake(&value.path, &value.protocols, None);
                    self.app = app.recognised().then(|| Box::new(app));
                    self.readers[side] =
                        Reader::Frames(CompactDecoder::new(FrameDecoder::new(Role::Client, cfg)));
                    self.feed(side, &bytes[body_offset..], now, emit);
                }
                // An HTTP request too long to keep: the server's answer
                // decides, and frames after it are looked for.
                HandshakeParse::TooLong => self.readers[side] = self.midstream(side),
                HandshakeParse::NotHttp => self.unreadable_head(side),
            },
            Reader::Response(acc) => match acc.push(bytes) {
                HandshakeParse::NeedMore => {}
                HandshakeParse::Done {
                    value, body_offset, ..
                } => match value.outcome() {
                    // RFC 6455 §4.2.2: a 101 that does not upgrade to
                    // websocket switched to some other protocol.
                    UpgradeOutcome::Accepted if !value.upgrade_websocket => self.give_up(),
                    UpgradeOutcome::Accepted => {
                        let cfg = DecoderConfig {
                            permessage_deflate: permessage_deflate(&value.extensions),
                        };
                        // The key and the accept are needed only for this
                        // check (RFC 6455 §4.2.2): not kept past it.
                        let key = self.handshake.key();
                        self.handshake.accept_valid = match (key, &value.accept) {
                            (Some(key), Some(accept)) => Some(accept_matches(&key, accept)),
                            (Some(_), None) => Some(false),
                            (None, _) => None,
                        };
                        self.handshake.set_response(&value, now);
                        self.handshake.response_side = Some(side);
                        if let Some(token) = &value.protocol {
                            self.on_chosen(token);
                        }
                        self.kind = SessionKind::WebSocket {
                            handshake_seen: true,
                        };
                        self.readers[side] = Reader::Frames(CompactDecoder::new(
                            FrameDecoder::new(Role::Server, cfg),
                        ));
                        self.feed(side, &bytes[body_offset..], now, emit);
                    }
                    UpgradeOutcome::Refused => {
                        self.kind = SessionKind::Refused {
                            status: value.status,
                        };
                        self.handshake.set_response(&value, now);
                        self.give_up();
                    }
                    UpgradeOutcome::Other => self.give_up(),
                },
                // A response too long to keep, to an Upgrade: whether frames
                // follow decides.
                HandshakeParse::TooLong if self.handshake.request_side.is_some() => {
                    self.readers[side] = self.midstream(side)
                }
                HandshakeParse::NotHttp | HandshakeParse::TooLong => self.unreadable_head(side),
            },
        }
    }

    /// A head that cannot be read as HTTP: not WebSocket, unless the user
    /// named the port (`--ws-port`), which then falls back to finding the
    /// frames mid-stream, as for a capture that started after the
    /// handshake.
    fn unreadable_head(&mut self, side: Side) {
        if self.setup.ws_port {
            self.readers[side] = self.midstream(side);
        } else {
            self.give_up();
        }
    }

    /// Mid-stream: WebSocket when both directions lock onto frames with
    /// opposite masking (clients mask, servers do not: RFC 6455 §5.1), or
    /// when the user named the port and one direction locked. A direction
    /// searched past `HUNT_LIMIT` without locking is not WebSocket.
    fn decide_midstream(&mut self) {
        let state = |r: &Reader| match r {
            Reader::Frames(d) if d.in_sync() => Some(d.inferred_masked()),
            _ => None,
        };
        let (c, s) = (state(&self.readers.client), state(&self.readers.server));
        let opposite = matches!((c, s), (Some(Some(a)), Some(Some(b))) if a != b);
        if opposite || (self.setup.ws_port && (c.is_some() || s.is_some())) {
            self.kind = SessionKind::WebSocket {
                handshake_seen: false,
            };
            return;
        }
        let exhausted = |r: &Reader| match r {
            Reader::Frames(d) => !d.in_sync() && d.stream_offset() > HUNT_LIMIT,
            Reader::Done => true,
            _ => false,
        };
        if exhausted(&self.readers.client) || exhausted(&self.readers.server) {
            self.give_up();
        }
    }
}

/// The content type of the TLS record `bytes` start with. With fewer than
/// the 5 header bytes, a handshake type followed by major version 3 (or
/// nothing yet) is taken as one.
fn tls_record_start(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [HANDSHAKE] | [HANDSHAKE, 3, ..] if bytes.len() < 5 => Some(HANDSHAKE),
        _ => record_header(bytes),
    }
}

/// The reader for a direction that starts with an HTTP request or status
/// line, if it does. Any request line goes to the request parser, so that
/// an Upgrade to something else (docker's `Upgrade: tcp` on a POST) is
/// recognised as not WebSocket rather than hunted for frames.
fn http_reader(bytes: &[u8]) -> Option<Reader> {
    const METHODS: [&[u8]; 9] = [
        b"GET /", b"POST ", b"PUT /", b"HEAD ", b"DELET", b"OPTIO", b"PATCH", b"CONNE", b"GET h",
    ];
    let prefix = &bytes[..bytes.len().min(5)];
    if METHODS.iter().any(|m| m[..prefix.len()] == *prefix) {
        Some(Reader::Request(Box::default()))
    } else if b"HTTP/"[..prefix.len()] == *prefix {
        Some(Reader::Response(Box::default()))
    } else {
        None
    }
}

/// The first bytes of a data message's first frame in this chunk, when
/// they are all here (a heartbeat is small and rarely split): the
/// header, and the still masked bytes. `base` is the chunk's stream offset.
fn data_head<'a>(event: &Event<'_>, base: u64, chunk: &'a [u8]) -> Option<(FrameHeader, &'a [u8])> {
    let Event::Frame { header, start, .. } = event else {
        return None;
    };
    if !matches!(header.opcode, Opcode::Text | Opcode::Binary) || header.rsv != 0 {
        return None;
    }
    let from = start.checked_sub(base)? + u64::from(header.header_len);
    let want = header.payload_len.min(HEAD_LEN as u64);
    let from = usize::try_from(from).ok()?;
    let head = chunk.get(from..from.checked_add(want as usize)?)?;
    Some((*header, head))
}

/// Reads a data message's first bytes for an application heartbeat,
/// allocating the sniffer with the first message of a connection whose
/// handshake was not seen. False once there is nothing left to find: the
/// sniffer is dropped and the connection left alone.
impl Session {
    /// The server chose subprotocol `token` (RFC 6455 §4.2.2): the sniffer
    /// of a connection whose request was read learns it, allocated now
    /// only if the token names a protocol.
    fn on_chosen(&mut self, token: &str) {
        match &mut self.app {
            Some(app) => app.on_chosen(token),
            None if self.handshake.request_side.is_some() && !self.app_off => {
                let mut app = AppSniffer::default();
                app.on_chosen(token);
                self.app = app.recognised().then(|| Box::new(app));
            }
            None => {}
        }
    }
}

fn sniff(
    app: &mut Option<Box<AppSniffer>>,
    side: Side,
    header: &FrameHeader,
    masked: &[u8],
    emit: &mut dyn FnMut(Side, WsEvent<'_>),
) -> bool {
    let sniffer = app.get_or_insert_with(Box::default);
    if !sniffer.wants(side) {
        if !sniffer.wants(side.other()) {
            *app = None;
            return false;
        }
        return true;
    }
    let mut buf = [0u8; HEAD_LEN];
    let head = &mut buf[..masked.len()];
    super::frame::unmask(head, masked, header.mask, 0);
    let text = header.opcode == Opcode::Text;
    sniffer.on_message(side, text, header.payload_len, head, &mut |e| {
        emit(side, WsEvent::App(e))
    });
    true
}

/// Hands a decoder event of `side` on as a [`WsEvent`]. A control frame
/// whose payload a capture gap cut goes on with its payload unknown.
fn relay(emit: &mut dyn FnMut(Side, WsEvent<'_>), side: Side, event: Event<'_>) {
    match event {
        Event::Frame {
            header,
            control_payload,
            payload_complete,
            ..
        } => emit(
            side,
            WsEvent::Frame {
                header,
                control_payload: if payload_complete {
                    control_payload
                } else {
                    None
                },
            },
        ),
        Event::Violation { violation, .. } => emit(
            side,
            WsEvent::Violation {
                code: violation.code(),
            },
        ),
        Event::Resynced { .. } => emit(side, WsEvent::Resynced),
    }
}

impl Session {
    /// `len` bytes of `side`'s stream are missing from the capture.
    pub fn on_gap(&mut self, side: Side, len: u64, emit: &mut dyn FnMut(Side, WsEvent<'_>)) {
        emit(side, WsEvent::Gap { len });
        if self.tls.as_ref().is_some_and(|l| l.reads(side)) {
            return self.tls_gap(side, len, emit);
        }
        self.plain_gap(side, len, emit);
    }

    /// `len` bytes of `side`'s plaintext are missing: the readers' part of
    /// a gap.
    fn plain_gap(&mut self, side: Side, len: u64, emit: &mut dyn FnMut(Side, WsEvent<'_>)) {
        match &mut self.readers[side] {
            // A gap can complete a frame whose header was seen.
            Reader::Frames(d) => d.on_gap(len, &mut |event| relay(emit, side, event)),
            Reader::Tls | Reader::Done => {}
            // A hole in the handshake: look for frames after it instead.
            Reader::Start | Reader::Request(_) | Reader::Response(_) => {
                self.readers[side] = self.midstream(side);
            }
        }
    }

    /// The roles were swapped: per-side state follows.
    pub fn swap_sides(&mut self) {
        self.readers.swap();
        if let Some(l) = self.tls.as_mut() {
            l.swap_sides();
        }
        let h = &mut self.handshake;
        h.request_side = h.request_side.map(Side::other);
        h.response_side = h.response_side.map(Side::other);
    }
}
