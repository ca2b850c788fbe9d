//! The resumable LZ4 decoder (`vexfs_journal_format::lz4`): never panics on any input
//! and any declared size; whatever it decodes whole, lz4_flex decodes the same (but
//! the empty block); data
//! compressed by the block compressor decodes to itself a prefix at a time, each
//! prefix final.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::Compression;
use vexfs_journal_format::block::compress;
use vexfs_journal_format::lz4::Lz4Prefix;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, rest @ ..] = data else {
        return;
    };
    // Arbitrary input as a compressed block of a declared size.
    let size = usize::from(u16::from_le_bytes([*a, *b]));
    let step = usize::from(*c) + 1;
    let mut out = vec![0u8; size];
    let mut d = Lz4Prefix::new();
    let mut want = 0;
    let whole = loop {
        want += step;
        match d.decode_to(rest, &mut out, want) {
            Ok(got) if d.is_done() => break Some(got),
            Ok(got) => assert!(got >= want.min(size), "stopped short without an error"),
            Err(_) => break None,
        }
    };
    if let Some(got) = whole {
        assert_eq!(got, size);
        if rest.is_empty() {
            // An empty block of size 0: accepted here, refused by lz4_flex (which wants
            // at least a token). No segment block is empty; nothing to compare.
            assert_eq!(size, 0);
            return;
        }
        let mut flex = vec![0u8; size];
        let n = lz4_flex::block::decompress_into(rest, &mut flex)
            .expect("lz4_flex refuses a block the prefix decoder accepted");
        assert_eq!(n, size);
        assert_eq!(flex, out, "the decoders disagree");
    }
    // The same bytes as data: compressed, then decoded by prefix.
    let mut packed = Vec::new();
    if compress(Compression::Lz4, rest, 0, &mut packed).is_ok() {
        let mut out = vec![0u8; rest.len()];
        let mut d = Lz4Prefix::new();
        let mut want = 0;
        while !d.is_done() {
            want += step;
            let got = d
                .decode_to(&packed, &mut out, want)
                .expect("compressed data decodes");
            assert_eq!(out[..got], rest[..got], "a decoded prefix differs");
        }
    }
});
