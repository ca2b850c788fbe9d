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
