//! `vexjournal query`

use std::process::ExitCode;

use anyhow::Result;

use super::events::{self, ShowArgs};
use super::filters::Filters;
use crate::Cli;

/// Select events with filters and FIELD=VALUE matches (combined with AND), oldest
/// first or newest first (-r), like journalctl.
///
/// Without -n or --head every match is printed. -n N prints the most recent N, --head N
/// the first N; --show-cursor prints on stderr a cursor that --after-cursor takes to go
/// on after the last event printed. -f keeps printing new matches. A damaged block stops
/// the query after every match before it was printed (--skip-damaged goes on). Output
/// goes through a pager when stdout is a terminal.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: Filters,
    #[command(flatten)]
    show: ShowArgs,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    events::run(cli, &args.filters, &args.show)
}
