//! Reading blocks back: the one place where a segment's stored block bytes become
//! records ([`open_stored_block`]), and the reads that feed it.

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Weak};

use vexfs_journal_format::block::{
    EventEncoding, EventSpan, check_block, check_stored, decompress, open_block, stored_data,
};
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::frames::{FrameInfo, FrameTable, decode_frame_into, frame_bytes};
use vexfs_journal_format::lz4::{Lz4Prefix, decode_whole};
use vexfs_journal_format::record::{RECORD_FIXED_SIZE, peek_record, peek_record_fields};
use vexfs_journal_format::{BlockHeader, Compression, FormatError, RecordView};

use super::crypt::plaintext;
use super::{Crypt, Segment};
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
/// else turns stored bytes into records. The block of an encrypted segment (`crypt`,
/// at `offset` of it) is decrypted here first ([`plaintext`]); the reader that decodes
/// frame by frame (`LastBlock::load`) decrypts with the same `Crypt::decrypt_block`.
pub(crate) fn open_stored_block(
    stored: &[u8],
    check: BlockCheck,
    records: &mut Vec<u8>,
    crypt: Option<Crypt<'_>>,
    offset: u64,
) -> std::result::Result<OpenedBlock, FormatError> {
    plaintext(stored, crypt, offset, |stored| match check {
        BlockCheck::Checksum => open_block(stored, EventEncoding::Record, records)
            .map(|header| OpenedBlock { header, span: None }),
        BlockCheck::Records => {
            check_block(stored, EventEncoding::Record, records).map(|(header, span)| OpenedBlock {
                header,
                span: Some(span),
            })
        }
    })
}

/// Like [`open_stored_block`] with [`BlockCheck::Records`]: the header and span.
pub(crate) fn check_stored_block(
    stored: &[u8],
    crypt: Option<Crypt<'_>>,
    offset: u64,
    records: &mut Vec<u8>,
) -> std::result::Result<(BlockHeader, EventSpan), FormatError> {
    let opened = open_stored_block(stored, BlockCheck::Records, records, crypt, offset)?;
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
    crypt: Option<Crypt<'_>>,
    entry: &BlockEntry,
    check: BlockCheck,
) -> Result<(BlockData, Option<EventSpan>)> {
    let mut records = Vec::new();
    let opened = open_block_into(file, path, crypt, entry, check, &mut records)?;
    let data = BlockData {
        header: opened.header,
        records,
    };
    Ok((data, opened.span))
}

/// Reads the block at `entry` of `file` and opens it ([`open_stored_block`]), its
/// records decompressed into `records` (whose allocation is reused).
fn open_block_into(
    file: &File,
    path: &Path,
    crypt: Option<Crypt<'_>>,
    entry: &BlockEntry,
    check: BlockCheck,
    records: &mut Vec<u8>,
) -> Result<OpenedBlock> {
    with_stored(file, path, entry, |stored| {
        open_stored_block(stored, check, records, crypt, entry.offset)
    })?
    .map_err(|e| StorageError::format(path, entry.offset, e))
}

/// The block a thread read last without the block cache, kept for its next read of
/// the same block (neighbouring point reads, the next page of a query). Its records
/// are decoded lazily: a point read decodes an LZ4 block only up to the record it
/// wants, and a later read resumes where it stopped.
#[derive(Debug, Default)]
struct LastBlock {
    /// The segment it belongs to (compared by identity: a segment rewritten by
    /// compaction or salvage is another object).
    segment: Weak<Segment>,
    /// Its block table entry.
    entry: BlockEntry,
    /// Its header, once its stored bytes are read and checked (header, size,
    /// checksum, agreement with `entry`); `None` when nothing usable is held.
    header: Option<BlockHeader>,
    /// Its stored bytes, header first (of an encrypted segment: its plaintext block).
    stored: Vec<u8>,
    /// Spare buffer for decrypting (an encrypted segment's stored bytes).
    plain: Vec<u8>,
    /// Decompressed records (LZ4, zstd): the first `decoded` bytes are final.
    records: Vec<u8>,
    decoded: usize,
    /// Where LZ4 decoding stopped.
    lz4: Lz4Prefix,
    /// A framed block's checked frame table.
    frames: Option<FrameTable>,
    /// The frame decoded into `frame_records`, by index.
    frame: Option<usize>,
    /// The records of one frame of a framed block.
    frame_records: Vec<u8>,
}

impl LastBlock {
    /// Makes this the block at `entry` of `seg`, reading and checking it unless it
    /// already is.
    fn load(&mut self, seg: &Arc<Segment>, entry: &BlockEntry) -> Result<()> {
        let same = self.header.is_some()
            && self.entry == *entry
            && std::ptr::eq(self.segment.as_ptr(), Arc::as_ptr(seg));
        if same {
            return Ok(());
        }
        self.header = None;
        if !std::ptr::eq(self.segment.as_ptr(), Arc::as_ptr(seg)) {
            self.segment = Arc::downgrade(seg);
        }
        self.entry = *entry;
        let size = entry.size as usize;
        if self.stored.len() < size {
            self.stored.resize(size, 0);
        }
        let got = read_full_at(&seg.file, &seg.path, &mut self.stored[..size], entry.offset)?;
        self.stored.truncate(got);
        let damaged = |e| StorageError::format(&seg.path, entry.offset, e);
        if let Some(crypt) = seg.crypt() {
            // The plaintext block replaces the stored one (see `plaintext`).
            let mut plain = std::mem::take(&mut self.plain);
            let decrypted = crypt.decrypt_block_for_frames(&self.stored, entry.offset, &mut plain);
            if let Err(e) = decrypted {
                self.plain = plain;
                return Err(damaged(e));
            }
            self.plain = std::mem::replace(&mut self.stored, plain);
        }
        let header = BlockHeader::parse(&self.stored).map_err(damaged)?;
        self.frames = None;
        self.frame = None;
        self.decoded = 0;
        if header.framed {
            // A framed block is checked frame by frame, as frames are decoded: the
            // table's crc here, each frame's crc before it is used.
            let table = open_frame_table(&self.stored).map_err(damaged)?;
            seg.check_entry(entry, &header)?;
            let n = header.uncompressed_size as usize;
            if self.records.len() < n {
                self.records.resize(n, 0);
            }
            self.frames = Some(table);
            self.header = Some(header);
            return Ok(());
        }
        let header = check_stored_data(&self.stored).map_err(damaged)?;
        seg.check_entry(entry, &header)?;
        let n = header.uncompressed_size as usize;
        match header.compression {
            // Stored as is: exactly the records (the format also admits an encrypted
            // block's 32 more bytes, which decryption has removed by now).
            Compression::None if header.compressed_size != header.uncompressed_size => {
                return Err(damaged(FormatError::SizeMismatch {
                    field: "uncompressed_size",
                    declared: u64::from(header.uncompressed_size),
                    expected: u64::from(header.compressed_size),
                }));
            }
            Compression::None => self.decoded = n,
            Compression::Lz4 => {
                // Decoding overwrites every byte it reports: no zero fill.
                if self.records.len() < n {
                    self.records.resize(n, 0);
                }
                self.decoded = 0;
                self.lz4 = Lz4Prefix::new();
            }
            other => {
                let data = self.stored.get(BLOCK_HEADER_SIZE..header.data_end());
                decompress(other, data.unwrap_or_default(), n, &mut self.records)
                    .map_err(|e| StorageError::format(&seg.path, entry.offset, e))?;
                self.decoded = n;
            }
        }
        self.header = Some(header);
        Ok(())
    }

    /// The block's records decoded so far, at least `want` bytes of them (or all).
    fn records(&mut self, want: usize) -> std::result::Result<&[u8], FormatError> {
        let Some(header) = self.header else {
            return Ok(&[]);
        };
        let n = header.uncompressed_size as usize;
        let data = self
            .stored
            .get(BLOCK_HEADER_SIZE..header.data_end())
            .unwrap_or_default();
        if let Some(table) = &self.frames {
            if self.decoded < n {
                let out = self.records.get_mut(..n).unwrap_or_default();
                if let Err(e) = decode_frames_into(table, data, out) {
                    self.header = None;
                    return Err(e);
                }
                self.decoded = n;
            }
            return Ok(self.records.get(..n).unwrap_or_default());
        }
        match header.compression {
            Compression::None => return Ok(data),
            Compression::Lz4 if self.decoded < want.min(n) => {
                let out = self.records.get_mut(..n).unwrap_or_default();
                if self.decoded == 0 && want >= n {
                    // The whole block at once: the library decoder is the faster one.
                    if let Err(e) = decode_whole(data, out) {
                        self.header = None;
                        return Err(e);
                    }
                    self.decoded = n;
                } else {
                    match self.lz4.decode_to(data, out, want) {
                        Ok(d) => self.decoded = d,
                        Err(e) => {
                            self.header = None;
                            return Err(e);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(self.records.get(..self.decoded).unwrap_or_default())
    }
}

/// Checks stored block bytes (header first) as [`open_stored_block`] does with
/// [`BlockCheck::Checksum`], without decompressing them: the header, the exact size
/// and the checksum of the stored data.
fn check_stored_data(stored: &[u8]) -> std::result::Result<BlockHeader, FormatError> {
    check_stored(stored, EventEncoding::Record).map(|(header, _)| header)
}

/// Parses a framed block's header and checks its frame table (its crc, and that the
/// frames tile the stored data and records exactly) without checking the frames:
/// `stored` is the block's bytes, header first.
fn open_frame_table(stored: &[u8]) -> std::result::Result<FrameTable, FormatError> {
    let (header, data) = stored_data(stored, EventEncoding::Record)?;
    FrameTable::parse(
        data,
        header.block_id,
        header.compressed_size,
        header.uncompressed_size,
    )
}

/// Decodes every frame of `table` (the block's stored `data`) into `out`, which holds
/// exactly the block's records.
fn decode_frames_into(
    table: &FrameTable,
    data: &[u8],
    out: &mut [u8],
) -> std::result::Result<(), FormatError> {
    for info in table.frames() {
        decode_one(info, data, out)?;
    }
    Ok(())
}

/// Decodes frame `info` of the block's stored `data` into its place in `records`.
fn decode_one(
    info: &FrameInfo,
    data: &[u8],
    records: &mut [u8],
) -> std::result::Result<(), FormatError> {
    let out = records
        .get_mut(info.raw_offset..info.raw_offset + info.raw_len as usize)
        .ok_or(FormatError::Malformed {
            what: "frame table",
            offset: info.raw_offset,
            reason: "a frame lies outside the block's records",
        })?;
    decode_frame_into(info, frame_bytes(data, info)?, out)
}

impl LastBlock {
    /// The records of the frame holding `seq` (empty when the block does not hold
    /// it), decoding and checking only that frame. The block must be framed.
    fn frame_records(&mut self, seq: u64) -> std::result::Result<&[u8], FormatError> {
        let (Some(table), Some(header)) = (&self.frames, self.header) else {
            return Ok(&[]);
        };
        let Some(i) = table.index_of(seq) else {
            return Ok(&[]);
        };
        let Some(info) = table.frames().get(i).copied() else {
            return Ok(&[]);
        };
        let range = info.raw_offset..info.raw_offset + info.raw_len as usize;
        if self.decoded == header.uncompressed_size as usize {
            return Ok(self.records.get(range).unwrap_or_default());
        }
        if self.frame != Some(i) {
            self.frame = None;
            let data = self
                .stored
                .get(BLOCK_HEADER_SIZE..header.data_end())
                .unwrap_or_default();
            let n = info.raw_len as usize;
            if self.frame_records.len() < n {
                self.frame_records.resize(n, 0);
            }
            let out = self.frame_records.get_mut(..n).unwrap_or_default();
            decode_frame_into(&info, frame_bytes(data, &info)?, out)?;
            self.frame = Some(i);
        }
        Ok(self
            .frame_records
            .get(..info.raw_len as usize)
            .unwrap_or_default())
    }

    /// Calls `f` with the records of each frame `keep` accepts (the whole block's
    /// records once for a block that is not framed), in sequence order or reversed,
    /// until `f` breaks. Only the frames handed to `f` are decoded and checked.
    fn visit_frames<B>(
        &mut self,
        keep: &dyn Fn(&FrameInfo) -> bool,
        reverse: bool,
        mut f: impl FnMut(&[u8]) -> ControlFlow<B>,
    ) -> std::result::Result<ControlFlow<B>, FormatError> {
        let (Some(table), Some(header)) = (self.frames.take(), self.header) else {
            return Ok(f(self.records(usize::MAX)?));
        };
        let n = header.uncompressed_size as usize;
        let data = self
            .stored
            .get(BLOCK_HEADER_SIZE..header.data_end())
            .unwrap_or_default();
        let frames = table.frames();
        let mut result = Ok(ControlFlow::Continue(()));
        for k in 0..frames.len() {
            let Some(info) = frames.get(if reverse { frames.len() - 1 - k } else { k }) else {
                break;
            };
            if !keep(info) {
                continue;
            }
            let range = info.raw_offset..info.raw_offset + info.raw_len as usize;
            if self.decoded != n
                && let Err(e) =
                    decode_one(info, data, self.records.get_mut(..n).unwrap_or_default())
            {
                result = Err(e);
                break;
            }
            if let ControlFlow::Break(b) = f(self.records.get(range).unwrap_or_default()) {
                result = Ok(ControlFlow::Break(b));
                break;
            }
        }
        if result.is_err() {
            self.header = None;
        }
        self.frames = Some(table);
        result
    }

    /// Lets go of buffers grown for an unusually large block.
    fn trim(&mut self) {
        if self.stored.capacity() > READ_BUF_KEEP
            || self.records.capacity() > READ_BUF_KEEP
            || self.plain.capacity() > READ_BUF_KEEP
        {
            *self = LastBlock::default();
        }
    }

    /// Bytes of records the block holds.
    fn total(&self) -> usize {
        self.header.map_or(0, |h| h.uncompressed_size as usize)
    }
}

/// The record with journal sequence `seq` among `last`'s records, decoding them only
/// as far as needed; records before it are skipped by their fixed fields.
fn find_in<T>(
    last: &mut LastBlock,
    seq: u64,
    f: impl FnOnce(&RecordView<'_>) -> T,
) -> std::result::Result<Option<T>, FormatError> {
    if last.frames.is_some() {
        return find_in_records(last.frame_records(seq)?, seq, f);
    }
    let total = last.total();
    // Decoding a prefix costs more per byte than decoding the whole block at once: a
    // record likely in the last third (by its sequence) has the whole block decoded.
    let (first, end) = (last.entry.first_seq, last.entry.last_seq);
    if seq > first && end > first && u128::from(seq - first) * 3 > u128::from(end - first) * 2 {
        last.records(usize::MAX)?;
    }
    let mut pos = 0usize;
    loop {
        let head = last.records(pos.saturating_add(RECORD_FIXED_SIZE))?;
        let rest = head.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let Some((size, found)) =
            record_size_and_seq(rest).filter(|(size, _)| *size >= RECORD_FIXED_SIZE)
        else {
            return Err(not_a_record(rest, pos));
        };
        if pos.saturating_add(size) > total {
            return Err(not_a_record(rest, pos));
        }
        if found == seq {
            let all = last.records(pos + size)?;
            let bytes = all.get(pos..).unwrap_or_default();
            return RecordView::parse_trusted(bytes).map(|v| Some(f(&v)));
        }
        if found > seq {
            return Ok(None);
        }
        pos += size;
    }
}

/// [`find_in`] over records decoded whole.
pub(crate) fn find_in_records<T>(
    records: &[u8],
    seq: u64,
    f: impl FnOnce(&RecordView<'_>) -> T,
) -> std::result::Result<Option<T>, FormatError> {
    let mut pos = 0usize;
    while let Some(rest) = records.get(pos..).filter(|r| !r.is_empty()) {
        let Some((size, found)) = peek_record(rest) else {
            return Err(not_a_record(rest, pos));
        };
        if found == seq {
            return RecordView::parse_trusted(rest).map(|v| Some(f(&v)));
        }
        if found > seq {
            break;
        }
        pos += size;
    }
    Ok(None)
}

/// What is wrong with bytes at `pos` of a block's records that do not hold a whole
/// record.
fn not_a_record(rest: &[u8], pos: usize) -> FormatError {
    RecordView::parse_trusted(rest)
        .err()
        .unwrap_or(FormatError::Malformed {
            what: "block records",
            offset: pos,
            reason: "record does not fit the block",
        })
}

thread_local! {
    /// Each thread's last block read without the block cache: a cold point read or
    /// query visit allocates nothing.
    static LAST_BLOCK: std::cell::RefCell<LastBlock> = std::cell::RefCell::new(LastBlock::default());
}

/// Size and journal sequence from a record's fixed fields (`None` when `buf` is
/// shorter than them).
fn record_size_and_seq(buf: &[u8]) -> Option<(usize, u64)> {
    peek_record_fields(buf)
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
        let (data, span) = read_block_at(
            &self.file,
            &self.path,
            self.crypt(),
            entry,
            BlockCheck::Records,
        )?;
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
            open_stored_block(
                stored,
                BlockCheck::Checksum,
                &mut records,
                self.crypt(),
                entry.offset,
            )
            .map(|_| stored.to_vec())
            .map_err(|e| StorageError::format(&self.path, entry.offset, e))
        })?
    }

    /// Reads, checks and decompresses one block of this segment.
    pub fn read_block(&self, entry: &BlockEntry) -> Result<BlockData> {
        let mut records = Vec::new();
        let header = self.read_block_into(entry, &mut records)?;
        Ok(BlockData { header, records })
    }

    /// [`Segment::read_block`] into `records` (its allocation reused); returns the
    /// block header.
    fn read_block_into(&self, entry: &BlockEntry, records: &mut Vec<u8>) -> Result<BlockHeader> {
        let opened = open_block_into(
            &self.file,
            &self.path,
            self.crypt(),
            entry,
            BlockCheck::Checksum,
            records,
        )?;
        let header = opened.header;
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
        Ok(header)
    }

    /// Checks a block header read back against the block table entry it was read for.
    fn check_entry(&self, entry: &BlockEntry, header: &BlockHeader) -> Result<()> {
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
        Ok(())
    }

    /// Reads, checks and decompresses one block (as [`Segment::read_block`]) into a
    /// per-thread buffer and hands its records to `f`: no allocation, and a thread
    /// reading the same block again (of the same segment object) skips the read.
    pub fn with_records<T>(
        self: &Arc<Self>,
        entry: &BlockEntry,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T> {
        LAST_BLOCK.with(|cell| match cell.try_borrow_mut() {
            Ok(mut last) => {
                last.load(self, entry)?;
                let records = last
                    .records(usize::MAX)
                    .map_err(|e| StorageError::format(&self.path, entry.offset, e))?;
                let out = f(records);
                last.trim();
                Ok(out)
            }
            // Called again from inside `f`: a buffer of its own.
            Err(_) => {
                let mut records = Vec::new();
                self.read_block_into(entry, &mut records)?;
                Ok(f(&records))
            }
        })
    }

    /// Calls `f` with the records of each frame of the block at `entry` that `keep`
    /// accepts, in sequence order (`reverse`: last first), until `f` breaks; a block
    /// that is not framed is handed over whole. Only the frames handed over are
    /// decoded and checked (the frame table's crc and each frame's own).
    pub fn with_frames<B>(
        self: &Arc<Self>,
        entry: &BlockEntry,
        keep: &dyn Fn(&FrameInfo) -> bool,
        reverse: bool,
        f: impl FnMut(&[u8]) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>> {
        LAST_BLOCK.with(|cell| match cell.try_borrow_mut() {
            Ok(mut last) => {
                last.load(self, entry)?;
                let out = last
                    .visit_frames(keep, reverse, f)
                    .map_err(|e| StorageError::format(&self.path, entry.offset, e));
                last.trim();
                out
            }
            // Called again from inside `f`: a buffer of its own.
            Err(_) => {
                let mut records = Vec::new();
                self.read_block_into(entry, &mut records)?;
                let mut f = f;
                Ok(f(&records))
            }
        })
    }

    /// Finds the record with journal sequence `seq` in the block at `entry` and hands
    /// it to `f` (`None` when the block does not hold it). Records before it are
    /// skipped by their fixed fields, and an LZ4 block is decoded only as far as the
    /// record: the block checksum is still checked first, whole.
    pub fn find_record<T>(
        self: &Arc<Self>,
        entry: &BlockEntry,
        seq: u64,
        f: impl FnOnce(&RecordView<'_>) -> T,
    ) -> Result<Option<T>> {
        let damaged = |e| StorageError::format(&self.path, entry.offset, e);
        LAST_BLOCK.with(|cell| match cell.try_borrow_mut() {
            Ok(mut last) => {
                last.load(self, entry)?;
                let found = find_in(&mut last, seq, f).map_err(damaged);
                last.trim();
                found
            }
            Err(_) => {
                let mut records = Vec::new();
                self.read_block_into(entry, &mut records)?;
                find_in_records(&records, seq, f).map_err(damaged)
            }
        })
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
