//! The header parser against tungstenite's (the reference this crate's
//! frame module follows): whatever both parse, they read alike.

use std::io::Cursor;

use tungstenite::protocol::frame::FrameHeader as TH;

use super::*;

#[test]
fn tungstenite_accepts_what_we_flag() {
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
