//! Where the live tap's records go: the chosen format on stdout or
//! appended to `-o FILE` (each record flushed as written), and the view on
//! a terminal.
//!
//! - `ndjson`: the header, then `verdict`, `stats` and `connection`
//!   records as they happen, then the `summary`.
//! - `json`: analyze's document, connections written as they end.
//! - `table`: analyze's table when stopped, listing the connections open
//!   then and those that ended with a finding (at most [`TABLE_ENDED`]:
//!   memory must not follow the hours run); the summary counts them all.

use serde::Serialize;

use super::view::View;
use crate::config::Format;
use crate::liveness::Verdict;
use crate::report::findings::{ConnectionFindings, Summary};
use crate::report::live::{StatsRecord, VerdictRecord};
use crate::report::model::CaptureInfo;
use crate::report::reasons::ReasonJson;
use crate::report::{line, table, Exporter, Head, TableKind, Tail};
use crate::sink::Sink;
use crate::time::Timestamp;

/// Ended connections kept for the final table at most.
pub const TABLE_ENDED: usize = 1000;

pub struct Output {
    format: Format,
    sink: Sink,
    exporter: Exporter,
    view: Option<View>,
    /// Ended connections the final table may still take.
    table_room: usize,
    /// Ended connections left out of the final table.
    left_out: u64,
}

impl Output {
    /// `head` opens the report (analyze's findings head for json and
    /// table, the live header for ndjson).
    pub fn new(format: Format, sink: Sink, head: Head, color: bool) -> Self {
        Output {
            format,
            sink,
            exporter: Exporter::new(format, color, TableKind::Findings, head),
            view: None,
            table_room: TABLE_ENDED,
            left_out: 0,
        }
    }

    /// Draws on the terminal from now on.
    pub fn show(&mut self, view: View) {
        self.view = Some(view);
    }

    /// Writes the opening now (the NDJSON header comes first).
    pub fn begin(&mut self) -> Result<(), String> {
        let exporter = &mut self.exporter;
        self.sink.write(|out| exporter.begin(out))?;
        self.sink.flush()
    }

    fn record<T: Serialize>(&mut self, kind: &'static str, item: &T) -> Result<(), String> {
        if self.format != Format::Ndjson {
            return Ok(());
        }
        self.sink.write(|out| line(out, kind, item))?;
        self.sink.flush()
    }

    pub fn verdict(&mut self, r: &VerdictRecord) -> Result<(), String> {
        if let Some(view) = &mut self.view {
            let reasons: Vec<String> = r.reasons.iter().map(ReasonJson::label).collect();
            view.event(format!(
                "{} #{} {} → {}: {} → {}{}{}",
                r.at,
                r.connection.id,
                r.connection.client,
                r.connection.server,
                r.from.name(),
                r.to.name(),
                if reasons.is_empty() { "" } else { ": " },
                reasons.join(", ")
            ));
        }
        self.record("verdict", r)
    }

    pub fn stats(&mut self, r: &StatsRecord) -> Result<(), String> {
        self.record("stats", r)
    }

    /// A connection's findings: as it ends (`ended`), or when stopped.
    pub fn connection(&mut self, c: &ConnectionFindings, ended: bool) -> Result<(), String> {
        if self.format == Format::Table && ended {
            let finding = matches!(
                c.judged.verdict,
                Verdict::FalseAlive | Verdict::Suspect | Verdict::Aborted
            );
            if !finding || self.table_room == 0 {
                self.left_out += 1;
                return Ok(());
            }
            self.table_room -= 1;
        }
        let exporter = &mut self.exporter;
        self.sink
            .write(|out| exporter.connection(c, || table::findings_row(c), out))?;
        self.sink.flush()
    }

    /// Says something on stderr, or in the view while it is up.
    pub fn warn(&mut self, message: String) {
        match &mut self.view {
            Some(view) => view.warn(message),
            None => eprintln!("wspulse: warning: {message}"),
        }
    }

    pub fn has_view(&self) -> bool {
        self.view.is_some()
    }

    /// How many connection rows the view has room for, if there is one.
    pub fn view_rows(&self) -> Option<usize> {
        self.view.as_ref().map(View::rows)
    }

    pub fn draw(
        &mut self,
        at: Timestamp,
        status: &StatsRecord,
        rows: Vec<crate::report::Row>,
        hidden: usize,
    ) {
        if let Some(view) = &mut self.view {
            view.draw(at, status, rows, hidden);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.sink.is_closed()
    }

    /// Closes the view and writes the report's end: analyze's summary (and
    /// for a table, the table).
    pub fn finish(
        mut self,
        capture: CaptureInfo,
        summary: Summary,
        warnings: Vec<String>,
        summary_line: &str,
    ) -> Result<(), String> {
        if let Some(view) = self.view.take() {
            view.close();
        }
        let mut line = summary_line.to_string();
        if self.left_out > 0 {
            line.push_str(&format!(
                "; {} ended connection{} not listed (alive or closed when {}, or past {TABLE_ENDED})",
                self.left_out,
                if self.left_out == 1 { "" } else { "s" },
                if self.left_out == 1 { "it ended" } else { "they ended" },
            ));
        }
        let tail = Tail {
            capture,
            summary: Some(summary),
            warnings,
            extract: None,
        };
        let exporter = &mut self.exporter;
        self.sink.write(|out| exporter.finish(&tail, &line, out))?;
        self.sink.finish()
    }
}
