//! Round trips through disk: one event of every known type, the seven fully populated
//! sample events and an unknown type code come back from a reopened journal exactly as
//! emitted, under every compression; imported events keep their ids; sequence numbers
//! continue across reopen cycles, also when a reopen changes the settings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{read_all, small_config};
use vexfs_journal_format::{Compression, Event, EventType, samples};
use vexfs_journal_storage::{Engine, OpenOptions, StorageConfig};
use vexfs_journal_testkit::{as_stamped, small_tag_of, small_tagged};

const UNKNOWN_TYPE: u32 = 0x0999;

/// One event of every known type, the samples, and an unknown type code.
fn every_kind() -> Vec<Event> {
    let mut v: Vec<Event> = EventType::all()
        .enumerate()
        .map(|(i, t)| {
            Event::new(t)
                .inode(i as u64 + 1)
                .path(format!("/types/{t}"))
                .payload(format!("an event of type {t}").into_bytes())
        })
        .collect();
    v.extend(samples::category_events().into_iter().map(|(_, ev)| ev));
    v.push(
        Event::new(EventType::from_code(UNKNOWN_TYPE))
            .subtype(7)
            .payload(b"from a newer kernel".to_vec())
            .metadata(br#"{"unknown":true}"#.to_vec()),
    );
    v
}

/// Checks that `engine` holds exactly `emitted` (as stamped), by point reads and by a
/// scan.
fn assert_holds(engine: &Engine, emitted: &[(u64, Event)]) {
    for (seq, ev) in emitted {
        let stored = engine
            .get(*seq)
            .unwrap()
            .unwrap_or_else(|| panic!("seq {seq} missing"));
        assert_eq!(stored.seq, *seq);
        assert_eq!(stored.ext.userspace_sequence, *seq);
        assert_eq!(
            stored.event,
            as_stamped(ev, *seq, &stored.event),
            "seq {seq}"
        );
    }
    let scanned = read_all(engine);
    assert_eq!(scanned.len(), emitted.len());
    for (got, (seq, ev)) in scanned.iter().zip(emitted) {
        assert_eq!(got.seq, *seq);
        assert_eq!(
            got.event,
            as_stamped(ev, *seq, &got.event),
            "scan seq {seq}"
        );
    }
}

#[test]
fn every_event_type_round_trips_through_disk() {
    let kinds = every_kind();
    let known = EventType::all().count();
    assert!(known >= 60, "taxonomy lists {known} types");
    assert_eq!(kinds.len(), known + 7 + 1);
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            compression,
            block_bytes: 1024,
            ..small_config()
        };
        let engine = Engine::create(dir.path(), config).unwrap();
        let mut emitted = Vec::new();
        for ev in &kinds {
            emitted.push((engine.emit(ev.clone()).unwrap(), ev.clone()));
        }
        let seqs: Vec<u64> = emitted.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=kinds.len() as u64).collect::<Vec<_>>());
        engine.sync().unwrap();
        // Readable in this process before closing.
        assert_holds(&engine, &emitted);
        engine.close().unwrap();
        drop(engine);

        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(engine.config().compression, compression);
        assert_eq!(engine.open_report().events, kinds.len() as u64);
        assert!(engine.open_report().repairs.is_empty());
        assert_eq!(engine.next_seq(), kinds.len() as u64 + 1);
        assert_holds(&engine, &emitted);
        assert!(engine.get(0).unwrap().is_none());
        assert!(engine.get(kinds.len() as u64 + 1).unwrap().is_none());

        let unknown = engine.get(kinds.len() as u64).unwrap().unwrap();
        assert_eq!(unknown.event.event_type.code(), UNKNOWN_TYPE);
        assert!(!unknown.event.event_type.is_known());

        // The blocks on disk use the configured compression.
        let store = engine.store();
        let mut blocks = 0;
        let mut next = store.locate_from(1);
        while let Some(block) = next {
            let data = store.read(&block).unwrap();
            assert_eq!(data.header.compression, compression);
            blocks += 1;
            next = store.next_block(&block);
        }
        assert!(blocks > 1, "expected several 1 KiB blocks, got {blocks}");
    }
}

// Checks I39 (docs/invariants.md).
#[test]
fn imported_events_keep_their_ids_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), small_config()).unwrap();
    let first = engine.emit(small_tagged(0, 0)).unwrap();
    let imported: Vec<Event> = samples::category_events()
        .into_iter()
        .map(|(_, ev)| ev)
        .collect();
    let range = engine.append_preserving(imported.clone()).unwrap();
    assert_eq!(range, first + 1..first + 1 + imported.len() as u64);
    engine.close().unwrap();
    drop(engine);

    let engine = Engine::open(dir.path()).unwrap();
    for (seq, ev) in range.clone().zip(&imported) {
        let stored = engine.get(seq).unwrap().unwrap();
        assert_eq!(stored.seq, seq);
        // Exactly as given: the samples' own ids, sequences and timestamps.
        assert_eq!(&stored.event, ev, "seq {seq}");
    }
    assert_eq!(
        small_tag_of(&engine.get(first).unwrap().unwrap().event),
        (0, 0),
        "the event before the import"
    );
}

// Checks I4 (docs/invariants.md).
#[test]
fn sequence_numbers_continue_across_reopen_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let mut emitted: Vec<(u64, Event)> = Vec::new();
    let compressions = [
        Compression::Lz4,
        Compression::Zstd,
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (cycle, compression) in compressions.into_iter().enumerate() {
        let cycle = cycle as u64;
        let config = StorageConfig {
            compression,
            ..small_config()
        };
        let engine = if cycle == 0 {
            Engine::create(dir.path(), config).unwrap()
        } else {
            Engine::open_with(
                dir.path(),
                OpenOptions {
                    config: Some(config),
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let before = emitted.len() as u64;
        assert_eq!(engine.next_seq(), before + 1, "cycle {cycle}");
        assert_eq!(engine.open_report().events, before, "cycle {cycle}");
        assert_eq!(engine.metrics().events_recovered, before, "cycle {cycle}");
        // Everything from earlier cycles is still there.
        assert_holds(&engine, &emitted);

        for i in 0..cycle + 3 {
            let ev = small_tagged(cycle, i);
            let seq = engine.emit(ev.clone()).unwrap();
            assert_eq!(seq, emitted.len() as u64 + 1, "cycle {cycle} event {i}");
            emitted.push((seq, ev));
        }
        let batch: Vec<Event> = (100..104).map(|i| small_tagged(cycle, i)).collect();
        let range = engine.emit_batch(batch.clone()).unwrap();
        assert_eq!(range.start, emitted.len() as u64 + 1);
        emitted.extend(range.zip(batch));
        assert_eq!(
            engine.metrics().events_emitted,
            emitted.len() as u64 - before
        );
        engine.close().unwrap();
    }
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.next_seq(), emitted.len() as u64 + 1);
    assert_holds(&engine, &emitted);
    // The settings of the last reopen were not stored: journal.json keeps the first.
    assert_eq!(engine.config().compression, Compression::Lz4);
}
