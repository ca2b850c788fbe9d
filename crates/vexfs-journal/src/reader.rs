//! [`JournalReader`]: read-only access to a journal another process may be writing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vexfs_journal_cipher::JournalKey;
use vexfs_journal_index::{Index, IndexReport};
use vexfs_journal_storage::{JournalMeta, OpenMode, Store};

use crate::error::Result;
use crate::read::Follow;
use crate::read::sealed::{Parts, Source};

/// A read-only view of a journal. It takes no lock and never changes segments (a torn
/// tail is just not yet written); it sees what the writer appended after
/// [`JournalReader::refresh`]. Missing or damaged index files of sealed segments are
/// rebuilt and, when the directory is writable, saved. Its reads are the read core it
/// shares with [`Journal`](crate::Journal): see [`Follow`].
#[derive(Debug, Clone)]
pub struct JournalReader {
    inner: Arc<ReaderInner>,
}

#[derive(Debug)]
struct ReaderInner {
    dir: PathBuf,
    meta: JournalMeta,
    store: Arc<Store>,
    index: Index,
    index_report: IndexReport,
    committed: crate::committed::Committed,
}

impl JournalReader {
    /// Opens the journal in `dir` for reading.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader> {
        Self::open_keyed(dir, None)
    }

    /// Opens the journal in `dir` for reading with its key (required when it is
    /// encrypted; not needed, and unused, when it is not).
    pub fn open_keyed(
        dir: impl AsRef<Path>,
        key: Option<Arc<JournalKey>>,
    ) -> Result<JournalReader> {
        let dir = dir.as_ref().to_path_buf();
        let meta = JournalMeta::load(&dir)?;
        let (store, _) = Store::open_keyed(&dir, OpenMode::ReadOnly, key.as_ref())?;
        let (index, index_report) = Index::open(&store, true)?;
        Ok(JournalReader {
            inner: Arc::new(ReaderInner {
                dir,
                meta,
                store: Arc::new(store),
                index,
                index_report,
                committed: Default::default(),
            }),
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Identity and stored settings.
    pub fn meta(&self) -> &JournalMeta {
        &self.inner.meta
    }

    /// Picks up what the writer appended since opening or the last refresh; returns
    /// the number of new blocks.
    pub fn refresh(&self) -> Result<usize> {
        let added = self.inner.store.refresh()?;
        self.inner.index.catch_up(&self.inner.store)?;
        Ok(added)
    }

    /// Sequence after the last complete event on disk (as of the last refresh).
    pub fn visible_end(&self) -> u64 {
        self.inner.store.next_seq().unwrap_or(0)
    }

    /// The segments (tools; going away: use [`crate::ext`]).
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// What opening the indexes found and rebuilt.
    pub fn index_report(&self) -> &IndexReport {
        &self.inner.index_report
    }
}

impl Follow for JournalReader {}

/// A reader's reads: everything on disk as of the last refresh; subscriptions poll the
/// files. It never closes.
impl Source for JournalReader {
    fn parts(&self) -> Parts<'_> {
        Parts {
            store: &self.inner.store,
            index: &self.inner.index,
            journal: self.inner.meta.id,
            dir: &self.inner.dir,
        }
    }

    fn committed(&self) -> &crate::committed::Committed {
        &self.inner.committed
    }

    fn query_end(&self) -> u64 {
        self.visible_end()
    }

    /// A scan reads whole blocks only, so it is not cut at the last refresh.
    fn scan_end(&self) -> u64 {
        u64::MAX
    }

    fn follow_end(&self) -> u64 {
        self.visible_end()
    }

    fn replay_end(&self) -> u64 {
        self.visible_end()
    }

    fn is_closed(&self) -> bool {
        false
    }

    fn update(&self) -> Result<()> {
        self.refresh().map(|_| ())
    }

    fn wait(&self, _position: u64, wait: Duration) -> Result<()> {
        std::thread::sleep(wait);
        self.refresh().map(|_| ())
    }

    #[cfg(feature = "async")]
    async fn wait_async(&self, _position: u64, wait: Duration) -> Result<()> {
        tokio::time::sleep(wait).await;
        // A refresh reads files and may wait for another thread's refresh of this
        // reader (they are serialised): run it on the blocking pool, not on a thread
        // that drives other tasks.
        let reader = self.clone();
        match tokio::task::spawn_blocking(move || reader.refresh()).await {
            Ok(refreshed) => refreshed.map(|_| ()),
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            // The runtime is shutting down: refresh here instead.
            Err(_) => self.refresh().map(|_| ()),
        }
    }
}
