//! Queries: a filter over events (AND of its criteria), executed with the indexes, in
//! sequence order or reverse, paged with opaque cursors.

use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vexfs_journal_format::cursor::{
    CURSOR_SIZE, CURSOR_V1_SIZE, CursorBytes, decode_cursor, encode_cursor,
};
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::frames::{FrameInfo, prefix_bloom_bit};
use vexfs_journal_format::layout::RawEventHeader;
use vexfs_journal_format::record::{RecordView, peek_record};
use vexfs_journal_format::{BString, Category, EventType, FormatError, Priority};
use vexfs_journal_storage::store::stored;
use vexfs_journal_storage::{BlockRef, Segment, Store, StoredEvent};

use crate::error::{IndexError, Result};
use crate::index::{Index, SegEntry};
use crate::segment_index::{
    BlockSet, OTHER_PRIORITY_BIT, SUMMARY_COORDINATED, Terms, UNKNOWN_TYPE_BIT, type_bit,
};
use zerocopy::FromBytes;

/// A position in a journal's result stream: "after event `seq`, going forward" (or
/// backward for reverse queries). Opaque to users, stable across restarts and
/// rotation, and refused by any other journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The journal it belongs to.
    pub journal: uuid::Uuid,
    /// Sequence of the last event returned.
    pub seq: u64,
    /// Whether it continues a reverse query.
    pub reverse: bool,
    /// The journal's generation when it was taken (bumped by rollback, compaction and
    /// salvage): a cursor from before history was rewritten is refused.
    pub generation: u64,
}

const CURSOR_PREFIX: &str = "vxc2_";
/// Cursors written before generations existed (generation 0).
const CURSOR_PREFIX_V1: &str = "vxc1_";

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        let raw = encode_cursor(&CursorBytes {
            journal_id: *self.journal.as_bytes(),
            seq: self.seq,
            reverse: self.reverse,
            generation: self.generation,
        });
        format!("{CURSOR_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// Parses a cursor and checks it belongs to journal `expected`.
    pub fn decode(text: &str, expected: uuid::Uuid) -> Result<Cursor> {
        let text = text.trim();
        let (body, len) = if let Some(b) = text.strip_prefix(CURSOR_PREFIX) {
            (b, CURSOR_SIZE)
        } else if let Some(b) = text.strip_prefix(CURSOR_PREFIX_V1) {
            (b, CURSOR_V1_SIZE)
        } else {
            return Err(IndexError::InvalidCursor(format!(
                "{text:?} does not start with {CURSOR_PREFIX}"
            )));
        };
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| IndexError::InvalidCursor(format!("not base64: {e}")))?;
        if raw.len() != len {
            return Err(IndexError::InvalidCursor(format!(
                "{} bytes instead of {len}",
                raw.len()
            )));
        }
        let c = decode_cursor(&raw).map_err(|e| {
            IndexError::InvalidCursor(match e {
                FormatError::ChecksumMismatch { .. } => {
                    "checksum mismatch (damaged or edited)".into()
                }
                FormatError::Malformed { reason, .. } => reason.into(),
                other => other.to_string(),
            })
        })?;
        let cursor = Cursor {
            journal: uuid::Uuid::from_bytes(c.journal_id),
            seq: c.seq,
            reverse: c.reverse,
            generation: c.generation,
        };
        if cursor.journal != expected {
            return Err(IndexError::ForeignCursor {
                expected,
                found: cursor.journal,
            });
        }
        Ok(cursor)
    }
}

/// A filter over events: every criterion set must hold (types among themselves and
/// categories among themselves are alternatives).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// Smallest sequence.
    pub from_seq: Option<u64>,
    /// Largest sequence (inclusive).
    pub to_seq: Option<u64>,
    /// Earliest time, ns since the epoch (inclusive).
    pub since_ns: Option<i64>,
    /// Latest time, ns since the epoch (inclusive).
    pub until_ns: Option<i64>,
    /// Any of these types.
    pub types: Vec<EventType>,
    /// Any of these categories.
    pub categories: Vec<Category>,
    /// Path starting with these bytes.
    pub path_prefix: Option<BString>,
    /// This agent id.
    pub agent: Option<BString>,
    /// This transaction id.
    pub tx: Option<u64>,
    /// Naming this event id as parent, or as cause or effect of a causality link.
    pub refers_to: Option<u64>,
    /// Having this event id.
    pub event_id: Option<u64>,
    /// At least this urgent (priority code ≤ this one's).
    pub priority_at_least: Option<Priority>,
    /// At most this urgent (priority code ≥ this one's).
    pub priority_at_most: Option<Priority>,
    /// Visible to a principal with this mask (event mask AND this ≠ 0).
    pub visibility: Option<u64>,
    /// Only records of coordinated transactions: members and markers, whose record
    /// extension carries a `cross_boundary_id` (blocks without one are skipped from
    /// their summary).
    pub coordinated: bool,
    /// Most events per page.
    pub limit: Option<usize>,
    /// Newest first.
    pub reverse: bool,
    /// Resume after this position.
    pub after: Option<Cursor>,
}

macro_rules! builder {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident = $value:expr;)*) => {
        $( $(#[$doc])* #[must_use] pub fn $name(mut self, $arg: $ty) -> Self { self.$field = $value; self } )*
    };
}

impl Query {
    /// Every event.
    pub fn new() -> Query {
        Query::default()
    }

    builder! {
        /// Sequences from `seq`.
        from_seq(seq: u64) => from_seq = Some(seq);
        /// Sequences up to `seq` inclusive.
        to_seq(seq: u64) => to_seq = Some(seq);
        /// Events at or after `ns`.
        since(ns: i64) => since_ns = Some(ns);
        /// Events at or before `ns`.
        until(ns: i64) => until_ns = Some(ns);
        /// Only these types.
        types(types: impl IntoIterator<Item = EventType>) => types = types.into_iter().collect();
        /// Only these categories.
        categories(cats: impl IntoIterator<Item = Category>) => categories = cats.into_iter().collect();
        /// Paths starting with `prefix`.
        path_prefix(prefix: impl Into<BString>) => path_prefix = Some(prefix.into());
        /// This agent.
        agent(agent: impl Into<BString>) => agent = Some(agent.into());
        /// This transaction.
        tx(tx: u64) => tx = Some(tx);
        /// Naming event id `id` as parent or in a causality link.
        refers_to(id: u64) => refers_to = Some(id);
        /// Having event id `id`.
        event_id(id: u64) => event_id = Some(id);
        /// At least this urgent.
        priority_at_least(p: Priority) => priority_at_least = Some(p);
        /// At most this urgent.
        priority_at_most(p: Priority) => priority_at_most = Some(p);
        /// Visible to this principal mask.
        visible_to(mask: u64) => visibility = Some(mask);
        /// Only records of coordinated transactions (see [`Query::coordinated`]).
        coordinated(yes: bool) => coordinated = yes;
        /// At most `n` events per page.
        limit(n: usize) => limit = Some(n);
        /// Newest first.
        reverse(yes: bool) => reverse = yes;
        /// Resume after `cursor`.
        after(cursor: Cursor) => after = Some(cursor);
    }

    /// Whether the record matches every criterion (sequence bounds excluded).
    pub fn matches(&self, v: &RecordView<'_>) -> bool {
        self.matches_header(v.header) && self.matches_context(v)
    }

    /// The criteria that only need the fixed event header (type, category, time,
    /// priority, visibility): checked before a record is parsed at all.
    pub fn matches_header(&self, h: &RawEventHeader) -> bool {
        let t = EventType::from_code(h.event_type.get());
        if !self.types.is_empty() && !self.types.contains(&t) {
            return false;
        }
        if !self.categories.is_empty() && !self.categories.contains(&t.category()) {
            return false;
        }
        let time = h.timestamp.ktime.get();
        if self.since_ns.is_some_and(|s| time < s) || self.until_ns.is_some_and(|u| time > u) {
            return false;
        }
        let prio = h.event_priority.get();
        if self.priority_at_least.is_some_and(|p| prio > p.code())
            || self.priority_at_most.is_some_and(|p| prio < p.code())
        {
            return false;
        }
        if self
            .visibility
            .is_some_and(|m| h.agent_visibility_mask.get() & m == 0)
        {
            return false;
        }
        true
    }

    /// The criteria on the context (path, agent, transaction) and the record extension.
    pub fn matches_context(&self, v: &RecordView<'_>) -> bool {
        if self.coordinated && v.raw_ext.cross_boundary_id.get() == 0 {
            return false;
        }
        if let Some(p) = &self.path_prefix
            && !v.context.path.starts_with(p.as_slice())
        {
            return false;
        }
        if let Some(a) = &self.agent
            && v.context.agent_id != a.as_slice()
        {
            return false;
        }
        if self.tx.is_some_and(|tx| v.context.transaction_id != tx) {
            return false;
        }
        if self.event_id.is_some_and(|id| v.event_id() != id) {
            return false;
        }
        if let Some(id) = self.refers_to
            && !refers_to(v, id)
        {
            return false;
        }
        true
    }

    fn type_mask(&self) -> Option<u64> {
        let mut mask = 0u64;
        if !self.types.is_empty() {
            mask = self.types.iter().fold(0, |m, t| m | type_bit(*t));
        }
        if !self.categories.is_empty() {
            let cats = self.categories.iter().fold(UNKNOWN_TYPE_BIT, |m, c| {
                c.types().fold(m, |m, t| m | type_bit(t))
            });
            mask = if self.types.is_empty() {
                cats
            } else {
                mask & cats
            };
        }
        (!self.types.is_empty() || !self.categories.is_empty()).then_some(mask)
    }

    fn prio_mask(&self) -> Option<u8> {
        if self.priority_at_least.is_none() && self.priority_at_most.is_none() {
            return None;
        }
        let mut mask = OTHER_PRIORITY_BIT;
        for code in 1..=5u32 {
            let ok = self.priority_at_least.is_none_or(|p| code <= p.code())
                && self.priority_at_most.is_none_or(|p| code >= p.code());
            if ok {
                mask |= 1 << (code - 1);
            }
        }
        Some(mask)
    }

    /// Inclusive sequence bounds after applying the cursor and the visible end.
    fn bounds(&self, visible_end: u64) -> Result<Option<(u64, u64)>> {
        let mut lo = self.from_seq.unwrap_or(0);
        let mut hi = self
            .to_seq
            .unwrap_or(u64::MAX)
            .min(visible_end.saturating_sub(1));
        if let Some(c) = self.after {
            if c.reverse != self.reverse {
                return Err(IndexError::InvalidCursor(format!(
                    "cursor continues a {} query, this one is {}",
                    if c.reverse { "reverse" } else { "forward" },
                    if self.reverse { "reverse" } else { "forward" }
                )));
            }
            if self.reverse {
                hi = hi.min(c.seq.saturating_sub(1));
                if c.seq == 0 {
                    return Ok(None);
                }
            } else {
                lo = lo.max(c.seq.saturating_add(1));
            }
        }
        Ok((visible_end > 0 && lo <= hi).then_some((lo, hi)))
    }
}

/// Whether a block read failed because of the bytes on disk (bad checksum, bad
/// structure, a file shorter than its block table), rather than the system (out of
/// file descriptors, permissions), which is reported as it is.
pub(crate) fn is_damage(e: &vexfs_journal_storage::StorageError) -> bool {
    use vexfs_journal_storage::StorageError;
    match e {
        StorageError::Format { .. } | StorageError::Corrupt { .. } => true,
        StorageError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    }
}

/// A block a query could not read or decode: which one, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedBlock {
    /// The segment file.
    pub segment: std::path::PathBuf,
    /// Ordinal of the block in the segment (0 = first).
    pub ordinal: usize,
    /// Byte offset of the block header in the segment.
    pub offset: u64,
    /// First sequence the block holds, by the block table.
    pub first_seq: u64,
    /// Last sequence the block holds.
    pub last_seq: u64,
    /// What is wrong, without the file and offset (those are above).
    pub reason: String,
}

impl DamagedBlock {
    pub(crate) fn new(
        seg: &Segment,
        entry: &BlockEntry,
        err: &(dyn std::error::Error + 'static),
    ) -> DamagedBlock {
        let ordinal = seg.blocks().partition_point(|b| b.offset < entry.offset);
        // The innermost cause says what is wrong; the outer ones repeat file and offset.
        let mut cause: &(dyn std::error::Error + 'static) = err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason = match err.downcast_ref::<vexfs_journal_storage::StorageError>() {
            Some(vexfs_journal_storage::StorageError::Corrupt { reason, .. }) => reason.clone(),
            _ => cause.to_string(),
        };
        DamagedBlock {
            segment: seg.path().to_path_buf(),
            ordinal,
            offset: entry.offset,
            first_seq: entry.first_seq,
            last_seq: entry.last_seq,
            reason,
        }
    }
}

impl std::fmt::Display for DamagedBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "block {} of {} (byte {}, sequences {}..={}) is damaged: {}",
            self.ordinal,
            self.segment.display(),
            self.offset,
            self.first_seq,
            self.last_seq,
            self.reason
        )
    }
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The events, in query order.
    pub events: Vec<StoredEvent>,
    /// Resumes after the last event of this page (or where the query started).
    pub cursor: Option<Cursor>,
    /// No more matching events up to the visible end.
    pub exhausted: bool,
}

/// Runs queries over a store and its index.
#[derive(Debug, Clone, Copy)]
pub struct Executor<'a> {
    /// The indexes.
    pub index: &'a Index,
    /// The segments.
    pub store: &'a Store,
    /// The journal's id (for cursors).
    pub journal: uuid::Uuid,
}

impl Executor<'_> {
    /// Checks that `cursor` can resume here: made by this journal, and not taken before
    /// a rollback (or before compaction or salvage removed its position).
    pub fn check_cursor(&self, cursor: &Cursor) -> Result<()> {
        if cursor.journal != self.journal {
            return Err(IndexError::ForeignCursor {
                expected: self.journal,
                found: cursor.journal,
            });
        }
        match self.store.cursor_refusal(cursor.generation, cursor.seq) {
            Some(reason) => Err(IndexError::StaleCursor { reason }),
            None => Ok(()),
        }
    }

    /// The segments overlapping `[lo, hi]` that may hold events in the query's time
    /// range, in query order. A segment ruled out by its time range is never planned,
    /// so its index summaries are not loaded.
    fn segments_in(&self, q: &Query, lo: u64, hi: u64) -> Vec<Arc<Segment>> {
        let segments = self.store.segments();
        let timed = q.since_ns.is_some() || q.until_ns.is_some();
        // Segment i holds sequences [first_i, first_{i+1}).
        let mut out: Vec<_> = segments
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                let next = segments.get(i + 1).map_or(u64::MAX, |n| n.first_seq());
                s.first_seq() <= hi
                    && next > lo
                    && (!timed
                        || s.time_range().is_some_and(|(min, max)| {
                            q.since_ns.is_none_or(|t| max >= t)
                                && q.until_ns.is_none_or(|t| min <= t)
                        }))
            })
            .map(|(_, s)| s.clone())
            .collect();
        if q.reverse {
            out.reverse();
        }
        out
    }

    /// The candidate blocks of one segment, in query order, in chunks: the first chunks
    /// are small so a query that stops early plans little, later ones grow.
    fn plan_segment<'s>(
        &self,
        seg: &'s Segment,
        q: &'s Query,
        lo: u64,
        hi: u64,
    ) -> Result<impl Iterator<Item = Vec<BlockEntry>> + 's> {
        let plan = SegmentPlan::new(seg, self.index.segment(seg.first_seq()), q, lo, hi)?;
        let (mut a, mut z) = (plan.range.start, plan.range.end);
        let mut chunk = 8usize;
        Ok(std::iter::from_fn(move || {
            if a >= z {
                return None;
            }
            let r = if q.reverse {
                let from = z.saturating_sub(chunk).max(a);
                let r = from..z;
                z = from;
                r
            } else {
                let to = a.saturating_add(chunk).min(z);
                let r = a..to;
                a = to;
                r
            };
            chunk = (chunk * 2).min(512);
            let mut blocks = plan.blocks_in(r);
            if q.reverse {
                blocks.reverse();
            }
            Some(blocks)
        }))
    }

    /// The blocks that may hold matches below `visible_end`, in query order, and the
    /// inclusive sequence bounds the query covers.
    pub fn candidate_blocks(
        &self,
        q: &Query,
        visible_end: u64,
    ) -> Result<(Vec<BlockRef>, (u64, u64))> {
        let Some((lo, hi)) = q.bounds(visible_end)? else {
            return Ok((Vec::new(), (1, 0)));
        };
        let mut out = Vec::new();
        for seg in self.segments_in(q, lo, hi) {
            for blocks in self.plan_segment(&seg, q, lo, hi)? {
                out.extend(blocks.into_iter().map(|entry| BlockRef {
                    segment: seg.clone(),
                    entry,
                }));
            }
        }
        Ok((out, (lo, hi)))
    }

    /// Calls `visit` for each matching record below `visible_end`, in query order, until
    /// it returns false or the matches run out. Returns whether it was stopped early.
    ///
    /// Blocks are planned a chunk at a time, so a query that stops early (a small page,
    /// a point lookup) never plans the blocks and segments it does not reach.
    ///
    /// A block that cannot be read or decoded ends the visit with
    /// [`IndexError::DamagedBlock`] after every match before it was visited.
    pub fn visit(
        &self,
        q: &Query,
        visible_end: u64,
        visit: impl FnMut(&RecordView<'_>) -> bool,
    ) -> Result<bool> {
        self.visit_or_skip(q, visible_end, visit, |d| {
            Err(IndexError::DamagedBlock(Box::new(d)))
        })
    }

    /// [`Executor::visit`], handing each damaged block to `damaged`: returning `Ok`
    /// skips the block and goes on, an error ends the visit with it. Matches already
    /// visited (those before the block, in query order) stay visited either way.
    pub fn visit_or_skip(
        &self,
        q: &Query,
        visible_end: u64,
        mut visit: impl FnMut(&RecordView<'_>) -> bool,
        mut damaged: impl FnMut(DamagedBlock) -> Result<()>,
    ) -> Result<bool> {
        let Some((lo, hi)) = q.bounds(visible_end)? else {
            return Ok(false);
        };
        let mut offsets = Vec::new();
        let keep = FrameFilter::new(q, lo, hi);
        let keep = |f: &FrameInfo| keep.may_match(f);
        for seg in self.segments_in(q, lo, hi) {
            for blocks in self.plan_segment(&seg, q, lo, hi)? {
                for entry in blocks {
                    let block = BlockRef {
                        segment: seg.clone(),
                        entry,
                    };
                    let visited = self.store.with_frames(&block, &keep, q.reverse, |records| {
                        match visit_records(q, records, lo, hi, &mut offsets, |v| visit(v)) {
                            Ok(true) => ControlFlow::Continue(()),
                            Ok(false) => ControlFlow::Break(Ok(())),
                            Err(e) => ControlFlow::Break(Err(e)),
                        }
                    });
                    match visited {
                        Ok(ControlFlow::Continue(())) => {}
                        Ok(ControlFlow::Break(Ok(()))) => return Ok(true),
                        Ok(ControlFlow::Break(Err(e))) => {
                            damaged(DamagedBlock::new(&seg, &entry, &e))?
                        }
                        Err(e) if is_damage(&e) => damaged(DamagedBlock::new(&seg, &entry, &e))?,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(false)
    }

    /// One page of at most `q.limit` events (all, without a limit).
    pub fn page(&self, q: &Query, visible_end: u64) -> Result<Page> {
        self.page_where(q, visible_end, |_| true)
    }

    /// [`Executor::page`] of the matches for which `keep` is also true (a reader's
    /// own filter, applied before the page is counted).
    pub fn page_where(
        &self,
        q: &Query,
        visible_end: u64,
        mut keep: impl FnMut(&RecordView<'_>) -> bool,
    ) -> Result<Page> {
        let limit = q.limit.unwrap_or(usize::MAX);
        let mut events = Vec::new();
        if limit == 0 {
            return Ok(Page {
                events,
                cursor: q.after,
                exhausted: false,
            });
        }
        let stopped = self.visit(q, visible_end, |v| {
            if keep(v) {
                events.push(stored(v));
            }
            events.len() < limit
        })?;
        let cursor = events
            .last()
            .map(|e| Cursor {
                journal: self.journal,
                seq: e.seq,
                reverse: q.reverse,
                generation: self.store.generation(),
            })
            .or(q.after);
        Ok(Page {
            events,
            cursor,
            exhausted: !stopped,
        })
    }
}

/// What a query rules out of a framed block's frames from their summaries alone
/// (`vexfs_journal_format::frames`): sequences, types and categories, time, and — for a
/// path prefix ending in `/` — the path bloom. A frame it keeps may still hold no match;
/// one it drops holds none.
struct FrameFilter {
    lo: u64,
    hi: u64,
    types: Option<u64>,
    since: Option<i64>,
    until: Option<i64>,
    path_bit: Option<u64>,
}

impl FrameFilter {
    fn new(q: &Query, lo: u64, hi: u64) -> FrameFilter {
        FrameFilter {
            lo,
            hi,
            types: q.type_mask(),
            since: q.since_ns,
            until: q.until_ns,
            path_bit: q.path_prefix.as_ref().and_then(|p| prefix_bloom_bit(p)),
        }
    }

    fn may_match(&self, f: &FrameInfo) -> bool {
        f.last_seq >= self.lo
            && f.first_seq <= self.hi
            && self.types.is_none_or(|m| f.type_bits & m != 0)
            && self.since.is_none_or(|s| f.max_time >= s)
            && self.until.is_none_or(|u| f.min_time <= u)
            && self.path_bit.is_none_or(|b| f.path_bloom & b != 0)
    }
}

/// Calls `visit` on the records of one block's data that match `q` within `[lo, hi]`,
/// in query order. Returns false when `visit` asked to stop.
pub fn visit_records(
    q: &Query,
    records: &[u8],
    lo: u64,
    hi: u64,
    offsets: &mut Vec<usize>,
    mut visit: impl FnMut(&RecordView<'_>) -> bool,
) -> std::result::Result<bool, vexfs_journal_format::FormatError> {
    offsets.clear();
    let mut pos = 0;
    while let Some((size, seq)) = records.get(pos..).and_then(peek_record) {
        if seq >= lo && seq <= hi {
            offsets.push(pos);
        }
        pos += size;
    }
    if q.reverse {
        offsets.reverse();
    }
    for &at in offsets.iter() {
        let bytes = records.get(at..).unwrap_or_default();
        // Most records are ruled out by their fixed header, without parsing them.
        let header_ok = match RawEventHeader::ref_from_prefix(bytes) {
            Ok((h, _)) => q.matches_header(h),
            // Too short for a header: let the parser name the damage.
            Err(_) => true,
        };
        if !header_ok {
            continue;
        }
        let view = RecordView::parse_trusted(bytes)?;
        if q.matches(&view) && !visit(&view) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a query needs to pick the candidate blocks of one segment.
struct SegmentPlan<'s> {
    seg: &'s Segment,
    entry: Option<Arc<SegEntry>>,
    q: &'s Query,
    /// Block ordinals that may hold sequences in the query's bounds.
    range: Range<usize>,
    /// Blocks below this ordinal are in the index (summaries and terms).
    indexed: usize,
    /// The segment's term postings, when the query asks for terms: the blocks holding
    /// them are picked a chunk of ordinals at a time.
    terms: Option<Arc<Terms>>,
    /// The indexed block holding the sequence equal to the query's event id.
    id_block: Option<u32>,
    type_mask: Option<u64>,
    prio_mask: Option<u8>,
}

impl<'s> SegmentPlan<'s> {
    fn new(
        seg: &'s Segment,
        entry: Option<Arc<SegEntry>>,
        q: &'s Query,
        lo: u64,
        hi: u64,
    ) -> Result<Self> {
        let range = {
            let blocks = seg.blocks();
            let start = blocks.partition_point(|b| b.last_seq < lo);
            let end = blocks.partition_point(|b| b.first_seq <= hi);
            start..end.max(start)
        };
        // Count indexed blocks before taking the terms: blocks enter the terms before
        // the summaries, so every block counted here is in the terms taken next.
        // (Holding the summary lock while taking the terms could deadlock with the
        // writer.)
        let indexed = entry.as_ref().map_or(0, |e| e.summary().blocks.len());
        let terms = match &entry {
            Some(e) if asks_terms(q) => Some(e.terms()?),
            _ => None,
        };
        // The event with sequence `id` is a candidate for `event_id(id)` (see
        // `allowed_blocks`).
        let id_block = match (&entry, q.event_id) {
            (Some(e), Some(id)) => e.block_of_seq(id),
            _ => None,
        };
        Ok(SegmentPlan {
            seg,
            entry,
            q,
            range,
            indexed,
            terms,
            id_block,
            type_mask: q.type_mask(),
            prio_mask: q.prio_mask(),
        })
    }

    fn time_ok(&self, min: i64, max: i64) -> bool {
        self.q.since_ns.is_none_or(|s| max >= s) && self.q.until_ns.is_none_or(|u| min <= u)
    }

    /// The candidate blocks among ordinals `r` (within `self.range`), in order.
    fn blocks_in(&self, r: Range<usize>) -> Vec<BlockEntry> {
        let blocks = self.seg.blocks();
        let mut out = Vec::new();
        let indexed = match &self.entry {
            Some(entry) => {
                let summary = entry.summary();
                let indexed = self.indexed.min(summary.blocks.len()).min(blocks.len());
                // Indexed blocks: time window, then summaries, then term postings.
                let (ts, te) = summary.time_window(self.q.since_ns, self.q.until_ns);
                let (a, z) = (r.start.max(ts), r.end.min(te).min(indexed));
                let mut consider = |i: usize| {
                    let (Some(s), Some(b)) = (summary.blocks.get(i), blocks.get(i)) else {
                        return;
                    };
                    let pass = self.time_ok(s.min_time, s.max_time)
                        && self.type_mask.is_none_or(|m| s.type_bits & m != 0)
                        && self.prio_mask.is_none_or(|m| s.prio_bits & m != 0)
                        && self.q.visibility.is_none_or(|m| s.vis_or & m != 0)
                        && (!self.q.coordinated || s.flags & SUMMARY_COORDINATED != 0);
                    if pass {
                        out.push(*b);
                    }
                };
                match &self.terms {
                    Some(terms) if a < z => allowed_blocks(terms, self.id_block, self.q, a, z)
                        .iter_range(a, z)
                        .for_each(&mut consider),
                    Some(_) => {}
                    None => (a..z).for_each(&mut consider),
                }
                indexed
            }
            None => 0,
        };
        // Blocks not indexed yet (written after the index last caught up) are scanned.
        for b in blocks
            .get(r.start.max(indexed)..r.end.max(indexed))
            .unwrap_or_default()
        {
            if self.time_ok(b.min_time, b.max_time) {
                out.push(*b);
            }
        }
        out
    }
}

/// Whether the record names event `id` (not its own) as parent or in a link.
fn refers_to(v: &RecordView<'_>, id: u64) -> bool {
    if id == v.event_id() {
        return false;
    }
    if v.header.parent_event_id.get() == id {
        return true;
    }
    let mut found = false;
    v.for_each_link(|l| found |= l.cause_event_id == id || l.effect_event_id == id);
    found
}

/// Whether the query asks for term postings. Empty values (prefix "", agent "",
/// transaction 0) match events that have no such term, which postings do not list, so
/// they are checked per event instead.
fn asks_terms(q: &Query) -> bool {
    q.path_prefix.as_ref().is_some_and(|p| !p.is_empty())
        || q.agent.as_ref().is_some_and(|a| !a.is_empty())
        || q.tx.is_some_and(|t| t != 0)
        || q.refers_to.is_some()
        || q.event_id.is_some()
}

/// Intersection of the term postings the query asks for, among block ordinals
/// `[from, to)` (see [`asks_terms`]).
fn allowed_blocks(
    terms: &Terms,
    id_block: Option<u32>,
    q: &Query,
    from: usize,
    to: usize,
) -> BlockSet {
    let prefix = q.path_prefix.as_ref().filter(|p| !p.is_empty());
    let agent = q.agent.as_ref().filter(|a| !a.is_empty());
    let tx = q.tx.filter(|t| *t != 0);
    let of = |list: Option<&Vec<u32>>| {
        let mut set = BlockSet::default();
        set.insert_in(list.map_or(&[][..], |v| v), from, to);
        set
    };
    let mut sets: Vec<BlockSet> = Vec::new();
    if let Some(p) = prefix {
        sets.push(terms.paths_with_prefix_in(p, from, to));
    }
    if let Some(a) = agent {
        sets.push(of(terms.agents.get(a)));
    }
    if let Some(tx) = tx {
        sets.push(of(terms.txs.get(&tx)));
    }
    if let Some(id) = q.refers_to {
        sets.push(of(terms.refs.get(&id)));
    }
    if let Some(id) = q.event_id {
        // The ids postings list only ids that are not their event's sequence: the
        // event with sequence `id` is a candidate too, checked per record.
        let mut set = of(terms.ids.get(&id));
        if let Some(b) = id_block.filter(|b| (from..to).contains(&(*b as usize))) {
            set.insert(b);
        }
        sets.push(set);
    }
    let mut iter = sets.into_iter();
    let mut acc = iter.next().unwrap_or_default();
    for next in iter {
        acc.intersect(&next);
    }
    acc
}
