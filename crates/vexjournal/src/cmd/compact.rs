//! `vexjournal compact`

use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{CompactOptions, EventType, compact};

use crate::Cli;
use crate::output::{human_bytes, kv_table};

/// Rewrite sealed segments without what retention allows: whole oldest segments
/// beyond --max-size, events older than --max-age, events of --drop-type. Atomic:
/// a crash leaves the old or the new segments. Needs the journal closed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep at most this many bytes of segments.
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
    /// Drop events older than this (90s, 10m, 2h, 7d, 1w).
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    /// Drop events of this type; repeatable.
    #[arg(long = "drop-type", value_name = "TYPE")]
    drop_types: Vec<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let max_age = args
        .max_age
        .as_deref()
        .map(|a| {
            let now = crate::time::parse_time("now").map_err(anyhow::Error::msg)?;
            let then = crate::time::parse_time(a).map_err(anyhow::Error::msg)?;
            Ok::<_, anyhow::Error>(std::time::Duration::from_nanos(
                u64::try_from(now - then).unwrap_or(0),
            ))
        })
        .transpose()
        .context("--max-age")?;
    let drop_types = args
        .drop_types
        .iter()
        .map(|t| t.parse::<EventType>())
        .collect::<Result<Vec<_>, _>>()
        .context("--drop-type")?;
    let options = CompactOptions {
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
    println!("{}", kv_table(&rows));
    Ok(ExitCode::SUCCESS)
}
