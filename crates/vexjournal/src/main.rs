//! `vexjournal`: the operator's tool for VexFS semantic journals.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod outfile;
mod output;
mod pager;
mod time;
mod workload;

/// Heading of the options every command takes, listed after the command's own.
const GLOBAL: &str = "Global options";

/// Inspect, feed and benchmark VexFS semantic journals.
#[derive(Debug, Parser)]
#[command(name = "vexjournal", version, about, long_about = None)]
pub struct Cli {
    /// Journal directory.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "VEXJOURNAL_DIR",
        default_value = "./vexjournal-data"
    )]
    pub dir: PathBuf,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, help_heading = GLOBAL, default_value = "warn", env = "VEXJOURNAL_LOG", value_parser = parse_log)]
    pub log: String,
    /// Colour diagnostics on stderr: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(long, global = true, help_heading = GLOBAL, value_enum, default_value = "auto")]
    pub color: Color,
    /// Open a journal directory that other users may write (refused otherwise: any of
    /// them could replace the journal's files).
    #[arg(long, global = true, help_heading = GLOBAL, env = "VEXJOURNAL_ALLOW_OTHERS_WRITABLE",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_others_writable: bool,
    /// The journal's encryption key: a file of 64 hex digits, mode 0600 (`key generate
    /// FILE` makes one). `init` with a key creates an encrypted journal; an encrypted
    /// journal opens only with its key. `$VEXJOURNAL_KEY` may hold the digits instead.
    #[arg(long, global = true, help_heading = GLOBAL, env = "VEXJOURNAL_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The journal key given by `--key-file` (`$VEXJOURNAL_KEY_FILE`) or `$VEXJOURNAL_KEY`,
    /// if any.
    pub fn key(&self) -> anyhow::Result<Option<std::sync::Arc<vexfs_journal::JournalKey>>> {
        if let Some(path) = &self.key_file {
            let key = vexfs_journal::keyfile::read_journal_key(path)?;
            return Ok(Some(std::sync::Arc::new(key)));
        }
        match std::env::var("VEXJOURNAL_KEY") {
            Ok(text) if !text.trim().is_empty() => {
                let key = vexfs_journal::JournalKey::from_hex("$VEXJOURNAL_KEY", &text)?;
                Ok(Some(std::sync::Arc::new(key)))
            }
            _ => Ok(None),
        }
    }

    /// Opens the journal in `dir` for reading, with the key given (see [`Cli::key`]).
    pub fn open_reader(
        &self,
        dir: &std::path::Path,
    ) -> anyhow::Result<vexfs_journal::JournalReader> {
        Ok(vexfs_journal::JournalReader::open_keyed(dir, self.key()?)?)
    }

    /// Opens the journal in `dir` for writing, with its stored settings, the default
    /// recovery mode and checkpoint interval.
    pub fn open_existing(&self, dir: &std::path::Path) -> anyhow::Result<vexfs_journal::Journal> {
        self.open_existing_with(
            dir,
            vexfs_journal::RecoveryMode::TolerateTail,
            vexfs_journal::Config::default().checkpoint_interval_s,
        )
    }

    /// [`Cli::open_existing`] with a recovery mode and a checkpoint interval.
    pub fn open_existing_with(
        &self,
        dir: &std::path::Path,
        recovery: vexfs_journal::RecoveryMode,
        checkpoint_interval_s: u64,
    ) -> anyhow::Result<vexfs_journal::Journal> {
        let options = vexfs_journal::OpenOptions {
            allow_others_writable: self.allow_others_writable,
            key: self.key()?,
            ..Default::default()
        };
        Ok(vexfs_journal::Journal::open_existing_with_options(
            dir,
            options,
            recovery,
            checkpoint_interval_s,
        )?)
    }
}

/// When to colour diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Only when stderr is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a journal.
    Init(cmd::init::Args),
    /// Append NDJSON events read from stdin.
    Emit(cmd::emit::Args),
    /// Print events by sequence range.
    Cat(cmd::cat::Args),
    /// Show size, extent and compression of a journal.
    Stats(cmd::stats::Args),
    /// Select events with filters, newest or oldest first, in pages.
    Query(cmd::query::Args),
    /// Print matching events as another process writes them, until Ctrl-C.
    Follow(cmd::follow::Args),
    /// Rebuild or check the indexes.
    #[command(subcommand)]
    Index(cmd::index::IndexCommand),
    /// Open with a recovery mode (tolerate-tail, absolute, salvage) and report.
    Recover(cmd::recover::Args),
    /// Create, list, delete or restore checkpoints.
    #[command(subcommand)]
    Checkpoint(cmd::checkpoint::CheckpointCommand),
    /// Replay events: selective, incremental, parallel, validated.
    Replay(cmd::replay::Args),
    /// Check every checksum, sequence, footer, index and checkpoint; exit 0 only when clean.
    Verify(cmd::verify::Args),
    /// Drop what retention allows from sealed segments, atomically.
    Compact(cmd::compact::Args),
    /// List the segment files: sequence and time range, size, sealed or open.
    Segments(cmd::segments::Args),
    /// Show the disk space the journal takes (segments, indexes, checkpoints).
    DiskUsage(cmd::segments::DiskUsageArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::CompletionsArgs),
    /// Write man pages into a directory (outside any journal).
    Man(cmd::completions::ManArgs),
    /// Kernel journal images: export, import, sync, inspect, layout.
    #[command(subcommand)]
    Kernel(cmd::kernel::KernelCommand),
    /// Mirror a directory through FUSE and journal every operation on it.
    Mount(cmd::mount::Args),
    /// Serve the journal over HTTP (NDJSON and Server-Sent Events).
    Serve(cmd::serve::Args),
    /// The life of one path: every event that touched it, following renames.
    History(cmd::history::Args),
    /// Why an event happened: its causes up to the root, and with --descendants its effects.
    Why(cmd::why::Args),
    /// Cross-journal transactions of a coordinator (--dir): list, show, resolve.
    #[command(subcommand)]
    Tx(cmd::tx::TxCommand),
    /// Check a coordinator (--dir) against its participant journals; --repair.
    #[command(subcommand)]
    Consistency(cmd::consistency::ConsistencyCommand),
    /// Signed Merkle tree heads (tamper evidence): keygen, head, list.
    #[command(subcommand)]
    Seal(cmd::seal::SealCommand),
    /// Encryption keys: generate one, rotate a journal's, show which key a journal needs.
    #[command(subcommand)]
    Key(cmd::key::KeyCommand),
    /// Print a proof that an event is in the journal, or (--since) that it was only appended to.
    Prove(cmd::seal::ProveArgs),
    /// Check a proof from `prove` with the signer's public key; print the event.
    VerifyProof(cmd::seal::VerifyProofArgs),
    /// Merge several journals into one causal timeline.
    Timeline(cmd::timeline::Args),
    /// Unmount a mirror made by `mount`.
    Umount(cmd::umount::UmountArgs),
    /// Measure durable throughput and emission latency.
    Bench(cmd::bench::Args),
    /// Ingest a realistic mixed workload into ./vexjournal-demo and show the results.
    Demo(cmd::demo::Args),
    /// Open the journal, idle briefly and print resident memory (used by bench).
    #[command(hide = true)]
    ProbeRss,
    /// Emit durable events from several threads and print each acknowledgement (crash tests).
    #[command(hide = true)]
    TortureWriter(cmd::torture::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // fuser warns when the mount it made was already unmounted (`umount`): normal.
    let directives = if cli.log.contains("fuser") {
        cli.log.clone()
    } else {
        format!("{},fuser=error", cli.log)
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,fuser=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(match cli.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        })
        .init();
    let result = match &cli.command {
        Command::Init(a) => cmd::init::run(&cli, a),
        Command::Emit(a) => cmd::emit::run(&cli, a),
        Command::Cat(a) => cmd::cat::run(&cli, a),
        Command::Stats(a) => cmd::stats::run(&cli, a),
        Command::Query(a) => cmd::query::run(&cli, a),
        Command::Follow(a) => cmd::follow::run(&cli, a),
        Command::Index(c) => cmd::index::run(&cli, c),
        Command::Recover(a) => cmd::recover::run(&cli, a),
        Command::Checkpoint(c) => cmd::checkpoint::run(&cli, c),
        Command::Replay(a) => cmd::replay::run(&cli, a),
        Command::Verify(a) => cmd::verify::run(&cli, a),
        Command::Compact(a) => cmd::compact::run(&cli, a),
        Command::Segments(a) => cmd::segments::run(&cli, a),
        Command::DiskUsage(a) => cmd::segments::disk_usage(&cli, a),
        Command::Completions(a) => cmd::completions::completions(a),
        Command::Man(a) => cmd::completions::man(a),
        Command::Kernel(c) => cmd::kernel::run(&cli, c),
        Command::Bench(a) => cmd::bench::run(&cli, a),
        Command::Demo(a) => cmd::demo::run(&cli, a),
        Command::Mount(a) => cmd::mount::run(&cli, a),
        Command::Serve(a) => cmd::serve::run(&cli, a),
        Command::History(a) => cmd::history::run(&cli, a),
        Command::Why(a) => cmd::why::run(&cli, a),
        Command::Tx(c) => cmd::tx::run(&cli, c),
        Command::Consistency(c) => cmd::consistency::run(&cli, c),
        Command::Timeline(a) => cmd::timeline::run(&cli, a),
        Command::Seal(c) => cmd::seal::run(&cli, c),
        Command::Key(c) => cmd::key::run(&cli, c),
        Command::Prove(a) => cmd::seal::prove_cmd(&cli, a),
        Command::VerifyProof(a) => cmd::seal::verify_proof(a),
        Command::Umount(a) => cmd::umount::run(a),
        Command::ProbeRss => cmd::bench::probe_rss(&cli),
        Command::TortureWriter(a) => cmd::torture::run(&cli, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (`| head`) is not an error worth reporting.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            // A cause whose text the line above already shows adds nothing.
            let mut shown = e.to_string();
            for cause in e.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                shown = text;
            }
            ExitCode::FAILURE
        }
    }
}

/// Accepts a log level or filter directive (`warn`, `debug`, `vexfs_journal=trace`).
fn parse_log(s: &str) -> Result<String, String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    // Every directive's level (after `=`, or the whole directive) must be a level name.
    let bad = s.split(',').map(str::trim).find(|d| {
        let level = d.rsplit_once('=').map_or(*d, |(_, l)| l);
        !LEVELS.contains(&level.to_ascii_lowercase().as_str())
    });
    match bad {
        None if tracing_subscriber::EnvFilter::try_new(s).is_ok() => Ok(s.to_string()),
        _ => Err(format!(
            "'{s}' is not a log level: use one of {} (or TARGET=LEVEL directives)",
            LEVELS.join(", ")
        )),
    }
}
