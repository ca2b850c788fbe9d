//! Side-by-side benchmarks of vexfs-journal against other durable stores.
//!
//! The benchmarks live in `benches/`; run them with
//! `cargo bench -p vexfs-journal-benches --bench durable_write`.

/// The `u64` in environment variable `name` (a benchmark's setting), or `default` when
/// it is unset or not a number.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
