//! The opening handshake as seen (RFC 6455 §4), kept for the report: what
//! the client asked for, what the server answered, and when.
//!
//! Every connection of a large server keeps this until it ends, and the
//! report reads it once. So it is packed into one allocation of tagged
//! records (about 60 bytes for a plain `GET /ws`) instead of a dozen
//! strings and options; [`Handshake::request`] and
//! [`Handshake::response`] unpack it.

use std::fmt;

use super::handshake::{UpgradeRequest, UpgradeResponse};
use crate::evidence::{FrameRef, Moment};
use crate::secret::Secret;
use crate::side::Side;
use crate::time::Timestamp;

/// The request as kept: every value the client chose is a [`Secret`]
/// (a path may carry a token in its query, an Origin user info, a
/// subprotocol a bearer token); credential headers were never kept.
#[derive(Clone, Debug)]
pub struct RequestSeen {
    pub path: Secret<String>,
    pub host: Option<Secret<String>>,
    pub origin: Option<Secret<String>>,
    pub protocols: Vec<Secret<String>>,
    pub extensions: Vec<Secret<String>>,
    pub at: Moment,
}

/// The response as kept.
#[derive(Clone, Debug)]
pub struct ResponseSeen {
    pub status: u16,
    pub protocol: Option<Secret<String>>,
    pub extensions: Vec<Secret<String>>,
    pub at: Moment,
}

/// The handshake as seen, without credentials (the parser never keeps
/// Cookie or Authorization values).
#[derive(Clone, Default)]
pub struct Handshake {
    /// Tagged records (see `Tag`), in the order they were seen.
    packed: Option<Box<[u8]>>,
    /// RFC 6455 §4.2.2: Sec-WebSocket-Accept derived from the key.
    pub accept_valid: Option<bool>,
    /// The TCP side that sent the request (the client).
    pub(super) request_side: Option<Side>,
    pub(super) response_side: Option<Side>,
}

/// What a record holds. Records of the request come first, then those of
/// the response; each is its tag, then an instant (8 bytes of nanoseconds,
/// then the file index and frame number as varints), 2 bytes of status, or
/// a varint length and the text. Numbers are little-endian; a varint is
/// LEB128 (seven bits a byte, low first), so small ones take one byte.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    RequestAt,
    Path,
    Host,
    Origin,
    Protocol,
    Extension,
    /// `Sec-WebSocket-Key`, until the response's accept is checked.
    Key,
    ResponseAt,
    Status,
    ChosenProtocol,
    ChosenExtension,
}

const TAGS: [Tag; 11] = [
    Tag::RequestAt,
    Tag::Path,
    Tag::Host,
    Tag::Origin,
    Tag::Protocol,
    Tag::Extension,
    Tag::Key,
    Tag::ResponseAt,
    Tag::Status,
    Tag::ChosenProtocol,
    Tag::ChosenExtension,
];

impl Tag {
    fn of_request(self) -> bool {
        (self as u8) <= Tag::Key as u8
    }
}

/// Bytes `n` takes as a varint.
fn varint_len(n: u64) -> usize {
    (64 - (n | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a varint at the start of `b`: its value and length.
fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// Bytes a text's record takes, its tag included.
fn text_len(t: &str) -> usize {
    1 + varint_len(t.len() as u64) + t.len()
}

/// Bytes an instant's record body takes.
fn at_len(m: Moment) -> usize {
    8 + varint_len(u64::from(m.frame.file())) + varint_len(m.frame.frame())
}

/// One record, borrowed from the packed bytes.
enum Record<'a> {
    At(Moment),
    Status(u16),
    Text(&'a [u8]),
}

impl Record<'_> {
    /// Bytes the record takes, its tag included.
    fn packed_len(&self) -> usize {
        1 + match self {
            Record::At(m) => at_len(*m),
            Record::Status(_) => 2,
            Record::Text(b) => varint_len(b.len() as u64) + b.len(),
        }
    }
}

/// Iterates over the records of `packed`: (tag, record), in order.
fn records(packed: &[u8]) -> impl Iterator<Item = (Tag, Record<'_>)> {
    let mut rest = packed;
    std::iter::from_fn(move || {
        let (&t, body) = rest.split_first()?;
        let tag = *TAGS.get(usize::from(t))?;
        let (record, len) = match tag {
            Tag::RequestAt | Tag::ResponseAt => {
                let at = i64::from_le_bytes(body.get(..8)?.try_into().ok()?);
                let (file, a) = get_varint(body.get(8..)?)?;
                let (frame, b) = get_varint(body.get(8 + a..)?)?;
                let moment = Moment {
                    at: Timestamp::from_nanos(at),
                    frame: FrameRef::new(u32::try_from(file).ok()?, frame),
                };
                (Record::At(moment), 8 + a + b)
            }
            Tag::Status => {
                let b = body.get(..2)?;
                (Record::Status(u16::from_le_bytes([b[0], b[1]])), 2)
            }
            _ => {
                let (n, a) = get_varint(body)?;
                let n = usize::try_from(n).ok()?;
                (Record::Text(body.get(a..a.checked_add(n)?)?), a + n)
            }
        };
        rest = &body[len..];
        Some((tag, record))
    })
}

/// Builds packed records.
struct Packer(Vec<u8>);

impl Packer {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push(n as u8 | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn at(&mut self, tag: Tag, m: Moment) {
        self.0.push(tag as u8);
        self.0.extend_from_slice(&m.at.nanos().to_le_bytes());
        self.varint(u64::from(m.frame.file()));
        self.varint(m.frame.frame());
    }

    fn status(&mut self, status: u16) {
        self.0.push(Tag::Status as u8);
        self.0.extend_from_slice(&status.to_le_bytes());
    }

    fn text(&mut self, tag: Tag, b: &[u8]) {
        self.0.push(tag as u8);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// Copies the records of `packed` that `keep` selects.
    fn keep(&mut self, packed: &[u8], keep: impl Fn(Tag) -> bool) {
        for (tag, r) in records(packed).filter(|(t, _)| keep(*t)) {
            match r {
                Record::At(m) => self.at(tag, m),
                Record::Status(s) => self.status(s),
                Record::Text(b) => self.text(tag, b),
            }
        }
    }

    fn done(self) -> Option<Box<[u8]>> {
        // Sized in advance: boxing it moves nothing.
        debug_assert_eq!(self.0.len(), self.0.capacity());
        (!self.0.is_empty()).then(|| self.0.into_boxed_slice())
    }
}

fn secret(b: &[u8]) -> Secret<String> {
    Secret::new(String::from_utf8_lossy(b).into_owned())
}

impl Handshake {
    fn packed(&self) -> &[u8] {
        self.packed.as_deref().unwrap_or_default()
    }

    /// Repacks: the records `keep` selects, then what `add` writes (about
    /// `extra` bytes: one allocation when that is right).
    fn repack(&mut self, keep: impl Fn(Tag) -> bool, extra: usize, add: impl FnOnce(&mut Packer)) {
        let kept: usize = records(self.packed())
            .filter(|(t, _)| keep(*t))
            .map(|(_, r)| r.packed_len())
            .sum();
        let mut p = Packer(Vec::with_capacity(kept + extra));
        p.keep(self.packed(), keep);
        add(&mut p);
        self.packed = p.done();
    }

    /// The request seen at `at` (replacing any earlier one). Its key is
    /// kept until the response.
    pub(super) fn set_request(&mut self, r: &UpgradeRequest, at: Moment) {
        let texts = [&r.host, &r.origin, &r.key].into_iter().flatten();
        let lists = r.protocols.iter().chain(&r.extensions);
        let texts = texts.chain(lists).chain([&r.path]);
        let extra = 1 + at_len(at) + texts.map(|t| text_len(t)).sum::<usize>();
        self.repack(
            |t| !t.of_request(),
            extra,
            |p| {
                p.at(Tag::RequestAt, at);
                p.text(Tag::Path, r.path.as_bytes());
                for (tag, v) in [(Tag::Host, &r.host), (Tag::Origin, &r.origin)] {
                    if let Some(v) = v {
                        p.text(tag, v.as_bytes());
                    }
                }
                for v in &r.protocols {
                    p.text(Tag::Protocol, v.as_bytes());
                }
                for v in &r.extensions {
                    p.text(Tag::Extension, v.as_bytes());
                }
                if let Some(k) = &r.key {
                    p.text(Tag::Key, k.as_bytes());
                }
            },
        );
    }

    /// The request's `Sec-WebSocket-Key`, until the response: it is
    /// needed only to check the accept (RFC 6455 §4.2.2).
    pub(super) fn key(&self) -> Option<String> {
        records(self.packed()).find_map(|(t, r)| match (t, r) {
            (Tag::Key, Record::Text(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
    }

    /// The response seen at `at` (replacing any earlier one). The request's
    /// key goes: the response is what it was for.
    pub(super) fn set_response(&mut self, r: &UpgradeResponse, at: Moment) {
        let texts = r.protocol.iter().chain(&r.extensions);
        let extra = 1 + at_len(at) + 3 + texts.map(|t| text_len(t)).sum::<usize>();
        let keep = |t: Tag| t.of_request() && t != Tag::Key;
        self.repack(keep, extra, |p| {
            p.at(Tag::ResponseAt, at);
            p.status(r.status);
            if let Some(v) = &r.protocol {
                p.text(Tag::ChosenProtocol, v.as_bytes());
            }
            for v in &r.extensions {
                p.text(Tag::ChosenExtension, v.as_bytes());
            }
        });
    }

    /// Whether the request or the response was seen.
    pub fn seen(&self) -> bool {
        self.packed.is_some()
    }

    /// The request, if it was seen.
    pub fn request(&self) -> Option<RequestSeen> {
        let mut req: Option<RequestSeen> = None;
        for (tag, r) in records(self.packed()) {
            match (tag, r, req.as_mut()) {
                (Tag::RequestAt, Record::At(at), _) => {
                    req = Some(RequestSeen {
                        path: Secret::new(String::new()),
                        host: None,
                        origin: None,
                        protocols: Vec::new(),
                        extensions: Vec::new(),
                        at,
                    })
                }
                (Tag::Path, Record::Text(b), Some(q)) => q.path = secret(b),
                (Tag::Host, Record::Text(b), Some(q)) => q.host = Some(secret(b)),
                (Tag::Origin, Record::Text(b), Some(q)) => q.origin = Some(secret(b)),
                (Tag::Protocol, Record::Text(b), Some(q)) => q.protocols.push(secret(b)),
                (Tag::Extension, Record::Text(b), Some(q)) => q.extensions.push(secret(b)),
                _ => {}
            }
        }
        req
    }

    /// The response, if it was seen.
    pub fn response(&self) -> Option<ResponseSeen> {
        let mut resp: Option<ResponseSeen> = None;
        for (tag, r) in records(self.packed()) {
            match (tag, r, resp.as_mut()) {
                (Tag::ResponseAt, Record::At(at), _) => {
                    resp = Some(ResponseSeen {
                        status: 0,
                        protocol: None,
                        extensions: Vec::new(),
                        at,
                    })
                }
                (Tag::Status, Record::Status(s), Some(p)) => p.status = s,
                (Tag::ChosenProtocol, Record::Text(b), Some(p)) => p.protocol = Some(secret(b)),
                (Tag::ChosenExtension, Record::Text(b), Some(p)) => p.extensions.push(secret(b)),
                _ => {}
            }
        }
        resp
    }
}

/// Like the [`Secret`]s it holds: the lengths, never the values.
impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("packed_bytes", &self.packed().len())
            .field("accept_valid", &self.accept_valid)
            .field("request_side", &self.request_side)
            .field("response_side", &self.response_side)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moment(nanos: i64, file: u32, frame: u64) -> Moment {
        Moment {
            at: Timestamp::from_nanos(nanos),
            frame: FrameRef::new(file, frame),
        }
    }

    fn texts(v: &[Secret<String>]) -> Vec<&str> {
        v.iter().map(|s| s.expose().as_str()).collect()
    }

    #[test]
    fn the_request_and_response_come_back_as_seen() {
        let mut h = Handshake::default();
        assert!(!h.seen() && h.request().is_none() && h.response().is_none());
        let req = UpgradeRequest {
            path: "/chat?token=é".into(),
            host: Some("example.com".into()),
            origin: None,
            key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
            protocols: vec!["a".into(), "b".into()],
            extensions: vec!["permessage-deflate; x=1".into()],
            ..UpgradeRequest::default()
        };
        // The largest file index and frame number a FrameRef holds.
        let at = moment(-5, (1 << 20) - 2, (1 << 44) - 2);
        h.set_request(&req, at);
        assert!(h.seen());
        let r = h.request().unwrap();
        assert_eq!(r.path.expose(), "/chat?token=é");
        assert_eq!(r.host.unwrap().expose(), "example.com");
        assert!(r.origin.is_none());
        assert_eq!(texts(&r.protocols), ["a", "b"]);
        assert_eq!(texts(&r.extensions), ["permessage-deflate; x=1"]);
        assert_eq!(r.at, at);
        assert!(h.response().is_none());

        let resp = UpgradeResponse {
            status: 101,
            protocol: Some("b".into()),
            extensions: vec![],
            ..UpgradeResponse::default()
        };
        assert_eq!(h.key().as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        h.set_response(&resp, moment(7, 0, 9));
        assert_eq!(h.key(), None, "the key goes with the response");
        let p = h.response().unwrap();
        assert_eq!((p.status, p.at), (101, moment(7, 0, 9)));
        assert_eq!(p.protocol.unwrap().expose(), "b");
        assert!(p.extensions.is_empty());
        assert_eq!(h.request().unwrap().path.expose(), "/chat?token=é");
        assert!(!format!("{h:?}").contains("chat"), "{h:?}");
    }

    #[test]
    fn varints_take_seven_bits_a_byte() {
        for n in [0, 1, 127, 128, 16_383, 16_384, 1 << 44, u64::MAX] {
            let mut p = Packer(Vec::new());
            p.varint(n);
            assert_eq!(p.0.len(), varint_len(n), "{n}");
            assert_eq!(get_varint(&p.0), Some((n, p.0.len())), "{n}");
        }
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(get_varint(&[0x80, 0x80]), None, "cut short");
    }

    #[test]
    fn a_second_request_or_response_replaces_the_first() {
        let mut h = Handshake::default();
        let resp = |status| UpgradeResponse {
            status,
            ..UpgradeResponse::default()
        };
        h.set_response(&resp(403), moment(1, 0, 1));
        assert!(h.seen() && h.request().is_none());
        let req = |path: &str| UpgradeRequest {
            path: path.into(),
            key: Some("k".into()),
            ..UpgradeRequest::default()
        };
        h.set_request(&req("/a"), moment(2, 0, 2));
        h.set_request(
            &UpgradeRequest {
                key: None,
                ..req("/b")
            },
            moment(3, 0, 3),
        );
        assert_eq!(h.request().unwrap().path.expose(), "/b");
        assert_eq!(h.key(), None, "the second request had no key");
        h.set_response(&resp(101), moment(4, 0, 4));
        assert_eq!(h.response().unwrap().status, 101);
        assert_eq!(h.request().unwrap().at, moment(3, 0, 3));
    }
}
