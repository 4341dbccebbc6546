//! Reports: the findings model (the JSON contract) first, then one printer
//! per format. Printers read the model only, never TCP state.

pub mod findings;
pub mod model;
pub mod table;

use std::io::{self, Write};

use crate::config::Format;

/// Writes a report in the chosen format.
pub fn write_tcp_view(
    report: &model::TcpReport,
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => table::write_tcp_view(report, color, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Ndjson => {
            for conn in &report.connections {
                serde_json::to_writer(&mut *out, conn)?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}

/// Writes the findings in the chosen format.
pub fn write_findings(
    report: &findings::Findings,
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => table::write_findings(report, color, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Ndjson => {
            for conn in &report.connections {
                serde_json::to_writer(&mut *out, conn)?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}
