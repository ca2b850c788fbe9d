//! Sequence synchronisation: the kernel source and the userspace journal advance
//! independently; each sync measures the drift, imports what the journal lacks and
//! re-anchors the offset; the merged timeline has no duplicate and no missing id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use vexfs_journal::Journal;
use vexfs_journal_format::{CausalityLink, Compression};
use vexfs_journal_kernel::seed::KernelCompatibilityBridgeTrait;
use vexfs_journal_kernel::{
    BridgeConfig, CompatibilityError, ImageWriter, KernelBridge, SyncError, WriterOptions,
    check_timeline, verify_compatibility,
};

/// A growing kernel journal source: blocks are appended, ids continue.
struct KernelSource {
    path: std::path::PathBuf,
    next_seq: u64,
    next_block: u64,
}

impl KernelSource {
    fn new(dir: &Path) -> Self {
        let path = dir.join("kernel-journal.img");
        std::fs::write(&path, b"").unwrap();
        KernelSource {
            path,
            next_seq: 1,
            next_block: 1,
        }
    }

    /// The kernel logs `n` events (appended as blocks of up to 8).
    fn log(&mut self, n: u64) {
        let events: Vec<_> = (self.next_seq..self.next_seq + n)
            .map(common::kernel_event)
            .collect();
        self.next_seq += n;
        let mut w = ImageWriter::new(
            Vec::new(),
            "src",
            WriterOptions {
                block_events: 8,
                first_block_id: self.next_block,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        for ev in &events {
            w.push(ev).unwrap();
        }
        let (bytes, summary) = w.finish().unwrap();
        self.next_block += summary.blocks;
        let mut f = OpenOptions::new().append(true).open(&self.path).unwrap();
        f.write_all(&bytes).unwrap();
    }

    fn last(&self) -> u64 {
        self.next_seq - 1
    }
}

fn emit_user(journal: &Journal, n: u64) {
    for i in 0..n {
        journal.emit(common::user_event(i)).unwrap();
    }
    journal.flush().unwrap();
}

fn setup() -> (tempfile::TempDir, Journal, KernelSource, KernelBridge) {
    let (dir, journal) = common::journal();
    let source = KernelSource::new(dir.path());
    let bridge = KernelBridge::new(
        journal.clone(),
        BridgeConfig::with_source(source.path.clone()),
    )
    .unwrap();
    (dir, journal, source, bridge)
}

// Checks I41 (docs/invariants.md).
#[test]
fn drift_is_detected_and_resynced_with_no_duplicate_or_missing_id() {
    let (_dir, journal, mut kernel, bridge) = setup();

    // Both sides start independently: userspace 30 events, the kernel 50.
    emit_user(&journal, 30);
    kernel.log(50);
    let r1 = bridge.sync().unwrap();
    assert_eq!(r1.kernel_sequence, 50);
    assert_eq!(r1.userspace_sequence_before, 30);
    assert_eq!(r1.kernel_lag, 50);
    assert_eq!(r1.imported, 50);
    assert!(r1.full_scan);
    assert_eq!(r1.drift, 0, "first synchronisation: nothing to drift from");
    // Marker at 31, kernel events 1..=50 at 32..=81: offset 50 − 81.
    assert_eq!(r1.userspace_sequence, 81);
    assert_eq!(r1.offset, 50 - 81);
    assert_eq!(r1.synced_kernel_sequence, 50);

    // The kernel logs 30 more while userspace emits 20: drift = 30 − 20.
    kernel.log(30);
    emit_user(&journal, 20);
    let r2 = bridge.sync().unwrap();
    assert_eq!(
        (r2.kernel_sequence, r2.userspace_sequence_before),
        (80, 101)
    );
    assert_eq!(r2.drift, 10);
    assert!(r2.drift_detected && r2.resynced);
    assert_eq!(
        (r2.kernel_lag, r2.imported, r2.already_present),
        (30, 30, 0)
    );
    assert!(!r2.full_scan, "resumed after the last block read");
    // Marker at 102, 51..=80 at 103..=132.
    assert_eq!(r2.offset, 80 - 132);

    // Userspace alone advances: negative drift, nothing to import.
    emit_user(&journal, 7);
    let r3 = bridge.sync().unwrap();
    assert_eq!((r3.drift, r3.imported, r3.kernel_lag), (-7, 0, 0));
    assert!(r3.drift_detected);
    assert_eq!(r3.offset, 80 - 132, "the mapping stays anchored");

    // Nothing happens: no drift.
    let r4 = bridge.sync().unwrap();
    assert_eq!((r4.drift, r4.imported), (0, 0));
    assert!(!r4.drift_detected && !r4.resynced);

    // Both advance by the same amount: the spread does not change (drift 0), but the
    // kernel lag is imported all the same.
    kernel.log(5);
    emit_user(&journal, 5);
    let r5 = bridge.sync().unwrap();
    assert_eq!((r5.drift, r5.kernel_lag, r5.imported), (0, 5, 5));
    assert!(r5.resynced);

    let check = check_timeline(&journal).unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.kernel, kernel.last());
    assert_eq!(
        check.kernel_sequences.floor(),
        kernel.last(),
        "no kernel id missing"
    );
    assert!(check.kernel_sequences.ranges().is_empty());
    assert_eq!(check.userspace, 30 + 20 + 7 + 5);
    assert_eq!(check.markers, 3);
    assert_eq!(
        check.events,
        journal.next_seq() - 1,
        "no journal sequence missing"
    );
    assert_eq!(
        vexfs_journal::ext::marks(&journal).last_kernel_sync_sequence,
        85
    );

    let m = bridge.sync_metrics();
    assert_eq!(m.kernel_sync_operations, 5);
    assert_eq!(m.successful_syncs, 5);
    assert_eq!(m.sequence_drift_events, 2);
    assert_eq!(m.imported_events, 85);
    assert_eq!(m.sync_latency.samples, 5);
    assert!(m.max_sync_latency_ns > 0);
}

#[test]
fn the_offset_maps_between_the_sequence_spaces() {
    let (_dir, journal, mut kernel, bridge) = setup();
    emit_user(&journal, 12);
    kernel.log(40);
    bridge.sync().unwrap();
    for k in [1, 17, 40] {
        let seq = bridge.adjust_sequence_from_kernel(k);
        let stored = journal.get(seq).unwrap().unwrap();
        assert_eq!(
            stored.event.global_sequence, k,
            "kernel {k} at journal {seq}"
        );
        assert_eq!(bridge.adjust_sequence_for_kernel(seq), k);
        assert_eq!(bridge.journal_sequence_of(k).unwrap(), Some(seq));
    }
    // After userspace and the kernel move, exact lookups still find every event.
    emit_user(&journal, 3);
    kernel.log(10);
    bridge.sync().unwrap();
    for k in 1..=50 {
        let seq = bridge.journal_sequence_of(k).unwrap().unwrap();
        assert_eq!(journal.get(seq).unwrap().unwrap().event.global_sequence, k);
    }
    assert_eq!(bridge.journal_sequence_of(51).unwrap(), None);
    // The trait's adjustments are the same functions.
    let t: &dyn Fn(u64) -> u64 =
        &|k| KernelCompatibilityBridgeTrait::adjust_sequence_from_kernel(&bridge, k);
    assert_eq!(t(50), bridge.adjust_sequence_from_kernel(50));
}

#[test]
fn a_rewritten_source_is_read_again_in_full() {
    let (_dir, journal, mut kernel, bridge) = setup();
    kernel.log(20);
    bridge.sync().unwrap();
    // The source is rewritten (same events, different blocking): no valid resume point.
    let events: Vec<_> = (1..=25).map(common::kernel_event).collect();
    common::write_image_file(
        &kernel.path,
        &events,
        WriterOptions {
            compression: Compression::None,
            block_events: 3,
            ..WriterOptions::default()
        },
    );
    let r = bridge.sync().unwrap();
    assert!(r.full_scan);
    assert_eq!((r.imported, r.already_present), (5, 20));
    assert!(check_timeline(&journal).unwrap().is_consistent());
}

// Checks I41 (docs/invariants.md).
#[test]
fn a_kernel_that_went_backwards_is_refused() {
    let (_dir, journal, mut kernel, bridge) = setup();
    kernel.log(30);
    bridge.sync().unwrap();
    // The kernel journal was reset: its sequences start again at 1.
    let events: Vec<_> = (1..=5).map(common::kernel_event).collect();
    common::write_image_file(&kernel.path, &events, WriterOptions::default());
    let next = journal.next_seq();
    match bridge.sync() {
        Err(SyncError::KernelSequenceRegressed {
            kernel_last: 5,
            synced: 30,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(journal.next_seq(), next, "nothing imported");
    let m = bridge.sync_metrics();
    assert_eq!((m.failed_syncs, m.sequence_drift_events), (1, 1));
    let message = bridge.sync().unwrap_err().to_string();
    assert!(message.contains("went backwards"), "{message}");
}

// Checks I41 (docs/invariants.md).
#[test]
fn a_torn_tail_is_read_again_once_complete() {
    let (_dir, journal, mut kernel, bridge) = setup();
    kernel.log(8);
    let complete = std::fs::read(&kernel.path).unwrap();
    kernel.log(8);
    let full = std::fs::read(&kernel.path).unwrap();
    // The kernel is still writing the second block: half of it is on disk.
    let half = complete.len() + (full.len() - complete.len()) / 2;
    std::fs::write(&kernel.path, &full[..half]).unwrap();
    let r = bridge.sync().unwrap();
    assert_eq!(r.imported, 8);
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].offset, complete.len() as u64);
    // Now it is complete: the next sync resumes at the torn block and imports it.
    std::fs::write(&kernel.path, &full).unwrap();
    let r = bridge.sync().unwrap();
    assert!(!r.full_scan);
    assert_eq!(r.imported, 8);
    assert!(r.damage.is_empty());
    let check = check_timeline(&journal).unwrap();
    assert!(check.is_consistent());
    assert_eq!(check.kernel, 16);
}

#[test]
fn concurrent_userspace_emission_during_syncs() {
    let (_dir, journal, mut kernel, bridge) = setup();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let emitter = {
        let journal = journal.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                journal
                    .emit(common::user_event(n).link(CausalityLink::default()))
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    for _ in 0..10 {
        kernel.log(17);
        bridge.sync().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let emitted = emitter.join().unwrap();
    journal.sync().unwrap();
    let check = check_timeline(&journal).unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.kernel, 170);
    assert_eq!(check.kernel_sequences.floor(), 170);
    assert_eq!(check.userspace, emitted);
}

#[test]
fn versions_availability_and_the_async_interface() {
    assert!(verify_compatibility((1, 0)).is_ok());
    assert!(matches!(
        verify_compatibility((2, 0)),
        Err(CompatibilityError::UnsupportedMajor { found: (2, 0), .. })
    ));
    assert!(matches!(
        verify_compatibility((0, 9)),
        Err(CompatibilityError::UnsupportedMajor { .. })
    ));
    let newer = verify_compatibility((1, 3)).unwrap_err();
    assert!(matches!(newer, CompatibilityError::NewerMinor { .. }));
    assert!(
        newer
            .to_string()
            .contains("1.3 is newer than this build's 1.0"),
        "{newer}"
    );

    let (dir, journal, mut kernel, bridge) = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(bridge.verify_compatibility((1, 0)).is_ok());
        assert!(bridge.is_kernel_available().await);
        kernel.log(9);
        let r = bridge.sync_sequences().await.unwrap();
        assert_eq!(r.imported, 9);
        let status = bridge.get_kernel_status().await.unwrap();
        assert!(status.available);
        assert_eq!(
            (status.events, status.kernel_sequence, status.pending),
            (9, 9, 0)
        );
        assert_eq!(status.synced_kernel_sequence, 9);
        assert_eq!(bridge.get_sync_metrics().successful_syncs, 1);
    });
    // Without a runtime the async methods run inline.
    let r = futures_lite_block_on(bridge.sync_sequences()).unwrap();
    assert_eq!(r.imported, 0);

    let no_source = KernelBridge::new(journal.clone(), BridgeConfig::default()).unwrap();
    assert!(!rt.block_on(no_source.is_kernel_available()));
    assert!(matches!(no_source.sync(), Err(SyncError::NoSource)));
    let missing = KernelBridge::new(
        journal.clone(),
        BridgeConfig::with_source(dir.path().join("nope.img")),
    )
    .unwrap();
    assert!(!missing.kernel_available());
    match missing.sync() {
        Err(SyncError::Unavailable { path, .. }) => assert!(path.ends_with("nope.img")),
        other => panic!("{other:?}"),
    }
    let directory = KernelBridge::new(journal, BridgeConfig::with_source(dir.path())).unwrap();
    assert!(!directory.kernel_available());
}

/// Polls a future to completion on this thread (no runtime).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
