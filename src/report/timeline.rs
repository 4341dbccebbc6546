//! A connection's `timeline`: the dated facts behind its verdict, in time
//! order, as the JSON prints them and the markdown report tells them, so
//! every format tells the same story.
//!
//! It is built once per reported connection from its findings (no cost
//! per packet) and bounded: at most [`MAX_ENTRIES`] entries, the ones its
//! reasons rest on kept first. It holds no payload bytes and nothing the
//! redactor hides: its words are the reasons' sentences and counts.

use std::borrow::Cow;

use serde::Serialize;

use super::findings::ConnectionFindings;
use crate::evidence::{EvidenceRef, Moment};
use crate::side::Side;
use crate::time::Timestamp;

/// The most entries a timeline holds. Reasons, notes, pending obligations,
/// the close and the verdict come first; then FIN/RST, the handshake and
/// the first and last packets; then episodes; then the last frames of
/// each side. What does not fit is left out (the counts and times stay in
/// the connection's other fields).
pub const MAX_ENTRIES: usize = 32;

/// One dated fact.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    /// RFC 3339 UTC, microseconds.
    pub at: Timestamp,
    /// The side it concerns (the one that sent it, or the one at fault);
    /// null for the connection as a whole.
    pub side: Option<Side>,
    /// A short code: `first_packet`, `handshake_request`,
    /// `handshake_response`, `first_frame`, `last_data`, `last_frame`,
    /// `close`, `fin`, `rst`, `episode_began`, `episode_ended`,
    /// `reason_began`, `note_began`, `pending_since`, `last_packet`,
    /// `judged`.
    pub event: &'static str,
    /// What happened, in words (a reason's sentence stays in its
    /// `detail`; here it is named with its side). Borrowed when it is
    /// fixed text: a wide capture builds tens of thousands of timelines.
    pub detail: Cow<'static, str>,
    /// The capture frame that shows it, when one does.
    pub frame: Option<EvidenceRef>,
}

/// How much an entry matters to the story: lower is kept first.
type Rank = u8;

struct Builder {
    entries: Vec<(Rank, TimelineEntry)>,
}

impl Builder {
    fn push(
        &mut self,
        rank: Rank,
        at: Timestamp,
        side: Option<Side>,
        event: &'static str,
        detail: impl Into<Cow<'static, str>>,
        frame: Option<EvidenceRef>,
    ) {
        self.entries.push((
            rank,
            TimelineEntry {
                at,
                side,
                event,
                detail: detail.into(),
                frame,
            },
        ));
    }
}

fn side_label(side: Option<Side>) -> String {
    side.map_or(String::new(), |s| format!(" ({})", s.name()))
}

/// The timeline of `c`. `handshake` is when the HTTP Upgrade request and
/// its response were seen (the findings keep their frames only).
pub fn build(c: &ConnectionFindings, handshake: [Option<Moment>; 2]) -> Vec<TimelineEntry> {
    let j = &c.judged;
    let t = &c.tcp;
    let mut b = Builder {
        entries: Vec::new(),
    };
    for r in &j.reasons {
        b.push(
            0,
            r.since,
            r.side,
            "reason_began",
            format!("{} began", r.label()),
            r.evidence.frames.first().copied(),
        );
    }
    for n in &j.notes {
        b.push(
            0,
            n.since,
            n.side,
            "note_began",
            format!("note {}", n.label()),
            n.evidence.frames.first().copied(),
        );
    }
    for p in &j.pending {
        b.push(
            0,
            p.since,
            p.side,
            "pending_since",
            format!(
                "{}{} owed: becomes a reason at {} if nothing arrives",
                p.code.name(),
                side_label(p.side),
                p.due
            ),
            None,
        );
    }
    for side in [Side::Client, Side::Server] {
        if let Some(close) = &j.close[side] {
            let code = close
                .code
                .map_or("without a code".into(), |c| c.to_string());
            b.push(
                0,
                close.at,
                Some(side),
                "close",
                format!("the {} sent Close {code}", side.name()),
                Some(close.frame),
            );
        }
    }
    b.push(
        0,
        j.judged_at,
        None,
        "judged",
        format!("judged {}", j.verdict.name()),
        None,
    );
    for side in [Side::Client, Side::Server] {
        let s = &t.sides[side];
        for (event, m) in [("fin", s.fin), ("rst", s.rst)] {
            if let Some(m) = m {
                let what = if event == "fin" { "FIN" } else { "RST" };
                b.push(
                    1,
                    m.at,
                    Some(side),
                    event,
                    format!("the {} sent a TCP {what}", side.name()),
                    Some(m.frame.into()),
                );
            }
        }
    }
    let [request, response] = handshake;
    if let Some(m) = request {
        let path = c.handshake.path.as_deref().unwrap_or("?");
        b.push(
            1,
            m.at,
            Some(Side::Client),
            "handshake_request",
            format!("the client asked to upgrade GET {path}"),
            Some(m.frame.into()),
        );
    }
    if let Some(m) = response {
        let status = c
            .handshake
            .status
            .map_or("an answer".into(), |s| format!("HTTP {s}"));
        b.push(
            1,
            m.at,
            Some(Side::Server),
            "handshake_response",
            format!("the server answered the upgrade with {status}"),
            Some(m.frame.into()),
        );
    }
    b.push(
        1,
        t.first_packet,
        None,
        "first_packet",
        if t.handshake_seen {
            "first packet: the TCP handshake"
        } else {
            "first packet: the capture joined mid-stream"
        },
        Some(t.first_frame.into()),
    );
    b.push(
        1,
        t.last_packet,
        None,
        "last_packet",
        "last packet",
        Some(t.last_frame.into()),
    );
    for e in &j.episodes {
        let label = format!("{}{}", e.code.name(), side_label(e.side));
        b.push(
            2,
            e.start,
            e.side,
            "episode_began",
            format!("{label} began (it recovered {:.1}s later)", e.duration_s),
            Some(e.frames[0]),
        );
        b.push(
            2,
            e.end,
            e.side,
            "episode_ended",
            format!("{label} ended"),
            Some(e.frames[1]),
        );
    }
    for side in [Side::Client, Side::Server] {
        let m = &j.messages[side];
        let client = side == Side::Client;
        for (event, at, what) in [
            (
                "first_frame",
                m.first_frame,
                if client {
                    "first WebSocket frame from the client"
                } else {
                    "first WebSocket frame from the server"
                },
            ),
            (
                "last_data",
                m.last_data,
                if client {
                    "last data message from the client"
                } else {
                    "last data message from the server"
                },
            ),
            (
                "last_frame",
                m.last_frame,
                if client {
                    "last frame of any kind from the client"
                } else {
                    "last frame of any kind from the server"
                },
            ),
        ] {
            if let Some(at) = at {
                b.push(3, at, Some(side), event, what, None);
            }
        }
    }
    let mut entries = b.entries;
    if entries.len() > MAX_ENTRIES {
        // Stable: within a rank, what was pushed first stays.
        entries.sort_by_key(|(rank, _)| *rank);
        entries.truncate(MAX_ENTRIES);
    }
    let mut entries: Vec<TimelineEntry> = entries.into_iter().map(|(_, e)| e).collect();
    entries.sort_by_key(|e| e.at);
    entries
}
