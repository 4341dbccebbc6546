//! pcap_walk: the record-walk floor. Reads a classic pcap file (either byte
//! order, either timestamp resolution) in 8 MiB blocks and steps from record
//! header to record header, touching nothing else: no analysis of a capture
//! can be faster than this on the same machine and page cache.
//!
//! Usage: pcap_walk FILE.pcap  ->  `packets=N bytes=B` (B: captured bytes)
//! on stdout; a one-line error and exit status 2 on a file that is not a
//! classic pcap or ends inside a record.

use std::io::Read;
use std::process::ExitCode;

const BLOCK: usize = 8 << 20;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: pcap_walk FILE.pcap");
        return ExitCode::from(2);
    };
    match walk(&path) {
        Ok((packets, bytes)) => {
            println!("packets={packets} bytes={bytes}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pcap_walk: {path}: {e}");
            ExitCode::from(2)
        }
    }
}

fn walk(path: &str) -> Result<(u64, u64), String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; BLOCK];
    let mut filled = read_some(&mut file, &mut buf, 0)?;
    let big_endian = match buf.get(..4) {
        Some([0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]) => true,
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]) => false,
        _ => return Err("not a classic pcap file".into()),
    };
    let (mut at, mut packets, mut bytes) = (24usize, 0u64, 0u64);
    loop {
        if filled - at < 16 || filled - at < 16 + incl(&buf[at..], big_endian) {
            // Move the partial record to the front and read more.
            buf.copy_within(at..filled, 0);
            filled -= at;
            at = 0;
            if filled >= 16 && 16 + incl(&buf, big_endian) > buf.len() {
                buf.resize(16 + incl(&buf, big_endian), 0);
            }
            let before = filled;
            filled = read_some(&mut file, &mut buf, filled)?;
            if filled == before {
                return if filled == 0 {
                    Ok((packets, bytes))
                } else {
                    Err("truncated record at the end".into())
                };
            }
            continue;
        }
        let len = incl(&buf[at..], big_endian);
        packets += 1;
        bytes += len as u64;
        at += 16 + len;
    }
}

/// The captured length in a record header.
fn incl(h: &[u8], big_endian: bool) -> usize {
    let b = [h[8], h[9], h[10], h[11]];
    (if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }) as usize
}

/// Fills `buf` from `filled` as far as the file allows; returns the new fill.
fn read_some(file: &mut std::fs::File, buf: &mut [u8], mut filled: usize) -> Result<usize, String> {
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(filled)
}
