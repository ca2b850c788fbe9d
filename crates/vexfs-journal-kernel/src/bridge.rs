//! [`KernelBridge`]: imports kernel events into a userspace [`Journal`] and keeps the
//! two sequence spaces synchronised. The policy is described in `docs/kernel.md`.

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use vexfs_journal::{Event, Journal, JournalError};
use vexfs_journal_format::BlockHeader;
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_storage::LatencySummary;
use vexfs_journal_storage::metrics::AtomicHistogram;

use crate::convert;
use crate::error::{CompatibilityError, ConversionError, ImageError, SyncError, SyncResult};
use crate::image::{BlockMark, Damage, ImageItem, ImageReader, ReadStats, ReaderOptions};
use crate::marker::{
    Anchor, AnchorRef, MAX_BATCH_RUNS, MAX_SETTLED_RANGES, build_marker, signed_diff,
};
use crate::seqset::{Runs, SeqSet};
use crate::timeline::{all_markers, latest_marker};
use crate::version;

/// The seed specification's kernel compatibility bridge (§2.2).
///
/// The async methods run their blocking work (file reads, journal writes) on tokio's
/// blocking pool when called inside a tokio runtime, inline otherwise.
pub trait KernelCompatibilityBridgeTrait: Send + Sync {
    /// Converts a userspace event to the exact kernel binary event.
    fn convert_to_kernel_format(&self, event: &Event) -> Result<Vec<u8>, ConversionError>;

    /// Converts one kernel binary event to a userspace event.
    fn convert_from_kernel_format(&self, data: &[u8]) -> Result<Event, ConversionError>;

    /// Synchronises the sequences with the kernel journal source: computes the offset,
    /// detects drift and resynchronises (imports what the journal lacks).
    fn sync_sequences(&self) -> impl Future<Output = SyncResult<SequenceSyncResult>> + Send;

    /// Refuses kernel format versions this build cannot exchange events with.
    fn verify_compatibility(&self, kernel_version: (u32, u32)) -> Result<(), CompatibilityError>;

    /// Reads the kernel journal source and reports its state against the journal's.
    fn get_kernel_status(&self) -> impl Future<Output = SyncResult<KernelJournalStatus>> + Send;

    /// Maps a userspace (journal) sequence into the kernel's sequence space.
    fn adjust_sequence_for_kernel(&self, userspace_sequence: u64) -> u64;

    /// Maps a kernel sequence into the userspace (journal) sequence space.
    fn adjust_sequence_from_kernel(&self, kernel_sequence: u64) -> u64;

    /// Whether the configured kernel journal source can be read.
    fn is_kernel_available(&self) -> impl Future<Output = bool> + Send;

    /// Counters and latency of the synchronisations so far.
    fn get_sync_metrics(&self) -> SyncMetrics;
}

/// How a [`KernelBridge`] reads its source and imports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The kernel journal source: an image file or a block device.
    pub source: Option<PathBuf>,
    /// A drift whose magnitude is at most this is not counted as a drift event.
    pub drift_tolerance: u64,
    /// Most kernel events per import batch (each batch is one atomic block with its
    /// marker).
    pub batch_events: usize,
    /// Most bytes of payload and metadata per import batch.
    pub batch_bytes: usize,
    /// Bounds applied to the image's block headers.
    pub reader: ReaderOptions,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            source: None,
            drift_tolerance: 0,
            batch_events: 1024,
            batch_bytes: 8 << 20,
            reader: ReaderOptions::default(),
        }
    }
}

impl BridgeConfig {
    /// The default configuration reading `source`.
    pub fn with_source(source: impl Into<PathBuf>) -> Self {
        BridgeConfig {
            source: Some(source.into()),
            ..BridgeConfig::default()
        }
    }
}

/// What the journal holds of the kernel: the synchronised kernel sequences and where
/// the highest is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// Every kernel global sequence imported (or, under retention, once imported).
    pub settled: SeqSet,
    /// The highest synchronised kernel sequence and its journal sequence.
    pub anchor: Option<Anchor>,
    /// Journal sequence of the newest marker.
    pub marker_seq: Option<u64>,
}

impl SyncState {
    /// Highest synchronised kernel sequence (`last_kernel_sync_sequence`).
    pub fn watermark(&self) -> u64 {
        self.settled.max()
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    /// Where the events came from.
    pub source: String,
    /// Intact blocks read.
    pub blocks: u64,
    /// Kernel events read from intact blocks.
    pub events_read: u64,
    /// Events appended to the journal.
    pub imported: u64,
    /// Events skipped because the journal already holds their kernel sequence.
    pub already_present: u64,
    /// Events skipped because their global sequence is 0 (cannot be deduplicated).
    pub unsequenced: u64,
    /// Ids of the first unsequenced events.
    pub unsequenced_ids: Vec<u64>,
    /// Damaged regions of the source (skipped; every intact block was read).
    pub damage: Vec<Damage>,
    /// Import batches appended (one marker each).
    pub batches: u64,
    /// Journal sequences of the imported events, one range per batch.
    pub journal_ranges: Vec<(u64, u64)>,
    /// Lowest and highest kernel sequence imported.
    pub kernel_range: Option<(u64, u64)>,
    /// Highest synchronised kernel sequence before and after.
    pub synced_before: u64,
    /// Highest synchronised kernel sequence after.
    pub synced_after: u64,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Zero bytes after the last block (unused space).
    pub trailing_zero_bytes: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// Result of one sequence synchronisation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SequenceSyncResult {
    /// Highest kernel global sequence in the source.
    pub kernel_sequence: u64,
    /// Highest kernel event id in the source.
    pub kernel_event_id: u64,
    /// Last journal sequence when the source was observed (before importing).
    pub userspace_sequence_before: u64,
    /// Last journal sequence after the sync.
    pub userspace_sequence: u64,
    /// Highest synchronised kernel sequence after the sync.
    pub synced_kernel_sequence: u64,
    /// `kernel − journal` offset of the mapping after the sync (see
    /// [`KernelBridge::adjust_sequence_for_kernel`]).
    pub offset: i64,
    /// Change of `kernel_sequence − userspace_sequence` since the previous sync: kernel
    /// events logged minus userspace sequences consumed meanwhile.
    pub drift: i64,
    /// `|drift|` exceeded the tolerance.
    pub drift_detected: bool,
    /// Kernel events in the source the journal lacked.
    pub kernel_lag: u64,
    /// The journal was brought up to date (events imported or drift corrected).
    pub resynced: bool,
    /// Events imported.
    pub imported: u64,
    /// Events skipped as already present.
    pub already_present: u64,
    /// Damaged regions found in what was read.
    pub damage: Vec<Damage>,
    /// The whole source was read (no valid resume point).
    pub full_scan: bool,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Time taken.
    pub latency: Duration,
}

/// The kernel journal source compared with the journal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KernelJournalStatus {
    /// The source.
    pub source: Option<PathBuf>,
    /// It can be read.
    pub available: bool,
    /// Kernel format version of this build (images carry block and event versions,
    /// which are checked per block).
    pub format_version: (u32, u32),
    /// Intact blocks.
    pub blocks: u64,
    /// Events in intact blocks.
    pub events: u64,
    /// Damaged regions.
    pub damaged_regions: u64,
    /// Highest kernel global sequence.
    pub kernel_sequence: u64,
    /// Highest kernel event id.
    pub kernel_event_id: u64,
    /// Highest synchronised kernel sequence in the journal.
    pub synced_kernel_sequence: u64,
    /// Events of the source the journal lacks.
    pub pending: u64,
    /// Last journal sequence.
    pub userspace_sequence: u64,
    /// Current mapping offset (`kernel − journal`).
    pub offset: i64,
}

/// Counters of a bridge (the seed's synchronisation metrics).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncMetrics {
    /// Synchronisations attempted.
    pub kernel_sync_operations: u64,
    /// Synchronisations that succeeded.
    pub successful_syncs: u64,
    /// Synchronisations that failed.
    pub failed_syncs: u64,
    /// Synchronisations that detected drift.
    pub sequence_drift_events: u64,
    /// Drift of the last synchronisation.
    pub last_drift: i64,
    /// Largest drift magnitude seen.
    pub max_abs_drift: u64,
    /// Import calls (explicit imports and synchronisations that imported).
    pub imports: u64,
    /// Kernel events imported.
    pub imported_events: u64,
    /// Kernel events skipped as already present.
    pub already_present_events: u64,
    /// Damaged regions met.
    pub damaged_regions: u64,
    /// Mean synchronisation latency, ns.
    pub avg_sync_latency_ns: u64,
    /// Longest synchronisation, ns.
    pub max_sync_latency_ns: u64,
    /// Latency distribution of synchronisations.
    pub sync_latency: LatencySummary,
    /// Highest kernel sequence seen in the source.
    pub kernel_sequence: u64,
    /// Highest synchronised kernel sequence.
    pub synced_kernel_sequence: u64,
    /// Last journal sequence at the last synchronisation.
    pub userspace_sequence: u64,
    /// Current offset (`kernel − journal`).
    pub offset: i64,
}

#[derive(Debug, Default)]
struct Metrics {
    syncs: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    drift_events: AtomicU64,
    last_drift: AtomicI64,
    max_abs_drift: AtomicU64,
    imports: AtomicU64,
    imported: AtomicU64,
    already: AtomicU64,
    damaged: AtomicU64,
    latency: AtomicHistogram,
    kernel_sequence: AtomicU64,
    synced: AtomicU64,
    userspace_sequence: AtomicU64,
}

/// Where the previous synchronisation stopped reading the source.
#[derive(Clone, Debug)]
struct SourceCursor {
    path: PathBuf,
    next_offset: u64,
    last_block: BlockMark,
    kernel_last: u64,
    kernel_last_id: u64,
}

/// Counter values a drift is measured against.
#[derive(Clone, Copy, Debug)]
struct Observation {
    kernel: u64,
    journal: u64,
}

/// State shared by every bridge of one journal in this process: imports into a journal
/// are serialised by its lock.
#[derive(Debug, Default)]
struct Shared {
    cursor: Option<SourceCursor>,
    reference: Option<Observation>,
    offset: i64,
}

fn registry() -> &'static Mutex<HashMap<u128, Weak<Mutex<Shared>>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u128, Weak<Mutex<Shared>>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn shared_for(journal: &Journal) -> Arc<Mutex<Shared>> {
    let id = journal.meta().id.as_u128();
    let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(s) = map.get(&id).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(Mutex::new(Shared::default()));
    map.insert(id, Arc::downgrade(&s));
    s
}

/// The kernel bridge of one journal.
///
/// Cheap to clone; every clone (and every other bridge of the same journal in this
/// process) shares the synchronisation state, and imports are serialised. The bridge
/// keeps the journal open.
#[derive(Clone, Debug)]
pub struct KernelBridge {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    journal: Journal,
    config: BridgeConfig,
    shared: Arc<Mutex<Shared>>,
    metrics: Metrics,
}

impl KernelBridge {
    /// A bridge importing into `journal`. Loads the synchronisation state (the newest
    /// marker) and repairs the header mark if a crash left it behind.
    pub fn new(journal: Journal, config: BridgeConfig) -> SyncResult<KernelBridge> {
        if config.batch_events == 0 {
            return Err(SyncError::Image(ImageError::Options(
                "batch_events must be at least 1".into(),
            )));
        }
        let shared = shared_for(&journal);
        let bridge = KernelBridge {
            inner: Arc::new(Inner {
                journal,
                config,
                shared,
                metrics: Metrics::default(),
            }),
        };
        {
            let mut shared = bridge.lock();
            let state = bridge.load_state()?;
            bridge.record_header_mark(state.watermark())?;
            if let Some(a) = state.anchor {
                shared.offset = a.offset();
            }
            bridge
                .inner
                .metrics
                .synced
                .store(state.watermark(), Relaxed);
        }
        Ok(bridge)
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// The configuration.
    pub fn config(&self) -> &BridgeConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.inner
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The synchronisation state, read from the journal (newest marker, header mark).
    pub fn state(&self) -> SyncResult<SyncState> {
        let _guard = self.lock();
        self.load_state()
    }

    fn load_state(&self) -> SyncResult<SyncState> {
        let journal = &self.inner.journal;
        let mut state = match latest_marker(journal)? {
            Some(m) => SyncState {
                settled: m.settled,
                anchor: m.anchor,
                marker_seq: Some(m.seq),
            },
            None => SyncState::default(),
        };
        // Retention may have removed every marker: the header mark (carried to each new
        // segment) still says how far the kernel was synchronised.
        let mark = journal.storage().marks().last_kernel_sync_sequence;
        if mark > state.watermark() {
            state.settled.insert_range(1, mark);
        }
        Ok(state)
    }

    fn record_header_mark(&self, watermark: u64) -> SyncResult<()> {
        let engine = self.inner.journal.storage();
        if engine.marks().last_kernel_sync_sequence < watermark {
            engine
                .record_marks(|m| {
                    m.last_kernel_sync_sequence = m.last_kernel_sync_sequence.max(watermark)
                })
                .map_err(JournalError::from)?;
        }
        Ok(())
    }

    /// Journal sequence holding kernel sequence `k`, if it was imported (reads every
    /// marker).
    pub fn journal_sequence_of(&self, kernel_sequence: u64) -> SyncResult<Option<u64>> {
        Ok(all_markers(&self.inner.journal)?
            .iter()
            .rev()
            .find_map(|m| m.locate(kernel_sequence)))
    }

    /// Imports the kernel image at `path` (file or block device): every intact block is
    /// read; events whose kernel sequence the journal holds are skipped.
    pub fn import_image(&self, path: &Path) -> SyncResult<ImportReport> {
        let file = File::open(path)
            .map_err(|e| ImageError::io("opening", path.display().to_string(), e))?;
        self.import_reader(file, &path.display().to_string())
    }

    /// Imports a kernel image read from `src` (named `name` in reports).
    pub fn import_reader(&self, src: impl Read, name: &str) -> SyncResult<ImportReport> {
        let started = Instant::now();
        let _guard = self.lock();
        let state = self.load_state()?;
        let mut importer = Importer::new(self, state, name);
        let mut reader = ImageReader::new(src, name, self.inner.config.reader.clone());
        let stats = importer.read(&mut reader, &mut |_| {})?;
        let (_, mut report) = importer.finish()?;
        report.bytes_read = stats.bytes_read;
        report.trailing_zero_bytes = stats.trailing_zero_bytes;
        report.elapsed = started.elapsed();
        self.count_import(&report);
        Ok(report)
    }

    /// Imports kernel events given directly (same rules as an image import).
    pub fn import_events(
        &self,
        events: impl IntoIterator<Item = Event>,
        name: &str,
    ) -> SyncResult<ImportReport> {
        let started = Instant::now();
        let _guard = self.lock();
        let state = self.load_state()?;
        let mut importer = Importer::new(self, state, name);
        for ev in events {
            importer.offer(ev)?;
        }
        let (_, mut report) = importer.finish()?;
        report.elapsed = started.elapsed();
        self.count_import(&report);
        Ok(report)
    }

    fn count_import(&self, report: &ImportReport) {
        let m = &self.inner.metrics;
        m.imports.fetch_add(1, Relaxed);
        m.imported.fetch_add(report.imported, Relaxed);
        m.already.fetch_add(report.already_present, Relaxed);
        m.damaged.fetch_add(report.damage.len() as u64, Relaxed);
        m.synced.store(report.synced_after, Relaxed);
    }

    fn source(&self) -> SyncResult<&Path> {
        self.inner
            .config
            .source
            .as_deref()
            .ok_or(SyncError::NoSource)
    }

    /// Whether the configured source exists and can be opened for reading (a file or a
    /// block device).
    pub fn kernel_available(&self) -> bool {
        self.source().is_ok_and(|p| check_source(p).is_ok())
    }

    /// Synchronises with the configured source (blocking): reads what is new in it,
    /// measures the drift, imports every kernel event the journal lacks and re-anchors
    /// the offset. See `docs/kernel.md` for the policy.
    pub fn sync(&self) -> SyncResult<SequenceSyncResult> {
        let started = Instant::now();
        let m = &self.inner.metrics;
        m.syncs.fetch_add(1, Relaxed);
        let result = self.sync_locked(started);
        let ns = started.elapsed().as_nanos() as u64;
        m.latency.record(ns);
        match &result {
            Ok(r) => {
                m.ok.fetch_add(1, Relaxed);
                m.last_drift.store(r.drift, Relaxed);
                m.max_abs_drift.fetch_max(r.drift.unsigned_abs(), Relaxed);
                if r.drift_detected {
                    m.drift_events.fetch_add(1, Relaxed);
                }
                m.kernel_sequence.store(r.kernel_sequence, Relaxed);
                m.userspace_sequence.store(r.userspace_sequence, Relaxed);
                m.synced.store(r.synced_kernel_sequence, Relaxed);
            }
            Err(e) => {
                m.failed.fetch_add(1, Relaxed);
                if let SyncError::KernelSequenceRegressed { drift, .. } = e {
                    m.drift_events.fetch_add(1, Relaxed);
                    m.last_drift.store(*drift, Relaxed);
                    m.max_abs_drift.fetch_max(drift.unsigned_abs(), Relaxed);
                }
            }
        }
        result
    }

    fn sync_locked(&self, started: Instant) -> SyncResult<SequenceSyncResult> {
        let path = self.source()?.to_path_buf();
        check_source(&path).map_err(|reason| SyncError::Unavailable {
            path: path.clone(),
            reason,
        })?;
        let mut shared = self.lock();
        let state = self.load_state()?;
        let journal = &self.inner.journal;

        // Phase 1: what is new in the source (from the resume point if still valid).
        let resume = shared
            .cursor
            .as_ref()
            .filter(|c| c.path == path && cursor_still_valid(c))
            .cloned();
        let start = resume.as_ref().map_or(0, |c| c.next_offset);
        let mut scan = Scan::default();
        let stats1 =
            self.read_source(&path, start, &mut |item| scan.observe(item, &state.settled))?;
        let phase1_bytes = stats1.bytes_read;
        let mut kernel_last = resume
            .as_ref()
            .map_or(0, |c| c.kernel_last)
            .max(scan.kernel_last);
        let mut kernel_last_id = resume
            .as_ref()
            .map_or(0, |c| c.kernel_last_id)
            .max(scan.kernel_last_id);
        let journal_before = journal.next_seq().saturating_sub(1);
        let spread = signed_diff(kernel_last, journal_before);
        let reference = shared.reference.or(state.anchor.map(|a| Observation {
            kernel: a.kernel,
            journal: a.journal,
        }));
        let drift = reference.map_or(0, |r| {
            spread.saturating_sub(signed_diff(r.kernel, r.journal))
        });
        if kernel_last < state.watermark() {
            return Err(SyncError::KernelSequenceRegressed {
                kernel_last,
                synced: state.watermark(),
                drift,
            });
        }
        let drift_detected = drift.unsigned_abs() > self.inner.config.drift_tolerance;

        // Phase 2: resynchronise — import every kernel event the journal lacks.
        let mut result = SequenceSyncResult {
            kernel_lag: scan.pending,
            full_scan: resume.is_none(),
            ..SequenceSyncResult::default()
        };
        let (state, stats) = if scan.pending > 0 {
            let mut importer = Importer::new(self, state, &path.display().to_string());
            let mut observed = Scan::default();
            let stats2 = {
                let mut visit = |item: &ImageItem| {
                    observed.observe(item, &SeqSet::new());
                };
                let mut reader = self.open_reader(&path, start)?;
                importer.read(&mut reader, &mut visit)?
            };
            kernel_last = kernel_last.max(observed.kernel_last);
            kernel_last_id = kernel_last_id.max(observed.kernel_last_id);
            let (state, report) = importer.finish()?;
            self.count_import(&report);
            result.imported = report.imported;
            result.already_present = report.already_present;
            result.damage = report.damage;
            (state, stats2)
        } else {
            result.damage = scan.damage;
            (state, stats1)
        };

        // Where to resume next time: after the last intact block (a damaged tail is
        // read again, it may be a block the kernel is still writing).
        shared.cursor = match (stats.last_block, resume) {
            (Some(last_block), _) => Some(SourceCursor {
                path: path.clone(),
                next_offset: stats.intact_end,
                last_block,
                kernel_last,
                kernel_last_id,
            }),
            (None, Some(mut c)) => {
                c.kernel_last = kernel_last;
                c.kernel_last_id = kernel_last_id;
                Some(c)
            }
            (None, None) => None,
        };
        let journal_after = journal.next_seq().saturating_sub(1);
        let offset = state
            .anchor
            .map_or_else(|| signed_diff(kernel_last, journal_after), |a| a.offset());
        shared.reference = Some(Observation {
            kernel: kernel_last,
            journal: journal_after,
        });
        shared.offset = offset;
        result.kernel_sequence = kernel_last;
        result.kernel_event_id = kernel_last_id;
        result.userspace_sequence_before = journal_before;
        result.userspace_sequence = journal_after;
        result.synced_kernel_sequence = state.watermark();
        result.offset = offset;
        result.drift = drift;
        result.drift_detected = drift_detected;
        result.resynced = result.imported > 0 || drift_detected;
        result.bytes_read = if scan.pending > 0 {
            phase1_bytes + stats.bytes_read
        } else {
            phase1_bytes
        };
        result.latency = started.elapsed();
        Ok(result)
    }

    fn open_reader(&self, path: &Path, start: u64) -> SyncResult<ImageReader<File>> {
        let name = path.display().to_string();
        let mut file = File::open(path).map_err(|e| ImageError::io("opening", name.clone(), e))?;
        if start > 0 {
            file.seek(SeekFrom::Start(start)).map_err(|e| {
                ImageError::io(format!("seeking to byte {start} of"), name.clone(), e)
            })?;
        }
        Ok(ImageReader::starting_at(
            file,
            name,
            self.inner.config.reader.clone(),
            start,
        ))
    }

    fn read_source(
        &self,
        path: &Path,
        start: u64,
        visit: &mut dyn FnMut(&ImageItem),
    ) -> SyncResult<ReadStats> {
        let mut reader = self.open_reader(path, start)?;
        while let Some(item) = reader.next_item()? {
            visit(&item);
        }
        Ok(reader.stats().clone())
    }

    /// Reads the whole source and compares it with the journal (blocking).
    pub fn kernel_status(&self) -> SyncResult<KernelJournalStatus> {
        let mut status = KernelJournalStatus {
            source: self.inner.config.source.clone(),
            format_version: version::SUPPORTED_VERSION,
            ..KernelJournalStatus::default()
        };
        let path = self.source()?.to_path_buf();
        status.available = check_source(&path).is_ok();
        let state = self.state()?;
        status.synced_kernel_sequence = state.watermark();
        status.userspace_sequence = self.inner.journal.next_seq().saturating_sub(1);
        status.offset = self.lock().offset;
        if !status.available {
            return Ok(status);
        }
        let mut scan = Scan::default();
        let stats = self.read_source(&path, 0, &mut |item| scan.observe(item, &state.settled))?;
        status.blocks = stats.blocks;
        status.events = stats.events;
        status.damaged_regions = stats.damaged_regions;
        status.kernel_sequence = scan.kernel_last;
        status.kernel_event_id = scan.kernel_last_id;
        status.pending = scan.pending;
        Ok(status)
    }

    /// The current `kernel − journal` offset of the mapping.
    pub fn offset(&self) -> i64 {
        self.lock().offset
    }

    /// Kernel sequence corresponding to journal sequence `u`: `u + offset`, saturated.
    /// Exact for the kernel events of the anchored import run; a projection elsewhere
    /// (use [`KernelBridge::journal_sequence_of`] for exact lookups).
    pub fn adjust_sequence_for_kernel(&self, userspace_sequence: u64) -> u64 {
        add_signed(userspace_sequence, self.offset())
    }

    /// Journal sequence corresponding to kernel sequence `k`: `k − offset`, saturated.
    pub fn adjust_sequence_from_kernel(&self, kernel_sequence: u64) -> u64 {
        add_signed(kernel_sequence, self.offset().saturating_neg())
    }

    /// Current counters.
    pub fn sync_metrics(&self) -> SyncMetrics {
        let m = &self.inner.metrics;
        let latency = m.latency.summary();
        SyncMetrics {
            kernel_sync_operations: m.syncs.load(Relaxed),
            successful_syncs: m.ok.load(Relaxed),
            failed_syncs: m.failed.load(Relaxed),
            sequence_drift_events: m.drift_events.load(Relaxed),
            last_drift: m.last_drift.load(Relaxed),
            max_abs_drift: m.max_abs_drift.load(Relaxed),
            imports: m.imports.load(Relaxed),
            imported_events: m.imported.load(Relaxed),
            already_present_events: m.already.load(Relaxed),
            damaged_regions: m.damaged.load(Relaxed),
            avg_sync_latency_ns: latency.avg_ns,
            max_sync_latency_ns: latency.max_ns,
            sync_latency: latency,
            kernel_sequence: m.kernel_sequence.load(Relaxed),
            synced_kernel_sequence: m.synced.load(Relaxed),
            userspace_sequence: m.userspace_sequence.load(Relaxed),
            offset: self.offset(),
        }
    }
}

fn add_signed(v: u64, d: i64) -> u64 {
    let r = i128::from(v) + i128::from(d);
    r.clamp(0, i128::from(u64::MAX)) as u64
}

/// Checks that `path` is a readable file or block device.
fn check_source(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let ft = meta.file_type();
    if !(ft.is_file() || ft.is_block_device() || ft.is_char_device()) {
        return Err("not a file or block device".into());
    }
    File::open(path).map(drop).map_err(|e| e.to_string())
}

/// Whether the block the cursor remembers is still where it was (the source was
/// appended to, not rewritten).
fn cursor_still_valid(c: &SourceCursor) -> bool {
    let Ok(mut file) = File::open(&c.path) else {
        return false;
    };
    let mut head = [0u8; BLOCK_HEADER_SIZE];
    if file.seek(SeekFrom::Start(c.last_block.offset)).is_err()
        || file.read_exact(&mut head).is_err()
    {
        return false;
    }
    BlockHeader::parse(&head).is_ok_and(|h| {
        h.block_id == c.last_block.block_id && h.block_checksum == c.last_block.checksum
    })
}

/// What a pass over a source saw.
#[derive(Default)]
struct Scan {
    kernel_last: u64,
    kernel_last_id: u64,
    pending: u64,
    damage: Vec<Damage>,
}

impl Scan {
    fn observe(&mut self, item: &ImageItem, settled: &SeqSet) {
        match item {
            ImageItem::Block(b) => {
                for ev in &b.events {
                    self.kernel_last = self.kernel_last.max(ev.global_sequence);
                    self.kernel_last_id = self.kernel_last_id.max(ev.event_id);
                    if ev.global_sequence != 0 && !settled.contains(ev.global_sequence) {
                        self.pending += 1;
                    }
                }
            }
            ImageItem::Damage(d) => self.damage.push(d.clone()),
        }
    }
}

/// Appends kernel events to the journal in atomic batches, each led by its marker.
struct Importer<'a> {
    bridge: &'a KernelBridge,
    state: SyncState,
    batch: Vec<Event>,
    batch_bytes: usize,
    runs: Runs,
    in_batch: SeqSet,
    batch_max: Option<(u64, u64)>,
    source: String,
    report: ImportReport,
}

impl<'a> Importer<'a> {
    fn new(bridge: &'a KernelBridge, state: SyncState, source: &str) -> Self {
        let report = ImportReport {
            source: source.to_string(),
            synced_before: state.watermark(),
            synced_after: state.watermark(),
            ..ImportReport::default()
        };
        Importer {
            bridge,
            state,
            batch: Vec::new(),
            batch_bytes: 0,
            runs: Runs::new(),
            in_batch: SeqSet::new(),
            batch_max: None,
            source: source.to_string(),
            report,
        }
    }

    /// Offers every event of the image; damage is recorded in the report.
    fn read<R: Read>(
        &mut self,
        reader: &mut ImageReader<R>,
        visit: &mut dyn FnMut(&ImageItem),
    ) -> SyncResult<ReadStats> {
        while let Some(item) = reader.next_item()? {
            visit(&item);
            match item {
                ImageItem::Block(b) => {
                    self.report.blocks += 1;
                    for ev in b.events {
                        self.offer(ev)?;
                    }
                }
                ImageItem::Damage(d) => {
                    tracing::warn!(source = %self.source, damage = %d, "damaged kernel image region skipped");
                    self.report.damage.push(d);
                }
            }
        }
        Ok(reader.stats().clone())
    }

    fn offer(&mut self, ev: Event) -> SyncResult<()> {
        self.report.events_read += 1;
        let k = ev.global_sequence;
        if k == 0 {
            self.report.unsequenced += 1;
            if self.report.unsequenced_ids.len() < 16 {
                self.report.unsequenced_ids.push(ev.event_id);
            }
            return Ok(());
        }
        if self.state.settled.contains(k) || self.in_batch.contains(k) {
            self.report.already_present += 1;
            return Ok(());
        }
        let config = &self.bridge.inner.config;
        let size = ev.payload.len() + ev.metadata.len();
        if !self.batch.is_empty()
            && (self.batch.len() >= config.batch_events
                || self.batch_bytes + size > config.batch_bytes
                || (self.runs.would_start_run(k) && self.runs.runs().len() >= MAX_BATCH_RUNS))
        {
            self.commit()?;
        }
        if self.batch_max.is_none_or(|(max, _)| k > max) {
            self.batch_max = Some((k, self.batch.len() as u64));
        }
        self.batch.push(ev);
        self.batch_bytes += size;
        self.runs.push(k);
        self.in_batch.insert(k);
        Ok(())
    }

    fn commit(&mut self) -> SyncResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut settled = self.state.settled.clone();
        for &(a, b) in self.runs.runs() {
            settled.insert_range(a, b);
        }
        if settled.ranges().len() > MAX_SETTLED_RANGES {
            return Err(SyncError::TooFragmented {
                intervals: settled.ranges().len(),
                limit: MAX_SETTLED_RANGES,
            });
        }
        let anchor = match (self.batch_max, self.state.anchor) {
            (Some((kernel, index)), a) if a.is_none_or(|a| kernel > a.kernel) => {
                AnchorRef::InBatch { kernel, index }
            }
            (_, Some(a)) => AnchorRef::At(a),
            (_, None) => AnchorRef::None,
        };
        let marker = build_marker(
            &self.runs,
            &settled,
            anchor,
            &self.source,
            vexfs_journal_storage::clock::now_ns(),
        );
        let n = self.batch.len() as u64;
        let mut events = Vec::with_capacity(self.batch.len() + 1);
        events.push(marker);
        events.append(&mut self.batch);
        let journal = &self.bridge.inner.journal;
        let range = journal
            .storage()
            .append_preserving(events)
            .map_err(JournalError::from)?;
        journal.wait_durable(range.end)?;
        // Under the drop-oldest buffer policy a queued batch can be dropped whole after
        // it was accepted: make sure it is on disk before anything records it.
        if !journal
            .get(range.start)?
            .is_some_and(|s| crate::marker::is_marker(&s.event))
        {
            return Err(SyncError::State {
                seq: range.start,
                reason: format!(
                    "the import batch of {n} events accepted at journal sequences {}..{} is not in the journal (dropped by the drop-oldest buffer policy?); nothing was recorded, import again",
                    range.start, range.end
                ),
            });
        }
        self.state.anchor = match anchor {
            AnchorRef::InBatch { kernel, index } => Some(Anchor {
                kernel,
                journal: range.start + 1 + index,
            }),
            AnchorRef::At(a) => Some(a),
            AnchorRef::None => None,
        };
        self.state.settled = settled;
        self.state.marker_seq = Some(range.start);
        let (lo, hi) = self
            .runs
            .runs()
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), r| (lo.min(r.0), hi.max(r.1)));
        self.report.kernel_range = Some(match self.report.kernel_range {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
        self.report.imported += n;
        self.report.batches += 1;
        self.report
            .journal_ranges
            .push((range.start + 1, range.end - 1));
        self.batch_bytes = 0;
        self.runs.clear();
        self.in_batch = SeqSet::new();
        self.batch_max = None;
        Ok(())
    }

    /// Appends the last batch and records the header mark.
    fn finish(mut self) -> SyncResult<(SyncState, ImportReport)> {
        self.commit()?;
        self.bridge.record_header_mark(self.state.watermark())?;
        self.report.synced_after = self.state.watermark();
        Ok((self.state, self.report))
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> SyncResult<T> + Send + 'static,
) -> SyncResult<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| SyncError::Task(e.to_string()))?,
        Err(_) => f(),
    }
}

impl KernelCompatibilityBridgeTrait for KernelBridge {
    fn convert_to_kernel_format(&self, event: &Event) -> Result<Vec<u8>, ConversionError> {
        convert::convert_to_kernel_format(event)
    }

    fn convert_from_kernel_format(&self, data: &[u8]) -> Result<Event, ConversionError> {
        convert::convert_from_kernel_format(data)
    }

    fn sync_sequences(&self) -> impl Future<Output = SyncResult<SequenceSyncResult>> + Send {
        let bridge = self.clone();
        run_blocking(move || bridge.sync())
    }

    fn verify_compatibility(&self, kernel_version: (u32, u32)) -> Result<(), CompatibilityError> {
        version::verify_compatibility(kernel_version)
    }

    fn get_kernel_status(&self) -> impl Future<Output = SyncResult<KernelJournalStatus>> + Send {
        let bridge = self.clone();
        run_blocking(move || bridge.kernel_status())
    }

    fn adjust_sequence_for_kernel(&self, userspace_sequence: u64) -> u64 {
        KernelBridge::adjust_sequence_for_kernel(self, userspace_sequence)
    }

    fn adjust_sequence_from_kernel(&self, kernel_sequence: u64) -> u64 {
        KernelBridge::adjust_sequence_from_kernel(self, kernel_sequence)
    }

    fn is_kernel_available(&self) -> impl Future<Output = bool> + Send {
        let bridge = self.clone();
        async move {
            run_blocking(move || Ok(bridge.kernel_available()))
                .await
                .unwrap_or(false)
        }
    }

    fn get_sync_metrics(&self) -> SyncMetrics {
        self.sync_metrics()
    }
}
