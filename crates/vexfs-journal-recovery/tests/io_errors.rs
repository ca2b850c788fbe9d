//! I/O errors injected through the storage layer's test hook (`Faults`, feature
//! `fault-injection`) under the facade: ENOSPC or EIO on a random write or fsync —
//! block writes, header updates, seals and segment creation at rotation, the header
//! mark of a checkpoint — while several producers emit durable events and atomic
//! batches (and, in some rounds, checkpoints are taken).
//!
//! Every caller gets a clear error naming the OS error and saying to reopen; the
//! journal stops (every later call fails the same way); reopening without faults
//! finds every event acknowledged before the failure, exactly once and in order, no
//! half batch, a journal that verifies clean and accepts new events.
//!
//! Rounds: `TORTURE_ROUNDS` (default 60).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use vexfs_journal::{Config, Journal, JournalError, OpenOptions, RecoveryMode, StorageError};
use vexfs_journal_storage::faults::Faults;
use vexfs_journal_testkit::{Rng, copy_dir_live, rounds, tag_of, tagged};

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn config() -> Config {
    Config {
        segment_size: 64 << 10,
        block_bytes: 2048,
        ..small_config()
    }
}

fn open_faulty(dir: &Path, faults: &Arc<Faults>) -> Journal {
    Journal::open_with(
        dir,
        OpenOptions {
            config: Some(config().to_storage().unwrap()),
            create: true,
            faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The message of an OS error as the failed journal reports it.
fn os_text(errno: i32) -> &'static str {
    if errno == ENOSPC {
        "No space left on device"
    } else {
        "Input/output error"
    }
}

// Checks I9, I10 (docs/invariants.md).
#[test]
fn io_failures_never_lose_acknowledged_events() {
    let rounds = rounds(60);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut acked_total = 0;
    for round in 0..rounds {
        let mut rng = Rng(0x10E0_0000 + round);
        let dir = tmp.path().join(format!("j{round}"));
        let faults = Arc::new(Faults::new());
        // The journal first holds some events, from an earlier session.
        if rng.chance(50) {
            let j = Journal::create(&dir, config()).unwrap();
            for i in 0..rng.range(1, 300) {
                j.emit(tagged(50, i)).unwrap();
            }
            j.close().unwrap();
        }
        let before: Vec<_> = if dir.exists() {
            read_all(&dir)
        } else {
            Vec::new()
        };
        let j = open_faulty(&dir, &faults);
        let errno = if rng.chance(50) { ENOSPC } else { EIO };
        let on_sync = rng.chance(40);
        let after = rng.range(0, 80) as i64;
        if on_sync {
            faults.fail_syncs_after(after, errno);
        } else {
            faults.fail_writes_after(after, errno);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let producers = rng.range(1, 3);
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let (j, stop, acks) = (j.clone(), stop.clone(), acks.clone());
                std::thread::spawn(move || produce(&j, p, &stop, &acks))
            })
            .collect();
        let checkpoints = rng.chance(40).then(|| {
            let (j, stop) = (j.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = j.create_checkpoint() {
                        errors.push(e.to_string());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                errors
            })
        });
        // Every producer must meet the failure (or the round runs out of time, when the
        // armed count is never reached — then the faults are armed at once).
        let deadline = Instant::now() + Duration::from_secs(3);
        while !handles.iter().all(|h| h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if !handles.iter().all(|h| h.is_finished()) {
            if on_sync {
                faults.fail_syncs_after(0, errno);
            } else {
                faults.fail_writes_after(0, errno);
            }
        }
        let errors: Vec<JournalError> = handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("every producer meets the failure"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let checkpoint_errors = checkpoints.map(|h| h.join().unwrap()).unwrap_or_default();
        let acked = acks.lock().unwrap().clone();
        let ctx = format!(
            "round {round}: {} after {after} {}s, {producers} producers, {} acks",
            os_text(errno),
            if on_sync { "sync" } else { "write" },
            acked.len()
        );
        for e in &errors {
            let msg = e.to_string();
            assert!(msg.contains(os_text(errno)), "{ctx}: unclear error {msg:?}");
        }
        for msg in &checkpoint_errors {
            assert!(
                msg.contains(os_text(errno)),
                "{ctx}: checkpoint error {msg:?}"
            );
        }
        // The journal stopped: every later call says why.
        assert!(vexfs_journal::ext::is_failed(&j), "{ctx}");
        match j.emit(tagged(9, 9)).unwrap_err() {
            JournalError::Storage(StorageError::Failed(cause)) => {
                let msg = cause.to_string();
                assert!(msg.contains(os_text(errno)), "{ctx}: {msg}")
            }
            other => panic!("{ctx}: {other:?}"),
        }
        // Waiting for durability fails, unless what it waits for was made durable
        // before the failure (a sync in flight can complete).
        if let Err(e) = j.sync() {
            let msg = e.to_string();
            assert!(
                msg.contains("reopen") && msg.contains(os_text(errno)),
                "{ctx}: {msg}"
            );
        } else {
            assert_eq!(j.durable_seq(), j.next_seq(), "{ctx}");
        }
        assert!(j.close().is_err(), "{ctx}: close reports the failure");
        drop(j);

        // Reopened without faults: nothing acknowledged is lost.
        let j = Journal::open_existing_with(&dir, RecoveryMode::TolerateTail, 0)
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        let events = journal_events(&j);
        assert_eq!(events[..before.len()], before[..], "{ctx}: earlier session");
        let offset = before.len() as u64;
        // The earlier session's events are producer 50; shift sequences to check ours.
        let ours: Vec<_> = events[before.len()..]
            .iter()
            .cloned()
            .map(|mut e| {
                e.seq -= offset;
                e
            })
            .collect();
        let shifted: Vec<Ack> = acked
            .iter()
            .map(|a| Ack {
                first: a.first - offset,
                last: a.last - offset,
                ..*a
            })
            .collect();
        check_acknowledged(&ours, &shifted, &ctx);
        let next = j.next_seq();
        assert_eq!(j.emit_durable(tagged(99, 0)).unwrap(), next, "{ctx}");
        j.close().unwrap();
        let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
        assert!(v.is_clean(), "{ctx}: {:?}", v.problems);
        acked_total += acked.len();
    }
    eprintln!(
        "torture io-errors: rounds={rounds} failures=0 acks={acked_total} elapsed={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// Checks I28 (docs/invariants.md).
/// A checkpoint whose sync or header-mark write fails reports the OS error; after a
/// crash the journal recovers from the latest valid checkpoint with every
/// acknowledged event.
#[test]
fn a_failed_checkpoint_is_reported_and_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    for (fail_sync, errno) in [(true, EIO), (false, ENOSPC)] {
        let dir = tmp.path().join(format!("j-{fail_sync}"));
        let image = tmp.path().join(format!("image-{fail_sync}"));
        let faults = Arc::new(Faults::new());
        let j = open_faulty(&dir, &faults);
        for i in 0..50 {
            j.emit_durable(tagged(0, i)).unwrap();
        }
        let first = j.create_checkpoint().unwrap();
        for i in 50..60 {
            j.emit(tagged(0, i)).unwrap();
        }
        if fail_sync {
            faults.fail_syncs_after(0, errno);
        } else {
            j.sync().unwrap();
            // Nothing left to write but the checkpoint's header mark.
            faults.fail_writes_after(0, errno);
        }
        let err = j.create_checkpoint().unwrap_err().to_string();
        assert!(err.contains(os_text(errno)), "{err}");
        // A failed sync stops the journal; a failed mark write does not.
        assert_eq!(vexfs_journal::ext::is_failed(&j), fail_sync);
        copy_dir_live(&dir, &image);
        drop(j);
        let listed: Vec<_> = vexfs_journal_recovery::checkpoint::list(&image);
        assert!(listed.iter().all(|c| c.is_ok()), "{listed:?}");
        let j = Journal::open_existing(&image).unwrap();
        let used = j.recovery_report().checkpoint_used;
        assert!(
            used.is_some_and(|c| c >= first.id),
            "{:?}",
            j.recovery_report()
        );
        let events = journal_events(&j);
        let want = if fail_sync { 50 } else { 60 };
        assert!(events.len() >= want, "{} events", events.len());
        for (k, e) in events.iter().enumerate() {
            assert_eq!(tag_of(&e.event), (0, k as u64));
        }
        j.close().unwrap();
        let v = vexfs_journal::verify(&image, Default::default(), |_, _| {}).unwrap();
        assert!(v.is_clean(), "{:?}", v.problems);
    }
}
