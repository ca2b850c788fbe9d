//! Sealed segments keep their block tables packed in memory and unpack them while in
//! use, within a process-wide budget: what a reader sees is exactly the footer on
//! disk, however often tables are let go and unpacked again, and memory stays small.
//! (A test binary of its own: the budget is process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{read_all, small_config};
use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::footer::{BLOCK_ENTRY_SIZE, decode_footer};
use vexfs_journal_format::{Event, VectorOp};
use vexfs_journal_storage::segment::{set_unpacked_table_budget, unpacked_table_bytes};
use vexfs_journal_storage::{Engine, StorageConfig};
use vexfs_journal_testkit::noise;

// Checks I51 (docs/invariants.md).
#[test]
fn sealed_tables_read_back_as_their_footers_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        block_bytes: 1024,
        ..small_config()
    };
    let engine = Engine::create(dir.path(), config).unwrap();
    for i in 0..3000u64 {
        let event = Event::vector(VectorOp::Embed)
            .vector_id(i)
            .payload(noise(i, 100 + (i as usize * 7) % 300));
        engine.emit(event).unwrap();
    }
    engine.sync().unwrap();
    let expected = read_all(&engine);
    drop(engine);

    // Reopened: sealed tables come from the footers, packed.
    let engine = Engine::open(dir.path()).unwrap();
    let segments = engine.store().segments();
    let sealed: Vec<_> = segments.iter().filter(|s| s.is_sealed()).collect();
    assert!(sealed.len() >= 8, "only {} sealed segments", sealed.len());
    let mut footer_blocks = 0;
    for seg in &sealed {
        let bytes = std::fs::read(seg.path()).unwrap();
        let header = FileHeader::parse(&bytes[..FILE_HEADER_SIZE]).unwrap();
        let footer = decode_footer(&bytes[header.index_offset as usize..]).unwrap();
        assert!(footer.len() > 20);
        footer_blocks += footer.len();
        assert_eq!(seg.block_count(), footer.len());
        assert_eq!(seg.first_block(), footer.first().copied());
        assert_eq!(seg.last_block(), footer.last().copied());
        assert!(
            seg.table_bytes() * 2 < footer.len() * BLOCK_ENTRY_SIZE,
            "{}: {} bytes packed for {} blocks",
            seg.path().display(),
            seg.table_bytes(),
            footer.len()
        );
        assert_eq!(*seg.blocks(), footer, "{}", seg.path().display());
    }

    // A budget smaller than one table: each unpack lets go of the one before, yet
    // every read, in an order that hops between segments, returns what a scan does.
    set_unpacked_table_budget(1);
    let held = sealed[0].blocks();
    let n = expected.len() as u64;
    for k in 0..n {
        let seq = expected[((k * 7919) % n) as usize].seq;
        let got = engine.get(seq).unwrap().unwrap();
        assert_eq!(got, expected[(seq - expected[0].seq) as usize]);
    }
    assert_eq!(read_all(&engine), expected);
    // A block found without unpacking is the footer's, at the footer's ordinal.
    for seg in &sealed {
        let bytes = std::fs::read(seg.path()).unwrap();
        let header = FileHeader::parse(&bytes[..FILE_HEADER_SIZE]).unwrap();
        let footer = decode_footer(&bytes[header.index_offset as usize..]).unwrap();
        let (lo, hi) = (footer[0].first_seq, footer.last().unwrap().last_seq);
        for seq in lo.saturating_sub(2)..=hi + 2 {
            let want = footer
                .partition_point(|b| b.first_seq <= seq)
                .checked_sub(1)
                .map(|i| (i, footer[i]));
            assert_eq!(seg.find_block(seq), want, "seq {seq}");
        }
    }
    // One table at most stays unpacked for reuse; a reader's copy outlives eviction.
    let most = sealed.iter().map(|s| s.block_count()).max().unwrap();
    assert!(
        unpacked_table_bytes() <= most * std::mem::size_of_val(&held[0]),
        "{} bytes unpacked, largest table {most} blocks",
        unpacked_table_bytes()
    );
    assert_eq!(held.len(), sealed[0].block_count());
    assert!(footer_blocks > 200);
}
