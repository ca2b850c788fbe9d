//! Bit rot: single-bit flips across a small multi-segment journal (64 KiB segments).
//!
//! - `every_flip_is_detected_and_pinpointed`: a dense sample of at least 10 000 bit
//!   positions (every bit of every segment header, every bit of the first block
//!   headers of each segment, random positions across block data and footers, and the
//!   index files). After each flip, `verify` must report it where it is: a flip in a
//!   block is found at block granularity (the block checksum covers the compressed
//!   data), so the report must name that block — its offset, its length, its
//!   sequences when known — and nothing else but the footer disagreeing with it; a
//!   flip in a segment header, a footer or an index file is reported as such.
//! - `salvage_recovers_every_undamaged_block`: one flipped bit in every block of the
//!   journal, and a sample of header and footer flips, each salvaged on its own copy:
//!   every event outside the damaged block is recovered, the lost range is exactly
//!   that block, and readers and writers open the result.
//!
//! Nothing may panic: every library call runs on damaged files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;
use vexfs_journal::format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal::{Journal, JournalReader, StoredEvent, VerifyOptions, salvage, verify};
use vexfs_journal_recovery::ProblemKind;
use vexfs_journal_testkit::{
    Rng, blocks::segment_blocks, copy_dir, files::header_of, flip_bit, segment_files, tagged,
};

/// What a byte of the journal belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Header,
    /// A block: (offset, size, first seq, last seq).
    Block(u64, u64, u64, u64),
    Footer,
    Index,
}

/// A block: (offset, size, first seq, last seq).
type Block = (u64, u64, u64, u64);

struct Layout {
    /// Per segment: path, length, blocks, whether sealed.
    segments: Vec<(PathBuf, u64, Vec<Block>, bool)>,
    indexes: Vec<(PathBuf, u64)>,
}

impl Layout {
    fn of(dir: &Path) -> Layout {
        let segments: Vec<_> = segment_files(dir)
            .into_iter()
            .map(|p| {
                let len = std::fs::metadata(&p).unwrap().len();
                let sealed = header_of(&p).flags & 1 != 0;
                let blocks = segment_blocks(&p);
                (p, len, blocks, sealed)
            })
            .collect();
        let indexes = segments
            .iter()
            .map(|(p, ..)| p.with_extension("idx"))
            .filter(|p| p.exists())
            .map(|p| {
                let len = std::fs::metadata(&p).unwrap().len();
                (p, len)
            })
            .collect();
        Layout { segments, indexes }
    }

    fn part(&self, seg: usize, byte: u64) -> Part {
        let (_, _, blocks, _) = &self.segments[seg];
        if byte < 128 {
            return Part::Header;
        }
        blocks
            .iter()
            .find(|b| (b.0..b.0 + b.1).contains(&byte))
            .map_or(Part::Footer, |b| Part::Block(b.0, b.1, b.2, b.3))
    }
}

/// A journal of three 64 KiB segments (two sealed, one open), closed cleanly, with
/// index files.
fn small_journal(dir: &Path) -> Vec<StoredEvent> {
    let j = Journal::create(dir, small_config()).unwrap();
    for i in 0..450 {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    j.close().unwrap();
    events
}

/// The flip positions: `(file, bit, part, segment index or usize::MAX for indexes)`.
fn positions(layout: &Layout, rng: &mut Rng) -> Vec<(PathBuf, u64, Part)> {
    let mut out = Vec::new();
    for (s, (path, len, blocks, _)) in layout.segments.iter().enumerate() {
        // Every bit of the segment header.
        for bit in 0..128 * 8 {
            out.push((path.clone(), bit, Part::Header));
        }
        // Every bit of the first two block headers.
        for b in blocks.iter().take(2) {
            for bit in b.0 * 8..(b.0 + 104) * 8 {
                out.push((path.clone(), bit, layout.part(s, bit / 8)));
            }
        }
        // Random bits anywhere in the file (data, block headers, footer).
        for _ in 0..1200 {
            let bit = rng.range(128 * 8, len * 8 - 1);
            out.push((path.clone(), bit, layout.part(s, bit / 8)));
        }
        // Random bits of the footer, if sealed.
        if let Some(end) = blocks.last().map(|b| b.0 + b.1)
            && end < *len
        {
            for _ in 0..300 {
                let bit = rng.range(end * 8, len * 8 - 1);
                out.push((path.clone(), bit, Part::Footer));
            }
        }
    }
    for (idx, len) in &layout.indexes {
        for _ in 0..150 {
            out.push((idx.clone(), rng.range(0, len * 8 - 1), Part::Index));
        }
    }
    out
}

// Checks I34 (docs/invariants.md).
#[test]
fn every_flip_is_detected_and_pinpointed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    small_journal(&dir);
    let layout = Layout::of(&dir);
    assert_eq!(
        layout.segments.len(),
        3,
        "two sealed segments and an open one"
    );
    assert!(layout.segments[..2].iter().all(|s| s.3) && !layout.segments[2].3);
    assert_eq!(layout.indexes.len(), 3);
    let clean = verify(&dir, VerifyOptions::default(), |_, _| {}).unwrap();
    assert!(clean.is_clean());

    let mut rng = Rng(0xB17_0007);
    let all = positions(&layout, &mut rng);
    assert!(all.len() >= 10_000, "{} positions", all.len());
    let started = Instant::now();
    let mut counts = [0usize; 4];
    let mut seqs_named = 0usize;
    for (path, bit, part) in &all {
        flip_bit(path, *bit);
        let r = verify(&dir, VerifyOptions::default(), |_, _| {}).unwrap();
        flip_bit(path, *bit);
        let at = format!(
            "bit {bit} (byte {}) of {} ({part:?})",
            bit / 8,
            path.display()
        );
        assert!(!r.is_clean(), "undetected flip at {at}");
        // Problems are reported on the damaged file — and, for a damaged block, on the
        // segment's index (which describes the block as it was) and, for the last block
        // of a segment, as the gap it leaves before the next segment.
        let idx = path.with_extension("idx");
        let block_seqs = match part {
            Part::Block(_, _, first, last) => Some((*first, *last)),
            _ => None,
        };
        assert!(
            r.problems.iter().all(|p| p.path == *path
                || (block_seqs.is_some() && p.path == idx && p.kind == ProblemKind::Index)
                || (block_seqs.is_some()
                    && p.kind == ProblemKind::SequenceGap
                    && p.seqs == block_seqs)),
            "{at}: problems reported elsewhere: {:?}",
            r.problems
        );
        match *part {
            Part::Header => {
                counts[0] += 1;
                assert!(
                    r.problems
                        .iter()
                        .any(|p| p.kind == ProblemKind::Header && p.offset == Some(0)),
                    "{at}: {:?}",
                    r.problems
                );
            }
            Part::Block(offset, size, first, last) => {
                counts[1] += 1;
                let blocks: Vec<_> = r
                    .problems
                    .iter()
                    .filter(|p| p.kind == ProblemKind::Block)
                    .collect();
                assert_eq!(blocks.len(), 1, "{at}: {:?}", r.problems);
                let p = blocks[0];
                assert_eq!(
                    (p.offset, p.len),
                    (Some(offset), Some(size)),
                    "{at}: the damaged block is pinpointed: {p}"
                );
                if let Some(seqs) = p.seqs {
                    assert_eq!(seqs, (first, last), "{at}: {p}");
                }
                // The lost sequences are named, by the block's problem or by the gap
                // before the next segment — unless the damaged block is the first of
                // its segment or the last of the journal (no intact neighbour in the
                // segment to bound them).
                let named = r.problems.iter().any(|q| q.seqs == Some((first, last)));
                if named {
                    seqs_named += 1;
                }
                // Besides it, only the footer, the index and that gap disagree with the
                // blocks that remain intact.
                for other in &r.problems {
                    assert!(
                        other == p
                            || other.kind == ProblemKind::Footer
                            || other.kind == ProblemKind::Index
                            || (other.kind == ProblemKind::SequenceGap
                                && other.seqs == Some((first, last))),
                        "{at}: unexpected {other}"
                    );
                }
            }
            Part::Footer => {
                counts[2] += 1;
                assert!(
                    r.problems.iter().all(|p| p.kind == ProblemKind::Footer),
                    "{at}: {:?}",
                    r.problems
                );
            }
            Part::Index => {
                counts[3] += 1;
                assert!(
                    r.problems.iter().all(|p| p.kind == ProblemKind::Index),
                    "{at}: {:?}",
                    r.problems
                );
            }
        }
    }
    // The journal is back as it was.
    assert!(
        verify(&dir, VerifyOptions::default(), |_, _| {})
            .unwrap()
            .is_clean()
    );
    eprintln!(
        "bit rot: {} flips (header {}, block {} [sequences named for {}], footer {}, index {}) \
         all detected and pinpointed in {:.1} s",
        all.len(),
        counts[0],
        counts[1],
        seqs_named,
        counts[2],
        counts[3],
        started.elapsed().as_secs_f64()
    );
}

// Checks I33 (docs/invariants.md).
#[test]
fn salvage_recovers_every_undamaged_block() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let events = small_journal(&base);
    let layout = Layout::of(&base);
    let mut rng = Rng(0x5A1_7A6E);
    // One random bit in every block of the journal, plus header and footer samples.
    let mut cases: Vec<(usize, u64, Part)> = Vec::new();
    for (s, (_, len, blocks, _)) in layout.segments.iter().enumerate() {
        for b in blocks {
            let bit = rng.range(b.0 * 8, (b.0 + b.1) * 8 - 1);
            cases.push((s, bit, Part::Block(b.0, b.1, b.2, b.3)));
        }
        for _ in 0..12 {
            cases.push((s, rng.range(0, 128 * 8 - 1), Part::Header));
        }
        if let Some(end) = blocks.last().map(|b| b.0 + b.1)
            && end < *len
        {
            for _ in 0..12 {
                cases.push((s, rng.range(end * 8, len * 8 - 1), Part::Footer));
            }
        }
    }
    let started = Instant::now();
    let scratch = tmp.path().join("scratch");
    for (n, (s, bit, part)) in cases.iter().enumerate() {
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch).unwrap();
        }
        copy_dir(&base, &scratch);
        let name = layout.segments[*s].0.file_name().unwrap();
        let path = scratch.join(name);
        flip_bit(&path, *bit);
        let at = format!("case {n}: bit {bit} of {} ({part:?})", path.display());
        // Readers on the damaged journal fail or read, never panic.
        if let Ok(r) = JournalReader::open(&scratch) {
            let _ = r.scan(0..u64::MAX).count();
        }
        let report = salvage(&scratch).unwrap_or_else(|e| panic!("{at}: salvage failed: {e}"));
        let expected: Vec<&StoredEvent> = match part {
            Part::Block(_, _, first, last) => events
                .iter()
                .filter(|e| e.seq < *first || e.seq > *last)
                .collect(),
            _ => events.iter().collect(),
        };
        match part {
            Part::Block(offset, size, first, last) => {
                assert_eq!(report.lost.len(), 1, "{at}: {:?}", report.lost);
                let l = &report.lost[0];
                assert_eq!((l.offset, l.len), (*offset, *size), "{at}");
                if let Some(seqs) = l.seqs {
                    assert_eq!(seqs, (*first, *last), "{at}");
                }
                assert_eq!(std::fs::metadata(&l.saved_to).unwrap().len(), *size, "{at}");
            }
            // A damaged header hides the footer of a sealed segment, whose bytes are
            // then set aside as not being blocks: no event goes with them.
            _ => assert!(
                report.lost.iter().all(|l| l.seqs.is_none()),
                "{at}: {:?}",
                report.lost
            ),
        }
        assert_eq!(report.rewritten, vec![path.clone()], "{at}");
        let got = read_all(&scratch);
        assert_eq!(
            got.len(),
            expected.len(),
            "{at}: every undamaged event recovered"
        );
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, *e, "{at}");
        }
        // The salvaged journal opens for writing and continues after its last event —
        // or, when the damage took the newest events, after those: their sequence
        // numbers stay theirs. Only a block header (which no checksum covers) that the
        // flip itself made unbelievable leaves salvage unable to tell how far they went.
        let j = Journal::open_existing(&scratch).unwrap_or_else(|e| panic!("{at}: {e}"));
        let seq = j.emit(tagged(7, 7)).unwrap();
        let after_kept = expected.last().unwrap().seq + 1;
        match part {
            Part::Block(offset, _, _, last) if *last >= after_kept => {
                if bit / 8 >= offset + BLOCK_HEADER_SIZE as u64 {
                    assert_eq!(seq, last + 1, "{at}: lost sequences are not reused");
                } else {
                    assert!(seq >= after_kept, "{at}");
                }
            }
            _ => assert_eq!(seq, after_kept, "{at}"),
        }
        j.close().unwrap();
    }
    eprintln!(
        "bit rot: {} salvages ({} blocks) recovered every undamaged block in {:.1} s",
        cases.len(),
        cases
            .iter()
            .filter(|c| matches!(c.2, Part::Block(..)))
            .count(),
        started.elapsed().as_secs_f64()
    );
}

/// A damaged block header in the middle of a segment may claim more events than fit
/// before the next intact block (no checksum covers it). Salvage must not believe it:
/// new events continue right after the journal's last event, not after the claim
/// (found by `salvage_recovers_every_undamaged_block` when its random bit hit the high
/// bit of `event_count`).
// Checks I33 (docs/invariants.md).
#[test]
fn a_damaged_header_claiming_past_the_next_intact_block_is_not_believed() {
    use vexfs_journal::format::BlockHeader;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let events = small_journal(&dir);
    let last_seg = segment_files(&dir).pop().unwrap();
    let blocks = segment_blocks(&last_seg);
    assert!(blocks.len() >= 3, "{blocks:?}");
    let (offset, _, first, last) = blocks[blocks.len() - 2];
    let mut bytes = std::fs::read(&last_seg).unwrap();
    let at = offset as usize;
    let mut h = BlockHeader::parse(&bytes[at..at + BLOCK_HEADER_SIZE]).unwrap();
    assert_eq!(
        (h.block_id, u64::from(h.event_count)),
        (first, last - first + 1)
    );
    // Damage the block's data so it is lost, and make its header claim 128 more events.
    bytes[at + BLOCK_HEADER_SIZE + 3] ^= 0x40;
    h.event_count += 128;
    bytes[at..at + BLOCK_HEADER_SIZE].copy_from_slice(&h.to_bytes());
    std::fs::write(&last_seg, &bytes).unwrap();
    salvage(&dir).unwrap();
    let j = Journal::open_existing(&dir).unwrap();
    let next = j.emit(tagged(7, 7)).unwrap();
    assert_eq!(next, events.last().unwrap().seq + 1);
    j.close().unwrap();
}
