//! Opening an existing segment: its header, its block table (footer, recorded prefix
//! or scan), and whether a recorded block table still describes it.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, RwLock};

use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::footer::BlockEntry;

use super::block::{check_stored_block, peek_block_header, with_stored};
use super::repair::{Opening, full_scan, magic_is_ours, rewrite_header, settle_damage};
use super::scan::scan;
use super::seal::read_footer;
use super::{
    Crypt, FLAG_SEALED, OpenMode, Segment, SegmentCipher, SegmentRecovery, Table, TrustedPrefix,
    read_full_at,
};
use crate::error::{Result, StorageError};

impl Segment {
    /// Opens an existing segment.
    pub(crate) fn open(
        path: &Path,
        first_seq: u64,
        mode: OpenMode,
        trusted: Option<&TrustedPrefix>,
        cipher: Option<&SegmentCipher>,
    ) -> Result<(Arc<Segment>, SegmentRecovery)> {
        let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
        let mut head = [0u8; FILE_HEADER_SIZE];
        let got = read_full_at(&file, path, &mut head, 0)?;
        let mut recovery = SegmentRecovery::default();
        let header = match FileHeader::parse(&head[..got]) {
            Ok(h) => h,
            Err(e) if mode == OpenMode::Strict => return Err(StorageError::format(path, 0, e)),
            // A newer format is not damage: rebuilding would overwrite it.
            Err(e @ vexfs_journal_format::FormatError::UnsupportedVersion { .. }) => {
                return Err(StorageError::format(path, 0, e));
            }
            // A header whose magic survives but whose checksum does not (a torn header
            // rewrite) is rebuilt from the segment's name and blocks by the writer.
            Err(e) if mode == OpenMode::Repair && magic_is_ours(&head[..got]) => {
                tracing::warn!(segment = %path.display(), error = %e, "segment header damaged; rebuilding it from the blocks");
                recovery.header_rewritten = true;
                let mut header = FileHeader {
                    next_event_id: first_seq,
                    ..FileHeader::new()
                };
                if let Some(c) = cipher {
                    super::crypt::mark(&mut header, c);
                }
                header
            }
            Err(e) => return Err(StorageError::format(path, 0, e)),
        };
        let cipher = super::crypt::segment_cipher(path, &header, cipher)?;
        let crypt = cipher.as_ref().map(|c| c.of(first_seq));
        let opening = Opening {
            file: &file,
            path,
            crypt,
        };
        let file_len = file
            .metadata()
            .map_err(|e| StorageError::io("reading metadata of", path, e))?
            .len();
        let sealed = header.flags & FLAG_SEALED != 0 && !recovery.header_rewritten;
        // Bytes known fsynced: the sync thread records them in `journal_size` of an
        // open segment after each sync; a sealed segment was synced whole.
        let durable_hint = if sealed {
            header.index_offset
        } else {
            header.journal_size
        };
        // A clean shutdown or a checkpoint recorded the blocks of a prefix of this open
        // segment: trust them and scan only what follows.
        let offered = trusted.filter(|t| !sealed && t.first_seq == first_seq);
        let prefix = offered
            .filter(|t| t.end <= file_len)
            .filter(|t| contiguous(&t.blocks, t.end))
            .filter(|t| prefix_matches(&file, path, crypt, t))
            .filter(|_| mode != OpenMode::Strict);
        if offered.is_some() && prefix.is_none() && mode != OpenMode::Strict {
            // The segment was rewritten (salvage, rollback) after the table was recorded.
            tracing::warn!(segment = %path.display(), "recorded block table does not match the segment; scanning it whole");
            recovery.prefix_rejected = true;
        }
        let (blocks, end) = match (prefix, sealed) {
            (Some(t), _) if t.end == file_len => (t.blocks.clone(), t.end),
            (Some(t), _) => {
                recovery.scanned = true;
                let outcome = scan(&file, path, crypt, t.end, file_len)?;
                let continues = match (t.blocks.last(), outcome.blocks.first()) {
                    (Some(last), Some(next)) => next.first_seq > last.last_seq,
                    _ => true,
                };
                if continues {
                    let end = settle_damage(
                        opening,
                        &outcome,
                        file_len,
                        mode,
                        durable_hint.max(t.end),
                        &mut recovery,
                    )?;
                    let mut blocks = t.blocks.clone();
                    blocks.extend(outcome.blocks);
                    (blocks, end)
                } else {
                    full_scan(
                        opening,
                        file_len,
                        file_len,
                        mode,
                        durable_hint,
                        &mut recovery,
                    )?
                }
            }
            (None, true) => match read_footer(&file, path, &header, file_len) {
                Ok(blocks) => (blocks, header.index_offset),
                Err(e) if mode == OpenMode::Strict => return Err(e),
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "segment footer unusable; rebuilding its block table by scanning");
                    recovery.rescanned = true;
                    // A damaged footer is cut like a torn tail; the writer reseals it.
                    let scan_to = if header.index_offset >= FILE_HEADER_SIZE as u64 {
                        header.index_offset.min(file_len)
                    } else {
                        file_len
                    };
                    full_scan(
                        opening,
                        scan_to,
                        file_len,
                        mode,
                        durable_hint,
                        &mut recovery,
                    )?
                }
            },
            (None, false) => full_scan(
                opening,
                file_len,
                file_len,
                mode,
                durable_hint,
                &mut recovery,
            )?,
        };
        let sealed_ok = sealed && !recovery.scanned;
        let header =
            if mode == OpenMode::Repair && (recovery.header_rewritten || (sealed && !sealed_ok)) {
                // The header must describe the segment as it now is (unsealed, its real
                // length), or a later open would trust a stale seal.
                let fixed = FileHeader {
                    flags: header.flags & !FLAG_SEALED,
                    index_offset: 0,
                    journal_size: end,
                    ..header
                };
                rewrite_header(path, &fixed)?;
                recovery.header_rewritten = true;
                fixed
            } else {
                header
            };
        let seg = Segment {
            first_seq,
            path: path.to_path_buf(),
            file,
            header: std::sync::Mutex::new(header),
            blocks: RwLock::new(if sealed_ok {
                Table::sealed(&blocks)
            } else {
                Table::live(blocks)
            }),
            end: AtomicU64::new(end),
            sealed: AtomicBool::new(sealed_ok),
            cipher,
        };
        Ok((Arc::new(seg), recovery))
    }
}

/// Whether the block table `t` (of a checkpoint or a clean shutdown) still describes
/// the segment file at `path`: it fits in the file, is contiguous from the header, and
/// its first and last blocks are where and what it says.
pub fn table_matches(
    path: &Path,
    t: &TrustedPrefix,
    cipher: Option<&SegmentCipher>,
) -> Result<bool> {
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| StorageError::io("reading metadata of", path, e))?
        .len();
    let crypt = cipher.map(|c| c.of(t.first_seq));
    Ok(t.end <= len && contiguous(&t.blocks, t.end) && prefix_matches(&file, path, crypt, t))
}

/// Whether a recorded block table still describes the file: its first block's header
/// and its last block (checked whole) are where and what the table says. A segment
/// rewritten since (salvage, rollback) moves blocks, so its table fails this.
fn prefix_matches(file: &File, path: &Path, crypt: Option<Crypt<'_>>, t: &TrustedPrefix) -> bool {
    let (Some(first), Some(last)) = (t.blocks.first(), t.blocks.last()) else {
        return true;
    };
    let first_ok = peek_block_header(file, path, first.offset).is_some_and(|h| {
        h.block_id == first.first_seq && u64::from(h.block_size) == u64::from(first.size)
    });
    if !first_ok {
        return false;
    }
    let mut records = Vec::new();
    with_stored(file, path, last, |stored| {
        stored.len() == last.size as usize
            && check_stored_block(stored, crypt, last.offset, &mut records).is_ok_and(
                |(_, span)| span.first_seq == last.first_seq && span.last_seq == last.last_seq,
            )
    })
    .unwrap_or(false)
}

/// Whether `blocks` tile `[header end, end)` exactly, in increasing sequence order.
fn contiguous(blocks: &[BlockEntry], end: u64) -> bool {
    let mut at = FILE_HEADER_SIZE as u64;
    let mut last_seq = None;
    for b in blocks {
        if b.offset != at || last_seq.is_some_and(|l| b.first_seq <= l) || b.last_seq < b.first_seq
        {
            return false;
        }
        at += u64::from(b.size);
        last_seq = Some(b.last_seq);
    }
    at == end
}
