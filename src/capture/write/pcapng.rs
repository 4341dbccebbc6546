//! Writing a pcapng file (RFC 9867): what `--extract` writes, because
//! unlike classic pcap it can say, in the file, when the capture it came
//! from was judged (an Interface Statistics Block's `isb_endtime`, which
//! `wspulse analyze` takes as the capture's end) and where each packet came
//! from (a packet comment, shown by Wireshark and `tshark -T fields -e
//! frame.comment`).
//!
//! Blocks are written little-endian (readers take the byte order from the
//! Section Header Block), timestamps in nanoseconds (`if_tsresol` 9).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{create_new, with_path};
use crate::time::Timestamp;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Option codes (RFC 9867 §3.5, §4.2, §4.6).
const OPT_COMMENT: u16 = 1;
const IF_TSRESOL: u16 = 9;
const ISB_ENDTIME: u16 = 3;

/// A pcapng writer with one section and the interfaces added to it.
/// Packets are buffered; [`PcapngWriter::finish`] writes the statistics
/// and flushes. Dropping the writer without `finish` loses the end time
/// (and an error on the last flush).
#[derive(Debug)]
pub struct PcapngWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// (LINKTYPE_ value, snaplen) of each interface, by its id.
    interfaces: Vec<(u32, u32)>,
    frames: u64,
}

impl PcapngWriter {
    /// Creates `path` (never overwriting: an existing file is an error
    /// naming it) and writes the Section Header Block.
    pub fn create(path: &Path) -> Result<Self, String> {
        let out = create_new(path).map_err(|e| e.to_string())?;
        let mut w = PcapngWriter {
            path: path.to_path_buf(),
            out,
            interfaces: Vec::new(),
            frames: 0,
        };
        let mut body = Vec::with_capacity(16);
        body.extend(BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        // Section length: unknown (-1), as streaming writers say.
        body.extend(u64::MAX.to_le_bytes());
        w.block(SHB, &body).map_err(|e| w.named(e).to_string())?;
        Ok(w)
    }

    /// The interface id for this link type (a LINKTYPE_ value,
    /// <https://www.tcpdump.org/linktypes.html>) and snaplen (bytes),
    /// writing its Interface Description Block the first time.
    pub fn interface(&mut self, link_type: u32, snaplen: u32) -> io::Result<u32> {
        if let Some(i) = self
            .interfaces
            .iter()
            .position(|&i| i == (link_type, snaplen))
        {
            return Ok(i as u32);
        }
        let mut body = Vec::with_capacity(20);
        body.extend((link_type as u16).to_le_bytes());
        body.extend(0u16.to_le_bytes());
        body.extend(snaplen.to_le_bytes());
        option(&mut body, IF_TSRESOL, &[9]);
        end_of_options(&mut body);
        self.block(IDB, &body).map_err(|e| self.named(e))?;
        self.interfaces.push((link_type, snaplen));
        Ok(self.interfaces.len() as u32 - 1)
    }

    /// Appends one packet on `interface`, captured at `at`, `orig_len`
    /// bytes on the wire of which `data` was captured, with an optional
    /// comment. Returns its frame number in this file (from 1, as
    /// Wireshark counts). Times before 1970 are written as 1970.
    pub fn packet(
        &mut self,
        interface: u32,
        at: Timestamp,
        data: &[u8],
        orig_len: u32,
        comment: Option<&str>,
    ) -> io::Result<u64> {
        let mut body = Vec::with_capacity(32 + data.len());
        body.extend(interface.to_le_bytes());
        push_time(&mut body, at);
        body.extend((data.len() as u32).to_le_bytes());
        body.extend(orig_len.max(data.len() as u32).to_le_bytes());
        body.extend(data);
        pad(&mut body);
        if let Some(c) = comment {
            option(&mut body, OPT_COMMENT, c.as_bytes());
            end_of_options(&mut body);
        }
        self.block(EPB, &body).map_err(|e| self.named(e))?;
        self.frames += 1;
        Ok(self.frames)
    }

    /// Writes, for every interface, an Interface Statistics Block whose
    /// `isb_endtime` is `end` (when capturing stopped: the time the source
    /// capture was judged at), then flushes. Returns the number of packets
    /// written.
    pub fn finish(mut self, end: Option<Timestamp>) -> io::Result<u64> {
        if let Some(end) = end {
            for i in 0..self.interfaces.len() as u32 {
                let mut body = Vec::with_capacity(32);
                body.extend(i.to_le_bytes());
                push_time(&mut body, end);
                let mut value = Vec::with_capacity(8);
                push_time(&mut value, end);
                option(&mut body, ISB_ENDTIME, &value);
                end_of_options(&mut body);
                self.block(ISB, &body).map_err(|e| self.named(e))?;
            }
        }
        self.out.flush().map_err(|e| self.named(e))?;
        Ok(self.frames)
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        let len = (12 + body.len()) as u32;
        self.out.write_all(&kind.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(body)?;
        self.out.write_all(&len.to_le_bytes())
    }

    fn named(&self, e: io::Error) -> io::Error {
        with_path(&self.path, e)
    }
}

/// Nanoseconds since 1970 as pcapng's high and low 32-bit words.
fn push_time(out: &mut Vec<u8>, at: Timestamp) {
    let raw = u64::try_from(at.nanos()).unwrap_or(0);
    out.extend(((raw >> 32) as u32).to_le_bytes());
    out.extend((raw as u32).to_le_bytes());
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend(code.to_le_bytes());
    out.extend((value.len() as u16).to_le_bytes());
    out.extend(value);
    pad(out);
}

fn end_of_options(out: &mut Vec<u8>) {
    out.extend([0u8; 4]);
}

/// Pads to a multiple of 4 bytes (RFC 9867 §3.1).
fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::{read_file, Input};
    use crate::capture::LinkType;

    #[test]
    fn what_is_written_reads_back_with_times_links_and_end() {
        let dir = std::env::temp_dir().join(format!("wspulse-pcapng-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.pcapng");
        let _ = std::fs::remove_file(&path);
        let mut w = PcapngWriter::create(&path).unwrap();
        let eth = w.interface(1, 1500).unwrap();
        let raw = w.interface(101, 65535).unwrap();
        assert_eq!(w.interface(1, 1500).unwrap(), eth);
        let t = Timestamp::from_nanos(1_700_000_000_123_456_789);
        w.packet(eth, t, &[1, 2, 3], 60, Some("input 0 frame 7"))
            .unwrap();
        w.packet(raw, t + crate::time::Span::from_secs(1), &[4; 5], 5, None)
            .unwrap();
        let end = t + crate::time::Span::from_secs(30);
        assert_eq!(w.finish(Some(end)).unwrap(), 2);
        let mut seen = Vec::new();
        let outcome = read_file(&Input::Path(path.clone()), 0, &mut |p| {
            seen.push((p.at, p.link, p.data.to_vec(), p.orig_len))
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], (t, LinkType::Ethernet, vec![1, 2, 3], 60));
        assert_eq!(seen[1].1, LinkType::RawIp);
        assert_eq!(outcome.recorded_end, Some(end));
        assert!(PcapngWriter::create(&path).is_err(), "never overwrites");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
