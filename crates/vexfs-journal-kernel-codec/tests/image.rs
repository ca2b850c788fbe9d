//! Kernel journal images: writing, streaming reads, golden images, and damage — each
//! damaged image reports what and where and yields every intact block.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use vexfs_journal_testkit::fixtures_dir;

use std::io::Read;

use vexfs_journal_format::block::{EventEncoding, check_block};
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::samples::{category_events, empty_event};
use vexfs_journal_format::{Compression, Event, FormatError, FsOp, Priority};
use vexfs_journal_kernel_codec::{
    ConversionError, DamageKind, ImageContents, ImageError, ImageItem, ImageReader, ImageWriter,
    PAGE_SIZE, ReaderOptions, WriterOptions, read_image, read_image_from, write_image,
};

fn read(bytes: &[u8]) -> ImageContents {
    read_image_from(bytes, "test", ReaderOptions::default()).unwrap()
}

fn events(n: u64) -> Vec<Event> {
    (1..=n).map(common::kernel_event).collect()
}

fn uncompressed(per_block: usize) -> WriterOptions {
    WriterOptions {
        compression: Compression::None,
        block_events: per_block,
        ..WriterOptions::default()
    }
}

/// The sample events as an image: the 7 category events and the empty event, two per
/// block.
fn sample_events() -> Vec<Event> {
    let mut evs: Vec<Event> = category_events().into_iter().map(|(_, e)| e).collect();
    evs.push(empty_event());
    evs
}

#[test]
fn written_images_are_aligned_padded_blocks_that_read_back_exactly() {
    for compression in [Compression::None, Compression::Lz4] {
        let evs = events(20);
        let opts = WriterOptions {
            compression,
            block_events: 3,
            ..WriterOptions::default()
        };
        let mut w = ImageWriter::new(Vec::new(), "mem", opts).unwrap();
        for ev in &evs {
            w.push(ev).unwrap();
        }
        let (bytes, summary) = w.finish().unwrap();
        assert_eq!(summary.blocks, 7);
        assert_eq!(summary.events, 20);
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(
            (summary.first_block_id, summary.last_block_id),
            (Some(1), Some(7))
        );
        assert_eq!(bytes.len() % PAGE_SIZE, 0);
        if compression == Compression::Lz4 {
            assert_eq!(summary.compressed_blocks, 7, "kernel events compress well");
        }

        let got = read(&bytes);
        assert!(got.damage.is_empty(), "{:?}", got.damage);
        assert_eq!(got.events().cloned().collect::<Vec<_>>(), evs);
        let mut offset = 0u64;
        for (i, b) in got.blocks.iter().enumerate() {
            assert_eq!(b.offset, offset);
            assert_eq!(b.offset % PAGE_SIZE as u64, 0);
            assert_eq!(b.header.block_id, i as u64 + 1, "ids count from 1");
            assert_eq!(b.header.block_size as usize % PAGE_SIZE, 0);
            assert_eq!(b.header.compression, compression);
            // The format crate's own full check agrees.
            let mut data = Vec::new();
            let block = &bytes[offset as usize..offset as usize + b.header.block_size as usize];
            let (h, span) = check_block(block, EventEncoding::Kernel, &mut data).unwrap();
            assert_eq!(h, b.header);
            assert_eq!(span.count as usize, b.events.len());
            offset += u64::from(b.header.block_size);
        }
        assert_eq!(got.stats.blocks, 7);
        assert_eq!(got.stats.events, 20);
        assert_eq!(got.stats.intact_end, bytes.len() as u64);
        assert!(!got.stats.damaged_tail);
    }
}

#[test]
fn one_kernel_event_alone_needs_two_pages() {
    let bytes = common::image_bytes(&[common::kernel_event(1)], uncompressed(1));
    // 104 + 5412 + payload > 4096.
    assert_eq!(bytes.len(), 2 * PAGE_SIZE);
}

#[test]
fn writer_cuts_blocks_by_size_count_and_decreasing_ids() {
    let mut evs = events(6);
    evs[3].event_id = 5; // below the block's first id (1001): a new block starts
    let bytes = common::image_bytes(&evs, uncompressed(100));
    let got = read(&bytes);
    assert_eq!(got.blocks.len(), 2);
    assert_eq!(got.blocks[0].events.len(), 3);
    assert_eq!(got.events().cloned().collect::<Vec<_>>(), evs);

    let opts = WriterOptions {
        compression: Compression::None,
        block_bytes: 3 * 5600,
        block_events: 100,
        ..WriterOptions::default()
    };
    let got = read(&common::image_bytes(&events(7), opts));
    assert!(got.blocks.iter().all(|b| b.events.len() <= 3));
    assert_eq!(got.stats.events, 7);
}

#[test]
fn writer_refuses_what_a_kernel_image_cannot_hold() {
    let opts = WriterOptions {
        compression: Compression::Zstd,
        ..WriterOptions::default()
    };
    assert!(matches!(
        ImageWriter::new(Vec::new(), "x", opts),
        Err(ImageError::Options(_))
    ));
    let mut w = ImageWriter::new(Vec::new(), "x", WriterOptions::default()).unwrap();
    let mut ev = Event::filesystem(FsOp::Create).path(vec![b'p'; 5000]);
    ev.event_id = 9;
    match w.push(&ev) {
        Err(ImageError::Convert {
            event_id: 9,
            source: ConversionError::PathTooLong { len: 5000 },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// A reader handing out data in small, irregular pieces (a pipe, a slow device).
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.n += 1;
        let k = (1 + (self.n * self.step) % 977)
            .min(buf.len())
            .min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

#[test]
fn streaming_reads_do_not_depend_on_read_sizes() {
    let bytes = common::image_bytes(&events(30), WriterOptions::default());
    let whole = read(&bytes);
    for step in [1, 13, 499] {
        let src = Trickle {
            data: &bytes,
            step,
            n: 0,
        };
        let got = read_image_from(src, "trickle", ReaderOptions::default()).unwrap();
        assert_eq!(got.blocks, whole.blocks, "step {step}");
    }
}

#[test]
fn reading_a_file_or_device_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernel.img");
    let evs = events(12);
    let summary = write_image(&path, &evs, WriterOptions::default()).unwrap();
    assert_eq!(summary.events, 12);
    let got = read_image(&path).unwrap();
    assert_eq!(got.events().cloned().collect::<Vec<_>>(), evs);
    let missing = read_image(&dir.path().join("missing.img")).unwrap_err();
    assert!(missing.to_string().contains("missing.img"), "{missing}");
}

#[test]
fn memory_is_bounded_by_the_block_size_limit() {
    // A header that claims a huge block is refused before anything is read for it.
    let mut bytes = common::kernel_image(1..=4, 2);
    let opts = ReaderOptions {
        max_block_size: 8 * PAGE_SIZE,
        max_block_data: 1 << 20,
    };
    // Block 1 claims 128 MiB of stored data (and a matching block size).
    let stored: u32 = 1 << 27;
    bytes[28..32].copy_from_slice(&stored.to_le_bytes());
    bytes[32..36].copy_from_slice(&stored.to_le_bytes());
    let size = (BLOCK_HEADER_SIZE as u32 + stored).next_multiple_of(PAGE_SIZE as u32);
    bytes[16..20].copy_from_slice(&size.to_le_bytes());
    let got = read_image_from(&bytes[..], "t", opts).unwrap();
    assert_eq!(got.damage.len(), 1);
    assert!(matches!(
        got.damage[0].kind,
        DamageKind::Block(FormatError::OverLimit {
            field: "block_size",
            ..
        })
    ));
    assert_eq!(got.stats.events, 2, "the second block is still read");
}

// ---- golden images --------------------------------------------------------------------

fn check_golden(name: &str, bytes: &[u8]) {
    vexfs_journal_testkit::check_golden(
        &format!("kernel/{name}"),
        bytes,
        "cargo test -p vexfs-journal-kernel-codec --test image",
    );
}

#[test]
fn golden_images_match_the_committed_fixtures() {
    let evs = sample_events();
    for (name, compression) in [
        ("image_none.img", Compression::None),
        ("image_lz4.img", Compression::Lz4),
    ] {
        let opts = WriterOptions {
            compression,
            block_events: 2,
            ..WriterOptions::default()
        };
        let bytes = common::image_bytes(&evs, opts);
        check_golden(name, &bytes);
        let got = read(&bytes);
        assert!(got.damage.is_empty());
        assert_eq!(got.blocks.len(), 4);
        assert_eq!(got.events().cloned().collect::<Vec<_>>(), evs, "{name}");
    }
    // The committed fixtures read back to the samples (not only our own output).
    let none = std::fs::read(fixtures_dir().join("kernel/image_none.img")).unwrap();
    let lz4 = std::fs::read(fixtures_dir().join("kernel/image_lz4.img")).unwrap();
    assert_eq!(read(&none).events().cloned().collect::<Vec<_>>(), evs);
    assert_eq!(read(&lz4).events().cloned().collect::<Vec<_>>(), evs);
    assert!(lz4.len() < none.len());
}

// ---- damage ------------------------------------------------------------------------------

/// An image of 4 blocks × 3 events (uncompressed), with each block's offset.
fn four_blocks() -> (Vec<u8>, Vec<u64>, Vec<Event>) {
    let evs = events(12);
    let bytes = common::image_bytes(&evs, uncompressed(3));
    let offsets = read(&bytes).blocks.iter().map(|b| b.offset).collect();
    (bytes, offsets, evs)
}

fn block_ids(c: &ImageContents) -> Vec<u64> {
    c.blocks.iter().map(|b| b.header.block_id).collect()
}

#[test]
fn truncated_image_reports_the_cut_block_and_keeps_the_others() {
    let (bytes, offsets, evs) = four_blocks();
    let cut = offsets[3] as usize + 5000;
    let got = read(&bytes[..cut]);
    assert_eq!(block_ids(&got), [1, 2, 3]);
    assert_eq!(got.events().cloned().collect::<Vec<_>>(), evs[..9]);
    assert_eq!(got.damage.len(), 1);
    let d = &got.damage[0];
    assert_eq!(d.offset, offsets[3]);
    assert_eq!(d.length, (cut - offsets[3] as usize) as u64);
    assert_eq!(d.block_id, Some(4));
    assert_eq!(d.after_block_id, Some(3));
    assert!(
        matches!(
            d.kind,
            DamageKind::Truncated {
                available: 5000,
                ..
            }
        ),
        "{d}"
    );
    assert!(got.stats.damaged_tail);
    assert_eq!(got.stats.intact_end, offsets[3]);
    let text = d.to_string();
    assert!(
        text.contains(&format!("bytes {}", offsets[3])) && text.contains("block id 4"),
        "{text}"
    );
}

#[test]
fn bit_flips_lose_only_the_flipped_block() {
    let (bytes, offsets, evs) = four_blocks();
    // In block 2's event data, in its header, in its padding.
    let size2 = (offsets[2] - offsets[1]) as usize;
    for at in [
        offsets[1] as usize + 3000,
        offsets[1] as usize + 21, // event_count
        offsets[1] as usize + size2 - 1,
    ] {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        let got = read(&b);
        assert_eq!(block_ids(&got), [1, 3, 4], "flip at {at}");
        let mut expected = evs[..3].to_vec();
        expected.extend_from_slice(&evs[6..]);
        assert_eq!(got.events().cloned().collect::<Vec<_>>(), expected);
        assert_eq!(got.damage.len(), 1, "flip at {at}");
        let d = &got.damage[0];
        assert_eq!((d.offset, d.length), (offsets[1], size2 as u64), "{d}");
        assert_eq!(d.block_id, Some(2));
        assert_eq!(d.after_block_id, Some(1));
    }
}

#[test]
fn wrong_magic_and_wrong_version_are_named() {
    let (bytes, offsets, _) = four_blocks();
    let mut b = bytes.clone();
    b[offsets[2] as usize..offsets[2] as usize + 4].copy_from_slice(b"VEXF");
    let got = read(&b);
    assert_eq!(block_ids(&got), [1, 2, 4]);
    assert!(
        matches!(
            got.damage[0].kind,
            DamageKind::Block(FormatError::BadMagic {
                what: "block header",
                ..
            })
        ),
        "{}",
        got.damage[0]
    );
    assert_eq!(got.damage[0].offset, offsets[2]);
    assert_eq!(got.damage[0].block_id, None, "no readable header");

    let mut b = bytes.clone();
    let at = offsets[0] as usize + 4;
    b[at..at + 4].copy_from_slice(&2u32.to_le_bytes());
    let got = read(&b);
    assert_eq!(block_ids(&got), [2, 3, 4]);
    assert!(matches!(
        got.damage[0].kind,
        DamageKind::Block(FormatError::UnsupportedVersion { found: 2, .. })
    ));
    assert_eq!(
        (got.damage[0].offset, got.damage[0].after_block_id),
        (0, None)
    );
    let text = got.damage[0].to_string();
    assert!(text.contains("version 2"), "{text}");
}

#[test]
fn a_damaged_event_is_located_inside_its_block() {
    // An event whose own checksum is wrong inside a block whose checksum is right
    // (written by a buggy producer): reported as that event.
    let (bytes, offsets, _) = four_blocks();
    let mut b = bytes.clone();
    let block = offsets[1] as usize;
    let header_len = BLOCK_HEADER_SIZE;
    let first_event = block + header_len;
    b[first_event + 200] ^= 1; // inside event 0's context
    // Re-seal the block checksum over the stored data.
    let stored = u32::from_le_bytes(b[block + 28..block + 32].try_into().unwrap()) as usize;
    let crc = vexfs_journal_format::kernel_crc32(&b[first_event..first_event + stored]);
    b[block + 36..block + 40].copy_from_slice(&crc.to_le_bytes());
    let got = read(&b);
    assert_eq!(block_ids(&got), [1, 3, 4]);
    match &got.damage[0].kind {
        DamageKind::Event {
            index: 0,
            data_offset: 0,
            error: FormatError::ChecksumMismatch { .. },
        } => {}
        other => panic!("{other}"),
    }
}

#[test]
fn zeroed_blocks_and_unused_space() {
    let (bytes, offsets, _) = four_blocks();
    // Trailing zeros (a journal area larger than its content) are not damage.
    let mut b = bytes.clone();
    b.extend_from_slice(&vec![0; 5 * PAGE_SIZE]);
    let got = read(&b);
    assert_eq!(block_ids(&got), [1, 2, 3, 4]);
    assert!(got.damage.is_empty());
    assert_eq!(got.stats.trailing_zero_bytes, 5 * PAGE_SIZE as u64);

    // A zeroed block between intact ones is.
    let mut b = bytes.clone();
    b[offsets[1] as usize..offsets[2] as usize].fill(0);
    let got = read(&b);
    assert_eq!(block_ids(&got), [1, 3, 4]);
    assert_eq!(got.damage.len(), 1);
    assert_eq!(got.damage[0].kind, DamageKind::ZeroFilled);
    assert_eq!(
        (got.damage[0].offset, got.damage[0].length),
        (offsets[1], offsets[2] - offsets[1])
    );
}

#[test]
fn garbage_pages_between_blocks_are_skipped() {
    let (bytes, offsets, _) = four_blocks();
    let mut b = bytes[..offsets[2] as usize].to_vec();
    b.extend((0..3 * PAGE_SIZE).map(|i| (i * 7 + 3) as u8));
    b.extend_from_slice(&bytes[offsets[2] as usize..]);
    let got = read(&b);
    assert_eq!(block_ids(&got), [1, 2, 3, 4]);
    assert_eq!(got.damage.len(), 1);
    assert_eq!(got.damage[0].offset, offsets[2]);
    assert_eq!(got.damage[0].length, 3 * PAGE_SIZE as u64);
    // Blocks after the garbage are at their shifted offsets.
    assert_eq!(got.blocks[2].offset, offsets[2] + 3 * PAGE_SIZE as u64);
}

#[test]
fn several_damages_in_one_image() {
    let (bytes, offsets, _) = four_blocks();
    let mut b = bytes.clone();
    b[offsets[0] as usize + 500] ^= 4;
    b[offsets[2] as usize + 1] ^= 4;
    let got = read(&b);
    assert_eq!(block_ids(&got), [2, 4]);
    assert_eq!(got.damage.len(), 2);
    assert_eq!(got.damage[0].offset, offsets[0]);
    assert_eq!(got.damage[1].offset, offsets[2]);
    assert_eq!(got.damage[1].after_block_id, Some(2));
    assert_eq!(got.stats.damaged_regions, 2);
}

#[test]
fn reader_items_come_in_source_order() {
    let (bytes, offsets, _) = four_blocks();
    let mut b = bytes.clone();
    b[offsets[1] as usize + 700] ^= 1;
    let mut reader = ImageReader::new(&b[..], "t", ReaderOptions::default());
    let kinds: Vec<String> = std::iter::from_fn(|| reader.next_item().unwrap())
        .map(|i| match i {
            ImageItem::Block(b) => format!("block {}", b.header.block_id),
            ImageItem::Damage(d) => format!("damage {}", d.offset),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "block 1".to_string(),
            format!("damage {}", offsets[1]),
            "block 3".into(),
            "block 4".into()
        ]
    );
}

#[test]
fn lz4_block_damage_is_caught_before_decompression() {
    let evs: Vec<Event> = (1..=40)
        .map(|k| common::kernel_event(k).priority(Priority::LOW))
        .collect();
    let bytes = common::image_bytes(
        &evs,
        WriterOptions {
            block_events: 10,
            ..WriterOptions::default()
        },
    );
    let clean = read(&bytes);
    assert!(
        clean
            .blocks
            .iter()
            .all(|b| b.header.compression == Compression::Lz4)
    );
    let offsets: Vec<u64> = clean.blocks.iter().map(|b| b.offset).collect();
    let mut b = bytes.clone();
    b[offsets[2] as usize + BLOCK_HEADER_SIZE + 10] ^= 0x80;
    let got = read(&b);
    assert_eq!(block_ids(&got), [1, 2, 4]);
    assert!(matches!(
        got.damage[0].kind,
        DamageKind::Block(FormatError::ChecksumMismatch {
            what: "block data",
            ..
        })
    ));
}
