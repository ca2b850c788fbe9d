//! `vexjournal verify`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vexfs_journal::admin::ProblemKind;
use vexfs_journal::{VerifyOptions, verify};

use crate::Cli;
use crate::output::{ReportFormat, human_bytes, kv_table};

/// Check the whole journal: every block's checksums and structure, sequence
/// continuity, footers and indexes against the blocks, checkpoints. Exit status 0
/// only when clean.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also decode every event and re-encode it (must give the same bytes).
    #[arg(long)]
    deep: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("  verify {bar:30} {pos}/{len} segments")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = verify(
        &cli.dir,
        VerifyOptions { deep: args.deep },
        |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )
    .with_context(|| format!("verifying {}", cli.dir.display()))?;
    bar.finish_and_clear();
    match args.output {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        ReportFormat::Table => {
            let rows = vec![
                ("journal".to_string(), cli.dir.display().to_string()),
                (
                    "checked".into(),
                    format!(
                        "{} segment(s), {} block(s), {} events, {}{}",
                        report.segments.len(),
                        report.blocks,
                        report.events,
                        human_bytes(report.bytes),
                        if report.deep {
                            ", every event re-encoded"
                        } else {
                            ""
                        }
                    ),
                ),
                ("problems".into(), report.problems.len().to_string()),
                ("notes".into(), report.notes.len().to_string()),
                (
                    "time".into(),
                    format!("{:.1} ms", report.elapsed.as_secs_f64() * 1e3),
                ),
            ];
            writeln!(out, "{}", kv_table(&rows))?;
            for p in &report.problems {
                writeln!(out, "PROBLEM {p}")?;
            }
            if report
                .problems
                .iter()
                .any(|p| p.kind == ProblemKind::Checkpoint)
            {
                writeln!(
                    out,
                    "hint    a damaged checkpoint is only a lost shortcut: remove it with \
                     `vexjournal checkpoint delete --damaged`"
                )?;
            }
            for n in report.notes.iter().take(20) {
                writeln!(
                    out,
                    "note    {} at byte {}: {}",
                    n.path.display(),
                    n.offset,
                    n.detail
                )?;
            }
            if report.notes.len() > 20 {
                writeln!(out, "note    … {} more", report.notes.len() - 20)?;
            }
            writeln!(
                out,
                "{}",
                if report.is_clean() {
                    "clean"
                } else {
                    "NOT CLEAN: recover with `vexjournal recover --mode salvage`, or restore a checkpoint"
                }
            )?;
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
