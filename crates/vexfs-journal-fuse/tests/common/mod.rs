//! A scratch source and mount point, and a mirror mounted on them, for the mount tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use vexfs_journal::{Config, Journal};
use vexfs_journal_fuse::capture::CaptureConfig;
use vexfs_journal_fuse::{MirrorFs, config};

/// `src/` and `mnt/` (both made) and `j` (not yet) in a fresh temporary directory.
pub struct Scratch {
    pub tmp: tempfile::TempDir,
    pub src: PathBuf,
    pub mnt: PathBuf,
    pub jdir: PathBuf,
}

pub fn scratch() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let (src, mnt, jdir) = (
        tmp.path().join("src"),
        tmp.path().join("mnt"),
        tmp.path().join("j"),
    );
    for d in [&src, &mnt] {
        std::fs::create_dir(d).unwrap();
    }
    Scratch {
        tmp,
        src,
        mnt,
        jdir,
    }
}

/// Mounts a mirror of `s.src` at `s.mnt` journaling into a new journal at `s.jdir`.
pub fn mount(s: &Scratch, capture: CaptureConfig) -> (Journal, fuser::BackgroundSession) {
    let journal = Journal::create(&s.jdir, Config::default()).unwrap();
    let fs = MirrorFs::with_capture(&s.src, journal.clone(), capture).unwrap();
    let session = fuser::spawn_mount(fs, &s.mnt, &config(&s.src, &Default::default())).unwrap();
    (journal, session)
}
