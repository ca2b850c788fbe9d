//! Block format version 2: a block's records in small, independently LZ4-compressed
//! frames behind a frame table, so a read checks and decodes only the frames it needs.
//!
//! A version-2 block has the same 104-byte header as version 1 (`block_version` 2,
//! compression LZ4) and its stored data is:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | frame count *n* (≥ 1) |
//! | 4 | 4 | kernel crc32 of the *n* entries |
//! | 8 | 56 × *n* | frame entries ([`FrameInfo`]) |
//! | 8 + 56 *n* | … | the frames' stored bytes, in order, back to back |
//!
//! Each frame is an LZ4 raw block of whole records, in sequence order; the frames
//! together hold the block's records. The block checksum still covers all stored data
//! (table and frames), so whole-block reads check exactly what they did in version 1;
//! a read of one frame checks the table's crc and that frame's own crc instead, and
//! returns nothing it did not check. The per-frame summaries (sequence range, type bits,
//! time range, path bloom) let a query skip frames without decoding them.
//!
//! The writer cuts a frame at the first record boundary at or past its frame size
//! ([`DEFAULT_FRAME_BYTES`] unless configured); a larger record makes a frame of its
//! own. Readers take any frame sizes.

use alloc::vec::Vec;

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::kernel_crc32;
use crate::error::{FormatError, Result};
use crate::index_file::type_bit;
use crate::record::RecordView;
#[cfg(feature = "lz4")]
use crate::record::peek_record;
use crate::types::EventType;

/// `block_version` of a framed block.
pub const FRAMED_BLOCK_VERSION: u32 = 2;
/// Bytes before the frame entries: count and crc.
pub const FRAME_TABLE_HEAD_SIZE: usize = 8;
/// Bytes of one frame entry.
pub const FRAME_ENTRY_SIZE: usize = 56;
/// Bytes of records after which the writer starts a new frame, by default.
pub const DEFAULT_FRAME_BYTES: usize = 2048;

/// One frame's entry in the table: where it is and what it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameInfo {
    /// Journal sequence of its first record.
    pub first_seq: u64,
    /// Journal sequence of its last record.
    pub last_seq: u64,
    /// Offset of its stored bytes in the block's stored data.
    pub stored_offset: usize,
    /// Bytes stored (LZ4).
    pub stored_len: u32,
    /// Bytes of records it decodes to.
    pub raw_len: u32,
    /// Offset of its records in the block's decoded records.
    pub raw_offset: usize,
    /// Kernel crc32 of its stored bytes.
    pub checksum: u32,
    /// Records it holds.
    pub record_count: u32,
    /// OR of the records' type bits ([`type_bit`]).
    pub type_bits: u64,
    /// Smallest event time (`ktime_ns`).
    pub min_time: i64,
    /// Largest event time.
    pub max_time: i64,
    /// Bloom bits of the records' directory prefixes and full paths ([`path_bloom`]).
    pub path_bloom: u64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
#[repr(C)]
struct RawFrameEntry {
    /// `first_seq` minus the block's first sequence.
    first_seq_delta: U32,
    /// `last_seq` minus the block's first sequence.
    last_seq_delta: U32,
    stored_len: U32,
    raw_len: U32,
    checksum: U32,
    record_count: U32,
    type_bits: U64,
    min_time: I64,
    max_time: I64,
    path_bloom: U64,
}

const _: () = assert!(core::mem::size_of::<RawFrameEntry>() == FRAME_ENTRY_SIZE);

/// Bytes of a frame table with `frames` entries.
pub fn table_size(frames: usize) -> usize {
    FRAME_TABLE_HEAD_SIZE + frames * FRAME_ENTRY_SIZE
}

/// FNV-1a, 64 bit: the path bloom's hash (defined here so other tools can compute it).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn bloom_bit(hash: u64) -> u64 {
    1 << (hash >> 58)
}

/// The path bloom bits of one path: one bit for each prefix ending in `/` and one for
/// the whole path. Bit = top 6 bits of the prefix's FNV-1a 64 hash.
pub fn path_bloom(path: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut bits = 0;
    for &b in path {
        hash = (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        if b == b'/' {
            bits |= bloom_bit(hash);
        }
    }
    if !path.is_empty() {
        bits |= bloom_bit(hash);
    }
    bits
}

/// The bloom bit every path starting with `prefix` sets, when there is one: for a
/// non-empty prefix ending in `/` (any other prefix may end inside a file name).
pub fn prefix_bloom_bit(prefix: &[u8]) -> Option<u64> {
    if prefix.last() != Some(&b'/') {
        return None;
    }
    let hash = prefix.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    });
    Some(bloom_bit(hash))
}

/// The summary of a run of records, as a frame entry describes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    count: u32,
    first_seq: u64,
    last_seq: u64,
    type_bits: u64,
    min_time: i64,
    max_time: i64,
    path_bloom: u64,
}

impl Summary {
    fn push(&mut self, view: &RecordView<'_>) {
        let seq = view.ext().userspace_sequence;
        let time = view.header.timestamp.ktime.get();
        if self.count == 0 {
            self.first_seq = seq;
            self.min_time = time;
            self.max_time = time;
        }
        self.last_seq = seq;
        self.min_time = self.min_time.min(time);
        self.max_time = self.max_time.max(time);
        self.type_bits |= type_bit(EventType::from_code(view.header.event_type.get()));
        self.path_bloom |= path_bloom(view.context.path);
        self.count += 1;
    }
}

fn frame_error(reason: &'static str) -> FormatError {
    FormatError::Malformed {
        what: "frame table",
        offset: 0,
        reason,
    }
}

/// Appends the framed stored data of `records` (whole records, sequence order, first
/// sequence `base_seq`) to `out`, cutting a frame after each `frame_bytes` of records.
#[cfg(feature = "lz4")]
pub fn encode(records: &[u8], base_seq: u64, frame_bytes: usize, out: &mut Vec<u8>) -> Result<()> {
    // The frames' extents and summaries, then the table, then the compressed frames.
    let mut frames: Vec<(usize, usize, Summary)> = Vec::new();
    let mut pos = 0;
    let mut start = 0;
    let mut summary = Summary::default();
    while pos < records.len() {
        let rest = records.get(pos..).unwrap_or_default();
        let (size, _) = peek_record(rest).ok_or(FormatError::Malformed {
            what: "block records",
            offset: pos,
            reason: "not a whole record",
        })?;
        let view = RecordView::parse_trusted(rest.get(..size).unwrap_or_default())?;
        summary.push(&view);
        pos += size;
        if pos - start >= frame_bytes || pos == records.len() {
            frames.push((start, pos, core::mem::take(&mut summary)));
            start = pos;
        }
    }
    if frames.is_empty() {
        return Err(frame_error("a block has at least one record"));
    }
    let table_at = out.len();
    out.resize(table_at + table_size(frames.len()), 0);
    let mut entries = Vec::with_capacity(frames.len());
    for (from, to, s) in &frames {
        let raw = records.get(*from..*to).unwrap_or_default();
        let at = out.len();
        out.resize(at + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
        let n = lz4_flex::block::compress_into(raw, &mut out[at..]).map_err(|e| {
            FormatError::Decompress {
                codec: "lz4",
                reason: alloc::string::ToString::to_string(&e),
            }
        })?;
        out.truncate(at + n);
        let delta = |seq: u64| {
            u32::try_from(seq.wrapping_sub(base_seq))
                .map_err(|_| frame_error("a block spans more than 2^32 sequences"))
        };
        entries.push(RawFrameEntry {
            first_seq_delta: U32::new(delta(s.first_seq)?),
            last_seq_delta: U32::new(delta(s.last_seq)?),
            stored_len: U32::new(n as u32),
            raw_len: U32::new((to - from) as u32),
            checksum: U32::new(kernel_crc32(&out[at..at + n])),
            record_count: U32::new(s.count),
            type_bits: U64::new(s.type_bits),
            min_time: I64::new(s.min_time),
            max_time: I64::new(s.max_time),
            path_bloom: U64::new(s.path_bloom),
        });
    }
    let entry_bytes = entries.as_bytes();
    let head = &mut out[table_at..table_at + table_size(entries.len())];
    head[..4].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    head[4..8].copy_from_slice(&kernel_crc32(entry_bytes).to_le_bytes());
    head[FRAME_TABLE_HEAD_SIZE..].copy_from_slice(entry_bytes);
    Ok(())
}

/// A block's frame table, checked: its crc, and frames that tile the stored data and
/// the records exactly, in increasing sequence order.
#[derive(Clone, Debug)]
pub struct FrameTable {
    frames: Vec<FrameInfo>,
}

impl FrameTable {
    /// Parses the table at the start of a framed block's stored data. `prefix` may be
    /// shorter than the stored data (`compressed_size` bytes), but must hold the table;
    /// `base_seq` is the block's first sequence (its id) and `uncompressed_size` its
    /// records' size.
    pub fn parse(
        prefix: &[u8],
        base_seq: u64,
        compressed_size: u32,
        uncompressed_size: u32,
    ) -> Result<FrameTable> {
        let head = prefix
            .get(..FRAME_TABLE_HEAD_SIZE)
            .ok_or(FormatError::Truncated {
                what: "frame table",
                offset: 0,
                needed: FRAME_TABLE_HEAD_SIZE,
                available: prefix.len(),
            })?;
        let word = |i: usize| {
            head.get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes)
        };
        let (count, crc) = (word(0) as usize, word(4));
        if count == 0 {
            return Err(frame_error("no frames"));
        }
        let size = table_size(count);
        if size > compressed_size as usize {
            return Err(FormatError::SizeMismatch {
                field: "frame count",
                declared: count as u64,
                expected: (compressed_size as usize).saturating_sub(FRAME_TABLE_HEAD_SIZE) as u64
                    / FRAME_ENTRY_SIZE as u64,
            });
        }
        let entry_bytes =
            prefix
                .get(FRAME_TABLE_HEAD_SIZE..size)
                .ok_or(FormatError::Truncated {
                    what: "frame table",
                    offset: 0,
                    needed: size,
                    available: prefix.len(),
                })?;
        let computed = kernel_crc32(entry_bytes);
        if computed != crc {
            return Err(FormatError::ChecksumMismatch {
                what: "frame table",
                stored: crc,
                computed,
            });
        }
        let raw = <[RawFrameEntry]>::ref_from_bytes(entry_bytes)
            .map_err(|_| frame_error("entries are not whole"))?;
        let mut frames = Vec::with_capacity(count);
        let (mut stored_offset, mut raw_offset) = (size, 0usize);
        for e in raw {
            let (first, last) = (e.first_seq_delta.get(), e.last_seq_delta.get());
            let follows = frames
                .last()
                .is_none_or(|p: &FrameInfo| u64::from(first) > p.last_seq - base_seq);
            if last < first || !follows || (frames.is_empty() && first != 0) {
                return Err(frame_error(
                    "frame sequences do not increase from the block id",
                ));
            }
            if e.record_count.get() == 0 || e.raw_len.get() == 0 {
                return Err(frame_error("an empty frame"));
            }
            // A block id near the top of the sequence space cannot hold the frame.
            let last_seq = base_seq
                .checked_add(u64::from(last))
                .ok_or_else(|| frame_error("frame sequences pass the largest sequence"))?;
            let info = FrameInfo {
                first_seq: base_seq + u64::from(first),
                last_seq,
                stored_offset,
                stored_len: e.stored_len.get(),
                raw_len: e.raw_len.get(),
                raw_offset,
                checksum: e.checksum.get(),
                record_count: e.record_count.get(),
                type_bits: e.type_bits.get(),
                min_time: e.min_time.get(),
                max_time: e.max_time.get(),
                path_bloom: e.path_bloom.get(),
            };
            stored_offset += info.stored_len as usize;
            raw_offset += info.raw_len as usize;
            frames.push(info);
        }
        if stored_offset != compressed_size as usize {
            return Err(FormatError::SizeMismatch {
                field: "compressed_size",
                declared: u64::from(compressed_size),
                expected: stored_offset as u64,
            });
        }
        if raw_offset != uncompressed_size as usize {
            return Err(FormatError::SizeMismatch {
                field: "uncompressed_size",
                declared: u64::from(uncompressed_size),
                expected: raw_offset as u64,
            });
        }
        Ok(FrameTable { frames })
    }

    /// The frames, in sequence order.
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }

    /// The frame that holds `seq` if the block does.
    pub fn frame_of(&self, seq: u64) -> Option<&FrameInfo> {
        self.frames.get(self.index_of(seq)?)
    }

    /// The index of the frame that holds `seq` if the block does.
    pub fn index_of(&self, seq: u64) -> Option<usize> {
        let i = self
            .frames
            .partition_point(|f| f.first_seq <= seq)
            .checked_sub(1)?;
        self.frames.get(i).filter(|f| seq <= f.last_seq).map(|_| i)
    }

    /// Total records in the frames.
    pub fn record_count(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.record_count)).sum()
    }
}

/// Checks one frame's stored bytes against its entry and decodes them into `out`
/// (replacing its contents).
#[cfg(feature = "lz4")]
pub fn decode_frame(info: &FrameInfo, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.resize(info.raw_len as usize, 0);
    let decoded = decode_frame_into(info, stored, out);
    if decoded.is_err() {
        out.clear();
    }
    decoded
}

/// Checks one frame's stored bytes against its entry (length, crc) and decodes them
/// into `out`, which must be exactly `raw_len` bytes.
#[cfg(feature = "lz4")]
pub fn decode_frame_into(info: &FrameInfo, stored: &[u8], out: &mut [u8]) -> Result<()> {
    if stored.len() != info.stored_len as usize {
        return Err(FormatError::Truncated {
            what: "frame",
            offset: info.stored_offset,
            needed: info.stored_len as usize,
            available: stored.len(),
        });
    }
    let computed = kernel_crc32(stored);
    if computed != info.checksum {
        return Err(FormatError::ChecksumMismatch {
            what: "frame",
            stored: info.checksum,
            computed,
        });
    }
    decode_unchecked(info, stored, out)
}

/// Decodes one frame into `out` (exactly `raw_len` bytes) without checking its crc.
#[cfg(feature = "lz4")]
fn decode_unchecked(info: &FrameInfo, stored: &[u8], out: &mut [u8]) -> Result<()> {
    if out.len() != info.raw_len as usize {
        return Err(FormatError::SizeMismatch {
            field: "frame output",
            declared: out.len() as u64,
            expected: u64::from(info.raw_len),
        });
    }
    let produced =
        lz4_flex::block::decompress_into(stored, out).map_err(|e| FormatError::Decompress {
            codec: "lz4",
            reason: alloc::string::ToString::to_string(&e),
        })?;
    if produced != out.len() {
        return Err(FormatError::SizeMismatch {
            field: "frame raw_len",
            declared: u64::from(info.raw_len),
            expected: produced as u64,
        });
    }
    Ok(())
}

/// The stored bytes of `info` within a block's stored data.
pub fn frame_bytes<'a>(stored: &'a [u8], info: &FrameInfo) -> Result<&'a [u8]> {
    stored
        .get(info.stored_offset..info.stored_offset + info.stored_len as usize)
        .ok_or(FormatError::Truncated {
            what: "frame",
            offset: info.stored_offset,
            needed: info.stored_len as usize,
            available: stored.len().saturating_sub(info.stored_offset),
        })
}

/// Decodes every frame of a framed block's stored data into `out` (replacing it),
/// checking the table's crc and — with `check_frames`; a caller that has just checked
/// the block checksum over the same bytes may skip it — each frame's crc.
#[cfg(feature = "lz4")]
pub fn decode_all(
    stored: &[u8],
    base_seq: u64,
    uncompressed_size: u32,
    check_frames: bool,
    out: &mut Vec<u8>,
) -> Result<FrameTable> {
    let table = FrameTable::parse(stored, base_seq, stored.len() as u32, uncompressed_size)?;
    out.clear();
    out.resize(uncompressed_size as usize, 0);
    for info in table.frames() {
        let bytes = frame_bytes(stored, info)?;
        let to = out
            .get_mut(info.raw_offset..info.raw_offset + info.raw_len as usize)
            .ok_or(frame_error("a frame lies outside the records"))?;
        if check_frames {
            decode_frame_into(info, bytes, to)?;
        } else {
            decode_unchecked(info, bytes, to)?;
        }
    }
    Ok(table)
}

/// Checks, record by record in block order, that every frame entry describes its
/// records exactly (sequences, count, type bits, times, path bloom) and that no record
/// crosses a frame boundary: fed the records a full block check parses anyway.
#[derive(Debug)]
pub struct FrameChecker<'t> {
    table: &'t FrameTable,
    next: usize,
    current: Summary,
}

impl<'t> FrameChecker<'t> {
    /// A checker for the frames of `table`.
    pub fn new(table: &'t FrameTable) -> Self {
        FrameChecker {
            table,
            next: 0,
            current: Summary::default(),
        }
    }

    /// The record `view` at `offset` of the block's records, `len` bytes long.
    pub fn push(&mut self, offset: usize, len: usize, view: &RecordView<'_>) -> Result<()> {
        while let Some(f) = self.table.frames.get(self.next) {
            if offset < f.raw_offset + f.raw_len as usize {
                break;
            }
            self.finish_frame()?;
        }
        let inside = self.table.frames.get(self.next).is_some_and(|f| {
            offset >= f.raw_offset && offset + len <= f.raw_offset + f.raw_len as usize
        });
        if !inside {
            return Err(FormatError::Malformed {
                what: "frame table",
                offset,
                reason: "a record crosses a frame boundary",
            });
        }
        self.current.push(view);
        Ok(())
    }

    /// Checks the frames not finished yet; call after the last record.
    pub fn finish(mut self) -> Result<()> {
        while self.next < self.table.frames.len() {
            self.finish_frame()?;
        }
        Ok(())
    }

    fn finish_frame(&mut self) -> Result<()> {
        let summary = core::mem::take(&mut self.current);
        let Some(info) = self.table.frames.get(self.next) else {
            return Ok(());
        };
        self.next += 1;
        let described = Summary {
            count: info.record_count,
            first_seq: info.first_seq,
            last_seq: info.last_seq,
            type_bits: info.type_bits,
            min_time: info.min_time,
            max_time: info.max_time,
            path_bloom: info.path_bloom,
        };
        if summary != described {
            return Err(FormatError::Malformed {
                what: "frame table",
                offset: info.raw_offset,
                reason: "a frame entry disagrees with the records it holds",
            });
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "lz4"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn layout_is_pinned() {
        assert_eq!(core::mem::size_of::<RawFrameEntry>(), 56);
        assert_eq!(table_size(3), 8 + 3 * 56);
        assert_eq!(core::mem::offset_of!(RawFrameEntry, checksum), 16);
        assert_eq!(core::mem::offset_of!(RawFrameEntry, type_bits), 24);
        assert_eq!(core::mem::offset_of!(RawFrameEntry, path_bloom), 48);
    }

    /// A table whose frames would pass the largest sequence is an error, not an
    /// overflow (found by the `block` fuzz target).
    #[test]
    fn frames_past_the_largest_sequence_are_refused() {
        let entry = RawFrameEntry {
            first_seq_delta: U32::new(0),
            last_seq_delta: U32::new(5),
            stored_len: U32::new(10),
            raw_len: U32::new(100),
            checksum: U32::new(0),
            record_count: U32::new(6),
            type_bits: U64::new(1),
            min_time: I64::new(0),
            max_time: I64::new(0),
            path_bloom: U64::new(0),
        };
        let mut table = Vec::new();
        table.extend_from_slice(&1u32.to_le_bytes());
        table.extend_from_slice(&kernel_crc32(entry.as_bytes()).to_le_bytes());
        table.extend_from_slice(entry.as_bytes());
        let stored = (table.len() + 10) as u32;
        assert!(FrameTable::parse(&table, 1_000, stored, 100).is_ok());
        for base in [u64::MAX - 4, u64::MAX] {
            let err = FrameTable::parse(&table, base, stored, 100).unwrap_err();
            assert!(err.to_string().contains("largest sequence"), "{err}");
        }
    }

    #[test]
    fn path_bloom_sets_every_directory_prefix_and_the_path() {
        let bits = path_bloom(b"/models/llama/weights.bin");
        for p in [&b"/"[..], b"/models/", b"/models/llama/"] {
            let bit = prefix_bloom_bit(p).unwrap();
            assert_ne!(bits & bit, 0, "{p:?}");
        }
        assert_eq!(prefix_bloom_bit(b"/models"), None);
        assert_eq!(prefix_bloom_bit(b""), None);
        assert_eq!(path_bloom(b""), 0);
        // FNV-1a 64 of "/" is 0xaf63_a24c_8601_89fe: bit 43 (its top six bits).
        assert_eq!(prefix_bloom_bit(b"/"), Some(1 << 43));
    }
}
