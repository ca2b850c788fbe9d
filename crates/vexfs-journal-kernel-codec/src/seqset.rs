//! Compact sets of kernel sequence numbers: a contiguous prefix `1..=floor` plus sorted,
//! disjoint, non-adjacent ranges above it. A journal that imported its kernel's events
//! in order is one number (`floor`); damage or out-of-order imports add a few ranges.

use serde::Serialize;

/// A set of positive `u64`s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SeqSet {
    floor: u64,
    ranges: Vec<(u64, u64)>,
}

impl SeqSet {
    /// The empty set.
    pub fn new() -> SeqSet {
        SeqSet::default()
    }

    /// The set `1..=floor` plus `ranges` (inclusive; normalised here).
    pub fn from_parts(floor: u64, ranges: impl IntoIterator<Item = (u64, u64)>) -> SeqSet {
        let mut s = SeqSet {
            floor,
            ranges: Vec::new(),
        };
        for (a, b) in ranges {
            s.insert_range(a, b);
        }
        s
    }

    /// Every number from 1 to this one is in the set.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The ranges above `floor + 1`, sorted, inclusive.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Whether `k` is in the set (0 never is).
    pub fn contains(&self, k: u64) -> bool {
        if k == 0 {
            return false;
        }
        if k <= self.floor {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.1 < k);
        self.ranges.get(i).is_some_and(|r| r.0 <= k)
    }

    /// The largest member (0 when empty).
    pub fn max(&self) -> u64 {
        self.ranges.last().map_or(self.floor, |r| r.1)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.floor == 0 && self.ranges.is_empty()
    }

    /// Number of members.
    pub fn len(&self) -> u64 {
        self.ranges.iter().fold(self.floor, |n, r| {
            n.saturating_add((r.1 - r.0).saturating_add(1))
        })
    }

    /// Adds `k` (0 is ignored).
    pub fn insert(&mut self, k: u64) {
        self.insert_range(k, k);
    }

    /// Adds `a..=b` (numbers below 1 are ignored).
    pub fn insert_range(&mut self, a: u64, b: u64) {
        let a = a.max(1);
        if b < a || b <= self.floor {
            return;
        }
        let a = a.max(self.floor + 1);
        // Fast path: extending the last range or the floor (in-order imports).
        match self.ranges.last_mut() {
            None if a <= self.floor.saturating_add(1) => {
                self.floor = b;
                return;
            }
            Some(last) if a >= last.0 && a <= last.1.saturating_add(1) => {
                last.1 = last.1.max(b);
                return;
            }
            _ => {}
        }
        let first = self.ranges.partition_point(|r| r.1.saturating_add(1) < a);
        let mut end = first;
        let (mut lo, mut hi) = (a, b);
        while let Some(r) = self.ranges.get(end) {
            if r.0 > b.saturating_add(1) {
                break;
            }
            lo = lo.min(r.0);
            hi = hi.max(r.1);
            end += 1;
        }
        self.ranges.splice(first..end, [(lo, hi)]);
        if let Some(r) = self.ranges.first().copied()
            && r.0 <= self.floor.saturating_add(1)
        {
            self.floor = self.floor.max(r.1);
            self.ranges.remove(0);
        }
    }

    /// Adds every member of `other`.
    pub fn extend(&mut self, other: &SeqSet) {
        if other.floor > 0 {
            self.insert_range(1, other.floor);
        }
        for &(a, b) in &other.ranges {
            self.insert_range(a, b);
        }
    }
}

/// Kernel sequences in the order they were appended, as runs of consecutive numbers:
/// `(first, last)` with `last >= first`, each run ascending by one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Runs {
    runs: Vec<(u64, u64)>,
    count: u64,
}

impl Runs {
    /// No runs.
    pub fn new() -> Runs {
        Runs::default()
    }

    /// From stored runs.
    pub fn from_runs(runs: Vec<(u64, u64)>) -> Runs {
        let count = runs.iter().fold(0u64, |n, r| {
            n.saturating_add(r.1.saturating_sub(r.0).saturating_add(1))
        });
        Runs { runs, count }
    }

    /// Appends `k`.
    pub fn push(&mut self, k: u64) {
        match self.runs.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(k) => last.1 = k,
            _ => self.runs.push((k, k)),
        }
        self.count += 1;
    }

    /// Runs so far would grow by one if `k` were pushed.
    pub fn would_start_run(&self, k: u64) -> bool {
        self.runs
            .last()
            .is_none_or(|last| last.1.checked_add(1) != Some(k))
    }

    /// The runs.
    pub fn runs(&self) -> &[(u64, u64)] {
        &self.runs
    }

    /// Numbers in all runs.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Position (0-based, in append order) of `k`, if present.
    pub fn position(&self, k: u64) -> Option<u64> {
        let mut before = 0u64;
        for &(a, b) in &self.runs {
            if (a..=b).contains(&k) {
                return Some(before + (k - a));
            }
            before += b - a + 1;
        }
        None
    }

    /// Empties the runs.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_merges_and_absorbs_into_the_floor() {
        let mut s = SeqSet::new();
        s.insert_range(5, 7);
        assert_eq!((s.floor(), s.ranges()), (0, &[(5, 7)][..]));
        s.insert(9);
        s.insert(8);
        assert_eq!(s.ranges(), &[(5, 9)]);
        s.insert_range(1, 3);
        assert_eq!((s.floor(), s.ranges()), (3, &[(5, 9)][..]));
        s.insert(4);
        assert_eq!((s.floor(), s.ranges()), (9, &[][..]));
        assert!(s.contains(1) && s.contains(9) && !s.contains(10) && !s.contains(0));
        s.insert_range(20, 30);
        s.insert_range(12, 14);
        s.insert_range(40, 41);
        s.insert_range(13, 25);
        assert_eq!(s.ranges(), &[(12, 30), (40, 41)]);
        assert_eq!(s.len(), 9 + 19 + 2);
        assert_eq!(s.max(), 41);
        s.insert_range(10, 11);
        assert_eq!((s.floor(), s.ranges()), (30, &[(40, 41)][..]));
    }

    #[test]
    fn set_matches_a_naive_set() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..200 {
            let mut s = SeqSet::new();
            let mut naive = std::collections::BTreeSet::new();
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let a = seed % 60;
                let b = a + (seed >> 20) % 6;
                s.insert_range(a, b);
                naive.extend(a.max(1)..=b);
                for k in 0..70 {
                    assert_eq!(s.contains(k), naive.contains(&k), "k={k} set={s:?}");
                }
                assert_eq!(s.len(), naive.len() as u64);
                for w in s.ranges().windows(2) {
                    assert!(
                        w[0].1 + 1 < w[1].0,
                        "ranges disjoint and non-adjacent: {s:?}"
                    );
                }
                if let Some(r) = s.ranges().first() {
                    assert!(r.0 > s.floor() + 1);
                }
            }
        }
    }

    #[test]
    fn runs_track_positions() {
        let mut r = Runs::new();
        for k in [5, 6, 7, 2, 3, 10] {
            r.push(k);
        }
        assert_eq!(r.runs(), &[(5, 7), (2, 3), (10, 10)]);
        assert_eq!(r.count(), 6);
        assert_eq!(r.position(5), Some(0));
        assert_eq!(r.position(3), Some(4));
        assert_eq!(r.position(10), Some(5));
        assert_eq!(r.position(4), None);
        assert!(r.would_start_run(12) && !r.would_start_run(11));
    }
}
