//! `vexjournal checkpoint create|list|delete|restore`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use vexfs_journal::admin::{self, checkpoint, restore_keyed};
use vexfs_journal::json::format_time;

use crate::Cli;
use crate::output::{ReportFormat, kv_table};

/// Checkpoints: durable positions recovery trusts and replay resumes from.
#[derive(Debug, clap::Subcommand)]
pub enum CheckpointCommand {
    /// Take a checkpoint now (opens the journal for writing). Consumer positions of
    /// the previous checkpoint are carried over.
    Create {
        /// Record consumer NAME's position (for `replay --from-checkpoint ID --consumer
        /// NAME`): NAME=SEQ means it has processed every event through SEQ; NAME alone,
        /// through the last durable event. Repeatable.
        #[arg(long, value_name = "NAME[=SEQ]")]
        consumer: Vec<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: ReportFormat,
    },
    /// List checkpoints, newest last; damaged ones are flagged.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: ReportFormat,
    },
    /// Delete checkpoint ID, or with --damaged every checkpoint that does not decode
    /// (needs the journal closed). Recovery then trusts the previous checkpoint.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "damaged"])))]
    Delete {
        /// The checkpoint id.
        #[arg(conflicts_with = "damaged")]
        id: Option<u64>,
        /// Delete every damaged checkpoint (see `checkpoint list`).
        #[arg(long)]
        damaged: bool,
    },
    /// Recover the (closed) journal from checkpoint ID: trust what it recorded and
    /// check only what follows; with --rollback, first move everything after it aside.
    Restore {
        /// The checkpoint id.
        id: u64,
        /// Return the journal to the checkpoint's state (later data is moved into
        /// rolled-back-ID-TIME/, not deleted).
        #[arg(long)]
        rollback: bool,
    },
}

pub fn run(cli: &Cli, cmd: &CheckpointCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        CheckpointCommand::Create { output, consumer } => {
            let journal = cli
                .open_existing_with(&cli.dir, Default::default(), 0)
                .with_context(|| format!("opening {}", cli.dir.display()))?;
            journal.sync()?;
            let last_durable = journal.durable_seq().saturating_sub(1);
            // Positions recorded by the newest readable checkpoint stay recorded.
            if let Some(prev) = checkpoint::latest_valid(&cli.dir, journal.meta().id) {
                for (name, seq) in &prev.consumers {
                    journal.set_consumer_position(name, *seq);
                }
            }
            for c in consumer {
                let (name, seq) = parse_consumer(c, last_durable)?;
                journal.set_consumer_position(name, seq);
            }
            let started = std::time::Instant::now();
            let info = journal.create_checkpoint()?;
            let took = started.elapsed();
            journal.close()?;
            match output {
                ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?,
                ReportFormat::Table => writeln!(
                    out,
                    "checkpoint {} covers {} ({} block(s) of the open segment recorded) in {:.2} ms",
                    info.id,
                    covers(info.durable_through),
                    checkpoint::load(&cli.dir, info.id)
                        .map(|c| c.blocks.len())
                        .unwrap_or(0),
                    took.as_secs_f64() * 1e3
                )?,
            }
        }
        CheckpointCommand::Delete { id, damaged } => {
            let _lock =
                admin::lock(&cli.dir).context("deleting checkpoints needs the journal closed")?;
            let removed = match id {
                Some(id) if !*damaged => vec![checkpoint::delete(&cli.dir, *id)?],
                _ => checkpoint::delete_damaged(&cli.dir)?,
            };
            if removed.is_empty() {
                writeln!(out, "no damaged checkpoints")?;
            }
            for p in removed {
                writeln!(out, "deleted {}", p.display())?;
            }
        }
        CheckpointCommand::List { output } => {
            let all = checkpoint::list(&cli.dir);
            match output {
                ReportFormat::Json => {
                    let v: Vec<serde_json::Value> = all
                        .iter()
                        .map(|c| match c {
                            Ok(i) => serde_json::to_value(i).unwrap_or_default(),
                            Err((p, why)) => serde_json::json!({"path": p, "damaged": why}),
                        })
                        .collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                ReportFormat::Table => {
                    if all.is_empty() {
                        writeln!(out, "no checkpoints")?;
                    }
                    let rows: Vec<(String, String)> = all
                        .iter()
                        .map(|c| match c {
                            Ok(i) => (
                                i.id.to_string(),
                                format!(
                                    "{}  covers {}  open segment from sequence {} ({} bytes)  consumers {}",
                                    format_time(i.created_ns),
                                    covers(i.durable_through),
                                    i.segment_first_seq,
                                    i.segment_end,
                                    if i.consumers.is_empty() {
                                        "-".to_string()
                                    } else {
                                        i.consumers
                                            .iter()
                                            .map(|(n, s)| format!("{n} through {s}"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    }
                                ),
                            ),
                            Err((p, why)) => (
                                p.display().to_string(),
                                format!(
                                    "DAMAGED: {why}; remove it with `vexjournal checkpoint delete --damaged`"
                                ),
                            ),
                        })
                        .collect();
                    if !rows.is_empty() {
                        writeln!(out, "{}", kv_table(&rows))?;
                    }
                }
            }
        }
        CheckpointCommand::Restore { id, rollback } => {
            let r = restore_keyed(&cli.dir, *id, *rollback, cli.key()?.as_ref())
                .with_context(|| format!("restoring {} from checkpoint {id}", cli.dir.display()))?;
            let mut rows = vec![
                (
                    "checkpoint".to_string(),
                    format!(
                        "{} (covers {})",
                        r.checkpoint.id,
                        covers(r.checkpoint.durable_through)
                    ),
                ),
                ("events".into(), r.events.to_string()),
                (
                    "after the checkpoint".into(),
                    if r.rolled_back {
                        "moved aside".into()
                    } else {
                        format!("{} kept (checked)", r.events_after_checkpoint)
                    },
                ),
                ("torn tail cut".into(), format!("{} bytes", r.bytes_cut)),
                (
                    "time".into(),
                    format!("{:.1} ms", r.elapsed.as_secs_f64() * 1e3),
                ),
            ];
            if let Some(m) = &r.moved_to {
                rows.push(("moved to".into(), m.display().to_string()));
            }
            writeln!(out, "{}", kv_table(&rows))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "sequences through N" (inclusive), or that a checkpoint covers no event.
fn covers(through: Option<u64>) -> String {
    through.map_or("no events".into(), |s| {
        format!("events through sequence {s}")
    })
}

/// `NAME=SEQ` or `NAME` (through `last_durable`).
fn parse_consumer(text: &str, last_durable: u64) -> Result<(&str, u64)> {
    let (name, seq) = match text.split_once('=') {
        Some((name, seq)) => {
            let seq = seq.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!("--consumer {text}: '{seq}' is not a sequence number")
            })?;
            (name, seq)
        }
        None => (text, last_durable),
    };
    if name.is_empty() {
        bail!("--consumer {text}: the consumer name is empty");
    }
    if seq > last_durable {
        bail!(
            "--consumer {text}: sequence {seq} is beyond the last durable event ({last_durable})"
        );
    }
    Ok((name, seq))
}
