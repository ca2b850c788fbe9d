//! One timeline merged from several journals (`vexjournal timeline`).
//!
//! Each journal's events keep their own sequence order; between journals, the earlier
//! time goes first (ties: the journal listed first). Every journal stamps times with a
//! hybrid logical clock that rises past any time it is told of (I56), and the
//! coordinator tells participants of each other's times before a decision and its
//! markers, so the merge is a linear extension of happens-before: a journal's order,
//! an event another journal observed before writing (`Journal::observe_time`), and
//! every event of a committed transaction before its markers. Events written with an
//! explicit time keep it and may break that (the consistency check reports a commit
//! marker that is not later than its transaction's events).
//!
//! Reads are read committed (the journal's stable end), one bounded page per journal at
//! a time, so memory stays bounded whatever the journals hold.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use vexfs_journal::{JournalError, JournalReader, Query, Result, StoredEvent};

/// Events fetched per journal per page.
const PAGE: usize = 512;

/// One event of a merged timeline.
#[derive(Clone, Debug)]
pub struct TimelineEvent {
    /// Which journal (index into the readers given to [`merge`]).
    pub journal: usize,
    /// The event.
    pub event: StoredEvent,
}

/// Pulls one journal's committed events matching a query, a page at a time.
struct Pages<'a> {
    reader: &'a JournalReader,
    query: Query,
    buffered: VecDeque<StoredEvent>,
    exhausted: bool,
}

impl Pages<'_> {
    fn next(&mut self) -> Option<Result<StoredEvent>> {
        if self.buffered.is_empty() && !self.exhausted {
            match self.reader.query(&self.query) {
                Ok(page) => {
                    self.exhausted = page.exhausted || page.events.is_empty();
                    self.query.after = page.cursor;
                    self.buffered = page.events.into();
                }
                Err(e) => {
                    self.exhausted = true;
                    return Some(Err(e));
                }
            }
        }
        self.buffered.pop_front().map(Ok)
    }
}

/// A journal's next event, ordered for the merge heap (smallest time first, then the
/// journal listed first).
struct Head {
    time: i64,
    journal: usize,
    event: StoredEvent,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` pops the largest.
        (other.time, other.journal).cmp(&(self.time, self.journal))
    }
}

/// The merged timeline of `readers` (see the module docs), restricted to events
/// matching `query` (its order, cursor and limit are ignored: each journal is read
/// forward from its start). An error reading one journal is yielded once, and that
/// journal then ends.
///
/// Hand-written rather than `itertools::kmerge_by`: a journal's next page is fetched
/// only when its last buffered event is taken, and errors stay per journal.
pub fn merge<'a>(
    readers: &'a [JournalReader],
    query: &Query,
) -> impl Iterator<Item = Result<TimelineEvent>> + 'a {
    let mut base = query.clone();
    base.reverse = false;
    base.after = None;
    base.limit = Some(PAGE);
    let mut pages: Vec<Pages<'a>> = readers
        .iter()
        .map(|reader| Pages {
            reader,
            query: base.clone(),
            buffered: VecDeque::new(),
            exhausted: false,
        })
        .collect();
    let mut heap = BinaryHeap::new();
    let mut errors: VecDeque<JournalError> = VecDeque::new();
    for (journal, p) in pages.iter_mut().enumerate() {
        push_next(&mut heap, &mut errors, p, journal);
    }
    std::iter::from_fn(move || {
        if let Some(e) = errors.pop_front() {
            return Some(Err(e));
        }
        let head = heap.pop()?;
        push_next(
            &mut heap,
            &mut errors,
            &mut pages[head.journal],
            head.journal,
        );
        Some(Ok(TimelineEvent {
            journal: head.journal,
            event: head.event,
        }))
    })
}

fn push_next(
    heap: &mut BinaryHeap<Head>,
    errors: &mut VecDeque<JournalError>,
    pages: &mut Pages<'_>,
    journal: usize,
) {
    match pages.next() {
        Some(Ok(event)) => heap.push(Head {
            time: event.event.timestamp.ktime_ns,
            journal,
            event,
        }),
        Some(Err(e)) => errors.push_back(e),
        None => {}
    }
}
