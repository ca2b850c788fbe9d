//! Checkpoints: creating and listing them, periodic checkpoints
//! (`Config::checkpoint_interval_s`), recovery after a crash trusting the latest valid
//! checkpoint and scanning (reading) only what follows it, damaged or foreign
//! checkpoints skipped for the previous one, restore with and without rollback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use vexfs_journal::{CompactOptions, Config, Journal, RecoveryMode, compact};
use vexfs_journal_recovery::checkpoint::{self, KEEP};
use vexfs_journal_recovery::{ProblemKind, RecoveryError, restore};
use vexfs_journal_testkit::{
    copy_dir, events::TYPES, flip_bit, noise, segment_files, tag_of, tagged,
};

/// Bytes this thread has read through system calls so far (`rchar`).
fn thread_rchar() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn checkpoint_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// Checks I27 (docs/invariants.md).
#[test]
fn create_and_list_keep_the_newest_and_record_the_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::create(tmp.path(), small_config()).unwrap();
    assert!(j.list_checkpoints().is_empty());
    let mut made = Vec::new();
    for round in 0..(KEEP as u64 + 3) {
        for i in 0..25 {
            j.emit(tagged(round, i)).unwrap();
        }
        j.set_consumer_position("indexer", j.next_seq() - 10);
        let c = j.create_checkpoint().unwrap();
        assert_eq!(c.id, round + 1);
        assert_eq!(c.durable_seq, j.next_seq(), "everything emitted is durable");
        assert!(j.durable_seq() >= c.durable_seq);
        assert_eq!(
            c.consumers,
            vec![("indexer".to_string(), j.next_seq() - 10)]
        );
        let open = vexfs_journal::ext::segments(&j).pop().unwrap();
        assert_eq!(c.segment_first_seq, open.first_seq);
        assert!(c.segment_end <= open.end);
        assert!(c.path.exists());
        assert_eq!(
            vexfs_journal::ext::marks(&j).last_checkpoint_sequence,
            c.durable_seq,
            "the open segment's header records the checkpoint"
        );
        made.push(c);
    }
    let listed: Vec<_> = j
        .list_checkpoints()
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(listed.len(), KEEP);
    assert_eq!(
        listed[..],
        made[made.len() - KEEP..],
        "the newest, oldest first"
    );
    // Loading one gives its block table: blocks of the open segment below the durable
    // position, contiguous from the header.
    let last = made.last().unwrap();
    let data = checkpoint::load(tmp.path(), last.id).unwrap();
    assert_eq!(data.durable_seq, last.durable_seq);
    let mut at = 128;
    for b in &data.blocks {
        assert_eq!(b.offset, at);
        assert!(b.last_seq < data.durable_seq);
        at += u64::from(b.size);
    }
    assert_eq!(at, data.segment_end);
    j.close().unwrap();
    // Listing works on a closed journal too.
    assert_eq!(checkpoint::list(tmp.path()).len(), KEEP);
}

#[test]
fn periodic_checkpoints_follow_the_interval_and_stop_at_close() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        checkpoint_interval_s: 1,
        ..small_config()
    };
    let j = Journal::create(tmp.path(), config).unwrap();
    let started = std::time::Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_millis(2600) {
        j.emit(tagged(0, i)).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let listed: Vec<_> = j
        .list_checkpoints()
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    assert!(
        (2..=3).contains(&listed.len()),
        "one checkpoint per second: {listed:?}"
    );
    for w in listed.windows(2) {
        assert!(w[1].id > w[0].id);
        assert!(
            w[1].durable_seq > w[0].durable_seq,
            "events flowed in between"
        );
        let gap = w[1].created_ns - w[0].created_ns;
        assert!(
            (800_000_000..2_000_000_000).contains(&gap),
            "{gap} ns between checkpoints"
        );
    }
    j.close().unwrap();
    let n = checkpoint::list(tmp.path()).len();
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(
        checkpoint::list(tmp.path()).len(),
        n,
        "no checkpoint after close"
    );
}

// Checks I26, I29 (docs/invariants.md).
/// After a crash the latest checkpoint's block table is trusted: the open segment is
/// scanned (and indexed) only from where the checkpoint ends, so opening reads far
/// less — and finds exactly the same events.
#[test]
fn recovery_trusts_the_latest_checkpoint_and_reads_less() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let config = Config {
        segment_size: 16 << 20,
        ..small_config()
    };
    let j = Journal::create(&live, config).unwrap();
    for i in 0..8000 {
        j.emit(tagged(0, i)).unwrap();
    }
    j.create_checkpoint().unwrap();
    for i in 8000..10_000 {
        j.emit(tagged(0, i)).unwrap();
    }
    let second = j.create_checkpoint().unwrap();
    for i in 10_000..10_200 {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    let with = tmp.path().join("with");
    let without = tmp.path().join("without");
    crash_image(&j, &with);
    crash_image(&j, &without);
    j.close().unwrap();
    std::fs::remove_dir_all(without.join("checkpoints")).unwrap();
    let seg_len = std::fs::metadata(segment_files(&with)[0].clone())
        .unwrap()
        .len();
    assert!(seg_len > 2 << 20, "one big open segment ({seg_len} bytes)");

    let open = |dir: &Path| {
        let before = thread_rchar();
        let j = Journal::open_existing_with(dir, RecoveryMode::TolerateTail, 0).unwrap();
        let read = thread_rchar() - before;
        let report = j.recovery_report().clone();
        let found = journal_events(&j);
        j.close().unwrap();
        (read, report, found)
    };
    let (read_with, report_with, found_with) = open(&with);
    let (read_without, report_without, found_without) = open(&without);
    assert!(!report_with.clean_shutdown);
    assert_eq!(
        report_with.checkpoint_used,
        Some(second.id),
        "the latest one"
    );
    assert_eq!(report_without.checkpoint_used, None);
    assert_eq!(found_with, events);
    assert_eq!(found_without, events);
    eprintln!(
        "open after a crash read {read_with} bytes with a checkpoint, {read_without} without \
         ({seg_len}-byte open segment)"
    );
    assert!(
        read_with * 4 < read_without,
        "with a checkpoint {read_with} bytes read, without {read_without}"
    );
    // After a clean close no checkpoint is needed.
    let j = Journal::open_existing_with(&with, RecoveryMode::TolerateTail, 0).unwrap();
    assert!(j.recovery_report().clean_shutdown);
    assert_eq!(j.recovery_report().checkpoint_used, None);
    j.close().unwrap();
}

// Checks I29 (docs/invariants.md).
#[test]
fn a_damaged_or_foreign_checkpoint_is_skipped_for_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let j = Journal::create(&live, small_config()).unwrap();
    for i in 0..50 {
        j.emit(tagged(0, i)).unwrap();
    }
    let first = j.create_checkpoint().unwrap();
    for i in 50..80 {
        j.emit(tagged(0, i)).unwrap();
    }
    let second = j.create_checkpoint().unwrap();
    for i in 80..90 {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    let base = tmp.path().join("base");
    crash_image(&j, &base);
    j.close().unwrap();
    // A checkpoint of another journal, with a higher id.
    let other = tmp.path().join("other");
    let o = Journal::create(&other, small_config()).unwrap();
    for id in 0..5 {
        o.emit(tagged(5, id)).unwrap();
        o.create_checkpoint().unwrap();
    }
    o.close().unwrap();

    let second_name = checkpoint::path_of(&base, second.id);
    type Damage<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Damage<'_>)> = vec![
        (
            "bit flip",
            Box::new(|d: &Path| {
                flip_bit(
                    &d.join("checkpoints").join(second_name.file_name().unwrap()),
                    77,
                )
            }),
        ),
        (
            "truncated",
            Box::new(|d: &Path| {
                let p = d.join("checkpoints").join(second_name.file_name().unwrap());
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }),
        ),
        (
            "empty",
            Box::new(|d: &Path| {
                std::fs::write(
                    d.join("checkpoints").join(second_name.file_name().unwrap()),
                    b"",
                )
                .unwrap()
            }),
        ),
    ];
    for (what, damage) in cases {
        let dir = tmp.path().join(what.replace(' ', "-"));
        copy_dir(&base, &dir);
        damage(&dir);
        let listed = checkpoint::list(&dir);
        assert!(listed[0].is_ok(), "{what}");
        assert!(listed[1].is_err(), "{what}: listed as damaged");
        let j = Journal::open_existing_with(&dir, RecoveryMode::TolerateTail, 0).unwrap();
        assert_eq!(
            j.recovery_report().checkpoint_used,
            Some(first.id),
            "{what}: the previous checkpoint"
        );
        assert_eq!(journal_events(&j), events, "{what}");
        j.close().unwrap();
    }
    // Foreign: another journal's checkpoint numbered above ours is not trusted.
    let dir = tmp.path().join("foreign");
    copy_dir(&base, &dir);
    let foreign = checkpoint::path_of(&other, 5);
    std::fs::copy(&foreign, checkpoint::path_of(&dir, 3)).unwrap();
    let j = Journal::open_existing_with(&dir, RecoveryMode::TolerateTail, 0).unwrap();
    assert_eq!(j.recovery_report().checkpoint_used, Some(second.id));
    assert_eq!(journal_events(&j), events);
    j.close().unwrap();
    // Restoring from a damaged or unknown checkpoint is refused with the reason.
    let dir = tmp.path().join("bit-flip");
    match restore(&dir, second.id, false).unwrap_err() {
        RecoveryError::Checkpoint { id, reason } => {
            assert_eq!(id, second.id);
            assert!(reason.contains("damaged"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    match restore(&dir, 42, false).unwrap_err() {
        RecoveryError::Checkpoint { id, reason } => {
            assert_eq!(id, 42);
            assert!(reason.contains("no such checkpoint"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    let dir = tmp.path().join("foreign");
    match restore(&dir, 3, false).unwrap_err() {
        RecoveryError::Checkpoint { reason, .. } => {
            assert!(reason.contains("another journal"), "{reason}")
        }
        e => panic!("{e:?}"),
    }
}

/// Builds a crashed journal: 300 events, checkpoint 1, then events across several
/// rotations, checkpoint 2, more events. Returns (events, checkpoint 1, checkpoint 2).
fn restore_fixture(
    tmp: &Path,
    dir: &Path,
) -> (
    Vec<vexfs_journal::StoredEvent>,
    vexfs_journal::CheckpointInfo,
    vexfs_journal::CheckpointInfo,
) {
    let live = tmp.join(format!(
        "live-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let j = Journal::create(&live, small_config()).unwrap();
    for i in 0..100 {
        j.emit(tagged(0, i)).unwrap();
    }
    let c1 = j.create_checkpoint().unwrap();
    for i in 100..700 {
        j.emit(tagged(0, i)).unwrap();
    }
    let c2 = j.create_checkpoint().unwrap();
    for i in 700..750 {
        j.emit(tagged(0, i)).unwrap();
    }
    let events = journal_events(&j);
    crash_image(&j, dir);
    j.close().unwrap();
    assert!(segment_files(dir).len() > 3);
    assert!(
        segment_files(dir)
            .iter()
            .any(|p| p.ends_with(vexfs_journal_storage::dir::segment_name(
                c1.segment_first_seq
            ))),
        "checkpoint 1's segment is still there"
    );
    (events, c1, c2)
}

// Checks I30 (docs/invariants.md).
#[test]
fn restore_without_rollback_keeps_and_checks_what_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (events, _c1, c2) = restore_fixture(tmp.path(), &dir);
    // A torn tail after the checkpoint is cut.
    let open_seg = segment_files(&dir).pop().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&open_seg)
        .unwrap();
    std::io::Write::write_all(&mut f, &noise(1, 777)).unwrap();
    drop(f);
    let r = restore(&dir, c2.id, false).unwrap();
    assert!(!r.rolled_back);
    assert_eq!(r.checkpoint.id, c2.id);
    assert_eq!(r.moved_to, None);
    assert_eq!(r.bytes_cut, 777);
    assert_eq!(
        r.events_after_checkpoint,
        events.len() as u64 + 1 - c2.durable_seq
    );
    assert_eq!(read_all(&dir), events);
    let j = Journal::open_existing(&dir).unwrap();
    assert!(
        j.recovery_report().clean_shutdown,
        "restore closed it cleanly"
    );
    assert_eq!(journal_events(&j), events);
    assert_eq!(j.list_checkpoints().len(), 2);
    j.close().unwrap();
}

// Checks I30 (docs/invariants.md).
#[test]
fn restore_with_rollback_returns_to_the_checkpoint_and_moves_the_rest_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (events, c1, c2) = restore_fixture(tmp.path(), &dir);
    let segs_before = segment_files(&dir);
    let r = restore(&dir, c1.id, true).unwrap();
    assert!(r.rolled_back);
    let aside = r.moved_to.clone().unwrap();
    assert!(aside.starts_with(&dir));
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("rolled-back-{}-", c1.id))
    );
    let kept: Vec<_> = events
        .iter()
        .filter(|e| e.seq < c1.durable_seq)
        .cloned()
        .collect();
    assert_eq!(r.events, kept.len() as u64);
    assert_eq!(read_all(&dir), kept, "back to the checkpoint's state");
    // Nothing deleted: the later segments, the tail of the checkpoint's segment and
    // the later checkpoint are in the aside directory.
    let moved: Vec<String> = std::fs::read_dir(&aside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for seg in &segs_before[1..] {
        let name = seg.file_name().unwrap().to_string_lossy().into_owned();
        assert!(moved.contains(&name), "{name} moved aside: {moved:?}");
    }
    assert!(moved.iter().any(|n| n.ends_with(".seg.tail")), "{moved:?}");
    let c2_name = checkpoint::path_of(&dir, c2.id);
    assert!(moved.contains(&c2_name.file_name().unwrap().to_string_lossy().into_owned()));
    assert_eq!(checkpoint_files(&dir), vec![format!("{:010}.ckpt", c1.id)]);
    // The journal continues from the checkpoint's state, but never reuses the
    // numbers of the rolled-back events: consumers may have seen them (issue 10).
    let j = Journal::open_existing(&dir).unwrap();
    let highest = events.iter().map(|e| e.seq).max().unwrap();
    assert_eq!(j.next_seq(), highest + 1);
    let seq = j.emit_durable(tagged(3, 3)).unwrap();
    assert_eq!(seq, highest + 1);
    j.close().unwrap();
    let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
}

// Checks I30 (docs/invariants.md).
/// The checkpoint's segment was sealed and then rewritten by compaction: its block
/// table no longer describes the file. A rollback must refuse or leave a consistent
/// journal — never one whose block table points into the wrong bytes.
#[test]
fn restore_with_rollback_after_compaction_rewrote_the_checkpoint_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (_events, c1, _c2) = restore_fixture(tmp.path(), &dir);
    // Opening and closing cleanly seals nothing new; compaction rewrites sealed
    // segments without the vector searches.
    let j = Journal::open_existing(&dir).unwrap();
    j.close().unwrap();
    let r = compact(
        &dir,
        &CompactOptions {
            drop_types: vec![TYPES[2]()],
            ..Default::default()
        },
    )
    .unwrap();
    let c1_seg = dir.join(vexfs_journal_storage::dir::segment_name(
        c1.segment_first_seq,
    ));
    assert!(r.rewritten.contains(&c1_seg), "{:?}", r.rewritten);
    match restore(&dir, c1.id, true) {
        Err(e) => eprintln!("refused: {e}"),
        Ok(r) => {
            // Whatever it kept must read back and check. (Compaction leaves sequence
            // gaps, which verify reports: see compact.rs; only those are accepted here.)
            let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
            let damage: Vec<_> = v
                .problems
                .iter()
                .filter(|p| p.kind != ProblemKind::SequenceGap)
                .collect();
            assert!(
                damage.is_empty(),
                "restore reported {r:?}; verify: {damage:?}"
            );
            let j = Journal::open_existing(&dir).unwrap();
            let events: Vec<_> = j.scan(0..u64::MAX).collect::<Result<_, _>>().unwrap();
            for e in &events {
                tag_of(&e.event);
                assert!(e.seq < c1.durable_seq);
            }
            j.close().unwrap();
        }
    }
}

// Checks I27 (docs/invariants.md).
/// Checkpoints taken concurrently — the periodic thread and a caller, or two callers —
/// while the writer rotates segments: each must succeed with its own id.
#[test]
fn concurrent_checkpoints_do_not_collide() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        block_bytes: 1024,
        ..small_config()
    };
    let j = Journal::create(tmp.path(), config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (j, stop) = (j.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                j.emit(tagged(0, i)).unwrap();
                i += 1;
                if i % 16 == 0 {
                    j.flush().unwrap();
                }
            }
        })
    };
    let checkpointers: Vec<_> = (0..2)
        .map(|_| {
            let j = j.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                let mut results = Vec::new();
                while started.elapsed() < Duration::from_millis(1500) {
                    results.push(
                        j.create_checkpoint()
                            .map(|c| c.id)
                            .map_err(|e| e.to_string()),
                    );
                }
                results
            })
        })
        .collect();
    let results: Vec<_> = checkpointers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    assert!(
        segment_files(tmp.path()).len() > 10,
        "the writer rotated meanwhile"
    );
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} of {} checkpoints failed, first: {}",
        errors.len(),
        results.len(),
        errors[0]
    );
    let mut ids: Vec<u64> = results.into_iter().map(|r| r.unwrap()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "two checkpoints got the same id");
    j.close().unwrap();
}
