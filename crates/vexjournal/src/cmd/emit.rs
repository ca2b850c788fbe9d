//! `vexjournal emit`: NDJSON events from stdin.

use std::io::{BufRead, Write};
use std::ops::Range;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow};
use vexfs_journal::format::record::check_record;
use vexfs_journal::{Event, Journal, json};

use crate::Cli;

/// Exit status after Ctrl-C (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

/// Append NDJSON events from stdin (schema: docs/json.md).
///
/// Prints the assigned sequence range. With --durable, prints each sequence number as
/// soon as its event is fsynced. A malformed line stops the command with its line
/// number; the lines before it are kept, nothing of it or after it is written. With
/// --atomic, all lines form one all-or-nothing batch, which must fit in one segment.
/// Every failure (and Ctrl-C, exit status 130) reports which sequences were written
/// and which of them are durable.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Wait for each event to be fsynced and print its sequence number.
    #[arg(long)]
    durable: bool,
    /// Write all lines as one atomic batch (nothing is written if any line is bad).
    #[arg(long)]
    atomic: bool,
}

/// What this run wrote and what of it is on disk, in one sentence.
fn durability(journal: &Journal, start: u64) -> String {
    // Whatever was accepted is pushed to disk first; a failing journal keeps the
    // durable position it reached, which is what the report must state.
    let _ = journal.sync();
    let written = start..journal.next_seq().max(start);
    let durable = start..journal.durable_seq().clamp(start, written.end);
    if written.is_empty() {
        return "nothing was written".into();
    }
    let range = |r: &Range<u64>| format!("{}..={}", r.start, r.end - 1);
    if durable == written {
        format!("events {} were written and are durable", range(&written))
    } else if durable.is_empty() {
        format!(
            "events {} were written but none is durable (they may be lost)",
            range(&written)
        )
    } else {
        format!(
            "events {} were written; {} are durable, {} may be lost",
            range(&written),
            range(&durable),
            range(&(durable.end..written.end))
        )
    }
}

/// On Ctrl-C: stops emission, reports what was written and what is durable, exits 130.
fn watch_interrupt(journal: Journal, start: u64, stop: Arc<AtomicBool>) -> Result<()> {
    use signal_hook::consts::SIGINT;
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT]).context("installing the Ctrl-C handler")?;
    std::thread::Builder::new()
        .name("emit-sigint".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stop.store(true, Ordering::SeqCst);
                let report = durability(&journal, start);
                // Closing leaves the shutdown marker, so the next open need not scan.
                let _ = journal.close();
                eprintln!("interrupted: {report}");
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        })
        .context("starting the Ctrl-C handler")?;
    Ok(())
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let journal = cli
        .open_existing(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let start = journal.next_seq();
    let interrupted = Arc::new(AtomicBool::new(false));
    watch_interrupt(journal.clone(), start, interrupted.clone())?;
    let result = emit_stdin(&journal, args, start, &interrupted);
    if result.is_err() {
        // The Ctrl-C handler holds a handle too: close explicitly, so a failed run
        // still leaves a cleanly closed journal (what was written is synced already).
        let _ = journal.close();
    }
    result
}

/// Emits stdin's lines; on success closes the journal and reports.
fn emit_stdin(
    journal: &Journal,
    args: &Args,
    start: u64,
    interrupted: &AtomicBool,
) -> Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    // Stops at the first line that cannot be written, keeping the lines before it:
    // names the line, then what was written and what of it is durable.
    // Without --durable, the range written before the line is printed as on success.
    let stop = |number: usize, why: String| -> anyhow::Error {
        if interrupted.load(Ordering::SeqCst) {
            // The Ctrl-C handler reports and exits; do not race it with an error.
            loop {
                std::thread::park();
            }
        }
        let report = durability(journal, start);
        // Only what is durable is acknowledged on stdout (`durability` synced first:
        // on a healthy journal that is everything written; after a storage failure the
        // rest may be lost, and a retry may be given those numbers again).
        let durable_end = journal
            .durable_seq()
            .clamp(start, journal.next_seq().max(start));
        if !args.durable && durable_end > start {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{start}..={}", durable_end - 1).and_then(|()| out.flush());
        }
        anyhow!("line {number}: {why}; {report}")
    };
    let segment_size = journal.meta().config.segment_size;
    let mut batch: Vec<Event> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut lines_read = 0;
    for (i, line) in stdin.lines().enumerate() {
        let number = i + 1;
        lines_read = number;
        let line = line.map_err(|e| stop(number, format!("cannot read stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = json::parse_line(&line).map_err(|e| stop(number, e.to_string()))?;
        if args.atomic {
            journal
                .check_event(&event)
                .map_err(|e| stop(number, e.to_string()))?;
            batch_bytes += check_record(&event).map_or(0, |n| n as u64);
            if batch_bytes > segment_size {
                return Err(stop(
                    number,
                    format!(
                        "the atomic batch reaches {batch_bytes} bytes of records here, more than \
                         one segment ({segment_size} bytes) holds; an atomic batch must fit in \
                         one segment: split the input or create the journal with a larger \
                         --segment-size"
                    ),
                ));
            }
            batch.push(event);
            continue;
        }
        let emitted = if args.durable {
            journal.emit_durable(event)
        } else {
            journal.emit(event)
        };
        let seq = emitted.map_err(|e| stop(number, e.to_string()))?;
        if args.durable {
            writeln!(stdout, "{seq}")?;
            stdout.flush()?;
        }
    }
    if args.atomic && !batch.is_empty() {
        // The engine's batch keeps each event's flags as given: a copy stays a copy.
        let range = vexfs_journal::ext::emit_batch_as_given(journal, batch)
            .map_err(|e| stop(lines_read, format!("the atomic batch was refused: {e}")))?;
        if args.durable {
            journal
                .wait_durable(range.end)
                .map_err(|e| stop(lines_read, e.to_string()))?;
            for seq in range {
                writeln!(stdout, "{seq}")?;
            }
        }
    }
    // The commit point: once everything written is durable, the events are there
    // whatever happens next; a later failure (closing, the clean-shutdown marker) is
    // only a warning, so that a retry does not write them twice.
    journal
        .sync()
        .map_err(|e| stop(lines_read, format!("syncing failed: {e}")))?;
    let written = start..journal.next_seq();
    if let Err(e) = journal.close() {
        if journal.durable_seq() >= written.end {
            eprintln!(
                "warning: closing the journal failed after every event was durable: {e:#}; \
                 the next open checks the journal instead of trusting its shutdown marker"
            );
        } else {
            return Err(stop(lines_read, format!("closing the journal failed: {e}")));
        }
    }
    if written.is_empty() {
        eprintln!("no events emitted");
    } else {
        let (f, l) = (written.start, written.end - 1);
        if !args.durable {
            writeln!(stdout, "{f}..={l}")?;
        }
        eprintln!("emitted {} events, sequences {f}..={l}", l - f + 1);
    }
    Ok(ExitCode::SUCCESS)
}
