//! Big and odd handshake heads, built packet by packet: Cookies of 9, 16
//! and 32 KB, other headers too long to keep, a 101 whose request was not
//! seen or was cut, and `--ws-port` on a head that cannot be read. Each
//! holds three Ping/Pong pairs after the handshake: wspulse must find the
//! WebSocket connection and its heartbeats.

mod common;

use std::path::PathBuf;

use serde_json::Value;

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 2], 51000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 8080);

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// A classic pcap (Ethernet, microseconds) of one TCP connection, written
/// as the test goes. Sequence numbers are tracked per side.
struct Capture {
    bytes: Vec<u8>,
    micros: u64,
    seq: [u32; 2],
}

impl Capture {
    fn new() -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        Capture {
            bytes,
            micros: 1_700_000_000_000_000,
            seq: [1000, 5000],
        }
    }

    /// One segment from the client (`from_client`) or the server; `record`
    /// false sends it without capturing it (a hole in the capture).
    fn send(&mut self, from_client: bool, flags: u8, payload: &[u8], record: bool) {
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
        let (src, dst) = if from_client {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let seq = self.seq[me];
        let ack = if flags & ACK != 0 { self.seq[peer] } else { 0 };
        self.seq[me] = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(flags & SYN != 0));
        self.micros += 1000;
        if !record {
            return;
        }
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&src.1.to_be_bytes());
        tcp.extend_from_slice(&dst.1.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.extend_from_slice(&[0x50, flags]);
        tcp.extend_from_slice(&65535u16.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
        ip.extend_from_slice(&src.0);
        ip.extend_from_slice(&dst.0);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&tcp);
        let (secs, us) = (self.micros / 1_000_000, self.micros % 1_000_000);
        self.bytes.extend_from_slice(&(secs as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(us as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&frame);
    }

    fn handshake(&mut self) {
        self.send(true, SYN, b"", true);
        self.send(false, SYN | ACK, b"", true);
        self.send(true, ACK, b"", true);
    }

    /// `head` from the client in segments of at most 1448 bytes; those
    /// whose index is in `lost` are not captured.
    fn request(&mut self, head: &[u8], lost: &[usize]) {
        for (i, part) in head.chunks(1448).enumerate() {
            self.send(true, PSH_ACK, part, !lost.contains(&i));
        }
    }

    fn response(&mut self) {
        self.send(false, PSH_ACK, RESPONSE, true);
    }

    /// Three server Pings, each answered by a masked client Pong.
    fn heartbeats(&mut self) {
        for n in 0..3u8 {
            let payload = [b'p', b'0' + n];
            let ping = [0x89, 0x02, payload[0], payload[1]];
            self.send(false, PSH_ACK, &ping, true);
            let mask = [0x11, 0x22, 0x33, 0x44];
            let pong = [
                0x8a,
                0x82,
                mask[0],
                mask[1],
                mask[2],
                mask[3],
                payload[0] ^ mask[0],
                payload[1] ^ mask[1],
            ];
            self.send(true, PSH_ACK, &pong, true);
            self.send(false, ACK, b"", true);
        }
    }

    fn write(&self, name: &str) -> Temp {
        let path =
            std::env::temp_dir().join(format!("wspulse-heads-{}-{name}", std::process::id()));
        std::fs::write(&path, &self.bytes).unwrap();
        Temp(path)
    }
}

/// A capture file removed when dropped.
struct Temp(PathBuf);

impl std::ops::Deref for Temp {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// An Upgrade request with `extra` header lines before the blank line.
fn request_with(extra: &str) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn cookie(bytes: usize) -> String {
    let mut value = String::new();
    let mut n = 0;
    while value.len() < bytes {
        value.push_str(&format!("c{n}={}; ", "v".repeat(40)));
        n += 1;
    }
    format!("Cookie: {}\r\n", value.trim_end_matches("; "))
}

/// The one connection's findings, which must be WebSocket with its three
/// Ping/Pong pairs.
fn three_heartbeats(path: &PathBuf, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let c = common::json(&args);
    let conns = c["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{path:?} {extra:?}: {c:#}");
    let conn = conns[0].clone();
    assert_eq!(conn["frames"]["server"]["ping"], 3, "{path:?} {extra:?}");
    assert_eq!(conn["frames"]["client"]["pong"], 3, "{path:?} {extra:?}");
    // A capture that lost bytes of the request says so, and only that.
    let lost = common::codes(&conn["reasons"]) == vec![("capture_loss".into(), "client".into())];
    assert!(
        conn["verdict"] == "alive" || (conn["verdict"] == "suspect" && lost),
        "{path:?} {extra:?}: {conn:#}"
    );
    conn
}

/// Kind: a big Cookie hides the Upgrade. Cookie values are dropped unkept,
/// so they do not count against the head cap, whatever their size.
#[test]
fn big_cookies_do_not_hide_the_upgrade() {
    let case = common::repo().join("tests/data/cases/big-cookie-upgrade/c9f_cookie9k.pcap");
    for port in [&[][..], &["--ws-port", "8080"][..]] {
        let conn = three_heartbeats(&case, port);
        assert_eq!(conn["handshake"]["seen"], true);
        assert_eq!(conn["handshake"]["path"], "/ws");
    }
    for kb in [16, 32, 200] {
        let mut cap = Capture::new();
        cap.handshake();
        cap.request(&request_with(&cookie(kb * 1024)), &[]);
        cap.response();
        cap.heartbeats();
        let path = cap.write(&format!("cookie{kb}k.pcap"));
        for port in [&[][..], &["--ws-port", "8080"][..]] {
            let conn = three_heartbeats(&path, port);
            assert_eq!(conn["handshake"]["seen"], true, "{kb} KB {port:?}");
            assert_eq!(conn["handshake"]["accept_valid"], true, "{kb} KB");
            assert_eq!(conn["handshake"]["host"], "example.com", "{kb} KB");
        }
    }
}

/// Heads servers accept, of headers that are kept: still parsed.
#[test]
fn a_20k_head_of_kept_headers_is_parsed() {
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(
        &request_with(&format!("X-Big: {}\r\n", "b".repeat(20_000))),
        &[],
    );
    cap.response();
    cap.heartbeats();
    let conn = three_heartbeats(&cap.write("xbig20k.pcap"), &[]);
    assert_eq!(conn["handshake"]["path"], "/ws");
}

/// Kind: the server's valid 101 establishes the session, however much of
/// the request the capture could read: too long to keep, not seen at
/// all, or cut by a hole.
#[test]
fn a_valid_101_establishes_the_session() {
    // Too long to keep (128 KB of headers that are not credentials).
    let mut cap = Capture::new();
    cap.handshake();
    let filler: String = (0..128)
        .map(|i| format!("X-F{i}: {}\r\n", "f".repeat(1000)))
        .collect();
    cap.request(&request_with(&filler), &[]);
    cap.response();
    cap.heartbeats();
    let conn = three_heartbeats(&cap.write("toolong.pcap"), &[]);
    assert_eq!(conn["handshake"]["status"], 101);

    // Not seen: the capture starts after the request, or missed it.
    let mut cap = Capture::new();
    cap.send(true, SYN, b"", false);
    cap.send(false, SYN | ACK, b"", false);
    cap.send(true, ACK, b"", false);
    cap.request(&request_with(""), &[0]);
    cap.response();
    cap.heartbeats();
    let path = cap.write("after.pcap");
    for port in [&[][..], &["--ws-port", "8080"][..]] {
        let conn = three_heartbeats(&path, port);
        assert_eq!(conn["handshake"]["status"], 101);
    }
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(&request_with(""), &[0]);
    cap.response();
    cap.heartbeats();
    let path = cap.write("unseen.pcap");
    for port in [&[][..], &["--ws-port", "8080"][..]] {
        let conn = three_heartbeats(&path, port);
        assert_eq!(conn["handshake"]["status"], 101);
    }

    // Cut: the capture missed the middle of a 9 KB request.
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(&request_with(&cookie(9 * 1024)), &[3]);
    cap.response();
    cap.heartbeats();
    let conn = three_heartbeats(&cap.write("cut.pcap"), &[]);
    assert_eq!(conn["handshake"]["status"], 101);
}

/// Kind: `--ws-port` on a head that cannot be read as HTTP falls back to
/// finding frames mid-stream; without it, such a connection is not
/// WebSocket.
#[test]
fn ws_port_falls_back_to_midstream_decoding() {
    let mut cap = Capture::new();
    cap.handshake();
    // A request line, then a control byte no HTTP head may hold.
    cap.request(b"GET /ws HTTP/1.1\r\nX-Odd: \x01\r\n\r\n", &[]);
    cap.send(false, PSH_ACK, b"HTTP/1.1 101 \x01\r\n\r\n", true);
    cap.heartbeats();
    let path = cap.write("unreadable.pcap");
    three_heartbeats(&path, &["--ws-port", "8080"]);
    let c = common::json(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert!(c["connections"].as_array().unwrap().is_empty(), "{c:#}");
}

/// A response head too long to keep, to a WebSocket Upgrade: the frames
/// that follow decide (the server's unmasked, the client's masked).
#[test]
fn a_response_too_long_to_keep_is_decided_by_its_frames() {
    let mut cap = Capture::new();
    cap.handshake();
    cap.request(&request_with(""), &[]);
    let filler: String = (0..80)
        .map(|i| format!("X-F{i}: {}\r\n", "f".repeat(1000)))
        .collect();
    let mut head = RESPONSE[..RESPONSE.len() - 2].to_vec();
    head.extend_from_slice(filler.as_bytes());
    head.extend_from_slice(b"\r\n");
    for part in head.chunks(1448) {
        cap.send(false, PSH_ACK, part, true);
    }
    cap.heartbeats();
    three_heartbeats(&cap.write("long-response.pcap"), &[]);
}
