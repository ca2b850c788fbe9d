//! Segment files: a 128-byte file header, storage blocks back to back, and — once
//! sealed — a block table footer whose offset is in the header's `index_offset`.
//!
//! The active (unsealed) segment has no footer; opening it scans its blocks, checking
//! each one completely. Damage at the very end is a torn write and is cut off (the cut
//! bytes are kept in `<segment>.torn`); damage followed by intact blocks further than
//! one write away from the end is corruption and is reported, never silently cut.

//!
//! One concept per module: `open` (opening a segment, trusting a recorded block table),
//! `repair` (torn tails and damage, per [`OpenMode`]), `scan` (walking blocks),
//! `block` (reading blocks back — the block-open seam, `open_stored_block`), `crypt`
//! (encrypted blocks, decrypted at that seam), `seal` (the footer of a sealed segment)
//! and `append` (building blocks to write).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{Compression, FileHeader};

use crate::dir::{create_file, segment_name, sync_dir};
use crate::error::{Result, StorageError};
use crate::io::Io;

mod append;
mod block;
mod crypt;
mod open;
mod repair;
mod scan;
mod seal;
mod table;

pub use append::{append_block, entry_for};
pub use block::BlockData;
pub(crate) use block::{BlockCheck, find_in_records, read_block_at, read_full_at};
pub(crate) use crypt::Crypt;
pub use crypt::SegmentCipher;
pub(crate) use crypt::{mark as mark_encrypted, segment_cipher};
pub use open::table_matches;
pub(crate) use scan::{find_next_intact_block, is_unwritten, scan};
pub(crate) use seal::read_footer_of;
use table::Table;
pub use table::{Blocks, UNPACKED_TABLE_BYTES, set_unpacked_table_budget, unpacked_table_bytes};
pub use vexfs_journal_format::file_header::{FLAG_COMPACTED, FLAG_SALVAGED, FLAG_SEALED};

/// One segment file and its block table.
#[derive(Debug)]
pub struct Segment {
    first_seq: u64,
    path: PathBuf,
    file: File,
    header: std::sync::Mutex<FileHeader>,
    blocks: RwLock<Table>,
    end: AtomicU64,
    sealed: AtomicBool,
    /// The cipher of its blocks, when the segment is encrypted.
    cipher: Option<SegmentCipher>,
}

/// What opening a segment found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentRecovery {
    /// Bytes cut from a torn tail.
    pub torn_bytes: u64,
    /// Where the cut bytes were saved.
    pub torn_file: Option<PathBuf>,
    /// The footer was missing or damaged and the block table was rebuilt by scanning.
    pub rescanned: bool,
    /// The segment was unsealed and has been scanned.
    pub scanned: bool,
    /// The file header was damaged (or a sealed header lost its footer) and has been
    /// rewritten from the blocks.
    pub header_rewritten: bool,
    /// A recorded block table (checkpoint, clean shutdown) was offered for this segment
    /// but no longer matched it, so the segment was scanned whole instead.
    pub prefix_rejected: bool,
}

/// How to treat damage found while opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Writer: cut a torn tail, refuse corruption of fsynced data, repair headers.
    Repair,
    /// Writer in absolute mode: any damage, torn tail or stray byte refuses to open.
    Strict,
    /// Reader: stop at the first incomplete or damaged block, change nothing.
    ReadOnly,
}

/// Blocks of an open segment known good — recorded by a clean shutdown or a
/// checkpoint — so that opening scans only what follows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedPrefix {
    /// The segment's first sequence.
    pub first_seq: u64,
    /// Segment byte offset the blocks end at.
    pub end: u64,
    /// The blocks.
    pub blocks: Vec<BlockEntry>,
}

impl Segment {
    /// Creates segment `first_seq` in `dir` and returns it with a write handle.
    /// `previous` is the header of the segment before it, whose journal-wide marks
    /// (last checkpoint, last kernel sync) carry over.
    pub(crate) fn create(
        dir: &Path,
        first_seq: u64,
        compression: Compression,
        io: &Io,
        previous: Option<&FileHeader>,
        cipher: Option<&SegmentCipher>,
    ) -> Result<(Arc<Segment>, File)> {
        let path = dir.join(segment_name(first_seq));
        // Written under a temporary name and renamed: a crash or a full disk never
        // leaves a segment without a complete header.
        let tmp = path.with_extension("seg.tmp");
        let rw = create_file(&tmp)?;
        let now = crate::clock::unix_secs();
        let mut header = FileHeader {
            next_event_id: first_seq,
            last_checkpoint_sequence: previous.map_or(0, |p| p.last_checkpoint_sequence),
            last_kernel_sync_sequence: previous.map_or(0, |p| p.last_kernel_sync_sequence),
            compression_algorithm: compression.code(),
            creation_timestamp: now,
            modification_timestamp: now,
            ..FileHeader::new()
        };
        if let Some(c) = cipher {
            crypt::mark(&mut header, c);
        }
        let written = io
            .write_at(&rw, &tmp, &header.to_bytes(), 0)
            .and_then(|_| io.sync(&rw, &tmp));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &path).map_err(|e| StorageError::io("renaming", &tmp, e))?;
        sync_dir(dir)?;
        let file = File::open(&path).map_err(|e| StorageError::io("opening", &path, e))?;
        let seg = Segment {
            first_seq,
            path,
            file,
            header: std::sync::Mutex::new(header),
            blocks: RwLock::new(Table::live(Vec::new())),
            end: AtomicU64::new(FILE_HEADER_SIZE as u64),
            sealed: AtomicBool::new(false),
            cipher: cipher.cloned(),
        };
        Ok((Arc::new(seg), rw))
    }

    /// Sequence of the first event this segment was created for.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The cipher of this segment's blocks (`None`: not encrypted).
    pub(crate) fn crypt(&self) -> Option<Crypt<'_>> {
        self.cipher.as_ref().map(|c| c.of(self.first_seq))
    }

    /// Whether the segment's blocks are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of header and blocks (footer excluded).
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Whether the segment is sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// The file header read at open or written at creation.
    pub fn header(&self) -> FileHeader {
        *self.header.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the in-memory header and writes it (not synced: the next sync of the
    /// segment makes it durable).
    pub(crate) fn update_header(
        &self,
        rw: &File,
        io: &Io,
        change: impl FnOnce(&mut FileHeader),
    ) -> Result<()> {
        let mut header = self.header.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut header);
        io.write_at(rw, &self.path, &header.to_bytes(), 0)
    }

    /// Sequence after the last event, or the first sequence when empty.
    pub fn next_seq(&self) -> u64 {
        self.last_block().map_or(self.first_seq, |b| b.last_seq + 1)
    }

    /// Records a block the writer has just written.
    pub(crate) fn push_block(&self, entry: BlockEntry) {
        let end = entry.offset + u64::from(entry.size);
        self.table_mut().push(entry);
        self.end.store(end, Ordering::Release);
    }

    /// Reader side of a live journal: picks up blocks another process appended since
    /// the last call. Returns how many were added.
    pub fn catch_up(&self) -> Result<usize> {
        if self.is_sealed() {
            return Ok(0);
        }
        let file_len = self
            .file
            .metadata()
            .map_err(|e| StorageError::io("reading metadata of", &self.path, e))?
            .len();
        let start = self.end();
        // Preallocated space makes the file longer than what was written: look at the
        // next block's header before reading more.
        if file_len <= start || block::peek_block_header(&self.file, &self.path, start).is_none() {
            return Ok(0);
        }
        let outcome = scan(&self.file, &self.path, self.crypt(), start, file_len)?;
        // Two callers may scan the same bytes at once: under the table's lock, only
        // blocks that continue the table exactly are added, so none is added twice.
        let mut blocks = self.table_mut();
        let mut end = self.end();
        let mut added = 0;
        for entry in outcome.blocks {
            if entry.offset < end {
                continue;
            }
            if entry.offset > end {
                break;
            }
            end = entry.offset + u64::from(entry.size);
            blocks.push(entry);
            added += 1;
        }
        self.end.store(end, Ordering::Release);
        Ok(added)
    }

    /// Opens the file for appending at its current end.
    pub(crate) fn open_for_append(&self) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| StorageError::io("opening for append", &self.path, e))
    }
}
