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
