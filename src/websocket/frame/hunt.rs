//! Finding frame boundaries in a stream not in sync: when a capture starts
//! mid-stream, or after bytes were lost in a gap. A candidate header must be
//! plausible for a healthy stream and be confirmed by the frame after it
//! (a chain of two) or by ending a chunk; otherwise it is followed
//! tentatively ([`Tentative`]) until the next header decides. The full rule
//! is on [`FrameDecoder`](super::FrameDecoder).

use super::coding::{Opcode, MAX_CONTROL_PAYLOAD, RSV1};
use super::decoder::DecoderConfig;
use super::header::FrameHeader;

/// While hunting for a frame boundary, a candidate announcing a payload of at
/// least this many bytes is not believed. Real frames can be larger, but a
/// 16 MiB frame seen mid-stream is far more likely to be payload bytes that
/// happen to look like a header.
pub const HUNT_MAX_PAYLOAD: u64 = 16 * 1024 * 1024;

impl FrameHeader {
    /// Whether this header could start a frame of a healthy stream: the test
    /// used while hunting for frame boundaries. `masked` is the MASK bit the
    /// stream is known or believed to use.
    pub(super) fn plausible(&self, cfg: DecoderConfig, masked: Option<bool>) -> bool {
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

/// A lock-on not yet confirmed by the header after the candidate frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tentative {
    /// `Header` state is reading the candidate's own header.
    Candidate,
    /// The candidate (whose payload, if control, is in `ctl`) is being
    /// consumed; the next complete header confirms or refutes it.
    AwaitNext { header: FrameHeader, start: u64 },
}

/// Where [`find_boundary`] would have the decoder go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Boundary {
    /// Lock onto the frame whose header `header` starts `at` bytes into the
    /// chunk: `confirmed` by a chain of two (or by ending the chunk), or else
    /// followed tentatively, being a plausible frame at the chunk start.
    Lock {
        at: usize,
        header: FrameHeader,
        confirmed: bool,
    },
    /// No confirmed candidate: follow the first candidate whose chain (or
    /// header) runs past the chunk, at `at`, tentatively.
    Fallback { at: usize },
}

/// Looks for a frame boundary in `data` (see the resync rule of
/// [`FrameDecoder`](super::FrameDecoder)). `chunk_start`: `data` begins a
/// chunk given to the decoder; `masked`: the MASK bit expected, when known.
/// `None`: no candidate anywhere in `data`.
pub(super) fn find_boundary(
    data: &[u8],
    chunk_start: bool,
    cfg: DecoderConfig,
    masked: Option<bool>,
) -> Option<Boundary> {
    let mut fallback = None;
    for (i, tail) in (0..data.len()).filter_map(|i| Some((i, data.get(i..)?))) {
        let Some(h) = FrameHeader::parse_lenient(tail) else {
            // Header cut by the end of the chunk: worth a tentative look
            // if its first byte(s) could start a frame.
            if fallback.is_none() && prefix_plausible(tail, cfg, masked) {
                fallback = Some(i);
            }
            continue;
        };
        if !h.plausible(cfg, masked) {
            continue;
        }
        let lock = |confirmed| {
            Some(Boundary::Lock {
                at: i,
                header: h,
                confirmed,
            })
        };
        match chain(tail, &h, cfg) {
            Chain::Confirmed => return lock(true),
            Chain::Broken => {}
            Chain::BeyondChunk if i == 0 && chunk_start => return lock(false),
            Chain::BeyondChunk => {
                fallback = fallback.or(Some(i));
            }
        }
    }
    fallback.map(|at| Boundary::Fallback { at })
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
    use crate::websocket::frame::tests::{encode, feed, frames, gap, server, violations, Ev, KEY};
    use crate::websocket::frame::{DecoderConfig, FrameDecoder, Opcode, Role, Violation};

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
        assert!(gap(&mut dec, 3).is_empty());
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
}
