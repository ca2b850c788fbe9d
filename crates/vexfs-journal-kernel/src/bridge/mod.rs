//! [`KernelBridge`]: imports kernel events into a userspace [`Journal`] and keeps the
//! two sequence spaces synchronised. The policy is described in `docs/kernel.md`.
//!
//! One concept per module: `config` (how to read and batch), `state` (what the journal
//! holds of the kernel, and the mapping shared by the bridges of one open journal),
//! `importer` (atomic batches led by their marker), `source` (reading the kernel
//! source), `sync` (drift and resynchronisation), `metrics`, `report` (what operations
//! return) and `compat` (the seed's trait).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use vexfs_journal::{Event, Journal};

mod config;
mod importer;
mod metrics;
mod report;
mod source;
mod state;
mod sync;

pub use config::BridgeConfig;
pub use metrics::SyncMetrics;
pub use report::{ImportReport, KernelJournalStatus, SequenceSyncResult};
pub use state::SyncState;

use crate::error::{ImageError, SyncError, SyncResult};
use crate::image::ImageReader;
use crate::timeline::all_markers;
use importer::Importer;
use metrics::Metrics;
use source::check_source;
use state::{Shared, record_header_mark, shared_for};

/// The kernel bridge of one journal.
///
/// Cheap to clone; every clone (and every other bridge of the same open journal) shares
/// the synchronisation state, which the journal holds, and imports are serialised. The
/// bridge keeps the journal open.
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
            let journal = &bridge.inner.journal;
            let state = SyncState::load(journal)?;
            record_header_mark(journal, state.watermark())?;
            if let Some(a) = state.anchor {
                shared.offset = a.offset();
            }
            bridge.inner.metrics.set_synced(state.watermark());
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
        SyncState::load(&self.inner.journal)
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
        let (journal, config) = (&self.inner.journal, &self.inner.config);
        let state = SyncState::load(journal)?;
        let mut importer = Importer::new(journal, config, state, name);
        let mut reader = ImageReader::new(src, name, config.reader.clone());
        let stats = importer.read(&mut reader, &mut |_| {})?;
        let (_, mut report) = importer.finish()?;
        report.bytes_read = stats.bytes_read;
        report.trailing_zero_bytes = stats.trailing_zero_bytes;
        report.elapsed = started.elapsed();
        self.inner.metrics.count_import(&report);
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
        let journal = &self.inner.journal;
        let state = SyncState::load(journal)?;
        let mut importer = Importer::new(journal, &self.inner.config, state, name);
        for ev in events {
            importer.offer(ev)?;
        }
        let (_, mut report) = importer.finish()?;
        report.elapsed = started.elapsed();
        self.inner.metrics.count_import(&report);
        Ok(report)
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
        self.inner.metrics.snapshot(self.offset())
    }
}

fn add_signed(v: u64, d: i64) -> u64 {
    let r = i128::from(v) + i128::from(d);
    r.clamp(0, i128::from(u64::MAX)) as u64
}
