//! Hand-built captures of one WebSocket connection, packet by packet, for
//! peers and captures that misbehave on purpose: segments out of order,
//! lost or overlapping, heads of any size. Classic pcap, Ethernet, IPv4,
//! microsecond times.

#![allow(dead_code)]

use std::path::PathBuf;

pub const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 2], 51000);
pub const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 8080);

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;

/// A valid 101 for [`request_with`]'s key (RFC 6455 §1.3's example).
pub const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// An Upgrade request with `extra` header lines before the blank line.
pub fn request_with(extra: &str) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// A capture being written. Sequence numbers are tracked per side (index
/// 0 the client, 1 the server); each packet comes `step_us` after the last.
pub struct Capture {
    bytes: Vec<u8>,
    pub micros: u64,
    pub step_us: u64,
    pub seq: [u32; 2],
}

impl Capture {
    pub fn new() -> Self {
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
            step_us: 1000,
            // Near the wrap, so every capture crosses it.
            seq: [u32::MAX - 2000, 5000],
        }
    }

    /// One segment from the client (`from_client`) or the server at the
    /// side's next sequence number, which it then advances; `record` false
    /// sends it without capturing it (a hole in the capture).
    pub fn send(&mut self, from_client: bool, flags: u8, payload: &[u8], record: bool) {
        let me = usize::from(!from_client);
        let seq = self.seq[me];
        self.seq[me] = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(flags & SYN != 0));
        if record {
            self.packet_at(from_client, seq, flags, payload);
        } else {
            self.micros += self.step_us;
        }
    }

    /// One segment at sequence number `seq`, which nothing tracks: for
    /// segments out of order or sent again. It ACKs the peer's next byte.
    pub fn packet_at(&mut self, from_client: bool, seq: u32, flags: u8, payload: &[u8]) {
        let peer = usize::from(from_client);
        let (src, dst) = if from_client {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let ack = if flags & ACK != 0 { self.seq[peer] } else { 0 };
        self.micros += self.step_us;
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

    pub fn handshake(&mut self) {
        self.send(true, SYN, b"", true);
        self.send(false, SYN | ACK, b"", true);
        self.send(true, ACK, b"", true);
    }

    /// `head` from the client in segments of at most 1448 bytes; those
    /// whose index is in `lost` are not captured.
    pub fn request(&mut self, head: &[u8], lost: &[usize]) {
        for (i, part) in head.chunks(1448).enumerate() {
            self.send(true, PSH_ACK, part, !lost.contains(&i));
        }
    }

    pub fn response(&mut self) {
        self.send(false, PSH_ACK, RESPONSE, true);
    }

    /// TCP handshake, Upgrade and its 101.
    pub fn upgraded() -> Self {
        let mut cap = Capture::new();
        cap.handshake();
        cap.request(&request_with(""), &[]);
        cap.response();
        cap
    }

    /// Three server Pings, each answered by a masked client Pong.
    pub fn heartbeats(&mut self) {
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

    /// Writes the capture to a temporary file, removed when dropped.
    pub fn write(&self, name: &str) -> Temp {
        let path =
            std::env::temp_dir().join(format!("wspulse-pcapgen-{}-{name}", std::process::id()));
        std::fs::write(&path, &self.bytes).unwrap();
        Temp(path)
    }
}

/// An unmasked binary frame (a server's) of `payload`, RFC 6455 §5.2.
pub fn binary_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x82];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A capture file removed when dropped.
pub struct Temp(PathBuf);

impl Temp {
    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

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
