//! Read-only inspection of a segment file: every block, damaged or not, resynchronising
//! after damage so that every intact block is found. The basis of `verify` and
//! `salvage`.

use std::fs::File;
use std::path::{Path, PathBuf};

use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::file_header::FLAG_SEALED;
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{FileHeader, FormatError};

use crate::error::{Result, StorageError};
use crate::segment::{
    BlockCheck, SegmentCipher, find_next_intact_block, is_unwritten, read_block_at, read_footer_of,
    read_full_at, scan, segment_cipher,
};

/// What one region of a segment file holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Region {
    /// An intact block.
    Block(BlockEntry),
    /// Bytes that are not an intact block, and the first problem found in them.
    Damaged {
        /// Offset of the region.
        offset: u64,
        /// Its length.
        len: u64,
        /// What is wrong at its start.
        error: FormatError,
    },
}

/// Everything found in one segment file.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// First sequence from the file name.
    pub first_seq: u64,
    /// Its length.
    pub file_len: u64,
    /// The header, or why it does not decode.
    pub header: std::result::Result<FileHeader, FormatError>,
    /// Whether the header says sealed.
    pub sealed: bool,
    /// The footer of a sealed segment, or why it does not decode.
    pub footer: Option<std::result::Result<Vec<BlockEntry>, String>>,
    /// The data region (header end to footer or file end) in order.
    pub regions: Vec<Region>,
}

impl Inspection {
    /// The intact blocks.
    pub fn blocks(&self) -> impl Iterator<Item = &BlockEntry> {
        self.regions.iter().filter_map(|r| match r {
            Region::Block(b) => Some(b),
            Region::Damaged { .. } => None,
        })
    }

    /// The damaged regions.
    pub fn damaged(&self) -> impl Iterator<Item = (u64, u64, &FormatError)> {
        self.regions.iter().filter_map(|r| match r {
            Region::Damaged { offset, len, error } => Some((*offset, *len, error)),
            Region::Block(_) => None,
        })
    }
}

/// Inspects segment `path` (first sequence `first_seq`) without changing it.
pub fn inspect(path: &Path, first_seq: u64) -> Result<Inspection> {
    inspect_with(path, first_seq, None)
}

/// [`inspect`] a segment of a journal encrypted with `cipher`.
pub fn inspect_with(
    path: &Path,
    first_seq: u64,
    cipher: Option<&SegmentCipher>,
) -> Result<Inspection> {
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| StorageError::io("reading metadata of", path, e))?
        .len();
    let mut head = [0u8; FILE_HEADER_SIZE];
    let got = read_full_at(&file, path, &mut head, 0)?;
    let header = FileHeader::parse(&head[..got]);
    let sealed = header.as_ref().is_ok_and(|h| h.flags & FLAG_SEALED != 0);
    let cipher = match &header {
        Ok(h) => segment_cipher(path, h, cipher)?,
        Err(_) => cipher.cloned(),
    };
    let crypt = cipher.as_ref().map(|c| c.of(first_seq));
    let (footer, data_end) = match &header {
        Ok(h) if sealed => {
            let footer = read_footer_of(&file, path, h, file_len).map_err(|e| e.to_string());
            let end = if h.index_offset >= FILE_HEADER_SIZE as u64 && h.index_offset <= file_len {
                h.index_offset
            } else {
                file_len
            };
            (Some(footer), end)
        }
        _ => (None, file_len),
    };
    let mut regions = Vec::new();
    let mut at = FILE_HEADER_SIZE as u64;
    while at < data_end {
        let outcome = scan(&file, path, crypt, at, data_end)?;
        regions.extend(outcome.blocks.iter().copied().map(Region::Block));
        let Some((bad, error)) = outcome.problem else {
            if outcome.end < data_end && !is_unwritten(&file, path, outcome.end, data_end)? {
                regions.push(Region::Damaged {
                    offset: outcome.end,
                    len: data_end - outcome.end,
                    error: FormatError::Malformed {
                        what: "segment",
                        offset: 0,
                        reason: "bytes after the last block",
                    },
                });
            }
            break;
        };
        // Zeros to the end of an open segment: preallocated space, not damage.
        if !sealed && is_unwritten(&file, path, bad, data_end)? {
            break;
        }
        let next =
            find_next_intact_block(&file, path, crypt, bad + 1, data_end)?.unwrap_or(data_end);
        regions.push(Region::Damaged {
            offset: bad,
            len: next - bad,
            error,
        });
        at = next;
    }
    Ok(Inspection {
        path: path.to_path_buf(),
        first_seq,
        file_len,
        header,
        sealed,
        footer,
        regions,
    })
}

/// Reads blocks of one segment file at given entries, without opening the segment.
#[derive(Debug)]
pub struct BlockReader {
    file: File,
    path: PathBuf,
    first_seq: u64,
    cipher: Option<SegmentCipher>,
}

impl BlockReader {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<BlockReader> {
        Self::open_with(path, 0, None)
    }

    /// Opens `path`, segment `first_seq` of a journal encrypted with `cipher`.
    pub fn open_with(
        path: &Path,
        first_seq: u64,
        cipher: Option<&SegmentCipher>,
    ) -> Result<BlockReader> {
        Ok(BlockReader {
            file: File::open(path).map_err(|e| StorageError::io("opening", path, e))?,
            path: path.to_path_buf(),
            first_seq,
            cipher: cipher.cloned(),
        })
    }

    /// The decompressed records of the block at `entry` (checksum verified).
    pub fn records(&mut self, entry: &BlockEntry) -> Result<Vec<u8>> {
        let crypt = self.cipher.as_ref().map(|c| c.of(self.first_seq));
        let (data, _) = read_block_at(&self.file, &self.path, crypt, entry, BlockCheck::Checksum)?;
        Ok(data.records)
    }

    /// The raw bytes of the block at `entry`, as stored.
    pub fn raw(&mut self, entry: &BlockEntry) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; entry.size as usize];
        let got = read_full_at(&self.file, &self.path, &mut buf, entry.offset)?;
        buf.truncate(got);
        Ok(buf)
    }
}
