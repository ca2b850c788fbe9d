//! Reading blocks back: the one place where a segment's stored block bytes become
//! records ([`open_stored_block`]), and the reads that feed it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use vexfs_journal_format::block::{EventEncoding, EventSpan, check_block, open_block};
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{BlockHeader, FormatError};

use super::Segment;
use crate::error::{Result, StorageError};

/// A block read back from disk.
#[derive(Debug)]
pub struct BlockData {
    /// Its header.
    pub header: BlockHeader,
    /// Its decompressed event records.
    pub records: Vec<u8>,
}

/// How much of a block [`open_stored_block`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockCheck {
    /// Header, exact size, stored-data checksum and decompression; records are parsed
    /// (structurally checked) later, as they are read.
    Checksum,
    /// All of the above, plus every record's structure and checksum and the agreement
    /// of the header with its records; yields the block's [`EventSpan`].
    Records,
}

/// A block opened from its stored bytes.
#[derive(Debug)]
pub(crate) struct OpenedBlock {
    /// Its header.
    pub header: BlockHeader,
    /// What its records hold; `Some` exactly when opened with [`BlockCheck::Records`].
    pub span: Option<EventSpan>,
}

/// The span of a block opened with [`BlockCheck::Records`] (always there).
fn checked_span(span: Option<EventSpan>) -> std::result::Result<EventSpan, FormatError> {
    span.ok_or(FormatError::Malformed {
        what: "block",
        offset: 0,
        reason: "its records were not checked",
    })
}

/// Opens one stored block: `stored` holds the block's bytes as they are in the segment
/// file (header first); its records are decompressed into `records`.
///
/// This is the block-open seam: every block storage reads back — queries and replay
/// ([`Segment::read_block`], [`Segment::read_block_validated`]), scans at open and
/// catch-up (`scan`), checks of a recorded block table (`prefix_matches`), inspection
/// and salvage (`inspect::BlockReader`) — passes its bytes through here, and nowhere
/// else turns stored bytes into records. Block encryption (decrypting the stored data)
/// and sealing (verifying a block's authentication tag) plug in here.
pub(crate) fn open_stored_block(
    stored: &[u8],
    check: BlockCheck,
    records: &mut Vec<u8>,
) -> std::result::Result<OpenedBlock, FormatError> {
    match check {
        BlockCheck::Checksum => open_block(stored, EventEncoding::Record, records)
            .map(|header| OpenedBlock { header, span: None }),
        BlockCheck::Records => {
            check_block(stored, EventEncoding::Record, records).map(|(header, span)| OpenedBlock {
                header,
                span: Some(span),
            })
        }
    }
}

/// Like [`open_stored_block`] with [`BlockCheck::Records`]: the header and span.
pub(crate) fn check_stored_block(
    stored: &[u8],
    records: &mut Vec<u8>,
) -> std::result::Result<(BlockHeader, EventSpan), FormatError> {
    let opened = open_stored_block(stored, BlockCheck::Records, records)?;
    Ok((opened.header, checked_span(opened.span)?))
}

/// Largest block read through the per-thread buffer; bigger ones get their own.
const READ_BUF_KEEP: usize = 1 << 20;

thread_local! {
    /// Each thread's buffer for the stored bytes of the blocks it reads: block reads
    /// (queries, replay workers) then cost no allocation and no zero fill of a buffer
    /// the read overwrites anyway.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads the stored bytes of the block at `entry` of `file` (fewer at the end of the
/// file) into this thread's read buffer and hands them to `f`.
pub(crate) fn with_stored<T>(
    file: &File,
    path: &Path,
    entry: &BlockEntry,
    f: impl FnOnce(&[u8]) -> T,
) -> Result<T> {
    let size = entry.size as usize;
    let read = |buf: &mut Vec<u8>| -> Result<T> {
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let got = read_full_at(file, path, &mut buf[..size], entry.offset)?;
        Ok(f(&buf[..got]))
    };
    if size > READ_BUF_KEEP {
        return read(&mut Vec::new());
    }
    READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => read(&mut buf),
        Err(_) => read(&mut Vec::new()),
    })
}

/// Reads the block at `entry` of `file` and opens it ([`open_stored_block`]).
pub(crate) fn read_block_at(
    file: &File,
    path: &Path,
    entry: &BlockEntry,
    check: BlockCheck,
) -> Result<(BlockData, Option<EventSpan>)> {
    let mut records = Vec::new();
    let opened = with_stored(file, path, entry, |stored| {
        open_stored_block(stored, check, &mut records)
    })?
    .map_err(|e| StorageError::format(path, entry.offset, e))?;
    let data = BlockData {
        header: opened.header,
        records,
    };
    Ok((data, opened.span))
}

/// The header of the block at `offset`, if a whole one is there and parses.
pub(crate) fn peek_block_header(file: &File, path: &Path, offset: u64) -> Option<BlockHeader> {
    let mut head = [0u8; vexfs_journal_format::consts::BLOCK_HEADER_SIZE];
    let n = read_full_at(file, path, &mut head, offset).ok()?;
    (n == head.len())
        .then(|| BlockHeader::parse(&head).ok())
        .flatten()
}

impl Segment {
    /// Reads one block and checks it completely: checksum, decompression, every
    /// record's structure and checksum, header/record agreement (validated replay).
    pub fn read_block_validated(&self, entry: &BlockEntry) -> Result<BlockData> {
        let (data, span) = read_block_at(&self.file, &self.path, entry, BlockCheck::Records)?;
        let span =
            checked_span(span).map_err(|e| StorageError::format(&self.path, entry.offset, e))?;
        if span.first_seq != entry.first_seq || span.last_seq != entry.last_seq {
            return Err(StorageError::format(
                &self.path,
                entry.offset,
                FormatError::SizeMismatch {
                    field: "block table sequence range",
                    declared: entry.first_seq,
                    expected: span.first_seq,
                },
            ));
        }
        Ok(data)
    }

    /// The stored bytes of one block (header first, as in the file), after checking
    /// them through the block-open seam: what a replica ships, never damaged bytes.
    pub fn read_stored_block(&self, entry: &BlockEntry) -> Result<Vec<u8>> {
        let mut records = Vec::new();
        with_stored(&self.file, &self.path, entry, |stored| {
            open_stored_block(stored, BlockCheck::Checksum, &mut records)
                .map(|_| stored.to_vec())
                .map_err(|e| StorageError::format(&self.path, entry.offset, e))
        })?
    }

    /// Reads, checks and decompresses one block of this segment.
    pub fn read_block(&self, entry: &BlockEntry) -> Result<BlockData> {
        let (data, _) = read_block_at(&self.file, &self.path, entry, BlockCheck::Checksum)?;
        let header = &data.header;
        if header.block_id != entry.first_seq || header.event_count != entry.event_count {
            return Err(StorageError::format(
                &self.path,
                entry.offset,
                FormatError::SizeMismatch {
                    field: "block id (first sequence) in the block table",
                    declared: entry.first_seq,
                    expected: header.block_id,
                },
            ));
        }
        Ok(data)
    }
}

/// Reads as much of `buf` as the file holds at `offset`.
pub(crate) fn read_full_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StorageError::io("reading", path, e)),
        }
    }
    Ok(done)
}
