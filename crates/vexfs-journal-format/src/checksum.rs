//! The kernel checksum: Linux `crc32_le(0, data, len)`.
//!
//! Reflected polynomial 0xEDB88320, register starting at 0, no final inversion. It is
//! *not* zlib's `crc32` (start 0xFFFFFFFF, inverted result) but shares its register
//! arithmetic, so we compute it with `crc32fast`, which selects a PCLMULQDQ (x86_64) or
//! PMULL (aarch64) folding implementation at run time and falls back to slice-by-16
//! tables: several GB/s, so checksumming is never the bottleneck of the write path.
//!
//! `crc32fast` keeps the zlib convention: a hasher seeded with `s` returns
//! `!raw(!s, data)`, where `raw` is the plain register update. The kernel value is
//! `raw(0, data)`, i.e. `!hasher_seeded_with(!0)`.

/// Incremental kernel crc32, for data that is not contiguous.
#[derive(Clone)]
pub struct KernelCrc32 {
    inner: crc32fast::Hasher,
}

impl KernelCrc32 {
    /// Starts from the kernel's seed 0.
    pub fn new() -> Self {
        Self::with_seed(0)
    }

    /// Continues a `crc32_le` computation from a previous value.
    pub fn with_seed(seed: u32) -> Self {
        KernelCrc32 {
            inner: crc32fast::Hasher::new_with_initial(!seed),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// Adds `n` zero bytes (a checksum field being zeroed, without copying).
    pub fn update_zeros(&mut self, n: usize) {
        const ZEROS: [u8; 64] = [0; 64];
        let mut left = n;
        while left > 0 {
            let chunk = left.min(ZEROS.len());
            self.inner.update(&ZEROS[..chunk]);
            left -= chunk;
        }
    }

    /// The kernel checksum of everything added.
    pub fn finish(self) -> u32 {
        !self.inner.finalize()
    }
}

impl Default for KernelCrc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// `crc32_le(0, data, len)`, as the kernel computes it.
pub fn kernel_crc32(data: &[u8]) -> u32 {
    let mut crc = KernelCrc32::new();
    crc.update(data);
    crc.finish()
}

/// Kernel crc32 of `data` as if the 4 bytes at `field_offset` were zero.
///
/// Returns `None` when the field does not lie inside `data`.
pub fn crc32_with_zeroed_field(data: &[u8], field_offset: usize) -> Option<u32> {
    let end = field_offset.checked_add(4)?;
    let before = data.get(..field_offset)?;
    let after = data.get(end..)?;
    let mut crc = KernelCrc32::new();
    crc.update(before);
    crc.update_zeros(4);
    crc.update(after);
    Some(crc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_test_vector() {
        assert_eq!(kernel_crc32(b"123456789"), 0x2DFD_2D88);
        // zlib's crc32 of the same bytes is different: the conventions must not mix.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn empty_input_is_seed() {
        assert_eq!(kernel_crc32(b""), 0);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: alloc::vec::Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for split in [0, 1, 17, 500, 999, 1000] {
            let mut crc = KernelCrc32::new();
            crc.update(&data[..split]);
            crc.update(&data[split..]);
            assert_eq!(crc.finish(), kernel_crc32(&data));
        }
    }

    #[test]
    fn seeded_continuation_matches_linux_semantics() {
        // crc32_le(crc32_le(0, a), b) == crc32_le(0, a ++ b)
        let a = b"hello ";
        let b = b"kernel";
        let mut crc = KernelCrc32::with_seed(kernel_crc32(a));
        crc.update(b);
        assert_eq!(crc.finish(), kernel_crc32(b"hello kernel"));
    }

    #[test]
    fn zeroed_field() {
        let mut data = *b"abcdefghijkl";
        let with_field = crc32_with_zeroed_field(&data, 4);
        data[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(with_field, Some(kernel_crc32(&data)));
        assert_eq!(crc32_with_zeroed_field(&data, 9), None);
    }
}
