//! `vexjournal recover`

use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{Journal, JournalError, RecoveryMode};

use crate::Cli;
use crate::output::{ReportFormat, human_bytes, kv_table};

/// Open the journal with a recovery mode, repair it as the mode allows, report, close.
///
/// tolerate-tail (default) cuts a torn tail; absolute refuses on any inconsistency
/// and changes nothing; salvage keeps every intact block wherever the damage is.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recovery mode.
    #[arg(long, default_value = "tolerate-tail", value_parser = ["tolerate-tail", "absolute", "salvage"])]
    mode: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mode: RecoveryMode = args.mode.parse().map_err(anyhow::Error::msg)?;
    let journal = match Journal::open_existing_with(&cli.dir, mode, 0) {
        Ok(j) => j,
        Err(JournalError::Recovery(
            vexfs_journal::layers::recovery::RecoveryError::Inconsistent(report),
        )) => {
            eprintln!(
                "absolute mode refuses to open {}: {} problem(s)",
                cli.dir.display(),
                report.problems.len()
            );
            for p in &report.problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| format!("recovering {}", cli.dir.display())),
    };
    let r = journal.recovery_report().clone();
    journal.close()?;
    match args.output {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        ReportFormat::Table => {
            let mut rows = vec![
                ("mode".to_string(), r.mode.to_string()),
                (
                    "previous shutdown".into(),
                    if r.clean_shutdown {
                        "clean".into()
                    } else {
                        "crash (tail scanned)".to_string()
                    },
                ),
                (
                    "checkpoint trusted".into(),
                    r.checkpoint_used.map_or("none".into(), |c| c.to_string()),
                ),
                (
                    "events".into(),
                    format!("{} in {} segment(s)", r.events_recovered, r.segments),
                ),
                (
                    "torn tail cut".into(),
                    format!(
                        "{} {}",
                        human_bytes(r.bytes_cut),
                        r.torn_files
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                (
                    "segments repaired".into(),
                    format!("{} (resealed {})", r.segments_repaired, r.resealed),
                ),
                (
                    "time".into(),
                    format!("{:.1} ms", r.elapsed.as_secs_f64() * 1e3),
                ),
            ];
            if let Some(s) = &r.salvage {
                rows.push(("salvage".into(), format!("{} segment(s) rewritten, {} block(s) kept, {} damaged range(s) set aside ({} events lost)", s.rewritten.len(), s.blocks_kept, s.lost.len(), s.events_lost())));
                for l in &s.lost {
                    rows.push((
                        "  lost".into(),
                        format!(
                            "{} at byte {} ({} bytes){} -> {}",
                            l.segment.display(),
                            l.offset,
                            l.len,
                            l.seqs
                                .map_or(String::new(), |(a, b)| format!(", sequences {a}..={b}")),
                            l.saved_to.display()
                        ),
                    ));
                }
            }
            println!("{}", kv_table(&rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}
