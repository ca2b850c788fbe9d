//! Engine counters and a lock-free latency histogram.
//!
//! Counters are relaxed atomics updated by the emit path and the writer thread. The
//! emission-latency histogram is hand-written (log-linear buckets of atomics, 12.5 %
//! precision) because `hdrhistogram`'s concurrent recorders need a channel hop and a
//! periodic refresh; here any thread records with one `fetch_add` and a snapshot is a
//! plain read. One emit in eight per thread is timed, to keep the clock reads off most
//! emits.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Serialize;

const SUB_BITS: u32 = 3;
const LINEAR: u64 = 1 << (SUB_BITS + 1);
const BUCKETS: usize = (LINEAR as usize) + (64 - SUB_BITS as usize - 1) * (1 << SUB_BITS);

/// A concurrent histogram of nanosecond values.
#[derive(Debug)]
pub struct AtomicHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let sub = (v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (LINEAR + u64::from(exp - SUB_BITS - 1) * (1 << SUB_BITS) + sub) as usize
}

fn bucket_low(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let k = i - LINEAR;
    let exp = k / (1 << SUB_BITS) + u64::from(SUB_BITS) + 1;
    let sub = k % (1 << SUB_BITS);
    (1 << exp) | (sub << (exp - u64::from(SUB_BITS)))
}

impl AtomicHistogram {
    /// Records one value.
    pub fn record(&self, v: u64) {
        if let Some(b) = self.buckets.get(bucket_of(v)) {
            b.fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.min.fetch_min(v, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The value below which `q` (0–1) of the values fall (bucket midpoint).
    pub fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                let low = bucket_low(i);
                let high = bucket_low(i + 1).max(low + 1);
                return (low + (high - low - 1) / 2).clamp(self.min(), self.max.load(Relaxed));
            }
        }
        self.max.load(Relaxed)
    }

    /// Smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        match self.min.load(Relaxed) {
            u64::MAX => 0,
            v => v,
        }
    }

    /// Summary of the distribution.
    pub fn summary(&self) -> LatencySummary {
        let count = self.count();
        LatencySummary {
            samples: count,
            avg_ns: self.sum.load(Relaxed).checked_div(count).unwrap_or(0),
            min_ns: self.min(),
            max_ns: self.max.load(Relaxed),
            p50_ns: self.quantile(0.50),
            p95_ns: self.quantile(0.95),
            p99_ns: self.quantile(0.99),
            p999_ns: self.quantile(0.999),
        }
    }

    /// Forgets every value.
    pub fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.sum.store(0, Relaxed);
        self.min.store(u64::MAX, Relaxed);
        self.max.store(0, Relaxed);
    }
}

/// Percentiles of a latency distribution, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub samples: u64,
    /// Mean.
    pub avg_ns: u64,
    /// Smallest.
    pub min_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 95th percentile.
    pub p95_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
}

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

impl Counters {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last && b < BUCKETS, "{v}");
            last = b;
            let low = bucket_low(b);
            assert!(low <= v, "{v} below its bucket {low}");
            if b + 1 < BUCKETS {
                assert!(v < bucket_low(b + 1));
            }
        }
    }

    #[test]
    fn quantiles_within_precision() {
        let h = AtomicHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        for (q, exact) in [(0.5, 5000.0), (0.99, 9900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 0.13, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.summary().min_ns, 1);
        assert_eq!(h.summary().max_ns, 10_000);
    }
}
