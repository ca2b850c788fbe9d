//! The block table written at the end of a sealed segment.
//!
//! When a segment is sealed (rotation or compaction) the writer appends a table of its
//! blocks and stores its offset in the file header's `index_offset` field — the field
//! the kernel header reserves for an index section. Readers then locate any block of a
//! sealed segment without scanning it. Layout (little-endian):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `USJI` |
//! | 4 | 4 | version (1) |
//! | 8 | 4 | block count *n* |
//! | 12 | 4 | reserved (0) |
//! | 16 | 56 × *n* | entries ([`BlockEntry`]) |
//! | 16 + 56 *n* | 4 | kernel crc32 of all preceding footer bytes |

use alloc::vec::Vec;

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::bytes::{ByteReader, check_crc, put_varint, split_crc};
use crate::checksum::kernel_crc32;
use crate::error::{FormatError, Result};

/// Footer magic, `"USJI"`.
pub const FOOTER_MAGIC: u32 = 0x5553_4A49;
/// Footer format version.
pub const FOOTER_VERSION: u32 = 1;
/// Bytes before the entries.
pub const FOOTER_PREFIX_SIZE: usize = 16;
/// Bytes of one entry.
pub const BLOCK_ENTRY_SIZE: usize = 56;

/// Where one block lives and what it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BlockEntry {
    /// Journal sequence of the first event (also the block id).
    pub first_seq: u64,
    /// Journal sequence of the last event.
    pub last_seq: u64,
    /// Byte offset of the block header in the segment.
    pub offset: u64,
    /// Smallest event time in the block, ns.
    pub min_time: i64,
    /// Largest event time in the block, ns.
    pub max_time: i64,
    /// `block_size`.
    pub size: u32,
    /// Events in the block.
    pub event_count: u32,
    /// Bytes of the block's records before compression.
    pub raw_size: u32,
    /// Reserved (0).
    pub reserved: u32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
#[repr(C)]
struct RawBlockEntry {
    first_seq: U64,
    last_seq: U64,
    offset: U64,
    min_time: I64,
    max_time: I64,
    size: U32,
    event_count: U32,
    raw_size: U32,
    reserved: U32,
}

const _: () = assert!(core::mem::size_of::<RawBlockEntry>() == BLOCK_ENTRY_SIZE);

/// Bytes of a footer with `blocks` entries.
pub fn footer_size(blocks: usize) -> usize {
    FOOTER_PREFIX_SIZE + blocks * BLOCK_ENTRY_SIZE + 4
}

/// Appends the footer for `entries` to `out`.
pub fn encode_footer(entries: &[BlockEntry], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&FOOTER_MAGIC.to_le_bytes());
    out.extend_from_slice(&FOOTER_VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for e in entries {
        let raw = RawBlockEntry {
            first_seq: U64::new(e.first_seq),
            last_seq: U64::new(e.last_seq),
            offset: U64::new(e.offset),
            min_time: I64::new(e.min_time),
            max_time: I64::new(e.max_time),
            size: U32::new(e.size),
            event_count: U32::new(e.event_count),
            raw_size: U32::new(e.raw_size),
            reserved: U32::new(e.reserved),
        };
        out.extend_from_slice(raw.as_bytes());
    }
    let crc = kernel_crc32(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Decodes a footer that fills `buf` exactly.
pub fn decode_footer(buf: &[u8]) -> Result<Vec<BlockEntry>> {
    let what = "segment footer";
    let mut r = ByteReader::new(buf, what);
    let magic = r.u32()?;
    if magic != FOOTER_MAGIC {
        return Err(FormatError::BadMagic {
            what,
            expected: FOOTER_MAGIC,
            found: magic,
        });
    }
    let version = r.u32()?;
    let count = r.u32()? as usize;
    let size = footer_size(count);
    if buf.len() != size {
        return Err(FormatError::SizeMismatch {
            field: "segment footer length",
            declared: buf.len() as u64,
            expected: size as u64,
        });
    }
    let (all, stored) = split_crc(buf, what)?;
    check_crc(all, stored, what)?;
    if version != FOOTER_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what,
            found: version,
            supported: FOOTER_VERSION,
        });
    }
    // The reserved word is covered by the checksum and not interpreted.
    r.skip(4)?;
    let body = r.take(count * BLOCK_ENTRY_SIZE)?;
    let raws = <[RawBlockEntry]>::ref_from_bytes(body).map_err(|_| FormatError::Truncated {
        what,
        offset: FOOTER_PREFIX_SIZE,
        needed: count * BLOCK_ENTRY_SIZE,
        available: body.len(),
    })?;
    Ok(raws
        .iter()
        .map(|r| BlockEntry {
            first_seq: r.first_seq.get(),
            last_seq: r.last_seq.get(),
            offset: r.offset.get(),
            min_time: r.min_time.get(),
            max_time: r.max_time.get(),
            size: r.size.get(),
            event_count: r.event_count.get(),
            raw_size: r.raw_size.get(),
            reserved: r.reserved.get(),
        })
        .collect())
}

/// A block table packed for keeping in memory: each entry as the difference from what
/// the entry before it predicts (blocks follow each other in sequence and in the file,
/// times grow slowly), in LEB128 varints. A sealed segment's table takes 10–18 bytes a
/// block this way instead of 56, so a journal of 100 M events keeps every table in
/// memory for a few tens of MiB and unpacks one only while it is used.
///
/// Every [`RESTART_INTERVAL`]th entry is packed on its own (a restart point, as in
/// LevelDB's blocks): [`CompactTable::find`] bisects the restart points and unpacks at
/// most one interval, so a point lookup needs no unpacked table.
///
/// Lossless for any entries (differences wrap), so what [`CompactTable::unpack`]
/// returns is exactly what [`CompactTable::pack`] was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactTable {
    bytes: alloc::boxed::Box<[u8]>,
    /// First sequence and byte offset of each restart point.
    restarts: alloc::boxed::Box<[(u64, u32)]>,
    len: usize,
}

/// Entries between two restart points of a [`CompactTable`].
pub const RESTART_INTERVAL: usize = 16;

impl CompactTable {
    /// Packs `entries`.
    pub fn pack(entries: &[BlockEntry]) -> CompactTable {
        let mut out = Vec::with_capacity(entries.len() * 12);
        let mut restarts = Vec::with_capacity(entries.len().div_ceil(RESTART_INTERVAL));
        let mut prev = BlockEntry::default();
        for (i, e) in entries.iter().enumerate() {
            if i.is_multiple_of(RESTART_INTERVAL) {
                restarts.push((e.first_seq, out.len() as u32));
                prev = BlockEntry::default();
            }
            let next_seq = prev.last_seq.wrapping_add(1);
            let span = e.last_seq.wrapping_sub(e.first_seq);
            put_varint(&mut out, e.first_seq.wrapping_sub(next_seq));
            put_varint(&mut out, span);
            put_varint(
                &mut out,
                e.offset
                    .wrapping_sub(prev.offset.wrapping_add(u64::from(prev.size))),
            );
            put_varint(&mut out, u64::from(e.size));
            put_varint(
                &mut out,
                u64::from(e.event_count.wrapping_sub((span as u32).wrapping_add(1))),
            );
            put_varint(&mut out, u64::from(e.raw_size));
            put_varint(&mut out, zigzag(e.min_time.wrapping_sub(prev.min_time)));
            put_varint(&mut out, zigzag(e.max_time.wrapping_sub(e.min_time)));
            put_varint(&mut out, u64::from(e.reserved));
            prev = *e;
        }
        CompactTable {
            bytes: out.into_boxed_slice(),
            restarts: restarts.into_boxed_slice(),
            len: entries.len(),
        }
    }

    /// The entries, as given to [`CompactTable::pack`].
    pub fn unpack(&self) -> Result<Vec<BlockEntry>> {
        let mut out = Vec::with_capacity(self.len);
        let mut r = ByteReader::new(&self.bytes, "packed block table");
        let mut prev = BlockEntry::default();
        for i in 0..self.len {
            if i.is_multiple_of(RESTART_INTERVAL) {
                prev = BlockEntry::default();
            }
            prev = next_entry(&mut r, &prev)?;
            out.push(prev);
        }
        Ok(out)
    }

    /// The last entry whose first sequence is at most `seq`, and its ordinal — for a
    /// table in increasing sequence order, as a segment's is. Unpacks at most
    /// [`RESTART_INTERVAL`] entries.
    pub fn find(&self, seq: u64) -> Result<Option<(usize, BlockEntry)>> {
        let Some(k) = self
            .restarts
            .partition_point(|(first, _)| *first <= seq)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        let at = self.restarts.get(k).map_or(0, |(_, at)| *at as usize);
        let start = k * RESTART_INTERVAL;
        let rest = self.bytes.get(at..).unwrap_or_default();
        let mut r = ByteReader::with_base(rest, at, "packed block table");
        let mut prev = BlockEntry::default();
        let mut found = None;
        for i in start..self.len.min(start + RESTART_INTERVAL) {
            let e = next_entry(&mut r, &prev)?;
            if e.first_seq > seq {
                break;
            }
            found = Some((i, e));
            prev = e;
        }
        Ok(found)
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the packed entries and restart points take.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len() + self.restarts.len() * core::mem::size_of::<(u64, u32)>()
    }
}

/// Unpacks the entry after `prev` (the default entry at a restart point).
fn next_entry(r: &mut ByteReader<'_>, prev: &BlockEntry) -> Result<BlockEntry> {
    let first_seq = prev.last_seq.wrapping_add(1).wrapping_add(r.varint()?);
    let span = r.varint()?;
    let offset = prev
        .offset
        .wrapping_add(u64::from(prev.size))
        .wrapping_add(r.varint()?);
    let size = r.varint()? as u32;
    let event_count = (r.varint()? as u32).wrapping_add((span as u32).wrapping_add(1));
    let raw_size = r.varint()? as u32;
    let min_time = prev.min_time.wrapping_add(unzigzag(r.varint()?));
    let max_time = min_time.wrapping_add(unzigzag(r.varint()?));
    let reserved = r.varint()? as u32;
    Ok(BlockEntry {
        first_seq,
        last_seq: first_seq.wrapping_add(span),
        offset,
        min_time,
        max_time,
        size,
        event_count,
        raw_size,
        reserved,
    })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Magic of the clean-shutdown marker, `"USJC"`.
pub const CLEAN_MAGIC: u32 = 0x5553_4A43;

/// Version of the clean-shutdown marker.
pub const CLEAN_VERSION: u32 = 1;
/// Bytes of the clean-shutdown marker before its block table.
pub const CLEAN_HEADER_SIZE: usize = 28;

/// The clean-shutdown marker (`CLEAN` in a journal directory): written when a journal
/// closes cleanly, it records the open segment's length and block table so the next
/// open skips scanning it. Layout, little-endian:
///
/// | off | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `USJC` |
/// | 4 | 4 | version (1) |
/// | 8 | 8 | open segment's first sequence |
/// | 16 | 8 | open segment's length |
/// | 24 | 4 | kernel crc32 of bytes 0..24 |
/// | 28 | … | the segment's block table ([`encode_footer`]) |
pub fn encode_clean_marker(first_seq: u64, end: u64, entries: &[BlockEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CLEAN_HEADER_SIZE + footer_size(entries.len()));
    out.extend_from_slice(&CLEAN_MAGIC.to_le_bytes());
    out.extend_from_slice(&CLEAN_VERSION.to_le_bytes());
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
    let crc = kernel_crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    encode_footer(entries, &mut out);
    out
}

/// Decodes a clean-shutdown marker into (first sequence, segment length, blocks).
pub fn decode_clean_marker(buf: &[u8]) -> Result<(u64, u64, Vec<BlockEntry>)> {
    let what = "clean-shutdown marker";
    if buf.len() < CLEAN_HEADER_SIZE {
        return Err(FormatError::Truncated {
            what,
            offset: 0,
            needed: CLEAN_HEADER_SIZE,
            available: buf.len(),
        });
    }
    let mut r = ByteReader::new(buf, what);
    let magic = r.u32()?;
    if magic != CLEAN_MAGIC {
        return Err(FormatError::BadMagic {
            what,
            expected: CLEAN_MAGIC,
            found: magic,
        });
    }
    let version = r.u32()?;
    let first_seq = r.u64()?;
    let end = r.u64()?;
    let stored = r.u32()?;
    check_crc(buf.get(..24).unwrap_or_default(), stored, what)?;
    if version != CLEAN_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what,
            found: version,
            supported: CLEAN_VERSION,
        });
    }
    let blocks = decode_footer(r.rest())?;
    Ok((first_seq, end, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_bit_flip() {
        let entries: Vec<BlockEntry> = (0..3u64)
            .map(|i| BlockEntry {
                first_seq: 1 + i * 10,
                last_seq: 10 + i * 10,
                offset: 128 + i * 4000,
                min_time: -5 + i as i64,
                max_time: 1_000 + i as i64,
                size: 4000,
                event_count: 10,
                raw_size: 9000,
                reserved: 0,
            })
            .collect();
        let mut bytes = Vec::new();
        encode_footer(&entries, &mut bytes);
        assert_eq!(bytes.len(), footer_size(3));
        assert_eq!(decode_footer(&bytes).unwrap(), entries);
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_footer(&flipped).is_err(), "bit {bit}");
        }
        for len in 0..bytes.len() {
            assert!(decode_footer(&bytes[..len]).is_err());
        }
        let mut empty = Vec::new();
        encode_footer(&[], &mut empty);
        assert_eq!(decode_footer(&empty).unwrap(), vec![]);
    }

    fn entry() -> impl proptest::strategy::Strategy<Value = BlockEntry> {
        use proptest::prelude::*;
        (
            (any::<u64>(), any::<u64>(), any::<u64>()),
            (any::<i64>(), any::<i64>()),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(|((f, l, o), (a, b), (s, c, r, x))| BlockEntry {
                first_seq: f,
                last_seq: l,
                offset: o,
                min_time: a,
                max_time: b,
                size: s,
                event_count: c,
                raw_size: r,
                reserved: x,
            })
    }

    proptest::proptest! {
        /// Any entries, however unordered or extreme, come back exactly.
        // Checks I51 (docs/invariants.md).
        #[test]
        fn a_packed_table_unpacks_to_what_was_packed(
            entries in proptest::collection::vec(entry(), 0..40)
        ) {
            let packed = CompactTable::pack(&entries);
            proptest::prop_assert_eq!(packed.len(), entries.len());
            proptest::prop_assert_eq!(packed.unpack().unwrap(), entries);
        }

        /// In a table in sequence order, `find` agrees with a search of the whole.
        #[test]
        fn find_agrees_with_a_search_of_the_unpacked_table(
            counts in proptest::collection::vec(1u64..5, 0..300),
            probes in proptest::collection::vec(0u64..1200, 1..50),
        ) {
            let mut entries = Vec::new();
            let mut seq = 10;
            for (i, c) in counts.iter().enumerate() {
                entries.push(BlockEntry {
                    first_seq: seq,
                    last_seq: seq + c - 1,
                    offset: 128 + i as u64 * 100,
                    size: 100,
                    event_count: *c as u32,
                    ..BlockEntry::default()
                });
                // Gaps now and then.
                seq += c + u64::from(i % 7 == 3);
            }
            let packed = CompactTable::pack(&entries);
            for seq in probes {
                let want = entries
                    .partition_point(|e| e.first_seq <= seq)
                    .checked_sub(1)
                    .map(|i| (i, entries[i]));
                proptest::prop_assert_eq!(packed.find(seq).unwrap(), want, "seq {}", seq);
            }
        }
    }

    #[test]
    fn a_written_segment_table_packs_small() {
        // What a writer produces: contiguous sequences and offsets, growing times.
        let mut entries = Vec::new();
        let (mut seq, mut offset, mut time) = (1_000_001u64, 128u64, 1_764_000_000_000_000_000i64);
        for i in 0..1000u32 {
            let (count, size) = (45 + i % 10, 9_000 + (i * 37) % 4_000);
            entries.push(BlockEntry {
                first_seq: seq,
                last_seq: seq + u64::from(count) - 1,
                offset,
                min_time: time,
                max_time: time + i64::from(count) * 1_000,
                size,
                event_count: count,
                raw_size: 16_000 + i % 300,
                reserved: 0,
            });
            seq += u64::from(count);
            offset += u64::from(size);
            time += i64::from(count) * 1_000 + 17;
        }
        let packed = CompactTable::pack(&entries);
        assert_eq!(packed.unpack().unwrap(), entries);
        assert!(
            packed.heap_bytes() <= 18 * entries.len(),
            "{} bytes",
            packed.heap_bytes()
        );
        assert_eq!(CompactTable::pack(&[]).unpack().unwrap(), vec![]);
    }
}
