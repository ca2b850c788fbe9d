//! The merged timeline: userspace and imported kernel events in one journal.
//!
//! The journal sequence orders everything. Each event has an origin, known exactly from
//! the bridge's markers (a marker at sequence `m` with `n` events means sequences
//! `m + 1 ..= m + n` are kernel events): userspace events are identified by their
//! journal sequence (their event id), kernel events by their kernel global sequence
//! (and event id), preserved from the kernel.

use std::collections::HashSet;

use serde::Serialize;
use vexfs_journal::{Follow, Query, StoredEvent};

use crate::error::{SyncError, SyncResult};
use crate::marker::{BRIDGE_AGENT, MARKER_TYPE, Marker, parse_marker};
use crate::seqset::SeqSet;

/// The query selecting marker candidates (indexed by type and agent).
pub fn marker_query() -> Query {
    Query::new().types([MARKER_TYPE]).agent(BRIDGE_AGENT)
}

/// Calls `visit` on every event matching `query`, page by page, until it returns
/// `false` (read committed, as every reader: exports use it).
pub fn for_each(
    view: &impl Follow,
    query: &Query,
    page_size: usize,
    mut visit: impl FnMut(StoredEvent) -> SyncResult<bool>,
) -> SyncResult<()> {
    let mut q = query.clone();
    q.limit = Some(page_size.max(1));
    loop {
        let page = view.query(&q)?;
        let n = page.events.len();
        for ev in page.events {
            if !visit(ev)? {
                return Ok(());
            }
        }
        if page.exhausted || n == 0 {
            return Ok(());
        }
        q.after = page.cursor;
    }
}

/// [`for_each`] read uncommitted: every record, whatever coordinated transactions
/// hold readers back — for the bridge's own bookkeeping (its markers, the timeline
/// check), which must see the journal as stored.
pub fn for_each_stored(
    view: &impl Follow,
    query: &Query,
    mut visit: impl FnMut(StoredEvent) -> SyncResult<bool>,
) -> SyncResult<()> {
    let mut failed = None;
    vexfs_journal::ext::query_uncommitted(view, query, |v| match visit(StoredEvent::from(v)) {
        Ok(more) => more,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The newest valid marker, if any (an indexed reverse query; normally one page of
/// one event).
pub fn latest_marker(view: &impl Follow) -> SyncResult<Option<Marker>> {
    let mut found = None;
    for_each_stored(view, &marker_query().reverse(true), |stored| {
        let seq = stored.seq;
        match parse_marker(seq, &stored.event) {
            Ok(Some(m)) => {
                found = Some(m);
                Ok(false)
            }
            Ok(None) => Ok(true),
            Err(e) => Err(SyncError::State {
                seq,
                reason: e.to_string(),
            }),
        }
    })?;
    Ok(found)
}

/// Every valid marker, oldest first.
pub fn all_markers(view: &impl Follow) -> SyncResult<Vec<Marker>> {
    let mut out = Vec::new();
    for_each_stored(view, &marker_query(), |stored| {
        let seq = stored.seq;
        match parse_marker(seq, &stored.event) {
            Ok(Some(m)) => out.push(m),
            Ok(None) => {}
            Err(e) => {
                return Err(SyncError::State {
                    seq,
                    reason: e.to_string(),
                });
            }
        }
        Ok(true)
    })?;
    Ok(out)
}

/// Where an event of the journal comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Emitted in userspace: its id is its journal sequence.
    Userspace,
    /// Imported from the kernel: its ids and sequences are the kernel's.
    Kernel,
    /// A bridge marker (bookkeeping).
    Bridge,
}

/// Classifies journal sequences by origin.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// `(marker sequence, kernel events after it)`, ascending.
    batches: Vec<(u64, u64)>,
}

impl Timeline {
    /// Reads the markers of `view`.
    pub fn load(view: &impl Follow) -> SyncResult<Timeline> {
        let batches = all_markers(view)?
            .iter()
            .map(|m| (m.seq, m.events()))
            .collect();
        Ok(Timeline { batches })
    }

    /// The origin of the event at journal sequence `seq`.
    pub fn origin(&self, seq: u64) -> Origin {
        let i = self.batches.partition_point(|b| b.0 <= seq);
        match i.checked_sub(1).and_then(|i| self.batches.get(i)) {
            Some(&(m, _)) if m == seq => Origin::Bridge,
            Some(&(m, n)) if seq - m <= n => Origin::Kernel,
            _ => Origin::Userspace,
        }
    }

    /// Import batches as `(marker sequence, events)`.
    pub fn batches(&self) -> &[(u64, u64)] {
        &self.batches
    }
}

/// Result of [`check_timeline`]: the merged timeline's identities, duplicates and gaps.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TimelineCheck {
    /// Events in the journal (markers included).
    pub events: u64,
    /// Userspace events.
    pub userspace: u64,
    /// Kernel events.
    pub kernel: u64,
    /// Bridge markers.
    pub markers: u64,
    /// First and last journal sequence.
    pub first_seq: Option<u64>,
    /// Last journal sequence.
    pub last_seq: Option<u64>,
    /// Missing journal sequences between the first and the last, as ranges.
    pub sequence_gaps: Vec<(u64, u64)>,
    /// Kernel global sequences present more than once.
    pub duplicate_kernel_sequences: Vec<u64>,
    /// Kernel event ids present more than once.
    pub duplicate_kernel_ids: Vec<u64>,
    /// Journal sequences of userspace events whose id is not their sequence.
    pub userspace_id_mismatches: Vec<u64>,
    /// Every kernel global sequence present.
    pub kernel_sequences: SeqSet,
}

impl TimelineCheck {
    /// No gap, no duplicate, every userspace id equal to its sequence.
    pub fn is_consistent(&self) -> bool {
        self.sequence_gaps.is_empty()
            && self.duplicate_kernel_sequences.is_empty()
            && self.duplicate_kernel_ids.is_empty()
            && self.userspace_id_mismatches.is_empty()
    }
}

/// Reads the whole journal and checks its merged timeline: journal sequences contiguous,
/// each kernel event (by global sequence and by id) present once, each userspace event
/// identified by its sequence.
pub fn check_timeline(view: &impl Follow) -> SyncResult<TimelineCheck> {
    let timeline = Timeline::load(view)?;
    let mut c = TimelineCheck::default();
    let mut ids = HashSet::new();
    let mut prev: Option<u64> = None;
    for_each_stored(view, &Query::new(), |s| {
        c.events += 1;
        c.first_seq.get_or_insert(s.seq);
        c.last_seq = Some(s.seq);
        if let Some(p) = prev
            && s.seq > p + 1
        {
            c.sequence_gaps.push((p + 1, s.seq - 1));
        }
        prev = Some(s.seq);
        match timeline.origin(s.seq) {
            Origin::Bridge => c.markers += 1,
            Origin::Userspace => {
                c.userspace += 1;
                if s.event.event_id != s.seq {
                    c.userspace_id_mismatches.push(s.seq);
                }
            }
            Origin::Kernel => {
                c.kernel += 1;
                let k = s.event.global_sequence;
                if c.kernel_sequences.contains(k) {
                    c.duplicate_kernel_sequences.push(k);
                }
                c.kernel_sequences.insert(k);
                if !ids.insert(s.event.event_id) {
                    c.duplicate_kernel_ids.push(s.event.event_id);
                }
            }
        }
        Ok(true)
    })?;
    Ok(c)
}
