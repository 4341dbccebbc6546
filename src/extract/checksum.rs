//! The TCP checksum (RFC 9293 §3.1, with the IPv6 pseudo-header of
//! RFC 8200 §8.1) of a packet whose payload was rewritten.

use std::net::IpAddr;

/// Sets the checksum of the TCP segment at `data[tcp..]` after its payload
/// (from `tcp + header_len`) changed from `old_payload` and its IP
/// addresses from `addrs.0` to `addrs.1`. A segment captured
/// whole (`wire_len`, its payload length on the wire, all present) gets
/// the checksum computed afresh, so one the sender's NIC was to fill in
/// (checksum offload) comes out right too; one cut by snaplen is adjusted
/// by the change alone (RFC 1624 §3), since the missing bytes are unknown.
pub fn fix_tcp(
    data: &mut [u8],
    tcp: usize,
    header_len: usize,
    wire_len: usize,
    (old_addrs, addrs): ((IpAddr, IpAddr), (IpAddr, IpAddr)),
    old_payload: &[u8],
) {
    let at = tcp + 16;
    if data.len() < at + 2 {
        return;
    }
    let payload = tcp + header_len;
    let captured = data.len().saturating_sub(payload);
    let new = if captured >= wire_len {
        let seg_len = header_len + wire_len;
        data[at..at + 2].fill(0);
        let mut sum = pseudo_header(addrs, seg_len as u32);
        sum += sum_words(&data[tcp..tcp + seg_len]);
        !fold(sum)
    } else {
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        let was = pseudo_header(old_addrs, 0) + sum_words(old_payload);
        let now = pseudo_header(addrs, 0) + sum_words(&data[payload..]);
        let sum = u32::from(!old) + u32::from(!fold(was)) + u32::from(fold(now));
        !fold(sum)
    };
    data[at..at + 2].copy_from_slice(&new.to_be_bytes());
}

fn pseudo_header((src, dst): (IpAddr, IpAddr), len: u32) -> u32 {
    let mut sum = 6u32 + (len >> 16) + (len & 0xffff);
    for ip in [src, dst] {
        sum += match ip {
            IpAddr::V4(a) => sum_words(&a.octets()),
            IpAddr::V6(a) => sum_words(&a.octets()),
        };
    }
    sum
}

/// The one's-complement sum of big-endian 16-bit words (an odd last byte
/// padded with zero), not yet folded.
fn sum_words(bytes: &[u8]) -> u32 {
    let mut sum = 0u32;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        if sum >= 0xffff_0000 {
            sum = u32::from(fold(sum));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 + TCP with payload "hi", checksum as Linux computed it
    /// (127.0.0.1:40000 → 127.0.0.1:8080).
    fn packet() -> (Vec<u8>, (IpAddr, IpAddr)) {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut tcp = vec![
            0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x01, 0x00, 0, 0, 0, 0,
            b'h', b'i',
        ];
        let sum = pseudo_header((ip, ip), 22) + sum_words(&tcp);
        let c = !fold(sum);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        (tcp, (ip, ip))
    }

    fn valid(tcp: &[u8], addrs: (IpAddr, IpAddr)) -> bool {
        fold(pseudo_header(addrs, tcp.len() as u32) + sum_words(tcp)) == 0xffff
    }

    #[test]
    fn whole_and_cut_segments_both_come_out_valid() {
        let (mut tcp, addrs) = packet();
        assert!(valid(&tcp, addrs));
        let old = tcp[20..].to_vec();
        tcp[20..].fill(0);
        fix_tcp(&mut tcp, 0, 20, 2, (addrs, addrs), &old);
        assert!(valid(&tcp, addrs));
        // A segment whose payload is 2 bytes on the wire, 1 captured: the
        // adjusted checksum is the one the whole zeroed segment would have
        // with its missing byte as it was.
        let (mut full, _) = packet();
        let old = full[20..21].to_vec();
        full[20] = 0;
        let mut cut = full[..21].to_vec();
        fix_tcp(&mut cut, 0, 20, 2, (addrs, addrs), &old);
        full[16..18].copy_from_slice(&cut[16..18]);
        assert!(valid(&full, addrs));
    }
}
