//! `vexjournal segments` and `vexjournal disk-usage`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use crate::Cli;
use crate::output::{ReportFormat, fit_table, human_bytes, kv_table};

/// List the segment files, oldest first (like `journalctl --list-boots`): file,
/// sequence range, time range, size and whether each is sealed or still open.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
    /// Show times in UTC instead of the local time zone.
    #[arg(long)]
    utc: bool,
}

/// Show how much disk space the journal takes: segments, indexes, checkpoints and the
/// rest (like `journalctl --disk-usage`).
#[derive(Debug, clap::Args)]
pub struct DiskUsageArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut rows = Vec::new();
    for seg in vexfs_journal::ext::reader_segments(&reader) {
        let size = std::fs::metadata(&seg.path)
            .with_context(|| format!("reading the size of {}", seg.path.display()))?
            .len();
        let (first, last) = (seg.seqs.map(|s| s.0), seg.seqs.map(|s| s.1));
        let (min_time, max_time) = (seg.times.map(|t| t.0), seg.times.map(|t| t.1));
        let events = seg.events;
        rows.push((seg, first, last, events, min_time, max_time, size));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match args.output {
        ReportFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(seg, first, last, events, min_t, max_t, size)| {
                    json!({
                        "file": name(&seg.path),
                        "first_seq": first,
                        "last_seq": last,
                        "events": events,
                        "first_time": min_t.map(vexfs_journal::json::format_time),
                        "last_time": max_t.map(vexfs_journal::json::format_time),
                        "bytes": size,
                        "state": if seg.sealed { "sealed" } else { "open" },
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        ReportFormat::Table => {
            let zone = crate::time::zone_label(args.utc);
            let time = |t: Option<i64>| {
                t.map_or("-".to_string(), |t| {
                    crate::time::format_in(t, args.utc, "%Y-%m-%d %H:%M:%S")
                })
            };
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header([
                "#".to_string(),
                "file".to_string(),
                "sequences".to_string(),
                "events".to_string(),
                format!("first ({zone})"),
                format!("last ({zone})"),
                "size".to_string(),
                "state".to_string(),
            ]);
            fit_table(&mut t);
            for (i, (seg, first, last, events, min_t, max_t, size)) in rows.iter().enumerate() {
                let seqs = match (first, last) {
                    (Some(a), Some(b)) => format!("{a}..={b}"),
                    _ => "(empty)".to_string(),
                };
                t.add_row([
                    i.to_string(),
                    name(&seg.path),
                    seqs,
                    events.to_string(),
                    time(*min_t),
                    time(*max_t),
                    human_bytes(*size),
                    if seg.sealed { "sealed" } else { "open" }.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the files under `dir`, by kind.
#[derive(Default)]
struct Usage {
    segments: u64,
    indexes: u64,
    checkpoints: u64,
    other: u64,
}

fn walk(dir: &Path, in_checkpoints: bool, u: &mut Usage) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let meta = entry
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?;
        let checkpointish = in_checkpoints
            || path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("checkpoint"));
        if meta.is_dir() {
            walk(&path, checkpointish, u)?;
            continue;
        }
        let len = meta.len();
        match path.extension().and_then(|e| e.to_str()) {
            _ if checkpointish => u.checkpoints += len,
            Some("seg") => u.segments += len,
            Some("idx") => u.indexes += len,
            _ => u.other += len,
        }
    }
    Ok(())
}

pub fn disk_usage(cli: &Cli, args: &DiskUsageArgs) -> Result<ExitCode> {
    // Opening first makes sure this is a journal (and names what is wrong if not).
    cli.open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut u = Usage::default();
    walk(&cli.dir, false, &mut u)?;
    let total = u.segments + u.indexes + u.checkpoints + u.other;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let v = json!({
                "dir": cli.dir,
                "total_bytes": total,
                "segment_bytes": u.segments,
                "index_bytes": u.indexes,
                "checkpoint_bytes": u.checkpoints,
                "other_bytes": u.other,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            writeln!(
                out,
                "Journal {} takes up {} on disk.",
                cli.dir.display(),
                human_bytes(total)
            )?;
            let rows = [
                ("segments", u.segments),
                ("indexes", u.indexes),
                ("checkpoints", u.checkpoints),
                ("other", u.other),
                ("total", total),
            ]
            .map(|(k, v)| (k.to_string(), format!("{} ({v} bytes)", human_bytes(v))));
            writeln!(out, "{}", kv_table(&rows))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
