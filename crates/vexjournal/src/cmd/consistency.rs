//! `vexjournal consistency check`: a coordinator's log (`--dir`) against its
//! participant journals (see `docs/coordinator.md`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal_coordinator::consistency::{self, ConsistencyReport, RepairReport};

use crate::Cli;
use crate::cmd::tx::{log, participants};
use crate::output::ReportFormat;

/// Check cross-journal transactions for consistency.
#[derive(Debug, clap::Subcommand)]
pub enum ConsistencyCommand {
    /// Read the coordinator log (--dir) and every participant journal and report what
    /// disagrees: undecided transactions, decisions not delivered, markers that
    /// contradict the log or each other, events of transactions the log does not
    /// know, unexplained sequence gaps, events naming a later event as parent, commit
    /// markers not later than their transaction's events. Exits
    /// 1 when anything is found.
    Check(CheckArgs),
}

/// `consistency check`
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A participant journal, as NAME=DIR (repeatable); overrides what the coordinator
    /// recorded in its participants file.
    #[arg(long = "participant", value_name = "NAME=DIR")]
    participants: Vec<String>,
    /// Fix what is safe, then check again: deliver logged decisions, abort undecided
    /// transactions and orphans (presumed abort). Needs the coordinator and its
    /// participant journals not open in another process.
    #[arg(long)]
    repair: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, command: &ConsistencyCommand) -> Result<ExitCode> {
    match command {
        ConsistencyCommand::Check(a) => check(cli, a),
    }
}

fn check(cli: &Cli, args: &CheckArgs) -> Result<ExitCode> {
    // Refuses a directory that holds no coordinator log.
    log(&cli.dir)?;
    let dirs = participants(&cli.dir, &args.participants)?;
    let (report, repaired) = check_and_repair(&cli.dir, &dirs, args.repair)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let v = serde_json::json!({
                "consistent": report.is_consistent(),
                "report": report,
                "repaired": repaired,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            if let Some(r) = &repaired {
                write_repair(&mut out, r)?;
            }
            write_report(&mut out, &report)?;
        }
    }
    out.flush()?;
    Ok(if report.is_consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks; with `repair`, repairs what the check found and checks again.
pub(crate) fn check_and_repair(
    dir: &std::path::Path,
    dirs: &BTreeMap<String, PathBuf>,
    repair: bool,
) -> Result<(ConsistencyReport, Option<RepairReport>)> {
    let report = consistency::check(dir, dirs)
        .with_context(|| format!("checking the coordinator in {}", dir.display()))?;
    if !repair {
        return Ok((report, None));
    }
    let repaired = consistency::repair(dir, dirs)
        .with_context(|| format!("repairing the coordinator in {}", dir.display()))?;
    let after = consistency::check(dir, dirs)
        .with_context(|| format!("checking the coordinator in {}", dir.display()))?;
    Ok((after, Some(repaired)))
}

fn ids(v: &[u64]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    }
}

pub(crate) fn write_repair(out: &mut impl Write, r: &RepairReport) -> Result<()> {
    writeln!(out, "repaired:")?;
    writeln!(out, "  commit delivered: {}", ids(&r.committed))?;
    writeln!(out, "  aborted: {}", ids(&r.aborted))?;
    for o in &r.orphans_decided {
        writeln!(
            out,
            "  orphan decided {}: {} at {} ({})",
            o.decision.map_or("-", |d| d.as_str()),
            o.tx,
            o.participant,
            o.detail
        )?;
    }
    for d in &r.delivered {
        writeln!(
            out,
            "  decision written: {} {} at {}",
            d.tx,
            d.decision.map_or("-", |d| d.as_str()),
            d.participant
        )?;
    }
    for d in &r.in_doubt {
        writeln!(
            out,
            "  {} decided {}, delivered except to {} (could not be opened; they get it on the next repair)",
            d.tx,
            d.decision,
            d.missing.join(", ")
        )?;
    }
    Ok(())
}

pub(crate) fn write_report(out: &mut impl Write, r: &ConsistencyReport) -> Result<()> {
    writeln!(
        out,
        "{} transaction(s) in the coordinator log; {} participant journal(s)",
        r.log_transactions,
        r.participants.len()
    )?;
    for p in &r.participants {
        match &p.error {
            Some(e) => writeln!(
                out,
                "  {} ({}): cannot be read: {e}",
                p.name,
                p.dir.display()
            )?,
            None => writeln!(
                out,
                "  {} ({}): {} event(s), {} transaction(s)",
                p.name,
                p.dir.display(),
                p.events,
                p.transactions
            )?,
        }
    }
    if r.is_consistent() {
        writeln!(out, "consistent")?;
        return Ok(());
    }
    if !r.undecided.is_empty() {
        writeln!(
            out,
            "undecided (the next open of the coordinator aborts them; --repair does): {}",
            ids(&r.undecided)
        )?;
    }
    let findings = [
        (
            "decision not delivered (--repair delivers it)",
            &r.undelivered,
        ),
        (
            "marker disagrees with the log (not repairable)",
            &r.disagreements,
        ),
        ("conflict within a journal (not repairable)", &r.conflicts),
        (
            "clocks contradict causality (not repairable)",
            &r.clock_order,
        ),
        (
            "events of a transaction the log does not hold (--repair decides it as other participants did, or aborts it)",
            &r.orphans,
        ),
    ];
    for (what, list) in findings {
        for f in list {
            writeln!(
                out,
                "{what}: transaction {} at {}: {}",
                f.tx, f.participant, f.detail
            )?;
        }
    }
    for g in &r.gaps {
        writeln!(
            out,
            "sequence gap no removal explains: {} is missing {}..{}",
            g.participant, g.from, g.to
        )?;
    }
    for c in &r.causality {
        writeln!(
            out,
            "causality: event {} of {} names later event {} as its parent",
            c.seq, c.participant, c.parent
        )?;
    }
    Ok(())
}
