//! Link-layer headers.
//!
//! etherparse slices Ethernet (with VLAN and QinQ tags) and raw IP itself.
//! The Linux cooked headers and BSD loopback are stripped here: etherparse's
//! SLL parser rejects ARPHRD_LOOPBACK (what `tcpdump -i any` records for
//! `lo`), and it has no SLL2 or NULL parser at all.

use etherparse::{EtherType, LaxSlicedPacket};

use super::Skip;
use crate::capture::LinkType;

/// SLL header (LINKTYPE_LINUX_SLL): packet type, ARPHRD, address length,
/// 8 address bytes, then the protocol (an EtherType) at offset 14.
const SLL_LEN: usize = 16;
/// SLL2 header (LINKTYPE_LINUX_SLL2): the protocol comes first, at offset 0.
const SLL2_LEN: usize = 20;
/// NULL/LOOP header: a 4-byte address family.
const NULL_LEN: usize = 4;

/// EtherTypes we name when we skip them.
const PPPOE_SESSION: u16 = 0x8864;
const PPPOE_DISCOVERY: u16 = 0x8863;
const MPLS_UNICAST: u16 = 0x8847;
const MPLS_MULTICAST: u16 = 0x8848;

pub fn slice(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::BadHeaders),
        LinkType::RawIp => LaxSlicedPacket::from_ip(data).map_err(|_| Skip::BadHeaders),
        LinkType::LinuxSll => {
            let proto = be16(data, 14).ok_or(Skip::BadHeaders)?;
            ether_type(proto, data.get(SLL_LEN..).ok_or(Skip::BadHeaders)?)
        }
        LinkType::LinuxSll2 => {
            let proto = be16(data, 0).ok_or(Skip::BadHeaders)?;
            ether_type(proto, data.get(SLL2_LEN..).ok_or(Skip::BadHeaders)?)
        }
        LinkType::Null { big_endian } => {
            let family: [u8; 4] = data
                .get(..NULL_LEN)
                .and_then(|b| b.try_into().ok())
                .ok_or(Skip::BadHeaders)?;
            // LINKTYPE_NULL is in the capturing host's byte order, which the
            // file does not record: accept either. LOOP is network order.
            let family = if big_endian {
                u32::from_be_bytes(family)
            } else {
                u32::from_le_bytes(family).min(u32::from_be_bytes(family))
            };
            match family {
                // AF_INET everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD,
                // OpenBSD), 28 (FreeBSD), 30 (macOS).
                2 | 10 | 24 | 28 | 30 => {
                    LaxSlicedPacket::from_ip(&data[NULL_LEN..]).map_err(|_| Skip::BadHeaders)
                }
                _ => Err(Skip::NotIp),
            }
        }
        LinkType::Other(_) => Err(Skip::UnsupportedLinkType),
    }
}

fn ether_type(proto: u16, rest: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    // Values below 0x0600 are 802.3 lengths or Linux's special protocol
    // numbers (802.2 LLC, CAN, …), not EtherTypes.
    if proto < 0x0600 {
        return Err(Skip::NotIp);
    }
    Ok(LaxSlicedPacket::from_ether_type(EtherType(proto), rest))
}

/// Names the reason a packet that etherparse sliced has no IP layer.
pub fn classify_non_ip(sliced: &LaxSlicedPacket<'_>) -> Skip {
    if sliced.stop_err.is_some() {
        return Skip::BadHeaders;
    }
    match sliced.ether_payload().map(|p| p.ether_type.0) {
        Some(PPPOE_SESSION | PPPOE_DISCOVERY) => Skip::Pppoe,
        Some(MPLS_UNICAST | MPLS_MULTICAST) => Skip::Mpls,
        _ => Skip::NotIp,
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn ipv4_tcp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(40000, 8080, 1, 100)
            .write(&mut out, b"abc")
            .unwrap();
        out
    }

    fn tcp_payload(sliced: &LaxSlicedPacket<'_>) -> Option<Vec<u8>> {
        match &sliced.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => Some(t.payload().to_vec()),
            _ => None,
        }
    }

    #[test]
    fn strips_sll_loopback_that_etherparse_rejects() {
        // packet type 0 (host), ARPHRD_LOOPBACK 772, 6-byte address, IPv4.
        let mut data = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        data.extend(ipv4_tcp());
        let sliced = slice(LinkType::LinuxSll, &data).unwrap();
        assert_eq!(tcp_payload(&sliced).as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn strips_sll2() {
        let mut data = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        data.extend(ipv4_tcp());
        let sliced = slice(LinkType::LinuxSll2, &data).unwrap();
        assert_eq!(tcp_payload(&sliced).as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn strips_null_in_either_byte_order() {
        for family in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut data = family.to_vec();
            data.extend(ipv4_tcp());
            let sliced = slice(LinkType::Null { big_endian: false }, &data).unwrap();
            assert!(tcp_payload(&sliced).is_some());
        }
        let mut other = vec![0, 0, 0, 99];
        other.extend(ipv4_tcp());
        assert_eq!(
            slice(LinkType::Null { big_endian: true }, &other).unwrap_err(),
            Skip::NotIp
        );
    }

    #[test]
    fn pppoe_is_named_not_guessed() {
        let mut data = vec![2; 12];
        data.extend([0x88, 0x64, 0x11, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x21]);
        data.extend(ipv4_tcp());
        let sliced = slice(LinkType::Ethernet, &data).unwrap();
        assert!(sliced.net.is_none());
        assert_eq!(classify_non_ip(&sliced), Skip::Pppoe);
    }

    #[test]
    fn short_headers_are_errors_not_panics() {
        for link in [
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Null { big_endian: false },
        ] {
            assert!(slice(link, &[0x08]).is_err());
        }
    }
}
