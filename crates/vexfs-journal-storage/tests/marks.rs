//! Journal-wide header marks (last checkpoint, last kernel sync): durable, carried to
//! every new segment, unharmed by the sync thread's own header writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::small_config;
use vexfs_journal_format::{Event, FsOp};
use vexfs_journal_storage::{Engine, HeaderMarks, StorageConfig};
use vexfs_journal_testkit::noise;

// Checks I19 (docs/invariants.md).
#[test]
fn marks_survive_rotation_syncs_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config: StorageConfig = small_config();
    let engine = Engine::create(dir.path(), config).unwrap();
    assert_eq!(engine.marks(), HeaderMarks::default());
    engine
        .record_marks(|m| {
            m.last_kernel_sync_sequence = 41;
            m.last_checkpoint_sequence = 7;
        })
        .unwrap();
    // Many syncs and several rotations later the marks are still there.
    for i in 0..400u64 {
        let ev = Event::filesystem(FsOp::Write)
            .inode(i)
            .payload(noise(i, 700));
        let seq = engine.emit(ev).unwrap();
        if i % 50 == 0 {
            engine.wait_durable(seq + 1).unwrap();
        }
    }
    engine.sync().unwrap();
    assert!(engine.store().segments().len() >= 3);
    engine
        .record_marks(|m| m.last_kernel_sync_sequence = 42)
        .unwrap();
    assert_eq!(
        engine.marks(),
        HeaderMarks {
            last_checkpoint_sequence: 7,
            last_kernel_sync_sequence: 42
        }
    );
    // Written to disk in the open segment's header.
    let active = engine
        .store()
        .segments()
        .last()
        .unwrap()
        .path()
        .to_path_buf();
    let bytes = std::fs::read(&active).unwrap();
    let header = vexfs_journal_format::FileHeader::parse(&bytes[..128]).unwrap();
    assert_eq!(header.last_kernel_sync_sequence, 42);
    assert_eq!(header.last_checkpoint_sequence, 7);
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.marks().last_kernel_sync_sequence, 42);
    assert_eq!(engine.marks().last_checkpoint_sequence, 7);
}
