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
use vexfs_journal_format::block::BlockHeader;
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{Compression, FileHeader};
use vexfs_journal_storage::JournalMeta;
use vexfs_journal_storage::dir::{DirLock, create_file, ensure_dir, list_segments, sync_dir};
use vexfs_journal_storage::inspect::{BlockReader, Inspection, Region, inspect};
use vexfs_journal_storage::rewrite::SegmentWriter;
use vexfs_journal_storage::segment::FLAG_SALVAGED;
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
pub struct SalvageReport {
    /// Segments inspected.
    pub segments: usize,
    /// Segments rewritten.
    pub rewritten: Vec<PathBuf>,
    /// Intact blocks kept.
    pub blocks_kept: u64,
    /// Events in them.
    pub events_kept: u64,
    /// Damaged regions set aside.
    pub lost: Vec<LostRange>,
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
            .map(|(a, b)| b - a + 1)
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
    let started = Instant::now();
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
    for (first, path) in &segments {
        let ins = inspect(path, *first)?;
        let blocks: Vec<BlockEntry> = ins.blocks().copied().collect();
        report.blocks_kept += blocks.len() as u64;
        report.events_kept += blocks.iter().map(|b| u64::from(b.event_count)).sum::<u64>();
        if !needs_rewrite(&ins) {
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
        let mut writer = SegmentWriter::create(&swap.path(&name), *first, &template, compression)?;
        let mut reader = BlockReader::open(path)?;
        for b in &blocks {
            writer.push_raw(b, &reader.raw(b)?)?;
        }
        if Some(*first) == last {
            // Events lost at the end of the newest segment keep their sequence numbers:
            // consumers may have seen them, so new events must not take them.
            writer.reserve_until(lost_end(dir, &ins)?);
        }
        // Every segment but the newest is sealed, as rotation would have left it.
        writer.finish(Some(*first) != last || ins.sealed)?;
        manifest.replace.push(name);
        report.rewritten.push(path.clone());
    }
    if let Some(swap) = swap {
        swap.commit(&manifest)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The sequence after the last event the damaged regions of `ins` may have held, as
/// far as can be known: the headers of damaged blocks that still parse, the segment's
/// own record of its next sequence, and the newest checkpoint's durable sequence.
fn lost_end(dir: &Path, ins: &Inspection) -> Result<u64> {
    let mut end = ins.header.as_ref().map_or(0, |h| h.next_event_id);
    // No checksum covers a block header, so one is believed only where it fits: it
    // starts right after the events before it and claims no more events than bytes.
    let mut expected = ins.first_seq;
    for region in &ins.regions {
        match region {
            Region::Block(b) => expected = b.last_seq + 1,
            Region::Damaged { offset, len, .. } => {
                let head = read_range(&ins.path, *offset, (*len).min(BLOCK_HEADER_SIZE as u64))?;
                if let Ok(h) = BlockHeader::parse(&head)
                    && h.block_id == expected
                    && u64::from(h.event_count) <= *len
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
