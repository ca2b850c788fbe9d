//! Recovery modes on crash images of real journals:
//!
//! - tolerate-tail cuts a torn tail into `*.torn` (the bytes kept) and refuses damage
//!   followed by intact fsynced data, changing nothing;
//! - absolute refuses any damage with the full report and changes no file, and opens a
//!   crashed but undamaged journal;
//! - salvage keeps every intact block wherever the damage is (sealed blocks, footers,
//!   the middle of the open segment), sets the damaged bytes aside and reports the lost
//!   ranges; the journal continues after it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use vexfs_journal::{Journal, JournalError, RecoveryMode, StorageError};
use vexfs_journal_recovery::{ProblemKind, RecoveryError};
use vexfs_journal_testkit::{
    blocks::segment_blocks, copy_dir, flip_bit, noise, segment_files, tagged,
};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

/// A crashed journal in `dir`: `n` durable events, several segments, the last one
/// open. Returns the events.
fn crashed(tmp: &Path, dir: &Path, n: u64) -> Vec<vexfs_journal::StoredEvent> {
    let live = tmp.join(format!(
        "live-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let j = Journal::create(&live, small_config()).unwrap();
    for i in 0..n {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    crash_image(&j, dir);
    j.close().unwrap();
    assert!(segment_files(dir).len() >= 3, "several segments");
    events
}

/// Rewrites the segment header's record of how far the segment was fsynced.
fn set_journal_size(seg: &Path, size: u64) {
    use std::os::unix::fs::FileExt;
    use vexfs_journal::format::FileHeader;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(seg)
        .unwrap();
    let mut head = [0u8; 128];
    f.read_exact_at(&mut head, 0).unwrap();
    let h = FileHeader {
        journal_size: size,
        ..FileHeader::parse(&head).unwrap()
    };
    f.write_all_at(&h.to_bytes(), 0).unwrap();
}

fn open(dir: &Path, mode: RecoveryMode) -> Result<Journal, JournalError> {
    Journal::open_existing_with(dir, mode, 0)
}

// Checks I13 (docs/invariants.md).
#[test]
fn tolerate_tail_cuts_a_torn_tail_into_a_torn_file() {
    let tmp = tempfile::tempdir().unwrap();
    for case in ["garbage", "zeros then garbage", "cut-block"] {
        let dir = tmp.path().join(case);
        let events = crashed(tmp.path(), &dir, 400);
        let seg = segment_files(&dir).pop().unwrap();
        let len = std::fs::metadata(&seg).unwrap().len();
        let last_block = *segment_blocks(&seg).last().unwrap();
        let (tail, keep) = match case {
            "garbage" => (noise(7, 3000), events.len()),
            "zeros then garbage" => ([vec![0u8; 5000], noise(8, 40)].concat(), events.len()),
            _ => (Vec::new(), 0),
        };
        let expected_cut: Vec<u8> = if case == "cut-block" {
            // The last block loses its last 7 bytes: the block is cut whole. A torn
            // write is only possible after the last sync, so the header must not record
            // the block as fsynced (as after a crash before that record was durable).
            set_journal_size(&seg, last_block.0);
            let all = std::fs::read(&seg).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&seg)
                .unwrap()
                .set_len(len - 7)
                .unwrap();
            all[last_block.0 as usize..(len - 7) as usize].to_vec()
        } else {
            let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
            std::io::Write::write_all(&mut f, &tail).unwrap();
            tail.clone()
        };
        let keep = if case == "cut-block" {
            events.iter().filter(|e| e.seq < last_block.2).count()
        } else {
            keep
        };

        let j = open(&dir, RecoveryMode::TolerateTail).unwrap();
        let r = j.recovery_report().clone();
        assert_eq!(r.mode, RecoveryMode::TolerateTail);
        assert!(!r.clean_shutdown, "{case}");
        assert_eq!(r.bytes_cut, expected_cut.len() as u64, "{case}");
        assert_eq!(r.torn_files.len(), 1, "{case}: {r:?}");
        let torn = &r.torn_files[0];
        assert!(
            torn.to_string_lossy().ends_with(".torn"),
            "{case}: {}",
            torn.display()
        );
        assert_eq!(
            std::fs::read(torn).unwrap(),
            expected_cut,
            "{case}: bytes kept"
        );
        let now = journal_events(&j);
        assert_eq!(now.len(), keep, "{case}");
        assert_eq!(
            now[..],
            events[..keep],
            "{case}: the intact prefix is unchanged"
        );
        // The journal continues right after the last intact event.
        let seq = j.emit_durable(tagged(1, 0)).unwrap();
        assert_eq!(seq, keep as u64 + 1, "{case}");
        j.close().unwrap();
        let again = read_all(&dir);
        assert_eq!(again.len(), keep + 1, "{case}");
        let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
        assert!(v.is_clean(), "{case}: {:?}", v.problems);
    }
    // Only zeros after the last block: space the writer preallocated, not a torn tail.
    let dir = tmp.path().join("zeros");
    let events = crashed(tmp.path(), &dir, 400);
    let seg = segment_files(&dir).pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &vec![0u8; 5000]).unwrap();
    drop(f);
    let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
    assert!(v.is_clean(), "zeros: {:?}", v.problems);
    let j = open(&dir, RecoveryMode::TolerateTail).unwrap();
    let r = j.recovery_report().clone();
    assert_eq!(r.bytes_cut, 0, "zeros: {r:?}");
    assert!(r.torn_files.is_empty(), "zeros: {r:?}");
    assert_eq!(journal_events(&j), events);
    assert_eq!(
        j.emit_durable(tagged(1, 0)).unwrap(),
        events.len() as u64 + 1
    );
    j.close().unwrap();
    assert_eq!(read_all(&dir).len(), events.len() + 1);
}

// Checks I12, I13 (docs/invariants.md).
#[test]
fn tolerate_tail_refuses_damage_to_fsynced_data_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    crashed(tmp.path(), &dir, 400);
    let seg = segment_files(&dir).pop().unwrap();
    let blocks = segment_blocks(&seg);
    assert!(blocks.len() >= 3);
    // A flip inside the first block of the open segment: intact fsynced blocks follow.
    let (offset, size, ..) = blocks[0];
    flip_bit(&seg, (offset + size / 2) * 8 + 3);
    let before = snapshot(&dir);
    let err = open(&dir, RecoveryMode::TolerateTail).unwrap_err();
    match &err {
        JournalError::Storage(StorageError::Corrupt {
            path, offset: at, ..
        }) => {
            assert_eq!(path, &seg);
            assert_eq!(*at, offset);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&seg.display().to_string()), "{msg}");
    assert!(msg.contains("salvage"), "{msg}");
    let mut after = snapshot(&dir);
    // The lock file names its last holder; nothing else may change.
    after.remove(&dir.join("LOCK"));
    let mut before = before;
    before.remove(&dir.join("LOCK"));
    assert_eq!(before, after, "a refused open changes nothing");

    // The last block, fsynced, loses its end: nothing intact follows, but it is not a
    // torn write either, so it is refused too rather than cut.
    let dir = tmp.path().join("j2");
    crashed(tmp.path(), &dir, 400);
    let seg = segment_files(&dir).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let last = *segment_blocks(&seg).last().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    match open(&dir, RecoveryMode::TolerateTail).unwrap_err() {
        JournalError::Storage(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (seg.clone(), last.0));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        len - 7,
        "nothing cut"
    );
}

// Checks I14 (docs/invariants.md).
#[test]
fn absolute_refuses_any_damage_with_a_report_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    {
        // A crashed journal with a checkpoint, so every kind of file exists.
        let live = tmp.path().join("live");
        let j = Journal::create(&live, small_config()).unwrap();
        for i in 0..400 {
            j.emit(tagged(0, i)).unwrap();
        }
        j.create_checkpoint().unwrap();
        for i in 400..450 {
            j.emit(tagged(0, i)).unwrap();
        }
        crash_image(&j, &base);
        j.close().unwrap();
    }
    // A crashed but undamaged journal opens in absolute mode.
    {
        let dir = tmp.path().join("undamaged");
        copy_dir(&base, &dir);
        let j = open(&dir, RecoveryMode::Absolute).unwrap();
        let r = j.recovery_report();
        assert_eq!(r.mode, RecoveryMode::Absolute);
        assert_eq!(r.problems_before_open, 0);
        assert_eq!(journal_events(&j).len(), 450);
        j.close().unwrap();
    }
    let segs = segment_files(&base);
    let sealed = segs[1].clone();
    let open_seg = segs.last().unwrap().clone();
    let sealed_blocks = segment_blocks(&sealed);
    let open_blocks = segment_blocks(&open_seg);
    let ckpt = std::fs::read_dir(base.join("checkpoints"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    type Damage = Box<dyn Fn(&Path)>;
    let rel = |p: &Path| p.file_name().unwrap().to_owned();
    let cases: Vec<(&str, ProblemKind, PathBuf, Option<u64>, Damage)> = vec![
        (
            "torn tail",
            ProblemKind::Block,
            rel(&open_seg).into(),
            {
                let len = std::fs::metadata(&open_seg).unwrap().len();
                Some(len)
            },
            {
                let name = rel(&open_seg);
                Box::new(move |d: &Path| {
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(d.join(&name))
                        .unwrap();
                    std::io::Write::write_all(&mut f, &noise(3, 999)).unwrap();
                })
            },
        ),
        (
            "sealed block",
            ProblemKind::Block,
            rel(&sealed).into(),
            Some(sealed_blocks[2].0),
            {
                let name = rel(&sealed);
                let bit = (sealed_blocks[2].0 + 150) * 8;
                Box::new(move |d: &Path| flip_bit(&d.join(&name), bit))
            },
        ),
        (
            "open block",
            ProblemKind::Block,
            rel(&open_seg).into(),
            Some(open_blocks[0].0),
            {
                let name = rel(&open_seg);
                let bit = (open_blocks[0].0 + 120) * 8 + 5;
                Box::new(move |d: &Path| flip_bit(&d.join(&name), bit))
            },
        ),
        ("footer", ProblemKind::Footer, rel(&sealed).into(), None, {
            let name = rel(&sealed);
            let len = std::fs::metadata(&sealed).unwrap().len();
            Box::new(move |d: &Path| flip_bit(&d.join(&name), (len - 30) * 8))
        }),
        (
            "segment header",
            ProblemKind::Header,
            rel(&sealed).into(),
            Some(0),
            {
                let name = rel(&sealed);
                Box::new(move |d: &Path| flip_bit(&d.join(&name), 40 * 8 + 1))
            },
        ),
        (
            "checkpoint",
            ProblemKind::Checkpoint,
            PathBuf::from("checkpoints").join(rel(&ckpt)),
            None,
            {
                let name = rel(&ckpt);
                Box::new(move |d: &Path| flip_bit(&d.join("checkpoints").join(&name), 100 * 8))
            },
        ),
    ];
    for (what, kind, file, offset, damage) in cases {
        let dir = tmp.path().join(what.replace(' ', "-"));
        copy_dir(&base, &dir);
        damage(&dir);
        let before = snapshot(&dir);
        let err = open(&dir, RecoveryMode::Absolute).unwrap_err();
        let JournalError::Recovery(RecoveryError::Inconsistent(report)) = &err else {
            panic!("{what}: expected Inconsistent, got {err:?}");
        };
        let p = report
            .problems
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("{what}: no {kind:?} problem in {:?}", report.problems));
        assert_eq!(p.path, dir.join(&file), "{what}");
        if offset.is_some() {
            assert_eq!(p.offset, offset, "{what}: {p}");
        }
        assert!(err.to_string().contains("absolute"), "{what}: {err}");
        assert_eq!(
            before,
            snapshot(&dir),
            "{what}: absolute mode changed files"
        );
    }
}

// Checks I33 (docs/invariants.md).
#[test]
fn salvage_keeps_every_intact_block_and_reports_lost_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let events = crashed(tmp.path(), &dir, 600);
    let segs = segment_files(&dir);
    assert!(segs.len() >= 4, "{segs:?}");
    // Damage: a block in the middle of sealed segment 0, the footer of sealed segment
    // 1, a block in the middle of the open segment (intact blocks after it).
    let s0 = segment_blocks(&segs[0]);
    let victim0 = s0[s0.len() / 2];
    flip_bit(&segs[0], (victim0.0 + victim0.1 / 2) * 8);
    let s1_len = std::fs::metadata(&segs[1]).unwrap().len();
    let s1_blocks = segment_blocks(&segs[1]);
    flip_bit(&segs[1], (s1_len - 10) * 8 + 2);
    let open_seg = segs.last().unwrap().clone();
    let so = segment_blocks(&open_seg);
    assert!(so.len() >= 3, "{so:?}");
    let victim_open = so[1];
    flip_bit(&open_seg, (victim_open.0 + 110) * 8 + 7);
    let damaged_bytes = |path: &Path, b: (u64, u64, u64, u64)| {
        std::fs::read(path).unwrap()[b.0 as usize..(b.0 + b.1) as usize].to_vec()
    };
    let victim0_bytes = damaged_bytes(&segs[0], victim0);
    let victim_open_bytes = damaged_bytes(&open_seg, victim_open);

    // Tolerate-tail refuses (damage with intact blocks after it in the open segment).
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    assert!(open(&copy, RecoveryMode::TolerateTail).is_err());

    let j = open(&dir, RecoveryMode::Salvage).unwrap();
    let r = j.recovery_report().clone();
    let s = r.salvage.clone().expect("salvage report");
    type Lost = (PathBuf, u64, u64, Option<(u64, u64)>);
    let lost: Vec<Lost> = s
        .lost
        .iter()
        .map(|l| (l.segment.clone(), l.offset, l.len, l.seqs))
        .collect();
    assert_eq!(
        lost,
        vec![
            (
                segs[0].clone(),
                victim0.0,
                victim0.1,
                Some((victim0.2, victim0.3))
            ),
            (
                open_seg.clone(),
                victim_open.0,
                victim_open.1,
                Some((victim_open.2, victim_open.3))
            ),
        ],
        "lost ranges"
    );
    assert_eq!(
        s.events_lost(),
        (victim0.3 - victim0.2 + 1) + (victim_open.3 - victim_open.2 + 1)
    );
    assert_eq!(std::fs::read(&s.lost[0].saved_to).unwrap(), victim0_bytes);
    assert_eq!(
        std::fs::read(&s.lost[1].saved_to).unwrap(),
        victim_open_bytes
    );
    // Segment 1 (footer) is rewritten too, losing nothing.
    assert!(s.rewritten.contains(&segs[1]), "{:?}", s.rewritten);
    assert!(s.rewritten.contains(&segs[0]) && s.rewritten.contains(&open_seg));
    let kept: Vec<u64> = seqs(&journal_events(&j));
    let expected: Vec<u64> = events
        .iter()
        .map(|e| e.seq)
        .filter(|q| !(victim0.2..=victim0.3).contains(q))
        .filter(|q| !(victim_open.2..=victim_open.3).contains(q))
        .collect();
    assert_eq!(
        kept, expected,
        "every event outside the damaged blocks is kept"
    );
    for e in journal_events(&j) {
        let orig = &events[(e.seq - 1) as usize];
        assert_eq!(e, *orig);
    }
    // Segment 1's events are all there, with its blocks.
    assert_eq!(segment_blocks(&segs[1]), s1_blocks);
    // The journal continues after its last event.
    let next = events.len() as u64 + 1;
    assert_eq!(j.emit_durable(tagged(9, 9)).unwrap(), next);
    j.close().unwrap();
    let after = read_all(&dir);
    assert_eq!(after.last().unwrap().seq, next);
    // What remains checks: the lost sequences are notes pointing at salvage's report
    // (the segments say they were salvaged), not problems.
    let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
    let salvaged: Vec<&str> = v
        .notes
        .iter()
        .map(|n| n.detail.as_str())
        .filter(|d| d.contains("salvage"))
        .collect();
    assert_eq!(
        salvaged,
        vec![
            format!(
                "sequences {}..={} were lost to damage and set aside by salvage (see salvaged/)",
                victim0.2, victim0.3
            ),
            format!(
                "sequences {}..={} were lost to damage and set aside by salvage (see salvaged/)",
                victim_open.2, victim_open.3
            ),
        ]
    );
}

// Checks I29 (docs/invariants.md).
/// A crash after a checkpoint whose block table covers a block that is now damaged:
/// salvage rewrites the open segment without that block, so the checkpoint's offsets
/// no longer describe the file. Opening must still keep every intact block.
#[test]
fn salvage_after_a_crash_with_a_checkpoint_over_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let live = tmp.path().join("live");
    let j = Journal::create(&live, small_config()).unwrap();
    // Few enough events to stay in one (open) segment.
    for i in 0..40 {
        j.emit(tagged(0, i)).unwrap();
    }
    j.create_checkpoint().unwrap();
    for i in 40..60 {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    crash_image(&j, &dir);
    j.close().unwrap();
    let segs = segment_files(&dir);
    assert_eq!(segs.len(), 1, "one open segment");
    let blocks = segment_blocks(&segs[0]);
    let victim = blocks[1];
    flip_bit(&segs[0], (victim.0 + 120) * 8);

    let j = open(&dir, RecoveryMode::Salvage)
        .unwrap_or_else(|e| panic!("salvage with a checkpoint over the damage: {e}"));
    let kept = seqs(&journal_events(&j));
    let expected: Vec<u64> = events
        .iter()
        .map(|e| e.seq)
        .filter(|q| !(victim.2..=victim.3).contains(q))
        .collect();
    assert_eq!(kept, expected);
    j.close().unwrap();
    assert_eq!(seqs(&read_all(&dir)), expected);
}
