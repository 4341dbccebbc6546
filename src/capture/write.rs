//! Writing what a live capture saw: classic pcap files, rotated by size like
//! tcpdump `-C`/`-W`, so a live finding can be re-examined with
//! `wspulse analyze` (or Wireshark) at the frame it cites.
//!
//! The format is the classic libpcap one
//! (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>) with the
//! nanosecond magic `0xa1b23c4d`, so live timestamps keep their full
//! precision; tcpdump, tshark and wspulse's own reader open it. Fields are
//! written little-endian (readers take the byte order from the magic).
//!
//! Rotation names follow tcpdump `-C`: `FILE`, then `FILE1`, `FILE2`, ...
//! (the number is appended to the whole name). With a limit of N files the
//! names form a ring, `FILE` to `FILE{N-1}`, and the oldest is reused
//! (truncated) once all N exist. A file this writer did not create in this
//! run is never overwritten: the write that would need it fails with an
//! error naming it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub mod pcapng;

use super::FrameRef;
use crate::time::Timestamp;

/// The classic pcap magic number for nanosecond timestamps.
pub const PCAP_NANO_MAGIC: u32 = 0xa1b2_3c4d;
/// Global header size (magic, version 2.4, thiszone, sigfigs, snaplen,
/// network).
const GLOBAL_HEADER_LEN: u64 = 24;
/// Per-record header size (ts_sec, ts_nsec, incl_len, orig_len).
const RECORD_HEADER_LEN: u64 = 16;

/// When to start a new file (tcpdump `-C`) and how many to keep (`-W`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Start a new file before a packet would take the current one past
    /// this many bytes (headers included). A file always holds at least one
    /// packet, so a single packet larger than this makes a larger file.
    /// `None`: one file, never rotated.
    pub max_size: Option<u64>,
    /// Keep at most this many files, reusing the oldest name (a ring).
    /// `None`: every file is kept. Needs `max_size`.
    pub files: Option<u32>,
}

/// A pcap writer that rotates by size. Packets are buffered: call
/// [`RotatingWriter::flush`] to make them visible to a reader (the buffer
/// is also flushed on rotation and on drop, where an error is lost).
///
/// Invariant: `opened` files were created in this run, the current one is
/// number `opened - 1` (the file index in the [`FrameRef`]s returned), and
/// file k is named [`numbered`]`(base, k)`, or `numbered(base, k % N)` in a
/// ring of N files, where only the newest of the files sharing a name still
/// holds its packets. Nothing grows with the number of rotations.
#[derive(Debug)]
pub struct RotatingWriter {
    base: PathBuf,
    link_type: u32,
    snaplen: u32,
    rotation: Rotation,
    out: BufWriter<File>,
    /// Bytes in the current file, headers included.
    size: u64,
    /// Frames in the current file (Wireshark numbers them from 1).
    frames: u64,
    opened: u32,
}

impl RotatingWriter {
    /// Creates `path` and writes the pcap global header: link type
    /// (a LINKTYPE_ value, <https://www.tcpdump.org/linktypes.html>) and
    /// snaplen (the longest packet kept, in bytes) as given.
    ///
    /// Errors (one line, naming the file): `path` already exists (it is
    /// never overwritten), cannot be created, or the settings make no sense
    /// (snaplen 0, `max_size` 0, `files` 0, `files` without `max_size`).
    pub fn create(
        path: &Path,
        link_type: u32,
        snaplen: u32,
        rotation: Rotation,
    ) -> Result<Self, String> {
        let shown = path.display();
        if snaplen == 0 {
            return Err(format!(
                "{shown}: the snapshot length must be at least 1 byte"
            ));
        }
        if rotation.max_size == Some(0) {
            return Err(format!(
                "{shown}: the file size limit must be at least 1 byte"
            ));
        }
        match rotation.files {
            Some(0) => return Err(format!("{shown}: the number of files must be at least 1")),
            Some(_) if rotation.max_size.is_none() => {
                return Err(format!(
                    "{shown}: a number of files needs a file size limit to rotate at"
                ))
            }
            _ => {}
        }
        let out = create_new(path).map_err(|e| e.to_string())?;
        let mut writer = RotatingWriter {
            base: path.to_path_buf(),
            link_type,
            snaplen,
            rotation,
            out,
            size: 0,
            frames: 0,
            opened: 1,
        };
        writer.write_header().map_err(|e| format!("{shown}: {e}"))?;
        Ok(writer)
    }

    /// Appends one packet captured at `at` that was `orig_len` bytes on the
    /// wire, of which `data` was captured (cut to the snaplen). Returns the
    /// reference findings cite: the file's index in the order this run
    /// created files (0 for `FILE`, 1 for the next file, ...; it keeps
    /// counting through a ring) and the frame number in that file, from 1.
    ///
    /// A time before 1970 or after 2106 (outside what pcap's 32-bit seconds
    /// hold) is written clamped to that range.
    ///
    /// Errors: rotation needs a file that exists and was not created by this
    /// writer (`AlreadyExists`, naming it), or the file system refused the
    /// write. A failed rotation leaves the current file open and is tried
    /// again at the next packet; a failed write may leave a partial record at
    /// the end of the file (readers then report it truncated there).
    pub fn write(&mut self, at: Timestamp, orig_len: u32, data: &[u8]) -> io::Result<FrameRef> {
        let kept = &data[..data.len().min(self.snaplen as usize)];
        let record_len = RECORD_HEADER_LEN + kept.len() as u64;
        if let Some(max) = self.rotation.max_size {
            if self.frames > 0 && self.size + record_len > max {
                self.rotate()?;
            }
        }
        let (secs, nanos) = pcap_time(at);
        let orig_len = orig_len.max(kept.len() as u32);
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&nanos.to_le_bytes());
        header[8..12].copy_from_slice(&(kept.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out
            .write_all(&header)
            .and_then(|()| self.out.write_all(kept))
            .map_err(|e| self.named(e))?;
        self.size += record_len;
        self.frames += 1;
        Ok(FrameRef::new(self.current_index(), self.frames))
    }

    /// Hands buffered packets to the operating system, so a reader of the
    /// current file sees every packet written so far.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| self.named(e))
    }

    /// The files that hold this run's packets now, oldest first: what to give
    /// `wspulse analyze` (in this order) to see them again. In a ring, a name
    /// reused for newer packets appears once, at its newest place.
    pub fn paths(&self) -> Vec<PathBuf> {
        let keep = self.rotation.files.unwrap_or(u32::MAX);
        let first = self.opened.saturating_sub(keep);
        (first..self.opened).map(|k| self.name_of(k)).collect()
    }

    /// The path of the file with this index (as in a returned [`FrameRef`]),
    /// or `None` when no such file was created or, in a ring, its name has
    /// since been reused for newer packets.
    pub fn path_of(&self, file: u32) -> Option<PathBuf> {
        let keep = self.rotation.files.unwrap_or(u32::MAX);
        let newest = self.opened - 1;
        (file <= newest && newest - file < keep).then(|| self.name_of(file))
    }

    fn name_of(&self, file: u32) -> PathBuf {
        let slot = self.rotation.files.map_or(file, |n| file % n);
        numbered(&self.base, slot)
    }

    fn current_index(&self) -> u32 {
        self.opened - 1
    }

    fn write_header(&mut self) -> io::Result<()> {
        let mut header = [0u8; GLOBAL_HEADER_LEN as usize];
        header[0..4].copy_from_slice(&PCAP_NANO_MAGIC.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs: 0, as every writer since libpcap 0.9.
        header[16..20].copy_from_slice(&self.snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&self.link_type.to_le_bytes());
        self.out.write_all(&header)?;
        self.size = GLOBAL_HEADER_LEN;
        self.frames = 0;
        Ok(())
    }

    /// Closes the current file and opens the next name: a new one (which must
    /// not exist), or in a ring the oldest of this run's own files.
    fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
        let next = self.opened;
        if next == u32::MAX {
            return Err(self.named(io::Error::other("no more file numbers")));
        }
        let path = self.name_of(next);
        let reuse = self.rotation.files.is_some_and(|n| next >= n);
        let file = if reuse {
            File::create(&path)
                .map(BufWriter::new)
                .map_err(|e| with_path(&path, e))?
        } else {
            create_new(&path)?
        };
        self.out = file;
        self.opened += 1;
        self.write_header().map_err(|e| self.named(e))
    }

    fn named(&self, e: io::Error) -> io::Error {
        with_path(&self.name_of(self.current_index()), e)
    }
}

/// `FILE` for slot 0, `FILE1`, `FILE2`, ... after it (tcpdump `-C`).
fn numbered(base: &Path, slot: u32) -> PathBuf {
    if slot == 0 {
        return base.to_path_buf();
    }
    let mut name = base.as_os_str().to_owned();
    name.push(slot.to_string());
    PathBuf::from(name)
}

/// Opens a file that must not exist yet: a user's file is never truncated.
fn create_new(path: &Path) -> io::Result<BufWriter<File>> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => Ok(BufWriter::new(file)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{}: already exists; wspulse does not overwrite a file it did not write in this \
                 run (remove it or choose another name)",
                path.display()
            ),
        )),
        Err(e) => Err(with_path(path, e)),
    }
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Seconds and nanoseconds as pcap's unsigned 32-bit fields hold them.
fn pcap_time(at: Timestamp) -> (u32, u32) {
    const NANOS: i64 = 1_000_000_000;
    let secs = at.nanos().div_euclid(NANOS);
    let nanos = at.nanos().rem_euclid(NANOS) as u32;
    match u32::try_from(secs) {
        Ok(s) => (s, nanos),
        Err(_) if secs < 0 => (0, 0),
        Err(_) => (u32::MAX, NANOS as u32 - 1),
    }
}

#[cfg(test)]
mod tests;
