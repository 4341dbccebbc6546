//! The two TLS messages sent in the clear that say what a connection is:
//! the ClientHello (RFC 8446 §4.1.2) and the ServerHello (§4.1.3). From
//! them come the server name the client asked for (SNI, RFC 6066 §3), the
//! application protocols offered and chosen (ALPN, RFC 7301 §3.1), and the
//! version the server chose (RFC 8446 §4.2.1 `supported_versions`, else the
//! ServerHello's `legacy_version` for TLS 1.2 and earlier).
//!
//! Handshake messages ride in handshake records (content type 22) and may
//! span records and TCP segments (RFC 8446 §5.1): [`HelloReader`] collects
//! one direction's handshake bytes until its first message is whole, at most
//! [`MAX_HELLO`] of them. This is the one place that reads these messages;
//! what a decrypting reader needs from them (the randoms, the cipher suite,
//! the session id and whether a pre-shared key resumed the session) is read
//! here too.

use crate::secret::Secret;

/// Handshake bytes kept while a hello is incomplete. A hello may declare up
/// to 2^24 bytes (RFC 8446 §4); real ones are a few hundred bytes, and
/// about 1.8 KiB with a post-quantum key share, so a longer one is given up
/// (and counted) rather than kept.
pub const MAX_HELLO: usize = 16 << 10;

/// At most this many ALPN names are kept from an offer (RFC 7301 §3.1
/// allows a 64 KiB list; browsers offer two or three).
pub const MAX_ALPN: usize = 8;

/// RFC 8446 §4: handshake message types.
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;

/// RFC 8446 §4.2: extension types.
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_PRE_SHARED_KEY: u16 = 41;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// RFC 8446 §4.1.3: a ServerHello whose random is SHA-256 of
/// "HelloRetryRequest" is a HelloRetryRequest.
const RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a ClientHello offered.
#[derive(Clone, Debug, Default)]
pub struct ClientHello {
    /// The `host_name` of the `server_name` extension (RFC 6066 §3): a DNS
    /// name the report shows like a Host header, hidden when names are.
    pub sni: Option<Secret<String>>,
    /// ALPN protocol names offered, in order (RFC 7301 §3.1), at most
    /// [`MAX_ALPN`]; bytes that are not UTF-8 are replaced.
    pub alpn: Vec<String>,
    /// `supported_versions` offered (RFC 8446 §4.2.1), GREASE values
    /// (RFC 8701 §2: 0x?a?a) left out; empty when the extension is absent.
    pub versions: Vec<u16>,
    /// The 32-byte `random` (RFC 8446 §4.1.2): what a key log files the
    /// connection's secrets under.
    pub random: [u8; 32],
    /// `legacy_session_id` (0 to 32 bytes): a TLS 1.2 server that echoes
    /// it resumes the session (RFC 5246 §7.4.1.2).
    pub session_id: Vec<u8>,
}

/// What a ServerHello chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The version in use: `supported_versions`' `selected_version` (RFC
    /// 8446 §4.2.1) when present, else `legacy_version` (TLS 1.2 and
    /// earlier, RFC 5246 §7.4.1.3).
    pub version: u16,
    /// The ALPN protocol chosen (RFC 7301 §3.1: exactly one name).
    pub alpn: Option<String>,
    /// A HelloRetryRequest (RFC 8446 §4.1.4): the client will send a second
    /// ClientHello, and the real ServerHello follows.
    pub retry: bool,
    /// The 32-byte `random` (the TLS 1.2 key expansion's seed, RFC 5246
    /// §6.3).
    pub random: [u8; 32],
    /// The cipher suite chosen (IANA number).
    pub cipher_suite: u16,
    /// `legacy_session_id_echo`.
    pub session_id: Vec<u8>,
    /// A `pre_shared_key` extension: TLS 1.3 resumption (RFC 8446 §4.2.11).
    pub psk: bool,
}

/// A direction's first handshake message, read.
#[derive(Clone, Debug)]
pub enum Hello {
    Client(ClientHello),
    Server(ServerHello),
}

/// Why a direction's hello was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloError {
    /// It declared more than [`MAX_HELLO`] bytes.
    TooLong,
    /// Its fields overrun it, or it is another handshake message.
    Malformed,
    /// A record of another type (an alert, application data) or a capture
    /// gap came before the message was whole.
    Interrupted,
}

impl HelloError {
    /// A short code for the report (`too_long`, `malformed`,
    /// `interrupted`).
    pub fn code(self) -> &'static str {
        match self {
            HelloError::TooLong => "too_long",
            HelloError::Malformed => "malformed",
            HelloError::Interrupted => "interrupted",
        }
    }
}

/// The name the report gives a TLS version (as rustls names them, so a
/// capture and a probe say the same): `TLSv1_3`, `TLSv1_2`, `TLSv1_1`,
/// `TLSv1_0`, `SSLv3`, else the number in hex (`0x7f1c`, a draft).
pub fn version_name(version: u16) -> String {
    match version {
        0x0304 => "TLSv1_3".into(),
        0x0303 => "TLSv1_2".into(),
        0x0302 => "TLSv1_1".into(),
        0x0301 => "TLSv1_0".into(),
        0x0300 => "SSLv3".into(),
        v => format!("{v:#06x}"),
    }
}

/// Collects one direction's handshake record payloads until its first
/// handshake message is whole, then reads it. Holds no bytes once done.
#[derive(Clone, Debug, Default)]
pub struct HelloReader {
    buf: Vec<u8>,
    done: bool,
}

/// What a [`HelloReader`] made of the bytes so far.
#[derive(Clone, Debug)]
pub enum HelloStep {
    NeedMore,
    Read(Hello),
    Failed(HelloError),
}

impl HelloReader {
    /// Whether the reader has finished (read its message, or given up).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Takes the payload bytes of a handshake record (content type 22).
    /// After a HelloRetryRequest, the next ServerHello is read as well.
    pub fn push(&mut self, fragment: &[u8]) -> HelloStep {
        if self.done {
            return HelloStep::NeedMore;
        }
        let room = (MAX_HELLO + 4).saturating_sub(self.buf.len());
        self.buf
            .extend_from_slice(&fragment[..fragment.len().min(room)]);
        let Some(&[kind, a, b, c]) = self.buf.get(..4) else {
            return HelloStep::NeedMore;
        };
        let len = u32::from_be_bytes([0, a, b, c]) as usize;
        if len > MAX_HELLO {
            return self.fail(HelloError::TooLong);
        }
        if self.buf.len() < 4 + len {
            return HelloStep::NeedMore;
        }
        match parse(kind, &self.buf[4..4 + len]) {
            Some(Hello::Server(hello)) if hello.retry => {
                // RFC 8446 §4.1.4: the real ServerHello comes next.
                self.buf.drain(..4 + len);
                let rest = std::mem::take(&mut self.buf);
                match self.push(&rest) {
                    HelloStep::NeedMore => HelloStep::Read(Hello::Server(hello)),
                    after => after,
                }
            }
            Some(hello) => {
                self.done = true;
                self.buf = Vec::new();
                HelloStep::Read(hello)
            }
            None => self.fail(HelloError::Malformed),
        }
    }

    /// Something other than handshake bytes came (another record type, a
    /// capture gap): a hello begun is given up; with none begun, the
    /// capture started after it, which is no failure.
    pub fn interrupt(&mut self) -> HelloStep {
        if self.done {
            return HelloStep::NeedMore;
        }
        if self.buf.is_empty() {
            self.done = true;
            return HelloStep::NeedMore;
        }
        self.fail(HelloError::Interrupted)
    }

    fn fail(&mut self, e: HelloError) -> HelloStep {
        self.done = true;
        self.buf = Vec::new();
        HelloStep::Failed(e)
    }
}

/// A cursor over a handshake message: every read is bounds-checked, and a
/// short read is `None` (the message is malformed).
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// An `opaque x<..2^8-1>` vector.
    fn vec8(&mut self) -> Option<Cursor<'a>> {
        let n = self.u8()? as usize;
        self.take(n).map(Cursor)
    }
    /// An `opaque x<..2^16-1>` vector.
    fn vec16(&mut self) -> Option<Cursor<'a>> {
        let n = self.u16()? as usize;
        self.take(n).map(Cursor)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads a handshake message body of type `kind`: a ClientHello or a
/// ServerHello, else `None` (another message, or fields that overrun it).
pub fn parse(kind: u8, body: &[u8]) -> Option<Hello> {
    let mut c = Cursor(body);
    match kind {
        CLIENT_HELLO => client_hello(&mut c).map(Hello::Client),
        SERVER_HELLO => server_hello(&mut c).map(Hello::Server),
        _ => None,
    }
}

/// RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2, whose extensions may be absent).
fn client_hello(c: &mut Cursor<'_>) -> Option<ClientHello> {
    let _legacy_version = c.u16()?;
    let random = c.take(32)?;
    let session_id = c.vec8()?;
    c.vec16()?; // cipher_suites
    c.vec8()?; // legacy_compression_methods
    let mut hello = ClientHello {
        session_id: session_id.0.get(..32.min(session_id.0.len()))?.to_vec(),
        ..ClientHello::default()
    };
    hello.random.copy_from_slice(random);
    if c.is_empty() {
        return Some(hello);
    }
    let mut exts = c.vec16()?;
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let mut data = exts.vec16()?;
        match kind {
            EXT_SERVER_NAME => hello.sni = server_name(&mut data)?,
            EXT_ALPN => hello.alpn = alpn_list(&mut data)?,
            EXT_SUPPORTED_VERSIONS => {
                let mut list = data.vec8()?;
                while !list.is_empty() {
                    let v = list.u16()?;
                    if v & 0x0f0f != 0x0a0a {
                        hello.versions.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    Some(hello)
}

/// RFC 6066 §3: a `ServerNameList`; the first `host_name` (type 0) entry.
/// `Some(None)` when the list holds none; `None` when it overruns.
fn server_name(data: &mut Cursor<'_>) -> Option<Option<Secret<String>>> {
    let mut list = data.vec16()?;
    while !list.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?;
        if kind == 0 {
            let text = String::from_utf8_lossy(name.0).into_owned();
            return Some(Some(Secret::from(text.as_str())));
        }
    }
    Some(None)
}

/// RFC 7301 §3.1: a `ProtocolNameList` (at most [`MAX_ALPN`] names kept).
fn alpn_list(data: &mut Cursor<'_>) -> Option<Vec<String>> {
    let mut list = data.vec16()?;
    let mut names = Vec::new();
    while !list.is_empty() {
        let name = list.vec8()?;
        if names.len() < MAX_ALPN {
            names.push(String::from_utf8_lossy(name.0).into_owned());
        }
    }
    Some(names)
}

/// RFC 8446 §4.1.3 (and RFC 5246 §7.4.1.3).
fn server_hello(c: &mut Cursor<'_>) -> Option<ServerHello> {
    let legacy_version = c.u16()?;
    let random = c.take(32)?;
    let session_id = c.vec8()?;
    let cipher_suite = c.u16()?;
    c.u8()?; // legacy_compression_method
    let mut hello = ServerHello {
        version: legacy_version,
        alpn: None,
        retry: random == RETRY_RANDOM,
        random: [0; 32],
        cipher_suite,
        session_id: session_id.0.get(..32.min(session_id.0.len()))?.to_vec(),
        psk: false,
    };
    hello.random.copy_from_slice(random);
    if c.is_empty() {
        return Some(hello);
    }
    let mut exts = c.vec16()?;
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let mut data = exts.vec16()?;
        match kind {
            EXT_ALPN => hello.alpn = alpn_list(&mut data)?.into_iter().next(),
            EXT_SUPPORTED_VERSIONS => hello.version = data.u16()?,
            EXT_PRE_SHARED_KEY => hello.psk = true,
            _ => {}
        }
    }
    Some(hello)
}

#[cfg(test)]
#[path = "hello_tests.rs"]
mod tests;
