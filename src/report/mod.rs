//! Reports: the findings model (the JSON contract) first, then one exporter
//! per format. Exporters read the model only, never TCP state or the judge.
//!
//! Connections are written as they retire, so memory follows the
//! connections open at once: JSON and NDJSON stream each connection out;
//! the table keeps one compact row per connection and prints at the end.
//! What is known only at the end (capture counts, the summary) comes last:
//! in JSON as the `capture` and `summary` members after `connections`, in
//! NDJSON as the final `summary` line.

pub mod explain;
pub mod findings;
pub mod html;
pub mod layout;
pub mod live;
pub mod markdown;
pub mod model;
pub mod probe;
pub mod reasons;
pub mod redact;
pub mod sockets;
pub mod table;
pub mod timeline;
pub mod tls;

use std::io::{self, Write};

use serde::Serialize;

use crate::config::Format;
use crate::liveness::{Thresholds, Verdict};
use model::CaptureInfo;

/// What a report opens with.
#[derive(Clone, Debug, Serialize)]
pub struct Head {
    pub schema: &'static str,
    /// Inputs with their index (the `file` of every frame reference).
    pub inputs: Vec<InputInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// The live tap's source and cadence (its NDJSON header only).
    #[serde(flatten)]
    pub live: Option<live::LiveHead>,
    /// When `analyze` judges, and what it warned of so far (its NDJSON
    /// header only).
    #[serde(flatten)]
    pub evaluation: Option<EvaluationHead>,
}

/// The evaluation time as asked for, and the warnings known when the
/// header is written (the `summary` line's `warnings` has them all).
#[derive(Clone, Debug, Serialize)]
pub struct EvaluationHead {
    /// `--at` as given: `end`, `last-packet`, `now`, an RFC 3339 time, or
    /// seconds after the first packet (`90s`).
    pub at: String,
    /// The instant, when `--at` names one or the header is written after
    /// the input ended (RFC 3339 UTC); else null: a header written with
    /// the first connection comes before the capture's end resolves the
    /// words (the `summary` line's `capture.evaluation_time` has it).
    pub evaluation_time: Option<crate::time::Timestamp>,
    /// Warnings about the inputs known when the header is written (their
    /// order, overlaps, damage; all of them when written at the end).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InputInfo {
    pub index: u32,
    pub path: String,
}

/// What a report closes with, known once the input ended.
#[derive(Clone, Debug, Serialize)]
pub struct Tail<S: Serialize> {
    pub capture: CaptureInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<S>,
    pub warnings: Vec<String>,
    /// `--extract`: what was written where; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract: Option<ExtractInfo>,
}

/// `--extract FILE` in the report: the capture written, each connection's
/// place in it, and the frame mapping, so a frame of the extract (as
/// Wireshark numbers it, from 1) leads to the original and back.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractInfo {
    pub path: String,
    pub packets: u64,
    pub connections: Vec<ExtractedConnection>,
    /// Every packet written, in order: its frame in the extract and the
    /// frame it was in the inputs.
    pub frames: Vec<ExtractedFrame>,
}

/// One connection's packets in an extract.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractedConnection {
    /// The report's `id`.
    pub id: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub packets: u64,
}

/// One packet of an extract: `frame` there, `original` in the inputs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ExtractedFrame {
    pub frame: u64,
    pub original: crate::evidence::FrameRef,
}

/// One table row: sorted by verdict (worst first), then id.
pub struct Row {
    pub verdict: Option<Verdict>,
    pub id: u64,
    pub cells: Vec<String>,
}

/// Which table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Tcp,
    Findings,
}

/// Writes one report, connection by connection, in one format.
pub struct Exporter {
    format: Format,
    layout: layout::Layout,
    kind: TableKind,
    head: Head,
    started: bool,
    written: u64,
    rows: Vec<Row>,
    markdown: markdown::Markdown,
}

impl Exporter {
    /// An exporter whose table has no width or length limit (see
    /// [`Exporter::with_layout`]).
    pub fn new(format: Format, color: bool, kind: TableKind, head: Head) -> Self {
        Exporter {
            format,
            layout: layout::Layout::unlimited(color),
            kind,
            head,
            started: false,
            written: 0,
            rows: Vec::new(),
            markdown: markdown::Markdown::default(),
        }
    }

    /// The same exporter, its markdown report giving a section to every
    /// listed connection when `every_connection` (not only the flagged
    /// ones), `flags` (shell-quoted, each after a space) in the `wspulse`
    /// commands that reproduce it and `tshark` options in the tshark ones.
    pub fn with_markdown(mut self, every_connection: bool, flags: String, tshark: String) -> Self {
        self.markdown.every_connection = every_connection;
        self.markdown.flags = flags;
        self.markdown.tshark = tshark;
        self
    }

    /// The same exporter, its table laid out as `layout` says.
    pub fn with_layout(mut self, layout: layout::Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Adds `warning` to the header, if it is not written yet (the tail's
    /// `warnings` carry every one anyway).
    pub fn warn_in_head(&mut self, warning: String) {
        if let (false, Some(e)) = (self.started, self.head.evaluation.as_mut()) {
            e.warnings.push(warning);
        }
    }

    /// Dates the header with the evaluation time, if it is not written yet
    /// (the connections still open at the end come with it).
    pub fn date_head(&mut self, evaluation_time: crate::time::Timestamp) {
        if let (false, Some(e)) = (self.started, self.head.evaluation.as_mut()) {
            e.evaluation_time = e.evaluation_time.or(Some(evaluation_time));
        }
    }

    /// Completes the header with what the input's end decided, if it is
    /// not written yet: the evaluation time, and every warning.
    pub fn settle_head(
        &mut self,
        evaluation_time: Option<crate::time::Timestamp>,
        warnings: &[String],
    ) {
        if let (false, Some(e)) = (self.started, self.head.evaluation.as_mut()) {
            e.evaluation_time = e.evaluation_time.or(evaluation_time);
            e.warnings = warnings.to_vec();
        }
    }

    /// Writes the opening now, for a report whose first records are not
    /// connections (the live tap's verdict and stats records).
    pub fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.start(out)
    }

    /// The opening, written with the first connection (or at the end), so
    /// an input that cannot be read leaves no half report on stdout.
    fn start(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        match self.format {
            Format::Table | Format::Markdown => Ok(()),
            Format::Json => {
                write!(out, "{{\n  \"schema\": ")?;
                serde_json::to_writer(&mut *out, &self.head.schema)?;
                write!(out, ",\n  \"inputs\": ")?;
                indented(&mut *out, &self.head.inputs, 1)?;
                if let Some(th) = &self.head.thresholds {
                    write!(out, ",\n  \"thresholds\": ")?;
                    indented(&mut *out, th, 1)?;
                }
                write!(out, ",\n  \"connections\": [")
            }
            Format::Ndjson => line(out, "header", &self.head),
        }
    }

    /// One connection: `row` builds its table row, only for tables.
    pub fn connection<T: Serialize>(
        &mut self,
        item: &T,
        row: impl FnOnce() -> Row,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.start(out)?;
        match self.format {
            // Only findings have a markdown form ([`Exporter::findings`]).
            Format::Table | Format::Markdown => self.rows.push(row()),
            Format::Json => {
                out.write_all(if self.written == 0 {
                    b"\n    "
                } else {
                    b",\n    "
                })?;
                // A file or pipe gets each connection on one line: half
                // the bytes, and a grep or diff finds a connection whole.
                if self.layout.terminal {
                    indented(&mut *out, item, 2)?;
                } else {
                    rendered(out, |buf| Ok(serde_json::to_writer(buf, item)?))?;
                }
            }
            Format::Ndjson => line(out, "connection", item)?,
        }
        self.written += 1;
        Ok(())
    }

    /// One judged connection: in markdown, its summary row and section;
    /// otherwise as [`Exporter::connection`] writes it.
    pub fn findings(
        &mut self,
        c: &findings::ConnectionFindings,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if self.format != Format::Markdown {
            return self.connection(c, || table::findings_row(c), out);
        }
        self.start(out)?;
        self.markdown.add(c, &self.head.inputs);
        self.written += 1;
        Ok(())
    }

    /// The closing: capture counts and the summary; for a table, the table
    /// and its summary line.
    pub fn finish<S: Serialize>(
        &mut self,
        tail: &Tail<S>,
        summary_line: &str,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.start(out)?;
        match self.format {
            Format::Table => {
                let rows = std::mem::take(&mut self.rows);
                table::write(self.kind, rows, &self.layout, summary_line, out)
            }
            Format::Markdown => self
                .markdown
                .write(&self.head, summary_line, &tail.warnings, out),
            Format::Json => {
                if self.written > 0 {
                    write!(out, "\n  ")?;
                }
                write!(out, "],\n  \"capture\": ")?;
                indented(&mut *out, &tail.capture, 1)?;
                if let Some(summary) = &tail.summary {
                    write!(out, ",\n  \"summary\": ")?;
                    indented(&mut *out, summary, 1)?;
                }
                write!(out, ",\n  \"warnings\": ")?;
                indented(&mut *out, &tail.warnings, 1)?;
                if let Some(extract) = &tail.extract {
                    write!(out, ",\n  \"extract\": ")?;
                    indented(&mut *out, extract, 1)?;
                }
                writeln!(out, "\n}}")
            }
            Format::Ndjson => line(out, "summary", tail),
        }
    }
}

/// One NDJSON line: `item`'s fields after `"type": kind`. `item` must
/// serialise as an object.
pub fn line<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    kind: &'static str,
    item: &T,
) -> io::Result<()> {
    rendered(out, |buf| {
        // `{"type":KIND,` then the item's object without its `{`: what
        // `#[serde(flatten)]` would write, without its slower map path.
        buf.extend_from_slice(b"{\"type\":");
        serde_json::to_writer(&mut *buf, kind)?;
        let at = buf.len();
        serde_json::to_writer(&mut *buf, item)?;
        match &buf[at..] {
            b"{}" => {
                buf.truncate(at);
                buf.push(b'}');
            }
            [b'{', ..] => buf[at] = b',',
            _ => return Err(io::Error::other("an NDJSON line's item is not an object")),
        }
        buf.push(b'\n');
        Ok(())
    })
}

/// Pretty JSON of `value`, its lines indented by `level` × 2 spaces, as if
/// it sat at that depth of one document.
fn indented<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T, level: usize) -> io::Result<()> {
    rendered(out, |buf| {
        let mut ser = serde_json::Serializer::with_formatter(buf, Indented::at(level));
        value.serialize(&mut ser)?;
        Ok(())
    })
}

/// Renders with `render` into a buffer kept from one call to the next,
/// then writes it to `out` in one piece. A wide capture's report is most
/// of its run: serde's many small writes stay inlined into the buffer
/// rather than each a call through `out`.
fn rendered(
    out: &mut dyn Write,
    render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        let done = render(&mut buf).and_then(|()| out.write_all(&buf));
        // A huge report's buffer is not kept past it.
        if buf.capacity() > 1 << 20 {
            *buf = Vec::new();
        }
        done
    })
}

/// serde_json's `PrettyFormatter` (two spaces, `": "`) starting `level`
/// deep, byte for byte what it writes there.
struct Indented {
    depth: usize,
    has_value: bool,
}

impl Indented {
    fn at(level: usize) -> Self {
        Indented {
            depth: level,
            has_value: false,
        }
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.pad(w)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.pad(w)
    }

    fn pad<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut n = self.depth * 2;
        while n > 0 {
            let k = n.min(SPACES.len());
            w.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Connections per verdict, every verdict present (0 when none), for a
/// `summary` object.
pub fn count_verdicts(
    verdicts: impl Iterator<Item = crate::liveness::Verdict>,
) -> std::collections::BTreeMap<&'static str, usize> {
    let mut counts: std::collections::BTreeMap<&'static str, usize> = crate::liveness::Verdict::ALL
        .iter()
        .map(|v| (v.name(), 0))
        .collect();
    for v in verdicts {
        *counts.entry(v.name()).or_default() += 1;
    }
    counts
}

/// The verdicts that have connections, in words: `["2 alive", "1 false_alive"]`.
pub fn verdict_words(counts: &std::collections::BTreeMap<&'static str, usize>) -> Vec<String> {
    counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(v, n)| format!("{n} {v}"))
        .collect()
}
