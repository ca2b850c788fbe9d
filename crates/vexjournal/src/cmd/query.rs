//! `vexjournal query`

use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::JournalReader;

use super::filters::Filters;
use crate::Cli;
use crate::output::{EventFormat, EventWriter};

/// Select events with filters (combined with AND), oldest first or --reverse.
///
/// Without -n every match is printed. With -n, --show-cursor prints on stderr a cursor
/// that --after-cursor takes to print the next page.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: Filters,
    /// Print at most N events.
    #[arg(short = 'n', long = "lines")]
    n: Option<usize>,
    /// Newest first.
    #[arg(long)]
    reverse: bool,
    /// Continue after the event this cursor points at.
    #[arg(long, value_name = "CURSOR")]
    after_cursor: Option<String>,
    /// Print the cursor after the last event on stderr ("cursor: …").
    #[arg(long)]
    show_cursor: bool,
    /// Output format (kernel: raw kernel events).
    #[arg(short, long, value_enum, default_value = "ndjson")]
    output: EventFormat,
}

/// Events fetched per page when no -n is given.
const PAGE: usize = 1024;

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = JournalReader::open(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut q = args.filters.to_query()?;
    q.reverse = args.reverse;
    if let Some(c) = &args.after_cursor {
        q.after = Some(reader.parse_cursor(c)?);
    }
    let mut left = args.n.unwrap_or(usize::MAX);
    let mut out = EventWriter::new(std::io::stdout().lock(), args.output);
    let mut cursor = q.after;
    while left > 0 {
        q.limit = Some(left.min(PAGE));
        q.after = cursor;
        let page = reader.query(&q)?;
        for ev in &page.events {
            out.write(ev)?;
        }
        left -= page.events.len();
        cursor = page.cursor;
        if page.exhausted || page.events.is_empty() {
            break;
        }
    }
    out.finish()?;
    if args.show_cursor {
        match cursor {
            Some(c) => eprintln!("cursor: {}", c.encode()),
            None => eprintln!("cursor: (none: no events)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
