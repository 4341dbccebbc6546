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
//!   `http::value_kind`); subprotocol tokens that name an application
//!   protocol (`graphql-transport-ws`, `v12.stomp`) kept, other tokens
//!   hidden; the request target's path and query parameter names kept
//!   (with `--redact`, only its `/`s), query values and every other header
//!   value become ASCII `0`s, which keeps the header parseable.
//! - WebSocket frames (RFC 6455 §5.2): the header (opcode, lengths, mask
//!   key) kept; the payload becomes zeros once unmasked (on the wire, the
//!   mask key repeated), except a Close frame's 2-byte status code and an
//!   application heartbeat message (a protocol constant such as Socket.IO's
//!   `2` or MQTT's PINGREQ, see [`is_heartbeat`]) whole within one segment,
//!   so an extract is judged on the same heartbeats as its source.
//! - TLS records (RFC 8446 §5.1): the 5-byte header kept; handshake,
//!   change-cipher-spec and alert records kept (the ClientHello's SNI is
//!   what `--redact` is for); application data zeroed.
//! - Anything else, and everything after a gap in the capture (where the
//!   stream can no longer be followed): zeroed.
//!
//! Retransmitted bytes get the fill their first copy got, from a bounded
//! record of the last [`MAX_RUNS`] runs; older ones are zeroed.

use std::collections::VecDeque;

use crate::websocket::app::{is_heartbeat, MAX_HEARTBEAT_LEN};
use http::Http;

mod http;

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

/// One direction of a connection.
#[derive(Debug)]
pub struct Direction {
    /// The sequence number of the next byte not yet walked.
    next: Option<u32>,
    /// Its stream offset.
    walked: u64,
    walker: Walker,
    runs: VecDeque<Run>,
    keep_path: bool,
    max_runs: usize,
}

impl Default for Direction {
    /// A direction whose request path stays hidden, as under `--redact`.
    fn default() -> Self {
        Direction::new(false)
    }
}

impl Direction {
    /// A direction to walk; `keep_path`: its request target's path and
    /// query parameter names stay (not under `--redact`, which hides paths).
    pub fn new(keep_path: bool) -> Self {
        Direction {
            next: None,
            walked: 0,
            walker: Walker::Start,
            runs: VecDeque::new(),
            keep_path,
            max_runs: MAX_RUNS,
        }
    }

    /// The same direction, remembering at most `n` runs of fills for
    /// retransmissions (default [`MAX_RUNS`]; older bytes sent again are
    /// zeroed).
    pub fn with_max_runs(mut self, n: usize) -> Self {
        self.max_runs = n.max(1);
        self
    }

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
        for i in 0..payload.len() {
            let (done, ahead) = payload.split_at_mut(i + 1);
            let byte = &mut done[i];
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
                let fill = self.walker.step(*byte, self.walked, ahead, self.keep_path);
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
        if self.runs.len() >= self.max_runs {
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
    /// `ahead`: the rest of its segment, unchanged (a decision that needs
    /// a whole token or message looks there; one cut by the segment's end
    /// is hidden).
    fn step(&mut self, byte: u8, at: u64, ahead: &[u8], keep_path: bool) -> Fill {
        if let Walker::Start = self {
            *self = match byte {
                0x16 => Walker::TlsHeader {
                    buf: [0; 5],
                    have: 0,
                },
                b'A'..=b'Z' => Walker::Http(Http::new(keep_path)),
                _ => Walker::Opaque,
            };
        }
        match self {
            Walker::Start | Walker::Opaque => Fill::Zero,
            Walker::Http(h) => {
                let (fill, done) = h.step(byte, ahead);
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
                    let fin = buf[0] & 0x80 != 0;
                    let keep = match opcode {
                        0x8 => len.min(2),
                        0x1 | 0x2 if fin && heartbeat(opcode == 0x1, len, mask, ahead) => len,
                        _ => 0,
                    };
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

/// Whether the unfragmented data message of `len` bytes at the start of
/// `ahead` (masked with `mask`) is an application heartbeat, read whole
/// from this segment.
fn heartbeat(text: bool, len: u64, mask: Option<[u8; 4]>, ahead: &[u8]) -> bool {
    if len > MAX_HEARTBEAT_LEN || (ahead.len() as u64) < len {
        return false;
    }
    let mut message = [0u8; MAX_HEARTBEAT_LEN as usize];
    let message = &mut message[..len as usize];
    message.copy_from_slice(&ahead[..len as usize]);
    if let Some(key) = mask {
        // RFC 6455 §5.3: octet i is XORed with key[i mod 4].
        for (i, b) in message.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    is_heartbeat(text, message)
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

#[cfg(test)]
mod tests;
