//! The tunnel headers etherparse does not take, each read from a borrowed
//! slice: every length is checked before any index, and the inner packet
//! is a sub-slice of the outer one (no copy).
//!
//! Each reader returns what follows the header ([`Inner`]) and the
//! tunnel's identifier, or the [`Skip`] kind that names why the packet is
//! not decoded further.

use super::super::Skip;

/// What an encapsulation carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner<'a> {
    /// An Ethernet frame (VXLAN, ERSPAN, Ethernet over MPLS, GRE/Geneve
    /// with protocol type 0x6558, Transparent Ethernet Bridging).
    Ethernet(&'a [u8]),
    /// An IPv4 or IPv6 packet, told apart by its version nibble.
    Ip(&'a [u8]),
    /// A payload named by an EtherType (GRE and Geneve protocol types).
    EtherType(u16, &'a [u8]),
}

/// A decoded tunnel header: the tunnel's identifier (VNI, GRE key,
/// ERSPAN session, TEID, PPPoE session; `None` when it has none) and what
/// it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub id: Option<u32>,
    pub inner: Inner<'a>,
}

/// EtherType of Transparent Ethernet Bridging: an Ethernet frame follows.
pub const TEB: u16 = 0x6558;
const ERSPAN_II: u16 = 0x88BE;
const ERSPAN_III: u16 = 0x22EB;
/// PPP protocol numbers (RFC 1661 §2; IANA PPP DLL protocol numbers).
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// Most MPLS label stack entries read before giving up.
const MAX_LABELS: usize = 16;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from_be_bytes([0, s[0], s[1], s[2]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// VXLAN (RFC 7348 §5): 8 bytes, flags with the I bit (0x08) set, a
/// 24-bit VNI in bytes 4..7, then an Ethernet frame. The other flag and
/// reserved bits are ignored on receipt, as §5 says.
pub fn vxlan(b: &[u8]) -> Result<Header<'_>, Skip> {
    let (Some(&flags), Some(vni), Some(rest)) = (b.first(), be24(b, 4), b.get(8..)) else {
        return Err(Skip::VxlanMalformed);
    };
    if flags & 0x08 == 0 {
        return Err(Skip::VxlanMalformed);
    }
    Ok(Header {
        id: Some(vni),
        inner: Inner::Ethernet(rest),
    })
}

/// Geneve (RFC 8926 §3.4): version 0 in the top two bits, the options'
/// length in 4-byte words in the low six bits of byte 0, the protocol
/// type (an EtherType) in bytes 2..4, a 24-bit VNI in bytes 4..7, then
/// the options and the payload.
pub fn geneve(b: &[u8]) -> Result<Header<'_>, Skip> {
    let (Some(&first), Some(proto), Some(vni)) = (b.first(), be16(b, 2), be24(b, 4)) else {
        return Err(Skip::GeneveMalformed);
    };
    // §3.4: "Packets received by a tunnel endpoint with an unknown
    // version MUST be dropped."
    if first >> 6 != 0 {
        return Err(Skip::GeneveMalformed);
    }
    let header = 8 + usize::from(first & 0x3f) * 4;
    let rest = b.get(header..).ok_or(Skip::GeneveMalformed)?;
    Ok(Header {
        id: Some(vni),
        inner: Inner::EtherType(proto, rest),
    })
}

/// GTP-U (3GPP TS 29.281 §5.1): flags (version 1, PT 1, E, S, PN),
/// message type, length of what follows the first 8 bytes, TEID; 4 more
/// bytes when any of E, S, PN is set, then extension headers while the
/// next-type byte is not 0 (§5.2.1: each is a length in 4-byte words,
/// content, next type). Only a G-PDU (type 255) carries a user packet
/// (§6.1); the others (echo, error indication, end marker) are signalling.
pub fn gtp_u(b: &[u8]) -> Result<Header<'_>, Skip> {
    let (Some(&flags), Some(&kind), Some(len), Some(teid)) =
        (b.first(), b.get(1), be16(b, 2), be32(b, 4))
    else {
        return Err(Skip::GtpUMalformed);
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(Skip::GtpUMalformed);
    }
    if kind != 0xff {
        return Err(Skip::GtpUSignalling);
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        let mut next = *b.get(11).ok_or(Skip::GtpUMalformed)?;
        at = 12;
        // Each extension header is at least 4 bytes, so this ends within
        // the packet.
        while next != 0 {
            let words = usize::from(*b.get(at).ok_or(Skip::GtpUMalformed)?);
            if words == 0 {
                return Err(Skip::GtpUMalformed);
            }
            at += words * 4;
            next = *b.get(at - 1).ok_or(Skip::GtpUMalformed)?;
        }
    }
    // The length counts from byte 8; a capture cut by snaplen holds less.
    let end = (8 + usize::from(len)).min(b.len());
    let pdu = b.get(at..end).ok_or(Skip::GtpUMalformed)?;
    match pdu.first().map(|v| v >> 4) {
        Some(4 | 6) => Ok(Header {
            id: Some(teid),
            inner: Inner::Ip(pdu),
        }),
        // An Ethernet or unstructured PDU session, or nothing at all.
        _ => Err(Skip::GtpUMalformed),
    }
}

/// GRE (RFC 2784 §2 with the key and sequence number of RFC 2890 §2):
/// flags C, K, S and the version, the protocol type, then the optional
/// checksum and reserved word (C), key (K) and sequence number (S).
/// Version 1 is PPTP's enhanced GRE (RFC 2637 §4.1); routing and strict
/// source routes are RFC 1701's, which RFC 2784 §2.3 drops. Protocol types
/// 0x88BE and 0x22EB are ERSPAN (see [`erspan`]).
///
/// Returns the header, with the key as its id, and whether it is ERSPAN.
pub fn gre(b: &[u8]) -> Result<(Header<'_>, bool), Skip> {
    let (Some(&f0), Some(&f1), Some(proto)) = (b.first(), b.get(1), be16(b, 2)) else {
        return Err(Skip::BadHeaders);
    };
    match f1 & 0x07 {
        0 => {}
        1 => return Err(Skip::GrePptp),
        _ => return Err(Skip::GreUnsupported),
    }
    // R (routing present) and s (strict source route).
    if f0 & 0x48 != 0 {
        return Err(Skip::GreUnsupported);
    }
    let mut at = 4;
    if f0 & 0x80 != 0 {
        at += 4;
    }
    let mut key = None;
    if f0 & 0x20 != 0 {
        key = Some(be32(b, at).ok_or(Skip::BadHeaders)?);
        at += 4;
    }
    let sequenced = f0 & 0x10 != 0;
    if sequenced {
        at += 4;
    }
    let rest = b.get(at..).ok_or(Skip::BadHeaders)?;
    match proto {
        ERSPAN_II | ERSPAN_III => erspan(proto, sequenced, rest).map(|h| (h, true)),
        _ => Ok((
            Header {
                id: key,
                inner: Inner::EtherType(proto, rest),
            },
            false,
        )),
    }
}

/// ERSPAN (draft-foschiano-erspan-03): type I is GRE protocol 0x88BE
/// without a sequence number and no header of its own (§4.1); type II is
/// 0x88BE with one and an 8-byte header, version 1 (§4.2); type III is
/// 0x22EB with a 12-byte header, version 2, plus an 8-byte platform
/// subheader when its O bit is set, and a frame type that must be 0,
/// Ethernet (§4.3). The id is the 10-bit session ID (none for type I).
fn erspan(proto: u16, sequenced: bool, b: &[u8]) -> Result<Header<'_>, Skip> {
    if proto == ERSPAN_II && !sequenced {
        return Ok(Header {
            id: None,
            inner: Inner::Ethernet(b),
        });
    }
    let (Some(&first), Some(word)) = (b.first(), be16(b, 2)) else {
        return Err(Skip::BadHeaders);
    };
    let session = u32::from(word & 0x03ff);
    let header = match (proto, first >> 4) {
        (ERSPAN_II, 1) => 8,
        (ERSPAN_III, 2) => {
            let last = be32(b, 8).ok_or(Skip::BadHeaders)?;
            let frame_type = (last >> 10) & 0x1f;
            if frame_type != 0 {
                return Err(Skip::Erspan);
            }
            if last & 1 != 0 {
                20
            } else {
                12
            }
        }
        _ => return Err(Skip::Erspan),
    };
    let rest = b.get(header..).ok_or(Skip::BadHeaders)?;
    Ok(Header {
        id: Some(session),
        inner: Inner::Ethernet(rest),
    })
}

/// A PPPoE session packet (RFC 2516 §4 and §7): version and type both 1
/// (0x11), code 0, session ID, length, then a PPP frame whose protocol
/// (RFC 1661 §2; one byte when Protocol-Field-Compression was agreed,
/// recognisable by its odd first byte) must be IPv4 or IPv6. LCP, IPCP
/// and the other control protocols are counted as PPPoE not decoded.
pub fn pppoe_session(b: &[u8]) -> Result<Header<'_>, Skip> {
    let (Some(&ver_type), Some(&code), Some(session), Some(len)) =
        (b.first(), b.get(1), be16(b, 2), be16(b, 4))
    else {
        return Err(Skip::BadHeaders);
    };
    if ver_type != 0x11 || code != 0 {
        return Err(Skip::Pppoe);
    }
    // The length counts the PPP frame; Ethernet padding may follow it.
    let end = (6 + usize::from(len)).min(b.len());
    let ppp = b.get(6..end).ok_or(Skip::BadHeaders)?;
    let (proto, at) = match ppp.first() {
        Some(&p) if p & 1 == 1 => (u16::from(p), 1),
        _ => (be16(ppp, 0).ok_or(Skip::BadHeaders)?, 2),
    };
    match proto {
        PPP_IPV4 | PPP_IPV6 => Ok(Header {
            id: Some(u32::from(session)),
            inner: Inner::Ip(&ppp[at..]),
        }),
        _ => Err(Skip::Pppoe),
    }
}

/// An MPLS label stack (RFC 3032 §2.1): 4-byte entries until the one with
/// the bottom-of-stack bit (0x100 of the low half). What follows is not
/// named by the stack: IPv4 or IPv6 by the version nibble, or, after a
/// first nibble of 0, the pseudowire control word (RFC 4385 §3) and an
/// Ethernet frame (RFC 4448 §3). Anything else, or more than 16 labels,
/// is counted as MPLS not decoded. Labels are chosen per hop and per
/// direction, so there is no id.
pub fn mpls(b: &[u8]) -> Result<Header<'_>, Skip> {
    for i in 0..MAX_LABELS {
        let entry = be32(b, i * 4).ok_or(Skip::BadHeaders)?;
        if entry & 0x100 == 0 {
            continue;
        }
        let rest = &b[(i + 1) * 4..];
        let inner = match rest.first().map(|v| v >> 4) {
            Some(4 | 6) => Inner::Ip(rest),
            Some(0) => Inner::Ethernet(rest.get(4..).ok_or(Skip::BadHeaders)?),
            _ => return Err(Skip::Mpls),
        };
        return Ok(Header { id: None, inner });
    }
    Err(Skip::Mpls)
}
