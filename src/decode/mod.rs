//! Link, IP and TCP headers → a borrowing `Segment`.
//!
//! Link headers that etherparse does not take (NULL/loopback, SLL with
//! ARPHRD_LOOPBACK, SLL2) are stripped here; etherparse's lax slicing does the
//! rest, so a packet cut by snaplen still yields its headers. A packet with
//! no TCP at its first IP layer may be a tunnel: [`tunnel`] unwraps VXLAN,
//! Geneve, GTP-U, GRE, ERSPAN, IP-in-IP, PPPoE and MPLS down to the TCP
//! inside. Everything not decoded (other link types, non-IP, IP fragments,
//! encrypted or malformed tunnels, …) is counted by kind and reported, never
//! guessed at.

mod fast;
pub mod link;
pub mod seq;
pub mod tunnel;

use std::net::IpAddr;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TcpOptionElement, TransportSlice};
use serde::Serialize;

use crate::capture::Packet;
use seq::Seq;
pub use tunnel::Tunnel;

/// TCP flag bits (RFC 9293 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn new(bits: u8) -> Self {
        Flags(bits)
    }
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// SYN options that change how later segments are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynOptions {
    pub mss: Option<u16>,
    /// RFC 7323 §2.2: shift count, capped at 14 by §2.3.
    pub window_scale: Option<u8>,
}

/// One TCP segment, borrowing its payload from the capture buffer.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
    pub seq: Seq,
    pub ack: Seq,
    pub flags: Flags,
    /// Raw advertised window, before scaling.
    pub window: u16,
    /// Parsed only on SYN segments, the only place they matter.
    pub syn_options: SynOptions,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload length on the wire (from the IP header); larger than
    /// `payload.len()` when snaplen cut the packet.
    pub wire_len: u32,
    /// TCP header length in bytes (20 to 60, options included): the
    /// header starts this many bytes before `payload` in the packet.
    pub header_len: u8,
    /// IPv4 identification (0 for IPv6): tells capture duplicates, which
    /// repeat it, from retransmissions, which do not.
    pub ip_id: u16,
    /// The tunnel the segment came in (see [`tunnel`]): segments with
    /// equal addresses and ports but different tunnel contexts belong to
    /// different connections.
    pub tunnel: Tunnel,
}

impl Segment<'_> {
    /// Sequence space the segment occupies: payload plus one for SYN and for
    /// FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> u32 {
        self.wire_len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    pub fn is_truncated(&self) -> bool {
        (self.payload.len() as u32) < self.wire_len
    }
}

/// Why a packet did not become a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// Link type we do not decode (the LINKTYPE_ value).
    UnsupportedLinkType,
    /// ARP, LLDP, … : not IP at all.
    NotIp,
    /// PPPoE not carrying IP: discovery (EtherType 0x8863), or a session
    /// carrying LCP, IPCP or another PPP control protocol.
    Pppoe,
    /// MPLS (0x8847/0x8848) over something neither IP nor Ethernet with a
    /// pseudowire control word, or with more than 16 labels.
    Mpls,
    /// IP, but UDP, ICMP, … (and not a tunnel wspulse knows).
    NotTcp,
    /// A non-first or non-last IP fragment (reassembly is not done).
    IpFragment,
    /// Headers cut short by snaplen or malformed.
    BadHeaders,
    /// UDP to port 4789 whose VXLAN header lacks the I flag or is short
    /// (RFC 7348 §5).
    VxlanMalformed,
    /// UDP to port 6081 whose Geneve header has an unknown version or is
    /// short (RFC 8926 §3.4).
    GeneveMalformed,
    /// GTP-U messages other than a G-PDU: echo, error indication, end
    /// marker (3GPP TS 29.281 §7).
    GtpUSignalling,
    /// GTP-U with a bad header or a user packet that is not IP.
    GtpUMalformed,
    /// GRE version 1, PPTP's (RFC 2637 §4.1).
    GrePptp,
    /// GRE with routing (RFC 1701) or a version other than 0 and 1.
    GreUnsupported,
    /// ERSPAN of an unknown version or carrying no Ethernet frame.
    Erspan,
    /// IPsec ESP (IP protocol 50): encrypted.
    Esp,
    /// More encapsulations than [`tunnel::MAX_DEPTH`] nested.
    TunnelTooDeep,
}

impl Skip {
    pub fn describe(self) -> &'static str {
        match self {
            Skip::UnsupportedLinkType => "unsupported link type",
            Skip::NotIp => "not IP",
            Skip::Pppoe => "PPPoE not carrying IP",
            Skip::Mpls => "MPLS not carrying IP or Ethernet",
            Skip::NotTcp => "IP but not TCP",
            Skip::IpFragment => "IP fragments (not reassembled)",
            Skip::BadHeaders => "truncated or malformed headers",
            Skip::VxlanMalformed => "UDP 4789 with a bad VXLAN header",
            Skip::GeneveMalformed => "UDP 6081 with a bad Geneve header",
            Skip::GtpUSignalling => "GTP-U signalling",
            Skip::GtpUMalformed => "GTP-U malformed or not carrying IP",
            Skip::GrePptp => "GRE version 1 (PPTP)",
            Skip::GreUnsupported => "GRE with routing or an unknown version",
            Skip::Erspan => "ERSPAN of an unknown type",
            Skip::Esp => "IPsec ESP (encrypted)",
            Skip::TunnelTooDeep => "tunnels nested too deep",
        }
    }
}

/// Decodes one packet down to TCP, through any tunnels around it.
pub fn decode<'a>(packet: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    if let Some(segment) = fast::segment(packet.link, packet.data) {
        return Ok(segment);
    }
    general(packet)
}

/// Every packet the fast path leaves: through etherparse and the tunnels.
fn general<'a>(packet: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    let sliced = link::slice(packet.link, packet.data)?;
    match segment_from(&sliced, Tunnel::default()) {
        Err(skip) if tunnel::may_hide_tunnel(skip) => tunnel::decapsulate(&sliced, skip),
        done => done,
    }
}

/// The TCP segment of a sliced packet, in the tunnel `tunnel`; the kind
/// of skip when it holds no TCP at its first IP layer. Inlined: it is the
/// per-packet path, and a second caller (the tunnel loop) must not make
/// it a call for every plain packet.
#[inline(always)]
fn segment_from<'a>(sliced: &LaxSlicedPacket<'a>, tunnel: Tunnel) -> Result<Segment<'a>, Skip> {
    let (src_ip, dst_ip, ip_id, ip_payload, wire_ip_payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let p = ip.payload();
            // Bytes of the IP packet before the transport header (header and
            // AH), to get the transport length from the IP total length.
            let before = p.payload.as_ptr() as usize - h.slice().as_ptr() as usize;
            let wire = (h.total_len() as usize).checked_sub(before);
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.identification(),
                p,
                wire,
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let p = ip.payload();
            let before = p.payload.as_ptr() as usize - h.slice().as_ptr() as usize;
            let wire = (40 + h.payload_length() as usize).checked_sub(before);
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                0,
                p,
                wire,
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(Skip::NotIp),
        None => return Err(link::classify_non_ip(sliced)),
    };
    if ip_payload.fragmented {
        return Err(Skip::IpFragment);
    }
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        Some(_) => return Err(Skip::NotTcp),
        None if ip_payload.ip_number != etherparse::IpNumber::TCP => return Err(Skip::NotTcp),
        None => return Err(Skip::BadHeaders),
    };
    let payload = tcp.payload();
    let header_len = tcp.header_len();
    // When the IP length is 0 (TSO on the capturing host) or cut short, trust
    // what was captured; when snaplen cut the packet, trust the IP header.
    let wire_len = match wire_ip_payload {
        Some(w) if ip_payload.incomplete && w >= header_len => (w - header_len) as u32,
        _ => payload.len() as u32,
    };
    let flags = Flags(
        u8::from(tcp.fin())
            | u8::from(tcp.syn()) << 1
            | u8::from(tcp.rst()) << 2
            | u8::from(tcp.psh()) << 3
            | u8::from(tcp.ack()) << 4,
    );
    let mut syn_options = SynOptions::default();
    if flags.syn() {
        for option in tcp.options_iterator().flatten() {
            match option {
                TcpOptionElement::MaximumSegmentSize(mss) => syn_options.mss = Some(mss),
                TcpOptionElement::WindowScale(shift) => {
                    syn_options.window_scale = Some(shift.min(14))
                }
                _ => {}
            }
        }
    }
    Ok(Segment {
        src: (src_ip, tcp.source_port()),
        dst: (dst_ip, tcp.destination_port()),
        seq: Seq(tcp.sequence_number()),
        ack: Seq(tcp.acknowledgment_number()),
        flags,
        window: tcp.window_size(),
        syn_options,
        payload,
        wire_len,
        header_len: header_len as u8,
        ip_id,
        tunnel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{FrameRef, LinkType};
    use crate::time::Timestamp;
    use etherparse::PacketBuilder;

    fn packet(link: LinkType, data: &[u8]) -> Packet<'_> {
        Packet {
            at: Timestamp::default(),
            frame: FrameRef::default(),
            link,
            data,
            orig_len: data.len() as u32,
        }
    }

    fn ethernet_tcp(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .tcp(51544, 8080, 0xffff_fff0, 512)
            .ack(7)
            .psh();
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn decodes_ethernet_ipv4_tcp() {
        let bytes = ethernet_tcp(b"hello");
        let seg = decode(&packet(LinkType::Ethernet, &bytes)).unwrap();
        assert_eq!(seg.src, ("10.0.0.2".parse().unwrap(), 51544));
        assert_eq!(seg.dst, ("10.0.0.1".parse().unwrap(), 8080));
        assert_eq!(seg.seq, Seq(0xffff_fff0));
        assert_eq!(seg.ack, Seq(7));
        assert!(seg.flags.ack() && !seg.flags.syn());
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.wire_len, 5);
    }

    #[test]
    fn snaplen_cut_keeps_wire_length() {
        let bytes = ethernet_tcp(&[0x81; 300]);
        let cut = &bytes[..14 + 20 + 20 + 10];
        let seg = decode(&packet(LinkType::Ethernet, cut)).unwrap();
        assert_eq!(seg.payload.len(), 10);
        assert_eq!(seg.wire_len, 300);
        assert!(seg.is_truncated());
    }

    #[test]
    fn headers_cut_short_are_counted_not_decoded() {
        let bytes = ethernet_tcp(b"x");
        let cut = &bytes[..14 + 20 + 8];
        assert_eq!(
            decode(&packet(LinkType::Ethernet, cut)).unwrap_err(),
            Skip::BadHeaders
        );
    }

    #[test]
    fn udp_and_unknown_links_are_skipped_by_kind() {
        let mut udp = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .udp(5353, 53)
            .write(&mut udp, b"dns")
            .unwrap();
        assert_eq!(
            decode(&packet(LinkType::Ethernet, &udp)).unwrap_err(),
            Skip::NotTcp
        );
        // The GTP-U port with no GTP-U header is named as such.
        let mut gtp = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .udp(2152, 2152)
            .write(&mut gtp, b"gtp")
            .unwrap();
        assert_eq!(
            decode(&packet(LinkType::Ethernet, &gtp)).unwrap_err(),
            Skip::GtpUMalformed
        );
        assert_eq!(
            decode(&packet(LinkType::Other(147), &udp)).unwrap_err(),
            Skip::UnsupportedLinkType
        );
    }
}
