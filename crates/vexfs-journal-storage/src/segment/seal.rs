//! Sealing a segment: the block table footer and the sealed header, and reading the
//! footer back.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;

use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::footer::{BlockEntry, decode_footer, encode_footer};
use vexfs_journal_format::{FileHeader, FormatError};

use super::{FLAG_SEALED, Segment, read_full_at};
use crate::error::{Result, StorageError};
use crate::io::Io;

impl Segment {
    /// Writes the footer and the sealed header, syncing each. After a crash between the
    /// two, the segment reads as unsealed with trailing bytes: reopening cuts them as a
    /// torn tail and seals again.
    pub(crate) fn seal(&self, rw: &File, io: &Io) -> Result<()> {
        let blocks = self.blocks().clone();
        let end = self.end();
        let mut footer = Vec::new();
        encode_footer(&blocks, &mut footer);
        io.write_at(rw, &self.path, &footer, end)?;
        io.sync(rw, &self.path)?;
        let events: u64 = blocks.iter().map(|b| u64::from(b.event_count)).sum();
        let current = self.header();
        let header = FileHeader {
            total_events: events,
            next_event_id: blocks.last().map_or(self.first_seq, |b| b.last_seq + 1),
            journal_size: end + footer.len() as u64,
            index_offset: end,
            flags: current.flags | FLAG_SEALED,
            modification_timestamp: crate::clock::unix_secs(),
            ..current
        };
        io.write_at(rw, &self.path, &header.to_bytes(), 0)?;
        io.sync(rw, &self.path)?;
        *self.header.lock().unwrap_or_else(|p| p.into_inner()) = header;
        self.pack_table();
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }
}

/// The footer of a sealed segment, checked against the header (for inspection).
pub(crate) fn read_footer_of(
    file: &File,
    path: &Path,
    header: &FileHeader,
    file_len: u64,
) -> Result<Vec<BlockEntry>> {
    read_footer(file, path, header, file_len)
}

pub(super) fn read_footer(
    file: &File,
    path: &Path,
    header: &FileHeader,
    file_len: u64,
) -> Result<Vec<BlockEntry>> {
    let start = header.index_offset;
    if start < FILE_HEADER_SIZE as u64 || header.journal_size != file_len || start > file_len {
        return Err(StorageError::format(
            path,
            0,
            FormatError::SizeMismatch {
                field: "journal_size",
                declared: header.journal_size,
                expected: file_len,
            },
        ));
    }
    let mut buf = vec![0u8; (file_len - start) as usize];
    let got = read_full_at(file, path, &mut buf, start)?;
    let blocks = decode_footer(&buf[..got]).map_err(|e| StorageError::format(path, start, e))?;
    let mut expect = FILE_HEADER_SIZE as u64;
    for b in &blocks {
        if b.offset != expect {
            return Err(StorageError::format(
                path,
                start,
                FormatError::SizeMismatch {
                    field: "footer block offset",
                    declared: b.offset,
                    expected: expect,
                },
            ));
        }
        expect += u64::from(b.size);
    }
    if expect != start {
        return Err(StorageError::format(
            path,
            start,
            FormatError::SizeMismatch {
                field: "index_offset",
                declared: start,
                expected: expect,
            },
        ));
    }
    Ok(blocks)
}
