//! The storage engine: opens or creates a journal directory, runs the writer thread,
//! and exposes emission, durability waits and reads.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vexfs_journal_format::Event;

use crate::config::StorageConfig;
use crate::dir::{CleanMarker, DirLock, JournalMeta, ensure_dir, list_segments};
use crate::error::{Result, StorageError};
use crate::io::Io;
use crate::metrics::StorageMetrics;
use crate::pipeline::{Payload, Shared};
use crate::segment::{OpenMode, Segment, SegmentRecovery, TrustedPrefix};
use crate::store::{Scan, Store, StoredEvent};
use crate::syncer::{SyncTarget, Syncer};
use crate::writer::{BlockObserver, Writer, WriterCell, WriterParts};

/// How to open a journal.
#[derive(Default)]
pub struct OpenOptions {
    /// Settings; `None` uses those stored in `journal.json`.
    pub config: Option<StorageConfig>,
    /// Create the journal if the directory holds none.
    pub create: bool,
    /// Fail if the directory already holds a journal.
    pub create_new: bool,
    /// Receives every block written (index building).
    pub observer: Option<Box<dyn BlockObserver>>,
    /// Refuse to open on any damage, torn tail or unfinished rotation instead of
    /// repairing (absolute recovery mode).
    pub strict: bool,
    /// Blocks of the open segment a checkpoint recorded: opening after a crash scans
    /// only what follows them.
    pub trusted_prefix: Option<TrustedPrefix>,
    /// Open a directory that other users may write (refused by default: they could
    /// replace the journal's files).
    pub allow_others_writable: bool,
    /// The journal's key: required for an encrypted journal; creating a journal with a
    /// key makes it encrypted (AES-256-GCM blocks, `docs/encryption.md`).
    pub key: Option<Arc<vexfs_journal_cipher::JournalKey>>,
    /// Injected I/O failures (tests).
    #[cfg(feature = "fault-injection")]
    pub faults: Option<Arc<crate::faults::Faults>>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("config", &self.config)
            .field("create", &self.create)
            .field("create_new", &self.create_new)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// What opening the journal found and repaired.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OpenReport {
    /// Segments opened.
    pub segments: usize,
    /// Events on disk.
    pub events: u64,
    /// Segments repaired (torn tails cut, footers rebuilt).
    pub repairs: Vec<(PathBuf, SegmentRecovery)>,
    /// Segments left unsealed by a crash and sealed now.
    pub resealed: usize,
    /// Time spent opening.
    pub elapsed: Duration,
    /// Whether the journal was created by this open.
    pub created: bool,
}

/// Journal-wide marks kept in the open segment's header (and carried to each new
/// segment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderMarks {
    /// Journal sequence covered by the last checkpoint.
    pub last_checkpoint_sequence: u64,
    /// Last kernel global sequence synchronised into the journal.
    pub last_kernel_sync_sequence: u64,
}

/// An open, writable journal.
pub struct Engine {
    dir: PathBuf,
    meta: JournalMeta,
    config: StorageConfig,
    shared: Arc<Shared>,
    store: Arc<Store>,
    writer: Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
    /// The writer's state, for callers that lead a durable write themselves.
    cell: Arc<WriterCell>,
    target: Arc<SyncTarget>,
    io: Io,
    lock: Mutex<Option<DirLock>>,
    report: OpenReport,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Creates a journal in `dir` (which may exist but must hold no journal).
    pub fn create(dir: impl AsRef<Path>, config: StorageConfig) -> Result<Engine> {
        Self::open_with(
            dir,
            OpenOptions {
                config: Some(config),
                create: true,
                create_new: true,
                ..Default::default()
            },
        )
    }

    /// Opens the journal in `dir` with its stored settings.
    pub fn open(dir: impl AsRef<Path>) -> Result<Engine> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// Opens (or creates) a journal.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Engine> {
        let started = Instant::now();
        let dir = dir.as_ref().to_path_buf();
        if options.create {
            let existed = dir.is_dir();
            ensure_dir(&dir)?;
            if !existed && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                // A new journal directory survives a power cut only once its parent's
                // entry for it is durable.
                crate::dir::sync_dir(parent)?;
            }
        } else if !dir.is_dir() {
            return Err(StorageError::NotAJournal {
                dir,
                reason: "no such directory".into(),
            });
        }
        if !options.allow_others_writable {
            crate::dir::refuse_others_writable(&dir)?;
        }
        if !options.create {
            // Refuse a directory that holds no journal before creating anything in it
            // (the lock file included).
            JournalMeta::load(&dir)?;
        }
        let lock = DirLock::acquire(&dir)?;
        let mut report = OpenReport::default();
        let meta = match JournalMeta::load(&dir) {
            Ok(meta) if options.create_new => {
                let _ = meta;
                return Err(StorageError::AlreadyExists { dir });
            }
            Ok(meta) => meta,
            Err(StorageError::NotAJournal { .. })
                if options.create && list_segments(&dir)?.is_empty() =>
            {
                let mut meta = JournalMeta::new(options.config.clone().unwrap_or_default());
                meta.encryption = options.key.as_deref().map(crate::dir::Encryption::with_key);
                meta.config.validate()?;
                meta.store(&dir)?;
                report.created = true;
                meta
            }
            Err(e) => return Err(e),
        };
        let config = options
            .config
            .clone()
            .unwrap_or_else(|| meta.config.clone());
        config.validate()?;
        #[cfg(feature = "fault-injection")]
        let io = options
            .faults
            .clone()
            .map(Io::with_faults)
            .unwrap_or_default();
        #[cfg(not(feature = "fault-injection"))]
        let io = Io::default();

        let mode = if options.strict {
            OpenMode::Strict
        } else {
            OpenMode::Repair
        };
        // Checked again by the store, but first here: a wrong key changes nothing.
        JournalMeta::load_effective(&dir)?.cipher(&dir, options.key.as_ref(), true)?;
        let (store, repairs) = Store::open_trusting(
            &dir,
            mode,
            options.trusted_prefix.as_ref(),
            options.key.as_ref(),
        )?;
        report.repairs = repairs;
        // From now on the files change: a crash must lead to a scan, not to the marker.
        CleanMarker::remove(&dir)?;
        remove_stale_temporaries(&dir)?;
        let segments = store.segments();
        // Seal segments a crash left unsealed behind a newer one.
        for seg in segments.iter().rev().skip(1).filter(|s| !s.is_sealed()) {
            if options.strict {
                return Err(StorageError::RepairRefused {
                    path: seg.path().to_path_buf(),
                    offset: 0,
                    found: "segment left unsealed by an interrupted rotation".into(),
                    remedy: "open in tolerate-tail mode to seal it",
                });
            }
            let rw = seg.open_for_append()?;
            seg.seal(&rw, &io)?;
            report.resealed += 1;
        }
        report.segments = segments.len();
        report.events = segments.iter().map(|s| s.event_count()).sum();
        let store = Arc::new(store);
        let (active, file) = match segments.last() {
            Some(last) if !last.is_sealed() => (last.clone(), last.open_for_append()?),
            Some(last) => {
                let previous = last.header();
                let (seg, file) = Segment::create(
                    &dir,
                    next_after(last),
                    config.compression,
                    &io,
                    Some(&previous),
                    store.cipher(),
                )?;
                store.push(seg.clone());
                (seg, file)
            }
            None => {
                let (seg, file) =
                    Segment::create(&dir, 1, config.compression, &io, None, store.cipher())?;
                store.push(seg.clone());
                report.segments = 1;
                (seg, file)
            }
        };
        let mut next_seq = next_after(&active);
        if let Some(m) = store.manifest() {
            next_seq = next_seq.max(m.next_seq_floor);
        }
        record_open_state(&store, &dir, &active, &file, &io, next_seq)?;
        if meta.version < crate::dir::META_VERSION {
            // Migrated: from now on the journal has a manifest.
            let mut upgraded = meta.clone();
            upgraded.version = crate::dir::META_VERSION;
            upgraded.store(&dir)?;
            tracing::info!(dir = %dir.display(), "journal migrated: it now has a manifest");
        }
        let shared = Arc::new(Shared::new(
            next_seq,
            config.buffer_capacity,
            config.full_policy,
            config.kernel_compatibility,
            highest_time(&store),
        ));
        shared.counters.recovered.store(report.events, Relaxed);
        let target = Arc::new(SyncTarget::default());
        let writer = Writer::new(
            WriterParts {
                shared: shared.clone(),
                store: store.clone(),
                config: config.clone(),
                io: io.clone(),
                sync_target: target.clone(),
                observer: options.observer,
            },
            active,
            file,
        );
        let syncer = Syncer::new(shared.clone(), target.clone(), io.clone(), config.fsync);
        let sync_handle = std::thread::Builder::new()
            .name("vexjournal-sync".into())
            .spawn(move || syncer.run())
            .map_err(|e| StorageError::io("starting sync thread for", &dir, e))?;
        let cell = WriterCell::new(writer);
        let thread_cell = cell.clone();
        let handle = std::thread::Builder::new()
            .name("vexjournal-writer".into())
            .spawn(move || Writer::run(thread_cell))
            .map_err(|e| StorageError::io("starting writer thread for", &dir, e))?;
        report.elapsed = started.elapsed();
        for (path, rec) in &report.repairs {
            tracing::warn!(segment = %path.display(), torn_bytes = rec.torn_bytes, torn_file = ?rec.torn_file, rescanned = rec.rescanned, "segment repaired on open");
        }
        Ok(Engine {
            dir,
            meta,
            config,
            shared,
            store,
            writer: Mutex::new(Some((handle, sync_handle))),
            cell,
            target,
            io,
            lock: Mutex::new(Some(lock)),
            report,
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

    /// Settings in effect.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The segments, for readers.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Checks that `event` would be accepted (limits of the record and, with
    /// `kernel_compatibility`, of the kernel layout) without emitting it.
    pub fn check_event(&self, event: &Event) -> Result<()> {
        self.shared.validate(event)
    }

    /// The journal-wide marks of the open segment's header.
    pub fn marks(&self) -> HeaderMarks {
        self.target
            .lock()
            .as_ref()
            .map(|(seg, _)| {
                let h = seg.header();
                HeaderMarks {
                    last_checkpoint_sequence: h.last_checkpoint_sequence,
                    last_kernel_sync_sequence: h.last_kernel_sync_sequence,
                }
            })
            .unwrap_or_default()
    }

    /// Changes the journal-wide marks and makes them durable (header write and fsync of
    /// the open segment). Serialised with rotation, which carries them over.
    pub fn record_marks(&self, change: impl FnOnce(&mut HeaderMarks)) -> Result<()> {
        if self.shared.is_failed() {
            return Err(self.shared.failure_error());
        }
        let guard = self.target.lock();
        let Some((seg, file)) = guard.as_ref() else {
            return Err(StorageError::Closed);
        };
        // Everything durable now is acknowledged: the manifest's floor follows.
        let durable = self.durable_seq();
        self.store.update_manifest(|m| {
            m.next_seq_floor = m.next_seq_floor.max(durable);
            Ok(())
        })?;
        seg.update_header(file, &self.io, |h| {
            let mut marks = HeaderMarks {
                last_checkpoint_sequence: h.last_checkpoint_sequence,
                last_kernel_sync_sequence: h.last_kernel_sync_sequence,
            };
            change(&mut marks);
            h.last_checkpoint_sequence = marks.last_checkpoint_sequence;
            h.last_kernel_sync_sequence = marks.last_kernel_sync_sequence;
            h.modification_timestamp = crate::clock::unix_secs();
        })?;
        self.io.sync(file, seg.path())
    }

    /// Accepts one event; returns its sequence number without waiting for I/O.
    pub fn emit(&self, event: Event) -> Result<u64> {
        self.shared.submit(Payload::One(event), true)
    }

    /// Accepts events that go to disk together or not at all, with contiguous sequence
    /// numbers.
    pub fn emit_batch(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let n = events.len() as u64;
        let first = self.shared.submit(Payload::Batch(events), true)?;
        Ok(first..first + n)
    }

    /// Appends events keeping their own ids, sequences and timestamps (kernel imports),
    /// as one all-or-nothing batch.
    pub fn append_preserving(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let n = events.len() as u64;
        let first = self.shared.submit(Payload::Batch(events), false)?;
        Ok(first..first + n)
    }

    /// Emits `events` as one atomic batch of coordinated transaction `tx` (each
    /// record's `cross_boundary_id`), durably when `durable`.
    pub fn emit_transactional(
        &self,
        tx: u64,
        events: Vec<Event>,
        durable: bool,
    ) -> Result<Range<u64>> {
        let n = events.len() as u64;
        let payload = Payload::Tx(tx, events);
        let first = if durable {
            self.submit_durable(payload, true)?
        } else {
            self.shared.submit(payload, true)?
        };
        Ok(first..first + n)
    }

    /// Async [`Engine::emit`]: a full buffer is awaited without blocking the runtime.
    pub async fn emit_async(&self, event: Event) -> Result<u64> {
        self.shared.submit_async(Payload::One(event), true).await
    }

    /// Async [`Engine::emit_batch`].
    pub async fn emit_batch_async(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let n = events.len() as u64;
        let first = self
            .shared
            .submit_async(Payload::Batch(events), true)
            .await?;
        Ok(first..first + n)
    }

    /// Blocks until every event below `seq_exclusive` is fsynced (forcing a sync).
    /// When the writer thread is idle, the write and the sync happen on this thread.
    pub fn wait_durable(&self, seq_exclusive: u64) -> Result<()> {
        if self.shared.durable.load(Acquire) >= seq_exclusive {
            return Ok(());
        }
        if let Some(mut writer) = self.cell.try_lead() {
            let done = writer.lead(seq_exclusive)?;
            drop(writer);
            if done {
                return Ok(());
            }
            // Something before `seq_exclusive` is still on its way: the writer thread
            // takes over.
            self.shared.writer_wake.notify_all();
        }
        self.shared.wait_durable(seq_exclusive)
    }

    /// Accepts one event and returns once it is fsynced.
    pub fn emit_durable(&self, event: Event) -> Result<u64> {
        let seq = self.submit_durable(Payload::One(event), true)?;
        Ok(seq)
    }

    /// Accepts an all-or-nothing batch (as [`Engine::emit_batch`]) and returns once it
    /// is fsynced.
    pub fn emit_batch_durable(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let n = events.len() as u64;
        let first = self.submit_durable(Payload::Batch(events), true)?;
        Ok(first..first + n)
    }

    /// The durable fast path: when the writer thread is idle, this thread queues the
    /// payload, writes it and syncs it (see `Writer::lead`); otherwise the payload goes
    /// through the writer thread as usual.
    fn submit_durable(&self, payload: Payload, assign_ids: bool) -> Result<u64> {
        let n = payload.len();
        let payload = match self.cell.try_lead() {
            Some(mut writer) => match self.shared.try_submit_leading(payload, assign_ids)? {
                Ok(seq) => {
                    let done = writer.lead(seq + n)?;
                    drop(writer);
                    if !done {
                        self.shared.writer_wake.notify_all();
                        self.shared.wait_durable(seq + n)?;
                    }
                    return Ok(seq);
                }
                // The buffer is full: wait for room like any producer.
                Err(payload) => payload,
            },
            None => payload,
        };
        let seq = self.shared.submit(payload, assign_ids)?;
        self.wait_durable(seq + n)?;
        Ok(seq)
    }

    /// Async [`Engine::wait_durable`].
    pub async fn wait_durable_async(&self, seq_exclusive: u64) -> Result<()> {
        self.shared.wait_durable_async(seq_exclusive).await
    }

    /// Blocks until every event below `seq_exclusive` is written to its segment.
    pub fn wait_written(&self, seq_exclusive: u64) -> Result<()> {
        self.shared.wait_written(seq_exclusive)
    }

    /// Async [`Engine::wait_written`].
    pub async fn wait_written_async(&self, seq_exclusive: u64) -> Result<()> {
        self.shared.wait_written_async(seq_exclusive).await
    }

    /// Waits until everything accepted so far is written (visible to readers).
    pub fn flush(&self) -> Result<()> {
        self.wait_written(self.next_seq())
    }

    /// Waits until everything accepted so far is durable.
    pub fn sync(&self) -> Result<()> {
        self.wait_durable(self.next_seq())
    }

    /// The journal's hybrid logical clock (I56): [`JournalClock::observe`] a time seen
    /// elsewhere and every event this journal stamps afterwards is later.
    pub fn clock(&self) -> &crate::hlc::JournalClock {
        &self.shared.clock
    }

    /// Next sequence number to be assigned.
    pub fn next_seq(&self) -> u64 {
        self.shared.next_seq.load(Acquire)
    }

    /// Every sequence below this is written.
    pub fn written_seq(&self) -> u64 {
        self.shared.written.load(Acquire)
    }

    /// Every sequence below this is durable.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable.load(Acquire)
    }

    /// Notified whenever the written or durable watermark advances.
    pub fn progress(&self) -> &crate::signal::Signal {
        &self.shared.progress
    }

    /// The event with sequence `seq`, if present and written.
    pub fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        if seq >= self.written_seq() {
            return Ok(None);
        }
        self.store.get(seq)
    }

    /// Written events with sequence in `range`, in order.
    pub fn scan(&self, range: Range<u64>) -> Scan {
        let end = range.end.min(self.written_seq());
        Scan::new(self.store.clone(), range.start, end)
    }

    /// Current metrics.
    pub fn metrics(&self) -> StorageMetrics {
        self.shared
            .counters
            .snapshot(self.shared.pending() as u64, self.next_seq())
    }

    /// Owned copies of the latency and batch-size histograms.
    pub fn histograms(&self) -> crate::metrics::StorageHistograms {
        self.shared.counters.histograms()
    }

    /// Zeroes the counters and the histograms.
    pub fn reset_metrics(&self) {
        self.shared.counters.reset(self.next_seq());
    }

    /// Whether a storage failure stopped the journal.
    pub fn is_failed(&self) -> bool {
        self.shared.is_failed()
    }

    /// Writes and syncs everything accepted, stops the writer and releases the lock.
    pub fn close(&self) -> Result<()> {
        self.shared.begin_close();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((writer, syncer)) = handle {
            let _ = writer.join();
            let _ = syncer.join();
        }
        let mut lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.shared.is_failed() {
            lock.take();
            return Err(self.shared.failure_error());
        }
        if lock.is_some() {
            // Everything accepted is durable now: record exactly where the journal
            // ends, so a later loss of the open segment's tail is noticed. Only an
            // optimisation of what the next open can check: a failure is a warning.
            let next = self.next_seq();
            if let Err(e) = self.store.update_manifest(|m| {
                m.next_seq_floor = m.next_seq_floor.max(next);
                Ok(())
            }) {
                tracing::warn!(error = %e, "could not record the journal's end in the manifest at close");
            }
        }
        if lock.is_some()
            && let Some(active) = self.store.segments().last().filter(|s| !s.is_sealed())
        {
            let marker = CleanMarker {
                first_seq: active.first_seq(),
                end: active.end(),
                blocks: active.blocks().clone(),
            };
            // Everything is durable by now: the marker only spares the next open a
            // scan of the open segment, so failing to write it (disk full) is no error.
            if let Err(e) = marker.write(&self.dir) {
                tracing::warn!(error = %e, "could not write the clean-shutdown marker; the next open scans the open segment");
            }
        }
        lock.take();
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Removes `*.tmp` files a crash left behind (segments being created, metadata and
/// markers being replaced): they were never renamed into place, so nothing refers to
/// them.
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(|e| StorageError::io("removing", &path, e))?;
            tracing::info!(file = %path.display(), "removed a temporary file left by a crash");
        }
    }
    Ok(())
}

/// The highest event time stored (the clock restarts above it), from the block tables
/// and the manifest's record of sealed segments (which outlives their blocks' removal).
/// Times more than [`crate::hlc::MAX_AHEAD_NS`] past the wall clock are left out: only
/// an explicit time (an import, `emit --time`) gets there, and it must not drag every
/// later event into the future.
fn highest_time(store: &Store) -> i64 {
    let limit = crate::clock::now_ns().saturating_add(crate::hlc::MAX_AHEAD_NS);
    let mut highest = store
        .manifest()
        .and_then(|m| {
            m.segments
                .iter()
                .map(|s| s.max_time)
                .filter(|t| *t <= limit)
                .max()
        })
        .unwrap_or(0);
    for seg in store.segments() {
        match seg.time_range() {
            None => {}
            Some((_, max)) if max <= limit => highest = highest.max(max),
            // Rare: look at its blocks one by one.
            Some(_) => {
                let blocks = seg.blocks_once();
                if let Some(max) = blocks
                    .iter()
                    .map(|b| b.max_time)
                    .filter(|t| *t <= limit)
                    .max()
                {
                    highest = highest.max(max);
                }
            }
        }
    }
    highest
}

/// The next sequence to assign after `seg`: after its last event, and never below its
/// header's `next_event_id` — salvage records there the sequences of events it had to
/// set aside, so they are not given to new events.
fn next_after(seg: &Segment) -> u64 {
    seg.next_seq().max(seg.header().next_event_id)
}

/// Brings the manifest up to date after opening: finishes operations a crash
/// interrupted (deletes leftover segments of a retention or compaction, adopts the
/// segment of an unrecorded rotation), describes every segment as it now is, and
/// records `next_seq` as the floor once the open segment is synced (every event below
/// it is on disk, so none of those numbers may be handed out again).
fn record_open_state(
    store: &Store,
    dir: &Path,
    active: &Segment,
    file: &std::fs::File,
    io: &Io,
    next_seq: u64,
) -> Result<()> {
    for fix in store.pending_fixes() {
        if let crate::manifest::Discrepancy::Leftover { path } = fix {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(path.with_extension("idx"));
                    tracing::info!(segment = %path.display(), "finished an interrupted removal");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("deleting leftover segment", path, e)),
            }
        }
    }
    let segments = store.segments();
    let mut entries = Vec::with_capacity(segments.len());
    for seg in &segments {
        entries.push(crate::manifest::entry_of_segment(seg)?);
    }
    let current = store.manifest();
    let same_set = current.as_ref().is_some_and(|m| m.segments == entries);
    if same_set
        && current
            .as_ref()
            .is_some_and(|m| m.next_seq_floor >= next_seq)
    {
        // A clean reopen: nothing to record.
        return Ok(());
    }
    io.sync(file, active.path())?;
    let recorded = store.update_manifest(|m| {
        m.segments = entries;
        m.next_seq_floor = m.next_seq_floor.max(next_seq);
        Ok(())
    });
    match recorded {
        Ok(()) => crate::dir::sync_dir(dir),
        // Only the floor was to rise (the end of a journal a crash or a full disk kept
        // from recording at close): not recording it only weakens the check of the
        // tail, so a full disk does not keep the journal from opening.
        Err(e) if same_set => {
            tracing::warn!(error = %e, "could not record the journal's end in the manifest");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
