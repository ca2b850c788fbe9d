//! `salvage`: keep every intact block, set damaged bytes aside, report what is lost.
//!
//! Every segment is inspected whole. A segment with damage (or a damaged header or
//! footer) is rewritten from its intact blocks, copied as stored, and the damaged bytes
//! are saved under `salvaged/` for inspection. The rewritten segments replace the old
//! ones in one atomic swap (storage `swap`), so a crash during salvage leaves the
//! journal as it was or fully salvaged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use std::sync::Arc;
use vexfs_journal_cipher::JournalKey;
use vexfs_journal_format::block::BlockHeader;
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::file_header::FLAG_SALVAGED;
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::manifest::{Manifest, RemovalReason, SegmentState};
use vexfs_journal_format::{Compression, FileHeader};
use vexfs_journal_storage::JournalMeta;
use vexfs_journal_storage::dir::CleanMarker;
use vexfs_journal_storage::dir::{DirLock, create_file, ensure_dir, list_segments, sync_dir};
use vexfs_journal_storage::inspect::{BlockReader, Inspection, Region, inspect_with};
use vexfs_journal_storage::manifest::{self, MANIFEST_FILE};
use vexfs_journal_storage::rewrite::SegmentWriter;
use vexfs_journal_storage::swap::{Swap, SwapManifest};

use crate::error::{RecoveryError, Result};

/// Where damaged bytes go.
pub const SALVAGED_DIR: &str = "salvaged";

/// A damaged region that salvage set aside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostRange {
    /// The segment it was in.
    pub segment: PathBuf,
    /// Byte offset in the old file.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Sequences lost with it (between the neighbouring intact blocks), when known.
    pub seqs: Option<(u64, u64)>,
    /// Where the bytes were saved.
    pub saved_to: PathBuf,
    /// What was wrong.
    pub reason: String,
}

/// What salvage did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SalvageReport {
    /// Segments inspected.
    pub segments: usize,
    /// Segments rewritten.
    pub rewritten: Vec<PathBuf>,
    /// Intact blocks kept.
    pub blocks_kept: u64,
    /// Events in them.
    pub events_kept: u64,
    /// Damaged regions set aside, and segments the manifest lists that are missing or
    /// shortened (`len` 0 and no saved file: there were no bytes to keep).
    pub lost: Vec<LostRange>,
    /// What salvage did to bring the manifest in line with the files (rebuilt it,
    /// reserved sequence numbers, moved an unexpected segment aside, …).
    pub manifest: Vec<String>,
    /// Time taken.
    #[serde(skip)]
    pub elapsed: Duration,
}

impl SalvageReport {
    /// Events lost (counted from the sequence gaps around the damage, when known).
    pub fn events_lost(&self) -> u64 {
        self.lost
            .iter()
            .filter_map(|l| l.seqs)
            .map(|(a, b)| (b + 1).saturating_sub(a))
            .sum()
    }
}

fn needs_rewrite(ins: &Inspection) -> bool {
    ins.header.is_err()
        || ins.damaged().next().is_some()
        || matches!(&ins.footer, Some(Err(_)))
        || matches!(&ins.footer, Some(Ok(f)) if !f.iter().eq(ins.blocks()))
}

/// Salvages the journal in `dir` (which must not be open by a writer).
pub fn salvage(dir: &Path) -> Result<SalvageReport> {
    salvage_keyed(dir, None)
}

/// [`salvage`] with the journal's key (required when it is encrypted).
pub fn salvage_keyed(dir: &Path, key: Option<&Arc<JournalKey>>) -> Result<SalvageReport> {
    let started = Instant::now();
    let cipher = crate::cipher_of(dir, key, true)?;
    let _lock = DirLock::acquire(dir)?;
    let segments = list_segments(dir)?;
    let mut report = SalvageReport {
        segments: segments.len(),
        ..Default::default()
    };
    let last = segments.last().map(|(f, _)| *f);
    let mut swap: Option<Swap> = None;
    let mut manifest = SwapManifest {
        reason: "salvage".into(),
        ..Default::default()
    };
    let mut disk = Vec::with_capacity(segments.len());
    let mut inspections = Vec::with_capacity(segments.len());
    for (first, path) in &segments {
        let ins = inspect_with(path, *first, cipher.as_ref())?;
        inspections.push((*first, path.clone(), ins.clone()));
        let blocks: Vec<BlockEntry> = ins.blocks().copied().collect();
        report.blocks_kept += blocks.len() as u64;
        report.events_kept += blocks.iter().map(|b| u64::from(b.event_count)).sum::<u64>();
        if !needs_rewrite(&ins) {
            disk.push(on_disk(&ins, path, false));
            continue;
        }
        let swap = match &mut swap {
            Some(s) => s,
            None => swap.insert(Swap::begin(dir)?),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                RecoveryError::io("naming", path, std::io::Error::other("not a file name"))
            })?;
        set_aside(dir, &ins, &name, &blocks, &mut report)?;
        let mut template = ins.header.clone().unwrap_or(FileHeader {
            next_event_id: *first,
            ..FileHeader::new()
        });
        template.flags |= FLAG_SALVAGED;
        let compression =
            Compression::from_code(template.compression_algorithm).unwrap_or(Compression::Lz4);
        let mut writer = SegmentWriter::create(
            &swap.path(&name),
            *first,
            &template,
            compression,
            cipher.as_ref(),
        )?;
        let mut reader = BlockReader::open_with(path, *first, cipher.as_ref())?;
        for b in &blocks {
            writer.push_raw(b, &reader.raw(b)?, cipher.as_ref().map(|c| (c, *first)))?;
        }
        if Some(*first) == last {
            // Events lost at the end of the newest segment keep their sequence numbers:
            // consumers may have seen them, so new events must not take them.
            writer.reserve_until(lost_end(dir, &ins)?);
        }
        // Every segment but the newest is sealed, as rotation would have left it.
        writer.finish(Some(*first) != last || ins.sealed)?;
        let rewritten = inspect_with(&swap.path(&name), *first, cipher.as_ref())?;
        let mut d = on_disk(&rewritten, path, true);
        d.path = path.clone();
        disk.push(d);
        manifest.replace.push(name);
        report.rewritten.push(path.clone());
    }
    let journal_manifest = reconcile(dir, &disk, &inspections, &mut manifest, &mut report)?;
    let swap = match swap {
        Some(s) => Some(s),
        None if journal_manifest.is_some() => Some(Swap::begin(dir)?),
        None => None,
    };
    if let Some(swap) = swap {
        if let Some(m) = &journal_manifest {
            manifest::write_file(&swap.path(MANIFEST_FILE), m)?;
            manifest.replace.push(MANIFEST_FILE.into());
        }
        swap.commit(&manifest)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn on_disk(ins: &Inspection, path: &Path, repaired: bool) -> manifest::OnDisk {
    let blocks: Vec<BlockEntry> = ins.blocks().copied().collect();
    manifest::OnDisk {
        first_seq: ins.first_seq,
        path: path.to_path_buf(),
        header: ins.header.clone(),
        facts: manifest::SegmentFacts::from_blocks(&blocks, ins.first_seq, ins.file_len),
        repaired,
        damage_reported: false,
    }
}

/// Brings the manifest in line with the segments salvage leaves (`disk`): every
/// listed segment that is missing or shorter is a reported loss, recorded in the
/// manifest so it is never reported again nor its numbers reused; an unexpected segment
/// is moved aside; a missing or damaged manifest is rebuilt, with the numbers past the
/// last segment reserved (acknowledged events may have been there). Returns the new
/// manifest when it must be written.
fn reconcile(
    dir: &Path,
    disk: &[manifest::OnDisk],
    inspections: &[(u64, PathBuf, Inspection)],
    swap: &mut SwapManifest,
    report: &mut SalvageReport,
) -> Result<Option<Manifest>> {
    let meta = JournalMeta::load(dir)?;
    let disk_next = disk.iter().map(|d| d.facts.next_seq).max().unwrap_or(1);
    let describe = |floor: u64| -> Result<Manifest> {
        let mut m = Manifest {
            journal_id: *meta.id.as_bytes(),
            next_seq_floor: floor,
            updated_ns: vexfs_journal_storage::clock::now_ns(),
            ..Manifest::default()
        };
        for d in disk {
            if let Ok(h) = &d.header {
                m.segments.push(manifest::entry_of(h, d.first_seq, d.facts));
            }
        }
        Ok(m)
    };
    let old = match manifest::load(dir) {
        Ok(m) => m,
        Err(e) => {
            report.manifest.push(format!(
                "the manifest was unreadable ({e}); rebuilt from the segments"
            ));
            None
        }
    };
    let Some(old) = old else {
        let has_events = disk.iter().any(|d| d.facts.events > 0);
        if meta.version < 2 || !has_events {
            // A journal from before manifests (its writer migrates it) or an empty one.
            return Ok(None);
        }
        if report.manifest.is_empty() {
            report
                .manifest
                .push("the manifest was missing; rebuilt from the segments".into());
        }
        // A clean shutdown recorded which segment was the newest and where it ended: if
        // it still is the newest, no later segment went with the manifest, and the end
        // it recorded is exact (anything cut from it since is a reported loss).
        let marker = CleanMarker::read(dir)
            .filter(|c| disk.last().is_some_and(|l| l.first_seq == c.first_seq));
        if let Some(c) = marker {
            let recorded_next = c.blocks.last().map_or(c.first_seq, |b| b.last_seq + 1);
            let end = disk_next.max(recorded_next);
            let mut m = describe(end)?;
            m.generation = 1;
            if recorded_next > disk_next {
                let path = dir.join(vexfs_journal_storage::dir::segment_name(c.first_seq));
                let covered = report.lost.iter().any(|l| {
                    l.seqs
                        .is_some_and(|(x, y)| x <= disk_next && recorded_next - 1 <= y)
                });
                if !covered {
                    report.lost.push(LostRange {
                        segment: path.clone(),
                        offset: 0,
                        len: 0,
                        seqs: Some((disk_next, recorded_next - 1)),
                        saved_to: PathBuf::new(),
                        reason: format!(
                            "{} ends before sequence {} that the clean-shutdown marker recorded",
                            path.display(),
                            recorded_next - 1
                        ),
                    });
                }
                manifest::record_removal(&mut m, disk_next, recorded_next, RemovalReason::Salvage);
            }
            return Ok(Some(m));
        }
        // Segments past the last one may have been lost with the manifest: their
        // numbers are reserved so that none is handed out twice.
        let end = disk_next + manifest::UNKNOWN_TAIL_RESERVE;
        let mut m = describe(end)?;
        m.generation = 1;
        manifest::record_removal(&mut m, disk_next, end, RemovalReason::Reserved);
        report.manifest.push(format!(
            "sequence numbers {disk_next}..={} reserved (no event has them): later segments may have gone with the manifest",
            end - 1
        ));
        return Ok(Some(m));
    };
    let found = manifest::compare(&old, dir, disk);
    let clean_open = CleanMarker::read(dir).map(|c| c.first_seq);
    if found.is_empty() && report.lost.is_empty() && report.rewritten.is_empty() {
        return Ok(None);
    }
    let mut m = describe(old.next_seq_floor)?;
    m.generation = old.generation + 1;
    m.removals = old.removals.clone();
    // Losses inside rewritten segments (damaged blocks) first; the tail of the newest
    // segment up to what the manifest knew was acknowledged counts too.
    let floor = old.next_seq_floor;
    for l in report.lost.iter_mut() {
        if l.seqs.is_none()
            && let Some((_, _, ins)) = inspections.iter().find(|(_, p, _)| *p == l.segment)
        {
            let before = ins
                .blocks()
                .filter(|b| b.offset < l.offset)
                .map(|b| b.last_seq + 1)
                .max()
                .unwrap_or(ins.first_seq);
            // Damage at the end of a segment: up to what is known to have been
            // handed out (the manifest's floor, damaged block headers that still
            // parse, the segment header, the newest checkpoint) or, for an older
            // segment, up to the next segment.
            let next_segment = inspections
                .iter()
                .map(|(f, _, _)| *f)
                .filter(|f| *f > ins.first_seq)
                .min();
            let after = match ins.blocks().find(|b| b.offset > l.offset) {
                Some(b) => b.first_seq,
                None => match next_segment {
                    Some(n) => n,
                    None => floor.max(lost_end(dir, ins)?),
                },
            };
            if after > before {
                l.seqs = Some((before, after - 1));
            }
        }
        if let Some((a, b)) = l.seqs {
            manifest::record_removal(&mut m, a, b + 1, RemovalReason::Salvage);
        }
    }
    for d in found {
        match &d {
            manifest::Discrepancy::Missing { path, seqs } => {
                let (a, end) = match seqs {
                    (a, Some(b)) => (*a, b + 1),
                    (a, None) if clean_open == Some(*a) => {
                        // Closed cleanly: the manifest's floor is exactly where it ended.
                        (*a, floor.max(*a))
                    }
                    (a, None) => {
                        let end = floor.max(*a) + manifest::UNKNOWN_TAIL_RESERVE;
                        report.manifest.push(format!(
                            "the open segment {} is missing and the journal was not closed cleanly: how many numbers it used is unknown, so {a}..={} are reserved (no new event gets one)",
                            path.display(),
                            end - 1
                        ));
                        manifest::record_removal(&mut m, *a, end, RemovalReason::Reserved);
                        m.next_seq_floor = m.next_seq_floor.max(end);
                        // The loss itself: from its first sequence up to what was
                        // known to be handed out.
                        (*a, floor.max(*a + 1))
                    }
                };
                let already = report
                    .lost
                    .iter()
                    .any(|l| l.seqs.is_some_and(|(x, _)| x == a));
                if !already {
                    report.lost.push(LostRange {
                        segment: path.clone(),
                        offset: 0,
                        len: 0,
                        seqs: Some((a, end - 1)),
                        saved_to: PathBuf::new(),
                        reason: d.to_string(),
                    });
                }
                manifest::record_removal(&mut m, a, end, RemovalReason::Salvage);
                m.next_seq_floor = m.next_seq_floor.max(end);
            }
            manifest::Discrepancy::Shortened { path, seqs: (a, b) } => {
                let covered = report
                    .lost
                    .iter()
                    .any(|l| l.seqs.is_some_and(|(x, y)| x <= *a && *b <= y));
                if !covered {
                    report.lost.push(LostRange {
                        segment: path.clone(),
                        offset: 0,
                        len: 0,
                        seqs: Some((*a, *b)),
                        saved_to: PathBuf::new(),
                        reason: d.to_string(),
                    });
                    manifest::record_removal(&mut m, *a, b + 1, RemovalReason::Salvage);
                }
            }
            manifest::Discrepancy::Replaced { path, .. } => {
                // Not what was acknowledged: set aside, and what the manifest recorded
                // of it is a reported loss.
                let out_dir = dir.join(SALVAGED_DIR);
                ensure_dir(&out_dir)?;
                let name = path.file_name().map(PathBuf::from).unwrap_or_default();
                let to = out_dir.join(name.with_extension("seg.replaced"));
                std::fs::rename(path, &to)
                    .map_err(|e| RecoveryError::io("moving aside", path, e))?;
                let idx = path.with_extension("idx");
                if idx.exists() {
                    let _ = std::fs::remove_file(&idx);
                }
                let old_entry = old
                    .segments
                    .iter()
                    .find(|e| {
                        dir.join(vexfs_journal_storage::dir::segment_name(e.first_seq)) == *path
                    })
                    .copied();
                m.segments.retain(|e| {
                    dir.join(vexfs_journal_storage::dir::segment_name(e.first_seq)) != *path
                });
                if let Some(e) = old_entry {
                    let end = match e.state {
                        SegmentState::Sealed => e.next_seq,
                        SegmentState::Open => floor.max(e.first_seq + 1),
                    };
                    if end > e.first_seq {
                        report.lost.push(LostRange {
                            segment: path.clone(),
                            offset: 0,
                            len: 0,
                            seqs: Some((e.first_seq, end - 1)),
                            saved_to: to.clone(),
                            reason: d.to_string(),
                        });
                        manifest::record_removal(&mut m, e.first_seq, end, RemovalReason::Salvage);
                    }
                }
                report
                    .manifest
                    .push(format!("{d}: moved to {}", to.display()));
            }
            manifest::Discrepancy::Unexpected { path } => {
                let out_dir = dir.join(SALVAGED_DIR);
                ensure_dir(&out_dir)?;
                let name = path.file_name().map(PathBuf::from).unwrap_or_default();
                let to = out_dir.join(name.with_extension("seg.unexpected"));
                std::fs::rename(path, &to)
                    .map_err(|e| RecoveryError::io("moving aside", path, e))?;
                let idx = path.with_extension("idx");
                if idx.exists() {
                    let _ = std::fs::remove_file(&idx);
                }
                m.segments.retain(|e| {
                    dir.join(vexfs_journal_storage::dir::segment_name(e.first_seq)) != *path
                });
                report
                    .manifest
                    .push(format!("{d}: moved to {}", to.display()));
            }
            manifest::Discrepancy::Leftover { path } => {
                if let Some(n) = path.file_name().and_then(|n| n.to_str()) {
                    swap.delete.push(n.to_string());
                }
                m.segments.retain(|e| {
                    dir.join(vexfs_journal_storage::dir::segment_name(e.first_seq)) != *path
                });
            }
            manifest::Discrepancy::Unrecorded { .. } => {}
        }
    }
    sync_dir(dir)?;
    m.next_seq_floor = m.next_seq_floor.max(disk_next);
    Ok(Some(m))
}

/// The sequence after the last event the damaged regions of `ins` may have held, as
/// far as can be known: the headers of damaged blocks that still parse, the segment's
/// own record of its next sequence, and the newest checkpoint's durable sequence.
fn lost_end(dir: &Path, ins: &Inspection) -> Result<u64> {
    let mut end = ins.header.as_ref().map_or(0, |h| h.next_event_id);
    // No checksum covers a block header, so one is believed only where it fits: it
    // starts right after the events before it, claims no more events than bytes, and
    // ends before the next intact block begins.
    let mut expected = ins.first_seq;
    for (i, region) in ins.regions.iter().enumerate() {
        match region {
            Region::Block(b) => expected = b.last_seq + 1,
            Region::Damaged { offset, len, .. } => {
                let head = read_range(&ins.path, *offset, (*len).min(BLOCK_HEADER_SIZE as u64))?;
                let next_intact = ins.regions[i + 1..].iter().find_map(|r| match r {
                    Region::Block(b) => Some(b.first_seq),
                    Region::Damaged { .. } => None,
                });
                if let Ok(h) = BlockHeader::parse(&head)
                    && h.block_id == expected
                    && u64::from(h.event_count) <= *len
                    && next_intact.is_none_or(|n| h.block_id + u64::from(h.event_count) <= n)
                {
                    expected = h.block_id + u64::from(h.event_count);
                    end = end.max(expected);
                }
            }
        }
    }
    if let Ok(meta) = JournalMeta::load(dir)
        && let Some(c) = crate::checkpoint::latest_valid(dir, meta.id)
    {
        end = end.max(c.durable_seq);
    }
    Ok(end)
}

fn set_aside(
    dir: &Path,
    ins: &Inspection,
    name: &str,
    blocks: &[BlockEntry],
    report: &mut SalvageReport,
) -> Result<()> {
    let out_dir = dir.join(SALVAGED_DIR);
    ensure_dir(&out_dir)?;
    let mut prev_last: Option<u64> = None;
    for region in &ins.regions {
        match region {
            Region::Block(b) => prev_last = Some(b.last_seq),
            Region::Damaged { offset, len, error } => {
                let bytes = read_range(&ins.path, *offset, *len)?;
                let saved_to = out_dir.join(format!("{name}.{offset}.damaged"));
                let mut f = create_file(&saved_to)?;
                f.write_all(&bytes)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| RecoveryError::io("writing", &saved_to, e))?;
                let after = blocks
                    .iter()
                    .find(|b| b.offset > *offset)
                    .map(|b| b.first_seq);
                let seqs = prev_last
                    .map(|p| p + 1)
                    .zip(after.map(|a| a.saturating_sub(1)))
                    .filter(|(a, b)| a <= b);
                report.lost.push(LostRange {
                    segment: ins.path.clone(),
                    offset: *offset,
                    len: *len,
                    seqs,
                    saved_to,
                    reason: error.to_string(),
                });
            }
        }
    }
    sync_dir(&out_dir)?;
    Ok(())
}

fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).map_err(|e| RecoveryError::io("opening", path, e))?;
    let mut buf = vec![0u8; len as usize];
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RecoveryError::io("reading", path, e)),
        }
    }
    buf.truncate(done);
    Ok(buf)
}
