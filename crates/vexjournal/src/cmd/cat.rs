//! `vexjournal cat`

use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::JournalReader;

use crate::Cli;
use crate::output::{EventFormat, EventWriter};

/// Print events in sequence order; the NDJSON output is what `emit` reads.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First sequence number.
    #[arg(long)]
    from_seq: Option<u64>,
    /// Last sequence number (inclusive).
    #[arg(long)]
    to_seq: Option<u64>,
    /// Print at most N events.
    #[arg(short = 'n', long = "lines")]
    n: Option<usize>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "ndjson")]
    output: EventFormat,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = JournalReader::open(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let from = args.from_seq.unwrap_or(0);
    let end = args.to_seq.map_or(u64::MAX, |t| t.saturating_add(1));
    let mut out = EventWriter::new(std::io::stdout().lock(), args.output);
    for item in reader.scan(from..end).take(args.n.unwrap_or(usize::MAX)) {
        out.write(&item?)?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
