//! `vexjournal recover`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::admin::ProblemKind;
use vexfs_journal::admin::checkpoint;
use vexfs_journal::{JournalError, RecoveryMode, VerifyOptions, verify};

use crate::Cli;
use crate::output::{ReportFormat, human_bytes, kv_table};

/// Open the journal with a recovery mode, repair it as the mode allows, report, close.
///
/// tolerate-tail (default) cuts a torn tail; absolute refuses on any inconsistency
/// and changes nothing; salvage keeps every intact block wherever the damage is.
/// Outside salvage, damaged blocks left in sealed segments are named and the exit
/// status is 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recovery mode.
    #[arg(long, default_value = "tolerate-tail", value_parser = ["tolerate-tail", "absolute", "salvage"])]
    mode: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
    /// --dir is a coordinator's directory: recover each of its participant journals
    /// (from its participants file, or --participant), then its log; deliver or abort
    /// every transaction left open; check consistency across them. A participant that
    /// cannot be recovered is named; its transactions stay in doubt, the others are
    /// decided everywhere else.
    #[arg(long)]
    coordinated: bool,
    /// With --coordinated: a participant journal, as NAME=DIR (repeatable).
    #[arg(
        long = "participant",
        value_name = "NAME=DIR",
        requires = "coordinated"
    )]
    participants: Vec<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mode: RecoveryMode = args.mode.parse().map_err(anyhow::Error::msg)?;
    if args.coordinated {
        return coordinated(cli, args, mode);
    }
    let journal = match cli.open_existing_with(&cli.dir, mode, 0) {
        Ok(j) => j,
        Err(e) => {
            if let Some(JournalError::Recovery(
                vexfs_journal::admin::RecoveryError::Inconsistent(report),
            )) = e.downcast_ref::<JournalError>()
            {
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
            return Err(e).with_context(|| format!("recovering {}", cli.dir.display()));
        }
    };
    let r = journal.recovery_report().clone();
    journal.close()?;
    // Opening trusts sealed segments' footers and reads none of their blocks: look at
    // them, so damage there is reported now rather than found by a later read.
    let damaged: Vec<String> = if matches!(mode, RecoveryMode::Salvage) {
        Vec::new()
    } else {
        let options = VerifyOptions {
            key: cli.key()?,
            ..VerifyOptions::default()
        };
        verify(&cli.dir, options, |_, _| {})
            .with_context(|| format!("checking the blocks of {}", cli.dir.display()))?
            .problems
            .iter()
            .filter(|p| {
                matches!(
                    p.kind,
                    ProblemKind::Block | ProblemKind::Header | ProblemKind::Footer
                )
            })
            .map(|p| {
                format!(
                    "{} {}{}{}: {}",
                    match p.kind {
                        ProblemKind::Header => "damaged header of",
                        ProblemKind::Footer => "damaged footer of",
                        _ => "damaged block in",
                    },
                    p.path.display(),
                    p.offset.map_or(String::new(), |o| format!(" at byte {o}")),
                    p.seqs
                        .map_or(String::new(), |(a, b)| format!(" (sequences {a}..={b})")),
                    p.detail
                )
            })
            .collect()
    };
    match args.output {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
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
                // Damaged bytes are set aside in a file; a missing or shortened segment
                // left nothing to set aside.
                let set_aside = s
                    .lost
                    .iter()
                    .filter(|l| !l.saved_to.as_os_str().is_empty())
                    .count();
                let missing = s.lost.len() - set_aside;
                let missing = if missing > 0 {
                    format!(", {missing} missing or shortened segment(s)")
                } else {
                    String::new()
                };
                rows.push((
                    "salvage".into(),
                    format!(
                        "{} segment(s) rewritten, {} block(s) kept, {set_aside} damaged range(s) \
                         set aside{missing} ({} events lost)",
                        s.rewritten.len(),
                        s.blocks_kept,
                        s.events_lost()
                    ),
                ));
                for l in &s.lost {
                    let seqs = l
                        .seqs
                        .map_or(String::new(), |(a, b)| format!(", sequences {a}..={b}"));
                    // A missing or shortened segment left no bytes to set aside: say what
                    // happened instead of an empty byte range and destination.
                    let text = if l.saved_to.as_os_str().is_empty() {
                        format!(
                            "{}{seqs}: {} (no bytes to keep)",
                            l.segment.display(),
                            l.reason
                        )
                    } else {
                        format!(
                            "{} at byte {} ({} bytes){seqs} -> {}",
                            l.segment.display(),
                            l.offset,
                            l.len,
                            l.saved_to.display()
                        )
                    };
                    rows.push(("  lost".into(), text));
                }
                for m in &s.manifest {
                    rows.push(("  manifest".into(), m.clone()));
                }
            }
            for d in &damaged {
                rows.push(("DAMAGED".into(), d.clone()));
            }
            // Recovery skips a damaged checkpoint; it stays until removed.
            for (path, why) in checkpoint::list(&cli.dir)
                .into_iter()
                .filter_map(|c| c.err())
            {
                rows.push((
                    "damaged checkpoint".into(),
                    format!(
                        "{} ({why}): skipped; remove it with `vexjournal checkpoint delete --damaged`",
                        path.display()
                    ),
                ));
            }
            writeln!(out, "{}", kv_table(&rows))?;
        }
    }
    if damaged.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for d in &damaged {
        eprintln!("{d}");
    }
    eprintln!(
        "{} damaged region(s) remain in sealed segments: keep every intact block with \
         `vexjournal recover --mode salvage`",
        damaged.len()
    );
    Ok(ExitCode::FAILURE)
}

/// One participant's recovery, for `recover --coordinated`.
#[derive(Debug, serde::Serialize)]
struct Recovered {
    name: String,
    dir: std::path::PathBuf,
    /// What recovery did, or why it failed.
    report: Option<vexfs_journal::RecoveryReport>,
    error: Option<String>,
}

/// `recover --coordinated`: every participant, then the coordinator, then a check.
fn coordinated(cli: &Cli, args: &Args, mode: RecoveryMode) -> Result<ExitCode> {
    // A missing directory is a wrong --dir, told at once; a damaged log is reported
    // after the participants are recovered.
    if !cli.dir.is_dir() {
        anyhow::bail!(
            "no coordinator directory at {} (--dir must be a coordinator's directory)",
            cli.dir.display()
        );
    }
    let dirs = crate::cmd::tx::participants(&cli.dir, &args.participants)?;
    let steps = dirs.len() + 1;
    let mut recovered = Vec::new();
    for (i, (name, dir)) in dirs.iter().enumerate() {
        eprintln!(
            "[{}/{steps}] recovering participant {name} ({})",
            i + 1,
            dir.display()
        );
        let (report, error) = match cli.open_existing_with(dir, mode, 0) {
            Ok(j) => {
                let r = j.recovery_report().clone();
                match j.close() {
                    Ok(()) => (Some(r), None),
                    Err(e) => (Some(r), Some(format!("closing after recovery: {e}"))),
                }
            }
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        if let Some(e) = &error {
            eprintln!("  cannot be recovered: {e}");
        }
        recovered.push(Recovered {
            name: name.clone(),
            dir: dir.clone(),
            report,
            error,
        });
    }
    eprintln!(
        "[{steps}/{steps}] recovering the coordinator log, resolving open transactions, checking consistency"
    );
    // The log is recovered like a participant first (a torn tail cut, damage handled
    // as --mode says); if it cannot be, nothing is decided: every transaction it held
    // stays undecided (readers wait at it), none half-decided.
    let coordinator = cli
        .open_existing_with(&cli.dir, mode, 0)
        .and_then(|j| Ok(j.close()?))
        .with_context(|| format!("recovering the coordinator log in {}", cli.dir.display()))
        .and_then(|()| crate::cmd::consistency::check_and_repair(&cli.dir, &dirs, true));
    let (report, repaired, coordinator_error) = match coordinator {
        Ok((report, repaired)) => (Some(report), repaired, None),
        Err(e) => {
            eprintln!("  the coordinator cannot be recovered: {e:#}");
            (None, None, Some(format!("{e:#}")))
        }
    };
    let failed = recovered.iter().any(|r| r.error.is_some()) || coordinator_error.is_some();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let v = serde_json::json!({
                "participants": recovered,
                "coordinator_error": coordinator_error,
                "repaired": repaired,
                "consistency": report,
                "consistent": report.as_ref().is_some_and(|r| r.is_consistent()),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            for r in &recovered {
                match (&r.report, &r.error) {
                    (_, Some(e)) => {
                        writeln!(out, "{} ({}): NOT RECOVERED: {e}", r.name, r.dir.display())?
                    }
                    (Some(rep), None) => writeln!(
                        out,
                        "{} ({}): recovered, {} event(s), {}, torn tail cut {}",
                        r.name,
                        r.dir.display(),
                        rep.events_recovered,
                        if rep.clean_shutdown {
                            "clean shutdown"
                        } else {
                            "after a crash"
                        },
                        human_bytes(rep.bytes_cut)
                    )?,
                    (None, None) => {}
                }
            }
            if let Some(e) = &coordinator_error {
                writeln!(
                    out,
                    "coordinator ({}): NOT RECOVERED: {e}\nnothing was decided: the participants' open transactions stay undecided until the log is recovered",
                    cli.dir.display()
                )?;
            }
            if let Some(r) = &repaired {
                crate::cmd::consistency::write_repair(&mut out, r)?;
            }
            if let Some(report) = &report {
                crate::cmd::consistency::write_report(&mut out, report)?;
            }
        }
    }
    out.flush()?;
    Ok(if failed || !report.is_some_and(|r| r.is_consistent()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
