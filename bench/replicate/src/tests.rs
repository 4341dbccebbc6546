use super::*;

const CLIENT: [u8; 4] = [10, 98, 0, 10];
const SERVER: [u8; 4] = [10, 98, 0, 1];

/// An Ethernet/IPv4/TCP packet with valid checksums.
fn packet(from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        (CLIENT, SERVER, 40000u16, 8080u16)
    } else {
        (SERVER, CLIENT, 8080, 40000)
    };
    let mut p = vec![0u8; 14];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = fold(u64::from(sum16(&ip)));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&0xffff_fff0u32.to_be_bytes());
    tcp.extend_from_slice(&7u32.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let c = tcp_checksum(&ip, &tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&tcp);
    p
}

/// The TCP checksum computed the slow, obvious way (RFC 793 section 3.1),
/// with the segment's own checksum field taken as zero.
fn tcp_checksum(ip: &[u8], tcp: &[u8]) -> u16 {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[12..20]);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    let mut seg = tcp.to_vec();
    seg[16..18].fill(0);
    pseudo.extend_from_slice(&seg);
    fold(u64::from(sum16(&pseudo)))
}

fn ip_checksum(ip: &[u8]) -> u16 {
    let mut h = ip[..20].to_vec();
    h[10..12].fill(0);
    fold(u64::from(sum16(&h)))
}

fn capture(packets: &[(u64, Vec<u8>)]) -> Capture {
    let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&65535u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    for (ms, p) in packets {
        let ts = 1_767_225_600_000_000_000 + ms * 1_000_000;
        bytes.extend_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        bytes.extend_from_slice(&((ts % 1_000_000_000 / 1000) as u32).to_le_bytes());
        bytes.extend_from_slice(&(p.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(p.len() as u32).to_le_bytes());
        bytes.extend_from_slice(p);
    }
    Capture::parse(&bytes).unwrap()
}

fn options() -> Options {
    parse_args(&["--copies", "3", "a.pcap", "b.pcap"].map(String::from)).unwrap()
}

fn upgraded_connection() -> Vec<(u64, Vec<u8>)> {
    vec![
        (0, packet(true, SYN, b"")),
        (1, packet(false, SYN | ACK, b"")),
        (2, packet(true, ACK, b"")),
        (3, packet(true, ACK, b"GET /ws HTTP/1.1\r\n\r\n")),
        (
            4,
            packet(false, ACK, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        ),
        (5, packet(false, ACK, b"\x81\x05hello")),
        (6, packet(true, ACK | FIN, b"")),
        (7, packet(false, ACK, b"")),
    ]
}

#[test]
fn copies_carry_valid_checksums_for_their_new_client() {
    let cap = capture(&upgraded_connection());
    let flows = keep_flows(&cap, &options()).unwrap();
    let mut buf = Vec::new();
    for copy in [0u64, 1, 63_999, 64_000, 1_000_000] {
        let client = client_of(u32::from_be_bytes([10, 128, 0, 0]), copy);
        for t in &flows[0].packets {
            stamp(t, client, &mut buf);
            let (ip, tcp) = (&buf[14..34], &buf[34..]);
            assert_eq!(ip_checksum(ip), u16::from_be_bytes([ip[10], ip[11]]));
            assert_eq!(
                tcp_checksum(ip, tcp),
                u16::from_be_bytes([tcp[16], tcp[17]])
            );
            let (addr, port) = if t.from_client {
                (&ip[12..16], &tcp[0..2])
            } else {
                (&ip[16..20], &tcp[2..4])
            };
            assert_eq!(addr, client.0.to_be_bytes());
            assert_eq!(port, client.1.to_be_bytes());
        }
    }
}

#[test]
fn a_copy_stops_before_the_close_and_keeps_its_recorded_spacing() {
    let cap = capture(&upgraded_connection());
    let flows = keep_flows(&cap, &options()).unwrap();
    assert_eq!(flows.len(), 1);
    let kept: Vec<u64> = flows[0]
        .packets
        .iter()
        .map(|t| t.after_ns / 1_000_000)
        .collect();
    assert_eq!(
        kept,
        [0, 1, 2, 3, 4, 5],
        "the FIN and what follows are dropped"
    );
}

#[test]
fn connections_without_a_101_or_without_their_syn_are_not_copied() {
    let mut packets = upgraded_connection();
    packets.retain(|(ms, _)| *ms != 4);
    let cap = capture(&packets);
    let err = keep_flows(&cap, &options()).err().unwrap();
    assert!(err.contains("no connection"), "{err}");
    let cap = capture(&upgraded_connection()[1..]);
    assert!(keep_flows(&cap, &options()).is_err());
}

#[test]
fn every_copy_has_its_own_client_address_and_port() {
    let net = u32::from_be_bytes([10, 128, 0, 0]);
    let mut seen = std::collections::HashSet::new();
    for i in 0..300_000 {
        assert!(seen.insert(client_of(net, i)), "copy {i} repeats a client");
    }
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(args(&["--copies", "0", "a", "b"]).is_err());
    assert!(args(&["--copies", "x", "a", "b"])
        .err()
        .unwrap()
        .contains("--copies"));
    assert!(args(&["--copies", "5", "a"]).is_err());
    assert!(args(&["--copies", "5", "--client-net", "255.255.255.255", "a", "b"]).is_err());
    assert!(Capture::parse(b"not a capture at all, no").is_err());
}
