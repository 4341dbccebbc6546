//! Compressed captures, told by their first bytes (never by the file's
//! name, so stdin and renamed files work too): gzip (RFC 1952 §2.3.1),
//! zstd (RFC 8878 §3.1.1) and the LZ4 frame format are read as tshark
//! reads them; other compressions are named, with the tool that undoes
//! them.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A compression wspulse reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Magic `1f 8b` (RFC 1952 §2.3.1); concatenated members, as
    /// `gzip -c a >> b` writes, are read as one stream.
    Gzip,
    /// Magic `28 b5 2f fd` (RFC 8878 §3.1.1); concatenated frames too.
    Zstd,
    /// LZ4 frame format, magic `04 22 4d 18`; concatenated frames too.
    Lz4,
}

impl Compression {
    /// Its name in messages: `gzip`, `zstd`, `lz4`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }

    /// The decompressed stream, in words: "decompressed gzip".
    pub fn decompressed(self) -> String {
        format!("decompressed {}", self.name())
    }

    /// A decompression error, in words: "gzip data damaged".
    pub fn damage(self) -> String {
        format!("{} data damaged", self.name())
    }

    /// The stream read through its decompressor.
    fn decoder(self, stream: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
            // Windows over zstd's default limit (128 MiB) are refused, so a
            // hostile file cannot make us allocate gigabytes.
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(stream)?),
            Compression::Lz4 => {
                let consumed = Arc::new(AtomicU64::new(0));
                let counted = Counted {
                    inner: stream,
                    consumed: consumed.clone(),
                };
                Box::new(Lz4Frames {
                    decoder: lz4_flex::frame::FrameDecoder::new(counted),
                    consumed,
                })
            }
        })
    }
}

/// What a stream's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Not compressed (or not in any way we know).
    Plain,
    /// Compressed in a way we read.
    Readable(Compression),
    /// Compressed in a way we do not read: its name and the command that
    /// decompresses it.
    Unsupported {
        format: &'static str,
        tool: &'static str,
    },
}

/// The longest magic below.
const SNIFF_LEN: usize = 6;

/// Compressions we name but do not read: (magic, name, how to undo it).
const UNSUPPORTED: [(&[u8], &str, &str); 7] = [
    (b"BZh", "bzip2", "bunzip2"),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz", "xz -d"),
    (b"PK\x03\x04", "zip", "unzip"),
    (&[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], "7z", "7z x"),
    (b"LZIP", "lzip", "lzip -d"),
    (&[0x02, 0x21, 0x4c, 0x18], "lz4 legacy-format", "lz4 -d"),
    (&[0x1f, 0x9d], "compress (.Z)", "uncompress"),
];

/// Which compression `head` (a stream's first bytes) starts with.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Sniffed::Readable(Compression::Gzip);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Sniffed::Readable(Compression::Zstd);
    }
    if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        return Sniffed::Readable(Compression::Lz4);
    }
    for (magic, format, tool) in UNSUPPORTED {
        if head.starts_with(magic) {
            return Sniffed::Unsupported { format, tool };
        }
    }
    Sniffed::Plain
}

/// Reads a stream's first bytes and says what it is; the stream returned
/// reads those bytes again, decompressed when the stream is compressed
/// in a way we read.
pub fn decompress(mut stream: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, Sniffed)> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    while head.len() < SNIFF_LEN {
        let mut chunk = [0u8; SNIFF_LEN];
        let n = match stream.read(&mut chunk[..SNIFF_LEN - head.len()]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let sniffed = sniff(&head);
    let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(stream));
    match sniffed {
        Sniffed::Readable(c) => Ok((c.decoder(whole)?, sniffed)),
        _ => Ok((whole, sniffed)),
    }
}

/// Counts the bytes read through it.
struct Counted {
    inner: Box<dyn Read + Send>,
    consumed: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// lz4_flex's frame decoder reports the end of each frame as the end of
/// the stream; `lz4 -c a >> b` (and tools that flush in frames) write
/// several. A read that returns nothing while the compressed stream moved
/// on was the end of a frame: read on. One that moved nothing is the end.
struct Lz4Frames {
    decoder: lz4_flex::frame::FrameDecoder<Counted>,
    consumed: Arc<AtomicU64>,
}

impl Read for Lz4Frames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let before = self.consumed.load(Ordering::Relaxed);
            let n = self.decoder.read(buf)?;
            if n > 0 || buf.is_empty() || self.consumed.load(Ordering::Relaxed) == before {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: Vec<u8>) -> (Vec<u8>, Sniffed) {
        let (mut r, s) = decompress(Box::new(io::Cursor::new(bytes))).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, s)
    }

    #[test]
    fn each_format_is_told_by_its_bytes_and_read_back() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::stream::encode_all(&data[..], 1).unwrap();
        for (bytes, c) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
            let (out, s) = read_all(bytes);
            assert_eq!(s, Sniffed::Readable(c));
            assert!(out == data, "{c:?} read back differs");
        }
        let (out, s) = read_all(data.clone());
        assert_eq!(s, Sniffed::Plain);
        assert!(out == data);
    }

    /// Two gzip members (`gzip -c a >> b`) and two zstd frames read as
    /// one stream.
    #[test]
    fn concatenated_members_and_frames_are_one_stream() {
        let mut gz = Vec::new();
        for part in [&b"first "[..], b"second"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        assert_eq!(read_all(gz).0, b"first second");
        let mut zst = zstd::stream::encode_all(&b"first "[..], 1).unwrap();
        zst.extend(zstd::stream::encode_all(&b"second"[..], 1).unwrap());
        assert_eq!(read_all(zst).0, b"first second");
    }

    #[test]
    fn other_compressions_are_named_with_their_tool() {
        assert_eq!(
            sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
            Sniffed::Unsupported {
                format: "xz",
                tool: "xz -d"
            }
        );
        assert!(matches!(
            sniff(b"BZh91AY"),
            Sniffed::Unsupported {
                format: "bzip2",
                ..
            }
        ));
        // A pcap's own magic is no compression.
        assert_eq!(sniff(&[0xd4, 0xc3, 0xb2, 0xa1]), Sniffed::Plain);
        assert_eq!(sniff(&[]), Sniffed::Plain);
    }
}
