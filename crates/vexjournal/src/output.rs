//! Output formats shared by the commands.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use vexfs_journal::json::{format_time, to_json};
use vexfs_journal::{Event, StoredEvent};

/// How a command prints events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// One JSON object per line (what `emit` reads).
    Ndjson,
    /// One JSON array.
    Json,
    /// An aligned table for people.
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

/// Writes events in `format` as they come.
pub struct EventWriter<W: Write> {
    out: W,
    format: EventFormat,
    count: usize,
    table: Option<Table>,
}

impl<W: Write> EventWriter<W> {
    /// Starts the output.
    pub fn new(out: W, format: EventFormat) -> Self {
        let table = (format == EventFormat::Table).then(|| {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["seq", "time (UTC)", "type", "subject", "details"]);
            t
        });
        EventWriter {
            out,
            format,
            count: 0,
            table,
        }
    }

    /// Writes one event.
    pub fn write(&mut self, ev: &StoredEvent) -> std::io::Result<()> {
        match self.format {
            EventFormat::Ndjson => {
                serde_json::to_writer(&mut self.out, &to_json(ev))?;
                self.out.write_all(b"\n")?;
            }
            EventFormat::Json => {
                self.out
                    .write_all(if self.count == 0 { b"[\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut self.out, &to_json(ev))?;
            }
            EventFormat::Table => {
                if let Some(t) = self.table.as_mut() {
                    t.add_row(table_row(ev));
                }
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

    /// Ends the output; returns the number of events written.
    pub fn finish(mut self) -> std::io::Result<usize> {
        match self.format {
            EventFormat::Json => {
                self.out
                    .write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
            }
            EventFormat::Table => {
                if let Some(t) = self.table.take() {
                    writeln!(self.out, "{t}")?;
                }
            }
            EventFormat::Ndjson | EventFormat::Kernel => {}
        }
        self.out.flush()?;
        Ok(self.count)
    }
}

/// Cells of one event in the table format.
pub fn table_row(s: &StoredEvent) -> Vec<String> {
    let ev = &s.event;
    let time = format_time(ev.timestamp.ktime_ns);
    let time = time.replace('T', " ");
    let time = time.trim_end_matches('Z').to_string();
    vec![
        s.seq.to_string(),
        time.chars().take(26).collect(),
        ev.event_type.to_string(),
        subject(ev),
        details(ev),
    ]
}

fn subject(ev: &Event) -> String {
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

fn details(ev: &Event) -> String {
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

/// A two-column key/value table.
pub fn kv_table(rows: &[(String, String)]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
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
