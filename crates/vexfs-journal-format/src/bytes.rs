//! The one byte reader every decoder of this crate uses.
//!
//! [`ByteReader`] walks a byte slice front to back, reading little-endian integers,
//! fixed arrays and slices. Every read is bounds-checked: short input is a
//! [`FormatError::Truncated`] naming the structure and the absolute byte offset, never a
//! panic, whatever the input.

use crate::error::{FormatError, Result};

/// A bounds-checked little-endian cursor over a byte slice.
///
/// Offsets in its errors are absolute: the slice starts at `base` in the enclosing
/// buffer (0 unless built with [`ByteReader::with_base`]).
#[derive(Clone, Debug)]
pub struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
}

impl<'a> ByteReader<'a> {
    /// Reads `buf`, a `what` (the structure named in errors) starting at byte 0.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self::with_base(buf, 0, what)
    }

    /// Reads `buf`, which starts at byte `base` of the enclosing buffer.
    pub fn with_base(buf: &'a [u8], base: usize, what: &'static str) -> Self {
        ByteReader {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    /// Names the structure read from here on (in errors).
    pub fn set_what(&mut self, what: &'static str) {
        self.what = what;
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Offset of the next byte within this reader's slice.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet (consumes nothing).
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(FormatError::Truncated {
                what: self.what,
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    /// Skips `n` bytes that must be zero (reserved fields).
    pub fn zeros(&mut self, n: usize) -> Result<()> {
        let at = self.offset();
        if self.take(n)?.iter().any(|b| *b != 0) {
            return Err(FormatError::Malformed {
                what: self.what,
                offset: at,
                reason: "reserved bytes are not zero",
            });
        }
        Ok(())
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 integer of at most 10 bytes.
    pub fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.malformed("varint longer than 10 bytes"))
    }

    /// A [`FormatError::Malformed`] at the current offset.
    pub fn malformed(&self, reason: &'static str) -> FormatError {
        self.malformed_at(self.offset(), reason)
    }

    /// A [`FormatError::Malformed`] at absolute offset `offset`.
    pub fn malformed_at(&self, offset: usize, reason: &'static str) -> FormatError {
        FormatError::Malformed {
            what: self.what,
            offset,
            reason,
        }
    }
}

/// Appends `v` as an unsigned LEB128 integer (what [`ByteReader::varint`] reads).
pub fn put_varint(out: &mut alloc::vec::Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Splits the trailing little-endian crc32 off `buf`: `(body, stored crc)`.
pub fn split_crc<'a>(buf: &'a [u8], what: &'static str) -> Result<(&'a [u8], u32)> {
    let body_len = buf.len().checked_sub(4).ok_or(FormatError::Truncated {
        what,
        offset: 0,
        needed: 4,
        available: buf.len(),
    })?;
    let (body, crc) = buf.split_at(body_len);
    let stored = ByteReader::with_base(crc, body_len, what).u32()?;
    Ok((body, stored))
}

/// Checks the kernel crc32 of `bytes` against `stored`.
pub fn check_crc(bytes: &[u8], stored: u32, what: &'static str) -> Result<()> {
    same_crc(stored, crate::checksum::kernel_crc32(bytes), what)
}

/// A [`FormatError::ChecksumMismatch`] of `what` unless `stored == computed`.
pub fn same_crc(stored: u32, computed: u32, what: &'static str) -> Result<()> {
    if stored != computed {
        return Err(FormatError::ChecksumMismatch {
            what,
            stored,
            computed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_reports_short_input() {
        let bytes = [1u8, 2, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0xAC, 0x02];
        let mut r = ByteReader::with_base(&bytes, 100, "sample");
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 2);
        assert_eq!(r.u32().unwrap(), 3);
        assert_eq!(r.u64().unwrap(), 4);
        assert_eq!(r.offset(), 115);
        assert_eq!(r.varint().unwrap(), 300);
        assert!(r.is_empty());
        assert_eq!(
            r.u32(),
            Err(FormatError::Truncated {
                what: "sample",
                offset: 117,
                needed: 4,
                available: 0,
            })
        );
        assert!(ByteReader::new(&[0xFF; 11], "v").varint().is_err());
        assert!(ByteReader::new(&[1], "z").zeros(1).is_err());
        let mut r = ByteReader::new(&[0; 3], "x");
        assert!(r.take(usize::MAX).is_err());
        assert_eq!(r.rest().len(), 3);
    }

    #[test]
    fn split_crc_never_panics() {
        for len in 0..8 {
            let buf = alloc::vec![7u8; len];
            assert_eq!(split_crc(&buf, "t").is_ok(), len >= 4);
        }
    }
}
