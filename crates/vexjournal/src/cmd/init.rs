//! `vexjournal init`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{Compression, Config, FsyncPolicy, Journal};

use crate::Cli;
use crate::cmd::parse_size;
use crate::output::human_bytes;

/// Create a journal in --dir.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Block compression.
    #[arg(long, default_value = "lz4", value_parser = ["lz4", "zstd", "none"])]
    compression: String,
    /// Rotate segments at this size: bytes or a size with a unit (64MiB, 1GB).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    segment_size: u64,
    /// fsync policy: batch (every group commit), interval:MS or never.
    #[arg(long, default_value = "batch")]
    fsync: String,
    /// Bytes allocated ahead in the open segment (0: none). Durable writes into
    /// allocated space are cheaper, and events keep fitting there when the disk fills.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    preallocate: u64,
    /// Bytes of records per frame of an LZ4 block: reads decode only the frames they
    /// need. 0 compresses blocks whole (smaller files, slower point reads and queries).
    #[arg(long, value_name = "SIZE", default_value_t = Config::default().frame_bytes as u64, value_parser = parse_size)]
    frame_bytes: u64,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let config = Config {
        compression: args.compression.parse::<Compression>()?,
        segment_size: args.segment_size,
        fsync: args.fsync.parse::<FsyncPolicy>()?,
        preallocate_bytes: args.preallocate,
        frame_bytes: usize::try_from(args.frame_bytes)
            .with_context(|| format!("--frame-bytes {} is too large", args.frame_bytes))?,
        allow_others_writable: cli.allow_others_writable,
        encryption_key: cli.key()?,
        ..Config::default()
    };
    refuse_foreign_files(&cli.dir)?;
    let journal = Journal::create(&cli.dir, config.clone())
        .with_context(|| format!("creating a journal in {}", cli.dir.display()))?;
    let id = journal.meta().id;
    journal.close()?;
    writeln!(
        out,
        "created journal {id} in {} (compression {}, segments {}, fsync {})",
        cli.dir.display(),
        config.compression,
        human_bytes(config.segment_size),
        config.fsync
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A journal is created only in a new or empty directory (or the existing journal is
/// named by `Journal::create`): other files are never mixed with a journal's.
fn refuse_foreign_files(dir: &std::path::Path) -> Result<()> {
    if !dir.is_dir() || crate::outfile::is_journal_dir(dir) {
        return Ok(());
    }
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    if let Some(entry) = entries.next() {
        let name = entry
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .unwrap_or_default();
        anyhow::bail!(
            "{} is not empty (it holds '{name}', …) and holds no journal: init creates a \
             journal only in a new or empty directory; choose another --dir",
            dir.display()
        );
    }
    Ok(())
}
