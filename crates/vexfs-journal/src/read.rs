//! The read core: one implementation of reading a journal — point reads, scans,
//! queries, cursors, subscriptions and replay — shared by [`Journal`](crate::Journal)
//! and [`JournalReader`](crate::JournalReader) through the [`Follow`] trait.
//!
//! The two handles differ only in what they tell the core (see `sealed::Source`):
//! where reads stop (written, durable or on disk as of the last refresh) and how a
//! subscription waits for more (the writer's progress signal, or polling the files).

use std::ops::Range;
use std::sync::atomic::AtomicBool;

use vexfs_journal_format::record::RecordView;
use vexfs_journal_index::{Cursor, DamagedBlock, IndexError, Page, Query, Rate, RateQuery};
use vexfs_journal_recovery::{Progress, ReplayOptions, ReplayReport};
use vexfs_journal_storage::{Scan, StoreStats, StoredEvent};

use crate::committed::Snapshot;
use crate::error::Result;
use crate::replay::ReplayStart;
use crate::subscription::{StartAt, Subscription};

pub(crate) mod sealed {
    //! What the read core needs from a handle. Nothing outside the crate implements
    //! it, so [`super::Follow`] stays closed to other types.

    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use vexfs_journal_index::{Executor, Index};
    use vexfs_journal_recovery::Replayer;
    use vexfs_journal_storage::Store;

    use crate::error::Result;

    /// The pieces a read works on.
    #[derive(Clone, Copy, Debug)]
    pub struct Parts<'a> {
        /// The segments.
        pub store: &'a Arc<Store>,
        /// The indexes.
        pub index: &'a Index,
        /// The journal's id (cursors carry it).
        pub journal: uuid::Uuid,
        /// The journal directory (checkpoints live there).
        pub dir: &'a Path,
    }

    impl<'a> Parts<'a> {
        /// Runs queries.
        pub fn executor(self) -> Executor<'a> {
            Executor {
                index: self.index,
                store: self.store,
                journal: self.journal,
            }
        }

        /// Runs replays.
        pub fn replayer(self) -> Replayer<'a> {
            Replayer {
                store: self.store,
                index: self.index,
                journal: self.journal,
            }
        }
    }

    /// A handle the read core can read through.
    pub trait Source {
        /// The segments, indexes and identity.
        fn parts(&self) -> Parts<'_>;
        /// The handle's view of its journal's coordinated transactions.
        fn committed(&self) -> &crate::committed::Committed;
        /// Point reads and queries see the events below this.
        fn query_end(&self) -> u64;
        /// Scans stop below this.
        fn scan_end(&self) -> u64;
        /// Subscriptions deliver the events below this.
        fn follow_end(&self) -> u64;
        /// Replays stop below this.
        fn replay_end(&self) -> u64;
        /// Whether no event will ever be added (a subscription then ends).
        fn is_closed(&self) -> bool;
        /// Waits, up to `wait`, for events at or after `position` to become visible to
        /// subscriptions.
        fn wait(&self, position: u64, wait: Duration) -> Result<()>;
        /// Loads what other processes appended (a reader); nothing for a writer.
        fn update(&self) -> Result<()>;
        /// [`Source::wait`] for async code: never blocks the runtime.
        #[cfg(feature = "async")]
        fn wait_async(
            &self,
            position: u64,
            wait: Duration,
        ) -> impl Future<Output = Result<()>> + Send + '_;
    }
}

/// A journal that can be read and followed: [`Journal`](crate::Journal) (this process
/// writes it) or [`JournalReader`](crate::JournalReader) (files another process may be
/// writing). Code that serves events — a server, a replicator — is written once,
/// generic over `F: Follow`.
///
/// Both handles also have every method below as an inherent method, so calling them
/// needs no import of this trait.
pub trait Follow: sealed::Source + Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The event with sequence `seq`, once visible; `None` also for an event of a
    /// coordinated transaction that is undecided or aborted (read committed, see
    /// [`crate::tx`]).
    fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
        let snap = snapshot(self, self.query_end())?;
        if seq >= snap.end() {
            return Ok(None);
        }
        Ok(self
            .parts()
            .store
            .get(seq)?
            .filter(|e| snap.delivers_event(e)))
    }

    /// Every stored event in a sequence range, in order, as written: *read
    /// uncommitted* — events of undecided and aborted coordinated transactions
    /// included (tools that inspect transactions use it; the other reads are read
    /// committed).
    fn scan(&self, range: Range<u64>) -> Scan {
        let end = range.end.min(self.scan_end());
        Scan::new(self.parts().store.clone(), range.start, end)
    }

    /// One page of the visible events matching `query` (see [`Query::limit`] and
    /// [`Page::cursor`] for paging).
    fn query(&self, query: &Query) -> Result<Page> {
        let snap = snapshot(self, self.query_end())?;
        Ok(self
            .parts()
            .executor()
            .page_where(query, snap.end(), |v| snap.delivers_record(v))?)
    }

    /// Calls `visit` on each matching record without copying it, until it returns false.
    fn query_visit(
        &self,
        query: &Query,
        mut visit: impl FnMut(&RecordView<'_>) -> bool,
    ) -> Result<()> {
        let snap = snapshot(self, self.query_end())?;
        self.parts()
            .executor()
            .visit(query, snap.end(), |v| !snap.delivers_record(v) || visit(v))?;
        Ok(())
    }

    /// [`Follow::query_visit`] that hands each damaged block to `damaged` (after
    /// visiting every match before it): returning true skips the block and goes on,
    /// false ends the query with [`IndexError::DamagedBlock`].
    fn query_visit_or_skip(
        &self,
        query: &Query,
        mut visit: impl FnMut(&RecordView<'_>) -> bool,
        mut damaged: impl FnMut(&DamagedBlock) -> bool,
    ) -> Result<()> {
        let snap = snapshot(self, self.query_end())?;
        self.parts().executor().visit_or_skip(
            query,
            snap.end(),
            |v| !snap.delivers_record(v) || visit(v),
            |d| {
                if damaged(&d) {
                    Ok(())
                } else {
                    Err(IndexError::DamagedBlock(Box::new(d)))
                }
            },
        )?;
        Ok(())
    }

    /// The journal's generation: bumped whenever history is rewritten (rollback,
    /// compaction, salvage); cursors carry it.
    fn generation(&self) -> u64 {
        self.parts().store.generation()
    }

    /// Parses a cursor text, refusing cursors of other journals and of rewritten
    /// history.
    fn parse_cursor(&self, text: &str) -> Result<Cursor> {
        let parts = self.parts();
        let cursor = Cursor::decode(text, parts.journal)?;
        parts.executor().check_cursor(&cursor)?;
        Ok(cursor)
    }

    /// Follows the events matching `query` from `start`: first those already there,
    /// then new ones as they become visible (durable, for a writer; appended to the
    /// files, for a reader), with no gap and no duplicate. Memory stays bounded for a
    /// slow consumer: it reads from disk, it does not buffer.
    fn subscribe(&self, query: Query, start: StartAt) -> Result<Subscription<Self>> {
        Subscription::new(self.clone(), query, start)
    }

    /// Replays owned events matching `options.query` from `start` in sequence order
    /// (see `vexfs_journal_recovery::Replayer`); the sink returns false to stop. Only
    /// durable events (for a reader: events on disk) are replayed.
    fn replay(
        &self,
        options: ReplayOptions,
        start: ReplayStart,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &mut dyn FnMut(StoredEvent) -> bool,
    ) -> Result<ReplayReport> {
        let snap = snapshot(self, self.replay_end())?;
        let options = start_at(self, options, &start, &snap)?;
        let mut left_out = 0u64;
        let mut report =
            self.parts()
                .replayer()
                .replay(&options, snap.end(), cancel, progress, &mut |e| {
                    if snap.delivers_event(&e) {
                        sink(e)
                    } else {
                        left_out += 1;
                        true
                    }
                })?;
        report.events -= left_out.min(report.events);
        Ok(report)
    }

    /// [`Follow::replay`] handing borrowed records to the sink, without copying them.
    fn replay_views(
        &self,
        options: ReplayOptions,
        start: ReplayStart,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &mut dyn FnMut(&RecordView<'_>) -> bool,
    ) -> Result<ReplayReport> {
        let snap = snapshot(self, self.replay_end())?;
        let options = start_at(self, options, &start, &snap)?;
        let mut left_out = 0u64;
        let mut report = self.parts().replayer().replay_views(
            &options,
            snap.end(),
            cancel,
            progress,
            &mut |v| {
                if snap.delivers_record(v) {
                    sink(v)
                } else {
                    left_out += 1;
                    true
                }
            },
        )?;
        report.events -= left_out.min(report.events);
        Ok(report)
    }

    /// [`Follow::replay`] to a sink called from the worker threads, in no order.
    fn replay_unordered(
        &self,
        options: ReplayOptions,
        start: ReplayStart,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &(dyn Fn(StoredEvent) + Sync),
    ) -> Result<ReplayReport> {
        let snap = snapshot(self, self.replay_end())?;
        let options = start_at(self, options, &start, &snap)?;
        let left_out = std::sync::atomic::AtomicU64::new(0);
        let mut report = self.parts().replayer().replay_unordered(
            &options,
            snap.end(),
            cancel,
            progress,
            &|e| {
                if snap.delivers_event(&e) {
                    sink(e)
                } else {
                    left_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            },
        )?;
        report.events -= left_out.into_inner().min(report.events);
        Ok(report)
    }

    /// Counts from the block tables.
    fn stats(&self) -> StoreStats {
        self.parts().store.stats()
    }

    /// The causality graph around the event with sequence `seq` (see
    /// [`crate::causality`]); `None` when there is no such event, or it is hidden from
    /// `options.visibility`.
    fn causality(
        &self,
        seq: u64,
        options: &crate::causality::CausalityOptions,
    ) -> Result<Option<crate::causality::Causality>> {
        crate::causality::causality(self, seq, options)
    }

    /// The journal's id (what its cursors carry).
    fn journal_id(&self) -> uuid::Uuid {
        self.parts().journal
    }

    /// Sequence after the last event a subscription may deliver now: durable events
    /// for a writer (written ones under `fsync = never`), events on disk as of the
    /// last update for a reader — up to the first event of an undecided coordinated
    /// transaction. When the new events cannot be read to learn their transactions,
    /// the end already known.
    fn followable_end(&self) -> u64 {
        let end = self.follow_end();
        snapshot(self, end).map_or_else(|_| self.committed().known_end(end), |s| s.end())
    }

    /// The undecided coordinated transaction that holds reads back, as
    /// `(transaction, sequence of its first event)`: no read passes that sequence until
    /// a marker decides it (`None`: nothing is held back).
    fn held_by(&self) -> Result<Option<(u64, u64)>> {
        Ok(snapshot(self, self.query_end())?.held_by())
    }

    /// The journal's coordinated transactions as read committed sees them now: the
    /// undecided ones, the decisions its markers record, conflicts (what a
    /// coordinator reopened after a crash must settle).
    fn transactions(&self) -> Result<std::sync::Arc<crate::tx::TxView>> {
        Ok(snapshot(self, self.query_end())?.view())
    }

    /// Brings the handle's view up to date: a reader loads the blocks other processes
    /// appended since (as `JournalReader::refresh`); a writer's view is always
    /// current.
    fn update_view(&self) -> Result<()> {
        self.update()
    }

    /// Blocks until events at or past `position` become followable, or `timeout`
    /// passes, and returns [`Follow::followable_end`]. A writer wakes on its own
    /// progress at once; a reader sleeps `timeout`, then updates its view.
    fn wait_followable(&self, position: u64, timeout: std::time::Duration) -> Result<u64> {
        let raw = self.follow_end();
        if snapshot(self, raw)?.end() > position {
            return Ok(snapshot(self, raw)?.end());
        }
        // Held back by an undecided transaction: what frees it (its marker) is a new
        // event, so wait for one past what is there now.
        self.wait(position.max(raw), timeout)?;
        Ok(snapshot(self, self.follow_end())?.end())
    }

    /// Whether the journal will deliver nothing more: a writer closed or failed. A
    /// reader never closes.
    fn is_journal_closed(&self) -> bool {
        self.is_closed()
    }

    /// Visible events counted per time bucket by category, type or agent, exactly,
    /// from the index's per-block counts wherever a block lies inside one bucket (the
    /// others are read): see `vexfs_journal_index::rate`.
    fn rate(&self, query: &RateQuery) -> Result<Rate> {
        let snap = snapshot(self, self.query_end())?;
        let hide = |v: &RecordView<'_>| !snap.delivers_record(v);
        // With nothing to hide, blocks holding transactions are counted from their
        // summaries like any other, not read record by record.
        let hide: Option<vexfs_journal_index::rate::HideRecord<'_>> =
            (!snap.hides_nothing()).then_some(&hide);
        Ok(self
            .parts()
            .executor()
            .rate_where(query, snap.end(), hide)?)
    }
}

/// What a read that sees the records below `end` may deliver.
fn snapshot<F: Follow>(source: &F, end: u64) -> Result<Snapshot> {
    source.committed().snapshot(source.parts(), end)
}

/// `options` with its query restricted to start where `start` says.
fn start_at<F: Follow>(
    source: &F,
    mut options: ReplayOptions,
    start: &ReplayStart,
    snap: &Snapshot,
) -> Result<ReplayOptions> {
    let parts = source.parts();
    options.query = start.apply_committed(options.query, parts.dir, parts.journal, |durable| {
        snap.stable_end_at(durable)
    })?;
    Ok(options)
}

/// Gives a handle every [`Follow`] method as an inherent method (callers need not
/// import the trait); each one only calls the trait's.
macro_rules! inherent_reads {
    ($handle:ty) => {
        impl $handle {
            /// The event with sequence `seq`, once visible (see [`Follow::get`]).
            pub fn get(&self, seq: u64) -> Result<Option<StoredEvent>> {
                Follow::get(self, seq)
            }

            /// Every stored event in a sequence range, in order, read uncommitted (see
            /// [`Follow::scan`]).
            pub fn scan(&self, range: Range<u64>) -> Scan {
                Follow::scan(self, range)
            }

            /// One page of the visible events matching `query` (see [`Follow::query`]).
            pub fn query(&self, query: &Query) -> Result<Page> {
                Follow::query(self, query)
            }

            /// Calls `visit` on each matching record without copying it, until it
            /// returns false (see [`Follow::query_visit`]).
            pub fn query_visit(
                &self,
                query: &Query,
                visit: impl FnMut(&RecordView<'_>) -> bool,
            ) -> Result<()> {
                Follow::query_visit(self, query, visit)
            }

            /// [`Follow::query_visit_or_skip`]: damaged blocks go to `damaged`, which
            /// skips them (true) or ends the query (false).
            pub fn query_visit_or_skip(
                &self,
                query: &Query,
                visit: impl FnMut(&RecordView<'_>) -> bool,
                damaged: impl FnMut(&DamagedBlock) -> bool,
            ) -> Result<()> {
                Follow::query_visit_or_skip(self, query, visit, damaged)
            }

            /// The journal's generation (see [`Follow::generation`]).
            pub fn generation(&self) -> u64 {
                Follow::generation(self)
            }

            /// Parses a cursor text, refusing cursors of other journals (see
            /// [`Follow::parse_cursor`]).
            pub fn parse_cursor(&self, text: &str) -> Result<Cursor> {
                Follow::parse_cursor(self, text)
            }

            /// Follows the events matching `query` from `start` (see
            /// [`Follow::subscribe`]).
            pub fn subscribe(&self, query: Query, start: StartAt) -> Result<Subscription<Self>> {
                Follow::subscribe(self, query, start)
            }

            /// Replays owned events in sequence order (see [`Follow::replay`]).
            pub fn replay(
                &self,
                options: ReplayOptions,
                start: ReplayStart,
                cancel: &AtomicBool,
                progress: &mut dyn FnMut(&Progress),
                sink: &mut dyn FnMut(StoredEvent) -> bool,
            ) -> Result<ReplayReport> {
                Follow::replay(self, options, start, cancel, progress, sink)
            }

            /// Replays borrowed records in sequence order (see [`Follow::replay_views`]).
            pub fn replay_views(
                &self,
                options: ReplayOptions,
                start: ReplayStart,
                cancel: &AtomicBool,
                progress: &mut dyn FnMut(&Progress),
                sink: &mut dyn FnMut(&RecordView<'_>) -> bool,
            ) -> Result<ReplayReport> {
                Follow::replay_views(self, options, start, cancel, progress, sink)
            }

            /// Replays owned events in no order (see [`Follow::replay_unordered`]).
            pub fn replay_unordered(
                &self,
                options: ReplayOptions,
                start: ReplayStart,
                cancel: &AtomicBool,
                progress: &mut dyn FnMut(&Progress),
                sink: &(dyn Fn(StoredEvent) + Sync),
            ) -> Result<ReplayReport> {
                Follow::replay_unordered(self, options, start, cancel, progress, sink)
            }

            /// Counts from the block tables.
            pub fn stats(&self) -> StoreStats {
                Follow::stats(self)
            }

            /// The causality graph around an event (see [`Follow::causality`]).
            pub fn causality(
                &self,
                seq: u64,
                options: &crate::causality::CausalityOptions,
            ) -> Result<Option<crate::causality::Causality>> {
                Follow::causality(self, seq, options)
            }

            /// The journal's id (see [`Follow::journal_id`]).
            pub fn journal_id(&self) -> uuid::Uuid {
                Follow::journal_id(self)
            }

            /// Sequence after the last followable event (see [`Follow::followable_end`]).
            pub fn followable_end(&self) -> u64 {
                Follow::followable_end(self)
            }

            /// The undecided transaction holding reads back (see [`Follow::held_by`]).
            pub fn held_by(&self) -> Result<Option<(u64, u64)>> {
                Follow::held_by(self)
            }

            /// The coordinated transactions (see [`Follow::transactions`]).
            pub fn transactions(&self) -> Result<std::sync::Arc<crate::tx::TxView>> {
                Follow::transactions(self)
            }

            /// Brings the view up to date (see [`Follow::update_view`]).
            pub fn update_view(&self) -> Result<()> {
                Follow::update_view(self)
            }

            /// Waits for followable events (see [`Follow::wait_followable`]).
            pub fn wait_followable(
                &self,
                position: u64,
                timeout: std::time::Duration,
            ) -> Result<u64> {
                Follow::wait_followable(self, position, timeout)
            }

            /// Whether the journal closed (see [`Follow::is_journal_closed`]).
            pub fn is_journal_closed(&self) -> bool {
                Follow::is_journal_closed(self)
            }

            /// Visible events counted per time bucket (see [`Follow::rate`]).
            pub fn rate(&self, query: &RateQuery) -> Result<Rate> {
                Follow::rate(self, query)
            }
        }
    };
}

inherent_reads!(crate::Journal);
inherent_reads!(crate::JournalReader);
