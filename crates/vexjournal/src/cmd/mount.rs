//! `vexjournal mount SOURCE MOUNTPOINT [SOURCE MOUNTPOINT]…`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use vexfs_journal::{Config, Journal};
use vexfs_journal_fuse::capture::CaptureConfig;
use vexfs_journal_fuse::{FsEventSink, MountOptions, Mounted};

use crate::Cli;

/// Mirror SOURCE at MOUNTPOINT and journal every filesystem operation on it.
///
/// Returns once the mount is up; a background process serves it until it is
/// unmounted (`vexjournal umount MOUNTPOINT`, `umount`, or SIGTERM to that process),
/// then closes the journal. With --foreground it serves in this process (Ctrl-C
/// unmounts). Several SOURCE MOUNTPOINT pairs share one journal and one process;
/// their events' paths then start with the mount point. The journal is
/// `--journal DIR`, or the global `--dir`; it is created if missing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SOURCE MOUNTPOINT, and more pairs to mount into the same journal.
    #[arg(value_name = "SOURCE MOUNTPOINT", num_args = 2.., required = true)]
    paths: Vec<PathBuf>,
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
    /// Where the background process writes its messages (journaling failures, the
    /// counters at unmount). Default: vexjournal-mount-PID.log in the temporary
    /// directory.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Mount options, comma-separated: ro, allow_other (default), allow_root,
    /// nosuid, nodev, noexec, noatime, sync, dirsync, threads=N, attr_timeout=S,
    /// entry_timeout=S (kernel caching: zero by default, see docs/fuse.md).
    #[arg(short = 'o', value_name = "OPTIONS")]
    options: Vec<String>,
    /// Sign a tree head into the journal every --seal-every while events arrive, and
    /// once more at unmount, with this key (PREFIX.key of `seal keygen`; docs/seal.md).
    #[arg(long, value_name = "KEY")]
    seal_key: Option<PathBuf>,
    /// How often to seal with --seal-key (90s, 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::compact::parse_age)]
    seal_every: std::time::Duration,
    /// Write each new head as JSON to this file (replaced atomically; copy it off the
    /// machine to verify the journal against later).
    #[arg(long, value_name = "FILE", requires = "seal_key")]
    seal_out: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let dir = args.journal.clone().unwrap_or_else(|| cli.dir.clone());
    if !args.paths.len().is_multiple_of(2)
        && let Some(last) = args.paths.last()
    {
        anyhow::bail!(
            "{} has no mount point: give SOURCE MOUNTPOINT pairs",
            last.display()
        );
    }
    let pairs: Vec<(&Path, &Path)> = args
        .paths
        .chunks_exact(2)
        .map(|p| (p[0].as_path(), p[1].as_path()))
        .collect();
    let mounted = fuse_mounts()?;
    for (source, mountpoint) in &pairs {
        check_dir(source, "the source")?;
        check_dir(mountpoint, "the mount point")?;
        if let Ok(at) = std::fs::canonicalize(mountpoint)
            && mounted.contains(&at)
        {
            anyhow::bail!(
                "{} is already a FUSE mount: unmount it first (`vexjournal umount {}`)",
                mountpoint.display(),
                mountpoint.display()
            );
        }
    }
    let mut options = MountOptions::default();
    for o in &args.options {
        options.parse(o)?;
    }
    let capture = match &args.capture {
        Some(p) => CaptureConfig::load(p)?,
        None => CaptureConfig::default(),
    };
    // Read before the daemon starts, so a bad key or path is reported here.
    let seal_key = args
        .seal_key
        .as_deref()
        .map(vexfs_journal_seal::read_signing_key)
        .transpose()?;
    if let Some(out) = &args.seal_out {
        crate::outfile::refuse_inside_journal(out, &dir, "--seal-out")?;
    }
    if args.seal_key.is_some() && args.seal_every < Duration::from_secs(1) {
        anyhow::bail!(
            "--seal-every {:?} is too short: seal at most once a second",
            args.seal_every
        );
    }
    if !args.foreground {
        return daemon(&pairs, args.log_file.as_deref());
    }
    let config = Config {
        full_policy: capture.full_policy(),
        fsync: capture.fsync_policy(),
        allow_others_writable: cli.allow_others_writable,
        encryption_key: cli.key()?,
        ..Config::default()
    };
    let journal = Journal::open(&dir, config).with_context(|| {
        format!(
            "opening the journal in {} (a journal serves one process: mount several \
             directories into it with one `vexjournal mount S1 M1 S2 M2 …`)",
            dir.display()
        )
    })?;
    let sealer = match seal_key {
        Some(key) => Some(start_sealer(&journal, key, args)?),
        None => None,
    };
    let mut mounts = Vec::new();
    let mut sinks = Vec::new();
    for (source, mountpoint) in &pairs {
        let mut sink = FsEventSink::new(journal.clone(), &capture)?;
        if pairs.len() > 1 {
            let at = std::fs::canonicalize(mountpoint)?;
            sink = sink.with_path_prefix(at.into_os_string().into_encoded_bytes());
        }
        let sink = std::sync::Arc::new(sink);
        sinks.push(std::sync::Arc::clone(&sink));
        let mounted = Mounted::with_sink(source, mountpoint, sink, capture.clone(), &options)
            .with_context(|| {
                format!(
                    "mounting {} at {} (needs /dev/fuse and root)",
                    source.display(),
                    mountpoint.display()
                )
            })?;
        mounts.push(mounted);
    }
    let unmounters: Vec<_> = mounts.iter_mut().map(|m| m.unmounter()).collect();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("installing the SIGINT/SIGTERM handler")?;
    std::thread::Builder::new()
        .name("vexjournal-unmount".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                for mut u in unmounters {
                    if let Err(e) = u.unmount() {
                        eprintln!("unmounting: {e}");
                    }
                }
            }
        })
        .context("starting the signal thread")?;
    for (source, mountpoint) in &pairs {
        eprintln!(
            "mirroring {} at {}, journal {} (unmount with `vexjournal umount {}` or Ctrl-C)",
            source.display(),
            mountpoint.display(),
            dir.display(),
            mountpoint.display()
        );
    }
    // One thread per mount; this one serves the first.
    let mut rest = mounts.split_off(1);
    let servers: Vec<_> = rest
        .drain(..)
        .map(|m| std::thread::spawn(move || m.serve()))
        .collect();
    let mut failed = None;
    if let Some(first) = mounts.pop()
        && let Err(e) = first.serve()
    {
        failed = Some(anyhow::Error::from(e));
    }
    for s in servers {
        match s.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e.into()),
            Err(_) => failed = Some(anyhow::anyhow!("a mount's server thread panicked")),
        }
    }
    let mut seal_failed = None;
    if let Some(sealer) = sealer {
        match sealer.finish() {
            Ok(Some(h)) => eprintln!(
                "sealed: the last head covers {} records (root {})",
                h.head.tree_size,
                super::seal::hex_of(&h.head.root)
            ),
            Ok(None) => {}
            Err(e) => {
                seal_failed = Some(anyhow::Error::from(e).context("sealing the journal at unmount"))
            }
        }
    }
    journal.close().context("closing the journal")?;
    if let Some(e) = failed {
        if let Some(s) = &seal_failed {
            eprintln!("{s:#}");
        }
        return Err(e.context("serving the mount"));
    }
    if let Some(e) = seal_failed {
        return Err(e);
    }
    for ((_, mountpoint), sink) in pairs.iter().zip(&sinks) {
        let c = sink.counters();
        eprintln!(
            "unmounted {}: {} events journaled, {} filtered out, {} sampled out, {} dropped ({} gap records)",
            mountpoint.display(),
            c.captured,
            c.filtered,
            c.sampled_out,
            c.dropped,
            c.gaps
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Seals `journal` every `--seal-every`, writing each head to `--seal-out` if given.
fn start_sealer(
    journal: &Journal,
    key: vexfs_journal_seal::merkle::SigningKey,
    args: &Args,
) -> Result<vexfs_journal_seal::PeriodicSealer> {
    let public = key.verifying_key();
    let out = args.seal_out.clone();
    let export = move |head: &vexfs_journal_seal::merkle::SignedTreeHead| {
        let Some(out) = &out else { return };
        let write = || -> Result<()> {
            let file = crate::outfile::AtomicOut::create(out)?;
            let mut w = file.writer()?;
            serde_json::to_writer_pretty(&mut w, &head.to_document(Some(&public)))?;
            std::io::Write::write_all(&mut w, b"\n")?;
            std::io::Write::flush(&mut w)?;
            drop(w);
            file.commit()
        };
        if let Err(e) = write() {
            eprintln!("writing the tree head to {}: {e:#}", out.display());
        }
    };
    Ok(vexfs_journal_seal::PeriodicSealer::spawn(
        journal.clone(),
        key,
        args.seal_every,
        export,
    )?)
}

/// Set for the background process `mount` starts.
const DAEMON_ENV: &str = "VEXJOURNAL_MOUNT_DAEMON";

/// Refuses a path that is not a directory, naming a dead mount for what it is.
fn check_dir(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!("{} ({what}) is not a directory", path.display()),
        Err(_) if super::umount::dead_mount(path) => {
            anyhow::bail!(
                "{} ({what}) is a dead mount (its daemon is gone): run `vexjournal umount {}` first",
                path.display(),
                path.display()
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("{} ({what}) does not exist", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("{} ({what})", path.display())),
    }
}

/// Runs this command again in the foreground as a background process, and returns
/// once every mount point is mounted (or the process failed: its own error message
/// went to stderr).
fn daemon(pairs: &[(&Path, &Path)], log_file: Option<&Path>) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding this program to start the daemon")?;
    let before = fuse_mounts()?;
    // The daemon outlives this process: it must not hold this one's stderr (a pipe
    // reader would wait for it forever), so it writes to a log file.
    let log_path = match log_file {
        Some(p) => p.to_path_buf(),
        None => std::env::temp_dir().join(format!("vexjournal-mount-{}.log", std::process::id())),
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening the daemon's log file {}", log_path.display()))?;
    let start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut child = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--foreground")
        .env(DAEMON_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        // Its own process group: a Ctrl-C meant for this shell does not unmount it.
        .process_group(0)
        .spawn()
        .context("starting the mount daemon")?;
    let wanted: Vec<PathBuf> = pairs
        .iter()
        .map(|(_, m)| std::fs::canonicalize(m).unwrap_or_else(|_| m.to_path_buf()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            let said = std::fs::read(&log_path).unwrap_or_default();
            let said = String::from_utf8_lossy(said.get(start as usize..).unwrap_or_default());
            eprint!("{said}");
            anyhow::bail!("the mount daemon exited ({status}) before mounting");
        }
        let now = fuse_mounts()?;
        let up = wanted.iter().all(|m| {
            now.iter().filter(|p| p == &m).count() > before.iter().filter(|p| p == &m).count()
        });
        if up {
            for (source, mountpoint) in pairs {
                eprintln!(
                    "mirroring {} at {} (daemon pid {}, log {}; unmount with `vexjournal umount {}`)",
                    source.display(),
                    mountpoint.display(),
                    child.id(),
                    log_path.display(),
                    mountpoint.display()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "the mount daemon did not mount within 30 s (stopped it; its log: {})",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Mount points of FUSE mounts, once per mount.
fn fuse_mounts() -> Result<Vec<PathBuf>> {
    Ok(super::umount::mounts()?
        .into_iter()
        .filter(|m| m.is_fuse())
        .map(|m| m.mount_point)
        .collect())
}
