//! `vexjournal checkpoint create|list|restore`

use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::Journal;
use vexfs_journal::json::format_time;
use vexfs_journal::layers::recovery::{checkpoint, restore};

use crate::Cli;
use crate::output::{ReportFormat, kv_table};

/// Checkpoints: durable positions recovery trusts and replay resumes from.
#[derive(Debug, clap::Subcommand)]
pub enum CheckpointCommand {
    /// Take a checkpoint now (opens the journal for writing).
    Create {
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
    match cmd {
        CheckpointCommand::Create { output } => {
            let journal = Journal::open_existing_with(&cli.dir, Default::default(), 0)
                .with_context(|| format!("opening {}", cli.dir.display()))?;
            let started = std::time::Instant::now();
            let info = journal.create_checkpoint()?;
            let took = started.elapsed();
            journal.close()?;
            match output {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&info)?),
                ReportFormat::Table => println!(
                    "checkpoint {} at sequence {} ({} block(s) of the open segment recorded) in {:.2} ms",
                    info.id,
                    info.durable_seq,
                    checkpoint::load(&cli.dir, info.id)
                        .map(|c| c.blocks.len())
                        .unwrap_or(0),
                    took.as_secs_f64() * 1e3
                ),
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
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                ReportFormat::Table => {
                    if all.is_empty() {
                        println!("no checkpoints");
                    }
                    let rows: Vec<(String, String)> = all
                        .iter()
                        .map(|c| match c {
                            Ok(i) => (
                                i.id.to_string(),
                                format!(
                                    "{}  durable up to {}  segment {} (+{} bytes)  consumers {:?}",
                                    format_time(i.created_ns),
                                    i.durable_seq,
                                    i.segment_first_seq,
                                    i.segment_end,
                                    i.consumers
                                ),
                            ),
                            Err((p, why)) => (p.display().to_string(), format!("DAMAGED: {why}")),
                        })
                        .collect();
                    if !rows.is_empty() {
                        println!("{}", kv_table(&rows));
                    }
                }
            }
        }
        CheckpointCommand::Restore { id, rollback } => {
            let r = restore(&cli.dir, *id, *rollback)
                .with_context(|| format!("restoring {} from checkpoint {id}", cli.dir.display()))?;
            let mut rows = vec![
                (
                    "checkpoint".to_string(),
                    format!(
                        "{} (durable up to {})",
                        r.checkpoint.id, r.checkpoint.durable_seq
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
            println!("{}", kv_table(&rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}
