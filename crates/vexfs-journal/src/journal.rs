//! [`Journal`]: the one type other VexFS components use.

use std::ops::Range;
use std::path::Path;

use vexfs_journal_format::{Event, Priority};
use vexfs_journal_storage::{
    Engine, JournalMeta, OpenOptions, OpenReport, Scan, StorageConfig, StorageMetrics, StoredEvent,
};

use crate::config::Config;
use crate::error::Result;

/// An open journal, writable by this process.
///
/// Every method takes `&self` and is safe to call from many threads at once; share
/// the journal in an `Arc`. Dropping it writes, syncs and closes.
///
/// ```
/// use vexfs_journal::{Config, Event, FsOp, Journal};
/// let dir = tempfile::tempdir()?;
/// let journal = Journal::create(dir.path(), Config::default())?;
/// let seq = journal.emit(Event::filesystem(FsOp::Write).path("/models/a.bin").inode(7))?;
/// journal.sync()?;
/// let back = journal.get(seq)?.expect("written");
/// assert_eq!(back.event.context.inode_number, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Journal {
    engine: Engine,
}

impl Journal {
    /// Creates a new journal in `dir` (created if missing; must not hold a journal).
    pub fn create(dir: impl AsRef<Path>, config: Config) -> Result<Journal> {
        Ok(Journal {
            engine: Engine::create(dir, config.to_storage()?)?,
        })
    }

    /// Opens the journal in `dir` with `config`, creating it if the directory holds
    /// none.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Journal> {
        Self::open_storage(dir, Some(config.to_storage()?), true)
    }

    /// Opens an existing journal with the settings stored when it was created.
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Journal> {
        Self::open_storage(dir, None, false)
    }

    fn open_storage(
        dir: impl AsRef<Path>,
        config: Option<StorageConfig>,
        create: bool,
    ) -> Result<Journal> {
        let engine = Engine::open_with(
            dir,
            OpenOptions {
                config,
                create,
                ..Default::default()
            },
        )?;
        Ok(Journal { engine })
    }

    /// Opens with full control of the storage options (observers, fault injection).
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Journal> {
        Ok(Journal {
            engine: Engine::open_with(dir, options)?,
        })
    }

    /// Accepts an event and returns its sequence number at once; it reaches disk with
    /// the next group commit. Fails on an invalid event, a closed or failed journal, or
    /// a full buffer under the `error` policy.
    pub fn emit(&self, event: Event) -> Result<u64> {
        Ok(self.engine.emit(event)?)
    }

    /// [`Journal::emit`] with an explicit priority.
    pub fn emit_with_priority(&self, event: Event, priority: Priority) -> Result<u64> {
        self.emit(event.priority(priority))
    }

    /// Accepts events that reach disk together or not at all, with contiguous sequence
    /// numbers; after a crash either every event of the batch is there or none is.
    pub fn emit_batch_atomic(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let events = events
            .into_iter()
            .map(|e| e.flags(vexfs_journal_format::EventFlags::ATOMIC))
            .collect();
        Ok(self.engine.emit_batch(events)?)
    }

    /// Emits and returns once the event is fsynced.
    pub fn emit_durable(&self, event: Event) -> Result<u64> {
        let seq = self.emit(event)?;
        self.engine.wait_durable(seq + 1)?;
        Ok(seq)
    }

    /// Async [`Journal::emit`]: never blocks the runtime (a full buffer is awaited).
    pub async fn emit_async(&self, event: Event) -> Result<u64> {
        Ok(self.engine.emit_async(event).await?)
    }

    /// Async [`Journal::emit_batch_atomic`].
    pub async fn emit_batch_atomic_async(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let events = events
            .into_iter()
            .map(|e| e.flags(vexfs_journal_format::EventFlags::ATOMIC))
            .collect();
        Ok(self.engine.emit_batch_async(events).await?)
    }

    /// Async [`Journal::emit_durable`].
    pub async fn emit_durable_async(&self, event: Event) -> Result<u64> {
        let seq = self.engine.emit_async(event).await?;
        self.engine.wait_durable_async(seq + 1).await?;
        Ok(seq)
    }

    /// Waits until every sequence below `seq_exclusive` is durable.
    pub fn wait_durable(&self, seq_exclusive: u64) -> Result<()> {
        Ok(self.engine.wait_durable(seq_exclusive)?)
    }

    /// Async [`Journal::wait_durable`].
    pub async fn wait_durable_async(&self, seq_exclusive: u64) -> Result<()> {
        Ok(self.engine.wait_durable_async(seq_exclusive).await?)
    }

    /// Waits until everything accepted so far is written (visible to readers).
    pub fn flush(&self) -> Result<()> {
        Ok(self.engine.flush()?)
    }

    /// Waits until everything accepted so far is fsynced.
    pub fn sync(&self) -> Result<()> {
        Ok(self.engine.sync()?)
    }

    /// The event with sequence `seq`, once written.
    pub fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        Ok(self.engine.get(seq)?)
    }

    /// Written events in a sequence range, in order.
    pub fn scan(&self, range: Range<u64>) -> Scan {
        self.engine.scan(range)
    }

    /// Next sequence number to be assigned.
    pub fn next_seq(&self) -> u64 {
        self.engine.next_seq()
    }

    /// Every sequence below this is durable.
    pub fn durable_seq(&self) -> u64 {
        self.engine.durable_seq()
    }

    /// Counts from the block tables.
    pub fn stats(&self) -> vexfs_journal_storage::StoreStats {
        self.engine.store().stats()
    }

    /// Current metrics.
    pub fn metrics(&self) -> StorageMetrics {
        self.engine.metrics()
    }

    /// Zeroes the metrics.
    pub fn reset_metrics(&self) {
        self.engine.reset_metrics();
    }

    /// Identity and stored settings.
    pub fn meta(&self) -> &JournalMeta {
        self.engine.meta()
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        self.engine.open_report()
    }

    /// The storage engine underneath (indexes, tools).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Writes and syncs everything accepted, then closes. Later calls fail with
    /// `closed`.
    pub fn close(&self) -> Result<()> {
        Ok(self.engine.close()?)
    }
}
