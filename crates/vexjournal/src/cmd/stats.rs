//! `vexjournal stats`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use vexfs_journal::JournalReader;
use vexfs_journal::json::format_time;

use crate::Cli;
use crate::output::{ReportFormat, human_bytes, kv_table};

/// Show events, segments, bytes on disk, compression and extent.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let reader = JournalReader::open(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let s = reader.stats();
    let meta = reader.meta();
    match args.output {
        ReportFormat::Json => {
            let v = json!({
                "journal_id": meta.id,
                "dir": cli.dir,
                "events": s.events,
                "segments": s.segments,
                "blocks": s.blocks,
                "disk_bytes": s.disk_bytes,
                "raw_bytes": s.raw_bytes,
                "stored_bytes": s.stored_bytes,
                "compression": meta.config.compression,
                "compression_ratio": s.compression_ratio,
                "bytes_per_event": if s.events == 0 { 0.0 } else { s.disk_bytes as f64 / s.events as f64 },
                "first_seq": s.first_seq,
                "last_seq": s.last_seq,
                "first_time": s.first_time_ns.map(format_time),
                "last_time": s.last_time_ns.map(format_time),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let rows = vec![
                (
                    "journal".to_string(),
                    format!("{} ({})", cli.dir.display(), meta.id),
                ),
                ("events".into(), s.events.to_string()),
                ("segments".into(), s.segments.to_string()),
                ("blocks".into(), s.blocks.to_string()),
                (
                    "bytes on disk".into(),
                    format!(
                        "{} ({} per event)",
                        human_bytes(s.disk_bytes),
                        if s.events == 0 {
                            "-".into()
                        } else {
                            format!("{:.1} B", s.disk_bytes as f64 / s.events as f64)
                        }
                    ),
                ),
                (
                    "compression".into(),
                    format!(
                        "{} ({:.2}x: {} of records in {})",
                        meta.config.compression,
                        s.compression_ratio,
                        human_bytes(s.raw_bytes),
                        human_bytes(s.stored_bytes)
                    ),
                ),
                (
                    "sequences".into(),
                    format!("{} ..= {}", opt(s.first_seq), opt(s.last_seq)),
                ),
                (
                    "time".into(),
                    format!(
                        "{} .. {}",
                        s.first_time_ns.map_or("-".into(), format_time),
                        s.last_time_ns.map_or("-".into(), format_time)
                    ),
                ),
            ];
            writeln!(out, "{}", kv_table(&rows))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
