//! One connection's timeline as inline SVG: lanes over one time axis,
//! each reason drawn where it starts and labelled in words.
//!
//! Lanes, top to bottom: the reasons (a dashed line at each `since`, its
//! span to the judgement shaded); WebSocket frames each side sent (data
//! and control, per bucket); Ping → Pong arcs with their latency, and
//! unanswered Pings; per side, its unacknowledged backlog, the window it
//! advertised, its zero-window spans, retransmissions, FIN/RST/Close and
//! application heartbeats; the JSON `timeline` entries.
//!
//! Elements a reader (or a test) may look up carry machine-readable
//! attributes: `data-at` (RFC 3339 UTC, the JSON's format), `data-side`
//! (`client`/`server`), and `data-reason` (a reason code) or `data-mark`
//! (`retransmission`, `zero_window`, `ping`, `ping_unanswered`, `fin`,
//! `rst`, `close`, `trouble_began`, ...) or `data-event` (a timeline
//! entry's `event`). A reason's `data-at` is its JSON `since` (when the
//! condition began); its `data-threshold-at` is `since` + the evidence's
//! `threshold_s` (when the rule's threshold was passed), empty when the
//! rule has no threshold.

use std::fmt::Write;

use super::esc;
use super::series::{Bucket, Series, MAX_BUCKETS};
use crate::report::findings::ConnectionFindings;
use crate::side::Side;
use crate::time::{Span, Timestamp};

const WIDTH: f64 = 1120.0;
const LEFT: f64 = 190.0;
const PLOT: f64 = WIDTH - LEFT - 20.0;
/// Rough width of one character of the 11 px labels, to keep them inside.
const CHAR: f64 = 6.5;

struct Canvas<'a> {
    s: &'a Series,
    out: String,
}

impl Canvas<'_> {
    fn x(&self, t: Timestamp) -> f64 {
        let span = self.s.end.since(self.s.start).secs_f64();
        if span <= 0.0 {
            return LEFT;
        }
        let f = t.since(self.s.start).secs_f64() / span;
        LEFT + f.clamp(0.0, 1.0) * PLOT
    }

    /// A label at `x`, kept inside the plot: anchored at its end when it
    /// would run past the right edge.
    fn label(&mut self, x: f64, y: f64, class: &str, text: &str) {
        let w = text.chars().count() as f64 * CHAR;
        let (x, anchor) = if x + w <= WIDTH - 4.0 {
            (x + 3.0, "start")
        } else if x - w >= 4.0 {
            (x - 3.0, "end")
        } else {
            ((WIDTH - 4.0 - w).max(4.0), "start")
        };
        let _ = writeln!(
            self.out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
            esc(text)
        );
    }

    fn lane(&mut self, y: f64, h: f64, title: &str) {
        let _ = writeln!(
            self.out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\"/><text class=\"lane\" x=\"6\" y=\"{:.1}\">{}</text>",
            y + h / 2.0 + 4.0,
            esc(title),
            b = y + h,
            r = LEFT + PLOT,
        );
    }
}

fn at(t: Timestamp) -> String {
    esc(&t.to_string())
}

fn clock(t: Timestamp) -> String {
    let s = t.to_string();
    // 2026-11-24T16:27:08.439091Z → 16:27:08.439
    s.get(11..23).unwrap_or(&s).to_string()
}

/// A step between axis ticks giving about ten ticks over `span` seconds.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 10.0).max(1e-6);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

/// The SVG of `c`'s timeline from `s` (finished).
pub fn timeline(c: &ConnectionFindings, s: &Series) -> String {
    let j = &c.judged;
    let mut cv = Canvas {
        s,
        out: String::new(),
    };
    let reasons_h = 8.0 + 16.0 * (j.reasons.len() + j.notes.len()).max(1) as f64;
    let axis_y = reasons_h + 14.0;
    let frames_y = axis_y + 10.0;
    let frames_h = 44.0;
    let pings_y = frames_y + 2.0 * frames_h + 8.0;
    let pings_h = 70.0;
    let tcp_y = pings_y + pings_h + 8.0;
    let tcp_h = 74.0;
    let entries_y = tcp_y + 2.0 * tcp_h + 8.0;
    let height = entries_y + 62.0;
    let _ = writeln!(
        cv.out,
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" data-start=\"{}\" data-end=\"{}\"><title>Connection #{} from {} to {}</title>",
        at(s.start),
        at(s.end),
        c.id,
        at(s.start),
        at(s.end)
    );
    axis(&mut cv, axis_y, height);
    // Reason and note spans first, so everything else draws over them.
    let judged = j.judged_at;
    for r in j.reasons.iter() {
        let (x0, x1) = (cv.x(r.since), cv.x(judged.max(r.since)));
        let _ = writeln!(
            cv.out,
            "<rect class=\"span\" x=\"{x0:.1}\" y=\"{axis_y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            (x1 - x0).max(1.0),
            entries_y - axis_y
        );
    }
    for (i, (r, kind)) in j
        .reasons
        .iter()
        .map(|r| (r, "reason"))
        .chain(j.notes.iter().map(|n| (n, "note")))
        .enumerate()
    {
        let x = cv.x(r.since);
        let y = 16.0 * (i + 1) as f64;
        let side = r.side.map_or("", |s| s.name());
        // Where the rule's threshold was passed: `since` + `threshold_s`.
        let passed = r.evidence.threshold_s.and_then(|t| {
            let t = Span::from_nanos((t * 1e9) as i64);
            r.since.checked_add(t)
        });
        let _ = writeln!(
            cv.out,
            "<g class=\"{kind}\" data-reason=\"{}\" data-side=\"{side}\" data-at=\"{}\" data-threshold-at=\"{}\"><title>{}</title><line class=\"reasonline\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{entries_y:.1}\"/>",
            r.code.name(),
            at(r.since),
            passed.map_or(String::new(), at),
            esc(&r.detail),
            y - 10.0
        );
        let mut text = format!(
            "{}{} from {}",
            if kind == "note" { "note " } else { "" },
            r.label(),
            clock(r.since)
        );
        if let Some(p) = passed {
            let px = cv.x(p);
            let _ = write!(
                cv.out,
                "<line class=\"wait\" x1=\"{x:.1}\" y1=\"{yy:.1}\" x2=\"{px:.1}\" y2=\"{yy:.1}\"/><circle class=\"passed\" cx=\"{px:.1}\" cy=\"{yy:.1}\" r=\"2.5\"><title>threshold passed at {}</title></circle>",
                clock(p),
                yy = y + 3.5,
            );
            let _ = write!(text, ", a reason at {}", clock(p));
        }
        cv.label(x, y, "reason", &text);
        cv.out.push_str("</g>\n");
    }
    if let Some(first) = j.reasons.iter().map(|r| r.since).min() {
        let x = cv.x(first);
        let _ = write!(
            cv.out,
            "<g data-mark=\"trouble_began\" data-at=\"{}\"><line class=\"reasonline\" x1=\"{x:.1}\" y1=\"{axis_y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
            at(first),
            entries_y
        );
        cv.label(
            x,
            axis_y + 10.0,
            "reason",
            &format!("trouble began {}", clock(first)),
        );
        cv.out.push_str("</g>\n");
    }
    for (k, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let y = frames_y + k as f64 * frames_h;
        cv.lane(
            y,
            frames_h,
            &format!("{} frames sent", capital(side.name())),
        );
        frames(&mut cv, side, y, frames_h);
    }
    cv.lane(pings_y, pings_h, "Ping → Pong");
    pings(&mut cv, pings_y, pings_h);
    for (k, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let y = tcp_y + k as f64 * tcp_h;
        cv.lane(y, tcp_h, &format!("{} TCP", capital(side.name())));
        tcp(&mut cv, side, y, tcp_h);
    }
    cv.lane(entries_y, 54.0, "Timeline entries");
    entries(&mut cv, c, entries_y);
    if s.dropped > 0 {
        let _ = writeln!(
            cv.out,
            "<text class=\"lane\" x=\"6\" y=\"{:.1}\">{} marks left out (bounds)</text>",
            height - 4.0,
            s.dropped
        );
    }
    cv.out.push_str("</svg>\n");
    cv.out
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// A reason code in words: `ping_unanswered` → "ping unanswered".
fn plain(code: &str) -> String {
    code.replace('_', " ")
}

fn axis(cv: &mut Canvas<'_>, y: f64, height: f64) {
    let span = cv.s.end.since(cv.s.start).secs_f64();
    let step = tick_step(span);
    let _ = writeln!(
        cv.out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"lane\" x=\"6\" y=\"{:.1}\">from {} UTC</text>",
        LEFT + PLOT,
        y - 2.0,
        clock(cv.s.start)
    );
    let mut k = 0u32;
    loop {
        let secs = f64::from(k) * step;
        if secs > span + 1e-9 || k > 40 {
            break;
        }
        let x = LEFT + if span > 0.0 { secs / span * PLOT } else { 0.0 };
        let digits = if step >= 1.0 { 0 } else { 3 };
        let _ = writeln!(
            cv.out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">+{secs:.digits$}s</text>",
            height - 8.0,
            y - 2.0
        );
        k += 1;
    }
}

fn frames(cv: &mut Canvas<'_>, side: Side, y: f64, h: f64) {
    let most =
        cv.s.buckets
            .iter()
            .map(|b| b[Side::Client].data_frames.max(b[Side::Server].data_frames))
            .chain(cv.s.buckets.iter().map(|b| {
                b[Side::Client]
                    .control_frames
                    .max(b[Side::Server].control_frames)
            }))
            .max()
            .unwrap_or(0)
            .max(1);
    let w = (PLOT / MAX_BUCKETS as f64).max(1.0);
    for i in 0..MAX_BUCKETS {
        let b = cv.s.buckets[i][side];
        if b.data_frames == 0 && b.control_frames == 0 {
            continue;
        }
        let x = cv.x(cv.s.bucket_start(i));
        let base = y + h - 2.0;
        let dh = f64::from(b.data_frames) / f64::from(most) * (h - 8.0);
        let ch = f64::from(b.control_frames) / f64::from(most) * (h - 8.0);
        let _ = write!(
            cv.out,
            "<rect class=\"data\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{dh:.1}\"><title>{} data frames, {} bytes; {} control frames</title></rect>",
            base - dh,
            b.data_frames,
            b.data_bytes,
            b.control_frames,
        );
        if b.control_frames > 0 {
            let _ = write!(
                cv.out,
                "<rect class=\"control\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{ch:.1}\"/>",
                base - dh - ch
            );
        }
        cv.out.push('\n');
    }
}

fn pings(cv: &mut Canvas<'_>, y: f64, h: f64) {
    let mut labelled = 0;
    for a in &cv.s.arcs.clone() {
        // The client's Pings on the upper row, the server's on the lower.
        let row = match a.side {
            Side::Client => y + 18.0,
            Side::Server => y + h - 14.0,
        };
        let x0 = cv.x(a.ping);
        let side = a.side.name();
        match a.pong {
            Some(pong) => {
                let x1 = cv.x(pong);
                let ms = pong.since(a.ping).secs_f64() * 1e3;
                let lift = if a.side == Side::Client { -12.0 } else { 12.0 };
                let _ = writeln!(
                    cv.out,
                    "<g data-mark=\"ping\" data-side=\"{side}\" data-at=\"{}\" data-pong-at=\"{}\"><title>Ping from the {side} at {}, Pong after {ms:.1} ms</title><circle class=\"ping\" cx=\"{x0:.1}\" cy=\"{row:.1}\" r=\"2.5\"/><path class=\"arc\" d=\"M{x0:.1},{row:.1} Q{:.1},{:.1} {:.1},{row:.1}\"/></g>",
                    at(a.ping),
                    at(pong),
                    clock(a.ping),
                    (x0 + x1) / 2.0,
                    row + 2.0 * lift,
                    x1.max(x0 + 1.5)
                );
                if cv.s.arcs.len() <= 24 {
                    cv.label(x0, row + lift * 0.2 + 4.0, "", &format!("{ms:.0} ms"));
                }
            }
            None => {
                let x1 = cv.x(cv.s.end);
                let _ = writeln!(
                    cv.out,
                    "<g data-mark=\"ping_unanswered\" data-side=\"{side}\" data-at=\"{}\"><title>Ping from the {side} at {}: no Pong by the end</title><line class=\"wait\" x1=\"{x0:.1}\" y1=\"{row:.1}\" x2=\"{x1:.1}\" y2=\"{row:.1}\"/><path class=\"unanswered\" d=\"M{:.1},{:.1} l8,8 m0,-8 l-8,8\"/>",
                    at(a.ping),
                    clock(a.ping),
                    x0 - 4.0,
                    row - 4.0
                );
                if labelled < 3 {
                    labelled += 1;
                    cv.label(
                        x0 + 4.0,
                        row - 6.0,
                        "warn",
                        &format!("Ping from the {side} unanswered (sent {})", clock(a.ping)),
                    );
                }
                cv.out.push_str("</g>\n");
            }
        }
    }
    if cv.s.arcs.is_empty() {
        cv.label(LEFT, y + h / 2.0 + 4.0, "", "no Ping seen");
    }
}

/// A value per bucket, carried forward from the last reading.
fn carried(
    s: &Series,
    side: Side,
    pick: impl Fn(&Bucket) -> (Option<u32>, Option<u32>),
) -> Vec<Option<u32>> {
    let mut last = None;
    s.buckets
        .iter()
        .map(|b| {
            let (shown, end) = pick(&b[side]);
            let v = shown.or(last);
            if end.is_some() {
                last = end;
            }
            v
        })
        .collect()
}

fn path(cv: &Canvas<'_>, values: &[Option<u32>], y: f64, h: f64, most: u32, close: bool) -> String {
    let mut d = String::new();
    let mut first_x = None;
    let mut last_x = 0.0;
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let x = cv.x(cv.s.bucket_start(i));
        let vy = y + h - 2.0 - f64::from(*v) / f64::from(most.max(1)) * (h - 12.0);
        let _ = write!(
            d,
            "{}{x:.1},{vy:.1} ",
            if first_x.is_none() { "M" } else { "L" }
        );
        let x2 = cv.x(cv.s.bucket_start(i + 1));
        let _ = write!(d, "L{x2:.1},{vy:.1} ");
        first_x.get_or_insert(x);
        last_x = x2;
    }
    if let (true, Some(fx)) = (close, first_x) {
        let _ = write!(
            d,
            "L{last_x:.1},{:.1} L{fx:.1},{:.1} Z",
            y + h - 2.0,
            y + h - 2.0
        );
    }
    d
}

fn tcp(cv: &mut Canvas<'_>, side: Side, y: f64, h: f64) {
    let name = side.name();
    let backlog = carried(cv.s, side, |b| (b.backlog_max, b.backlog_last));
    let window = carried(cv.s, side, |b| (b.window_min, b.window_last));
    let most_backlog = backlog.iter().flatten().copied().max().unwrap_or(0);
    let most_window = window.iter().flatten().copied().max().unwrap_or(0);
    for z in cv.s.zero_windows.clone().iter().filter(|z| z.side == side) {
        let x0 = cv.x(z.start);
        let x1 = cv.x(z.end.unwrap_or(cv.s.end));
        let until = z.end.map_or(String::new(), at);
        let _ = writeln!(
            cv.out,
            "<g data-mark=\"zero_window\" data-side=\"{name}\" data-at=\"{}\" data-until=\"{until}\"><title>The {name} advertised a zero window from {}</title><rect class=\"zw\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\"/>",
            at(z.start),
            clock(z.start),
            (x1 - x0).max(2.0)
        );
        cv.label(
            x0,
            y + 22.0,
            "warn",
            &format!("zero window from the {name} (since {})", clock(z.start)),
        );
        cv.out.push_str("</g>\n");
    }
    let d = path(cv, &backlog, y, h, most_backlog, true);
    if !d.is_empty() {
        let _ = writeln!(cv.out, "<path class=\"backlog\" d=\"{d}\"><title>the {name}'s unacknowledged bytes (most {most_backlog})</title></path>");
    }
    let d = path(cv, &window, y, h, most_window, false);
    if !d.is_empty() {
        let _ = writeln!(cv.out, "<path class=\"window\" d=\"{d}\"><title>the window the {name} advertised (most {most_window} bytes)</title></path>");
    }
    cv.label(
        LEFT,
        y + 10.0,
        "",
        &format!("unacked bytes (orange, up to {most_backlog}) · window advertised (blue, up to {most_window})"),
    );
    let mut first = true;
    for i in 0..MAX_BUCKETS {
        let b = cv.s.buckets[i][side];
        let Some(t) = b.first_retransmission else {
            continue;
        };
        let x = cv.x(t);
        let _ = writeln!(
            cv.out,
            "<line class=\"retx\" data-mark=\"retransmission\" data-side=\"{name}\" data-at=\"{}\" data-count=\"{}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{} retransmissions by the {name} from {}</title></line>",
            at(t),
            b.retransmissions,
            y + h - 16.0,
            y + h - 2.0,
            b.retransmissions,
            clock(t)
        );
        if std::mem::take(&mut first) {
            cv.label(
                x,
                y + h - 18.0,
                "warn",
                &format!("{name} retransmits from {}", clock(t)),
            );
        }
    }
    let probes: u32 = cv.s.buckets.iter().map(|b| b[side].probes).sum();
    if probes > 0 {
        let _ = writeln!(
            cv.out,
            "<text x=\"6\" y=\"{:.1}\">{probes} probes sent</text>",
            y + h - 4.0
        );
    }
    for m in cv.s.marks.clone().iter().filter(|m| m.side == side) {
        let x = cv.x(m.at);
        let words = m.kind.words();
        let class = if matches!(m.kind.code(), "fin" | "rst" | "close") {
            "end"
        } else {
            "app"
        };
        let _ = writeln!(
            cv.out,
            "<g data-mark=\"{}\" data-side=\"{name}\" data-at=\"{}\"><title>{words} from the {name} at {}</title><line class=\"{class}\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"currentColor\"/></g>",
            m.kind.code(),
            at(m.at),
            clock(m.at),
            y + h
        );
        if class == "end" {
            cv.label(x, y + 34.0, "", words);
        }
    }
}

fn entries(cv: &mut Canvas<'_>, c: &ConnectionFindings, y: f64) {
    let mut rows = [0.0f64; 4];
    for e in &c.timeline {
        let x = cv.x(e.at);
        let side = e.side.map_or("", |s| s.name());
        let _ = writeln!(
            cv.out,
            "<g data-event=\"{}\" data-side=\"{side}\" data-at=\"{}\"><title>{} {}</title><line class=\"entry\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
            esc(e.event),
            at(e.at),
            clock(e.at),
            esc(&e.detail),
            y + 8.0
        );
        let short = match e.side {
            Some(s) => format!("{} ({})", plain(e.event), s.name()),
            None => plain(e.event),
        };
        // The first of four rows where the label fits after the last one;
        // none: the entry keeps its tick and its tooltip.
        let w = short.chars().count() as f64 * CHAR + 8.0;
        let left = if x + w > WIDTH { x - w } else { x };
        if let Some(row) = (0..4).find(|&r| rows[r] <= left) {
            rows[row] = left + w;
            cv.label(x, y + 18.0 + 11.0 * row as f64, "", &short);
        }
        cv.out.push_str("</g>\n");
    }
}

/// What the marks mean, once per page.
pub const LEGEND: &str = r#"<h2>How to read the timelines</h2>
<dl class="legend">
<dt>Dashed red line</dt><dd>Where a reason (or note) begins: its <code>since</code> in the JSON report; the shaded band runs to the judgement.</dd>
<dt>Frames sent</dt><dd>WebSocket frames each side sent per time slice: data in blue, control (Ping, Pong, Close) in orange.</dd>
<dt>Ping → Pong</dt><dd>A green arc joins a Ping to its Pong, with the latency; a red cross and dashed line mark a Ping no Pong answered.</dd>
<dt>TCP</dt><dd>The side's unacknowledged bytes (orange area), the receive window it advertised (blue line), zero-window spans (red band), retransmissions (red ticks), FIN, RST and Close (purple lines), application heartbeats (teal).</dd>
<dt>Timeline entries</dt><dd>The dated facts of the JSON <code>timeline</code>, with the table under each connection.</dd>
</dl>
<p class="note">Each timeline covers the connection's first packet to its judgement in at most 400 time slices; long connections keep their latest 160 answered Pings and earliest 32 unanswered ones. This page loads nothing from anywhere.</p>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_gets_about_ten_round_ticks_whatever_the_span() {
        assert_eq!(tick_step(25.0), 5.0);
        assert_eq!(tick_step(3600.0), 500.0);
        assert!((tick_step(0.3) - 0.05).abs() < 1e-12);
        for span in [0.001, 0.7, 13.0, 86_400.0] {
            let ticks = span / tick_step(span);
            assert!((2.0..=10.0).contains(&ticks), "{span}s: {ticks} ticks");
        }
    }

    #[test]
    fn a_label_near_the_right_edge_stays_inside_the_picture() {
        let s = Series::new(
            Timestamp::from_nanos(0),
            Timestamp::from_nanos(1_000_000_000),
        );
        for (at, chars) in [(WIDTH - 10.0, 60), (LEFT, 150), (LEFT + 5.0, 10)] {
            let mut cv = Canvas {
                s: &s,
                out: String::new(),
            };
            cv.label(at, 10.0, "", &"m".repeat(chars));
            let x: f64 = cv
                .out
                .split("x=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let w = chars as f64 * CHAR;
            let (left, right) = if cv.out.contains("text-anchor=\"end\"") {
                (x - w, x)
            } else {
                (x, x + w)
            };
            assert!(left >= 0.0 && right <= WIDTH, "{chars} at {at}: {}", cv.out);
        }
    }
}
