//! Side-by-side benchmarks of vexfs-journal against other durable stores.
//!
//! The benchmarks live in `benches/`; run them with
//! `cargo bench -p vexfs-journal-benches --bench durable_write`.
