//! `compact`: rewrite sealed segments without what retention allows to drop (by total
//! size, by age, optionally by type), keeping every remaining event's sequence number.
//!
//! New segments are written complete under `swap.tmp/` and replace the old ones in one
//! atomic swap (storage `swap`): a crash mid-compaction leaves the old set or the new
//! set, never a mix. The open (newest) segment is never touched. Only the oldest
//! segments are deleted whole; rewritten ones (even emptied) stay, flagged
//! [`FLAG_COMPACTED`], so `verify` knows their missing sequences were dropped on purpose.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use vexfs_journal_format::block::split_events;
use vexfs_journal_format::file_header::FLAG_COMPACTED;
use vexfs_journal_format::manifest::{ManifestSegment, RemovalReason};
use vexfs_journal_format::record::RecordView;
use vexfs_journal_format::tx::{TxRole, role};
use vexfs_journal_format::{EventType, FileHeader};
use vexfs_journal_storage::dir::DirLock;
use vexfs_journal_storage::manifest::{self, MANIFEST_FILE};
use vexfs_journal_storage::rewrite::SegmentWriter;
use vexfs_journal_storage::swap::{Swap, SwapManifest};
use vexfs_journal_storage::{JournalMeta, OpenMode, Segment, Store};

use crate::error::{RecoveryError, Result};

/// What to drop.
#[derive(Clone, Debug, Default)]
pub struct CompactOptions {
    /// The journal's key (required when it is encrypted).
    pub key: Option<std::sync::Arc<vexfs_journal_cipher::JournalKey>>,
    /// Drop whole oldest segments until the journal is at most this big.
    pub max_total_bytes: Option<u64>,
    /// Drop events older than this.
    pub max_age: Option<Duration>,
    /// Drop events of these types.
    pub drop_types: Vec<EventType>,
    /// "Now" for `max_age`, ns since the epoch (default: the clock).
    pub now_ns: Option<i64>,
}

/// What compaction did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct CompactReport {
    /// Segments before.
    pub segments_before: usize,
    /// Segments after.
    pub segments_after: usize,
    /// Segments rewritten.
    pub rewritten: Vec<PathBuf>,
    /// Segments deleted whole.
    pub deleted: Vec<PathBuf>,
    /// Events dropped.
    pub events_dropped: u64,
    /// Events kept in the rewritten segments.
    pub events_kept: u64,
    /// Transaction markers kept although a filter (type or age) matched them: without
    /// its marker a transaction's events would hold every read-committed reader back
    /// forever. Only removing whole segments removes markers.
    pub markers_kept: u64,
    /// Segment bytes before.
    pub bytes_before: u64,
    /// Segment bytes after.
    pub bytes_after: u64,
    /// Time taken.
    #[serde(skip)]
    pub elapsed: Duration,
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| RecoveryError::io("naming", path, std::io::Error::other("not a file name")))
}

/// Compacts the journal in `dir`, which must not be open by a writer.
pub fn compact(dir: &Path, options: &CompactOptions) -> Result<CompactReport> {
    let started = Instant::now();
    // Before the lock is taken: a wrong key changes nothing.
    crate::cipher_of(dir, options.key.as_ref(), true)?;
    let _lock = DirLock::acquire(dir)?;
    let meta = JournalMeta::load(dir)?;
    let (store, _) = Store::open_keyed(dir, OpenMode::Repair, options.key.as_ref())?;
    let segments = store.segments();
    let size = |s: &Segment| {
        std::fs::metadata(s.path())
            .map(|m| m.len())
            .unwrap_or(s.end())
    };
    let mut report = CompactReport {
        segments_before: segments.len(),
        bytes_before: segments.iter().map(|s| size(s)).sum(),
        ..Default::default()
    };
    let cutoff = options.max_age.map(|age| {
        options
            .now_ns
            .unwrap_or_else(vexfs_journal_storage::clock::now_ns)
            - i64::try_from(age.as_nanos()).unwrap_or(i64::MAX)
    });
    // Whole oldest segments go first, by size; the open segment always stays.
    let mut whole = vec![false; segments.len()];
    if let Some(max) = options.max_total_bytes {
        let mut total = report.bytes_before;
        for (i, seg) in segments.iter().enumerate() {
            if total <= max || !seg.is_sealed() {
                break;
            }
            whole[i] = true;
            total -= size(seg);
        }
    }
    let mut manifest = SwapManifest {
        reason: "compaction".into(),
        // Only sealed segments change: the open one's clean-shutdown marker stays true.
        keeps_open_segment: true,
        ..Default::default()
    };
    // The journal manifest after the swap: rewritten segments described anew, removed
    // sequences recorded as compaction's (never as loss), a new generation.
    let mut journal_manifest = match store.manifest() {
        Some(m) => m,
        None => {
            let floor = segments.last().map_or(1, |s| s.next_seq());
            manifest::describe(*meta.id.as_bytes(), &segments, floor)?
        }
    };
    journal_manifest.generation += 1;
    let mut swap: Option<Swap> = None;
    // Only the oldest segments are deleted whole: the journal then simply starts later.
    // A segment emptied further on is kept, empty and marked compacted, so the
    // sequences it covered stay accounted for (verify tells dropped from lost).
    let mut deleting_oldest = true;
    for (i, seg) in segments.iter().enumerate() {
        if !seg.is_sealed() {
            deleting_oldest = false;
            continue;
        }
        let blocks = seg.blocks().clone();
        let events: u64 = blocks.iter().map(|b| u64::from(b.event_count)).sum();
        let all_old = cutoff.is_some_and(|c| blocks.iter().all(|b| b.max_time < c));
        if deleting_oldest && (whole[i] || all_old || blocks.is_empty()) {
            journal_manifest
                .segments
                .retain(|e| e.first_seq != seg.first_seq());
            manifest::record_removal(
                &mut journal_manifest,
                seg.first_seq(),
                seg.next_seq(),
                RemovalReason::Compaction,
            );
            manifest.delete.push(file_name(seg.path())?);
            report.deleted.push(seg.path().to_path_buf());
            report.events_dropped += events;
            continue;
        }
        deleting_oldest = false;
        let maybe_old = cutoff.is_some_and(|c| blocks.iter().any(|b| b.min_time < c));
        if !maybe_old && options.drop_types.is_empty() {
            continue;
        }
        let swap = match &mut swap {
            Some(s) => s,
            None => swap.insert(Swap::begin(dir)?),
        };
        let name = file_name(seg.path())?;
        let (kept, dropped, markers) = rewrite(
            seg,
            &swap.path(&name),
            options,
            cutoff,
            &meta,
            store.cipher(),
        )?;
        report.markers_kept += markers;
        if dropped == 0 {
            // Nothing to drop after all: keep the original.
            let _ = std::fs::remove_file(swap.path(&name));
            continue;
        }
        report.events_dropped += dropped;
        report.events_kept += kept;
        let entry = describe_new(&swap.path(&name), seg.first_seq(), store.cipher())?;
        if let Some(e) = journal_manifest
            .segments
            .iter_mut()
            .find(|e| e.first_seq == seg.first_seq())
        {
            *e = entry;
        }
        manifest::record_removal(
            &mut journal_manifest,
            seg.first_seq(),
            seg.next_seq(),
            RemovalReason::Compaction,
        );
        manifest.replace.push(name);
        report.rewritten.push(seg.path().to_path_buf());
    }
    drop(store);
    let changed = !manifest.replace.is_empty() || !manifest.delete.is_empty();
    if changed {
        let swap = match swap {
            Some(s) => s,
            None => Swap::begin(dir)?,
        };
        manifest::write_file(&swap.path(MANIFEST_FILE), &journal_manifest)?;
        manifest.replace.push(MANIFEST_FILE.into());
        swap.commit(&manifest)?;
    } else if swap.is_some() {
        // Segments were written and nothing was to be dropped after all.
        vexfs_journal_storage::swap::apply_pending(dir, true)?;
    }
    let (after, _) = Store::open_keyed(dir, OpenMode::ReadOnly, options.key.as_ref())?;
    if changed {
        // Index the rewritten segments now, so the next command does not have to.
        vexfs_journal_index::Index::open(&after, true)?;
    }
    report.segments_after = after.segments().len();
    report.bytes_after = after.segments().iter().map(|s| size(s)).sum();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What the manifest records of a newly written sealed segment.
pub(crate) fn describe_new(
    path: &Path,
    first_seq: u64,
    cipher: Option<&vexfs_journal_storage::segment::SegmentCipher>,
) -> Result<ManifestSegment> {
    let ins = vexfs_journal_storage::inspect::inspect_with(path, first_seq, cipher)?;
    let header = ins
        .header
        .clone()
        .map_err(|e| vexfs_journal_storage::StorageError::format(path, 0, e))?;
    let blocks: Vec<_> = ins.blocks().copied().collect();
    Ok(manifest::entry_of(
        &header,
        first_seq,
        manifest::SegmentFacts::from_blocks(&blocks, first_seq, ins.file_len),
    ))
}

/// Writes `seg` without the dropped events to `to`; returns (kept, dropped, markers
/// kept although a filter matched them).
fn rewrite(
    seg: &Segment,
    to: &Path,
    options: &CompactOptions,
    cutoff: Option<i64>,
    meta: &JournalMeta,
    cipher: Option<&vexfs_journal_storage::segment::SegmentCipher>,
) -> Result<(u64, u64, u64)> {
    let header = FileHeader {
        flags: seg.header().flags | FLAG_COMPACTED,
        ..seg.header()
    };
    let settings = &meta.config;
    let mut writer =
        SegmentWriter::create(to, seg.first_seq(), &header, settings.compression, cipher)?;
    let (mut kept, mut dropped, mut markers) = (0u64, 0u64, 0u64);
    let mut pending = Vec::new();
    for b in seg.blocks().iter() {
        let data = seg.read_block(b)?;
        for item in split_events(&data.records) {
            let (_, bytes) = item.map_err(|e| {
                vexfs_journal_storage::StorageError::format(seg.path(), b.offset, e)
            })?;
            let v = RecordView::parse_trusted(bytes).map_err(|e| {
                vexfs_journal_storage::StorageError::format(seg.path(), b.offset, e)
            })?;
            let too_old = cutoff.is_some_and(|c| v.header.timestamp.ktime.get() < c);
            if too_old || options.drop_types.contains(&v.event_type()) {
                let subtype = v.header.event_subtype.get();
                let tx = v.raw_ext.cross_boundary_id.get();
                if matches!(role(v.event_type(), subtype, tx), TxRole::Marker(..)) {
                    markers += 1;
                } else {
                    dropped += 1;
                    continue;
                }
            }
            kept += 1;
            pending.extend_from_slice(bytes);
            if pending.len() >= meta.config.block_bytes {
                writer.push_records(&pending, settings)?;
                pending.clear();
            }
        }
    }
    writer.push_records(&pending, settings)?;
    writer.finish(true)?;
    Ok((kept, dropped, markers))
}
