//! Capture blocks to packets: what a pcap header or a pcapng section says
//! about its interfaces (link type, time resolution and offset), applied
//! to each packet record in turn.

use pcap_parser::pcapng::{Block, InterfaceStatisticsBlock};
use pcap_parser::{PcapBlockOwned, PcapNGOption};

use super::super::{FrameRef, LinkType, Packet, SecretsSink};
use crate::time::Timestamp;

/// What a pcapng section says about its interfaces (RFC 9867 §4.2): each
/// has its own link type, time resolution and offset.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
    /// The latest packet time read on this interface.
    last_packet: Option<Timestamp>,
}

#[derive(Default)]
pub(super) struct FileState {
    /// Frame number of the last packet record (Wireshark numbering).
    pub(super) frame: u64,
    legacy: Option<(LinkType, u64)>,
    interfaces: Vec<Interface>,
    last_ts: Timestamp,
    /// The last packet's own time could not be represented.
    pub(super) time_refused: bool,
    /// The section's byte order, for option values pcap-parser leaves raw.
    big_endian: bool,
    /// The latest `isb_endtime` so far.
    pub(super) recorded_end: Option<Timestamp>,
    /// The pcap file header's byte order (for record lengths).
    legacy_big_endian: bool,
    /// Where TLS key logs from Decryption Secrets Blocks go, if anywhere.
    pub(super) secrets: Option<SecretsSink>,
}

/// Option codes (RFC 9867 §4.2, §4.6).
const IF_TSOFFSET: u16 = 14;
const ISB_ENDTIME: u16 = 3;

/// The value of an 8-byte option. pcap-parser hands option values over raw
/// (and reads them as little-endian even in a big-endian section), so they
/// are decoded here with the section's byte order.
fn option8(options: &[PcapNGOption<'_>], code: u16) -> Option<[u8; 8]> {
    let opt = options.iter().find(|o| o.code.0 == code && o.len == 8)?;
    opt.value.get(..8)?.try_into().ok()
}

fn u32_in(bytes: [u8; 4], big_endian: bool) -> u32 {
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}

impl FileState {
    fn if_tsoffset(&self, options: &[PcapNGOption<'_>]) -> i64 {
        option8(options, IF_TSOFFSET).map_or(0, |b| {
            if self.big_endian {
                i64::from_be_bytes(b)
            } else {
                i64::from_le_bytes(b)
            }
        })
    }

    /// `isb_endtime` as an instant. RFC 9867 §4.6 gives it in the
    /// interface's units (high word, then low word, like a packet's time),
    /// but dumpcap (Wireshark's pcapio.c) writes microseconds whatever
    /// `if_tsresol` says: read in nanoseconds, such an end lands in January
    /// 1970. The end of a capture cannot come before a packet it holds, so
    /// when the interface's units put it before that interface's latest
    /// packet and microseconds do not, microseconds it is. Otherwise the
    /// interface's units are taken at their word.
    fn isb_endtime(&self, isb: &InterfaceStatisticsBlock<'_>) -> Option<Timestamp> {
        let iface = self.interfaces.get(isb.if_id as usize)?;
        let b = option8(&isb.options, ISB_ENDTIME)?;
        let high = u32_in([b[0], b[1], b[2], b[3]], self.big_endian);
        let low = u32_in([b[4], b[5], b[6], b[7]], self.big_endian);
        let raw = (u64::from(high) << 32) | u64::from(low);
        let stated = Timestamp::from_pcapng(raw, iface.units_per_sec, iface.offset_secs);
        let Some(last) = iface.last_packet else {
            return stated;
        };
        if stated.is_some_and(|end| end >= last) || iface.units_per_sec == 1_000_000 {
            return stated;
        }
        Timestamp::from_pcapng(raw, 1_000_000, iface.offset_secs)
            .filter(|&end| end >= last)
            .or(stated)
    }
}

/// `if_tsresol` (RFC 9867 §4.2) as units per second: 10^n, or 2^n when the
/// top bit is set; `None` past what a u64 holds. (pcap-parser 0.17's
/// `ts_resolution` refuses every binary resolution: it compares the byte
/// with its flag bit still set.)
pub(super) fn units_per_sec(if_tsresol: u8) -> Option<u64> {
    let n = u32::from(if_tsresol & 0x7f);
    if if_tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

impl FileState {
    /// The length the record at the start of `data` claims, in bytes: a
    /// pcap record's captured length (its header's third field), or a
    /// pcapng block's total length (RFC 9867 §3.1). `None` before the file
    /// header or when `data` is too short to say.
    pub(super) fn claimed_len(&self, data: &[u8]) -> Option<u64> {
        let (field, big_endian) = if self.legacy.is_some() {
            (data.get(8..12)?, self.legacy_big_endian)
        } else {
            (data.get(4..8)?, self.big_endian)
        };
        Some(u64::from(u32_in(field.try_into().ok()?, big_endian)))
    }
}

/// Bounded so a hostile file cannot make us allocate per interface forever.
const MAX_INTERFACES: usize = 4096;

impl FileState {
    /// Why `block` cannot be a pcap record though it parsed as one: a
    /// second capture's file header appended to the first (its magic
    /// number read as the seconds, whose time would become the capture's
    /// end, decades away), or a sub-second part not below one second
    /// (every writer keeps it below).
    pub(super) fn not_a_record(&self, block: &PcapBlockOwned<'_>) -> Option<String> {
        let (PcapBlockOwned::Legacy(b), Some((_, units))) = (block, self.legacy) else {
            return None;
        };
        // A file header read as a record: the magic as its seconds, the
        // version as its fraction, thiszone and sigfigs (0) as lengths.
        let magic = matches!(
            b.ts_sec,
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1
        );
        if magic && b.caplen == 0 && b.origlen == 0 {
            return Some(
                "another capture's file header, appended to this one (cat a.pcap b.pcap); give the files separately".into(),
            );
        }
        (u64::from(b.ts_usec) >= units).then(|| {
            format!(
                "a record whose sub-second time ({}) is not below one second",
                b.ts_usec
            )
        })
    }

    pub(super) fn packet<'a>(
        &mut self,
        block: &PcapBlockOwned<'a>,
        file: u32,
    ) -> Option<Packet<'a>> {
        self.time_refused = false;
        let (link, at, data, orig_len) = match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let units = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.legacy = Some((LinkType::from_linktype(h.network.0 as u32), units));
                self.legacy_big_endian = h.is_bigendian();
                return None;
            }
            PcapBlockOwned::Legacy(b) => {
                let (link, units) = self.legacy?;
                let at = Timestamp::from_parts(b.ts_sec as i64, b.ts_usec as u64, units);
                let caplen = (b.caplen as usize).min(b.data.len());
                (link, at, &b.data[..caplen], b.origlen)
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                // Interface ids are per section.
                self.interfaces.clear();
                self.big_endian = shb.big_endian();
                return None;
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                if self.interfaces.len() < MAX_INTERFACES {
                    self.interfaces.push(Interface {
                        link: LinkType::from_linktype(idb.linktype.0 as u32),
                        units_per_sec: units_per_sec(idb.if_tsresol).unwrap_or(1_000_000),
                        offset_secs: self.if_tsoffset(&idb.options),
                        last_packet: None,
                    });
                }
                return None;
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let caplen = (epb.caplen as usize).min(epb.data.len());
                match self.interfaces.get_mut(epb.if_id as usize) {
                    Some(iface) => {
                        let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        let at =
                            Timestamp::from_pcapng(raw, iface.units_per_sec, iface.offset_secs)
                                .unwrap_or_else(|| {
                                    self.time_refused = true;
                                    self.last_ts
                                });
                        iface.last_packet = Some(iface.last_packet.map_or(at, |t| t.max(at)));
                        (iface.link, at, &epb.data[..caplen], epb.origlen)
                    }
                    // A packet for an interface never described: still a
                    // frame (numbering must match Wireshark), not decodable.
                    None => (
                        LinkType::Other(u32::MAX),
                        self.last_ts,
                        &epb.data[..caplen],
                        epb.origlen,
                    ),
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                // RFC 9867 §4.4: no timestamp, always interface 0.
                let link = self
                    .interfaces
                    .first()
                    .map_or(LinkType::Other(u32::MAX), |i| i.link);
                let caplen = (spb.origlen as usize).min(spb.data.len());
                (link, self.last_ts, &spb.data[..caplen], spb.origlen)
            }
            PcapBlockOwned::NG(Block::InterfaceStatistics(isb)) => {
                if let Some(end) = self.isb_endtime(isb) {
                    self.recorded_end = Some(self.recorded_end.map_or(end, |e| e.max(end)));
                }
                return None;
            }
            PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
                if let Some(sink) = &self.secrets {
                    if dsb.secrets_type == pcap_parser::pcapng::SecretsType::TlsKeyLog {
                        let len = (dsb.secrets_len as usize).min(dsb.data.len());
                        sink.push(&dsb.data[..len]);
                    }
                }
                return None;
            }
            PcapBlockOwned::NG(_) => return None,
        };
        self.frame += 1;
        self.last_ts = at;
        Some(Packet {
            at,
            frame: FrameRef::new(file, self.frame),
            link,
            data,
            orig_len,
        })
    }
}
