//! `vexjournal index rebuild|check`

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use vexfs_journal::layers::index::{Index, Rebuilt, idx_path};
use vexfs_journal::layers::storage::dir::DirLock;
use vexfs_journal::layers::storage::{OpenMode, Store};

use crate::Cli;
use crate::output::{human_bytes, kv_table};

/// Index maintenance.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Delete and rebuild every segment's index (needs the writer lock).
    Rebuild,
    /// Check every index file against its segment; exit status 1 on any problem.
    Check,
}

pub fn run(cli: &Cli, cmd: &IndexCommand) -> Result<ExitCode> {
    match cmd {
        IndexCommand::Rebuild => rebuild(cli),
        IndexCommand::Check => check(cli),
    }
}

fn rebuild(cli: &Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let _lock =
        DirLock::acquire(&cli.dir).context("rebuilding indexes needs the journal closed")?;
    let (store, _) = Store::open(&cli.dir, OpenMode::ReadOnly)
        .with_context(|| format!("opening {}", cli.dir.display()))?;
    for seg in store.segments() {
        let p = idx_path(seg.path());
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let started = Instant::now();
    let (index, report) = Index::open(&store, true)?;
    index.persist_all()?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let idx_bytes: u64 = store
        .segments()
        .iter()
        .filter_map(|s| std::fs::metadata(idx_path(s.path())).ok())
        .map(|m| m.len())
        .sum();
    let seg_bytes = store.stats().disk_bytes;
    let rows = vec![
        ("segments".to_string(), store.segments().len().to_string()),
        ("events indexed".into(), report.events_indexed.to_string()),
        (
            "time".into(),
            format!(
                "{secs:.3} s ({:.2} M events/s)",
                report.events_indexed as f64 / secs / 1e6
            ),
        ),
        (
            "index size".into(),
            format!(
                "{} ({:.2}% of {} of segments)",
                human_bytes(idx_bytes),
                idx_bytes as f64 * 100.0 / seg_bytes.max(1) as f64,
                human_bytes(seg_bytes)
            ),
        ),
    ];
    writeln!(out, "{}", kv_table(&rows))?;
    Ok(ExitCode::SUCCESS)
}

fn check(cli: &Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let (store, _) = Store::open(&cli.dir, OpenMode::ReadOnly)
        .with_context(|| format!("opening {}", cli.dir.display()))?;
    // Opening read-only-without-saving reports every unusable file without touching it.
    let (_, report) = Index::open(&store, false)?;
    let mut problems = 0;
    for seg in store.segments() {
        let p = idx_path(seg.path());
        match report.rebuilt.iter().find(|(q, _)| *q == p) {
            Some((_, why)) if seg.is_sealed() => {
                problems += 1;
                writeln!(out, "{}: {}", p.display(), describe(why))?;
            }
            Some((_, why)) => writeln!(
                out,
                "{}: {} (open segment: indexed in memory by its writer)",
                p.display(),
                describe(why)
            )?,
            None => writeln!(out, "{}: ok", p.display())?,
        }
    }
    if problems > 0 {
        writeln!(
            out,
            "{problems} index file(s) need a rebuild (`vexjournal index rebuild`, or just open the journal)"
        )?;
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Why an index file is not used, in words.
fn describe(why: &Rebuilt) -> String {
    match why {
        Rebuilt::Missing => "missing".into(),
        Rebuilt::Stale(s) => format!("stale: {s}"),
        Rebuilt::Corrupt(s) => format!("damaged: {s}"),
    }
}
