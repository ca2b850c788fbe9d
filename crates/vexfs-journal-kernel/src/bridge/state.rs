//! The bridge's synchronisation state. Durable: [`SyncState`], read back from the
//! journal (the newest marker and the header mark). Per open journal: [`Shared`], the
//! resume point in the source and the sequence mapping, held by the journal itself so
//! every bridge of that journal sees the same one and imports are serialised.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use vexfs_journal::{Journal, ext};

use crate::error::SyncResult;
use crate::image::BlockMark;
use crate::marker::Anchor;
use crate::seqset::SeqSet;
use crate::timeline::latest_marker;

/// What the journal holds of the kernel: the synchronised kernel sequences and where
/// the highest is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// Every kernel global sequence imported (or, under retention, once imported).
    pub settled: SeqSet,
    /// The highest synchronised kernel sequence and its journal sequence.
    pub anchor: Option<Anchor>,
    /// Journal sequence of the newest marker.
    pub marker_seq: Option<u64>,
}

impl SyncState {
    /// Highest synchronised kernel sequence (`last_kernel_sync_sequence`).
    pub fn watermark(&self) -> u64 {
        self.settled.max()
    }

    /// Reads the state of `journal`: the newest marker, completed by the header mark.
    pub(super) fn load(journal: &Journal) -> SyncResult<SyncState> {
        let mut state = match latest_marker(journal)? {
            Some(m) => SyncState {
                settled: m.settled,
                anchor: m.anchor,
                marker_seq: Some(m.seq),
            },
            None => SyncState::default(),
        };
        // Retention may have removed every marker: the header mark (carried to each new
        // segment) still says how far the kernel was synchronised.
        let mark = ext::marks(journal).last_kernel_sync_sequence;
        if mark > state.watermark() {
            state.settled.insert_range(1, mark);
        }
        Ok(state)
    }
}

/// Raises the journal's header mark to `watermark` if it is behind (a crash between a
/// batch and its mark leaves it behind; the marker is authoritative).
pub(super) fn record_header_mark(journal: &Journal, watermark: u64) -> SyncResult<()> {
    if ext::marks(journal).last_kernel_sync_sequence < watermark {
        ext::record_marks(journal, |m| {
            m.last_kernel_sync_sequence = m.last_kernel_sync_sequence.max(watermark)
        })?;
    }
    Ok(())
}

/// Where the previous synchronisation stopped reading the source.
#[derive(Clone, Debug)]
pub(super) struct SourceCursor {
    pub(super) path: PathBuf,
    pub(super) next_offset: u64,
    pub(super) last_block: BlockMark,
    pub(super) kernel_last: u64,
    pub(super) kernel_last_id: u64,
}

/// Counter values a drift is measured against.
#[derive(Clone, Copy, Debug)]
pub(super) struct Observation {
    pub(super) kernel: u64,
    pub(super) journal: u64,
}

/// State shared by every bridge of one open journal: imports into a journal are
/// serialised by its lock.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) cursor: Option<SourceCursor>,
    pub(super) reference: Option<Observation>,
    pub(super) offset: i64,
}

/// The [`Shared`] state of `journal`, created on first use.
pub(super) fn shared_for(journal: &Journal) -> Arc<Mutex<Shared>> {
    ext::state::<Mutex<Shared>>(journal)
}
