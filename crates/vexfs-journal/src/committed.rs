//! Read committed in the read core: every handle keeps a [`TxView`] of its journal and
//! each read asks it what it may deliver (see [`crate::tx`] and docs/coordinator.md).
//!
//! The view is fed only the records of coordinated transactions, found through the
//! index: a block whose summary lacks [`SUMMARY_COORDINATED`] is never read for it, so
//! a journal without transactions pays one summary check per new block, once.

use std::sync::{Arc, Mutex, PoisonError};

use vexfs_journal_format::record::RecordView;
use vexfs_journal_index::Query;
#[cfg(doc)]
use vexfs_journal_index::segment_index::SUMMARY_COORDINATED;
use vexfs_journal_storage::StoredEvent;

use crate::error::Result;
use crate::read::sealed::Parts;
use crate::tx::{TxRole, TxView, Visibility, role_of, role_of_record};

/// A handle's view of its journal's transactions, shared by its clones (public only
/// inside the sealed read core).
#[derive(Debug, Default)]
pub struct Committed {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    view: Arc<TxView>,
    /// The journal generation the view was fed from: history rewritten since (a
    /// rollback, a compaction) starts it over.
    generation: u64,
}

/// What one read may deliver: the transactions as of its start.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    view: Arc<TxView>,
    end: u64,
}

impl Committed {
    /// A snapshot for a read that sees the records below `end`.
    pub(crate) fn snapshot(&self, parts: Parts<'_>, end: u64) -> Result<Snapshot> {
        let generation = parts.store.generation();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.generation != generation {
            *state = State {
                view: Arc::default(),
                generation,
            };
        }
        let from = state.view.observed_end();
        if from < end {
            // Copies the view only while an earlier snapshot still holds it.
            let view = Arc::make_mut(&mut state.view);
            let q = Query::new().coordinated(true).from_seq(from);
            // A damaged block is skipped: its own reads report it, and an
            // undecided transaction whose marker it held keeps readers waiting (safe)
            // until the coordinator delivers the decision again.
            parts.executor().visit_or_skip(
                &q,
                end,
                |v| {
                    view.observe(v.raw_ext.userspace_sequence.get(), role_of_record(v));
                    true
                },
                |_| Ok(()),
            )?;
            view.advance(end);
        }
        let view = state.view.clone();
        Ok(Snapshot {
            end: view.stable_end_at(end),
            view,
        })
    }
}

impl Committed {
    /// The end a read that sees the records below `end` may deliver up to, from what
    /// the view has already been fed (nothing is read).
    pub(crate) fn known_end(&self, end: u64) -> u64 {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.view.stable_end_at(end)
    }
}

impl Snapshot {
    /// Records at and past this are not delivered yet: the read's end, or the first
    /// event of the oldest undecided transaction before it.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    fn delivers(&self, seq: u64, role: TxRole) -> bool {
        seq < self.end && self.view.visibility(seq, role) == Visibility::Deliver
    }

    /// Where a read-committed reader that saw only the records below `end` stopped
    /// (`end`, or the first event of a transaction undecided as of `end`).
    pub(crate) fn stable_end_at(&self, end: u64) -> u64 {
        self.view.stable_end_at(end)
    }

    /// Whether every record below [`Snapshot::end`] is delivered (see
    /// [`TxView::hides_nothing`]).
    pub(crate) fn hides_nothing(&self) -> bool {
        self.view.hides_nothing()
    }

    /// Whether a read-committed reader delivers this record (below [`Snapshot::end`]).
    pub(crate) fn delivers_record(&self, v: &RecordView<'_>) -> bool {
        v.raw_ext.cross_boundary_id.get() == 0
            || self.delivers(v.raw_ext.userspace_sequence.get(), role_of_record(v))
    }

    /// The oldest undecided transaction below the read's end, `(transaction, sequence
    /// of its first event)`: what holds the read back.
    pub(crate) fn held_by(&self) -> Option<(u64, u64)> {
        self.view
            .undecided()
            .next()
            .filter(|(_, first)| *first == self.end)
    }

    /// The transactions as of the read's start.
    pub(crate) fn view(&self) -> Arc<TxView> {
        self.view.clone()
    }

    /// Whether a read-committed reader delivers this event.
    pub(crate) fn delivers_event(&self, e: &StoredEvent) -> bool {
        e.ext.cross_boundary_id == 0 || self.delivers(e.seq, role_of(e))
    }
}
