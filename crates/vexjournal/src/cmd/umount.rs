//! `vexjournal umount MOUNTPOINT`: unmount a mirror, whether its daemon is alive or
//! was killed.
//!
//! A mirror whose daemon died (`kill -9`, a crash, the OOM killer) stays mounted: every
//! access to it fails with `ENOTCONN` ("Transport endpoint is not connected") until it
//! is unmounted. `umount2` still takes it away as root; if something still holds it
//! (a shell's working directory, an open file) the kernel says `EBUSY`, and a dead
//! mount then gets a lazy unmount (`MNT_DETACH`): it disappears from the namespace at
//! once and the kernel frees it when the last user lets go. A live mount that is busy
//! is left alone, since its daemon is still serving someone.
//!
//! Which mounts it takes: only FUSE mounts, and without `--force` only mirrors made by
//! `vexjournal mount` (their source reads `vexfs-journal:…`). A mistyped path must not
//! be able to take `/home` or somebody's `sshfs` mount away; `umount(8)` is the tool
//! for other file systems, and this one's fallbacks (a dead daemon, `fusermount3` for
//! a user without the right to unmount) only mean anything for FUSE. `--force` lets it
//! take another FUSE mount, never a non-FUSE one.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rustix::io::Errno;
use rustix::mount::UnmountFlags;

/// Unmount a mirror made by `vexjournal mount`, also when its daemon has died.
#[derive(Debug, clap::Args)]
pub struct UmountArgs {
    /// The mount point.
    mountpoint: PathBuf,
    /// Also unmount a FUSE mount that `vexjournal mount` did not make (never a non-FUSE
    /// file system: use umount(8) for those).
    #[arg(long)]
    force: bool,
}

/// Whether `path` is (or leads to) a FUSE mount whose daemon is gone: `stat` of it
/// fails with `ENOTCONN` ("Transport endpoint is not connected").
pub fn dead_mount(path: &Path) -> bool {
    matches!(rustix::fs::stat(path), Err(Errno::NOTCONN))
}

/// One line of `/proc/self/mountinfo`, the parts this command needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    /// Where it is mounted (unescaped).
    pub(crate) mount_point: PathBuf,
    /// The file system type (`fuse`, `fuse.sshfs`, `ext4`, …).
    fs_type: String,
    /// The mount source (`vexfs-journal:/data` for a mirror).
    source: String,
}

impl MountEntry {
    pub(crate) fn is_fuse(&self) -> bool {
        self.fs_type == "fuse" || self.fs_type == "fuseblk" || self.fs_type.starts_with("fuse.")
    }

    fn is_mirror(&self) -> bool {
        self.is_fuse()
            && (self.source.starts_with("vexfs-journal:") || self.fs_type == "fuse.vexfs-journal")
    }
}

/// Undoes the octal escapes of mountinfo (`\040` for a space, `\134` for `\`, …).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .all(|c| (b'0'..=b'7').contains(c))
                .then(|| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')))
        });
        match (b[i], oct.and_then(|n| u8::try_from(n).ok())) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The mounts of this process's namespace (`/proc/self/mountinfo`), in mount order.
pub(crate) fn mounts() -> Result<Vec<MountEntry>> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(parse_mountinfo(&text))
}

/// Parses mountinfo text; lines it cannot read are skipped.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fs_type = right.next()?;
            let source = right.next()?;
            Some(MountEntry {
                mount_point: PathBuf::from(OsString::from_vec(unescape(mount_point))),
                fs_type: String::from_utf8_lossy(&unescape(fs_type)).into_owned(),
                source: String::from_utf8_lossy(&unescape(source)).into_owned(),
            })
        })
        .collect()
}

/// The absolute path of `path` as mountinfo writes it, without looking at the mount
/// (a dead mount cannot be looked at): its parent is resolved, its last component kept
/// (or followed, when it is a symbolic link).
fn mount_path(path: &Path) -> Result<PathBuf> {
    mount_path_within(path, 40)
}

fn mount_path_within(path: &Path, links: u32) -> Result<PathBuf> {
    match path.canonicalize() {
        Ok(p) => return Ok(p),
        Err(e) if e.raw_os_error() != Some(Errno::NOTCONN.raw_os_error()) => {
            return Err(e).with_context(|| format!("{} cannot be reached", path.display()));
        }
        Err(_) => {}
    }
    let abs =
        std::path::absolute(path).with_context(|| format!("making {} absolute", path.display()))?;
    let (Some(parent), Some(Component::Normal(name))) =
        (abs.parent(), abs.components().next_back())
    else {
        bail!("{}: cannot tell which mount this is", path.display());
    };
    let parent = parent
        .canonicalize()
        .with_context(|| format!("resolving {}", parent.display()))?;
    let joined = parent.join(name);
    match std::fs::read_link(&joined) {
        Ok(_) if links == 0 => bail!("{}: too many symbolic links", path.display()),
        Ok(target) => mount_path_within(&parent.join(target), links - 1),
        Err(_) => Ok(joined),
    }
}

/// The topmost mount at `path`, if any.
fn find_mount(path: &Path) -> Result<Option<MountEntry>> {
    Ok(mounts()?
        .into_iter()
        .rev()
        .find(|m| m.mount_point.as_os_str().as_bytes() == path.as_os_str().as_bytes()))
}

/// `fusermount3 -u [-z] PATH` (or `fusermount`), for a user who may not call umount2.
/// `None` when neither is installed.
fn fusermount(path: &Path, lazy: bool) -> Option<Result<()>> {
    for tool in ["fusermount3", "fusermount"] {
        let mut cmd = std::process::Command::new(tool);
        cmd.arg(if lazy { "-uz" } else { "-u" }).arg("--").arg(path);
        match cmd.status() {
            Ok(s) if s.success() => return Some(Ok(())),
            Ok(s) => {
                return Some(Err(anyhow::anyhow!(
                    "{tool} -u {} failed ({s}; only root or the user who mounted it may unmount it)",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Some(Err(e).with_context(|| format!("running {tool}"))),
        }
    }
    None
}

/// Unmounts the mirror at `args.mountpoint`, whether its daemon is alive or dead.
pub fn run(args: &UmountArgs) -> Result<ExitCode> {
    let given = &args.mountpoint;
    let dead = dead_mount(given);
    if !dead && let Err(e) = std::fs::symlink_metadata(given) {
        if e.kind() == std::io::ErrorKind::NotFound {
            bail!("{} does not exist (nothing to unmount)", given.display());
        }
        return Err(e).with_context(|| format!("{} cannot be reached", given.display()));
    }
    let path = mount_path(given)?;
    let Some(entry) = find_mount(&path)? else {
        bail!(
            "{} is not a mount point (nothing to unmount)",
            given.display()
        );
    };
    if !entry.is_fuse() {
        bail!(
            "{} is a mount of type {}, not a vexjournal mirror: refusing (use umount(8))",
            given.display(),
            entry.fs_type
        );
    }
    if !entry.is_mirror() && !args.force {
        bail!(
            "{} is a FUSE mount of {} ({}), not a vexjournal mirror: refusing \
             without --force",
            given.display(),
            entry.source,
            entry.fs_type
        );
    }
    let daemons = if dead { Vec::new() } else { daemons_of(&path) };
    let how = match rustix::mount::unmount(&path, UnmountFlags::empty()) {
        Ok(()) => "unmounted",
        Err(Errno::BUSY) if dead => {
            rustix::mount::unmount(&path, UnmountFlags::DETACH)
                .with_context(|| format!("detaching {}", given.display()))?;
            "it was still in use, so it was detached lazily (MNT_DETACH): gone now, freed \
             by the kernel once the last process using it lets go"
        }
        Err(Errno::BUSY) => bail!(
            "{} is busy: a process still uses it (close it, or see `fuser -m {}`)",
            given.display(),
            given.display()
        ),
        Err(Errno::INVAL) => {
            bail!(
                "{} is not a mount point (nothing to unmount)",
                given.display()
            )
        }
        Err(Errno::PERM) => match fusermount(&path, false) {
            Some(Ok(())) => "unmounted with fusermount3",
            Some(Err(e)) if dead => match fusermount(&path, true) {
                Some(Ok(())) => "detached lazily with fusermount3 -z",
                _ => return Err(e),
            },
            Some(Err(e)) => return Err(e),
            None => bail!(
                "not allowed to unmount {} (run as root, or install fuse3's fusermount3)",
                given.display()
            ),
        },
        Err(e) => return Err(e).with_context(|| format!("unmounting {}", given.display())),
    };
    let why = if dead { "its daemon had died; " } else { "" };
    eprintln!("{}: {why}{how}", given.display());
    wait_for_exit(&daemons, given);
    Ok(ExitCode::SUCCESS)
}

/// The `vexjournal mount` processes serving the mount at `path` (canonical): their
/// command line has `mount` and `--foreground`, and an argument that names `path`
/// from their working directory. Found before unmounting, so that `umount` returns
/// only once the journal is closed (a script may open it right after).
fn daemons_of(path: &Path) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_ours = args.first().is_some_and(|a| a.ends_with(b"vexjournal"))
            && args.contains(&&b"mount"[..])
            && args.contains(&&b"--foreground"[..]);
        if !is_ours {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(p.path().join("cwd")) else {
            continue;
        };
        let names_it = args.iter().any(|a| {
            let arg = Path::new(std::ffi::OsStr::from_bytes(a));
            cwd.join(arg).canonicalize().is_ok_and(|c| c == path)
        });
        if names_it && pid != std::process::id() {
            found.push(pid);
        }
    }
    found
}

/// Waits (up to 30 s) until processes `pids` have exited (or are zombies).
fn wait_for_exit(pids: &[u32], shown: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
            // The state follows the parenthesised command name.
            st.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
        })
    };
    while pids.iter().any(alive) {
        if std::time::Instant::now() > deadline {
            eprintln!(
                "{}: its daemon (pid {pids:?}) is still closing the journal after 30 s",
                shown.display()
            );
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_parsed_and_unescaped() {
        let text = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    42 27 0:39 / /tmp/a\\040b rw,nosuid - fuse vexfs-journal:src rw,user_id=0\n\
                    43 27 0:40 / /mnt/s rw - fuse.sshfs host:/x rw\n\
                    garbage\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].mount_point, Path::new("/tmp/a b"));
        assert!(m[1].is_mirror());
        assert!(m[2].is_fuse() && !m[2].is_mirror());
        assert!(!m[0].is_fuse());
        assert_eq!(unescape(r"a\134b\01"), b"a\\b\\01");
        assert_eq!(unescape(r"/tmp/a\040b"), b"/tmp/a b");
        assert_eq!(unescape(r"/tmp/x\134y"), br"/tmp/x\y");
        assert_eq!(unescape("/plain"), b"/plain");
        assert_eq!(unescape(r"/end\04"), br"/end\04");
    }
}
