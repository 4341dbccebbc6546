//! TLS record boundaries (RFC 8446 §5.1), for wss connections whose frames
//! cannot be read: each record is evidence that its sender is writing.

/// Follows record headers through one direction, skipping payloads.
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
const MAX_RECORD: u16 = (1 << 14) + 2048;

impl RecordReader {
    /// Feeds in-order bytes; calls `record(len)` for each record header.
    pub fn on_data(&mut self, mut bytes: &[u8], mut record: impl FnMut(u64)) {
        while !bytes.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = (self.skip as usize).min(bytes.len());
                self.skip -= n as u32;
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
            let [kind, major, _, hi, lo] = self.header;
            let len = u16::from_be_bytes([hi, lo]);
            // Content types 20–24 (ChangeCipherSpec … Heartbeat), version 3.x.
            if !(20..=24).contains(&kind) || major != 3 || len > MAX_RECORD {
                self.lost = true;
                return;
            }
            self.skip = u32::from(len);
            record(u64::from(len));
        }
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
            r.on_data(&stream[..split], |l| lens.push(l));
            r.on_data(&stream[split..], |l| lens.push(l));
            assert_eq!(lens, vec![5, 300, 0], "split at {split}");
        }
        let mut r = RecordReader::default();
        let mut n = 0;
        r.on_data(b"GET / HTTP/1.1\r\n", |_| n += 1);
        assert_eq!(n, 0);
        assert!(r.lost);
    }
}
