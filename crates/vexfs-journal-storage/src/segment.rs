//! Segment files: a 128-byte file header, storage blocks back to back, and — once
//! sealed — a block table footer whose offset is in the header's `index_offset`.
//!
//! The active (unsealed) segment has no footer; opening it scans its blocks, checking
//! each one completely. Damage at the very end is a torn write and is cut off (the cut
//! bytes are kept in `<segment>.torn`); damage followed by intact blocks further than
//! one write away from the end is corruption and is reported, never silently cut.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use vexfs_journal_format::block::{EventEncoding, EventSpan, check_block, open_block};
use vexfs_journal_format::consts::{BLOCK_HEADER_SIZE, BLOCK_MAGIC, FILE_HEADER_SIZE};
use vexfs_journal_format::footer::{BlockEntry, decode_footer, encode_footer};
use vexfs_journal_format::{BlockHeader, Compression, FileHeader, FormatError};

use crate::dir::{create_file, segment_name, sync_dir};
use crate::error::{Result, StorageError};
use crate::io::Io;

pub use vexfs_journal_format::file_header::{FLAG_COMPACTED, FLAG_SALVAGED, FLAG_SEALED};

/// Bytes read at a time while scanning.
const SCAN_CHUNK: usize = 4 << 20;

/// One segment file and its block table.
#[derive(Debug)]
pub struct Segment {
    first_seq: u64,
    path: PathBuf,
    file: File,
    header: std::sync::Mutex<FileHeader>,
    blocks: RwLock<Vec<BlockEntry>>,
    end: AtomicU64,
    sealed: AtomicBool,
}

/// What opening a segment found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

/// A block read back from disk.
#[derive(Debug)]
pub struct BlockData {
    /// Its header.
    pub header: BlockHeader,
    /// Its decompressed event records.
    pub records: Vec<u8>,
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
    ) -> Result<(Arc<Segment>, File)> {
        let path = dir.join(segment_name(first_seq));
        // Written under a temporary name and renamed: a crash or a full disk never
        // leaves a segment without a complete header.
        let tmp = path.with_extension("seg.tmp");
        let rw = create_file(&tmp)?;
        let now = crate::clock::unix_secs();
        let header = FileHeader {
            next_event_id: first_seq,
            last_checkpoint_sequence: previous.map_or(0, |p| p.last_checkpoint_sequence),
            last_kernel_sync_sequence: previous.map_or(0, |p| p.last_kernel_sync_sequence),
            compression_algorithm: compression.code(),
            creation_timestamp: now,
            modification_timestamp: now,
            ..FileHeader::new()
        };
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
            blocks: RwLock::new(Vec::new()),
            end: AtomicU64::new(FILE_HEADER_SIZE as u64),
            sealed: AtomicBool::new(false),
        };
        Ok((Arc::new(seg), rw))
    }

    /// Opens an existing segment.
    pub(crate) fn open(
        path: &Path,
        first_seq: u64,
        mode: OpenMode,
        trusted: Option<&TrustedPrefix>,
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
                FileHeader {
                    next_event_id: first_seq,
                    ..FileHeader::new()
                }
            }
            Err(e) => return Err(StorageError::format(path, 0, e)),
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
            .filter(|t| prefix_matches(&file, path, t))
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
                let outcome = scan(&file, path, t.end, file_len)?;
                let continues = match (t.blocks.last(), outcome.blocks.first()) {
                    (Some(last), Some(next)) => next.first_seq > last.last_seq,
                    _ => true,
                };
                if continues {
                    let end = settle_damage(
                        &file,
                        path,
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
                        &file,
                        path,
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
                        &file,
                        path,
                        scan_to,
                        file_len,
                        mode,
                        durable_hint,
                        &mut recovery,
                    )?
                }
            },
            (None, false) => full_scan(
                &file,
                path,
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
            blocks: RwLock::new(blocks),
            end: AtomicU64::new(end),
            sealed: AtomicBool::new(sealed_ok),
        };
        Ok((Arc::new(seg), recovery))
    }

    /// Sequence of the first event this segment was created for.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
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

    /// The block table.
    pub fn blocks(&self) -> RwLockReadGuard<'_, Vec<BlockEntry>> {
        self.blocks.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Sequence after the last event, or the first sequence when empty.
    pub fn next_seq(&self) -> u64 {
        self.blocks()
            .last()
            .map_or(self.first_seq, |b| b.last_seq + 1)
    }

    /// Records a block the writer has just written.
    pub(crate) fn push_block(&self, entry: BlockEntry) {
        let end = entry.offset + u64::from(entry.size);
        self.blocks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        self.end.store(end, Ordering::Release);
    }

    /// Reads the stored bytes of the block at `entry` (fewer at the end of the file)
    /// into this thread's read buffer and hands them to `f`.
    fn with_stored<T>(&self, entry: &BlockEntry, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let size = entry.size as usize;
        let read = |buf: &mut Vec<u8>| -> Result<T> {
            if buf.len() < size {
                buf.resize(size, 0);
            }
            let got = read_full_at(&self.file, &self.path, &mut buf[..size], entry.offset)?;
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

    /// Reads one block and checks it completely: checksum, decompression, every
    /// record's structure and checksum, header/record agreement (validated replay).
    pub fn read_block_validated(&self, entry: &BlockEntry) -> Result<BlockData> {
        let mut records = Vec::new();
        let (header, span) = self
            .with_stored(entry, |stored| {
                check_block(stored, EventEncoding::Record, &mut records)
            })?
            .map_err(|e| StorageError::format(&self.path, entry.offset, e))?;
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
        Ok(BlockData { header, records })
    }

    /// Reads, checks and decompresses one block of this segment.
    pub fn read_block(&self, entry: &BlockEntry) -> Result<BlockData> {
        let mut records = Vec::new();
        let header = self
            .with_stored(entry, |stored| {
                open_block(stored, EventEncoding::Record, &mut records)
            })?
            .map_err(|e| StorageError::format(&self.path, entry.offset, e))?;
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
        Ok(BlockData { header, records })
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
        if file_len <= start {
            return Ok(0);
        }
        let outcome = scan(&self.file, &self.path, start, file_len)?;
        let added = outcome.blocks.len();
        for entry in outcome.blocks {
            self.push_block(entry);
        }
        Ok(added)
    }

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
        self.sealed.store(true, Ordering::Release);
        Ok(())
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

/// Reads as much of `buf` as the file holds at `offset`.
/// Largest block read through the per-thread buffer; bigger ones get their own.
const READ_BUF_KEEP: usize = 1 << 20;

thread_local! {
    /// Each thread's buffer for the stored bytes of the blocks it reads: block reads
    /// (queries, replay workers) then cost no allocation and no zero fill of a buffer
    /// the read overwrites anyway.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

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

/// The footer of a sealed segment, checked against the header (for inspection).
pub(crate) fn read_footer_of(
    file: &File,
    path: &Path,
    header: &FileHeader,
    file_len: u64,
) -> Result<Vec<BlockEntry>> {
    read_footer(file, path, header, file_len)
}

fn read_footer(
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

/// Whether `blocks` tile `[header end, end)` exactly.
/// Whether the block table `t` (of a checkpoint or a clean shutdown) still describes
/// the segment file at `path`: it fits in the file, is contiguous from the header, and
/// its first and last blocks are where and what it says.
pub fn table_matches(path: &Path, t: &TrustedPrefix) -> Result<bool> {
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| StorageError::io("reading metadata of", path, e))?
        .len();
    Ok(t.end <= len && contiguous(&t.blocks, t.end) && prefix_matches(&file, path, t))
}

/// Whether a recorded block table still describes the file: its first block's header
/// and its last block (checked whole) are where and what the table says. A segment
/// rewritten since (salvage, rollback) moves blocks, so its table fails this.
fn prefix_matches(file: &File, path: &Path, t: &TrustedPrefix) -> bool {
    let (Some(first), Some(last)) = (t.blocks.first(), t.blocks.last()) else {
        return true;
    };
    let mut head = [0u8; BLOCK_HEADER_SIZE];
    let first_ok = read_full_at(file, path, &mut head, first.offset).is_ok_and(|n| n == head.len())
        && BlockHeader::parse(&head).is_ok_and(|h| {
            h.block_id == first.first_seq && u64::from(h.block_size) == u64::from(first.size)
        });
    if !first_ok {
        return false;
    }
    let mut buf = vec![0u8; last.size as usize];
    let mut records = Vec::new();
    read_full_at(file, path, &mut buf, last.offset).is_ok_and(|n| n == buf.len())
        && check_block(&buf, EventEncoding::Record, &mut records).is_ok_and(|(_, span)| {
            span.first_seq == last.first_seq && span.last_seq == last.last_seq
        })
}

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

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct ScanOutcome {
    pub blocks: Vec<BlockEntry>,
    /// End of the last intact block.
    pub end: u64,
    /// The first damaged or incomplete block, if any.
    pub problem: Option<(u64, FormatError)>,
}

/// Checks blocks from `start` up to `limit`, stopping at the first bad one.
pub(crate) fn scan(file: &File, path: &Path, start: u64, limit: u64) -> Result<ScanOutcome> {
    let mut out = ScanOutcome {
        end: start,
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
        let span = match check_block(bytes, EventEncoding::Record, &mut records) {
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

/// Appends to `out` a complete storage block holding `records` (described by `span`):
/// header, then the records compressed. Returns the block size.
pub fn append_block(
    out: &mut Vec<u8>,
    records: &[u8],
    span: &EventSpan,
    compression: vexfs_journal_format::Compression,
    zstd_level: i32,
) -> Result<usize> {
    let start = out.len();
    out.resize(start + BLOCK_HEADER_SIZE, 0);
    vexfs_journal_format::block::compress(compression, records, zstd_level, out)
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

/// Offset of the first intact block after `from`, if any.
pub(crate) fn find_next_intact_block(
    file: &File,
    path: &Path,
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
            let outcome = scan(file, path, candidate, limit)?;
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

/// Scans blocks from the header to `scan_to` and settles any damage per `mode`.
fn full_scan(
    file: &File,
    path: &Path,
    scan_to: u64,
    file_len: u64,
    mode: OpenMode,
    durable_hint: u64,
    recovery: &mut SegmentRecovery,
) -> Result<(Vec<BlockEntry>, u64)> {
    recovery.scanned = true;
    let outcome = scan(file, path, FILE_HEADER_SIZE as u64, scan_to)?;
    let end = settle_damage(file, path, &outcome, file_len, mode, durable_hint, recovery)?;
    Ok((outcome.blocks, end))
}

/// Applies `mode` to a scan's first problem; returns the segment's valid end.
///
/// Damage beyond the last fsynced byte (`durable_hint`, as the sync thread recorded
/// it) is a torn tail and is cut: writes after a sync may reach the disk in any order.
/// Before it, the damage is in data that was fsynced and acknowledged: cutting would
/// lose events, so it is refused.
fn settle_damage(
    file: &File,
    path: &Path,
    outcome: &ScanOutcome,
    file_len: u64,
    mode: OpenMode,
    durable_hint: u64,
    recovery: &mut SegmentRecovery,
) -> Result<u64> {
    let Some((offset, error)) = &outcome.problem else {
        if outcome.end < file_len {
            match mode {
                // Bytes after the last block that never started a block (an old footer).
                OpenMode::Repair => cut_tail(path, outcome.end, file_len, recovery)?,
                OpenMode::Strict => {
                    return Err(StorageError::Corrupt {
                        path: path.to_path_buf(),
                        offset: outcome.end,
                        reason: format!(
                            "{} bytes after the last block; absolute mode repairs nothing: \
                             open in tolerate-tail mode to cut them",
                            file_len - outcome.end
                        ),
                    });
                }
                OpenMode::ReadOnly => {}
            }
        }
        return Ok(outcome.end);
    };
    match mode {
        OpenMode::ReadOnly => return Ok(outcome.end),
        OpenMode::Strict => {
            return Err(StorageError::Corrupt {
                path: path.to_path_buf(),
                offset: *offset,
                reason: format!(
                    "{error}; absolute mode repairs nothing: open in tolerate-tail mode to \
                     cut a torn tail, or salvage mode to keep every intact block"
                ),
            });
        }
        OpenMode::Repair => {}
    }
    if *offset < durable_hint {
        // Damage to fsynced bytes is not a torn write, whether or not intact blocks
        // follow: cutting would drop acknowledged events (and later reuse their
        // sequence numbers). Salvage mode is the operator's way past it.
        let follows = match find_next_intact_block(file, path, offset + 1, file_len)? {
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

fn magic_is_ours(head: &[u8]) -> bool {
    head.get(..4) == Some(&vexfs_journal_format::consts::SEMJ_MAGIC.to_le_bytes()[..])
}

/// Rewrites a segment's header in place and syncs it.
fn rewrite_header(path: &Path, header: &FileHeader) -> Result<()> {
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
