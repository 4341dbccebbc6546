//! `--report FILE.html`: one self-contained HTML page for people: the
//! summary table, worst connections first, then per flagged connection (or
//! one picked with `--connection`) its reasons and a timeline drawn in
//! inline SVG ([`svg`]).
//!
//! The page fetches nothing: no script, no font, no image, no stylesheet
//! from anywhere (inline CSS and SVG only), and it holds no URL. Every
//! string from the findings is escaped ([`esc`]); it shows only what the
//! findings show (the same redaction, `--redact` included), and the series
//! it draws ([`series`]) carry no payload or string at all.
//!
//! Bounds, so a capture of a million connections still gives a page a
//! browser opens: at most [`MAX_ROWS`] rows in the summary table (the worst
//! kept) and [`MAX_TIMELINES`] timelines (the picked ones, then the worst),
//! each downsampled as [`series`] says; what is left out is counted on the
//! page.

pub mod series;
mod svg;

use std::io::{self, Write};

use super::findings::ConnectionFindings;
use super::markdown::flagged;
use super::InputInfo;
use crate::liveness::Verdict;
use crate::time::Timestamp;
use series::Series;

/// Rows of the summary table, the worst kept.
pub const MAX_ROWS: usize = 2000;
/// Connections drawn with a timeline: those picked with `--connection`
/// first, then the worst.
pub const MAX_TIMELINES: usize = 100;

/// `s` safe anywhere in HTML text or a quoted attribute value: `&`, `<`,
/// `>`, `"` and `'` become character references (HTML Living Standard
/// §13.1.4), so no string from the wire can open a tag or end an
/// attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One row of the summary table, rendered when added but for its link.
struct Row {
    verdict: Verdict,
    id: u64,
    html: String,
}

/// What the page says around its connections: the inputs and the run's
/// summary line and warnings, as the other formats give them.
pub struct Page<'a> {
    pub inputs: &'a [InputInfo],
    pub summary_line: &'a str,
    pub warnings: &'a [String],
}

/// The report as connections retire: their rows, and the findings of
/// those that get a timeline, each with a `T` the caller needs to find
/// their packets again (never printed).
pub struct HtmlReport<T> {
    picks: Vec<u64>,
    rows: Vec<Row>,
    rows_left_out: u64,
    drawn: Vec<(ConnectionFindings, T)>,
    timelines_left_out: u64,
    /// `--verdict` was given: every connection added is one asked for,
    /// and gets a timeline.
    every: bool,
}

impl<T> HtmlReport<T> {
    /// The same report drawing a timeline for every connection added (it
    /// is given only the verdicts `--verdict` asked for).
    pub fn drawing_every_one(mut self) -> Self {
        self.every = true;
        self
    }

    /// A report drawing the timelines of `picks` (`--connection` ids) and
    /// of every flagged connection (not alive, or closed with a reason).
    pub fn new(picks: Vec<u64>) -> Self {
        HtmlReport {
            picks,
            rows: Vec::new(),
            rows_left_out: 0,
            drawn: Vec::new(),
            timelines_left_out: 0,
            every: false,
        }
    }

    fn order(&self, c: &ConnectionFindings) -> (bool, Verdict, u64) {
        (!self.picks.contains(&c.id), c.judged.verdict, c.id)
    }

    /// Adds one judged connection; `tag` is called only when it gets a
    /// timeline.
    pub fn add(&mut self, c: &ConnectionFindings, tag: impl FnOnce() -> T) {
        let drawn = self.every || self.picks.contains(&c.id) || flagged(c);
        self.rows.push(Row {
            verdict: c.judged.verdict,
            id: c.id,
            html: row(c),
        });
        if self.rows.len() >= 2 * MAX_ROWS {
            self.rows.sort_by_key(|r| (r.verdict, r.id));
            self.rows_left_out += (self.rows.len() - MAX_ROWS) as u64;
            self.rows.truncate(MAX_ROWS);
        }
        if drawn {
            self.drawn.push((c.clone(), tag()));
            if self.drawn.len() >= 2 * MAX_TIMELINES {
                self.trim_timelines();
            }
        }
    }

    fn trim_timelines(&mut self) {
        let mut drawn = std::mem::take(&mut self.drawn);
        drawn.sort_by_key(|(c, _)| self.order(c));
        if drawn.len() > MAX_TIMELINES {
            self.timelines_left_out += (drawn.len() - MAX_TIMELINES) as u64;
            drawn.truncate(MAX_TIMELINES);
        }
        self.drawn = drawn;
    }

    /// The connections to draw, in the order [`HtmlReport::write`] wants
    /// their series: call once, after the last [`HtmlReport::add`].
    pub fn chosen(&mut self) -> Vec<&T> {
        self.trim_timelines();
        self.drawn.iter().map(|(_, t)| t).collect()
    }

    /// How many timelines the page draws.
    pub fn timelines(&self) -> usize {
        self.drawn.len()
    }

    /// The picked ids no judged connection had.
    pub fn missing(&self) -> Vec<u64> {
        let judged = |id: &&u64| self.rows.iter().any(|r| r.id == **id);
        let drawn = |id: &&u64| self.drawn.iter().any(|(c, _)| c.id == **id);
        (self.picks.iter())
            .filter(|id| !judged(id) && !drawn(id))
            .copied()
            .collect()
    }

    /// Writes the page; `series[i]` is the series of the `i`th of
    /// [`HtmlReport::chosen`] (`None`: its packets were not found again,
    /// so only its reasons and timeline table are shown).
    pub fn write(
        &mut self,
        series: &mut [Option<Series>],
        page: &Page<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.rows.sort_by_key(|r| (r.verdict, r.id));
        if self.rows.len() > MAX_ROWS {
            self.rows_left_out += (self.rows.len() - MAX_ROWS) as u64;
            self.rows.truncate(MAX_ROWS);
        }
        let mut s = String::new();
        s.push_str(HEAD);
        s.push_str("<h1>wspulse report</h1>\n<p class=\"summary\">");
        s.push_str(&esc(page.summary_line));
        s.push_str("</p>\n<p class=\"inputs\">Inputs: ");
        let inputs: Vec<String> = page.inputs.iter().map(|i| esc(&i.path)).collect();
        s.push_str(&inputs.join(", "));
        s.push_str("</p>\n");
        for w in page.warnings {
            s.push_str(&format!("<p class=\"warning\">warning: {}</p>\n", esc(w)));
        }
        s.push_str("<h2>Connections, worst first</h2>\n<table class=\"rows\">\n<tr><th>#</th><th>verdict</th><th>client</th><th>server</th><th>reasons</th><th>timeline</th></tr>\n");
        for r in &self.rows {
            s.push_str(&r.html);
            if self.drawn.iter().any(|(c, _)| c.id == r.id) {
                s.push_str(&format!(
                    "<td><a href=\"#c{}\">timeline</a></td></tr>\n",
                    r.id
                ));
            } else {
                s.push_str("<td></td></tr>\n");
            }
        }
        s.push_str("</table>\n");
        if self.rows_left_out > 0 {
            s.push_str(&format!(
                "<p class=\"note\">{} more connections not listed (at most {MAX_ROWS} rows, the worst kept).</p>\n",
                self.rows_left_out
            ));
        }
        if self.timelines_left_out > 0 {
            s.push_str(&format!(
                "<p class=\"note\">{} flagged connections drawn without a timeline (at most {MAX_TIMELINES}; pick one with --connection ID).</p>\n",
                self.timelines_left_out
            ));
        }
        out.write_all(s.as_bytes())?;
        for (i, (c, _)) in self.drawn.iter().enumerate() {
            let series = series.get_mut(i).and_then(Option::as_mut);
            out.write_all(section(c, series).as_bytes())?;
        }
        out.write_all(svg::LEGEND.as_bytes())?;
        out.write_all(b"</body>\n</html>\n")
    }
}

/// A row's cells but the last (the link to its timeline, known only once
/// the timelines are chosen).
fn row(c: &ConnectionFindings) -> String {
    let reasons: Vec<String> = c.judged.reasons.iter().map(|r| r.label()).collect();
    let v = c.judged.verdict.name();
    format!(
        "<tr class=\"{v}\"><td>{}</td><td class=\"verdict\">{v}</td><td>{}</td><td>{}</td><td>{}</td>",
        c.id,
        esc(&c.client.to_string()),
        esc(&c.server.to_string()),
        esc(&reasons.join(", ")),
    )
}

fn time(t: Timestamp) -> String {
    esc(&t.to_string())
}

/// One connection's section: heading, reasons in words, the timeline and
/// the JSON `timeline` entries as a table.
fn section(c: &ConnectionFindings, series: Option<&mut Series>) -> String {
    let j = &c.judged;
    let mut s = format!(
        "<section id=\"c{id}\" data-connection=\"{id}\" data-verdict=\"{v}\">\n<h2>Connection #{id}: <span class=\"{v}\">{v}</span></h2>\n<p>Client {} → server {}",
        esc(&c.client.to_string()),
        esc(&c.server.to_string()),
        id = c.id,
        v = j.verdict.name(),
    );
    if let Some(path) = &c.handshake.path {
        s.push_str(&format!(", <code>GET {}</code>", esc(path)));
    }
    if let Some(host) = &c.handshake.host {
        s.push_str(&format!(" on host <code>{}</code>", esc(host)));
    }
    s.push_str(&format!(", judged at {}.</p>\n", time(j.judged_at)));
    if !j.reasons.is_empty() || !j.notes.is_empty() {
        s.push_str("<ul class=\"reasons\">\n");
        for (r, kind) in j
            .reasons
            .iter()
            .map(|r| (r, "reason"))
            .chain(j.notes.iter().map(|n| (n, "note")))
        {
            s.push_str(&format!(
                "<li class=\"{kind}\"><b>{}</b> since {}: {}</li>\n",
                esc(&r.label()),
                time(r.since),
                esc(&r.detail)
            ));
        }
        s.push_str("</ul>\n");
    }
    match series {
        Some(series) => {
            series.finish();
            s.push_str(&svg::timeline(c, series));
        }
        None => s.push_str("<p class=\"note\">No timeline: the connection's packets were not found again in the inputs.</p>\n"),
    }
    s.push_str("<details><summary>Timeline entries (as in the JSON report)</summary>\n<table class=\"entries\">\n<tr><th>time</th><th>side</th><th>event</th><th>what</th></tr>\n");
    for e in &c.timeline {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            time(e.at),
            e.side.map_or("", |s| s.name()),
            esc(e.event),
            esc(&e.detail)
        ));
    }
    s.push_str("</table></details>\n</section>\n");
    s
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wspulse report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .3em; }
h2 { font-size: 1.2em; margin: 1.4em 0 .3em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.false_alive, .suspect, .aborted { font-weight: bold; }
span.false_alive, tr.false_alive td.verdict { color: #b00020; }
span.suspect, tr.suspect td.verdict { color: #b35c00; }
span.aborted, tr.aborted td.verdict { color: #6a1b9a; }
.note, .inputs { color: #555; }
.warning { color: #b00020; }
ul.reasons li.reason b { color: #b00020; }
svg.timeline { display: block; margin: .5em 0; max-width: 100%; height: auto; border: 1px solid #ddd; }
svg text { font: 11px system-ui, sans-serif; fill: #222; }
svg text.lane { font-weight: bold; fill: #444; }
svg text.reason { fill: #b00020; font-weight: bold; }
svg text.warn { fill: #b00020; }
svg .axis { stroke: #999; stroke-width: 1; }
svg .grid { stroke: #eee; stroke-width: 1; }
svg .data { fill: #1565c0; }
svg .control { fill: #ef6c00; }
svg .backlog { fill: #ffcc80; stroke: #ef6c00; stroke-width: 1; }
svg .window { fill: none; stroke: #1565c0; stroke-width: 1.5; }
svg .zw { fill: #b00020; fill-opacity: .18; }
svg .span { fill: #b00020; fill-opacity: .05; }
svg .retx { stroke: #b00020; stroke-width: 2; }
svg .arc { fill: none; stroke: #2e7d32; stroke-width: 1.2; }
svg .ping { fill: #2e7d32; }
svg .unanswered { stroke: #b00020; stroke-width: 2.5; fill: none; }
svg .wait { stroke: #b00020; stroke-width: 1; stroke-dasharray: 3 3; }
svg .passed { fill: #b00020; }
svg .reasonline { stroke: #b00020; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .end { stroke: #6a1b9a; stroke-width: 2; }
svg .app { fill: #00838f; }
svg .entry { stroke: #555; stroke-width: 1; }
details { margin: .3em 0 1em; }
dl.legend dt { font-weight: bold; float: left; clear: left; width: 13em; }
dl.legend dd { margin-left: 14em; }
</style>
</head>
<body>
"#;

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_and_both_quotes_become_references() {
        assert_eq!(
            esc("<a title='x' href=\"y\">&amp;</a>"),
            "&lt;a title=&#39;x&#39; href=&quot;y&quot;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(esc("10.0.0.1:8080 → ok"), "10.0.0.1:8080 → ok");
    }
}
