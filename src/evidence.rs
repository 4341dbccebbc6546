//! References to evidence: where a finding can be checked. A capture frame
//! (file index and frame number, as Wireshark counts them) for the passive
//! path; a sample number for an active probe, which has no packets.

use serde::Serialize;

use crate::time::Timestamp;

/// Where a packet sits in the user's input: file index (0-based, in the
/// order given) and frame number as Wireshark counts it (1-based, per file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FrameRef {
    pub file: u32,
    pub frame: u64,
}

/// What proves an event: a capture frame, or one of a probe's own samples
/// (a TCP_INFO reading, a Ping's sequence number). Serialized as
/// `{"file": 0, "frame": 12}` or `{"sample": 3}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum EvidenceRef {
    Frame(FrameRef),
    Sample { sample: u64 },
}

impl Default for EvidenceRef {
    fn default() -> Self {
        EvidenceRef::Frame(FrameRef::default())
    }
}

impl From<FrameRef> for EvidenceRef {
    fn from(f: FrameRef) -> Self {
        EvidenceRef::Frame(f)
    }
}

/// When something happened and which packet shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Moment {
    pub at: Timestamp,
    pub frame: FrameRef,
}
