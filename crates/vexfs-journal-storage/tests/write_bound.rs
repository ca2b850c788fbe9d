//! `max_write_bytes` bounds every write call, which bounds how much one torn write can
//! damage. The engine
//! threads' write syscalls are counted from `/proc/self/task/<tid>/io`; the threads
//! are those that appear when the engine opens, so this file holds one test and runs
//! alone in its process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Gate, OpenOnDrop, read_all};
use vexfs_journal_storage::{Engine, OpenOptions, StorageConfig};
use vexfs_journal_testkit::{noise, small_tagged};

/// Thread ids of this process.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `(write syscalls, bytes written)` summed over threads `tids`.
fn write_counters(tids: &[String]) -> (u64, u64) {
    tids.iter()
        .map(|tid| {
            let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/io")).unwrap();
            let field = |name: &str| -> u64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            };
            (field("syscw:"), field("wchar:"))
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

// Checks I11 (docs/invariants.md).
/// A group commit of many small blocks is written in several calls of at most
/// `max_write_bytes` (a single block larger than that goes alone). This once went out
/// as one 43 KiB write with `max_write_bytes` = 8 KiB.
#[test]
fn no_write_call_exceeds_max_write_bytes() {
    if std::fs::metadata("/proc/self/task").is_err() {
        eprintln!("no /proc: cannot count write calls");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::closed();
    let config = StorageConfig {
        segment_size: 1 << 20,
        block_bytes: 1024,
        max_write_bytes: 8192,
        ..StorageConfig::default()
    };
    let before = threads();
    let engine = Engine::open_with(
        dir.path(),
        OpenOptions {
            config: Some(config.clone()),
            create: true,
            create_new: true,
            observer: Some(gate.observer()),
            ..Default::default()
        },
    )
    .unwrap();
    let release = OpenOnDrop(gate.clone());
    // The engine's threads: the writer and the sync thread.
    let engine_threads: Vec<String> = threads()
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    assert_eq!(engine_threads.len(), 2, "new threads: {engine_threads:?}");
    engine.emit(small_tagged(0, 0)).unwrap();
    assert!(gate.wait_stalled(Duration::from_secs(20)));
    // 32 events of one block each (> block_bytes) queue up behind the stopped writer.
    for i in 1..=32 {
        engine
            .emit(small_tagged(0, i).payload(noise(i, 1100)))
            .unwrap();
    }
    let (calls_before, bytes_before) = write_counters(&engine_threads);
    drop(release);
    engine.flush().unwrap();
    let (calls_after, bytes_after) = write_counters(&engine_threads);
    let (calls, bytes) = (calls_after - calls_before, bytes_after - bytes_before);
    assert_eq!(read_all(&engine).len(), 33);
    let on_disk: u64 = engine.store().segments()[0]
        .blocks()
        .iter()
        .map(|b| u64::from(b.size))
        .sum();
    // Besides the blocks, only 128-byte header rewrites (the durable-offset records
    // made after syncs).
    assert!(
        bytes >= on_disk && (bytes - on_disk).is_multiple_of(128),
        "the engine wrote {bytes} bytes for {on_disk} bytes of blocks"
    );
    assert!(
        bytes <= calls * config.max_write_bytes as u64,
        "{bytes} bytes in {calls} write calls: some call wrote more than \
         max_write_bytes = {}",
        config.max_write_bytes
    );
}
