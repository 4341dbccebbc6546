//! Packet sources: capture files (pcap, pcapng, rotated sets, stdin) and,
//! with the `live` feature, an interface. Every packet carries the frame
//! reference Wireshark would show, so findings can cite their evidence.

pub mod clock;
#[cfg(feature = "live")]
pub mod device;
pub mod file;
pub mod filter;
pub mod follow;
pub mod progress;
pub mod set;
pub mod write;

use serde::Serialize;

pub use crate::evidence::{FrameRef, Moment};
use crate::time::Timestamp;

/// libpcap's counters for a live capture, cumulative since it began
/// (pcap_stats(3PCAP)). They count packets, not connections: a drop may
/// have hidden evidence from any connection in its period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelStats {
    /// Packets the kernel handed to the capture (on Linux: queued to it,
    /// whether or not they were read yet).
    pub received: u64,
    /// Packets dropped because the capture buffer (`-B`) was full.
    pub dropped: u64,
    /// Packets the interface or its driver dropped (not all support it).
    pub if_dropped: u64,
}

/// Link-layer header types we can strip, by their LINKTYPE_ value
/// (<https://www.tcpdump.org/linktypes.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0) and LINKTYPE_LOOP (108): 4-byte address family.
    Null { big_endian: bool },
    /// LINKTYPE_ETHERNET (1), with 802.1Q / QinQ tags.
    Ethernet,
    /// LINKTYPE_RAW (101; libpcap also reports DLT_RAW as 12 or 14),
    /// LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229): the packet starts at IP.
    RawIp,
    /// LINKTYPE_LINUX_SLL (113), `tcpdump -i any`.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276), `tcpdump -i any` since libpcap 1.10.
    LinuxSll2,
    /// Anything else: counted, never guessed at.
    Other(u32),
}

impl LinkType {
    /// The LINKTYPE_ value to write this link type with: the one it was
    /// read as, except that the raw-IP values (12, 14, 228, 229) are all
    /// written as LINKTYPE_RAW (101), which holds IPv4 and IPv6 alike.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Null { big_endian: false } => 0,
            LinkType::Null { big_endian: true } => 108,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(v) => v,
        }
    }

    pub fn from_linktype(value: u32) -> LinkType {
        match value {
            0 => LinkType::Null { big_endian: false },
            108 => LinkType::Null { big_endian: true },
            1 => LinkType::Ethernet,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }
}

/// TLS key log text met in pcapng Decryption Secrets Blocks (block type
/// 0x0000000A, secrets type 0x544c534b `TLSK`; draft-ietf-opsawg-pcapng
/// §4.7), kept until the reader of the packets takes it. A block comes
/// before the packets it decrypts, so taking it before each packet is in
/// time. Cloning shares the same store.
#[derive(Clone, Debug, Default)]
pub struct SecretsSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SecretsSink {
    /// Adds one block's key log text (a line break is put after it).
    pub fn push(&self, text: &[u8]) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.extend_from_slice(text);
        held.push(b'\n');
    }

    /// The text added since the last take (empty when none).
    pub fn take(&self) -> Vec<u8> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *held)
    }
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub at: Timestamp,
    pub frame: FrameRef,
    pub link: LinkType,
    pub data: &'a [u8],
    /// Length on the wire; more than `data.len()` when snaplen cut it.
    pub orig_len: u32,
}

/// A [`Packet`] copied out of its reader's buffer: what waits its turn
/// in a merge of several files, or is kept to be replayed.
#[derive(Clone, Debug)]
pub struct OwnedPacket {
    pub at: Timestamp,
    pub frame: FrameRef,
    pub link: LinkType,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

impl OwnedPacket {
    /// Copies `p` (its bytes included).
    pub fn new(p: &Packet<'_>) -> Self {
        OwnedPacket {
            at: p.at,
            frame: p.frame,
            link: p.link,
            orig_len: p.orig_len,
            data: p.data.to_vec(),
        }
    }

    /// The packet again, borrowing the copy.
    pub fn packet(&self) -> Packet<'_> {
        Packet {
            at: self.at,
            frame: self.frame,
            link: self.link,
            data: &self.data,
            orig_len: self.orig_len,
        }
    }
}

/// How far a capture reaches on the capture clock: what `--at` is resolved
/// against (`config::At::resolve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureSpan {
    pub first_packet: Timestamp,
    /// The largest packet time (all files, before any filter).
    pub last_packet: Timestamp,
    /// When capturing stopped, as the files record it (pcapng
    /// `isb_endtime`, the latest of all files), on the capture clock.
    pub recorded_end: Option<Timestamp>,
}

impl CaptureSpan {
    /// The end of the capture: the recorded end, else the last packet. A
    /// recorded end before the last packet (statistics written part-way, a
    /// writer's mistake) cannot be when capturing stopped: the last packet
    /// wins.
    pub fn end(&self) -> Timestamp {
        self.recorded_end
            .map_or(self.last_packet, |end| end.max(self.last_packet))
    }
}
