//! The assembler's limits: per direction, and a budget shared by every
//! connection, with the typed error a cap gives.

use thiserror::Error;

/// A buffer cap that refused out-of-order bytes; the assembler recovers by
/// skipping the hole, so this is counted, not fatal.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum Overflow {
    #[error("per-direction out-of-order cap of {cap} bytes reached")]
    PerDirection { cap: u32 },
    #[error("global out-of-order cap of {cap} bytes reached")]
    Global { cap: u64 },
    #[error("more than {cap} out-of-order chunks")]
    Chunks { cap: usize },
}

/// Out-of-order bytes held across every connection, so that no input can
/// make the process grow past `cap`.
#[derive(Debug)]
pub struct Budget {
    cap: u64,
    used: u64,
    pub peak: u64,
    /// The most used since the last [`Budget::take_recent_peak`].
    recent: u64,
}

impl Budget {
    pub fn new(cap: u64) -> Self {
        Budget {
            cap,
            used: 0,
            peak: 0,
            recent: 0,
        }
    }

    pub(super) fn take(&mut self, n: u64) -> Result<(), Overflow> {
        if self.used + n > self.cap {
            return Err(Overflow::Global { cap: self.cap });
        }
        self.used += n;
        self.peak = self.peak.max(self.used);
        self.recent = self.recent.max(self.used);
        Ok(())
    }

    /// The most bytes used since the last call (at least those used now),
    /// starting the next interval at what is used now.
    pub fn take_recent_peak(&mut self) -> u64 {
        let peak = self.recent.max(self.used);
        self.recent = self.used;
        peak
    }

    pub(super) fn give_back(&mut self, n: u64) {
        self.used = self.used.saturating_sub(n);
    }

    pub fn used(&self) -> u64 {
        self.used
    }
}

/// Per-direction limits.
#[derive(Clone, Copy, Debug)]
pub struct AssemblerLimits {
    pub max_bytes: u32,
    pub max_chunks: usize,
}
