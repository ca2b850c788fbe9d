//! Fuzz-style robustness: every decoder gets random buffers, mutated fixtures (with and
//! without their checksums fixed up, so the structural checks behind the checksum are
//! reached too) and every truncation. Nothing may panic. Every single-bit flip of every
//! fixture must be reported as an error, never decoded as a different valid value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use vexfs_journal_format::block::{self, EventEncoding, check_block, split_events};
use vexfs_journal_format::kernel::seal_event_checksum;
use vexfs_journal_format::record::RecordView;
use vexfs_journal_format::*;
use vexfs_journal_testkit::fixture;

/// Deterministic xorshift generator: reproducible failures without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Feeds `buf` to every decoder; only checks that none panics.
fn decode_everything(buf: &[u8]) {
    let _ = decode_kernel_event(buf);
    let _ = decode_record(buf);
    let _ = RecordView::parse_trusted(buf).map(|v| v.to_event());
    let _ = BlockHeader::parse(buf);
    let mut data = Vec::new();
    let _ = check_block(buf, EventEncoding::Record, &mut data);
    let _ = check_block(buf, EventEncoding::Kernel, &mut data);
    let _ = FileHeader::parse(buf);
    for (_, bytes) in split_events(buf).take(64).flatten() {
        let _ = RecordView::parse_trusted(bytes);
    }
    for compression in [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Zlib,
    ] {
        let _ = block::decompress(compression, buf, buf.len() * 3, &mut data);
        let _ = block::decompress(compression, buf, 100, &mut data);
    }
}

#[test]
fn random_buffers_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..4000 {
        let len = match rng.below(4) {
            0 => rng.below(140),
            1 => rng.below(400),
            2 => rng.below(6000),
            _ => 5412 + rng.below(600),
        };
        decode_everything(&rng.bytes(len));
    }
}

/// Each fixture with its decoder-facing checker.
fn checked_fixtures() -> Vec<(String, Vec<u8>, fn(&[u8]) -> bool)> {
    let mut out: Vec<(String, Vec<u8>, fn(&[u8]) -> bool)> = Vec::new();
    for name in [
        "filesystem",
        "graph",
        "vector",
        "agent",
        "system",
        "semantic",
        "observability",
        "empty",
    ] {
        let file = format!("kernel_event_{name}.bin");
        out.push((file.clone(), fixture(&file), |b| {
            decode_kernel_event(b).is_ok()
        }));
    }
    out.push((
        "record_empty.bin".into(),
        fixture("record_empty.bin"),
        |b| RecordView::parse(b).is_ok(),
    ));
    let records = fixture("records.bin");
    let mut pos = 0;
    while pos < records.len() {
        let len = RecordView::parse(&records[pos..]).unwrap().record_len();
        out.push((
            format!("records.bin@{pos}"),
            records[pos..pos + len].to_vec(),
            |b| RecordView::parse(b).is_ok(),
        ));
        pos += len;
    }
    for file in [
        "storage_block_none.bin",
        "storage_block_lz4.bin",
        "storage_block_lz4_framed.bin",
    ] {
        out.push((file.into(), fixture(file), |b| {
            check_block(b, EventEncoding::Record, &mut Vec::new()).is_ok()
        }));
    }
    out.push(("file_header.bin".into(), fixture("file_header.bin"), |b| {
        FileHeader::parse(b).is_ok()
    }));
    out.push(("manifest.bin".into(), fixture("manifest.bin"), |b| {
        vexfs_journal_format::manifest::decode_manifest(b).is_ok()
    }));
    out.push((
        "segment_footer.bin".into(),
        fixture("segment_footer.bin"),
        |b| vexfs_journal_format::footer::decode_footer(b).is_ok(),
    ));
    out.push((
        "clean_marker.bin".into(),
        fixture("clean_marker.bin"),
        |b| vexfs_journal_format::footer::decode_clean_marker(b).is_ok(),
    ));
    out.push(("checkpoint.bin".into(), fixture("checkpoint.bin"), |b| {
        vexfs_journal_format::checkpoint::decode_checkpoint(b).is_ok()
    }));
    out.push(("index_file.bin".into(), fixture("index_file.bin"), |b| {
        index_file_decodes(b)
    }));
    out.push(("cursor.bin".into(), fixture("cursor.bin"), |b| {
        vexfs_journal_format::cursor::decode_cursor(b).is_ok()
    }));
    out
}

/// Decodes a whole `.idx` file the way the index loader does.
fn index_file_decodes(b: &[u8]) -> bool {
    use vexfs_journal_format::index_file::{
        TermSections, check_section, decode_counts, decode_header, decode_summaries, decode_terms,
        section,
    };
    let Ok(h) = decode_header(b, b.len() as u64) else {
        return false;
    };
    let mut secs = Vec::new();
    for (off, len, crc) in h.sections {
        let Some(s) = b.get(off as usize..(off + len) as usize) else {
            return false;
        };
        if check_section(s, crc, "section").is_err() {
            return false;
        }
        secs.push(s);
    }
    decode_summaries(secs[section::BLOCKS], h.block_count).is_ok()
        && decode_terms(
            TermSections {
                paths: secs[section::PATHS],
                agents: secs[section::AGENTS],
                txs: secs[section::TXS],
                refs: secs[section::REFS],
                ids: secs[section::IDS],
            },
            h.block_count,
        )
        .is_ok()
        && decode_counts(secs[section::COUNTS], h.block_count).is_ok()
}

#[test]
fn every_single_bit_flip_of_every_fixture_is_an_error() {
    let mut flips = 0;
    for (name, original, accepts) in checked_fixtures() {
        assert!(accepts(&original), "{name} must decode unflipped");
        let mut bytes = original.clone();
        for bit in 0..bytes.len() * 8 {
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !accepts(&bytes),
                "{name}: flipping bit {bit} was not detected"
            );
            bytes[bit / 8] ^= 1 << (bit % 8);
            flips += 1;
        }
    }
    assert!(flips > 400_000, "{flips} flips");
}

#[test]
fn every_truncation_is_an_error() {
    for (name, original, accepts) in checked_fixtures() {
        for len in 0..original.len() {
            assert!(
                !accepts(&original[..len]),
                "{name} truncated to {len} bytes was accepted"
            );
        }
    }
}

#[test]
fn mutated_and_resealed_events_never_panic() {
    // With the checksum recomputed after mutation, decoders must rely on their
    // structural checks alone: sizes, counts, compact encodings, NUL padding.
    let mut rng = Rng(42);
    let sources: Vec<Vec<u8>> = checked_fixtures()
        .into_iter()
        .filter(|(n, _, _)| n.starts_with("kernel_event") || n.starts_with("record"))
        .map(|(_, b, _)| b)
        .collect();
    for round in 0..20_000 {
        let mut bytes = sources[round % sources.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let at = if rng.below(2) == 0 {
                rng.below(210.min(bytes.len()))
            } else {
                rng.below(bytes.len())
            };
            bytes[at] = rng.next() as u8;
        }
        seal_event_checksum(&mut bytes);
        decode_everything(&bytes);
        if let Ok(view) = RecordView::parse(&bytes) {
            // Whatever a resealed record decodes to must re-encode to the same bytes.
            let mut again = Vec::new();
            encode_record(&view.to_event(), &view.ext(), &mut again).unwrap();
            assert_eq!(again, &bytes[..view.record_len()], "round {round}");
        }
        if let Ok((ev, size)) = decode_kernel_event(&bytes) {
            let mut again = Vec::new();
            encode_kernel_event(&ev, &mut again).unwrap();
            assert_eq!(again, &bytes[..size], "round {round}");
        }
    }
}

#[test]
fn resealed_size_fields_are_rejected_specifically() {
    let mut bytes = fixture("kernel_event_graph.bin");
    bytes[72..76].copy_from_slice(&70_000u32.to_le_bytes()); // payload_size
    let delta = 70_000
        - u32::from_le_bytes(
            fixture("kernel_event_graph.bin")[72..76]
                .try_into()
                .unwrap(),
        );
    let size = u32::from_le_bytes(bytes[64..68].try_into().unwrap()) + delta;
    bytes[64..68].copy_from_slice(&size.to_le_bytes());
    bytes.resize(size as usize, 0);
    seal_event_checksum(&mut bytes);
    assert_eq!(
        decode_kernel_event(&bytes).unwrap_err(),
        FormatError::OverLimit {
            field: "payload",
            size: 70_000,
            limit: 65_536
        }
    );

    let mut bytes = fixture("kernel_event_vector.bin");
    bytes[80..84].copy_from_slice(&2u32.to_le_bytes()); // event_version
    seal_event_checksum(&mut bytes);
    assert!(matches!(
        decode_kernel_event(&bytes),
        Err(FormatError::UnsupportedVersion { found: 2, .. })
    ));

    let mut bytes = fixture("kernel_event_agent.bin");
    let agent_id = 132 + 4168;
    bytes[agent_id..agent_id + 64].fill(b'x'); // no NUL left
    seal_event_checksum(&mut bytes);
    assert_eq!(
        decode_kernel_event(&bytes).unwrap_err(),
        FormatError::Unterminated {
            field: "context.agent_id"
        }
    );

    let mut bytes = fixture("kernel_event_agent.bin");
    bytes[agent_id + 63] = b'!'; // garbage after the NUL
    seal_event_checksum(&mut bytes);
    assert_eq!(
        decode_kernel_event(&bytes).unwrap_err(),
        FormatError::NonZeroPadding {
            field: "context.agent_id"
        }
    );

    let mut bytes = fixture("kernel_event_system.bin");
    bytes[68..72].copy_from_slice(&4096u32.to_le_bytes()); // context_size
    assert!(matches!(
        decode_kernel_event(&bytes),
        Err(FormatError::SizeMismatch {
            field: "context_size",
            declared: 4096,
            expected: 5280
        })
    ));
}
