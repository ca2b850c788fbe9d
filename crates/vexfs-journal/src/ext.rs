//! The extension surface: what crates built on the journal (the kernel bridge, the
//! transaction coordinator, replication, the event server) may do beyond emitting and
//! reading events, without reaching into the storage engine.
//!
//! Everything here is deliberate and small. A capability that needs more from storage
//! grows one documented function here; it does not import `vexfs-journal-storage`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::journal::Journal;
use crate::{Event, JournalReader};

pub use vexfs_journal_storage::HeaderMarks as Marks;
pub use vexfs_journal_telemetry::{AtomicHistogram, LatencySummary, now_ns};

/// Appends `events` as one batch keeping the ids, sequences and timestamps they carry
/// (imports from another journal or the kernel). Returns the journal sequences given
/// to them; the batch is atomic (all or none after a crash).
pub fn append_preserving(journal: &Journal, events: Vec<Event>) -> Result<Range<u64>> {
    Ok(journal.engine().append_preserving(events)?)
}

/// Emits `events` as one atomic batch with each event's flags exactly as given (a copy
/// of an event stays what it was; [`Journal::emit_batch_atomic`] marks every event
/// atomic instead).
pub fn emit_batch_as_given(journal: &Journal, events: Vec<Event>) -> Result<Range<u64>> {
    Ok(journal.engine().emit_batch(events)?)
}

/// Emits `events` as one atomic batch of coordinated transaction `tx` (each record's
/// `cross_boundary_id` is `tx`, see [`crate::format::tx`]), durably when `durable`.
pub fn emit_transactional(
    journal: &Journal,
    tx: std::num::NonZeroU64,
    events: Vec<Event>,
    durable: bool,
) -> Result<Range<u64>> {
    Ok(journal
        .engine()
        .emit_transactional(tx.get(), events, durable)?)
}

/// The journal-wide marks (last checkpoint, last kernel sync) of the open segment's
/// header.
pub fn marks(journal: &Journal) -> Marks {
    journal.engine().marks()
}

/// Changes the journal-wide marks and makes them durable (they carry over to every new
/// segment).
pub fn record_marks(journal: &Journal, change: impl FnOnce(&mut Marks)) -> Result<()> {
    Ok(journal.engine().record_marks(change)?)
}

/// Whether the journal stopped after a storage failure (every later write fails).
pub fn is_failed(journal: &Journal) -> bool {
    journal.engine().is_failed()
}

/// The value of type `T` attached to this open journal, created with `T::default()` on
/// first use. Every clone of the [`Journal`] handle sees the same value, and it is
/// dropped with the journal: an extension keeps its per-journal state here instead of
/// in a process-wide registry.
pub fn state<T: Default + Send + Sync + 'static>(journal: &Journal) -> Arc<T> {
    journal.inner.extensions.get_or_default::<T>()
}

/// One segment file, as listed by [`segments`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The file.
    pub path: PathBuf,
    /// Sequence its name starts at.
    pub first_seq: u64,
    /// Sequence of its first and last event (`None` when empty).
    pub seqs: Option<(u64, u64)>,
    /// Events in it.
    pub events: u64,
    /// Earliest and latest event time, ns since the epoch (`None` when empty).
    pub times: Option<(i64, i64)>,
    /// Whether it is sealed (no more appends).
    pub sealed: bool,
    /// Byte offset where its blocks end (where the next block goes).
    pub end: u64,
}

/// The segments of a journal open for writing, oldest first.
pub fn segments(journal: &Journal) -> Vec<SegmentInfo> {
    segment_infos(journal.engine().store())
}

/// The segments a reader sees, oldest first.
pub fn reader_segments(reader: &JournalReader) -> Vec<SegmentInfo> {
    segment_infos(reader.store())
}

/// The event with sequence `seq` as stored, *read uncommitted* (see
/// [`query_uncommitted`]); `None` when there is none below the handle's query end.
pub fn get_stored<F: crate::Follow>(source: &F, seq: u64) -> Result<Option<crate::StoredEvent>> {
    if seq >= source.query_end() {
        return Ok(None);
    }
    Ok(source.parts().store.get(seq)?)
}

/// Calls `visit` on each record matching `query` *read uncommitted*: as stored, events
/// of undecided and aborted coordinated transactions included (tools that inspect
/// transactions; every read of [`crate::Follow`] but `scan` is read committed). With
/// [`crate::Query::coordinated`], only the blocks holding such records are read.
pub fn query_uncommitted<F: crate::Follow>(
    source: &F,
    query: &crate::Query,
    visit: impl FnMut(&crate::format::record::RecordView<'_>) -> bool,
) -> Result<()> {
    source
        .parts()
        .executor()
        .visit(query, source.query_end(), visit)?;
    Ok(())
}

fn segment_infos(store: &vexfs_journal_storage::Store) -> Vec<SegmentInfo> {
    store
        .segments()
        .iter()
        .map(|seg| {
            let blocks = seg.blocks();
            let seqs = blocks
                .first()
                .zip(blocks.last())
                .map(|(f, l)| (f.first_seq, l.last_seq));
            let times = blocks
                .iter()
                .map(|b| b.min_time)
                .min()
                .zip(blocks.iter().map(|b| b.max_time).max());
            SegmentInfo {
                path: seg.path().to_path_buf(),
                first_seq: seg.first_seq(),
                seqs,
                events: blocks.iter().map(|b| u64::from(b.event_count)).sum(),
                times,
                sealed: seg.is_sealed(),
                end: seg.end(),
            }
        })
        .collect()
}

/// One durable block as stored: what a replica ships (see [`durable_blocks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawBlock {
    /// Sequence the block's segment starts at.
    pub segment_first_seq: u64,
    /// Sequences of its first and last event.
    pub first_seq: u64,
    /// Last sequence in it.
    pub last_seq: u64,
    /// The block as stored (block header first; `docs/format.md`), checksum checked.
    pub bytes: Vec<u8>,
}

/// The durable blocks holding sequences after `after_seq`, oldest first, at most
/// `max_blocks` of them: the journal's tail as stored, for replication. A block is
/// returned whole, so the first may start at or before `after_seq`; blocks not yet
/// fsynced are left for a later call. An encrypted journal's blocks are returned as
/// stored (encrypted, bound to this journal, segment and offset: `docs/encryption.md`).
pub fn durable_blocks(
    journal: &Journal,
    after_seq: u64,
    max_blocks: usize,
) -> Result<Vec<RawBlock>> {
    let durable = journal.durable_seq();
    let mut out = Vec::new();
    for seg in journal.engine().store().segments().iter() {
        if out.len() >= max_blocks {
            break;
        }
        let entries: Vec<_> = seg
            .blocks()
            .iter()
            .filter(|b| b.last_seq > after_seq && b.last_seq < durable)
            .take(max_blocks - out.len())
            .copied()
            .collect();
        for entry in entries {
            out.push(RawBlock {
                segment_first_seq: seg.first_seq(),
                first_seq: entry.first_seq,
                last_seq: entry.last_seq,
                bytes: seg.read_stored_block(&entry)?,
            });
        }
    }
    Ok(out)
}

/// Per-journal values of any type, keyed by type (see [`state`]).
#[derive(Default)]
pub(crate) struct Extensions(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    fn get_or_default<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let slot = map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        match slot.clone().downcast::<T>() {
            Ok(v) => v,
            // Unreachable: the slot of `TypeId::of::<T>()` only ever holds a `T`. Should
            // it not, a fresh value replaces it rather than panicking.
            Err(_) => {
                let v = Arc::new(T::default());
                *slot = v.clone();
                v
            }
        }
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Extensions").field("values", &n).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::Config;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn state_is_per_journal_and_shared_by_its_clones() {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let a = Journal::create(a_dir.path(), Config::default()).unwrap();
        let b = Journal::create(b_dir.path(), Config::default()).unwrap();
        state::<AtomicU64>(&a).fetch_add(3, Ordering::SeqCst);
        assert_eq!(state::<AtomicU64>(&a.clone()).load(Ordering::SeqCst), 3);
        assert_eq!(state::<AtomicU64>(&b).load(Ordering::SeqCst), 0);
        assert_eq!(state::<Mutex<String>>(&a).lock().unwrap().as_str(), "");
    }

    #[test]
    fn durable_blocks_are_the_stored_bytes_of_the_durable_tail() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), Config::default()).unwrap();
        for batch in 0..5u64 {
            for i in 0..3 {
                j.emit(Event::new(crate::FsOp::Write).inode(batch * 10 + i))
                    .unwrap();
            }
            j.sync().unwrap();
        }
        let all = durable_blocks(&j, 0, usize::MAX).unwrap();
        assert!(all.len() >= 2, "{} blocks", all.len());
        assert_eq!(all.first().unwrap().first_seq, 1);
        assert_eq!(all.last().unwrap().last_seq, 15);
        for pair in all.windows(2) {
            assert_eq!(pair[1].first_seq, pair[0].last_seq + 1);
        }
        let seg = std::fs::read(segments(&j)[0].path.clone()).unwrap();
        for b in &all {
            let mut records = Vec::new();
            let header = vexfs_journal_format::block::open_block(
                &b.bytes,
                vexfs_journal_format::block::EventEncoding::Record,
                &mut records,
            )
            .unwrap();
            assert_eq!(header.block_id, b.first_seq);
            assert!(seg.windows(b.bytes.len()).any(|w| w == b.bytes.as_slice()));
        }
        let tail = durable_blocks(&j, 14, 10).unwrap();
        assert_eq!(tail.len(), 1);
        assert!(tail[0].first_seq <= 15 && tail[0].last_seq == 15);
        assert_eq!(durable_blocks(&j, 15, 10).unwrap(), vec![]);
        assert_eq!(durable_blocks(&j, 0, 1).unwrap().len(), 1);
        // A damaged block is an error, never shipped.
        let path = segments(&j)[0].path.clone();
        let at = seg
            .windows(all[0].bytes.len())
            .position(|w| w == all[0].bytes.as_slice())
            .unwrap();
        let mut damaged = seg.clone();
        damaged[at + all[0].bytes.len() - 1] ^= 0x40;
        std::fs::write(&path, &damaged).unwrap();
        assert!(durable_blocks(&j, 0, 1).is_err());
    }

    #[test]
    fn marks_are_durable_and_segments_listed() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), Config::default()).unwrap();
        j.emit_durable(Event::new(crate::FsOp::Write)).unwrap();
        record_marks(&j, |m| m.last_kernel_sync_sequence = 42).unwrap();
        assert_eq!(marks(&j).last_kernel_sync_sequence, 42);
        let segs = segments(&j);
        assert_eq!(segs.len(), 1);
        assert_eq!(
            (segs[0].first_seq, segs[0].seqs, segs[0].events),
            (1, Some((1, 1)), 1)
        );
        j.close().unwrap();
        let j = Journal::open_existing(dir.path()).unwrap();
        assert_eq!(marks(&j).last_kernel_sync_sequence, 42);
    }
}
