//! A journaling FUSE mirror of a directory (issue 12; work in progress on this branch).
//!
//! Planned layout, one concept per module (see `/work/fuse-research.md` for the API
//! facts this rests on):
//! - `inodes`: nodeids for source inodes keyed by `(dev, ino)`, each holding an
//!   `O_PATH` descriptor and the kernel's lookup count, so hard links share a number,
//!   renames need no fix-up and open-then-unlink keeps working;
//! - `handles`: open files and directories, never-reused handle numbers, the
//!   passthrough backing id shared by every open of an inode;
//! - `fs`: the `fuser::Filesystem` implementation, errno from the source unchanged;
//! - `events`: one journal event per successful mutating operation (and, for files
//!   served by kernel passthrough, a size/mtime change recorded at release);
//! - `mount`: sessions, threads, SIGTERM/SIGINT unmount, closing the journal.
//!
//! The crate imports only the facade (`vexfs-journal`, without tokio).

pub mod capture;
mod events;
mod fs;
mod inodes;

pub use fs::{CaptureCounters, MirrorFs};

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
        let fs = MirrorFs::with_capture(source, journal, capture)?;
        let session = fuser::Session::new(fs, mountpoint, &config(source))?;
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

/// The session settings of a mirror of `source`.
pub fn config(source: &std::path::Path) -> fuser::Config {
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName(format!("vexfs-journal:{}", source.display())),
        fuser::MountOption::Subtype("vexfs-journal".into()),
        fuser::MountOption::DefaultPermissions,
    ];
    cfg.n_threads = Some(2);
    // Other users reach the mount too (like bindfs as root); the kernel checks their
    // permissions (`DefaultPermissions`).
    cfg.acl = fuser::SessionACL::All;
    cfg
}
