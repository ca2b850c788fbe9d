//! [`JournalReader`]: read-only access to a journal another process may be writing.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vexfs_journal_format::record::RecordView;
use vexfs_journal_index::{
    Cursor, DamagedBlock, Executor, Index, IndexError, IndexReport, Page, Query,
};
use vexfs_journal_storage::{JournalMeta, OpenMode, Scan, Store, StoreStats, StoredEvent};

use std::sync::atomic::AtomicBool;

use vexfs_journal_recovery::{Progress, ReplayOptions, ReplayReport, Replayer};

use crate::error::Result;
use crate::replay::ReplayStart;
use crate::subscription::{Source, StartAt, Subscription};

/// A read-only view of a journal. It takes no lock and never changes segments (a torn
/// tail is just not yet written); it sees what the writer appended after
/// [`JournalReader::refresh`]. Missing or damaged index files of sealed segments are
/// rebuilt and, when the directory is writable, saved.
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
}

impl JournalReader {
    /// Opens the journal in `dir` for reading.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader> {
        let dir = dir.as_ref().to_path_buf();
        let meta = JournalMeta::load(&dir)?;
        let (store, _) = Store::open(&dir, OpenMode::ReadOnly)?;
        let (index, index_report) = Index::open(&store, true)?;
        Ok(JournalReader {
            inner: Arc::new(ReaderInner {
                dir,
                meta,
                store: Arc::new(store),
                index,
                index_report,
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

    /// The event with sequence `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        Ok(self.inner.store.get(seq)?)
    }

    /// Events in a sequence range, in order.
    pub fn scan(&self, range: Range<u64>) -> Scan {
        Scan::new(self.inner.store.clone(), range.start, range.end)
    }

    /// Sequence after the last complete event on disk (as of the last refresh).
    pub fn visible_end(&self) -> u64 {
        self.inner.store.next_seq().unwrap_or(0)
    }

    pub(crate) fn executor(&self) -> Executor<'_> {
        Executor {
            index: &self.inner.index,
            store: &self.inner.store,
            journal: self.inner.meta.id,
        }
    }

    /// One page of the events matching `query`.
    pub fn query(&self, query: &Query) -> Result<Page> {
        Ok(self.executor().page(query, self.visible_end())?)
    }

    /// Calls `visit` on each matching record without copying it, until it returns false.
    pub fn query_visit(
        &self,
        query: &Query,
        visit: impl FnMut(&RecordView<'_>) -> bool,
    ) -> Result<()> {
        self.executor().visit(query, self.visible_end(), visit)?;
        Ok(())
    }

    /// The journal's generation: bumped whenever history is rewritten (rollback,
    /// compaction, salvage); cursors carry it.
    pub fn generation(&self) -> u64 {
        self.inner.store.generation()
    }

    /// [`JournalReader::query_visit`] that hands each damaged block to `damaged`
    /// (after visiting every match before it): returning true skips the block and goes
    /// on, false ends the query with [`vexfs_journal_index::IndexError::DamagedBlock`].
    pub fn query_visit_or_skip(
        &self,
        query: &Query,
        visit: impl FnMut(&RecordView<'_>) -> bool,
        mut damaged: impl FnMut(&DamagedBlock) -> bool,
    ) -> Result<()> {
        self.executor()
            .visit_or_skip(query, self.visible_end(), visit, |d| {
                if damaged(&d) {
                    Ok(())
                } else {
                    Err(IndexError::DamagedBlock(Box::new(d)))
                }
            })?;
        Ok(())
    }

    /// Parses a cursor text, refusing cursors of other journals.
    pub fn parse_cursor(&self, text: &str) -> Result<Cursor> {
        let cursor = Cursor::decode(text, self.inner.meta.id)?;
        self.executor().check_cursor(&cursor)?;
        Ok(cursor)
    }

    /// Follows the journal like `journalctl -f`: matching events on disk, then new ones
    /// as the writer appends them (polled).
    pub fn subscribe(&self, query: Query, start: StartAt) -> Result<Subscription> {
        Subscription::new(Source::Reader(self.clone()), query, start)
    }

    fn replayer(&self) -> Replayer<'_> {
        Replayer {
            store: &self.inner.store,
            index: &self.inner.index,
            journal: self.inner.meta.id,
        }
    }

    /// Replays owned events in sequence order (see `vexfs_journal_recovery::replay`);
    /// the sink returns false to stop.
    pub fn replay(
        &self,
        mut options: ReplayOptions,
        start: ReplayStart,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &mut dyn FnMut(StoredEvent) -> bool,
    ) -> Result<ReplayReport> {
        options.query = start.apply(options.query, self.dir(), self.inner.meta.id)?;
        Ok(self
            .replayer()
            .replay(&options, self.visible_end(), cancel, progress, sink)?)
    }

    /// Replays borrowed records in sequence order, without copying them.
    pub fn replay_views(
        &self,
        mut options: ReplayOptions,
        start: ReplayStart,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &mut dyn FnMut(&RecordView<'_>) -> bool,
    ) -> Result<ReplayReport> {
        options.query = start.apply(options.query, self.dir(), self.inner.meta.id)?;
        Ok(self
            .replayer()
            .replay_views(&options, self.visible_end(), cancel, progress, sink)?)
    }

    /// Replays owned events to a sink called from the worker threads, in no order.
    pub fn replay_unordered(
        &self,
        mut options: ReplayOptions,
        start: ReplayStart,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &(dyn Fn(StoredEvent) + Sync),
    ) -> Result<ReplayReport> {
        options.query = start.apply(options.query, self.dir(), self.inner.meta.id)?;
        Ok(self.replayer().replay_unordered(
            &options,
            self.visible_end(),
            cancel,
            progress,
            sink,
        )?)
    }

    /// Counts from the block tables.
    pub fn stats(&self) -> StoreStats {
        self.inner.store.stats()
    }

    /// The segments.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The indexes.
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// What opening the indexes found and rebuilt.
    pub fn index_report(&self) -> &IndexReport {
        &self.inner.index_report
    }
}
