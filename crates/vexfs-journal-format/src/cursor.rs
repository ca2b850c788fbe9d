//! The binary body of a query cursor. A cursor is handed to users as text
//! (`vxc2_` and this body in unpadded URL-safe base64) and may be stored by them, so
//! its bytes are as fixed as any file's. Layout, little-endian:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 16 | journal id (UUID bytes) |
//! | 16 | 8 | sequence of the last event returned |
//! | 24 | 1 | flags: 1 = reverse query, 0 = forward (other values are refused) |
//! | 25 | 8 | journal generation when taken (absent in version 1 cursors) |
//! | 33 (25 in v1) | 4 | kernel crc32 of the bytes before |

use alloc::vec::Vec;

use crate::bytes::{ByteReader, check_crc, split_crc};
use crate::checksum::kernel_crc32;
use crate::error::{FormatError, Result};

/// Bytes of a cursor body (version 2, with the generation).
pub const CURSOR_SIZE: usize = 37;
/// Bytes of a version 1 cursor body (no generation).
pub const CURSOR_V1_SIZE: usize = 29;

/// The fields of a cursor body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CursorBytes {
    /// The journal it belongs to.
    pub journal_id: [u8; 16],
    /// Sequence of the last event returned.
    pub seq: u64,
    /// Whether it continues a reverse query.
    pub reverse: bool,
    /// The journal's generation when it was taken (0 for version 1 cursors).
    pub generation: u64,
}

/// Encodes a (version 2) cursor body.
pub fn encode_cursor(c: &CursorBytes) -> Vec<u8> {
    let mut raw = Vec::with_capacity(CURSOR_SIZE);
    raw.extend_from_slice(&c.journal_id);
    raw.extend_from_slice(&c.seq.to_le_bytes());
    raw.push(u8::from(c.reverse));
    raw.extend_from_slice(&c.generation.to_le_bytes());
    let crc = kernel_crc32(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    raw
}

/// Decodes a cursor body: [`CURSOR_SIZE`] bytes, or [`CURSOR_V1_SIZE`] for version 1.
pub fn decode_cursor(raw: &[u8]) -> Result<CursorBytes> {
    let what = "cursor";
    if raw.len() != CURSOR_SIZE && raw.len() != CURSOR_V1_SIZE {
        return Err(FormatError::SizeMismatch {
            field: "cursor length",
            declared: raw.len() as u64,
            expected: CURSOR_SIZE as u64,
        });
    }
    let (body, stored) = split_crc(raw, what)?;
    check_crc(body, stored, what)?;
    let mut r = ByteReader::new(body, what);
    let journal_id = r.array::<16>()?;
    let seq = r.u64()?;
    let flags = r.u8()?;
    let generation = if r.is_empty() { 0 } else { r.u64()? };
    if flags > 1 {
        return Err(r.malformed_at(24, "unknown flags"));
    }
    Ok(CursorBytes {
        journal_id,
        seq,
        reverse: flags == 1,
        generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_damage() {
        let c = CursorBytes {
            journal_id: [3; 16],
            seq: 0x0102_0304,
            reverse: true,
            generation: 9,
        };
        let b = encode_cursor(&c);
        assert_eq!(b.len(), CURSOR_SIZE);
        assert_eq!(&b[..16], &[3; 16]);
        assert_eq!(&b[16..24], &0x0102_0304u64.to_le_bytes());
        assert_eq!(b[24], 1);
        assert_eq!(&b[25..33], &9u64.to_le_bytes());
        assert_eq!(&b[33..], &kernel_crc32(&b[..33]).to_le_bytes());
        assert_eq!(decode_cursor(&b).unwrap(), c);
        for bit in 0..b.len() * 8 {
            let mut f = b.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_cursor(&f).is_err(), "bit {bit}");
        }
        for len in 0..b.len() {
            assert!(decode_cursor(&b[..len]).is_err());
        }
        // Version 1: no generation.
        let mut v1 = b[..25].to_vec();
        let crc = kernel_crc32(&v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_cursor(&v1).unwrap(),
            CursorBytes { generation: 0, ..c }
        );
    }
}
