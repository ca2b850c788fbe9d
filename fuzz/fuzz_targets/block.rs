//! Storage blocks (`vexfs_journal_format::block`), in both encodings (segment records
//! and kernel events): never panic; a parsed header re-serialises to itself; a fully
//! checked block's events all decode, and its data survives compress → decompress; a
//! framed (version 2) block's frames, read one at a time as point reads and queries
//! read them, give exactly the records the whole-block read gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::block::{
    BlockHeader, EventEncoding, check_block, compress, decompress, open_block, split_events,
};
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::frames::{FrameTable, decode_frame, frame_bytes};
use vexfs_journal_format::{decode_kernel_event, decode_record};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_block(&mut sealed);
    if sealed != data {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    if let Ok(header) = BlockHeader::parse(data) {
        let again = BlockHeader::parse(&header.to_bytes()).expect("a parsed header re-parses");
        assert_eq!(again, header);
        if header.framed {
            check_frames(data, &header);
        }
    }
    let mut buf = Vec::new();
    for encoding in [EventEncoding::Record, EventEncoding::Kernel] {
        let _ = open_block(data, encoding, &mut buf);
        let Ok((header, span)) = check_block(data, encoding, &mut buf) else {
            continue;
        };
        assert_eq!(buf.len(), header.uncompressed_size as usize);
        assert_eq!(span.count, header.event_count);
        let mut events = 0u32;
        for item in split_events(&buf) {
            let (_, bytes) = item.expect("a checked block splits into events");
            match encoding {
                EventEncoding::Record => {
                    decode_record(bytes).expect("a checked block's record decodes");
                }
                EventEncoding::Kernel => {
                    decode_kernel_event(bytes).expect("a checked block's kernel event decodes");
                }
            }
            events += 1;
        }
        assert_eq!(events, header.event_count);
        let mut packed = Vec::new();
        if compress(header.compression, &buf, 1, &mut packed).is_ok() {
            let mut unpacked = Vec::new();
            decompress(header.compression, &packed, buf.len(), &mut unpacked)
                .expect("compressed data decompresses");
            assert_eq!(unpacked, buf, "compress → decompress changed the data");
        }
    }
}

/// The frame-at-a-time read path never panics, and on a block whose table checks, each
/// frame that decodes is exactly its slice of the whole-block read.
fn check_frames(data: &[u8], header: &BlockHeader) {
    let Some(stored) = data.get(BLOCK_HEADER_SIZE..) else {
        return;
    };
    let Ok(table) = FrameTable::parse(
        stored,
        header.block_id,
        header.compressed_size,
        header.uncompressed_size,
    ) else {
        return;
    };
    let mut whole = Vec::new();
    let whole_ok = check_block(data, EventEncoding::Record, &mut whole).is_ok();
    let mut frame = Vec::new();
    for info in table.frames() {
        let _ = table.frame_of(info.first_seq);
        let Ok(bytes) = frame_bytes(stored, info) else {
            continue;
        };
        if decode_frame(info, bytes, &mut frame).is_ok() && whole_ok {
            let at = info.raw_offset;
            assert_eq!(
                whole.get(at..at + frame.len()),
                Some(&frame[..]),
                "a frame read alone differs from the whole block"
            );
        }
    }
}
