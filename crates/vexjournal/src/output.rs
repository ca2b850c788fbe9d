//! Output formats shared by the commands, and where output goes (stdout or a pager).

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use vexfs_journal::json::{FIELDS, to_json};
use vexfs_journal::{Event, StoredEvent};

/// How a command prints events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// One line per event, like journalctl: time (to the second), type[pid], subject,
    /// details.
    Short,
    /// `short` with microseconds.
    ShortPrecise,
    /// One JSON object per line (what `emit` reads).
    Ndjson,
    /// One JSON array (when following: one object per line, as ndjson).
    Json,
    /// An indented JSON array (when following: indented objects one after another).
    JsonPretty,
    /// Only the payload of each event, one per line (with --output-fields: those fields).
    Cat,
    /// An aligned table for people, printed row by row.
    Table,
    /// Raw kernel events (header + 5280-byte context + sections), back to back.
    Kernel,
}

/// How a command prints a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A table for people.
    Table,
    /// JSON.
    Json,
}

/// Settings of an [`EventWriter`] beyond the format.
#[derive(Clone, Debug, Default)]
pub struct OutputOptions {
    /// Show times in UTC instead of the local zone.
    pub utc: bool,
    /// Only these JSON fields (json, ndjson, json-pretty, cat); empty: all.
    pub fields: Vec<String>,
    /// Cut lines of the table and short formats to this many characters.
    pub width: Option<usize>,
    /// An endless stream (follow): JSON formats write objects, not an array.
    pub stream: bool,
}

impl OutputOptions {
    /// Checks the --output-fields names against the JSON schema.
    pub fn check_fields(&self) -> anyhow::Result<()> {
        for f in &self.fields {
            if !FIELDS.contains(&f.as_str()) {
                anyhow::bail!(
                    "--output-fields: unknown field {f:?}; fields are {}",
                    FIELDS.join(", ")
                );
            }
        }
        Ok(())
    }
}

/// The width to fit output to: `$COLUMNS` when set, else the terminal's when stdout is
/// one, else unknown (no cutting).
pub fn output_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(c);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
}

/// Refuses to write binary kernel events to a terminal.
pub fn refuse_binary_to_terminal(format: EventFormat) -> anyhow::Result<()> {
    if format == EventFormat::Kernel && std::io::stdout().is_terminal() {
        anyhow::bail!(
            "refusing to write binary kernel events to a terminal; redirect the output to a \
             file (> events.bin) or a pipe"
        );
    }
    Ok(())
}

/// Fixed widths of the streamed table's first four columns.
const COLS: [usize; 4] = [8, 26, 26, 32];

/// Writes events in `format` as they come, in bounded memory (tables included: rows
/// have fixed column widths and are printed one by one).
pub struct EventWriter<W: Write> {
    out: W,
    format: EventFormat,
    opts: OutputOptions,
    count: usize,
    header_done: bool,
}

impl<W: Write> EventWriter<W> {
    /// Starts the output with default options, fitted to the output's width.
    pub fn new(out: W, format: EventFormat) -> Self {
        let opts = OutputOptions {
            width: output_width(),
            ..OutputOptions::default()
        };
        Self::with_options(out, format, opts)
    }

    /// Starts the output.
    pub fn with_options(out: W, format: EventFormat, opts: OutputOptions) -> Self {
        EventWriter {
            out,
            format,
            opts,
            count: 0,
            header_done: false,
        }
    }

    /// Events written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    fn json(&self, ev: &StoredEvent) -> serde_json::Value {
        let mut v = to_json(ev);
        if !self.opts.fields.is_empty()
            && let serde_json::Value::Object(map) = &mut v
        {
            map.retain(|k, _| k == "seq" || self.opts.fields.iter().any(|f| f == k));
        }
        v
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        match self.opts.width {
            Some(w) if text.chars().count() > w => {
                let cut: String = text.chars().take(w.saturating_sub(1)).collect();
                writeln!(self.out, "{cut}…")
            }
            _ => writeln!(self.out, "{text}"),
        }
    }

    fn table_header(&mut self) -> std::io::Result<()> {
        if self.header_done {
            return Ok(());
        }
        self.header_done = true;
        let time = format!("time ({})", crate::time::zone_label(self.opts.utc));
        let cells = ["seq", time.as_str(), "type", "subject", "details"];
        let header = table_line(&cells);
        let rule: String = header
            .chars()
            .map(|c| if c == '┆' { '┼' } else { '─' })
            .collect();
        self.line(&header)?;
        self.line(rule.trim_end())
    }

    /// Writes one event.
    pub fn write(&mut self, ev: &StoredEvent) -> std::io::Result<()> {
        let json_lines = self.opts.stream && self.format == EventFormat::Json;
        match self.format {
            EventFormat::Ndjson => {
                let v = self.json(ev);
                serde_json::to_writer(&mut self.out, &v)?;
                self.out.write_all(b"\n")?;
            }
            EventFormat::Json if json_lines => {
                let v = self.json(ev);
                serde_json::to_writer(&mut self.out, &v)?;
                self.out.write_all(b"\n")?;
            }
            EventFormat::Json => {
                self.out
                    .write_all(if self.count == 0 { b"[\n  " } else { b",\n  " })?;
                let v = self.json(ev);
                serde_json::to_writer(&mut self.out, &v)?;
            }
            EventFormat::JsonPretty => {
                let text = serde_json::to_string_pretty(&self.json(ev))?;
                if self.opts.stream {
                    writeln!(self.out, "{text}")?;
                } else {
                    self.out
                        .write_all(if self.count == 0 { b"[\n" } else { b",\n" })?;
                    self.out.write_all(text.as_bytes())?;
                }
            }
            EventFormat::Cat => {
                if self.opts.fields.is_empty() {
                    let text = String::from_utf8_lossy(&ev.event.payload);
                    writeln!(self.out, "{text}")?;
                } else {
                    let v = to_json(ev);
                    let parts: Vec<String> = self
                        .opts
                        .fields
                        .iter()
                        .map(|f| match v.get(f) {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        })
                        .collect();
                    writeln!(self.out, "{}", parts.join(" "))?;
                }
            }
            EventFormat::Short | EventFormat::ShortPrecise => {
                let pattern = if self.format == EventFormat::Short {
                    "%b %d %H:%M:%S"
                } else {
                    "%b %d %H:%M:%S%.6f"
                };
                let e = &ev.event;
                let time = crate::time::format_in(e.timestamp.ktime_ns, self.opts.utc, pattern);
                let mut text = format!("{time} {}[{}]:", e.event_type, e.timestamp.process_id);
                for part in [subject(e), details(e)] {
                    if !part.is_empty() {
                        text.push(' ');
                        text.push_str(&part);
                    }
                }
                self.line(&text)?;
            }
            EventFormat::Table => {
                self.table_header()?;
                let row = table_row(ev, self.opts.utc);
                let cells: Vec<&str> = row.iter().map(String::as_str).collect();
                let text = table_line(&cells);
                self.line(&text)?;
            }
            EventFormat::Kernel => {
                let bytes =
                    vexfs_journal_kernel::convert_to_kernel_format(&ev.event).map_err(|e| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("event {} does not fit the kernel format: {e}", ev.seq),
                        )
                    })?;
                self.out.write_all(&bytes)?;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Flushes what was written so far (after each event when following).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// Ends the output (closing a JSON array, so the output is well formed even when
    /// the command then fails); returns the number of events written.
    pub fn finish(mut self) -> std::io::Result<usize> {
        match self.format {
            EventFormat::Json if !self.opts.stream => {
                self.out
                    .write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
            }
            EventFormat::JsonPretty if !self.opts.stream => {
                self.out
                    .write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
            }
            EventFormat::Table => self.table_header()?,
            _ => {}
        }
        self.out.flush()?;
        Ok(self.count)
    }
}

/// One line of the streamed table: fixed-width cells (longer ones push the line
/// right rather than lose text; the terminal width cuts the line instead).
fn table_line(cells: &[&str]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str(" ┆ ");
        }
        match COLS.get(i) {
            Some(&w) if i == 0 => line.push_str(&format!("{cell:>w$}")),
            Some(&w) => line.push_str(&format!("{cell:<w$}")),
            None => line.push_str(cell),
        }
    }
    line.trim_end().to_string()
}

/// Cells of one event in the table format.
pub fn table_row(s: &StoredEvent, utc: bool) -> Vec<String> {
    let ev = &s.event;
    let time = crate::time::format_in(ev.timestamp.ktime_ns, utc, "%Y-%m-%d %H:%M:%S%.6f");
    vec![
        s.seq.to_string(),
        time,
        ev.event_type.to_string(),
        subject(ev),
        details(ev),
    ]
}

pub fn subject(ev: &Event) -> String {
    let c = &ev.context;
    if !c.path.is_empty() {
        c.path.to_string()
    } else if !c.agent_id.is_empty() {
        format!("agent {}", c.agent_id)
    } else if c.vector_id != 0 {
        format!("vector {}", c.vector_id)
    } else if c.graph_node_id != 0 {
        format!("node {}", c.graph_node_id)
    } else {
        String::new()
    }
}

pub fn details(ev: &Event) -> String {
    let c = &ev.context;
    let mut parts = Vec::new();
    if c.inode_number != 0 {
        parts.push(format!("inode={}", c.inode_number));
    }
    if c.transaction_id != 0 {
        parts.push(format!("tx={}", c.transaction_id));
    }
    if c.graph_edge_id != 0 {
        parts.push(format!("edge={}", c.graph_edge_id));
    }
    if c.vector_dimensions != 0 {
        parts.push(format!("dims={}", c.vector_dimensions));
    }
    if !c.agent_intent.is_empty() {
        parts.push(format!("intent={:?}", c.agent_intent.to_string()));
    }
    if c.agent_confidence != 0 {
        parts.push(format!("confidence={}", c.agent_confidence));
    }
    if !ev.payload.is_empty() {
        parts.push(format!("payload={}B", ev.payload.len()));
    }
    parts.join(" ")
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `12.3 M`-style counts.
pub fn human_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `450 ns` / `1.2 µs` / `3.4 ms`.
pub fn human_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.1} ms", ns as f64 / 1e6),
    }
}

/// Lays `t` out for the output: fitted to a known width (never below 40 columns, so a
/// column never shrinks to a character), left as wide as its content otherwise.
pub fn fit_table(t: &mut Table) {
    match output_width() {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(u16::try_from(w.max(40)).unwrap_or(u16::MAX));
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
}

/// A two-column key/value table.
pub fn kv_table(rows: &[(String, String)]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    fit_table(&mut t);
    for (k, v) in rows {
        t.add_row([k.as_str(), v.as_str()]);
    }
    t
}

/// Peak resident memory of this process, bytes (VmHWM).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|k| k * 1024)
}

/// Current resident memory of this process, bytes (VmRSS).
pub fn rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
