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
//!
//! The module is split by concern, as tungstenite's `protocol/frame` is:
//!
//! - `coding`: the codes of the wire format: [`Opcode`], the close status
//!   codes valid on the wire ([`close_code_valid_on_wire`], §7.4), the
//!   size limits [`MAX_HEADER_LEN`] (§5.2) and [`MAX_CONTROL_PAYLOAD`]
//!   (§5.5), and payload masking (§5.3).
//! - `header`: [`FrameHeader`] and its incremental parse (`Ok(None)`: more
//!   bytes needed, nothing consumed), [`HeaderError`] for the length
//!   encodings §5.2 forbids, and the sender's [`Role`] (§5.1).
//! - `violation`: [`Violation`], the RFC 6455 rules a peer can break, with
//!   their stable codes, and the checks that find them: the per-header rules
//!   of §5 (masking, opcodes, RSV bits, length encoding, control frames,
//!   fragmentation) and those of a Close body (§5.5.1, §7.4).
//! - `decoder`: [`FrameDecoder`], its [`DecoderConfig`] and [`Event`]s: the
//!   in-sync state machine (header, control payload, skipped data payload).
//! - `hunt`: finding frame boundaries again mid-stream or after a gap: the
//!   plausibility test, chains of two frames, tentative lock-ons, and
//!   [`HUNT_MAX_PAYLOAD`].
//! - `park`: [`CompactDecoder`], a decoder stored in 16 bytes while it is
//!   at rest between frames, for the many connections kept at once.
//! - `tests/`: what the tests share, the tests about gaps, and the large
//!   randomized ones (chunkings, garbage, tungstenite's parser as a
//!   reference). Each file above holds the unit tests of its own code.

mod coding;
mod decoder;
mod header;
mod hunt;
mod park;
mod violation;

#[cfg(test)]
mod tests;

pub use coding::{close_code_valid_on_wire, unmask, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use decoder::{DecoderConfig, Event, FrameDecoder};
pub use header::{FrameHeader, HeaderError, Role};
pub use hunt::HUNT_MAX_PAYLOAD;
pub use park::CompactDecoder;
pub use violation::Violation;
