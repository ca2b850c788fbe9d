//! `verify`: a clean journal is clean (also `deep`, also while open); each kind of
//! damage is reported with its file, offset and the sequences concerned; drop-oldest
//! gaps are notes, not problems; verify changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use vexfs_journal::{Config, FullPolicy, Journal, VerifyOptions, verify};
use vexfs_journal_recovery::{Problem, ProblemKind, VerifyReport};
use vexfs_journal_testkit::{blocks::segment_blocks, copy_dir, flip_bit, segment_files, tagged};

fn check(dir: &Path, deep: bool) -> VerifyReport {
    let mut calls = Vec::new();
    let options = VerifyOptions {
        deep,
        ..VerifyOptions::default()
    };
    let r = verify(dir, options, |done, total| calls.push((done, total))).unwrap();
    let n = segment_files(dir).len();
    assert_eq!(
        calls,
        (1..=n).map(|d| (d, n)).collect::<Vec<_>>(),
        "progress"
    );
    r
}

/// A closed journal with sealed segments, index files and a checkpoint.
fn fixture(dir: &Path) -> Vec<vexfs_journal::StoredEvent> {
    let j = Journal::create(dir, small_config()).unwrap();
    for i in 0..500 {
        j.emit(tagged(0, i)).unwrap();
    }
    j.create_checkpoint().unwrap();
    for i in 500..700 {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    j.close().unwrap();
    events
}

// Checks I34 (docs/invariants.md).
#[test]
fn a_clean_journal_is_clean_deep_or_not_open_or_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let events = fixture(tmp.path());
    for deep in [false, true] {
        let r = check(tmp.path(), deep);
        assert!(r.is_clean(), "{:?}", r.problems);
        assert_eq!(r.deep, deep);
        assert_eq!(r.events, events.len() as u64);
        assert_eq!(r.segments.len(), segment_files(tmp.path()).len());
        let blocks: u64 = segment_files(tmp.path())
            .iter()
            .map(|s| segment_blocks(s).len() as u64)
            .sum();
        assert_eq!(r.blocks, blocks);
        for (s, path) in r.segments.iter().zip(segment_files(tmp.path())) {
            assert_eq!(s.path, path);
            assert_eq!(s.damaged_bytes, 0);
        }
        let sealed = r.segments.iter().filter(|s| s.sealed).count();
        assert_eq!(sealed, r.segments.len() - 1);
        assert_eq!(r.segments[0].seqs.unwrap().0, 1);
        assert_eq!(
            r.segments.last().unwrap().seqs.unwrap().1,
            events.len() as u64
        );
    }
    // While a writer has it open.
    let j = Journal::open_existing(tmp.path()).unwrap();
    j.emit(tagged(1, 1)).unwrap();
    let r = j.verify(true).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.events, events.len() as u64 + 1);
    j.close().unwrap();
}

fn only(r: &VerifyReport, kind: ProblemKind) -> Vec<&Problem> {
    r.problems.iter().filter(|p| p.kind == kind).collect()
}

// Checks I34 (docs/invariants.md).
#[test]
fn each_kind_of_damage_is_reported_with_file_offset_and_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    fixture(&base);
    let segs = segment_files(&base);
    assert!(segs.len() >= 4);
    let name = |p: &Path| p.file_name().unwrap().to_owned();
    let copy = |what: &str| -> PathBuf {
        let d = tmp.path().join(what);
        copy_dir(&base, &d);
        d
    };

    // Segment header.
    let d = copy("header");
    flip_bit(&d.join(name(&segs[1])), 20 * 8 + 4);
    let r = check(&d, false);
    let p = only(&r, ProblemKind::Header);
    assert_eq!(p.len(), 1, "{:?}", r.problems);
    assert_eq!(
        (&p[0].path, p[0].offset),
        (&d.join(name(&segs[1])), Some(0))
    );
    assert!(p[0].to_string().contains("at byte 0"), "{}", p[0]);

    // A block in the middle of a sealed segment: offset, length and its sequences.
    let d = copy("block");
    let blocks = segment_blocks(&segs[2]);
    let b = blocks[blocks.len() / 2];
    flip_bit(&d.join(name(&segs[2])), (b.0 + b.1 - 5) * 8);
    let r = check(&d, false);
    let p = only(&r, ProblemKind::Block);
    assert_eq!(p.len(), 1, "{:?}", r.problems);
    assert_eq!(p[0].path, d.join(name(&segs[2])));
    assert_eq!(
        (p[0].offset, p[0].len, p[0].seqs),
        (Some(b.0), Some(b.1), Some((b.2, b.3)))
    );
    let text = p[0].to_string();
    assert!(
        text.contains(&format!("at byte {}", b.0))
            && text.contains(&format!("sequences {}..={}", b.2, b.3)),
        "{text}"
    );
    // The footer no longer matches the intact blocks: reported too.
    assert_eq!(only(&r, ProblemKind::Footer).len(), 1, "{:?}", r.problems);
    assert_eq!(r.segments[2].damaged_bytes, b.1);
    // Deep verification reports the same, without inventing event problems.
    let rd = check(&d, true);
    assert_eq!(rd.problems, r.problems);

    // Footer.
    let d = copy("footer");
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    flip_bit(&d.join(name(&segs[0])), (len - 20) * 8);
    let r = check(&d, false);
    let p = only(&r, ProblemKind::Footer);
    assert_eq!(p.len(), 1, "{:?}", r.problems);
    assert_eq!(p[0].path, d.join(name(&segs[0])));
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);

    // A missing segment: the sequences between its neighbours.
    let d = copy("gap");
    let gone = segment_blocks(&segs[1]);
    std::fs::remove_file(d.join(name(&segs[1]))).unwrap();
    let r = check(&d, false);
    let p = only(&r, ProblemKind::SequenceGap);
    assert_eq!(p.len(), 1, "{:?}", r.problems);
    assert_eq!(p[0].path, d.join(name(&segs[2])));
    assert_eq!(p[0].offset, Some(128));
    assert_eq!(p[0].seqs, Some((gone[0].2, gone.last().unwrap().3)));

    // Sequences repeated: a copy of segment 1 placed after the newest segment.
    let d = copy("overlap");
    let dup = d.join(format!("{:020}.seg", 999_999));
    std::fs::copy(d.join(name(&segs[1])), &dup).unwrap();
    let r = check(&d, false);
    let p = only(&r, ProblemKind::SequenceOverlap);
    assert!(!p.is_empty(), "{:?}", r.problems);
    assert_eq!(p[0].path, dup);
    assert_eq!(p[0].offset, Some(128));
    let b1 = segment_blocks(&segs[1])[0];
    assert_eq!(p[0].seqs, Some((b1.2, b1.3)));

    // Index file.
    let d = copy("index");
    let idx = d.join(name(&segs[0])).with_extension("idx");
    assert!(idx.exists());
    let len = std::fs::metadata(&idx).unwrap().len();
    flip_bit(&idx, (len / 2) * 8 + 3);
    let r = check(&d, false);
    let p = only(&r, ProblemKind::Index);
    assert!(!p.is_empty(), "{:?}", r.problems);
    assert_eq!(p[0].path, idx);
    // A missing index is rebuilt on open: not a problem.
    let d = copy("no-index");
    std::fs::remove_file(d.join(name(&segs[0])).with_extension("idx")).unwrap();
    assert!(check(&d, false).is_clean());
    // So is an index of an older version (it has no counts section).
    let d = copy("old-index");
    let idx = d.join(name(&segs[0])).with_extension("idx");
    let mut bytes = std::fs::read(&idx).unwrap();
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    let crc = vexfs_journal_format::checksum::kernel_crc32(&bytes[..128]);
    bytes[128..132].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&idx, bytes).unwrap();
    assert!(check(&d, false).is_clean());

    // Checkpoint.
    let d = copy("checkpoint");
    let ckpt = d.join("checkpoints").join("0000000001.ckpt");
    flip_bit(&ckpt, 300);
    let r = check(&d, false);
    let p = only(&r, ProblemKind::Checkpoint);
    assert_eq!(p.len(), 1, "{:?}", r.problems);
    assert_eq!(p[0].path, ckpt);
    assert_eq!(r.problems.len(), 1);

    // Verify never changes anything.
    let d = tmp.path().join("block");
    let before: Vec<Vec<u8>> = segment_files(&d)
        .iter()
        .map(|s| std::fs::read(s).unwrap())
        .collect();
    check(&d, true);
    let after: Vec<Vec<u8>> = segment_files(&d)
        .iter()
        .map(|s| std::fs::read(s).unwrap())
        .collect();
    assert_eq!(before, after);
}

// Checks I5 (docs/invariants.md).
/// Events discarded by the drop-oldest buffer policy leave a gap the first record
/// after it declares: a note, not a problem.
#[test]
fn drop_oldest_gaps_are_notes_not_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        buffer_capacity: 8,
        full_policy: FullPolicy::DropOldest,
        ..small_config()
    };
    let j = Journal::create(tmp.path(), config).unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let j = j.clone();
            std::thread::spawn(move || {
                for i in 0..3000 {
                    j.emit(tagged(p, i)).unwrap();
                }
            })
        })
        .collect();
    for h in producers {
        h.join().unwrap();
    }
    j.sync().unwrap();
    let dropped = j.metrics().events_dropped;
    j.close().unwrap();
    let r = check(tmp.path(), false);
    assert!(r.is_clean(), "{:?}", r.problems);
    if dropped > 0 {
        assert!(
            r.notes.iter().any(|n| n.detail.contains("drop-oldest")),
            "{dropped} dropped: {:?}",
            r.notes
        );
    } else {
        eprintln!("no event was dropped this time; the note was not exercised");
    }
}
