//! Reports: the findings model (the JSON contract) first, then one printer
//! per format. Printers read the model only, never TCP state.

pub mod findings;
pub mod model;
pub mod table;

use std::io::{self, Write};

use serde::Serialize;

use crate::config::Format;

/// A report document: serializable whole (`json`), one connection per line
/// (`ndjson`), or as a table for people. Connections are produced one at a
/// time, so output streams.
pub trait Document: Serialize {
    fn write_ndjson(&self, out: &mut dyn Write) -> io::Result<()>;
    fn write_table(&self, color: bool, out: &mut dyn Write) -> io::Result<()>;
}

fn ndjson<T: Serialize>(items: impl Iterator<Item = T>, out: &mut dyn Write) -> io::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, &item)?;
        writeln!(out)?;
    }
    Ok(())
}

impl<O> Document for model::TcpReport<'_, O> {
    fn write_ndjson(&self, out: &mut dyn Write) -> io::Result<()> {
        ndjson(self.connections.iter(), out)
    }
    fn write_table(&self, color: bool, out: &mut dyn Write) -> io::Result<()> {
        table::write_tcp_view(self, color, out)
    }
}

impl Document for findings::Findings<'_> {
    fn write_ndjson(&self, out: &mut dyn Write) -> io::Result<()> {
        ndjson(self.connections.iter(), out)
    }
    fn write_table(&self, color: bool, out: &mut dyn Write) -> io::Result<()> {
        table::write_findings(self, color, out)
    }
}

/// Writes a report in the chosen format.
pub fn write<D: Document>(
    report: &D,
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => report.write_table(color, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Ndjson => report.write_ndjson(out),
    }
}
