//! The view on a terminal: redrawn in place at each tick on the terminal's
//! alternate screen (as `top` and `less` use it), so the shell's screen is
//! back as it was when the tap stops and the final report is printed
//! below it.
//!
//! Plain ANSI sequences and comfy-table, which the reports already use:
//! one table refreshed in place needs no terminal UI framework.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::report::live::StatsRecord;
use crate::report::{table, Row, TableKind};
use crate::time::Timestamp;

/// Alternate screen on, cursor hidden, lines cut at the right edge
/// instead of wrapped.
const ENTER: &str = "\x1b[?1049h\x1b[?25l\x1b[?7l";
/// The reverse, in the reverse order.
const LEAVE: &str = "\x1b[?7h\x1b[?25h\x1b[?1049l";

/// Whether a view is up: a second Ctrl-C, which exits at once, must give
/// the terminal back first ([`restore_terminal`]).
static UP: AtomicBool = AtomicBool::new(false);

/// Verdict changes listed under the table.
const RECENT: usize = 5;

/// Gives the terminal back if a view is up; for an exit that skips
/// the view's own close.
pub fn restore_terminal() {
    if UP.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = out.write_all(LEAVE.as_bytes());
        let _ = out.flush();
    }
}

pub struct View {
    title: String,
    color: bool,
    recent: VecDeque<String>,
    warnings: Vec<String>,
}

fn size() -> (usize, usize) {
    terminal_size::terminal_size()
        .map(|(w, h)| (w.0 as usize, h.0 as usize))
        .unwrap_or((120, 40))
}

fn bytes(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
}

impl View {
    /// Takes over the terminal. `title` says what is watched.
    pub fn open(title: String, color: bool) -> View {
        let mut out = io::stdout();
        let _ = out.write_all(ENTER.as_bytes());
        let _ = out.flush();
        UP.store(true, Ordering::SeqCst);
        View {
            title,
            color,
            recent: VecDeque::new(),
            warnings: Vec::new(),
        }
    }

    /// Connection rows that fit under the title, status and recent
    /// changes (a row takes a line at least).
    pub fn rows(&self) -> usize {
        let (_, height) = size();
        height
            .saturating_sub(10 + RECENT + self.warnings.len().min(3))
            .max(1)
    }

    pub fn event(&mut self, line: String) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// Shown under the table while the view is up (the final report
    /// repeats what matters).
    pub fn warn(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    /// Redraws: title, status line, the rows (worst first), `hidden` more
    /// not shown, recent changes, warnings. Everything is cut to the
    /// terminal's height.
    pub fn draw(&mut self, at: Timestamp, s: &StatsRecord, rows: Vec<Row>, hidden: usize) {
        let (width, height) = size();
        let layout = crate::report::layout::Layout {
            width: Some(width),
            ..crate::report::layout::Layout::unlimited(self.color)
        };
        let kernel = match s.capture {
            Some(k) => format!(
                " · kernel: {} received, {} dropped, {} if-dropped",
                k.received, k.dropped, k.if_dropped
            ),
            None => String::new(),
        };
        let not_alive: u64 = s
            .verdicts
            .iter()
            .filter(|(v, _)| !matches!(**v, "alive" | "closed"))
            .map(|(_, n)| n)
            .sum();
        let mut lines = vec![
            format!("{} · {at}", self.title),
            format!(
                "{} packets ({}/s) · {} connections tracked, {} WebSocket not alive · {} retired · {} RSS{kernel}",
                s.packets,
                s.packets_per_s,
                s.connections_open,
                not_alive,
                s.retired,
                s.rss_bytes.map_or("?".into(), bytes),
            ),
            String::new(),
        ];
        let more = if hidden > 0 {
            format!("… {hidden} more connections (alive or closed) not shown")
        } else {
            String::new()
        };
        let mut rendered = Vec::new();
        if rows.is_empty() {
            lines.push("no WebSocket connection yet".into());
        } else if table::write(TableKind::Findings, rows, &layout, &more, &mut rendered).is_ok() {
            lines.extend(String::from_utf8_lossy(&rendered).lines().map(String::from));
        }
        let mut tail = Vec::new();
        if !self.recent.is_empty() {
            tail.push(String::new());
            tail.push("recent changes:".into());
            tail.extend(self.recent.iter().cloned());
        }
        for w in self.warnings.iter().rev().take(3) {
            tail.push(format!("warning: {w}"));
        }
        let room = height.saturating_sub(tail.len() + 1);
        if lines.len() > room {
            lines.truncate(room.saturating_sub(1));
            lines.push("…".into());
        }
        lines.extend(tail);
        let mut screen = String::from("\x1b[H");
        for l in lines.iter().take(height.saturating_sub(1).max(1)) {
            screen.push_str(l);
            screen.push_str("\x1b[K\r\n");
        }
        screen.push_str("\x1b[J");
        let mut out = io::stdout();
        let _ = out.write_all(screen.as_bytes());
        let _ = out.flush();
    }

    /// Gives the terminal back.
    pub fn close(self) {}
}

/// However the view ends (an error included), the terminal is given back.
impl Drop for View {
    fn drop(&mut self) {
        restore_terminal();
    }
}
