//! Tables for people (comfy-table). Colour only on a terminal.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::findings::{ConnectionFindings, HeartbeatFacts, Summary};
use super::layout::{self, Layout};
use super::model::{Address, CaptureInfo, TcpConnection};
use super::reasons::ReasonJson;
use super::tls::TlsJson;
use super::{Row, TableKind};
use crate::decode::tunnel::Tag;
use crate::liveness::Verdict;
use crate::time::{Span, Timestamp};

/// The client cell: its address, and under it the tunnel it came in.
fn endpoint(a: Address, tunnel: Option<Tag>) -> String {
    match tunnel {
        Some(t) => format!("{a}\nin {t}"),
        None => a.to_string(),
    }
}

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

/// Columns of the TCP view left out on a narrow screen, least needed first.
const TCP_DROP: [usize; 9] = [10, 9, 8, 7, 4, 6, 5, 2, 1];
/// Columns of the findings table left out on a narrow screen, least needed
/// first: the numbers, then the server (often the same on every row), then
/// the client. `#`, the verdict and its reasons always stay.
const FINDINGS_DROP: [usize; 6] = [8, 7, 6, 5, 2, 1];

/// Prints the rows, worst verdict first, laid out for the screen
/// ([`Layout`]), then the summary line, with what the layout left out.
pub fn write(
    kind: TableKind,
    mut rows: Vec<Row>,
    layout: &Layout,
    summary: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (header, drop, right, verdict_col): (&[&str], &[usize], &[usize], Option<usize>) =
        match kind {
            TableKind::Tcp => (&TCP_HEADER, &TCP_DROP, &[0, 4, 5, 6, 7, 8, 9, 10], None),
            TableKind::Findings => (&FINDINGS_HEADER, &FINDINGS_DROP, &[0], Some(3)),
        };
    // The reasons wrap at their spaces; other cells read badly wrapped.
    let wrap: &[usize] = match kind {
        TableKind::Tcp => &[],
        TableKind::Findings => &[4],
    };
    let color = layout.color;
    rows.sort_by_key(|r| (r.verdict, r.id));
    let hidden_alive = layout::drop_alive_past_screenful(&mut rows, layout);
    let keep = layout::columns(header, &rows, layout.width, drop, wrap);
    let mut table = new_table(&keep.iter().map(|&i| header[i]).collect::<Vec<_>>());
    if color {
        // Asked for (--color always): colour even into a file or a pipe.
        table.enforce_styling();
    }
    if let Some(width) = layout.width {
        // What still does not fit once columns are left out is wrapped.
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    let count = rows.len();
    let left_out: Vec<usize> = (0..header.len()).filter(|i| !keep.contains(i)).collect();
    let one_server = match &rows[..] {
        [first, rest @ ..] if left_out.contains(&2) => {
            let server = &first.cells[2];
            rest.iter()
                .all(|r| &r.cells[2] == server)
                .then(|| server.clone())
        }
        _ => None,
    };
    for row in rows {
        let verdict = row.verdict;
        let mut cells: Vec<Option<String>> = row.cells.into_iter().map(Some).collect();
        table.add_row(keep.iter().map(|&i| {
            let text = cells[i].take().unwrap_or_default();
            match (verdict, Some(i) == verdict_col) {
                (Some(v), true) => verdict_cell(v, color),
                _ => Cell::new(text),
            }
        }));
    }
    for (position, i) in keep.iter().enumerate() {
        if let Some(col) = table.column_mut(position) {
            if right.contains(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
            if !wrap.contains(i) {
                col.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
            }
        }
    }
    if count > 0 {
        writeln!(out, "{table}")?;
        if !left_out.is_empty() {
            let names: Vec<&str> = left_out.iter().map(|&i| header[i]).collect();
            let server = one_server.map_or(String::new(), |s| format!("; server {s} on every row"));
            let note = format!(
                "(narrow screen: {} left out{server}; --format json has every field)",
                names.join(", ")
            );
            writeln!(out, "{}", layout::wrap(&note, layout.width))?;
        }
    }
    let mut summary = summary.to_string();
    if hidden_alive > 0 {
        summary.push_str(&format!(
            "; {hidden_alive} alive not listed (more than a screenful: --all lists them)"
        ));
    }
    if let crate::config::Listing::Only(set) = layout.listing {
        let names: Vec<&str> = set.verdicts().map(Verdict::name).collect();
        summary.push_str(&format!("; listed: {} only (--verdict)", names.join(", ")));
    }
    writeln!(out, "{}", layout::wrap(&summary, layout.width))
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
        endpoint(c.client, c.tunnel),
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
            "{} connection{} not tracked, so not judged ({} packets): --max-flows {} were open; raise --max-flows to judge them",
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
            "{} out-of-order hole{} skipped at --max-ooo-bytes (raise it to reassemble them)",
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
/// (which goes under the server's address), and whether it was decrypted:
/// `(TLSv1_3, ALPN http/1.1: frames not visible; --tls-keylog to decrypt)`,
/// `(TLSv1_3: decrypted, TLS_AES_128_GCM_SHA256)`.
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
    let mut what = match (tls.decrypted, tls.cipher_suite) {
        (true, Some(suite)) => format!("decrypted, {suite}"),
        _ => match tls.not_decrypted {
            Some("no_keylog") | None => "frames not visible; --tls-keylog to decrypt".into(),
            Some(why) => format!("frames not visible; not decrypted: {why}"),
        },
    };
    if tls.records_failed > 0 {
        what.push_str(&format!(
            "; {} record(s) failed to authenticate",
            tls.records_failed
        ));
    }
    format!("({}: {what})", said.join(", "))
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
        if c.handshake.accept_valid == Some(false) {
            reasons.push("note: invalid Sec-WebSocket-Accept (a client would refuse it)".into());
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
            endpoint(c.client, c.tunnel),
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
            pings_cell(hc, hs),
            latency,
        ];
        Row {
            verdict: Some(c.judged.verdict),
            id: c.id,
            cells,
        }
    }
}

/// WebSocket Pings/Pongs, and under them the application heartbeat's
/// beats/answers with its protocol, when one was recognised.
fn pings_cell(hc: &HeartbeatFacts, hs: &HeartbeatFacts) -> String {
    let mut cell = format!(
        "{}/{}",
        hc.pings_sent + hs.pings_sent,
        hc.pongs_received + hs.pongs_received
    );
    if let (Some(c), Some(s)) = (&hc.application, &hs.application) {
        let beats = c.pings_sent + c.one_way + s.pings_sent + s.one_way;
        let answers = c.answers_sent + s.answers_sent;
        cell.push_str(&format!("\n{} {beats}/{answers}", c.protocol));
    }
    cell
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
            "; {} of them TLS, not judged (add {} to judge wss on TCP and TLS records)",
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
        line.push_str(&format!("; not judged: {warning} ({LINK_TYPES_DECODED})"));
    }
    // An input of a set that could not be read, or was damaged part-way:
    // the table (often saved with -o) says so, not only stderr.
    for error in cap.files.iter().filter_map(|f| f.error.as_deref()) {
        line.push_str(&format!("; warning: {error}"));
    }
    line
}

/// What to capture on instead of a link type wspulse does not decode.
const LINK_TYPES_DECODED: &str =
    "wspulse decodes Ethernet, Linux cooked (tcpdump -i any), raw IP and loopback captures";
