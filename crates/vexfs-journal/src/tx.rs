//! Read committed: which events of a journal a reader may deliver while coordinated
//! transactions are open.
//!
//! A coordinated transaction's events carry its id in their record extension and are
//! followed, once decided, by a marker in the same journal ([`crate::format::tx`]).
//! [`TxView`] is fed a journal's records in sequence order and tells, for each, whether
//! a read-committed reader delivers it, skips it (an aborted transaction's event) or
//! must wait: no reader passes the first event of an undecided transaction (the
//! journal's *stable end*), so nothing is delivered out of order and nothing delivered
//! is later contradicted. Events of transactions in other journals never hold a
//! reader back.

use std::collections::{BTreeMap, HashMap};

pub use vexfs_journal_format::tx::{Decision, MARKER_ABORT, MARKER_COMMIT, TxRole, role};

use vexfs_journal_format::record::RecordView;

use crate::StoredEvent;
use crate::error::Result;

/// What a read-committed reader does with one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Deliver it: an ordinary event, a marker, or an event of a committed transaction.
    Deliver,
    /// Never deliver it: an event of an aborted transaction.
    Skip,
    /// Not yet: it is at or past the stable end.
    Wait,
}

/// The coordinated transactions of one journal, as far as its records have been fed.
#[derive(Clone, Debug, Default)]
pub struct TxView {
    /// Every record below this sequence has been fed.
    end: u64,
    decided: HashMap<u64, Decision>,
    /// Undecided transactions by the sequence of their first event, and back.
    open: BTreeMap<u64, u64>,
    first_of: HashMap<u64, u64>,
    /// Markers that contradict an earlier marker of the same transaction, and events
    /// written after their transaction's marker.
    conflicts: Vec<(u64, u64)>,
    /// Sequences of events written after their transaction's marker.
    late: std::collections::BTreeSet<u64>,
    /// For each marker that decided a transaction with events here: the marker's
    /// sequence → the transaction's first event (see [`TxView::stable_end_at`]).
    decided_by: BTreeMap<u64, u64>,
    /// Transactions aborted after writing events here.
    aborted_with_events: usize,
}

/// The role of a stored event.
pub fn role_of(e: &StoredEvent) -> TxRole {
    role(e.event.event_type, e.event.subtype, e.ext.cross_boundary_id)
}

/// The role of a record as stored (borrowed, not decoded).
pub fn role_of_record(v: &RecordView<'_>) -> TxRole {
    role(
        v.event_type(),
        v.header.event_subtype.get(),
        v.raw_ext.cross_boundary_id.get(),
    )
}

impl TxView {
    /// A view of a journal none of whose records has been fed.
    pub fn new() -> TxView {
        TxView::default()
    }

    /// Feeds the record at `seq`. Records must come in increasing sequence order;
    /// one below [`TxView::observed_end`] was already fed and is ignored.
    pub fn observe(&mut self, seq: u64, role: TxRole) {
        if seq < self.end {
            return;
        }
        self.end = seq + 1;
        match role {
            TxRole::None => {}
            TxRole::Member(tx) => {
                if self.decided.contains_key(&tx) {
                    // Nothing is written for a transaction after its marker; an event
                    // that is (an id used twice) is a conflict and never delivered.
                    self.late.insert(seq);
                    self.conflicts.push((tx, seq));
                } else if let std::collections::hash_map::Entry::Vacant(first) =
                    self.first_of.entry(tx)
                {
                    first.insert(seq);
                    self.open.insert(seq, tx);
                }
            }
            TxRole::Marker(tx, decision) => match self.decided.get(&tx) {
                Some(earlier) if *earlier != decision => self.conflicts.push((tx, seq)),
                Some(_) => {}
                None => {
                    self.decided.insert(tx, decision);
                    if let Some(first) = self.first_of.remove(&tx) {
                        self.open.remove(&first);
                        self.decided_by.insert(seq, first);
                        if decision == Decision::Abort {
                            self.aborted_with_events += 1;
                        }
                    }
                }
            },
        }
    }

    /// Feeds a stored event.
    pub fn observe_event(&mut self, e: &StoredEvent) {
        self.observe(e.seq, role_of(e));
    }

    /// Feeds every event of `events` (a scan from [`TxView::observed_end`] on).
    pub fn observe_all<E>(
        &mut self,
        events: impl IntoIterator<Item = std::result::Result<StoredEvent, E>>,
    ) -> Result<()>
    where
        crate::JournalError: From<E>,
    {
        for e in events {
            self.observe_event(&e?);
        }
        Ok(())
    }

    /// Counts every record below `end` as fed: for a caller that fed only the records
    /// of coordinated transactions and knows the others below `end` are ordinary (the
    /// index summaries of their blocks say so).
    pub fn advance(&mut self, end: u64) {
        self.end = self.end.max(end);
    }

    /// Whether every fed record below the stable end is delivered: no transaction
    /// with events here was aborted and no event followed its transaction's marker. A
    /// reader may then count records (by index summaries) without looking at each.
    pub fn hides_nothing(&self) -> bool {
        self.aborted_with_events == 0 && self.late.is_empty()
    }

    /// The sequence after the last record fed.
    pub fn observed_end(&self) -> u64 {
        self.end
    }

    /// The first sequence a reader may not pass: the first event of the oldest
    /// undecided transaction, or the end of what was fed.
    pub fn stable_end(&self) -> u64 {
        self.open
            .first_key_value()
            .map_or(self.end, |(first, _)| *first)
    }

    /// [`TxView::stable_end`] for a reader that sees only the records below `end`
    /// (a view may be fed further than one read sees: a writer's queries see written
    /// records, its subscriptions durable ones): a transaction whose marker lies at or
    /// past `end` is still undecided for that reader.
    pub fn stable_end_at(&self, end: u64) -> u64 {
        self.decided_by
            .range(end..)
            .map(|(_, first)| *first)
            .fold(self.stable_end().min(end), u64::min)
    }

    /// How transaction `tx` was decided, if a marker for it has been fed.
    pub fn decision(&self, tx: u64) -> Option<Decision> {
        self.decided.get(&tx).copied()
    }

    /// Every transaction a marker has decided, with its decision (the first marker).
    pub fn decided_txs(&self) -> impl Iterator<Item = (u64, Decision)> + '_ {
        self.decided.iter().map(|(tx, d)| (*tx, *d))
    }

    /// Undecided transactions with an event in the journal: `(transaction, sequence
    /// of its first event)`, oldest first.
    pub fn undecided(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.open.iter().map(|(first, tx)| (*tx, *first))
    }

    /// What contradicts the protocol: a marker contradicting an earlier marker of the
    /// same transaction (the first stands), or an event written after its
    /// transaction's marker (never delivered): `(transaction, sequence)`.
    pub fn conflicts(&self) -> &[(u64, u64)] {
        &self.conflicts
    }

    /// What a read-committed reader does with the record at `seq` whose role is
    /// `role` (a record already fed).
    pub fn visibility(&self, seq: u64, role: TxRole) -> Visibility {
        if seq >= self.stable_end() {
            return Visibility::Wait;
        }
        match role {
            TxRole::None | TxRole::Marker(..) => Visibility::Deliver,
            TxRole::Member(_) if self.late.contains(&seq) => Visibility::Skip,
            TxRole::Member(tx) => match self.decided.get(&tx) {
                Some(Decision::Commit) => Visibility::Deliver,
                Some(Decision::Abort) => Visibility::Skip,
                None => Visibility::Wait,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    // Checks I53 (docs/invariants.md).
    #[test]
    fn a_view_hides_nothing_until_an_abort_with_events_or_a_late_event() {
        let mut v = TxView::new();
        v.observe(1, TxRole::Member(10));
        v.observe(2, TxRole::Marker(10, Decision::Commit));
        // An abort with no events here hides nothing either.
        v.observe(3, TxRole::Marker(11, Decision::Abort));
        assert!(v.hides_nothing());
        v.observe(4, TxRole::Member(12));
        v.observe(5, TxRole::Marker(12, Decision::Abort));
        assert!(!v.hides_nothing());
        let mut late = TxView::new();
        late.observe(1, TxRole::Marker(13, Decision::Commit));
        late.observe(2, TxRole::Member(13));
        assert!(!late.hides_nothing());
    }

    // Checks I53 (docs/invariants.md).
    #[test]
    fn readers_stop_at_the_first_undecided_transaction() {
        let mut v = TxView::new();
        v.observe(1, TxRole::None);
        v.observe(2, TxRole::Member(10));
        v.observe(3, TxRole::None);
        v.observe(4, TxRole::Member(11));
        assert_eq!(v.stable_end(), 2);
        assert_eq!(v.visibility(1, TxRole::None), Visibility::Deliver);
        assert_eq!(v.visibility(3, TxRole::None), Visibility::Wait);
        v.observe(5, TxRole::Marker(10, Decision::Abort));
        assert_eq!(v.stable_end(), 4);
        assert_eq!(v.visibility(2, TxRole::Member(10)), Visibility::Skip);
        assert_eq!(v.visibility(3, TxRole::None), Visibility::Deliver);
        assert_eq!(v.visibility(4, TxRole::Member(11)), Visibility::Wait);
        v.observe(6, TxRole::Marker(11, Decision::Commit));
        assert_eq!(v.stable_end(), 7);
        assert_eq!(v.visibility(4, TxRole::Member(11)), Visibility::Deliver);
        assert_eq!(
            v.visibility(5, TxRole::Marker(10, Decision::Abort)),
            Visibility::Deliver
        );
        assert_eq!(v.undecided().count(), 0);
        // A reader that sees only the records below 6 does not see 11 decided; below
        // 5, neither 10.
        assert_eq!(v.stable_end_at(6), 4);
        assert_eq!(v.stable_end_at(7), 7);
        assert_eq!(v.stable_end_at(5), 2);
    }

    #[test]
    fn the_first_marker_stands_and_a_contradiction_is_reported() {
        let mut v = TxView::new();
        v.observe(1, TxRole::Member(7));
        v.observe(2, TxRole::Marker(7, Decision::Commit));
        v.observe(3, TxRole::Marker(7, Decision::Abort));
        v.observe(3, TxRole::Marker(7, Decision::Abort)); // fed twice: ignored
        assert_eq!(v.decision(7), Some(Decision::Commit));
        assert_eq!(v.conflicts(), &[(7, 3)]);
        // An event after its transaction's marker (an id used twice) is a conflict,
        // never delivered, and holds no reader back.
        v.observe(4, TxRole::Member(7));
        assert_eq!(v.visibility(4, TxRole::Member(7)), Visibility::Skip);
        assert_eq!(v.visibility(1, TxRole::Member(7)), Visibility::Deliver);
        assert_eq!(v.conflicts(), &[(7, 3), (7, 4)]);
        assert_eq!(v.stable_end(), 5);
    }
}
