//! A resumable decoder of the LZ4 block format: it decodes a block a prefix at a time,
//! so a reader that needs only the first records of a block (a point read) stops as
//! soon as it has them, and can resume later where it stopped.
//!
//! The format: a block is a series of sequences, each a token byte (high nibble: number
//! of literals, low nibble: match length minus 4; 15 means more length bytes follow,
//! each added, until one below 255), the literals, then a 2-byte little-endian offset
//! back into the output and the match to copy from there (it may overlap its own
//! output). The last sequence has literals only and ends the input.
//!
//! Malformed input (a truncated sequence, an offset of 0 or before the start of the
//! output, output past the declared size, a block ending short of it) is an error,
//! never a panic.

use crate::error::{FormatError, Result};

/// Where decoding of one block stands: bytes of input consumed and of output produced.
/// Pass the same input and output buffer to every call on one value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lz4Prefix {
    input: usize,
    output: usize,
    done: bool,
}

fn corrupt(reason: &'static str) -> FormatError {
    FormatError::Decompress {
        codec: "lz4",
        reason: reason.into(),
    }
}

/// Reads an extended length (the bytes after a nibble of 15).
#[inline]
fn extend_len(input: &[u8], ip: &mut usize, mut len: usize) -> Result<usize> {
    loop {
        let b = *input
            .get(*ip)
            .ok_or_else(|| corrupt("length runs past the end of the input"))?;
        *ip += 1;
        len += usize::from(b);
        if b != 255 {
            return Ok(len);
        }
    }
}

/// Decodes a whole LZ4 block into `out`, which must be exactly its uncompressed size
/// (the faster decoder when every byte is wanted; nothing is zero-filled first).
pub fn decode_whole(input: &[u8], out: &mut [u8]) -> Result<()> {
    let n = lz4_flex::block::decompress_into(input, out).map_err(|e| FormatError::Decompress {
        codec: "lz4",
        reason: alloc::string::ToString::to_string(&e),
    })?;
    if n != out.len() {
        return Err(FormatError::SizeMismatch {
            field: "uncompressed_size",
            declared: out.len() as u64,
            expected: n as u64,
        });
    }
    Ok(())
}

/// Copies a match of `len` bytes at `at` from `offset` bytes back, `N` bytes at a time
/// (`offset >= N`, so each chunk's source is written before it); writes up to `N - 1`
/// bytes past the match, which the caller has room for and overwrites later.
#[inline(always)]
fn copy_chunks<const N: usize>(out: &mut [u8], at: usize, offset: usize, len: usize) {
    let mut to = at;
    while to < at + len {
        let (done, rest) = out.split_at_mut(to);
        rest[..N].copy_from_slice(&done[to - offset..to - offset + N]);
        to += N;
    }
}

impl Lz4Prefix {
    /// Decoding from the start of a block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of output decoded so far (they are final).
    pub fn decoded(&self) -> usize {
        self.output
    }

    /// Whether the whole block is decoded.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Decodes sequences of `input` into `out` until at least `want` bytes of output
    /// are decoded or the block ends; returns the bytes decoded. `out` must be exactly
    /// the block's uncompressed size: a block that decodes to more or less is an error.
    /// Bytes of `out` past the returned length may have been written and are
    /// meaningless.
    pub fn decode_to(&mut self, input: &[u8], out: &mut [u8], want: usize) -> Result<usize> {
        let mut ip = self.input;
        let mut op = self.output;
        if ip == 0 && input.is_empty() {
            // An empty block decodes to nothing.
            if !out.is_empty() {
                return Err(corrupt("block ends before its declared size"));
            }
            self.done = true;
        }
        while op < want && !self.done {
            // Fast path: short sequences (literals and match below 15) far from both
            // ends, read through a fixed window so most bounds checks disappear.
            while op < want && op + 64 <= out.len() {
                let Some(win) = input
                    .get(ip..ip + 32)
                    .and_then(|w| <&[u8; 32]>::try_from(w).ok())
                else {
                    break;
                };
                let token = win[0];
                let lit = usize::from(token >> 4);
                let len = usize::from(token & 15) + 4;
                if lit == 15 || len == 19 {
                    break;
                }
                let offset = usize::from(u16::from_le_bytes([win[1 + lit], win[2 + lit]]));
                let at = op + lit;
                if offset == 0 || offset > at {
                    return Err(corrupt("match offset is outside the output"));
                }
                out[op..op + 16].copy_from_slice(&win[1..17]);
                if offset >= 16 {
                    let (done, rest) = out.split_at_mut(at);
                    rest[..16].copy_from_slice(&done[at - offset..at - offset + 16]);
                    if len > 16 {
                        let (done, rest) = out.split_at_mut(at + 16);
                        rest[..16].copy_from_slice(&done[at + 16 - offset..at + 32 - offset]);
                    }
                } else if offset >= 8 {
                    copy_chunks::<8>(out, at, offset, len);
                } else if offset >= 4 {
                    copy_chunks::<4>(out, at, offset, len);
                } else if offset >= 2 {
                    copy_chunks::<2>(out, at, offset, len);
                } else {
                    let b = out[at - 1];
                    out[at..at + len].fill(b);
                }
                ip += 3 + lit;
                op = at + len;
            }
            if op >= want {
                break;
            }
            let token = *input
                .get(ip)
                .ok_or_else(|| corrupt("block ends before its declared size"))?;
            ip += 1;
            let mut lit = usize::from(token >> 4);
            if lit == 15 {
                lit = extend_len(input, &mut ip, lit)?;
            }
            if lit <= 16 && ip + 16 <= input.len() && op + 16 <= out.len() {
                // Copies 16 bytes at once; the ones past the literals are overwritten
                // by what follows.
                out[op..op + 16].copy_from_slice(&input[ip..ip + 16]);
            } else {
                let src = input
                    .get(ip..ip + lit)
                    .ok_or_else(|| corrupt("literals run past the end of the input"))?;
                out.get_mut(op..op + lit)
                    .ok_or_else(|| corrupt("output exceeds the declared size"))?
                    .copy_from_slice(src);
            }
            ip += lit;
            op += lit;
            if ip == input.len() {
                if op != out.len() {
                    return Err(corrupt("block ends before its declared size"));
                }
                self.done = true;
                break;
            }
            let offset = input
                .get(ip..ip + 2)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                .ok_or_else(|| corrupt("match offset runs past the end of the input"))?;
            ip += 2;
            if offset == 0 || offset > op {
                return Err(corrupt("match offset is outside the output"));
            }
            let mut len = usize::from(token & 15);
            if len == 15 {
                len = extend_len(input, &mut ip, len)?;
            }
            len += 4;
            let end = op + len;
            if end > out.len() {
                return Err(corrupt("output exceeds the declared size"));
            }
            let start = op - offset;
            if offset >= 16 && end + 16 <= out.len() {
                // 16 bytes at a time, each chunk's source wholly before it; bytes
                // past the match are overwritten by what follows.
                let mut at = op;
                while at < end {
                    let (done, rest) = out.split_at_mut(at);
                    rest[..16].copy_from_slice(&done[at - offset..at - offset + 16]);
                    at += 16;
                }
            } else if offset >= len {
                out.copy_within(start..start + len, op);
            } else if offset == 1 {
                let b = out[start];
                out[op..end].fill(b);
            } else {
                // The match repeats the last `offset` bytes, overlapping itself.
                let w = &mut out[start..end];
                for i in offset..w.len() {
                    w[i] = w[i - offset];
                }
            }
            op = end;
        }
        self.input = ip;
        self.output = op;
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn pack(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::block::compress(crate::Compression::Lz4, data, 0, &mut out).unwrap();
        out
    }

    fn sample(n: usize, seed: u64) -> Vec<u8> {
        let words: [&[u8]; 5] = [b"vector ", b"tensor ", b"cache  ", b"shards ", b"x"];
        let mut s = seed | 1;
        let mut out = Vec::new();
        while out.len() < n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            match s % 7 {
                0 => out.extend((0..(s >> 8) % 40).map(|i| (s >> (i % 50)) as u8)),
                1 => out.extend(core::iter::repeat_n(
                    (s >> 9) as u8,
                    ((s >> 20) % 300) as usize,
                )),
                _ => out.extend_from_slice(words[(s >> 30) as usize % words.len()]),
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn decodes_what_lz4_flex_encodes_whole_and_by_prefix() {
        for (n, seed) in [
            (0, 1),
            (1, 2),
            (15, 3),
            (100, 4),
            (5000, 5),
            (16384, 6),
            (70000, 7),
        ] {
            let data = sample(n, seed);
            let packed = pack(&data);
            let mut out = vec![0u8; n];
            let mut d = Lz4Prefix::new();
            assert_eq!(d.decode_to(&packed, &mut out, usize::MAX).unwrap(), n);
            assert!(d.is_done());
            assert_eq!(out, data);
            // By small steps: every prefix decoded is final.
            let mut out = vec![0u8; n];
            let mut d = Lz4Prefix::new();
            let mut want = 0;
            while !d.is_done() {
                want += 37;
                let got = d.decode_to(&packed, &mut out, want).unwrap();
                assert!(got >= want.min(n));
                assert_eq!(out[..got], data[..got]);
            }
        }
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let data = sample(4000, 9);
        let packed = pack(&data);
        for cut in [0, 1, 2, packed.len() / 2, packed.len() - 1] {
            let mut out = vec![0u8; data.len()];
            assert!(
                Lz4Prefix::new()
                    .decode_to(&packed[..cut], &mut out, usize::MAX)
                    .is_err()
            );
        }
        let mut short = vec![0u8; data.len() - 1];
        assert!(
            Lz4Prefix::new()
                .decode_to(&packed, &mut short, usize::MAX)
                .is_err()
        );
        let mut long = vec![0u8; data.len() + 1];
        assert!(
            Lz4Prefix::new()
                .decode_to(&packed, &mut long, usize::MAX)
                .is_err()
        );
        let mut s = 12345u64;
        for i in 0..4000 {
            let mut bad = packed.clone();
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let at = (s as usize) % bad.len();
            bad[at] ^= 1 << (i % 8);
            let mut out = vec![0u8; data.len()];
            let _ = Lz4Prefix::new().decode_to(&bad, &mut out, usize::MAX);
            let noise: Vec<u8> = (0..(s % 200) as usize)
                .map(|j| (s >> (j % 60)) as u8)
                .collect();
            let _ = Lz4Prefix::new().decode_to(&noise, &mut out, usize::MAX);
        }
    }
}
