//! Output in the format the user asked for: tables for people, JSON for scripts.

use clap::ValueEnum;
use std::borrow::Cow;

use comfy_table::{presets::UTF8_BORDERS_ONLY, ContentArrangement, Table};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// How a column behaves on a narrow terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Short values (names, states, versions): never wrapped or cut.
    Keep,
    /// An identifier: shortened in the middle with an ellipsis, so its start and its unique
    /// end stay visible; in full with `--wide`, in JSON and when piped.
    Id,
    /// A timestamp: an age ("5m ago") on a terminal; in full with `--wide` and when piped.
    Time,
    /// Free text: cut with an ellipsis to the width that is left.
    Text,
}

#[derive(Debug, Clone)]
pub struct Col {
    header: Cow<'static, str>,
    fit: Fit,
    /// 0: always shown; otherwise hidden when the terminal is too narrow, highest first.
    hide: u8,
}

impl Col {
    /// Hidden, highest `rank` first, when the terminal is too narrow for every column.
    pub fn hide(self, rank: u8) -> Self {
        Col { hide: rank, ..self }
    }

    /// A column whose header is only known at run time (an environment's name).
    pub fn named(header: String, fit: Fit) -> Self {
        Col {
            header: Cow::Owned(header),
            fit,
            hide: 0,
        }
    }
}

pub const fn keep(header: &'static str) -> Col {
    Col {
        header: Cow::Borrowed(header),
        fit: Fit::Keep,
        hide: 0,
    }
}
pub const fn id(header: &'static str) -> Col {
    Col {
        header: Cow::Borrowed(header),
        fit: Fit::Id,
        hide: 0,
    }
}
pub const fn when(header: &'static str) -> Col {
    Col {
        header: Cow::Borrowed(header),
        fit: Fit::Time,
        hide: 0,
    }
}
pub const fn text(header: &'static str) -> Col {
    Col {
        header: Cow::Borrowed(header),
        fit: Fit::Text,
        hide: 0,
    }
}

/// A table of rows under typed columns, laid out only when printed: for a terminal (fitted to
/// its width) or for a pipe (every value in full, tab-separated).
#[derive(Debug)]
pub struct Grid {
    cols: Vec<Col>,
    rows: Vec<Vec<String>>,
}

impl Grid {
    pub fn add_row(&mut self, row: Vec<String>) -> &mut Self {
        self.rows.push(row);
        self
    }
}

pub fn table(cols: &[Col]) -> Grid {
    Grid {
        cols: cols.to_vec(),
        rows: Vec::new(),
    }
}

/// Set once from `--wide`: tables show every column and every id in full.
static WIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_wide(wide: bool) {
    WIDE.store(wide, std::sync::atomic::Ordering::Relaxed);
}

fn wide() -> bool {
    WIDE.load(std::sync::atomic::Ordering::Relaxed)
}

fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// The terminal's width: `COLUMNS` when set (as shells and `gh` honour it), else what the
/// terminal reports, else 80.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| (20..=1000).contains(w))
        .or_else(|| Table::new().width().map(usize::from).filter(|w| *w >= 20))
        .unwrap_or(80)
}

const ID_WIDTH: usize = 20;

/// `hello-service-1-2-0-20261127120000-ab12cd` → `hello-serv…000-ab12cd`: the start says what
/// it is, the end tells it from its neighbours.
pub fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return s.to_owned();
    }
    let tail = (max - 1) / 2;
    let head = max - 1 - tail;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// `label value` on one line of a terminal: a value too long for the line is shortened in
/// the middle (whole with `--wide` and when piped).
pub fn field(label: &str, value: &str) {
    let value = if wide() || !stdout_is_terminal() {
        value.to_owned()
    } else {
        shorten(
            value,
            terminal_width().saturating_sub(label.chars().count() + 1),
        )
    };
    println!("{label} {value}");
}

fn age(cell: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(t) = chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S UTC") else {
        return cell.to_owned();
    };
    let secs = (now - t.and_utc()).num_seconds();
    match secs {
        s if s < -60 => format!(
            "in {}",
            crate::parse::format_age(-s).split(' ').next().unwrap_or("")
        ),
        s if s < 60 => "just now".into(),
        s if s < 7 * 86400 => format!(
            "{} ago",
            crate::parse::format_age(s).split(' ').next().unwrap_or("")
        ),
        _ => t.format("%Y-%m-%d").to_string(),
    }
}

/// A list as the user asked for it: JSON (`{"<key>": [...]}`), or a table with one row per
/// item, or `empty` (a line that says what to do) when there is nothing to show.
pub fn listing<T: Serialize>(
    format: Format,
    key: &str,
    items: &[T],
    empty: &str,
    cols: &[Col],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if format == Format::Json {
        return json(&serde_json::json!({ key: items }));
    }
    if items.is_empty() {
        println!("{empty}");
        return Ok(());
    }
    let mut t = table(cols);
    for item in items {
        t.add_row(row(item));
    }
    print(&t);
    Ok(())
}

/// Prints a table. For a pipe: one line per row, tab-separated cells in full, no box drawing
/// (as `gh` does), so `grep`, `cut -f` and `awk -F'\t'` work. For a terminal: fitted to its
/// width — ids shortened, times as ages, free text cut, the least important columns hidden
/// (and named) when the rest would not fit; `--wide` shows everything in full.
pub fn print(g: &Grid) {
    if !stdout_is_terminal() {
        let one_line = |c: &str| c.replace(['\n', '\t'], " ");
        println!(
            "{}",
            g.cols
                .iter()
                .map(|c| c.header.as_ref())
                .collect::<Vec<_>>()
                .join("\t")
        );
        for r in &g.rows {
            println!(
                "{}",
                r.iter().map(|c| one_line(c)).collect::<Vec<_>>().join("\t")
            );
        }
        return;
    }
    let (text, hidden) = render(g, terminal_width(), wide(), chrono::Utc::now());
    println!("{text}");
    if !hidden.is_empty() {
        let note = format!("(--wide shows {} too)", hidden.join(", "));
        let width = terminal_width();
        if note.chars().count() <= width {
            println!("{note}");
        } else {
            println!("(--wide shows {} more columns)", hidden.len());
        }
    }
}

/// The table as a terminal of `width` columns shows it, and the headers of the columns it hid.
fn render(
    g: &Grid,
    width: usize,
    wide: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, Vec<String>) {
    use comfy_table::{ColumnConstraint, Row, Width};
    let cell = |c: &Col, v: &str| -> String {
        let v = v.replace(['\n', '\t'], " ");
        match c.fit {
            _ if wide => v,
            Fit::Id => shorten(&v, ID_WIDTH),
            Fit::Time => age(&v, now),
            Fit::Keep | Fit::Text => v,
        }
    };
    let rows: Vec<Vec<String>> = g
        .rows
        .iter()
        .map(|r| g.cols.iter().zip(r).map(|(c, v)| cell(c, v)).collect())
        .collect();
    // Columns in the order they are given up: highest rank first, rightmost first.
    let mut droppable: Vec<usize> = (0..g.cols.len()).filter(|&i| g.cols[i].hide > 0).collect();
    droppable.sort_by_key(|&i| (std::cmp::Reverse(g.cols[i].hide), std::cmp::Reverse(i)));
    // A column that may be hidden and has nothing to show goes first, without a mention.
    let empty = |i: usize| rows.iter().all(|r| r.get(i).is_none_or(|v| v.is_empty()));
    let mut shown: Vec<usize> = (0..g.cols.len())
        .filter(|&i| wide || g.cols[i].hide == 0 || !empty(i))
        .collect();
    droppable.retain(|i| shown.contains(i));
    let mut hidden = Vec::new();
    let len = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |v| v.chars().count()))
            .fold(g.cols[i].header.chars().count(), usize::max)
    };
    loop {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY)
            .set_truncation_indicator("…");
        let mut header = Row::from(shown.iter().map(|&i| g.cols[i].header.as_ref()));
        header.max_height(1);
        t.set_header(header);
        for r in &rows {
            let mut row = Row::from(shown.iter().map(|&i| r.get(i).cloned().unwrap_or_default()));
            row.max_height(1);
            t.add_row(row);
        }
        if wide {
            t.set_content_arrangement(ContentArrangement::Disabled);
            return (t.to_string(), hidden);
        }
        // Widths decided here, not by comfy-table: everything but free text at its full width,
        // free text at least its header's width, the rest of the line shared among it.
        let natural: Vec<usize> = shown.iter().map(|&i| len(i)).collect();
        let is_text: Vec<bool> = shown.iter().map(|&i| g.cols[i].fit == Fit::Text).collect();
        let mut w: Vec<usize> = natural
            .iter()
            .zip(&shown)
            .zip(&is_text)
            .map(|((&n, &i), &text)| {
                if text {
                    n.min(g.cols[i].header.chars().count().max(4))
                } else {
                    n
                }
            })
            .collect();
        // Borders (2), one space each side of every cell, and the (blank) line between cells.
        let avail = width.saturating_sub(2 + 3 * shown.len() - 1);
        let used: usize = w.iter().sum();
        if used > avail {
            if let Some(next) = (!droppable.is_empty()).then(|| droppable.remove(0)) {
                shown.retain(|&i| i != next);
                hidden.push(g.cols[next].header.to_string());
                continue;
            }
        }
        let mut spare = avail.saturating_sub(used);
        while spare > 0 {
            let mut gave = false;
            for k in 0..w.len() {
                if spare > 0 && is_text[k] && w[k] < natural[k] {
                    w[k] += 1;
                    spare -= 1;
                    gave = true;
                }
            }
            if !gave {
                break;
            }
        }
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_constraints(w.iter().map(|&n| {
            // comfy-table's widths include the cell's padding (one space each side).
            ColumnConstraint::Absolute(Width::Fixed(u16::try_from(n + 2).unwrap_or(u16::MAX)))
        }));
        return (t.to_string(), hidden);
    }
}

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Bytes for people: 1.5 MiB.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let mut g = table(&[
            keep("ENVIRONMENT"),
            keep("STATUS"),
            id("DEPLOYMENT"),
            when("FINISHED"),
            keep("REQUESTED BY").hide(1),
            text("COMMENT").hide(2),
            text("ERROR"),
        ]);
        g.add_row(vec![
            "staging".into(),
            "succeeded".into(),
            "hello-service-1-2-0-20261127120000-ab12cd".into(),
            "2026-11-27 11:55:00 UTC".into(),
            "arn:aws:sts::123456789012:assumed-role/Deployer/alice".into(),
            "looks fine to me, the plan only adds one resource".into(),
            String::new(),
        ]);
        g
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_narrow_terminal_gets_whole_headers_short_ids_and_no_long_lines() {
        let (text, hidden) = render(&grid(), 80, false, now());
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains("hello-serv…00-ab12cd"), "{text}");
        assert!(text.contains("5m ago"), "{text}");
        for h in ["ENVIRONMENT", "STATUS", "DEPLOYMENT", "FINISHED"] {
            assert!(text.contains(h), "{h} split or hidden: {text}");
        }
        // The least important go first, and are named.
        assert_eq!(
            hidden.first().map(String::as_str),
            Some("COMMENT"),
            "{text}"
        );
        let (wider, none_hidden) = render(&grid(), 200, false, now());
        assert!(
            none_hidden.is_empty() && wider.contains("COMMENT"),
            "{wider}"
        );
    }

    #[test]
    fn wide_shows_everything_in_full() {
        let (text, hidden) = render(&grid(), 80, true, now());
        assert!(hidden.is_empty());
        assert!(
            text.contains("hello-service-1-2-0-20261127120000-ab12cd"),
            "{text}"
        );
        assert!(text.contains("2026-11-27 11:55:00 UTC"), "{text}");
        assert!(text.contains("assumed-role/Deployer/alice"), "{text}");
    }

    #[test]
    fn ids_keep_their_start_and_end() {
        assert_eq!(shorten("short", 20), "short");
        assert_eq!(shorten("abcdefghijklmnopqrstuvwxyz", 9), "abcd…wxyz");
        assert_eq!(shorten("αβγδεζηθικλμ", 5), "αβ…λμ");
    }
}
