//! How many bytes of capture files have been read so far, for a progress
//! bar: every file a reader opens counts what it reads (compressed bytes
//! for a compressed file, so the count runs to the files' sizes). Stdin
//! does not count: its size is not known.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

static READ: AtomicU64 = AtomicU64::new(0);

/// Bytes read from capture files by this process so far (a file opened
/// twice counts twice: the set reader reads each file's first block once
/// more when its turn comes).
pub fn bytes_read() -> u64 {
    READ.load(Ordering::Relaxed)
}

/// A file's reader that adds what it reads to [`bytes_read`].
pub struct Tally<R>(pub R);

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        READ.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::{Input, PacketReader};

    /// A capture read through the file reader counts its every byte (at
    /// least: other tests read files at the same time).
    #[test]
    fn reading_a_capture_counts_its_bytes() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join("blackhole-peer.pcap");
        let size = std::fs::metadata(&path).unwrap().len();
        let before = bytes_read();
        let mut reader = PacketReader::open(&Input::Path(path), 0).unwrap();
        while reader.next_packet(&mut |_| {}).unwrap() {}
        assert!(bytes_read() - before >= size);
    }
}
