//! `vexjournal mount SOURCE MOUNTPOINT` (`umount.rs` takes it away).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{Config, Journal};

use crate::Cli;

/// Mirror SOURCE at MOUNTPOINT and journal every filesystem operation on it.
///
/// Runs in the foreground until unmounted (`vexjournal umount MOUNTPOINT`, `umount`,
/// Ctrl-C or SIGTERM), then closes the journal. The journal is `--journal DIR`, or the
/// global `--dir`; it is created if missing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to mirror.
    source: PathBuf,
    /// Where to mount it (an existing directory).
    mountpoint: PathBuf,
    /// The journal directory (default: the global --dir).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// What to journal (TOML; see `docs/fuse.md`). Default: every mutation, one event
    /// per open for reading, one per write, no metadata reads.
    #[arg(long, value_name = "FILE.toml")]
    capture: Option<PathBuf>,
    /// Stay in the foreground (serve until unmounted) instead of returning once the
    /// mount is up.
    #[arg(long, short = 'f')]
    foreground: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let dir = args.journal.clone().unwrap_or_else(|| cli.dir.clone());
    if !args.source.is_dir() {
        anyhow::bail!(
            "{} is not a directory: the source must be one",
            args.source.display()
        );
    }
    if !args.mountpoint.is_dir() {
        anyhow::bail!(
            "{} is not a directory: create the mount point first",
            args.mountpoint.display()
        );
    }
    let capture = match &args.capture {
        Some(p) => vexfs_journal_fuse::capture::CaptureConfig::load(p)?,
        None => Default::default(),
    };
    let journal = Journal::open(&dir, Config::default())
        .with_context(|| format!("opening the journal in {}", dir.display()))?;
    let mut mounted =
        vexfs_journal_fuse::Mounted::new(&args.source, &args.mountpoint, journal, capture)
            .with_context(|| {
                format!(
                    "mounting {} at {} (needs /dev/fuse and root or fuse3's fusermount3)",
                    args.source.display(),
                    args.mountpoint.display()
                )
            })?;
    let mut unmounter = mounted.unmounter();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("installing the SIGINT/SIGTERM handler")?;
    let mountpoint = args.mountpoint.clone();
    std::thread::Builder::new()
        .name("vexjournal-unmount".into())
        .spawn(move || {
            if signals.forever().next().is_some()
                && let Err(e) = unmounter.unmount()
            {
                eprintln!("unmounting {}: {e}", mountpoint.display());
            }
        })
        .context("starting the signal thread")?;
    eprintln!(
        "mirroring {} at {}, journal {} (unmount with `vexjournal umount {}` or Ctrl-C)",
        args.source.display(),
        args.mountpoint.display(),
        dir.display(),
        args.mountpoint.display()
    );
    mounted.serve().context("serving the mount")?;
    eprintln!("unmounted {}", args.mountpoint.display());
    Ok(ExitCode::SUCCESS)
}
