//! Helpers shared by the bridge's integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};

use vexfs_journal::{Config, Event, FsyncPolicy, Journal};
use vexfs_journal_format::{FsOp, SystemOp, Timestamp};
use vexfs_journal_kernel::{ImageWriter, WriterOptions};

/// A journal in a fresh temporary directory (fsync on every batch).
pub fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(
        journal_dir(&dir),
        Config {
            fsync: FsyncPolicy::Batch,
            ..Config::default()
        },
    )
    .unwrap();
    (dir, j)
}

/// The directory of the journal [`journal`] created in `dir`.
pub fn journal_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("j")
}

/// A kernel-looking event: id `1000 + k`, global sequence `k`, kernel time.
pub fn kernel_event(k: u64) -> Event {
    let mut ev = Event::filesystem(FsOp::Write)
        .path(format!("/kernel/file-{k}"))
        .inode(k)
        .agent_id("kmod")
        .payload(format!("kernel payload {k}").into_bytes())
        .timestamp(Timestamp {
            ktime_ns: 5_000_000_000 + k as i64 * 1000,
            sequence: k,
            cpu_id: (k % 4) as u32,
            process_id: 1,
        });
    ev.event_id = 1000 + k;
    ev.global_sequence = k;
    ev.local_sequence = k;
    ev.root_cause_event_id = 1000 + k;
    ev
}

/// A userspace event (ids assigned by the journal).
pub fn user_event(i: u64) -> Event {
    Event::system(SystemOp::Checkpoint).memory_usage(i)
}

/// An image of `events` in memory.
pub fn image_bytes(events: &[Event], opts: WriterOptions) -> Vec<u8> {
    let mut w = ImageWriter::new(Vec::new(), "test image", opts).unwrap();
    for ev in events {
        w.push(ev).unwrap();
    }
    w.finish().unwrap().0
}

/// Writes an image of `events` to `path`.
pub fn write_image_file(path: &Path, events: &[Event], opts: WriterOptions) {
    std::fs::write(path, image_bytes(events, opts)).unwrap();
}

/// Kernel events `range` as an uncompressed image with `per_block` events per block.
pub fn kernel_image(range: std::ops::RangeInclusive<u64>, per_block: usize) -> Vec<u8> {
    let events: Vec<Event> = range.map(kernel_event).collect();
    image_bytes(
        &events,
        WriterOptions {
            block_events: per_block,
            ..WriterOptions::default()
        },
    )
}
