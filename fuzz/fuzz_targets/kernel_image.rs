//! Kernel journal images (`vexfs_journal_kernel_codec::image`), read from memory: never
//! panic, never fail (the only errors are I/O errors of the source); intact blocks and
//! damaged regions are in order, inside the image, never overlapping, and the counts
//! agree with what was returned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_kernel_codec::image::{ReaderOptions, read_image_from};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_kernel_image(&mut sealed);
    if sealed != data {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let opts = ReaderOptions {
        max_block_size: 1 << 20,
        max_block_data: 1 << 20,
    };
    let contents = read_image_from(std::io::Cursor::new(data), "fuzz", opts)
        .expect("reading an image from memory never fails");
    let stats = &contents.stats;
    assert_eq!(stats.blocks, contents.blocks.len() as u64);
    assert_eq!(stats.events, contents.events().count() as u64);
    assert_eq!(stats.damaged_regions, contents.damage.len() as u64);
    assert_eq!(stats.bytes_read, data.len() as u64);
    let mut spans: Vec<(u64, u64)> = contents
        .blocks
        .iter()
        .map(|b| (b.offset, b.offset + u64::from(b.header.block_size)))
        .chain(
            contents
                .damage
                .iter()
                .map(|d| (d.offset, d.offset + d.length)),
        )
        .collect();
    spans.sort_unstable();
    let mut end = 0;
    for (start, stop) in spans {
        assert!(start >= end, "regions overlap at byte {start}");
        assert!(
            stop <= data.len() as u64,
            "region {start}..{stop} past the image"
        );
        end = stop;
    }
}
