//! `vexjournal follow`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{JournalReader, StartAt};

use super::filters::Filters;
use crate::Cli;
use crate::output::{EventFormat, EventWriter};

/// Print matching events as they are written (by any process), like `journalctl -f`,
/// until interrupted.
///
/// Starts with new events, or after --after-cursor, or with the last -n matches. With
/// --cursor-file, the cursor of each printed event is saved there and a restart with
/// the same file resumes exactly after it.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: Filters,
    /// First print the last N matching events.
    #[arg(short = 'n', long = "lines")]
    n: Option<usize>,
    /// Continue after the event this cursor points at.
    #[arg(long, value_name = "CURSOR")]
    after_cursor: Option<String>,
    /// Read the start cursor from FILE (if it exists) and keep it up to date there.
    #[arg(long, value_name = "FILE")]
    cursor_file: Option<std::path::PathBuf>,
    /// Print each event's cursor on stderr ("cursor: …").
    #[arg(long)]
    show_cursor: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "ndjson")]
    output: EventFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = JournalReader::open(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let q = args.filters.to_query()?;
    let saved = match &args.cursor_file {
        Some(f) if f.exists() => {
            Some(std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?)
        }
        _ => None,
    };
    let start = match args.after_cursor.as_deref().or(saved.as_deref()) {
        Some(text) => StartAt::After(reader.parse_cursor(text)?),
        None => match args.n {
            Some(n) if n > 0 => {
                let mut last = q.clone();
                last.reverse = true;
                last.limit = Some(n);
                match reader.query(&last)?.events.last() {
                    Some(oldest) => StartAt::After(vexfs_journal::Cursor {
                        journal: reader.meta().id,
                        seq: oldest.seq.saturating_sub(1),
                        reverse: false,
                        generation: reader.generation(),
                    }),
                    None => StartAt::Now,
                }
            }
            _ => StartAt::Now,
        },
    };
    let table = args.output == EventFormat::Table;
    let format = if table {
        EventFormat::Ndjson
    } else {
        args.output
    };
    let mut stdout = std::io::stdout().lock();
    for item in reader.subscribe(q, start)? {
        let ev = item?;
        if table {
            writeln!(stdout, "{}", crate::output::table_row(&ev).join("  "))?;
        } else {
            let mut w = EventWriter::new(&mut stdout, format);
            w.write(&ev)?;
            w.finish()?;
        }
        stdout.flush()?;
        let cursor = vexfs_journal::Cursor {
            journal: reader.meta().id,
            seq: ev.seq,
            reverse: false,
            generation: reader.generation(),
        }
        .encode();
        if let Some(f) = &args.cursor_file {
            let tmp = f.with_extension("tmp");
            std::fs::write(&tmp, &cursor)
                .and_then(|_| std::fs::rename(&tmp, f))
                .with_context(|| format!("saving the cursor to {}", f.display()))?;
        }
        if args.show_cursor {
            eprintln!("cursor: {cursor}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
