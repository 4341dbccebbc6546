//! `live --extract FILE`: the packets of the connections that turn out
//! not `alive`, saved as they would be by `analyze --extract`, while
//! `--write` saves everything.
//!
//! A live verdict comes after the packets that led to it, so each open
//! connection keeps its first [`HEAD`] packets (its handshakes, which
//! name it) and its latest ones in a bounded buffer ([`PER_CONNECTION`]
//! packets in all, [`BUDGET`] bytes across all connections): when a
//! connection's verdict first leaves `alive`, its buffer goes to the file,
//! and from then on its packets go straight there until it retires. A
//! connection that retires `alive` leaves nothing. Packets are scrubbed as
//! they arrive (the same walk as `analyze --extract`: payloads and
//! credential values overwritten, heartbeats and headers kept, checksums
//! fixed) unless `--show-secrets`, so no buffer holds a secret either.
//!
//! Each flagged connection gets a pcapng file of its own, named after
//! FILE with its id (`evidence.pcapng` → `evidence-3.pcapng`), so each file
//! is in time order however late its verdict came, and
//! `wspulse analyze evidence-*.pcapng` reads them together (merged by
//! time). A file is closed when its connection retires; at most
//! [`MAX_OPEN`] are open at once (a connection flagged past that is
//! counted, not saved). Each packet's comment names its connection and
//! its frame in the live source (or in the `--write` file):
//! `wspulse: connection #3, live frame 812`.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::capture::write::pcapng::PcapngWriter;
use crate::capture::{FrameRef, LinkType, Packet};
use crate::decode::decode;
use crate::extract::{address, fix_checksum, scrub, scrub_segment};
use crate::secret::pseudonym::Pseudonyms;
use crate::tcp::connection::Endpoints;
use crate::time::Timestamp;

/// Latest packets kept per connection before its verdict leaves `alive`:
/// what led up to the fault (a Ping interval or two at the rates
/// WebSocket connections idle at).
pub const PER_CONNECTION: usize = 256;

/// A connection's first packets, kept whatever follows: the TCP and
/// WebSocket handshakes, so the extract says who spoke and how.
pub const HEAD: usize = 16;

/// Bytes of buffered packets across all connections, at most; past it,
/// packets are not buffered (counted, and said at the end).
pub const BUDGET: usize = 64 << 20;

/// Files open at once, at most (one per flagged connection still open).
pub const MAX_OPEN: usize = 256;

/// The snaplen written (libpcap's largest): the live source's own is not
/// known for every source.
const SNAPLEN: u32 = 262_144;

/// The two endpoints, the smaller first, so both directions find one flow.
type Pair = (Endpoints, Endpoints);

fn pair(a: Endpoints, b: Endpoints) -> Pair {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A packet waiting in a buffer, already scrubbed.
struct Held {
    at: Timestamp,
    link: LinkType,
    orig_len: u32,
    frame: FrameRef,
    data: Vec<u8>,
}

struct Flow {
    /// The scrubber's walk of each direction: index 0 is the pair's first
    /// endpoint sending.
    scrub: [scrub::Direction; 2],
    buffer: VecDeque<Held>,
    /// Packets the connection had so far.
    seen: u64,
    /// Once flagged: the connection id and its file (`None` when it could
    /// not be opened, or too many were).
    flagged: Option<(u64, Option<PcapngWriter>)>,
}

/// Fill runs each direction remembers for retransmissions: a live
/// connection lives for days, and only recent bytes are sent again.
const RUNS: usize = 64;

impl Flow {
    /// A flow's walk; `keep_path`: its request path stays (not under
    /// `--redact`, which hides paths).
    fn new(keep_path: bool) -> Self {
        let walk = || scrub::Direction::new(keep_path).with_max_runs(RUNS);
        Flow {
            scrub: [walk(), walk()],
            buffer: VecDeque::new(),
            seen: 0,
            flagged: None,
        }
    }
}

/// The extractor of one live run.
pub struct Extractor {
    path: PathBuf,
    show_secrets: bool,
    /// `--redact`: addresses in the written packets become these
    /// pseudonyms (the records' own), checksums fixed.
    pseudonyms: Option<Pseudonyms>,
    flows: HashMap<Pair, Flow>,
    open: usize,
    /// The files written, in the order their connections were flagged.
    pub files: Vec<PathBuf>,
    /// Connections flagged but not saved: their file existed, or
    /// [`MAX_OPEN`] were open.
    pub not_saved: u64,
    /// The first few of them, in words (`ev-3.pcapng exists`).
    not_saved_why: Vec<String>,
    /// Most flows followed at once (the flow table's own limit).
    max_flows: usize,
    buffered: usize,
    /// Packets saved, connections saved, and packets not kept (dropped
    /// from a full buffer, or not buffered past the budget).
    pub packets: u64,
    pub connections: u64,
    pub lost: u64,
}

impl Extractor {
    /// Refuses at once a `path` that exists: a user's file is never
    /// overwritten.
    pub fn new(path: &Path, show_secrets: bool, max_flows: usize) -> Result<Self, String> {
        if path.exists() {
            return Err(format!(
                "--extract {}: the file exists; wspulse does not overwrite it (remove it or name another)",
                path.display()
            ));
        }
        // Each connection's file is made beside FILE when it is flagged,
        // maybe days later: a directory that is not there is said now.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(format!(
                "--extract {}: no such directory {}",
                path.display(),
                dir.display()
            ));
        }
        Ok(Extractor {
            path: path.to_path_buf(),
            show_secrets,
            pseudonyms: None,
            flows: HashMap::new(),
            open: 0,
            files: Vec::new(),
            not_saved: 0,
            not_saved_why: Vec::new(),
            max_flows,
            buffered: 0,
            packets: 0,
            connections: 0,
            lost: 0,
        })
    }

    /// Rewrites addresses to `pseudonyms` in every packet saved from now
    /// on (`--redact`); packets inside tunnels, whose outer addresses
    /// would stay, are then not kept.
    pub fn redact(&mut self, pseudonyms: Pseudonyms) {
        self.pseudonyms = Some(pseudonyms);
    }

    /// The file of connection `id`: FILE's stem, `-ID`, its extension.
    pub fn path_of(&self, id: u64) -> PathBuf {
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        let name = match self.path.extension() {
            Some(ext) => format!("{stem}-{id}.{}", ext.to_string_lossy()),
            None => format!("{stem}-{id}"),
        };
        self.path.with_file_name(name)
    }

    /// A packet its connection took (call it for packets routed to a
    /// tracked connection only), at `at` on the capture clock.
    pub fn on_packet(&mut self, packet: &Packet<'_>, at: Timestamp) -> Result<(), String> {
        let Ok(seg) = decode(packet) else {
            return Ok(());
        };
        let key = pair(seg.src, seg.dst);
        if !self.flows.contains_key(&key) && self.flows.len() >= self.max_flows {
            self.lost += 1;
            return Ok(());
        }
        if self.pseudonyms.is_some() && seg.tunnel.context != 0 {
            self.lost += 1;
            return Ok(());
        }
        let keep_path = self.pseudonyms.is_none();
        let flow = self
            .flows
            .entry(key)
            .or_insert_with(|| Flow::new(keep_path));
        let mut data = packet.data.to_vec();
        let mut changed = false;
        if !self.show_secrets {
            let side = usize::from(seg.src != key.0);
            changed = scrub_segment(&mut data, packet.data, &seg, &mut flow.scrub[side]);
        }
        let mut addrs = (seg.src.0, seg.dst.0);
        if let Some(p) = self.pseudonyms.as_mut() {
            addrs = (p.of(seg.src.0), p.of(seg.dst.0));
            changed |= address::rewrite(&mut data, packet.link, addrs);
        }
        if changed {
            fix_checksum(&mut data, packet.data, &seg, addrs);
        }
        let held = Held {
            at,
            link: packet.link,
            orig_len: packet.orig_len,
            frame: packet.frame,
            data,
        };
        match &mut flow.flagged {
            Some((id, Some(writer))) => {
                self.packets += write(writer, *id, &held)?;
                return Ok(());
            }
            Some((_, None)) => return Ok(()),
            None => {}
        }
        flow.seen += 1;
        if flow.buffer.len() == PER_CONNECTION {
            // The oldest after the head goes (the head stays).
            if let Some(old) = flow.buffer.remove(HEAD) {
                self.buffered -= old.data.len();
                self.lost += 1;
            }
        }
        if self.buffered + held.data.len() > BUDGET {
            self.lost += 1;
            return Ok(());
        }
        self.buffered += held.data.len();
        flow.buffer.push_back(held);
        Ok(())
    }

    /// Connection `id` between `client` and `server` is not `alive`: its
    /// buffered packets go to the file, and its next ones too.
    pub fn flag(&mut self, id: u64, client: Endpoints, server: Endpoints) -> Result<(), String> {
        let path = self.path_of(id);
        let Some(flow) = self.flows.get_mut(&pair(client, server)) else {
            return Ok(());
        };
        if flow.flagged.is_some() {
            return Ok(());
        }
        let writer = if self.open >= MAX_OPEN || path.exists() {
            None
        } else {
            Some(PcapngWriter::create(&path).map_err(|e| format!("--extract: {e}"))?)
        };
        let freed: usize = flow.buffer.iter().map(|h| h.data.len()).sum();
        let backlog = std::mem::take(&mut flow.buffer);
        self.buffered -= freed;
        let Some(mut writer) = writer else {
            self.not_saved += 1;
            if self.not_saved_why.len() < 8 {
                self.not_saved_why.push(if self.open >= MAX_OPEN {
                    format!("#{id}: {MAX_OPEN} files open")
                } else {
                    format!("#{id}: {} exists", path.display())
                });
            }
            flow.flagged = Some((id, None));
            return Ok(());
        };
        for held in &backlog {
            self.packets += write(&mut writer, id, held)?;
        }
        flow.flagged = Some((id, Some(writer)));
        self.open += 1;
        self.connections += 1;
        self.files.push(path);
        Ok(())
    }

    /// What `--extract` saved, for stderr.
    pub fn note(&self) -> Option<String> {
        let x = self;
        if x.files.is_empty() && x.not_saved == 0 {
            return None;
        }
        let files: Vec<String> = x.files.iter().map(|p| p.display().to_string()).collect();
        let mut note = format!(
            "--extract: {} packets of {} connection{} that left alive, a pcapng file each (each packet's comment names its connection and live frame){}{}",
            x.packets,
            x.connections,
            if x.connections == 1 { "" } else { "s" },
            if files.is_empty() { "" } else { ": " },
            files.join(", ")
        );
        if x.not_saved > 0 {
            note.push_str(&format!(
                "; {} more not saved ({})",
                x.not_saved,
                x.not_saved_why.join(", ")
            ));
        }
        if x.lost > 0 {
            note.push_str(&format!(
                "; {} earlier packets not kept (at most {PER_CONNECTION} per connection and {} MiB in all are held before a verdict)",
                x.lost,
                BUDGET >> 20
            ));
        }
        Some(note)
    }

    /// The connection between `client` and `server` left the table,
    /// judged at `at`: its buffer is freed, and its file closed with `at`
    /// as its capture end, so `analyze` judges it at the same instant.
    pub fn retire(
        &mut self,
        client: Endpoints,
        server: Endpoints,
        at: Timestamp,
    ) -> Result<(), String> {
        let Some(flow) = self.flows.remove(&pair(client, server)) else {
            return Ok(());
        };
        self.buffered -= flow.buffer.iter().map(|h| h.data.len()).sum::<usize>();
        if let Some((_, Some(writer))) = flow.flagged {
            self.open -= 1;
            writer
                .finish(Some(at))
                .map_err(|e| format!("--extract: {e}"))?;
        }
        Ok(())
    }
}

/// Writes `held` for connection `id`; 1 packet written.
fn write(writer: &mut PcapngWriter, id: u64, held: &Held) -> Result<u64, String> {
    let comment = format!(
        "wspulse: connection #{id}, live frame {}",
        held.frame.frame()
    );
    writer
        .interface(held.link.linktype(), SNAPLEN)
        .and_then(|iface| writer.packet(iface, held.at, &held.data, held.orig_len, Some(&comment)))
        .map(|_| 1)
        .map_err(|e| e.to_string())
}
