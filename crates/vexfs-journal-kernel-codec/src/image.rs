//! Kernel journal images: a sequence of storage blocks as the kernel lays them on disk.
//!
//! Each block starts on a 4096-byte boundary and is `block_size` bytes long, a multiple
//! of 4096: the 104-byte block header (magic `USJL`, version 1), the event data as
//! stored — complete kernel events back to back, raw LZ4 block compressed when the
//! header's compression field is 2 — and zero padding. The block checksum is the
//! kernel crc32 of the stored data; every header field is checked against the events.
//!
//! [`ImageWriter`] builds images. [`ImageReader`] reads them from any [`Read`] — a file,
//! a block device, a pipe — one block at a time (memory is bounded by the largest block
//! allowed), checks every block completely, and on damage reports what and where
//! ([`Damage`]) and resynchronises on the next 4096-aligned offset that holds a valid
//! block, so every intact block is returned.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use vexfs_journal_format::block::{
    BlockHeader, EventEncoding, EventSpan, block_size_for, check_header_against_events, compress,
    open_block, split_events,
};
use vexfs_journal_format::consts::{BLOCK_HEADER_SIZE, KERNEL_BLOCK_SIZE};
use vexfs_journal_format::kernel::{decode_kernel_event, kernel_event_size};
use vexfs_journal_format::{Compression, Event, FormatError, kernel_crc32};

use crate::convert::convert_into;
use crate::error::ImageError;

/// Alignment and granularity of kernel image blocks.
pub const PAGE_SIZE: usize = KERNEL_BLOCK_SIZE;

/// Largest `block_bytes` a writer accepts (block sizes are 32-bit).
pub const MAX_WRITER_BLOCK_BYTES: usize = 64 << 20;

const ZEROS: [u8; PAGE_SIZE] = [0; PAGE_SIZE];
const READ_CHUNK: usize = 64 << 10;

/// How an [`ImageWriter`] cuts and stores blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Block data compression: `None` or `Lz4` (the kernel reads no Zstd; zlib is not
    /// written by userspace). A block LZ4 would not shrink is stored uncompressed.
    pub compression: Compression,
    /// Cut a block once its uncompressed event data would exceed this (a larger single
    /// event gets a block of its own).
    pub block_bytes: usize,
    /// Most events per block.
    pub block_events: usize,
    /// Id of the first block; the following ones count up from it.
    pub first_block_id: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::Lz4,
            block_bytes: 64 << 10,
            block_events: 64,
            first_block_id: 1,
        }
    }
}

/// What an [`ImageWriter`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriteSummary {
    /// Blocks written.
    pub blocks: u64,
    /// Blocks stored LZ4-compressed.
    pub compressed_blocks: u64,
    /// Events written.
    pub events: u64,
    /// Bytes written (headers, data, padding).
    pub bytes: u64,
    /// Bytes of kernel events before compression.
    pub event_bytes: u64,
    /// Id of the first block written.
    pub first_block_id: Option<u64>,
    /// Id of the last block written.
    pub last_block_id: Option<u64>,
}

/// Writes kernel events as a kernel journal image.
///
/// Blocks get sequential ids from [`WriterOptions::first_block_id`]. A block is cut when
/// the next event would exceed the size or count limit, or when its id is below the
/// block's first event id (a block header requires `last_event_id >= first_event_id`).
pub struct ImageWriter<W: Write> {
    out: W,
    name: String,
    opts: WriterOptions,
    data: Vec<u8>,
    stored: Vec<u8>,
    span: EventSpan,
    next_block_id: u64,
    summary: WriteSummary,
}

impl<W: Write> fmt::Debug for ImageWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageWriter")
            .field("name", &self.name)
            .field("opts", &self.opts)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<W: Write> ImageWriter<W> {
    /// A writer to `out`; `name` (a path) is used in error messages.
    pub fn new(out: W, name: impl Into<String>, opts: WriterOptions) -> Result<Self, ImageError> {
        match opts.compression {
            Compression::None | Compression::Lz4 => {}
            other => {
                return Err(ImageError::Options(format!(
                    "{other} block compression: kernel images store blocks uncompressed (none) or as raw LZ4 blocks (lz4)"
                )));
            }
        }
        if opts.block_bytes == 0 || opts.block_bytes > MAX_WRITER_BLOCK_BYTES {
            return Err(ImageError::Options(format!(
                "block_bytes {} must be between 1 and {MAX_WRITER_BLOCK_BYTES}",
                opts.block_bytes
            )));
        }
        if opts.block_events == 0 {
            return Err(ImageError::Options(
                "block_events must be at least 1".into(),
            ));
        }
        Ok(ImageWriter {
            out,
            name: name.into(),
            next_block_id: opts.first_block_id,
            opts,
            data: Vec::new(),
            stored: Vec::new(),
            span: EventSpan::default(),
            summary: WriteSummary::default(),
        })
    }

    /// Adds an event (converted to its kernel form; refused if it does not fit).
    pub fn push(&mut self, event: &Event) -> Result<(), ImageError> {
        let size = kernel_event_size(event);
        if self.span.count > 0
            && (self.data.len() + size > self.opts.block_bytes
                || self.span.count as usize >= self.opts.block_events
                || event.event_id < self.span.first_id)
        {
            self.flush_block()?;
        }
        convert_into(event, &mut self.data).map_err(|source| ImageError::Convert {
            event_id: event.event_id,
            global_sequence: event.global_sequence,
            source,
        })?;
        self.span
            .push(event.global_sequence, event.event_id, event.timestamp);
        Ok(())
    }

    /// Ends the current block now (the next event starts a new one).
    pub fn flush_block(&mut self) -> Result<(), ImageError> {
        if self.span.count == 0 {
            return Ok(());
        }
        let block_id = self.next_block_id;
        let mut compression = Compression::None;
        if self.opts.compression == Compression::Lz4 {
            self.stored.clear();
            compress(Compression::Lz4, &self.data, 0, &mut self.stored)
                .map_err(|source| ImageError::Block { block_id, source })?;
            if self.stored.len() < self.data.len() {
                compression = Compression::Lz4;
            }
        }
        let stored: &[u8] = if compression == Compression::None {
            &self.data
        } else {
            &self.stored
        };
        let block_size = block_size_for(EventEncoding::Kernel, stored.len());
        let header = BlockHeader {
            block_id,
            block_size: block_size as u32,
            event_count: self.span.count,
            compression,
            compressed_size: stored.len() as u32,
            uncompressed_size: self.data.len() as u32,
            block_checksum: kernel_crc32(stored),
            first_event_time: self.span.first_time,
            last_event_time: self.span.last_time,
            first_event_id: self.span.first_id,
            last_event_id: self.span.last_id,
            framed: false,
        };
        let io = |e| ImageError::io("writing", self.name.clone(), e);
        self.out.write_all(&header.to_bytes()).map_err(io)?;
        self.out.write_all(stored).map_err(io)?;
        let mut padding = block_size - BLOCK_HEADER_SIZE - stored.len();
        while padding > 0 {
            let n = padding.min(PAGE_SIZE);
            self.out.write_all(&ZEROS[..n]).map_err(io)?;
            padding -= n;
        }
        let s = &mut self.summary;
        s.blocks += 1;
        s.compressed_blocks += u64::from(compression == Compression::Lz4);
        s.events += u64::from(self.span.count);
        s.bytes += block_size as u64;
        s.event_bytes += self.data.len() as u64;
        s.first_block_id.get_or_insert(block_id);
        s.last_block_id = Some(block_id);
        self.next_block_id = block_id.wrapping_add(1);
        self.data.clear();
        self.span = EventSpan::default();
        Ok(())
    }

    /// What was written so far (blocks flushed).
    pub fn summary(&self) -> &WriteSummary {
        &self.summary
    }

    /// Writes the last block, flushes and returns the output and the summary.
    pub fn finish(mut self) -> Result<(W, WriteSummary), ImageError> {
        self.flush_block()?;
        self.out
            .flush()
            .map_err(|e| ImageError::io("flushing", self.name.clone(), e))?;
        Ok((self.out, self.summary))
    }
}

/// Writes `events` as a kernel image to `path` (a file, created or truncated, or a block
/// device) and syncs it.
pub fn write_image<'a>(
    path: &Path,
    events: impl IntoIterator<Item = &'a Event>,
    opts: WriterOptions,
) -> Result<WriteSummary, ImageError> {
    let name = path.display().to_string();
    let file = File::create(path).map_err(|e| ImageError::io("creating", name.clone(), e))?;
    let mut w = ImageWriter::new(BufWriter::new(file), name.clone(), opts)?;
    for ev in events {
        w.push(ev)?;
    }
    let (buf, summary) = w.finish()?;
    let file = buf
        .into_inner()
        .map_err(|e| ImageError::io("writing", name.clone(), e.into_error()))?;
    file.sync_all()
        .map_err(|e| ImageError::io("syncing", name, e))?;
    Ok(summary)
}

/// Bounds an [`ImageReader`] applies to block headers before trusting them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Largest `block_size` accepted (what the reader holds in memory at most).
    pub max_block_size: usize,
    /// Largest uncompressed event data per block accepted.
    pub max_block_data: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_block_size: 64 << 20,
            max_block_data: 64 << 20,
        }
    }
}

/// An intact block of an image and its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBlock {
    /// Byte offset of the block in the source.
    pub offset: u64,
    /// Its header.
    pub header: BlockHeader,
    /// Its events, in block order.
    pub events: Vec<Event>,
}

/// What is wrong with a damaged region of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DamageKind {
    /// The block header, sizes, checksum, padding or compressed data is bad, or the
    /// header disagrees with the events.
    Block(FormatError),
    /// Event number `index` (0-based) of the block, at `data_offset` in the block's
    /// (decompressed) event data, is bad.
    Event {
        /// Index of the event in the block.
        index: u32,
        /// Byte offset of the event in the decompressed event data.
        data_offset: usize,
        /// What is wrong.
        error: FormatError,
    },
    /// The block runs past the end of the source.
    Truncated {
        /// `block_size` in the header.
        declared: u64,
        /// Bytes left in the source from the block's start.
        available: u64,
    },
    /// Zeros where a block was expected, with a block after them.
    ZeroFilled,
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamageKind::Block(e) => write!(f, "{e}"),
            DamageKind::Event {
                index,
                data_offset,
                error,
            } => write!(
                f,
                "event #{index} at byte {data_offset} of the block's event data: {error}"
            ),
            DamageKind::Truncated {
                declared,
                available,
            } => write!(
                f,
                "block of {declared} bytes is truncated: the source ends {available} bytes after its start"
            ),
            DamageKind::ZeroFilled => write!(f, "zero-filled where a block was expected"),
        }
    }
}

/// A damaged region of an image: where it is, which block, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset where the damage starts (4096-aligned relative to the read start).
    pub offset: u64,
    /// Bytes skipped, up to the next intact block or the end of the source.
    pub length: u64,
    /// Block id read from the damaged header, when it was readable.
    pub block_id: Option<u64>,
    /// Id of the last intact block before the damage.
    pub after_block_id: Option<u64>,
    /// The first problem found in the region.
    pub kind: DamageKind,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bytes {}..{} ({} bytes)",
            self.offset,
            self.offset + self.length,
            self.length
        )?;
        match self.block_id {
            Some(id) => write!(f, ", block id {id}")?,
            None => write!(f, ", no readable block header")?,
        }
        match self.after_block_id {
            Some(id) => write!(f, " (after block {id})")?,
            None => write!(f, " (before any intact block)")?,
        }
        write!(f, ": {}", self.kind)
    }
}

impl Serialize for Damage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Damage", 5)?;
        st.serialize_field("offset", &self.offset)?;
        st.serialize_field("length", &self.length)?;
        st.serialize_field("block_id", &self.block_id)?;
        st.serialize_field("after_block_id", &self.after_block_id)?;
        st.serialize_field("what", &self.kind.to_string())?;
        st.end()
    }
}

/// One item of an image: an intact block or a damaged region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageItem {
    /// An intact block.
    Block(ImageBlock),
    /// A damaged region (skipped).
    Damage(Damage),
}

/// Counts of what an [`ImageReader`] has read so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Intact blocks.
    pub blocks: u64,
    /// Events in intact blocks.
    pub events: u64,
    /// Damaged regions.
    pub damaged_regions: u64,
    /// Bytes in damaged regions.
    pub damaged_bytes: u64,
    /// Zero bytes after the last block (unused space of a journal area).
    pub trailing_zero_bytes: u64,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Offset just past the last intact block.
    pub intact_end: u64,
    /// Offset, id and checksum of the last intact block.
    pub last_block: Option<BlockMark>,
    /// Whether damage follows the last intact block (a torn or in-progress tail).
    pub damaged_tail: bool,
}

/// Identifies a block at an offset (to check later that a source was not rewritten).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlockMark {
    /// Byte offset.
    pub offset: u64,
    /// Block id.
    pub block_id: u64,
    /// Block checksum.
    pub checksum: u32,
}

/// A damaged (or zero) region being extended page by page.
#[derive(Clone, Debug)]
struct Region {
    start: u64,
    len: u64,
    kind: Option<DamageKind>,
    block_id: Option<u64>,
}

/// Streams the blocks of a kernel image from a [`Read`].
///
/// Iterating yields [`ImageItem`]s in source order; an `Err` is an I/O failure of the
/// source, after which iteration ends.
pub struct ImageReader<R: Read> {
    src: R,
    name: String,
    opts: ReaderOptions,
    buf: Vec<u8>,
    start: usize,
    pos: u64,
    eof: bool,
    done: bool,
    data: Vec<u8>,
    pending: Option<Region>,
    queued: Option<ImageBlock>,
    stats: ReadStats,
}

impl<R: Read> fmt::Debug for ImageReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageReader")
            .field("name", &self.name)
            .field("pos", &self.pos)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ImageReader<File> {
    /// Opens a file or block device.
    pub fn open(path: &Path, opts: ReaderOptions) -> Result<Self, ImageError> {
        let file = File::open(path)
            .map_err(|e| ImageError::io("opening", path.display().to_string(), e))?;
        Ok(ImageReader::new(file, path.display().to_string(), opts))
    }
}

impl<R: Read> ImageReader<R> {
    /// Reads `src` from its current position, taken as offset 0.
    pub fn new(src: R, name: impl Into<String>, opts: ReaderOptions) -> Self {
        Self::starting_at(src, name, opts, 0)
    }

    /// Reads `src`, whose current position is byte `offset` of the image (offsets in
    /// reports are absolute). `offset` should be 4096-aligned.
    pub fn starting_at(src: R, name: impl Into<String>, opts: ReaderOptions, offset: u64) -> Self {
        ImageReader {
            src,
            name: name.into(),
            opts,
            buf: Vec::new(),
            start: 0,
            pos: offset,
            eof: false,
            done: false,
            data: Vec::new(),
            pending: None,
            queued: None,
            stats: ReadStats {
                intact_end: offset,
                ..ReadStats::default()
            },
        }
    }

    /// What has been read so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// The next block or damaged region; `None` at the end of the source.
    pub fn next_item(&mut self) -> Result<Option<ImageItem>, ImageError> {
        loop {
            if let Some(block) = self.queued.take() {
                return Ok(Some(ImageItem::Block(block)));
            }
            if self.done {
                return Ok(None);
            }
            self.fill(PAGE_SIZE)?;
            let avail = self.buf.len() - self.start;
            if avail == 0 {
                self.done = true;
                return Ok(self.end_region(true).map(ImageItem::Damage));
            }
            let page_len = avail.min(PAGE_SIZE);
            let page = &self.buf[self.start..self.start + page_len];
            if page.iter().all(|b| *b == 0) {
                self.extend_region(page_len as u64, None, None);
                self.advance(page_len);
                continue;
            }
            match self.try_block()? {
                Ok(block) => {
                    // Close the region before this block becomes the last intact one.
                    let damage = self.end_region(false);
                    self.stats.blocks += 1;
                    self.stats.events += block.events.len() as u64;
                    self.stats.damaged_tail = false;
                    self.stats.last_block = Some(BlockMark {
                        offset: block.offset,
                        block_id: block.header.block_id,
                        checksum: block.header.block_checksum,
                    });
                    self.stats.intact_end = self.pos;
                    if let Some(d) = damage {
                        self.queued = Some(block);
                        return Ok(Some(ImageItem::Damage(d)));
                    }
                    return Ok(Some(ImageItem::Block(block)));
                }
                Err((kind, block_id)) => {
                    self.extend_region(page_len as u64, Some(kind), block_id);
                    self.advance(page_len);
                }
            }
        }
    }

    /// Makes at least `n` bytes available from `start`, unless the source ends first.
    fn fill(&mut self, n: usize) -> Result<(), ImageError> {
        while self.buf.len() - self.start < n && !self.eof {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let have = self.buf.len();
            let want = (n - have).max(READ_CHUNK);
            self.buf.resize(have + want, 0);
            match self.src.read(&mut self.buf[have..]) {
                Ok(0) => {
                    self.buf.truncate(have);
                    self.eof = true;
                }
                Ok(k) => {
                    self.buf.truncate(have + k);
                    self.stats.bytes_read += k as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    self.buf.truncate(have);
                }
                Err(e) => {
                    self.buf.truncate(have);
                    self.done = true;
                    let at = self.pos + (have - self.start) as u64;
                    return Err(ImageError::io(
                        format!("reading at byte {at} of"),
                        self.name.clone(),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    fn extend_region(&mut self, len: u64, kind: Option<DamageKind>, block_id: Option<u64>) {
        match &mut self.pending {
            Some(r) => {
                r.len += len;
                if r.kind.is_none() && kind.is_some() {
                    r.kind = kind;
                    r.block_id = block_id;
                }
            }
            None => {
                self.pending = Some(Region {
                    start: self.pos,
                    len,
                    kind,
                    block_id,
                });
            }
        }
    }

    /// Closes the pending region: damage to report, or (at the end of the source) zeros
    /// that are just unused space.
    fn end_region(&mut self, at_end: bool) -> Option<Damage> {
        let r = self.pending.take()?;
        let kind = match r.kind {
            Some(k) => k,
            None if at_end => {
                self.stats.trailing_zero_bytes += r.len;
                return None;
            }
            None => DamageKind::ZeroFilled,
        };
        self.stats.damaged_regions += 1;
        self.stats.damaged_bytes += r.len;
        if at_end {
            self.stats.damaged_tail = true;
        }
        Some(Damage {
            offset: r.start,
            length: r.len,
            block_id: r.block_id,
            after_block_id: self.stats.last_block.map(|b| b.block_id),
            kind,
        })
    }

    /// Reads and fully checks the block at `start`. The outer error is an I/O failure;
    /// the inner one what is wrong with the block (and its id when the header was
    /// readable).
    #[allow(clippy::type_complexity)]
    fn try_block(&mut self) -> Result<Result<ImageBlock, (DamageKind, Option<u64>)>, ImageError> {
        let avail = self.buf.len() - self.start;
        let head = &self.buf[self.start..self.start + avail.min(PAGE_SIZE)];
        let header = match BlockHeader::parse_kernel(head) {
            Ok(h) => h,
            Err(e) => return Ok(Err((DamageKind::Block(e), None))),
        };
        let id = Some(header.block_id);
        let size = block_size_for(EventEncoding::Kernel, header.compressed_size as usize);
        if header.block_size as usize != size {
            return Ok(Err((
                DamageKind::Block(FormatError::SizeMismatch {
                    field: "block_size",
                    declared: u64::from(header.block_size),
                    expected: size as u64,
                }),
                id,
            )));
        }
        if size > self.opts.max_block_size {
            return Ok(Err((
                DamageKind::Block(FormatError::OverLimit {
                    field: "block_size",
                    size: size as u64,
                    limit: self.opts.max_block_size as u64,
                }),
                id,
            )));
        }
        if header.uncompressed_size as usize > self.opts.max_block_data {
            return Ok(Err((
                DamageKind::Block(FormatError::OverLimit {
                    field: "block uncompressed_size",
                    size: u64::from(header.uncompressed_size),
                    limit: self.opts.max_block_data as u64,
                }),
                id,
            )));
        }
        self.fill(size)?;
        let avail = self.buf.len() - self.start;
        if avail < size {
            return Ok(Err((
                DamageKind::Truncated {
                    declared: size as u64,
                    available: avail as u64,
                },
                id,
            )));
        }
        let bytes = &self.buf[self.start..self.start + size];
        match verify_kernel_block(bytes, &mut self.data) {
            Ok((header, events)) => {
                let offset = self.pos;
                self.advance(size);
                Ok(Ok(ImageBlock {
                    offset,
                    header,
                    events,
                }))
            }
            Err(kind) => Ok(Err((kind, id))),
        }
    }
}

impl<R: Read> Iterator for ImageReader<R> {
    type Item = Result<ImageItem, ImageError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// Fully checks one kernel image block that fills `bytes` (`block_size` bytes): header,
/// size, stored-data checksum, decompression into `data`, zero padding, every event
/// (checksum included) and the header's agreement with the events.
pub fn verify_kernel_block(
    bytes: &[u8],
    data: &mut Vec<u8>,
) -> Result<(BlockHeader, Vec<Event>), DamageKind> {
    let header = open_block(bytes, EventEncoding::Kernel, data).map_err(DamageKind::Block)?;
    let padding = bytes.get(header.data_end()..).unwrap_or_default();
    if padding.iter().any(|b| *b != 0) {
        return Err(DamageKind::Block(FormatError::Malformed {
            what: "block padding",
            offset: header.data_end(),
            reason: "padding bytes are not zero",
        }));
    }
    let mut span = EventSpan::default();
    let mut events = Vec::with_capacity(header.event_count.min(4096) as usize);
    for (index, item) in split_events(data).enumerate() {
        let index = index as u32;
        let (data_offset, ev_bytes) = item.map_err(|error| DamageKind::Event {
            index,
            data_offset: match &error {
                FormatError::Truncated { offset, .. } => *offset,
                _ => 0,
            },
            error,
        })?;
        let (ev, _) = decode_kernel_event(ev_bytes).map_err(|error| DamageKind::Event {
            index,
            data_offset,
            error,
        })?;
        span.push(ev.global_sequence, ev.event_id, ev.timestamp);
        events.push(ev);
    }
    check_header_against_events(&header, &span, EventEncoding::Kernel)
        .map_err(DamageKind::Block)?;
    Ok((header, events))
}

/// Everything in an image, read at once (for small images and tests; use
/// [`ImageReader`] to stream large ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageContents {
    /// Intact blocks in order.
    pub blocks: Vec<ImageBlock>,
    /// Damaged regions in order.
    pub damage: Vec<Damage>,
    /// Counts.
    pub stats: ReadStats,
}

impl ImageContents {
    /// Every event of the intact blocks, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.blocks.iter().flat_map(|b| b.events.iter())
    }
}

/// Reads a whole image from `src` into memory.
pub fn read_image_from(
    src: impl Read,
    name: &str,
    opts: ReaderOptions,
) -> Result<ImageContents, ImageError> {
    let mut reader = ImageReader::new(src, name, opts);
    let mut out = ImageContents::default();
    while let Some(item) = reader.next_item()? {
        match item {
            ImageItem::Block(b) => out.blocks.push(b),
            ImageItem::Damage(d) => out.damage.push(d),
        }
    }
    out.stats = reader.stats().clone();
    Ok(out)
}

/// Reads a whole image file or device into memory.
pub fn read_image(path: &Path) -> Result<ImageContents, ImageError> {
    let file =
        File::open(path).map_err(|e| ImageError::io("opening", path.display().to_string(), e))?;
    read_image_from(file, &path.display().to_string(), ReaderOptions::default())
}
