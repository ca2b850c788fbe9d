//! The index of one segment: a summary per block (kept in memory) and the term postings
//! (path, agent, transaction → blocks) that queries load on demand.

use std::collections::BTreeMap;
use std::ops::Bound;

use vexfs_journal_format::block::split_events;
use vexfs_journal_format::record::RecordView;
use vexfs_journal_format::{BStr, BString, FormatError};

pub use vexfs_journal_format::index_file::{
    BlockCounts, BlockSummary, OTHER_PRIORITY_BIT, Postings, SUMMARY_COORDINATED, UNKNOWN_TYPE_BIT,
    prio_bit, type_bit,
};

/// A set of block ordinals (a bitmap): unions of postings without sorting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockSet {
    words: Vec<u64>,
}

impl BlockSet {
    /// The set of `blocks`.
    pub fn of(blocks: &[u32]) -> BlockSet {
        let mut s = BlockSet::default();
        s.insert_all(blocks);
        s
    }

    /// Adds one ordinal.
    pub fn insert(&mut self, b: u32) {
        let w = (b / 64) as usize;
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (b % 64);
    }

    /// Adds ordinals.
    pub fn insert_all(&mut self, blocks: &[u32]) {
        for b in blocks {
            self.insert(*b);
        }
    }

    /// Adds the ordinals of sorted `blocks` that lie in `[from, to)`.
    pub fn insert_in(&mut self, blocks: &[u32], from: usize, to: usize) {
        let start = blocks.partition_point(|b| (*b as usize) < from);
        for b in blocks.get(start..).unwrap_or_default() {
            if *b as usize >= to {
                break;
            }
            self.insert(*b);
        }
    }

    /// Whether `b` is in the set.
    pub fn contains(&self, b: usize) -> bool {
        self.words
            .get(b / 64)
            .is_some_and(|w| w & (1 << (b % 64)) != 0)
    }

    /// Keeps only ordinals also in `other`.
    pub fn intersect(&mut self, other: &BlockSet) {
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// The ordinals in `[from, to)`, in increasing order.
    pub fn iter_range(&self, from: usize, to: usize) -> impl Iterator<Item = usize> + '_ {
        let first = from / 64;
        self.words
            .iter()
            .enumerate()
            .skip(first)
            .take_while(move |(i, _)| i * 64 < to)
            .flat_map(move |(i, w)| {
                let mut bits = *w;
                std::iter::from_fn(move || {
                    if bits == 0 {
                        return None;
                    }
                    let t = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    Some(i * 64 + t)
                })
            })
            .filter(move |b| *b >= from && *b < to)
    }
}

/// The term postings of a segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    /// Path → blocks.
    pub paths: Postings<BString>,
    /// Agent id → blocks.
    pub agents: Postings<BString>,
    /// Transaction id → blocks.
    pub txs: Postings<u64>,
    /// Event id → blocks of events naming it as parent or in a causality link.
    pub refs: Postings<u64>,
    /// Event id → blocks of the event with that id, when the id is not its sequence.
    pub ids: Postings<u64>,
    /// Per-block counts by type and agent, and visibility ANDs (rate statistics).
    pub counts: BlockCounts,
}

fn post<K: Ord>(map: &mut Postings<K>, key: K, block: u32) {
    let list = map.entry(key).or_default();
    if list.last() != Some(&block) {
        list.push(block);
    }
}

fn post_borrowed(map: &mut Postings<BString>, key: &BStr, block: u32) {
    match map.get_mut(key) {
        Some(list) => {
            if list.last() != Some(&block) {
                list.push(block);
            }
        }
        None => {
            map.insert(BString::from(key.as_ref() as &[u8]), vec![block]);
        }
    }
}

impl Terms {
    /// Block ordinals holding a path that starts with `prefix`.
    pub fn paths_with_prefix(&self, prefix: &[u8]) -> BlockSet {
        let start = BString::from(prefix);
        let mut out = BlockSet::default();
        for (path, blocks) in self
            .paths
            .range::<BString, _>((Bound::Included(&start), Bound::Unbounded))
        {
            if !path.starts_with(prefix) {
                break;
            }
            out.insert_all(blocks);
        }
        out
    }

    /// [`Terms::paths_with_prefix`] restricted to ordinals in `[from, to)`.
    pub fn paths_with_prefix_in(&self, prefix: &[u8], from: usize, to: usize) -> BlockSet {
        let start = BString::from(prefix);
        let mut out = BlockSet::default();
        for (path, blocks) in self
            .paths
            .range::<BString, _>((Bound::Included(&start), Bound::Unbounded))
        {
            if !path.starts_with(prefix) {
                break;
            }
            out.insert_in(blocks, from, to);
        }
        out
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        let strings = |m: &Postings<BString>| -> usize {
            m.iter().map(|(k, v)| k.len() + v.len() * 4 + 64).sum()
        };
        strings(&self.paths)
            + strings(&self.agents)
            + [&self.txs, &self.refs, &self.ids]
                .iter()
                .flat_map(|m| m.values())
                .map(|v| v.len() * 4 + 48)
                .sum::<usize>()
            + self.counts.heap_bytes()
    }
}

/// The index of one segment under construction or loaded.
#[derive(Clone, Debug, Default)]
pub struct SegmentIndex {
    /// The segment's first sequence (its identity).
    pub first_seq: u64,
    /// Block summaries in block order.
    pub blocks: Vec<BlockSummary>,
    /// Segment byte offset just after the last indexed block.
    pub covered_end: u64,
    /// Suffix minimum of `min_time` (for exact time pruning on unordered times).
    suffix_min: Vec<i64>,
    /// Prefix maximum of `max_time`.
    prefix_max: Vec<i64>,
}

impl SegmentIndex {
    /// An empty index of the segment starting at `first_seq`.
    pub fn new(first_seq: u64, covered_end: u64) -> Self {
        SegmentIndex {
            first_seq,
            covered_end,
            ..Default::default()
        }
    }

    /// Adds a block's summary; `block_end` is its end offset in the segment.
    pub fn push(&mut self, summary: BlockSummary, block_end: u64) {
        let max = self
            .prefix_max
            .last()
            .map_or(summary.max_time, |m| (*m).max(summary.max_time));
        self.prefix_max.push(max);
        self.suffix_min.push(summary.min_time);
        // Lower earlier suffix minima only as far as needed: for time-ordered blocks
        // this stops at once.
        for m in self.suffix_min.iter_mut().rev().skip(1) {
            if *m <= summary.min_time {
                break;
            }
            *m = summary.min_time;
        }
        self.blocks.push(summary);
        self.covered_end = block_end;
    }

    /// Gives back spare capacity (once the segment no longer grows).
    pub fn shrink_to_fit(&mut self) {
        self.blocks.shrink_to_fit();
        self.prefix_max.shrink_to_fit();
        self.suffix_min.shrink_to_fit();
    }

    /// Rebuilds the pruning arrays after loading summaries.
    pub fn from_summaries(first_seq: u64, covered_end: u64, blocks: Vec<BlockSummary>) -> Self {
        let mut idx = SegmentIndex::new(first_seq, covered_end);
        // Exact capacity: these vectors are most of an open journal's memory.
        idx.blocks.reserve_exact(blocks.len());
        idx.prefix_max.reserve_exact(blocks.len());
        idx.suffix_min.reserve_exact(blocks.len());
        for b in blocks {
            idx.push(b, covered_end);
        }
        idx.covered_end = covered_end;
        idx
    }

    /// Block ordinals `[start, end)` whose time range may overlap `[since, until]`.
    pub fn time_window(&self, since: Option<i64>, until: Option<i64>) -> (usize, usize) {
        let start = since.map_or(0, |s| self.prefix_max.partition_point(|m| *m < s));
        let end = until.map_or(self.blocks.len(), |u| {
            self.suffix_min.partition_point(|m| *m <= u)
        });
        (start, end.max(start))
    }
}

/// Adds `events` events of `agent` in `block` to the agent counts.
fn count_agent(
    map: &mut BTreeMap<BString, Vec<(u32, u32)>>,
    agent: &BStr,
    block: u32,
    events: u32,
) {
    let list = match map.get_mut(agent) {
        Some(list) => list,
        None => map
            .entry(BString::from(agent.as_ref() as &[u8]))
            .or_default(),
    };
    match list.last_mut() {
        Some((b, n)) if *b == block => *n += events,
        _ => list.push((block, events)),
    }
}

/// Summarises one block's records and adds its terms and counts to `terms` under
/// ordinal `block`.
pub fn summarise_block(
    records: &[u8],
    block: u32,
    terms: &mut Terms,
) -> Result<BlockSummary, FormatError> {
    let mut s = BlockSummary::default();
    let mut vis_and = u64::MAX;
    let mut types: Vec<(u32, u32)> = Vec::new();
    // Runs of consecutive events of one agent, applied once the block decoded whole.
    let mut runs: Vec<(&BStr, u32)> = Vec::new();
    // The counts must describe blocks 0..block: drop any beyond (a cut tail) and pad
    // missing ones with empty counts, which never match their summary's count, so a
    // rate reads those blocks instead of trusting them.
    let counts = &mut terms.counts;
    if counts.blocks() > block as usize {
        counts.truncate(block as usize);
    }
    while counts.blocks() < block as usize {
        counts.push_block(0, &[]);
    }
    for item in split_events(records) {
        let (_, bytes) = item?;
        let view = RecordView::parse_trusted(bytes)?;
        let seq = view.ext().userspace_sequence;
        let time = view.header.timestamp.ktime.get();
        if s.count == 0 {
            s.first_seq = seq;
            s.min_time = time;
            s.max_time = time;
        }
        s.last_seq = seq;
        s.min_time = s.min_time.min(time);
        s.max_time = s.max_time.max(time);
        s.type_bits |= type_bit(view.event_type());
        s.prio_bits |= prio_bit(view.priority());
        s.vis_or |= view.header.agent_visibility_mask.get();
        vis_and &= view.header.agent_visibility_mask.get();
        if view.raw_ext.cross_boundary_id.get() != 0 {
            s.flags |= SUMMARY_COORDINATED;
        }
        s.count += 1;
        let code = view.event_type().code();
        match types.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => types.push((code, 1)),
        }
        let ctx = &view.context;
        match runs.last_mut() {
            Some((a, n)) if *a == ctx.agent_id => *n += 1,
            _ => runs.push((ctx.agent_id, 1)),
        }
        if !ctx.path.is_empty() {
            post_borrowed(&mut terms.paths, ctx.path, block);
        }
        if !ctx.agent_id.is_empty() {
            post_borrowed(&mut terms.agents, ctx.agent_id, block);
        }
        if ctx.transaction_id != 0 {
            post(&mut terms.txs, ctx.transaction_id, block);
        }
        let id = view.event_id();
        if id != seq {
            post(&mut terms.ids, id, block);
        }
        let parent = view.header.parent_event_id.get();
        if parent != 0 && parent != id {
            post(&mut terms.refs, parent, block);
        }
        view.for_each_link(|l| {
            for other in [l.cause_event_id, l.effect_event_id] {
                if other != 0 && other != id {
                    post(&mut terms.refs, other, block);
                }
            }
        });
    }
    for (a, n) in runs {
        count_agent(&mut terms.counts.agents, a, block, n);
    }
    types.sort_unstable();
    terms
        .counts
        .push_block(if s.count == 0 { 0 } else { vis_and }, &types);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(min: i64, max: i64) -> BlockSummary {
        BlockSummary {
            min_time: min,
            max_time: max,
            count: 1,
            ..Default::default()
        }
    }

    #[test]
    fn time_window_is_exact_on_unordered_times() {
        let mut idx = SegmentIndex::new(1, 128);
        // An imported block with old times in the middle.
        let ranges = [(10, 20), (21, 30), (1, 5), (31, 40), (41, 50)];
        for (i, (a, b)) in ranges.iter().enumerate() {
            idx.push(summary(*a, *b), 128 + i as u64);
        }
        for since in 0..55 {
            for until in since..55 {
                let (start, end) = idx.time_window(Some(since), Some(until));
                for (i, (a, b)) in ranges.iter().enumerate() {
                    let overlaps = *a <= until && *b >= since;
                    if overlaps {
                        assert!(
                            start <= i && i < end,
                            "block {i} missed for [{since}, {until}]"
                        );
                    }
                }
            }
        }
        assert_eq!(idx.time_window(None, None), (0, 5));
    }

    #[test]
    fn prefix_postings() {
        let mut t = Terms::default();
        post_borrowed(&mut t.paths, BStr::new("/a/x"), 1);
        post_borrowed(&mut t.paths, BStr::new("/a/x"), 1);
        post_borrowed(&mut t.paths, BStr::new("/a/y"), 3);
        post_borrowed(&mut t.paths, BStr::new("/b"), 2);
        post_borrowed(&mut t.paths, BStr::new("/a/x"), 4);
        let all = |s: BlockSet| s.iter_range(0, 1000).collect::<Vec<_>>();
        assert_eq!(all(t.paths_with_prefix(b"/a/")), vec![1, 3, 4]);
        assert_eq!(all(t.paths_with_prefix(b"/b")), vec![2]);
        assert_eq!(all(t.paths_with_prefix(b"/c")), Vec::<usize>::new());
        assert_eq!(all(t.paths_with_prefix(b"")), vec![1, 2, 3, 4]);
        assert_eq!(all(t.paths_with_prefix_in(b"/a/", 2, 4)), vec![3]);
        assert_eq!(all(t.paths_with_prefix_in(b"", 2, 5)), vec![2, 3, 4]);
        assert_eq!(
            all(t.paths_with_prefix_in(b"/a/", 5, 9)),
            Vec::<usize>::new()
        );
        let mut s = BlockSet::of(&[0, 63, 64, 65, 200]);
        assert_eq!(
            s.iter_range(63, 201).collect::<Vec<_>>(),
            vec![63, 64, 65, 200]
        );
        assert_eq!(s.iter_range(64, 65).collect::<Vec<_>>(), vec![64]);
        s.intersect(&BlockSet::of(&[64, 200, 300]));
        assert_eq!(s.iter_range(0, 1000).collect::<Vec<_>>(), vec![64, 200]);
        assert!(s.contains(200) && !s.contains(63));
    }
}
