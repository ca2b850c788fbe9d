//! `vexjournal verify`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vexfs_journal::admin::ProblemKind;
use vexfs_journal::{VerifyOptions, verify};
use vexfs_journal_seal::SealReport;

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
    /// Also prove that the journal is an append-only extension of this signed tree
    /// head (JSON from `vexjournal seal head`, kept where an attacker cannot reach it):
    /// any edit, removal, reorder, truncation or rewrite of what it covers is reported.
    #[arg(long, requires = "pubkey")]
    trusted_head: Option<PathBuf>,
    /// Check the heads written in the journal (and --trusted-head) with this public
    /// key (PREFIX.pub from `vexjournal seal keygen`).
    #[arg(long)]
    pubkey: Option<PathBuf>,
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
        VerifyOptions {
            deep: args.deep,
            key: cli.key()?,
        },
        |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )
    .with_context(|| format!("verifying {}", cli.dir.display()))?;
    bar.finish_and_clear();
    let seal = match &args.pubkey {
        None => None,
        Some(pubkey) => Some(check_seal(cli, pubkey, args.trusted_head.as_deref())?),
    };
    let clean = report.is_clean() && seal.as_ref().is_none_or(SealReport::is_clean);
    match args.output {
        ReportFormat::Json => {
            let mut v = serde_json::to_value(&report)?;
            if let (Some(seal), Some(obj)) = (&seal, v.as_object_mut()) {
                obj.insert("seal".into(), serde_json::to_value(seal)?);
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?
        }
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
            if let Some(seal) = &seal {
                print_seal(&mut out, seal, args.trusted_head.is_some())?;
            }
            writeln!(
                out,
                "{}",
                if clean {
                    "clean"
                } else if !report.is_clean() {
                    "NOT CLEAN: recover with `vexjournal recover --mode salvage`, or restore a checkpoint"
                } else {
                    "NOT CLEAN: the journal is not what was signed (see the PROBLEM lines): \
                     keep it as evidence; do not repair it"
                }
            )?;
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The seal check: every head in the journal, and the trusted head, against the
/// records.
fn check_seal(cli: &Cli, pubkey: &Path, trusted: Option<&Path>) -> Result<SealReport> {
    let key = vexfs_journal_seal::read_public_key(pubkey)?;
    let trusted = trusted.map(crate::cmd::seal::read_head).transpose()?;
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    Ok(vexfs_journal_seal::verify(&reader, &key, trusted.as_ref())?)
}

fn print_seal(out: &mut impl Write, seal: &SealReport, trusted: bool) -> Result<()> {
    let valid = seal.heads.iter().filter(|h| h.problem.is_none()).count();
    writeln!(
        out,
        "seal    {} record(s); {} of {} head(s) in the journal hold{}",
        seal.records,
        valid,
        seal.heads.len(),
        match &seal.trusted {
            Some(t) if t.problem.is_none() =>
                format!("; the trusted head ({} records) holds", t.tree_size),
            Some(t) => format!("; the trusted head ({} records) does NOT hold", t.tree_size),
            None => String::new(),
        }
    )?;
    for p in &seal.problems {
        writeln!(out, "PROBLEM {p}")?;
    }
    match seal.covered_through {
        Some(last) if seal.covered > 0 => writeln!(
            out,
            "seal    records {}..={last} ({}) are covered by a signature",
            seal.first_seq.unwrap_or(0),
            seal.covered
        )?,
        _ => writeln!(out, "seal    no record is covered by a valid signature")?,
    }
    if seal.undecided_transactions > 0 {
        writeln!(
            out,
            "seal    {} transaction(s) have covered events but no covered decision: \
             whether those events are visible rests on records no signature covers \
             (seal again once they are decided)",
            seal.undecided_transactions
        )?;
    }
    if seal.uncovered() > 0 {
        writeln!(
            out,
            "seal    {} later record(s) are covered by no signature: nothing can tell \
             whether they were changed (a head never covers its own record; \
             `vexjournal seal head` covers the rest)",
            seal.uncovered()
        )?;
    }
    if !trusted {
        writeln!(
            out,
            "note    without --trusted-head, heads in the journal prove only that it was \
             not edited by someone without the key: a removed tail and its heads go \
             unnoticed"
        )?;
    }
    Ok(())
}
