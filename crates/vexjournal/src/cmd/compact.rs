//! `vexjournal compact`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use vexfs_journal::{CompactOptions, EventType, compact};

use crate::Cli;
use crate::cmd::parse_size;
use crate::output::{human_bytes, kv_table};

/// Rewrite sealed segments without what retention allows: whole oldest segments
/// beyond --max-size, events older than --max-age, events of --drop-type. Atomic:
/// a crash leaves the old or the new segments. Needs the journal closed. The open
/// (newest) segment is never compacted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep at most this many bytes of segments: a number of bytes or a size with a
    /// unit (500000, 1MB, 512KiB, 2GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_size: Option<u64>,
    /// Drop events older than this duration (90s, 10m, 12h, 7d, 2w).
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    max_age: Option<std::time::Duration>,
    /// Drop events of this type; repeatable.
    #[arg(long = "drop-type", value_name = "TYPE")]
    drop_types: Vec<String>,
}

/// A duration: a number with a unit (s, m, h, d, w; `7d`, `12h`, `1h30m`).
pub(crate) fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let bad =
        || format!("'{s}' is not a duration: use a number with a unit, as 90s, 10m, 12h, 7d, 2w");
    let span: jiff::Span = s.trim().parse().map_err(|_| bad())?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    std::time::Duration::try_from(d).map_err(|_| bad())
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.max_size.is_none() && args.max_age.is_none() && args.drop_types.is_empty() {
        bail!(
            "nothing to compact: say what to drop with --max-size SIZE, --max-age DURATION \
             or --drop-type TYPE"
        );
    }
    let max_age = args.max_age;
    let drop_types = args
        .drop_types
        .iter()
        .map(|t| t.parse::<EventType>())
        .collect::<Result<Vec<_>, _>>()
        .context("--drop-type")?;
    let options = CompactOptions {
        key: cli.key()?,
        max_total_bytes: args.max_size,
        max_age,
        drop_types,
        now_ns: None,
    };
    let r =
        compact(&cli.dir, &options).with_context(|| format!("compacting {}", cli.dir.display()))?;
    let rows = vec![
        (
            "segments".to_string(),
            format!(
                "{} -> {} ({} rewritten, {} deleted)",
                r.segments_before,
                r.segments_after,
                r.rewritten.len(),
                r.deleted.len()
            ),
        ),
        ("events dropped".into(), r.events_dropped.to_string()),
        (
            "transaction markers kept (never dropped by type or age)".into(),
            r.markers_kept.to_string(),
        ),
        (
            "bytes".into(),
            format!(
                "{} -> {}",
                human_bytes(r.bytes_before),
                human_bytes(r.bytes_after)
            ),
        ),
        (
            "time".into(),
            format!("{:.1} ms", r.elapsed.as_secs_f64() * 1e3),
        ),
    ];
    writeln!(out, "{}", kv_table(&rows))?;
    if r.rewritten.is_empty() && r.deleted.is_empty() {
        let sealed = r.segments_before.saturating_sub(1);
        writeln!(
            out,
            "nothing compacted: {}",
            if sealed == 0 {
                "only sealed segments are compacted and the journal has none (its one \
                 segment is still open)"
                    .to_string()
            } else {
                format!(
                    "nothing in the {sealed} sealed segment(s) is beyond --max-size, older \
                     than --max-age or of a --drop-type type"
                )
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
