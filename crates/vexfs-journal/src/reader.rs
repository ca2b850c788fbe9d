//! [`JournalReader`]: read-only access to a journal another process may be writing.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vexfs_journal_storage::{JournalMeta, OpenMode, Scan, Store, StoreStats, StoredEvent};

use crate::error::Result;

/// A read-only view of a journal. It takes no lock, changes nothing on disk (a torn
/// tail is just treated as not yet written) and sees what the writer appends after
/// [`JournalReader::refresh`].
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    meta: JournalMeta,
    store: Arc<Store>,
}

impl JournalReader {
    /// Opens the journal in `dir` for reading.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader> {
        let dir = dir.as_ref().to_path_buf();
        let meta = JournalMeta::load(&dir)?;
        let (store, _) = Store::open(&dir, OpenMode::ReadOnly)?;
        Ok(JournalReader {
            dir,
            meta,
            store: Arc::new(store),
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Identity and stored settings.
    pub fn meta(&self) -> &JournalMeta {
        &self.meta
    }

    /// Picks up what the writer appended since opening or the last refresh; returns
    /// the number of new blocks.
    pub fn refresh(&self) -> Result<usize> {
        Ok(self.store.refresh()?)
    }

    /// The event with sequence `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        Ok(self.store.get(seq)?)
    }

    /// Events in a sequence range, in order.
    pub fn scan(&self, range: Range<u64>) -> Scan {
        Scan::new(self.store.clone(), range.start, range.end)
    }

    /// Counts from the block tables.
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// The segments.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}
