//! `verify`: an integrity report of a journal, read-only.
//!
//! Every segment is read whole: header, every block (checksum, decompression, every
//! record's structure and checksum, header/record agreement), the footer of sealed
//! segments against the blocks found, sequence continuity across blocks and segments,
//! the index files against the blocks, and the checkpoints. Time going backwards is a
//! note, not a problem (imported kernel events and clocks can do that). `deep` also
//! decodes every record into an event and re-encodes it, which must give the same bytes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use std::sync::Arc;
use vexfs_journal_cipher::JournalKey;
use vexfs_journal_format::block::split_events;
use vexfs_journal_format::file_header::{FLAG_COMPACTED, FLAG_SALVAGED};
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::record::RECORD_FLAG_GAP_BEFORE;
use vexfs_journal_format::record::{RecordView, encode_record};
use vexfs_journal_index::file as idx_file;
use vexfs_journal_index::idx_path;
use vexfs_journal_index::sealed::{IndexKey, read_all as read_index};
use vexfs_journal_storage::dir::list_segments;
use vexfs_journal_storage::inspect::{BlockReader, Inspection, Region, inspect_with};
use vexfs_journal_storage::segment::SegmentCipher;

use vexfs_journal_format::manifest::{Removal, RemovalReason};
use vexfs_journal_storage::JournalMeta;
use vexfs_journal_storage::manifest;

use crate::checkpoint;
use crate::error::Result;

/// What is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The segment header does not decode.
    Header,
    /// A block (or bytes where one should be) is damaged.
    Block,
    /// A record inside an intact block does not re-encode to its bytes (deep).
    Event,
    /// A sealed segment's footer is damaged or disagrees with its blocks.
    Footer,
    /// Sequences are missing between two blocks (not a drop-oldest, compaction or
    /// salvage gap).
    SequenceGap,
    /// Sequences repeat or go back between two blocks.
    SequenceOverlap,
    /// An index file is damaged or disagrees with its segment.
    Index,
    /// A checkpoint file is damaged.
    Checkpoint,
    /// The segment files differ from the manifest (missing, replaced, shortened or
    /// unexpected segments), or the manifest is damaged or missing.
    Manifest,
}

impl ProblemKind {
    /// Its name in reports (as in the JSON report).
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Header => "header",
            ProblemKind::Block => "block",
            ProblemKind::Event => "event",
            ProblemKind::Footer => "footer",
            ProblemKind::SequenceGap => "sequence-gap",
            ProblemKind::SequenceOverlap => "sequence-overlap",
            ProblemKind::Index => "index",
            ProblemKind::Checkpoint => "checkpoint",
            ProblemKind::Manifest => "manifest",
        }
    }
}

/// One problem: what, where, and which sequences it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Kind.
    pub kind: ProblemKind,
    /// The file.
    pub path: PathBuf,
    /// Byte offset in the file.
    pub offset: Option<u64>,
    /// Length of the damaged region.
    pub len: Option<u64>,
    /// Sequences concerned (inclusive), when known.
    pub seqs: Option<(u64, u64)>,
    /// Details.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.kind.name(), self.path.display())?;
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        if let Some(l) = self.len {
            write!(f, " ({l} bytes)")?;
        }
        if let Some((a, b)) = self.seqs {
            write!(f, ", sequences {a}..={b}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Something worth knowing that is not damage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The file.
    pub path: PathBuf,
    /// Byte offset.
    pub offset: u64,
    /// What.
    pub detail: String,
}

/// Per-segment totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SegmentSummary {
    /// The file.
    pub path: PathBuf,
    /// Sealed by rotation.
    pub sealed: bool,
    /// Intact blocks.
    pub blocks: u64,
    /// Events in them.
    pub events: u64,
    /// Damaged bytes.
    pub damaged_bytes: u64,
    /// First and last sequence found.
    pub seqs: Option<(u64, u64)>,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Journal directory.
    pub dir: PathBuf,
    /// Whether records were re-encoded.
    pub deep: bool,
    /// Segments.
    pub segments: Vec<SegmentSummary>,
    /// Problems (empty: the journal is clean).
    pub problems: Vec<Problem>,
    /// Notes.
    pub notes: Vec<Note>,
    /// Intact blocks.
    pub blocks: u64,
    /// Events in intact blocks.
    pub events: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Time taken.
    #[serde(serialize_with = "ser_secs")]
    pub elapsed: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl VerifyReport {
    /// No problem found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How to verify.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Re-encode every record.
    pub deep: bool,
    /// The journal's key (an encrypted journal's blocks are checked by decrypting
    /// them; without its key, verifying one is refused).
    pub key: Option<Arc<JournalKey>>,
}

/// Verifies the journal in `dir` without changing anything. `progress` gets
/// (segments done, segments total).
pub fn verify(
    dir: &Path,
    options: VerifyOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<VerifyReport> {
    let started = Instant::now();
    let mut report = VerifyReport {
        dir: dir.to_path_buf(),
        deep: options.deep,
        ..Default::default()
    };
    let cipher = crate::cipher_of(dir, options.key.as_ref(), false)?;
    let segments = list_segments(dir)?;
    let total = segments.len();
    let journal_manifest = match manifest::load(dir) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(problem(
                ProblemKind::Manifest,
                &dir.join(manifest::MANIFEST_FILE),
                None,
                e.to_string(),
            ));
            None
        }
    };
    let removals = journal_manifest
        .as_ref()
        .map(|m| m.removals.clone())
        .unwrap_or_default();
    let mut disk = Vec::with_capacity(segments.len());
    // The first segment's name is where the journal starts: events missing before its
    // first block (dropped by the drop-oldest policy, say) are a gap like any other.
    let mut expected_next: Option<u64> = segments.first().map(|(first, _)| *first);
    let mut last_time: Option<i64> = None;
    let mut ranges: Vec<(u64, u32)> = Vec::new();
    for (i, (first, path)) in segments.iter().enumerate() {
        let ins = inspect_with(path, *first, cipher.as_ref())?;
        report.bytes += ins.file_len;
        let flags = ins
            .header
            .as_ref()
            .map_or(0, |h| h.flags & (FLAG_COMPACTED | FLAG_SALVAGED));
        ranges.push((*first, flags));
        let blocks: Vec<BlockEntry> = ins.blocks().copied().collect();
        let damaged = ins.damaged().next().is_some()
            || ins.header.is_err()
            || matches!(&ins.footer, Some(Err(_)));
        disk.push(manifest::OnDisk {
            first_seq: *first,
            path: path.clone(),
            header: ins.header.clone(),
            facts: manifest::SegmentFacts::from_blocks(&blocks, *first, ins.file_len),
            repaired: damaged,
            damage_reported: damaged,
        });
        check_segment(
            &ins,
            &options,
            &mut report,
            &mut expected_next,
            &mut last_time,
            &ranges,
            Known {
                cipher: cipher.as_ref(),
                removals: &removals,
                tail_end: (i + 1 == total)
                    .then(|| journal_manifest.as_ref().map(|m| m.next_seq_floor))
                    .flatten(),
            },
        )?;
        progress(i + 1, total);
    }
    check_manifest(dir, journal_manifest.as_ref(), &disk, &mut report);
    check_checkpoints(dir, &mut report);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Why sequences `lo..hi` are missing, when the manifest recorded their removal.
fn recorded_removal(removals: &[Removal], lo: u64, hi: u64) -> Option<&'static str> {
    let mut at = lo;
    let mut why: Option<RemovalReason> = None;
    let mut sorted: Vec<&Removal> = removals.iter().collect();
    sorted.sort_by_key(|r| r.first_seq);
    for r in sorted {
        if r.first_seq <= at && r.end_seq > at {
            at = r.end_seq;
            why = match why {
                None => Some(r.reason),
                Some(w) if w == r.reason => Some(w),
                Some(w) if w.is_loss() || r.reason.is_loss() => Some(RemovalReason::Salvage),
                Some(w) => Some(w),
            };
        }
        if at >= hi {
            break;
        }
    }
    if at < hi {
        return None;
    }
    why.map(|r| match r {
        RemovalReason::Retention => "were deleted by retention",
        RemovalReason::Compaction => "were removed by compaction",
        RemovalReason::Salvage => "were lost to damage and set aside by salvage (see salvaged/)",
        RemovalReason::Rollback => "were rolled back to a checkpoint (moved aside)",
        RemovalReason::Reserved => "were reserved (never written, or lost with a segment)",
    })
}

/// Compares the segments found with the manifest.
fn check_manifest(
    dir: &Path,
    journal_manifest: Option<&vexfs_journal_format::manifest::Manifest>,
    disk: &[manifest::OnDisk],
    report: &mut VerifyReport,
) {
    let Some(m) = journal_manifest else {
        let needs = JournalMeta::load(dir).is_ok_and(|meta| meta.version >= 2);
        let has_events = disk.iter().any(|d| d.facts.events > 0);
        if needs
            && has_events
            && !report
                .problems
                .iter()
                .any(|p| p.kind == ProblemKind::Manifest)
        {
            report.problems.push(problem(
                ProblemKind::Manifest,
                &dir.join(manifest::MANIFEST_FILE),
                None,
                "the manifest is missing: removed or replaced segments cannot be ruled out; `recover --mode salvage` rebuilds it",
            ));
        }
        return;
    };
    for d in manifest::compare(m, dir, disk) {
        let path = match &d {
            manifest::Discrepancy::Missing { path, .. }
            | manifest::Discrepancy::Shortened { path, .. }
            | manifest::Discrepancy::Replaced { path, .. }
            | manifest::Discrepancy::Unexpected { path }
            | manifest::Discrepancy::Leftover { path }
            | manifest::Discrepancy::Unrecorded { path } => path.clone(),
        };
        if d.is_problem() {
            let mut p = problem(ProblemKind::Manifest, &path, None, d.to_string());
            p.seqs = d
                .lost()
                .map(|(a, b)| (a, b.unwrap_or(m.next_seq_floor.max(a + 1) - 1)));
            report.problems.push(p);
        } else {
            report.notes.push(Note {
                path,
                offset: 0,
                detail: format!("{d}; the next writer finishes it"),
            });
        }
    }
}

/// Why sequences `lo..=hi` are missing, when every segment whose range (from its first
/// sequence to the next segment's) meets them says so in its header: compaction removed
/// events, or salvage set damaged ones aside (and reported them). `ranges` lists the
/// segments up to the one being checked, oldest first, with those header flags.
fn deliberate_gap(ranges: &[(u64, u32)], lo: u64, hi: u64) -> Option<&'static str> {
    let start = ranges.iter().rposition(|(first, _)| *first <= lo)?;
    let mut seen = 0;
    for (_, flags) in ranges
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|(first, _)| *first <= hi)
    {
        if *flags == 0 {
            return None;
        }
        seen |= flags;
    }
    Some(
        match (seen & FLAG_COMPACTED != 0, seen & FLAG_SALVAGED != 0) {
            (true, false) => "were removed by compaction",
            (false, true) => "were lost to damage and set aside by salvage (see salvaged/)",
            _ => "were removed by compaction or lost to damage and set aside by salvage",
        },
    )
}

fn problem(
    kind: ProblemKind,
    path: &Path,
    offset: Option<u64>,
    detail: impl Into<String>,
) -> Problem {
    Problem {
        kind,
        path: path.to_path_buf(),
        offset,
        len: None,
        seqs: None,
        detail: detail.into(),
    }
}

/// What the manifest tells about a segment's missing sequences.
#[derive(Clone, Copy)]
struct Known<'a> {
    /// Ranges recorded as removed, and why.
    removals: &'a [Removal],
    /// For the newest segment: the sequence after the last one handed out.
    tail_end: Option<u64>,
    /// The cipher of the journal's blocks, when it is encrypted.
    cipher: Option<&'a SegmentCipher>,
}

fn check_segment(
    ins: &Inspection,
    options: &VerifyOptions,
    report: &mut VerifyReport,
    expected_next: &mut Option<u64>,
    last_time: &mut Option<i64>,
    ranges: &[(u64, u32)],
    known: Known<'_>,
) -> Result<()> {
    let Known {
        removals,
        tail_end,
        cipher,
    } = known;
    let path = &ins.path;
    let mut summary = SegmentSummary {
        path: path.clone(),
        sealed: ins.sealed,
        ..Default::default()
    };
    if let Err(e) = &ins.header {
        report
            .problems
            .push(problem(ProblemKind::Header, path, Some(0), e.to_string()));
    }
    let mut prev_last: Option<u64> = None;
    // Time going backwards between blocks: counted, and the largest step reported.
    let mut backwards = 0u64;
    let mut worst = (0i64, 0u64, 0u64);
    let blocks: Vec<BlockEntry> = ins.blocks().copied().collect();
    let mut reader = BlockReader::open_with(path, ins.first_seq, cipher)?;
    for region in &ins.regions {
        match region {
            Region::Damaged { offset, len, error } => {
                summary.damaged_bytes += len;
                // The sequences between the neighbouring intact blocks are lost.
                let after = blocks
                    .iter()
                    .find(|b| b.offset > *offset)
                    .map(|b| b.first_seq);
                // At the end of the journal, the sequences run up to what the manifest
                // recorded as handed out (the same bound salvage uses).
                let after = after.or(tail_end);
                let before = prev_last.map(|p| p + 1).or(tail_end.map(|_| ins.first_seq));
                let seqs = before
                    .zip(after.map(|a| a.saturating_sub(1)))
                    .filter(|(a, b)| a <= b);
                report.problems.push(Problem {
                    kind: ProblemKind::Block,
                    path: path.clone(),
                    offset: Some(*offset),
                    len: Some(*len),
                    seqs,
                    detail: error.to_string(),
                });
            }
            Region::Block(b) => {
                summary.blocks += 1;
                summary.events += u64::from(b.event_count);
                summary.seqs = Some(
                    summary
                        .seqs
                        .map_or((b.first_seq, b.last_seq), |(f, _)| (f, b.last_seq)),
                );
                if let Some(next) = *expected_next {
                    if b.first_seq < next {
                        let mut p = problem(
                            ProblemKind::SequenceOverlap,
                            path,
                            Some(b.offset),
                            format!(
                                "block starts at sequence {} but {} was already seen",
                                b.first_seq,
                                next - 1
                            ),
                        );
                        p.seqs = Some((b.first_seq, b.last_seq.min(next - 1)));
                        report.problems.push(p);
                    } else if b.first_seq > next {
                        let flagged = first_record_flags(&mut reader, b)
                            .is_some_and(|f| f & RECORD_FLAG_GAP_BEFORE != 0);
                        if flagged {
                            report.notes.push(Note {
                                path: path.clone(),
                                offset: b.offset,
                                detail: format!("sequences {next}..={} were dropped by the drop-oldest buffer policy", b.first_seq - 1),
                            });
                        } else if let Some(why) = recorded_removal(removals, next, b.first_seq)
                            .or_else(|| deliberate_gap(ranges, next, b.first_seq - 1))
                        {
                            report.notes.push(Note {
                                path: path.clone(),
                                offset: b.offset,
                                detail: format!("sequences {next}..={} {why}", b.first_seq - 1),
                            });
                        } else if !summary_has_damage_before(ins, b.offset) {
                            let mut p = problem(
                                ProblemKind::SequenceGap,
                                path,
                                Some(b.offset),
                                format!("sequences {next}..={} are missing", b.first_seq - 1),
                            );
                            p.seqs = Some((next, b.first_seq - 1));
                            report.problems.push(p);
                        }
                    }
                }
                *expected_next = Some(b.last_seq + 1);
                if let Some(t) = *last_time
                    && b.min_time < t
                {
                    backwards += 1;
                    if t - b.min_time > worst.0 {
                        worst = (t - b.min_time, b.offset, b.first_seq);
                    }
                }
                *last_time = Some(last_time.map_or(b.max_time, |t| t.max(b.max_time)));
                prev_last = Some(b.last_seq);
                if options.deep {
                    deep_check(ins, &mut reader, b, report)?;
                }
            }
        }
    }
    if let Some(footer) = &ins.footer {
        match footer {
            Err(e) => report
                .problems
                .push(problem(ProblemKind::Footer, path, None, e.to_string())),
            Ok(entries) if *entries != blocks => {
                let first_diff = entries
                    .iter()
                    .zip(&blocks)
                    .position(|(a, b)| a != b)
                    .unwrap_or(entries.len().min(blocks.len()));
                report.problems.push(problem(
                    ProblemKind::Footer,
                    path,
                    blocks.get(first_diff).map(|b| b.offset),
                    format!(
                        "footer lists {} blocks, the segment holds {} intact ones; first difference at block {first_diff}",
                        entries.len(),
                        blocks.len()
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    if backwards > 0 {
        report.notes.push(Note {
            path: path.clone(),
            offset: worst.1,
            detail: format!(
                "event time goes back {backwards} time(s) between blocks, by up to {:.3} ms (at sequence {}); concurrent producers and imported events do this",
                worst.0 as f64 / 1e6,
                worst.2
            ),
        });
    }
    check_index(ins, &blocks, cipher, report);
    report.blocks += summary.blocks;
    report.events += summary.events;
    report.segments.push(summary);
    Ok(())
}

fn summary_has_damage_before(ins: &Inspection, offset: u64) -> bool {
    // A gap right after a damaged region is that region's loss, already reported.
    let mut last_damaged = false;
    for r in &ins.regions {
        match r {
            Region::Block(b) if b.offset == offset => return last_damaged,
            Region::Block(_) => last_damaged = false,
            Region::Damaged { .. } => last_damaged = true,
        }
    }
    false
}

fn first_record_flags(reader: &mut BlockReader, b: &BlockEntry) -> Option<u32> {
    let records = reader.records(b).ok()?;
    let view = RecordView::parse_trusted(&records).ok()?;
    Some(view.ext().userspace_flags)
}

fn deep_check(
    ins: &Inspection,
    reader: &mut BlockReader,
    b: &BlockEntry,
    report: &mut VerifyReport,
) -> Result<()> {
    let Ok(records) = reader.records(b) else {
        return Ok(());
    };
    for item in split_events(&records) {
        let Ok((offset, bytes)) = item else { break };
        let outcome = RecordView::parse(bytes).map(|view| {
            let mut again = Vec::new();
            let same =
                encode_record(&view.to_event(), &view.ext(), &mut again).is_ok() && again == bytes;
            (view.ext().userspace_sequence, same)
        });
        match outcome {
            Ok((_, true)) => {}
            Ok((seq, false)) => {
                let mut p = problem(
                    ProblemKind::Event,
                    &ins.path,
                    Some(b.offset),
                    format!("record at byte {offset} of the block does not re-encode to its bytes"),
                );
                p.seqs = Some((seq, seq));
                report.problems.push(p);
            }
            Err(e) => report.problems.push(problem(
                ProblemKind::Event,
                &ins.path,
                Some(b.offset),
                format!("record at byte {offset} of the block: {e}"),
            )),
        }
    }
    Ok(())
}

fn check_index(
    ins: &Inspection,
    blocks: &[BlockEntry],
    cipher: Option<&SegmentCipher>,
    report: &mut VerifyReport,
) {
    let path = idx_path(&ins.path);
    let key = cipher.map(|c| IndexKey::new(c.key().clone(), c.journal()));
    let bytes = match read_index(&path, ins.first_seq, key.as_ref()) {
        Ok(b) => b,
        // Missing indexes are rebuilt on open; not damage.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            report.problems.push(problem(
                ProblemKind::Index,
                &path,
                Some(0),
                format!("index file of an encrypted journal unusable ({e}); it is rebuilt on open"),
            ));
            return;
        }
        Err(_) => return,
    };
    let header = match idx_file::decode_header(&bytes, bytes.len() as u64) {
        Ok(h) => h,
        // An index of version 1 (an older build's, without counts) is rebuilt on open,
        // like a missing one: not damage, when its own header checksum holds (a bit
        // flip never turns a current header into one).
        Err(vexfs_journal_format::FormatError::UnsupportedVersion { found: 1, .. })
            if is_version_1_header(&bytes) =>
        {
            return;
        }
        Err(e) => {
            report
                .problems
                .push(problem(ProblemKind::Index, &path, Some(0), e.to_string()));
            return;
        }
    };
    let (off, len, crc) = header.sections[idx_file::section::BLOCKS];
    let summaries = bytes
        .get(off as usize..(off + len) as usize)
        .ok_or_else(|| "block section outside the file".to_string())
        .and_then(|s| {
            idx_file::check_section(s, crc, "index")
                .map(|_| s)
                .map_err(|e| e.to_string())
        })
        .and_then(|s| idx_file::decode_summaries(s, header.block_count).map_err(|e| e.to_string()));
    let summaries = match summaries {
        Ok(s) => s,
        Err(e) => {
            report
                .problems
                .push(problem(ProblemKind::Index, &path, Some(off), e));
            return;
        }
    };
    let fits = summaries.len() <= blocks.len()
        && (!ins.sealed || summaries.len() == blocks.len())
        && summaries.iter().zip(blocks).all(|(s, b)| {
            s.first_seq == b.first_seq && s.last_seq == b.last_seq && s.count == b.event_count
        });
    if !fits {
        report.problems.push(problem(
            ProblemKind::Index,
            &path,
            None,
            match summaries.iter().zip(blocks).position(|(s, b)| {
                s.first_seq != b.first_seq || s.last_seq != b.last_seq || s.count != b.event_count
            }) {
                Some(i) => format!(
                    "index entry {i} describes sequences {}..={} but the segment's block {i} holds {}..={}; `vexjournal index rebuild` rewrites it",
                    summaries[i].first_seq, summaries[i].last_seq, blocks[i].first_seq, blocks[i].last_seq
                ),
                None => format!(
                    "index describes {} blocks, the segment has {}; `vexjournal index rebuild` rewrites it",
                    summaries.len(),
                    blocks.len()
                ),
            },
        ));
    }
    for (which, what) in [
        (idx_file::section::PATHS, "paths"),
        (idx_file::section::AGENTS, "agents"),
        (idx_file::section::TXS, "transactions"),
        (idx_file::section::COUNTS, "counts"),
        (idx_file::section::REFS, "causal references"),
        (idx_file::section::IDS, "foreign ids"),
    ] {
        let (off, len, crc) = header.sections[which];
        let ok = bytes
            .get(off as usize..(off + len) as usize)
            .is_some_and(|s| idx_file::check_section(s, crc, "index").is_ok());
        if !ok {
            report.problems.push(problem(
                ProblemKind::Index,
                &path,
                Some(off),
                format!("{what} section damaged"),
            ));
        }
    }
}

/// Whether `bytes` start with a checked version-1 index header (136 bytes, the crc32
/// of the first 128 at byte 128).
fn is_version_1_header(bytes: &[u8]) -> bool {
    let (Some(head), Some(crc)) = (bytes.get(..128), bytes.get(128..132)) else {
        return false;
    };
    <[u8; 4]>::try_from(crc)
        .is_ok_and(|c| u32::from_le_bytes(c) == vexfs_journal_format::checksum::kernel_crc32(head))
}

fn check_checkpoints(dir: &Path, report: &mut VerifyReport) {
    for entry in checkpoint::list(dir) {
        if let Err((path, why)) = entry {
            report
                .problems
                .push(problem(ProblemKind::Checkpoint, &path, None, why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FLAG_COMPACTED as C, FLAG_SALVAGED as S, deliberate_gap};

    #[test]
    fn gaps_are_excused_only_inside_compacted_or_salvaged_segments() {
        // Segments starting at 1 (compacted), 100 (plain), 200 (compacted, empty),
        // 300 (salvaged), 400 (plain).
        let r = [(1, C), (100, 0), (200, C), (300, S), (400, 0)];
        assert_eq!(
            deliberate_gap(&r, 5, 99),
            Some("were removed by compaction")
        );
        assert_eq!(
            deliberate_gap(&r, 5, 100),
            None,
            "reaches the plain segment"
        );
        assert_eq!(deliberate_gap(&r, 150, 160), None);
        assert!(deliberate_gap(&r, 200, 299).is_some());
        assert!(deliberate_gap(&r, 310, 320).is_some_and(|w| w.contains("salvage")));
        assert!(deliberate_gap(&r, 250, 350).is_some_and(|w| w.contains(" or ")));
        assert_eq!(deliberate_gap(&r, 250, 400), None);
        assert_eq!(
            deliberate_gap(&r[1..], 5, 10),
            None,
            "before the first segment"
        );
    }
}
