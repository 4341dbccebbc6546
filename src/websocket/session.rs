//! One connection's WebSocket session: finds the opening handshake (or
//! infers WebSocket framing when the capture started mid-stream), runs a
//! frame decoder per direction, and reports what each side wrote as
//! [`WsEvent`]s. It knows nothing of thresholds or verdicts.

use serde::Serialize;

use super::frame::{CompactDecoder, DecoderConfig, Event, FrameDecoder, FrameHeader, Role};
use super::handshake::{
    accept_matches, permessage_deflate, HandshakeParse, HeaderAccumulator, UpgradeOutcome,
    UpgradeRequest, UpgradeResponse,
};
pub use super::seen::{Handshake, RequestSeen, ResponseSeen};
use super::tls::RecordReader;
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
    /// A TLS record of `len` bytes (wss on a `--tls-port`: frames hidden).
    Record { len: u64 },
}

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
    /// On a `--tls-port`: judged with TCP-level checks and TLS records.
    Tls,
    /// The server answered the Upgrade with this status (4xx/5xx).
    Refused {
        status: u16,
    },
    /// TLS on a port not named with `--tls-port`: not judged, but counted
    /// so the report can say which flag would judge it.
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
    /// `--tls-port`: wss, frames not visible.
    pub tls_port: bool,
}

enum Reader {
    Start,
    Request(Box<HeaderAccumulator<UpgradeRequest>>),
    Response(Box<HeaderAccumulator<UpgradeResponse>>),
    /// Parked between frames: a few bytes per idle direction.
    Frames(CompactDecoder),
    Tls(RecordReader),
    /// Nothing more to read in this direction.
    Done,
}

pub struct Session {
    pub kind: SessionKind,
    pub handshake: Handshake,
    readers: PerSide<Reader>,
    setup: SessionSetup,
}

impl Session {
    pub fn new(setup: SessionSetup) -> Self {
        Session {
            kind: if setup.tls_port {
                SessionKind::Tls
            } else {
                SessionKind::Undecided
            },
            handshake: Handshake::default(),
            readers: PerSide::new(Reader::Start, Reader::Start),
            setup,
        }
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

    fn start_reader(&self, side: Side, bytes: &[u8]) -> Reader {
        if self.kind == SessionKind::Tls {
            return Reader::Tls(RecordReader::default());
        }
        // A TLS handshake record (RFC 8446 §5.1: type 22, version 3.x).
        if bytes.starts_with(&[0x16, 0x03]) {
            return Reader::Done;
        }
        let prefix = &bytes[..bytes.len().min(5)];
        // Any HTTP request line goes to the request parser, so that an
        // Upgrade to something else (docker's `Upgrade: tcp` on a POST) is
        // recognised as not WebSocket rather than hunted for frames.
        const METHODS: [&[u8]; 9] = [
            b"GET /", b"POST ", b"PUT /", b"HEAD ", b"DELET", b"OPTIO", b"PATCH", b"CONNE",
            b"GET h",
        ];
        if METHODS.iter().any(|m| m[..prefix.len()] == *prefix) {
            Reader::Request(Box::default())
        } else if b"HTTP/"[..prefix.len()] == *prefix {
            Reader::Response(Box::default())
        } else {
            self.midstream(side)
        }
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
    pub fn on_data(
        &mut self,
        side: Side,
        bytes: &[u8],
        now: Moment,
        emit: &mut dyn FnMut(Side, WsEvent<'_>),
    ) {
        self.feed(side, bytes, now, emit);
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
            if let (Reader::Done, SessionKind::Undecided) = (&self.readers[side], self.kind) {
                self.kind = SessionKind::UnnamedTls;
                return self.give_up();
            }
        }
        match &mut self.readers[side] {
            Reader::Start | Reader::Done => {}
            Reader::Tls(records) => {
                records.on_data(bytes, |len| emit(side, WsEvent::Record { len }))
            }
            Reader::Frames(decoder) => {
                decoder.on_data(bytes, &mut |event| relay(emit, side, event));
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
        match &mut self.readers[side] {
            // A gap can complete a frame whose header was seen.
            Reader::Frames(d) => d.on_gap(len, &mut |event| relay(emit, side, event)),
            Reader::Tls(r) => r.on_gap(len),
            Reader::Done => {}
            // A hole in the handshake: look for frames after it instead.
            Reader::Start | Reader::Request(_) | Reader::Response(_) => {
                self.readers[side] = self.midstream(side);
            }
        }
    }

    /// The roles were swapped: per-side state follows.
    pub fn swap_sides(&mut self) {
        self.readers.swap();
        let h = &mut self.handshake;
        h.request_side = h.request_side.map(Side::other);
        h.response_side = h.response_side.map(Side::other);
    }
}
