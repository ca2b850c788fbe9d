//! Time stamps and latency histograms for every layer of the VexFS journal.
//!
//! The clock helpers stamp events cheaply on the emit path; the histogram records
//! latencies from any thread without locks. Both sit below the storage engine so that
//! extensions (kernel bridge, server, replication) can use them without importing it.

pub mod clock;
mod histogram;

pub use clock::{current_cpu, now_ns, unix_secs};
pub use histogram::{AtomicHistogram, HistogramSnapshot, LatencySummary};
