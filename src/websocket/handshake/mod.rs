//! The HTTP/1.1 Upgrade handshake that opens a WebSocket (RFC 6455 §4).
//!
//! A [`HeaderAccumulator`] collects the head of a request or a response
//! across TCP segments, keeping at most [`MAX_HEAD_LEN`] bytes of it, and
//! tells where the frame stream begins. [`parse_request`] and [`parse_response`] keep only
//! what the liveness judge needs. Credentials are never kept: the values of
//! `Cookie`, `Set-Cookie`, `Authorization` and `Proxy-Authorization` are
//! dropped as they stream past, before any buffer or struct holds them.

use std::borrow::Cow;

/// Most bytes of a request or response head kept, terminator included.
/// Credential header lines are dropped unkept and do not count: a 9 KB
/// Cookie must not hide the Upgrade it travels with. Servers accept heads
/// of this size and more (Node.js 16 KiB by default, nginx up to 32 KiB,
/// Go 1 MiB), so this is a bound on memory, not a judgement on the peer.
pub const MAX_HEAD_LEN: usize = 64 * 1024;

/// Longest head read, credential lines included (Go's
/// `http.DefaultMaxHeaderBytes`): past it the bytes are not HTTP we can
/// use, whatever they are.
pub const MAX_HEAD_SEEN: usize = 1024 * 1024;

/// Header names whose values are credentials: never stored.
const SECRET_HEADERS: [&str; 4] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
];

/// A client's opening handshake (RFC 6455 §4.1, §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpgradeRequest {
    /// §4.1: "The method of the request MUST be GET".
    pub method_get: bool,
    /// The request target.
    pub path: String,
    pub host: Option<String>,
    pub origin: Option<String>,
    /// `Sec-WebSocket-Key`.
    pub key: Option<String>,
    /// `Sec-WebSocket-Version` (13 for RFC 6455).
    pub version: Option<String>,
    /// `Sec-WebSocket-Protocol` entries, in order.
    pub protocols: Vec<String>,
    /// `Sec-WebSocket-Extensions` entries with their parameters, in order.
    pub extensions: Vec<String>,
    /// An `Upgrade` header lists the token `websocket`.
    pub upgrade_websocket: bool,
    /// A `Connection` header lists the token `upgrade`.
    pub connection_upgrade: bool,
}

impl UpgradeRequest {
    /// RFC 6455 §4.2.1: GET, `Upgrade: websocket`, `Connection: Upgrade`.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.method_get && self.upgrade_websocket && self.connection_upgrade
    }
}

/// A server's answer to the opening handshake (RFC 6455 §4.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpgradeResponse {
    pub status: u16,
    /// `Sec-WebSocket-Accept`.
    pub accept: Option<String>,
    /// `Sec-WebSocket-Protocol`: the one subprotocol chosen.
    pub protocol: Option<String>,
    /// `Sec-WebSocket-Extensions` entries the server accepted.
    pub extensions: Vec<String>,
    pub upgrade_websocket: bool,
    pub connection_upgrade: bool,
}

/// What a response status means for the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeOutcome {
    /// 101 Switching Protocols: frames follow.
    Accepted,
    /// 4xx or 5xx.
    Refused,
    /// Anything else (a redirect, a 200): no WebSocket, not an error status.
    Other,
}

impl UpgradeResponse {
    /// RFC 6455 §4.2.2: 101 accepts; §4.1: any other status means the
    /// handshake did not complete.
    pub fn outcome(&self) -> UpgradeOutcome {
        match self.status {
            101 => UpgradeOutcome::Accepted,
            400..=599 => UpgradeOutcome::Refused,
            _ => UpgradeOutcome::Other,
        }
    }
}

/// The result of feeding bytes to a [`HeaderAccumulator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeParse<T> {
    /// The head is not complete yet.
    NeedMore,
    /// The head is complete.
    Done {
        value: T,
        /// Bytes of the whole head, the blank line included.
        header_len: usize,
        /// Where, in the slice passed to this `push`, the bytes after the
        /// head start: they belong to the frame stream (a 101 response and
        /// the first frames often share a segment).
        body_offset: usize,
    },
    /// The bytes do not start an HTTP/1.x head of the expected kind.
    NotHttp,
    /// No end of head within [`MAX_HEAD_LEN`] bytes kept, or
    /// [`MAX_HEAD_SEEN`] bytes read.
    TooLong,
}

/// A request or response head that [`HeaderAccumulator`] can parse.
pub trait Head: Sized + Clone {
    /// Parses a complete head (start line, header lines, blank line).
    fn parse(head: &[u8]) -> Option<Self>;
    /// Whether `first_line_prefix` (the first bytes of the start line, up
    /// to 16) can still begin a head of this kind.
    fn start_plausible(first_line_prefix: &[u8]) -> bool;
}

impl Head for UpgradeRequest {
    fn parse(head: &[u8]) -> Option<Self> {
        parse_request(head)
    }

    fn start_plausible(prefix: &[u8]) -> bool {
        // RFC 9112 §3: method = token, then SP; methods are upper case in practice.
        let method_len = prefix.iter().take_while(|b| b.is_ascii_uppercase()).count();
        match prefix.get(method_len) {
            None => method_len < 16,
            Some(b' ') => method_len > 0,
            Some(_) => false,
        }
    }
}

impl Head for UpgradeResponse {
    fn parse(head: &[u8]) -> Option<Self> {
        parse_response(head)
    }

    fn start_plausible(prefix: &[u8]) -> bool {
        // RFC 9112 §4: status-line = HTTP-version SP status-code ...
        let n = prefix.len().min(5);
        prefix.get(..n) == b"HTTP/".get(..n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome<T> {
    Collecting,
    Done { value: T, header_len: usize },
    NotHttp,
    TooLong,
}

/// Collects one HTTP head across segments, keeping at most
/// [`MAX_HEAD_LEN`] bytes and reading at most [`MAX_HEAD_SEEN`].
///
/// It keeps the head as it arrives, minus the lines of credential headers:
/// their name is seen first, then the rest of the line (and any obsolete
/// folded continuation) is discarded as it streams by. Once a result other
/// than `NeedMore` has been returned, later pushes return it again, with
/// `body_offset` 0 for `Done`: every later byte belongs to the frame stream.
#[derive(Debug, Clone)]
pub struct HeaderAccumulator<T: Head> {
    /// The head so far, without credential lines; never over `MAX_HEAD_LEN`.
    kept: Vec<u8>,
    /// Bytes of head seen, credential lines included.
    seen: usize,
    /// Start of the current line in `kept`.
    line_start: usize,
    /// Inside a credential header line: drop bytes up to the line feed.
    dropping: bool,
    /// The previous line was a credential header (for folded lines).
    after_secret: bool,
    outcome: Outcome<T>,
}

impl<T: Head> Default for HeaderAccumulator<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Head> HeaderAccumulator<T> {
    pub fn new() -> Self {
        HeaderAccumulator {
            kept: Vec::new(),
            seen: 0,
            line_start: 0,
            dropping: false,
            after_secret: false,
            outcome: Outcome::Collecting,
        }
    }

    /// Bytes of head seen so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Feeds the next in-order bytes of the direction.
    pub fn push(&mut self, bytes: &[u8]) -> HandshakeParse<T> {
        let mut body_offset = 0;
        if matches!(self.outcome, Outcome::Collecting) {
            // A head usually comes in one segment: room for it at once.
            if self.kept.capacity() == 0 {
                self.kept.reserve(bytes.len().min(MAX_HEAD_LEN));
            }
            body_offset = self.collect(bytes);
        }
        match &self.outcome {
            Outcome::Collecting => HandshakeParse::NeedMore,
            Outcome::NotHttp => HandshakeParse::NotHttp,
            Outcome::TooLong => HandshakeParse::TooLong,
            Outcome::Done { value, header_len } => HandshakeParse::Done {
                value: value.clone(),
                header_len: *header_len,
                body_offset,
            },
        }
    }

    /// Takes bytes up to the end of the head; returns how many it took.
    fn collect(&mut self, bytes: &[u8]) -> usize {
        for (i, &b) in bytes.iter().enumerate() {
            self.seen += 1;
            if self.seen > MAX_HEAD_SEEN {
                self.finish(Outcome::TooLong);
                return i;
            }
            let line_begins = self.kept.len() == self.line_start;
            if line_begins && !self.dropping {
                // RFC 9112 §5.2: a line starting with SP or HTAB continues
                // the previous field (obsolete folding).
                self.dropping = self.after_secret && matches!(b, b' ' | b'\t');
                self.after_secret = false;
            }
            if self.dropping {
                // A credential's value: never stored.
                if b == b'\n' {
                    self.dropping = false;
                    self.after_secret = true;
                }
                continue;
            }
            if self.kept.len() == MAX_HEAD_LEN {
                self.finish(Outcome::TooLong);
                return i;
            }
            self.kept.push(b);
            let line = self.kept.get(self.line_start..).unwrap_or_default();
            let first_line = self.line_start == 0;
            if first_line && line.len() <= 16 && !T::start_plausible(line) {
                self.finish(Outcome::NotHttp);
                return i + 1;
            }
            match b {
                b'\n' => {
                    let content = line.strip_suffix(b"\n").unwrap_or(line);
                    let content = content.strip_suffix(b"\r").unwrap_or(content);
                    if content.is_empty() && !first_line {
                        // The empty line ends the head (RFC 9112 §2.1).
                        let outcome = match T::parse(&self.kept) {
                            Some(value) => Outcome::Done {
                                value,
                                header_len: self.seen,
                            },
                            None => Outcome::NotHttp,
                        };
                        self.finish(outcome);
                        return i + 1;
                    }
                    self.line_start = self.kept.len();
                }
                b':' if !first_line && is_secret_name(line) => {
                    // Keep neither the name nor the value of a credential.
                    self.kept.truncate(self.line_start);
                    self.dropping = true;
                }
                // RFC 9112 §5.5: no control bytes in a head but CR, LF and HTAB.
                0..=8 | 0x0B..=0x0C | 0x0E..=0x1F | 0x7F => {
                    self.finish(Outcome::NotHttp);
                    return i + 1;
                }
                _ => {}
            }
        }
        bytes.len()
    }

    fn finish(&mut self, outcome: Outcome<T>) {
        self.outcome = outcome;
        // Parsed or refused: the raw bytes are no longer needed.
        self.kept = Vec::new();
        self.line_start = 0;
    }
}

/// `line` is `name:` for a credential header.
fn is_secret_name(line: &[u8]) -> bool {
    let name = line.strip_suffix(b":").unwrap_or(line).trim_ascii();
    SECRET_HEADERS
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

/// The lines of a head, without CR LF.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The header fields after the start line, up to the empty line, as
/// `(name, value)`. Folded continuation lines and lines without a colon are
/// skipped. The parsers keep only the fields they name, so credentials given
/// to them in a raw head are dropped too.
/// A value is copied only when it is not UTF-8 (then lossily); the parsers
/// copy those they keep.
fn fields<'a>(
    rest: impl Iterator<Item = &'a [u8]>,
) -> impl Iterator<Item = (&'a [u8], Cow<'a, str>)> {
    rest.take_while(|l| !l.is_empty())
        .filter(|l| !matches!(l.first(), Some(b' ' | b'\t')))
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = l.get(..colon)?.trim_ascii();
            let value = l.get(colon + 1..)?.trim_ascii();
            let secret = SECRET_HEADERS
                .iter()
                .any(|s| name.eq_ignore_ascii_case(s.as_bytes()));
            (!secret).then(|| (name, String::from_utf8_lossy(value)))
        })
}

/// The comma-separated elements of a field value (RFC 9110 §5.6.1).
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

fn has_token(value: &str, token: &str) -> bool {
    list(value).any(|t| t.eq_ignore_ascii_case(token))
}

fn is(name: &[u8], wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted.as_bytes())
}

/// Keeps the first occurrence of a field.
fn first(slot: &mut Option<String>, value: Cow<'_, str>) {
    if slot.is_none() {
        *slot = Some(value.into_owned());
    }
}

/// Parses a request head (RFC 9112 §3; RFC 6455 §4.1 for the fields kept).
/// `None` when the start line is not `METHOD SP target SP HTTP/1.x`.
pub fn parse_request(head: &[u8]) -> Option<UpgradeRequest> {
    let mut ls = lines(head);
    let start = std::str::from_utf8(ls.next()?).ok()?;
    let mut parts = start.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || method.is_empty()
        || target.is_empty()
        || !version.starts_with("HTTP/1.")
    {
        return None;
    }
    let mut req = UpgradeRequest {
        method_get: method == "GET",
        path: target.to_owned(),
        ..UpgradeRequest::default()
    };
    for (name, value) in fields(ls) {
        if is(name, "host") {
            first(&mut req.host, value);
        } else if is(name, "origin") {
            first(&mut req.origin, value);
        } else if is(name, "sec-websocket-key") {
            first(&mut req.key, value);
        } else if is(name, "sec-websocket-version") {
            first(&mut req.version, value);
        } else if is(name, "sec-websocket-protocol") {
            req.protocols.extend(list(&value).map(str::to_owned));
        } else if is(name, "sec-websocket-extensions") {
            req.extensions.extend(list(&value).map(str::to_owned));
        } else if is(name, "upgrade") {
            // RFC 6455 §4.2.1: "websocket", case-insensitively.
            req.upgrade_websocket |= has_token(&value, "websocket");
        } else if is(name, "connection") {
            // RFC 6455 §4.2.1: Connection lists "Upgrade" among its tokens.
            req.connection_upgrade |= has_token(&value, "upgrade");
        }
    }
    Some(req)
}

/// Parses a response head (RFC 9112 §4; RFC 6455 §4.2.2 for the fields
/// kept). `None` when the status line is not `HTTP/1.x SP 3DIGIT ...`.
pub fn parse_response(head: &[u8]) -> Option<UpgradeResponse> {
    let mut ls = lines(head);
    let start = ls.next()?;
    let mut parts = start.splitn(3, |&b| b == b' ');
    let (version, code) = (parts.next()?, parts.next()?);
    if !version.starts_with(b"HTTP/1.") || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = code
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let mut resp = UpgradeResponse {
        status,
        ..UpgradeResponse::default()
    };
    for (name, value) in fields(ls) {
        if is(name, "sec-websocket-accept") {
            first(&mut resp.accept, value);
        } else if is(name, "sec-websocket-protocol") {
            first(&mut resp.protocol, value);
        } else if is(name, "sec-websocket-extensions") {
            resp.extensions.extend(list(&value).map(str::to_owned));
        } else if is(name, "upgrade") {
            resp.upgrade_websocket |= has_token(&value, "websocket");
        } else if is(name, "connection") {
            resp.connection_upgrade |= has_token(&value, "upgrade");
        }
    }
    Some(resp)
}

/// RFC 6455 §4.2.2 (and §1.3): the accept value is
/// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
pub fn accept_matches(key: &str, accept: &str) -> bool {
    tungstenite::handshake::derive_accept_key(key.trim().as_bytes()) == accept.trim()
}

/// Whether permessage-deflate (RFC 7692) is among `extensions`, e.g. those
/// a 101 response accepted: the frames may then set RSV1.
pub fn permessage_deflate(extensions: &[String]) -> bool {
    extensions.iter().any(|e| {
        let name = e.split(';').next().unwrap_or_default().trim();
        name.eq_ignore_ascii_case("permessage-deflate")
    })
}

#[cfg(test)]
mod tests;
