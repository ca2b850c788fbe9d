//! Golden fixtures: the encoder's bytes must equal the committed files, and the files
//! must decode back to the sample events. A layout change fails here until the fixtures
//! are deliberately regenerated with `cargo xtask fixtures`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use std::path::PathBuf;

use vexfs_journal_format::block::{EventEncoding, check_block, split_events};
use vexfs_journal_format::frames::FrameTable;
use vexfs_journal_format::record::RecordView;
use vexfs_journal_format::samples::{self, category_events, empty_event, sample_ext};
use vexfs_journal_format::*;
use vexfs_journal_testkit::fixture;

#[test]
fn encoder_output_equals_committed_fixtures() {
    let generated = samples::fixtures().unwrap();
    for (name, bytes) in &generated {
        assert!(
            fixture(name) == *bytes,
            "{name} differs from the encoder: run `cargo xtask fixtures` if the change is deliberate"
        );
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    on_disk.sort();
    let mut names: Vec<String> = generated.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        on_disk, names,
        "fixtures/ holds exactly the generated files"
    );
}

#[test]
fn kernel_event_fixtures_decode_to_the_samples() {
    for (name, ev) in category_events() {
        let bytes = fixture(&format!("kernel_event_{name}.bin"));
        let (decoded, size) = decode_kernel_event(&bytes).unwrap();
        assert_eq!(size, bytes.len());
        assert_eq!(decoded, ev, "{name}");
        assert!(
            !decoded.payload.is_empty() && !decoded.metadata.is_empty() && decoded.links.len() == 2
        );
    }
    let bytes = fixture("kernel_event_empty.bin");
    assert_eq!(bytes.len(), 5412);
    assert_eq!(decode_kernel_event(&bytes).unwrap().0, empty_event());
}

#[test]
fn kernel_event_fixture_field_bytes() {
    // Spot checks straight on the bytes, independent of the decoder.
    let b = fixture("kernel_event_filesystem.bin");
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert_eq!(u64_at(0), 1, "event_id");
    assert_eq!(u32_at(8), 0x0104, "event_type filesystem.write");
    assert_eq!(u32_at(64) as usize, b.len(), "event_size");
    assert_eq!(u32_at(68), 5280, "context_size");
    assert_eq!(u32_at(80), 1, "event_version");
    assert_eq!(u32_at(96), 2, "causality_link_count");
    let mut zeroed = b.clone();
    zeroed[84..88].fill(0);
    assert_eq!(u32_at(84), kernel_crc32(&zeroed), "checksum");
    let path = &b[132 + 24..132 + 24 + 4096];
    assert!(path.starts_with(b"/models/llama/weights.bin\0"));
    assert_eq!(u64_at(132 + 4120), 4242, "inode_number");
}

#[test]
fn record_fixtures_decode_to_the_samples() {
    let bytes = fixture("records.bin");
    let mut pos = 0;
    for (_, ev) in category_events() {
        let view = RecordView::parse(&bytes[pos..]).unwrap();
        assert_eq!(view.to_event(), ev);
        assert_eq!(view.ext(), sample_ext(&ev));
        pos += view.record_len();
    }
    assert_eq!(pos, bytes.len());
    let empty = fixture("record_empty.bin");
    assert_eq!(
        empty.len(),
        204,
        "an empty event is just header and extension"
    );
    assert_eq!(decode_record(&empty).unwrap().0, empty_event());
}

#[test]
fn storage_block_fixtures_decode() {
    for (name, compression) in [
        ("storage_block_none.bin", Compression::None),
        ("storage_block_lz4.bin", Compression::Lz4),
        ("storage_block_lz4_framed.bin", Compression::Lz4),
    ] {
        let bytes = fixture(name);
        let mut data = Vec::new();
        let (header, _) = check_block(&bytes, EventEncoding::Record, &mut data).unwrap();
        assert_eq!(header.compression, compression);
        assert_eq!(header.block_size as usize, bytes.len());
        assert_eq!(header.event_count, 7);
        assert_eq!((header.first_event_id, header.last_event_id), (1, 7));
        assert_eq!(&bytes[0..4], b"LJSU", "USJL stored little-endian");
        let events: Vec<Event> = split_events(&data)
            .map(|r| RecordView::parse(r.unwrap().1).unwrap().to_event())
            .collect();
        let expected: Vec<Event> = category_events().into_iter().map(|(_, e)| e).collect();
        assert_eq!(events, expected);
    }
}

/// Block format version 2: the version word, the frame table's place and layout, and
/// frames that tile the records.
#[test]
fn framed_block_fixture_pins_the_frame_table() {
    let bytes = fixture("storage_block_lz4_framed.bin");
    assert_eq!(&bytes[4..8], &2u32.to_le_bytes(), "block_version 2");
    let header = BlockHeader::parse(&bytes).unwrap();
    assert!(header.framed);
    let stored = &bytes[104..];
    let count = u32::from_le_bytes(stored[0..4].try_into().unwrap()) as usize;
    assert_eq!(
        count, 2,
        "the sample's records make two frames of >= 2048 bytes"
    );
    let crc = u32::from_le_bytes(stored[4..8].try_into().unwrap());
    assert_eq!(crc, kernel_crc32(&stored[8..8 + 56 * count]));
    let table =
        FrameTable::parse(stored, 1, header.compressed_size, header.uncompressed_size).unwrap();
    let frames = table.frames();
    assert_eq!((frames[0].first_seq, frames[1].last_seq), (1, 7));
    assert_eq!(frames[1].first_seq, frames[0].last_seq + 1);
    assert_eq!(frames[0].stored_offset, 8 + 2 * 56);
    assert!(frames[0].raw_len as usize >= 2048);
    // The frames decode to the same records as the version-1 LZ4 fixture holds.
    let mut framed = Vec::new();
    let mut whole = Vec::new();
    check_block(&bytes, EventEncoding::Record, &mut framed).unwrap();
    check_block(
        &fixture("storage_block_lz4.bin"),
        EventEncoding::Record,
        &mut whole,
    )
    .unwrap();
    assert_eq!(framed, whole);
    // Kernel images hold version-1 blocks only.
    assert!(check_block(&bytes, EventEncoding::Kernel, &mut Vec::new()).is_err());
}

#[test]
fn file_header_fixture() {
    let bytes = fixture("file_header.bin");
    assert_eq!(bytes.len(), 128);
    let header = FileHeader::parse(&bytes).unwrap();
    assert_eq!(header, samples::file_header());
    assert_eq!(header.to_bytes().to_vec(), bytes);
}

#[test]
fn manifest_fixture_decodes_to_the_sample() {
    let bytes = fixture("manifest.bin");
    let decoded = vexfs_journal_format::manifest::decode_manifest(&bytes).unwrap();
    assert_eq!(decoded, samples::manifest());
    assert_eq!(bytes.len(), 64 + 2 * 64 + 48 + 4);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn segment_footer_fixture_decodes_to_the_sample() {
    use vexfs_journal_format::footer::{
        BLOCK_ENTRY_SIZE, FOOTER_PREFIX_SIZE, decode_footer, footer_size,
    };
    let bytes = fixture("segment_footer.bin");
    assert_eq!(bytes.len(), footer_size(2));
    assert_eq!(bytes.len(), 16 + 2 * 56 + 4);
    assert_eq!((FOOTER_PREFIX_SIZE, BLOCK_ENTRY_SIZE), (16, 56));
    assert_eq!(decode_footer(&bytes).unwrap(), samples::block_entries());
    assert_eq!(&bytes[0..4], b"IJSU", "magic");
    assert_eq!(u32_at(&bytes, 4), 1, "version");
    assert_eq!(u32_at(&bytes, 8), 2, "block count");
    assert_eq!(u32_at(&bytes, 12), 0, "reserved");
    let e = 16 + 56;
    assert_eq!(u64_at(&bytes, e), 101, "first_seq");
    assert_eq!(u64_at(&bytes, e + 8), 200, "last_seq");
    assert_eq!(u64_at(&bytes, e + 16), 4_128, "offset");
    assert_eq!(
        u64_at(&bytes, e + 24),
        1_764_000_000_000_000_001,
        "min_time"
    );
    assert_eq!(
        u64_at(&bytes, e + 32),
        1_764_000_001_000_000_001,
        "max_time"
    );
    assert_eq!(u32_at(&bytes, e + 40), 4_000, "size");
    assert_eq!(u32_at(&bytes, e + 44), 100, "event_count");
    assert_eq!(u32_at(&bytes, e + 48), 9_001, "raw_size");
    assert_eq!(u32_at(&bytes, e + 52), 0, "reserved");
    let end = bytes.len() - 4;
    assert_eq!(u32_at(&bytes, end), kernel_crc32(&bytes[..end]), "crc");
}

#[test]
fn clean_marker_fixture_decodes_to_the_sample() {
    use vexfs_journal_format::footer::{CLEAN_HEADER_SIZE, decode_clean_marker};
    let bytes = fixture("clean_marker.bin");
    assert_eq!(CLEAN_HEADER_SIZE, 28);
    assert_eq!(bytes.len(), 28 + 16 + 2 * 56 + 4);
    let (first, end) = samples::clean_marker();
    assert_eq!(
        decode_clean_marker(&bytes).unwrap(),
        (first, end, samples::block_entries())
    );
    assert_eq!(&bytes[0..4], b"CJSU", "magic");
    assert_eq!(u32_at(&bytes, 4), 1, "version");
    assert_eq!(u64_at(&bytes, 8), first, "first_seq");
    assert_eq!(u64_at(&bytes, 16), end, "segment length");
    assert_eq!(u32_at(&bytes, 24), kernel_crc32(&bytes[..24]), "crc");
    assert_eq!(
        bytes[28..],
        fixture("segment_footer.bin")[..],
        "block table"
    );
}

#[test]
fn checkpoint_fixture_decodes_to_the_sample() {
    use vexfs_journal_format::checkpoint::decode_checkpoint;
    let bytes = fixture("checkpoint.bin");
    let c = samples::checkpoint();
    assert_eq!(decode_checkpoint(&bytes).unwrap(), c);
    assert_eq!(&bytes[0..4], b"KJSU", "magic");
    assert_eq!(u32_at(&bytes, 4), 1, "version");
    assert_eq!(u64_at(&bytes, 8), 3, "id");
    assert_eq!(u64_at(&bytes, 16), c.created_ns as u64, "created_ns");
    assert_eq!(&bytes[24..40], b"vexfs-checkpoint", "journal id");
    assert_eq!(u64_at(&bytes, 40), 201, "durable_seq");
    assert_eq!(u64_at(&bytes, 48), 1, "segment_first_seq");
    assert_eq!(u64_at(&bytes, 56), 8_128, "segment_end");
    assert_eq!(u32_at(&bytes, 64), 2, "consumer count");
    assert_eq!(&bytes[68..70], &7u16.to_le_bytes(), "name length");
    assert_eq!(&bytes[70..77], b"indexer");
    assert_eq!(u64_at(&bytes, 77), 150);
    assert_eq!(&bytes[85..87], &10u16.to_le_bytes());
    assert_eq!(&bytes[87..97], b"replicator");
    assert_eq!(u64_at(&bytes, 97), 200);
    let footer = fixture("segment_footer.bin");
    assert_eq!(&bytes[105..105 + footer.len()], &footer[..], "block table");
    assert_eq!(bytes.len(), 105 + footer.len() + 4);
    let end = bytes.len() - 4;
    assert_eq!(u32_at(&bytes, end), kernel_crc32(&bytes[..end]), "crc");
}

#[test]
fn index_file_fixture_decodes_to_the_sample() {
    use vexfs_journal_format::index_file::{
        HEADER_SIZE, SUMMARY_SIZE, TermSections, check_section, decode_counts, decode_header,
        decode_summaries, decode_terms, section,
    };
    let bytes = fixture("index_file.bin");
    assert_eq!((HEADER_SIZE, SUMMARY_SIZE), (208, 56));
    let (blocks, terms) = samples::index_file();
    let h = decode_header(&bytes, bytes.len() as u64).unwrap();
    assert_eq!((h.first_seq, h.covered_end, h.block_count), (1, 8_128, 2));
    let sec = |i: usize| {
        let (o, l, crc) = h.sections[i];
        let s = &bytes[o as usize..(o + l) as usize];
        check_section(s, crc, "section").unwrap();
        s
    };
    assert_eq!(decode_summaries(sec(section::BLOCKS), 2).unwrap(), blocks);
    assert_eq!(
        decode_terms(
            TermSections {
                paths: sec(section::PATHS),
                agents: sec(section::AGENTS),
                txs: sec(section::TXS),
                refs: sec(section::REFS),
                ids: sec(section::IDS),
            },
            2
        )
        .unwrap(),
        terms
    );
    assert_eq!(
        decode_counts(sec(section::COUNTS), 2).unwrap(),
        samples::index_counts()
    );
    // Section table and layout, straight on the bytes.
    assert_eq!(&bytes[0..4], b"XJSU", "magic");
    assert_eq!(u32_at(&bytes, 4), 3, "version");
    assert_eq!(u32_at(&bytes, 28), 7, "section count");
    let mut at = HEADER_SIZE as u64;
    for i in 0..7 {
        assert_eq!(u64_at(&bytes, 32 + 24 * i), at, "section {i} offset");
        at += u64_at(&bytes, 32 + 24 * i + 8);
        assert_eq!(u32_at(&bytes, 32 + 24 * i + 20), 0, "section {i} reserved");
    }
    assert_eq!(at as usize, bytes.len());
    assert_eq!(
        u32_at(&bytes, 200),
        kernel_crc32(&bytes[..200]),
        "header crc"
    );
    assert_eq!(u32_at(&bytes, 204), 0, "reserved");
    assert_eq!(u64_at(&bytes, 32 + 8), 2 * 56, "summaries length");
    // Per summary, bytes 52..56: priority bits, flags (block 1 holds a coordinated
    // transaction's record), two reserved zeros.
    let summaries = sec(section::BLOCKS);
    assert_eq!(&summaries[52..56], &[0b110, 0, 0, 0]);
    assert_eq!(&summaries[56 + 52..56 + 56], &[0b110, 1, 0, 0]);
    assert_eq!(vexfs_journal_format::index_file::SUMMARY_COORDINATED, 1);
    // Paths: 2 terms; "/models/a" → [0]; "/models/b" → [0, 1] (LEB128 deltas 0, 1).
    let paths = sec(section::PATHS);
    assert_eq!(u32_at(paths, 0), 2);
    assert_eq!(u32_at(paths, 4), 9);
    assert_eq!(&paths[8..17], b"/models/a");
    assert_eq!(u32_at(paths, 17), 1);
    assert_eq!(paths[21], 0);
    assert_eq!(&paths[paths.len() - 6..], &[2, 0, 0, 0, 0, 1]);
    // Transactions: 1 id, 300 → [0, 1].
    let txs = sec(section::TXS);
    assert_eq!(u32_at(txs, 0), 1);
    assert_eq!(u64_at(txs, 4), 300);
    assert_eq!(&txs[12..], &[2, 0, 0, 0, 0, 1]);
    // Causal references: 42 → [1]; foreign ids: 0x1_0000_0007 → [0].
    let refs = sec(section::REFS);
    assert_eq!(u32_at(refs, 0), 1);
    assert_eq!(u64_at(refs, 4), 42);
    assert_eq!(&refs[12..], &[1, 0, 0, 0, 1]);
    let ids = sec(section::IDS);
    assert_eq!(u32_at(ids, 0), 1);
    assert_eq!(u64_at(ids, 4), 0x1_0000_0007);
    assert_eq!(&ids[12..], &[1, 0, 0, 0, 0]);
}

#[test]
fn segment_flags_and_record_flags_are_pinned() {
    use vexfs_journal_format::file_header::{FLAG_COMPACTED, FLAG_SALVAGED, FLAG_SEALED};
    use vexfs_journal_format::record::{RECORD_FLAG_COMPACT_V1, RECORD_FLAG_GAP_BEFORE};
    assert_eq!((FLAG_SEALED, FLAG_COMPACTED, FLAG_SALVAGED), (1, 2, 4));
    assert_eq!((RECORD_FLAG_COMPACT_V1, RECORD_FLAG_GAP_BEFORE), (1, 2));
    // The flags live at byte 44 of the 128-byte file header.
    let header = FileHeader {
        flags: FLAG_SEALED | FLAG_SALVAGED,
        ..samples::file_header()
    };
    assert_eq!(u32_at(&header.to_bytes(), 44), 5);
}

#[test]
fn cursor_fixture_decodes_to_the_sample() {
    use vexfs_journal_format::cursor::{CURSOR_SIZE, decode_cursor};
    let bytes = fixture("cursor.bin");
    assert_eq!(bytes.len(), CURSOR_SIZE);
    assert_eq!(CURSOR_SIZE, 37);
    assert_eq!(decode_cursor(&bytes).unwrap(), samples::cursor());
    assert_eq!(&bytes[..16], b"vexfs-cursor-001", "journal id");
    assert_eq!(u64_at(&bytes, 16), 4_242, "seq");
    assert_eq!(bytes[24], 1, "flags: reverse");
    assert_eq!(u64_at(&bytes, 25), 2, "generation");
    assert_eq!(u32_at(&bytes, 33), kernel_crc32(&bytes[..33]), "crc");
}

/// A full block check compares every frame entry with the records it holds: an entry
/// that lies (type bits, or a boundary inside a record) fails even with every crc
/// recomputed to match.
#[test]
fn a_frame_entry_that_disagrees_with_its_records_fails_the_full_check() {
    let clean = fixture("storage_block_lz4_framed.bin");
    let reseal = |b: &mut Vec<u8>| {
        let n = u32::from_le_bytes(b[104..108].try_into().unwrap()) as usize;
        let crc = kernel_crc32(&b[112..112 + 56 * n]);
        b[108..112].copy_from_slice(&crc.to_le_bytes());
        let header = BlockHeader::parse(b).unwrap();
        let data_crc = kernel_crc32(&b[104..104 + header.compressed_size as usize]);
        b[36..40].copy_from_slice(&data_crc.to_le_bytes());
    };
    let mut sealed = clean.clone();
    reseal(&mut sealed);
    assert!(sealed == clean, "resealing an intact block changes nothing");
    // Type bits of the first frame (entry offset 24).
    let mut lying = clean.clone();
    lying[112 + 24] ^= 0x01;
    reseal(&mut lying);
    let err = check_block(&lying, EventEncoding::Record, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("disagrees"), "{err}");
    // Move the boundary between the two frames by one byte (first frame's raw_len
    // at entry offset 12, second's at 56 + 12), keeping the total.
    let mut moved = clean.clone();
    let raw0 = u32::from_le_bytes(moved[112 + 12..112 + 16].try_into().unwrap());
    let raw1 = u32::from_le_bytes(moved[168 + 12..168 + 16].try_into().unwrap());
    moved[112 + 12..112 + 16].copy_from_slice(&(raw0 + 1).to_le_bytes());
    moved[168 + 12..168 + 16].copy_from_slice(&(raw1 - 1).to_le_bytes());
    reseal(&mut moved);
    assert!(check_block(&moved, EventEncoding::Record, &mut Vec::new()).is_err());
}
