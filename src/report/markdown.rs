//! `--format markdown`: a report to paste into a GitHub, GitLab or Jira
//! ticket (GitHub-flavoured Markdown). A summary table of the listed
//! connections, then per flagged connection its verdict, its reasons as
//! sentences, an evidence table read from its `timeline` (so it says what
//! the JSON says), the thresholds its reasons were measured against, and
//! the commands that reproduce it: `wspulse` and `tshark`, with the
//! Wireshark display filters.
//!
//! Connections are kept as short rendered sections until the end, when
//! the summary (known only then) is written first.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::explain;
use super::findings::ConnectionFindings;
use super::{Head, InputInfo};
use crate::evidence::EvidenceRef;
use crate::liveness::{Thresholds, Verdict};
use crate::side::Side;
use crate::time::Span;

/// The markdown report being gathered, one connection at a time.
#[derive(Default)]
pub struct Markdown {
    /// Sections for every listed connection, not only flagged ones
    /// (`--all`, `--verdict`).
    pub every_connection: bool,
    /// The `wspulse analyze` arguments (after `analyze`, before the files)
    /// that reproduce this report's judgement, shell-quoted.
    pub flags: String,
    /// `tshark` options the evidence needs (` -o tls.keylog_file:KEYS`
    /// for decrypted wss), shell-quoted, each after a space.
    pub tshark: String,
    rows: Vec<(Verdict, u64, String)>,
    sections: Vec<(Verdict, u64, String)>,
}

/// Whether a connection gets a section of its own: its verdict is not
/// `alive`, and it is not a `closed` connection with nothing to say.
pub fn flagged(c: &ConnectionFindings) -> bool {
    let j = &c.judged;
    match j.verdict {
        Verdict::Alive => false,
        Verdict::Closed => !j.reasons.is_empty() || !j.notes.is_empty(),
        _ => true,
    }
}

/// `s` made safe inside Markdown text and table cells: `|` escaped (it
/// ends a cell), `<` and `>` as entities (no HTML from the wire reaches
/// the ticket), line breaks as spaces.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one POSIX shell word: as it is when it holds only safe
/// characters, else in single quotes.
pub fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `analyze` flags that decide which connections are judged and how,
/// each after a space and shell-quoted, for the commands a markdown report
/// gives to reproduce it. Output flags, `--show-secrets` and
/// `--redact-key` (a secret) are left out.
pub fn reproduce_flags(config: &crate::config::AnalyzeConfig) -> String {
    let mut flags: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: String| {
        flags.push(format!(" {name} {}", shell_word(&value)));
    };
    for p in &config.selectors.ports {
        flag("--port", p.to_string());
    }
    for h in &config.selectors.hosts {
        flag("--host", h.to_string());
    }
    for p in &config.ws_ports {
        flag("--ws-port", p.to_string());
    }
    for p in &config.tls_ports {
        flag("--tls-port", p.to_string());
    }
    if let Some(f) = &config.filter {
        flag("--filter", f.clone());
    }
    // The key log's path (never its contents): without it a decrypted
    // connection is judged on TCP alone.
    if let Some(k) = &config.tls_keylog {
        flag("--tls-keylog", k.display().to_string());
    }
    if config.at != crate::config::At::End {
        flag("--at", config.at.to_string());
    }
    let t = &config.thresholds;
    let d = crate::liveness::Thresholds::default();
    let secs = |s: crate::time::Span| format!("{}s", s.secs_f64());
    for (name, value, default) in [
        ("--pong-timeout", t.pong_timeout, d.pong_timeout),
        ("--read-deadline", t.read_deadline, d.read_deadline),
        ("--ack-stall", Some(t.ack_stall), Some(d.ack_stall)),
        (
            "--zero-window-stall",
            Some(t.zero_window),
            Some(d.zero_window),
        ),
        (
            "--close-timeout",
            Some(t.close_timeout),
            Some(d.close_timeout),
        ),
        (
            "--half-close-timeout",
            Some(t.half_close_timeout),
            Some(d.half_close_timeout),
        ),
        ("--idle", Some(t.idle), Some(d.idle)),
        ("--data-stall", t.data_stall, d.data_stall),
    ] {
        if let Some(v) = value.filter(|_| value != default) {
            flag(name, secs(v));
        }
    }
    if config.limits.idle_timeout != crate::tcp::Limits::default().idle_timeout {
        flag("--flow-timeout", secs(config.limits.idle_timeout));
    }
    flags.concat()
}

/// A reason's sentence as a sentence: capitalised, with a full stop.
fn sentence(detail: &str) -> String {
    let mut s = if detail.starts_with("client ") || detail.starts_with("server ") {
        format!("The {detail}")
    } else {
        let mut chars = detail.chars();
        chars.next().map_or(String::new(), |first| {
            first.to_uppercase().chain(chars).collect::<String>()
        })
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    escape(&s)
}

fn side_name(side: Option<Side>) -> &'static str {
    side.map_or("", Side::name)
}

impl Markdown {
    /// Adds `c` to the summary table, and its section when it is flagged
    /// (or every connection is asked for).
    pub fn add(&mut self, c: &ConnectionFindings, inputs: &[InputInfo]) {
        let j = &c.judged;
        let reasons: Vec<String> = j.reasons.iter().map(|r| r.label()).collect();
        let row = format!(
            "| {} | {} | {} | {} | {} |",
            c.id,
            escape(&c.client.to_string()),
            escape(&c.server.to_string()),
            j.verdict.name(),
            escape(&reasons.join(", "))
        );
        self.rows.push((j.verdict, c.id, row));
        if self.every_connection || flagged(c) {
            let section = self.section(c, inputs);
            self.sections.push((j.verdict, c.id, section));
        }
    }

    fn section(&self, c: &ConnectionFindings, inputs: &[InputInfo]) -> String {
        let j = &c.judged;
        let files = inputs.len();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Connection #{}: `{}`\n\nClient {} → server {}, judged at {}.",
            c.id,
            j.verdict.name(),
            escape(&c.client.to_string()),
            escape(&c.server.to_string()),
            j.judged_at
        );
        if j.retired.is_some() {
            s.push_str(
                "The connection ended before the evaluation time and keeps the verdict it had then.\n",
            );
        }
        let _ = writeln!(s, "Handshake: {}.", escape(&explain::handshake(c, files)));

        s.push_str("\n### Why\n\n");
        for r in &j.reasons {
            let _ = writeln!(
                s,
                "- **{}** ({}, since {}): {}",
                escape(&r.label()),
                if r.code.kind() == crate::liveness::Kind::Hard {
                    "hard"
                } else {
                    "soft"
                },
                r.since,
                sentence(&r.detail)
            );
        }
        for n in &j.notes {
            let _ = writeln!(
                s,
                "- Note **{}**: {}",
                escape(&n.label()),
                sentence(&n.detail)
            );
        }
        for p in &j.pending {
            let _ =
                writeln!(
                s,
                "- Pending **{}{}**: owed since {}; it becomes a reason at {} if nothing arrives.",
                p.code.name(),
                p.side.map(|x| format!(" ({})", x.name())).unwrap_or_default(),
                p.since,
                p.due
            );
        }
        if j.reasons.is_empty() && j.notes.is_empty() && j.pending.is_empty() {
            s.push_str("- No reason holds against it.\n");
        }

        s.push_str("\n### Evidence\n\n");
        s.push_str("| time | after first packet | side | what happened | frame |\n");
        s.push_str("| --- | ---: | --- | --- | --- |\n");
        for e in &c.timeline {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                e.at,
                explain::offset(e.at, c.tcp.first_packet),
                side_name(e.side),
                escape(&e.detail),
                e.frame
                    .map(|f| explain::frame(f, files))
                    .unwrap_or_default()
            );
        }

        s.push_str("\n### Thresholds used\n\n");
        let mut any = false;
        for r in &j.reasons {
            if let Some(t) = r.evidence.threshold_s {
                any = true;
                let _ = writeln!(s, "- {}: {t:.3} s", escape(&r.label()));
            }
        }
        if !any {
            s.push_str("- No reason here has a time threshold; the thresholds in force are listed at the end.\n");
        }

        s.push_str("\n### Reproduce\n\n");
        let paths: Vec<String> = inputs.iter().map(|i| shell_word(&i.path)).collect();
        let _ = writeln!(s, "Wireshark display filter: `{}`\n", c.wireshark_filter);
        s.push_str("```sh\n");
        let _ = writeln!(
            s,
            "wspulse analyze --format markdown{} {}",
            self.flags,
            paths.join(" ")
        );
        let _ = writeln!(
            s,
            "wspulse explain {}{} {}",
            c.id,
            self.flags,
            paths.join(" ")
        );
        for path in &paths {
            let _ = writeln!(
                s,
                "tshark -r {path}{} -Y {}",
                self.tshark,
                shell_word(&c.wireshark_filter)
            );
        }
        for r in &j.reasons {
            for (i, path) in paths.iter().enumerate() {
                let refs: Vec<EvidenceRef> = r
                    .evidence
                    .frames
                    .iter()
                    .copied()
                    .filter(|e| e.as_frame().is_some_and(|f| f.file() as usize == i))
                    .collect();
                if let Some(filter) = explain::frames_filter(&refs) {
                    let _ = writeln!(
                        s,
                        "tshark -r {path}{} -Y {}  # {}",
                        self.tshark,
                        shell_word(&filter),
                        r.label()
                    );
                }
            }
        }
        s.push_str("```\n");
        s
    }

    /// Writes the report: title, summary line and table, the sections
    /// (worst verdict first, then by id), the thresholds, the inputs and
    /// the warnings.
    pub fn write(
        &mut self,
        head: &Head,
        summary_line: &str,
        warnings: &[String],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut s = String::from("# wspulse report\n\n");
        let _ = writeln!(s, "{}.\n", escape(summary_line));
        self.rows.sort_by_key(|(v, id, _)| (*v, *id));
        if self.rows.is_empty() {
            s.push_str("No connection listed.\n");
        } else {
            s.push_str("| # | client | server | verdict | reasons |\n");
            s.push_str("| ---: | --- | --- | --- | --- |\n");
            for (_, _, row) in &self.rows {
                s.push_str(row);
                s.push('\n');
            }
        }
        self.sections.sort_by_key(|(v, id, _)| (*v, *id));
        if self.sections.is_empty() && !self.rows.is_empty() {
            s.push_str("\nNo connection is flagged.\n");
        }
        for (_, _, section) in &self.sections {
            s.push('\n');
            s.push_str(section);
        }
        if let Some(t) = &head.thresholds {
            s.push_str("\n## Thresholds\n\n");
            thresholds(&mut s, t);
        }
        s.push_str("\n## Inputs\n\nFrame numbers count per file, as Wireshark does.\n\n");
        for i in &head.inputs {
            let _ = writeln!(s, "- file {}: `{}`", i.index, i.path.replace('`', "'"));
        }
        if !warnings.is_empty() {
            s.push_str("\n## Warnings\n\n");
            for w in warnings {
                let _ = writeln!(s, "- {}", escape(w));
            }
        }
        out.write_all(s.as_bytes())
    }
}

/// The thresholds in force, each with its flag.
fn thresholds(s: &mut String, t: &Thresholds) {
    let fixed = |span: Span| format!("{:.3} s", span.secs_f64());
    let or = |span: Option<Span>, default: &str| span.map_or(default.to_string(), fixed);
    let rows = [
        (
            "--pong-timeout",
            or(t.pong_timeout, "2 × the heartbeat interval, else 10 s"),
        ),
        (
            "--read-deadline",
            or(t.read_deadline, "3 × the heartbeat interval, else 60 s"),
        ),
        (
            "--ack-stall",
            format!(
                "{} (and {} retransmissions)",
                fixed(t.ack_stall),
                t.ack_stall_retransmissions
            ),
        ),
        ("--zero-window-stall", fixed(t.zero_window)),
        ("--close-timeout", fixed(t.close_timeout)),
        ("--half-close-timeout", fixed(t.half_close_timeout)),
        ("--idle", fixed(t.idle)),
        (
            "--data-stall",
            or(
                t.data_stall,
                "max(5 × the median data interval, the read deadline)",
            ),
        ),
    ];
    s.push_str("| flag | value |\n| --- | --- |\n");
    for (flag, value) in rows {
        let _ = writeln!(s, "| `{flag}` | {} |", escape(&value));
    }
}

/// The `tshark` options that show what a report's evidence cites: the key
/// log for decrypted wss (`-o tls.keylog_file:PATH`), shell-quoted.
pub fn tshark_options(config: &crate::config::AnalyzeConfig) -> String {
    match &config.tls_keylog {
        Some(k) => format!(
            " -o {}",
            shell_word(&format!("tls.keylog_file:{}", k.display()))
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, sentence, shell_word};

    #[test]
    fn a_pipe_or_a_tag_from_the_wire_cannot_break_a_table_or_inject_html() {
        assert_eq!(escape("a|b<script>\nc"), "a\\|b&lt;script&gt; c");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("samples/a.pcap"), "samples/a.pcap");
        assert_eq!(shell_word("my file.pcap"), "'my file.pcap'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("tcp.port == 80"), "'tcp.port == 80'");
    }

    #[test]
    fn a_reason_detail_reads_as_a_sentence() {
        assert_eq!(
            sentence("client has not answered"),
            "The client has not answered."
        );
        assert_eq!(sentence("idle for 3s"), "Idle for 3s.");
    }
}
