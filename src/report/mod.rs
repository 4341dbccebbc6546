//! Reports: the findings model (the JSON contract) first, then one printer
//! per format. Printers read the model only, never TCP state.

pub mod findings;
pub mod model;
pub mod table;

use std::io::{self, Write};

use serde::Serialize;

use crate::config::Format;

/// A report document: serializable whole (`json`), one connection per line
/// (`ndjson`), or as a table for people.
pub trait Document: Serialize {
    type Connection: Serialize;
    fn connections(&self) -> &[Self::Connection];
    fn write_table(&self, color: bool, out: &mut dyn Write) -> io::Result<()>;
}

impl Document for model::TcpReport {
    type Connection = model::TcpConnection;
    fn connections(&self) -> &[Self::Connection] {
        &self.connections
    }
    fn write_table(&self, color: bool, out: &mut dyn Write) -> io::Result<()> {
        table::write_tcp_view(self, color, out)
    }
}

impl Document for findings::Findings {
    type Connection = findings::ConnectionFindings;
    fn connections(&self) -> &[Self::Connection] {
        &self.connections
    }
    fn write_table(&self, color: bool, out: &mut dyn Write) -> io::Result<()> {
        table::write_findings(self, color, out)
    }
}

/// Writes a report in the chosen format.
pub fn write<D: Document>(report: &D, format: Format, color: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => report.write_table(color, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Ndjson => {
            for conn in report.connections() {
                serde_json::to_writer(&mut *out, conn)?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}
