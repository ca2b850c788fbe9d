//! Fsync policies (batch, interval, never) and full-buffer policies (block, error,
//! drop-oldest). The full-buffer tests stop the writer at a gate (a block observer that
//! waits) so the tiny buffer fills deterministically, whatever the machine's speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Gate, OpenOnDrop, gated_engine, read_all, small_config};
use vexfs_journal_format::Event;
use vexfs_journal_storage::{
    Engine, FsyncPolicy, FullPolicy, RECORD_FLAG_GAP_BEFORE, StorageConfig, StorageError,
};
use vexfs_journal_testkit::{eventually, small_tag_of, small_tagged};

const CAPACITY: usize = 4;
const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 50;
const LONG: Duration = Duration::from_secs(20);

fn with_fsync(fsync: FsyncPolicy) -> StorageConfig {
    StorageConfig {
        fsync,
        ..small_config()
    }
}

// Checks I6 (docs/invariants.md).
#[test]
fn fsync_batch_makes_every_commit_durable_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), with_fsync(FsyncPolicy::Batch)).unwrap();
    for round in 0..3 {
        let seq = engine.emit(small_tagged(0, round)).unwrap();
        // Nobody asks for durability: the policy alone gets it there.
        assert!(
            eventually(LONG, || engine.durable_seq() > seq),
            "round {round}: durable stuck at {}",
            engine.durable_seq()
        );
    }
    assert!(engine.metrics().fsyncs >= 1);
    let seq = engine.emit(small_tagged(0, 3)).unwrap();
    engine.wait_durable(seq + 1).unwrap();
    assert!(engine.durable_seq() > seq);
    assert_eq!(read_all(&engine).len(), 4);
}

// Checks I7 (docs/invariants.md).
#[test]
fn fsync_interval_syncs_on_its_own_at_most_once_per_interval() {
    let interval = Duration::from_millis(100);
    let dir = tempfile::tempdir().unwrap();
    let opened = Instant::now();
    let engine = Engine::create(dir.path(), with_fsync(FsyncPolicy::Interval(interval))).unwrap();
    let seq = engine.emit(small_tagged(0, 0)).unwrap();
    assert!(
        eventually(LONG, || engine.durable_seq() > seq),
        "interval policy never synced"
    );
    // Keep writing for a while: syncs must stay paced by the interval.
    let mut i = 1;
    while opened.elapsed() < Duration::from_millis(600) {
        engine.emit(small_tagged(0, i)).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    let fsyncs = engine.metrics().fsyncs;
    let elapsed = opened.elapsed();
    let allowed = (elapsed.as_millis() / interval.as_millis()) as u64 + 1;
    assert!(fsyncs >= 1);
    assert!(
        fsyncs <= allowed,
        "{fsyncs} fsyncs in {elapsed:?} with a {interval:?} interval"
    );
    let last = engine.next_seq() - 1;
    assert!(
        eventually(LONG, || engine.durable_seq() > last),
        "the last events never became durable"
    );
}

// Checks I7 (docs/invariants.md).
#[test]
fn fsync_interval_durable_wait_does_not_wait_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(
        dir.path(),
        with_fsync(FsyncPolicy::Interval(Duration::from_secs(3600))),
    )
    .unwrap();
    let seq = engine.emit(small_tagged(0, 0)).unwrap();
    let started = Instant::now();
    engine.wait_durable(seq + 1).unwrap();
    assert!(started.elapsed() < LONG);
    assert!(engine.durable_seq() > seq);
    assert!(engine.metrics().fsyncs >= 1);
}

// Checks I7 (docs/invariants.md).
#[test]
fn fsync_never_leaves_durability_to_explicit_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), with_fsync(FsyncPolicy::Never)).unwrap();
    let start = engine.durable_seq();
    for i in 0..20 {
        engine.emit(small_tagged(0, i)).unwrap();
    }
    engine.flush().unwrap();
    assert_eq!(engine.written_seq(), 21);
    // Readers see the events, but nothing syncs them on its own.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(engine.durable_seq(), start);
    assert_eq!(engine.metrics().fsyncs, 0);
    assert_eq!(read_all(&engine).len(), 20);

    engine.sync().unwrap();
    assert_eq!(engine.durable_seq(), 21);
    let fsyncs = engine.metrics().fsyncs;
    assert!(fsyncs >= 1);

    let seq = engine.emit(small_tagged(0, 20)).unwrap();
    engine.wait_durable(seq + 1).unwrap();
    assert!(engine.metrics().fsyncs > fsyncs);
    assert_eq!(engine.durable_seq(), 22);

    // Closing writes and syncs whatever was accepted, whatever the policy.
    engine.emit(small_tagged(0, 21)).unwrap();
    let fsyncs = engine.metrics().fsyncs;
    engine.close().unwrap();
    assert_eq!(engine.durable_seq(), 23);
    assert!(engine.metrics().fsyncs > fsyncs);
}

/// A journal with a 4-event buffer whose writer is held at a gate.
fn gated(policy: FullPolicy) -> (tempfile::TempDir, Arc<Engine>, Arc<Gate>) {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        buffer_capacity: CAPACITY,
        full_policy: policy,
        // One event per block: the writer stops at the gate holding one entry.
        block_events: 1,
        ..small_config()
    };
    let (engine, gate) = gated_engine(dir.path(), config);
    (dir, Arc::new(engine), gate)
}

/// Starts `PRODUCERS` threads running `body(p, engine)` for producer `p`.
fn spawn_producers<T: Send + 'static>(
    engine: &Arc<Engine>,
    body: impl Fn(u64, &Engine) -> T + Send + Sync + 'static,
) -> Vec<std::thread::JoinHandle<T>> {
    let body = Arc::new(body);
    (0..PRODUCERS)
        .map(|p| {
            let (engine, body) = (engine.clone(), body.clone());
            std::thread::spawn(move || body(p, &engine))
        })
        .collect()
}

#[test]
fn full_buffer_block_waits_for_room() {
    let (_dir, engine, gate) = gated(FullPolicy::Block);
    let _release = OpenOnDrop(gate.clone());
    // Stop the writer at the gate holding exactly event 1 before anyone else emits: a
    // writer that wakes late would otherwise drain several entries into its group.
    assert_eq!(engine.emit(small_tagged(9, 0)).unwrap(), 1);
    assert!(gate.wait_stalled(LONG), "writer never reached the gate");
    let producers = spawn_producers(&engine, |p, engine| {
        (0..PER_PRODUCER)
            .map(|i| engine.emit(small_tagged(p, i)).unwrap())
            .collect::<Vec<u64>>()
    });
    // The writer holds event 1, the buffer four more: everybody else waits.
    let full = CAPACITY as u64 + 1;
    assert!(
        eventually(LONG, || engine.next_seq() - 1 == full),
        "{} events accepted with a stopped writer",
        engine.next_seq() - 1
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(engine.next_seq() - 1, full, "accepted beyond the buffer");
    assert!(producers.iter().all(|h| !h.is_finished()));
    gate.open();
    let returned: Vec<Vec<u64>> = producers.into_iter().map(|h| h.join().unwrap()).collect();
    engine.sync().unwrap();

    let total = PRODUCERS * PER_PRODUCER + 1;
    let stored = read_all(&engine);
    assert_eq!(
        stored.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for s in &stored {
        let (p, i) = small_tag_of(&s.event);
        if s.seq == 1 {
            assert_eq!((p, i), (9, 0));
        } else {
            assert_eq!(returned[p as usize][i as usize], s.seq);
        }
    }
    let m = engine.metrics();
    assert_eq!((m.events_emitted, m.events_persisted), (total, total));
    assert_eq!((m.events_dropped, m.events_rejected), (0, 0));
}

// Checks I3 (docs/invariants.md).
#[test]
fn full_buffer_error_refuses_without_skipping_sequences() {
    let (_dir, engine, gate) = gated(FullPolicy::Error);
    let _release = OpenOnDrop(gate.clone());
    assert_eq!(engine.emit(small_tagged(9, 0)).unwrap(), 1);
    assert!(gate.wait_stalled(LONG), "writer never reached the gate");
    let producers = spawn_producers(&engine, |p, engine| {
        let mut ok = Vec::new();
        let mut refused = 0u64;
        for i in 0..PER_PRODUCER {
            match engine.emit(small_tagged(p, i)) {
                Ok(seq) => ok.push((seq, i)),
                Err(StorageError::BufferFull { capacity }) => {
                    assert_eq!(capacity, CAPACITY);
                    refused += 1;
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        (ok, refused)
    });
    let results: Vec<(Vec<(u64, u64)>, u64)> =
        producers.into_iter().map(|h| h.join().unwrap()).collect();
    let accepted: usize = results.iter().map(|(ok, _)| ok.len()).sum();
    let refused: u64 = results.iter().map(|(_, r)| r).sum();
    // The stopped writer holds event 1; the buffer holds at most four more.
    assert!(accepted <= CAPACITY, "{accepted} accepted while full");
    assert_eq!(accepted as u64 + refused, PRODUCERS * PER_PRODUCER);
    let message = StorageError::BufferFull { capacity: CAPACITY }.to_string();
    assert!(message.contains("buffer full"), "{message}");

    gate.open();
    engine.flush().unwrap();
    // After the writer catches up, emits succeed again and continue the numbering.
    let after = engine.emit(small_tagged(9, 1)).unwrap();
    assert_eq!(after, accepted as u64 + 2);
    engine.sync().unwrap();

    let mut expected: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    expected.insert(1, (9, 0));
    expected.insert(after, (9, 1));
    for (p, (ok, _)) in results.iter().enumerate() {
        for (seq, i) in ok {
            assert!(expected.insert(*seq, (p as u64, *i)).is_none());
        }
    }
    let stored = read_all(&engine);
    assert_eq!(
        stored.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (1..=after).collect::<Vec<_>>(),
        "a refused emit consumed a sequence number"
    );
    for s in &stored {
        assert_eq!(small_tag_of(&s.event), expected[&s.seq]);
    }
    let m = engine.metrics();
    assert_eq!(m.events_rejected, refused);
    assert_eq!(m.events_dropped, 0);
    assert_eq!(m.events_emitted, after);
}

// Checks I5 (docs/invariants.md).
#[test]
fn full_buffer_drop_oldest_counts_drops_and_flags_gaps() {
    let (_dir, engine, gate) = gated(FullPolicy::DropOldest);
    let _release = OpenOnDrop(gate.clone());
    assert_eq!(engine.emit(small_tagged(9, 0)).unwrap(), 1);
    assert!(gate.wait_stalled(LONG), "writer never reached the gate");
    let producers = spawn_producers(&engine, |p, engine| {
        let mut out = Vec::new();
        for i in 0..PER_PRODUCER {
            if p == 0 && i % 5 == 0 {
                // Batches are dropped whole or kept whole.
                let batch: Vec<Event> = (0..2).map(|j| small_tagged(p, i * 10 + j)).collect();
                let range = engine.emit_batch(batch).unwrap();
                out.push((range.start, i * 10));
                out.push((range.start + 1, i * 10 + 1));
            } else {
                out.push((engine.emit(small_tagged(p, i)).unwrap(), i));
            }
        }
        out
    });
    let returned: Vec<Vec<(u64, u64)>> = producers.into_iter().map(|h| h.join().unwrap()).collect();
    gate.open();
    engine.flush().unwrap();
    let last = engine.emit(small_tagged(9, 1)).unwrap();
    engine.sync().unwrap();

    let mut expected: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    expected.insert(1, (9, 0));
    expected.insert(last, (9, 1));
    for (p, list) in returned.iter().enumerate() {
        for (seq, i) in list {
            assert!(
                expected.insert(*seq, (p as u64, *i)).is_none(),
                "seq {seq} twice"
            );
        }
    }
    let emitted = engine.next_seq() - 1;
    assert_eq!(
        expected.keys().copied().collect::<Vec<_>>(),
        (1..=emitted).collect::<Vec<_>>()
    );

    let stored = read_all(&engine);
    let on_disk: BTreeSet<u64> = stored.iter().map(|s| s.seq).collect();
    let m = engine.metrics();
    assert!(m.events_dropped > 0, "nothing dropped");
    // Every accepted event is on disk or counted as dropped.
    assert_eq!(emitted, m.events_emitted);
    assert_eq!(emitted, on_disk.len() as u64 + m.events_dropped);
    assert_eq!(m.events_persisted, on_disk.len() as u64);
    // With a stopped writer holding one event and four in the buffer, at most five of
    // the producers' events can have survived.
    assert!(on_disk.len() <= 1 + CAPACITY + 1, "{} kept", on_disk.len());
    assert!(on_disk.contains(&1) && on_disk.contains(&last));
    for s in &stored {
        assert_eq!(small_tag_of(&s.event), expected[&s.seq], "seq {}", s.seq);
        let gap_before = s.seq > 1 && !on_disk.contains(&(s.seq - 1));
        assert_eq!(
            s.ext.userspace_flags & RECORD_FLAG_GAP_BEFORE != 0,
            gap_before,
            "seq {}: gap flag",
            s.seq
        );
    }
    // Batches: both halves or neither.
    for (seq, tag) in &returned[0] {
        if tag % 50 == 0 {
            assert_eq!(
                on_disk.contains(seq),
                on_disk.contains(&(seq + 1)),
                "batch at {seq} split"
            );
        }
    }
}

/// Polls a future to completion on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

#[test]
fn async_emit_on_a_full_buffer_is_pending_not_blocking() {
    let (_dir, engine, gate) = gated(FullPolicy::Block);
    let _release = OpenOnDrop(gate.clone());
    assert_eq!(engine.emit(small_tagged(0, 0)).unwrap(), 1);
    assert!(gate.wait_stalled(LONG));
    for i in 1..=CAPACITY as u64 {
        assert_eq!(engine.emit(small_tagged(0, i)).unwrap(), i + 1);
    }
    let mut fut = std::pin::pin!(engine.emit_async(small_tagged(0, 5)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..3 {
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        engine.next_seq(),
        6,
        "a pending emit took a sequence number"
    );
    gate.open();
    assert_eq!(block_on(fut).unwrap(), 6);
    let range =
        block_on(engine.emit_batch_async(vec![small_tagged(0, 6), small_tagged(0, 7)])).unwrap();
    assert_eq!(range, 7..9);
    block_on(engine.wait_durable_async(9)).unwrap();
    assert!(engine.durable_seq() >= 9);
    block_on(engine.wait_written_async(9)).unwrap();
    let tags: Vec<(u64, u64)> = read_all(&engine)
        .iter()
        .map(|s| small_tag_of(&s.event))
        .collect();
    assert_eq!(tags, (0..8).map(|i| (0, i)).collect::<Vec<_>>());
}

#[test]
fn close_releases_producers_blocked_on_a_full_buffer() {
    let (dir, engine, gate) = gated(FullPolicy::Block);
    let release = OpenOnDrop(gate.clone());
    // The writer stops at the gate holding exactly event 1 (see above).
    assert_eq!(engine.emit(small_tagged(9, 0)).unwrap(), 1);
    assert!(gate.wait_stalled(LONG), "writer never reached the gate");
    let producers = spawn_producers(&engine, |p, engine| {
        let mut ok = Vec::new();
        for i in 0..PER_PRODUCER {
            match engine.emit(small_tagged(p, i)) {
                Ok(seq) => ok.push(seq),
                Err(StorageError::Closed) => return ok,
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        panic!("producer {p} was never blocked");
    });
    assert!(
        eventually(LONG, || engine.next_seq() - 1 == CAPACITY as u64 + 1),
        "the buffer never filled"
    );
    std::thread::sleep(Duration::from_millis(100));
    let closer = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.close())
    };
    // Blocked producers give up while the writer is still stopped.
    assert!(
        eventually(LONG, || producers.iter().all(|h| h.is_finished())),
        "producers still blocked after close began"
    );
    let mut accepted: Vec<u64> = producers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    accepted.sort_unstable();
    // Exactly the buffer's worth got in; the rest were refused without a sequence.
    assert_eq!(accepted, (2..=CAPACITY as u64 + 1).collect::<Vec<_>>());
    drop(release);
    closer.join().unwrap().unwrap();
    drop(engine);

    // Everything accepted was written; nothing refused took a sequence number.
    let engine = Engine::open(dir.path()).unwrap();
    let n = accepted.len() as u64 + 1;
    assert_eq!(engine.next_seq(), n + 1);
    let stored: Vec<u64> = read_all(&engine).iter().map(|s| s.seq).collect();
    assert_eq!(stored, (1..=n).collect::<Vec<_>>());
}
