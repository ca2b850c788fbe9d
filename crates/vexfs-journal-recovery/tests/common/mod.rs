//! The recovery tests' own helpers, on the facade's `Journal`: a small configuration,
//! reading journals back, crash images, and durable producers whose acknowledgements
//! are checked after a crash. Helpers every crate's tests share (tagged events, noise,
//! file surgery, the seeded generator) are in `vexfs-journal-testkit`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use vexfs_journal::{Config, Event, Journal, JournalError, JournalReader, StoredEvent};
use vexfs_journal_testkit::{Rng, copy_dir, tag_of, tagged};

/// Small segments (64 KiB, the minimum) and small blocks, so a few hundred events make
/// several segments; no periodic checkpoint.
pub fn small_config() -> Config {
    Config {
        segment_size: 64 << 10,
        block_bytes: 2048,
        buffer_capacity: 1024,
        checkpoint_interval_s: 0,
        ..Config::default()
    }
}

/// Every event of a journal on disk, read without a lock.
pub fn read_all(dir: &Path) -> Vec<StoredEvent> {
    let r = JournalReader::open(dir).unwrap();
    r.scan(0..u64::MAX).map(|e| e.unwrap()).collect()
}

/// Every written event of an open journal.
pub fn journal_events(j: &Journal) -> Vec<StoredEvent> {
    j.flush().unwrap();
    j.scan(0..u64::MAX).map(|e| e.unwrap()).collect()
}

/// Sequences of `events`.
pub fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// A crash image of the open journal `j` (after syncing) in `dst`: no clean-shutdown
/// marker, the open segment unsealed.
pub fn crash_image(j: &Journal, dst: &Path) {
    j.sync().unwrap();
    copy_dir(j.dir(), dst);
    assert!(!dst.join("CLEAN").exists());
    // A power cut can lose the writer's (unsynced) preallocation: the image's files
    // end with their last written block, so "the end of the file" in these tests is
    // the written end. Preallocated zero tails are checked by the storage tests and
    // the power-loss torture.
    vexfs_journal_testkit::blocks::drop_preallocated(dst);
}

/// Builds a closed journal in `dir` of `n` tagged events of producer 0 (several
/// segments with [`small_config`]); returns the events as stored.
pub fn build(dir: &Path, n: u64) -> Vec<StoredEvent> {
    let j = Journal::create(dir, small_config()).unwrap();
    for i in 0..n {
        j.emit(tagged(0, i)).unwrap();
    }
    j.sync().unwrap();
    let events = journal_events(&j);
    j.close().unwrap();
    assert_eq!(events.len() as u64, n);
    events
}

/// One acknowledgement: sequences `first..=last` of producer `p` from index `i`.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub first: u64,
    pub last: u64,
    pub p: u64,
    pub i: u64,
}

/// Event `i` of producer `p`, in a batch of `n` with transaction `tx` (0: single).
pub fn event(p: u64, i: u64, tx: u64, n: u32) -> Event {
    let ev = tagged(p, i);
    if tx == 0 { ev } else { ev.tx(tx).subtype(n) }
}

/// Producer `p`: durable single events and durable atomic batches (30 %, 2 to 8
/// events, one transaction id, the size as subtype) until `stop` or the first error,
/// which it returns; every acknowledgement is pushed to `acks`.
pub fn produce(
    j: &Journal,
    p: u64,
    stop: &AtomicBool,
    acks: &Mutex<Vec<Ack>>,
) -> Option<JournalError> {
    let mut rng = Rng(p * 7919 + 1);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        if rng.chance(30) {
            let n = rng.range(2, 8);
            let tx = (p << 32 | i) + 1;
            let batch = (i..i + n).map(|k| event(p, k, tx, n as u32)).collect();
            let r = match j.emit_batch_atomic(batch) {
                Ok(r) => r,
                Err(e) => return Some(e),
            };
            if let Err(e) = j.wait_durable(r.end) {
                return Some(e);
            }
            acks.lock().unwrap().push(Ack {
                first: r.start,
                last: r.end - 1,
                p,
                i,
            });
            i += n;
        } else {
            let seq = match j.emit_durable(event(p, i, 0, 0)) {
                Ok(s) => s,
                Err(e) => return Some(e),
            };
            acks.lock().unwrap().push(Ack {
                first: seq,
                last: seq,
                p,
                i,
            });
            i += 1;
        }
    }
    None
}

/// The invariants of a journal reopened after a crash, given the acknowledgements
/// received before it: sequences exactly 1..=last; every event's content matching its
/// tag; each producer's events a prefix of what it emitted (it waits for each
/// acknowledgement before the next emission); every atomic batch whole; every
/// acknowledged event present, once, where it was acknowledged.
pub fn check_acknowledged(events: &[StoredEvent], acks: &[Ack], ctx: &str) {
    let last = events.len() as u64;
    assert!(
        seqs(events).into_iter().eq(1..=last),
        "{ctx}: sequences are not 1..={last}"
    );
    // Content, per-producer prefixes, batches whole.
    let mut next_index: BTreeMap<u64, u64> = BTreeMap::new();
    let mut k = 0;
    while k < events.len() {
        let e = &events[k];
        let (p, i) = tag_of(&e.event);
        let expect = next_index.entry(p).or_insert(0);
        assert_eq!(
            i, *expect,
            "{ctx}: producer {p} skips to {i} at sequence {}",
            e.seq
        );
        let tx = e.event.context.transaction_id;
        let n = if tx == 0 {
            1
        } else {
            u64::from(e.event.subtype)
        };
        for m in 0..n {
            let b = events
                .get(k + m as usize)
                .unwrap_or_else(|| panic!("{ctx}: half batch {tx:#x} at the end"));
            assert_eq!(tag_of(&b.event), (p, i + m), "{ctx}: batch {tx:#x}");
            assert_eq!(b.event.context.transaction_id, tx, "{ctx}: batch {tx:#x}");
            if tx != 0 {
                assert!(b.event.flags.contains(vexfs_journal::EventFlags::ATOMIC));
            }
        }
        *expect += n;
        k += n as usize;
    }
    for a in acks {
        assert!(
            a.last <= last,
            "{ctx}: acknowledged {a:?} lost (journal ends at {last})"
        );
        for (m, seq) in (a.first..=a.last).enumerate() {
            let (p, i) = tag_of(&events[(seq - 1) as usize].event);
            assert_eq!((p, i), (a.p, a.i + m as u64), "{ctx}: acknowledged {a:?}");
        }
    }
}
