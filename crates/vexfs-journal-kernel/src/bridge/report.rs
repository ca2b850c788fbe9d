//! What the bridge's operations return: [`ImportReport`], [`SequenceSyncResult`],
//! [`KernelJournalStatus`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::image::Damage;

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    /// Where the events came from.
    pub source: String,
    /// Intact blocks read.
    pub blocks: u64,
    /// Kernel events read from intact blocks.
    pub events_read: u64,
    /// Events appended to the journal.
    pub imported: u64,
    /// Events skipped because the journal already holds their kernel sequence.
    pub already_present: u64,
    /// Events skipped because their global sequence is 0 (cannot be deduplicated).
    pub unsequenced: u64,
    /// Ids of the first unsequenced events.
    pub unsequenced_ids: Vec<u64>,
    /// Damaged regions of the source (skipped; every intact block was read).
    pub damage: Vec<Damage>,
    /// Import batches appended (one marker each).
    pub batches: u64,
    /// Journal sequences of the imported events, one range per batch.
    pub journal_ranges: Vec<(u64, u64)>,
    /// Lowest and highest kernel sequence imported.
    pub kernel_range: Option<(u64, u64)>,
    /// Highest synchronised kernel sequence before and after.
    pub synced_before: u64,
    /// Highest synchronised kernel sequence after.
    pub synced_after: u64,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Zero bytes after the last block (unused space).
    pub trailing_zero_bytes: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// Result of one sequence synchronisation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SequenceSyncResult {
    /// Highest kernel global sequence in the source.
    pub kernel_sequence: u64,
    /// Highest kernel event id in the source.
    pub kernel_event_id: u64,
    /// Last journal sequence when the source was observed (before importing).
    pub userspace_sequence_before: u64,
    /// Last journal sequence after the sync.
    pub userspace_sequence: u64,
    /// Highest synchronised kernel sequence after the sync.
    pub synced_kernel_sequence: u64,
    /// `kernel − journal` offset of the mapping after the sync (see
    /// [`super::KernelBridge::adjust_sequence_for_kernel`]).
    pub offset: i64,
    /// Change of `kernel_sequence − userspace_sequence` since the previous sync: kernel
    /// events logged minus userspace sequences consumed meanwhile.
    pub drift: i64,
    /// `|drift|` exceeded the tolerance.
    pub drift_detected: bool,
    /// Kernel events in the source the journal lacked.
    pub kernel_lag: u64,
    /// The journal was brought up to date (events imported or drift corrected).
    pub resynced: bool,
    /// Events imported.
    pub imported: u64,
    /// Events skipped as already present.
    pub already_present: u64,
    /// Damaged regions found in what was read.
    pub damage: Vec<Damage>,
    /// The whole source was read (no valid resume point).
    pub full_scan: bool,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Time taken.
    pub latency: Duration,
}

/// The kernel journal source compared with the journal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KernelJournalStatus {
    /// The source.
    pub source: Option<PathBuf>,
    /// It can be read.
    pub available: bool,
    /// Kernel format version of this build (images carry block and event versions,
    /// which are checked per block).
    pub format_version: (u32, u32),
    /// Intact blocks.
    pub blocks: u64,
    /// Events in intact blocks.
    pub events: u64,
    /// Damaged regions.
    pub damaged_regions: u64,
    /// Highest kernel global sequence.
    pub kernel_sequence: u64,
    /// Highest kernel event id.
    pub kernel_event_id: u64,
    /// Highest synchronised kernel sequence in the journal.
    pub synced_kernel_sequence: u64,
    /// Events of the source the journal lacks.
    pub pending: u64,
    /// Last journal sequence.
    pub userspace_sequence: u64,
    /// Current mapping offset (`kernel − journal`).
    pub offset: i64,
}
