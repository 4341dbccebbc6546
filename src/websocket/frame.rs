//! Incremental, copy-free WebSocket frame decoding (RFC 6455 §5).
//!
//! One [`FrameDecoder`] follows one direction of a connection. It is fed the
//! in-order bytes of that direction with [`FrameDecoder::on_data`] (split
//! anywhere) and told about bytes that were never captured with
//! [`FrameDecoder::on_gap`]. It reports what it sees through [`Event`]s:
//! frames, protocol violations (findings, not errors: decoding goes on) and
//! re-synchronisation after a gap or when a capture starts mid-stream.
//!
//! Memory is fixed: at most one header (14 bytes) and one control payload
//! (125 bytes, RFC 6455 §5.5) are held. Data payloads are skipped, never
//! copied, so the payload of a text message is not UTF-8 checked here.

use std::fmt;

use thiserror::Error;

/// Longest possible frame header: 2 + 8 (64-bit length) + 4 (mask), RFC 6455 §5.2.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest control frame payload, RFC 6455 §5.5.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// While hunting for a frame boundary, a candidate announcing a payload of at
/// least this many bytes is not believed. Real frames can be larger, but a
/// 16 MiB frame seen mid-stream is far more likely to be payload bytes that
/// happen to look like a header.
pub const HUNT_MAX_PAYLOAD: u64 = 16 * 1024 * 1024;

const RSV1: u8 = 0b100;

/// Frame opcode, RFC 6455 §5.2 (4 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0
    Continuation,
    /// 0x1
    Text,
    /// 0x2
    Binary,
    /// 0x8
    Close,
    /// 0x9
    Ping,
    /// 0xA
    Pong,
    /// 0x3–0x7 (reserved non-control) and 0xB–0xF (reserved control).
    Reserved(u8),
}

impl Opcode {
    /// The opcode of the low four bits of `nibble`.
    pub fn from_bits(nibble: u8) -> Opcode {
        match nibble & 0x0F {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }

    /// The 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
            Opcode::Reserved(b) => b & 0x0F,
        }
    }

    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5),
    /// reserved control opcodes 0xB–0xF included.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }

    /// Text, Binary or Continuation: the frames that carry a message.
    pub fn is_data(self) -> bool {
        matches!(self, Opcode::Continuation | Opcode::Text | Opcode::Binary)
    }

    /// A short lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
            Opcode::Reserved(_) => "reserved",
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opcode::Reserved(b) => write!(f, "reserved(0x{b:X})"),
            other => f.write_str(other.name()),
        }
    }
}

/// A parsed frame header (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: last frame of a message.
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit value, RSV1 being `0b100`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes, as encoded.
    pub payload_len: u64,
    /// Length of the header on the wire: 2, 4, 6, 8, 10 or 14.
    pub header_len: u8,
}

/// Why [`FrameHeader::parse`] refused a complete header. Only the length
/// encoding can make a header structurally impossible; every other rule is a
/// [`Violation`] found by the [`FrameDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
    #[error("payload length {len} encoded in {encoded_bytes} extra bytes, not the minimal number")]
    NonMinimalLength { len: u64, encoded_bytes: u8 },
    /// RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0.
    #[error("64-bit payload length {len:#x} has its most significant bit set")]
    LengthTopBitSet { len: u64 },
}

/// Bytes of extended length that follow the 7-bit length `len7` (RFC 6455 §5.2).
fn extended_len_bytes(len7: u8) -> u8 {
    match len7 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// Header length implied by the second header byte.
fn header_len_from_second(b1: u8) -> u8 {
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + extended_len_bytes(b1) + mask
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

impl FrameHeader {
    /// Parses a header at the start of `buf`, enforcing the §5.2 length rules.
    ///
    /// `Ok(None)`: `buf` does not yet hold the whole header; nothing is consumed
    /// and the caller retries with more bytes. Rules other than the length
    /// encoding (opcodes, RSV bits, masking, control frame limits) are not
    /// judged here: see [`FrameDecoder`].
    pub fn parse(buf: &[u8]) -> Result<Option<FrameHeader>, HeaderError> {
        let Some(h) = Self::parse_lenient(buf) else {
            return Ok(None);
        };
        if h.length_top_bit_set() {
            Err(HeaderError::LengthTopBitSet { len: h.payload_len })
        } else if !h.is_length_minimal() {
            Err(HeaderError::NonMinimalLength {
                len: h.payload_len,
                encoded_bytes: h.extended_len_bytes(),
            })
        } else {
            Ok(Some(h))
        }
    }

    /// Parses whatever a complete header says, however it encodes its length.
    /// `None` when `buf` is too short.
    pub fn parse_lenient(buf: &[u8]) -> Option<FrameHeader> {
        let (&b0, &b1) = (buf.first()?, buf.get(1)?);
        let header_len = header_len_from_second(b1);
        let head = buf.get(..usize::from(header_len))?;
        // From here on `head` holds exactly `header_len` bytes.
        let ext = usize::from(extended_len_bytes(b1));
        let payload_len = match head.get(2..2 + ext) {
            Some(bytes) if ext > 0 => be_u64(bytes),
            _ => u64::from(b1 & 0x7F),
        };
        let mask = match head.get(2 + ext..) {
            Some(&[m0, m1, m2, m3]) => Some([m0, m1, m2, m3]),
            _ => None,
        };
        Some(FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0b111,
            opcode: Opcode::from_bits(b0),
            mask,
            payload_len,
            header_len,
        })
    }

    /// Bytes of extended length on the wire: 0, 2 or 8.
    pub fn extended_len_bytes(&self) -> u8 {
        let mask = if self.mask.is_some() { 4 } else { 0 };
        self.header_len.saturating_sub(2 + mask)
    }

    /// RFC 6455 §5.2: lengths up to 125 in 7 bits, up to 65535 in 16 bits.
    pub fn is_length_minimal(&self) -> bool {
        let minimal = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        self.extended_len_bytes() == minimal
    }

    /// RFC 6455 §5.2: "the most significant bit MUST be 0".
    pub fn length_top_bit_set(&self) -> bool {
        self.payload_len >> 63 != 0
    }

    /// Header plus payload, `None` if that overflows a `u64`.
    pub fn frame_len(&self) -> Option<u64> {
        u64::from(self.header_len).checked_add(self.payload_len)
    }

    /// Whether this header could start a frame of a healthy stream: the test
    /// used while hunting for frame boundaries. `masked` is the MASK bit the
    /// stream is known or believed to use.
    fn plausible(&self, cfg: DecoderConfig, masked: Option<bool>) -> bool {
        let opcode_known = !matches!(self.opcode, Opcode::Reserved(_));
        let rsv_ok = self.rsv == 0
            || (cfg.permessage_deflate
                && self.rsv == RSV1
                && matches!(self.opcode, Opcode::Text | Opcode::Binary));
        let control_ok = !self.opcode.is_control()
            || (self.fin && self.payload_len <= MAX_CONTROL_PAYLOAD as u64);
        let mask_ok = masked.is_none_or(|m| m == self.mask.is_some());
        opcode_known
            && rsv_ok
            && control_ok
            && mask_ok
            && self.is_length_minimal()
            && self.payload_len < HUNT_MAX_PAYLOAD
    }
}

/// Which endpoint sent the stream a decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    /// The MASK bit this sender must use (RFC 6455 §5.1).
    pub fn masks(self) -> bool {
        matches!(self, Role::Client)
    }

    /// RFC 6455 §5.1: the side whose frames are masked is the client.
    pub fn from_masked(masked: bool) -> Role {
        if masked {
            Role::Client
        } else {
            Role::Server
        }
    }
}

/// A broken RFC 6455 rule. A finding about the peer, never a decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Violation {
    /// §5.1: a client MUST mask every frame it sends.
    #[error("client frame not masked")]
    UnmaskedClientFrame,
    /// §5.1: a server MUST NOT mask the frames it sends.
    #[error("server frame masked")]
    MaskedServerFrame,
    /// §5.5: control frames carry at most 125 payload bytes.
    #[error("control frame payload of {len} bytes exceeds 125")]
    ControlTooLong { len: u64 },
    /// §5.5: control frames MUST NOT be fragmented.
    #[error("control frame without FIN")]
    FragmentedControl,
    /// §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
    #[error("reserved opcode 0x{0:X}")]
    ReservedOpcode(u8),
    /// §5.2: RSV bits MUST be 0 unless an extension defines them; RFC 7692 §6:
    /// permessage-deflate uses RSV1 on the first frame of a data message only.
    #[error("reserved bits {rsv:#05b} set without a negotiated extension")]
    ReservedBits { rsv: u8 },
    /// §5.2: the length must be encoded in the minimal number of bytes.
    #[error("payload length {len} not minimally encoded")]
    NonMinimalLength { len: u64 },
    /// §5.2: the most significant bit of a 64-bit length MUST be 0.
    #[error("64-bit payload length with its most significant bit set")]
    LengthTopBitSet,
    /// §5.4: a continuation frame with no message started.
    #[error("continuation frame without a started message")]
    ContinuationWithoutStart,
    /// §5.4: a new Text/Binary frame while a fragmented message is still open.
    #[error("new data frame inside a fragmented message")]
    DataFrameInsideFragmentedMessage,
    /// §5.5.1: a Close body is empty or at least 2 bytes (the status code).
    #[error("close frame body of one byte")]
    CloseBodyOneByte,
    /// §7.4.1/§7.4.2: a status code that must not appear on the wire.
    #[error("close code {0} is not valid on the wire")]
    InvalidCloseCode(u16),
    /// §5.5.1: the close reason is UTF-8 text.
    #[error("close reason is not valid UTF-8")]
    InvalidUtf8CloseReason,
    /// §5.5.1: no data frames after a Close frame.
    #[error("data frame after close")]
    DataAfterClose,
}

impl Violation {
    /// A stable short name for reports.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::UnmaskedClientFrame => "unmasked_client_frame",
            Violation::MaskedServerFrame => "masked_server_frame",
            Violation::ControlTooLong { .. } => "control_too_long",
            Violation::FragmentedControl => "fragmented_control",
            Violation::ReservedOpcode(_) => "reserved_opcode",
            Violation::ReservedBits { .. } => "reserved_bits",
            Violation::NonMinimalLength { .. } => "non_minimal_length",
            Violation::LengthTopBitSet => "length_top_bit_set",
            Violation::ContinuationWithoutStart => "continuation_without_start",
            Violation::DataFrameInsideFragmentedMessage => "data_frame_inside_fragmented_message",
            Violation::CloseBodyOneByte => "close_body_one_byte",
            Violation::InvalidCloseCode(_) => "invalid_close_code",
            Violation::InvalidUtf8CloseReason => "invalid_utf8_close_reason",
            Violation::DataAfterClose => "data_after_close",
        }
    }
}

/// RFC 6455 §7.4.1 and §7.4.2: the status codes an endpoint may send in a
/// Close frame. 1004, 1005, 1006 and 1015 are reserved or meant for local
/// use only; 1016–2999 are unassigned or reserved for the protocol;
/// 3000–4999 belong to libraries and applications.
pub fn close_code_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// What was negotiated for the connection (RFC 6455 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderConfig {
    /// permessage-deflate (RFC 7692) was agreed: RSV1 is allowed on the first
    /// frame of a Text or Binary message.
    pub permessage_deflate: bool,
}

/// What a [`FrameDecoder`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A frame. Data frames are reported as soon as their header is complete
    /// (the payload is then skipped); control frames once their payload is.
    Frame {
        header: FrameHeader,
        /// Stream offset of the header's first byte.
        start: u64,
        /// The unmasked payload of a control frame of at most 125 bytes.
        control_payload: Option<&'a [u8]>,
    },
    /// A rule broken by the frame starting at stream offset `at`. Violations
    /// about a header come before its `Frame` event, those about a Close
    /// body after it.
    Violation { violation: Violation, at: u64 },
    /// Locked onto frame boundaries again; `skipped` stream bytes (seen or
    /// lost in gaps) lie between where sync was lost and the next `Frame`.
    Resynced { skipped: u64 },
}

/// Fragmentation state of the direction, RFC 6455 §5.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fragments {
    /// Just (re)synchronised: whether a message is open is not known.
    Unknown,
    /// Between messages.
    Idle,
    /// A Text/Binary frame without FIN was seen; continuations follow.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In sync, collecting the next header into `hdr`.
    Header,
    /// Collecting the payload of a control frame (≤ 125 bytes) into `ctl`.
    Control {
        header: FrameHeader,
        start: u64,
        got: u8,
    },
    /// Skipping `remaining` payload bytes.
    Skip { remaining: u64 },
    /// Looking for a frame boundary.
    Hunt,
}

/// A lock-on not yet confirmed by the header after the candidate frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tentative {
    /// `Header` state is reading the candidate's own header.
    Candidate,
    /// The candidate (whose payload, if control, is in `ctl`) is being
    /// consumed; the next complete header confirms or refutes it.
    AwaitNext { header: FrameHeader, start: u64 },
}

/// Decodes one direction of a WebSocket connection.
///
/// Invariants: `hdr_len <= MAX_HEADER_LEN`; in `State::Control`, `got <=
/// header.payload_len <= 125`; `offset` is the stream offset of the next
/// byte `on_data` will see. Every call consumes all its input.
///
/// Resync rule (hunting, after [`new_midstream`](Self::new_midstream) or a
/// gap): candidate offsets are tried in order from the start of the chunk,
/// since frames often begin a TCP segment. A candidate must be
/// [plausible](FrameHeader) (known opcode; RSV 0, or only RSV1 on Text/Binary
/// with permessage-deflate; control frames final and ≤ 125 bytes; minimal
/// length below [`HUNT_MAX_PAYLOAD`]; MASK matching the role when known).
/// The decoder locks on, emitting `Resynced`, at the first candidate that is
/// *confirmed*: either the header right after its payload is plausible with
/// the same MASK bit (a chain of two), or its payload ends exactly at the end
/// of the chunk (frames often end a segment). If no candidate is confirmed,
/// the first one whose chain reaches past the chunk (or a plausible one at
/// the chunk start, which is tried before any later offset) is followed
/// *tentatively*: its payload is skipped, and the header after it decides.
/// Payloads are never buffered, so when that header is implausible the
/// bytes in between are gone, and hunting restarts at the current position.
/// A candidate is thus never accepted on its own: a chain of two, or one
/// frame ending a segment, is required.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Option<Role>,
    cfg: DecoderConfig,
    state: State,
    offset: u64,
    hdr: [u8; MAX_HEADER_LEN],
    hdr_len: u8,
    /// Stream offset of the header being collected.
    hdr_start: u64,
    ctl: [u8; MAX_CONTROL_PAYLOAD],
    fragments: Fragments,
    close_seen: bool,
    inferred_masked: Option<bool>,
    tentative: Option<Tentative>,
    /// Where sync was lost: `Resynced::skipped` counts from here.
    hunt_from: u64,
}

impl FrameDecoder {
    /// A decoder for a stream that starts at a frame boundary (right after
    /// the HTTP Upgrade handshake), sent by `role`.
    pub fn new(role: Role, cfg: DecoderConfig) -> Self {
        FrameDecoder {
            role: Some(role),
            cfg,
            state: State::Header,
            offset: 0,
            hdr: [0; MAX_HEADER_LEN],
            hdr_len: 0,
            hdr_start: 0,
            ctl: [0; MAX_CONTROL_PAYLOAD],
            fragments: Fragments::Idle,
            close_seen: false,
            inferred_masked: None,
            tentative: None,
            hunt_from: 0,
        }
    }

    /// A decoder for a stream caught mid-way (no handshake seen): it hunts
    /// for a frame boundary first. `role` is the sender when known. Without
    /// a handshake the extensions are unknown: pass `permessage_deflate: true`
    /// unless known otherwise, or compressed frames (RSV1) are never locked on.
    pub fn new_midstream(role: Option<Role>, cfg: DecoderConfig) -> Self {
        let mut d = FrameDecoder::new(Role::Client, cfg);
        d.role = role;
        d.state = State::Hunt;
        d.fragments = Fragments::Unknown;
        d
    }

    /// Stream offset of the next byte expected by [`on_data`](Self::on_data).
    pub fn stream_offset(&self) -> u64 {
        self.offset
    }

    /// Whether the decoder currently follows frame boundaries (a tentative
    /// lock-on counts as not yet in sync).
    pub fn in_sync(&self) -> bool {
        self.state != State::Hunt && self.tentative.is_none()
    }

    /// The MASK bit of the frames decoded in sync so far (the first frame
    /// after a lock-on, or the first frame of the stream), so that a caller
    /// without a handshake can tell the client: its frames are masked (§5.1).
    pub fn inferred_masked(&self) -> Option<bool> {
        self.inferred_masked
    }

    /// The sender: as given, else as inferred from masking.
    pub fn role(&self) -> Option<Role> {
        self.role.or(self.inferred_masked.map(Role::from_masked))
    }

    /// Feeds the next in-order bytes of the stream.
    pub fn on_data(&mut self, bytes: &[u8], out: &mut impl FnMut(Event<'_>)) {
        let mut rest = bytes;
        let mut chunk_start = true;
        while !rest.is_empty() {
            let used = match self.state {
                State::Header => self.step_header(rest, out),
                State::Control { .. } => self.step_control(rest, out),
                State::Skip { remaining } => self.step_skip(rest, remaining),
                State::Hunt => self.step_hunt(rest, chunk_start, out),
            };
            // Each step uses at most what it was given; a step that uses
            // nothing changes state, so the loop progresses.
            let used = used.min(rest.len());
            self.offset += used as u64;
            rest = rest.get(used..).unwrap_or_default();
            chunk_start = false;
        }
    }

    /// `len` bytes of the stream were never seen. Inside a payload that is
    /// being skipped this changes nothing; anywhere else (a header, a control
    /// payload, past the end of the payload) frame boundaries are lost and the
    /// decoder hunts again.
    pub fn on_gap(&mut self, len: u64) {
        if len == 0 {
            return;
        }
        let gap_start = self.offset;
        self.offset = self.offset.saturating_add(len);
        match self.state {
            State::Skip { remaining } if len <= remaining => {
                self.state = if len == remaining {
                    State::Header
                } else {
                    State::Skip {
                        remaining: remaining - len,
                    }
                };
            }
            State::Hunt => {}
            State::Skip { .. } => self.lose_sync(gap_start),
            State::Header if self.hdr_len == 0 => self.lose_sync(gap_start),
            State::Header => self.lose_sync(self.hdr_start),
            State::Control { start, .. } => self.lose_sync(start),
        }
    }

    /// Starts hunting; `from` is where the undecoded bytes begin.
    fn lose_sync(&mut self, from: u64) {
        if self.tentative.take().is_none() {
            // Still counting from the first loss while a lock-on is unconfirmed.
            self.hunt_from = from;
        }
        self.state = State::Hunt;
        self.hdr_len = 0;
        self.fragments = Fragments::Unknown;
    }

    /// The MASK bit frames of this stream are expected to carry.
    fn expected_mask(&self) -> Option<bool> {
        self.role.map(Role::masks).or(self.inferred_masked)
    }

    fn step_skip(&mut self, data: &[u8], remaining: u64) -> usize {
        let avail = data.len() as u64;
        if avail < remaining {
            self.state = State::Skip {
                remaining: remaining - avail,
            };
            data.len()
        } else {
            self.state = State::Header;
            // `remaining <= avail`, so it fits in usize.
            remaining as usize
        }
    }

    fn step_header(&mut self, data: &[u8], out: &mut impl FnMut(Event<'_>)) -> usize {
        if self.hdr_len == 0 {
            self.hdr_start = self.offset;
        }
        let have = usize::from(self.hdr_len);
        let need = if have < 2 {
            2
        } else {
            usize::from(header_len_from_second(self.hdr[1]))
        };
        let take = need.saturating_sub(have).min(data.len());
        let (Some(dst), Some(src)) = (self.hdr.get_mut(have..have + take), data.get(..take)) else {
            return data.len();
        };
        dst.copy_from_slice(src);
        self.hdr_len += take as u8;
        let Some(header) = FrameHeader::parse_lenient(&self.hdr[..usize::from(self.hdr_len)])
        else {
            return take;
        };
        self.hdr_len = 0;
        self.on_header(header, out);
        take
    }

    fn step_control(&mut self, data: &[u8], out: &mut impl FnMut(Event<'_>)) -> usize {
        let State::Control { header, start, got } = self.state else {
            return data.len();
        };
        let len = header.payload_len as usize; // ≤ 125 in this state
        let have = usize::from(got);
        let take = len.saturating_sub(have).min(data.len());
        let (Some(dst), Some(src)) = (self.ctl.get_mut(have..have + take), data.get(..take)) else {
            return data.len();
        };
        // RFC 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of the key.
        for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
            *d = match header.mask {
                Some(key) => s ^ key[(have + i) % 4],
                None => *s,
            };
        }
        let got = (have + take) as u8;
        if usize::from(got) < len {
            self.state = State::Control { header, start, got };
        } else {
            self.state = State::Header;
            self.frame_done(header, start, out);
        }
        take
    }

    /// A control payload has been read in full.
    fn frame_done(&mut self, header: FrameHeader, start: u64, out: &mut impl FnMut(Event<'_>)) {
        if let Some(Tentative::Candidate) = self.tentative {
            // Reported once the next header confirms the candidate.
            self.tentative = Some(Tentative::AwaitNext { header, start });
            return;
        }
        self.emit_control(header, start, out);
    }

    fn emit_control(&mut self, header: FrameHeader, start: u64, out: &mut impl FnMut(Event<'_>)) {
        let len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        let payload = self.ctl.get(..len).unwrap_or_default();
        out(Event::Frame {
            header,
            start,
            control_payload: Some(payload),
        });
        if header.opcode != Opcode::Close {
            return;
        }
        self.close_seen = true;
        // RFC 6455 §5.5.1: an optional body starting with a 2-byte status
        // code (§7.4), then a UTF-8 reason.
        let at = start;
        match payload {
            [] => {}
            [_] => out(Event::Violation {
                violation: Violation::CloseBodyOneByte,
                at,
            }),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close_code_valid_on_wire(code) {
                    out(Event::Violation {
                        violation: Violation::InvalidCloseCode(code),
                        at,
                    });
                }
                if std::str::from_utf8(reason).is_err() {
                    out(Event::Violation {
                        violation: Violation::InvalidUtf8CloseReason,
                        at,
                    });
                }
            }
        }
    }

    /// A complete header at `self.hdr_start`.
    fn on_header(&mut self, header: FrameHeader, out: &mut impl FnMut(Event<'_>)) {
        let start = self.hdr_start;
        match self.tentative {
            Some(Tentative::Candidate) => {
                if !header.plausible(self.cfg, self.expected_mask()) {
                    // Only reachable when the candidate's header straddled a chunk.
                    self.lose_sync(start);
                    return;
                }
                self.begin_payload(header, start, out);
                return;
            }
            Some(Tentative::AwaitNext {
                header: cand,
                start: cand_start,
            }) => {
                let masked = Some(cand.mask.is_some());
                if !header.plausible(self.cfg, masked) {
                    // The chain is broken and the payload bytes are gone:
                    // hunt again from here.
                    self.lose_sync(start);
                    return;
                }
                self.tentative = None;
                out(Event::Resynced {
                    skipped: cand_start.saturating_sub(self.hunt_from),
                });
                self.inferred_masked = masked;
                self.check_header(&cand, cand_start, out);
                if cand.opcode.is_control() {
                    self.emit_control(cand, cand_start, out);
                } else {
                    out(Event::Frame {
                        header: cand,
                        start: cand_start,
                        control_payload: None,
                    });
                }
            }
            None => {}
        }
        if header.length_top_bit_set() {
            // RFC 6455 §5.2: not a length any sender can mean; the stream
            // is garbage or out of sync.
            out(Event::Violation {
                violation: Violation::LengthTopBitSet,
                at: start,
            });
            self.lose_sync(start);
            return;
        }
        if self.inferred_masked.is_none() {
            self.inferred_masked = Some(header.mask.is_some());
        }
        self.check_header(&header, start, out);
        self.begin_payload(header, start, out);
    }

    /// Moves past a header: collect a control payload or skip a payload.
    fn begin_payload(&mut self, header: FrameHeader, start: u64, out: &mut impl FnMut(Event<'_>)) {
        let candidate = self.tentative.is_some();
        if header.opcode.is_control() && header.payload_len <= MAX_CONTROL_PAYLOAD as u64 {
            self.state = State::Control {
                header,
                start,
                got: 0,
            };
            if header.payload_len == 0 {
                self.state = State::Header;
                self.frame_done(header, start, out);
            }
            return;
        }
        if candidate {
            self.tentative = Some(Tentative::AwaitNext { header, start });
        } else {
            out(Event::Frame {
                header,
                start,
                control_payload: None,
            });
        }
        self.state = if header.payload_len == 0 {
            State::Header
        } else {
            State::Skip {
                remaining: header.payload_len,
            }
        };
    }

    /// The per-header rules of RFC 6455 §5, each reported as a violation.
    fn check_header(&mut self, h: &FrameHeader, at: u64, out: &mut impl FnMut(Event<'_>)) {
        let mut flag = |violation| out(Event::Violation { violation, at });
        // §5.1: clients mask, servers do not.
        match (self.role(), h.mask.is_some()) {
            (Some(Role::Client), false) => flag(Violation::UnmaskedClientFrame),
            (Some(Role::Server), true) => flag(Violation::MaskedServerFrame),
            _ => {}
        }
        // §5.2: reserved opcodes.
        if let Opcode::Reserved(bits) = h.opcode {
            flag(Violation::ReservedOpcode(bits));
        }
        // §5.2: RSV bits need an extension; RFC 7692 §6: permessage-deflate
        // sets RSV1 on the first frame of a Text or Binary message only.
        let rsv1_ok =
            self.cfg.permessage_deflate && matches!(h.opcode, Opcode::Text | Opcode::Binary);
        let bad_rsv = if rsv1_ok { h.rsv & !RSV1 } else { h.rsv };
        if bad_rsv != 0 {
            flag(Violation::ReservedBits { rsv: h.rsv });
        }
        // §5.2: minimal length encoding.
        if !h.is_length_minimal() {
            flag(Violation::NonMinimalLength { len: h.payload_len });
        }
        if h.opcode.is_control() {
            // §5.5: control frames are short and never fragmented.
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                flag(Violation::ControlTooLong { len: h.payload_len });
            }
            if !h.fin {
                flag(Violation::FragmentedControl);
            }
            return;
        }
        if h.opcode.is_data() && self.close_seen {
            // §5.5.1: nothing but control frames after a Close.
            flag(Violation::DataAfterClose);
        }
        // §5.4: a message is one Text/Binary frame, then continuations up to FIN.
        self.fragments = match (self.fragments, h.opcode, h.fin) {
            // Continuation with nothing open.
            (Fragments::Idle, Opcode::Continuation, _) => {
                flag(Violation::ContinuationWithoutStart);
                Fragments::Idle
            }
            // Continuation of an open (or, after resync, presumably open) message.
            (Fragments::Open | Fragments::Unknown, Opcode::Continuation, fin) => {
                if fin {
                    Fragments::Idle
                } else {
                    Fragments::Open
                }
            }
            // A new message while one is open.
            (Fragments::Open, Opcode::Text | Opcode::Binary, fin) => {
                flag(Violation::DataFrameInsideFragmentedMessage);
                if fin {
                    Fragments::Idle
                } else {
                    Fragments::Open
                }
            }
            // A new message.
            (_, Opcode::Text | Opcode::Binary, fin) => {
                if fin {
                    Fragments::Idle
                } else {
                    Fragments::Open
                }
            }
            // Reserved non-control opcodes leave the message state alone.
            (state, _, _) => state,
        };
    }

    /// Looks for a frame boundary in `data` (see the resync rule above).
    fn step_hunt(
        &mut self,
        data: &[u8],
        chunk_start: bool,
        out: &mut impl FnMut(Event<'_>),
    ) -> usize {
        let masked = self.expected_mask();
        let mut fallback = None;
        for (i, tail) in (0..data.len()).filter_map(|i| Some((i, data.get(i..)?))) {
            let Some(h) = FrameHeader::parse_lenient(tail) else {
                // Header cut by the end of the chunk: worth a tentative look
                // if its first byte(s) could start a frame.
                if fallback.is_none() && prefix_plausible(tail, self.cfg, masked) {
                    fallback = Some(i);
                }
                continue;
            };
            if !h.plausible(self.cfg, masked) {
                continue;
            }
            match chain(tail, &h, self.cfg) {
                Chain::Confirmed => {
                    self.lock(i, h, true, out);
                    return i;
                }
                Chain::Broken => {}
                Chain::BeyondChunk if i == 0 && chunk_start => {
                    self.lock(i, h, false, out);
                    return i;
                }
                Chain::BeyondChunk => {
                    fallback = fallback.or(Some(i));
                }
            }
        }
        match fallback {
            Some(i) => {
                self.tentative = Some(Tentative::Candidate);
                self.state = State::Header;
                i
            }
            None => data.len(),
        }
    }

    /// Locks onto the candidate at `i` bytes from the current offset; the
    /// `Header` state then decodes it.
    fn lock(&mut self, i: usize, h: FrameHeader, confirmed: bool, out: &mut impl FnMut(Event<'_>)) {
        self.state = State::Header;
        self.hdr_len = 0;
        if confirmed {
            let start = self.offset + i as u64;
            out(Event::Resynced {
                skipped: start.saturating_sub(self.hunt_from),
            });
            self.inferred_masked = Some(h.mask.is_some());
            self.tentative = None;
        } else {
            self.tentative = Some(Tentative::Candidate);
        }
    }
}

/// What the bytes after a candidate frame say about it.
enum Chain {
    /// The next header is plausible, or the frame ends the buffer exactly.
    Confirmed,
    /// The next header is implausible.
    Broken,
    /// The next header is not (wholly) in the buffer.
    BeyondChunk,
}

/// Checks the header following the frame `h` that starts `buf`.
fn chain(buf: &[u8], h: &FrameHeader, cfg: DecoderConfig) -> Chain {
    let Some(end) = h.frame_len().and_then(|n| usize::try_from(n).ok()) else {
        return Chain::BeyondChunk;
    };
    match buf.get(end..) {
        None => Chain::BeyondChunk,
        Some([]) => Chain::Confirmed,
        Some(next) => match FrameHeader::parse_lenient(next) {
            Some(n) if n.plausible(cfg, Some(h.mask.is_some())) => Chain::Confirmed,
            Some(_) => Chain::Broken,
            None if prefix_plausible(next, cfg, Some(h.mask.is_some())) => Chain::BeyondChunk,
            None => Chain::Broken,
        },
    }
}

/// Whether an incomplete header (1 to 13 bytes) could still be plausible.
fn prefix_plausible(prefix: &[u8], cfg: DecoderConfig, masked: Option<bool>) -> bool {
    // Judge only what the first two bytes say, as if the rest were minimal.
    let b0 = prefix.first().copied().unwrap_or(0);
    let h = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0b111,
        opcode: Opcode::from_bits(b0),
        mask: None,
        payload_len: 0,
        header_len: 2,
    };
    let Some(&b1) = prefix.get(1) else {
        // One byte: the opcode, FIN and RSV bits only.
        return h.plausible(cfg, None);
    };
    let len7 = b1 & 0x7F;
    let is_masked = b1 & 0x80 != 0;
    // The extended length is unknown: only check what the 7 bits allow.
    let control_ok = !h.opcode.is_control() || len7 <= MAX_CONTROL_PAYLOAD as u8;
    let as_short = FrameHeader {
        mask: is_masked.then_some([0; 4]),
        header_len: if is_masked { 6 } else { 2 },
        ..h
    };
    control_ok && as_short.plausible(cfg, masked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owned copy of an [`Event`], to compare event sequences.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Frame {
            header: FrameHeader,
            start: u64,
            payload: Option<Vec<u8>>,
        },
        Violation {
            violation: Violation,
            at: u64,
        },
        Resynced {
            skipped: u64,
        },
    }

    fn own(e: Event<'_>) -> Ev {
        match e {
            Event::Frame {
                header,
                start,
                control_payload,
            } => Ev::Frame {
                header,
                start,
                payload: control_payload.map(<[u8]>::to_vec),
            },
            Event::Violation { violation, at } => Ev::Violation { violation, at },
            Event::Resynced { skipped } => Ev::Resynced { skipped },
        }
    }

    /// Feeds `chunks` in order and collects the events.
    fn feed(dec: &mut FrameDecoder, chunks: &[&[u8]]) -> Vec<Ev> {
        let mut evs = Vec::new();
        for c in chunks {
            dec.on_data(c, &mut |e| evs.push(own(e)));
        }
        evs
    }

    fn violations(evs: &[Ev]) -> Vec<Violation> {
        evs.iter()
            .filter_map(|e| match e {
                Ev::Violation { violation, .. } => Some(*violation),
                _ => None,
            })
            .collect()
    }

    fn frames(evs: &[Ev]) -> Vec<(Opcode, u64, u64)> {
        evs.iter()
            .filter_map(|e| match e {
                Ev::Frame { header, start, .. } => {
                    Some((header.opcode, header.payload_len, *start))
                }
                _ => None,
            })
            .collect()
    }

    /// Encodes a frame; `ext` forces the extended length size (0, 2 or 8)
    /// to build non-minimal encodings.
    fn encode_with(first: u8, mask: Option<[u8; 4]>, payload: &[u8], ext: Option<u8>) -> Vec<u8> {
        let len = payload.len() as u64;
        let ext = ext.unwrap_or(match len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        });
        let mbit = if mask.is_some() { 0x80 } else { 0 };
        let mut v = vec![first];
        match ext {
            0 => v.push(mbit | len as u8),
            2 => {
                v.push(mbit | 126);
                v.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                v.push(mbit | 127);
                v.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(key) = mask {
            v.extend_from_slice(&key);
            v.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            v.extend_from_slice(payload);
        }
        v
    }

    fn encode(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let first = if fin { 0x80 } else { 0 } | opcode;
        encode_with(first, mask, payload, None)
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn client() -> FrameDecoder {
        FrameDecoder::new(Role::Client, DecoderConfig::default())
    }

    fn server() -> FrameDecoder {
        FrameDecoder::new(Role::Server, DecoderConfig::default())
    }

    /// A tiny xorshift64* generator: deterministic randomized tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn parse_short_16_and_64_bit_lengths() {
        let h = FrameHeader::parse(&encode(true, 1, None, b"hello"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.header_len, h.mask),
            (true, Opcode::Text, 5, 2, None)
        );
        let big = vec![0u8; 300];
        let h = FrameHeader::parse(&encode(false, 2, Some(KEY), &big))
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.header_len, h.mask),
            (false, Opcode::Binary, 300, 8, Some(KEY))
        );
        let huge = vec![0u8; 70_000];
        let h = FrameHeader::parse(&encode(true, 2, None, &huge))
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, h.header_len), (70_000, 10));
    }

    #[test]
    fn parse_needs_more_until_header_complete() {
        let bytes = encode(true, 2, Some(KEY), &[0u8; 70_000]);
        for n in 0..14 {
            assert_eq!(FrameHeader::parse(&bytes[..n]), Ok(None), "prefix {n}");
        }
        assert_eq!(
            FrameHeader::parse(&bytes[..14])
                .unwrap()
                .unwrap()
                .payload_len,
            70_000
        );
    }

    #[test]
    fn parse_rejects_non_minimal_and_top_bit_lengths() {
        let e = FrameHeader::parse(&encode_with(0x82, None, &[0; 5], Some(2)));
        assert_eq!(
            e,
            Err(HeaderError::NonMinimalLength {
                len: 5,
                encoded_bytes: 2
            })
        );
        let e = FrameHeader::parse(&encode_with(0x82, None, &[0; 200], Some(8)));
        assert_eq!(
            e,
            Err(HeaderError::NonMinimalLength {
                len: 200,
                encoded_bytes: 8
            })
        );
        let mut top = vec![0x82, 127];
        top.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
        assert_eq!(
            FrameHeader::parse(&top),
            Err(HeaderError::LengthTopBitSet { len: 1 << 63 | 5 })
        );
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_events() {
        let mut stream = encode(false, 1, Some(KEY), b"frag-one");
        stream.extend(encode(true, 9, Some(KEY), b"ping!"));
        stream.extend(encode(true, 0, Some(KEY), &[b'x'; 300]));
        stream.extend(encode(true, 2, Some(KEY), &[7u8; 70_000]));
        stream.extend(encode(true, 8, Some(KEY), &[0x03, 0xe8, b'b', b'y', b'e']));
        let whole = feed(&mut client(), &[&stream]);
        assert_eq!(
            frames(&whole),
            vec![
                (Opcode::Text, 8, 0),
                (Opcode::Ping, 5, 14),
                (Opcode::Continuation, 300, 25),
                (Opcode::Binary, 70_000, 333),
                (Opcode::Close, 5, 70_347),
            ]
        );
        assert!(violations(&whole).is_empty(), "{whole:?}");
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(feed(&mut client(), &[a, b]), whole, "cut at {cut}");
        }
        // Also byte by byte.
        let mut dec = client();
        let singles: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(feed(&mut dec, &singles), whole);
        assert_eq!(dec.stream_offset(), stream.len() as u64);
    }

    #[test]
    fn many_frames_in_one_chunk() {
        let mut stream = Vec::new();
        for i in 0..50u8 {
            stream.extend(encode(true, 1, None, &vec![b'a'; usize::from(i)]));
            stream.extend(encode(true, 10, None, &[i]));
        }
        let evs = feed(&mut server(), &[&stream]);
        assert_eq!(frames(&evs).len(), 100);
        assert!(violations(&evs).is_empty());
        let pongs: Vec<u8> = evs
            .iter()
            .filter_map(|e| match e {
                Ev::Frame {
                    payload: Some(p), ..
                } => p.first().copied(),
                _ => None,
            })
            .collect();
        assert_eq!(pongs, (0..50).collect::<Vec<u8>>());
    }

    #[test]
    fn masked_control_payload_is_unmasked() {
        let frame = encode(true, 9, Some(KEY), b"Hello, masked world");
        assert_ne!(&frame[6..], b"Hello, masked world");
        for cut in 0..frame.len() {
            let evs = feed(&mut client(), &[&frame[..cut], &frame[cut..]]);
            assert_eq!(
                evs,
                vec![Ev::Frame {
                    header: FrameHeader::parse(&frame).unwrap().unwrap(),
                    start: 0,
                    payload: Some(b"Hello, masked world".to_vec())
                }]
            );
        }
    }

    fn violations_of(dec: &mut FrameDecoder, stream: &[u8]) -> Vec<Violation> {
        violations(&feed(dec, &[stream]))
    }

    #[test]
    fn masking_by_role() {
        let unmasked = encode(true, 1, None, b"x");
        let masked = encode(true, 1, Some(KEY), b"x");
        assert_eq!(
            violations_of(&mut client(), &unmasked),
            vec![Violation::UnmaskedClientFrame]
        );
        assert_eq!(
            violations_of(&mut server(), &masked),
            vec![Violation::MaskedServerFrame]
        );
        assert!(violations_of(&mut client(), &masked).is_empty());
        assert!(violations_of(&mut server(), &unmasked).is_empty());
    }

    #[test]
    fn control_frame_rules() {
        let long = encode(true, 9, None, &[0; 126]);
        let evs = feed(&mut server(), &[&long, &encode(true, 10, None, b"ok")]);
        assert_eq!(
            violations(&evs),
            vec![Violation::ControlTooLong { len: 126 }]
        );
        // The long one is reported without payload and skipped; the next is intact.
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Ping, 126, 0), (Opcode::Pong, 2, 130)]
        );
        assert_eq!(
            violations_of(&mut server(), &encode(false, 9, None, b"p")),
            vec![Violation::FragmentedControl]
        );
    }

    #[test]
    fn reserved_opcodes_and_bits() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let v = violations_of(&mut server(), &encode(true, op, None, b"zz"));
            assert_eq!(v, vec![Violation::ReservedOpcode(op)], "opcode {op}");
        }
        for rsv in 1u8..8 {
            let f = encode_with(0x81 | rsv << 4, None, b"zz", None);
            assert_eq!(
                violations_of(&mut server(), &f),
                vec![Violation::ReservedBits { rsv }]
            );
        }
        // RFC 7692 §6: RSV1 only on the first frame of a data message.
        let cfg = DecoderConfig {
            permessage_deflate: true,
        };
        let mut s = encode_with(0x41, None, b"a", None); // RSV1, no FIN, text
        s.extend(encode_with(0xC0, None, b"b", None)); // RSV1 on a continuation
        s.extend(encode_with(0xC9, None, b"c", None)); // RSV1 on a ping
        s.extend(encode_with(0xA2, None, b"d", None)); // RSV2 on binary
        let v = violations_of(&mut FrameDecoder::new(Role::Server, cfg), &s);
        assert_eq!(
            v,
            vec![
                Violation::ReservedBits { rsv: 4 },
                Violation::ReservedBits { rsv: 4 },
                Violation::ReservedBits { rsv: 2 }
            ]
        );
    }

    #[test]
    fn non_minimal_length_is_a_violation_and_decoding_goes_on() {
        let mut s = encode_with(0x81, None, b"abc", Some(2));
        s.extend(encode_with(0x82, None, &[1; 200], Some(8)));
        s.extend(encode(true, 9, None, b""));
        let evs = feed(&mut server(), &[&s]);
        assert_eq!(
            violations(&evs),
            vec![
                Violation::NonMinimalLength { len: 3 },
                Violation::NonMinimalLength { len: 200 }
            ]
        );
        assert_eq!(
            frames(&evs),
            vec![
                (Opcode::Text, 3, 0),
                (Opcode::Binary, 200, 7),
                (Opcode::Ping, 0, 217)
            ]
        );
    }

    #[test]
    fn top_bit_length_is_a_violation_then_hunting() {
        let mut s = vec![0x82, 127];
        s.extend_from_slice(&(1u64 << 63).to_be_bytes());
        let mut dec = server();
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(
            evs,
            vec![Ev::Violation {
                violation: Violation::LengthTopBitSet,
                at: 0
            }]
        );
        assert!(!dec.in_sync());
        // The next segment starts a frame and ends with it: lock on.
        let evs = feed(&mut dec, &[&encode(true, 10, None, b"p")]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 10 });
        assert_eq!(frames(&evs), vec![(Opcode::Pong, 1, 10)]);
    }

    #[test]
    fn fragmentation_rules() {
        let cont = encode(true, 0, None, b"c");
        assert_eq!(
            violations_of(&mut server(), &cont),
            vec![Violation::ContinuationWithoutStart]
        );
        let mut s = encode(false, 1, None, b"a");
        s.extend(encode(true, 9, None, b"")); // control frames may interleave (§5.4)
        s.extend(encode(true, 2, None, b"b"));
        assert_eq!(
            violations_of(&mut server(), &s),
            vec![Violation::DataFrameInsideFragmentedMessage]
        );
        let mut ok = encode(false, 1, None, b"a");
        ok.extend(encode(false, 0, None, b"b"));
        ok.extend(encode(true, 0, None, b"c"));
        ok.extend(encode(true, 2, None, b"d"));
        assert!(violations_of(&mut server(), &ok).is_empty());
    }

    #[test]
    fn close_body_rules() {
        let close = |body: &[u8]| violations_of(&mut server(), &encode(true, 8, None, body));
        assert!(close(b"").is_empty());
        assert_eq!(close(&[0x03]), vec![Violation::CloseBodyOneByte]);
        for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(close(&code.to_be_bytes()).is_empty(), "{code}");
        }
        for code in [
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert_eq!(
                close(&code.to_be_bytes()),
                vec![Violation::InvalidCloseCode(code)],
                "{code}"
            );
        }
        let mut bad = 1000u16.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(close(&bad), vec![Violation::InvalidUtf8CloseReason]);
        let mut good = 1000u16.to_be_bytes().to_vec();
        good.extend_from_slice("au revoir, ça va".as_bytes());
        assert!(close(&good).is_empty());
    }

    #[test]
    fn data_after_close() {
        let mut s = encode(true, 8, None, &1000u16.to_be_bytes());
        s.extend(encode(true, 10, None, b""));
        s.extend(encode(true, 1, None, b"late"));
        let evs = feed(&mut server(), &[&s]);
        // The violation comes just before the late frame's event.
        assert_eq!(
            evs.get(evs.len() - 2),
            Some(&Ev::Violation {
                violation: Violation::DataAfterClose,
                at: 6
            })
        );
        assert_eq!(frames(&evs).last(), Some(&(Opcode::Text, 4, 6)));
        assert_eq!(violations(&evs).len(), 1);
    }

    #[test]
    fn violations_precede_the_frame_and_close_body_ones_follow() {
        let evs = feed(&mut client(), &[&encode(true, 8, None, &[1])]);
        assert!(matches!(
            evs.as_slice(),
            [
                Ev::Violation {
                    violation: Violation::UnmaskedClientFrame,
                    at: 0
                },
                Ev::Frame { .. },
                Ev::Violation {
                    violation: Violation::CloseBodyOneByte,
                    at: 0
                },
            ]
        ));
    }

    #[test]
    fn every_violation_has_a_distinct_code() {
        let all = [
            Violation::UnmaskedClientFrame,
            Violation::MaskedServerFrame,
            Violation::ControlTooLong { len: 200 },
            Violation::FragmentedControl,
            Violation::ReservedOpcode(3),
            Violation::ReservedBits { rsv: 1 },
            Violation::NonMinimalLength { len: 1 },
            Violation::LengthTopBitSet,
            Violation::ContinuationWithoutStart,
            Violation::DataFrameInsideFragmentedMessage,
            Violation::CloseBodyOneByte,
            Violation::InvalidCloseCode(1005),
            Violation::InvalidUtf8CloseReason,
            Violation::DataAfterClose,
        ];
        let mut codes: Vec<_> = all.iter().map(Violation::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(
            Violation::InvalidCloseCode(1005).to_string(),
            "close code 1005 is not valid on the wire"
        );
    }

    #[test]
    fn gap_inside_data_payload_keeps_sync() {
        let f1 = encode(true, 2, None, &[9; 1000]);
        let f2 = encode(true, 10, None, b"pong");
        let mut dec = server();
        let mut evs = feed(&mut dec, &[&f1[..100]]);
        dec.on_gap(500);
        assert!(dec.in_sync());
        evs.extend(feed(&mut dec, &[&f1[600..], &f2]));
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Binary, 1000, 0), (Opcode::Pong, 4, 1004)]
        );
        assert!(!evs.iter().any(|e| matches!(e, Ev::Resynced { .. })));
        // A gap ending exactly at the payload end keeps sync too.
        let mut dec = server();
        feed(&mut dec, &[&f1[..4]]);
        dec.on_gap(1000);
        assert!(dec.in_sync());
        assert_eq!(
            frames(&feed(&mut dec, &[&f2])),
            vec![(Opcode::Pong, 4, 1004)]
        );
    }

    #[test]
    fn gap_inside_header_or_past_payload_resyncs() {
        let f1 = encode(true, 2, None, &[9; 1000]);
        let f2 = encode(true, 10, None, b"pong");
        let f3 = encode(true, 1, None, b"text");
        // Gap inside the header of f1: hunting; the next segment (f2 + f3)
        // starts a chain of two frames.
        let mut dec = server();
        feed(&mut dec, &[&f1[..1]]);
        dec.on_gap(3);
        assert!(!dec.in_sync());
        feed(&mut dec, &[&f1[4..]])
            .iter()
            .for_each(|e| assert!(!matches!(e, Ev::Frame { .. })));
        let mut seg = f2.clone();
        seg.extend_from_slice(&f3);
        let evs = feed(&mut dec, &[&seg]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 1004 });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Pong, 4, 1004), (Opcode::Text, 4, 1010)]
        );
        assert!(dec.in_sync());
        // Gap running past the payload end.
        let mut dec = server();
        feed(&mut dec, &[&f1[..10]]);
        dec.on_gap(996); // the rest of f1 and f2's 2-byte header
        assert!(!dec.in_sync());
        let evs = feed(&mut dec, &[&f2[2..], &f3]);
        assert_eq!(
            evs.first(),
            Some(&Ev::Resynced { skipped: 1000 }),
            "{evs:?}"
        );
        assert_eq!(frames(&evs), vec![(Opcode::Text, 4, 1010)]);
    }

    #[test]
    fn gap_inside_control_payload_resyncs() {
        let ping = encode(true, 9, Some(KEY), b"0123456789");
        let mut dec = client();
        feed(&mut dec, &[&ping[..8]]);
        dec.on_gap(4);
        assert!(!dec.in_sync());
        let evs = feed(&mut dec, &[&ping[12..]]);
        assert!(frames(&evs).is_empty(), "{evs:?}");
    }

    #[test]
    fn midstream_locks_after_garbage_and_infers_masking() {
        // Tail of a text payload (ASCII never looks like a header without
        // deflate: bit 0x20 or 0x40 is an RSV bit), then masked frames.
        let mut s = b"the end of some JSON payload\"}]}".to_vec();
        let garbage = s.len() as u64;
        s.extend(encode(true, 1, Some(KEY), b"{\"a\":1}"));
        s.extend(encode(true, 9, Some(KEY), b"hb"));
        let mut dec = FrameDecoder::new_midstream(None, DecoderConfig::default());
        assert_eq!(dec.inferred_masked(), None);
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(evs[0], Ev::Resynced { skipped: garbage });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Text, 7, garbage), (Opcode::Ping, 2, garbage + 13)]
        );
        assert!(violations(&evs).is_empty());
        assert_eq!(dec.inferred_masked(), Some(true));
        assert_eq!(dec.role(), Some(Role::Client));
    }

    #[test]
    fn midstream_tentative_lock_confirmed_by_next_header() {
        // A big frame spans chunks: followed tentatively, confirmed by the next header.
        let big = encode(true, 2, None, &[0xAB; 5000]);
        let pong = encode(true, 10, None, b"");
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        let mut evs = feed(&mut dec, &[&big[..1400]]);
        assert!(evs.is_empty());
        assert!(!dec.in_sync());
        evs.extend(feed(&mut dec, &[&big[1400..], &pong]));
        assert_eq!(evs[0], Ev::Resynced { skipped: 0 });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Binary, 5000, 0), (Opcode::Pong, 0, 5004)]
        );
        assert!(dec.in_sync());
    }

    #[test]
    fn midstream_tentative_lock_refuted_restarts_hunting() {
        // The chunk starts with bytes that read as a 16-bit-length binary
        // header; what follows that "payload" is ASCII, not a header.
        let mut fake = vec![0x82, 126, 0x01, 0x00]; // claims 256 bytes
        fake.extend_from_slice(&[0xAA; 96]);
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        assert!(feed(&mut dec, &[&fake]).is_empty());
        let mut rest = vec![0x55u8; 160]; // the remaining 160 payload bytes
        rest.extend_from_slice(b"zzzz"); // where the next header should be
        let mut evs = feed(&mut dec, &[&rest]);
        assert!(evs.is_empty(), "{evs:?}");
        assert!(!dec.in_sync());
        // A genuine frame chain later locks on.
        let mut seg = encode(true, 1, None, b"hi");
        seg.extend(encode(true, 1, None, b"yo"));
        evs.extend(feed(&mut dec, &[&seg]));
        assert_eq!(evs[0], Ev::Resynced { skipped: 264 });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Text, 2, 264), (Opcode::Text, 2, 268)]
        );
    }

    #[test]
    fn hunting_needs_a_chain_of_two() {
        // At 0 a one-byte text frame, but "zz" follows it: not a chain. At 1
        // a frame running past the chunk: only a fallback. At 5 a real chain.
        let mut s = vec![0x81, 0x01, b'x', b'z', b'z'];
        s.extend(encode(true, 1, None, b"hi"));
        s.extend(encode(true, 1, None, b"yo"));
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 5 });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Text, 2, 5), (Opcode::Text, 2, 9)]
        );
    }

    #[test]
    fn hunting_prefers_a_confirmed_chain_to_a_later_offset_running_past_the_chunk() {
        // "ab", then a header claiming 32767 bytes (not at the chunk start),
        // then a real chain inside the chunk.
        let mut s = b"ab".to_vec();
        s.extend([0x82, 126, 0x7F, 0xFF]);
        s.extend(encode(true, 1, None, b"hi"));
        s.extend(encode(true, 1, None, b"yo"));
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 6 });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Text, 2, 6), (Opcode::Text, 2, 10)]
        );
    }

    #[test]
    fn hunting_candidate_header_split_across_chunks() {
        // The chunk ends inside a plausible header: it is followed
        // tentatively and confirmed by the next one.
        let frame = encode(true, 2, Some(KEY), &[5; 300]);
        let mut dec = FrameDecoder::new_midstream(None, DecoderConfig::default());
        let mut first = b"tail of a payload ".to_vec();
        first.extend_from_slice(&frame[..3]);
        assert!(feed(&mut dec, &[&first]).is_empty());
        let mut rest = frame[3..].to_vec();
        rest.extend(encode(true, 10, Some(KEY), b""));
        let evs = feed(&mut dec, &[&rest]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 18 });
        assert_eq!(
            frames(&evs),
            vec![(Opcode::Binary, 300, 18), (Opcode::Pong, 0, 326)]
        );
        assert_eq!(dec.inferred_masked(), Some(true));
        // A split candidate completed implausibly: a masked ping in a
        // server stream. Hunting goes on and a later frame locks on.
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        assert!(feed(&mut dec, &[b"xyz\x89"]).is_empty());
        assert!(!dec.in_sync());
        let evs = feed(
            &mut dec,
            &[&[0x85, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o']],
        );
        assert!(evs.is_empty(), "{evs:?}");
        assert!(!dec.in_sync());
        let evs = feed(&mut dec, &[&encode(true, 10, None, b"")]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 14 });
        assert_eq!(frames(&evs), vec![(Opcode::Pong, 0, 14)]);
    }

    #[test]
    fn hunting_chain_needs_one_mask_bit() {
        // A masked frame then an unmasked one: one direction never mixes
        // them (§5.1), so that is no chain; the unmasked frame ending the
        // chunk is where the lock goes.
        let mut s = encode(true, 1, Some(KEY), b"ab");
        s.extend(encode(true, 1, None, b"hi"));
        let mut dec = FrameDecoder::new_midstream(None, DecoderConfig::default());
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 8 });
        assert_eq!(frames(&evs), vec![(Opcode::Text, 2, 8)]);
        assert_eq!(dec.inferred_masked(), Some(false));
    }

    #[test]
    fn message_state_is_unknown_after_resync() {
        // Caught mid-message: a continuation is no violation, and the open
        // message it reveals is tracked.
        let mut s = encode(false, 0, None, b"a");
        s.extend(encode(true, 1, None, b"b"));
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(
            violations(&evs),
            vec![Violation::DataFrameInsideFragmentedMessage]
        );
        // After a gap, a message may have started unseen.
        let mut dec = server();
        feed(&mut dec, &[&encode(true, 1, None, b"a")]);
        dec.on_gap(3);
        let mut s = encode(true, 0, None, b"b");
        s.extend(encode(true, 1, None, b"c"));
        let evs = feed(&mut dec, &[&s]);
        assert_eq!(evs[0], Ev::Resynced { skipped: 3 });
        assert!(violations(&evs).is_empty(), "{evs:?}");
    }

    #[test]
    fn hunting_respects_known_role() {
        // Unmasked frames are not plausible for a client stream.
        let mut s = encode(true, 1, None, b"hi");
        s.extend(encode(true, 1, None, b"yo"));
        let mut dec = FrameDecoder::new_midstream(Some(Role::Client), DecoderConfig::default());
        assert!(feed(&mut dec, &[&s]).is_empty());
        let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
        assert_eq!(frames(&feed(&mut dec, &[&s])).len(), 2);
    }

    #[test]
    fn tungstenite_accepts_what_we_flag() {
        use std::io::Cursor;
        use tungstenite::protocol::frame::FrameHeader as TH;
        let accepted = |b: &[u8]| matches!(TH::parse(&mut Cursor::new(b)), Ok(Some(_)));
        let long_ping = encode(true, 9, None, &[0; 126]);
        let frag_ping = encode(false, 9, None, b"");
        let rsv23 = encode_with(0xB1, None, b"", None);
        let mut top = vec![0x82, 127];
        top.extend_from_slice(&u64::MAX.to_be_bytes());
        let nonmin = encode_with(0x82, None, b"ab", Some(8));
        for (bytes, expect) in [
            (&long_ping, Violation::ControlTooLong { len: 126 }),
            (&frag_ping, Violation::FragmentedControl),
            (&rsv23, Violation::ReservedBits { rsv: 3 }),
            (&top, Violation::LengthTopBitSet),
            (&nonmin, Violation::NonMinimalLength { len: 2 }),
        ] {
            assert!(accepted(bytes), "tungstenite now rejects {bytes:02x?}");
            let v = violations(&feed(&mut server(), &[bytes]));
            assert_eq!(v.first(), Some(&expect));
        }
    }

    /// Builds a random well-formed header (any RSV bits, known opcode).
    fn random_header(rng: &mut Rng) -> Vec<u8> {
        let ops = [0u8, 1, 2, 8, 9, 10];
        let first = (rng.next() as u8 & 0xF0) | ops[rng.below(6) as usize];
        let len = match rng.below(3) {
            0 => rng.below(126),
            1 => 126 + rng.below(0x10000 - 126),
            _ => 0x10000 + rng.below(1 << 62),
        };
        let mask: Option<[u8; 4]> =
            (rng.below(2) == 0).then(|| rng.next().to_le_bytes()[..4].try_into().unwrap());
        let mut v = vec![first];
        let mbit = if mask.is_some() { 0x80 } else { 0 };
        match len {
            0..=125 => v.push(mbit | len as u8),
            126..=0xFFFF => {
                v.push(mbit | 126);
                v.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                v.push(mbit | 127);
                v.extend_from_slice(&len.to_be_bytes());
            }
        }
        v.extend(mask.iter().flatten());
        v
    }

    #[test]
    fn differential_against_tungstenite_parser() {
        use std::io::Cursor;
        use tungstenite::protocol::frame::FrameHeader as TH;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let mut bytes = random_header(&mut rng);
            let hlen = bytes.len();
            bytes.extend({
                let n = rng.below(4) as usize;
                rng.bytes(n)
            }); // trailing payload bytes
            let mine = FrameHeader::parse(&bytes).unwrap().unwrap();
            let mut cur = Cursor::new(&bytes);
            let (th, len) = TH::parse(&mut cur).unwrap().unwrap();
            assert_eq!(mine.fin, th.is_final, "{bytes:02x?}");
            assert_eq!(mine.opcode.bits(), u8::from(th.opcode));
            assert_eq!(mine.mask, th.mask);
            assert_eq!(mine.payload_len, len);
            assert_eq!(usize::from(mine.header_len), hlen);
            assert_eq!(cur.position(), hlen as u64);
            assert_eq!(
                mine.rsv,
                u8::from(th.rsv1) << 2 | u8::from(th.rsv2) << 1 | u8::from(th.rsv3)
            );
            // Both need every header byte.
            let cut = rng.below(hlen as u64) as usize;
            assert_eq!(FrameHeader::parse(&bytes[..cut]), Ok(None));
            assert!(matches!(
                TH::parse(&mut Cursor::new(&bytes[..cut])),
                Ok(None)
            ));
        }
        // Random bytes: whenever both parse, they agree on every field.
        let mut both = 0;
        for _ in 0..20_000 {
            let bytes = {
                let n = rng.below(15) as usize;
                rng.bytes(n)
            };
            let mine = FrameHeader::parse_lenient(&bytes);
            let theirs = TH::parse(&mut Cursor::new(&bytes));
            if let (Some(m), Ok(Some((t, len)))) = (mine, theirs) {
                both += 1;
                assert_eq!(
                    (m.fin, m.opcode.bits(), m.mask, m.payload_len),
                    (t.is_final, u8::from(t.opcode), t.mask, len)
                );
            }
            if let Ok(Some(_)) = TH::parse(&mut Cursor::new(&bytes)) {
                assert!(
                    mine.is_some(),
                    "tungstenite parsed a header we call incomplete: {bytes:02x?}"
                );
            }
        }
        assert!(both > 1000, "too few comparable samples: {both}");
    }

    /// A random frame sequence, with some violations but no top-bit lengths
    /// (those lose sync, which makes events depend on chunking by design).
    fn random_stream(rng: &mut Rng) -> Vec<u8> {
        let mut s = Vec::new();
        for _ in 0..rng.below(20) {
            let op = [0u8, 1, 2, 8, 9, 10, 3, 0xB][rng.below(8) as usize];
            let fin = rng.below(4) != 0;
            let rsv = if rng.below(8) == 0 {
                rng.below(8) as u8
            } else {
                0
            };
            let mask: Option<[u8; 4]> =
                (rng.below(4) != 0).then(|| rng.next().to_le_bytes()[..4].try_into().unwrap());
            let len = match rng.below(6) {
                0 => 126 + rng.below(600),
                1 if op < 8 => 0x10000 + rng.below(1000),
                _ => rng.below(130),
            } as usize;
            let ext = (rng.below(10) == 0)
                .then(|| [0u8, 2, 8][rng.below(3) as usize])
                .filter(|&e| {
                    // A forced encoding must be able to hold the length.
                    (e == 0 && len < 126) || (e == 2 && len < 0x10000) || e == 8
                });
            let first = if fin { 0x80 } else { 0 } | rsv << 4 | op;
            let payload = rng.bytes(len);
            s.extend(encode_with(first, mask, &payload, ext));
        }
        s
    }

    #[test]
    fn random_chunkings_give_the_same_events_as_whole() {
        let mut rng = Rng(0xDEAD_BEEF_1234_5678);
        let mut total_frames = 0;
        for round in 0..300 {
            let stream = random_stream(&mut rng);
            let role = if rng.below(2) == 0 {
                Role::Client
            } else {
                Role::Server
            };
            let cfg = DecoderConfig {
                permessage_deflate: rng.below(2) == 0,
            };
            let whole = feed(&mut FrameDecoder::new(role, cfg), &[&stream]);
            total_frames += frames(&whole).len();
            let mut chunks = Vec::new();
            let mut rest = stream.as_slice();
            while !rest.is_empty() {
                let max = if rng.below(2) == 0 { 16 } else { 2000 };
                let n = (1 + rng.below(max) as usize).min(rest.len());
                let (a, b) = rest.split_at(n);
                chunks.push(a);
                rest = b;
            }
            let mut dec = FrameDecoder::new(role, cfg);
            assert_eq!(feed(&mut dec, &chunks), whole, "round {round}");
            assert_eq!(dec.stream_offset(), stream.len() as u64);
        }
        assert!(total_frames > 1000, "{total_frames}");
    }

    #[test]
    fn midstream_decoder_recovers_random_streams_after_random_garbage() {
        // Garbage of ASCII text (never plausible without deflate) followed by
        // a clean random stream fed whole: the lock is at the first frame
        // and all frames match an in-sync decoder's.
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for round in 0..200 {
            let mut clean = Vec::new();
            for _ in 0..2 + rng.below(10) {
                let op = [1u8, 2, 9, 10][rng.below(4) as usize];
                let len = if op >= 8 {
                    rng.below(126)
                } else {
                    rng.below(3000)
                } as usize;
                let payload = rng.bytes(len);
                clean.extend(encode(true, op, None, &payload));
            }
            let garbage: Vec<u8> = (0..rng.below(200))
                .map(|_| b' ' + rng.below(90) as u8)
                .collect();
            let mut s = garbage.clone();
            s.extend_from_slice(&clean);
            let reference = feed(&mut server(), &[&clean]);
            let mut dec = FrameDecoder::new_midstream(Some(Role::Server), DecoderConfig::default());
            let evs = feed(&mut dec, &[&s]);
            assert_eq!(
                evs.first(),
                Some(&Ev::Resynced {
                    skipped: garbage.len() as u64
                }),
                "round {round}"
            );
            let shifted: Vec<Ev> = reference
                .into_iter()
                .map(|e| match e {
                    Ev::Frame {
                        header,
                        start,
                        payload,
                    } => Ev::Frame {
                        header,
                        start: start + garbage.len() as u64,
                        payload,
                    },
                    other => other,
                })
                .collect();
            assert_eq!(evs[1..], shifted[..], "round {round}");
        }
    }

    #[test]
    fn decoder_never_panics_on_random_bytes() {
        let mut rng = Rng(42);
        for _ in 0..500 {
            let bytes = {
                let n = rng.below(3000) as usize;
                rng.bytes(n)
            };
            for midstream in [false, true] {
                let mut dec = if midstream {
                    FrameDecoder::new_midstream(
                        None,
                        DecoderConfig {
                            permessage_deflate: true,
                        },
                    )
                } else {
                    client()
                };
                let mut n = 0u64;
                for c in bytes.chunks(1 + rng.below(300) as usize) {
                    dec.on_data(c, &mut |_| n += 1);
                    if rng.below(5) == 0 {
                        dec.on_gap(rng.below(100));
                    }
                }
                assert!(dec.stream_offset() >= bytes.len() as u64);
            }
        }
    }
}
