//! Deterministic incompressible content, so a few events fill segments and blocks.

/// The xorshift stream behind [`noise`] and [`noise_text`].
fn stream(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x >> 24
    })
}

/// `len` incompressible bytes, a function of `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    stream(seed).take(len).map(|v| v as u8).collect()
}

/// `len` incompressible characters from the `span` ASCII characters starting at
/// `first` (`b'a', 26`: lower-case letters), a function of `seed`.
pub fn noise_text(seed: u64, len: usize, first: u8, span: u8) -> String {
    stream(seed)
        .take(len)
        .map(|v| char::from(first + (v % u64::from(span)) as u8))
        .collect()
}
