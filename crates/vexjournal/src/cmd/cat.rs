//! `vexjournal cat`

use std::process::ExitCode;

use anyhow::Result;

use super::events::{self, ShowArgs};
use super::filters::Filters;
use crate::Cli;

/// Print events in sequence order (newest first with -r); the NDJSON output is what
/// `emit` reads. Takes the same filters, matches and options as `query`.
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
