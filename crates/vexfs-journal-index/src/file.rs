//! The `<segment>.idx` file: the persisted index of one segment.
//!
//! ```text
//! header (136 bytes)
//!   0  magic "USJX" (u32 0x55534A58)      4  version (1)
//!   8  segment first sequence (u64)       16 covered end: segment byte offset after the
//!                                            last indexed block (u64)
//!   24 block count (u32)                  28 section count (4)
//!   32 4 × section {offset u64, length u64, crc u32, reserved u32}
//!   128 crc of bytes 0..128 (u32)         132 reserved (0)
//! section 0: block summaries, 56 bytes each (first/last seq, min/max time, type bits,
//!            visibility OR, count, priority bits, 3 reserved bytes)
//! section 1: paths, section 2: agents — u32 term count, then per term: u32 length,
//!            bytes, u32 posting count, LEB128 deltas of the block ordinals
//! section 3: transactions — u32 count, then per id: u64 id, u32 count, LEB128 deltas
//! ```
//!
//! Every section and the header carry a kernel crc32; a file that does not check is
//! rebuilt from the segment.

use vexfs_journal_format::checksum::kernel_crc32;
use vexfs_journal_format::{BString, FormatError};

use crate::segment_index::{BlockSummary, Postings, Terms};

/// Magic of index files, `"USJX"`.
pub const INDEX_MAGIC: u32 = 0x5553_4A58;
/// Index file version.
pub const INDEX_VERSION: u32 = 1;
/// Header bytes.
pub const HEADER_SIZE: usize = 136;
/// Bytes per block summary.
pub const SUMMARY_SIZE: usize = 56;
const SECTIONS: usize = 4;

/// The fixed part of an index file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexHeader {
    /// The segment's first sequence.
    pub first_seq: u64,
    /// Segment byte offset after the last indexed block.
    pub covered_end: u64,
    /// Blocks indexed.
    pub block_count: u32,
    /// `(offset, length, crc)` of each section.
    pub sections: [(u64, u64, u32); SECTIONS],
}

/// Section numbers.
pub mod section {
    /// Block summaries.
    pub const BLOCKS: usize = 0;
    /// Path postings.
    pub const PATHS: usize = 1;
    /// Agent postings.
    pub const AGENTS: usize = 2;
    /// Transaction postings.
    pub const TXS: usize = 3;
}

fn bad(what: &'static str, offset: usize, reason: &'static str) -> FormatError {
    FormatError::Malformed {
        what,
        offset,
        reason,
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let out = end
            .and_then(|e| self.buf.get(self.pos..e))
            .ok_or(FormatError::Truncated {
                what: self.what,
                offset: self.pos,
                needed: n,
                available: self.buf.len().saturating_sub(self.pos),
            })?;
        self.pos += n;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(self.u64()? as i64)
    }
    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.take(1)?.first().unwrap_or(&0);
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad(self.what, self.pos, "varint longer than 10 bytes"))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_postings(out: &mut Vec<u8>, blocks: &[u32]) {
    out.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    let mut prev = 0u32;
    for (i, b) in blocks.iter().enumerate() {
        put_varint(out, u64::from(if i == 0 { *b } else { b - prev }));
        prev = *b;
    }
}

fn read_postings(c: &mut Cursor<'_>, block_count: u32) -> Result<Vec<u32>, FormatError> {
    let n = c.u32()? as usize;
    // Each posting takes at least one byte: never trust a count beyond the bytes left.
    let mut out = Vec::with_capacity(n.min(c.buf.len().saturating_sub(c.pos)));
    let mut prev: u64 = 0;
    for i in 0..n {
        let d = c.varint()?;
        let v = if i == 0 {
            d
        } else {
            prev.checked_add(d)
                .ok_or(bad(c.what, c.pos, "posting overflows"))?
        };
        if (i > 0 && d == 0) || v >= u64::from(block_count) {
            return Err(bad(
                c.what,
                c.pos,
                "postings not increasing or beyond the block count",
            ));
        }
        out.push(v as u32);
        prev = v;
    }
    Ok(out)
}

fn encode_string_terms(map: &Postings<BString>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(map.len() as u32).to_le_bytes());
    for (k, v) in map {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        put_postings(&mut out, v);
    }
    out
}

fn decode_string_terms(
    buf: &[u8],
    what: &'static str,
    block_count: u32,
) -> Result<Postings<BString>, FormatError> {
    let mut c = Cursor { buf, pos: 0, what };
    let n = c.u32()?;
    let mut map = Postings::new();
    let mut last: Option<BString> = None;
    for _ in 0..n {
        let len = c.u32()? as usize;
        let key = BString::from(c.take(len)?);
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(bad(what, c.pos, "terms not sorted"));
        }
        let postings = read_postings(&mut c, block_count)?;
        last = Some(key.clone());
        map.insert(key, postings);
    }
    if c.pos != buf.len() {
        return Err(bad(what, c.pos, "bytes after the last term"));
    }
    Ok(map)
}

fn encode_tx_terms(map: &Postings<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(map.len() as u32).to_le_bytes());
    for (k, v) in map {
        out.extend_from_slice(&k.to_le_bytes());
        put_postings(&mut out, v);
    }
    out
}

fn decode_tx_terms(buf: &[u8], block_count: u32) -> Result<Postings<u64>, FormatError> {
    let what = "index transactions";
    let mut c = Cursor { buf, pos: 0, what };
    let n = c.u32()?;
    let mut map = Postings::new();
    let mut last: Option<u64> = None;
    for _ in 0..n {
        let key = c.u64()?;
        if last.is_some_and(|l| l >= key) {
            return Err(bad(what, c.pos, "transaction ids not sorted"));
        }
        last = Some(key);
        map.insert(key, read_postings(&mut c, block_count)?);
    }
    if c.pos != buf.len() {
        return Err(bad(what, c.pos, "bytes after the last transaction"));
    }
    Ok(map)
}

fn encode_summaries(blocks: &[BlockSummary]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blocks.len() * SUMMARY_SIZE);
    for b in blocks {
        out.extend_from_slice(&b.first_seq.to_le_bytes());
        out.extend_from_slice(&b.last_seq.to_le_bytes());
        out.extend_from_slice(&b.min_time.to_le_bytes());
        out.extend_from_slice(&b.max_time.to_le_bytes());
        out.extend_from_slice(&b.type_bits.to_le_bytes());
        out.extend_from_slice(&b.vis_or.to_le_bytes());
        out.extend_from_slice(&b.count.to_le_bytes());
        out.extend_from_slice(&[b.prio_bits, 0, 0, 0]);
    }
    out
}

/// Decodes the block summaries section.
pub fn decode_summaries(buf: &[u8], block_count: u32) -> Result<Vec<BlockSummary>, FormatError> {
    let what = "index block summaries";
    if buf.len() != block_count as usize * SUMMARY_SIZE {
        return Err(FormatError::SizeMismatch {
            field: "index block summaries length",
            declared: buf.len() as u64,
            expected: u64::from(block_count) * SUMMARY_SIZE as u64,
        });
    }
    let mut c = Cursor { buf, pos: 0, what };
    let mut out = Vec::with_capacity(block_count as usize);
    for _ in 0..block_count {
        let s = BlockSummary {
            first_seq: c.u64()?,
            last_seq: c.u64()?,
            min_time: c.i64()?,
            max_time: c.i64()?,
            type_bits: c.u64()?,
            vis_or: c.u64()?,
            count: c.u32()?,
            prio_bits: *c.take(4)?.first().unwrap_or(&0),
        };
        if s.last_seq < s.first_seq || s.max_time < s.min_time || s.count == 0 {
            return Err(bad(what, c.pos, "summary ranges are inverted or empty"));
        }
        out.push(s);
    }
    Ok(out)
}

/// The whole file for a segment index and its terms.
pub fn encode_index(
    first_seq: u64,
    covered_end: u64,
    blocks: &[BlockSummary],
    terms: &Terms,
) -> Vec<u8> {
    let sections = [
        encode_summaries(blocks),
        encode_string_terms(&terms.paths),
        encode_string_terms(&terms.agents),
        encode_tx_terms(&terms.txs),
    ];
    let mut out = vec![0u8; HEADER_SIZE];
    let mut table = [(0u64, 0u64, 0u32); SECTIONS];
    for (i, s) in sections.iter().enumerate() {
        table[i] = (out.len() as u64, s.len() as u64, kernel_crc32(s));
        out.extend_from_slice(s);
    }
    let mut h = Vec::with_capacity(HEADER_SIZE);
    h.extend_from_slice(&INDEX_MAGIC.to_le_bytes());
    h.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    h.extend_from_slice(&first_seq.to_le_bytes());
    h.extend_from_slice(&covered_end.to_le_bytes());
    h.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    h.extend_from_slice(&(SECTIONS as u32).to_le_bytes());
    for (off, len, crc) in table {
        h.extend_from_slice(&off.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
    }
    let crc = kernel_crc32(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    out[..HEADER_SIZE].copy_from_slice(&h);
    out
}

/// Parses and checks a header; `file_len` bounds the sections.
pub fn decode_header(buf: &[u8], file_len: u64) -> Result<IndexHeader, FormatError> {
    let what = "index header";
    let head = buf.get(..HEADER_SIZE).ok_or(FormatError::Truncated {
        what,
        offset: 0,
        needed: HEADER_SIZE,
        available: buf.len(),
    })?;
    let mut c = Cursor {
        buf: head,
        pos: 0,
        what,
    };
    let magic = c.u32()?;
    if magic != INDEX_MAGIC {
        return Err(FormatError::BadMagic {
            what,
            expected: INDEX_MAGIC,
            found: magic,
        });
    }
    let stored_crc = u32::from_le_bytes([head[128], head[129], head[130], head[131]]);
    let computed = kernel_crc32(&head[..128]);
    if stored_crc != computed {
        return Err(FormatError::ChecksumMismatch {
            what,
            stored: stored_crc,
            computed,
        });
    }
    // The last word is outside the checksum: it must be exactly zero.
    if head[132..HEADER_SIZE].iter().any(|b| *b != 0) {
        return Err(bad(what, 132, "reserved bytes are not zero"));
    }
    let version = c.u32()?;
    if version != INDEX_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what,
            found: version,
            supported: INDEX_VERSION,
        });
    }
    let mut h = IndexHeader {
        first_seq: c.u64()?,
        covered_end: c.u64()?,
        block_count: c.u32()?,
        ..Default::default()
    };
    if c.u32()? as usize != SECTIONS {
        return Err(bad(what, 28, "unexpected section count"));
    }
    for slot in h.sections.iter_mut() {
        let (off, len, crc) = (c.u64()?, c.u64()?, c.u32()?);
        c.u32()?;
        if off < HEADER_SIZE as u64 || off.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(bad(what, c.pos, "section outside the file"));
        }
        *slot = (off, len, crc);
    }
    Ok(h)
}

/// Checks a section's bytes against its crc.
pub fn check_section(bytes: &[u8], crc: u32, what: &'static str) -> Result<(), FormatError> {
    let computed = kernel_crc32(bytes);
    if computed != crc {
        return Err(FormatError::ChecksumMismatch {
            what,
            stored: crc,
            computed,
        });
    }
    Ok(())
}

/// Decodes the three term sections.
pub fn decode_terms(
    paths: &[u8],
    agents: &[u8],
    txs: &[u8],
    block_count: u32,
) -> Result<Terms, FormatError> {
    Ok(Terms {
        paths: decode_string_terms(paths, "index paths", block_count)?,
        agents: decode_string_terms(agents, "index agents", block_count)?,
        txs: decode_tx_terms(txs, block_count)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let blocks: Vec<BlockSummary> = (0..3)
            .map(|i| BlockSummary {
                first_seq: 1 + i * 10,
                last_seq: 10 + i * 10,
                min_time: 100 * i as i64,
                max_time: 100 * i as i64 + 50,
                type_bits: 1 << i,
                vis_or: u64::MAX,
                prio_bits: 4,
                count: 10,
            })
            .collect();
        let mut terms = Terms::default();
        terms.paths.insert("/a".into(), vec![0, 2]);
        terms.paths.insert("/b".into(), vec![1]);
        terms.agents.insert("planner".into(), vec![0, 1, 2]);
        terms.txs.insert(42, vec![2]);
        let bytes = encode_index(7, 9999, &blocks, &terms);
        let h = decode_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!((h.first_seq, h.covered_end, h.block_count), (7, 9999, 3));
        let sec = |i: usize| {
            let (o, l, crc) = h.sections[i];
            let s = &bytes[o as usize..(o + l) as usize];
            check_section(s, crc, "x").unwrap();
            s
        };
        assert_eq!(decode_summaries(sec(0), 3).unwrap(), blocks);
        assert_eq!(decode_terms(sec(1), sec(2), sec(3), 3).unwrap(), terms);
        // A posting beyond the block count is refused.
        assert!(decode_terms(sec(1), sec(2), sec(3), 2).is_err());
        // Every bit flip of the header is refused.
        for bit in 0..HEADER_SIZE * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&b, b.len() as u64).is_err(), "bit {bit}");
        }
        for len in 0..HEADER_SIZE {
            assert!(decode_header(&bytes[..len], len as u64).is_err());
        }
    }
}
