//! The durable fast path: `emit_durable` and `emit_batch_durable` write and sync on
//! the caller's thread when the writer is idle, and hand over to the writer thread
//! otherwise. Whichever thread writes, an acknowledged event is durable, in sequence
//! order, and a failure reaches every caller.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{read_all, small_config};
use vexfs_journal_format::Event;
use vexfs_journal_storage::faults::Faults;
use vexfs_journal_storage::{Engine, FsyncPolicy, FullPolicy, OpenOptions, StorageConfig};
use vexfs_journal_testkit::{noise, small_tag_of, small_tagged};

const EIO: i32 = 5;

// Checks I48 (docs/invariants.md).
/// Durable emitters racing plain producers (on a small buffer, so some leaders find it
/// full and fall back): every `emit_durable` returns only once its event is durable,
/// every event is stored once, in sequence order, and survives a reopen.
#[test]
fn racing_durable_and_plain_emitters_keep_order_and_durability() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        buffer_capacity: 64,
        fsync: FsyncPolicy::Never,
        segment_size: 256 << 10,
        ..small_config()
    };
    let engine = Arc::new(Engine::create(dir.path(), config).unwrap());
    let threads: Vec<_> = (0..6u64)
        .map(|p| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    let ev = small_tagged(p, i).metadata(noise(p * 1000 + i, 200));
                    match p % 3 {
                        0 => {
                            engine.emit(ev).unwrap();
                        }
                        1 => {
                            let seq = engine.emit_durable(ev).unwrap();
                            assert!(engine.durable_seq() > seq, "acknowledged, not durable");
                        }
                        _ => {
                            let batch = vec![ev, small_tagged(p, 10_000 + i)];
                            let range = engine.emit_batch_durable(batch).unwrap();
                            assert!(engine.durable_seq() >= range.end);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    engine.sync().unwrap();
    let all = read_all(&engine);
    assert_eq!(all.len(), 2 * 300 + 2 * 300 + 2 * 600);
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    // Each producer's events in its own order.
    for p in 0..6u64 {
        let mine: Vec<u64> = all
            .iter()
            .map(|s| small_tag_of(&s.event))
            .filter(|(q, i)| *q == p && *i < 10_000)
            .map(|(_, i)| i)
            .collect();
        assert_eq!(mine, (0..300).collect::<Vec<_>>(), "producer {p}");
    }
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(read_all(&engine), all);
}

// Checks I48 (docs/invariants.md).
/// An atomic durable batch is one block: all of it or none.
#[test]
fn a_durable_batch_is_one_block() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), small_config()).unwrap();
    engine.emit(small_tagged(0, 0)).unwrap();
    let batch: Vec<Event> = (1..=20).map(|i| small_tagged(1, i)).collect();
    let range = engine.emit_batch_durable(batch).unwrap();
    assert_eq!(range, 2..22);
    assert!(engine.durable_seq() >= 22);
    let segs = engine.store().segments();
    let blocks = segs.last().unwrap().blocks().clone();
    assert!(
        blocks
            .iter()
            .any(|b| b.first_seq == 2 && b.last_seq == 21 && b.event_count == 20),
        "{blocks:?}"
    );
}

// Checks I10 (docs/invariants.md).
/// A sync failing on the leading caller's thread fails that caller and stops the
/// journal for everyone; what was acknowledged before is still there on reopen.
#[test]
fn a_failed_sync_on_the_fast_path_stops_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::new());
    let engine = Engine::open_with(
        dir.path(),
        OpenOptions {
            config: Some(StorageConfig {
                full_policy: FullPolicy::Block,
                ..small_config()
            }),
            create: true,
            faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let acked: Vec<u64> = (0..10)
        .map(|i| engine.emit_durable(small_tagged(0, i)).unwrap())
        .collect();
    faults.fail_syncs_after(0, EIO);
    let err = engine.emit_durable(small_tagged(1, 0)).unwrap_err();
    assert!(err.to_string().contains("Input/output error"), "{err}");
    assert!(engine.emit(small_tagged(1, 1)).is_err());
    assert!(engine.emit_batch_durable(vec![small_tagged(1, 2)]).is_err());
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    for seq in acked {
        assert!(
            engine.get(seq).unwrap().is_some(),
            "acknowledged {seq} lost"
        );
    }
}
