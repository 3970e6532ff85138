//! Output in the format the user asked for: tables for people, JSON for scripts.

use clap::ValueEnum;
use comfy_table::{presets::UTF8_BORDERS_ONLY, ContentArrangement, Table};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

/// A list as the user asked for it: JSON, or a table with one row per item, or `empty` (a line
/// that says what to do) when there is nothing to show.
pub fn listing<T: Serialize>(
    format: Format,
    items: &[T],
    empty: &str,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if format == Format::Json {
        return json(&items);
    }
    if items.is_empty() {
        println!("{empty}");
        return Ok(());
    }
    let mut t = table(header);
    for item in items {
        t.add_row(row(item));
    }
    print(&t);
    Ok(())
}

/// Prints a table: drawn and fitted to the terminal for people; for a pipe, one line per row
/// with tab-separated cells and no box drawing (as `gh` does), so `grep`, `cut -f` and `awk -F'\t'`
/// work.
pub fn print(t: &Table) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!("{t}");
        return;
    }
    let line = |cells: Vec<String>| cells.join("\t");
    if let Some(h) = t.header() {
        println!("{}", line(h.cell_iter().map(|c| c.content()).collect()));
    }
    for r in t.row_iter() {
        println!(
            "{}",
            line(
                r.cell_iter()
                    .map(|c| c.content().replace('\n', " "))
                    .collect()
            )
        );
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
