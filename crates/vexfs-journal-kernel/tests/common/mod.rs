//! Helpers shared by the bridge's integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};

use vexfs_journal::{Config, Event, FsyncPolicy, Journal};
use vexfs_journal_format::SystemOp;
use vexfs_journal_kernel::WriterOptions;
#[allow(unused_imports)]
pub use vexfs_journal_testkit::kernel::{image_bytes, kernel_event, kernel_image};

/// A journal in a fresh temporary directory (fsync on every batch).
pub fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(
        journal_dir(&dir),
        Config {
            fsync: FsyncPolicy::Batch,
            ..Config::default()
        },
    )
    .unwrap();
    (dir, j)
}

/// The directory of the journal [`journal`] created in `dir`.
pub fn journal_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("j")
}

/// A userspace event (ids assigned by the journal).
pub fn user_event(i: u64) -> Event {
    Event::system(SystemOp::Checkpoint).memory_usage(i)
}

/// Writes an image of `events` to `path`.
pub fn write_image_file(path: &Path, events: &[Event], opts: WriterOptions) {
    std::fs::write(path, image_bytes(events, opts)).unwrap();
}
