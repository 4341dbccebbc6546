//! References to evidence: where a finding can be checked. A capture frame
//! (file index and frame number, as Wireshark counts them) for the passive
//! path; a sample number for an active probe, which has no packets.

use std::num::NonZeroU64;

use serde::Serialize;

use crate::time::Timestamp;

/// Where a packet sits in the user's input: file index (0-based, in the
/// order given) and frame number as Wireshark counts it (1-based, per file).
/// Serialized as `{"file": 0, "frame": 12}`.
///
/// Packed in 8 bytes (20 bits of file index, 44 of frame number: a million
/// rotated files of 17 trillion packets each), since every connection keeps
/// dozens of them; larger values saturate.
///
/// Stored plus one in a `NonZeroU64`, so `Option<Moment>` and
/// `Option<Mark>` cost no more than the value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameRef(NonZeroU64);

const FRAME_BITS: u32 = 44;
const MAX_FRAME: u64 = (1 << FRAME_BITS) - 1;
/// The file index that marks a probe sample in an [`EvidenceRef`].
const SAMPLE_FILE: u64 = (1 << (64 - FRAME_BITS)) - 1;

/// `packed + 1`: never zero, since `packed` is below `u64::MAX`.
fn pack(file: u64, n: u64) -> NonZeroU64 {
    let packed = (file << FRAME_BITS) | n.min(MAX_FRAME - 1);
    NonZeroU64::new(packed + 1).unwrap_or(NonZeroU64::MIN)
}

fn unpack(v: NonZeroU64) -> (u64, u64) {
    let packed = v.get() - 1;
    (packed >> FRAME_BITS, packed & MAX_FRAME)
}

impl FrameRef {
    pub fn new(file: u32, frame: u64) -> Self {
        FrameRef(pack(u64::from(file).min(SAMPLE_FILE - 1), frame))
    }

    pub fn file(self) -> u32 {
        unpack(self.0).0 as u32
    }

    pub fn frame(self) -> u64 {
        unpack(self.0).1
    }
}

impl Default for FrameRef {
    fn default() -> Self {
        FrameRef::new(0, 0)
    }
}

impl std::fmt::Debug for FrameRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.file(), self.frame())
    }
}

impl Serialize for FrameRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FrameRef", 2)?;
        st.serialize_field("file", &self.file())?;
        st.serialize_field("frame", &self.frame())?;
        st.end()
    }
}

/// What proves an event: a capture frame, or one of a probe's own samples
/// (a TCP_INFO reading, a Ping's sequence number). Serialized as
/// `{"file": 0, "frame": 12}` or `{"sample": 3}`. Packed like [`FrameRef`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvidenceRef(NonZeroU64);

impl Default for EvidenceRef {
    fn default() -> Self {
        EvidenceRef::frame(FrameRef::default())
    }
}

impl EvidenceRef {
    pub fn frame(f: FrameRef) -> Self {
        EvidenceRef(f.0)
    }

    pub fn sample(n: u64) -> Self {
        EvidenceRef(pack(SAMPLE_FILE, n))
    }

    /// The capture frame, unless this is a probe sample.
    pub fn as_frame(self) -> Option<FrameRef> {
        (unpack(self.0).0 != SAMPLE_FILE).then_some(FrameRef(self.0))
    }

    fn sample_number(self) -> u64 {
        unpack(self.0).1
    }
}

impl From<FrameRef> for EvidenceRef {
    fn from(f: FrameRef) -> Self {
        EvidenceRef::frame(f)
    }
}

impl std::fmt::Debug for EvidenceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_frame() {
            Some(frame) => frame.fmt(f),
            None => write!(f, "sample {}", self.sample_number()),
        }
    }
}

impl Serialize for EvidenceRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self.as_frame() {
            Some(frame) => frame.serialize(s),
            None => {
                let mut st = s.serialize_struct("Sample", 1)?;
                st.serialize_field("sample", &self.sample_number())?;
                st.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_pack_and_print_as_wireshark_counts() {
        let f = FrameRef::new(3, 123_456_789);
        assert_eq!((f.file(), f.frame()), (3, 123_456_789));
        assert_eq!(
            serde_json::to_string(&EvidenceRef::frame(f)).unwrap(),
            r#"{"file":3,"frame":123456789}"#
        );
        assert_eq!(
            serde_json::to_string(&EvidenceRef::sample(7)).unwrap(),
            r#"{"sample":7}"#
        );
        assert!(FrameRef::new(0, 2) > FrameRef::new(0, 1));
        assert!(FrameRef::new(1, 1) > FrameRef::new(0, 9));
        assert_eq!(std::mem::size_of::<Option<Moment>>(), 16);
        assert_eq!(FrameRef::default().frame(), 0);
    }
}

/// When something happened and which packet shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Moment {
    pub at: Timestamp,
    pub frame: FrameRef,
}
