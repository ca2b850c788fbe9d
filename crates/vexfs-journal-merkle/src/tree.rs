//! The Merkle tree of RFC 6962 §2.1 (kept unchanged by RFC 9162 §2.1): SHA-256, a
//! leaf hashed as `SHA-256(0x00 ‖ data)`, an inner node as `SHA-256(0x01 ‖ left ‖
//! right)`, and a tree of `n` leaves split at the largest power of two below `n`.
//!
//! Everything here streams: [`Frontier`] folds leaves into a root in O(log n) memory,
//! and proofs are built from the roots of a few leaf ranges ([`inclusion_ranges`],
//! [`consistency_ranges`]) that [`RangeRoots`] computes in one pass. The crates that do
//! RFC 6962 trees (`ct-merkle`, `rs_merkle`) keep every leaf and node in memory, which
//! is 640 MB for a journal of 10 M events; that is why this module is written here.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::error::ProofError;

/// A SHA-256 digest: a leaf hash, an inner node or a root.
pub type Hash = [u8; 32];

/// The hash of a leaf holding `data`: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (`n ≥ 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// A tree being grown one leaf at a time: the roots of the perfect subtrees that the
/// binary digits of its size make, largest first (at most 64 hashes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// How many leaves were pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf, given as its [`leaf_hash`].
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Each trailing one bit of the old size is a perfect subtree of the same size
        // as the one being carried: merge them, as binary addition carries.
        while size & 1 == 1 {
            match self.peaks.pop() {
                Some(left) => hash = node_hash(&left, &hash),
                None => break,
            }
            size >>= 1;
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// The tree's root (RFC 6962's MTH over every leaf pushed).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => empty_root(),
            Some(last) => peaks.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

/// The leaf ranges whose roots make the inclusion proof (RFC 6962's `PATH`) of leaf
/// `index` in a tree of `size` leaves, in proof order (nearest the leaf first). Empty
/// when `index ≥ size` or the tree has one leaf.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<Range<u64>> {
    let mut top_down = Vec::new();
    if index >= size {
        return top_down;
    }
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            top_down.push(lo + k..hi);
            hi = lo + k;
        } else {
            top_down.push(lo..lo + k);
            lo += k;
        }
    }
    top_down.reverse();
    top_down
}

/// The leaf ranges whose roots make the consistency proof (RFC 6962's `PROOF`) that a
/// tree of `old` leaves is a prefix of one of `new` leaves, in proof order. Empty when
/// `old` is 0 or `old ≥ new` (nothing to prove).
pub fn consistency_ranges(old: u64, new: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    if old == 0 || old >= new {
        return out;
    }
    // SUBPROOF(m, D[lo..hi], b) unrolled: the subtrees pushed on the way down come out
    // last, so they are collected and appended in reverse.
    let (mut m, mut lo, mut hi, mut whole) = (old, 0, new, true);
    let mut siblings = Vec::new();
    loop {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(lo..hi);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            siblings.push(lo + k..hi);
            hi = lo + k;
        } else {
            siblings.push(lo..lo + k);
            m -= k;
            lo += k;
            whole = false;
        }
    }
    out.extend(siblings.into_iter().rev());
    out
}

/// Computes the roots of disjoint leaf ranges from leaf hashes pushed in order, in one
/// pass and O(log n) memory.
#[derive(Debug)]
pub struct RangeRoots {
    /// `(range, position in the caller's order)`, by start.
    sorted: Vec<(Range<u64>, usize)>,
    roots: Vec<Option<Hash>>,
    cur: usize,
    next: u64,
    frontier: Frontier,
}

impl RangeRoots {
    /// Roots for `ranges`, which must not overlap (those of [`inclusion_ranges`] and
    /// [`consistency_ranges`] never do).
    pub fn new(ranges: &[Range<u64>]) -> RangeRoots {
        let mut sorted: Vec<_> = ranges.iter().cloned().zip(0..).collect();
        sorted.sort_by_key(|(r, _)| r.start);
        RangeRoots {
            roots: vec![None; sorted.len()],
            sorted,
            cur: 0,
            next: 0,
            frontier: Frontier::new(),
        }
    }

    /// Pushes the next leaf (leaf index = how many were pushed before it).
    pub fn push(&mut self, leaf: Hash) {
        let i = self.next;
        self.next += 1;
        while let Some((range, pos)) = self.sorted.get(self.cur) {
            if i < range.start {
                return;
            }
            if i < range.end {
                self.frontier.push(leaf);
                if i + 1 == range.end {
                    self.roots[*pos] = Some(self.frontier.root());
                    self.frontier = Frontier::new();
                    self.cur += 1;
                }
                return;
            }
            // An empty range (never asked for by the proofs) or one already passed.
            self.cur += 1;
        }
    }

    /// Whether every range is complete.
    pub fn is_done(&self) -> bool {
        self.roots.iter().all(Option::is_some)
    }

    /// The roots in the order the ranges were given; fails when fewer leaves were
    /// pushed than the ranges need.
    pub fn finish(self) -> Result<Vec<Hash>, ProofError> {
        let leaves = self.next;
        let ends = self.sorted_ends();
        self.roots
            .into_iter()
            .zip(ends)
            .map(|(root, end)| {
                root.ok_or(ProofError::TooFewLeaves {
                    leaves,
                    needed: end,
                })
            })
            .collect()
    }

    fn sorted_ends(&self) -> Vec<u64> {
        let mut ends = vec![0; self.sorted.len()];
        for (range, pos) in &self.sorted {
            ends[*pos] = range.end;
        }
        ends
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf `index` of the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if path.len() != expected {
        return Err(ProofError::PathLength {
            got: path.len(),
            expected,
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return Err(ProofError::PathLength {
                got: path.len(),
                expected,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of `old` leaves with
/// root `old_root` is a prefix of the tree of `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::Shrunk { old, new });
    }
    let expected = consistency_ranges(old, new).len();
    if proof.len() != expected {
        return Err(ProofError::PathLength {
            got: proof.len(),
            expected,
        });
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Fork)
        };
    }
    if old == 0 {
        // The empty tree is a prefix of every tree, if it is the empty tree.
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut nodes: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        nodes.push(old_root);
    }
    nodes.extend(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let Some((first, rest)) = nodes.split_first() else {
        return Err(ProofError::RootMismatch);
    };
    let (mut fr, mut sr) = (**first, **first);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 || fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    /// RFC 6962's MTH written as the RFC defines it: the oracle for everything above.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    fn roots_of(ranges: &[Range<u64>], all: &[Hash]) -> Vec<Hash> {
        let mut rr = RangeRoots::new(ranges);
        for l in all {
            rr.push(*l);
        }
        rr.finish().unwrap()
    }

    #[test]
    fn known_answers_of_the_certificate_transparency_test_leaves() {
        // The eight leaves used by Certificate Transparency's own test suites; the
        // roots were also recomputed with Python's hashlib from the RFC's definition.
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut f = Frontier::new();
        assert_eq!(
            hex::encode(f.root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (d, root) in data.iter().zip(roots) {
            f.push(leaf_hash(d));
            assert_eq!(hex::encode(f.root()), root, "size {}", f.size());
        }
    }

    #[test]
    fn frontier_matches_the_definition_at_every_size() {
        let all = leaves(300);
        let mut f = Frontier::new();
        for (i, l) in all.iter().enumerate() {
            assert_eq!(f.root(), mth(&all[..i]), "size {i}");
            f.push(*l);
        }
        assert_eq!(f.root(), mth(&all));
    }

    #[test]
    fn every_inclusion_proof_up_to_64_leaves_verifies_and_no_altered_one_does() {
        for size in 1..=64u64 {
            let all = leaves(size);
            let root = mth(&all);
            for index in 0..size {
                let path = roots_of(&inclusion_ranges(index, size), &all);
                let leaf = all[index as usize];
                verify_inclusion(&leaf, index, size, &path, &root).unwrap();
                // Another leaf, another index, a changed path element, a shorter path.
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(&other, index, size, &path, &root).is_err());
                if size > 1 {
                    let wrong = (index + 1) % size;
                    assert!(verify_inclusion(&leaf, wrong, size, &path, &root).is_err());
                    let mut bad = path.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                    assert!(verify_inclusion(&leaf, index, size, &path[1..], &root).is_err());
                }
                // The same path against the tree with one more leaf.
                let mut longer = all.clone();
                longer.push(leaf_hash(b"next"));
                let longer_root = mth(&longer);
                assert!(verify_inclusion(&leaf, index, size + 1, &path, &longer_root).is_err());
            }
            assert!(verify_inclusion(&all[0], size, size, &[], &root).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves_verifies_and_no_altered_one_does() {
        for new in 1..=64u64 {
            let all = leaves(new);
            let new_root = mth(&all);
            for old in 0..=new {
                let old_root = mth(&all[..old as usize]);
                let proof = roots_of(&consistency_ranges(old, new), &all);
                verify_consistency(old, new, &proof, &old_root, &new_root).unwrap();
                if old > 0 && old < new {
                    // A different old tree (one leaf changed) is not a prefix.
                    let mut changed = all[..old as usize].to_vec();
                    changed[0][0] ^= 1;
                    let bad_old = mth(&changed);
                    assert!(verify_consistency(old, new, &proof, &bad_old, &new_root).is_err());
                    let mut bad = proof.clone();
                    let last = bad.len() - 1;
                    bad[last][31] ^= 1;
                    assert!(verify_consistency(old, new, &bad, &old_root, &new_root).is_err());
                }
            }
            assert!(verify_consistency(new + 1, new, &[], &new_root, &new_root).is_err());
            // Only the empty tree's root is the root of a tree of no leaves.
            assert!(verify_consistency(0, new, &[], &new_root, &new_root).is_err());
            // Two roots for one size are a fork.
            let other = leaf_hash(b"fork");
            assert_eq!(
                verify_consistency(new, new, &[], &new_root, &other),
                Err(ProofError::Fork)
            );
        }
    }

    proptest! {
        #[test]
        fn proofs_of_large_trees_verify(size in 1u64..5000, pick in any::<u64>(), old_pick in any::<u64>()) {
            let all = leaves(size);
            let root = mth(&all);
            let index = pick % size;
            let path = roots_of(&inclusion_ranges(index, size), &all);
            prop_assert!(verify_inclusion(&all[index as usize], index, size, &path, &root).is_ok());
            let old = old_pick % (size + 1);
            let proof = roots_of(&consistency_ranges(old, size), &all);
            let old_root = mth(&all[..old as usize]);
            prop_assert!(verify_consistency(old, size, &proof, &old_root, &root).is_ok());
        }
    }

    #[test]
    fn range_roots_reports_a_short_stream() {
        let all = leaves(10);
        let mut rr = RangeRoots::new(&inclusion_ranges(3, 16));
        for l in &all {
            rr.push(*l);
        }
        assert!(!rr.is_done());
        assert!(matches!(
            rr.finish(),
            Err(ProofError::TooFewLeaves { leaves: 10, .. })
        ));
    }
}
