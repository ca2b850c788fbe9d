//! A journaling FUSE mirror of a directory: every operation on the mount runs on
//! the source and becomes a journal event (design: `docs/fuse.md`).
//!
//! - `inodes`: nodeids keyed by source `(dev, ino)`, each holding an `O_PATH`
//!   descriptor and the kernel's lookup count;
//! - `fs`: the `fuser::Filesystem` implementation (handles, passthrough, errno);
//! - [`sink`]: how an operation becomes a journal event ([`FsEventSink`], usable by
//!   any FUSE daemon);
//! - [`capture`]: what is journaled (TOML) and the filter it becomes;
//! - [`vector`], [`graph`]: typed emitters for VexFS's vector store and graph engine
//!   (`docs/emitters.md`).
//!
//! The crate imports only the facade (`vexfs-journal`, without tokio).

pub mod capture;
mod fs;
pub mod graph;
mod inodes;
pub mod sink;
pub mod vector;

pub use fs::MirrorFs;
pub use graph::GraphEvents;
pub use sink::{Caller, CaptureCounters, FsEvent, FsEventSink, FsSubtype, Recorded};
pub use vector::{Emission, EmitError, Outcome, VectorEvents};

/// How a mirror is mounted (beyond its source and mount point).
#[derive(Clone, Debug)]
pub struct MountOptions {
    /// Kernel mount options (`ro`, `noexec`, `nosuid`, …). The source name is always
    /// `vexfs-journal:SOURCE` (`vexjournal umount` knows a mirror by it).
    pub kernel: Vec<fuser::MountOption>,
    /// Who may use the mount: everyone by default (the kernel checks permissions,
    /// `default_permissions`), as bindfs does when run as root.
    pub acl: fuser::SessionACL,
    /// Event-loop threads.
    pub threads: usize,
    /// How long the kernel may cache attributes (`attr_timeout`; zero by default).
    pub attr_timeout: std::time::Duration,
    /// How long the kernel may cache names (`entry_timeout`; zero by default).
    pub entry_timeout: std::time::Duration,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            kernel: Vec::new(),
            acl: fuser::SessionACL::All,
            threads: 2,
            attr_timeout: std::time::Duration::ZERO,
            entry_timeout: std::time::Duration::ZERO,
        }
    }
}

/// An `-o` mount option this mirror does not take.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown mount option {0:?} (known: ro, rw, allow_other, allow_root, nosuid, suid, nodev, dev, noexec, exec, noatime, atime, sync, async, dirsync, threads=N, attr_timeout=SECONDS, entry_timeout=SECONDS)"
)]
pub struct UnknownMountOption(pub String);

impl MountOptions {
    /// Adds the comma-separated options of one `-o` (`ro,noexec,threads=4`).
    pub fn parse(&mut self, list: &str) -> Result<(), UnknownMountOption> {
        use fuser::MountOption as M;
        for opt in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let kernel = match opt {
                "ro" => M::RO,
                "rw" => M::RW,
                "nosuid" => M::NoSuid,
                "suid" => M::Suid,
                "nodev" => M::NoDev,
                "dev" => M::Dev,
                "noexec" => M::NoExec,
                "exec" => M::Exec,
                "noatime" => M::NoAtime,
                "atime" => M::Atime,
                "sync" => M::Sync,
                "async" => M::Async,
                "dirsync" => M::DirSync,
                // Always on: the kernel checks permissions against the mirrored modes.
                "default_permissions" => continue,
                "allow_other" => {
                    self.acl = fuser::SessionACL::All;
                    continue;
                }
                "allow_root" => {
                    self.acl = fuser::SessionACL::RootAndOwner;
                    continue;
                }
                o if o.starts_with("attr_timeout=") || o.starts_with("entry_timeout=") => {
                    let (key, value) = o.split_once('=').unwrap_or((o, ""));
                    let secs = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
                        .ok_or_else(|| UnknownMountOption(o.into()))?;
                    let d = std::time::Duration::from_secs_f64(secs);
                    if key == "attr_timeout" {
                        self.attr_timeout = d;
                    } else {
                        self.entry_timeout = d;
                    }
                    continue;
                }
                o if o.starts_with("threads=") => match o[8..].parse::<usize>() {
                    Ok(n) if (1..=64).contains(&n) => {
                        self.threads = n;
                        continue;
                    }
                    _ => return Err(UnknownMountOption(o.into())),
                },
                o => return Err(UnknownMountOption(o.into())),
            };
            self.kernel.push(kernel);
        }
        Ok(())
    }
}

/// A mounted mirror, not yet serving: take [`Mounted::unmounter`] (for a signal
/// handler), then [`Mounted::serve`] until the mount goes away.
pub struct Mounted {
    session: fuser::Session<MirrorFs>,
}

impl Mounted {
    /// Mounts a journaling mirror of `source` at `mountpoint`; every mutating
    /// operation is journaled into `journal`.
    pub fn new(
        source: &std::path::Path,
        mountpoint: &std::path::Path,
        journal: vexfs_journal::Journal,
        capture: capture::CaptureConfig,
    ) -> std::io::Result<Mounted> {
        let sink = FsEventSink::new(journal, &capture).map_err(std::io::Error::other)?;
        Self::with_sink(
            source,
            mountpoint,
            std::sync::Arc::new(sink),
            capture,
            &MountOptions::default(),
        )
    }

    /// Mounts a mirror journaling through `sink` (which applies `capture`), with
    /// `options`.
    pub fn with_sink(
        source: &std::path::Path,
        mountpoint: &std::path::Path,
        sink: std::sync::Arc<FsEventSink>,
        capture: capture::CaptureConfig,
        options: &MountOptions,
    ) -> std::io::Result<Mounted> {
        raise_descriptor_limit();
        let fs = MirrorFs::with_sink(source, sink, capture)?
            .with_cache(options.attr_timeout, options.entry_timeout);
        let session = fuser::Session::new(fs, mountpoint, &config(source, options))?;
        Ok(Mounted { session })
    }

    /// Unmounts the mirror from another thread (SIGTERM, Ctrl-C): [`Mounted::serve`]
    /// then returns.
    pub fn unmounter(&mut self) -> fuser::SessionUnmounter {
        self.session.unmount_callable()
    }

    /// Serves requests until the mount is gone (unmounted here, by `umount`, or by
    /// `fusermount3 -u`).
    pub fn serve(self) -> std::io::Result<()> {
        self.session.run()
    }
}

/// Raises this process's open-file limit as far as it may go: the mirror holds one
/// `O_PATH` descriptor per inode the kernel knows (`inodes.rs`), so a tree of 100,000
/// files needs 100,000 descriptors. Root raises the hard limit to the kernel's
/// `nr_open` too. Failing leaves the limit as it was (lookups then fail with `EMFILE`
/// past it, and the kernel forgets inodes under memory pressure).
fn raise_descriptor_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let now = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: Some(nr_open),
        maximum: Some(nr_open),
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let hard = now.maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
    }
}

/// The session settings of a mirror of `source` mounted with `options`.
pub fn config(source: &std::path::Path, options: &MountOptions) -> fuser::Config {
    let mut cfg = fuser::Config::default();
    let source = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    cfg.mount_options.push(fuser::MountOption::FSName(format!(
        "vexfs-journal:{}",
        source.display()
    )));
    cfg.mount_options
        .push(fuser::MountOption::Subtype("vexfs-journal".into()));
    cfg.mount_options
        .push(fuser::MountOption::DefaultPermissions);
    cfg.mount_options.extend(options.kernel.iter().cloned());
    cfg.n_threads = Some(options.threads);
    cfg.acl = options.acl;
    cfg
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn mount_options_parse_or_name_the_bad_one() {
        let mut o = MountOptions::default();
        o.parse("ro, noexec,threads=4,attr_timeout=1.5,entry_timeout=0,allow_root")
            .unwrap();
        assert_eq!(
            o.kernel,
            [fuser::MountOption::RO, fuser::MountOption::NoExec]
        );
        assert_eq!(o.threads, 4);
        assert_eq!(o.attr_timeout, std::time::Duration::from_millis(1500));
        assert_eq!(o.entry_timeout, std::time::Duration::ZERO);
        assert_eq!(o.acl, fuser::SessionACL::RootAndOwner);
        for bad in [
            "colour",
            "threads=0",
            "threads=many",
            "attr_timeout=-1",
            "entry_timeout=x",
            "attr_timeout=inf",
            "fsname=x",
        ] {
            let e = MountOptions::default().parse(bad).unwrap_err();
            assert_eq!(e.0, bad);
            assert!(e.to_string().contains("known: ro"), "{e}");
        }
    }
}
