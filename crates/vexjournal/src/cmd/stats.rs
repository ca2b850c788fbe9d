//! `vexjournal stats`

use std::io::Write;
use std::process::ExitCode;

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;
use vexfs_journal::json::{format_time, parse_step, rate_to_json};
use vexfs_journal::{JournalReader, RateBy, RateQuery};

use crate::Cli;
use crate::output::{ReportFormat, fit_table, human_bytes, kv_table};
use crate::time::{format_in, parse_time_in, show, zone_label};

/// Show events, segments, bytes on disk, compression and extent; with `--by`, event
/// counts per time bucket instead (answered from the index's per-block counts).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
    /// Count events per time bucket by category, type or agent.
    #[arg(long, value_name = "KEY", value_parser = ["category", "type", "agent"])]
    by: Option<String>,
    /// Bucket width with --by: 30s, 1m, 5m, 1h, 1d or seconds.
    #[arg(long, value_name = "SPAN", default_value = "1m", requires = "by")]
    step: String,
    /// Start of the window with --by (default: an hour before --until); the same TIME
    /// forms as `cat --since` (RFC 3339, 2026-11-21, 10m, 2h, yesterday, @SECONDS).
    #[arg(short = 'S', long, value_name = "TIME", requires = "by")]
    since: Option<String>,
    /// End of the window with --by, exclusive (default: now).
    #[arg(short = 'U', long, value_name = "TIME", requires = "by")]
    until: Option<String>,
    /// Read and show times in UTC instead of the local time zone.
    #[arg(long)]
    utc: bool,
    /// With --by: answer the query this many times and print the times to stderr as
    /// JSON, `{"first_ms":…,"rate_ms":[…]}` (for `cargo xtask bench-rate`).
    #[arg(long, hide = true, default_value_t = 1, requires = "by")]
    repeat: usize,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    if let Some(by) = &args.by {
        return rate(&mut out, &reader, args, by);
    }
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

/// Keys beyond this many are shown one row per (bucket, key) rather than as columns.
const MAX_COLUMNS: usize = 8;

/// `stats --by`: events per bucket.
fn rate(out: &mut impl Write, reader: &JournalReader, args: &Args, by: &str) -> Result<ExitCode> {
    let by: RateBy = by.parse()?;
    let step = parse_step(&args.step).with_context(|| {
        format!(
            "--step {:?}: not a positive span like 30s, 1m, 1h, 1d or seconds",
            args.step
        )
    })?;
    let time = |flag: &str, text: &Option<String>| -> Result<Option<i64>> {
        text.as_deref()
            .map(|t| parse_time_in(t, args.utc).map_err(anyhow::Error::msg))
            .transpose()
            .with_context(|| flag.to_string())
    };
    let until = time("--until", &args.until)?
        .unwrap_or_else(|| vexfs_journal::system_ns(std::time::SystemTime::now()));
    let since = time("--since", &args.since)?.unwrap_or(until.saturating_sub(3_600_000_000_000));
    if since > until {
        bail!(
            "--since ({}) is after --until ({})",
            show(since, args.utc),
            show(until, args.utc)
        );
    }
    let query = RateQuery {
        by,
        step_ns: step,
        since_ns: Some(since),
        until_ns: Some(until),
        visibility: None,
    };
    let started = std::time::Instant::now();
    let mut rate = reader.rate(&query)?;
    if args.repeat > 1 {
        // The first run loads the sealed segments' counts from their index files.
        let first_ms = started.elapsed().as_secs_f64() * 1e3;
        let mut runs_ms = Vec::with_capacity(args.repeat);
        for _ in 1..args.repeat {
            let started = std::time::Instant::now();
            rate = reader.rate(&query)?;
            runs_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        eprintln!("{}", json!({ "first_ms": first_ms, "rate_ms": runs_ms }));
    }
    match args.output {
        ReportFormat::Json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&rate_to_json(&rate))?
            )?;
        }
        ReportFormat::Table => {
            let keys: BTreeSet<&String> =
                rate.buckets.iter().flat_map(|b| b.counts.keys()).collect();
            let name = |k: &str| {
                if k.is_empty() {
                    "(none)".to_string()
                } else {
                    k.to_string()
                }
            };
            let when = |ns: i64| format_in(ns, args.utc, "%Y-%m-%d %H:%M:%S");
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            fit_table(&mut t);
            if keys.len() <= MAX_COLUMNS {
                let mut header = vec![format!("time ({})", zone_label(args.utc))];
                header.extend(keys.iter().map(|k| name(k)));
                header.push("total".into());
                t.set_header(header);
                for b in &rate.buckets {
                    let mut row = vec![when(b.start_ns)];
                    row.extend(
                        keys.iter()
                            .map(|k| b.counts.get(*k).copied().unwrap_or(0).to_string()),
                    );
                    row.push(b.counts.values().sum::<u64>().to_string());
                    t.add_row(row);
                }
            } else {
                // Many keys: one row per bucket and key that has events.
                t.set_header([
                    format!("time ({})", zone_label(args.utc)),
                    by.name().to_string(),
                    "events".into(),
                ]);
                for b in &rate.buckets {
                    for (k, n) in &b.counts {
                        t.add_row([when(b.start_ns), name(k), n.to_string()]);
                    }
                }
            }
            writeln!(out, "{t}")?;
            writeln!(
                out,
                "{} buckets of {}; blocks: {} from the index counts, {} read",
                rate.buckets.len(),
                args.step.trim(),
                rate.blocks_summarised,
                rate.blocks_read
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
