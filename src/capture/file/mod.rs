//! Offline capture files, read in one streaming pass with pcap-parser.
//!
//! Several files given in order are one continuous capture (tcpdump `-C`/`-G`
//! rotation): frame numbers restart at 1 in each file, as Wireshark counts
//! them, and the file index travels with every packet.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::{Block, InterfaceStatisticsBlock};
use pcap_parser::{create_reader, PcapBlockOwned, PcapError, PcapNGOption};
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
    if p.is_dir() {
        return Err(CaptureError::Open {
            path: p.display().to_string(),
            source: io::Error::other("is a directory"),
        });
    }
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
    /// When capturing stopped, as the file records it: the latest pcapng
    /// `isb_endtime` of any interface, converted like packet times. On the
    /// file's own clock (re-base it with `CaptureClock::rebase`); `None`
    /// for pcap and for pcapng files without one.
    pub recorded_end: Option<Timestamp>,
}

/// Reads one capture file, calling `on_packet` for every packet record in
/// order. A damaged file returns `Damaged` after delivering every packet
/// before the damage.
pub fn read_file(
    input: &Input,
    file_index: u32,
    on_packet: &mut dyn FnMut(&Packet<'_>),
) -> Result<FileOutcome, CaptureError> {
    read_stream(input.open()?, input.display(), file_index, on_packet)
}

/// Reads a capture from any byte stream (stdin, a pipe, a followed file),
/// as [`read_file`] reads a file: `path` names it in errors. Each read
/// blocks until the stream has more bytes, so packets are delivered as
/// they arrive.
pub fn read_stream(
    reader: Box<dyn Read + Send>,
    path: String,
    file_index: u32,
    on_packet: &mut dyn FnMut(&Packet<'_>),
) -> Result<FileOutcome, CaptureError> {
    let first = start_stream(reader, &path)?;
    let mut reader = match create_reader(INITIAL_BUFFER, first) {
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
            Err(PcapError::Eof) => {
                outcome.recorded_end = state.recorded_end;
                return Ok(outcome);
            }
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

/// The stream once it shows a capture's first block: an error for an
/// empty stream, or one that starts like neither pcap nor pcapng. What it
/// returns reads the same bytes again, from the start.
pub fn start_stream(
    reader: Box<dyn Read + Send>,
    path: &str,
) -> Result<Box<dyn Read + Send>, CaptureError> {
    let (head, rest) = first_block(reader).map_err(|source| CaptureError::Read {
        path: path.to_string(),
        offset: 0,
        source,
    })?;
    const MAGICS: [[u8; 4]; 5] = [
        [0x0a, 0x0d, 0x0d, 0x0a],
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
    ];
    let path = path.to_string();
    match head.get(..4) {
        _ if head.is_empty() => Err(CaptureError::Empty { path }),
        Some(magic) if MAGICS.iter().any(|m| m == magic) => {
            Ok(Box::new(io::Cursor::new(head).chain(rest)))
        }
        _ => Err(CaptureError::NotACapture { path }),
    }
}

/// The first block of a stream (a pcap file header, or a pcapng Section
/// Header Block), read whole, and the rest of the stream: pcap-parser
/// tells the format from its first read alone, and a pipe (or ssh) may
/// deliver the first block in pieces. Reads until that block is complete,
/// the stream ends, or the block claims more than the reader's buffer.
type FirstBlock = (Vec<u8>, Box<dyn Read + Send>);

fn first_block(mut reader: Box<dyn Read + Send>) -> io::Result<FirstBlock> {
    let mut head = Vec::with_capacity(64);
    let mut need = 12;
    while head.len() < need {
        let mut chunk = [0u8; 4096];
        let want = (need - head.len()).min(chunk.len());
        let n = match reader.read(&mut chunk[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() >= 12 {
            need = first_block_len(&head).min(INITIAL_BUFFER);
        }
    }
    Ok((head, reader))
}

/// The length of the first block from its first 12 bytes: a pcapng SHB
/// gives its own (RFC 9867 §4.1, in the byte order its magic shows); a
/// pcap file header is 24 bytes.
fn first_block_len(head: &[u8]) -> usize {
    const SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    if head[..4] != SHB {
        return 24;
    }
    let len = [head[4], head[5], head[6], head[7]];
    let len = match head[8..12] {
        [0x4d, 0x3c, 0x2b, 0x1a] => u32::from_le_bytes(len),
        _ => u32::from_be_bytes(len),
    };
    (len as usize).max(12)
}

/// What a pcapng section says about its interfaces (RFC 9867 §4.2): each
/// has its own link type, time resolution and offset.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
    /// The latest packet time read on this interface.
    last_packet: Option<Timestamp>,
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
    /// The section's byte order, for option values pcap-parser leaves raw.
    big_endian: bool,
    /// The latest `isb_endtime` so far.
    recorded_end: Option<Timestamp>,
}

/// Option codes (RFC 9867 §4.2, §4.6).
const IF_TSOFFSET: u16 = 14;
const ISB_ENDTIME: u16 = 3;

/// The value of an 8-byte option. pcap-parser hands option values over raw
/// (and reads them as little-endian even in a big-endian section), so they
/// are decoded here with the section's byte order.
fn option8(options: &[PcapNGOption<'_>], code: u16) -> Option<[u8; 8]> {
    let opt = options.iter().find(|o| o.code.0 == code && o.len == 8)?;
    opt.value.get(..8)?.try_into().ok()
}

fn u32_in(bytes: [u8; 4], big_endian: bool) -> u32 {
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}

impl FileState {
    fn if_tsoffset(&self, options: &[PcapNGOption<'_>]) -> i64 {
        option8(options, IF_TSOFFSET).map_or(0, |b| {
            if self.big_endian {
                i64::from_be_bytes(b)
            } else {
                i64::from_le_bytes(b)
            }
        })
    }

    /// `isb_endtime` as an instant. RFC 9867 §4.6 gives it in the
    /// interface's units (high word, then low word, like a packet's time),
    /// but dumpcap (Wireshark's pcapio.c) writes microseconds whatever
    /// `if_tsresol` says: read in nanoseconds, such an end lands in January
    /// 1970. The end of a capture cannot come before a packet it holds, so
    /// when the interface's units put it before that interface's latest
    /// packet and microseconds do not, microseconds it is. Otherwise the
    /// interface's units are taken at their word.
    fn isb_endtime(&self, isb: &InterfaceStatisticsBlock<'_>) -> Option<Timestamp> {
        let iface = self.interfaces.get(isb.if_id as usize)?;
        let b = option8(&isb.options, ISB_ENDTIME)?;
        let high = u32_in([b[0], b[1], b[2], b[3]], self.big_endian);
        let low = u32_in([b[4], b[5], b[6], b[7]], self.big_endian);
        let raw = (u64::from(high) << 32) | u64::from(low);
        let stated = Timestamp::from_pcapng(raw, iface.units_per_sec, iface.offset_secs);
        let Some(last) = iface.last_packet else {
            return stated;
        };
        if stated.is_some_and(|end| end >= last) || iface.units_per_sec == 1_000_000 {
            return stated;
        }
        Timestamp::from_pcapng(raw, 1_000_000, iface.offset_secs)
            .filter(|&end| end >= last)
            .or(stated)
    }
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
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                // Interface ids are per section.
                self.interfaces.clear();
                self.big_endian = shb.big_endian();
                return None;
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                if self.interfaces.len() < MAX_INTERFACES {
                    self.interfaces.push(Interface {
                        link: LinkType::from_linktype(idb.linktype.0 as u32),
                        units_per_sec: units_per_sec(idb.if_tsresol).unwrap_or(1_000_000),
                        offset_secs: self.if_tsoffset(&idb.options),
                        last_packet: None,
                    });
                }
                return None;
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let caplen = (epb.caplen as usize).min(epb.data.len());
                match self.interfaces.get_mut(epb.if_id as usize) {
                    Some(iface) => {
                        let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        let at =
                            Timestamp::from_pcapng(raw, iface.units_per_sec, iface.offset_secs)
                                .unwrap_or_else(|| {
                                    self.time_refused = true;
                                    self.last_ts
                                });
                        iface.last_packet = Some(iface.last_packet.map_or(at, |t| t.max(at)));
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
            PcapBlockOwned::NG(Block::InterfaceStatistics(isb)) => {
                if let Some(end) = self.isb_endtime(isb) {
                    self.recorded_end = Some(self.recorded_end.map_or(end, |e| e.max(end)));
                }
                return None;
            }
            PcapBlockOwned::NG(_) => return None,
        };
        self.frame += 1;
        self.last_ts = at;
        Some(Packet {
            at,
            frame: FrameRef::new(file, self.frame),
            link,
            data,
            orig_len,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
