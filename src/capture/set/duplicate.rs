//! The same capture given twice (`cap1 cap1`, a copy beside it, or
//! `cap.pcap cap.pcap.gz`): its packets would count twice, as
//! retransmissions. Told by content, as the reader sees it (decompressed):
//! files whose first [`PREFIX`] bytes hash the same are compared whole;
//! the same file under two names needs no reading.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::capture::file::compress;
use crate::capture::file::Input;

/// Bytes hashed to tell files apart before comparing them whole: most
/// captures differ in their first packets' times.
pub const PREFIX: usize = 64 << 10;

/// An input's index, and the file it names (device and inode) if known.
type Candidate = (usize, Option<(u64, u64)>);

/// The first pair of inputs (indexes into `inputs`, in the order given)
/// that hold the same capture, compressed or not, if any. Only regular
/// files are compared; a file that cannot be read is left to the reader
/// to report. Costs one read of each file's first 64 KiB (decompressed);
/// whole files are read only when those agree.
pub fn find(inputs: &[Input]) -> Option<(usize, usize)> {
    if inputs.len() < 2 {
        return None;
    }
    let mut by_prefix: HashMap<[u8; 32], Vec<Candidate>> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let Input::Path(path) = input else { continue };
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if let Ok(digest) = prefix_digest(input) {
            by_prefix
                .entry(digest)
                .or_default()
                .push((i, file_id(&meta)));
        }
    }
    let mut found: Option<(usize, usize)> = None;
    for same in by_prefix.values().filter(|f| f.len() > 1) {
        for (n, &(a, id_a)) in same.iter().enumerate() {
            for &(b, id_b) in &same[n + 1..] {
                if (id_a.is_some() && id_a == id_b)
                    || same_bytes(&inputs[a], &inputs[b]).unwrap_or(false)
                {
                    let pair = (a.min(b), a.max(b));
                    found = Some(found.map_or(pair, |f| f.min(pair)));
                }
            }
        }
    }
    found
}

/// The file itself (device and inode), whatever the name it was given by.
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The input's bytes as the capture reader sees them: decompressed when
/// gzip, zstd or lz4.
fn open(input: &Input) -> io::Result<Box<dyn Read + Send>> {
    let file = match input {
        Input::Path(p) => File::open(p)?,
        Input::Stdin => return Err(io::Error::other("stdin")),
    };
    Ok(compress::decompress(Box::new(file))?.0)
}

fn prefix_digest(input: &Input) -> io::Result<[u8; 32]> {
    let mut head = Vec::with_capacity(PREFIX);
    open(input)?.take(PREFIX as u64).read_to_end(&mut head)?;
    Ok(Sha256::digest(&head).into())
}

/// Whether two files hold the same bytes, read side by side.
fn same_bytes(a: &Input, b: &Input) -> io::Result<bool> {
    let (mut a, mut b) = (open(a)?, open(b)?);
    let (mut buf_a, mut buf_b) = (vec![0u8; PREFIX], vec![0u8; PREFIX]);
    loop {
        let n = read_full(&mut a, &mut buf_a)?;
        let m = read_full(&mut b, &mut buf_b)?;
        if n != m || buf_a[..n] != buf_b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, bytes: &[u8]) -> Input {
        let dir = std::env::temp_dir().join(format!("wspulse-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        Input::Path(path)
    }

    #[test]
    fn same_bytes_under_two_names_are_found() {
        let big: Vec<u8> = (0..PREFIX as u32 * 3).map(|i| (i % 253) as u8).collect();
        let mut late = big.clone();
        // Same size, same first 64 KiB, different past it: not the same.
        *late.last_mut().unwrap() ^= 1;
        let a = write("a", &big);
        let b = write("b", &late);
        let c = write("c", &big);
        assert_eq!(find(&[a.clone(), b.clone()]), None);
        assert_eq!(find(&[b.clone(), a.clone(), c.clone()]), Some((1, 2)));
        assert_eq!(find(&[a.clone(), b, a]), Some((0, 2)));
    }
}
