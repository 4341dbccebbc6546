//! The RFC 6455 rules a peer can break, as [`Violation`]s: findings about
//! the sender, never decoding errors. The decoder checks each header against
//! §5 and each Close body against §5.5.1 and §7.4.

use thiserror::Error;

use super::coding::{close_code_valid_on_wire, Opcode, MAX_CONTROL_PAYLOAD, RSV1};
use super::decoder::DecoderConfig;
use super::header::{FrameHeader, Role};

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

/// Fragmentation state of the direction, RFC 6455 §5.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fragments {
    /// Just (re)synchronised: whether a message is open is not known.
    Unknown,
    /// Between messages.
    Idle,
    /// A Text/Binary frame without FIN was seen; continuations follow.
    Open,
}

/// The per-header rules of RFC 6455 §5, each broken one reported to
/// `flag`. `role`: the sender, when known; `close_seen`: a Close came
/// before; `fragments`: the message state, which this header moves on.
pub(super) fn check_header(
    h: &FrameHeader,
    role: Option<Role>,
    cfg: DecoderConfig,
    close_seen: bool,
    fragments: &mut Fragments,
    flag: &mut impl FnMut(Violation),
) {
    // §5.1: clients mask, servers do not.
    match (role, h.mask.is_some()) {
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
    let rsv1_ok = cfg.permessage_deflate && matches!(h.opcode, Opcode::Text | Opcode::Binary);
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
    if h.opcode.is_data() && close_seen {
        // §5.5.1: nothing but control frames after a Close.
        flag(Violation::DataAfterClose);
    }
    // §5.4: a message is one Text/Binary frame, then continuations up to FIN.
    *fragments = match (*fragments, h.opcode, h.fin) {
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

/// The rules of a Close frame's body of `body_len` bytes, each broken one
/// reported to `flag`. `seen` is the body, or only its first bytes when a
/// gap cut it: what lies beyond is not judged.
pub(super) fn check_close_body(seen: &[u8], body_len: u64, flag: &mut impl FnMut(Violation)) {
    // RFC 6455 §5.5.1: an optional body starting with a 2-byte status
    // code (§7.4), then a UTF-8 reason.
    if body_len == 1 {
        return flag(Violation::CloseBodyOneByte);
    }
    let Some(([hi, lo], reason)) = seen.split_first_chunk() else {
        return;
    };
    let code = u16::from_be_bytes([*hi, *lo]);
    if !close_code_valid_on_wire(code) {
        flag(Violation::InvalidCloseCode(code));
    }
    // A cut reason may end inside a UTF-8 sequence: only bytes that no
    // continuation could make valid count against it.
    let complete = seen.len() as u64 == body_len;
    if let Err(e) = std::str::from_utf8(reason) {
        if complete || e.error_len().is_some() {
            flag(Violation::InvalidUtf8CloseReason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::tests::{
        client, encode, encode_with, feed, frames, server, violations, Ev, KEY,
    };
    use crate::websocket::frame::FrameDecoder;

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
}
