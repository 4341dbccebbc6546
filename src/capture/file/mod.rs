//! Offline capture files, read in one streaming pass with pcap-parser,
//! decompressed first when their bytes say so (`compress`).
//!
//! Frame numbers restart at 1 in each file, as Wireshark counts them, and
//! the file index travels with every packet; `capture::set` reads several
//! files as one capture.

mod block;
pub mod compress;
mod snaplen;
pub use snaplen::declared_snaplen;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapError};
use thiserror::Error;

use super::{Packet, SecretsSink};
use crate::time::Timestamp;
#[cfg(test)]
use block::units_per_sec;
use block::FileState;
pub use compress::Compression;
use compress::Sniffed;

/// Initial read buffer; grown (up to `MAX_BUFFER`) for a record larger than it.
const INITIAL_BUFFER: usize = 1 << 20;
/// The largest record (a pcap packet record's captured length, or a pcapng
/// block's total length) a capture may hold: 256 MiB, far above any real
/// packet (libpcap's largest snapshot length is 256 KiB), so a length past
/// it is damage, not a cut file. The read buffer grows up to it.
pub const MAX_RECORD: usize = 256 << 20;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: not a pcap or pcapng file")]
    NotACapture { path: String },
    #[error("{path}: empty file")]
    Empty { path: String },
    /// Compressed in a way we do not read (bzip2, xz, zip, ...).
    #[error("{path}: {format}-compressed capture; decompress it first ({tool})")]
    Compressed {
        path: String,
        format: &'static str,
        tool: &'static str,
    },
    /// The same capture given twice: its packets would count twice.
    #[error("{second}: the same capture as {first} (identical content); give each file once")]
    Duplicate { first: String, second: String },
    #[error("{path}: damaged at frame {frame}, byte offset {offset}: {what}; results cover the packets before it")]
    Damaged {
        path: String,
        frame: u64,
        offset: u64,
        what: String,
    },
    #[error("{path}: read error at byte offset {offset}: {source}")]
    Read {
        path: String,
        offset: u64,
        source: io::Error,
    },
}

impl CaptureError {
    /// True when nothing of the input could be read (it cannot be opened,
    /// its first read fails, it is empty, compressed in a way we do not
    /// read, or no capture at all), as opposed to damage part-way.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            CaptureError::Open { .. }
                | CaptureError::NotACapture { .. }
                | CaptureError::Empty { .. }
                | CaptureError::Compressed { .. }
                | CaptureError::Read { offset: 0, .. }
        )
    }
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
            Input::Path(p) => {
                open_path(p).map(|f| Box::new(super::progress::Tally(f)) as Box<dyn Read + Send>)
            }
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
    let mut reader = PacketReader::new(reader, path, file_index)?;
    while reader.next_packet(on_packet)? {}
    Ok(reader.into_outcome())
}

/// One capture read packet by packet: [`PacketReader::next_packet`] hands
/// over the next packet, so several captures can be read in step (a
/// merge by time). Memory: one read buffer, grown only for a record
/// larger than it (up to [`MAX_RECORD`]).
pub struct PacketReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    path: String,
    file_index: u32,
    state: FileState,
    outcome: FileOutcome,
    /// Bytes consumed before the reader's current block: the offset users
    /// can open in a hex editor (of the decompressed bytes, when the file
    /// is compressed).
    offset: u64,
    /// The last error the stream underneath returned (pcap-parser keeps
    /// only that there was one).
    io_error: Arc<Mutex<Option<io::Error>>>,
    /// The compression the stream was read through, if any.
    compression: Option<Compression>,
}

impl PacketReader {
    /// Opens `input` (decompressing it if its bytes say so) and reads its
    /// file header. Errors: `Open`, `Empty`, `NotACapture`, `Compressed`,
    /// `Read`.
    pub fn open(input: &Input, file_index: u32) -> Result<Self, CaptureError> {
        PacketReader::new(input.open()?, input.display(), file_index)
    }

    /// As [`PacketReader::open`], from a byte stream named `path`.
    pub fn new(
        reader: Box<dyn Read + Send>,
        path: String,
        file_index: u32,
    ) -> Result<Self, CaptureError> {
        let (first, compression) = start(reader, &path)?;
        let io_error = Arc::new(Mutex::new(None));
        let keeper = KeepError {
            inner: first,
            error: io_error.clone(),
        };
        let reader = match create_reader(INITIAL_BUFFER, keeper) {
            Ok(r) => r,
            Err(PcapError::Eof) => return Err(CaptureError::Empty { path }),
            Err(PcapError::ReadError) => {
                let source = take_error(&io_error);
                return Err(CaptureError::Read {
                    path,
                    offset: 0,
                    source,
                });
            }
            Err(_) => return Err(CaptureError::NotACapture { path }),
        };
        Ok(PacketReader {
            reader,
            path,
            file_index,
            state: FileState::default(),
            outcome: FileOutcome::default(),
            offset: 0,
            io_error,
            compression,
        })
    }

    /// TLS key logs in the capture's Decryption Secrets Blocks go to
    /// `sink` as they are read.
    pub fn collect_secrets(&mut self, sink: Option<SecretsSink>) {
        self.state.secrets = sink;
    }

    /// The name errors give this capture.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Reads records until one packet is handed to `on_packet`: `Ok(true)`;
    /// `Ok(false)` at the end of the capture. A damaged capture returns
    /// `Damaged` (or `Read`) once every packet before the damage was
    /// handed over.
    pub fn next_packet(
        &mut self,
        on_packet: &mut dyn FnMut(&Packet<'_>),
    ) -> Result<bool, CaptureError> {
        loop {
            match self.reader.next() {
                Ok((len, block)) => {
                    if let Some(why) = self.state.not_a_record(&block) {
                        return Err(self.damaged(why));
                    }
                    let packet = self.state.packet(&block, self.file_index);
                    let delivered = packet.is_some();
                    if let Some(pkt) = &packet {
                        let o = &mut self.outcome;
                        o.packets += 1;
                        o.unrepresentable_times += u64::from(self.state.time_refused);
                        o.bytes += pkt.data.len() as u64;
                        on_packet(pkt);
                    }
                    self.offset += len as u64;
                    self.reader.consume(len);
                    if delivered {
                        return Ok(true);
                    }
                }
                Err(PcapError::Eof) => {
                    self.outcome.recorded_end = self.state.recorded_end;
                    return Ok(false);
                }
                Err(PcapError::Incomplete(_)) => {
                    if let Some(e) = self.impossible_length() {
                        return Err(e);
                    }
                    if self.reader.reader_exhausted() {
                        return Err(self.damaged("truncated record".into()));
                    }
                    self.refill()?;
                }
                Err(PcapError::BufferTooSmall) => {
                    if let Some(e) = self.impossible_length() {
                        return Err(e);
                    }
                    let want = self.reader.data().len().max(INITIAL_BUFFER) * 2;
                    if !self.reader.grow(want.min(MAX_RECORD + INITIAL_BUFFER)) {
                        return Err(self.damaged("record larger than the read buffer".into()));
                    }
                    self.refill()?;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Err(self
                        .impossible_length()
                        .unwrap_or_else(|| self.damaged("truncated record".into())))
                }
                Err(_) => {
                    return Err(self
                        .impossible_length()
                        .unwrap_or_else(|| self.damaged("malformed record".into())))
                }
            }
        }
    }

    /// What the capture says about itself, once read to its end.
    pub fn into_outcome(self) -> FileOutcome {
        self.outcome
    }

    /// How far it went: packets so far (and the recorded end once ended).
    pub fn outcome(&self) -> &FileOutcome {
        &self.outcome
    }

    fn refill(&mut self) -> Result<(), CaptureError> {
        if self.reader.refill().is_ok() {
            return Ok(());
        }
        let source = take_error(&self.io_error);
        Err(CaptureError::Read {
            path: self.path.clone(),
            offset: self.offset + self.reader.data().len() as u64,
            source: match self.compression {
                Some(c) => io::Error::new(
                    source.kind(),
                    format!(
                        "{}: {source} (offset in the {} data)",
                        c.damage(),
                        c.decompressed()
                    ),
                ),
                None => source,
            },
        })
    }

    fn damaged(&self, what: String) -> CaptureError {
        CaptureError::Damaged {
            path: self.path.clone(),
            frame: self.state.frame + 1,
            offset: self.offset,
            what: match self.compression {
                Some(c) => format!("{what} (offset in the {} data)", c.decompressed()),
                None => what,
            },
        }
    }

    /// A record claiming more bytes than any capture record may hold
    /// ([`MAX_RECORD`]): named as such, since the file is not merely cut.
    fn impossible_length(&self) -> Option<CaptureError> {
        let claimed = self.state.claimed_len(self.reader.data())?;
        (claimed > MAX_RECORD as u64).then(|| {
            self.damaged(format!(
                "record length {claimed} is over the {} MiB limit",
                MAX_RECORD >> 20
            ))
        })
    }
}

/// Keeps the last error of the stream it wraps, for the message.
struct KeepError {
    inner: Box<dyn Read + Send>,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Read for KeepError {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    return Err(copy);
                }
                ok => return ok,
            }
        }
    }
}

fn take_error(slot: &Arc<Mutex<Option<io::Error>>>) -> io::Error {
    slot.lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| io::Error::other("read failed"))
}

/// The stream once it shows a capture's first block, decompressed when its
/// first bytes say it is compressed (gzip, zstd, lz4): an error for an
/// empty stream, one compressed in a way we do not read, or one that
/// starts like neither pcap nor pcapng. What it returns reads the
/// (decompressed) bytes again, from the start.
pub fn start_stream(
    reader: Box<dyn Read + Send>,
    path: &str,
) -> Result<Box<dyn Read + Send>, CaptureError> {
    start(reader, path).map(|(stream, _)| stream)
}

/// [`start_stream`], saying which compression it read through.
fn start(
    reader: Box<dyn Read + Send>,
    path: &str,
) -> Result<(Box<dyn Read + Send>, Option<Compression>), CaptureError> {
    let read_error = |source| CaptureError::Read {
        path: path.to_string(),
        offset: 0,
        source,
    };
    let (reader, sniffed) = compress::decompress(reader).map_err(read_error)?;
    let compression = match sniffed {
        Sniffed::Plain => None,
        Sniffed::Readable(c) => Some(c),
        Sniffed::Unsupported { format, tool } => {
            return Err(CaptureError::Compressed {
                path: path.to_string(),
                format,
                tool,
            })
        }
    };
    let (head, rest) = first_block(reader).map_err(|source| match compression {
        Some(c) => read_error(io::Error::new(
            source.kind(),
            format!("{}: {source}", c.damage()),
        )),
        None => read_error(source),
    })?;
    const MAGICS: [[u8; 4]; 5] = [
        [0x0a, 0x0d, 0x0d, 0x0a],
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
    ];
    let path = match compression {
        Some(c) => format!("{path} ({})", c.decompressed()),
        None => path.to_string(),
    };
    match head.get(..4) {
        _ if head.is_empty() => Err(CaptureError::Empty { path }),
        Some(magic) if MAGICS.iter().any(|m| m == magic) => {
            Ok((Box::new(io::Cursor::new(head).chain(rest)), compression))
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

#[cfg(test)]
pub(crate) mod tests;
