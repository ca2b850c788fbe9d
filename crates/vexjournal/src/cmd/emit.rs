//! `vexjournal emit`: NDJSON events from stdin.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use vexfs_journal::{Journal, json};

use crate::Cli;

/// Append NDJSON events from stdin (schema: docs/json.md).
///
/// Prints the assigned sequence range. With --durable, prints each sequence number as
/// soon as its event is fsynced. A malformed line stops the command with its line
/// number; the lines before it are kept, nothing of it or after it is written. With
/// --atomic, all lines form one all-or-nothing batch.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Wait for each event to be fsynced and print its sequence number.
    #[arg(long)]
    durable: bool,
    /// Write all lines as one atomic batch (nothing is written if any line is bad).
    #[arg(long)]
    atomic: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let journal = Journal::open_existing(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut first = None;
    let mut last = None;
    let mut batch = Vec::new();
    // Stops at the first line that cannot be written, keeping the lines before it:
    // reports what was written, then names the line.
    let stop = |stdout: &mut std::io::StdoutLock<'_>,
                first,
                last,
                number: usize,
                why: String|
     -> Result<ExitCode> {
        journal.sync()?;
        report(stdout, first, last, args)?;
        bail!(
            "line {number}: {why}; {} before it",
            match (first, last) {
                (Some(f), Some(l)) => format!("events {f}..={l} were written"),
                _ => "nothing was written".into(),
            }
        );
    };
    let mut lines_read = 0;
    for (i, line) in stdin.lines().enumerate() {
        let number = i + 1;
        lines_read = number;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                return stop(
                    &mut stdout,
                    first,
                    last,
                    number,
                    format!("cannot read stdin: {e}"),
                );
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let event = match json::parse_line(&line) {
            Ok(ev) => ev,
            Err(e) => return stop(&mut stdout, first, last, number, e.to_string()),
        };
        if args.atomic {
            if let Err(e) = journal.check_event(&event) {
                return stop(&mut stdout, None, None, number, e.to_string());
            }
            batch.push(event);
            continue;
        }
        let emitted = if args.durable {
            journal.emit_durable(event)
        } else {
            journal.emit(event)
        };
        let seq = match emitted {
            Ok(seq) => seq,
            Err(e) => return stop(&mut stdout, first, last, number, e.to_string()),
        };
        if args.durable {
            writeln!(stdout, "{seq}")?;
            stdout.flush()?;
        }
        first.get_or_insert(seq);
        last = Some(seq);
    }
    if args.atomic && !batch.is_empty() {
        let range = match journal.emit_batch_atomic(batch) {
            Ok(r) => r,
            Err(e) => {
                return stop(
                    &mut stdout,
                    None,
                    None,
                    lines_read,
                    format!("the atomic batch was refused: {e}"),
                );
            }
        };
        first = Some(range.start);
        last = Some(range.end - 1);
        if args.durable {
            journal.wait_durable(range.end)?;
            for seq in range {
                writeln!(stdout, "{seq}")?;
            }
        }
    }
    journal.sync()?;
    journal.close()?;
    report(&mut stdout, first, last, args)?;
    Ok(ExitCode::SUCCESS)
}

fn report(out: &mut impl Write, first: Option<u64>, last: Option<u64>, args: &Args) -> Result<()> {
    match (first, last) {
        (Some(f), Some(l)) => {
            if !args.durable {
                writeln!(out, "{f}..={l}")?;
            }
            eprintln!("emitted {} events, sequences {f}..={l}", l - f + 1);
        }
        _ => eprintln!("no events emitted"),
    }
    Ok(())
}
