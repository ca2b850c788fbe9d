//! Importing kernel images into a journal: ids, sequences and timestamps kept; idempotent
//! (the same image twice adds nothing, even after a crash between the events and the
//! header mark); damaged images import every intact block and can be completed later;
//! one merged timeline with no duplicate or missing id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use vexfs_journal::{Config, Event, Journal, Query, StoredEvent, ext};
use vexfs_journal_format::Compression;
use vexfs_journal_kernel::marker::{BRIDGE_AGENT, is_marker};
use vexfs_journal_kernel::{
    BridgeConfig, ImageWriter, KernelBridge, Origin, OriginFilter, Timeline, WriterOptions,
    check_timeline, export_events, read_image_from,
};

fn all(journal: &Journal) -> Vec<StoredEvent> {
    journal.query(&Query::new()).unwrap().events
}

fn kernel_events_in(journal: &Journal) -> Vec<Event> {
    let t = Timeline::load(journal).unwrap();
    all(journal)
        .into_iter()
        .filter(|s| t.origin(s.seq) == Origin::Kernel)
        .map(|s| s.event)
        .collect()
}

fn bridge(journal: &Journal) -> KernelBridge {
    KernelBridge::new(journal.clone(), BridgeConfig::default()).unwrap()
}

// Checks I39 (docs/invariants.md).
#[test]
fn import_preserves_ids_sequences_and_timestamps() {
    let (_d, journal) = common::journal();
    journal.emit(common::user_event(1)).unwrap();
    let evs: Vec<Event> = (1..=25).map(common::kernel_event).collect();
    let image = common::image_bytes(&evs, WriterOptions::default());
    let b = bridge(&journal);
    let r = b.import_reader(&image[..], "kernel.img").unwrap();
    assert_eq!(r.imported, 25);
    assert_eq!(r.events_read, 25);
    assert_eq!(r.kernel_range, Some((1, 25)));
    assert_eq!((r.synced_before, r.synced_after), (0, 25));
    assert_eq!(r.batches, 1);
    // Marker at 2, events at 3..=27.
    assert_eq!(r.journal_ranges, [(3, 27)]);
    assert_eq!(kernel_events_in(&journal), evs, "every field kept");
    assert_eq!(ext::marks(&journal).last_kernel_sync_sequence, 25);
    let marker = journal.get(2).unwrap().unwrap();
    assert!(is_marker(&marker.event));
    assert_eq!(marker.event.context.agent_id, BRIDGE_AGENT.as_bytes());
    assert_eq!(marker.event.context.path, "kernel.img");
}

// Checks I40 (docs/invariants.md).
#[test]
fn importing_the_same_image_twice_adds_nothing() {
    let (d, journal) = common::journal();
    let b = bridge(&journal);
    let image = common::kernel_image(1..=40, 7);
    let first = b.import_reader(&image[..], "img").unwrap();
    let next = journal.next_seq();
    let second = b.import_reader(&image[..], "img").unwrap();
    assert_eq!(first.imported, 40);
    assert_eq!((second.imported, second.already_present), (0, 40));
    assert_eq!(second.batches, 0, "not even a marker");
    assert_eq!(journal.next_seq(), next);
    // Also after reopening the journal, with a fresh bridge.
    let dir = common::journal_dir(&d);
    drop(b);
    journal.close().unwrap();
    drop(journal);
    let journal = Journal::open_existing(&dir).unwrap();
    let b = bridge(&journal);
    let third = b.import_reader(&image[..], "img").unwrap();
    assert_eq!(third.imported, 0);
    assert_eq!(journal.next_seq(), next);
    assert_eq!(b.state().unwrap().watermark(), 40);
}

// Checks I40 (docs/invariants.md).
#[test]
fn a_lost_header_mark_does_not_cause_a_reimport() {
    // A crash after the batch reached disk but before the header mark was written:
    // the marker in the batch is the record, the header mark is repaired on open.
    let (d, journal) = common::journal();
    let image = common::kernel_image(1..=10, 4);
    bridge(&journal).import_reader(&image[..], "img").unwrap();
    ext::record_marks(&journal, |m| m.last_kernel_sync_sequence = 0).unwrap();
    let dir = common::journal_dir(&d);
    journal.close().unwrap();
    drop(journal);
    let journal = Journal::open_existing(&dir).unwrap();
    assert_eq!(ext::marks(&journal).last_kernel_sync_sequence, 0);
    let b = bridge(&journal);
    assert_eq!(
        ext::marks(&journal).last_kernel_sync_sequence,
        10,
        "repaired from the marker"
    );
    let again = b.import_reader(&image[..], "img").unwrap();
    assert_eq!((again.imported, again.already_present), (0, 10));
}

// Checks I40 (docs/invariants.md).
#[test]
fn overlapping_images_merge_without_duplicates() {
    let (_d, journal) = common::journal();
    let b = bridge(&journal);
    b.import_reader(&common::kernel_image(1..=10, 3)[..], "a")
        .unwrap();
    journal.emit(common::user_event(1)).unwrap();
    let r = b
        .import_reader(&common::kernel_image(5..=20, 3)[..], "b")
        .unwrap();
    assert_eq!((r.imported, r.already_present), (10, 6));
    b.import_reader(&common::kernel_image(1..=10, 3)[..], "a")
        .unwrap();
    let seqs: Vec<u64> = kernel_events_in(&journal)
        .iter()
        .map(|e| e.global_sequence)
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let check = check_timeline(&journal).unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!((check.kernel, check.userspace, check.markers), (20, 1, 2));
}

// Checks I40 (docs/invariants.md).
#[test]
fn a_damaged_image_imports_every_intact_block_and_is_completed_later() {
    let (_d, journal) = common::journal();
    let b = bridge(&journal);
    let image = common::kernel_image(1..=12, 3);
    let offsets: Vec<u64> = read_image_from(&image[..], "x", Default::default())
        .unwrap()
        .blocks
        .iter()
        .map(|b| b.offset)
        .collect();
    let mut damaged = image.clone();
    damaged[offsets[1] as usize + 2000] ^= 0x40;
    let r = b.import_reader(&damaged[..], "damaged.img").unwrap();
    assert_eq!(r.imported, 9, "blocks 1, 3, 4");
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].offset, offsets[1]);
    assert_eq!(r.damage[0].block_id, Some(2));
    assert_eq!(r.synced_after, 12);
    let state = b.state().unwrap();
    assert!(!state.settled.contains(4) && state.settled.contains(7));
    assert_eq!(
        (state.settled.floor(), state.settled.ranges()),
        (3, &[(7, 12)][..])
    );

    // The intact image later fills the hole, and only the hole.
    let r = b.import_reader(&image[..], "intact.img").unwrap();
    assert_eq!((r.imported, r.already_present), (3, 9));
    assert_eq!(b.state().unwrap().settled.floor(), 12);
    let mut seqs: Vec<u64> = kernel_events_in(&journal)
        .iter()
        .map(|e| e.global_sequence)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
    assert!(check_timeline(&journal).unwrap().is_consistent());
    assert_eq!(
        b.journal_sequence_of(5)
            .unwrap()
            .map(|s| { journal.get(s).unwrap().unwrap().event.global_sequence }),
        Some(5)
    );
}

// Checks I39 (docs/invariants.md).
#[test]
fn many_batches_and_unsequenced_events() {
    let (_d, journal) = common::journal();
    let b = KernelBridge::new(
        journal.clone(),
        BridgeConfig {
            batch_events: 4,
            ..BridgeConfig::default()
        },
    )
    .unwrap();
    let mut evs: Vec<Event> = (1..=10).map(common::kernel_event).collect();
    evs[4].global_sequence = 0;
    let r = b
        .import_reader(
            &common::image_bytes(&evs, WriterOptions::default())[..],
            "img",
        )
        .unwrap();
    assert_eq!((r.imported, r.unsequenced, r.batches), (9, 1, 3));
    assert_eq!(r.unsequenced_ids, [1005]);
    let check = check_timeline(&journal).unwrap();
    assert!(check.is_consistent());
    assert_eq!((check.kernel, check.markers), (9, 3));
    // Duplicates inside one image are imported once.
    let dup: Vec<Event> = [11, 12, 11, 13, 12]
        .into_iter()
        .map(common::kernel_event)
        .collect();
    let r = b
        .import_reader(
            &common::image_bytes(&dup, WriterOptions::default())[..],
            "dup",
        )
        .unwrap();
    assert_eq!((r.imported, r.already_present), (3, 2));
}

#[test]
fn exported_journals_leave_markers_out_and_round_trip() {
    let (_d, journal) = common::journal();
    let b = bridge(&journal);
    for i in 0..3 {
        journal.emit(common::user_event(i)).unwrap();
    }
    b.import_reader(&common::kernel_image(1..=5, 2)[..], "img")
        .unwrap();
    journal.emit(common::user_event(9)).unwrap();
    journal.sync().unwrap();
    let export = |origin| {
        let mut w = ImageWriter::new(Vec::new(), "export", WriterOptions::default()).unwrap();
        let report = export_events(&journal, &Query::new(), origin, &mut w).unwrap();
        (report, w.finish().unwrap().0)
    };
    let (report, bytes) = export(OriginFilter::All);
    assert_eq!((report.events, report.markers_skipped), (9, 1));
    assert_eq!(report.seq_range, Some((1, 10)));
    let image = read_image_from(&bytes[..], "export", Default::default()).unwrap();
    let exported: Vec<Event> = image.events().cloned().collect();
    let stored = all(&journal);
    let t = Timeline::load(&journal).unwrap();
    let expected: Vec<Event> = stored
        .iter()
        .map(|s| s.event.clone())
        .filter(|e| !is_marker(e))
        .collect();
    assert_eq!(exported, expected);

    // One sequence space at a time: each imports completely into another journal.
    for (origin, wanted) in [
        (OriginFilter::Kernel, Origin::Kernel),
        (OriginFilter::Userspace, Origin::Userspace),
    ] {
        let (report, bytes) = export(origin);
        let expected: Vec<Event> = stored
            .iter()
            .filter(|s| t.origin(s.seq) == wanted)
            .map(|s| s.event.clone())
            .collect();
        assert_eq!(report.events as usize, expected.len());
        let (_d2, other) = common::journal();
        let r = bridge(&other).import_reader(&bytes[..], "export").unwrap();
        assert_eq!(r.imported as usize, expected.len(), "{origin:?}");
        assert_eq!(kernel_events_in(&other), expected);
    }

    // Both spaces in one image: global sequences 1..=3 exist in both, and an import
    // dedupes by global sequence (the documented limit of mixed exports).
    let (_d3, other) = common::journal();
    let r = bridge(&other).import_reader(&bytes[..], "export").unwrap();
    assert_eq!((r.imported, r.already_present), (6, 3));
}

#[test]
fn concurrent_imports_and_emits_keep_one_timeline() {
    let (_d, journal) = common::journal();
    let image = common::kernel_image(1..=200, 16);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let emitter = {
        let journal = journal.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 100 {
                journal.emit(common::user_event(n)).unwrap();
                n += 1;
            }
            n
        })
    };
    // Two independent bridges of the same journal import the same image at once.
    let importers: Vec<_> = (0..2)
        .map(|_| {
            let b = KernelBridge::new(
                journal.clone(),
                BridgeConfig {
                    batch_events: 16,
                    ..BridgeConfig::default()
                },
            )
            .unwrap();
            let image = image.clone();
            std::thread::spawn(move || b.import_reader(&image[..], "img").unwrap().imported)
        })
        .collect();
    let imported: u64 = importers.into_iter().map(|h| h.join().unwrap()).sum();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let emitted = emitter.join().unwrap();
    journal.sync().unwrap();
    assert_eq!(imported, 200, "each kernel event imported once in total");
    let check = check_timeline(&journal).unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.kernel, 200);
    assert_eq!(check.userspace, emitted);
    assert_eq!(check.kernel_sequences.floor(), 200);
    let ids: BTreeSet<u64> = kernel_events_in(&journal)
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, (1001..=1200).collect());
}

#[test]
fn lz4_and_uncompressed_images_import_the_same() {
    let evs: Vec<Event> = (1..=30).map(common::kernel_event).collect();
    let mut results = Vec::new();
    for compression in [Compression::None, Compression::Lz4] {
        let (_d, journal) = common::journal();
        let bytes = common::image_bytes(
            &evs,
            WriterOptions {
                compression,
                ..WriterOptions::default()
            },
        );
        bridge(&journal).import_reader(&bytes[..], "img").unwrap();
        results.push(kernel_events_in(&journal));
    }
    assert_eq!(results[0], evs);
    assert_eq!(results[1], evs);
}

#[test]
fn journals_without_kernel_compatibility_still_refuse_nothing_the_kernel_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(
        dir.path().join("j"),
        Config {
            kernel_compatibility: false,
            ..Config::default()
        },
    )
    .unwrap();
    let r = bridge(&journal)
        .import_reader(&common::kernel_image(1..=3, 3)[..], "img")
        .unwrap();
    assert_eq!(r.imported, 3);
}

#[test]
fn an_undecided_coordinated_transaction_does_not_stop_imports() {
    // The bridge's bookkeeping reads the journal as stored: a transaction of a
    // coordinator still undecided before the import holds readers back, not the bridge.
    let (_d, journal) = common::journal();
    let tx = std::num::NonZeroU64::new(77).unwrap();
    ext::emit_transactional(&journal, tx, vec![common::user_event(1)], true).unwrap();
    let b = bridge(&journal);
    let image = common::kernel_image(1..=10, 3);
    let first = b.import_reader(&image[..], "img").unwrap();
    assert_eq!(first.imported, 10);
    // Its marker is found again: the same image adds nothing.
    let again = b.import_reader(&image[..], "img").unwrap();
    assert_eq!((again.imported, again.already_present), (0, 10));
    let check = check_timeline(&journal).unwrap();
    assert!(check.sequence_gaps.is_empty(), "{check:?}");
    // Readers still wait for the transaction's decision.
    assert!(all(&journal).is_empty());
}
