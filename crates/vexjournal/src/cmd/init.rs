//! `vexjournal init`

use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{Compression, Config, FsyncPolicy, Journal};

use crate::Cli;
use crate::output::human_bytes;

/// Create a journal in --dir.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Block compression.
    #[arg(long, default_value = "lz4", value_parser = ["lz4", "zstd", "none"])]
    compression: String,
    /// Rotate segments at this many bytes.
    #[arg(long, default_value_t = 64 << 20)]
    segment_size: u64,
    /// fsync policy: batch (every group commit), interval:MS or never.
    #[arg(long, default_value = "batch")]
    fsync: String,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let config = Config {
        compression: args.compression.parse::<Compression>()?,
        segment_size: args.segment_size,
        fsync: args.fsync.parse::<FsyncPolicy>()?,
        ..Config::default()
    };
    let journal = Journal::create(&cli.dir, config.clone())
        .with_context(|| format!("creating a journal in {}", cli.dir.display()))?;
    let id = journal.meta().id;
    journal.close()?;
    println!(
        "created journal {id} in {} (compression {}, segments {}, fsync {})",
        cli.dir.display(),
        config.compression,
        human_bytes(config.segment_size),
        config.fsync
    );
    Ok(ExitCode::SUCCESS)
}
