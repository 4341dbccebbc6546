//! Tables for people (comfy-table). Colour only on a terminal.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::findings::{ConnectionFindings, Findings};
use super::model::{CaptureInfo, TcpConnection, TcpReport};
use crate::liveness::Verdict;
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

pub fn write_tcp_view<O>(
    report: &TcpReport<'_, O>,
    _color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
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
    let mut rows = 0;
    for c in report.connections.iter() {
        table.add_row(tcp_row(&c));
        rows += 1;
    }
    for i in [0, 4, 5, 6, 7, 8, 9, 10] {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    if rows > 0 {
        writeln!(out, "{table}")?;
    }
    writeln!(out, "{}", summary_line(&report.capture, rows))
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

fn summary_line(cap: &CaptureInfo, connections: usize) -> String {
    let mut line = format!(
        "{} TCP connection{} in {} packet{} ({} TCP)",
        connections,
        if connections == 1 { "" } else { "s" },
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

/// Seconds since `t` at the evaluation time, for "last heard" columns.
fn ago(t: Option<crate::time::Timestamp>, at: Option<crate::time::Timestamp>) -> String {
    match (t, at) {
        (Some(t), Some(at)) => format!("{} ago", at.since(t)),
        _ => "never".into(),
    }
}

fn verdict_cell(v: Verdict, color: bool) -> Cell {
    let cell = Cell::new(v.name());
    if !color {
        return cell;
    }
    match v {
        Verdict::FalseAlive => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Verdict::Suspect => cell.fg(Color::Yellow),
        Verdict::Aborted => cell.fg(Color::Magenta),
        Verdict::Alive => cell.fg(Color::Green),
        Verdict::Closed => cell.add_attribute(Attribute::Dim),
    }
}

pub fn write_findings(report: &Findings, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut table = new_table(&[
        "#",
        "client",
        "server",
        "verdict",
        "reasons",
        "last heard c/s",
        "backlog c/s",
        "pings/pongs",
        "pong p50/max",
    ]);
    let at = report.capture.evaluation_time;
    let mut rows: Vec<(Verdict, usize, Vec<Cell>)> = report
        .connections
        .iter()
        .map(|c| findings_row(&c, at, color))
        .collect();
    rows.sort_by_key(|(verdict, id, _)| (*verdict, *id));
    let count = rows.len();
    for (_, _, row) in rows {
        table.add_row(row);
    }
    if count > 0 {
        writeln!(out, "{table}")?;
    }
    writeln!(out, "{}", findings_summary(report))
}

fn findings_row(
    c: &ConnectionFindings,
    at: Option<crate::time::Timestamp>,
    color: bool,
) -> (Verdict, usize, Vec<Cell>) {
    {
        let mut reasons: Vec<String> = c
            .reasons
            .iter()
            .map(|r| match r.side {
                Some(side) => format!("{} ({})", r.code.name(), side.name()),
                None => r.code.name().to_string(),
            })
            .collect();
        reasons.extend(c.notes.iter().map(|n| format!("note: {}", n.code.name())));
        if reasons.is_empty() && !c.episodes.is_empty() {
            reasons.push(format!("{} past episode(s)", c.episodes.len()));
        }
        if !c.handshake.seen {
            reasons.push(if c.handshake.inferred {
                "(handshake inferred)".into()
            } else {
                "(frames not visible: TLS)".into()
            });
        }
        let (hc, hs) = (&c.heartbeat.client, &c.heartbeat.server);
        let latency = [hc, hs]
            .iter()
            .find(|h| h.pong_latency_ms.p50.is_some())
            .map(|h| {
                format!(
                    "{}/{}",
                    opt_ms(h.pong_latency_ms.p50),
                    opt_ms(h.pong_latency_ms.max)
                )
            })
            .unwrap_or_else(|| "-".into());
        let row = vec![
            Cell::new(c.id),
            Cell::new(c.client),
            Cell::new(c.server),
            verdict_cell(c.verdict, color),
            Cell::new(reasons.join("\n")),
            Cell::new(format!(
                "{} / {}",
                ago(c.messages.client.last_frame, at),
                ago(c.messages.server.last_frame, at)
            )),
            Cell::new(format!(
                "{} / {}",
                bytes(u64::from(c.tcp.sides.client.backlog_bytes)),
                bytes(u64::from(c.tcp.sides.server.backlog_bytes))
            )),
            Cell::new(format!(
                "{}/{}",
                hc.pings_sent + hs.pings_sent,
                hc.pongs_received + hs.pongs_received
            )),
            Cell::new(latency),
        ];
        (c.verdict, c.id, row)
    }
}

fn findings_summary(report: &Findings) -> String {
    let s = &report.summary;
    let counts: Vec<String> = Verdict::ALL
        .iter()
        .filter_map(|v| {
            let n = s.verdicts.get(v.name()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {}", v.name()))
        })
        .collect();
    let mut line = format!(
        "{} WebSocket connection{}",
        s.connections,
        if s.connections == 1 { "" } else { "s" }
    );
    if !counts.is_empty() {
        line.push_str(&format!(": {}", counts.join(", ")));
    }
    if let Some(at) = report.capture.evaluation_time {
        line.push_str(&format!("; judged at {at}"));
    }
    if s.other_tcp_connections > 0 {
        line.push_str(&format!(
            "; {} other TCP connection{} (see --tcp)",
            s.other_tcp_connections,
            if s.other_tcp_connections == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    if s.unnamed_tls_connections > 0 {
        let ports: Vec<String> = s
            .unnamed_tls_ports
            .iter()
            .map(|p| format!("--tls-port {p}"))
            .collect();
        line.push_str(&format!(
            "; {} of them TLS, not judged (add {} to judge wss)",
            s.unnamed_tls_connections,
            ports.join(" ")
        ));
    }
    if s.refused_upgrades > 0 {
        line.push_str(&format!("; {} refused upgrade(s)", s.refused_upgrades));
    }
    line
}
