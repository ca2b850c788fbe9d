//! Building blocks to append: a block's bytes and its block table entry.

use vexfs_journal_format::BlockHeader;
use vexfs_journal_format::block::{EventEncoding, EventSpan};
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::footer::BlockEntry;

use crate::error::{Result, StorageError};

/// Appends to `out` a complete storage block holding `records` (described by `span`):
/// header, then the records compressed (framed, block version 2, for LZ4). Returns
/// the block size.
pub fn append_block(
    out: &mut Vec<u8>,
    records: &[u8],
    span: &EventSpan,
    compression: vexfs_journal_format::Compression,
    zstd_level: i32,
    frame_bytes: usize,
) -> Result<usize> {
    let start = out.len();
    out.resize(start + BLOCK_HEADER_SIZE, 0);
    let framed = vexfs_journal_format::block::encode_data(
        compression,
        records,
        span.first_seq,
        zstd_level,
        frame_bytes,
        out,
    )
    .map_err(StorageError::InvalidEvent)?;
    let stored = &out[start + BLOCK_HEADER_SIZE..];
    let block_size =
        vexfs_journal_format::block::block_size_for(EventEncoding::Record, stored.len());
    let header = BlockHeader {
        block_id: span.first_seq,
        block_size: block_size as u32,
        event_count: span.count,
        compression,
        compressed_size: stored.len() as u32,
        uncompressed_size: records.len() as u32,
        block_checksum: vexfs_journal_format::kernel_crc32(stored),
        first_event_time: span.first_time,
        last_event_time: span.last_time,
        first_event_id: span.first_id,
        last_event_id: span.last_id,
        framed,
    };
    out[start..start + BLOCK_HEADER_SIZE].copy_from_slice(&header.to_bytes());
    Ok(block_size)
}

/// The block table entry of a block at `offset`.
pub fn entry_for(offset: u64, size: u32, raw_size: u32, span: &EventSpan) -> BlockEntry {
    BlockEntry {
        raw_size,
        reserved: 0,
        first_seq: span.first_seq,
        last_seq: span.last_seq,
        offset,
        min_time: span.min_time,
        max_time: span.max_time,
        size,
        event_count: span.count,
    }
}
