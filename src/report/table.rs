//! Tables for people (comfy-table). Colour only on a terminal.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::findings::{ConnectionFindings, Summary};
use super::model::{CaptureInfo, TcpConnection};
use super::reasons::ReasonJson;
use super::tls::TlsJson;
use super::{Row, TableKind};
use crate::liveness::Verdict;
use crate::time::{Span, Timestamp};

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

const TCP_HEADER: [&str; 11] = [
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
];

const FINDINGS_HEADER: [&str; 9] = [
    "#",
    "client",
    "server",
    "verdict",
    "reasons",
    "last heard c/s",
    "backlog c/s",
    "pings/pongs",
    "pong p50/max",
];

/// Prints the rows, worst verdict first, and the summary line.
pub fn write(
    kind: TableKind,
    mut rows: Vec<Row>,
    color: bool,
    summary: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (mut table, right, verdict_col): (Table, &[usize], Option<usize>) = match kind {
        TableKind::Tcp => (new_table(&TCP_HEADER), &[0, 4, 5, 6, 7, 8, 9, 10], None),
        TableKind::Findings => (new_table(&FINDINGS_HEADER), &[0], Some(3)),
    };
    if color {
        // Asked for (--color always): colour even into a file or a pipe.
        table.enforce_styling();
    }
    rows.sort_by_key(|r| (r.verdict, r.id));
    let count = rows.len();
    for row in rows {
        let verdict = row.verdict;
        table.add_row(row.cells.into_iter().enumerate().map(|(i, text)| {
            match (verdict, Some(i) == verdict_col) {
                (Some(v), true) => verdict_cell(v, color),
                _ => Cell::new(text),
            }
        }));
    }
    for &i in right {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    if count > 0 {
        writeln!(out, "{table}")?;
    }
    writeln!(out, "{summary}")
}

/// The TCP view's row for one connection.
pub fn tcp_row(c: &TcpConnection) -> Row {
    Row {
        verdict: None,
        id: c.id,
        cells: tcp_cells(c),
    }
}

fn tcp_cells(c: &TcpConnection) -> Vec<String> {
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

/// The TCP view's closing line.
pub fn tcp_summary_line(cap: &CaptureInfo, connections: u64) -> String {
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
    if let Some(skipped) = not_decoded(cap) {
        line.push_str(&format!("; not decoded: {skipped}"));
    }
    for warning in cap.link_type_warnings() {
        line.push_str(&format!("; {warning}"));
    }
    if cap.snaplen_cut_packets > 0 {
        line.push_str(&format!("; {} cut by snaplen", cap.snaplen_cut_packets));
    }
    if cap.filtered_out > 0 {
        line.push_str(&format!("; {} filtered out", cap.filtered_out));
    }
    for limit in limits_hit(cap) {
        line.push_str(&format!("; {limit}"));
    }
    line
}

/// Packets not decoded to TCP, by kind, in words; link types not decoded
/// are said apart, by value ([`CaptureInfo::link_type_warnings`]).
fn not_decoded(cap: &CaptureInfo) -> Option<String> {
    let kinds: Vec<String> = cap
        .not_decoded
        .iter()
        .filter(|(k, _)| {
            **k != crate::decode::Skip::UnsupportedLinkType || cap.link_types_not_decoded.is_empty()
        })
        .map(|(k, n)| format!("{n} {}", k.describe()))
        .collect();
    (!kinds.is_empty()).then(|| kinds.join(", "))
}

/// Every limit the pass ran into, in words (for the table and stderr).
pub fn limits_hit(cap: &CaptureInfo) -> Vec<String> {
    let t = &cap.flow_table;
    let mut out = Vec::new();
    if t.flows_refused > 0 {
        out.push(format!(
            "{} connection{} not tracked ({} packets): --max-flows {} were open",
            t.flows_refused,
            if t.flows_refused == 1 { "" } else { "s" },
            t.untracked_packets,
            cap.limits.max_flows
        ));
    }
    if t.idle_evictions > 0 {
        out.push(format!(
            "{} connection{} retired idle after --flow-timeout {}",
            t.idle_evictions,
            if t.idle_evictions == 1 { "" } else { "s" },
            cap.limits.idle_timeout
        ));
    }
    if t.ooo_overflows > 0 {
        out.push(format!(
            "{} out-of-order hole{} skipped at --max-ooo-bytes",
            t.ooo_overflows,
            if t.ooo_overflows == 1 { "" } else { "s" }
        ));
    }
    out
}

/// Seconds since `t` at the evaluation time, for "last heard" columns.
fn ago(t: Option<Timestamp>, at: Option<Timestamp>) -> String {
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

/// The findings table's row for one connection; "last heard" counts from
/// the instant it was judged at.
/// A TLS connection's note: what its hellos said beside the server name
/// (which goes under the server's address): `(TLSv1_3, ALPN http/1.1:
/// frames not visible)`.
fn tls_note(tls: &TlsJson) -> String {
    let mut said = vec![tls.version.clone().unwrap_or_else(|| "TLS".into())];
    if let Some(alpn) = &tls.alpn {
        said.push(format!("ALPN {alpn}"));
    } else if !tls.alpn_offered.is_empty() {
        said.push(format!("ALPN offered {}", tls.alpn_offered.join(",")));
    }
    if let Some(why) = tls.hello_unread {
        said.push(format!("hello not read: {why}"));
    }
    format!("({}: frames not visible)", said.join(", "))
}

pub fn findings_row(c: &ConnectionFindings) -> Row {
    let at = Some(c.judged.judged_at);
    {
        let mut reasons: Vec<String> = c.judged.reasons.iter().map(ReasonJson::label).collect();
        reasons.extend(c.judged.pending.iter().map(|p| {
            format!(
                "pending: {}{} in {}",
                p.code.name(),
                p.side
                    .map(|s| format!(" ({})", s.name()))
                    .unwrap_or_default(),
                Span::from_nanos((p.due_in_s * 1e9) as i64)
            )
        }));
        reasons.extend(
            c.judged
                .notes
                .iter()
                .map(|n| format!("note: {}", n.code.name())),
        );
        if let Some(r) = c.judged.retired {
            reasons.push(format!(
                "(retired {}: judged at {})",
                retired_name(r),
                c.judged.judged_at
            ));
        }
        if reasons.is_empty() && !c.judged.episodes.is_empty() {
            reasons.push(format!("{} past episode(s)", c.judged.episodes.len()));
        }
        if let Some(tls) = &c.tls {
            reasons.push(tls_note(tls));
        } else if !c.handshake.seen {
            reasons.push(if c.handshake.inferred {
                "(handshake inferred)".into()
            } else {
                "(frames not visible: TLS)".into()
            });
        }
        let (hc, hs) = (&c.judged.heartbeat.client, &c.judged.heartbeat.server);
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
        let cells = vec![
            c.id.to_string(),
            c.client.to_string(),
            match c.tls.as_ref().and_then(|t| t.sni.as_ref()) {
                Some(sni) => format!("{}\n{sni}", c.server),
                None => c.server.to_string(),
            },
            c.judged.verdict.name().to_string(),
            reasons.join("\n"),
            format!(
                "{} / {}",
                ago(c.judged.messages.client.last_frame, at),
                ago(c.judged.messages.server.last_frame, at)
            ),
            format!(
                "{} / {}",
                bytes(u64::from(c.tcp.sides.client.backlog_bytes)),
                bytes(u64::from(c.tcp.sides.server.backlog_bytes))
            ),
            format!(
                "{}/{}",
                hc.pings_sent + hs.pings_sent,
                hc.pongs_received + hs.pongs_received
            ),
            latency,
        ];
        Row {
            verdict: Some(c.judged.verdict),
            id: c.id,
            cells,
        }
    }
}

fn retired_name(r: crate::tcp::Retirement) -> &'static str {
    match r {
        crate::tcp::Retirement::Closed => "closed",
        crate::tcp::Retirement::Aborted => "aborted",
        crate::tcp::Retirement::Idle => "idle",
        crate::tcp::Retirement::Open => "open",
    }
}

/// The findings table's closing line.
pub fn findings_summary_line(s: &Summary, cap: &CaptureInfo) -> String {
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
    if let Some(at) = cap.evaluation_time {
        let basis = match cap.evaluation_basis {
            "recorded_end" => " (the capture's recorded end)",
            "wall_clock" => " (the wall clock: the stream ended then)",
            "capture_clock" => " (the capture clock when the live capture stopped)",
            _ => "",
        };
        line.push_str(&format!("; judged at {at}{basis}"));
    }
    if cap.after_evaluation_time > 0 {
        line.push_str(&format!(
            "; {} packets after it left out",
            cap.after_evaluation_time
        ));
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
    if s.tls_hellos_unread > 0 {
        line.push_str(&format!(
            "; {} TLS hello(s) not read (see tls.hello_unread)",
            s.tls_hellos_unread
        ));
    }
    if s.refused_upgrades > 0 {
        line.push_str(&format!("; {} refused upgrade(s)", s.refused_upgrades));
    }
    for limit in limits_hit(cap) {
        line.push_str(&format!("; {limit}"));
    }
    if let Some(skipped) = not_decoded(cap) {
        line.push_str(&format!("; packets not decoded: {skipped}"));
    }
    for warning in cap.link_type_warnings() {
        line.push_str(&format!("; {warning}"));
    }
    line
}
