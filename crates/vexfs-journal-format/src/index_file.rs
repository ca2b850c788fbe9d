//! The `<segment>.idx` file: the persisted index of one segment (written and loaded by
//! `vexfs-journal-index`). Little-endian throughout:
//!
//! Header ([`HEADER_SIZE`] = 32 + 24 × [`SECTIONS`] + 8 = 208 bytes):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `USJX` |
//! | 4 | 4 | version (3) |
//! | 8 | 8 | segment first sequence |
//! | 16 | 8 | covered end: segment byte offset after the last indexed block |
//! | 24 | 4 | block count *n* |
//! | 28 | 4 | section count (7) |
//! | 32 | 7 × 24 | sections: offset u64, length u64, crc u32, reserved u32 |
//! | 200 | 4 | kernel crc32 of bytes 0..200 |
//! | 204 | 4 | reserved (0, outside the checksum) |
//!
//! Sections, each with its kernel crc32 in the header:
//!
//! 0. block summaries, *n* × [`SUMMARY_SIZE`] = 56 bytes: first seq u64, last seq u64,
//!    min time i64, max time i64, type bits u64, visibility OR u64, event count u32,
//!    priority bits u8, flags u8 ([`SUMMARY_COORDINATED`]), 2 reserved bytes;
//! 1. paths and 2. agents: u32 term count, then per term (sorted, distinct): u32
//!    length, the bytes, u32 posting count, LEB128 deltas of the block ordinals;
//! 3. transactions: u32 count, then per id (sorted, distinct): u64 id, u32 posting
//!    count, LEB128 deltas;
//! 4. counts (for rate statistics, [`BlockCounts`]): u32 block count *n*, then per
//!    block: u64 AND of the visibility masks, LEB128 entry count, per entry (type codes
//!    increasing) LEB128 type code and LEB128 events; then u32 agent count, per agent
//!    id (sorted, distinct, the empty id for events without one): u32 length, the
//!    bytes, u32 posting count, per posting LEB128 block delta and LEB128 events;
//! 5. causal references, encoded as 3: event id → blocks holding events that name it
//!    as parent, or as cause or effect of a causality link (not their own id);
//! 6. foreign ids, encoded as 3: event id → blocks holding the event with that id when
//!    the id is not its sequence (imported events).
//!
//! Version 1 files (four sections, no counts, no causality) and version 2 files (no
//! summary flags) are refused like any other version and rebuilt.
//!
//! A file that does not check is rebuilt from its segment.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use bstr::BString;

use crate::bytes::{ByteReader, check_crc, put_varint};
use crate::checksum::kernel_crc32;
use crate::error::{FormatError, Result};
use crate::types::{EventType, Priority};

/// Magic of index files, `"USJX"`.
pub const INDEX_MAGIC: u32 = 0x5553_4A58;
/// Index file version.
pub const INDEX_VERSION: u32 = 3;
/// Sections of an index file.
pub const SECTIONS: usize = 7;
/// Offset of the section table in the header.
pub const SECTION_TABLE_OFFSET: usize = 32;
/// Bytes per section table entry.
pub const SECTION_ENTRY_SIZE: usize = 24;
/// Offset of the header checksum (just after the section table).
pub const HEADER_CRC_OFFSET: usize = SECTION_TABLE_OFFSET + SECTIONS * SECTION_ENTRY_SIZE;
/// Header bytes.
pub const HEADER_SIZE: usize = HEADER_CRC_OFFSET + 8;
/// Bytes per block summary.
pub const SUMMARY_SIZE: usize = 56;

/// Bit of [`BlockSummary::type_bits`] meaning "a type outside the taxonomy".
pub const UNKNOWN_TYPE_BIT: u64 = 1 << 63;
/// Bit of [`BlockSummary::prio_bits`] meaning "a priority outside 1–5".
pub const OTHER_PRIORITY_BIT: u8 = 0x80;
/// Bit of [`BlockSummary::flags`]: the block holds a record of a coordinated
/// transaction (a member or a marker: `cross_boundary_id` ≠ 0), so a read-committed
/// reader reads it to learn the journal's transactions and skips the others.
pub const SUMMARY_COORDINATED: u8 = 1;

/// The type bit of `t` in [`BlockSummary::type_bits`].
pub fn type_bit(t: EventType) -> u64 {
    t.known_index().map_or(UNKNOWN_TYPE_BIT, |i| 1 << i)
}

/// The priority bit of `p` in [`BlockSummary::prio_bits`].
pub fn prio_bit(p: Priority) -> u8 {
    match p.code() {
        c @ 1..=5 => 1 << (c - 1),
        _ => OTHER_PRIORITY_BIT,
    }
}

/// What one block holds, enough to skip it for most queries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockSummary {
    /// Journal sequence of the first event.
    pub first_seq: u64,
    /// Journal sequence of the last event.
    pub last_seq: u64,
    /// Earliest event time, ns.
    pub min_time: i64,
    /// Latest event time, ns.
    pub max_time: i64,
    /// Types present: bit *i* = the *i*-th known type, [`UNKNOWN_TYPE_BIT`] = others.
    pub type_bits: u64,
    /// OR of the events' agent visibility masks.
    pub vis_or: u64,
    /// Priorities present: bit *p-1* = priority *p*, [`OTHER_PRIORITY_BIT`] = others.
    pub prio_bits: u8,
    /// Events in the block.
    pub count: u32,
    /// [`SUMMARY_COORDINATED`]; other bits are zero.
    pub flags: u8,
}

/// Sorted terms and the sorted, distinct block ordinals holding each.
pub type Postings<K> = BTreeMap<K, Vec<u32>>;

/// The three term sections, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexTerms {
    /// Path → blocks.
    pub paths: Postings<BString>,
    /// Agent id → blocks.
    pub agents: Postings<BString>,
    /// Transaction id → blocks.
    pub txs: Postings<u64>,
    /// Event id → blocks of events referring to it (parent, link cause or effect).
    pub refs: Postings<u64>,
    /// Event id → blocks of the event with that id, when it is not its sequence.
    pub ids: Postings<u64>,
}

/// The term sections and the counts, borrowed for encoding.
#[derive(Clone, Copy, Debug)]
pub struct TermsRef<'a> {
    /// Path → blocks.
    pub paths: &'a Postings<BString>,
    /// Agent id → blocks.
    pub agents: &'a Postings<BString>,
    /// Transaction id → blocks.
    pub txs: &'a Postings<u64>,
    /// Per-block counts.
    pub counts: &'a BlockCounts,
    /// Event id → blocks of events referring to it.
    pub refs: &'a Postings<u64>,
    /// Foreign event id → blocks.
    pub ids: &'a Postings<u64>,
}

/// Per-block event counts, enough to answer rate statistics without reading events:
/// events per type and per agent id, and the AND of the visibility masks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockCounts {
    /// Per block: AND of its events' visibility masks.
    pub vis_and: Vec<u64>,
    /// Per block: the end of its entries in `types` (block *i*'s entries are
    /// `types[type_ends[i-1]..type_ends[i]]`).
    pub type_ends: Vec<u32>,
    /// `(type code, events)`, codes increasing within a block.
    pub types: Vec<(u32, u32)>,
    /// Agent id (empty for events without one) → `(block, events)`, blocks increasing.
    pub agents: BTreeMap<BString, Vec<(u32, u32)>>,
}

impl BlockCounts {
    /// Blocks counted.
    pub fn blocks(&self) -> usize {
        self.vis_and.len()
    }

    /// `(type code, events)` of block `block` (empty beyond the last).
    pub fn types_of(&self, block: usize) -> &[(u32, u32)] {
        let end = self.type_ends.get(block).copied().unwrap_or(0) as usize;
        let start = match block.checked_sub(1) {
            Some(p) => self.type_ends.get(p).copied().unwrap_or(0) as usize,
            None => 0,
        };
        self.types.get(start..end).unwrap_or_default()
    }

    /// Appends a block: its visibility AND and its `(type code, events)`, codes
    /// increasing.
    pub fn push_block(&mut self, vis_and: u64, types: &[(u32, u32)]) {
        self.vis_and.push(vis_and);
        self.types.extend_from_slice(types);
        self.type_ends.push(self.types.len() as u32);
    }

    /// Keeps the first `kept` blocks.
    pub fn truncate(&mut self, kept: usize) {
        if kept >= self.blocks() {
            return;
        }
        self.vis_and.truncate(kept);
        self.type_ends.truncate(kept);
        let end = self.type_ends.last().copied().unwrap_or(0) as usize;
        self.types.truncate(end);
        for list in self.agents.values_mut() {
            list.retain(|(b, _)| (*b as usize) < kept);
        }
        self.agents.retain(|_, l| !l.is_empty());
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.vis_and.len() * 12
            + self.types.len() * 8
            + self
                .agents
                .iter()
                .map(|(k, v)| k.len() + v.len() * 8 + 64)
                .sum::<usize>()
    }
}

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
    /// Per-block counts.
    pub const COUNTS: usize = 4;
    /// Causal reference postings.
    pub const REFS: usize = 5;
    /// Foreign event id postings.
    pub const IDS: usize = 6;
}

fn put_postings(out: &mut Vec<u8>, blocks: &[u32]) {
    out.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    let mut prev = 0u32;
    for (i, b) in blocks.iter().enumerate() {
        put_varint(out, u64::from(if i == 0 { *b } else { b - prev }));
        prev = *b;
    }
}

fn read_postings(c: &mut ByteReader<'_>, block_count: u32) -> Result<Vec<u32>> {
    let n = c.u32()? as usize;
    // Each posting takes at least one byte: never trust a count beyond the bytes left.
    let mut out = Vec::with_capacity(n.min(c.remaining()));
    let mut prev: u64 = 0;
    for i in 0..n {
        let d = c.varint()?;
        let v = if i == 0 {
            d
        } else {
            prev.checked_add(d)
                .ok_or_else(|| c.malformed("posting overflows"))?
        };
        if (i > 0 && d == 0) || v >= u64::from(block_count) {
            return Err(c.malformed("postings not increasing or beyond the block count"));
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
) -> Result<Postings<BString>> {
    let mut c = ByteReader::new(buf, what);
    let n = c.u32()?;
    let mut map = Postings::new();
    let mut last: Option<BString> = None;
    for _ in 0..n {
        let len = c.u32()? as usize;
        let key = BString::from(c.take(len)?);
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(c.malformed("terms not sorted"));
        }
        let postings = read_postings(&mut c, block_count)?;
        last = Some(key.clone());
        map.insert(key, postings);
    }
    if !c.is_empty() {
        return Err(c.malformed("bytes after the last term"));
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

fn decode_tx_terms(buf: &[u8], what: &'static str, block_count: u32) -> Result<Postings<u64>> {
    let mut c = ByteReader::new(buf, what);
    let n = c.u32()?;
    let mut map = Postings::new();
    let mut last: Option<u64> = None;
    for _ in 0..n {
        let key = c.u64()?;
        if last.is_some_and(|l| l >= key) {
            return Err(c.malformed("ids not sorted"));
        }
        last = Some(key);
        map.insert(key, read_postings(&mut c, block_count)?);
    }
    if !c.is_empty() {
        return Err(c.malformed("bytes after the last id"));
    }
    Ok(map)
}

fn encode_counts(counts: &BlockCounts) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(counts.blocks() as u32).to_le_bytes());
    for (i, vis) in counts.vis_and.iter().enumerate() {
        out.extend_from_slice(&vis.to_le_bytes());
        let types = counts.types_of(i);
        put_varint(&mut out, types.len() as u64);
        for (code, n) in types {
            put_varint(&mut out, u64::from(*code));
            put_varint(&mut out, u64::from(*n));
        }
    }
    out.extend_from_slice(&(counts.agents.len() as u32).to_le_bytes());
    for (agent, list) in &counts.agents {
        out.extend_from_slice(&(agent.len() as u32).to_le_bytes());
        out.extend_from_slice(agent);
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        let mut prev = 0u32;
        for (i, (b, n)) in list.iter().enumerate() {
            put_varint(&mut out, u64::from(if i == 0 { *b } else { b - prev }));
            put_varint(&mut out, u64::from(*n));
            prev = *b;
        }
    }
    out
}

/// A LEB128 value that must fit a u32.
fn varint_u32(c: &mut ByteReader<'_>) -> Result<u32> {
    let v = c.varint()?;
    u32::try_from(v).map_err(|_| c.malformed("count beyond 32 bits"))
}

/// Decodes the counts section of an index of `block_count` blocks.
pub fn decode_counts(buf: &[u8], block_count: u32) -> Result<BlockCounts> {
    let mut c = ByteReader::new(buf, "index counts");
    if c.u32()? != block_count {
        return Err(c.malformed("counts of another number of blocks"));
    }
    let mut out = BlockCounts::default();
    // Each block takes at least nine bytes: never trust a count beyond the bytes left.
    let cap = (block_count as usize).min(c.remaining() / 9);
    out.vis_and.reserve_exact(cap);
    out.type_ends.reserve_exact(cap);
    let mut entries = Vec::new();
    for _ in 0..block_count {
        let vis = c.u64()?;
        let k = c.varint()?;
        entries.clear();
        let mut last: Option<u32> = None;
        for _ in 0..k {
            let code = varint_u32(&mut c)?;
            let n = varint_u32(&mut c)?;
            if last.is_some_and(|l| l >= code) || n == 0 {
                return Err(c.malformed("type counts not increasing or zero"));
            }
            last = Some(code);
            entries.push((code, n));
        }
        out.push_block(vis, &entries);
    }
    let agents = c.u32()?;
    let mut last: Option<BString> = None;
    for _ in 0..agents {
        let len = c.u32()? as usize;
        let key = BString::from(c.take(len)?);
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(c.malformed("agents not sorted"));
        }
        let n = c.u32()? as usize;
        let mut list = Vec::with_capacity(n.min(c.remaining() / 2));
        let mut prev: u64 = 0;
        for i in 0..n {
            let d = c.varint()?;
            let b = if i == 0 {
                d
            } else {
                prev.checked_add(d)
                    .ok_or_else(|| c.malformed("posting overflows"))?
            };
            let events = varint_u32(&mut c)?;
            if (i > 0 && d == 0) || b >= u64::from(block_count) || events == 0 {
                return Err(
                    c.malformed("agent counts not increasing, empty or beyond the block count")
                );
            }
            list.push((b as u32, events));
            prev = b;
        }
        last = Some(key.clone());
        out.agents.insert(key, list);
    }
    if !c.is_empty() {
        return Err(c.malformed("bytes after the last agent"));
    }
    Ok(out)
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
        out.extend_from_slice(&[b.prio_bits, b.flags, 0, 0]);
    }
    out
}

/// Decodes the block summaries section.
pub fn decode_summaries(buf: &[u8], block_count: u32) -> Result<Vec<BlockSummary>> {
    let what = "index block summaries";
    if buf.len() != block_count as usize * SUMMARY_SIZE {
        return Err(FormatError::SizeMismatch {
            field: "index block summaries length",
            declared: buf.len() as u64,
            expected: u64::from(block_count) * SUMMARY_SIZE as u64,
        });
    }
    let mut c = ByteReader::new(buf, what);
    let mut out = Vec::with_capacity(block_count as usize);
    for _ in 0..block_count {
        let (first_seq, last_seq, min_time, max_time) = (c.u64()?, c.u64()?, c.i64()?, c.i64()?);
        let (type_bits, vis_or, count) = (c.u64()?, c.u64()?, c.u32()?);
        let [prio_bits, flags, ..] = c.array::<4>()?;
        let s = BlockSummary {
            first_seq,
            last_seq,
            min_time,
            max_time,
            type_bits,
            vis_or,
            prio_bits,
            count,
            flags,
        };
        if s.last_seq < s.first_seq || s.max_time < s.min_time || s.count == 0 {
            return Err(c.malformed("summary ranges are inverted or empty"));
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
    terms: TermsRef<'_>,
) -> Vec<u8> {
    let sections = [
        encode_summaries(blocks),
        encode_string_terms(terms.paths),
        encode_string_terms(terms.agents),
        encode_tx_terms(terms.txs),
        encode_counts(terms.counts),
        encode_tx_terms(terms.refs),
        encode_tx_terms(terms.ids),
    ];
    let mut out = alloc::vec![0u8; HEADER_SIZE];
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
pub fn decode_header(buf: &[u8], file_len: u64) -> Result<IndexHeader> {
    let what = "index header";
    let head = buf.get(..HEADER_SIZE).ok_or(FormatError::Truncated {
        what,
        offset: 0,
        needed: HEADER_SIZE,
        available: buf.len(),
    })?;
    let mut c = ByteReader::new(head, what);
    let magic = c.u32()?;
    if magic != INDEX_MAGIC {
        return Err(FormatError::BadMagic {
            what,
            expected: INDEX_MAGIC,
            found: magic,
        });
    }
    // The version first: an older file's header has another size, so its checksum
    // would not even be found.
    let version = c.u32()?;
    if version != INDEX_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what,
            found: version,
            supported: INDEX_VERSION,
        });
    }
    let mut tail = ByteReader::with_base(
        head.get(HEADER_CRC_OFFSET..).unwrap_or_default(),
        HEADER_CRC_OFFSET,
        what,
    );
    let stored_crc = tail.u32()?;
    check_crc(
        head.get(..HEADER_CRC_OFFSET).unwrap_or_default(),
        stored_crc,
        what,
    )?;
    // The last word is outside the checksum: it must be exactly zero.
    tail.zeros(4)?;
    let mut h = IndexHeader {
        first_seq: c.u64()?,
        covered_end: c.u64()?,
        block_count: c.u32()?,
        ..Default::default()
    };
    if c.u32()? as usize != SECTIONS {
        return Err(c.malformed_at(28, "unexpected section count"));
    }
    for slot in h.sections.iter_mut() {
        let (off, len, crc) = (c.u64()?, c.u64()?, c.u32()?);
        c.u32()?;
        if off < HEADER_SIZE as u64 || off.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(c.malformed("section outside the file"));
        }
        *slot = (off, len, crc);
    }
    Ok(h)
}

/// Checks a section's bytes against its crc.
pub fn check_section(bytes: &[u8], crc: u32, what: &'static str) -> Result<()> {
    check_crc(bytes, crc, what)
}

/// Decodes the three term sections.
pub fn decode_terms(s: TermSections<'_>, block_count: u32) -> Result<IndexTerms> {
    Ok(IndexTerms {
        paths: decode_string_terms(s.paths, "index paths", block_count)?,
        agents: decode_string_terms(s.agents, "index agents", block_count)?,
        txs: decode_tx_terms(s.txs, "index transactions", block_count)?,
        refs: decode_tx_terms(s.refs, "index causal references", block_count)?,
        ids: decode_tx_terms(s.ids, "index foreign ids", block_count)?,
    })
}

/// The term sections' bytes (the counts, section 4, decode apart).
#[derive(Clone, Copy, Debug)]
pub struct TermSections<'a> {
    /// Section 1.
    pub paths: &'a [u8],
    /// Section 2.
    pub agents: &'a [u8],
    /// Section 3.
    pub txs: &'a [u8],
    /// Section 5.
    pub refs: &'a [u8],
    /// Section 6.
    pub ids: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<BlockSummary>, IndexTerms) {
        let blocks: Vec<BlockSummary> = (0..3)
            .map(|i| BlockSummary {
                first_seq: 1 + i * 10,
                last_seq: 10 + i * 10,
                min_time: 100 * i as i64,
                max_time: 100 * i as i64 + 50,
                type_bits: 1 << i,
                vis_or: u64::MAX,
                prio_bits: 4,
                flags: (i % 2) as u8,
                count: 10,
            })
            .collect();
        let mut terms = IndexTerms::default();
        terms.paths.insert("/a".into(), alloc::vec![0, 2]);
        terms.agents.insert("planner".into(), alloc::vec![0, 1, 2]);
        terms.txs.insert(42, alloc::vec![2]);
        terms.refs.insert(11, alloc::vec![1, 2]);
        terms.ids.insert(1 << 40, alloc::vec![0]);
        (blocks, terms)
    }

    /// Counts of the three sample blocks.
    fn counts() -> BlockCounts {
        let mut c = BlockCounts::default();
        c.push_block(1, &[(0x0101, 4), (0x0104, 6)]);
        c.push_block(u64::MAX, &[(0x0201, 10)]);
        c.push_block(0, &[(0x0101, 1), (0x0302, 2), (0xBEEF, 7)]);
        c.agents.insert("".into(), alloc::vec![(0, 10), (2, 3)]);
        c.agents
            .insert("planner".into(), alloc::vec![(1, 10), (2, 7)]);
        c
    }

    fn refs<'a>(t: &'a IndexTerms, c: &'a BlockCounts) -> TermsRef<'a> {
        TermsRef {
            paths: &t.paths,
            agents: &t.agents,
            txs: &t.txs,
            counts: c,
            refs: &t.refs,
            ids: &t.ids,
        }
    }

    fn terms_of<'a>(sec: impl Fn(usize) -> &'a [u8]) -> TermSections<'a> {
        TermSections {
            paths: sec(1),
            agents: sec(2),
            txs: sec(3),
            refs: sec(5),
            ids: sec(6),
        }
    }

    #[test]
    fn sizes_and_offsets_are_pinned() {
        let (blocks, terms) = sample();
        let bytes = encode_index(7, 9999, &blocks, refs(&terms, &counts()));
        let u32_at = |o: usize| ByteReader::new(&bytes[o..], "t").u32().unwrap();
        let u64_at = |o: usize| ByteReader::new(&bytes[o..], "t").u64().unwrap();
        assert_eq!(&bytes[0..4], b"XJSU");
        assert_eq!(u32_at(4), 3);
        assert_eq!(u64_at(8), 7);
        assert_eq!(u64_at(16), 9999);
        assert_eq!(u32_at(24), 3);
        assert_eq!(u32_at(28), 7);
        assert_eq!(u64_at(SECTION_TABLE_OFFSET), HEADER_SIZE as u64);
        assert_eq!(u64_at(SECTION_TABLE_OFFSET + 8), 3 * SUMMARY_SIZE as u64);
        assert_eq!(
            u64_at(SECTION_TABLE_OFFSET + SECTION_ENTRY_SIZE),
            (HEADER_SIZE + 3 * SUMMARY_SIZE) as u64
        );
        assert_eq!(SECTION_TABLE_OFFSET + SECTIONS * SECTION_ENTRY_SIZE, 200);
        assert_eq!((HEADER_CRC_OFFSET, HEADER_SIZE), (200, 208));
        assert_eq!(u32_at(HEADER_CRC_OFFSET), kernel_crc32(&bytes[..200]));
        assert_eq!(u32_at(204), 0);
        // Sections 5 and 6 follow the counts, each in the transactions' encoding.
        let refs_off = u64_at(SECTION_TABLE_OFFSET + 5 * SECTION_ENTRY_SIZE) as usize;
        assert_eq!(u32_at(refs_off), 1);
        assert_eq!(u64_at(refs_off + 4), 11);
        assert_eq!(u32_at(refs_off + 12), 2);
        assert_eq!(&bytes[refs_off + 16..refs_off + 18], &[1, 1]);
        // The counts section: block count, then the first block's visibility AND, its
        // two entries (LEB128 code and count).
        let c = u64_at(SECTION_TABLE_OFFSET + 4 * SECTION_ENTRY_SIZE) as usize;
        assert_eq!(u32_at(c), 3);
        assert_eq!(u64_at(c + 4), 1);
        assert_eq!(&bytes[c + 12..c + 19], &[2, 0x81, 0x02, 4, 0x84, 0x02, 6]);
        // The second summary: first/last seq, times, type bits, visibility, count, prio,
        // flags.
        let s = HEADER_SIZE + SUMMARY_SIZE;
        assert_eq!(u64_at(s), 11);
        assert_eq!(u64_at(s + 8), 20);
        assert_eq!(u64_at(s + 16), 100);
        assert_eq!(u64_at(s + 24), 150);
        assert_eq!(u64_at(s + 32), 2);
        assert_eq!(u64_at(s + 40), u64::MAX);
        assert_eq!(u32_at(s + 48), 10);
        assert_eq!(&bytes[s + 52..s + 56], &[4, 1, 0, 0]);
    }

    #[test]
    fn round_trip_and_damage() {
        let (blocks, mut terms) = sample();
        terms.paths.insert("/b".into(), alloc::vec![1]);
        let bytes = encode_index(7, 9999, &blocks, refs(&terms, &counts()));
        let h = decode_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!((h.first_seq, h.covered_end, h.block_count), (7, 9999, 3));
        let sec = |i: usize| {
            let (o, l, crc) = h.sections[i];
            let s = &bytes[o as usize..(o + l) as usize];
            check_section(s, crc, "x").unwrap();
            s
        };
        assert_eq!(decode_summaries(sec(0), 3).unwrap(), blocks);
        assert_eq!(decode_terms(terms_of(sec), 3).unwrap(), terms);
        assert_eq!(decode_counts(sec(4), 3).unwrap(), counts());
        assert_eq!(
            counts().types_of(2),
            &[(0x0101, 1), (0x0302, 2), (0xBEEF, 7)]
        );
        assert!(counts().types_of(3).is_empty());
        // A posting beyond the block count is refused.
        assert!(decode_terms(terms_of(sec), 2).is_err());
        assert!(decode_counts(sec(4), 2).is_err());
        for len in 0..sec(4).len() {
            assert!(decode_counts(&sec(4)[..len], 3).is_err());
        }
        let mut cut = counts();
        cut.truncate(1);
        assert_eq!(cut.blocks(), 1);
        assert_eq!(cut.types, alloc::vec![(0x0101, 4), (0x0104, 6)]);
        assert_eq!(cut.agents.len(), 1);
        // Every bit flip of the header is refused.
        for bit in 0..HEADER_SIZE * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&b, b.len() as u64).is_err(), "bit {bit}");
        }
        for len in 0..HEADER_SIZE {
            assert!(decode_header(&bytes[..len], len as u64).is_err());
        }
        // Truncated sections are errors, never panics.
        for len in 0..sec(1).len() {
            let mut t = terms_of(sec);
            t.paths = &sec(1)[..len];
            assert!(decode_terms(t, 3).is_err());
        }
        for len in 0..sec(5).len() {
            let mut t = terms_of(sec);
            t.refs = &sec(5)[..len];
            assert!(decode_terms(t, 3).is_err());
        }
        for len in 0..sec(0).len() {
            assert!(decode_summaries(&sec(0)[..len], 3).is_err());
        }
    }
}
