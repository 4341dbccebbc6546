//! `--write FILE`: what the tap captured is also saved, rotating by size,
//! and the findings cite the saved file and frame instead of the live
//! source's packet count, so a live finding can be opened in Wireshark or
//! re-examined with `wspulse analyze FILE FILE1 ...`.

use std::path::Path;

use crate::capture::write::{RotatingWriter, Rotation};
use crate::capture::{FrameRef, LinkType, Packet};
use crate::config::WriteConfig;

/// The writer, created at the first packet (a stream's link type is known
/// only then), for packets of that link type.
pub struct Saver {
    config: WriteConfig,
    snaplen: u32,
    open: Option<(RotatingWriter, LinkType)>,
    /// Packets of another link type than the first (a pcapng stream with
    /// several interfaces): a pcap file holds one. Counted, not saved.
    pub other_link: u64,
}

impl Saver {
    /// Refuses at once, before anything is captured, a `FILE` that exists:
    /// a user's file is never overwritten.
    pub fn new(config: WriteConfig, snaplen: u32) -> Result<Saver, String> {
        if Path::new(&config.path).exists() {
            return Err(format!(
                "--write {}: the file exists; wspulse does not overwrite it (remove it or name another)",
                config.path.display()
            ));
        }
        Ok(Saver {
            config,
            snaplen,
            open: None,
            other_link: 0,
        })
    }

    /// Saves `packet`; returns the frame the findings should cite, or
    /// `None` when the packet was not saved (another link type). Errors
    /// (one line, naming the file) stop the run: evidence asked for and not
    /// kept must not pass unnoticed.
    pub fn save(&mut self, packet: &Packet<'_>) -> Result<Option<FrameRef>, String> {
        let (writer, link) = match &mut self.open {
            Some(open) => open,
            None => {
                let rotation = Rotation {
                    max_size: Some(self.config.max_size),
                    files: Some(self.config.files),
                };
                let writer = RotatingWriter::create(
                    &self.config.path,
                    packet.link.linktype(),
                    self.snaplen,
                    rotation,
                )?;
                self.open.insert((writer, packet.link))
            }
        };
        if packet.link != *link {
            self.other_link += 1;
            return Ok(None);
        }
        writer
            .write(packet.at, packet.orig_len, packet.data)
            .map(Some)
            .map_err(|e| format!("--write: {e}"))
    }

    /// Makes what was saved so far visible to a reader of the file.
    pub fn flush(&mut self) -> Result<(), String> {
        match &mut self.open {
            Some((w, _)) => w.flush().map_err(|e| format!("--write: {e}")),
            None => Ok(()),
        }
    }

    /// The files that still hold packets, oldest first, for stderr.
    pub fn paths(&self) -> Vec<std::path::PathBuf> {
        self.open.as_ref().map_or_else(Vec::new, |(w, _)| w.paths())
    }
}
