//! Damage found while opening, settled per [`OpenMode`]: a torn tail is cut (its bytes
//! kept in `<segment>.torn`), damage to fsynced data is refused, a damaged header is
//! rewritten.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::footer::BlockEntry;

use super::scan::{ScanOutcome, find_next_intact_block, is_unwritten, scan};
use super::{Crypt, OpenMode, SegmentRecovery, read_full_at};
use crate::dir::{create_file, sync_dir};
use crate::error::{Result, StorageError};

/// The segment file being opened: its handle, its path, and the cipher of its blocks.
#[derive(Clone, Copy)]
pub(super) struct Opening<'a> {
    pub file: &'a File,
    pub path: &'a Path,
    pub crypt: Option<Crypt<'a>>,
}

/// Scans blocks from the header to `scan_to` and settles any damage per `mode`.
pub(super) fn full_scan(
    at: Opening<'_>,
    scan_to: u64,
    file_len: u64,
    mode: OpenMode,
    durable_hint: u64,
    recovery: &mut SegmentRecovery,
) -> Result<(Vec<BlockEntry>, u64)> {
    recovery.scanned = true;
    let outcome = scan(at.file, at.path, at.crypt, FILE_HEADER_SIZE as u64, scan_to)?;
    let end = settle_damage(at, &outcome, file_len, mode, durable_hint, recovery)?;
    Ok((outcome.blocks, end))
}

/// Applies `mode` to a scan's first problem; returns the segment's valid end.
///
/// Damage beyond the last fsynced byte (`durable_hint`, as the sync thread recorded
/// it) is a torn tail and is cut: writes after a sync may reach the disk in any order.
/// Before it, the damage is in data that was fsynced and acknowledged: cutting would
/// lose events, so it is refused.
pub(super) fn settle_damage(
    at: Opening<'_>,
    outcome: &ScanOutcome,
    file_len: u64,
    mode: OpenMode,
    durable_hint: u64,
    recovery: &mut SegmentRecovery,
) -> Result<u64> {
    let Opening { file, path, crypt } = at;
    let Some((offset, error)) = &outcome.problem else {
        if outcome.end < file_len && !is_unwritten(file, path, outcome.end, file_len)? {
            match mode {
                // Bytes after the last block that never started a block (an old footer).
                OpenMode::Repair => cut_tail(path, outcome.end, file_len, recovery)?,
                OpenMode::Strict => {
                    return Err(StorageError::RepairRefused {
                        path: path.to_path_buf(),
                        offset: outcome.end,
                        found: format!("{} bytes after the last block", file_len - outcome.end),
                        remedy: "open in tolerate-tail mode to cut them",
                    });
                }
                OpenMode::ReadOnly => {}
            }
        }
        return Ok(outcome.end);
    };
    // Zeros from the first bad block to the end of the file, past the fsynced bytes:
    // space the writer preallocated and had not written yet. Nothing to cut or keep;
    // the writer goes on writing into it.
    if *offset >= durable_hint
        && match outcome.zeros_after_problem {
            Some(known) if outcome.limit == file_len => known,
            _ => is_unwritten(file, path, *offset, file_len)?,
        }
    {
        return Ok(outcome.end);
    }
    match mode {
        OpenMode::ReadOnly => return Ok(outcome.end),
        OpenMode::Strict => {
            return Err(StorageError::RepairRefused {
                path: path.to_path_buf(),
                offset: *offset,
                found: error.to_string(),
                remedy: "open in tolerate-tail mode to cut a torn tail, or salvage mode to \
                         keep every intact block",
            });
        }
        OpenMode::Repair => {}
    }
    // A block whose checksum holds but which does not decrypt was not torn (a torn write
    // cannot leave a valid checksum over the ciphertext): it was changed. Cutting it
    // would hide the change and drop what follows.
    let forged = matches!(
        error,
        vexfs_journal_format::FormatError::Malformed {
            what: super::crypt::UNDECRYPTABLE,
            ..
        }
    );
    if *offset < durable_hint || forged {
        // Damage to fsynced bytes is not a torn write, whether or not intact blocks
        // follow: cutting would drop acknowledged events (and later reuse their
        // sequence numbers). Salvage mode is the operator's way past it.
        let follows = match find_next_intact_block(file, path, crypt, offset + 1, file_len)? {
            Some(next) => format!("intact blocks follow (next at byte {next})"),
            None => "no intact block follows".to_string(),
        };
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            offset: *offset,
            reason: format!(
                "{error}; the data up to byte {durable_hint} was fsynced and {follows}: \
                 open in salvage mode (`vexjournal recover --mode salvage`) to keep every \
                 intact block"
            ),
        });
    }
    tracing::warn!(segment = %path.display(), offset, error = %error, "cutting torn tail");
    cut_tail(path, *offset, file_len, recovery)?;
    Ok(outcome.end)
}

/// Whether `head` starts with the segment file magic.
pub(super) fn magic_is_ours(head: &[u8]) -> bool {
    head.get(..4) == Some(&vexfs_journal_format::consts::SEMJ_MAGIC.to_le_bytes()[..])
}

/// Rewrites a segment's header in place and syncs it.
pub(super) fn rewrite_header(path: &Path, header: &FileHeader) -> Result<()> {
    let rw = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("opening for repair", path, e))?;
    rw.write_all_at(&header.to_bytes(), 0)
        .and_then(|_| rw.sync_all())
        .map_err(|e| StorageError::io("rewriting the header of", path, e))
}

/// Saves bytes `[from, len)` to `<segment>.torn` and truncates the segment to `from`.
fn cut_tail(path: &Path, from: u64, len: u64, recovery: &mut SegmentRecovery) -> Result<()> {
    let rw = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("opening for repair", path, e))?;
    let mut tail = vec![0u8; (len - from) as usize];
    let got = read_full_at(&rw, path, &mut tail, from)?;
    tail.truncate(got);
    let torn = torn_path(path);
    let mut out = create_file(&torn)?;
    out.write_all(&tail)
        .and_then(|_| out.sync_all())
        .map_err(|e| StorageError::io("writing", &torn, e))?;
    rw.set_len(from)
        .and_then(|_| rw.sync_all())
        .map_err(|e| StorageError::io("truncating", path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    recovery.torn_bytes += len - from;
    recovery.torn_file = Some(torn);
    Ok(())
}

/// A free `<segment>.torn[.N]` path.
fn torn_path(path: &Path) -> PathBuf {
    let base = path.with_extension("seg.torn");
    if !base.exists() {
        return base;
    }
    (1..)
        .map(|n| path.with_extension(format!("seg.torn.{n}")))
        .find(|p| !p.exists())
        .unwrap_or(base)
}
