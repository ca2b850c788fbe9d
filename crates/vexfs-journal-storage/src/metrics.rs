//! Engine counters.
//!
//! Counters are relaxed atomics updated by the emit path and the writer thread. The
//! emission latency goes into an [`AtomicHistogram`] (from `vexfs-journal-telemetry`);
//! one emit in eight per thread is timed, to keep the clock reads off most emits.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Serialize;

pub use vexfs_journal_telemetry::{AtomicHistogram, HistogramSnapshot, LatencySummary};

/// Live counters of one engine.
#[derive(Debug)]
pub struct Counters {
    pub(crate) started: Instant,
    /// First sequence of this run; events emitted = next sequence - this (no counter
    /// on the emit path, which would share a cache line with the writer's counters).
    pub(crate) first_seq: AtomicU64,
    pub(crate) persisted: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) recovered: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) blocks: AtomicU64,
    pub(crate) max_commit_events: AtomicU64,
    pub(crate) commit_ns: AtomicU64,
    pub(crate) raw_bytes: AtomicU64,
    pub(crate) stored_bytes: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) fsync_ns: AtomicU64,
    pub(crate) storage_errors: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) segments_deleted: AtomicU64,
    pub(crate) emit_latency: AtomicHistogram,
    /// fsync latency, ns (every sync, by the writer or the sync thread).
    pub(crate) sync_latency: AtomicHistogram,
    /// Events per group commit.
    pub(crate) batch_events: AtomicHistogram,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            started: Instant::now(),
            first_seq: AtomicU64::new(0),
            persisted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            max_commit_events: AtomicU64::new(0),
            commit_ns: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            fsync_ns: AtomicU64::new(0),
            storage_errors: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            segments_deleted: AtomicU64::new(0),
            emit_latency: AtomicHistogram::default(),
            sync_latency: AtomicHistogram::default(),
            batch_events: AtomicHistogram::default(),
        }
    }
}

thread_local! {
    static TIMED: Cell<u32> = const { Cell::new(0) };
}

/// Whether this emit should be timed (one in eight per thread).
pub(crate) fn sample_this_emit() -> bool {
    TIMED.with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n % 8 == 1
    })
}

/// A snapshot of the engine's metrics (the real subset of the seed spec's
/// `UserspaceJournalMetrics`, plus storage details).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StorageMetrics {
    /// Events accepted by `emit` (sequence assigned).
    pub events_emitted: u64,
    /// Events written to segment files.
    pub events_persisted: u64,
    /// Events discarded by the drop-oldest policy.
    pub events_dropped: u64,
    /// Emits refused (invalid event, full buffer under the error policy).
    pub events_rejected: u64,
    /// Events found on disk when the journal was opened.
    pub events_recovered: u64,
    /// Events waiting in the emission buffer.
    pub buffer_depth: u64,
    /// Emission latency (sampled).
    pub emission_latency: LatencySummary,
    /// Average events per second since open.
    pub avg_events_per_sec: f64,
    /// Group commits (one write, one sync).
    pub batches_processed: u64,
    /// Blocks written.
    pub blocks_written: u64,
    /// Mean events per group commit.
    pub avg_batch_size: f64,
    /// Largest group commit.
    pub max_batch_size: u64,
    /// Mean time to encode, compress and write one group commit, ns.
    pub avg_batch_processing_time_ns: u64,
    /// Uncompressed record bytes written.
    pub raw_bytes: u64,
    /// Block bytes written (headers and compressed data).
    pub stored_bytes: u64,
    /// `raw_bytes / stored_bytes`.
    pub compression_ratio: f64,
    /// Average write rate since open, MB/s.
    pub storage_write_rate_mb_per_sec: f64,
    /// fsync calls.
    pub fsyncs: u64,
    /// Mean fsync latency, ns.
    pub avg_fsync_ns: u64,
    /// Failed writes and syncs.
    pub storage_errors: u64,
    /// Segment rotations.
    pub rotations: u64,
    /// Segments deleted by retention.
    pub segments_deleted: u64,
    /// Seconds since open.
    pub uptime_s: f64,
}

/// Owned copies of the engine's histograms, for export (e.g. as Prometheus buckets
/// through [`HistogramSnapshot::cumulative`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageHistograms {
    /// Emission latency, ns (one emit in eight per thread is timed).
    pub emit_latency_ns: HistogramSnapshot,
    /// fsync latency, ns.
    pub sync_latency_ns: HistogramSnapshot,
    /// Events per group commit.
    pub batch_events: HistogramSnapshot,
}

impl Counters {
    pub(crate) fn histograms(&self) -> StorageHistograms {
        StorageHistograms {
            emit_latency_ns: self.emit_latency.snapshot(),
            sync_latency_ns: self.sync_latency.snapshot(),
            batch_events: self.batch_events.snapshot(),
        }
    }

    /// Counts one fsync that took `ns`.
    pub(crate) fn record_fsync(&self, ns: u64) {
        self.fsyncs.fetch_add(1, Relaxed);
        self.fsync_ns.fetch_add(ns, Relaxed);
        self.sync_latency.record(ns);
    }

    pub(crate) fn starting_at(first_seq: u64) -> Counters {
        let c = Counters::default();
        c.first_seq.store(first_seq, Relaxed);
        c
    }

    pub(crate) fn snapshot(&self, buffer_depth: u64, next_seq: u64) -> StorageMetrics {
        let get = |a: &AtomicU64| a.load(Relaxed);
        let uptime = self.started.elapsed().as_secs_f64().max(1e-9);
        let commits = get(&self.commits);
        let persisted = get(&self.persisted);
        let stored = get(&self.stored_bytes);
        let fsyncs = get(&self.fsyncs);
        StorageMetrics {
            events_emitted: next_seq.saturating_sub(get(&self.first_seq)),
            events_persisted: persisted,
            events_dropped: get(&self.dropped),
            events_rejected: get(&self.rejected),
            events_recovered: get(&self.recovered),
            buffer_depth,
            emission_latency: self.emit_latency.summary(),
            avg_events_per_sec: persisted as f64 / uptime,
            batches_processed: commits,
            blocks_written: get(&self.blocks),
            avg_batch_size: if commits == 0 {
                0.0
            } else {
                persisted as f64 / commits as f64
            },
            max_batch_size: get(&self.max_commit_events),
            avg_batch_processing_time_ns: get(&self.commit_ns).checked_div(commits).unwrap_or(0),
            raw_bytes: get(&self.raw_bytes),
            stored_bytes: stored,
            compression_ratio: if stored == 0 {
                0.0
            } else {
                get(&self.raw_bytes) as f64 / stored as f64
            },
            storage_write_rate_mb_per_sec: stored as f64 / 1e6 / uptime,
            fsyncs,
            avg_fsync_ns: get(&self.fsync_ns).checked_div(fsyncs).unwrap_or(0),
            storage_errors: get(&self.storage_errors),
            rotations: get(&self.rotations),
            segments_deleted: get(&self.segments_deleted),
            uptime_s: uptime,
        }
    }

    pub(crate) fn reset(&self, next_seq: u64) {
        self.first_seq.store(next_seq, Relaxed);
        for c in [
            &self.persisted,
            &self.dropped,
            &self.rejected,
            &self.commits,
            &self.blocks,
            &self.max_commit_events,
            &self.commit_ns,
            &self.raw_bytes,
            &self.stored_bytes,
            &self.fsyncs,
            &self.fsync_ns,
            &self.storage_errors,
            &self.rotations,
            &self.segments_deleted,
        ] {
            c.store(0, Relaxed);
        }
        self.emit_latency.reset();
        self.sync_latency.reset();
        self.batch_events.reset();
    }
}
