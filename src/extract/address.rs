//! Rewriting a packet's IP addresses (`--redact --extract`): the first IP
//! header's source and destination, with the IPv4 header checksum
//! (RFC 791 §3.1) fixed, and link-layer addresses zeroed. The TCP checksum, which covers the addresses
//! through its pseudo-header, is the caller's to fix.

use std::net::IpAddr;

use etherparse::LaxNetSlice;

use crate::capture::LinkType;
use crate::decode::link;

/// Zeroes the link-layer addresses (Ethernet's MACs, a cooked capture's
/// sender address): hardware addresses name hosts too.
fn hide_link_addresses(data: &mut [u8], link: LinkType) {
    let range = match link {
        LinkType::Ethernet => 0..12,
        LinkType::LinuxSll => 6..14,
        LinkType::LinuxSll2 => 12..20,
        _ => return,
    };
    if let Some(b) = data.get_mut(range) {
        b.fill(0);
    }
}

/// Writes `src` and `dst` into the first IP header of `data` (a packet of
/// link type `link`); whether it found one of their family to write.
pub fn rewrite(data: &mut [u8], link: LinkType, (src, dst): (IpAddr, IpAddr)) -> bool {
    hide_link_addresses(data, link);
    let (offset, v4_header_len) = {
        let Ok(sliced) = link::slice(link, data) else {
            return false;
        };
        match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => {
                let h = ip.header().slice();
                (h.as_ptr() as usize - data.as_ptr() as usize, Some(h.len()))
            }
            Some(LaxNetSlice::Ipv6(ip)) => (
                ip.header().slice().as_ptr() as usize - data.as_ptr() as usize,
                None,
            ),
            _ => return false,
        }
    };
    match (src, dst, v4_header_len) {
        (IpAddr::V4(s), IpAddr::V4(d), Some(len)) if data.len() >= offset + len => {
            let h = &mut data[offset..offset + len];
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            h[10..12].fill(0);
            let mut sum = 0u32;
            for c in h.chunks_exact(2) {
                sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            true
        }
        (IpAddr::V6(s), IpAddr::V6(d), None) if data.len() >= offset + 40 => {
            data[offset + 8..offset + 24].copy_from_slice(&s.octets());
            data[offset + 24..offset + 40].copy_from_slice(&d.octets());
            true
        }
        _ => false,
    }
}
