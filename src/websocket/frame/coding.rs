//! The codes of the wire format: opcodes (RFC 6455 §5.2), the close status
//! codes an endpoint may send (§7.4), the size limits of a frame header
//! (§5.2) and of a control payload (§5.5), and payload masking (§5.3).

use std::fmt;

/// Longest possible frame header: 2 + 8 (64-bit length) + 4 (mask), RFC 6455 §5.2.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest control frame payload, RFC 6455 §5.5.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// RSV1 in the 3-bit RSV value of a header (RSV1 is the high bit).
pub(super) const RSV1: u8 = 0b100;

/// RFC 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of
/// the key; `from` is the offset in the payload of `src`'s first byte.
pub fn unmask(dst: &mut [u8], src: &[u8], mask: Option<[u8; 4]>, from: usize) {
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = match mask {
            Some(key) => s ^ key[(from + i) % 4],
            None => *s,
        };
    }
}

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

/// RFC 6455 §7.4.1 and §7.4.2: the status codes an endpoint may send in a
/// Close frame. 1004, 1005, 1006 and 1015 are reserved or meant for local
/// use only; 1016–2999 are unassigned or reserved for the protocol;
/// 3000–4999 belong to libraries and applications.
pub fn close_code_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
