//! `wspulse explain ID`: one connection's findings told in words and time
//! order, for a ticket. It reads the same [`ConnectionFindings`] the JSON
//! report prints, so the two never disagree; only the order and the words
//! differ.

use std::fmt::Write as _;

use super::findings::{ConnectionFindings, HeartbeatFacts};
use super::InputInfo;
use crate::evidence::EvidenceRef;
use crate::side::Side;
use crate::time::{Span, Timestamp};

/// One line of the timeline: when, and what.
struct Event {
    at: Timestamp,
    text: String,
}

/// The account of `c`: who, the verdict, the handshake, the heartbeats,
/// then every dated fact in time order (reasons from the moment each
/// began, with their evidence frames and a Wireshark filter for them),
/// and the filter that opens the whole connection. `inputs` names the
/// files that frame references count in.
pub fn text(c: &ConnectionFindings, inputs: &[InputInfo]) -> String {
    let mut out = String::new();
    let j = &c.judged;
    let _ = writeln!(
        out,
        "Connection #{}: client {} → server {} ({})",
        c.id,
        c.client,
        c.server,
        role_source(c)
    );
    let _ = writeln!(out, "Verdict: {} at {}", j.verdict.name(), j.judged_at);
    if let Some(r) = j.retired {
        let _ = writeln!(
            out,
            "  the connection ended ({}) before the evaluation time and keeps the verdict it had then",
            serde_json::to_value(r).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        );
    }
    for r in &j.reasons {
        let _ = writeln!(out, "  because {}: {}", r.label(), r.detail);
    }
    if j.reasons.is_empty() {
        let _ = writeln!(out, "  no reason against it");
    }

    let _ = writeln!(out, "\nHandshake");
    let _ = writeln!(out, "  {}", handshake(c, inputs.len()));
    if let Some(t) = &c.tls {
        let _ = writeln!(out, "  TLS: {}", tls(t));
    }

    let _ = writeln!(out, "\nHeartbeats");
    for (side, h) in [
        (Side::Client, &j.heartbeat.client),
        (Side::Server, &j.heartbeat.server),
    ] {
        let _ = writeln!(out, "  {}: {}", side.name(), heartbeat(h));
    }

    let _ = writeln!(out, "\nTimeline (from the first packet)");
    let first = c.tcp.first_packet;
    for e in timeline(c, inputs.len()) {
        let offset = offset(e.at, first);
        let mut lines = e.text.lines();
        let _ = writeln!(
            out,
            "  {}  {:>9}  {}",
            e.at,
            offset,
            lines.next().unwrap_or("")
        );
        for more in lines {
            let _ = writeln!(out, "  {:27}  {:>9}    {more}", "", "");
        }
    }

    let _ = writeln!(out, "\nOpen in Wireshark");
    let _ = writeln!(out, "  the connection: {}", c.wireshark_filter);
    for r in &j.reasons {
        if let Some(filter) = frames_filter(&r.evidence.frames) {
            let _ = writeln!(out, "  {}: {filter}", r.label());
        }
    }
    let _ = writeln!(
        out,
        "\nFiles (frame numbers count per file, as Wireshark does)"
    );
    for i in inputs {
        let _ = writeln!(out, "  file {}: {}", i.index, i.path);
    }
    out
}

/// Why the client is the client, in words (the spec's role rules).
fn role_source(c: &ConnectionFindings) -> &'static str {
    use crate::tcp::RoleSource;
    match c.role_source {
        RoleSource::Syn => "the client sent the SYN",
        RoleSource::SynAck => "the client received the SYN-ACK",
        RoleSource::HttpUpgrade => "the client sent the HTTP Upgrade",
        RoleSource::PortOption => "the server is on a --ws-port/--tls-port port",
        RoleSource::Masking => "the client's frames are masked",
        RoleSource::TlsHello => "the client sent the TLS ClientHello",
        RoleSource::EphemeralPort => "a guess: the client is on the higher port",
    }
}

/// `at` after (`+1.50s`) or before (`-20.0ms`) `first`.
pub(super) fn offset(at: Timestamp, first: Timestamp) -> String {
    if at >= first {
        format!("+{}", at.since(first))
    } else {
        format!("-{}", first.since(at))
    }
}

/// `frame N`, or `file F frame N` when the capture has several files, or
/// `probe sample N`.
pub(super) fn frame(e: EvidenceRef, files: usize) -> String {
    match e.as_frame() {
        Some(f) if files > 1 => format!("file {} frame {}", f.file(), f.frame()),
        Some(f) => format!("frame {}", f.frame()),
        None => serde_json::to_string(&e).unwrap_or_default(),
    }
}

fn frames(refs: &[EvidenceRef], files: usize) -> String {
    let list: Vec<String> = refs.iter().map(|&e| frame(e, files)).collect();
    list.join(", ")
}

/// A Wireshark display filter for these frames, one per file, e.g.
/// `frame.number in {30, 31, 33}` (Wireshark counts frames per file;
/// since Wireshark 4.0 set members must be separated by commas).
pub fn frames_filter(refs: &[EvidenceRef]) -> Option<String> {
    let mut by_file: Vec<(u32, Vec<u64>)> = Vec::new();
    for f in refs.iter().filter_map(|e| e.as_frame()) {
        match by_file.iter_mut().find(|(file, _)| *file == f.file()) {
            Some((_, list)) => list.push(f.frame()),
            None => by_file.push((f.file(), vec![f.frame()])),
        }
    }
    let several = by_file.len() > 1;
    let parts: Vec<String> = by_file
        .into_iter()
        .map(|(file, mut list)| {
            list.sort_unstable();
            list.dedup();
            let numbers: Vec<String> = list.iter().map(u64::to_string).collect();
            let filter = format!("frame.number in {{{}}}", numbers.join(", "));
            if several {
                format!("in file {file}: {filter}")
            } else {
                filter
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Whether a TLS connection was decrypted, in words (never a secret).
fn tls(t: &super::tls::TlsJson) -> String {
    let version = t.version.as_deref().unwrap_or("version unknown");
    let mut s = match (t.decrypted, t.cipher_suite) {
        (true, Some(suite)) => format!(
            "{version}, decrypted with {suite}: {} record(s) read",
            t.records_decrypted
        ),
        _ => match t.not_decrypted {
            Some("no_keylog") | None => {
                format!("{version}, not decrypted: no TLS secrets (--tls-keylog FILE)")
            }
            Some("no_key") => format!("{version}, not decrypted: the key log has no secrets for this connection's client random"),
            Some(why) => format!("{version}, not decrypted: {why}"),
        },
    };
    if t.records_failed > 0 {
        s.push_str(&format!(
            "; {} record(s) failed to authenticate (tampered, or not these keys'), read as gaps",
            t.records_failed
        ));
    }
    s
}

/// The HTTP Upgrade in words: request, answer, accept key, subprotocol
/// and extensions (or why it is not in the capture).
pub(super) fn handshake(c: &ConnectionFindings, files: usize) -> String {
    let h = &c.handshake;
    if !h.seen {
        return if h.inferred {
            "not in the capture: it began before; WebSocket framing was recognised mid-stream"
                .into()
        } else {
            "not visible: the connection is TLS (wss), so frames are not seen; judged on TCP and TLS records".into()
        };
    }
    let mut s = format!(
        "GET {} (Host {})",
        h.path.as_deref().unwrap_or("?"),
        h.host.as_deref().unwrap_or("?")
    );
    if let Some(f) = h.request_frame {
        let _ = write!(s, " in {}", frame(f.into(), files));
    }
    match h.status {
        Some(status) => {
            let _ = write!(s, ", answered {status}");
        }
        None => s.push_str(", no answer seen"),
    }
    if let Some(f) = h.response_frame {
        let _ = write!(s, " in {}", frame(f.into(), files));
    }
    match h.accept_valid {
        Some(false) => s.push_str(
            "; its Sec-WebSocket-Accept is NOT the one the key requires (RFC 6455 §4.2.2): a client would refuse it",
        ),
        Some(true) => s.push_str("; Sec-WebSocket-Accept valid"),
        None => {}
    }
    if let Some(p) = &h.protocol {
        let _ = write!(s, "; subprotocol {p}");
    }
    if !h.extensions.is_empty() {
        let _ = write!(s, "; extensions {}", h.extensions.join(", "));
    }
    s
}

fn heartbeat(h: &HeartbeatFacts) -> String {
    if h.pings_sent == 0 && h.unsolicited_pongs == 0 {
        return "sent no Ping".into();
    }
    let mut s = format!(
        "{} Ping(s) sent, {} answered",
        h.pings_sent, h.pongs_received
    );
    if let Some(i) = h.interval_s {
        let _ = write!(s, ", every {}", Span::from_nanos((i * 1e9) as i64));
    }
    if let (Some(p50), Some(max)) = (h.pong_latency_ms.p50, h.pong_latency_ms.max) {
        let ms = |m: f64| Span::from_nanos((m * 1e6) as i64);
        let _ = write!(s, "; Pong after {} (median), {} at most", ms(p50), ms(max));
    }
    if h.outstanding_pings > 0 {
        let _ = write!(s, "; {} still unanswered", h.outstanding_pings);
    }
    if h.unsolicited_pongs > 0 {
        let _ = write!(
            s,
            "; {} unsolicited Pong(s) (a one-way heartbeat)",
            h.unsolicited_pongs
        );
    }
    if h.mismatched_pongs > 0 {
        let _ = write!(s, "; {} Pong(s) with the wrong payload", h.mismatched_pongs);
    }
    s
}

/// The connection's timeline (the one its JSON holds), each entry with
/// its frame; a reason or note with its sentence, its evidence frames and
/// a Wireshark filter for them.
fn timeline(c: &ConnectionFindings, files: usize) -> Vec<Event> {
    let j = &c.judged;
    c.timeline
        .iter()
        .map(|e| {
            let list = match e.event {
                "reason_began" => Some(("reason", &j.reasons)),
                "note_began" => Some(("note", &j.notes)),
                _ => None,
            };
            let reason = list.and_then(|(kind, list)| {
                list.iter()
                    .find(|r| r.since == e.at && r.side == e.side && e.detail.contains(&r.label()))
                    .map(|r| (kind, r))
            });
            let text = match reason {
                Some((kind, r)) => {
                    let mut text = format!("{kind} {} began: {}", r.label(), r.detail);
                    if !r.evidence.frames.is_empty() {
                        let _ = write!(text, "\nevidence: {}", frames(&r.evidence.frames, files));
                    }
                    if let Some(filter) = frames_filter(&r.evidence.frames) {
                        let _ = write!(text, "\nWireshark: {filter}");
                    }
                    text
                }
                None => match e.frame {
                    Some(f) => format!("{} ({})", e.detail, frame(f, files)),
                    None => e.detail.to_string(),
                },
            };
            Event { at: e.at, text }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::frames_filter;
    use crate::evidence::{EvidenceRef, FrameRef};

    #[test]
    fn one_filter_per_file_with_sorted_unique_frames() {
        let refs = [
            EvidenceRef::frame(FrameRef::new(0, 33)),
            EvidenceRef::frame(FrameRef::new(0, 30)),
            EvidenceRef::frame(FrameRef::new(0, 33)),
        ];
        assert_eq!(
            frames_filter(&refs).as_deref(),
            Some("frame.number in {30, 33}")
        );
        let refs = [
            EvidenceRef::frame(FrameRef::new(0, 7)),
            EvidenceRef::frame(FrameRef::new(1, 2)),
        ];
        assert_eq!(
            frames_filter(&refs).as_deref(),
            Some("in file 0: frame.number in {7}; in file 1: frame.number in {2}")
        );
        assert_eq!(frames_filter(&[EvidenceRef::sample(3)]), None);
    }
}
