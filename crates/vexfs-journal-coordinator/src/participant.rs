//! Participants: the journals a transaction writes to.

use std::num::NonZeroU64;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use vexfs_journal::format::tx::Decision;
use vexfs_journal::tx::TxView;
use vexfs_journal::{Event, FullPolicy, Journal, Result, SemanticOp, ext};

/// A journal taking part in coordinated transactions. The coordinator calls it under
/// the transaction's lock and never concurrently for one transaction.
pub trait Participant: Send + Sync {
    /// Its name, unique among a coordinator's participants (recorded in the log).
    fn name(&self) -> &str;
    /// Appends `events` as events of transaction `tx` (hidden from read-committed
    /// readers until a commit marker follows them). Returns their sequences.
    fn write(&self, tx: NonZeroU64, events: Vec<Event>) -> Result<Range<u64>>;
    /// Makes every event written for `tx` durable: the participant's yes vote.
    /// `written` spans the sequences its `write` calls for `tx` returned (empty when
    /// none), so a journal can wait for those alone rather than for events other
    /// writers appended since.
    fn prepare(&self, tx: NonZeroU64, written: Range<u64>) -> Result<()>;
    /// Appends the marker of `decision` for `tx`; returns its sequence. On return it
    /// is visible to the journal's readers (a query right after `commit` sees the
    /// transaction) but need not be durable ([`Participant::make_durable`] makes it so): the decision is
    /// already durable in the coordinator log, which delivers it again after a crash.
    /// Delivering a marker twice is harmless (readers take the first; both say the
    /// same).
    fn decide(&self, tx: NonZeroU64, decision: Decision) -> Result<u64>;
    /// Waits until every event of its journal before sequence `end` is durable (a
    /// marker's sequence + 1). The coordinator logs a transaction complete, and stops
    /// delivering its decision after a crash, only once this succeeded for every
    /// marker. Required (no default): a wrapper that skipped it would let a crash lose
    /// a marker the log no longer redelivers.
    fn make_durable(&self, end: u64) -> Result<()>;
    /// Its journal's transactions: those with events and no marker, and the markers'
    /// decisions. A reopened coordinator settles those of its own its log does not
    /// know (their begin record was lost in a crash) by them. Required (no default):
    /// a wrapper answering "none" would leave such a transaction holding the
    /// journal's readers back for good.
    fn transactions(&self) -> Result<Arc<TxView>>;
    /// Whether it can take part in transactions (`Err` says why not); checked when a
    /// coordinator is opened with it.
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Its journal's directory, when it has one: recorded beside the coordinator log
    /// so operator tools (`vexjournal tx`) can find it.
    fn location(&self) -> Option<&Path> {
        None
    }
    /// Its journal's id, when it has one: recorded beside the coordinator log, and
    /// checked on every later open, so a journal given under the wrong name (or in the
    /// wrong place) is refused rather than sent another journal's markers.
    fn journal_id(&self) -> Option<vexfs_journal::Uuid> {
        None
    }
    /// The latest time of its journal's hybrid logical clock (I56): not earlier than
    /// any event it has written. Required (no default) so that a wrapper cannot lose
    /// the ordering by forgetting to pass it on.
    fn clock_time(&self) -> i64;
    /// Orders its next events (the marker that follows) after `time_ns`.
    fn observe_time(&self, time_ns: i64);
}

/// The marker event of `decision` (to be written with the transaction's id).
pub fn marker(tx: NonZeroU64, decision: Decision) -> Event {
    let mut e = Event::new(SemanticOp::TransactionEnd);
    e.subtype = decision.marker_subtype();
    e.context.transaction_id = tx.get();
    e.metadata = format!("{{\"decision\":\"{}\"}}", decision.as_str()).into_bytes();
    e
}

/// A journal open in this process as a participant.
#[derive(Clone, Debug)]
pub struct JournalParticipant {
    name: String,
    journal: Journal,
}

impl JournalParticipant {
    /// `journal`, known to coordinators as `name`.
    pub fn new(name: impl Into<String>, journal: Journal) -> JournalParticipant {
        JournalParticipant {
            name: name.into(),
            journal,
        }
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }
}

impl Participant for JournalParticipant {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&self, tx: NonZeroU64, events: Vec<Event>) -> Result<Range<u64>> {
        ext::emit_transactional(&self.journal, tx, events, false)
    }

    fn prepare(&self, _tx: NonZeroU64, written: Range<u64>) -> Result<()> {
        // Only this transaction's events: waiting for everything accepted (`sync`)
        // would also wait for what other clients append meanwhile, often one more
        // group-commit round.
        self.journal.wait_durable(written.end)
    }

    fn decide(&self, tx: NonZeroU64, decision: Decision) -> Result<u64> {
        let range = ext::emit_transactional(&self.journal, tx, vec![marker(tx, decision)], false)?;
        self.journal.wait_written(range.end)?;
        Ok(range.start)
    }

    fn make_durable(&self, end: u64) -> Result<()> {
        self.journal.wait_durable(end)
    }

    fn transactions(&self) -> Result<Arc<TxView>> {
        self.journal.transactions()
    }

    fn location(&self) -> Option<&Path> {
        Some(self.journal.dir())
    }

    fn journal_id(&self) -> Option<vexfs_journal::Uuid> {
        Some(self.journal.journal_id())
    }

    fn clock_time(&self) -> i64 {
        self.journal.clock_time()
    }

    fn observe_time(&self, time_ns: i64) {
        self.journal.observe_time(time_ns)
    }

    fn check(&self) -> std::result::Result<(), String> {
        // A journal that drops buffered events when full could drop a transaction's
        // batch or its marker while its sync still succeeds.
        if self.journal.meta().config.full_policy == FullPolicy::DropOldest {
            return Err(format!(
                "journal {} drops events when its buffer is full (full policy drop-oldest): use block or error",
                self.journal.dir().display()
            ));
        }
        Ok(())
    }
}
