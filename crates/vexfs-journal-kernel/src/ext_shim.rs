//! TEMPORARY: stands in for `vexfs_journal::ext` until the facade has it.
#![allow(dead_code)]

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use vexfs_journal::{Event, Journal, JournalError};

pub use vexfs_journal_storage::HeaderMarks as Marks;
pub use vexfs_journal_storage::LatencySummary;
pub use vexfs_journal_storage::clock::now_ns;
pub use vexfs_journal_storage::metrics::AtomicHistogram;

pub fn append_preserving(
    journal: &Journal,
    events: Vec<Event>,
) -> Result<Range<u64>, JournalError> {
    Ok(journal.storage().append_preserving(events)?)
}

pub fn marks(journal: &Journal) -> Marks {
    journal.storage().marks()
}

pub fn record_marks(journal: &Journal, f: impl FnOnce(&mut Marks)) -> Result<(), JournalError> {
    Ok(journal.storage().record_marks(f)?)
}

type Slot = Arc<dyn Any + Send + Sync>;

pub fn state<T: Default + Send + Sync + 'static>(journal: &Journal) -> Arc<T> {
    static MAP: OnceLock<Mutex<HashMap<(u128, TypeId), Slot>>> = OnceLock::new();
    let mut map = MAP
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let slot = map
        .entry((journal.meta().id.as_u128(), TypeId::of::<T>()))
        .or_insert_with(|| Arc::new(T::default()) as Slot)
        .clone();
    drop(map);
    slot.downcast::<T>().unwrap_or_default()
}
