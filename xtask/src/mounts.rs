//! Mounts for `fuse-posix` and `bench-fuse`: a `vexjournal mount` child and a `bindfs`
//! child, each unmounted and waited for when stopped (or dropped), plus the helpers
//! both commands share (building `vexjournal`, scratch directories, process CPU time).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a mount may take to appear, or a daemon to exit after its unmount.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether this machine can mount FUSE filesystems at all.
pub(crate) fn fuse_device_present() -> bool {
    Path::new("/dev/fuse").exists()
}

/// Whether this process runs as root (mounting, pjdfstest's user switches and
/// dropping the page cache all need it).
pub(crate) fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Which `vexjournal` binary to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Build {
    /// `cargo build -p vexjournal`.
    Debug,
    /// `cargo build --release -p vexjournal`.
    Release,
    /// The one `cargo test --workspace` (and `cargo nextest run --workspace`) builds,
    /// with the workspace's unified features: free right after the tests.
    Tests,
}

/// Builds the `vexjournal` binary and returns its path as cargo reports it, so
/// `CARGO_TARGET_DIR` and friends are respected.
pub(crate) fn build_vexjournal(root: &Path, build: Build) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root);
    match build {
        Build::Debug => cmd.args(["build", "-p", "vexjournal", "--bin", "vexjournal"]),
        Build::Release => cmd.args([
            "build",
            "--release",
            "-p",
            "vexjournal",
            "--bin",
            "vexjournal",
        ]),
        // The same units as CI's test build, so this compiles nothing after it.
        Build::Tests => cmd.args([
            "test",
            "--workspace",
            "--exclude",
            crate::ci::BENCHES,
            "--no-run",
        ]),
    };
    cmd.args(["--locked", "--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped());
    eprintln!("$ {cmd:?}");
    let out = cmd.output().context("starting cargo")?;
    if !out.status.success() {
        bail!("building vexjournal failed with {}", out.status);
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // The binary itself, not its unit-test harness (`profile.test`).
        if msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == "vexjournal"
            && msg["target"]["kind"][0] == "bin"
            && msg["profile"]["test"] == false
            && let Some(exe) = msg["executable"].as_str()
        {
            return Ok(PathBuf::from(exe));
        }
    }
    bail!("cargo reported no vexjournal executable")
}

/// A scratch directory under the system temp dir (same filesystem for every
/// configuration), readable by everyone (pjdfstest switches to other users), removed
/// on drop.
pub(crate) fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a scratch directory")?;
    make_world_searchable(dir.path())?;
    Ok(dir)
}

/// Creates `path` (and its parents) with mode 0755.
pub(crate) fn make_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    make_world_searchable(path)
}

fn make_world_searchable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod 755 {}", path.display()))
}

/// Whether `mountpoint` is a mount point now, per `/proc/self/mountinfo`.
pub(crate) fn is_mounted(mountpoint: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = mountpoint.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|field| unescape_mountinfo(field) == wanted)
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = field
                .get(i + 1..i + 4)
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which daemon serves a [`Mount`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Daemon {
    /// `vexjournal mount --foreground`.
    Vexjournal,
    /// `bindfs -f` (as root its defaults include `allow_other`, `default_permissions`).
    Bindfs,
}

/// A FUSE mount served by a child process of ours; [`Mount::stop`] unmounts it and
/// waits for the child. Dropping an unstopped mount does the same, ignoring errors.
pub(crate) struct Mount {
    daemon: Daemon,
    mountpoint: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    vexjournal: Option<PathBuf>,
}

impl Mount {
    /// Mounts `source` at `mountpoint` with `vexjournal mount`, journal in `journal`,
    /// optional capture file and `-o` options; the daemon's stderr goes to `log`. The
    /// daemon raises its own open-file limit (it holds a descriptor per inode the
    /// kernel knows).
    pub(crate) fn vexjournal(
        bin: &Path,
        source: &Path,
        mountpoint: &Path,
        journal: &Path,
        capture: Option<&Path>,
        options: &str,
        log: &Path,
    ) -> Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.arg("mount")
            .arg(source)
            .arg(mountpoint)
            .arg("--journal")
            .arg(journal)
            .arg("--foreground");
        if let Some(c) = capture {
            cmd.arg("--capture").arg(c);
        }
        if !options.is_empty() {
            cmd.arg("-o").arg(options);
        }
        Self::start(Daemon::Vexjournal, cmd, mountpoint, log, Some(bin))
    }

    /// Mounts `source` at `mountpoint` with `bindfs` in the foreground, with its
    /// defaults plus `options` (FUSE `-o` options, e.g. `attr_timeout=0`).
    pub(crate) fn bindfs(
        source: &Path,
        mountpoint: &Path,
        options: &[&str],
        log: &Path,
    ) -> Result<Self> {
        let mut cmd = Command::new("bindfs");
        cmd.arg("-f");
        if !options.is_empty() {
            cmd.arg("-o").arg(options.join(","));
        }
        cmd.arg(source).arg(mountpoint);
        Self::start(Daemon::Bindfs, cmd, mountpoint, log, None)
    }

    fn start(
        daemon: Daemon,
        mut cmd: Command,
        mountpoint: &Path,
        log: &Path,
        vexjournal: Option<&Path>,
    ) -> Result<Self> {
        let mountpoint = mountpoint
            .canonicalize()
            .with_context(|| format!("resolving {}", mountpoint.display()))?;
        if is_mounted(&mountpoint) {
            bail!("{} is already a mount point", mountpoint.display());
        }
        let err = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(err.try_clone().context("duplicating the log file")?)
            .stderr(err);
        let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let mut mount = Mount {
            daemon,
            mountpoint,
            child: Some(child),
            log: log.to_path_buf(),
            vexjournal: vexjournal.map(Path::to_path_buf),
        };
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        while !is_mounted(&mount.mountpoint) {
            if let Some(child) = mount.child.as_mut()
                && let Some(status) = child.try_wait().context("polling the daemon")?
            {
                mount.child = None;
                bail!(
                    "{cmd:?} exited with {status} before mounting; its log:\n{}",
                    mount.log_text()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not appear in /proc/self/mountinfo within {MOUNT_TIMEOUT:?}; log:\n{}",
                    mount.mountpoint.display(),
                    mount.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(mount)
    }

    /// The daemon's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's stderr so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Unmounts (retrying while busy), waits for the daemon to exit, and fails if it
    /// exited unsuccessfully (its log is in the error). Kills it by pid only if it
    /// does not exit in time.
    pub(crate) fn stop(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        let mut last_error = String::new();
        while is_mounted(&self.mountpoint) && Instant::now() < deadline {
            let out = match (self.daemon, &self.vexjournal) {
                (Daemon::Vexjournal, Some(bin)) => Command::new(bin)
                    .arg("umount")
                    .arg(&self.mountpoint)
                    .output(),
                _ => Command::new("umount").arg(&self.mountpoint).output(),
            }
            .context("running umount")?;
            if out.status.success() {
                break;
            }
            last_error = String::from_utf8_lossy(&out.stderr).trim().to_string();
            std::thread::sleep(Duration::from_millis(100));
        }
        loop {
            if let Some(status) = child.try_wait().context("waiting for the daemon")? {
                if !status.success() {
                    bail!(
                        "{:?} daemon for {} exited with {status}; its log:\n{}",
                        self.daemon,
                        self.mountpoint.display(),
                        self.log_text()
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{:?} daemon for {} did not exit after the unmount (killed it; umount said {last_error:?}); its log:\n{}",
                    self.daemon,
                    self.mountpoint.display(),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            eprintln!("stopping the mount at {}: {e:#}", self.mountpoint.display());
        }
    }
}

/// CPU seconds (user + system) process `pid` has used so far, from `/proc/PID/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no ')' in /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<u64>()
            .context("a non-numeric tick count in /proc/PID/stat")
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// The number of events in the journal at `dir` (`vexjournal stats -o json`).
pub(crate) fn journal_events(bin: &Path, dir: &Path) -> Result<u64> {
    let out = Command::new(bin)
        .arg("--dir")
        .arg(dir)
        .args(["stats", "-o", "json"])
        .output()
        .context("running vexjournal stats")?;
    if !out.status.success() {
        bail!(
            "vexjournal stats failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing vexjournal stats -o json")?;
    v["events"]
        .as_u64()
        .context("vexjournal stats printed no \"events\" count")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mountinfo(r"/tmp/a\134b"), r"/tmp/a\b");
        assert_eq!(unescape_mountinfo(r"/tmp/plain\"), r"/tmp/plain\");
    }

    #[test]
    fn this_process_uses_cpu() {
        assert!(cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }
}
