//! Overwriting what a written capture must not carry (the spec's "What
//! never appears in output"): payload bytes and credential values, while
//! every header, length and frame boundary stays, so the capture is judged
//! the same when analysed again.
//!
//! Each direction of a connection is walked as a byte stream in sequence
//! order (RFC 9293 §3.4), and each byte gets a [`Fill`]:
//!
//! - HTTP/1.1 handshake (RFC 9112 §2-5): method, version, status line,
//!   header names and the handshake's own headers kept (see
//!   [`value_kind`]); the request target but its `/`s, and every other
//!   header value, become ASCII `0`s, which keeps the header parseable.
//! - WebSocket frames (RFC 6455 §5.2): the header (opcode, lengths, mask
//!   key) kept; the payload becomes zeros once unmasked (on the wire, the
//!   mask key repeated), except a Close frame's 2-byte status code.
//! - TLS records (RFC 8446 §5.1): the 5-byte header kept; handshake,
//!   change-cipher-spec and alert records kept (the ClientHello's SNI is
//!   what `--redact` is for); application data zeroed.
//! - Anything else, and everything after a gap in the capture (where the
//!   stream can no longer be followed): zeroed.
//!
//! Retransmitted bytes get the fill their first copy got, from a bounded
//! record of the last [`MAX_RUNS`] runs; older ones are zeroed.

use std::collections::VecDeque;

/// What happens to one stream byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    Keep,
    /// Overwritten with 0.
    Zero,
    /// Overwritten with ASCII `0` (text that must stay parseable).
    Digit,
    /// Overwritten with the mask byte, so the unmasked value is 0: the
    /// mask key and the stream offset where the payload starts.
    Mask([u8; 4], u64),
}

impl Fill {
    fn apply(self, offset: u64, byte: &mut u8) {
        match self {
            Fill::Keep => {}
            Fill::Zero => *byte = 0,
            Fill::Digit => *byte = b'0',
            Fill::Mask(key, start) => *byte = key[((offset - start) % 4) as usize],
        }
    }
}

/// Runs of fills kept per direction for retransmissions.
pub const MAX_RUNS: usize = 4096;
/// Longest header name looked at; longer names are treated as credentials.
const MAX_NAME: usize = 64;

#[derive(Debug)]
struct Run {
    start: u64,
    end: u64,
    fill: Fill,
}

/// The walk of one direction's stream.
#[derive(Debug)]
enum Walker {
    Start,
    Http(Http),
    WsHeader {
        buf: [u8; 14],
        have: usize,
    },
    WsPayload {
        left: u64,
        keep: u64,
        mask: Option<[u8; 4]>,
        start: u64,
    },
    TlsHeader {
        buf: [u8; 5],
        have: usize,
    },
    TlsBody {
        left: usize,
        keep: bool,
    },
    Opaque,
}

#[derive(Debug, Default)]
struct Http {
    /// Its first 16 bytes.
    first_line: Vec<u8>,
    first_line_done: bool,
    /// Spaces seen in the first line (the request target follows the first).
    spaces: u8,
    name: Vec<u8>,
    in_value: bool,
    value: Value,
    /// Within a parameter's value (after `=`).
    in_param: bool,
    line_len: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Value {
    Keep,
    #[default]
    Hidden,
    Params,
}

/// One direction of a connection.
#[derive(Debug)]
pub struct Direction {
    /// The sequence number of the next byte not yet walked.
    next: Option<u32>,
    /// Its stream offset.
    walked: u64,
    walker: Walker,
    runs: VecDeque<Run>,
}

impl Default for Direction {
    fn default() -> Self {
        Direction {
            next: None,
            walked: 0,
            walker: Walker::Start,
            runs: VecDeque::new(),
        }
    }
}

impl Direction {
    /// Rewrites `payload`, the bytes of a segment with sequence number
    /// `seq` (the SYN flag set: `seq` is the initial sequence number).
    /// Returns whether any byte changed.
    pub fn rewrite(&mut self, seq: u32, syn: bool, payload: &mut [u8]) -> bool {
        if syn {
            self.next = Some(seq.wrapping_add(1));
            // Data on a SYN (TCP Fast Open) is not followed.
            let changed = payload.iter().any(|&b| b != 0);
            payload.fill(0);
            return changed;
        }
        let next = *self.next.get_or_insert(seq);
        let offset = self.walked as i64 + i64::from(seq.wrapping_sub(next) as i32);
        let mut changed = false;
        for (i, byte) in payload.iter_mut().enumerate() {
            let o = offset + i as i64;
            let fill = if o < 0 {
                Fill::Zero
            } else if (o as u64) < self.walked {
                self.recorded(o as u64)
            } else {
                if o as u64 > self.walked {
                    // A gap: what follows cannot be framed.
                    self.walker = Walker::Opaque;
                    self.walked = o as u64;
                }
                let fill = self.walker.step(*byte, self.walked);
                self.record(fill);
                self.walked += 1;
                fill
            };
            let before = *byte;
            fill.apply(o.max(0) as u64, byte);
            changed |= before != *byte;
        }
        let end = offset + payload.len() as i64;
        if end > 0 && end as u64 >= self.walked {
            self.next = Some(seq.wrapping_add(payload.len() as u32));
        }
        changed
    }

    fn recorded(&self, offset: u64) -> Fill {
        let i = self.runs.partition_point(|r| r.end <= offset);
        match self.runs.get(i) {
            Some(r) if r.start <= offset => r.fill,
            _ => Fill::Zero,
        }
    }

    fn record(&mut self, fill: Fill) {
        let at = self.walked;
        if let Some(last) = self.runs.back_mut() {
            if last.end == at && last.fill == fill {
                last.end += 1;
                return;
            }
        }
        if self.runs.len() == MAX_RUNS {
            self.runs.pop_front();
        }
        self.runs.push_back(Run {
            start: at,
            end: at + 1,
            fill,
        });
    }
}

impl Walker {
    /// The fill of `byte`, at stream offset `at`, and the walk past it.
    fn step(&mut self, byte: u8, at: u64) -> Fill {
        if let Walker::Start = self {
            *self = match byte {
                0x16 => Walker::TlsHeader {
                    buf: [0; 5],
                    have: 0,
                },
                b'A'..=b'Z' => Walker::Http(Http::default()),
                _ => Walker::Opaque,
            };
        }
        match self {
            Walker::Start | Walker::Opaque => Fill::Zero,
            Walker::Http(h) => {
                let (fill, done) = h.step(byte);
                if let Some(upgraded) = done {
                    *self = if upgraded {
                        Walker::WsHeader {
                            buf: [0; 14],
                            have: 0,
                        }
                    } else {
                        Walker::Opaque
                    };
                }
                fill
            }
            Walker::WsHeader { buf, have } => {
                buf[*have] = byte;
                *have += 1;
                if let Some((len, mask, opcode)) = ws_header(&buf[..*have]) {
                    let keep = if opcode == 0x8 { len.min(2) } else { 0 };
                    *self = if len == 0 {
                        Walker::WsHeader {
                            buf: [0; 14],
                            have: 0,
                        }
                    } else {
                        Walker::WsPayload {
                            left: len,
                            keep,
                            mask,
                            start: at + 1,
                        }
                    };
                }
                Fill::Keep
            }
            Walker::WsPayload {
                left,
                keep,
                mask,
                start,
            } => {
                let fill = if at - *start < *keep {
                    Fill::Keep
                } else {
                    mask.map_or(Fill::Zero, |m| Fill::Mask(m, *start))
                };
                *left -= 1;
                if *left == 0 {
                    *self = Walker::WsHeader {
                        buf: [0; 14],
                        have: 0,
                    };
                }
                fill
            }
            Walker::TlsHeader { buf, have } => {
                buf[*have] = byte;
                *have += 1;
                if *have == 5 {
                    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
                    let keep = matches!(buf[0], 20..=22);
                    *self = if !(20..=24).contains(&buf[0]) {
                        Walker::Opaque
                    } else if len == 0 {
                        Walker::TlsHeader {
                            buf: [0; 5],
                            have: 0,
                        }
                    } else {
                        Walker::TlsBody { left: len, keep }
                    };
                }
                Fill::Keep
            }
            Walker::TlsBody { left, keep } => {
                let fill = if *keep { Fill::Keep } else { Fill::Zero };
                *left -= 1;
                if *left == 0 {
                    *self = Walker::TlsHeader {
                        buf: [0; 5],
                        have: 0,
                    };
                }
                fill
            }
        }
    }
}

/// A complete WebSocket frame header (RFC 6455 §5.2): payload length,
/// mask key, opcode; `None` while more header bytes are needed.
fn ws_header(h: &[u8]) -> Option<(u64, Option<[u8; 4]>, u8)> {
    if h.len() < 2 {
        return None;
    }
    let masked = h[1] & 0x80 != 0;
    let (ext, len7) = match h[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let need = 2 + ext + if masked { 4 } else { 0 };
    if h.len() < need {
        return None;
    }
    let len = len7.unwrap_or_else(|| {
        h[2..2 + ext]
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b))
    });
    let mask = masked.then(|| [h[2 + ext], h[3 + ext], h[4 + ext], h[5 + ext]]);
    Some((len, mask, h[0] & 0x0f))
}

impl Http {
    /// The fill of one handshake byte; at the end of the header block,
    /// whether it was an upgrade (a `GET` request or a `101` response).
    fn step(&mut self, byte: u8) -> (Fill, Option<bool>) {
        if !self.first_line_done {
            if byte == b'\n' {
                self.first_line_done = true;
                self.line_len = 0;
                return (Fill::Keep, None);
            }
            if self.first_line.len() < 16 {
                self.first_line.push(byte);
            }
            // The request target: its `/`s stay, so the path's shape does.
            if self.spaces == 1 && byte != b' ' && byte != b'/' && self.is_request() {
                return (Fill::Digit, None);
            }
            if byte == b' ' {
                self.spaces += 1;
            }
            return (Fill::Keep, None);
        }
        if byte == b'\n' {
            let blank = self.line_len == 0;
            self.line_len = 0;
            self.name.clear();
            self.in_value = false;
            if blank {
                let line = &self.first_line;
                let upgrade = self.is_request()
                    || line.starts_with(b"HTTP/1.1 101")
                    || line.starts_with(b"HTTP/1.0 101");
                return (Fill::Keep, Some(upgrade));
            }
            return (Fill::Keep, None);
        }
        if byte == b'\r' {
            return (Fill::Keep, None);
        }
        self.line_len += 1;
        if self.line_len == 1 && (byte == b' ' || byte == b'\t') {
            // obs-fold (RFC 9112 §5.2): more of the previous value.
            self.in_value = true;
            return (Fill::Keep, None);
        }
        if self.in_value {
            return (self.value_fill(byte), None);
        }
        if byte == b':' {
            self.in_value = true;
            self.in_param = false;
            self.value = value_kind(&self.name);
        } else if self.name.len() <= MAX_NAME {
            self.name.push(byte.to_ascii_lowercase());
        }
        (Fill::Keep, None)
    }

    fn is_request(&self) -> bool {
        self.first_line.starts_with(b"GET ")
    }

    fn value_fill(&mut self, byte: u8) -> Fill {
        let hidden = if byte == b' ' || byte == b'\t' {
            Fill::Keep
        } else {
            Fill::Digit
        };
        match self.value {
            Value::Keep => Fill::Keep,
            Value::Hidden => hidden,
            Value::Params => {
                match byte {
                    b'=' => self.in_param = true,
                    b';' | b',' => self.in_param = false,
                    _ => {}
                }
                if self.in_param && byte != b'=' && !byte.is_ascii_digit() {
                    hidden
                } else {
                    Fill::Keep
                }
            }
        }
    }
}

/// What becomes of a header's value, by its (lowercased) name: the
/// headers the WebSocket handshake is judged by (RFC 6455 §4) stay;
/// `Sec-WebSocket-Extensions` keeps its names and numeric parameters;
/// every other value (Host and Origin user info, cookies, credentials,
/// subprotocol tokens, user agents) becomes `0`s.
fn value_kind(name: &[u8]) -> Value {
    match name.trim_ascii() {
        b"upgrade"
        | b"connection"
        | b"sec-websocket-key"
        | b"sec-websocket-accept"
        | b"sec-websocket-version"
        | b"content-length" => Value::Keep,
        b"sec-websocket-extensions" => Value::Params,
        _ => Value::Hidden,
    }
}

#[cfg(test)]
mod tests;
