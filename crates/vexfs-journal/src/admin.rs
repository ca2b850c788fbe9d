//! Operator tools on a journal directory: what `vexjournal` does besides emitting and
//! reading — checkpoints, restore, index maintenance, the writer lock — without
//! importing the engine's crates.

use std::sync::Arc;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vexfs_journal_cipher::JournalKey;

use vexfs_journal_index::{Index, Rebuilt, idx_path};
use vexfs_journal_storage::{OpenMode, Store};

use crate::error::Result;

pub use vexfs_journal_recovery::{
    Note, Problem, ProblemKind, RecoveryError, RestoreReport, checkpoint, restore, restore_keyed,
};
pub use vexfs_journal_storage::dir::DirLock;

/// Takes the journal's writer lock (fails while a writer has it open): hold the guard
/// while changing files no open journal may see change.
pub fn lock(dir: &Path) -> Result<DirLock> {
    Ok(DirLock::acquire(dir)?)
}

/// Whether `dir` holds a journal (its `journal.json`).
pub fn is_journal(dir: &Path) -> bool {
    dir.join(vexfs_journal_storage::dir::META_FILE).is_file()
}

/// What [`rebuild_indexes`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IndexRebuild {
    /// Segments indexed.
    pub segments: usize,
    /// Events indexed.
    pub events: u64,
    /// Bytes of the index files written.
    pub index_bytes: u64,
    /// Bytes of the segments they index.
    pub segment_bytes: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// Deletes and rebuilds every segment's index file. Takes the writer lock for the
/// duration (the journal must be closed).
/// An encrypted journal needs its `key` (its index files are encrypted with it).
pub fn rebuild_indexes(dir: &Path, key: Option<&Arc<JournalKey>>) -> Result<IndexRebuild> {
    vexfs_journal_storage::JournalMeta::load_effective(dir)?.cipher(dir, key, true)?;
    let _lock = lock(dir)?;
    let (store, _) = Store::open_keyed(dir, OpenMode::ReadOnly, key)?;
    for seg in store.segments() {
        let p = idx_path(seg.path());
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(vexfs_journal_storage::StorageError::Io {
                    op: "removing",
                    path: p,
                    source: e,
                }
                .into());
            }
        }
    }
    let started = Instant::now();
    let (index, report) = Index::open(&store, true)?;
    index.persist_all()?;
    let elapsed = started.elapsed();
    let index_bytes = store
        .segments()
        .iter()
        .filter_map(|s| std::fs::metadata(idx_path(s.path())).ok())
        .map(|m| m.len())
        .sum();
    Ok(IndexRebuild {
        segments: store.segments().len(),
        events: report.events_indexed,
        index_bytes,
        segment_bytes: store.stats().disk_bytes,
        elapsed,
    })
}

/// One index file as [`check_indexes`] found it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IndexFileCheck {
    /// The index file.
    pub path: PathBuf,
    /// Whether its segment is sealed (an open segment's index is kept in memory by
    /// its writer, so a stale file there is expected).
    pub sealed: bool,
    /// Why it cannot be used, in words (`None`: usable).
    pub problem: Option<String>,
}

/// Checks every index file against its segment without changing anything.
/// An encrypted journal needs its `key`.
pub fn check_indexes(dir: &Path, key: Option<&Arc<JournalKey>>) -> Result<Vec<IndexFileCheck>> {
    let (store, _) = Store::open_keyed(dir, OpenMode::ReadOnly, key)?;
    let (_, report) = Index::open(&store, false)?;
    Ok(store
        .segments()
        .iter()
        .map(|seg| {
            let path = idx_path(seg.path());
            let problem =
                report
                    .rebuilt
                    .iter()
                    .find(|(q, _)| *q == path)
                    .map(|(_, why)| match why {
                        Rebuilt::Missing => "missing".to_string(),
                        Rebuilt::Stale(s) => format!("stale: {s}"),
                        Rebuilt::Corrupt(s) => format!("damaged: {s}"),
                    });
            IndexFileCheck {
                path,
                sealed: seg.is_sealed(),
                problem,
            }
        })
        .collect())
}
