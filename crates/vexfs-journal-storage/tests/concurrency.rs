//! Many producers at once: sequence numbers are dense and unique, each producer's events
//! reach disk in the order it emitted them, and atomic batches get contiguous sequence
//! numbers and land in exactly one block while other threads emit single events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{OpenOnDrop, gated_engine, read_all, small_config};
use vexfs_journal_format::Event;
use vexfs_journal_storage::{Engine, StorageConfig, StorageError};
use vexfs_journal_testkit::{small_tag_of, small_tagged};

/// A batch's number and the sequence numbers it got.
type Batch = (u64, std::ops::Range<u64>);

const PRODUCERS: u64 = 8;
const PER_PRODUCER: u64 = 1500;

/// Checks the journal holds sequences `1..=total`, each producer's events in emission
/// order and under the sequence `emit` returned for them.
fn assert_ordered(engine: &Engine, returned: &[Vec<u64>]) {
    let total = PRODUCERS * PER_PRODUCER;
    let stored = read_all(engine);
    let seqs: Vec<u64> = stored.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "gap or duplicate");
    let mut next_index = vec![0u64; PRODUCERS as usize];
    for s in &stored {
        let (p, i) = small_tag_of(&s.event);
        assert_eq!(
            i, next_index[p as usize],
            "producer {p} out of order at seq {}",
            s.seq
        );
        next_index[p as usize] += 1;
        assert_eq!(
            returned[p as usize][i as usize], s.seq,
            "producer {p} event {i}"
        );
        assert_eq!(s.event.event_id, s.seq);
    }
    assert!(next_index.iter().all(|&n| n == PER_PRODUCER));
}

// Checks I1 (docs/invariants.md).
#[test]
fn eight_producers_get_dense_sequences_in_emission_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        // A small buffer keeps producers racing each other into the queue.
        buffer_capacity: 256,
        ..small_config()
    };
    let engine = Arc::new(Engine::create(dir.path(), config).unwrap());
    let handles: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..PER_PRODUCER)
                    .map(|i| engine.emit(small_tagged(p, i)).unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let returned: Vec<Vec<u64>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (p, seqs) in returned.iter().enumerate() {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "producer {p} got decreasing sequence numbers"
        );
    }
    let mut all: Vec<u64> = returned.iter().flatten().copied().collect();
    all.sort_unstable();
    let total = PRODUCERS * PER_PRODUCER;
    assert_eq!(all, (1..=total).collect::<Vec<_>>());

    engine.sync().unwrap();
    assert_eq!(engine.durable_seq(), total + 1);
    let m = engine.metrics();
    assert_eq!(m.events_emitted, total);
    assert_eq!(m.events_persisted, total);
    assert_eq!(m.events_dropped, 0);
    assert!(m.rotations > 0, "expected rotations with 64 KiB segments");
    assert_ordered(&engine, &returned);
    engine.close().unwrap();
    drop(engine);

    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.next_seq(), total + 1);
    assert_ordered(&engine, &returned);
}

// Checks I2 (docs/invariants.md).
#[test]
fn batches_are_contiguous_and_in_one_block_amid_single_emits() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        // Batches are bigger than a block: they must still stay whole.
        block_bytes: 1024,
        max_write_bytes: 8192,
        buffer_capacity: 64,
        ..small_config()
    };
    let engine = Arc::new(Engine::create(dir.path(), config).unwrap());
    let batchers: Vec<_> = (0..3u64)
        .map(|p| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..40u64)
                    .map(|b| {
                        let len = (b * 7 + p) % 13 + 1;
                        let events: Vec<Event> = (0..len)
                            .map(|j| small_tagged(p, b * 100 + j).metadata(vec![b'm'; 120]))
                            .collect();
                        let range = engine.emit_batch(events).unwrap();
                        assert_eq!(range.end - range.start, len, "batch {p}/{b}");
                        (b, range)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let singles: Vec<_> = (3..6u64)
        .map(|p| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..300u64)
                    .map(|i| engine.emit(small_tagged(p, i)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let batches: Vec<(u64, Vec<Batch>)> = batchers
        .into_iter()
        .enumerate()
        .map(|(p, h)| (p as u64, h.join().unwrap()))
        .collect();
    let single_seqs: Vec<u64> = singles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    engine.flush().unwrap();

    // Batches and singles partition 1..next_seq.
    let mut owner: HashMap<u64, &str> = HashMap::new();
    for s in &single_seqs {
        assert!(owner.insert(*s, "single").is_none(), "seq {s} twice");
    }
    for (_, list) in &batches {
        for (_, range) in list {
            for s in range.clone() {
                assert!(owner.insert(s, "batch").is_none(), "seq {s} twice");
            }
        }
    }
    let total = engine.next_seq() - 1;
    assert_eq!(owner.len() as u64, total);
    assert!((1..=total).all(|s| owner.contains_key(&s)));

    let store = engine.store();
    for (p, list) in &batches {
        for (b, range) in list {
            let first = store
                .locate(range.start)
                .unwrap_or_else(|| panic!("batch {p}/{b} start {} not on disk", range.start));
            for (j, seq) in range.clone().enumerate() {
                let block = store.locate(seq).unwrap();
                assert_eq!(
                    (block.segment.first_seq(), block.entry.offset),
                    (first.segment.first_seq(), first.entry.offset),
                    "batch {p}/{b}: seq {seq} is in another block than {}",
                    range.start
                );
                let ev = engine.get(seq).unwrap().unwrap().event;
                assert_eq!(small_tag_of(&ev), (*p, b * 100 + j as u64));
            }
            assert!(first.entry.first_seq <= range.start && range.end - 1 <= first.entry.last_seq);
        }
    }
    // The interleaving really crossed block and segment boundaries.
    let m = engine.metrics();
    assert!(m.rotations > 0, "no rotation");
    assert!(m.blocks_written > 120, "only {} blocks", m.blocks_written);
    assert_eq!(read_all(&engine).len() as u64, total);
}

// Checks I2 (docs/invariants.md).
#[test]
fn transaction_batches_share_blocks_but_are_never_split() {
    // With the default event limit, blocks end on their size; with 5, on their count.
    for block_events in [4096usize, 5] {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            // Small blocks (about eight of these events): batches often arrive when
            // the block being built is nearly full, and must then start the next one.
            block_bytes: 2048,
            block_events,
            buffer_capacity: 4096,
            ..small_config()
        };
        let (engine, gate) = gated_engine(dir.path(), config);
        let _release = OpenOnDrop(gate.clone());
        // The writer stops at the gate with its first block, so every batch below is
        // queued when it goes on: what shares a block does not depend on timing.
        engine.emit(small_tagged(9, 0)).unwrap();
        assert!(gate.wait_stalled(Duration::from_secs(10)));
        let batches: Vec<(u64, u64, std::ops::Range<u64>)> = (0..600u64)
            .map(|b| {
                let len = b % 3 + 1;
                let events: Vec<Event> = (0..len)
                    .map(|j| small_tagged(1, b * 100 + j).metadata(vec![b'm'; 60]))
                    .collect();
                let range = engine.emit_transactional(b + 1, events, false).unwrap();
                assert_eq!(range.end - range.start, len);
                (b, b + 1, range)
            })
            .collect();
        gate.open();
        engine.flush().unwrap();

        let store = engine.store();
        let mut blocks = std::collections::BTreeSet::new();
        for (b, tx, range) in &batches {
            let first = store.locate(range.start).unwrap();
            for (j, seq) in range.clone().enumerate() {
                let block = store.locate(seq).unwrap();
                let at = (block.segment.first_seq(), block.entry.offset);
                assert_eq!(
                    at,
                    (first.segment.first_seq(), first.entry.offset),
                    "batch {b}: seq {seq} is in another block than {}",
                    range.start
                );
                assert!(
                    block.entry.raw_size as usize <= 2048
                        && block.entry.event_count as usize <= block_events,
                    "batch {b}: its block holds {} bytes of {} records, past the limits",
                    block.entry.raw_size,
                    block.entry.event_count
                );
                blocks.insert(at);
                let stored = engine.get(seq).unwrap().unwrap();
                assert_eq!(small_tag_of(&stored.event), (1, b * 100 + j as u64));
                assert_eq!(stored.ext.cross_boundary_id, *tx);
            }
        }
        // Not alone: fewer blocks than batches (about a quarter with the default
        // limit, half with 5 events a block).
        assert!(
            blocks.len() < batches.len(),
            "{} blocks for {} batches (block_events {block_events})",
            blocks.len(),
            batches.len()
        );
        let events: u64 = batches.iter().map(|(.., r)| r.end - r.start).sum();
        assert_eq!(read_all(&engine).len() as u64, events + 1);
    }
}

// Checks I2 (docs/invariants.md).
#[test]
fn batch_larger_than_the_buffer_is_accepted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        buffer_capacity: 4,
        ..small_config()
    };
    let engine = Engine::create(dir.path(), config).unwrap();
    engine.emit(small_tagged(0, 0)).unwrap();
    let events: Vec<Event> = (0..50).map(|i| small_tagged(1, i)).collect();
    let range = engine.emit_batch(events).unwrap();
    assert_eq!(range, 2..52);
    engine.emit(small_tagged(0, 1)).unwrap();
    engine.sync().unwrap();
    let block = engine.store().locate(2).unwrap();
    assert!(block.entry.first_seq <= 2 && block.entry.last_seq >= 51);
    let tags: Vec<(u64, u64)> = read_all(&engine)
        .iter()
        .map(|s| small_tag_of(&s.event))
        .collect();
    let mut want = vec![(0, 0)];
    want.extend((0..50).map(|i| (1, i)));
    want.push((0, 1));
    assert_eq!(tags, want);
}

// Checks I3 (docs/invariants.md).
#[test]
fn rejected_or_empty_batch_consumes_no_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), small_config()).unwrap();
    assert_eq!(engine.emit(small_tagged(0, 0)).unwrap(), 1);

    // One event over the kernel's payload limit spoils the whole batch.
    let bad = vec![
        small_tagged(1, 0),
        small_tagged(1, 1).payload(vec![0u8; 65_537]),
        small_tagged(1, 2),
    ];
    match engine.emit_batch(bad) {
        Err(StorageError::InvalidEvent(_)) => {}
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
    assert_eq!(engine.next_seq(), 2);
    assert!(engine.metrics().events_rejected >= 1);

    let empty = engine.emit_batch(Vec::new()).unwrap();
    assert!(empty.is_empty());
    assert_eq!(engine.next_seq(), 2);

    assert_eq!(engine.emit(small_tagged(0, 1)).unwrap(), 2);
    engine.sync().unwrap();
    let tags: Vec<(u64, u64)> = read_all(&engine)
        .iter()
        .map(|s| small_tag_of(&s.event))
        .collect();
    assert_eq!(tags, vec![(0, 0), (0, 1)]);
}

// Checks I6, I16 (docs/invariants.md).
#[test]
fn live_readers_see_a_gapless_prefix_while_producers_write() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::create(dir.path(), small_config()).unwrap());
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    engine.emit(small_tagged(p, i)).unwrap();
                }
            })
        })
        .collect();
    let mut scans = 0;
    let mut longest = 0;
    while !producers.iter().all(|h| h.is_finished()) || scans < 3 {
        let written = engine.written_seq();
        let seqs: Vec<u64> = engine.scan(1..written).map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, (1..written).collect::<Vec<_>>(), "scan {scans}");
        if written > 1 {
            let last = engine.get(written - 1).unwrap().unwrap();
            assert_eq!(last.seq, written - 1);
            small_tag_of(&last.event);
        }
        longest = longest.max(seqs.len());
        scans += 1;
    }
    for h in producers {
        h.join().unwrap();
    }
    engine.flush().unwrap();
    assert_eq!(read_all(&engine).len(), 8000);
    assert!(engine.metrics().rotations > 0);
    assert!(scans >= 3, "{scans} scans, longest {longest}");
}
