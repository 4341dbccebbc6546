//! What the frame tests share (an owned copy of events, a frame encoder, a
//! deterministic random generator), and the tests that span several files
//! or draw many random inputs.

mod decoder;
mod gaps;
mod random;
mod vs_tungstenite;

use super::{
    DecoderConfig, Event, FrameDecoder, FrameHeader, Opcode, Role, Violation, MAX_CONTROL_PAYLOAD,
};

/// An owned copy of an [`Event`], to compare event sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ev {
    Frame {
        header: FrameHeader,
        start: u64,
        payload: Option<Vec<u8>>,
        complete: bool,
    },
    Violation {
        violation: Violation,
        at: u64,
    },
    Resynced {
        skipped: u64,
    },
}

pub(super) fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Frame {
            header,
            start,
            control_payload,
            payload_complete,
        } => Ev::Frame {
            header,
            start,
            payload: control_payload.map(<[u8]>::to_vec),
            complete: payload_complete,
        },
        Event::Violation { violation, at } => Ev::Violation { violation, at },
        Event::Resynced { skipped } => Ev::Resynced { skipped },
    }
}

/// Feeds `chunks` in order and collects the events.
pub(super) fn feed(dec: &mut FrameDecoder, chunks: &[&[u8]]) -> Vec<Ev> {
    let mut evs = Vec::new();
    for c in chunks {
        dec.on_data(c, &mut |e| evs.push(own(e)));
    }
    evs
}

/// Tells `dec` that `len` bytes were lost and collects the events.
pub(super) fn gap(dec: &mut FrameDecoder, len: u64) -> Vec<Ev> {
    let mut evs = Vec::new();
    dec.on_gap(len, &mut |e| evs.push(own(e)));
    evs
}

pub(super) fn violations(evs: &[Ev]) -> Vec<Violation> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Violation { violation, .. } => Some(*violation),
            _ => None,
        })
        .collect()
}

pub(super) fn frames(evs: &[Ev]) -> Vec<(Opcode, u64, u64)> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Frame { header, start, .. } => Some((header.opcode, header.payload_len, *start)),
            _ => None,
        })
        .collect()
}

/// Encodes a frame; `ext` forces the extended length size (0, 2 or 8)
/// to build non-minimal encodings.
pub(super) fn encode_with(
    first: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    ext: Option<u8>,
) -> Vec<u8> {
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

pub(super) fn encode(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let first = if fin { 0x80 } else { 0 } | opcode;
    encode_with(first, mask, payload, None)
}

pub(super) const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub(super) fn client() -> FrameDecoder {
    FrameDecoder::new(Role::Client, DecoderConfig::default())
}

pub(super) fn server() -> FrameDecoder {
    FrameDecoder::new(Role::Server, DecoderConfig::default())
}

/// A tiny xorshift64* generator: deterministic randomized tests.
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
