//! [`Journal`]: the one type other VexFS components use.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{Event, Priority};
use vexfs_journal_index::{Index, IndexObserver, IndexReport};
use vexfs_journal_storage::{
    BlockObserver, Engine, FsyncPolicy, JournalMeta, OpenOptions, OpenReport, Segment,
    StorageHistograms, StorageMetrics,
};

use vexfs_journal_recovery::{
    CheckpointInfo, RecoveryMode, RecoveryReport, VerifyReport, checkpoint,
};

use crate::config::Config;
use crate::error::Result;
use crate::read::Follow;
use crate::read::sealed::{Parts, Source};

/// An open journal, writable by this process.
///
/// A cheap handle: clone it to share the journal between threads and tasks; every
/// method takes `&self`. The journal closes (writing, syncing and persisting its
/// indexes) when the last handle is dropped or [`Journal::close`] is called. Its reads
/// (get, scan, query, cursors, subscriptions, replay) are the read core it shares with
/// [`JournalReader`](crate::JournalReader): see [`Follow`].
///
/// ```
/// use vexfs_journal::{Config, Event, FsOp, Journal, Query};
/// let dir = tempfile::tempdir()?;
/// let journal = Journal::create(dir.path(), Config::default())?;
/// let seq = journal.emit(Event::filesystem(FsOp::Write).path("/models/a.bin").inode(7))?;
/// journal.sync()?;
/// let back = journal.get(seq)?.expect("written");
/// assert_eq!(back.event.context.inode_number, 7);
/// let page = journal.query(&Query::new().path_prefix("/models/").limit(10))?;
/// assert_eq!(page.events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Journal {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    engine: Engine,
    index: Arc<Index>,
    index_report: IndexReport,
    recovery_report: RecoveryReport,
    consumers: Mutex<BTreeMap<String, u64>>,
    checkpointer: Mutex<Option<Checkpointer>>,
    /// Checkpoints this process created (periodic and explicit).
    checkpoints: AtomicU64,
    /// Checkpoints this process tried and failed to create.
    checkpoint_failures: AtomicU64,
    closed: AtomicBool,
    pub(crate) extensions: crate::ext::Extensions,
    /// What reads may deliver while coordinated transactions are open.
    committed: crate::committed::Committed,
}

/// Checkpoints taken by one open journal: see [`Journal::checkpoint_counts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckpointCounts {
    /// Checkpoints created, periodic and explicit.
    pub created: u64,
    /// Attempts that failed.
    pub failed: u64,
}

/// The periodic checkpoint thread and its stop signal.
#[derive(Debug)]
struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn start(inner: Weak<Inner>, every: Duration) -> std::io::Result<Checkpointer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let handle = std::thread::Builder::new()
            .name("vexjournal-checkpoint".into())
            .spawn(move || {
                let (lock, cvar) = &*signal;
                loop {
                    let stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let (stopped, _) = cvar
                        .wait_timeout_while(stopped, every, |s| !*s)
                        .unwrap_or_else(|p| p.into_inner());
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    let Some(inner) = inner.upgrade() else { return };
                    if let Err(e) = inner.checkpoint() {
                        tracing::warn!(error = %e, "periodic checkpoint failed");
                    }
                }
            })?;
        Ok(Checkpointer { stop, handle })
    }

    fn stop(self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        // The thread may be the one dropping the last handle: it cannot join itself.
        if self.handle.thread().id() != std::thread::current().id() {
            let _ = self.handle.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Inner {
    fn checkpoint(&self) -> Result<CheckpointInfo> {
        let consumers: Vec<(String, u64)> = self
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        match checkpoint::create(&self.engine, Some(&self.index), &consumers) {
            Ok(c) => {
                self.checkpoints.fetch_add(1, Ordering::Relaxed);
                Ok(c.info)
            }
            Err(e) => {
                self.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = checkpointer {
            c.stop();
        }
        let closed = self.engine.close();
        // Persist the growing segment's index so a clean reopen needs no rebuild.
        if let Err(e) = self.index.persist_all() {
            tracing::warn!(error = %e, "could not persist indexes; they will be rebuilt on open");
        }
        Ok(closed?)
    }
}

/// Feeds blocks to the index once it is attached (the engine starts before the index
/// can be opened on its segments), then to the caller's observer if any.
struct LateIndexObserver {
    index: Arc<OnceLock<Arc<Index>>>,
    inner: Option<IndexObserver>,
    user: Option<Box<dyn BlockObserver>>,
}

impl LateIndexObserver {
    fn index(&mut self) -> Option<&mut IndexObserver> {
        if self.inner.is_none() {
            self.inner = self.index.get().map(|i| IndexObserver::new(i.clone()));
        }
        self.inner.as_mut()
    }
}

impl BlockObserver for LateIndexObserver {
    fn on_block(&mut self, segment: &Segment, entry: &BlockEntry, records: &[u8]) {
        if let Some(i) = self.index() {
            i.on_block(segment, entry, records);
        }
        if let Some(u) = self.user.as_mut() {
            u.on_block(segment, entry, records);
        }
    }

    fn on_seal(&mut self, segment: &Segment) {
        if let Some(i) = self.index() {
            i.on_seal(segment);
        }
        if let Some(u) = self.user.as_mut() {
            u.on_seal(segment);
        }
    }

    fn on_remove(&mut self, segment: &Segment) {
        if let Some(i) = self.index() {
            i.on_remove(segment);
        }
        if let Some(u) = self.user.as_mut() {
            u.on_remove(segment);
        }
    }
}

impl Journal {
    /// Creates a new journal in `dir` (created if missing; must not hold a journal).
    pub fn create(dir: impl AsRef<Path>, config: Config) -> Result<Journal> {
        let options = OpenOptions {
            config: Some(config.to_storage()?),
            create: true,
            create_new: true,
            ..Default::default()
        };
        Self::open_config(dir, &config, options)
    }

    /// Opens the journal in `dir` with `config`, creating it if the directory holds
    /// none.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Journal> {
        let options = OpenOptions {
            config: Some(config.to_storage()?),
            create: true,
            ..Default::default()
        };
        Self::open_config(dir, &config, options)
    }

    /// Opens an existing journal with the settings stored when it was created (and
    /// the default recovery mode and checkpoint interval).
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Journal> {
        Self::open_existing_with(
            dir,
            RecoveryMode::TolerateTail,
            Config::default().checkpoint_interval_s,
        )
    }

    /// [`Journal::open_existing`] with a recovery mode and a checkpoint interval
    /// (seconds, 0: off).
    pub fn open_existing_with(
        dir: impl AsRef<Path>,
        recovery: RecoveryMode,
        checkpoint_interval_s: u64,
    ) -> Result<Journal> {
        Self::open_full(dir, OpenOptions::default(), recovery, checkpoint_interval_s)
    }

    /// Opens with full control of the storage options (observers, fault injection);
    /// recovery mode tolerate-tail, no periodic checkpoints.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Journal> {
        Self::open_full(dir, options, RecoveryMode::TolerateTail, 0)
    }

    /// [`Journal::open_existing_with`] with storage options too, such as
    /// `allow_others_writable` (see [`Config::allow_others_writable`]).
    pub fn open_existing_with_options(
        dir: impl AsRef<Path>,
        options: OpenOptions,
        recovery: RecoveryMode,
        checkpoint_interval_s: u64,
    ) -> Result<Journal> {
        Self::open_full(dir, options, recovery, checkpoint_interval_s)
    }

    fn open_config(
        dir: impl AsRef<Path>,
        config: &Config,
        options: OpenOptions,
    ) -> Result<Journal> {
        let options = OpenOptions {
            allow_others_writable: config.allow_others_writable,
            key: config.encryption_key.clone(),
            ..options
        };
        Self::open_full(dir, options, config.recovery, config.checkpoint_interval_s)
    }

    fn open_full(
        dir: impl AsRef<Path>,
        mut options: OpenOptions,
        recovery: RecoveryMode,
        checkpoint_interval_s: u64,
    ) -> Result<Journal> {
        let dir = dir.as_ref();
        if !options.allow_others_writable && dir.is_dir() {
            // Before recovery's preparation, which may already write.
            vexfs_journal_storage::dir::refuse_others_writable(dir)?;
        }
        if let Ok(meta) = vexfs_journal_storage::dir::JournalMeta::load_effective(dir) {
            // Before recovery's preparation too: a wrong key changes nothing.
            meta.cipher(dir, options.key.as_ref(), true)?;
        }
        let plan = vexfs_journal_recovery::prepare_keyed(dir, recovery, options.key.as_ref())?;
        options.strict = plan.strict;
        options.trusted_prefix = plan.trusted_prefix.clone();
        let slot = Arc::new(OnceLock::new());
        options.observer = Some(Box::new(LateIndexObserver {
            index: slot.clone(),
            inner: None,
            user: options.observer.take(),
        }));
        let engine = Engine::open_with(dir, options)?;
        let recovery_report = plan.finish(engine.open_report());
        if recovery_report.bytes_cut > 0 || recovery_report.segments_repaired > 0 {
            tracing::warn!(bytes_cut = recovery_report.bytes_cut, torn_files = ?recovery_report.torn_files, repaired = recovery_report.segments_repaired, "recovery repaired the journal");
        }
        let (index, index_report) = Index::open(engine.store(), true)?;
        let index = Arc::new(index);
        let _ = slot.set(index.clone());
        let inner = Arc::new(Inner {
            engine,
            index,
            index_report,
            recovery_report,
            consumers: Mutex::new(BTreeMap::new()),
            checkpointer: Mutex::new(None),
            checkpoints: AtomicU64::new(0),
            checkpoint_failures: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            extensions: Default::default(),
            committed: Default::default(),
        });
        if checkpoint_interval_s > 0 {
            let c = Checkpointer::start(
                Arc::downgrade(&inner),
                Duration::from_secs(checkpoint_interval_s),
            )
            .map_err(|e| vexfs_journal_storage::StorageError::Io {
                op: "starting the checkpoint thread for",
                path: dir.to_path_buf(),
                source: e,
            })?;
            *inner.checkpointer.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
        }
        Ok(Journal { inner })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Accepts an event and returns its sequence number at once; it reaches disk with
    /// the next group commit. Fails on an invalid event, a closed or failed journal, or
    /// a full buffer under the `error` policy.
    pub fn emit(&self, event: Event) -> Result<u64> {
        Ok(self.engine().emit(event)?)
    }

    /// Checks that `event` would be accepted, naming what does not fit, without
    /// emitting it.
    pub fn check_event(&self, event: &Event) -> Result<()> {
        Ok(self.engine().check_event(event)?)
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
        Ok(self.engine().emit_batch(events)?)
    }

    /// Emits and returns once the event is fsynced. When the journal's writer is idle
    /// the event is written and synced on the calling thread (no hand-off); callers
    /// arriving together share one fsync.
    pub fn emit_durable(&self, event: Event) -> Result<u64> {
        Ok(self.engine().emit_durable(event)?)
    }

    /// [`Journal::emit_batch_atomic`] that returns once the batch is fsynced: the
    /// whole batch costs one write and one fsync.
    pub fn emit_batch_durable(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let events = events
            .into_iter()
            .map(|e| e.flags(vexfs_journal_format::EventFlags::ATOMIC))
            .collect();
        Ok(self.engine().emit_batch_durable(events)?)
    }

    /// Async [`Journal::emit`]: never blocks the runtime (a full buffer is awaited).
    #[cfg(feature = "async")]
    pub async fn emit_async(&self, event: Event) -> Result<u64> {
        Ok(self.engine().emit_async(event).await?)
    }

    /// Async [`Journal::emit_batch_atomic`].
    #[cfg(feature = "async")]
    pub async fn emit_batch_atomic_async(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let events = events
            .into_iter()
            .map(|e| e.flags(vexfs_journal_format::EventFlags::ATOMIC))
            .collect();
        Ok(self.engine().emit_batch_async(events).await?)
    }

    /// Async [`Journal::emit_durable`].
    #[cfg(feature = "async")]
    pub async fn emit_durable_async(&self, event: Event) -> Result<u64> {
        let seq = self.engine().emit_async(event).await?;
        self.engine().wait_durable_async(seq + 1).await?;
        Ok(seq)
    }

    /// Waits until every sequence below `seq_exclusive` is durable.
    pub fn wait_durable(&self, seq_exclusive: u64) -> Result<()> {
        Ok(self.engine().wait_durable(seq_exclusive)?)
    }

    /// Async [`Journal::wait_durable`].
    #[cfg(feature = "async")]
    pub async fn wait_durable_async(&self, seq_exclusive: u64) -> Result<()> {
        Ok(self.engine().wait_durable_async(seq_exclusive).await?)
    }

    /// Waits until every sequence below `seq_exclusive` is written: visible to this
    /// handle's queries and to readers in other processes (durable or not).
    pub fn wait_written(&self, seq_exclusive: u64) -> Result<()> {
        Ok(self.engine().wait_written(seq_exclusive)?)
    }

    /// Waits until everything accepted so far is written (visible to readers).
    pub fn flush(&self) -> Result<()> {
        Ok(self.engine().flush()?)
    }

    /// Waits until everything accepted so far is fsynced.
    pub fn sync(&self) -> Result<()> {
        Ok(self.engine().sync()?)
    }

    /// Next sequence number to be assigned.
    pub fn next_seq(&self) -> u64 {
        self.engine().next_seq()
    }

    /// Tells this journal's hybrid logical clock of a time seen elsewhere (another
    /// journal's event that causes the next ones here): every event emitted from now
    /// on that this journal times is later than `time_ns` (events emitted before but
    /// not yet written may be too; I56, `docs/coordinator.md`).
    pub fn observe_time(&self, time_ns: i64) {
        self.engine().clock().observe(time_ns);
    }

    /// The latest time this journal's clock has assigned or observed: pass it to
    /// another journal's [`Journal::observe_time`] to order that journal's next events
    /// after this one's.
    pub fn clock_time(&self) -> i64 {
        self.engine().clock().now()
    }

    /// Every sequence below this is durable.
    pub fn durable_seq(&self) -> u64 {
        self.engine().durable_seq()
    }

    /// Current metrics.
    pub fn metrics(&self) -> StorageMetrics {
        self.engine().metrics()
    }

    /// Owned copies of the emit latency, fsync latency and batch-size histograms
    /// (zeroed with the metrics by [`Journal::reset_metrics`]).
    pub fn histograms(&self) -> StorageHistograms {
        self.engine().histograms()
    }

    /// Checkpoints this process created and failed to create since the journal
    /// opened, periodic and explicit.
    pub fn checkpoint_counts(&self) -> CheckpointCounts {
        CheckpointCounts {
            created: self.inner.checkpoints.load(Ordering::Relaxed),
            failed: self.inner.checkpoint_failures.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the metrics.
    pub fn reset_metrics(&self) {
        self.engine().reset_metrics();
    }

    /// Identity and stored settings.
    pub fn meta(&self) -> &JournalMeta {
        self.engine().meta()
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        self.engine().open_report()
    }

    /// What recovery found and did when the journal opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery_report
    }

    /// Takes a checkpoint now: a durable position recovery trusts (scanning only what
    /// follows) and replay resumes from, with the consumer positions.
    pub fn create_checkpoint(&self) -> Result<CheckpointInfo> {
        self.inner.checkpoint()
    }

    /// The journal's checkpoints, oldest first; damaged ones as `(file, reason)`.
    pub fn list_checkpoints(
        &self,
    ) -> Vec<std::result::Result<CheckpointInfo, (std::path::PathBuf, String)>> {
        checkpoint::list(self.engine().dir())
    }

    /// Records that consumer `name` has processed everything up to `seq`; the next
    /// checkpoint saves it so replay can resume there.
    pub fn set_consumer_position(&self, name: &str, seq: u64) {
        self.inner
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), seq);
    }

    /// Verifies the journal's files (after syncing): see `vexfs_journal_recovery::verify`.
    pub fn verify(&self, deep: bool) -> Result<VerifyReport> {
        self.sync()?;
        Ok(vexfs_journal_recovery::verify(
            self.engine().dir(),
            vexfs_journal_recovery::VerifyOptions {
                deep,
                key: self.engine().store().cipher().map(|c| c.key().clone()),
            },
            |_, _| {},
        )?)
    }

    /// What opening the indexes found and rebuilt.
    pub fn index_report(&self) -> &IndexReport {
        &self.inner.index_report
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        self.engine().dir()
    }

    /// Writes and syncs everything accepted, persists the indexes and closes. Later
    /// calls on any handle fail with `closed`.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

/// Nanoseconds since the Unix epoch of a system time (negative before 1970).
pub fn system_ns(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

impl Follow for Journal {}

/// The writer's reads: queries see written events, subscriptions and replays durable
/// ones, and subscriptions wake on the writer's progress signal.
impl Source for Journal {
    fn parts(&self) -> Parts<'_> {
        Parts {
            store: self.engine().store(),
            index: &self.inner.index,
            journal: self.meta().id,
            dir: self.engine().dir(),
        }
    }

    fn committed(&self) -> &crate::committed::Committed {
        &self.inner.committed
    }

    fn query_end(&self) -> u64 {
        self.engine().written_seq()
    }

    fn scan_end(&self) -> u64 {
        self.engine().written_seq()
    }

    /// Durable events; written ones under `fsync = never`, where the OS owns
    /// durability.
    fn follow_end(&self) -> u64 {
        if self.engine().config().fsync == FsyncPolicy::Never {
            self.engine().written_seq()
        } else {
            self.engine().durable_seq()
        }
    }

    fn replay_end(&self) -> u64 {
        self.engine().durable_seq()
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst) || self.engine().is_failed()
    }

    fn update(&self) -> Result<()> {
        Ok(())
    }

    fn wait(&self, position: u64, wait: Duration) -> Result<()> {
        let listener = self.engine().progress().listen();
        if position >= self.follow_end() && !self.is_closed() {
            listener.wait_timeout(wait);
        }
        Ok(())
    }

    #[cfg(feature = "async")]
    async fn wait_async(&self, position: u64, wait: Duration) -> Result<()> {
        let listener = self.engine().progress().listen();
        if position >= self.follow_end() && !self.is_closed() {
            let _ = tokio::time::timeout(wait, listener).await;
        }
        Ok(())
    }
}
