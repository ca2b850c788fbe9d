//! Rotation and retention: small segments rotate, sealed segments carry a footer and a
//! sealed header, every event stays readable after reopening, sequence numbers survive
//! reopens across rotations, retention deletes the oldest segments by total size and by
//! age, and a damaged footer is rebuilt by scanning and resealed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{read_all, small_config};
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::{Event, FileHeader, Timestamp, VectorOp};
use vexfs_journal_storage::segment::FLAG_SEALED;
use vexfs_journal_storage::{Engine, Retention, StorageConfig};
use vexfs_journal_testkit::{noise, segment_files};

const SEGMENT: u64 = 64 << 10;

/// An event of about 1.7 KiB that does not compress.
fn big(i: u64) -> Event {
    Event::vector(VectorOp::Embed)
        .vector_id(i)
        .payload(noise(i, 1500))
}

fn assert_big(engine: &Engine, seq: u64, i: u64) {
    let ev = engine
        .get(seq)
        .unwrap()
        .unwrap_or_else(|| panic!("seq {seq} missing"))
        .event;
    assert_eq!(ev.context.vector_id, i, "seq {seq}");
    assert_eq!(ev.payload, noise(i, 1500), "seq {seq}");
}

fn header_of(path: &Path) -> (FileHeader, u64) {
    let bytes = std::fs::read(path).unwrap();
    let header = FileHeader::parse(&bytes[..FILE_HEADER_SIZE]).unwrap();
    (header, bytes.len() as u64)
}

fn first_seq_of(path: &Path) -> u64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

// Checks I18 (docs/invariants.md).
#[test]
fn rotation_seals_segments_with_footers() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), small_config()).unwrap();
    for i in 0..300 {
        assert_eq!(engine.emit(big(i)).unwrap(), i + 1);
    }
    engine.flush().unwrap();
    let rotations = engine.metrics().rotations;
    engine.close().unwrap();
    drop(engine);

    let files = segment_files(dir.path());
    assert!(files.len() >= 5, "only {} segments", files.len());
    assert_eq!(rotations, files.len() as u64 - 1);
    assert_eq!(first_seq_of(&files[0]), 1);
    for pair in files.windows(2) {
        let (header, len) = header_of(&pair[0]);
        assert_ne!(
            header.flags & FLAG_SEALED,
            0,
            "{} not sealed",
            pair[0].display()
        );
        assert!(
            header.index_offset > FILE_HEADER_SIZE as u64 && header.index_offset < len,
            "{}: index_offset {} of {len} bytes",
            pair[0].display(),
            header.index_offset
        );
        assert!(header.index_offset <= SEGMENT, "segment grew past its size");
        assert_eq!(header.journal_size, len);
        assert_eq!(header.next_event_id, first_seq_of(&pair[1]));
        assert_eq!(
            header.total_events,
            first_seq_of(&pair[1]) - first_seq_of(&pair[0])
        );
    }
    let (last, _) = header_of(files.last().unwrap());
    assert_eq!(last.flags & FLAG_SEALED, 0, "active segment sealed");
    assert_eq!(last.index_offset, 0);

    let engine = Engine::open(dir.path()).unwrap();
    assert!(engine.open_report().repairs.is_empty());
    assert_eq!(engine.open_report().segments, files.len());
    assert_eq!(engine.open_report().events, 300);
    let segments = engine.store().segments();
    assert_eq!(segments.len(), files.len());
    for (i, seg) in segments.iter().enumerate() {
        assert_eq!(seg.is_sealed(), i + 1 < segments.len(), "segment {i}");
        assert!(seg.end() <= SEGMENT);
        if let Some(next) = segments.get(i + 1) {
            assert_eq!(seg.next_seq(), next.first_seq());
            assert_eq!(seg.header().index_offset, seg.end());
        }
    }
    let stored = read_all(&engine);
    assert_eq!(stored.len(), 300);
    for (i, s) in stored.iter().enumerate() {
        assert_eq!(s.seq, i as u64 + 1);
    }
    for i in (0..300).step_by(7) {
        assert_big(&engine, i + 1, i);
    }
}

// Checks I4 (docs/invariants.md).
#[test]
fn next_seq_survives_reopen_with_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut next = 1;
    for cycle in 0..4 {
        let engine = if cycle == 0 {
            Engine::create(dir.path(), small_config()).unwrap()
        } else {
            Engine::open(dir.path()).unwrap()
        };
        assert_eq!(engine.next_seq(), next, "cycle {cycle}");
        for _ in 0..70 {
            assert_eq!(engine.emit(big(next)).unwrap(), next);
            next += 1;
        }
        engine.sync().unwrap();
        assert!(
            engine.metrics().rotations >= 1,
            "cycle {cycle}: no rotation"
        );
        engine.close().unwrap();
    }
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.next_seq(), next);
    assert_eq!(engine.store().first_seq(), Some(1));
    assert_eq!(read_all(&engine).len() as u64, next - 1);
    for seq in 1..next {
        assert_big(&engine, seq, seq);
    }
    assert!(segment_files(dir.path()).len() >= 6);
}

// Checks I20 (docs/invariants.md).
#[test]
fn retention_by_total_bytes_deletes_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let max = 3 * SEGMENT;
    let config = StorageConfig {
        retention: Retention {
            max_total_bytes: Some(max),
            max_age: None,
        },
        ..small_config()
    };
    let engine = Engine::create(dir.path(), config).unwrap();
    for i in 1..=400 {
        engine.emit(big(i)).unwrap();
    }
    engine.flush().unwrap();
    let m = engine.metrics();
    assert!(m.segments_deleted >= 4, "deleted {}", m.segments_deleted);
    let segments = engine.store().segments();
    assert_eq!(segments.len(), segment_files(dir.path()).len());
    assert_eq!(
        m.segments_deleted as usize + segments.len(),
        m.rotations as usize + 1
    );
    let total: u64 = segments.iter().map(|s| s.end()).sum();
    assert!(total <= max + SEGMENT, "{total} bytes kept");
    let first = engine.store().first_seq().unwrap();
    assert!(first > 1);
    assert_eq!(first, segments[0].first_seq());
    assert!(engine.get(1).unwrap().is_none());
    assert!(engine.get(first - 1).unwrap().is_none());
    let stored = read_all(&engine);
    assert_eq!(
        stored.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (first..=400).collect::<Vec<_>>()
    );
    for seq in first..=400 {
        assert_big(&engine, seq, seq);
    }
    engine.close().unwrap();
    drop(engine);

    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.store().first_seq(), Some(first));
    assert_eq!(engine.next_seq(), 401);
    assert_eq!(read_all(&engine).len() as u64, 401 - first);
}

// Checks I20 (docs/invariants.md).
#[test]
fn retention_by_age_deletes_segments_of_old_events() {
    let dir = tempfile::tempdir().unwrap();
    let max_age = Duration::from_secs(3600);
    let config = StorageConfig {
        retention: Retention {
            max_total_bytes: None,
            max_age: Some(max_age),
        },
        ..small_config()
    };
    let engine = Engine::create(dir.path(), config).unwrap();
    let two_days_ago = now_ns() - 2 * 86_400 * 1_000_000_000;
    for i in 1..=120u64 {
        let ev = big(i).timestamp(Timestamp {
            ktime_ns: two_days_ago + i as i64,
            sequence: i,
            cpu_id: 0,
            process_id: 1,
        });
        assert_eq!(engine.emit(ev).unwrap(), i);
    }
    for i in 121..=240u64 {
        assert_eq!(engine.emit(big(i)).unwrap(), i);
    }
    engine.flush().unwrap();
    let m = engine.metrics();
    assert!(m.rotations >= 5);
    assert!(m.segments_deleted >= 2, "deleted {}", m.segments_deleted);
    let cutoff = now_ns() - max_age.as_nanos() as i64;
    let segments = engine.store().segments();
    for seg in segments.iter().filter(|s| s.is_sealed()) {
        let newest = seg.blocks().iter().map(|b| b.max_time).max().unwrap();
        assert!(
            newest >= cutoff,
            "segment {} holds only old events",
            seg.first_seq()
        );
    }
    let first = engine.store().first_seq().unwrap();
    assert!(first > 1 && first <= 121, "first retained seq {first}");
    assert!(engine.get(1).unwrap().is_none());
    for seq in 121..=240 {
        assert_big(&engine, seq, seq);
    }
    assert_eq!(read_all(&engine).len() as u64, 241 - first);
    engine.close().unwrap();
    drop(engine);

    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.config().retention.max_age, Some(max_age));
    assert_eq!(engine.store().first_seq(), Some(first));
    assert_eq!(engine.next_seq(), 241);
}

// Checks I15 (docs/invariants.md).
#[test]
fn damaged_footer_is_rebuilt_by_scanning_and_resealed() {
    for damage in ["truncate", "flip"] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::create(dir.path(), small_config()).unwrap();
        for i in 1..=150 {
            engine.emit(big(i)).unwrap();
        }
        engine.close().unwrap();
        drop(engine);

        let files = segment_files(dir.path());
        assert!(files.len() >= 3);
        let victim = &files[1];
        let (header, len) = header_of(victim);
        let intact = std::fs::read(victim).unwrap();
        match damage {
            "truncate" => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(victim)
                    .unwrap();
                f.set_len(header.index_offset).unwrap();
            }
            _ => {
                let mut bytes = intact.clone();
                bytes[header.index_offset as usize + 20] ^= 0x10;
                std::fs::write(victim, &bytes).unwrap();
            }
        }

        let engine = Engine::open(dir.path()).unwrap();
        let report = engine.open_report();
        assert_eq!(report.resealed, 1, "{damage}");
        assert!(
            report
                .repairs
                .iter()
                .any(|(p, r)| p == victim && r.rescanned),
            "{damage}: {:?}",
            report.repairs
        );
        assert!(
            engine
                .store()
                .segments()
                .iter()
                .all(|s| { s.is_sealed() || s.first_seq() == first_seq_of(files.last().unwrap()) })
        );
        for seq in 1..=150 {
            assert_big(&engine, seq, seq);
        }
        engine.close().unwrap();
        drop(engine);
        // Sealed again, with the same footer as before.
        let (again, again_len) = header_of(victim);
        assert_ne!(again.flags & FLAG_SEALED, 0);
        assert_eq!((again.index_offset, again_len), (header.index_offset, len));
        assert_eq!(
            std::fs::read(victim).unwrap()[header.index_offset as usize..],
            intact[header.index_offset as usize..],
            "{damage}: rebuilt footer differs"
        );
        let engine = Engine::open(dir.path()).unwrap();
        assert!(engine.open_report().repairs.is_empty(), "{damage}");
        assert_eq!(engine.open_report().resealed, 0);
    }
}
