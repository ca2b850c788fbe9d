//! Storage blocks: the 104-byte block header, block compression and event splitting.
//!
//! A block is its header followed by `compressed_size` bytes of event data as stored and
//! optional padding up to `block_size`. The block checksum covers the stored data only,
//! so every header field is instead checked against the events it describes
//! ([`check_header_against_events`]); together, a damaged header or damaged data is
//! always detected.

#[cfg(any(feature = "lz4", feature = "zstd"))]
use alloc::string::ToString;
use alloc::vec::Vec;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::checksum::kernel_crc32;
use crate::consts::{
    BLOCK_HEADER_SIZE, BLOCK_MAGIC, BLOCK_VERSION, ENCRYPTED_BLOCK_OVERHEAD, EVENT_HEADER_SIZE,
};
use crate::error::{FormatError, Result};
use crate::event::Timestamp;
use crate::frames::FRAMED_BLOCK_VERSION;
use crate::layout::{EVENT_SIZE_OFFSET, RawBlockHeader};
use crate::types::Compression;

/// Largest decompressed block this crate accepts (a guard against absurd sizes in a
/// damaged header; the writer never builds blocks near it).
pub const MAX_BLOCK_DATA: usize = 256 << 20;

/// The fields of a storage block header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block id.
    pub block_id: u64,
    /// Total bytes of the block: header, stored data and padding.
    pub block_size: u32,
    /// Events in the block.
    pub event_count: u32,
    /// How the event data is stored.
    pub compression: Compression,
    /// Bytes of event data as stored.
    pub compressed_size: u32,
    /// Bytes of event data after decompression.
    pub uncompressed_size: u32,
    /// Kernel crc32 of the stored data.
    pub block_checksum: u32,
    /// Timestamp of the first event.
    pub first_event_time: Timestamp,
    /// Timestamp of the last event.
    pub last_event_time: Timestamp,
    /// Id of the first event.
    pub first_event_id: u64,
    /// Id of the last event.
    pub last_event_id: u64,
    /// Block format version 2 ([`crate::frames`]): LZ4 records in independently
    /// compressed frames behind a frame table. Version 1 (false) stores the records as
    /// one unit; kernel images hold only version 1.
    pub framed: bool,
}

impl BlockHeader {
    /// The 104 header bytes.
    pub fn to_bytes(&self) -> [u8; BLOCK_HEADER_SIZE] {
        let raw = RawBlockHeader {
            block_magic: U32::new(BLOCK_MAGIC),
            block_version: U32::new(if self.framed {
                FRAMED_BLOCK_VERSION
            } else {
                BLOCK_VERSION
            }),
            block_id: U64::new(self.block_id),
            block_size: U32::new(self.block_size),
            event_count: U32::new(self.event_count),
            compression_type: U32::new(self.compression.code()),
            compressed_size: U32::new(self.compressed_size),
            uncompressed_size: U32::new(self.uncompressed_size),
            block_checksum: U32::new(self.block_checksum),
            first_event_time: self.first_event_time.into(),
            last_event_time: self.last_event_time.into(),
            first_event_id: U64::new(self.first_event_id),
            last_event_id: U64::new(self.last_event_id),
        };
        let mut out = [0u8; BLOCK_HEADER_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }

    /// Parses and checks a header: magic, version, compression code, sizes.
    pub fn parse(buf: &[u8]) -> Result<BlockHeader> {
        let (raw, _) =
            RawBlockHeader::ref_from_prefix(buf).map_err(|_| FormatError::Truncated {
                what: "block header",
                offset: 0,
                needed: BLOCK_HEADER_SIZE,
                available: buf.len(),
            })?;
        if raw.block_magic.get() != BLOCK_MAGIC {
            return Err(FormatError::BadMagic {
                what: "block header",
                expected: BLOCK_MAGIC,
                found: raw.block_magic.get(),
            });
        }
        let version = raw.block_version.get();
        if version != BLOCK_VERSION && version != FRAMED_BLOCK_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "block",
                found: version,
                supported: FRAMED_BLOCK_VERSION,
            });
        }
        let code = raw.compression_type.get();
        let compression =
            Compression::from_code(code).ok_or(FormatError::UnknownCompression(code))?;
        let framed = version == FRAMED_BLOCK_VERSION;
        if framed && compression != Compression::Lz4 {
            return Err(FormatError::Malformed {
                what: "block header",
                offset: 24,
                reason: "a version-2 (framed) block must be LZ4-compressed",
            });
        }
        let header = BlockHeader {
            block_id: raw.block_id.get(),
            block_size: raw.block_size.get(),
            event_count: raw.event_count.get(),
            compression,
            compressed_size: raw.compressed_size.get(),
            uncompressed_size: raw.uncompressed_size.get(),
            block_checksum: raw.block_checksum.get(),
            first_event_time: Timestamp::from(&raw.first_event_time),
            last_event_time: Timestamp::from(&raw.last_event_time),
            first_event_id: raw.first_event_id.get(),
            last_event_id: raw.last_event_id.get(),
            framed,
        };
        header.check_sizes()?;
        Ok(header)
    }

    /// Parses a block header of a kernel image, which holds version-1 blocks only.
    pub fn parse_kernel(buf: &[u8]) -> Result<BlockHeader> {
        let unsupported = FormatError::UnsupportedVersion {
            what: "kernel image block",
            found: FRAMED_BLOCK_VERSION,
            supported: BLOCK_VERSION,
        };
        match BlockHeader::parse(buf) {
            Ok(h) if h.framed => Err(unsupported),
            // Kernel images are never encrypted.
            Ok(h)
                if h.compression == Compression::None
                    && h.compressed_size != h.uncompressed_size =>
            {
                Err(FormatError::SizeMismatch {
                    field: "uncompressed_size",
                    declared: u64::from(h.uncompressed_size),
                    expected: u64::from(h.compressed_size),
                })
            }
            // A version-2 header that is not even a valid segment block.
            Err(FormatError::Malformed { offset: 24, .. }) => Err(unsupported),
            other => other,
        }
    }

    fn check_sizes(&self) -> Result<()> {
        let needed = BLOCK_HEADER_SIZE as u64 + u64::from(self.compressed_size);
        if u64::from(self.block_size) < needed {
            return Err(FormatError::SizeMismatch {
                field: "block_size",
                declared: u64::from(self.block_size),
                expected: needed,
            });
        }
        if self.uncompressed_size as usize > MAX_BLOCK_DATA {
            return Err(FormatError::OverLimit {
                field: "block uncompressed_size",
                size: u64::from(self.uncompressed_size),
                limit: MAX_BLOCK_DATA as u64,
            });
        }
        // Uncompressed data is stored as is, or encrypted (a salt and a tag more; see
        // `ENCRYPTED_BLOCK_OVERHEAD`). Either way the block size and the checksum must
        // also agree with `compressed_size`, so a damaged size is still caught.
        let encrypted = u64::from(self.uncompressed_size) + ENCRYPTED_BLOCK_OVERHEAD as u64;
        if self.compression == Compression::None
            && self.compressed_size != self.uncompressed_size
            && u64::from(self.compressed_size) != encrypted
        {
            return Err(FormatError::SizeMismatch {
                field: "uncompressed_size",
                declared: u64::from(self.uncompressed_size),
                expected: u64::from(self.compressed_size),
            });
        }
        if self.last_event_id < self.first_event_id {
            return Err(FormatError::Malformed {
                what: "block header",
                offset: 96,
                reason: "last_event_id is below first_event_id",
            });
        }
        Ok(())
    }

    /// Bytes of header plus stored data (the block without padding).
    pub fn data_end(&self) -> usize {
        BLOCK_HEADER_SIZE + self.compressed_size as usize
    }

    /// Checks the stored data against the block checksum.
    pub fn verify_data(&self, stored: &[u8]) -> Result<()> {
        if stored.len() != self.compressed_size as usize {
            return Err(FormatError::SizeMismatch {
                field: "compressed_size",
                declared: u64::from(self.compressed_size),
                expected: stored.len() as u64,
            });
        }
        let computed = kernel_crc32(stored);
        if computed != self.block_checksum {
            return Err(FormatError::ChecksumMismatch {
                what: "block data",
                stored: self.block_checksum,
                computed,
            });
        }
        Ok(())
    }
}

/// Compresses `data` with `compression` (zstd at `zstd_level`), appending to `out`.
pub fn compress(
    compression: Compression,
    data: &[u8],
    zstd_level: i32,
    out: &mut Vec<u8>,
) -> Result<()> {
    let _ = zstd_level;
    match compression {
        Compression::None => {
            out.extend_from_slice(data);
            Ok(())
        }
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            let start = out.len();
            out.resize(
                start + lz4_flex::block::get_maximum_output_size(data.len()),
                0,
            );
            match lz4_flex::block::compress_into(data, &mut out[start..]) {
                Ok(n) => {
                    out.truncate(start + n);
                    Ok(())
                }
                Err(e) => {
                    out.truncate(start);
                    Err(FormatError::Decompress {
                        codec: "lz4",
                        reason: e.to_string(),
                    })
                }
            }
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let compressed =
                zstd::bulk::compress(data, zstd_level).map_err(|e| FormatError::Decompress {
                    codec: "zstd",
                    reason: e.to_string(),
                })?;
            out.extend_from_slice(&compressed);
            Ok(())
        }
        other => Err(FormatError::UnsupportedCompression(other.name())),
    }
}

/// Decompresses `stored` into `out` (cleared first), which must come out exactly
/// `uncompressed_size` bytes long.
pub fn decompress(
    compression: Compression,
    stored: &[u8],
    uncompressed_size: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    if uncompressed_size > MAX_BLOCK_DATA {
        return Err(FormatError::OverLimit {
            field: "block uncompressed_size",
            size: uncompressed_size as u64,
            limit: MAX_BLOCK_DATA as u64,
        });
    }
    let produced = match compression {
        Compression::None => {
            out.extend_from_slice(stored);
            stored.len()
        }
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            out.resize(uncompressed_size, 0);
            lz4_flex::block::decompress_into(stored, out).map_err(|e| FormatError::Decompress {
                codec: "lz4",
                reason: e.to_string(),
            })?
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            out.reserve(uncompressed_size);
            let mut decoder =
                zstd::bulk::Decompressor::new().map_err(|e| FormatError::Decompress {
                    codec: "zstd",
                    reason: e.to_string(),
                })?;
            decoder
                .decompress_to_buffer(stored, out)
                .map_err(|e| FormatError::Decompress {
                    codec: "zstd",
                    reason: e.to_string(),
                })?
        }
        other => return Err(FormatError::UnsupportedCompression(other.name())),
    };
    if produced != uncompressed_size {
        return Err(FormatError::SizeMismatch {
            field: "uncompressed_size",
            declared: uncompressed_size as u64,
            expected: produced as u64,
        });
    }
    out.truncate(produced);
    Ok(())
}

/// Splits decompressed block data into its events, by each header's `event_size`.
///
/// Yields `(offset, bytes)` for each event, or one error for the first event whose
/// header or size does not fit, then stops.
pub fn split_events(data: &[u8]) -> EventSlices<'_> {
    EventSlices {
        data,
        pos: 0,
        failed: false,
    }
}

/// Iterator returned by [`split_events`].
#[derive(Clone, Debug)]
pub struct EventSlices<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for EventSlices<'a> {
    type Item = Result<(usize, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let size = rest
            .get(EVENT_SIZE_OFFSET..EVENT_SIZE_OFFSET + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_le_bytes(b) as usize);
        let item = match size {
            None => Err(FormatError::Truncated {
                what: "event header in block",
                offset: self.pos,
                needed: EVENT_HEADER_SIZE,
                available: rest.len(),
            }),
            Some(size) if size < EVENT_HEADER_SIZE => Err(FormatError::SizeMismatch {
                field: "event_size",
                declared: size as u64,
                expected: EVENT_HEADER_SIZE as u64,
            }),
            Some(size) => match rest.get(..size) {
                Some(bytes) => Ok((self.pos, bytes)),
                None => Err(FormatError::Truncated {
                    what: "event in block",
                    offset: self.pos,
                    needed: size,
                    available: rest.len(),
                }),
            },
        };
        match &item {
            Ok((_, bytes)) => self.pos += bytes.len(),
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

/// Summary of the events of a block, to check a header against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSpan {
    /// Number of events.
    pub count: u32,
    /// Journal sequence of the first event (a record's `userspace_sequence`).
    pub first_seq: u64,
    /// Journal sequence of the last event.
    pub last_seq: u64,
    /// Id of the first event.
    pub first_id: u64,
    /// Id of the last event.
    pub last_id: u64,
    /// Timestamp of the first event.
    pub first_time: Timestamp,
    /// Timestamp of the last event.
    pub last_time: Timestamp,
    /// Smallest `ktime_ns` of the events.
    pub min_time: i64,
    /// Largest `ktime_ns` of the events.
    pub max_time: i64,
}

impl EventSpan {
    /// Adds an event (in block order) with its journal sequence.
    pub fn push(&mut self, seq: u64, id: u64, time: Timestamp) {
        if self.count == 0 {
            self.first_seq = seq;
            self.first_id = id;
            self.first_time = time;
            self.min_time = time.ktime_ns;
            self.max_time = time.ktime_ns;
        }
        self.min_time = self.min_time.min(time.ktime_ns);
        self.max_time = self.max_time.max(time.ktime_ns);
        self.last_seq = seq;
        self.last_id = id;
        self.last_time = time;
        self.count += 1;
    }
}

/// Checks that every field of `header` describing the events agrees with them. In
/// segment files (`Record` encoding) the block id is the journal sequence of the block's
/// first event, so a damaged id is caught by the block itself.
pub fn check_header_against_events(
    header: &BlockHeader,
    span: &EventSpan,
    encoding: EventEncoding,
) -> Result<()> {
    if encoding == EventEncoding::Record && header.block_id != span.first_seq {
        return Err(FormatError::SizeMismatch {
            field: "block_id",
            declared: header.block_id,
            expected: span.first_seq,
        });
    }
    let checks: [(&'static str, u64, u64); 3] = [
        (
            "event_count",
            u64::from(header.event_count),
            u64::from(span.count),
        ),
        ("first_event_id", header.first_event_id, span.first_id),
        ("last_event_id", header.last_event_id, span.last_id),
    ];
    for (field, declared, expected) in checks {
        if declared != expected {
            return Err(FormatError::SizeMismatch {
                field,
                declared,
                expected,
            });
        }
    }
    let times = [
        ("first_event_time", header.first_event_time, span.first_time),
        ("last_event_time", header.last_event_time, span.last_time),
    ];
    for (what, declared, actual) in times {
        if declared != actual {
            return Err(FormatError::Malformed {
                what,
                offset: if what == "first_event_time" { 40 } else { 64 },
                reason: "block header time differs from its event's timestamp",
            });
        }
    }
    Ok(())
}

/// How the events inside a block are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventEncoding {
    /// Userspace records ([`crate::record`]), as in segment files.
    Record,
    /// Complete kernel events ([`crate::kernel`]), as in kernel journal images.
    Kernel,
}

/// Checks the block at the start of `buf` without decompressing it: its header, its
/// exact size and the checksum of its stored data, which it returns.
pub fn check_stored(buf: &[u8], encoding: EventEncoding) -> Result<(BlockHeader, &[u8])> {
    let (header, stored) = stored_data(buf, encoding)?;
    header.verify_data(stored)?;
    Ok((header, stored))
}

/// The header of the block at the start of `buf` and its stored data, after checking the
/// header, the version for `encoding` and the block's exact size, but not the data's
/// checksum: for readers that check a framed block frame by frame.
pub fn stored_data(buf: &[u8], encoding: EventEncoding) -> Result<(BlockHeader, &[u8])> {
    let header = BlockHeader::parse(buf)?;
    check_version(&header, encoding)?;
    let expected_size = block_size_for(encoding, header.compressed_size as usize);
    if header.block_size as usize != expected_size {
        return Err(FormatError::SizeMismatch {
            field: "block_size",
            declared: u64::from(header.block_size),
            expected: expected_size as u64,
        });
    }
    let stored = buf
        .get(BLOCK_HEADER_SIZE..header.data_end())
        .ok_or(FormatError::Truncated {
            what: "block data",
            offset: BLOCK_HEADER_SIZE,
            needed: header.compressed_size as usize,
            available: buf.len().saturating_sub(BLOCK_HEADER_SIZE),
        })?;
    Ok((header, stored))
}

/// Opens the block at the start of `buf` for reading: header, exact size, stored-data
/// checksum, decompression into `data`. Unlike [`check_block`] it does not parse every
/// event: the checksum already guarantees the data is what the writer wrote, and events
/// are parsed (structurally validated) as they are read.
pub fn open_block(buf: &[u8], encoding: EventEncoding, data: &mut Vec<u8>) -> Result<BlockHeader> {
    let (header, stored) = check_stored(buf, encoding)?;
    decode_data(&header, stored, data)?;
    Ok(header)
}

/// Kernel images hold only version-1 blocks.
fn check_version(header: &BlockHeader, encoding: EventEncoding) -> Result<()> {
    if header.framed && encoding == EventEncoding::Kernel {
        return Err(FormatError::UnsupportedVersion {
            what: "kernel image block",
            found: FRAMED_BLOCK_VERSION,
            supported: BLOCK_VERSION,
        });
    }
    Ok(())
}

/// Decodes a block's stored data (`compressed_size` bytes after its header) into
/// `data`: one unit in a version-1 block, frame by frame in a framed one.
pub fn decode_data(header: &BlockHeader, stored: &[u8], data: &mut Vec<u8>) -> Result<()> {
    if header.framed {
        // Callers check the block checksum over `stored` first: frames are not checked
        // again one by one.
        decode_frames(header, stored, false, data).map(|_| ())
    } else {
        decompress(
            header.compression,
            stored,
            header.uncompressed_size as usize,
            data,
        )
    }
}

#[cfg(feature = "lz4")]
fn decode_frames(
    header: &BlockHeader,
    stored: &[u8],
    check_frames: bool,
    data: &mut Vec<u8>,
) -> Result<crate::frames::FrameTable> {
    crate::frames::decode_all(
        stored,
        header.block_id,
        header.uncompressed_size,
        check_frames,
        data,
    )
}

#[cfg(not(feature = "lz4"))]
fn decode_frames(
    _: &BlockHeader,
    _: &[u8],
    _: bool,
    _: &mut Vec<u8>,
) -> Result<crate::frames::FrameTable> {
    Err(FormatError::UnsupportedCompression("lz4"))
}

/// Appends `records` (whole records in sequence order, the first with sequence
/// `base_seq`) as a segment block's stored data: framed ([`crate::frames`], frames of
/// `frame_bytes`) for LZ4 with a non-zero `frame_bytes`, else compressed as one unit.
/// Returns whether the data is framed.
pub fn encode_data(
    compression: Compression,
    records: &[u8],
    base_seq: u64,
    zstd_level: i32,
    frame_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<bool> {
    #[cfg(feature = "lz4")]
    if compression == Compression::Lz4 && frame_bytes > 0 {
        crate::frames::encode(records, base_seq, frame_bytes, out)?;
        return Ok(true);
    }
    let _ = (base_seq, frame_bytes);
    compress(compression, records, zstd_level, out)?;
    Ok(false)
}

/// The `block_size` of a block holding `stored` bytes of event data: exactly header plus
/// data in segment files, padded up to a multiple of 4096 bytes in kernel images.
pub fn block_size_for(encoding: EventEncoding, stored: usize) -> usize {
    let unpadded = BLOCK_HEADER_SIZE + stored;
    match encoding {
        EventEncoding::Record => unpadded,
        EventEncoding::Kernel => unpadded.next_multiple_of(crate::consts::KERNEL_BLOCK_SIZE),
    }
}

/// Fully checks the block at the start of `buf`: header, stored-data checksum,
/// decompression, every event (its own checksum included) and the agreement of the
/// header with the events. On success the decompressed event data is left in `data`.
pub fn check_block(
    buf: &[u8],
    encoding: EventEncoding,
    data: &mut Vec<u8>,
) -> Result<(BlockHeader, EventSpan)> {
    let header = BlockHeader::parse(buf)?;
    check_version(&header, encoding)?;
    let stored = buf
        .get(BLOCK_HEADER_SIZE..header.data_end())
        .ok_or(FormatError::Truncated {
            what: "block data",
            offset: BLOCK_HEADER_SIZE,
            needed: header.compressed_size as usize,
            available: buf.len().saturating_sub(BLOCK_HEADER_SIZE),
        })?;
    let expected_size = block_size_for(encoding, header.compressed_size as usize);
    if header.block_size as usize != expected_size {
        return Err(FormatError::SizeMismatch {
            field: "block_size",
            declared: u64::from(header.block_size),
            expected: expected_size as u64,
        });
    }
    if encoding == EventEncoding::Kernel {
        let padding = buf
            .get(header.data_end()..expected_size)
            .ok_or(FormatError::Truncated {
                what: "block padding",
                offset: header.data_end(),
                needed: expected_size - header.data_end(),
                available: buf.len().saturating_sub(header.data_end()),
            })?;
        if padding.iter().any(|b| *b != 0) {
            return Err(FormatError::Malformed {
                what: "block padding",
                offset: header.data_end(),
                reason: "padding bytes are not zero",
            });
        }
    }
    header.verify_data(stored)?;
    let frames = if header.framed {
        Some(decode_frames(&header, stored, true, data)?)
    } else {
        decompress(
            header.compression,
            stored,
            header.uncompressed_size as usize,
            data,
        )?;
        None
    };
    let mut span = EventSpan::default();
    let mut frame_check = frames.as_ref().map(crate::frames::FrameChecker::new);
    for item in split_events(data) {
        let (offset, bytes) = item?;
        let located = |e: FormatError| match e {
            FormatError::Malformed {
                what,
                offset: o,
                reason,
            } => FormatError::Malformed {
                what,
                offset: offset + o,
                reason,
            },
            other => other,
        };
        match encoding {
            EventEncoding::Record => {
                let view = crate::record::RecordView::parse(bytes).map_err(located)?;
                if let Some(check) = frame_check.as_mut() {
                    check.push(offset, bytes.len(), &view)?;
                }
                let seq = view.ext().userspace_sequence;
                if span.count > 0 && seq <= span.last_seq {
                    return Err(FormatError::Malformed {
                        what: "block events",
                        offset,
                        reason: "journal sequence does not increase",
                    });
                }
                span.push(seq, view.event_id(), view.timestamp());
            }
            EventEncoding::Kernel => {
                let (ev, _) = crate::kernel::decode_kernel_event(bytes).map_err(located)?;
                span.push(ev.global_sequence, ev.event_id, ev.timestamp);
            }
        }
    }
    check_header_against_events(&header, &span, encoding)?;
    if let Some(check) = frame_check {
        check.finish()?;
    }
    Ok((header, span))
}
