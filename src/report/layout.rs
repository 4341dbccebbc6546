//! How a table meets its reader's screen: its width (columns left out,
//! then cells wrapped, so a line never runs past the terminal), and its
//! length (past a screenful, the `alive` rows are counted, not listed).

use std::io::IsTerminal;

use super::Row;
use crate::config::Listing;
use crate::liveness::Verdict;

/// The lines a screen holds when nothing says: a classic terminal's.
pub const DEFAULT_HEIGHT: usize = 24;

/// How a table is laid out.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Colour the verdicts (ANSI), even into a pipe or a file.
    pub color: bool,
    /// Columns of text a line may take; `None`: no limit.
    pub width: Option<usize>,
    /// Lines of a screenful; `None`: list every row whatever the count.
    pub height: Option<usize>,
    /// Which rows the table lists.
    pub listing: Listing,
    /// The report goes to a terminal: JSON is indented for a person to
    /// read rather than laid out a connection per line.
    pub terminal: bool,
}

impl Layout {
    /// No limits: every row, lines as long as they need.
    pub fn unlimited(color: bool) -> Self {
        Layout {
            color,
            width: None,
            height: None,
            listing: Listing::All,
            terminal: false,
        }
    }

    /// For a report written to stdout (`to_stdout`) or a file: `$COLUMNS`
    /// and `$LINES` when set (as shells export them), else the terminal's
    /// size when stdout is one; a file or pipe gets no width limit and
    /// [`DEFAULT_HEIGHT`] lines.
    pub fn for_output(color: bool, listing: Listing, to_stdout: bool) -> Self {
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
        };
        let to_terminal = to_stdout && std::io::stdout().is_terminal();
        let terminal = to_terminal
            .then(terminal_size::terminal_size)
            .flatten()
            .map(|(w, h)| (usize::from(w.0), usize::from(h.0)));
        Layout {
            color,
            width: env("COLUMNS").or(terminal.map(|t| t.0)),
            height: Some(
                env("LINES")
                    .or(terminal.map(|t| t.1))
                    .unwrap_or(DEFAULT_HEIGHT),
            ),
            listing,
            terminal: to_terminal,
        }
    }
}

/// Lines a row takes: its tallest cell.
fn row_lines(row: &Row) -> usize {
    row.cells
        .iter()
        .map(|c| c.lines().count().max(1))
        .max()
        .unwrap_or(1)
}

/// Past a screenful (`height`, less the borders, header and summary), the
/// default listing leaves out the `alive` rows: returns how many it left
/// out. Other listings keep every row they were given.
pub fn drop_alive_past_screenful(rows: &mut Vec<Row>, layout: &Layout) -> usize {
    let (Listing::Incidents, Some(height)) = (layout.listing, layout.height) else {
        return 0;
    };
    let lines: usize = rows.iter().map(row_lines).sum();
    if lines + 5 <= height {
        return 0;
    }
    let before = rows.len();
    rows.retain(|r| r.verdict != Some(Verdict::Alive));
    before - rows.len()
}

/// Display width of a cell's widest line (one column per char: the table
/// prints no wide characters).
fn cell_width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The narrowest a wrapped column is allowed to become before columns are
/// left out instead.
const MIN_WRAPPED: usize = 32;

/// Width of a condensed UTF-8 table with these columns (a border, then
/// each column's content, its padding and a separator), the `wrap`
/// columns counted at most [`MIN_WRAPPED`] wide.
fn table_width(header: &[&str], rows: &[Row], keep: &[usize], wrap: &[usize]) -> usize {
    1 + keep
        .iter()
        .map(|&i| {
            let cells = rows.iter().map(|r| cell_width(&r.cells[i]));
            let natural = cells.chain([cell_width(header[i])]).max().unwrap_or(0);
            let width = if wrap.contains(&i) {
                natural.min(MIN_WRAPPED)
            } else {
                natural
            };
            width + 3
        })
        .sum::<usize>()
}

/// The columns to print, in order, at `width`: columns are left out in
/// `drop_order` (least needed first) until the table fits, counting the
/// `wrap` columns as wrapped, or only the columns not in `drop_order`
/// remain; the caller wraps what still does not fit.
pub fn columns(
    header: &[&str],
    rows: &[Row],
    width: Option<usize>,
    drop_order: &[usize],
    wrap: &[usize],
) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..header.len()).collect();
    let Some(width) = width else {
        return keep;
    };
    for col in drop_order {
        if table_width(header, rows, &keep, wrap) <= width {
            break;
        }
        keep.retain(|c| c != col);
    }
    keep
}

/// `text` broken at spaces into lines of at most `width` characters (a
/// word longer than that keeps its own line); unchanged without a width.
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapped_lines_never_pass_the_width() {
        let text = "6 WebSocket connections: 3 false_alive, 1 aborted; judged at 2026-11-24T16:32:51.883985Z";
        let wrapped = wrap(text, Some(40));
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        assert_eq!(wrapped.replace('\n', " "), text);
        assert_eq!(wrap(text, None), text);
    }
}
