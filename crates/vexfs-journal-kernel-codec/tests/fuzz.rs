//! The image reader never panics and never invents data: random bytes, random
//! mutations of valid images (bit flips, overwrites, truncations, shuffled pages) and
//! every single-bit flip of a small image's headers. Whatever it returns as an intact
//! block is exactly a block that was written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use proptest::prelude::*;
use vexfs_journal_format::Compression;
use vexfs_journal_kernel_codec::{
    ImageBlock, ImageContents, PAGE_SIZE, ReaderOptions, WriterOptions, convert_from_kernel_format,
    read_image_from,
};

fn read(bytes: &[u8]) -> ImageContents {
    let opts = ReaderOptions {
        max_block_size: 1 << 20,
        max_block_data: 1 << 20,
    };
    read_image_from(bytes, "fuzz", opts).unwrap()
}

/// Every block returned must be one of `original`'s blocks, events and all (block ids
/// are the one header field no checksum or event covers, so they are not compared).
fn assert_subset(got: &ImageContents, original: &[ImageBlock]) {
    for b in &got.blocks {
        assert!(
            original.iter().any(|o| o.events == b.events
                && o.header.first_event_id == b.header.first_event_id
                && o.header.event_count == b.header.event_count),
            "a block that was never written came out at offset {}",
            b.offset
        );
    }
}

fn image(compression: Compression) -> (Vec<u8>, Vec<ImageBlock>) {
    let evs: Vec<_> = (1..=9).map(common::kernel_event).collect();
    let bytes = common::image_bytes(
        &evs,
        WriterOptions {
            compression,
            block_events: 3,
            ..WriterOptions::default()
        },
    );
    let blocks = read(&bytes).blocks;
    assert_eq!(blocks.len(), 3);
    (bytes, blocks)
}

#[test]
fn every_single_bit_flip_loses_exactly_the_flipped_block() {
    for compression in [Compression::None, Compression::Lz4] {
        let (bytes, blocks) = image(compression);
        let ends: Vec<usize> = blocks
            .iter()
            .map(|b| b.offset as usize + b.header.block_size as usize)
            .collect();
        // Every bit of every block header, and a stride through the rest.
        let mut bits: Vec<usize> = Vec::new();
        for b in &blocks {
            bits.extend(b.offset as usize * 8..(b.offset as usize + 104) * 8);
        }
        bits.extend((0..bytes.len() * 8).step_by(61));
        for bit in bits {
            let at = bit / 8;
            let mut m = bytes.clone();
            m[at] ^= 1 << (bit % 8);
            let got = read(&m);
            assert_subset(&got, &blocks);
            let hit = ends.iter().position(|&e| at < e).unwrap();
            let in_block_id =
                (blocks[hit].offset as usize + 8..blocks[hit].offset as usize + 16).contains(&at);
            if in_block_id {
                // The block id is not covered by any checksum: the block still reads,
                // with the flipped id.
                assert_eq!(got.blocks.len(), 3, "{compression:?} bit {bit}");
                assert!(got.damage.is_empty());
                continue;
            }
            assert_eq!(
                got.blocks.len(),
                2,
                "{compression:?}: bit {bit} (block {hit}) must lose exactly its block"
            );
            assert!(got.blocks.iter().all(|b| b.offset != blocks[hit].offset));
            assert_eq!(got.damage.len(), 1, "{compression:?} bit {bit}");
            assert_eq!(got.damage[0].offset, blocks[hit].offset);
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let len = (next() % (6 * PAGE_SIZE as u64)) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 3 == 0 && bytes.len() >= 104 {
            // A plausible header with random fields behind the right magic/version.
            bytes[..4].copy_from_slice(&0x5553_4A4Cu32.to_le_bytes());
            bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
        }
        let got = read(&bytes);
        assert!(
            got.blocks.is_empty(),
            "random bytes made a block (round {round})"
        );
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Overwrite(usize, Vec<u8>),
    Truncate(usize),
    SwapPages(usize, usize),
    ZeroPage(usize),
    InsertPage(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..300))
            .prop_map(|(a, v)| Mutation::Overwrite(a, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapPages(a, b)),
        any::<usize>().prop_map(Mutation::ZeroPage),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::InsertPage(a, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let pages = bytes.len().div_ceil(PAGE_SIZE);
    match m {
        Mutation::Flip(at, mask) => {
            let at = at % bytes.len();
            bytes[at] ^= mask;
        }
        Mutation::Overwrite(at, v) => {
            let at = at % bytes.len();
            let n = v.len().min(bytes.len() - at);
            bytes[at..at + n].copy_from_slice(&v[..n]);
        }
        Mutation::Truncate(at) => bytes.truncate(at % bytes.len()),
        Mutation::SwapPages(a, b) => {
            let (a, b) = (a % pages, b % pages);
            if a != b && (a + 1) * PAGE_SIZE <= bytes.len() && (b + 1) * PAGE_SIZE <= bytes.len() {
                for i in 0..PAGE_SIZE {
                    bytes.swap(a * PAGE_SIZE + i, b * PAGE_SIZE + i);
                }
            }
        }
        Mutation::ZeroPage(p) => {
            let start = (p % pages) * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(bytes.len());
            bytes[start..end].fill(0);
        }
        Mutation::InsertPage(p, fill) => {
            let at = (p % pages) * PAGE_SIZE;
            bytes.splice(at..at, std::iter::repeat_n(*fill, PAGE_SIZE));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Mutated images never panic the reader, never yield a block that was not written,
    /// and account for every byte: intact blocks, damage and trailing zeros.
    #[test]
    fn mutated_images(lz4 in any::<bool>(), muts in prop::collection::vec(mutation(), 1..5)) {
        let (mut bytes, blocks) = image(if lz4 { Compression::Lz4 } else { Compression::None });
        for m in &muts {
            apply(&mut bytes, m);
        }
        let got = read(&bytes);
        assert_subset(&got, &blocks);
        let block_bytes: u64 = got.blocks.iter().map(|b| u64::from(b.header.block_size)).sum();
        let damaged: u64 = got.damage.iter().map(|d| d.length).sum();
        prop_assert_eq!(
            block_bytes + damaged + got.stats.trailing_zero_bytes,
            bytes.len() as u64,
            "every byte is a block, damage or unused"
        );
        for b in &got.blocks {
            for ev in &b.events {
                // Intact events re-encode exactly.
                let bytes = vexfs_journal_kernel_codec::convert_to_kernel_format(ev).unwrap();
                prop_assert_eq!(&convert_from_kernel_format(&bytes).unwrap(), ev);
            }
        }
    }
}
