//! The bridge's counters: [`SyncMetrics`] and the atomics behind it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use serde::Serialize;
use vexfs_journal::ext::{AtomicHistogram, LatencySummary};

use super::report::{ImportReport, SequenceSyncResult};
use crate::error::{SyncError, SyncResult};

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

/// The live counters of one bridge (and its clones).
#[derive(Debug, Default)]
pub(super) struct Metrics {
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

impl Metrics {
    /// Records the highest synchronised kernel sequence.
    pub(super) fn set_synced(&self, watermark: u64) {
        self.synced.store(watermark, Relaxed);
    }

    /// Counts one import.
    pub(super) fn count_import(&self, report: &ImportReport) {
        self.imports.fetch_add(1, Relaxed);
        self.imported.fetch_add(report.imported, Relaxed);
        self.already.fetch_add(report.already_present, Relaxed);
        self.damaged.fetch_add(report.damage.len() as u64, Relaxed);
        self.synced.store(report.synced_after, Relaxed);
    }

    /// Counts a synchronisation as attempted.
    pub(super) fn sync_started(&self) {
        self.syncs.fetch_add(1, Relaxed);
    }

    /// Records how a synchronisation that took `ns` nanoseconds ended.
    pub(super) fn sync_ended(&self, ns: u64, result: &SyncResult<SequenceSyncResult>) {
        self.latency.record(ns);
        match result {
            Ok(r) => {
                self.ok.fetch_add(1, Relaxed);
                self.last_drift.store(r.drift, Relaxed);
                self.max_abs_drift
                    .fetch_max(r.drift.unsigned_abs(), Relaxed);
                if r.drift_detected {
                    self.drift_events.fetch_add(1, Relaxed);
                }
                self.kernel_sequence.store(r.kernel_sequence, Relaxed);
                self.userspace_sequence.store(r.userspace_sequence, Relaxed);
                self.synced.store(r.synced_kernel_sequence, Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Relaxed);
                if let SyncError::KernelSequenceRegressed { drift, .. } = e {
                    self.drift_events.fetch_add(1, Relaxed);
                    self.last_drift.store(*drift, Relaxed);
                    self.max_abs_drift.fetch_max(drift.unsigned_abs(), Relaxed);
                }
            }
        }
    }

    /// The counters now, with the mapping's current `offset`.
    pub(super) fn snapshot(&self, offset: i64) -> SyncMetrics {
        let latency = self.latency.summary();
        SyncMetrics {
            kernel_sync_operations: self.syncs.load(Relaxed),
            successful_syncs: self.ok.load(Relaxed),
            failed_syncs: self.failed.load(Relaxed),
            sequence_drift_events: self.drift_events.load(Relaxed),
            last_drift: self.last_drift.load(Relaxed),
            max_abs_drift: self.max_abs_drift.load(Relaxed),
            imports: self.imports.load(Relaxed),
            imported_events: self.imported.load(Relaxed),
            already_present_events: self.already.load(Relaxed),
            damaged_regions: self.damaged.load(Relaxed),
            avg_sync_latency_ns: latency.avg_ns,
            max_sync_latency_ns: latency.max_ns,
            sync_latency: latency,
            kernel_sequence: self.kernel_sequence.load(Relaxed),
            synced_kernel_sequence: self.synced.load(Relaxed),
            userspace_sequence: self.userspace_sequence.load(Relaxed),
            offset,
        }
    }
}
