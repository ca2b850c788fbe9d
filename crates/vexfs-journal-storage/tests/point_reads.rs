//! Point reads: a read decodes an LZ4 block only as far as the record it wants and
//! resumes there for the next one; whatever the order of reads, and whichever the
//! compression, a point read returns exactly what a scan returns, and a flipped bit in
//! a block is an error, never a wrong or missing event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{read_all, small_config};
use vexfs_journal_format::Compression;
use vexfs_journal_storage::{Engine, OpenMode, StorageConfig, Store};
use vexfs_journal_testkit::small_tagged;

fn config(compression: Compression) -> StorageConfig {
    StorageConfig {
        compression,
        ..small_config()
    }
}

/// Events that compress well (repeated words) with a few that do not.
fn fill(engine: &Engine, n: u64) {
    for i in 0..n {
        let mut payload = format!("{{\"n\":{i},\"note\":\"").into_bytes();
        while payload.len() < 40 + (i as usize % 90) {
            payload.extend_from_slice([&b"vector "[..], b"tensor ", b"cache  "][i as usize % 3]);
        }
        if i % 17 == 0 {
            payload.extend(vexfs_journal_testkit::noise(i, 300));
        }
        engine
            .emit(small_tagged(i % 3, i).payload(payload))
            .unwrap();
    }
    engine.sync().unwrap();
}

#[test]
fn point_reads_in_any_order_agree_with_a_scan() {
    // LZ4 framed (version 2, small and default frames) and whole (version 1).
    let cases = [
        (Compression::Lz4, 512),
        (Compression::Lz4, 2048),
        (Compression::Lz4, 0),
        (Compression::None, 2048),
        (Compression::Zstd, 2048),
    ];
    for (compression, frame_bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            frame_bytes,
            ..config(compression)
        };
        let engine = Engine::create(dir.path(), config).unwrap();
        fill(&engine, 1500);
        let all = read_all(&engine);
        assert_eq!(all.len(), 1500);
        let check = |seq: u64| {
            let got = engine.get(seq).unwrap().unwrap();
            assert_eq!(
                &got,
                &all[(seq - 1) as usize],
                "{compression:?} frames of {frame_bytes}: seq {seq}"
            );
        };
        // Forward (each read resumes the previous one's decoding), backward (each
        // finds the record already decoded), and scattered.
        (1..=1500).for_each(check);
        (1..=1500).rev().for_each(check);
        let mut s = 7u64;
        for _ in 0..3000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            check(1 + s % 1500);
        }
        // Reads interleaved with queries over the same blocks (which decode blocks
        // whole), and sequences the journal does not hold.
        let store = engine.store();
        for seq in (1..=1500).step_by(7) {
            check(seq);
            let block = store.locate(seq).unwrap();
            let n = store.with_records(&block, |r| r.len()).unwrap();
            assert_eq!(n, block.entry.raw_size as usize);
            check(seq + 1);
        }
        assert!(engine.get(0).unwrap().is_none());
        assert!(engine.get(1501).unwrap().is_none());
        engine.close().unwrap();
    }
}

#[test]
fn a_flipped_bit_in_a_block_is_an_error_never_a_wrong_event() {
    for compression in [Compression::Lz4, Compression::None] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::create(
            dir.path(),
            StorageConfig {
                block_bytes: 1024,
                ..config(compression)
            },
        )
        .unwrap();
        fill(&engine, 400);
        let all = read_all(&engine);
        let segments = engine.store().segments();
        assert!(segments.len() >= 2 || segments[0].blocks().len() >= 3);
        let path = segments[0].path().to_path_buf();
        let victim = segments[0].blocks()[1];
        drop(segments);
        engine.close().unwrap();
        drop(engine);
        let clean = std::fs::read(&path).unwrap();
        let (store, _) = Store::open(dir.path(), OpenMode::ReadOnly).unwrap();
        let seqs: Vec<u64> = (victim.first_seq..=victim.last_seq).collect();
        for at in 0..u64::from(victim.size) {
            let mut bytes = clean.clone();
            let i = (victim.offset + at) as usize;
            bytes[i] ^= 1 << (at % 8);
            std::fs::write(&path, &bytes).unwrap();
            // A read of another block first, so nothing of the victim is held.
            store.get(victim.last_seq + 1).unwrap();
            for (k, seq) in seqs.iter().enumerate() {
                // Every other read starts afresh; the others resume the decoding.
                if k % 2 == 0 {
                    store.get(victim.last_seq + 1).unwrap();
                }
                match store.get(*seq) {
                    Err(_) => {}
                    Ok(Some(ev)) => assert_eq!(
                        ev,
                        all[(*seq - 1) as usize],
                        "{compression:?}: bit {} of byte {at} gave a wrong event",
                        at % 8
                    ),
                    Ok(None) => panic!(
                        "{compression:?}: bit {} of byte {at} lost event {seq}",
                        at % 8
                    ),
                }
            }
        }
        std::fs::write(&path, &clean).unwrap();
    }
}

// Checks I50 (docs/invariants.md).
/// A framed (version 2) block is checked frame by frame: a flipped bit in a frame's
/// stored bytes fails exactly the reads of that frame's records, a flipped bit in the
/// frame table fails every read of the block, and the other frames still read
/// correctly. A read never returns a record it did not check.
#[test]
fn a_framed_block_checks_the_frame_a_read_returns() {
    use vexfs_journal_format::BlockHeader;
    use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
    use vexfs_journal_format::frames::{FrameTable, table_size};

    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(
        dir.path(),
        StorageConfig {
            block_bytes: 8192,
            ..config(Compression::Lz4)
        },
    )
    .unwrap();
    fill(&engine, 600);
    let all = read_all(&engine);
    let segments = engine.store().segments();
    let path = segments[0].path().to_path_buf();
    let victim = segments[0].blocks()[1];
    drop(segments);
    engine.close().unwrap();
    drop(engine);
    let clean = std::fs::read(&path).unwrap();
    let block = &clean[victim.offset as usize..(victim.offset + u64::from(victim.size)) as usize];
    let header = BlockHeader::parse(block).unwrap();
    assert!(header.framed, "LZ4 blocks are written framed");
    let table = FrameTable::parse(
        &block[BLOCK_HEADER_SIZE..],
        header.block_id,
        header.compressed_size,
        header.uncompressed_size,
    )
    .unwrap();
    let frames = table.frames().to_vec();
    assert!(frames.len() >= 3, "an 8 KiB block holds several frames");
    let table_end = BLOCK_HEADER_SIZE + table_size(frames.len());

    let (store, _) = Store::open(dir.path(), OpenMode::ReadOnly).unwrap();
    // Every byte of the frame table, and a spread of bytes of each frame.
    let mut positions: Vec<usize> = (BLOCK_HEADER_SIZE..table_end).collect();
    for f in &frames {
        let start = BLOCK_HEADER_SIZE + f.stored_offset;
        positions.extend((start..start + f.stored_len as usize).step_by(7));
    }
    for at in positions {
        let mut bytes = clean.clone();
        bytes[victim.offset as usize + at] ^= 1 << (at % 8);
        std::fs::write(&path, &bytes).unwrap();
        let hit = frames.iter().position(|f| {
            let start = BLOCK_HEADER_SIZE + f.stored_offset;
            (start..start + f.stored_len as usize).contains(&at)
        });
        for (k, f) in frames.iter().enumerate() {
            for seq in [f.first_seq, f.last_seq] {
                // Forget the victim: read another block first.
                store.get(victim.last_seq + 1).unwrap();
                let got = store.get(seq);
                if at < table_end || hit == Some(k) {
                    assert!(got.is_err(), "byte {at}: seq {seq} of a damaged frame read");
                } else {
                    assert_eq!(
                        got.unwrap().unwrap(),
                        all[(seq - 1) as usize],
                        "byte {at}: seq {seq} of an intact frame"
                    );
                }
            }
        }
    }
    std::fs::write(&path, &clean).unwrap();
}
