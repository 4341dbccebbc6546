//! The HTTP/1.1 handshake's bytes (RFC 9112 §2-5), walked for what a
//! written capture keeps: method, version, status line and header names;
//! the handshake's own headers (see [`value_kind`]); subprotocol tokens
//! that name a protocol; the request path by the report's rule, query
//! names but not values (only the `/`s under `--redact`). Everything else
//! becomes ASCII `0`s, which keeps the header parseable.

use super::Fill;
use crate::websocket::app::AppProtocol;

/// Longest header name looked at; longer names are treated as credentials.
const MAX_NAME: usize = 64;

#[derive(Debug, Default)]
pub(super) struct Http {
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
    /// The request target's path and query names are kept (not under
    /// `--redact`); set when the walk starts.
    keep_path: bool,
    /// The request target: `Some(true)` once it showed its origin form
    /// (`/path?query`); in its query; in a query value.
    origin_form: Option<bool>,
    in_query: bool,
    in_query_value: bool,
    /// The query parameter's name so far (its first 16 bytes), and whether
    /// its value is a protocol constant that stays.
    query_name: Vec<u8>,
    keep_query_value: bool,
    /// In a path segment: its bytes walked, and how many of them stay.
    segment: Option<(usize, usize)>,
    /// Within a subprotocol token: whether it is kept.
    token: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Value {
    Keep,
    #[default]
    Hidden,
    Params,
    /// `Sec-WebSocket-Protocol`: tokens naming a protocol stay.
    Tokens,
}

impl Http {
    /// The walk of one handshake; `keep_path`: the request path's plain
    /// segments and query names stay (not under `--redact`).
    pub(super) fn new(keep_path: bool) -> Self {
        Http {
            keep_path,
            ..Http::default()
        }
    }

    /// The fill of one handshake byte; at the end of the header block,
    /// whether it was an upgrade (a `GET` request or a `101` response).
    pub(super) fn step(&mut self, byte: u8, ahead: &[u8]) -> (Fill, Option<bool>) {
        if !self.first_line_done {
            if byte == b'\n' {
                self.first_line_done = true;
                self.line_len = 0;
                return (Fill::Keep, None);
            }
            if self.first_line.len() < 16 {
                self.first_line.push(byte);
            }
            if self.spaces == 1 && byte != b' ' && self.is_request() {
                return (self.target_fill(byte, ahead), None);
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
            return (self.value_fill(byte, ahead), None);
        }
        if byte == b':' {
            self.in_value = true;
            self.in_param = false;
            self.token = None;
            self.value = value_kind(&self.name);
        } else if self.name.len() <= MAX_NAME {
            self.name.push(byte.to_ascii_lowercase());
        }
        (Fill::Keep, None)
    }

    fn is_request(&self) -> bool {
        self.first_line.starts_with(b"GET ")
    }

    /// A request target's byte: in origin form (`/path?a=1`, RFC 9112
    /// §3.2.1) the path and the query's names stay unless `--redact`, and
    /// query values (the spec's secrets) become `0`s; any other form (an
    /// absolute URI may carry user info) keeps only its `/`s, so the
    /// path's shape does.
    fn target_fill(&mut self, byte: u8, ahead: &[u8]) -> Fill {
        let origin = *self.origin_form.get_or_insert(byte == b'/');
        if !(origin && self.keep_path) {
            return if byte == b'/' {
                Fill::Keep
            } else {
                Fill::Digit
            };
        }
        if !self.in_query && byte != b'?' {
            if byte == b'/' {
                self.segment = None;
                return Fill::Keep;
            }
            let (walked, kept) = self
                .segment
                .get_or_insert_with(|| (0, segment_kept(byte, ahead)));
            *walked += 1;
            return if *walked <= *kept {
                Fill::Keep
            } else {
                Fill::Digit
            };
        }
        match byte {
            b'?' | b'&' if !self.in_query || byte == b'&' => {
                self.in_query = true;
                self.in_query_value = false;
                self.query_name.clear();
                Fill::Keep
            }
            b'=' if self.in_query && !self.in_query_value => {
                self.in_query_value = true;
                // Engine.IO's protocol revision (`EIO=4`) says which side
                // pings: a protocol constant, not a credential.
                self.keep_query_value = self.query_name == b"EIO";
                Fill::Keep
            }
            _ if self.in_query_value && !self.keep_query_value => Fill::Digit,
            _ => {
                if self.in_query && !self.in_query_value && self.query_name.len() < 16 {
                    self.query_name.push(byte);
                }
                Fill::Keep
            }
        }
    }

    fn value_fill(&mut self, byte: u8, ahead: &[u8]) -> Fill {
        let hidden = if byte == b' ' || byte == b'\t' {
            Fill::Keep
        } else {
            Fill::Digit
        };
        match self.value {
            Value::Keep => Fill::Keep,
            Value::Hidden => hidden,
            Value::Tokens => {
                if matches!(byte, b',' | b' ' | b'\t') {
                    self.token = None;
                    return Fill::Keep;
                }
                let keep = *self
                    .token
                    .get_or_insert_with(|| named_protocol(byte, ahead));
                if keep {
                    Fill::Keep
                } else {
                    hidden
                }
            }
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
/// `Sec-WebSocket-Protocol` keeps the tokens that name a protocol;
/// every other value (Host and Origin user info, cookies, credentials,
/// other subprotocol tokens, user agents) becomes `0`s.
fn value_kind(name: &[u8]) -> Value {
    match name.trim_ascii() {
        b"upgrade"
        | b"connection"
        | b"sec-websocket-key"
        | b"sec-websocket-accept"
        | b"sec-websocket-version"
        | b"content-length" => Value::Keep,
        b"sec-websocket-extensions" => Value::Params,
        b"sec-websocket-protocol" => Value::Tokens,
        _ => Value::Hidden,
    }
}

/// Whether the subprotocol token that starts with `first`, its rest in
/// `ahead`, names an application protocol (then it is no credential). A
/// token the segment cuts off is hidden.
fn named_protocol(first: u8, ahead: &[u8]) -> bool {
    let Some(n) = ahead
        .iter()
        .position(|b| matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n'))
    else {
        return false;
    };
    let mut token = Vec::with_capacity(n + 1);
    token.push(first);
    token.extend_from_slice(&ahead[..n]);
    std::str::from_utf8(&token)
        .ok()
        .and_then(AppProtocol::from_subprotocol)
        .is_some()
}

/// How many bytes of the path segment starting with `first` (its rest in
/// `ahead`) stay, by the report's rule for paths: a plain name whole; one
/// with parameters (`;jsessionid=…`, `=`, `&`) up to them; one that looks
/// like a token, or is percent-encoded, or that the segment cuts off,
/// none.
fn segment_kept(first: u8, ahead: &[u8]) -> usize {
    let Some(n) = ahead
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#' | b' '))
    else {
        return 0;
    };
    let mut seg = Vec::with_capacity(n + 1);
    seg.push(first);
    seg.extend_from_slice(&ahead[..n]);
    if let Some(i) = seg.iter().position(|b| matches!(b, b';' | b'=' | b'&')) {
        return i;
    }
    match std::str::from_utf8(&seg) {
        Ok(text) if !text.contains('%') && !crate::secret::looks_like_token(text) => seg.len(),
        _ => 0,
    }
}
