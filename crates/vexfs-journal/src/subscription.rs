//! Subscriptions: catch up from the journal, then follow it live.

use std::collections::VecDeque;
use std::time::Duration;

#[cfg(feature = "async")]
use futures_core::Stream;
use vexfs_journal_index::{Cursor, Query};
use vexfs_journal_storage::StoredEvent;

use crate::error::{JournalError, Result};
use crate::read::Follow;

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The first event of the journal.
    Beginning,
    /// The next event to become visible (nothing already there).
    Now,
    /// Right after the event a cursor points at.
    After(Cursor),
}

/// Events in a page read from disk at a time; the most a subscription holds.
const PAGE: usize = 256;
/// How often a reader subscription looks for new blocks.
const POLL: Duration = Duration::from_millis(50);

/// A live, gap-free, duplicate-free stream of the events matching a query.
///
/// Generic over what it follows: a [`Journal`](crate::Journal) (woken by the writer's
/// progress) or a [`JournalReader`](crate::JournalReader) (polling the files). Use it
/// as a blocking [`Iterator`] (it ends when the journal closes) or, in async code (the
/// `async` feature), through `next_async` or `into_stream`. It never holds more than
/// one page of events: a slow consumer makes it read from disk later, not buffer.
#[derive(Debug)]
pub struct Subscription<F: Follow> {
    source: F,
    query: Query,
    /// Next sequence to look at.
    position: u64,
    buffer: VecDeque<StoredEvent>,
    last: Option<u64>,
    journal: uuid::Uuid,
    generation: u64,
    /// The journal's end when the last read found itself held back by an undecided
    /// transaction: what frees it is a newer event, so waits look past this.
    held: u64,
}

impl<F: Follow> Subscription<F> {
    pub(crate) fn new(source: F, mut query: Query, start: StartAt) -> Result<Subscription<F>> {
        if query.reverse {
            return Err(JournalError::Config(
                "a subscription follows the journal forward; reverse is not allowed".into(),
            ));
        }
        let parts = source.parts();
        let (journal, generation) = (parts.journal, parts.store.generation());
        // Refuses cursors of other journals and of rewritten history.
        if let StartAt::After(c) = &start {
            parts.executor().check_cursor(c)?;
        }
        let position = match start {
            StartAt::Beginning => query.from_seq.unwrap_or(0),
            // Read committed: an undecided transaction's events already there are
            // still to come.
            StartAt::Now => source.followable_end().max(query.from_seq.unwrap_or(0)),
            StartAt::After(c) => {
                if c.reverse {
                    return Err(JournalError::Config(
                        "cursor comes from a reverse query".into(),
                    ));
                }
                (c.seq + 1).max(query.from_seq.unwrap_or(0))
            }
        };
        query.after = None;
        query.limit = Some(PAGE);
        Ok(Subscription {
            source,
            query,
            position,
            buffer: VecDeque::new(),
            last: None,
            journal,
            generation,
            held: 0,
        })
    }

    /// Events read from disk and not yet delivered (at most one page).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Resumes right after the last event delivered (`None` before the first).
    pub fn cursor(&self) -> Option<Cursor> {
        self.last.map(|seq| Cursor {
            journal: self.journal,
            seq,
            reverse: false,
            generation: self.generation,
        })
    }

    /// Reads the next page if something is visible; false when there is nothing new.
    fn fill(&mut self) -> Result<bool> {
        let raw = self.source.follow_end();
        let snap = self.source.committed().snapshot(self.source.parts(), raw)?;
        let end = snap.end();
        self.held = if end < raw { raw } else { 0 };
        if self.position >= end {
            return Ok(false);
        }
        let mut q = self.query.clone();
        q.from_seq = Some(self.position);
        if let Some(to) = self.query.to_seq {
            q.to_seq = Some(to);
        }
        let page = self
            .source
            .parts()
            .executor()
            .page_where(&q, end, |v| snap.delivers_record(v))?;
        self.position = match page.events.last() {
            Some(last) if !page.exhausted => last.seq + 1,
            _ => end,
        };
        self.buffer.extend(page.events);
        Ok(true)
    }

    /// The next event if one is available now, without waiting.
    pub fn try_next(&mut self) -> Result<Option<StoredEvent>> {
        loop {
            if let Some(ev) = self.buffer.pop_front() {
                self.last = Some(ev.seq);
                return Ok(Some(ev));
            }
            if self.finished() || !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Whether the subscription will deliver nothing more: its query's `to_seq` is
    /// passed, or the journal it follows closed, with nothing left buffered.
    pub fn is_done(&self) -> bool {
        self.buffer.is_empty() && (self.finished() || self.closed())
    }

    /// The position new events are awaited from.
    fn wait_from(&self) -> u64 {
        self.position.max(self.held)
    }

    fn finished(&self) -> bool {
        self.query.to_seq.is_some_and(|to| self.position > to)
    }

    fn closed(&self) -> bool {
        self.source.is_closed()
    }

    /// Blocks until the next event, or up to `timeout`; `Ok(None)` on timeout or when
    /// the subscription has ended.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<StoredEvent>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(ev) = self.try_next()? {
                return Ok(Some(ev));
            }
            let now = std::time::Instant::now();
            if now >= deadline || self.finished() || self.closed() {
                return Ok(None);
            }
            self.source
                .wait(self.wait_from(), (deadline - now).min(POLL))?;
        }
    }

    /// Awaits the next event without blocking the runtime; `None` when the journal
    /// closes or the query's `to_seq` is passed.
    #[cfg(feature = "async")]
    pub async fn next_async(&mut self) -> Option<Result<StoredEvent>> {
        loop {
            match self.try_next() {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.finished() || self.closed() {
                return None;
            }
            if let Err(e) = self.source.wait_async(self.wait_from(), POLL).await {
                return Some(Err(e));
            }
        }
    }

    /// The subscription as a `futures` [`Stream`] (works with tokio).
    #[cfg(feature = "async")]
    pub fn into_stream(self) -> impl Stream<Item = Result<StoredEvent>> + Send + 'static {
        futures_util::stream::unfold(self, |mut sub| async move {
            let item = sub.next_async().await?;
            Some((item, sub))
        })
    }
}

impl<F: Follow> Iterator for Subscription<F> {
    type Item = Result<StoredEvent>;

    /// Blocks until the next event; `None` when the journal closes or the query's
    /// `to_seq` is passed.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) if self.finished() || self.closed() => return None,
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
