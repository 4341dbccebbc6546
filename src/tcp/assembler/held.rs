//! Out-of-order bytes waiting for a hole to fill: where a segment's new
//! pieces go (a new chunk, or grown onto a neighbour), and how a copy is
//! compared with the bytes already held.

use super::{earlier, Assembler, AssemblerLimits, Budget, Chunk, Extra, Overflow, Seq, Timestamp};

impl Assembler {
    /// Buffers the parts of `[seq, seq+data.len())` not already buffered.
    // Off the in-order path: kept out of its callers.
    #[inline(never)]
    pub(super) fn insert(
        &mut self,
        seq: Seq,
        data: &[u8],
        now: Timestamp,
        limits: AssemblerLimits,
        budget: &mut Budget,
    ) -> Result<(), Overflow> {
        let end = seq + data.len() as u32;
        // Collect the uncovered pieces first, so a refusal leaves no trace.
        let mut pieces: Vec<(Seq, Seq)> = Vec::new();
        let mut cursor = seq;
        for chunk in self.pending() {
            if chunk.start.diff(end) >= 0 {
                break;
            }
            if chunk.start.diff(cursor) > 0 {
                pieces.push((cursor, chunk.start));
            }
            cursor = cursor.max(chunk.end());
        }
        if end.diff(cursor) > 0 {
            pieces.push((cursor, end));
        }
        let added: u32 = pieces.iter().map(|(s, e)| e.bytes_after(*s)).sum();
        if added == 0 {
            return Ok(());
        }
        if self.buffered() + added > limits.max_bytes {
            return Err(Overflow::PerDirection {
                cap: limits.max_bytes,
            });
        }
        let new_chunks = pieces
            .iter()
            .filter(|&&(s, e)| self.neighbour(s, e).is_none())
            .count();
        if self.pending().len() + new_chunks > limits.max_chunks {
            return Err(Overflow::Chunks {
                cap: limits.max_chunks,
            });
        }
        budget.take(u64::from(added))?;
        let neighbours: Vec<_> = pieces.iter().map(|&(s, e)| self.neighbour(s, e)).collect();
        let held = self.extra.get_or_insert_default();
        if held.pending.is_empty() {
            held.opened = now;
        }
        held.buffered += added;
        // Pieces ascend, so each chunk added moves the ones after it, and
        // only those, one place on.
        let mut added_before = 0;
        for ((s, e), neighbour) in pieces.into_iter().zip(neighbours) {
            let bytes = &data[s.bytes_after(seq) as usize..e.bytes_after(seq) as usize];
            match neighbour {
                Some(Join::Before(i)) => {
                    let c = &mut held.pending[i + added_before];
                    c.data = [&c.data[..], bytes].concat().into();
                }
                Some(Join::After(i)) => {
                    let c = &mut held.pending[i + added_before];
                    c.data = [bytes, &c.data[..]].concat().into();
                    c.start = s;
                }
                None => {
                    let at = held.pending.partition_point(|c| c.start.diff(s) < 0);
                    let chunk = Chunk {
                        start: s,
                        data: bytes.into(),
                    };
                    held.pending.insert(at, chunk);
                    added_before += 1;
                }
            }
        }
        Ok(())
    }

    /// A held chunk that `[s, e)` (a piece no chunk covers) touches, small
    /// enough to grow by it instead of adding a chunk: a run of segments
    /// arriving in order, or in reverse, behind a hole then takes a chunk
    /// per [`MERGE_UP_TO`] bytes rather than one per segment.
    fn neighbour(&self, s: Seq, e: Seq) -> Option<Join> {
        let pending = self.pending();
        let at = pending.partition_point(|c| c.start.diff(s) < 0);
        let fits = |c: &Chunk| c.data.len() + e.bytes_after(s) as usize <= MERGE_UP_TO;
        match (at.checked_sub(1).map(|i| &pending[i]), pending.get(at)) {
            (Some(before), _) if before.end() == s && fits(before) => Some(Join::Before(at - 1)),
            (_, Some(after)) if after.start == e && fits(after) => Some(Join::After(at)),
            _ => None,
        }
    }
}

/// Which held chunk a piece joins (see [`Assembler::neighbour`]): the one
/// it follows, or the one it precedes, by index.
#[derive(Clone, Copy, Debug)]
enum Join {
    Before(usize),
    After(usize),
}

/// Held chunks grow by adjacent pieces up to about this size: copying a
/// chunk to grow it costs at most this per segment, as moving the chunk
/// list on an insert already does.
const MERGE_UP_TO: usize = 16 * 1024;

impl Extra {
    /// Compares the captured bytes `data` at `seq` with the held chunks they
    /// overlap, and counts the segment once if any byte differs.
    // Off the in-order path: kept out of its callers.
    #[inline(never)]
    pub(super) fn count_conflicts(&mut self, seq: Seq, data: &[u8]) {
        let end = seq + data.len() as u32;
        let mut differing = 0u64;
        for chunk in self.recent.iter().chain(&self.pending) {
            if chunk.start.diff(end) >= 0 {
                break;
            }
            let from = seq.max(chunk.start);
            let to = earlier(end, chunk.end());
            let n = to.bytes_after(from) as usize;
            if n == 0 {
                continue;
            }
            let mine = from.bytes_after(seq) as usize;
            let theirs = from.bytes_after(chunk.start) as usize;
            differing += data[mine..mine + n]
                .iter()
                .zip(&chunk.data[theirs..theirs + n])
                .filter(|(a, b)| a != b)
                .count() as u64;
        }
        if differing > 0 {
            self.gaps.conflicts += 1;
            self.gaps.conflict_bytes += differing;
        }
    }
}
