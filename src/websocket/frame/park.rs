//! A decoder that costs 16 bytes between frames: [`CompactDecoder`].
//!
//! Most of a [`FrameDecoder`] (the header being collected, the control
//! payload, a tentative lock-on) matters only while a frame straddles two
//! reads. A connection idle between heartbeats spends nearly all its life at
//! a frame boundary, or skipping a data payload whose length it knows, and
//! in those states five small fields say everything: so the decoder is
//! parked in them and rebuilt, on the stack, for the next read.

use super::decoder::State;
use super::violation::Fragments;
use super::{DecoderConfig, Event, FrameDecoder, Role};

/// What a [`FrameDecoder`] at rest needs to go on exactly as it would have,
/// in 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Parked {
    /// Stream offset of the next byte.
    offset: u64,
    /// Payload bytes of the current data frame still to skip; 0 at a frame
    /// boundary. A frame with more than 4 GiB left is not parked.
    skip: u32,
    role: Option<Role>,
    fragments: Fragments,
    inferred_masked: Option<bool>,
    /// permessage-deflate and a Close seen, one bit each.
    flags: u8,
}

const DEFLATE: u8 = 1;
const CLOSE_SEEN: u8 = 1 << 1;

impl FrameDecoder {
    /// The decoder's state in a few bytes, when it is in sync at a frame
    /// boundary or skipping a data payload (nothing half-read, no lock-on
    /// awaiting confirmation); `None` otherwise. The control payload buffer
    /// is not carried: it is only read while a control frame is collected.
    #[inline]
    fn park(&self) -> Option<Parked> {
        let skip = match self.state {
            State::Header if self.hdr_len == 0 => 0,
            State::Skip { remaining } => u32::try_from(remaining).ok()?,
            _ => return None,
        };
        if self.tentative.is_some() {
            return None;
        }
        let mut flags = 0;
        if self.cfg.permessage_deflate {
            flags |= DEFLATE;
        }
        if self.close_seen {
            flags |= CLOSE_SEEN;
        }
        Some(Parked {
            offset: self.offset,
            skip,
            role: self.role,
            fragments: self.fragments,
            inferred_masked: self.inferred_masked,
            flags,
        })
    }
}

impl Parked {
    #[inline]
    fn resume(self) -> FrameDecoder {
        let cfg = DecoderConfig {
            permessage_deflate: self.flags & DEFLATE != 0,
        };
        let mut d = FrameDecoder::new(Role::Client, cfg);
        d.role = self.role;
        d.state = if self.skip > 0 {
            State::Skip {
                remaining: u64::from(self.skip),
            }
        } else {
            State::Header
        };
        d.offset = self.offset;
        d.close_seen = self.flags & CLOSE_SEEN != 0;
        d.fragments = self.fragments;
        d.inferred_masked = self.inferred_masked;
        d
    }
}

enum Slot {
    Parked(Parked),
    Busy(Box<FrameDecoder>),
}

/// A [`FrameDecoder`] stored in 16 bytes while it is at rest (see the
/// module's text), and boxed only while a frame straddles two reads. It
/// reports exactly the events the decoder it wraps would.
pub struct CompactDecoder(Slot);

impl CompactDecoder {
    pub fn new(decoder: FrameDecoder) -> Self {
        CompactDecoder(Self::store(decoder))
    }

    fn store(decoder: FrameDecoder) -> Slot {
        match decoder.park() {
            Some(p) => Slot::Parked(p),
            None => Slot::Busy(Box::new(decoder)),
        }
    }

    /// Runs `f` on the decoder, unparked on the stack when it was parked,
    /// and parks it again when it comes to rest.
    #[inline]
    fn with<R>(&mut self, f: impl FnOnce(&mut FrameDecoder) -> R) -> R {
        match &mut self.0 {
            Slot::Busy(d) => {
                let r = f(d);
                if let Some(p) = d.park() {
                    self.0 = Slot::Parked(p);
                }
                r
            }
            Slot::Parked(p) => {
                let mut d = p.resume();
                let r = f(&mut d);
                match d.park() {
                    Some(p) => self.0 = Slot::Parked(p),
                    None => self.0 = Slot::Busy(Box::new(d)),
                }
                r
            }
        }
    }

    /// Whether the decoder is parked (its 16 bytes are all it holds).
    pub fn is_parked(&self) -> bool {
        matches!(self.0, Slot::Parked(_))
    }

    /// As [`FrameDecoder::on_data`].
    pub fn on_data(&mut self, bytes: &[u8], out: &mut impl FnMut(Event<'_>)) {
        self.with(|d| d.on_data(bytes, out));
    }

    /// As [`FrameDecoder::on_gap`].
    pub fn on_gap(&mut self, len: u64, out: &mut impl FnMut(Event<'_>)) {
        self.with(|d| d.on_gap(len, out));
    }

    /// As [`FrameDecoder::in_sync`]: a parked decoder is in sync.
    pub fn in_sync(&self) -> bool {
        match &self.0 {
            Slot::Parked(_) => true,
            Slot::Busy(d) => d.in_sync(),
        }
    }

    /// As [`FrameDecoder::stream_offset`].
    pub fn stream_offset(&self) -> u64 {
        match &self.0 {
            Slot::Parked(p) => p.offset,
            Slot::Busy(d) => d.stream_offset(),
        }
    }

    /// As [`FrameDecoder::inferred_masked`].
    pub fn inferred_masked(&self) -> Option<bool> {
        match &self.0 {
            Slot::Parked(p) => p.inferred_masked,
            Slot::Busy(d) => d.inferred_masked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::tests::{encode, own};

    #[test]
    fn a_payload_of_more_than_4_gib_is_skipped_boxed_then_parks() {
        let mut plain = FrameDecoder::new(Role::Server, DecoderConfig::default());
        let mut compact = CompactDecoder::new(plain.clone());
        assert!(compact.is_parked());
        // A Binary frame of 2^32 + 5 bytes (RFC 6455 §5.2, 64-bit length).
        let header = [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5];
        let (mut want, mut got) = (Vec::new(), Vec::new());
        plain.on_data(&header, &mut |e| want.push(own(e)));
        compact.on_data(&header, &mut |e| got.push(own(e)));
        assert!(!compact.is_parked(), "2^32 + 5 bytes to skip do not fit");
        plain.on_gap(1 << 32, &mut |e| want.push(own(e)));
        compact.on_gap(1 << 32, &mut |e| got.push(own(e)));
        assert!(compact.is_parked(), "5 bytes left do");
        let mut rest = vec![0; 5];
        rest.extend(encode(true, 9, None, b"hi"));
        plain.on_data(&rest, &mut |e| want.push(own(e)));
        compact.on_data(&rest, &mut |e| got.push(own(e)));
        assert_eq!(got, want);
        assert_eq!(want.len(), 2, "{want:?}");
        assert_eq!(compact.stream_offset(), plain.stream_offset());
    }
}
