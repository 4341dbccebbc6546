//! Hand-built frames for every encapsulation: the inner TCP is found, the
//! tunnel identity keys it, and what is not decoded is named by kind.

use std::net::IpAddr;

use etherparse::{IpNumber, PacketBuilder};

use super::{Kind, Tag, MAX_DEPTH};
use crate::capture::{FrameRef, LinkType, Packet};
use crate::decode::{decode, Segment, Skip};
use crate::time::Timestamp;

const CLIENT: [u8; 4] = [192, 168, 7, 2];
const SERVER: [u8; 4] = [192, 168, 7, 1];

/// What a test checks of a decoded segment, owned.
#[derive(Debug, PartialEq)]
struct Seen {
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    payload: Vec<u8>,
    tunnel: u64,
    tag: Option<(Kind, Option<u32>)>,
}

fn run(frame: &[u8]) -> Result<Seen, Skip> {
    decode(&Packet {
        at: Timestamp::default(),
        frame: FrameRef::default(),
        link: LinkType::Ethernet,
        data: frame,
        orig_len: frame.len() as u32,
    })
    .map(|s: Segment<'_>| Seen {
        src: s.src,
        dst: s.dst,
        payload: s.payload.to_vec(),
        tunnel: s.tunnel.context,
        tag: s.tunnel.tag.map(|t| (t.kind, t.id())),
    })
}

/// The inner packet: IPv4 and TCP, client to server unless `reply`.
fn inner_ip(reply: bool) -> Vec<u8> {
    let (s, d, sp, dp) = if reply {
        (SERVER, CLIENT, 80, 40000)
    } else {
        (CLIENT, SERVER, 40000, 80)
    };
    let mut out = Vec::new();
    PacketBuilder::ipv4(s, d, 64)
        .tcp(sp, dp, 1000, 512)
        .write(&mut out, b"GET /")
        .unwrap();
    out
}

fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    out.extend(ether_type.to_be_bytes());
    out.extend(payload);
    out
}

fn inner_eth(reply: bool) -> Vec<u8> {
    ethernet(0x0800, &inner_ip(reply))
}

/// Outer addresses, swapped for the reply direction.
fn outer(reply: bool) -> ([u8; 4], [u8; 4]) {
    if reply {
        ([10, 0, 0, 2], [10, 0, 0, 1])
    } else {
        ([10, 0, 0, 1], [10, 0, 0, 2])
    }
}

fn over_udp(reply: bool, port: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = outer(reply);
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(s, d, 64)
        .udp(50000, port)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn over_ip(reply: bool, proto: u8, payload: &[u8]) -> Vec<u8> {
    let (s, d) = outer(reply);
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(s, d, 64)
        .write(&mut out, IpNumber(proto), payload)
        .unwrap();
    out
}

fn vxlan(reply: bool, vni: u32) -> Vec<u8> {
    let mut h = vec![0x08, 0, 0, 0];
    h.extend(&(vni << 8).to_be_bytes());
    h.extend(inner_eth(reply));
    over_udp(reply, 4789, &h)
}

/// Checks the segment is the inner one, in its direction.
fn assert_inner(seg: &Seen, reply: bool) {
    let (c, s): (IpAddr, IpAddr) = (CLIENT.into(), SERVER.into());
    let want = if reply {
        ((s, 80), (c, 40000))
    } else {
        ((c, 40000), (s, 80))
    };
    assert_eq!((seg.src, seg.dst), want);
    if !reply {
        assert_eq!(seg.payload, b"GET /");
    }
}

#[test]
fn plain_tcp_has_no_tunnel() {
    let seg = run(&inner_eth(false)).unwrap();
    assert_eq!(seg.tunnel, 0);
    assert_eq!(seg.tag, None);
}

#[test]
fn vxlan_keys_both_directions_alike_and_vnis_apart() {
    let again = run(&vxlan(false, 42)).map(|s| s.tunnel);
    let frame = vxlan(false, 42);
    let seg = run(&frame).unwrap();
    assert_inner(&seg, false);
    let back = vxlan(true, 42);
    let reply = run(&back).unwrap();
    assert_inner(&reply, true);
    assert_ne!(seg.tunnel, 0);
    assert_eq!(Ok(seg.tunnel), again, "the same tunnel, the same key");
    assert_eq!(seg.tunnel, reply.tunnel, "a reply is the same connection");
    let tag = (Kind::Vxlan, Some(42));
    assert_eq!(seg.tag, Some(tag));
    let other = vxlan(false, 43);
    assert_ne!(run(&other).unwrap().tunnel, seg.tunnel);
}

#[test]
fn vxlan_without_its_i_flag_is_counted() {
    let mut frame = vxlan(false, 42);
    let at = frame.len() - inner_eth(false).len() - 8;
    frame[at] = 0;
    assert_eq!(run(&frame).unwrap_err(), Skip::VxlanMalformed);
}

#[test]
fn geneve_with_options_carries_ethernet_or_ip() {
    for (proto, inner) in [(0x6558u16, inner_eth(false)), (0x0800, inner_ip(false))] {
        // Two words of options (an 8-byte TLV).
        let mut h = vec![0x02, 0];
        h.extend(proto.to_be_bytes());
        h.extend([0, 0, 7, 0]);
        h.extend([0x01, 0x08, 0x01, 0x01, 1, 2, 3, 4]);
        h.extend(inner);
        let seg = run(&over_udp(false, 6081, &h)).unwrap();
        assert_inner(&seg, false);
        assert_ne!(seg.tunnel, 0);
    }
    let mut bad = vec![0x40, 0, 0x65, 0x58, 0, 0, 7, 0];
    bad.extend(inner_eth(false));
    assert_eq!(
        run(&over_udp(false, 6081, &bad)).unwrap_err(),
        Skip::GeneveMalformed
    );
}

fn gtp_u(reply: bool, teid: u32, kind: u8, ext: bool) -> Vec<u8> {
    let inner = inner_ip(reply);
    let mut body = Vec::new();
    if ext {
        // Sequence, N-PDU, next type 0x85 (PDU session container), then
        // one 4-byte extension header ending the chain.
        body.extend([0, 0, 0, 0x85, 1, 0x10, 0x09, 0]);
    }
    body.extend(&inner);
    let mut h = vec![if ext { 0x34 } else { 0x30 }, kind];
    h.extend((body.len() as u16).to_be_bytes());
    h.extend(teid.to_be_bytes());
    h.extend(body);
    over_udp(reply, 2152, &h)
}

#[test]
fn gtp_u_is_keyed_by_its_outer_ends_not_its_per_direction_teids() {
    let up = gtp_u(false, 0x07e0_29a2, 0xff, true);
    let down = gtp_u(true, 0xdfd5_b186, 0xff, false);
    let (up, down) = (run(&up).unwrap(), run(&down).unwrap());
    assert_inner(&up, false);
    assert_inner(&down, true);
    assert_ne!(up.tunnel, 0);
    assert_eq!(up.tunnel, down.tunnel);
    let tag = (Kind::GtpU, None);
    assert_eq!((up.tag, down.tag), (Some(tag), Some(tag)));
    let echo = gtp_u(false, 0, 1, false);
    assert_eq!(run(&echo).unwrap_err(), Skip::GtpUSignalling);
    let mut version2 = gtp_u(false, 1, 0xff, false);
    let at = version2.len() - inner_ip(false).len() - 8;
    version2[at] = 0x48;
    assert_eq!(run(&version2).unwrap_err(), Skip::GtpUMalformed);
}

fn gre(reply: bool, flags: u8, version: u8, proto: u16, key: u32, inner: &[u8]) -> Vec<u8> {
    let mut h = vec![flags, version];
    h.extend(proto.to_be_bytes());
    if flags & 0x80 != 0 {
        h.extend([0; 4]);
    }
    if flags & 0x20 != 0 {
        h.extend(key.to_be_bytes());
    }
    if flags & 0x10 != 0 {
        h.extend(7u32.to_be_bytes());
    }
    h.extend(inner);
    over_ip(reply, 47, &h)
}

#[test]
fn gre_with_checksum_key_and_sequence_is_keyed_by_its_key() {
    let flags = 0x80 | 0x20 | 0x10;
    let a = gre(false, flags, 0, 0x0800, 5, &inner_ip(false));
    let b = gre(true, flags, 0, 0x0800, 5, &inner_ip(true));
    let c = gre(false, flags, 0, 0x0800, 6, &inner_ip(false));
    let (a, b, c) = (run(&a).unwrap(), run(&b).unwrap(), run(&c).unwrap());
    assert_inner(&a, false);
    assert_inner(&b, true);
    assert_eq!(a.tunnel, b.tunnel);
    assert_ne!(a.tunnel, c.tunnel);
    let tag = (Kind::Gre, Some(5));
    assert_eq!(a.tag, Some(tag));
    let teb = gre(false, 0x20, 0, 0x6558, 0x0001_0001, &inner_eth(false));
    assert_inner(&run(&teb).unwrap(), false);
}

#[test]
fn gre_version_1_and_routing_are_counted() {
    let pptp = gre(false, 0x20, 1, 0x880b, 0, &inner_ip(false));
    assert_eq!(run(&pptp).unwrap_err(), Skip::GrePptp);
    let routing = gre(false, 0x40, 0, 0x0800, 0, &inner_ip(false));
    assert_eq!(run(&routing).unwrap_err(), Skip::GreUnsupported);
}

#[test]
fn erspan_types_one_two_and_three_carry_ethernet() {
    let type1 = gre(false, 0, 0, 0x88be, 0, &inner_eth(false));
    assert_inner(&run(&type1).unwrap(), false);
    // Type II: version 1, session 0x155.
    let mut ii = vec![0x10, 0x01, 0x01, 0x55, 0, 0, 0, 0];
    ii.extend(inner_eth(false));
    let two = run(&gre(false, 0x10, 0, 0x88be, 0, &ii)).unwrap();
    assert_inner(&two, false);
    let tag = (Kind::Erspan, Some(0x155));
    assert_eq!(two.tag, Some(tag));
    // Type III: version 2, session 0x155, O bit set: an 8-byte subheader.
    let mut iii = vec![0x20, 0x01, 0x01, 0x55, 0, 0, 0, 0, 0, 0, 0, 1];
    iii.extend([0; 8]);
    iii.extend(inner_eth(false));
    let three = run(&gre(false, 0x10, 0, 0x22eb, 0, &iii)).unwrap();
    assert_inner(&three, false);
    // Frame type 2 (IP), not decoded.
    iii[10] = 0x08;
    assert_eq!(
        run(&gre(false, 0x10, 0, 0x22eb, 0, &iii)).unwrap_err(),
        Skip::Erspan
    );
}

#[test]
fn erspan_sessions_stay_apart() {
    let session = |id: u8| {
        let mut ii = vec![0x10, 0x01, 0x00, id, 0, 0, 0, 0];
        ii.extend(inner_eth(false));
        gre(false, 0x10, 0, 0x88be, 0, &ii)
    };
    let (a, b) = (session(1), session(2));
    assert_ne!(run(&a).unwrap().tunnel, run(&b).unwrap().tunnel);
}

fn pppoe(session: u16, ppp: &[u8], qinq: bool) -> Vec<u8> {
    let mut h = vec![0x11, 0x00];
    h.extend(session.to_be_bytes());
    h.extend((ppp.len() as u16).to_be_bytes());
    h.extend(ppp);
    if !qinq {
        return ethernet(0x8864, &h);
    }
    let mut tags = vec![0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x88, 0x64];
    tags.extend(h);
    ethernet(0x8100, &tags)
}

#[test]
fn pppoe_sessions_carry_ip_with_or_without_field_compression() {
    let mut ppp = vec![0x00, 0x21];
    ppp.extend(inner_ip(false));
    let plain = run(&pppoe(7, &ppp, false)).unwrap();
    assert_inner(&plain, false);
    let tagged = run(&pppoe(7, &ppp, true)).unwrap();
    assert_inner(&tagged, false);
    let tag = (Kind::Pppoe, Some(7));
    assert_eq!(tagged.tag, Some(tag));
    let mut compressed = vec![0x21];
    compressed.extend(inner_ip(false));
    assert_inner(&run(&pppoe(7, &compressed, false)).unwrap(), false);
    assert_ne!(
        plain.tunnel,
        run(&pppoe(8, &ppp, false)).unwrap().tunnel,
        "two sessions"
    );
    let lcp = [0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0];
    assert_eq!(run(&pppoe(7, &lcp, false)).unwrap_err(), Skip::Pppoe);
    let discovery = ethernet(0x8863, &[0x11, 0x09, 0, 0, 0, 0]);
    assert_eq!(run(&discovery).unwrap_err(), Skip::Pppoe);
}

#[test]
fn mpls_stacks_carry_ip_or_ethernet_behind_a_control_word() {
    let label = |l: u32, bottom: bool| ((l << 12) | (u32::from(bottom) << 8) | 64).to_be_bytes();
    let mut ip = Vec::new();
    ip.extend(label(100, false));
    ip.extend(label(200, true));
    ip.extend(inner_ip(false));
    let seg = run(&ethernet(0x8847, &ip)).unwrap();
    assert_inner(&seg, false);
    assert_eq!(seg.tunnel, 0, "labels differ per direction: no key");
    assert_eq!(seg.tag, None);
    let mut pw = label(300, true).to_vec();
    pw.extend([0; 4]);
    pw.extend(inner_eth(false));
    assert_inner(&run(&ethernet(0x8847, &pw)).unwrap(), false);
    let mut other = label(300, true).to_vec();
    other.extend([0x81, 0, 0, 0]);
    assert_eq!(run(&ethernet(0x8847, &other)).unwrap_err(), Skip::Mpls);
}

#[test]
fn ip_in_ip_and_6in4_are_unwrapped_and_keyed_by_outer_ends() {
    let v4 = run(&over_ip(false, 4, &inner_ip(false))).unwrap();
    assert_inner(&v4, false);
    let back = run(&over_ip(true, 4, &inner_ip(true))).unwrap();
    assert_eq!(v4.tunnel, back.tunnel);
    let mut v6 = Vec::new();
    PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64)
        .tcp(40000, 80, 1, 512)
        .write(&mut v6, b"x")
        .unwrap();
    let seg = run(&over_ip(false, 41, &v6)).unwrap();
    assert_eq!(seg.src.0, IpAddr::from([0xfd; 16]));
    assert_ne!(seg.tunnel, 0);
}

#[test]
fn esp_is_counted_as_encrypted() {
    let frame = over_ip(false, 50, &[0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb]);
    assert_eq!(run(&frame).unwrap_err(), Skip::Esp);
}

#[test]
fn nesting_is_bounded() {
    let nest_around = |mut packet: Vec<u8>, depth: usize| {
        for _ in 0..depth {
            let mut out = Vec::new();
            PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .write(&mut out, IpNumber(4), &packet)
                .unwrap();
            packet = out;
        }
        ethernet(0x0800, &packet)
    };
    let nest = |depth| nest_around(inner_ip(false), depth);
    assert_inner(&run(&nest(MAX_DEPTH)).unwrap(), false);
    assert_eq!(run(&nest(MAX_DEPTH + 1)).unwrap_err(), Skip::TunnelTooDeep);
    // As deep as allowed, around UDP: not TCP, not too deep.
    let mut dns = Vec::new();
    PacketBuilder::ipv4(CLIENT, SERVER, 64)
        .udp(5353, 53)
        .write(&mut dns, b"q")
        .unwrap();
    assert_eq!(run(&nest_around(dns, MAX_DEPTH)).unwrap_err(), Skip::NotTcp);
}

#[test]
fn cut_or_damaged_tunnels_are_errors_not_panics() {
    let mut iii = vec![0x20, 0x01, 0x01, 0x55, 0, 0, 0, 0, 0, 0, 0, 1];
    iii.extend([0; 8]);
    iii.extend(inner_eth(false));
    let mut ppp = vec![0x00, 0x21];
    ppp.extend(inner_ip(false));
    let frames = [
        vxlan(false, 1),
        gtp_u(false, 1, 0xff, true),
        gre(false, 0xb0, 0, 0x22eb, 9, &iii),
        pppoe(3, &ppp, true),
    ];
    // A small linear congruential generator: reproducible damage.
    let mut state: u32 = 12345;
    for frame in &frames {
        for cut in 0..frame.len() {
            let _ = run(&frame[..cut]);
        }
        for _ in 0..2000 {
            let mut f = frame.clone();
            for _ in 0..3 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (state >> 8) as usize % f.len();
                f[at] = (state >> 24) as u8;
            }
            let _ = run(&f);
        }
    }
}

#[test]
fn tags_name_their_tunnel_for_people_and_for_wireshark() {
    let tag = |kind, id: Option<u32>| Tag {
        kind,
        has_id: id.is_some(),
        id: id.unwrap_or(0),
    };
    let cases = [
        (
            tag(Kind::Vxlan, Some(100)),
            "vxlan 100",
            "vxlan.vni == 100 && ",
        ),
        (tag(Kind::Gre, Some(5)), "gre key 5", "gre.key == 5 && "),
        (tag(Kind::Gre, None), "gre", "gre && "),
        (tag(Kind::GtpU, None), "gtp-u", "gtp && "),
        (tag(Kind::IpInIp, None), "ip-in-ip", ""),
        (
            tag(Kind::Pppoe, Some(7)),
            "pppoe session 7",
            "pppoe.session_id == 7 && ",
        ),
    ];
    for (t, words, filter) in cases {
        assert_eq!(t.to_string(), words);
        assert_eq!(t.wireshark_term(), filter);
    }
    let json = serde_json::to_value(tag(Kind::GtpU, None)).unwrap();
    assert_eq!(json, serde_json::json!({"kind": "gtp_u", "id": null}));
}

#[test]
fn tunnels_over_ipv6_are_keyed_by_their_ipv6_ends() {
    let frame = |reply: bool, vni: u32| {
        let (s, d) = if reply {
            ([0xfd; 16], [0xfc; 16])
        } else {
            ([0xfc; 16], [0xfd; 16])
        };
        let mut h = vec![0x08, 0, 0, 0];
        h.extend(&(vni << 8).to_be_bytes());
        h.extend(inner_eth(reply));
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv6(s, d, 64)
            .udp(50000, 4789)
            .write(&mut out, &h)
            .unwrap();
        out
    };
    let there = run(&frame(false, 9)).unwrap();
    let back = run(&frame(true, 9)).unwrap();
    assert_inner(&there, false);
    assert_inner(&back, true);
    assert_eq!(there.tunnel, back.tunnel);
    assert_ne!(there.tunnel, run(&frame(false, 10)).unwrap().tunnel);
    // The same VNI between other ends is another tunnel.
    let v4 = run(&vxlan(false, 9)).unwrap();
    assert_ne!(there.tunnel, v4.tunnel);
}
