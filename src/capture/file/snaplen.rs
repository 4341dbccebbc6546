//! The snapshot length a capture file declares: what a capture written
//! from it (`--extract`) should declare too.

use std::io::Read;

use super::{start_stream, Input};

/// The snapshot length (bytes) `input` declares: the pcap file header's
/// `snaplen` (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>), or
/// the first Interface Description Block's `SnapLen` in a pcapng file
/// (RFC 9867 §4.2). Compressed files are read through. `None` when the
/// file cannot be opened, is neither format, or (pcapng) declares 0,
/// meaning "no limit". Reads at most the first 64 KiB.
pub fn declared_snaplen(input: &Input) -> Option<u32> {
    let stream = start_stream(input.open().ok()?, &input.display()).ok()?;
    let mut head = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut head).ok()?;
    snaplen_of(&head)
}

/// [`declared_snaplen`] of a file's first bytes.
fn snaplen_of(head: &[u8]) -> Option<u32> {
    let word = |at: usize, big: bool| -> Option<u32> {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    match word(0, false)? {
        0xa1b2_c3d4 | 0xa1b2_3c4d => word(16, false),
        0xd4c3_b2a1 | 0x4d3c_b2a1 => word(16, true),
        0x0a0d_0d0a => {
            // Section Header Block: its byte-order magic says the order.
            let big = match word(8, false)? {
                0x1a2b_3c4d => false,
                0x4d3c_2b1a => true,
                _ => return None,
            };
            let shb_len = word(4, big)? as usize;
            let idb = shb_len;
            if word(idb, big)? != 1 {
                return None;
            }
            word(idb + 12, big).filter(|&s| s != 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pcap_header_in_either_byte_order() {
        let mut le = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        le.extend([0; 8]);
        le.extend(1500u32.to_le_bytes());
        le.extend(1u32.to_le_bytes());
        assert_eq!(snaplen_of(&le), Some(1500));
        let mut be = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        be.extend([0; 8]);
        be.extend(96u32.to_be_bytes());
        be.extend(1u32.to_be_bytes());
        assert_eq!(snaplen_of(&be), Some(96));
    }

    #[test]
    fn reads_the_first_pcapng_interface() {
        let mut f = Vec::new();
        f.extend(0x0a0d_0d0au32.to_le_bytes());
        f.extend(28u32.to_le_bytes());
        f.extend(0x1a2b_3c4du32.to_le_bytes());
        f.extend([1, 0, 0, 0]);
        f.extend(u64::MAX.to_le_bytes());
        f.extend(28u32.to_le_bytes());
        f.extend(1u32.to_le_bytes());
        f.extend(20u32.to_le_bytes());
        f.extend(1u16.to_le_bytes());
        f.extend(0u16.to_le_bytes());
        f.extend(65535u32.to_le_bytes());
        f.extend(20u32.to_le_bytes());
        assert_eq!(snaplen_of(&f), Some(65535));
        assert_eq!(snaplen_of(b"not a capture at all"), None);
    }
}
