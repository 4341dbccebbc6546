//! Offline capture files, read in one streaming pass with pcap-parser.
//!
//! Several files given in order are one continuous capture (tcpdump `-C`/`-G`
//! rotation): frame numbers restart at 1 in each file, as Wireshark counts
//! them, and the file index travels with every packet.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};
use thiserror::Error;

use super::{FrameRef, LinkType, Packet};
use crate::time::Timestamp;

/// Initial read buffer; grown (up to `MAX_BUFFER`) for a record larger than it.
const INITIAL_BUFFER: usize = 1 << 20;
/// No sane record is larger (pcapng's own readers cap blocks near this).
const MAX_BUFFER: usize = 64 << 20;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: not a pcap or pcapng file")]
    NotACapture { path: String },
    #[error("{path}: empty file")]
    Empty { path: String },
    #[error("{path}: damaged at frame {frame}, byte offset {offset}: {what}; results cover the packets before it")]
    Damaged {
        path: String,
        frame: u64,
        offset: u64,
        what: &'static str,
    },
    #[error("{path}: read error at byte offset {offset}: {source}")]
    Read {
        path: String,
        offset: u64,
        source: io::Error,
    },
}

/// An input named on the command line: a path, or `-` for standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    pub fn parse(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    pub fn display(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
        }
    }

    fn open(&self) -> Result<Box<dyn Read + Send>, CaptureError> {
        match self {
            Input::Stdin => Ok(Box::new(io::stdin())),
            Input::Path(p) => open_path(p).map(|f| Box::new(f) as Box<dyn Read + Send>),
        }
    }
}

fn open_path(p: &Path) -> Result<File, CaptureError> {
    File::open(p).map_err(|source| CaptureError::Open {
        path: p.display().to_string(),
        source,
    })
}

/// How one file went: packets read, and the damage that stopped it, if any.
#[derive(Debug, Default)]
pub struct FileOutcome {
    pub packets: u64,
    pub bytes: u64,
    /// Packets whose recorded time is outside what a `Timestamp` holds
    /// (before 1677 or after 2262, e.g. a hostile `if_tsoffset`): they keep
    /// their frame and take the previous packet's time, never a wrapped one.
    pub unrepresentable_times: u64,
}

/// Reads one capture file, calling `on_packet` for every packet record in
/// order. A damaged file returns `Damaged` after delivering every packet
/// before the damage.
pub fn read_file(
    input: &Input,
    file_index: u32,
    on_packet: &mut dyn FnMut(&Packet<'_>),
) -> Result<FileOutcome, CaptureError> {
    let path = input.display();
    let reader = input.open()?;
    let mut reader = match create_reader(INITIAL_BUFFER, reader) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err(CaptureError::Empty { path }),
        Err(PcapError::ReadError) => {
            return Err(CaptureError::Read {
                path,
                offset: 0,
                source: io::Error::other("read failed"),
            })
        }
        Err(_) => return Err(CaptureError::NotACapture { path }),
    };

    let mut state = FileState::default();
    let mut outcome = FileOutcome::default();
    let mut buffer_size = INITIAL_BUFFER;
    // Bytes consumed before the reader's current block: the offset users can
    // open in a hex editor.
    let mut offset: u64 = 0;
    loop {
        let damaged = |what, offset, frame| CaptureError::Damaged {
            path: path.clone(),
            frame,
            offset,
            what,
        };
        match reader.next() {
            Ok((len, block)) => {
                if let Some(pkt) = state.packet(&block, file_index) {
                    outcome.packets += 1;
                    outcome.unrepresentable_times += u64::from(state.time_refused);
                    outcome.bytes += pkt.data.len() as u64;
                    on_packet(&pkt);
                }
                offset += len as u64;
                reader.consume(len);
            }
            Err(PcapError::Eof) => return Ok(outcome),
            Err(PcapError::Incomplete(_)) => {
                if reader.reader_exhausted() {
                    return Err(damaged("truncated record", offset, state.frame + 1));
                }
                if reader.refill().is_err() {
                    return Err(CaptureError::Read {
                        path,
                        offset,
                        source: io::Error::other("read failed"),
                    });
                }
            }
            Err(PcapError::BufferTooSmall) => {
                buffer_size *= 2;
                if buffer_size > MAX_BUFFER || !reader.grow(buffer_size) {
                    return Err(damaged(
                        "record larger than 64 MiB",
                        offset,
                        state.frame + 1,
                    ));
                }
                if reader.refill().is_err() {
                    return Err(damaged("read failed", offset, state.frame + 1));
                }
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(damaged("truncated record", offset, state.frame + 1))
            }
            Err(_) => return Err(damaged("malformed record", offset, state.frame + 1)),
        }
    }
}

/// What a pcapng section says about its interfaces (RFC 9867 §4.2): each
/// has its own link type, time resolution and offset.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
}

#[derive(Default)]
struct FileState {
    /// Frame number of the last packet record (Wireshark numbering).
    frame: u64,
    legacy: Option<(LinkType, u64)>,
    interfaces: Vec<Interface>,
    last_ts: Timestamp,
    /// The last packet's own time could not be represented.
    time_refused: bool,
}

/// `if_tsresol` (RFC 9867 §4.2) as units per second: 10^n, or 2^n when the
/// top bit is set; `None` past what a u64 holds. (pcap-parser 0.17's
/// `ts_resolution` refuses every binary resolution: it compares the byte
/// with its flag bit still set.)
fn units_per_sec(if_tsresol: u8) -> Option<u64> {
    let n = u32::from(if_tsresol & 0x7f);
    if if_tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

/// Bounded so a hostile file cannot make us allocate per interface forever.
const MAX_INTERFACES: usize = 4096;

impl FileState {
    fn packet<'a>(&mut self, block: &PcapBlockOwned<'a>, file: u32) -> Option<Packet<'a>> {
        self.time_refused = false;
        let (link, at, data, orig_len) = match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let units = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.legacy = Some((LinkType::from_linktype(h.network.0 as u32), units));
                return None;
            }
            PcapBlockOwned::Legacy(b) => {
                let (link, units) = self.legacy?;
                let at = Timestamp::from_parts(b.ts_sec as i64, b.ts_usec as u64, units);
                let caplen = (b.caplen as usize).min(b.data.len());
                (link, at, &b.data[..caplen], b.origlen)
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                // Interface ids are per section.
                self.interfaces.clear();
                return None;
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                if self.interfaces.len() < MAX_INTERFACES {
                    self.interfaces.push(Interface {
                        link: LinkType::from_linktype(idb.linktype.0 as u32),
                        units_per_sec: units_per_sec(idb.if_tsresol).unwrap_or(1_000_000),
                        offset_secs: idb.ts_offset(),
                    });
                }
                return None;
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let caplen = (epb.caplen as usize).min(epb.data.len());
                match self.interfaces.get(epb.if_id as usize) {
                    Some(iface) => {
                        let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        let at =
                            Timestamp::from_pcapng(raw, iface.units_per_sec, iface.offset_secs)
                                .unwrap_or_else(|| {
                                    self.time_refused = true;
                                    self.last_ts
                                });
                        (iface.link, at, &epb.data[..caplen], epb.origlen)
                    }
                    // A packet for an interface never described: still a
                    // frame (numbering must match Wireshark), not decodable.
                    None => (
                        LinkType::Other(u32::MAX),
                        self.last_ts,
                        &epb.data[..caplen],
                        epb.origlen,
                    ),
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                // RFC 9867 §4.4: no timestamp, always interface 0.
                let link = self
                    .interfaces
                    .first()
                    .map_or(LinkType::Other(u32::MAX), |i| i.link);
                let caplen = (spb.origlen as usize).min(spb.data.len());
                (link, self.last_ts, &spb.data[..caplen], spb.origlen)
            }
            PcapBlockOwned::NG(_) => return None,
        };
        self.frame += 1;
        self.last_ts = at;
        Some(Packet {
            at,
            frame: FrameRef {
                file,
                frame: self.frame,
            },
            link,
            data,
            orig_len,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A little-endian pcapng writer for tests: just the blocks we read.
    #[derive(Default)]
    pub(crate) struct PcapNg(pub Vec<u8>);

    fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
        out.extend(code.to_le_bytes());
        out.extend((value.len() as u16).to_le_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
    }

    impl PcapNg {
        fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
            let len = (12 + body.len().next_multiple_of(4)) as u32;
            self.0.extend(kind.to_le_bytes());
            self.0.extend(len.to_le_bytes());
            self.0.extend(body);
            self.0.resize(self.0.len().next_multiple_of(4), 0);
            self.0.extend(len.to_le_bytes());
            self
        }

        pub(crate) fn section(&mut self) -> &mut Self {
            let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
            body.extend(1u16.to_le_bytes());
            body.extend(0u16.to_le_bytes());
            body.extend((-1i64).to_le_bytes());
            self.block(0x0A0D_0D0A, &body)
        }

        /// An Ethernet interface with optional `if_tsresol` and `if_tsoffset`.
        pub(crate) fn interface(
            &mut self,
            tsresol: Option<u8>,
            tsoffset: Option<i64>,
        ) -> &mut Self {
            let mut body = 1u16.to_le_bytes().to_vec();
            body.extend(0u16.to_le_bytes());
            body.extend(65535u32.to_le_bytes());
            if let Some(r) = tsresol {
                option(&mut body, 9, &[r]);
            }
            if let Some(o) = tsoffset {
                option(&mut body, 14, &o.to_le_bytes());
            }
            if tsresol.is_some() || tsoffset.is_some() {
                option(&mut body, 0, &[]);
            }
            self.block(1, &body)
        }

        pub(crate) fn packet(&mut self, if_id: u32, raw: u64) -> &mut Self {
            let data = [0u8; 14];
            let mut body = if_id.to_le_bytes().to_vec();
            body.extend(((raw >> 32) as u32).to_le_bytes());
            body.extend((raw as u32).to_le_bytes());
            body.extend((data.len() as u32).to_le_bytes());
            body.extend((data.len() as u32).to_le_bytes());
            body.extend(data);
            self.block(6, &body)
        }

        /// Writes the file and reads it back: the outcome and every
        /// packet's time.
        pub(crate) fn read(&self, name: &str) -> (FileOutcome, Vec<Timestamp>) {
            let path = std::env::temp_dir()
                .join(format!("wspulse-file-{}-{name}.pcapng", std::process::id()));
            std::fs::write(&path, &self.0).unwrap();
            let mut times = Vec::new();
            let outcome = read_file(&Input::Path(path.clone()), 0, &mut |p| times.push(p.at));
            std::fs::remove_file(&path).unwrap();
            (outcome.unwrap(), times)
        }
    }

    #[test]
    fn decodes_decimal_and_binary_resolutions() {
        assert_eq!(units_per_sec(6), Some(1_000_000));
        assert_eq!(units_per_sec(9), Some(1_000_000_000));
        assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_sec(20), None);
        assert_eq!(units_per_sec(0x80 | 10), Some(1024));
        assert_eq!(units_per_sec(0x80 | 63), Some(1 << 63));
        assert_eq!(units_per_sec(0x80 | 64), None);
    }

    #[test]
    fn binary_resolution_packets_keep_their_time() {
        let (_, times) = PcapNg::default()
            .section()
            .interface(Some(0x80 | 10), None)
            .packet(0, 1_700_000_000 * 1024 + 512)
            .read("binary");
        assert_eq!(times, [Timestamp::from_nanos(1_700_000_000_500_000_000)]);
    }

    #[test]
    fn times_past_the_clock_type_are_refused_never_wrapped() {
        let ns = 1_700_000_000_000_000_000u64;
        let (outcome, times) = PcapNg::default()
            .section()
            .interface(Some(9), None)
            .interface(Some(9), Some(i64::MAX))
            .interface(Some(0), Some(i64::MIN))
            .packet(0, ns)
            // A hostile offset, a raw count past 2262, a huge negative offset.
            .packet(1, 5)
            .packet(0, u64::MAX)
            .packet(2, 1)
            .packet(0, ns + 1_000)
            .read("hostile");
        let t = Timestamp::from_nanos(ns as i64);
        assert_eq!(
            times,
            [t, t, t, t, Timestamp::from_nanos(ns as i64 + 1_000)]
        );
        assert_eq!(outcome.packets, 5);
        assert_eq!(outcome.unrepresentable_times, 3);
    }

    #[test]
    fn an_offset_shifts_packet_times() {
        let (outcome, times) = PcapNg::default()
            .section()
            .interface(None, Some(1_700_000_000))
            .packet(0, 2_500_000)
            .read("offset");
        assert_eq!(times, [Timestamp::from_nanos(1_700_000_002_500_000_000)]);
        assert_eq!(outcome.unrepresentable_times, 0);
    }
}
