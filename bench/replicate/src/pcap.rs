//! Classic pcap in and out (the libpcap file format,
//! <https://www.tcpdump.org/manpages/pcap-savefile.5.html>): little-endian,
//! microsecond or nanosecond timestamps, LINKTYPE_ETHERNET (1, IPv4 only,
//! no VLAN tag) or LINKTYPE_RAW (101). The sample is read whole: it is meant
//! to be small.

use std::io::{self, Write};

/// One packet record of the sample.
pub struct Record {
    /// Capture time in nanoseconds since the epoch.
    pub ts_ns: u64,
    pub data: Vec<u8>,
    /// The record holds the whole packet (not cut by the snaplen).
    pub captured_whole: bool,
}

/// A sample capture: its file header (written again as the output's), the
/// timestamp resolution, where IP starts in a record, and its records.
pub struct Capture {
    pub header: [u8; 24],
    nanos: bool,
    pub ip_offset: usize,
    pub records: Vec<Record>,
}

impl Capture {
    /// Reads `path` whole. Errors (one line each): unreadable, not a
    /// little-endian classic pcap, a link type other than Ethernet or raw
    /// IP, a truncated record.
    pub fn read(path: &str) -> Result<Capture, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        Capture::parse(&bytes).map_err(|e| format!("{path}: {e}"))
    }

    pub fn parse(bytes: &[u8]) -> Result<Capture, String> {
        let header: [u8; 24] = bytes
            .get(..24)
            .and_then(|h| h.try_into().ok())
            .ok_or("too short for a pcap file header")?;
        let u32_at =
            |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let nanos = match u32_at(&header, 0) {
            0xa1b2_c3d4 => false,
            0xa1b2_3c4d => true,
            _ => return Err("not a little-endian classic pcap file (pcapng or big-endian: convert it with editcap -F pcap)".into()),
        };
        let ip_offset = match u32_at(&header, 20) & 0x0fff_ffff {
            1 => 14,
            101 => 0,
            other => {
                return Err(format!(
                    "link type {other}: only Ethernet (1) and raw IP (101) are copied"
                ))
            }
        };
        let mut records = Vec::new();
        let mut at = 24;
        while at < bytes.len() {
            let h = bytes
                .get(at..at + 16)
                .ok_or_else(|| format!("truncated record header at offset {at}"))?;
            let (sec, frac) = (u64::from(u32_at(h, 0)), u64::from(u32_at(h, 4)));
            let (incl, orig) = (u32_at(h, 8) as usize, u32_at(h, 12) as usize);
            let data = bytes
                .get(at + 16..at + 16 + incl)
                .ok_or_else(|| format!("truncated record at offset {at}"))?;
            let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
            let ethernet_ipv4 = ip_offset == 0 || data.get(12..14) == Some(&[0x08, 0x00]);
            if ethernet_ipv4 {
                records.push(Record {
                    ts_ns,
                    data: data.to_vec(),
                    captured_whole: incl == orig,
                });
            }
            at += 16 + incl;
        }
        Ok(Capture {
            header,
            nanos,
            ip_offset,
            records,
        })
    }

    /// Writes one record at `ts_ns` (nanoseconds since the epoch), in the
    /// sample's timestamp resolution.
    pub fn write_record(&self, out: &mut impl Write, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let sec = (ts_ns / 1_000_000_000) as u32;
        let frac = (ts_ns % 1_000_000_000) as u32;
        let frac = if self.nanos { frac } else { frac / 1000 };
        let len = data.len() as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        out.write_all(&h)?;
        out.write_all(data)
    }
}
