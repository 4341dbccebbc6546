//! `--extract FILE`: the packets of chosen connections, copied into a
//! capture of their own that a ticket can carry and Wireshark opens.
//!
//! A verdict is known only when a connection retires or the input ends,
//! so the report's pass only chooses ([`Chosen`]: the connection's
//! addresses and its first and last frame); [`write`] then reads the
//! inputs a second time and copies, in input order, every packet of a
//! chosen connection from its first frame to its last. Stdin cannot be
//! read twice, so `--extract` refuses it.
//!
//! The file is pcapng (RFC 9867), whatever its name: one interface per
//! link type and snaplen of the inputs, the original timestamps, an
//! Interface Statistics Block whose `isb_endtime` is the time the inputs
//! were judged at (so `wspulse analyze FILE` judges at the same time and
//! gives the same verdicts), and on each packet a comment naming where it
//! came from: `wspulse: connection #3, input 0 frame 812` (Wireshark's
//! `frame.comment`). Unless `--show-secrets`, payloads and credential
//! values are overwritten as [`scrub`] says, TCP checksums fixed.

pub mod address;
pub mod checksum;
pub mod scrub;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::capture::file::{declared_snaplen, Input};
use crate::capture::set::read_set;
use crate::capture::write::pcapng::PcapngWriter;
use crate::capture::FrameRef;
use crate::decode::{decode, Segment};
use crate::secret::pseudonym::Pseudonyms;
use crate::tcp::connection::Endpoints;
use crate::time::Timestamp;

/// The snaplen written when an input declares none (libpcap's largest).
const DEFAULT_SNAPLEN: u32 = 262_144;

/// A connection whose packets go into the extract: its report id, its
/// endpoints, and the frames of its first and last packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub id: u64,
    pub client: Endpoints,
    pub server: Endpoints,
    pub first: FrameRef,
    pub last: FrameRef,
}

/// Where one connection's packets landed in the extract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub id: u64,
    /// Extract frame numbers (from 1) of its first and last packet.
    pub first: u64,
    pub last: u64,
    pub packets: u64,
}

/// What [`write`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub packets: u64,
    /// By report id.
    pub connections: Vec<Placed>,
    /// `(extract frame, original frame)` for every packet, in order.
    pub frames: Vec<(u64, FrameRef)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Before,
    Within,
    Done,
}

/// Refuses what `--extract` cannot do before the report is made: stdin
/// (it cannot be read twice) and a file that already exists (never
/// overwritten). Errors are one line.
pub fn check(inputs: &[Input], path: &Path) -> Result<(), String> {
    if inputs.contains(&Input::Stdin) {
        return Err("--extract reads the inputs twice and stdin cannot be read again: save the capture to a file first (tcpdump -w FILE)".into());
    }
    if path.exists() {
        return Err(format!(
            "--extract {}: already exists; wspulse does not overwrite it (remove it or choose another name)",
            path.display()
        ));
    }
    Ok(())
}

/// Reads `inputs` again (in the order the report read them) and writes
/// the packets of `chosen` to a new pcapng file at `path`, judged-at time
/// `end`; `show_secrets` copies packets as they are. An input that is
/// damaged gives the packets before the damage (the report already
/// warned). Errors (one line): `path` exists or cannot be written.
pub fn write(
    inputs: &[Input],
    chosen: &[Chosen],
    path: &Path,
    end: Option<Timestamp>,
    show_secrets: bool,
    mut pseudonyms: Option<&mut Pseudonyms>,
) -> Result<Written, String> {
    let snaplens: Vec<u32> = inputs
        .iter()
        .map(|i| declared_snaplen(i).unwrap_or(DEFAULT_SNAPLEN))
        .collect();
    let mut by_pair: HashMap<(Endpoints, Endpoints), Vec<usize>> = HashMap::new();
    for (i, c) in chosen.iter().enumerate() {
        by_pair.entry(pair(c.client, c.server)).or_default().push(i);
    }
    let mut state = vec![State::Before; chosen.len()];
    // `--redact` (pseudonyms) hides request paths too.
    let keep_path = pseudonyms.is_none();
    let mut streams: Vec<[scrub::Direction; 2]> = chosen
        .iter()
        .map(|_| {
            [
                scrub::Direction::new(keep_path),
                scrub::Direction::new(keep_path),
            ]
        })
        .collect();
    let mut placed: Vec<Placed> = chosen
        .iter()
        .map(|c| Placed {
            id: c.id,
            first: 0,
            last: 0,
            packets: 0,
        })
        .collect();
    let mut writer = PcapngWriter::create(path)?;
    let mut written = Written::default();
    let mut error: Option<String> = None;
    let _ = read_set(
        inputs,
        None,
        &mut |packet| {
            if error.is_some() {
                return;
            }
            let Ok(seg) = decode(packet) else { return };
            let Some(candidates) = by_pair.get(&pair(seg.src, seg.dst)) else {
                return;
            };
            let Some(&i) = candidates.iter().find(|&&i| {
                if state[i] == State::Before && packet.frame == chosen[i].first {
                    state[i] = State::Within;
                }
                state[i] == State::Within
            }) else {
                return;
            };
            if packet.frame == chosen[i].last {
                state[i] = State::Done;
            }
            let mut data = packet.data.to_vec();
            let mut changed = false;
            if !show_secrets {
                let side = usize::from(seg.src != chosen[i].client);
                changed = scrub_segment(&mut data, packet.data, &seg, &mut streams[i][side]);
            }
            let mut addrs = (seg.src.0, seg.dst.0);
            if let Some(p) = pseudonyms.as_deref_mut() {
                if seg.tunnel.context != 0 {
                    error = Some("--redact --extract: connections inside tunnels are not rewritten (their outer addresses would stay); pick others with --connection".into());
                    return;
                }
                addrs = (p.of(seg.src.0), p.of(seg.dst.0));
                changed |= address::rewrite(&mut data, packet.link, addrs);
            }
            if changed {
                fix_checksum(&mut data, packet.data, &seg, addrs);
            }
            let file = packet.frame.file();
            let snaplen = snaplens
                .get(file as usize)
                .copied()
                .unwrap_or(DEFAULT_SNAPLEN);
            let comment = format!(
                "wspulse: connection #{}, input {file} frame {}",
                chosen[i].id,
                packet.frame.frame()
            );
            let result = writer
                .interface(packet.link.linktype(), snaplen)
                .and_then(|iface| {
                    writer.packet(iface, packet.at, &data, packet.orig_len, Some(&comment))
                });
            match result {
                Ok(n) => {
                    let p = &mut placed[i];
                    if p.packets == 0 {
                        p.first = n;
                    }
                    p.last = n;
                    p.packets += 1;
                    written.frames.push((n, packet.frame));
                }
                Err(e) => error = Some(e.to_string()),
            }
        },
        &mut |_, _| {},
    );
    if let Some(e) = error {
        return Err(e);
    }
    written.packets = writer.finish(end).map_err(|e| e.to_string())?;
    placed.sort_by_key(|p| p.id);
    written.connections = placed;
    Ok(written)
}

fn pair(a: Endpoints, b: Endpoints) -> (Endpoints, Endpoints) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Overwrites the payload of `seg` (borrowed from `original`) in `data`,
/// a copy of it; whether a byte changed.
pub fn scrub_segment(
    data: &mut [u8],
    original: &[u8],
    seg: &Segment<'_>,
    dir: &mut scrub::Direction,
) -> bool {
    let start = seg.payload.as_ptr() as usize - original.as_ptr() as usize;
    let end = start + seg.payload.len();
    end <= data.len() && dir.rewrite(seg.seq.0, seg.flags.syn(), &mut data[start..end])
}

/// The TCP checksum of `data` (a rewritten copy of `original`, which
/// `seg` borrows), now between the addresses `addrs`.
pub fn fix_checksum(data: &mut [u8], original: &[u8], seg: &Segment<'_>, addrs: (IpAddr, IpAddr)) {
    let start = seg.payload.as_ptr() as usize - original.as_ptr() as usize;
    if let Some(tcp) = start.checked_sub(usize::from(seg.header_len)) {
        checksum::fix_tcp(
            data,
            tcp,
            usize::from(seg.header_len),
            seg.wire_len as usize,
            ((seg.src.0, seg.dst.0), addrs),
            seg.payload,
        );
    }
}
