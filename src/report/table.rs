//! Tables for people (comfy-table). Colour only on a terminal.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::model::{TcpConnection, TcpReport};
use crate::time::Span;

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn secs(s: f64) -> String {
    Span::from_nanos((s * 1e9) as i64).to_string()
}

fn opt_ms(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |m| {
        Span::from_nanos((m * 1e6) as i64).to_string()
    })
}

fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    table
}

pub fn write_tcp_view(report: &TcpReport, _color: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut table = new_table(&[
        "#",
        "client",
        "server",
        "state",
        "duration",
        "client→server",
        "server→client",
        "retrans c/s",
        "zero window",
        "max backlog",
        "SRTT",
    ]);
    for c in &report.connections {
        table.add_row(tcp_row(c));
    }
    for i in [0, 4, 5, 6, 7, 8, 9, 10] {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    if !report.connections.is_empty() {
        writeln!(out, "{table}")?;
    }
    writeln!(out, "{}", summary_line(report))
}

fn tcp_row(c: &TcpConnection) -> Vec<String> {
    let t = &c.tcp;
    let (tc, ts) = (&t.sides.client, &t.sides.server);
    let zero = tc.zero_window.total_s + ts.zero_window.total_s;
    let srtt = ts.srtt_ms.or(tc.srtt_ms);
    vec![
        c.id.to_string(),
        c.client.to_string(),
        c.server.to_string(),
        format!("{:?}", t.state)
            .to_lowercase()
            .replace("halfclosed", "half-closed"),
        secs(t.duration_s),
        bytes(tc.payload_bytes),
        bytes(ts.payload_bytes),
        format!("{}/{}", tc.retransmissions, ts.retransmissions),
        if zero > 0.0 { secs(zero) } else { "-".into() },
        bytes(u64::from(tc.max_backlog_bytes.max(ts.max_backlog_bytes))),
        opt_ms(srtt),
    ]
}

fn summary_line(report: &TcpReport) -> String {
    let cap = &report.capture;
    let mut line = format!(
        "{} TCP connection{} in {} packet{} ({} TCP)",
        report.connections.len(),
        if report.connections.len() == 1 {
            ""
        } else {
            "s"
        },
        cap.packets,
        if cap.packets == 1 { "" } else { "s" },
        cap.tcp_packets,
    );
    if let (Some(first), Some(last)) = (cap.first_packet, cap.last_packet) {
        line.push_str(&format!(", {}", last.since(first)));
    }
    let skipped: Vec<String> = cap
        .not_decoded
        .iter()
        .map(|(k, n)| format!("{n} {}", k.describe()))
        .collect();
    if !skipped.is_empty() {
        line.push_str(&format!("; not decoded: {}", skipped.join(", ")));
    }
    if cap.snaplen_cut_packets > 0 {
        line.push_str(&format!("; {} cut by snaplen", cap.snaplen_cut_packets));
    }
    if cap.filtered_out > 0 {
        line.push_str(&format!("; {} filtered out", cap.filtered_out));
    }
    line
}
