//! `vexjournal replay`

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vexfs_journal::json::{format_time, to_json};
use vexfs_journal::{Order, ReplayOptions, ReplayStart};

use super::filters::Filters;
use crate::Cli;
use crate::output::{human_count, kv_table};

/// Output of `replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    /// The events, one JSON object per line.
    Ndjson,
    /// Counts by type, time range, rate and the resume cursor.
    Summary,
}

/// Replay events: full, selective (filters), incremental (after a checkpoint or a
/// cursor), parallel, validated (every checksum re-verified).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: Filters,
    /// Start after checkpoint ID's durable position.
    #[arg(long, value_name = "ID", conflicts_with = "after_cursor")]
    from_checkpoint: Option<u64>,
    /// Start after this consumer's position, as recorded by `checkpoint create
    /// --consumer NAME` (in checkpoint --from-checkpoint, or else the newest
    /// checkpoint that records it).
    #[arg(long, value_name = "NAME", conflicts_with = "after_cursor")]
    consumer: Option<String>,
    /// Start after this cursor.
    #[arg(long, value_name = "CURSOR")]
    after_cursor: Option<String>,
    /// Worker threads reading and checking blocks: 0 (one per core) to 256.
    #[arg(long, default_value_t = 0, value_parser = parse_parallel)]
    parallel: usize,
    /// Re-verify every block and event checksum.
    #[arg(long)]
    validate: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "ndjson")]
    output: ReplayFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening {}", cli.dir.display()))?;
    let start = match (&args.from_checkpoint, &args.consumer, &args.after_cursor) {
        (Some(id), Some(name), _) => ReplayStart::Consumer {
            checkpoint: *id,
            name: name.clone(),
        },
        (Some(id), None, _) => ReplayStart::Checkpoint(*id),
        (None, Some(name), _) => ReplayStart::Consumer {
            checkpoint: newest_recording(&cli.dir, name)?,
            name: name.clone(),
        },
        (None, _, Some(c)) => ReplayStart::After(reader.parse_cursor(c)?),
        _ => ReplayStart::Beginning,
    };
    // Where this replay starts: after this sequence.
    let start_after = start
        .apply(vexfs_journal::Query::default(), &cli.dir, reader.meta().id)?
        .from_seq
        .map_or(0, |f| f.saturating_sub(1));
    let options = ReplayOptions {
        query: args.filters.to_query()?,
        parallelism: args.parallel,
        order: Order::Sequence,
        validate: args.validate,
        ..ReplayOptions::default()
    };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("  replay {bar:30} {pos}/{len} blocks  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = |p: &vexfs_journal::Progress| {
        bar.set_length(p.blocks_total);
        bar.set_position(p.blocks_done);
        bar.set_message(format!("{} events", p.events));
    };
    let cancel = AtomicBool::new(false);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed: Option<std::io::Error> = None;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut times: Option<(i64, i64)> = None;
    let report = match args.output {
        ReplayFormat::Ndjson => {
            reader.replay(options, start, &cancel, &mut progress, &mut |ev| {
                let written = serde_json::to_writer(&mut out, &to_json(&ev))
                    .map_err(std::io::Error::from)
                    .and_then(|_| out.write_all(b"\n"));
                match written {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })?
        }
        ReplayFormat::Summary => {
            reader.replay_views(options, start, &cancel, &mut progress, &mut |v| {
                *by_type.entry(v.event_type().to_string()).or_default() += 1;
                let t = v.header.timestamp.ktime.get();
                times = Some(times.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                true
            })?
        }
    };
    bar.finish_and_clear();
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    drop(out);
    let mut out = std::io::stdout().lock();
    // With nothing (new) to deliver, resume where this replay started.
    let mut report = report;
    report.resume_after = report.resume_after.or(Some(start_after));
    let resume = report.resume_cursor(reader.meta().id).map(|c| c.encode());
    match args.output {
        ReplayFormat::Ndjson => {
            if let Some(c) = &resume {
                eprintln!("cursor: {c}");
            }
        }
        ReplayFormat::Summary => {
            let mut rows = vec![
                (
                    "events".to_string(),
                    format!(
                        "{} from {} block(s){}",
                        report.events,
                        report.blocks,
                        if args.validate {
                            ", every checksum re-verified"
                        } else {
                            ""
                        }
                    ),
                ),
                (
                    "rate".into(),
                    format!(
                        "{} events/s ({:.3} s)",
                        human_count(report.rate()),
                        report.elapsed.as_secs_f64()
                    ),
                ),
                (
                    "time range".into(),
                    times.map_or("-".into(), |(a, b)| {
                        format!("{} .. {}", format_time(a), format_time(b))
                    }),
                ),
                ("resume cursor".into(), resume.unwrap_or_else(|| "-".into())),
            ];
            for (t, n) in &by_type {
                rows.push((format!("  {t}"), n.to_string()));
            }
            writeln!(out, "{}", kv_table(&rows))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Most replay worker threads: more only adds scheduling and memory overhead.
const MAX_PARALLEL: usize = 256;

fn parse_parallel(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_PARALLEL => Ok(n),
        _ => Err(format!(
            "'{s}' is not a thread count from 0 (one per core) to {MAX_PARALLEL}"
        )),
    }
}

/// The newest readable checkpoint that records consumer `name`.
fn newest_recording(dir: &std::path::Path, name: &str) -> Result<u64> {
    vexfs_journal::admin::checkpoint::list(dir)
        .into_iter()
        .rev()
        .flatten()
        .find(|c| c.consumers.iter().any(|(n, _)| n == name))
        .map(|c| c.id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no checkpoint records consumer '{name}': record its position with \
                 `vexjournal checkpoint create --consumer {name}=SEQ`"
            )
        })
}
