#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Index files on a real journal: built, saved, loaded back identical, and rebuilt
//! when damaged.

use std::path::Path;
use std::sync::Arc;

use vexfs_journal_format::{Event, FsOp};
use vexfs_journal_index::{Index, Rebuilt, idx_path};
use vexfs_journal_storage::{Engine, OpenMode, StorageConfig, Store};
use vexfs_journal_testkit::noise;

/// A closed journal of several 64 KiB segments whose events carry paths, agents and
/// transactions.
fn journal(dir: &Path) {
    let config = StorageConfig {
        segment_size: 64 << 10,
        block_bytes: 2048,
        ..StorageConfig::default()
    };
    let engine = Engine::create(dir, config).unwrap();
    for i in 0..600u64 {
        let payload = noise(i, 300);
        let ev = Event::filesystem(if i % 3 == 0 { FsOp::Read } else { FsOp::Write })
            .path(format!("/data/{}/{}", i % 5, i % 11))
            .agent_id(["planner", "indexer", ""][(i % 3) as usize])
            .tx(i % 7)
            .payload(payload);
        engine.emit(ev).unwrap();
    }
    engine.close().unwrap();
}

fn store(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(dir, OpenMode::ReadOnly).unwrap().0)
}

/// Every segment's summaries, covered end and terms.
fn contents(index: &Index) -> Vec<(u64, String, u64)> {
    index
        .segments()
        .iter()
        .map(|e| {
            let s = e.summary();
            (
                s.covered_end,
                format!("{:?} {:?}", s.blocks, e.terms().unwrap()),
                s.blocks.iter().map(|b| u64::from(b.count)).sum(),
            )
        })
        .collect()
}

// Checks I38 (docs/invariants.md).
#[test]
fn round_trip_keeps_summaries_and_terms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    journal(dir);
    let store = store(dir);
    let segments = store.segments();
    assert!(segments.len() >= 3, "{} segments", segments.len());

    // Built from the segments and saved.
    let (built, report) = Index::open(&store, true).unwrap();
    assert_eq!(report.loaded, 0);
    assert_eq!(report.rebuilt.len(), segments.len());
    assert!(
        report
            .rebuilt
            .iter()
            .all(|(_, why)| *why == Rebuilt::Missing)
    );
    assert_eq!(report.events_indexed, 600);
    for seg in &segments {
        assert!(idx_path(seg.path()).is_file(), "{}", seg.path().display());
    }
    let expected = contents(&built);
    assert_eq!(expected.iter().map(|c| c.2).sum::<u64>(), 600);

    // Loaded back: the same, without reading a block.
    let (loaded, report) = Index::open(&store, true).unwrap();
    assert_eq!(report.loaded, segments.len());
    assert!(report.rebuilt.is_empty(), "{:?}", report.rebuilt);
    assert_eq!(report.blocks_indexed, 0);
    assert_eq!(contents(&loaded), expected);

    // A damaged summary section, a truncated file and another segment's file: each
    // is rebuilt, to the same index, and saved again by a writable index.
    let idx = |i: usize| idx_path(segments[i].path());
    let mut bytes = std::fs::read(idx(0)).unwrap();
    bytes[vexfs_journal_index::file::HEADER_SIZE + 3] ^= 0x10;
    std::fs::write(idx(0), &bytes).unwrap();
    let bytes = std::fs::read(idx(1)).unwrap();
    std::fs::write(idx(1), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(idx(0), idx(2)).unwrap();
    let (rebuilt, report) = Index::open(&store, true).unwrap();
    let why: Vec<_> = report
        .rebuilt
        .iter()
        .map(|(p, w)| (p.clone(), w.clone()))
        .collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(
        matches!(why[0], (ref p, Rebuilt::Corrupt(_)) if *p == idx(0)),
        "{why:?}"
    );
    assert!(
        matches!(why[1], (ref p, Rebuilt::Corrupt(_)) if *p == idx(1)),
        "{why:?}"
    );
    assert!(
        matches!(why[2], (ref p, Rebuilt::Stale(_)) if *p == idx(2)),
        "{why:?}"
    );
    assert_eq!(contents(&rebuilt), expected);
    let (_, report) = Index::open(&store, true).unwrap();
    assert_eq!(report.loaded, segments.len());

    // A read-only index rebuilds in memory and leaves the files alone.
    std::fs::remove_file(idx(0)).unwrap();
    let (read_only, report) = Index::open(&store, false).unwrap();
    assert_eq!(report.rebuilt.len(), 1);
    assert_eq!(contents(&read_only), expected);
    assert!(!idx(0).exists());
}

/// The same index in the version 1 layout: a 136-byte header, four sections (the
/// counts did not exist).
fn as_version_1(v2: &[u8]) -> Vec<u8> {
    use vexfs_journal_format::checksum::kernel_crc32;
    use vexfs_journal_index::file::decode_header;
    let h = decode_header(v2, v2.len() as u64).unwrap();
    let mut body = Vec::new();
    let mut table = Vec::new();
    for (off, len, crc) in &h.sections[..4] {
        table.push((136 + body.len() as u64, *len, *crc));
        body.extend_from_slice(&v2[*off as usize..(*off + *len) as usize]);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&v2[0..4]);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&v2[8..28]);
    out.extend_from_slice(&4u32.to_le_bytes());
    for (off, len, crc) in table {
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    let crc = kernel_crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(out.len(), 136);
    out.extend_from_slice(&body);
    out
}

// Checks I47 (docs/invariants.md).
#[test]
fn version_1_files_are_rebuilt_with_counts() {
    use vexfs_journal_format::checksum::kernel_crc32;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    journal(dir);
    let store = store(dir);
    let segments = store.segments();
    let (built, _) = Index::open(&store, true).unwrap();
    let expected = contents(&built);
    let idx = |i: usize| idx_path(segments[i].path());
    for i in 0..segments.len() {
        let v1 = as_version_1(&std::fs::read(idx(i)).unwrap());
        std::fs::write(idx(i), v1).unwrap();
    }
    let (rebuilt, report) = Index::open(&store, true).unwrap();
    assert_eq!(report.loaded, 0);
    assert_eq!(report.rebuilt.len(), segments.len());
    for (_, why) in &report.rebuilt {
        assert!(
            matches!(why, Rebuilt::Stale(r) if r.contains("version")),
            "{why:?}"
        );
    }
    assert_eq!(contents(&rebuilt), expected);
    // The counts came back with the rebuild and were saved in version 3 files.
    for e in rebuilt.segments() {
        let t = e.terms().unwrap();
        assert_eq!(t.counts.blocks(), e.summary().blocks.len());
    }
    for i in 0..segments.len() {
        assert_eq!(&std::fs::read(idx(i)).unwrap()[4..8], &3u32.to_le_bytes());
    }
    let (_, report) = Index::open(&store, true).unwrap();
    assert_eq!(report.loaded, segments.len());
    // A version 2 file (summaries without flags) is rebuilt too, even with a valid
    // checksum: its zero flags would hide coordinated transactions from readers.
    for i in 0..segments.len() {
        let mut v2 = std::fs::read(idx(i)).unwrap();
        v2[4..8].copy_from_slice(&2u32.to_le_bytes());
        let crc = kernel_crc32(&v2[..200]);
        v2[200..204].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(idx(i), v2).unwrap();
    }
    let (again, report) = Index::open(&store, true).unwrap();
    assert_eq!(report.loaded, 0);
    assert_eq!(report.rebuilt.len(), segments.len());
    assert_eq!(contents(&again), expected);
}
