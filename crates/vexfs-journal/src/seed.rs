//! The seed specification's interface names, kept apart from the journal's own API.
//!
//! The seed specification asked for `query_events_by_*` methods returning plain
//! events. They are here, as [`JournalSeedExt`], for code written against that
//! interface; new code uses [`Journal::query`](crate::Journal::query) with a
//! [`Query`], which pages, filters by any field and returns sequences. The seed's
//! configuration names map onto [`Config`](crate::Config) as its documentation lists.

use std::time::SystemTime;

use vexfs_journal_format::{Event, EventType};
use vexfs_journal_index::Query;

use crate::error::Result;
use crate::journal::system_ns;
use crate::read::Follow;

/// The seed specification's query methods, for any journal handle
/// ([`Journal`](crate::Journal) or [`JournalReader`](crate::JournalReader)). Each runs
/// one query of the visible events and returns one page of them.
pub trait JournalSeedExt: Follow {
    /// Events with `start <= seq <= end`.
    fn query_events_by_sequence(&self, start: u64, end: u64) -> Result<Vec<Event>> {
        events_of(self, &Query::new().from_seq(start).to_seq(end))
    }

    /// Events with `start <= time <= end`.
    fn query_events_by_time(&self, start: SystemTime, end: SystemTime) -> Result<Vec<Event>> {
        events_of(
            self,
            &Query::new().since(system_ns(start)).until(system_ns(end)),
        )
    }

    /// Events of one type, oldest first, at most `limit`.
    fn query_events_by_type(
        &self,
        event_type: EventType,
        limit: Option<usize>,
    ) -> Result<Vec<Event>> {
        let mut q = Query::new().types([event_type]);
        q.limit = limit;
        events_of(self, &q)
    }
}

impl<F: Follow> JournalSeedExt for F {}

fn events_of<F: Follow>(source: &F, q: &Query) -> Result<Vec<Event>> {
    Ok(source
        .query(q)?
        .events
        .into_iter()
        .map(|s| s.event)
        .collect())
}
