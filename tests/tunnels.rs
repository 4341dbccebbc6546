//! WebSocket connections inside tunnels, end to end: exchanges recorded in
//! real Linux VXLAN tunnels (tests/data/tunnels/record.sh: 3 client texts
//! each answered, server Pings every 0.5 s, a clean close), and what is
//! still not decoded, counted by kind.

mod common;

use serde_json::Value;

fn findings(capture: &str) -> Value {
    common::json(&["analyze", "--format", "json", capture])
}

/// Checks one recorded exchange: the inner endpoints, closed cleanly,
/// with every frame each peer sent.
fn assert_exchange(c: &Value) {
    assert_eq!(common::addr(&c["client"]), "192.168.77.2:40000");
    assert_eq!(common::addr(&c["server"]), "192.168.77.1:8080");
    assert_eq!(c["verdict"], "closed", "reasons {}", c["reasons"]);
    let f = &c["frames"];
    for side in ["client", "server"] {
        assert_eq!(f[side]["text"], 3, "{side} texts");
        assert_eq!(f[side]["close"], 1, "{side} close");
    }
    assert!(f["server"]["ping"].as_u64().unwrap() >= 3);
    assert_eq!(f["server"]["ping"], f["client"]["pong"]);
}

#[test]
fn a_connection_inside_vxlan_is_judged() {
    let report = findings("tests/data/tunnels/vxlan.pcap");
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    assert_exchange(&conns[0]);
    assert_eq!(
        conns[0]["tunnel"],
        serde_json::json!({"kind": "vxlan", "id": 100})
    );
    let plain = findings("samples/healthy-pings.pcap");
    assert_eq!(plain["connections"][0]["tunnel"], Value::Null);
}

#[test]
fn equal_inner_tuples_in_two_vnis_stay_two_connections() {
    let report = findings("tests/data/tunnels/vxlan-twins.pcap");
    let conns = report["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2, "one connection per VNI");
    for c in conns {
        assert_exchange(c);
    }
    // Told apart in the report, and each with a Wireshark filter that
    // selects its own tunnel only.
    let mut vnis: Vec<u64> = conns
        .iter()
        .map(|c| {
            assert_eq!(c["tunnel"]["kind"], "vxlan");
            let vni = c["tunnel"]["id"].as_u64().unwrap();
            let filter = c["wireshark_filter"].as_str().unwrap();
            assert!(
                filter.starts_with(&format!("vxlan.vni == {vni} && ")),
                "{filter}"
            );
            vni
        })
        .collect();
    vnis.sort();
    assert_eq!(vnis, [100, 200]);
    let tcp = common::tcp_view(&common::repo().join("tests/data/tunnels/vxlan-twins.pcap"));
    for c in tcp["connections"].as_array().unwrap() {
        for side in ["client", "server"] {
            assert_eq!(
                c["tcp"][side]["retransmissions"], 0,
                "the twin's packets are not retransmissions"
            );
        }
    }
}

/// A pcap of Ethernet frames (LINKTYPE_ETHERNET), one per second.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend((1_700_000_000 + i as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend(f);
    }
    out
}

/// Ethernet, IPv4 (no options, checksum left 0) with protocol `proto`.
fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend([0x45, 0]);
    f.extend((20 + payload.len() as u16).to_be_bytes());
    f.extend([0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend(payload);
    f
}

fn udp(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = 50000u16.to_be_bytes().to_vec();
    u.extend(port.to_be_bytes());
    u.extend((8 + payload.len() as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    ipv4(17, &u)
}

#[test]
fn what_is_still_not_decoded_is_counted_by_kind() {
    let frames = vec![
        // VXLAN without its I flag.
        udp(4789, &[0, 0, 0, 0, 0, 0, 100, 0]),
        // GTP-U echo request.
        udp(2152, &[0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]),
        // PPTP's enhanced GRE (version 1, key present).
        ipv4(47, &[0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 1]),
        ipv4(47, &[0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 2]),
        // IPsec ESP.
        ipv4(50, &[0, 0, 1, 0, 0, 0, 0, 1, 0xde, 0xad]),
    ];
    let dir = std::env::temp_dir().join(format!("wspulse-tunnels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("undecoded.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();
    let report = findings(path.to_str().unwrap());
    let skipped = &report["capture"]["not_decoded"];
    assert_eq!(skipped["vxlan_malformed"], 1);
    assert_eq!(skipped["gtp_u_signalling"], 1);
    assert_eq!(skipped["gre_pptp"], 2);
    assert_eq!(skipped["esp"], 1);
    let out = common::wspulse(&["analyze", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 GRE version 1 (PPTP)"), "{text}");
    assert!(
        text.contains("1 UDP 4789 with a bad VXLAN header"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
