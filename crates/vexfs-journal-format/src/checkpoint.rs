//! Checkpoint files (`checkpoints/<id>.ckpt` in a journal directory).
//!
//! A checkpoint records a durable position of the journal: every event below
//! `durable_seq` was fsynced when it was taken, the block table of the open segment up
//! to that point (so recovery scans only what follows), and named consumer positions
//! (so replay can resume). Layout, little-endian:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `USJK` |
//! | 4 | 4 | version (1) |
//! | 8 | 8 | checkpoint id |
//! | 16 | 8 | creation time, ns since the epoch |
//! | 24 | 16 | journal id (UUID bytes) |
//! | 40 | 8 | durable sequence (exclusive) |
//! | 48 | 8 | open segment's first sequence |
//! | 56 | 8 | open segment's byte offset covered by the block table |
//! | 64 | 4 | consumer count *c* |
//! | 68 | … | *c* × (u16 name length, name bytes, u64 sequence) |
//! | … | … | block table of the open segment ([`crate::footer`] encoding) |
//! | end − 4 | 4 | kernel crc32 of everything before |

use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes::{ByteReader, check_crc, split_crc};
use crate::checksum::kernel_crc32;
use crate::error::{FormatError, Result};
use crate::footer::{BlockEntry, decode_footer, encode_footer};

/// Magic of checkpoint files, `"USJK"`.
pub const CHECKPOINT_MAGIC: u32 = 0x5553_4A4B;

/// The content of a checkpoint file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointData {
    /// Increasing id.
    pub id: u64,
    /// Creation time, ns since the epoch.
    pub created_ns: i64,
    /// The journal it belongs to.
    pub journal_id: [u8; 16],
    /// Every event below this sequence was durable.
    pub durable_seq: u64,
    /// First sequence of the segment that was open.
    pub segment_first_seq: u64,
    /// Offset in that segment up to which `blocks` describe it.
    pub segment_end: u64,
    /// Named consumer positions (last sequence each consumer processed).
    pub consumers: Vec<(String, u64)>,
    /// The open segment's blocks up to `segment_end`.
    pub blocks: Vec<BlockEntry>,
}

/// Encodes a checkpoint. Consumer names longer than 65535 bytes are cut at a
/// character boundary (names are identifiers chosen by the application).
pub fn encode_checkpoint(c: &CheckpointData) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&CHECKPOINT_MAGIC.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&c.id.to_le_bytes());
    out.extend_from_slice(&c.created_ns.to_le_bytes());
    out.extend_from_slice(&c.journal_id);
    out.extend_from_slice(&c.durable_seq.to_le_bytes());
    out.extend_from_slice(&c.segment_first_seq.to_le_bytes());
    out.extend_from_slice(&c.segment_end.to_le_bytes());
    out.extend_from_slice(&(c.consumers.len() as u32).to_le_bytes());
    for (name, seq) in &c.consumers {
        let mut end = name.len().min(u16::MAX as usize);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        out.extend_from_slice(&(end as u16).to_le_bytes());
        out.extend_from_slice(&name.as_bytes()[..end]);
        out.extend_from_slice(&seq.to_le_bytes());
    }
    encode_footer(&c.blocks, &mut out);
    let crc = kernel_crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and checks a checkpoint file.
pub fn decode_checkpoint(buf: &[u8]) -> Result<CheckpointData> {
    let (body, stored) = split_crc(buf, "checkpoint")?;
    let mut c = ByteReader::new(body, "checkpoint");
    let magic = c.u32()?;
    if magic != CHECKPOINT_MAGIC {
        return Err(FormatError::BadMagic {
            what: "checkpoint",
            expected: CHECKPOINT_MAGIC,
            found: magic,
        });
    }
    check_crc(body, stored, "checkpoint")?;
    let version = c.u32()?;
    if version != 1 {
        return Err(FormatError::UnsupportedVersion {
            what: "checkpoint",
            found: version,
            supported: 1,
        });
    }
    let id = c.u64()?;
    let created_ns = c.i64()?;
    let journal_id = c.array::<16>()?;
    let durable_seq = c.u64()?;
    let segment_first_seq = c.u64()?;
    let segment_end = c.u64()?;
    let n = c.u32()? as usize;
    // Each consumer takes at least 10 bytes: never reserve more than the bytes allow.
    let mut consumers = Vec::with_capacity(n.min(body.len() / 10));
    for _ in 0..n {
        let len = usize::from(c.u16()?);
        let name = core::str::from_utf8(c.take(len)?).map_err(|_| FormatError::Malformed {
            what: "checkpoint consumer name",
            offset: c.offset(),
            reason: "not UTF-8",
        })?;
        consumers.push((String::from(name), c.u64()?));
    }
    let blocks = decode_footer(c.rest())?;
    Ok(CheckpointData {
        id,
        created_ns,
        journal_id,
        durable_seq,
        segment_first_seq,
        segment_end,
        consumers,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn round_trip_every_flip_and_truncation() {
        let c = CheckpointData {
            id: 3,
            created_ns: 1_700_000_000_000_000_000,
            journal_id: [7; 16],
            durable_seq: 1001,
            segment_first_seq: 900,
            segment_end: 128 + 4000,
            consumers: alloc::vec![("indexer".to_string(), 950), ("".to_string(), 0)],
            blocks: alloc::vec![BlockEntry {
                first_seq: 900,
                last_seq: 1000,
                offset: 128,
                min_time: 1,
                max_time: 2,
                size: 4000,
                event_count: 101,
                raw_size: 9000,
                reserved: 0,
            }],
        };
        let bytes = encode_checkpoint(&c);
        assert_eq!(decode_checkpoint(&bytes).unwrap(), c);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_checkpoint(&b).is_err(), "bit {bit}");
        }
        for len in 0..bytes.len() {
            assert!(decode_checkpoint(&bytes[..len]).is_err());
        }
    }
}
