//! Several capture files read as one capture, in time order whatever the
//! order they were named in: `wspulse analyze cap*` expands tcpdump `-C`
//! names as cap, cap1, cap10, cap2. Files are ordered by their first
//! packet's time, and files whose times overlap (captures taken side by
//! side) are merged packet by packet: a streaming k-way merge by time.
//!
//! Memory stays flat: a file is opened when the merge reaches its first
//! packet and closed at its end, so a rotated set holds one or two files
//! open at a time, each with one read buffer. While one file's packets
//! come before every other candidate, they are handed over straight from
//! its buffer; a packet is copied only when the merge switches files.
//!
//! Frame references keep the input's index in the order given and its
//! frame number as Wireshark counts it in that file, so the report's
//! `inputs` list names the file every reference points into.

pub mod duplicate;

use std::collections::VecDeque;

use super::file::{CaptureError, FileOutcome, Input, PacketReader};
use super::{OwnedPacket, Packet, SecretsSink};
use crate::time::Timestamp;

/// What reading a set found about its order, for stderr and the report's
/// warnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetNote {
    /// The files were read in the order of their first packets, which is
    /// not the order given: their names, in the order read.
    Reordered(Vec<String>),
    /// `later` starts before `earlier` ends: their packets were merged by
    /// time.
    Overlap { earlier: String, later: String },
}

impl std::fmt::Display for SetNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetNote::Reordered(order) => write!(
                f,
                "inputs read in the order of their first packets, not as given: {}",
                order.join(", ")
            ),
            SetNote::Overlap { earlier, later } => write!(
                f,
                "{later} starts before {earlier} ends: their packets were merged by time"
            ),
        }
    }
}

/// A file being read: its next packet is parked, and its key is the
/// latest time it has reached (its own order is never changed, so a clock
/// that steps back inside a file does not pull its later packets ahead).
struct Source {
    /// Its place in the read order: breaks ties between equal times.
    rank: usize,
    index: u32,
    reader: PacketReader,
    next: OwnedPacket,
    key: Timestamp,
}

/// A file waiting for the merge to reach its first packet. Streams (stdin,
/// a pipe) cannot be opened twice: they stay open from the first look.
struct Waiting {
    rank: usize,
    index: u32,
    first: Timestamp,
    held: Option<(PacketReader, OwnedPacket)>,
}

type OnFile<'a> = dyn FnMut(u32, Result<FileOutcome, CaptureError>) + 'a;

/// Reads `inputs` as one capture: `on_packet` gets every packet in time
/// order (each file's own order kept), `on_file` each file's outcome by
/// its index in `inputs` when it ends (an unreadable or damaged file as
/// its error, after the packets before the damage). Returns what the
/// order called for.
///
/// TLS key logs in Decryption Secrets Blocks go to `secrets`, if given
/// (a block read twice, when a file is opened again, adds the same lines).
///
/// Errors: the same capture given twice ([`CaptureError::Duplicate`]);
/// a single input that cannot be read at all.
pub fn read_set(
    inputs: &[Input],
    secrets: Option<&SecretsSink>,
    on_packet: &mut dyn FnMut(&Packet<'_>),
    on_file: &mut OnFile<'_>,
) -> Result<Vec<SetNote>, CaptureError> {
    let mut notes = Vec::new();
    read_set_noting(inputs, secrets, on_packet, on_file, &mut |n| {
        notes.push(n.clone())
    })?;
    Ok(notes)
}

/// [`read_set`], handing each note to `on_note` as soon as it is known
/// (the order before the first packet, an overlap when the later file
/// starts), so a streamed report's header can carry it.
pub fn read_set_noting(
    inputs: &[Input],
    secrets: Option<&SecretsSink>,
    on_packet: &mut dyn FnMut(&Packet<'_>),
    on_file: &mut OnFile<'_>,
    on_note: &mut dyn FnMut(&SetNote),
) -> Result<(), CaptureError> {
    if let Some((a, b)) = duplicate::find(inputs) {
        return Err(CaptureError::Duplicate {
            first: inputs[a].display(),
            second: inputs[b].display(),
        });
    }
    let mut waiting = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let index = i as u32;
        match first_look(input, index, secrets) {
            Ok(Ok(w)) => waiting.push(w),
            Ok(Err(no_packets)) => on_file(index, Ok(no_packets)),
            Err(e) if inputs.len() == 1 && e.is_unreadable() => return Err(e),
            Err(e) => on_file(index, Err(e)),
        }
    }
    // tcpdump -C names sort as cap, cap1, cap10, cap2: time decides
    // (a -W ring buffer's numbers wrap; only times tell its order).
    waiting.sort_by_key(|w| (w.first, w.index));
    if waiting.windows(2).any(|w| w[0].index > w[1].index) {
        let order = waiting.iter().map(|w| inputs[w.index as usize].display());
        on_note(&SetNote::Reordered(order.collect()));
    }
    for (rank, w) in waiting.iter_mut().enumerate() {
        w.rank = rank;
    }
    let mut merge = Merge {
        inputs,
        secrets: secrets.cloned(),
        waiting: waiting.into(),
        active: Vec::new(),
        on_note,
    };
    merge.run(on_packet, on_file);
    Ok(())
}

/// Opens `input` and reads up to its first packet; a file without packets
/// is done then, and its outcome is returned instead.
fn first_look(
    input: &Input,
    index: u32,
    secrets: Option<&SecretsSink>,
) -> Result<Result<Waiting, FileOutcome>, CaptureError> {
    let mut reader = PacketReader::open(input, index)?;
    reader.collect_secrets(secrets.cloned());
    let mut first = None;
    reader.next_packet(&mut |p| first = Some(OwnedPacket::new(p)))?;
    let Some(first) = first else {
        return Ok(Err(reader.into_outcome()));
    };
    let stream = match input {
        Input::Stdin => true,
        Input::Path(p) => !std::fs::metadata(p).is_ok_and(|m| m.is_file()),
    };
    Ok(Ok(Waiting {
        rank: 0,
        index,
        first: first.at,
        held: stream.then_some((reader, first)),
    }))
}

struct Merge<'a, 'n> {
    inputs: &'a [Input],
    secrets: Option<SecretsSink>,
    waiting: VecDeque<Waiting>,
    active: Vec<Source>,
    on_note: &'n mut dyn FnMut(&SetNote),
}

impl Merge<'_, '_> {
    fn run(&mut self, on_packet: &mut dyn FnMut(&Packet<'_>), on_file: &mut OnFile<'_>) {
        loop {
            let next_waiting = self.waiting.front().map(|w| (w.first, w.rank));
            let best = (0..self.active.len())
                .min_by_key(|&i| self.order(i))
                .filter(|&i| next_waiting.is_none_or(|w| self.order(i) < w));
            match (best, next_waiting) {
                (Some(i), _) => self.drain(i, on_packet, on_file),
                (None, Some(_)) => self.start(on_file),
                (None, None) => return,
            }
        }
    }

    fn order(&self, i: usize) -> (Timestamp, usize) {
        (self.active[i].key, self.active[i].rank)
    }

    /// Opens the next waiting file (again, for a regular file) and reads
    /// its first packet.
    fn start(&mut self, on_file: &mut OnFile<'_>) {
        let Some(w) = self.waiting.pop_front() else {
            return;
        };
        if let Some(open) = self.active.iter().min_by_key(|s| s.rank) {
            (self.on_note)(&SetNote::Overlap {
                earlier: self.inputs[open.index as usize].display(),
                later: self.inputs[w.index as usize].display(),
            });
        }
        let (reader, next) = match w.held {
            Some(held) => held,
            None => match self.reopen(w.index) {
                Ok(Some(opened)) => opened,
                Ok(None) => return,
                Err(e) => return on_file(w.index, Err(e)),
            },
        };
        self.active.push(Source {
            rank: w.rank,
            index: w.index,
            key: next.at,
            reader,
            next,
        });
    }

    fn reopen(&self, index: u32) -> Result<Option<(PacketReader, OwnedPacket)>, CaptureError> {
        let mut reader = PacketReader::open(&self.inputs[index as usize], index)?;
        reader.collect_secrets(self.secrets.clone());
        let mut first = None;
        reader.next_packet(&mut |p| first = Some(OwnedPacket::new(p)))?;
        Ok(first.map(|f| (reader, f)))
    }

    /// Hands over source `i`'s parked packet, then its packets straight
    /// from its buffer for as long as they come before every other
    /// candidate; parks the first that does not. A file that ends (or is
    /// damaged) is closed and its outcome given to `on_file`.
    fn drain(
        &mut self,
        i: usize,
        on_packet: &mut dyn FnMut(&Packet<'_>),
        on_file: &mut OnFile<'_>,
    ) {
        let others = (0..self.active.len())
            .filter(|&j| j != i)
            .map(|j| self.order(j));
        let waiting = self.waiting.front().map(|w| (w.first, w.rank));
        let bound = others.chain(waiting).min();
        let Source {
            rank,
            reader,
            next,
            key,
            ..
        } = &mut self.active[i];
        on_packet(&next.packet());
        let ended = loop {
            let mut parked = false;
            let read = reader.next_packet(&mut |p| {
                *key = (*key).max(p.at);
                if bound.is_none_or(|b| (*key, *rank) < b) {
                    on_packet(p);
                } else {
                    *next = OwnedPacket::new(p);
                    parked = true;
                }
            });
            match read {
                Ok(true) if parked => break None,
                Ok(true) => {}
                Ok(false) => break Some(Ok(())),
                Err(e) => break Some(Err(e)),
            }
        };
        if let Some(end) = ended {
            let source = self.active.swap_remove(i);
            let outcome = end.map(|()| source.reader.into_outcome());
            on_file(source.index, outcome);
        }
    }
}

#[cfg(test)]
mod tests;
