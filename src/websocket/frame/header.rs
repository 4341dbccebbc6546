//! The frame header (RFC 6455 §5.2) and its incremental parse: a header is
//! read from the bytes at hand, or `Ok(None)` asks for more without
//! consuming anything. Also which endpoint sent a stream ([`Role`]), since
//! that decides the MASK bit (§5.1).

use thiserror::Error;

use super::coding::Opcode;

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
///
/// [`Violation`]: super::Violation
/// [`FrameDecoder`]: super::FrameDecoder
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
pub(super) fn header_len_from_second(b1: u8) -> u8 {
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
    /// judged here: see [`FrameDecoder`](super::FrameDecoder).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::tests::{encode, encode_with, KEY};
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
}
