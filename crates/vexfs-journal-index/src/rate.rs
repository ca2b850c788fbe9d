//! Event rates: counts per time bucket by category, type or agent, answered from the
//! per-block counts of the index wherever a block lies inside one bucket, and by
//! reading events only for the blocks that straddle a boundary.
//!
//! The answer is exact: a block is taken from its counts only when every event of it
//! falls in one bucket (its time range lies inside the bucket and the window), is
//! visible (its sequences are below the visible end) and passes the visibility mask
//! (the AND of its masks meets the principal's), and its counts add up to its summary.
//! Any other block is read event by event.

use std::collections::BTreeMap;

use std::sync::Arc;
use vexfs_journal_format::layout::RawEventHeader;
use vexfs_journal_format::record::{RecordView, peek_record};
use vexfs_journal_format::{BString, EventType};

use vexfs_journal_storage::{BlockRef, Segment};
use zerocopy::FromBytes;

use crate::error::{IndexError, Result};
use crate::query::{DamagedBlock, Executor};
use crate::segment_index::SUMMARY_COORDINATED;

/// Most buckets a rate may have.
pub const MAX_RATE_BUCKETS: u64 = 100_000;
/// Most threads a rate counts segments on.
const MAX_RATE_THREADS: usize = 4;

/// What events are counted under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RateBy {
    /// The type's category (`filesystem`, `agent`, …).
    #[default]
    Category,
    /// The type (`filesystem.write`, …).
    Type,
    /// The agent id (`""` for events without one).
    Agent,
}

impl RateBy {
    /// The name used in queries (`category`, `type`, `agent`).
    pub fn name(self) -> &'static str {
        match self {
            RateBy::Category => "category",
            RateBy::Type => "type",
            RateBy::Agent => "agent",
        }
    }
}

impl std::str::FromStr for RateBy {
    type Err = RateError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "category" => Ok(RateBy::Category),
            "type" => Ok(RateBy::Type),
            "agent" => Ok(RateBy::Agent),
            _ => Err(RateError::UnknownBy(s.to_string())),
        }
    }
}

impl std::fmt::Display for RateBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a rate query is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// The step is zero or negative.
    #[error("the step must be positive, not {0} ns")]
    Step(i64),
    /// `until` is before `since`.
    #[error("until ({until}) is before since ({since})")]
    Range {
        /// The window's start, ns.
        since: i64,
        /// The window's end, ns.
        until: i64,
    },
    /// The window holds more buckets than [`MAX_RATE_BUCKETS`].
    #[error(
        "{buckets} buckets asked for, at most {max} allowed: use a larger step or a shorter window"
    )]
    TooManyBuckets {
        /// Buckets the window and step make.
        buckets: u64,
        /// The limit.
        max: u64,
    },
    /// Not `category`, `type` or `agent`.
    #[error("cannot count by {0:?}: use category, type or agent")]
    UnknownBy(String),
}

/// A rate query: events counted per `step_ns` bucket from `since_ns` (inclusive) to
/// `until_ns` (exclusive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateQuery {
    /// What events are counted under.
    pub by: RateBy,
    /// Bucket width, ns (> 0).
    pub step_ns: i64,
    /// Start of the first bucket, ns; the earliest event's time when unset (but not
    /// after `until_ns`).
    pub since_ns: Option<i64>,
    /// End of the window (exclusive), ns; just after the latest event when unset (but
    /// not before `since_ns`).
    pub until_ns: Option<i64>,
    /// Count only events visible to this principal mask (event mask AND it ≠ 0).
    pub visibility: Option<u64>,
}

/// One bucket of a rate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateBucket {
    /// Start of the bucket, ns (it spans `[start_ns, start_ns + step_ns)`).
    pub start_ns: i64,
    /// Events per key; keys without events are absent.
    pub counts: BTreeMap<String, u64>,
}

/// The answer to a [`RateQuery`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    /// What events were counted under.
    pub by: RateBy,
    /// Bucket width, ns.
    pub step_ns: i64,
    /// Start of the window (the first bucket), ns.
    pub since_ns: i64,
    /// End of the window (exclusive), ns.
    pub until_ns: i64,
    /// Every bucket of the window in time order, empty ones included.
    pub buckets: Vec<RateBucket>,
    /// Blocks read event by event.
    pub blocks_read: u64,
    /// Blocks answered from their counts (or ruled out by their summary).
    pub blocks_summarised: u64,
}

/// Events per type code in one bucket: dense for the known types (no lookup on the
/// hot path), a map for the others.
#[derive(Clone, Debug, Default)]
struct Codes {
    known: Vec<u64>,
    other: BTreeMap<u32, u64>,
}

impl Codes {
    fn add(&mut self, code: u32, n: u64) {
        match EventType::from_code(code).known_index() {
            Some(i) => {
                if self.known.is_empty() {
                    self.known = vec![0; EventType::KNOWN_COUNT];
                }
                if let Some(slot) = self.known.get_mut(i) {
                    *slot += n;
                }
            }
            None => *self.other.entry(code).or_default() += n,
        }
    }
}

/// Counts being gathered, per bucket.
enum Acc {
    /// By type code (categories are merged at the end).
    Codes(Vec<Codes>),
    /// By agent id.
    Agents(Vec<BTreeMap<BString, u64>>),
}

impl Acc {
    /// The same kind of accumulator, every bucket empty.
    fn empty_like(&self) -> Acc {
        match self {
            Acc::Codes(b) => Acc::Codes(vec![Codes::default(); b.len()]),
            Acc::Agents(b) => Acc::Agents(vec![BTreeMap::new(); b.len()]),
        }
    }

    /// Adds `other`'s counts (of the same kind and size) to these.
    fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Codes(mine), Acc::Codes(theirs)) => {
                for (m, t) in mine.iter_mut().zip(theirs) {
                    if m.known.is_empty() {
                        m.known = t.known;
                    } else {
                        for (a, b) in m.known.iter_mut().zip(t.known) {
                            *a += b;
                        }
                    }
                    for (code, n) in t.other {
                        *m.other.entry(code).or_default() += n;
                    }
                }
            }
            (Acc::Agents(mine), Acc::Agents(theirs)) => {
                for (m, t) in mine.iter_mut().zip(theirs) {
                    for (agent, n) in t {
                        *m.entry(agent).or_default() += n;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Decides, for a record of a coordinated transaction (`cross_boundary_id` ≠ 0),
/// whether a rate leaves it out (see [`Executor::rate_where`]).
pub type HideRecord<'h> = &'h (dyn Fn(&RecordView<'_>) -> bool + Sync);

/// The window and bucketing of a running rate.
struct Window<'h> {
    since: i64,
    until: i64,
    step: i64,
    mask: Option<u64>,
    visible_end: u64,
    hide: Option<HideRecord<'h>>,
}

impl Window<'_> {
    fn bucket(&self, t: i64) -> Option<usize> {
        if t < self.since || t >= self.until {
            return None;
        }
        // 64-bit division when the offset fits (always, but for windows wider than
        // i64), which is several times cheaper than 128-bit on the hot path.
        let k = match t.checked_sub(self.since) {
            Some(d) => d / self.step,
            None => i64::try_from((i128::from(t) - i128::from(self.since)) / i128::from(self.step))
                .ok()?,
        };
        usize::try_from(k).ok()
    }
}

/// The window a query covers below `visible_end`: its bounds, defaulting to the events'.
fn window<'h>(
    ex: &Executor<'_>,
    q: &RateQuery,
    visible_end: u64,
    hide: Option<HideRecord<'h>>,
) -> Result<Window<'h>> {
    if q.step_ns <= 0 {
        return Err(RateError::Step(q.step_ns).into());
    }
    let (since, until) = match (q.since_ns, q.until_ns) {
        (Some(s), Some(u)) => (s, u),
        (s, u) => {
            let mut lo: Option<i64> = None;
            let mut hi: Option<i64> = None;
            let mut widen = |min: i64, max: i64| {
                lo = Some(lo.map_or(min, |l| l.min(min)));
                hi = Some(hi.map_or(max, |h| h.max(max)));
            };
            for seg in ex.store.segments() {
                // A segment wholly visible answers from its time range (no unpacking).
                if seg.next_seq() <= visible_end {
                    if let Some((min, max)) = seg.time_range() {
                        widen(min, max);
                    }
                    continue;
                }
                for b in seg.blocks().iter().filter(|b| b.first_seq < visible_end) {
                    widen(b.min_time, b.max_time);
                }
            }
            // A bound left to default never crosses the one given: the window is then
            // empty rather than refused.
            let since = match (s, u) {
                (Some(s), _) => s,
                (None, Some(u)) => lo.unwrap_or(u).min(u),
                (None, None) => lo.unwrap_or(0),
            };
            let until = u.unwrap_or_else(|| hi.map_or(since, |h| h.saturating_add(1)).max(since));
            (since, until)
        }
    };
    if until < since {
        return Err(RateError::Range { since, until }.into());
    }
    let span = i128::from(until) - i128::from(since);
    let buckets = (span + i128::from(q.step_ns) - 1) / i128::from(q.step_ns);
    if buckets > i128::from(MAX_RATE_BUCKETS) {
        return Err(RateError::TooManyBuckets {
            buckets: u64::try_from(buckets).unwrap_or(u64::MAX),
            max: MAX_RATE_BUCKETS,
        }
        .into());
    }
    Ok(Window {
        since,
        until,
        step: q.step_ns,
        mask: q.visibility,
        visible_end,
        hide,
    })
}

impl Executor<'_> {
    /// Counts the events below `visible_end` per bucket of `q` (see the module docs).
    pub fn rate(&self, q: &RateQuery, visible_end: u64) -> Result<Rate> {
        self.rate_where(q, visible_end, None)
    }

    /// [`Executor::rate`] leaving out the records of coordinated transactions for which
    /// `hide(record)` is true (a read-committed reader's aborted
    /// events): blocks holding such records are read, not taken from their counts.
    pub fn rate_where(
        &self,
        q: &RateQuery,
        visible_end: u64,
        hide: Option<HideRecord<'_>>,
    ) -> Result<Rate> {
        let w = window(self, q, visible_end, hide)?;
        let n = usize::try_from(
            (i128::from(w.until) - i128::from(w.since) + i128::from(w.step) - 1)
                / i128::from(w.step),
        )
        .unwrap_or(0);
        let acc = match q.by {
            RateBy::Agent => Acc::Agents(vec![BTreeMap::new(); n]),
            _ => Acc::Codes(vec![Codes::default(); n]),
        };
        let segments = self.store.segments();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_RATE_THREADS)
            .min(segments.len())
            .max(1);
        let (acc, read, summarised) = if workers == 1 {
            let mut acc = acc;
            let (mut read, mut summarised) = (0u64, 0u64);
            for seg in &segments {
                let (r, s) = self.rate_segment(seg, &w, &mut acc)?;
                read += r;
                summarised += s;
            }
            (acc, read, summarised)
        } else {
            // Segments are handed out one at a time; each worker counts into its own
            // buckets, merged at the end.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let parts: Vec<Result<(Acc, u64, u64)>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        let (segments, w, next) = (&segments, &w, &next);
                        let mut acc = acc.empty_like();
                        scope.spawn(move || -> Result<(Acc, u64, u64)> {
                            let (mut read, mut summarised) = (0u64, 0u64);
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(seg) = segments.get(i) else { break };
                                let (r, s) = self.rate_segment(seg, w, &mut acc)?;
                                read += r;
                                summarised += s;
                            }
                            Ok((acc, read, summarised))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Err(IndexError::RateWorker)))
                    .collect()
            });
            let (mut acc, mut read, mut summarised) = (acc, 0u64, 0u64);
            for part in parts {
                let (a, r, s) = part?;
                acc.merge(a);
                read += r;
                summarised += s;
            }
            (acc, read, summarised)
        };
        let start = |k: usize| w.since.saturating_add((k as i64).saturating_mul(w.step));
        let buckets = match acc {
            Acc::Codes(list) => {
                let known: Vec<EventType> = EventType::all().collect();
                let name = |t: EventType| match q.by {
                    RateBy::Category => t.category().to_string(),
                    _ => t.to_string(),
                };
                let known_names: Vec<String> = known.iter().map(|t| name(*t)).collect();
                list.into_iter()
                    .enumerate()
                    .map(|(k, codes)| {
                        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                        for (i, c) in codes.known.iter().enumerate() {
                            if *c > 0
                                && let Some(n) = known_names.get(i)
                            {
                                *counts.entry(n.clone()).or_default() += c;
                            }
                        }
                        for (code, c) in codes.other {
                            *counts.entry(name(EventType::from_code(code))).or_default() += c;
                        }
                        RateBucket {
                            start_ns: start(k),
                            counts,
                        }
                    })
                    .collect()
            }
            Acc::Agents(list) => list
                .into_iter()
                .enumerate()
                .map(|(k, map)| {
                    let mut counts = BTreeMap::new();
                    for (agent, c) in map {
                        // Ids that are not UTF-8 may share a name: they add up.
                        *counts
                            .entry(String::from_utf8_lossy(&agent).into_owned())
                            .or_default() += c;
                    }
                    RateBucket {
                        start_ns: start(k),
                        counts,
                    }
                })
                .collect(),
        };
        Ok(Rate {
            by: q.by,
            step_ns: w.step,
            since_ns: w.since,
            until_ns: w.until,
            buckets,
            blocks_read: read,
            blocks_summarised: summarised,
        })
    }

    /// Counts one segment's events of the window into `acc`; returns the blocks
    /// (read, answered from their counts).
    fn rate_segment(
        &self,
        seg: &Arc<Segment>,
        w: &Window<'_>,
        acc: &mut Acc,
    ) -> Result<(u64, u64)> {
        let visible_end = w.visible_end;
        let (mut read, mut summarised) = (0u64, 0u64);
        let blocks = seg.blocks();
        let mut to_read = Vec::new();
        let mut indexed = 0;
        if let Some(entry) = self.index.segment(seg.first_seq()) {
            // Blocks enter the terms (and counts) before the summaries: count the
            // summaries first, then every one counted is in the counts taken next.
            indexed = entry.summary().blocks.len().min(blocks.len());
            let counts = entry.counts()?;
            let summary = entry.summary();
            // A sealed segment's summaries may have been dropped and loaded again in
            // between: blocks past what they cover are read.
            indexed = indexed.min(summary.blocks.len());
            let (a, z) = summary.time_window(Some(w.since), Some(w.until.saturating_sub(1)));
            // Bucket of each block taken from its counts (for the agent postings).
            let mut whole: Vec<usize> = Vec::new();
            for i in a..z.min(indexed) {
                let (Some(s), Some(b)) = (summary.blocks.get(i), blocks.get(i)) else {
                    continue;
                };
                if s.max_time < w.since || s.min_time >= w.until || s.first_seq >= visible_end {
                    continue;
                }
                if w.mask.is_some_and(|m| s.vis_or & m == 0) {
                    summarised += 1;
                    continue;
                }
                let types = counts.types_of(i);
                let bucket = w.bucket(s.min_time).filter(|lo| {
                    w.bucket(s.max_time) == Some(*lo)
                        && (w.hide.is_none() || s.flags & SUMMARY_COORDINATED == 0)
                        && s.last_seq < visible_end
                        && i < counts.blocks()
                        && types.iter().map(|(_, c)| u64::from(*c)).sum::<u64>()
                            == u64::from(s.count)
                        && w.mask
                            .is_none_or(|m| counts.vis_and.get(i).is_some_and(|v| v & m != 0))
                });
                match bucket {
                    Some(k) => {
                        summarised += 1;
                        match &mut *acc {
                            Acc::Codes(buckets) => {
                                if let Some(b) = buckets.get_mut(k) {
                                    for (code, c) in types {
                                        b.add(*code, u64::from(*c));
                                    }
                                }
                            }
                            Acc::Agents(_) => {
                                if whole.is_empty() {
                                    whole = vec![usize::MAX; indexed];
                                }
                                if let Some(slot) = whole.get_mut(i) {
                                    *slot = k;
                                }
                            }
                        }
                    }
                    None => to_read.push(*b),
                }
            }
            if let Acc::Agents(buckets) = &mut *acc
                && !whole.is_empty()
            {
                for (agent, list) in &counts.agents {
                    for (b, c) in list {
                        let k = whole.get(*b as usize).copied().unwrap_or(usize::MAX);
                        if let Some(map) = buckets.get_mut(k) {
                            *map.entry(agent.clone()).or_default() += u64::from(*c);
                        }
                    }
                }
            }
        }
        // Blocks the index has not seen yet: pruned by the block table, then read.
        for b in blocks.get(indexed..).unwrap_or_default() {
            if b.max_time >= w.since && b.min_time < w.until && b.first_seq < visible_end {
                to_read.push(*b);
            }
        }
        for entry in to_read {
            read += 1;
            let block = BlockRef {
                segment: seg.clone(),
                entry,
            };
            self.store
                .with_records(&block, |records| count_records(w, records, acc))
                .map_err(|e| {
                    if crate::query::is_damage(&e) {
                        IndexError::DamagedBlock(Box::new(DamagedBlock::new(seg, &entry, &e)))
                    } else {
                        e.into()
                    }
                })?
                .map_err(|e| {
                    IndexError::DamagedBlock(Box::new(DamagedBlock::new(seg, &entry, &e)))
                })?;
        }
        Ok((read, summarised))
    }
}

/// Counts the records of one block's data that fall in the window.
fn count_records(
    w: &Window<'_>,
    records: &[u8],
    acc: &mut Acc,
) -> std::result::Result<(), vexfs_journal_format::FormatError> {
    let mut pos = 0;
    while let Some((size, seq)) = records.get(pos..).and_then(peek_record) {
        let bytes = records.get(pos..).unwrap_or_default();
        pos += size;
        if seq >= w.visible_end {
            continue;
        }
        let Ok((h, _)) = RawEventHeader::ref_from_prefix(bytes) else {
            // Too short for a header: let the parser name the damage.
            RecordView::parse_trusted(bytes)?;
            continue;
        };
        let Some(k) = w.bucket(h.timestamp.ktime.get()) else {
            continue;
        };
        if w.mask
            .is_some_and(|m| h.agent_visibility_mask.get() & m == 0)
        {
            continue;
        }
        if let Some(hide) = w.hide {
            let view = RecordView::parse_trusted(bytes)?;
            if view.raw_ext.cross_boundary_id.get() != 0 && hide(&view) {
                continue;
            }
        }
        match acc {
            Acc::Codes(buckets) => {
                if let Some(b) = buckets.get_mut(k) {
                    b.add(h.event_type.get(), 1);
                }
            }
            Acc::Agents(buckets) => {
                let view = RecordView::parse_trusted(bytes)?;
                if let Some(map) = buckets.get_mut(k) {
                    let agent: &[u8] = view.context.agent_id.as_ref();
                    match map.get_mut(agent) {
                        Some(c) => *c += 1,
                        None => {
                            map.insert(BString::from(agent), 1);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
