//! `vexjournal index rebuild|check`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::admin;

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
    let r = admin::rebuild_indexes(&cli.dir, cli.key()?.as_ref()).with_context(|| {
        format!(
            "rebuilding the indexes of {} (needs the journal closed)",
            cli.dir.display()
        )
    })?;
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let rows = vec![
        ("segments".to_string(), r.segments.to_string()),
        ("events indexed".into(), r.events.to_string()),
        (
            "time".into(),
            format!(
                "{secs:.3} s ({:.2} M events/s)",
                r.events as f64 / secs / 1e6
            ),
        ),
        (
            "index size".into(),
            format!(
                "{} ({:.2}% of {} of segments)",
                human_bytes(r.index_bytes),
                r.index_bytes as f64 * 100.0 / r.segment_bytes.max(1) as f64,
                human_bytes(r.segment_bytes)
            ),
        ),
    ];
    writeln!(out, "{}", kv_table(&rows))?;
    Ok(ExitCode::SUCCESS)
}

fn check(cli: &Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    // Opening read-only-without-saving reports every unusable file without touching it.
    let files = admin::check_indexes(&cli.dir, cli.key()?.as_ref())
        .with_context(|| format!("opening {}", cli.dir.display()))?;
    let mut problems = 0;
    for f in files {
        match f.problem {
            Some(why) if f.sealed => {
                problems += 1;
                writeln!(out, "{}: {why}", f.path.display())?;
            }
            Some(why) => writeln!(
                out,
                "{}: {why} (open segment: indexed in memory by its writer)",
                f.path.display()
            )?,
            None => writeln!(out, "{}: ok", f.path.display())?,
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
