//! Helpers shared by the fuzz targets.
//!
//! Most on-disk structures carry a crc32, so almost every random mutation is refused at
//! the checksum and the parser behind it is never reached. Each target therefore decodes
//! its input twice: once as given (what a damaged file looks like) and once after the
//! `seal_*` helper here recomputed the checksums the mutation broke (what a file written
//! by a buggy or hostile writer looks like). The helpers never fail: they seal what they
//! can locate and leave the rest as it is.

use vexfs_journal_format::block::BlockHeader;
use vexfs_journal_format::checksum::{crc32_with_zeroed_field, kernel_crc32};
use vexfs_journal_format::consts::{BLOCK_HEADER_SIZE, EVENT_HEADER_SIZE, FILE_HEADER_SIZE};
use vexfs_journal_format::kernel::seal_event_checksum;
use vexfs_journal_format::layout::{EVENT_SIZE_OFFSET, FILE_CHECKSUM_OFFSET};
use vexfs_journal_format::types::Compression;

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
}

/// Seals the checksum of the event (kernel event or record) at the start of `buf`;
/// returns its `event_size` when it fits.
pub fn seal_event(buf: &mut [u8]) -> Option<usize> {
    let size = u32_at(buf, EVENT_SIZE_OFFSET)? as usize;
    if size < EVENT_HEADER_SIZE || size > buf.len() {
        return None;
    }
    seal_event_checksum(&mut buf[..size]);
    Some(size)
}

/// Seals every event of uncompressed block data, walking by `event_size`.
pub fn seal_events(data: &mut [u8]) {
    let mut pos = 0;
    while pos < data.len() {
        match seal_event(&mut data[pos..]) {
            Some(size) => pos += size,
            None => break,
        }
    }
}

/// Seals the block at the start of `buf`: its events (when stored uncompressed) and its
/// stored-data checksum.
pub fn seal_block(buf: &mut [u8]) {
    let Ok(mut header) = BlockHeader::parse(buf) else {
        return;
    };
    let Some(stored) = buf.get_mut(BLOCK_HEADER_SIZE..header.data_end()) else {
        return;
    };
    if header.compression == Compression::None {
        seal_events(stored);
    }
    header.block_checksum = kernel_crc32(stored);
    buf[..BLOCK_HEADER_SIZE].copy_from_slice(&header.to_bytes());
}

/// Seals the 128-byte segment file header at the start of `buf`.
pub fn seal_file_header(buf: &mut [u8]) {
    let Some(head) = buf.get_mut(..FILE_HEADER_SIZE) else {
        return;
    };
    if let Some(crc) = crc32_with_zeroed_field(head, FILE_CHECKSUM_OFFSET) {
        put_u32(head, FILE_CHECKSUM_OFFSET, crc);
    }
}

/// Seals a structure whose last four bytes are the crc32 of everything before them (a
/// segment footer, a checkpoint).
pub fn seal_trailing_crc(buf: &mut [u8]) {
    if let Some(body) = buf.len().checked_sub(4) {
        let crc = kernel_crc32(&buf[..body]);
        put_u32(buf, body, crc);
    }
}

/// Seals a clean-shutdown marker: its 24-byte head and the footer that follows.
pub fn seal_clean_marker(buf: &mut [u8]) {
    if buf.len() < 28 {
        return;
    }
    let crc = kernel_crc32(&buf[..24]);
    put_u32(buf, 24, crc);
    seal_trailing_crc(&mut buf[28..]);
}

/// Seals a checkpoint: the block table after the consumer list, then the whole file.
pub fn seal_checkpoint(buf: &mut [u8]) {
    let Some(body_end) = buf.len().checked_sub(4) else {
        return;
    };
    let mut pos = 68usize;
    if let Some(count) = u32_at(buf, 64) {
        for _ in 0..count.min(1 << 16) {
            let Some(len) = buf.get(pos..pos + 2) else {
                break;
            };
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            pos = pos.saturating_add(2 + len + 8);
        }
        if pos < body_end {
            seal_trailing_crc(&mut buf[pos..body_end]);
        }
    }
    seal_trailing_crc(buf);
}

/// Seals an `.idx` file: the crc of each section the header locates, then the header.
pub fn seal_index_file(buf: &mut [u8]) {
    use vexfs_journal_format::index_file::{HEADER_CRC_OFFSET, HEADER_SIZE, SECTIONS};
    if buf.len() < HEADER_SIZE {
        return;
    }
    for i in 0..SECTIONS {
        let entry = 32 + i * 24;
        let (Some(off), Some(len)) = (u64_at(buf, entry), u64_at(buf, entry + 8)) else {
            continue;
        };
        let section = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(off, len)| buf.get(off..off.checked_add(len)?));
        if let Some(section) = section {
            let crc = kernel_crc32(section);
            put_u32(buf, entry + 16, crc);
        }
    }
    let crc = kernel_crc32(&buf[..HEADER_CRC_OFFSET]);
    put_u32(buf, HEADER_CRC_OFFSET, crc);
}

/// Seals every block of a kernel image (blocks start on 4096-byte boundaries).
pub fn seal_kernel_image(buf: &mut [u8]) {
    let mut at = 0;
    while at < buf.len() {
        seal_block(&mut buf[at..]);
        at += vexfs_journal_format::consts::KERNEL_BLOCK_SIZE;
    }
}
