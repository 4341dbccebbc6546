//! The common packet, decoded by hand: untagged Ethernet, raw IP or Linux
//! cooked capture, then IPv4 (no fragment) or IPv6 (no extension header),
//! then TCP, all whole. Nine packets in ten in a server capture look like
//! this, and slicing them through etherparse's general cursor (which moves
//! a few hundred bytes of slice structs per packet) was a tenth of the run.
//!
//! Anything else (tags, tunnels, fragments, AH, snaplen cuts, TSO's zero
//! lengths, SYNs with options to read) returns `None` and takes the general
//! path in [`super::decode`], which gives the same `Segment` for the packets
//! taken here: a test walks every sample both ways.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::seq::Seq;
use super::{Flags, Segment, SynOptions, Tunnel};
use crate::capture::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IP_TCP: u8 = 6;

/// The segment of a plain packet, or `None` for the general path.
#[inline]
pub fn segment(link: LinkType, data: &[u8]) -> Option<Segment<'_>> {
    let (ether_type, at) = match link {
        LinkType::Ethernet => (be16(data, 12)?, 14),
        // Linux cooked capture: the protocol at 14 (SLL) or 0 (SLL2).
        LinkType::LinuxSll => (be16(data, 14)?, 16),
        LinkType::LinuxSll2 => (be16(data, 0)?, 20),
        LinkType::RawIp => match data.first()? >> 4 {
            4 => (ETHERTYPE_IPV4, 0),
            6 => (ETHERTYPE_IPV6, 0),
            _ => return None,
        },
        _ => return None,
    };
    let ip = data.get(at..)?;
    match ether_type {
        ETHERTYPE_IPV4 => ipv4(ip),
        ETHERTYPE_IPV6 => ipv6(ip),
        _ => None,
    }
}

/// RFC 791 §3.1: version and IHL, total length, flags and fragment
/// offset, protocol, addresses.
#[inline]
fn ipv4(ip: &[u8]) -> Option<Segment<'_>> {
    let header = ip.get(..20)?;
    if header[0] >> 4 != 4 || header[9] != IP_TCP {
        return None;
    }
    let header_len = usize::from(header[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    // More fragments, or an offset: a fragment (RFC 791 §3.2).
    let fragment = header[6] & 0x20 != 0 || u16::from_be_bytes([header[6] & 0x1f, header[7]]) != 0;
    if header_len < 20 || total < header_len + 20 || total > ip.len() || fragment {
        return None;
    }
    let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    let ip_id = u16::from_be_bytes([header[4], header[5]]);
    tcp(
        IpAddr::V4(src),
        IpAddr::V4(dst),
        ip_id,
        &ip[header_len..total],
    )
}

/// RFC 8200 §3: payload length and a next header of TCP itself.
#[inline]
fn ipv6(ip: &[u8]) -> Option<Segment<'_>> {
    let header = ip.get(..40)?;
    if header[0] >> 4 != 6 || header[6] != IP_TCP {
        return None;
    }
    // 0 is a jumbogram or TSO's unset length: the general path decides.
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if len < 20 || 40 + len > ip.len() {
        return None;
    }
    let src: [u8; 16] = header[8..24].try_into().ok()?;
    let dst: [u8; 16] = header[24..40].try_into().ok()?;
    tcp(
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
        0,
        &ip[40..40 + len],
    )
}

/// RFC 9293 §3.1, on the whole TCP segment `t` (header and payload).
#[inline]
fn tcp<'a>(src: IpAddr, dst: IpAddr, ip_id: u16, t: &'a [u8]) -> Option<Segment<'a>> {
    let header = t.get(..20)?;
    let header_len = usize::from(header[12] >> 4) * 4;
    let flags = Flags::new(header[13] & 0x1f);
    // A SYN's options (MSS, window scale) are read on the general path.
    if header_len < 20 || header_len > t.len() || flags.syn() {
        return None;
    }
    let payload = &t[header_len..];
    Some(Segment {
        src: (src, u16::from_be_bytes([header[0], header[1]])),
        dst: (dst, u16::from_be_bytes([header[2], header[3]])),
        seq: Seq(u32::from_be_bytes([
            header[4], header[5], header[6], header[7],
        ])),
        ack: Seq(u32::from_be_bytes([
            header[8], header[9], header[10], header[11],
        ])),
        flags,
        window: u16::from_be_bytes([header[14], header[15]]),
        syn_options: SynOptions::default(),
        payload,
        wire_len: payload.len() as u32,
        header_len: header_len as u8,
        ip_id,
        tunnel: Tunnel::default(),
    })
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::{read_file, Input};
    use std::path::Path;

    fn captures(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                captures(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                out.push(path);
            }
        }
    }

    /// Every packet of every committed sample that the fast path takes
    /// decodes to the same segment through etherparse; and it takes most.
    #[test]
    fn agrees_with_the_general_path_on_every_sample() {
        let mut files = Vec::new();
        captures(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"),
            &mut files,
        );
        assert!(files.len() > 20, "samples not found");
        let (mut fast_taken, mut total) = (0u64, 0u64);
        for file in &files {
            let input = Input::parse(file.to_str().unwrap());
            let _ = read_file(&input, 0, &mut |p| {
                total += 1;
                if let Some(seg) = segment(p.link, p.data) {
                    fast_taken += 1;
                    let general = super::super::general(p).unwrap_or_else(|e| {
                        panic!("{}: {:?}: general path {e:?}", file.display(), p.frame)
                    });
                    assert_eq!(
                        format!("{seg:?}"),
                        format!("{general:?}"),
                        "{}: {:?}",
                        file.display(),
                        p.frame
                    );
                }
            });
        }
        assert!(
            fast_taken * 10 > total * 8,
            "fast path took {fast_taken} of {total}"
        );
    }

    /// What the fast path must leave alone: a SYN (options), a fragment,
    /// a VLAN tag, a snaplen cut.
    #[test]
    fn leaves_what_needs_the_general_path() {
        let build = |syn: bool| {
            let b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
                .tcp(51544, 8080, 7, 512);
            let b = if syn { b.syn() } else { b.ack(1) };
            let mut out = Vec::new();
            b.write(&mut out, b"hello").unwrap();
            out
        };
        let plain = build(false);
        assert_eq!(
            segment(LinkType::Ethernet, &plain).unwrap().payload,
            b"hello"
        );
        assert!(segment(LinkType::Ethernet, &build(true)).is_none());
        assert!(segment(LinkType::Ethernet, &plain[..plain.len() - 1]).is_none());
        let mut fragment = plain.clone();
        fragment[14 + 6] |= 0x20;
        assert!(segment(LinkType::Ethernet, &fragment).is_none());
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&plain[12..]);
        assert!(segment(LinkType::Ethernet, &tagged).is_none());
    }
}
