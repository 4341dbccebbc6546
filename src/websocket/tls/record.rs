//! TLS record boundaries (RFC 8446 §5.1), for wss connections whose frames
//! cannot be read: each record is evidence that its sender is writing, and
//! the handshake records' payloads carry the hellos (see [`super::hello`]).

/// What a [`RecordReader`] found, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordEvent<'a> {
    /// A record header: its content type (RFC 8446 §5.1: 20
    /// ChangeCipherSpec, 21 Alert, 22 Handshake, 23 ApplicationData, 24
    /// Heartbeat), version (0x0301…0x0303) and payload length in bytes.
    Record { kind: u8, version: u16, len: u64 },
    /// Payload bytes of the current record, as they arrive.
    Payload { kind: u8, bytes: &'a [u8] },
}

/// A TLS record header at the start of `bytes` (RFC 8446 §5.1): a known
/// content type, version 3.x with x at most 4, a length within
/// [`MAX_RECORD`]. Needs the 5 header bytes. The content type is returned.
pub fn record_header(bytes: &[u8]) -> Option<u8> {
    let &[kind, major, minor, hi, lo, ..] = bytes else {
        return None;
    };
    let plausible = (20..=24).contains(&kind)
        && major == 3
        && minor <= 4
        && u16::from_be_bytes([hi, lo]) <= MAX_RECORD;
    plausible.then_some(kind)
}

/// Follows record headers through one direction, handing on payloads.
#[derive(Clone, Debug, Default)]
pub struct RecordReader {
    header: [u8; 5],
    have: u8,
    /// Payload bytes of the current record left (at most `MAX_RECORD`).
    skip: u32,
    /// Lost sync (a gap or bytes that are not TLS): records are no longer
    /// counted for this direction.
    lost: bool,
}

/// RFC 8446 §5.1: a record is at most 2^14 bytes plus 256 of expansion
/// (TLS 1.3) or 2048 (TLS 1.2 and earlier).
pub const MAX_RECORD: u16 = (1 << 14) + 2048;

impl RecordReader {
    /// Whether record boundaries were lost in this direction.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Feeds in-order bytes; `event` gets each record header, then its
    /// payload in pieces.
    pub fn on_data(&mut self, mut bytes: &[u8], mut event: impl FnMut(RecordEvent<'_>)) {
        while !bytes.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = (self.skip as usize).min(bytes.len());
                self.skip -= n as u32;
                let kind = self.header[0];
                event(RecordEvent::Payload {
                    kind,
                    bytes: &bytes[..n],
                });
                bytes = &bytes[n..];
                continue;
            }
            let need = 5 - self.have as usize;
            let take = need.min(bytes.len());
            self.header[self.have as usize..self.have as usize + take]
                .copy_from_slice(&bytes[..take]);
            self.have += take as u8;
            bytes = &bytes[take..];
            if self.have < 5 {
                return;
            }
            self.have = 0;
            let [kind, major, minor, hi, lo] = self.header;
            let len = u16::from_be_bytes([hi, lo]);
            // Content types 20–24 (ChangeCipherSpec … Heartbeat), version 3.x.
            if !(20..=24).contains(&kind) || major != 3 || len > MAX_RECORD {
                self.lost = true;
                return;
            }
            self.skip = u32::from(len);
            event(RecordEvent::Record {
                kind,
                version: u16::from_be_bytes([major, minor]),
                len: u64::from(len),
            });
        }
    }

    /// Whether a record's payload is being read (its header was seen, not
    /// all its bytes).
    pub fn in_record(&self) -> bool {
        self.skip > 0
    }

    /// Bytes were missed: record boundaries are lost unless the gap falls
    /// inside a payload being skipped.
    pub fn on_gap(&mut self, len: u64) {
        if self.have == 0 && u64::from(self.skip) >= len {
            self.skip -= len as u32;
        } else {
            self.lost = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_across_splits_and_stops_on_garbage() {
        let mut stream = Vec::new();
        for len in [5u16, 300, 0] {
            stream.extend([23, 3, 3]);
            stream.extend(len.to_be_bytes());
            stream.extend(vec![0xaa; len as usize]);
        }
        for split in 0..stream.len() {
            let mut r = RecordReader::default();
            let mut lens = Vec::new();
            let mut payload = 0;
            for part in [&stream[..split], &stream[split..]] {
                r.on_data(part, |e| match e {
                    RecordEvent::Record { len, .. } => lens.push(len),
                    RecordEvent::Payload { bytes, .. } => payload += bytes.len(),
                });
            }
            assert_eq!(lens, vec![5, 300, 0], "split at {split}");
            assert_eq!(payload, 305, "split at {split}");
        }
        let mut r = RecordReader::default();
        let mut n = 0;
        r.on_data(b"GET / HTTP/1.1\r\n", |_| n += 1);
        assert_eq!(n, 0);
        assert!(r.lost);
    }

    #[test]
    fn a_record_header_is_told_from_http_and_websocket_frames() {
        assert_eq!(record_header(&[22, 3, 1, 2, 0]), Some(22));
        assert_eq!(record_header(&[23, 3, 3, 0x40, 0x11]), Some(23));
        assert_eq!(record_header(b"GET / HTTP/1.1"), None);
        // A masked text frame, a record too long, a version 3.9, too short.
        assert_eq!(record_header(&[0x81, 0x85, 1, 2, 3]), None);
        assert_eq!(record_header(&[23, 3, 3, 0xff, 0xff]), None);
        assert_eq!(record_header(&[22, 3, 9, 0, 5]), None);
        assert_eq!(record_header(&[22, 3, 1]), None);
    }
}
