//! Walking a segment's blocks: checking each from an offset on, and finding the next
//! intact block after damage.

use std::fs::File;
use std::path::Path;

use vexfs_journal_format::consts::{BLOCK_HEADER_SIZE, BLOCK_MAGIC};
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{BlockHeader, FormatError};

use super::block::check_stored_block;
use super::{Crypt, entry_for, read_full_at};
use crate::error::Result;

/// Bytes read at a time while scanning.
const SCAN_CHUNK: usize = 4 << 20;

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct ScanOutcome {
    pub blocks: Vec<BlockEntry>,
    /// End of the last intact block.
    pub end: u64,
    /// The first damaged or incomplete block, if any.
    pub problem: Option<(u64, FormatError)>,
    /// Whether the bytes from the problem to the scan's limit are all zeros, when the
    /// scan already read them (`None`: not known).
    pub zeros_after_problem: Option<bool>,
    /// Where the scan was told to stop.
    pub limit: u64,
}

/// Checks blocks from `start` up to `limit`, stopping at the first bad one.
pub(crate) fn scan(
    file: &File,
    path: &Path,
    crypt: Option<Crypt<'_>>,
    start: u64,
    limit: u64,
) -> Result<ScanOutcome> {
    let mut out = ScanOutcome {
        end: start,
        limit,
        ..Default::default()
    };
    let mut window = Vec::new();
    let mut window_at = start;
    let mut records = Vec::new();
    let mut pos = start;
    let mut last_seq: Option<u64> = None;
    while pos < limit {
        if window_at + (window.len() as u64) < pos + BLOCK_HEADER_SIZE as u64 {
            window_at = pos;
            window.resize(SCAN_CHUNK.min((limit - pos) as usize), 0);
            let got = read_full_at(file, path, &mut window, pos)?;
            window.truncate(got);
        }
        let local = (pos - window_at) as usize;
        let header = match BlockHeader::parse(&window[local..]) {
            Ok(h) => h,
            Err(e) => {
                out.problem = Some((pos, e));
                if window_at + window.len() as u64 >= limit {
                    out.zeros_after_problem = Some(window[local..].iter().all(|&b| b == 0));
                }
                break;
            }
        };
        let size = u64::from(header.block_size);
        if pos + size > limit {
            out.problem = Some((
                pos,
                FormatError::Truncated {
                    what: "block",
                    offset: 0,
                    needed: size as usize,
                    available: (limit - pos) as usize,
                },
            ));
            break;
        }
        if window_at + (window.len() as u64) < pos + size {
            window_at = pos;
            window.resize(SCAN_CHUNK.max(size as usize).min((limit - pos) as usize), 0);
            let got = read_full_at(file, path, &mut window, pos)?;
            window.truncate(got);
            if (window.len() as u64) < size {
                out.problem = Some((
                    pos,
                    FormatError::Truncated {
                        what: "block",
                        offset: 0,
                        needed: size as usize,
                        available: window.len(),
                    },
                ));
                break;
            }
        }
        let local = (pos - window_at) as usize;
        let bytes = &window[local..local + size as usize];
        let span = match check_stored_block(bytes, crypt, pos, &mut records) {
            Ok((_, span)) => span,
            Err(e) => {
                out.problem = Some((pos, e));
                break;
            }
        };
        if last_seq.is_some_and(|last| span.first_seq <= last) {
            out.problem = Some((
                pos,
                FormatError::Malformed {
                    what: "segment",
                    offset: 0,
                    reason: "block sequence does not increase",
                },
            ));
            break;
        }
        last_seq = Some(span.last_seq);
        out.blocks.push(entry_for(
            pos,
            header.block_size,
            header.uncompressed_size,
            &span,
        ));
        pos += size;
        out.end = pos;
    }
    Ok(out)
}

/// Whether bytes `[from, len)` of the file are all zero: space the writer allocated
/// ahead and never wrote (see `StorageConfig::preallocate_bytes`), not a torn write.
pub(crate) fn is_unwritten(file: &File, path: &Path, from: u64, len: u64) -> Result<bool> {
    let mut buf = vec![0u8; SCAN_CHUNK.min(len.saturating_sub(from) as usize)];
    let mut at = from;
    while at < len {
        let want = buf.len().min((len - at) as usize);
        let got = read_full_at(file, path, &mut buf[..want], at)?;
        if buf[..got].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        if got < want {
            break;
        }
        at += got as u64;
    }
    Ok(true)
}

/// Offset of the first intact block after `from`, if any.
pub(crate) fn find_next_intact_block(
    file: &File,
    path: &Path,
    crypt: Option<Crypt<'_>>,
    from: u64,
    limit: u64,
) -> Result<Option<u64>> {
    let magic = BLOCK_MAGIC.to_le_bytes();
    let mut buf = vec![0u8; SCAN_CHUNK];
    let mut at = from;
    while at + BLOCK_HEADER_SIZE as u64 <= limit {
        let got = read_full_at(file, path, &mut buf, at)?;
        let chunk = &buf[..got];
        let mut i = 0;
        while let Some(found) = chunk[i..].windows(4).position(|w| w == magic) {
            let candidate = at + (i + found) as u64;
            let outcome = scan(file, path, crypt, candidate, limit)?;
            if !outcome.blocks.is_empty() {
                return Ok(Some(candidate));
            }
            i += found + 1;
        }
        if got < buf.len() {
            break;
        }
        at += (got - 3) as u64;
    }
    Ok(None)
}
