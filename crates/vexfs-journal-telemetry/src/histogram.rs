//! A lock-free latency histogram.
//!
//! Hand-written (log-linear buckets of atomics, 12.5 % precision) because
//! `hdrhistogram`'s concurrent recorders need a channel hop and a periodic refresh;
//! here any thread records with one `fetch_add` and a snapshot is a plain read.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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

    /// An owned copy of the distribution, for export.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            count: self.count(),
            sum: self.sum.load(Relaxed),
            min: self.min(),
            max: self.max.load(Relaxed),
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

/// An owned copy of an [`AtomicHistogram`], read without stopping its writers (so
/// `count` and the buckets may differ by the values recorded during the read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: Vec<u64>,
    /// Values recorded.
    pub count: u64,
    /// Sum of the values recorded (wrapping on overflow).
    pub sum: u64,
    /// Smallest value (0 when empty).
    pub min: u64,
    /// Largest value (0 when empty).
    pub max: u64,
}

impl HistogramSnapshot {
    /// Cumulative counts for Prometheus-style buckets: for each of `bounds` (sorted
    /// ascending), how many values are at most that bound, plus a last entry for
    /// `+Inf` (every value), so the result has `bounds.len() + 1` entries and never
    /// decreases.
    ///
    /// Exact to the histogram's precision: values are kept in buckets 12.5 % wide
    /// (exact below 16), and a bucket counts under a bound only when its whole range
    /// is at most the bound. A value up to 12.5 % below a bound that shares its
    /// bucket with values above the bound is counted from the next bound up; bounds
    /// one less than a bucket edge (e.g. powers of two minus one) are exact.
    pub fn cumulative(&self, bounds: &[u64]) -> Vec<u64> {
        let mut out = Vec::with_capacity(bounds.len() + 1);
        let mut seen = 0u64;
        let mut next = 0usize;
        for &bound in bounds {
            while let Some(n) = self.buckets.get(next) {
                // The bucket's highest value.
                let high = if next + 1 >= self.buckets.len() {
                    u64::MAX
                } else {
                    bucket_low(next + 1).saturating_sub(1)
                };
                if high > bound {
                    break;
                }
                seen = seen.saturating_add(*n);
                next += 1;
            }
            out.push(seen);
        }
        let total: u64 = self.buckets.iter().fold(0, |a, b| a.saturating_add(*b));
        out.push(total.max(seen));
        out
    }

    /// Values recorded in the buckets (may differ from `count` by values recorded
    /// while the snapshot was read).
    pub fn bucket_total(&self) -> u64 {
        self.buckets.iter().fold(0, |a, b| a.saturating_add(*b))
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
    fn cumulative_buckets_are_exact_to_precision() {
        let h = AtomicHistogram::default();
        for v in 0..=2000u64 {
            h.record(v);
        }
        let bounds = [0, 15, 511, 1000, 1023, 5000];
        let snap = h.snapshot();
        let got = snap.cumulative(&bounds);
        assert_eq!(got.len(), bounds.len() + 1);
        // Exact at 0, below 16 and one less than a bucket edge.
        assert_eq!(got[0], 1);
        assert_eq!(got[1], 16);
        assert_eq!(got[2], 512);
        assert_eq!(got[4], 1024);
        // 1000 shares the bucket [960, 1024): the values 960..=1000 count from 1023.
        assert_eq!(got[3], 960);
        assert!((got[3] as f64) >= 1001.0 * 0.875);
        assert_eq!(got[5], 2001);
        assert_eq!(got[6], 2001);
        assert_eq!(snap.count, 2001);
        assert_eq!(snap.sum, (0..=2000u64).sum::<u64>());
        assert!(got.windows(2).all(|w| w[0] <= w[1]));
        let empty = AtomicHistogram::default().snapshot();
        assert_eq!(empty.cumulative(&bounds), vec![0; bounds.len() + 1]);
        let big = AtomicHistogram::default();
        big.record(u64::MAX);
        assert_eq!(big.snapshot().cumulative(&[u64::MAX]), vec![1, 1]);
        let big = AtomicHistogram::default();
        big.record(u64::MAX - 1);
        assert_eq!(big.snapshot().cumulative(&[10]), vec![0, 1]);
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
